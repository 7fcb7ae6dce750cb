# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the lab's WS-Management endpoint, driven by unmodified pywinrm and Ansible."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
import winrm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from winrm.encryption import Encryption
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from .wsman import (
    NS,
    RECEIVE_TIMEOUT_FAULT_CODE,
    SHELL_NOT_FOUND_FAULT_CODE,
    CommandRequest,
    CommandResult,
    WSManEndpoint,
    decode_command_line,
    read_counts,
)

USERS = {"user": "Passw0rd!", "LAB\\admin": "S3cret-admin"}


# --- fixtures ----------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


class Pki:
    def __init__(self, root: Path) -> None:
        ca, ca_key = _make_ca("Lab WSMan Test Root")
        other_ca, _other_key = _make_ca("Some Other Root")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca = str(root / "ca.pem")
        self.other_ca = str(root / "other-ca.pem")
        self.cert = str(root / "server.pem")
        self.key = str(root / "server.key")
        Path(self.ca).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        Path(self.other_ca).write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
        Path(self.cert).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        Path(self.key).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("wsman-pki"))


class Recorder:
    """Echoing handler that remembers every CommandRequest."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []
        self._lock = threading.Lock()

    def __call__(self, request: CommandRequest) -> CommandResult:
        with self._lock:
            self.requests.append(request)
        script = request.script if request.script is not None else request.command_line
        return CommandResult(stdout=f"[{request.host}] {script}|".encode() + request.stdin, stderr=b"", rc=0)


@pytest.fixture
def make_endpoint(pki: Pki):
    started: list[WSManEndpoint] = []

    def make(host_name: str = "client01", scheme: str = "https", **kwargs) -> WSManEndpoint:
        kwargs.setdefault("users", USERS)
        if scheme == "https":
            kwargs.setdefault("certfile", pki.cert)
            kwargs.setdefault("keyfile", pki.key)
        endpoint = WSManEndpoint(host_name, bind=("127.0.0.1", 0), scheme=scheme, **kwargs)
        endpoint.start()
        started.append(endpoint)
        return endpoint

    yield make
    for endpoint in started:
        endpoint.stop()


def _start_must_fail(endpoint: WSManEndpoint, exception: type[BaseException], match: str) -> None:
    try:
        with pytest.raises(exception, match=match):
            endpoint.start()
    finally:
        endpoint.stop()  # only does something when start() unexpectedly succeeded


def _session(endpoint: WSManEndpoint, pki: Pki, transport: str, user: str = "user", password: str | None = None, **kwargs) -> winrm.Session:
    # ca_trust_path always, so pywinrm never falls back to REQUESTS_CA_BUNDLE from the environment.
    kwargs.setdefault("ca_trust_path", pki.ca)
    if endpoint.scheme == "https":
        kwargs.setdefault("server_cert_validation", "validate")
    return winrm.Session(endpoint.url, auth=(user, USERS[user] if password is None else password), transport=transport, **kwargs)


def _protocol(endpoint: WSManEndpoint, pki: Pki, transport: str = "basic", **kwargs) -> Protocol:
    kwargs.setdefault("ca_trust_path", pki.ca)
    if endpoint.scheme == "https":
        kwargs.setdefault("server_cert_validation", "validate")
    return Protocol(endpoint.url, transport=transport, username="user", password=USERS["user"], **kwargs)


# --- command line decoding ---------------------------------------------------


def _encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


@pytest.mark.parametrize(
    "command_line, expected",
    [
        (f"PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand {_encoded('Get-Date')}", "Get-Date"),
        ("powershell -encodedcommand " + _encoded("a\nb"), "a\nb"),
        (f"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -enc {_encoded('x')}", "x"),
        (f"pwsh -ec {_encoded('ü')}", "ü"),
        (f"powershell -e {_encoded('y')}", "y"),
        ("powershell -EncodedCommand not*base64", None),
        ("powershell -EncodedCommand", None),
        ("powershell -Command Get-Date", None),
        (f"cmd /c echo {_encoded('x')}", None),
        ("", None),
    ],
)
def test_decode_command_line(command_line: str, expected: str | None) -> None:
    assert decode_command_line(command_line) == expected


def test_decode_matches_ansible_encoder() -> None:
    from ansible.plugins.shell.powershell import ShellModule

    # Ansible strips every line and drops blank ones before encoding.
    command = ShellModule()._encode_script("Write-Output 1\n\n   $x = 2  \n", strict_mode=False, preserve_rc=False)
    assert decode_command_line(command) == "Write-Output 1\n$x = 2"


# --- constructor validation --------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"host_name": ""}, "host_name must be a non-empty string"),
        ({"scheme": "ftp"}, "scheme must be 'http' or 'https'"),
        ({"scheme": "https", "certfile": None}, "needs both certfile and keyfile"),
        ({"scheme": "https", "certfile": "/nonexistent/cert.pem"}, "cannot load certfile '/nonexistent/cert.pem'"),
        ({"auth": ("kerberos",)}, "auth must name one or more of basic, ntlm"),
        ({"auth": ()}, "auth must name one or more"),
        ({"users": {}}, "users must map at least one user"),
        ({"users": {"user": "pa:ss"}}, "NTLM password may not contain ':'"),
        ({"users": {"us:er": "pass"}, "auth": ("basic",)}, "names may not contain ':'"),
        ({"scheme": "http", "auth": ("basic",)}, "Basic over http is refused unless allow_unencrypted=True"),
        ({"bind": ("127.0.0.1", 70000)}, "bind must be (address, port 0-65535)"),
        ({"handler": "not callable"}, "handler must be callable"),
    ],
)
def test_constructor_rejects_bad_input(pki: Pki, kwargs: dict, message: str) -> None:
    arguments = {
        "host_name": "client01",
        "scheme": "https",
        "certfile": pki.cert,
        "keyfile": pki.key,
        "users": USERS,
    }
    arguments.update(kwargs)
    if arguments["scheme"] == "http":
        arguments.pop("certfile")
        arguments.pop("keyfile")
    with pytest.raises(ValueError, match=re.escape(message)):
        WSManEndpoint(**arguments)


def test_port_in_use_names_the_endpoint(make_endpoint) -> None:
    first = make_endpoint("client01", scheme="http", auth=("ntlm",))
    second = WSManEndpoint("client02", bind=("127.0.0.1", first.port), scheme="http", users=USERS, auth=("ntlm",))
    _start_must_fail(second, OSError, "endpoint 'client02': cannot listen on")


# --- transports and authentication -------------------------------------------


def test_https_basic_runs_powershell_with_validated_certificate(make_endpoint, pki: Pki) -> None:
    recorder = Recorder()
    endpoint = make_endpoint(handler=recorder, auth=("basic",))
    script = 'Write-Output "héllo"\n$x = 1'
    response = _session(endpoint, pki, "basic").run_ps(script)
    assert response.status_code == 0
    assert response.std_out == f"[client01] {script}|".encode()
    [request] = recorder.requests
    assert request.host == "client01"
    assert request.script == script
    assert request.command_line.startswith("powershell -encodedcommand ")
    assert request.stdin == b""


def test_handler_output_streams_and_exit_code_reach_client(make_endpoint, pki: Pki) -> None:
    def handler(request: CommandRequest) -> CommandResult:
        return CommandResult(stdout=b"\x00binary\xff", stderr=b"warning text", rc=3)

    endpoint = make_endpoint(handler=handler, auth=("basic",))
    response = _session(endpoint, pki, "basic").run_cmd("ipconfig", ["/all"])
    assert (response.std_out, response.std_err, response.status_code) == (b"\x00binary\xff", b"warning text", 3)


def test_https_refused_by_client_that_does_not_trust_the_ca(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(handler=Recorder(), auth=("basic",))
    session = _session(endpoint, pki, "basic", ca_trust_path=pki.other_ca)
    with pytest.raises(requests.exceptions.SSLError):
        session.run_ps("Get-Date")
    assert endpoint.command_count() == 0


def test_stdin_is_collected_until_end_then_handler_runs(make_endpoint, pki: Pki) -> None:
    recorder = Recorder()
    called = threading.Event()

    def handler(request: CommandRequest) -> CommandResult:
        called.set()
        return recorder(request)

    endpoint = make_endpoint(handler=handler, auth=("basic",))
    protocol = _protocol(endpoint, pki)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "cmd", ["/c", "more"], console_mode_stdin=False)
    protocol.send_command_input(shell_id, command_id, b"first ", end=False)
    assert not called.wait(0.2)  # stdin not complete yet: the handler must not have started
    protocol.send_command_input(shell_id, command_id, b"second", end=True)
    assert called.wait(5)  # End="true" starts the command without waiting for a Receive
    stdout, stderr, rc = protocol.get_command_output(shell_id, command_id)
    assert (stdout, stderr, rc) == (b"[client01] cmd /c more|first second", b"", 0)
    [request] = recorder.requests
    assert (request.command_line, request.script, request.stdin) == ("cmd /c more", None, b"first second")

    # Windows refuses stdin once the stream was closed with End="true".
    with pytest.raises(WSManFaultError, match="stdin of command .* is already closed"):
        protocol.send_command_input(shell_id, command_id, b"late", end=True)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)


def test_http_ntlm_uses_message_encryption(make_endpoint, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # pywinrm passes a reply through untouched unless it arrives sealed, so count the sealed ones.
    sealed_replies = []
    original = Encryption._decrypt_response

    def decrypt_response(self, response, host):
        sealed_replies.append(response.headers["Content-Type"])
        assert b"Envelope" not in response.content
        return original(self, response, host)

    monkeypatch.setattr(Encryption, "_decrypt_response", decrypt_response)
    recorder = Recorder()
    endpoint = make_endpoint(scheme="http", handler=recorder, auth=("basic", "ntlm"))
    session = _session(endpoint, pki, "ntlm")
    response = session.run_ps("Get-Service iphlpsvc")
    assert (response.status_code, response.std_out) == (0, b"[client01] Get-Service iphlpsvc|")
    assert session.protocol.transport.encryption is not None
    # Create, Command, Receive, Signal, Delete: every reply sealed.
    assert sealed_replies == [
        'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
    ] * 5

    protocol = session.protocol
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "PowerShell", ["-NoProfile", "-EncodedCommand", _encoded("$input")])
    protocol.send_command_input(shell_id, command_id, b"{\"name\": \"x\"}\0\0\0\0", end=True)
    stdout, _stderr, rc = protocol.get_command_output(shell_id, command_id)
    assert (stdout, rc) == (b'[client01] $input|{"name": "x"}\0\0\0\0', 0)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)


def test_http_refuses_unencrypted_ntlm_and_basic_by_default(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(scheme="http", handler=Recorder(), auth=("basic", "ntlm"))
    with pytest.raises(InvalidCredentialsError):
        _session(endpoint, pki, "ntlm", message_encryption="never").run_ps("Get-Date")
    with pytest.raises(InvalidCredentialsError):
        _session(endpoint, pki, "basic").run_ps("Get-Date")
    reply = requests.post(endpoint.url, data=b"<x/>", auth=("user", USERS["user"]), timeout=5)
    assert reply.status_code == 401
    # Basic is not offered where it would be refused.
    assert reply.headers["WWW-Authenticate"] == "Negotiate"
    assert endpoint.command_count() == 0


def test_http_allow_unencrypted_accepts_basic_and_plain_ntlm(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(scheme="http", handler=Recorder(), auth=("basic", "ntlm"), allow_unencrypted=True)
    assert _session(endpoint, pki, "basic").run_ps("a").std_out == b"[client01] a|"
    assert _session(endpoint, pki, "ntlm", message_encryption="never").run_ps("b").std_out == b"[client01] b|"


@pytest.mark.parametrize("user", ["user", "LAB\\admin"])
def test_https_ntlm_with_channel_binding(make_endpoint, pki: Pki, user: str) -> None:
    endpoint = make_endpoint(handler=Recorder(), auth=("ntlm",))
    session = _session(endpoint, pki, "ntlm", user=user)
    assert session.run_ps("Get-Date").std_out == b"[client01] Get-Date|"
    assert session.protocol.transport.encryption is None  # TLS protects the body; no sealing


def test_https_ntlm_channel_binding_relaxed_like_windows(make_endpoint, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = make_endpoint(handler=Recorder(), auth=("ntlm",))
    # No bindings at all (ansible_winrm_send_cbt=false) is accepted, as with CbtHardeningLevel=Relaxed.
    assert _session(endpoint, pki, "ntlm", send_cbt=False).run_ps("a").std_out == b"[client01] a|"
    # Bindings for some other certificate (a TLS-intercepting proxy) are refused.
    import requests_ntlm.requests_ntlm

    monkeypatch.setattr(requests_ntlm.requests_ntlm, "_get_certificate_hash", lambda der: b"\x01" * 32)
    with pytest.raises(InvalidCredentialsError):
        _session(endpoint, pki, "ntlm").run_ps("b")
    assert endpoint.command_count() == 1


@pytest.mark.parametrize(
    "scheme, transport",
    [("https", "basic"), ("https", "ntlm"), ("http", "ntlm")],
)
def test_wrong_password_is_rejected_with_401(make_endpoint, pki: Pki, scheme: str, transport: str) -> None:
    endpoint = make_endpoint(scheme=scheme, handler=Recorder())
    with pytest.raises(InvalidCredentialsError):
        _session(endpoint, pki, transport, password="wrong").run_ps("Get-Date")
    assert endpoint.command_count() == 0


def test_wrong_credentials_get_a_challenge(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(handler=Recorder())
    reply = requests.post(endpoint.url, data=b"<x/>", auth=("user", "wrong"), verify=pki.ca, timeout=5)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Negotiate, Basic realm="WSMAN"'
    reply = requests.post(endpoint.url, data=b"<x/>", verify=pki.ca, timeout=5)
    assert reply.status_code == 401


def test_ntlm_user_of_another_endpoint_is_refused(make_endpoint, pki: Pki) -> None:
    first = make_endpoint("client01", scheme="http", auth=("ntlm",), users={"user": USERS["user"]})
    second = make_endpoint("client02", scheme="http", auth=("ntlm",), users={"LAB\\admin": USERS["LAB\\admin"]}, handler=Recorder())
    # The process-wide NTLM_USER_FILE knows both users; each endpoint admits only its own.
    lines = Path(os.environ["NTLM_USER_FILE"]).read_text().splitlines()
    assert sorted(line.rsplit(":", 1)[0] for line in lines) == [":USER", "LAB:ADMIN"]
    with pytest.raises(InvalidCredentialsError):
        _session(second, pki, "ntlm", user="user").run_ps("x")
    assert _session(second, pki, "ntlm", user="LAB\\admin").run_ps("x").status_code == 0
    assert first.command_count() == second.command_count() - 1 == 0


def test_ntlm_same_user_with_two_passwords_is_refused(make_endpoint) -> None:
    make_endpoint("client01", scheme="http", auth=("ntlm",), users={"user": "one"})
    other = WSManEndpoint("client02", scheme="http", auth=("ntlm",), users={"USER": "two"})
    _start_must_fail(other, ValueError, "NTLM user 'USER' is already registered with a different password")


def test_ntlm_user_file_lives_while_ntlm_endpoints_run() -> None:
    assert "NTLM_USER_FILE" not in os.environ
    first = WSManEndpoint("client01", scheme="http", auth=("ntlm",), users=USERS).start()
    second = WSManEndpoint("client02", scheme="http", auth=("ntlm",), users=USERS).start()
    try:
        path = Path(os.environ["NTLM_USER_FILE"])
        assert path.stat().st_mode & 0o077 == 0
        first.stop()
        assert path.exists()  # still needed by the second endpoint
    finally:
        first.stop()
        second.stop()
    assert "NTLM_USER_FILE" not in os.environ
    assert not path.exists()


def test_ntlm_user_file_set_by_someone_else_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NTLM_USER_FILE", str(tmp_path / "mine"))
    endpoint = WSManEndpoint("client01", scheme="http", auth=("ntlm",), users=USERS)
    _start_must_fail(endpoint, RuntimeError, "NTLM_USER_FILE is already set to")


# --- long commands, errors ---------------------------------------------------


def test_long_handler_completes_through_operation_timeout_faults(make_endpoint, pki: Pki) -> None:
    release = threading.Event()

    def handler(request: CommandRequest) -> CommandResult:
        if request.script == "slow":
            release.wait(10)
            return CommandResult(stdout=b"slow done", rc=0)
        return CommandResult(stdout=b"quick", rc=0)

    endpoint = make_endpoint(handler=handler, auth=("basic",))
    protocol = _protocol(endpoint, pki, operation_timeout_sec=1, read_timeout_sec=3)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, f"powershell -EncodedCommand {_encoded('slow')}")

    started = time.monotonic()
    with pytest.raises(WinRMOperationTimeoutError):  # raised by pywinrm only for fault 2150858793
        protocol.get_command_output_raw(shell_id, command_id)
    assert 0.9 <= time.monotonic() - started < 2.5

    # A slow handler does not block other requests to the same endpoint.
    started = time.monotonic()
    assert _session(endpoint, pki, "basic").run_ps("quick").std_out == b"quick"
    assert time.monotonic() - started < 1.0

    threading.Timer(1.5, release.set).start()
    stdout, _stderr, rc = protocol.get_command_output(shell_id, command_id)  # polls through further timeouts
    assert (stdout, rc) == (b"slow done", 0)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)


def test_receive_timeout_fault_on_the_wire(make_endpoint, pki: Pki) -> None:
    release = threading.Event()

    def handler(request: CommandRequest) -> CommandResult:
        release.wait(10)
        return CommandResult()

    endpoint = make_endpoint(handler=handler, auth=("basic",))
    protocol = _protocol(endpoint, pki, operation_timeout_sec=1, read_timeout_sec=3)
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "cmd")
    envelope = _envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive", shell_id, timeout="PT0.3S")
    envelope = envelope.replace(
        "<s:Body/>",
        f'<s:Body><rsp:Receive><rsp:DesiredStream CommandId="{command_id}">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body>',
    )
    reply = _post(endpoint, pki, envelope)
    release.set()
    assert reply.status_code == 500
    fault = ET.fromstring(reply.content).find(".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault")
    assert fault is not None and fault.get("Code") == str(RECEIVE_TIMEOUT_FAULT_CODE)
    assert protocol.get_command_output(shell_id, command_id)[2] == 0


def test_unknown_command_fails_naming_it(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(auth=("basic",))  # default handler
    session = _session(endpoint, pki, "basic")
    response = session.run_ps("Get-Thing -Name x\nWrite-Output more")
    assert response.status_code == 1
    assert response.std_err == b"lab host client01: no handler for command: Get-Thing -Name x\n"
    response = session.run_cmd("ipconfig", ["/all"])
    assert response.status_code == 1
    assert response.std_err == b"lab host client01: no handler for command: ipconfig /all\n"


def _raising_handler(request: CommandRequest) -> CommandResult:
    raise RuntimeError("registry hive missing")


def _wrong_type_handler(request: CommandRequest) -> CommandResult:
    return "not a result"  # type: ignore[return-value]


@pytest.mark.parametrize(
    "handler, expected",
    [
        (_raising_handler, b"lab host client01: handler raised RuntimeError: registry hive missing\n"),
        (_wrong_type_handler, b"lab host client01: handler raised TypeError: handler returned str, not CommandResult\n"),
    ],
)
def test_handler_failure_becomes_exit_code_1(make_endpoint, pki: Pki, handler, expected: bytes) -> None:
    endpoint = make_endpoint(handler=handler, auth=("basic",))
    response = _session(endpoint, pki, "basic").run_cmd("whoami")
    assert (response.std_out, response.std_err, response.status_code) == (b"", expected, 1)


def test_command_result_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="CommandResult.stdout must be bytes, got str"):
        CommandResult(stdout="text")
    with pytest.raises(TypeError, match="CommandResult.rc must be int, got str"):
        CommandResult(rc="0")


def _envelope(action: str, shell_id: str | None = None, timeout: str = "PT5S", message_id: str | None = None) -> str:
    selector = (
        f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>' if shell_id else ""
    )
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}">'
        f"<s:Header><a:Action>{action}</a:Action><a:MessageID>{message_id or 'uuid:' + str(uuid.uuid4())}</a:MessageID>"
        "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
        f"<w:OperationTimeout>{timeout}</w:OperationTimeout>{selector}</s:Header><s:Body/></s:Envelope>"
    )


def _post(endpoint: WSManEndpoint, pki: Pki, body: str | bytes) -> requests.Response:
    return requests.post(
        endpoint.url,
        data=body.encode() if isinstance(body, str) else body,
        auth=("user", USERS["user"]),
        headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        verify=pki.ca,
        timeout=5,
    )


def test_reply_carries_response_action_and_relates_to(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(handler=Recorder(), auth=("basic",))
    message_id = f"uuid:{uuid.uuid4()}"
    reply = _post(endpoint, pki, _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Create", message_id=message_id))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/soap+xml")
    root = ET.fromstring(reply.content)
    assert root.findtext("s:Header/a:Action", None, NS) == "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
    assert root.findtext("s:Header/a:RelatesTo", None, NS) == message_id
    assert root.find(".//w:Selector[@Name='ShellId']", NS) is not None


def test_protocol_errors(make_endpoint, pki: Pki) -> None:
    endpoint = make_endpoint(handler=Recorder(), auth=("basic",))
    auth = ("user", USERS["user"])
    assert requests.get(endpoint.url, auth=auth, verify=pki.ca, timeout=5).status_code == 405
    assert requests.post(endpoint.url.replace("/wsman", "/other"), auth=auth, data=b"<x/>", verify=pki.ca, timeout=5).status_code == 404

    reply = _post(endpoint, pki, b"<not xml")
    assert reply.status_code == 400
    assert b"not well-formed XML" in reply.content

    reply = _post(endpoint, pki, _envelope("http://example.invalid/Frobnicate"))
    assert reply.status_code == 500
    assert ET.fromstring(reply.content).findtext(".//s:Subcode/s:Value", None, NS) == "a:ActionNotSupported"

    protocol = _protocol(endpoint, pki)
    with pytest.raises(WSManFaultError, match="shell 'NO-SUCH-SHELL' was not found on client01") as info:
        protocol.run_command("NO-SUCH-SHELL", "ipconfig")
    assert info.value.wsman_fault_code == SHELL_NOT_FOUND_FAULT_CODE
    shell_id = protocol.open_shell()
    with pytest.raises(WSManFaultError, match="command 'NOPE' was not found"):
        protocol.get_command_output_raw(shell_id, "NOPE")
    protocol.close_shell(shell_id)
    with pytest.raises(WSManFaultError) as info:  # deleted shells are gone
        protocol.run_command(shell_id, "ipconfig")
    assert info.value.wsman_fault_code == SHELL_NOT_FOUND_FAULT_CODE


# --- counters ----------------------------------------------------------------


def test_command_counts_per_host_and_counts_file(make_endpoint, pki: Pki, tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = make_endpoint("client01", handler=Recorder(), auth=("basic",), state_dir=state_dir)
    second = make_endpoint("client02", handler=Recorder(), auth=("basic",), state_dir=state_dir)
    assert read_counts(state_dir) == {"client01": 0, "client02": 0}

    session = _session(first, pki, "basic")
    session.run_ps("one")
    session.run_cmd("two")
    _session(second, pki, "basic").run_ps("three")
    assert (first.command_count(), second.command_count()) == (2, 1)

    # Another process reads the same numbers from the file.
    output = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.load(open(sys.argv[1]))['client01'])", first.counts_file],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout
    assert output.strip() == "2"
    assert read_counts(state_dir) == {"client01": 2, "client02": 1}

    first.reset_command_count()
    assert first.command_count() == 0
    assert read_counts(state_dir) == {"client01": 0, "client02": 1}

    duplicate = WSManEndpoint("client01", scheme="http", auth=("ntlm",), users=USERS, state_dir=state_dir)
    _start_must_fail(duplicate, ValueError, "already writes counts for this host name")


def test_read_counts_without_file(tmp_path: Path) -> None:
    assert read_counts(tmp_path) == {}


# --- outages -----------------------------------------------------------------


def test_drop_connections_breaks_then_recovers(make_endpoint, pki: Pki) -> None:
    recorder = Recorder()
    endpoint = make_endpoint(handler=recorder, auth=("basic",))
    protocol = _protocol(endpoint, pki)
    shell_id = protocol.open_shell()  # a pooled keep-alive connection now exists

    endpoint.drop_connections(1.5)
    dropped_at = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        protocol.run_command(shell_id, "ipconfig")
    with pytest.raises(requests.exceptions.ConnectionError):
        _session(endpoint, pki, "basic").run_ps("new connection")
    assert time.monotonic() - dropped_at < 1.5, "errors must come from the drop, not from waiting it out"
    assert recorder.requests == []

    time.sleep(max(0.0, 1.6 - (time.monotonic() - dropped_at)))
    # The same shell survives the outage, as it would on Windows.
    command_id = protocol.run_command(shell_id, "ipconfig")
    assert protocol.get_command_output(shell_id, command_id) == (b"[client01] ipconfig|", b"", 0)
    protocol.close_shell(shell_id)


def test_drop_connections_cuts_an_in_flight_receive(make_endpoint, pki: Pki) -> None:
    release = threading.Event()

    def handler(request: CommandRequest) -> CommandResult:
        release.wait(10)
        return CommandResult(stdout=b"finished", rc=0)

    endpoint = make_endpoint(scheme="http", handler=handler, auth=("ntlm",))
    protocol = _session(endpoint, pki, "ntlm", operation_timeout_sec=5, read_timeout_sec=8).protocol
    shell_id = protocol.open_shell()
    command_id = protocol.run_command(shell_id, "cmd")
    outcome: list[BaseException] = []

    def receive() -> None:
        try:
            protocol.get_command_output_raw(shell_id, command_id)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    waiter = threading.Thread(target=receive)
    waiter.start()
    time.sleep(0.3)
    endpoint.drop_connections(0.5)
    waiter.join(3)
    assert not waiter.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], requests.exceptions.ConnectionError)

    time.sleep(0.6)
    release.set()
    # pywinrm cannot reuse a sealed NTLM session on a new connection; a new client works.
    fresh = _session(endpoint, pki, "ntlm").protocol
    shell_id = fresh.open_shell()
    command_id = fresh.run_command(shell_id, "cmd")
    assert fresh.get_command_output(shell_id, command_id) == (b"finished", b"", 0)


def test_drop_connections_rejects_negative_seconds(make_endpoint) -> None:
    endpoint = make_endpoint(scheme="http", auth=("ntlm",))
    with pytest.raises(ValueError, match="seconds must be a number >= 0, got -1"):
        endpoint.drop_connections(-1)


def test_many_endpoints_in_one_process(make_endpoint, pki: Pki) -> None:
    endpoints = [
        WSManEndpoint(f"client{index:02d}", scheme="http", users=USERS, auth=("basic",), allow_unencrypted=True, handler=Recorder()).start()
        for index in range(12)
    ]
    try:
        assert len({endpoint.port for endpoint in endpoints}) == 12
        for endpoint in endpoints:
            assert _session(endpoint, pki, "basic").run_cmd("hostname").std_out == f"[{endpoint.host_name}] hostname|".encode()
    finally:
        started = time.monotonic()
        for endpoint in endpoints:
            endpoint.stop()
        stop_time = time.monotonic() - started
    assert stop_time < 3.0
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(endpoints[0].url, data=b"", timeout=2)
    endpoints[0].stop()  # stopping twice is harmless


# --- Ansible -----------------------------------------------------------------


def _ansible_cli() -> str:
    candidate = Path(sys.executable).parent / "ansible"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ansible")
    if not found:
        pytest.fail("the ansible CLI was found neither next to this Python nor on PATH")
    return found


def test_ansible_winrm_connection_talks_to_the_endpoint(make_endpoint, pki: Pki, tmp_path: Path) -> None:
    recorder = Recorder()
    https_basic = make_endpoint("win-https", handler=recorder, auth=("basic", "ntlm"))
    http_ntlm = make_endpoint("win-http", scheme="http", handler=recorder, auth=("basic", "ntlm"))
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "winrm",
                "ansible_host": "127.0.0.1",
                "ansible_user": "user",
                "ansible_password": USERS["user"],
            },
            "hosts": {
                "win-https": {
                    "ansible_port": https_basic.port,
                    "ansible_winrm_scheme": "https",
                    "ansible_winrm_transport": "basic",
                    "ansible_winrm_server_cert_validation": "validate",
                    "ansible_winrm_ca_trust_path": pki.ca,
                },
                "win-http": {
                    "ansible_port": http_ntlm.port,
                    "ansible_winrm_scheme": "http",
                    "ansible_winrm_transport": "ntlm",
                },
            },
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        # The tree callback stores each host's result as JSON; ad-hoc runs load callbacks only on request.
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
        ANSIBLE_CALLBACK_TREE_DIR=str(tmp_path / "results"),
    )
    completed = subprocess.run(
        [_ansible_cli(), "all", "-i", str(tmp_path / "inventory.json"), "-m", "ansible.builtin.raw", "-a", 'Write-Output "lab says hi"'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for host in ("win-https", "win-http"):
        result = json.loads((tmp_path / "results" / host).read_text())
        assert (result["rc"], result["stdout"]) == (0, f'[{host}] Write-Output "lab says hi"|'), result
    assert sorted((r.host, r.script) for r in recorder.requests) == [
        ("win-http", 'Write-Output "lab says hi"'),
        ("win-https", 'Write-Output "lab says hi"'),
    ]
    # ansible-core 2.19 sends "PowerShell", 2.21 "powershell"; Windows does not care.
    assert [r.command_line.lower().split()[:-1] for r in recorder.requests] == [
        ["powershell", "-noprofile", "-noninteractive", "-executionpolicy", "unrestricted", "-encodedcommand"]
    ] * 2
    assert (https_basic.command_count(), http_ntlm.command_count()) == (1, 1)
