# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for the running lab: the script handlers, the daemon and its CLI, and real clients.

Handlers are driven through the collection's own ``run_script`` (so the command line and stdin
are exactly what the collection sends); the end-to-end part starts the lab with
``python -m tests.lab up`` and talks to it with pywinrm and with ansible-playbook.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import winrm
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from winrm.exceptions import InvalidCredentialsError

from . import handlers
from .client_state import ClientState
from .gpo import SCRIPT as GPO_SCRIPT
from .handlers import SCRIPT_VERSIONS, ClientHandler, identify_script, powershell_json
from .pki import thumbprint
from .wsman import CommandRequest, decode_command_line

try:  # how Ansible's winrm connection decodes stderr: ansible-core 2.19, then 2.21
    from ansible.plugins.shell.powershell import _parse_clixml as decode_clixml
except ImportError:
    from ansible._internal._powershell._clixml import replace_stderr_clixml as decode_clixml

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "plugins" / "plugin_utils" / "scripts"
BIN = Path(sys.executable).parent
UNTRUSTED_ROOT = 0x800B0109
# Windows PowerShell 5.1 is on every supported client; the lab answers as it does.
CRLF = b"\r\n"


# --- helpers (the fixtures are in conftest.py) ---------------------------------------------------

class HandlerConnection:
    """Ansible's winrm connection in miniature: exec_command goes to a handler as the endpoint gives it."""

    def __init__(self, handler: ClientHandler, stdin: bytes | None = None):
        self.handler = handler
        self.stdin = stdin  # replaces what the collection sends, to test bad input
        self.requests: list[CommandRequest] = []

    def exec_command(self, cmd, in_data=None, sudoable=True):
        stdin = self.stdin if self.stdin is not None else in_data or b""
        request = CommandRequest(self.handler.client.name, cmd, decode_command_line(cmd), stdin)
        self.requests.append(request)
        result = self.handler(request)
        stderr = decode_clixml(result.stderr) if result.stderr.startswith(b"#< CLIXML") else result.stderr
        return result.rc, result.stdout, stderr


def run(collection, handler: ClientHandler, name: str, params: dict) -> dict:
    return collection["_windows_scripts"].run_script(HandlerConnection(handler), name, params)


def raw_result(collection, handler: ClientHandler, name: str, params: dict):
    """The handler's CommandResult for exactly what run_script would send."""
    connection = HandlerConnection(handler)
    scripts = collection["_windows_scripts"]
    try:
        scripts.run_script(connection, name, params)
    except scripts.ScriptError:
        pass
    return handler(connection.requests[-1])


def result_keys(script: str) -> list[str]:
    """The top-level keys of the script's ``$result = [ordered]@{ ... }``, in order."""
    text = (SCRIPTS / f"{script}.ps1").read_text(encoding="utf-8-sig")
    block = re.search(r"^\$result = \[ordered\]@\{\n(.*?)^\}", text, re.S | re.M).group(1)
    return re.findall(r"^    ([a-z_]+) = ", block, re.M)


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def import_item(pki, name: str, store: str) -> dict:
    return {"store": store, "thumbprint": pki.thumbprint(name), "der_base64": der_b64(pki.cert(name))}


# --- script recognition and output format -------------------------------------------------------------

def test_lab_implements_every_script_version_the_collection_ships():
    shipped = {}
    for path in SCRIPTS.glob("*.ps1"):
        first = path.read_text(encoding="utf-8-sig").splitlines()[0]
        shipped[path.stem] = identify_script(first)[1]
        assert identify_script(first)[0] == path.stem
    # The clients answer their scripts; the GPO management host (gpo.py) answers gpo_certificates.
    assert shipped == dict(SCRIPT_VERSIONS, **{GPO_SCRIPT[0]: GPO_SCRIPT[1]})


@pytest.mark.parametrize("script, expected", [
    ("# directaccess.iphttps script: client_info v1\n$x = 1", ("client_info", 1)),
    # Ansible's encoder strips indentation and blank lines; the line may not come first.
    ("Set-StrictMode -Version Latest\n  #  directaccess.iphttps script: ca_import v12  \n", ("ca_import", 12)),
    ("# directaccess.iphttps script: client_info\n", None),
    ("Write-Output 'directaccess.iphttps script: client_info v1'", None),
    ("", None),
    (None, None),
])
def test_identify_script(script, expected):
    assert identify_script(script) == expected


def test_powershell_json_is_compressed_and_escapes_like_windows_powershell():
    text = powershell_json({"b": "it's <a> & b", "a": [1, None, True], "c": {"d": 2148204809}})
    assert text == '{"b":"it\\u0027s \\u003ca\\u003e \\u0026 b","a":[1,null,true],"c":{"d":2148204809}}'
    assert json.loads(text)["b"] == "it's <a> & b"


def test_unknown_script_version_and_command_fail_naming_them(make_handler):
    handler = make_handler("healthy")
    other = handler(CommandRequest("da-client-01", "PowerShell -EncodedCommand x",
                                   "# directaccess.iphttps script: trust_reset v1\nexit 0", b"{}"))
    assert other.rc == 1 and b"script trust_reset v1 is not implemented by the lab" in other.stderr
    newer = handler(CommandRequest("da-client-01", "PowerShell -EncodedCommand x",
                                   "# directaccess.iphttps script: client_info v7\n", b"{}"))
    assert newer.rc == 1 and b"client_info v7" in newer.stderr and b"client_info v6" in newer.stderr
    older = handler(CommandRequest("da-client-01", "PowerShell -EncodedCommand x",
                                   "# directaccess.iphttps script: client_info v1\n", b"{}"))
    assert older.rc == 1 and b"script client_info v1 is not implemented" in older.stderr
    plain = handler(CommandRequest("da-client-01", "PowerShell -EncodedCommand x", "Get-Service iphlpsvc", b""))
    assert plain.rc == 1 and b"without a directaccess.iphttps identity line: Get-Service iphlpsvc" in plain.stderr
    cmd = handler(CommandRequest("da-client-01", "ipconfig /all", None, b""))
    assert cmd.rc == 1 and b"not PowerShell -EncodedCommand: ipconfig /all" in cmd.stderr
    assert not other.stdout and not newer.stdout and not plain.stdout and not cmd.stdout


def test_stdin_that_is_not_json_fails_like_convertfrom_json(collection, make_handler):
    handler = make_handler("healthy")
    script = (SCRIPTS / "iphttps_state.ps1").read_text(encoding="utf-8")
    result = handler(CommandRequest("da-client-01", "x", script, b"{not json"))
    assert result.rc == 1 and result.stdout == b""
    assert result.stderr.startswith(b"#< CLIXML\r\n<Objs ")
    assert b"ConvertFrom-Json : Invalid JSON primitive" in decode_clixml(result.stderr)
    scripts = collection["_windows_scripts"]
    with pytest.raises(scripts.ScriptError, match=r"rc=1.*ConvertFrom-Json : Invalid JSON primitive"):
        scripts.run_script(HandlerConnection(handler, stdin=b"{not json"), "iphttps_state", {})


def test_source_on_stdin_must_be_the_script_the_command_names(make_handler):
    handler = make_handler("healthy")
    info = (SCRIPTS / "client_info.ps1").read_text(encoding="utf-8")
    stdin = json.dumps({"script_source": (SCRIPTS / "ca_import.ps1").read_text(encoding="utf-8")}).encode()
    result = handler(CommandRequest("da-client-01", "x", info.splitlines()[0], stdin))
    assert result.rc == 1
    expected = (f"headed by script client_info v{SCRIPT_VERSIONS['client_info']} but its stdin carries the source of "
                f"ca_import v{SCRIPT_VERSIONS['ca_import']}")
    assert expected.encode() in result.stderr


# --- client_info ------------------------------------------------------------------------------------

def test_client_info_output_is_one_line_with_the_scripts_keys(collection, make_handler):
    result = raw_result(collection, make_handler("untrusted_root"), "client_info", {"connect_timeout_ms": 2000})
    assert result.rc == 0 and result.stderr == b""
    assert result.stdout.endswith(CRLF) and result.stdout.count(b"\n") == 1
    assert list(json.loads(result.stdout)) == result_keys("client_info")


def test_client_info_of_a_client_whose_root_was_rolled_over(collection, make_handler, pki):
    doc = run(collection, make_handler("untrusted_root"), "client_info", {"connect_timeout_ms": 2000})
    assert doc["computer_name"] == "DA-CLIENT-01"
    assert doc["iphttps_configuration"]["server_url"].startswith("https://da.lab.example:")
    assert doc["iphttps_state"] == {"interface_status": "failed to connect to the IPHTTPS server; waiting to reconnect",
                                    "last_error_code": UNTRUSTED_ROOT}
    assert doc["state_source"] == "cmdlet"
    assert doc["iphttps_configuration"]["profile_activated"] is True
    assert doc["iphttps_configuration"]["entry_points"] == [doc["iphttps_configuration"]["server_url"]]
    # Number and name, as the script sends them when PowerShell gives an enum.
    assert doc["da_connection_status"]["status_name"] == "ActionableError"
    assert isinstance(doc["da_connection_status"]["status"], int)
    assert doc["da_connection_status"]["substatus_name"] == "CouldNotContactDirectAccessServer"
    # The good server sends its whole chain, and no store holds a better path, so the chain the
    # chain engine builds is what was sent; the extra store holds everything sent, the leaf too, in any order.
    assert doc["server_chain"] == [der_b64(pki.cert(n)) for n in ("iphttps", "issuing", "root")]
    sent = [der_b64(pki.cert(n)) for n in ("iphttps", "issuing", "root")]
    assert sorted(doc["chain_policy_extra_store"]) == sorted(sent)
    assert doc["server_chain_error"] is None
    assert [s["status"] for s in doc["chain_status"]] == ["UntrustedRoot"]
    assert doc["stores"] == {"Root": [pki.thumbprint("old_root")], "CA": [], "Disallowed": []}
    # The old root has the chain root's subject, so its certificate comes along for the analysis.
    assert doc["store_certificates"] == [{"store": "Root", "thumbprint": pki.thumbprint("old_root"),
                                          "der_base64": der_b64(pki.cert("old_root"))}]


@pytest.mark.parametrize("template, code, chain_status, chain_length", [
    ("healthy", 0, [], 3),
    ("missing_intermediate", 0x800B010A, ["PartialChain"], 1),
    ("expired_server_cert", 0x800B0101, ["NotTimeValid"], 3),
    ("name_mismatch", 0x800B010F, [], 3),
    ("distrusted_intermediate", 0x800B0111, ["ExplicitDistrust"], 3),
    # The server sends the current root, which is in Disallowed (and not in Root): distrust is reported first.
    ("distrusted_root", 0x800B0111, ["ExplicitDistrust"], 3),
])
def test_client_info_per_scenario(collection, make_handler, template, code, chain_status, chain_length):
    doc = run(collection, make_handler(template), "client_info", {"connect_timeout_ms": 2000})
    assert doc["iphttps_state"]["last_error_code"] == code
    assert [s["status"] for s in doc["chain_status"]] == chain_status
    assert len(doc["server_chain"]) == chain_length
    assert len(doc["chain_policy_extra_store"]) == chain_length
    assert doc["da_connection_status"]["status_name"] == ("ConnectedRemotely" if code == 0 else "ActionableError")


def test_chain_elements_take_issuers_from_the_stores_the_extra_store_does_not(collection, make_handler, pki):
    # The server sends its certificate alone; the client has since got the issuing CA into its CA store.
    handler = make_handler("missing_intermediate")
    handler.client.add_certificate("CA", pki.pem("issuing"))
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert doc["server_chain"] == [der_b64(pki.cert(n)) for n in ("iphttps", "issuing", "root")]
    assert doc["chain_policy_extra_store"] == [der_b64(pki.cert("iphttps"))]
    assert doc["chain_status"] == []
    report = collection["_client_report"].build_report(doc)
    # The extra store holds the leaf alone: the server's chain is that, whatever the stores completed it with.
    assert report["server_chain_source"] == "chain_policy_extra_store"
    assert report["server_chain"] == [pki.pem("iphttps")]
    assert report["diagnosis"]["verdict"] == "trusted"


def test_extra_store_is_the_chain_the_report_uses(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    report = collection["_client_report"].build_report(doc)
    assert report["server_chain_source"] == "chain_policy_extra_store"
    assert report["server_chain"] == [pki.pem(n) for n in ("iphttps", "issuing", "root")]


def test_extra_store_order_is_shuffled_per_host_and_the_report_still_puts_the_leaf_first(
        collection, make_handler, pki):
    sent = [der_b64(pki.cert(n)) for n in ("iphttps", "issuing", "root")]
    doc = run(collection, make_handler("untrusted_root", name="da-client-03"), "client_info",
              {"connect_timeout_ms": 2000})
    # Not the order sent (this host's shuffle moves the leaf), and the same order on every run.
    assert sorted(doc["chain_policy_extra_store"]) == sorted(sent) and doc["chain_policy_extra_store"] != sent
    again = run(collection, make_handler("untrusted_root", name="da-client-03"), "client_info",
                {"connect_timeout_ms": 2000})
    assert again["chain_policy_extra_store"] == doc["chain_policy_extra_store"]
    report = collection["_client_report"].build_report(doc)
    assert report["server_chain"] == [pki.pem(n) for n in ("iphttps", "issuing", "root")]


def test_store_certificates_all_returns_every_entry(collection, make_handler, pki):
    handler = make_handler("healthy")
    handler.client.add_certificate("Root", pki.pem("winrm_ca"))  # a root the IP-HTTPS chain does not name
    chain_only = run(collection, handler, "client_info", {"store_certificates": "chain"})
    assert sorted(e["thumbprint"] for e in chain_only["store_certificates"]) == sorted(
        [pki.thumbprint("root"), pki.thumbprint("issuing")])
    every = run(collection, handler, "client_info", {"store_certificates": "all"})
    assert sorted((e["store"], e["thumbprint"], e["der_base64"]) for e in every["store_certificates"]) == sorted(
        [("Root", pki.thumbprint(n), der_b64(pki.cert(n))) for n in ("root", "winrm_ca")]
        + [("CA", pki.thumbprint("issuing"), der_b64(pki.cert("issuing")))])
    assert every["stores"] == chain_only["stores"]


def test_store_certificates_other_than_chain_or_all_stops_the_script(collection, make_handler):
    scripts = collection["_windows_scripts"]
    with pytest.raises(scripts.ScriptError, match=r"rc=1.*store_certificates must be chain or all, not 'some'"):
        run(collection, make_handler("healthy"), "client_info", {"store_certificates": "some"})


def test_client_without_the_cmdlets_is_read_through_netsh(collection, make_handler, pki):
    handler = make_handler("untrusted_root", iphttps_cmdlets=False)
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert doc["state_source"] == "netsh"
    assert doc["iphttps_state"] == {"interface_status": None, "last_error_code": UNTRUSTED_ROOT}
    assert doc["iphttps_configuration"]["server_url"].startswith("https://da.lab.example:")
    assert doc["iphttps_configuration"]["state"] is None
    assert doc["da_connection_status"] is None  # Get-DAConnectionStatus came with Windows 8
    report = collection["_client_report"].build_report(doc)
    assert report["iphttps"]["state_source"] == "netsh" and report["iphttps"]["interface_status"] is None
    assert report["iphttps"]["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    state = run(collection, handler, "iphttps_state", {})
    assert state["state_source"] == "netsh" and state["nca_service_status"] is None
    assert state["iphttps_state"] == {"interface_status": None, "last_error_code": UNTRUSTED_ROOT}


def test_client_info_of_a_machine_without_directaccess(collection, make_handler, pki):
    doc = run(collection, make_handler("not_directaccess"), "client_info", {})
    assert doc["iphttps_configuration"] is None and doc["iphttps_state"] is None
    assert doc["da_connection_status"] is None
    assert doc["server_chain"] == [] and doc["server_chain_error"] is None and doc["store_certificates"] == []
    assert doc["chain_policy_extra_store"] == []
    assert doc["stores"]["Root"] == [pki.thumbprint("old_root")]


def test_client_info_when_the_server_refuses(collection, make_handler):
    doc = run(collection, make_handler("refused"), "client_info", {"connect_timeout_ms": 1000})
    assert doc["iphttps_state"]["last_error_code"] == 0x274D
    assert doc["server_chain"] == [] and doc["chain_status"] == []
    assert re.fullmatch(r'Exception calling "EndConnect" with "1" argument\(s\): "No connection could be made '
                        r'because the target machine actively refused it 127\.0\.0\.1:\d+"', doc["server_chain_error"])


@pytest.mark.parametrize("answer, text", [
    (b"", "Authentication failed because the remote party has closed the transport stream."),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "A call to SSPI failed, see inner exception."),
])
def test_failed_handshake_names_the_four_argument_overload_the_script_calls(answer, text):
    # AuthenticateAsClient(host, $null, $protocols, $false): PowerShell's wrapper counts four arguments.
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _address = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(answer)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        with pytest.raises(handlers._CaptureError) as caught:  # pylint: disable=protected-access
            handlers.capture_server_chain(f"127.0.0.1:{listener.getsockname()[1]}", "da.lab.example", 443, 2.0)
    finally:
        server.join(5)
        listener.close()
    assert str(caught.value) == f'Exception calling "AuthenticateAsClient" with "4" argument(s): "{text}"'


def test_client_info_when_the_server_never_answers(collection, make_handler):
    handler = make_handler("unreachable")
    started = time.monotonic()
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 300})
    assert time.monotonic() - started < 3
    assert doc["iphttps_state"]["last_error_code"] == 0x274C
    assert "timed out" in doc["server_chain_error"] or "did not properly respond" in doc["server_chain_error"]


def test_client_info_with_iphlpsvc_stopped_still_reads_the_chain(collection, make_handler):
    doc = run(collection, make_handler("service_stopped"), "client_info", {})
    assert doc["iphttps_state"] is None and doc["iphttps_configuration"] is not None
    assert len(doc["server_chain"]) == 3 and [s["status"] for s in doc["chain_status"]] == ["UntrustedRoot"]


def test_client_info_in_constrained_language_reads_the_state_only(collection, make_handler):
    handler = make_handler("constrained_language")
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000, "revocation": "always"})
    assert list(doc) == result_keys("client_info")
    assert doc["language_mode"] == "ConstrainedLanguage"
    # Cmdlets, CIM and netsh still answer ...
    assert doc["iphttps_configuration"]["server_url"].startswith("https://da.lab.example:")
    assert doc["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT
    assert doc["da_connection_status"]["status_name"] == "ActionableError"
    assert doc["iphlpsvc"]["state"] == "Running"
    # ... New-Object does not: no handshake, no stores, no fetches.
    assert doc["server_chain"] == [] and doc["chain_policy_extra_store"] == [] and doc["chain_status"] == []
    assert doc["server_chain_error"] is None and doc["stores"] is None and doc["store_certificates"] == []
    assert doc["revocation"] is None
    report = collection["_client_report"].build_report(doc)
    assert report["diagnosis"]["verdict"] == "constrained_language" and report["diagnosis"]["fixable"] is False


def test_client_cert_required_gives_the_schannel_code_and_handshake_failed(collection, make_handler):
    handler = make_handler("client_cert_required")
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert list(doc) == result_keys("client_info")
    assert doc["server_chain"] == [] and doc["chain_status"] == []
    assert doc["server_chain_error"].startswith('Exception calling "AuthenticateAsClient" with "4" argument(s)')
    assert doc["server_chain_error_hresult"] == 0x80090326
    assert doc["policy_errors"] is None  # the callback never ran
    assert doc["iphttps_state"]["last_error_code"] == 0x80090326
    report = collection["_client_report"].build_report(doc)
    diagnosis = report["diagnosis"]
    assert diagnosis["verdict"] == "handshake_failed" and diagnosis["fixable"] is False
    assert "0x80090326 SEC_E_ILLEGAL_MESSAGE" in diagnosis["reasons"][0]
    assert "device that terminates TCP 443" in report["server_chain_error_code"]["remedy"]


def test_a_refused_connection_is_no_handshake_failure(collection, make_handler):
    handler = make_handler("refused")
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert doc["server_chain_error"] and doc["server_chain_error_hresult"] is None
    assert collection["_client_report"].build_report(doc)["diagnosis"]["verdict"] == "no_chain"


def test_policy_errors_name_what_the_callback_saw(collection, make_handler):
    for template, expected in (("healthy", "None"), ("untrusted_root", "RemoteCertificateChainErrors"),
                               ("name_mismatch", "RemoteCertificateNameMismatch")):
        doc = run(collection, make_handler(template, name=f"da-{template.replace('_', '-')}"), "client_info",
                  {"connect_timeout_ms": 2000})
        assert doc["policy_errors"] == expected, template
        assert doc["server_chain_error_hresult"] is None, template


def test_german_client_texts_travel_as_utf8_and_arrive_intact(collection, make_handler):
    handler = make_handler("german_locale")
    result = raw_result(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert result.rc == 0
    assert "vertrauenswürdig".encode("utf-8") in result.stdout  # UTF-8 bytes, not a code page's
    doc = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert doc["iphttps_state"]["interface_status"].startswith("Fehler beim Herstellen einer Verbindung")
    assert doc["chain_status"][0]["status"] == "UntrustedRoot"
    assert "vertrauenswürdig" in doc["chain_status"][0]["information"]
    report = collection["_client_report"].build_report(doc)
    # The analysis never reads the texts: the verdict is the English client's.
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    assert report["client_chain_status"] == doc["chain_status"]
    assert report["iphttps"]["interface_status"] == doc["iphttps_state"]["interface_status"]


def test_client_info_agrees_with_iphttps_state_on_the_service_and_directaccess(collection, make_handler):
    for template in ("shared_svchost", "inside_corpnet", "service_stopped", "healthy"):
        handler = make_handler(template, name=f"da-{template.replace('_', '-')}")
        info = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
        state = run(collection, handler, "iphttps_state", {})
        assert info["iphlpsvc"]["process_id"] == state["service_process_id"], template
        assert info["da_connection_status"] == state["da_connection_status"], template
    assert info["language_mode"] == "FullLanguage"


def test_chain_status_follows_the_stores_not_the_last_connection(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    handler.client.add_certificate("Root", pki.pem("root"))
    doc = run(collection, handler, "client_info", {})
    # The X509Chain is built now and trusts the new root; IP-HTTPS only retries at the restart.
    assert doc["chain_status"] == []
    assert doc["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT
    assert sorted(doc["stores"]["Root"]) == sorted([pki.thumbprint("old_root"), pki.thumbprint("root")])


@pytest.mark.parametrize("template, verdict, fixable", [
    ("healthy", "trusted", False),
    ("untrusted_root", "untrusted_root", True),
    ("missing_intermediate", "missing_intermediate", True),
    ("name_mismatch", "name_mismatch", False),
    ("expired_server_cert", "expired", False),
    ("non_admin", "untrusted_root", True),
    ("distrusted_intermediate", "explicitly_distrusted", False),
    # The bundle's root is distrusted on this client: importing it would fix nothing.
    ("distrusted_root", "explicitly_distrusted", False),
])
def test_build_report_accepts_the_handler_output(collection, make_handler, pki, template, verdict, fixable):
    doc = run(collection, make_handler(template), "client_info", {"connect_timeout_ms": 2000})
    bundle = collection["_inputs"].certificates([pki.pem("root"), pki.pem("issuing")], "bundle")
    report = collection["_client_report"].build_report(doc, bundle)
    assert report["iphttps"]["configured"] is True
    assert (report["diagnosis"]["verdict"], report["diagnosis"]["fixable"]) == (verdict, fixable)
    if fixable:
        assert {m["thumbprint"] for m in report["diagnosis"]["missing"]} <= {pki.thumbprint("root"),
                                                                             pki.thumbprint("issuing")}


def test_build_report_of_unconfigured_and_unreachable_servers(collection, make_handler):
    report = collection["_client_report"].build_report(run(collection, make_handler("not_directaccess"),
                                                           "client_info", {}))
    assert report["iphttps"]["configured"] is False and report["diagnosis"] is None
    refused = run(collection, make_handler("refused", name="da-client-02"), "client_info", {})
    report = collection["_client_report"].build_report(refused)
    assert report["iphttps"]["last_error"]["hex"].upper() == "0X274D"
    assert report["server_chain_error"] == refused["server_chain_error"]
    assert report["diagnosis"]["trusted"] is False


# --- ca_import --------------------------------------------------------------------------------------

def test_ca_import_output_has_the_scripts_keys(collection, make_handler, pki):
    result = raw_result(collection, make_handler("untrusted_root"), "ca_import",
                        {"state": "present", "check_mode": True, "certificates": [import_item(pki, "root", "Root")]})
    assert result.rc == 0 and result.stdout.endswith(CRLF) and result.stdout.count(b"\n") == 1
    assert list(json.loads(result.stdout)) == result_keys("ca_import")


def test_ca_import_imports_then_converges(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    items = [import_item(pki, "root", "Root"), import_item(pki, "issuing", "CA")]
    params = {"state": "present", "check_mode": False, "restart_iphlpsvc": False, "restart_delay_seconds": 0,
              "certificates": items}
    first = run(collection, handler, "ca_import", params)
    entries = [{"store": i["store"], "thumbprint": i["thumbprint"]} for i in items]
    assert first["changed"] is True and first["imported"] == entries
    assert first["stores_before"] == {"Root": [pki.thumbprint("old_root")], "CA": []}
    assert sorted(first["stores_after"]["Root"]) == sorted([pki.thumbprint("old_root"), pki.thumbprint("root")])
    assert first["stores_after"]["CA"] == [pki.thumbprint("issuing")]
    assert first["failed"] is None and first["restart_scheduled"] is False and first["restart_error"] is None
    assert first["restart_note"] is None
    assert pki.thumbprint("root") in handler.client.certificates("Root")
    second = run(collection, handler, "ca_import", params)
    assert second["changed"] is False and second["already_present"] == entries and second["imported"] == []
    assert second["stores_before"] == second["stores_after"] == first["stores_after"]


def test_ca_import_check_mode_touches_nothing(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    before = handler.client.load()
    doc = run(collection, handler, "ca_import", {"state": "present", "check_mode": True, "restart_iphlpsvc": True,
                                                 "certificates": [import_item(pki, "root", "Root")]})
    assert doc["changed"] is True and doc["imported"] == [{"store": "Root", "thumbprint": pki.thumbprint("root")}]
    assert doc["stores_after"] == doc["stores_before"] and doc["restart_scheduled"] is False
    assert handler.client.load() == before and handler.pending_restarts() == 0


def test_ca_import_absent_removes_and_reports_absent(collection, make_handler, pki):
    handler = make_handler("healthy")
    params = {"state": "absent", "check_mode": False,
              "certificates": [import_item(pki, "issuing", "CA"), import_item(pki, "old_root", "Root")]}
    doc = run(collection, handler, "ca_import", params)
    assert doc["removed"] == [{"store": "CA", "thumbprint": pki.thumbprint("issuing")}]
    assert doc["absent"] == [{"store": "Root", "thumbprint": pki.thumbprint("old_root")}]
    assert doc["changed"] is True and doc["stores_after"]["CA"] == [] and handler.client.certificates("CA") == {}


def test_ca_import_removal_by_thumbprint_alone(collection, make_handler, pki):
    handler = make_handler("healthy")
    by_thumbprint = {"store": "CA", "thumbprint": pki.thumbprint("issuing").lower(), "der_base64": ""}
    doc = run(collection, handler, "ca_import", {"state": "absent", "certificates": [by_thumbprint]})
    assert doc["removed"] == [{"store": "CA", "thumbprint": pki.thumbprint("issuing")}] and doc["failed"] is None
    assert handler.client.certificates("CA") == {}
    # An import cannot do without the certificate.
    doc = run(collection, handler, "ca_import", {"state": "present", "certificates": [by_thumbprint]})
    assert doc["failed"] == {"store": "CA", "thumbprint": pki.thumbprint("issuing"), "kind": "error",
                             "message": "der_base64 is required to import a certificate"}
    assert handler.client.certificates("CA") == {}


def test_ca_import_thumbprint_mismatch_stops_at_the_first_failure(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    forged = dict(import_item(pki, "root", "Root"), thumbprint=pki.thumbprint("issuing").lower())
    doc = run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True,
                                                 "certificates": [forged, import_item(pki, "issuing", "CA")]})
    assert doc["failed"] == {
        "store": "Root", "thumbprint": pki.thumbprint("issuing"), "kind": "error",
        "message": f"thumbprint mismatch: the controller sent {pki.thumbprint('issuing')}, "
                   f"the host computed {pki.thumbprint('root')}"}
    assert doc["imported"] == [] and doc["changed"] is False and doc["restart_scheduled"] is False
    assert handler.client.certificates("CA") == {}  # the second item was never reached


@pytest.mark.parametrize("item, message", [
    ({"store": "My", "thumbprint": "AB", "der_base64": ""}, "store must be Root or CA, not 'My'"),
    # ca_import v4: the thumbprint becomes part of registry paths, so it is checked before anything else.
    ({"store": "Root", "thumbprint": "AB", "der_base64": "not base64!"}, "thumbprint must be 40 hexadecimal digits"),
    ({"store": "Root", "thumbprint": "AB" * 20, "der_base64": "not base64!"}, 'Exception calling "FromBase64String"'),
    ({"store": "CA", "thumbprint": "AB" * 20, "der_base64": base64.b64encode(b"junk").decode()},
     'Exception calling ".ctor" with "1" argument(s): "Cannot find the requested object."'),
])
def test_ca_import_bad_items_fail_with_the_scripts_message(collection, make_handler, item, message):
    doc = run(collection, make_handler("untrusted_root"), "ca_import", {"state": "present", "certificates": [item]})
    assert doc["failed"]["kind"] == "error" and message in doc["failed"]["message"]
    assert doc["stores_after"] == doc["stores_before"]


def test_ca_import_refuses_a_distrusted_certificate_and_changes_nothing(collection, make_handler, pki):
    handler = make_handler("distrusted_root")
    items = [import_item(pki, "issuing", "CA"), import_item(pki, "root", "Root")]
    doc = run(collection, handler, "ca_import", {"state": "present", "check_mode": False, "restart_iphlpsvc": True,
                                                 "restart_delay_seconds": 0, "certificates": items})
    assert doc["failed"]["kind"] == "distrusted" and doc["failed"]["thumbprint"] == pki.thumbprint("root")
    assert doc["changed"] is False and doc["imported"] == [] and doc["restart_scheduled"] is False
    assert doc["stores_after"] == doc["stores_before"]
    assert set(handler.client.certificates("CA")) == set()
    # A removal is never refused.
    removal = run(collection, handler, "ca_import", {"state": "absent", "check_mode": True,
                                                     "certificates": [import_item(pki, "old_root", "Root")]})
    assert removal["failed"] is None and removal["removed"] == [{"store": "Root",
                                                                 "thumbprint": pki.thumbprint("old_root")}]


def test_ca_import_by_a_non_administrator_is_denied(collection, make_handler, pki):
    handler = make_handler("non_admin")
    before = handler.client.load()
    item = import_item(pki, "root", "Root")
    doc = run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True,
                                                 "certificates": [item]})
    # X509Store.Open('ReadWrite') throws inside the script's try: its catch reports it, exit code 0.
    assert doc["failed"] == {"store": "Root", "thumbprint": item["thumbprint"], "kind": "access_denied",
                             "message": 'Exception calling "Open" with "1" argument(s): "Access is denied."'}
    assert doc["changed"] is False and doc["restart_scheduled"] is False
    assert handler.client.load() == before
    # Reading needs no rights: check mode and client_info work.
    checked = run(collection, handler, "ca_import", {"state": "present", "check_mode": True, "certificates": [item]})
    assert checked["failed"] is None and checked["imported"] == [{"store": "Root", "thumbprint": item["thumbprint"]}]
    assert run(collection, handler, "client_info", {})["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT


def test_ca_import_restart_is_detached_and_reconnects(collection, make_handler, pki):
    drops = []
    handler = make_handler("untrusted_root", drop_connections=drops.append)
    doc = run(collection, handler, "ca_import", {
        "state": "present", "restart_iphlpsvc": True, "restart_delay_seconds": 0.2, "restart_token": "run-1",
        "certificates": [import_item(pki, "root", "Root")]})
    # Reported before the restart runs, as Register-ScheduledTask and Start-ScheduledTask return at once.
    assert doc["restart_scheduled"] is True
    assert doc["restart_launch"] == {"method": "scheduled_task", "process_id": None,
                                     "task_name": "\\directaccess.iphttps\\iphlpsvc-restart",
                                     "service_process_id_before": 1000, "token": "run-1"}
    assert handler.client.iphttps_state().last_error_code == UNTRUSTED_ROOT
    deadline = time.monotonic() + 5
    while handler.restarts_fired == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handler.restarts_fired == 1 and handler.client.load()["iphlpsvc"]["restarts"] == 1
    state = run(collection, handler, "iphttps_state", {})
    marker = state.pop("restart_marker")
    assert state == {"script": "iphttps_state", "version": 3, "service_status": "Running",
                     "service_process_id": 1004, "nca_service_status": "Running", "state_source": "cmdlet",
                     "iphttps_state": {"interface_status": "IPHTTPS interface active", "last_error_code": 0},
                     "da_connection_status": {"status": 0, "status_name": "ConnectedRemotely", "substatus": 0,
                                              "substatus_name": "None"}}
    assert (marker["token"], marker["outcome"], marker["message"]) == ("run-1", "restarted", None)
    assert drops == []  # not a tunnel host


def test_ca_import_restart_on_a_tunnel_host_drops_the_connections(collection, make_handler, pki):
    drops = []
    handler = make_handler("tunnel", drop_connections=drops.append, tunnel_outage=4.0)
    run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True, "restart_delay_seconds": 0,
                                           "restart_token": "run-1",
                                           "certificates": [import_item(pki, "root", "Root")]})
    deadline = time.monotonic() + 5
    while handler.restarts_fired == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drops == [4.0] and handler.client.iphttps_state().last_error_code == 0


def test_no_restart_without_a_change_and_close_cancels_pending_ones(collection, make_handler, pki):
    handler = make_handler("healthy")
    params = {"state": "present", "restart_iphlpsvc": True, "restart_delay_seconds": 0, "restart_token": "run-1",
              "certificates": [import_item(pki, "root", "Root")]}
    assert run(collection, handler, "ca_import", params)["restart_scheduled"] is False
    pending = make_handler("untrusted_root", name="da-client-02")
    doc = run(collection, pending, "ca_import", dict(params, restart_delay_seconds=30))
    assert doc["restart_scheduled"] is True and pending.pending_restarts() == 1
    pending.close()
    assert pending.pending_restarts() == 0 and pending.client.load()["iphlpsvc"]["restarts"] == 0


def test_ca_import_with_a_delay_powershell_cannot_convert_exits_1(collection, make_handler, pki):
    handler = make_handler("untrusted_root")
    scripts = collection["_windows_scripts"]
    with pytest.raises(scripts.ScriptError, match=r'rc=1.*Cannot convert value "soon" to type "System.Int32"'):
        run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True,
                                               "restart_delay_seconds": "soon",
                                               "certificates": [import_item(pki, "root", "Root")]})


# --- iphttps_state ----------------------------------------------------------------------------------

def test_iphttps_state_with_iphlpsvc_stopped(collection, make_handler):
    result = raw_result(collection, make_handler("service_stopped"), "iphttps_state", {})
    assert result.stdout == (b'{"script":"iphttps_state","version":3,"service_status":"Stopped",'
                             b'"service_process_id":0,"nca_service_status":"Stopped","state_source":"cmdlet",'
                             b'"iphttps_state":null,"da_connection_status":null,"restart_marker":null}\r\n')
    assert list(json.loads(result.stdout)) == result_keys("iphttps_state")


# --- the running lab: CLI, pywinrm, Ansible ----------------------------------------------------------

E2E_SCENARIO = """\
description: one host per template the runtime tests need
hosts:
  - {template: healthy, count: 1}
  - {template: untrusted_root, count: 1}
  - {template: tunnel, count: 1}
  - {template: non_admin, count: 1}
  - {template: stopped_host, count: 1}
  - {template: wrong_credentials, count: 1}
"""

PLAYBOOK = """\
- name: Detect, then import and reconnect
  hosts: scenario_untrusted_root:scenario_tunnel
  gather_facts: false
  tasks:
    - name: Bundle the lab CAs, root pinned
      directaccess.iphttps.ca_bundle:
        sources:
          - path: "{{ lab_pki_dir }}/root.pem"
          - path: "{{ lab_pki_dir }}/issuing.pem"
        pins: ["{{ pin }}"]
      run_once: true
      register: bundle
    - name: Read the client
      directaccess.iphttps.client_info:
        bundle: "{{ bundle.certificates }}"
      register: client
    - name: Counts after client_info
      ansible.builtin.set_fact:
        counts_after_info: "{{ lookup('ansible.builtin.file', counts_file) | from_json }}"
    - name: Import and reconnect
      directaccess.iphttps.ca_import:
        certificates: "{{ bundle.certificates }}"
        reconnect: true
        restart_delay: 1
        poll_interval: 1
        reconnect_timeout: 30
      register: imported
    - name: Record the results
      ansible.builtin.copy:
        content: >-
          {{ {'client': client, 'imported': imported, 'counts_after_info': counts_after_info,
              'counts_after_import': lookup('ansible.builtin.file', counts_file) | from_json} | to_json }}
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        mode: "0644"
      delegate_to: localhost
"""


def lab_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


def seeded_lab_dir(base: Path, pki) -> Path:
    """A lab dir holding the module's PKI already, so 'up' only loads it."""
    lab_dir = base / "lab"
    lab_dir.mkdir()
    shutil.copytree(pki.directory, lab_dir / "pki")
    return lab_dir


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def lab(tmp_path_factory, pki):
    base = tmp_path_factory.mktemp("e2e")
    lab_dir = seeded_lab_dir(base, pki)
    scenario = base / "runtime.yml"
    scenario.write_text(E2E_SCENARIO, encoding="utf-8")
    started = lab_cli("up", "--scenario", str(scenario), "--lab-dir", str(lab_dir))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield lab_dir
    finally:
        stopped = lab_cli("down", "--lab-dir", str(lab_dir))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def hosts_of(lab_dir: Path) -> dict:
    return json.loads((lab_dir / "lab.json").read_text())["hosts"]


def host_in(lab_dir: Path, scenario: str) -> str:
    return next(name for name, host in hosts_of(lab_dir).items() if host["scenario"] == scenario)


class PywinrmConnection:
    """exec_command over a real pywinrm Protocol, for the collection's run_script."""

    def __init__(self, protocol: winrm.Protocol):
        self.protocol = protocol
        self.shell = protocol.open_shell()

    def exec_command(self, cmd, in_data=None, sudoable=True):
        executable, *arguments = cmd.split(" ")
        command_id = self.protocol.run_command(self.shell, executable, arguments, console_mode_stdin=False)
        if in_data:
            self.protocol.send_command_input(self.shell, command_id, in_data, end=True)
        stdout, stderr, rc = self.protocol.get_command_output(self.shell, command_id)
        self.protocol.cleanup_command(self.shell, command_id)
        return rc, stdout, stderr

    def close(self):
        self.protocol.close_shell(self.shell)


def protocol_for(lab_dir: Path, host: str, transport: str = "ntlm", password: str | None = None) -> winrm.Protocol:
    inventory = yaml.safe_load((lab_dir / "inventory.yml").read_text())
    hostvars = inventory["all"]["children"]["directaccess_clients"]["hosts"][host]
    return winrm.Protocol(
        endpoint=f"https://127.0.0.1:{hostvars['ansible_port']}/wsman", transport=transport,
        username=hostvars["ansible_user"], password=password or hostvars["ansible_password"],
        server_cert_validation="validate", ca_trust_path=hostvars["ansible_winrm_ca_trust_path"],
        read_timeout_sec=30, operation_timeout_sec=20)


def test_up_writes_pid_lab_json_pki_and_the_inventory(lab):
    pid = int((lab / "lab.pid").read_text())
    assert alive(pid)
    document = json.loads((lab / "lab.json").read_text())
    assert document["pid"] == pid and document["ready"] is True and document["transport"] == "ntlm"
    hosts = document["hosts"]
    expected = ["healthy", "untrusted_root", "tunnel", "non_admin", "stopped_host", "wrong_credentials"]
    assert [h["scenario"] for h in hosts.values()] == expected
    assert document["scenarios"]["tunnel"] == [host_in(lab, "tunnel")]
    for name in ("root.pem", "issuing.pem", "root.sha256", "winrm-ca.pem"):
        assert (lab / "pki" / name).is_file()
    inventory = yaml.safe_load((lab / "inventory.yml").read_text())
    assert (lab / "inventory.yml").stat().st_mode & 0o077 == 0  # it holds the password
    assert inventory["all"]["vars"] == {"lab_pki_dir": str(lab / "pki"),
                                        "lab_root_sha256": (lab / "pki" / "root.sha256").read_text().strip()}
    members = inventory["all"]["children"]["directaccess_clients"]["hosts"]
    assert list(members) == list(hosts)  # stopped hosts too
    first = members[host_in(lab, "healthy")]
    assert {k: v for k, v in first.items() if k not in ("ansible_port", "ansible_password")} == {
        "ansible_host": "127.0.0.1", "ansible_connection": "winrm", "ansible_winrm_transport": "ntlm",
        "ansible_winrm_scheme": "https", "ansible_winrm_server_cert_validation": "validate",
        "ansible_winrm_ca_trust_path": str(lab / "pki" / "winrm-ca.pem"), "ansible_user": "da-admin",
        "lab_scenario": "healthy"}
    assert first["ansible_port"] == hosts[host_in(lab, "healthy")]["port"]
    assert members[host_in(lab, "non_admin")]["ansible_user"] != "da-admin"
    assert members[host_in(lab, "wrong_credentials")]["ansible_password"] != first["ansible_password"]
    for template in expected:
        assert list(inventory["all"]["children"][f"scenario_{template}"]["hosts"]) == [host_in(lab, template)]


def test_up_refuses_a_second_lab_in_the_same_dir(lab):
    again = lab_cli("up", "--lab-dir", str(lab))
    assert again.returncode == 1
    assert f"a lab is already running in {lab}" in again.stderr and "down --lab-dir" in again.stderr


def test_pywinrm_runs_client_info_and_the_count_follows(lab, collection):
    host = host_in(lab, "healthy")
    connection = PywinrmConnection(protocol_for(lab, host))
    try:
        before = json.loads((lab / "state" / "counts.json").read_text()).get(host, 0)
        doc = collection["_windows_scripts"].run_script(connection, "client_info", {"connect_timeout_ms": 2000})
    finally:
        connection.close()
    assert doc["computer_name"] == host.upper() and doc["iphttps_state"]["last_error_code"] == 0
    assert len(doc["server_chain"]) == 3
    assert json.loads((lab / "state" / "counts.json").read_text())[host] == before + 1


def test_pywinrm_wrong_password_and_stopped_host(lab):
    with pytest.raises(InvalidCredentialsError):
        protocol_for(lab, host_in(lab, "wrong_credentials")).open_shell()
    with pytest.raises(InvalidCredentialsError):
        protocol_for(lab, host_in(lab, "healthy"), password="not-the-password").open_shell()
    with pytest.raises(Exception, match="(?i)refused"):
        protocol_for(lab, host_in(lab, "stopped_host")).open_shell()


def test_status_reports_every_host(lab):
    shown = lab_cli("status", "--json", "--lab-dir", str(lab))
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["running"] is True and set(report["hosts"]) == set(hosts_of(lab))
    stopped = report["hosts"][host_in(lab, "stopped_host")]
    assert stopped["listening"] is False and stopped["scenario"] == "stopped_host"
    healthy = report["hosts"][host_in(lab, "healthy")]
    assert healthy["listening"] is True and healthy["stores"] == {"Root": 1, "CA": 1}
    table = lab_cli("status", "--lab-dir", str(lab))
    assert table.returncode == 0 and "running (pid" in table.stdout
    assert re.search(rf"{host_in(lab, 'non_admin')}\s+non_admin\s+\d+\s+yes\s+Running\s+0x800B0109", table.stdout)


def test_ansible_detects_imports_and_reconnects(lab, tmp_path):
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "directaccess").mkdir(parents=True)
    (collections / "ansible_collections" / "directaccess" / "iphttps").symlink_to(REPO, target_is_directory=True)
    (tmp_path / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    pin = (lab / "pki" / "root.sha256").read_text().strip()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="4")
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(lab / "inventory.yml"), str(tmp_path / "play.yml"), "-e",
         json.dumps({"pin": pin, "counts_file": str(lab / "state" / "counts.json"), "out_dir": str(out_dir)})],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    root_tp = (thumbprint(x509.load_pem_x509_certificate((lab / "pki" / "root.pem").read_bytes())))
    for scenario in ("untrusted_root", "tunnel"):
        host = host_in(lab, scenario)
        results = json.loads((out_dir / f"{host}.json").read_text())
        client = results["client"]
        assert client["iphttps"]["last_error_code"] == UNTRUSTED_ROOT
        assert client["diagnosis"]["verdict"] == "untrusted_root" and client["diagnosis"]["fixable"] is True
        imported = results["imported"]
        assert imported["changed"] is True and imported["iphttps"]["last_error_code"] == 0
        record = ClientState(lab / "state", host).load()
        assert record["iphttps_state"]["last_error_code"] == 0 and root_tp in record["root_store"]
        assert record["iphlpsvc"]["restarts"] == 1
        info_counts, import_counts = results["counts_after_info"], results["counts_after_import"]
        assert info_counts[host] == 1  # client_info is one WinRM command
        if scenario == "untrusted_root":
            assert import_counts[host] == 1 + 1 + imported["polls"]  # ca_import, then one per poll
        else:
            # The tunnel went down under the polls: they reconnected, and some never reached the host.
            assert imported["reconnect_notes"] and imported["polls"] > len(imported["reconnect_notes"])
            assert 1 + 1 + imported["polls"] - len(imported["reconnect_notes"]) <= import_counts[host]
            assert import_counts[host] <= 1 + 1 + imported["polls"]


def test_down_stops_the_daemon_and_a_restart_keeps_the_stores(tmp_path, pki):
    lab_dir = seeded_lab_dir(tmp_path, pki)
    scenario = tmp_path / "one.yml"
    scenario.write_text("hosts:\n  - {template: untrusted_root, count: 1}\n", encoding="utf-8")
    assert lab_cli("up", "--scenario", str(scenario), "--lab-dir", str(lab_dir)).returncode == 0
    try:
        pid = int((lab_dir / "lab.pid").read_text())
        ClientState(lab_dir / "state", "da-client-01").add_certificate("Root", pki.pem("root"))
        stopped = lab_cli("down", "--lab-dir", str(lab_dir))
        assert stopped.returncode == 0 and stopped.stdout.strip() == "lab stopped"  # SIGTERM was enough
        assert not alive(pid) and not (lab_dir / "lab.pid").exists()
        assert "lab: stopped" in (lab_dir / "lab.log").read_text()
        again = lab_cli("down", "--lab-dir", str(lab_dir))
        assert again.returncode == 0 and "no lab running" in again.stdout
        assert lab_cli("up", "--scenario", str(scenario), "--lab-dir", str(lab_dir)).returncode == 0
        report = json.loads(lab_cli("status", "--json", "--lab-dir", str(lab_dir)).stdout)
        assert report["hosts"]["da-client-01"]["stores"] == {"Root": 2, "CA": 0}
    finally:
        assert lab_cli("down", "--lab-dir", str(lab_dir)).returncode == 0


def test_fifty_hosts_basic_transport_and_the_daemon_dies_with_its_dir(tmp_path, pki):
    lab_dir = seeded_lab_dir(tmp_path, pki)
    started = time.monotonic()
    up = lab_cli("up", "--hosts", "50", "--transport", "basic", "--lab-dir", str(lab_dir))
    elapsed = time.monotonic() - started
    assert up.returncode == 0, up.stdout + up.stderr
    pid = int((lab_dir / "lab.pid").read_text())
    try:
        print(f"50 hosts up in {elapsed:.2f}s (CLI reported: {up.stdout.splitlines()[0]})")
        assert elapsed < 15
        hosts = hosts_of(lab_dir)
        assert len(hosts) == 50 and len({h["port"] for h in hosts.values()}) == 50
        host = host_in(lab_dir, "healthy")
        connection = PywinrmConnection(protocol_for(lab_dir, host, transport="basic"))
        try:
            assert connection.exec_command("ipconfig")[0] == 1  # the lab only knows the collection's scripts
        finally:
            connection.close()
        # Gone from its path (a rename, so the daemon cannot race the removal with its own writes).
        lab_dir.rename(tmp_path / "removed")
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid)
        assert "lab.pid is gone; stopping" in (tmp_path / "removed" / "lab.log").read_text()
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_cli_errors_are_clear(tmp_path):
    missing = lab_cli("status", "--lab-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no lab in" in missing.stderr and "up --lab-dir" in missing.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts:\n  - {template: haunted, count: 1}\n", encoding="utf-8")
    refused = lab_cli("up", "--scenario", str(bad), "--lab-dir", str(tmp_path / "lab"))
    assert refused.returncode == 1 and "bad.yml: hosts[0].template: unknown template 'haunted'" in refused.stderr
    assert not (tmp_path / "lab" / "lab.pid").exists()
    usage = lab_cli("up", "--hosts", "0", "--lab-dir", str(tmp_path / "lab"))
    assert usage.returncode == 2 and "--hosts: must be an integer >= 1" in usage.stderr


def test_down_never_signals_a_process_that_is_not_the_lab(tmp_path):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "lab.pid").write_text(f"{os.getpid()}\n")  # a recycled pid: this test process
    result = lab_cli("down", "--lab-dir", str(lab_dir))
    assert result.returncode == 0 and "no lab running" in result.stdout
    assert not (lab_dir / "lab.pid").exists()
