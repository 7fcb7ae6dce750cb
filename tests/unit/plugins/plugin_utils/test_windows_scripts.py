# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the controller sends the collection's PowerShell scripts and reads their answers."""
from __future__ import annotations

import base64
import io
import json
import re
import threading
import time

import pytest
import requests
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts import (
    COMMAND_TIMEOUT,
    SOURCE_KEY,
    CommandTimeout,
    ScriptError,
    encoded_command,
    load_script,
    parse_output,
    poll_script,
    run_script,
)

SCRIPTS = ("client_info", "ca_import", "iphttps_state", "gpo_certificates")
# cmd.exe, which runs every WinRM command, cuts command lines at 8191 characters (KB 830473).
CMD_EXE_LIMIT = 8191
PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
UNTRUSTED_ROOT = 0x800B0109


def decoded(command: str) -> str:
    assert command.startswith(PREFIX), command[:120]
    return base64.b64decode(command[len(PREFIX):], validate=True).decode("utf-16-le")


def state_doc(code: int | None) -> dict:
    state = None if code is None else {"interface_status": "x", "last_error_code": code}
    return {"script": "iphttps_state", "version": 1, "service_status": "Running", "iphttps_state": state}


def answer(doc: dict) -> tuple[int, bytes, bytes]:
    return 0, json.dumps(doc).encode(), b""


class FakeConnection:
    """Answers exec_command from a list: a (rc, stdout, stderr) tuple, or an exception to raise."""

    def __init__(self, *answers, reset_error: Exception | None = None):
        self._shell = ShellModule()
        self.answers = list(answers)
        self.calls: list[tuple[str, bytes, bool]] = []
        self.resets = 0
        self.reset_error = reset_error

    def exec_command(self, cmd, in_data=None, sudoable=True):
        self.calls.append((cmd, in_data, sudoable))
        reply = self.answers.pop(0)
        if isinstance(reply, threading.Event):
            reply.wait(30)  # a command that hangs on the host (until the test lets it go)
            return answer(state_doc(0))
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def reset(self):
        self.resets += 1
        if self.reset_error is not None:
            raise self.reset_error


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- parse_output --------------------------------------------------------------------------------

def test_parse_output_picks_the_document_naming_the_script_among_noise():
    stdout = (
        "WARNING: the module NetworkTransition was loaded implicitly\r\n"
        '{"script": "iphttps_state", "version": 1}\r\n'   # another script's document
        "{not json at all\r\n"
        '{"script": "client_info", "version": 1, "computer_name": "CLIENT01"}\r\n'
        "Transcript stopped\r\n"
    ).encode()
    assert parse_output("client_info", 0, stdout, b"") == {"script": "client_info", "version": 1,
                                                           "computer_name": "CLIENT01"}


def test_parse_output_accepts_text_and_ignores_stderr_noise_on_success():
    doc = parse_output("iphttps_state", 0, json.dumps(state_doc(0)), "Preparing modules for first use.")
    assert doc["iphttps_state"]["last_error_code"] == 0


def test_parse_output_nonzero_rc_raises_with_powershells_message():
    stderr = b"Get-Service : Cannot find any service with service name 'iphlpsvc'.\r\n"
    with pytest.raises(ScriptError) as info:
        # Even a complete document does not count when PowerShell says it failed.
        parse_output("iphttps_state", 1, json.dumps(state_doc(0)).encode(), stderr)
    assert info.value.kind == "error"
    assert "rc=1" in str(info.value)
    assert "Cannot find any service with service name 'iphlpsvc'" in str(info.value)
    assert str(info.value).startswith("iphttps_state:")


def test_parse_output_nonzero_rc_without_output_says_so():
    with pytest.raises(ScriptError, match=r"ca_import: the PowerShell script failed \(rc=5\): exit code 5 and no output"):
        parse_output("ca_import", 5, b"", b"")


@pytest.mark.parametrize("stderr", [
    'Exception calling "Open" with "1" argument(s): "Access is denied."',
    "System.UnauthorizedAccessException: Attempted to perform an unauthorized operation.",
    "Restart-Service : ACCESS DENIED",
    # A German host: the message is localized, E_ACCESSDENIED is not.
    'Ausnahme beim Aufrufen von "Open" mit 1 Argument(en): "Zugriff verweigert (0x80070005)"',
    "Open failed, HResult -2147024891",
])
def test_parse_output_access_denied_says_administrator_rights_are_needed(stderr):
    with pytest.raises(ScriptError) as info:
        parse_output("ca_import", 1, b"", stderr.encode())
    assert info.value.kind == "access_denied"
    message = str(info.value)
    assert "administrator rights" in message
    assert stderr in message


def test_parse_output_localized_denial_without_a_code_is_a_plain_error():
    # The limit of reading text: without the HRESULT a localized denial is not recognised.
    with pytest.raises(ScriptError) as info:
        parse_output("ca_import", 1, b"", 'Ausnahme beim Aufrufen von "Open": "Zugriff verweigert"'.encode())
    assert info.value.kind == "error"


def test_ca_import_compares_the_signed_form_of_e_accessdenied():
    signed = 0x80070005 - 2**32  # Exception.HResult is an Int32
    assert f"$current.HResult -eq {signed}" in load_script("ca_import")


def test_parse_output_access_denied_on_stdout_when_stderr_is_empty():
    with pytest.raises(ScriptError) as info:
        parse_output("client_info", 1, b"Access is denied.\r\n", b"")
    assert info.value.kind == "access_denied"


def test_parse_output_without_json_is_an_error_naming_what_is_missing():
    with pytest.raises(ScriptError) as info:
        parse_output("client_info", 0, b"hello from a profile script\r\n", b"")
    assert info.value.kind == "no_document"  # the script ran; its document did not arrive
    message = str(info.value)
    assert "no result document" in message
    assert '"script": "client_info"' in message
    assert "hello from a profile script" in message


def test_parse_output_with_empty_output_and_rc_zero_is_an_error():
    with pytest.raises(ScriptError, match="no result document.*output: none"):
        parse_output("client_info", 0, b"", b"")


@pytest.mark.parametrize("stdout", [
    '{"script": "ca_import", "version": 1}',        # another script answered
    '{"version": 1}',                               # no name at all
    '["script", "client_info"]',                    # not an object
    '{"script": "client_info", "version": 1',       # cut short
])
def test_parse_output_refuses_documents_not_naming_the_script(stdout):
    with pytest.raises(ScriptError, match="^client_info: the host printed no result document"):
        parse_output("client_info", 0, stdout.encode(), b"")


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_starts_with_its_identity_line(name):
    assert load_script(name).splitlines()[0].startswith(f"# directaccess.iphttps script: {name} v")


@pytest.mark.parametrize("name", SCRIPTS)
def test_command_fits_the_cmd_exe_limit_and_carries_the_identity_line(name):
    command = encoded_command(name, load_script(name))
    assert len(command) < CMD_EXE_LIMIT
    text = decoded(command)
    assert text.splitlines()[0] == load_script(name).splitlines()[0]
    assert f"# directaccess.iphttps script: {name}" in text


def test_whole_scripts_would_not_fit_on_a_command_line():
    # Why the loader exists: sent whole, the big scripts overrun cmd.exe's limit.
    for name in ("client_info", "ca_import"):
        whole = PREFIX + base64.b64encode(load_script(name).encode("utf-16-le")).decode()
        assert len(whole) > CMD_EXE_LIMIT


def test_loader_is_windows_powershell_51_syntax():
    ps_check = pytest.importorskip("ansible_collections.directaccess.iphttps.tests.tools.ps_check")
    text = decoded(encoded_command("client_info", load_script("client_info")))
    assert ps_check.check_source(text.encode("utf-8"), "<loader>") == []
    assert f").{SOURCE_KEY}))" in text


@pytest.mark.parametrize("script", ["", "$x = 1\n", "# directaccess.iphttps script: ca_import v1\n"])
def test_command_refuses_a_script_without_its_identity_line(script):
    with pytest.raises(ValueError, match=r"scripts/client_info\.ps1 must start with"):
        encoded_command("client_info", script)


# --- run_script ----------------------------------------------------------------------------------

def test_run_script_sends_one_encoded_command_and_params_only_on_stdin():
    conn = FakeConnection(answer({"script": "ca_import", "version": 1, "changed": False}))
    params = {"state": "present", "check_mode": True, "certificates": [
        {"store": "Root", "thumbprint": "SENTINELTHUMBPRINT0000000000000000000000", "der_base64": "c2VudGluZWw="}]}

    doc = run_script(conn, "ca_import", params)

    assert doc == {"script": "ca_import", "version": 1, "changed": False}
    assert len(conn.calls) == 1
    command, in_data, sudoable = conn.calls[0]
    assert sudoable is False
    text = decoded(command)
    assert "# directaccess.iphttps script: ca_import" in text
    for value in ("SENTINELTHUMBPRINT", "c2VudGluZWw=", "present"):
        assert value not in command and value not in text
    sent = json.loads(in_data)
    assert sent.pop(SOURCE_KEY) == load_script("ca_import")
    assert sent == params
    # One ASCII line: the loader reads stdin line by line in the console code page.
    in_data.decode("ascii")
    assert b"\n" not in in_data


def test_run_script_escapes_non_ascii_params():
    conn = FakeConnection(answer({"script": "client_info"}))
    run_script(conn, "client_info", {"note": "Zürich – Straße"})
    in_data = conn.calls[0][1]
    assert json.loads(in_data)["note"] == "Zürich – Straße"
    in_data.decode("ascii")


def test_run_script_refuses_the_reserved_key():
    conn = FakeConnection()
    with pytest.raises(ValueError, match=SOURCE_KEY):
        run_script(conn, "client_info", {SOURCE_KEY: "Remove-Item C:\\ -Recurse"})
    assert conn.calls == []


def test_run_script_passes_transport_errors_through():
    conn = FakeConnection(AnsibleConnectionFailure("winrm connection error: refused"))
    with pytest.raises(AnsibleConnectionFailure, match="refused"):
        run_script(conn, "client_info", {})


def test_run_script_raises_script_errors():
    conn = FakeConnection((1, b"", b"Access is denied."))
    with pytest.raises(ScriptError) as info:
        run_script(conn, "ca_import", {})
    assert info.value.kind == "access_denied"


def test_ansible_winrm_connection_sends_the_command_unchanged():
    """Ansible's winrm plugin must pass our command through, not wrap it in a second PowerShell."""
    pytest.importorskip("winrm")
    try:
        conn = connection_loader.get("winrm", PlayContext())
    except TypeError:  # older signatures want new_stdin
        conn = connection_loader.get("winrm", PlayContext(), io.StringIO())
    seen = {}

    def winrm_exec(command, args=(), from_exec=False, stdin_iterator=None):
        seen["command"] = " ".join([command, *args])
        seen["stdin"] = b"".join(chunk for chunk, _last in stdin_iterator)
        return answer(state_doc(0))

    conn._winrm_exec = winrm_exec
    conn._connected = True
    doc = run_script(conn, "iphttps_state", {})
    assert doc["iphttps_state"]["last_error_code"] == 0
    assert seen["command"] == encoded_command("iphttps_state", load_script("iphttps_state"))
    assert json.loads(seen["stdin"]) == {SOURCE_KEY: load_script("iphttps_state")}


# --- poll_script ---------------------------------------------------------------------------------

def healthy(doc: dict) -> bool:
    return bool(doc.get("iphttps_state")) and doc["iphttps_state"]["last_error_code"] == 0


def poll(conn, clock, **kwargs):
    options = dict(until=healthy, timeout=60, first_delay=3, interval=5, sleep=clock.sleep, clock=clock)
    options.update(kwargs)
    return poll_script(conn, "iphttps_state", {}, **options)


def test_poll_returns_after_one_poll_when_the_first_answer_is_healthy():
    conn, clock = FakeConnection(answer(state_doc(0))), FakeClock()
    doc, polls, notes = poll(conn, clock)
    assert (doc, polls, notes) == (state_doc(0), 1, [])
    assert clock.sleeps == [3]
    assert len(conn.calls) == 1 and conn.resets == 0


def test_poll_keeps_going_until_healthy():
    conn, clock = FakeConnection(answer(state_doc(None)), answer(state_doc(UNTRUSTED_ROOT)), answer(state_doc(0))), \
        FakeClock()
    doc, polls, notes = poll(conn, clock)
    assert (doc, polls, notes) == (state_doc(0), 3, [])
    assert clock.sleeps == [3, 5, 5]


def test_poll_survives_dropped_connections_and_resets_them():
    conn = FakeConnection(
        requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected())"),
        AnsibleConnectionFailure("winrm connection error: [Errno 111] Connection refused"),
        answer(state_doc(0)),
    )
    clock = FakeClock()
    doc, polls, notes = poll(conn, clock)
    assert doc == state_doc(0)
    assert polls == 3
    assert conn.resets == 2
    assert len(notes) == 2
    assert notes[0].startswith("poll 1: connection dropped") and "Connection aborted" in notes[0]
    assert notes[1].startswith("poll 2: connection dropped") and "Connection refused" in notes[1]


def test_poll_keeps_going_when_the_reset_itself_fails():
    conn = FakeConnection(requests.exceptions.ConnectionError("down"), answer(state_doc(0)),
                          reset_error=AnsibleConnectionFailure("still down"))
    doc, polls, notes = poll(conn, FakeClock())
    assert (doc, polls, len(notes)) == (state_doc(0), 2, 1)
    assert conn.resets == 1


def test_poll_stops_at_the_timeout_and_returns_the_last_answer():
    conn = FakeConnection(*[answer(state_doc(UNTRUSTED_ROOT))] * 20)
    clock = FakeClock()
    start = clock.now
    doc, polls, notes = poll(conn, clock, timeout=30, first_delay=3, interval=5)
    # Polls at +3, +8, +13, +18, +23, +28; one more would start after the deadline.
    assert polls == 6
    assert clock.sleeps == [3, 5, 5, 5, 5, 5]
    assert clock.now - start <= 30
    assert doc == state_doc(UNTRUSTED_ROOT)
    assert notes == []


def test_poll_keeps_the_last_answer_when_the_link_drops_later():
    conn = FakeConnection(answer(state_doc(UNTRUSTED_ROOT)), *[requests.exceptions.ConnectionError("gone")] * 5)
    doc, polls, notes = poll(conn, FakeClock(), timeout=12, first_delay=1, interval=5)
    assert doc == state_doc(UNTRUSTED_ROOT)
    assert polls == 3
    assert len(notes) == 2


def test_poll_returns_none_when_no_poll_got_through():
    conn = FakeConnection(*[AnsibleConnectionFailure("refused")] * 5)
    doc, polls, notes = poll(conn, FakeClock(), timeout=10, first_delay=0, interval=5)
    assert doc is None
    assert polls == 3
    assert len(notes) == 3 and conn.resets == 3


def test_poll_polls_once_even_when_the_first_delay_exceeds_the_timeout():
    conn = FakeConnection(answer(state_doc(UNTRUSTED_ROOT)))
    doc, polls, _notes = poll(conn, FakeClock(), timeout=2, first_delay=3, interval=5)
    assert (doc, polls) == (state_doc(UNTRUSTED_ROOT), 1)


def test_a_command_that_hangs_is_given_up_at_its_deadline():
    hang = threading.Event()
    conn = FakeConnection(hang)
    started = time.monotonic()
    try:
        with pytest.raises(CommandTimeout, match=r"iphttps_state: the host gave no result within 0.3s"):
            run_script(conn, "iphttps_state", {}, timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        hang.set()
    assert COMMAND_TIMEOUT == 300  # the default a playbook task gets for each command


def test_a_poll_that_hangs_ends_with_the_window_and_the_next_poll_gets_through():
    hang = threading.Event()
    conn = FakeConnection(hang, answer(state_doc(0)))
    started = time.monotonic()
    try:
        # The hanging poll is given up when the 2 s window closes, not whenever the host answers.
        doc, polls, notes = poll_script(conn, "iphttps_state", {}, until=healthy, timeout=2, first_delay=0,
                                        interval=0.1)
    finally:
        hang.set()
    assert time.monotonic() - started < 10
    assert doc is None and polls == 1 and conn.resets == 1
    assert notes[0].startswith("poll 1: connection dropped (iphttps_state: the host gave no result within")
    conn = FakeConnection(threading.Event(), answer(state_doc(0)))
    conn.answers[0].set()  # a slow answer inside the window counts
    assert poll_script(conn, "iphttps_state", {}, until=healthy, timeout=5, first_delay=0, interval=0.1)[0] == \
        state_doc(0)


def test_poll_lets_script_errors_through():
    conn = FakeConnection(requests.exceptions.ConnectionError("gone"), (1, b"", b"Access is denied."),
                          answer(state_doc(0)))
    with pytest.raises(ScriptError) as info:
        poll(conn, FakeClock())
    assert info.value.kind == "access_denied"
    assert len(conn.calls) == 2


def test_poll_asks_again_after_a_garbled_reply():
    cut_off = (0, b'{"script":"iphttps_state","iphttps_st', b"")
    conn, clock = FakeConnection(cut_off, answer(state_doc(0))), FakeClock()
    doc, polls, notes = poll(conn, clock)
    assert (doc, polls) == (state_doc(0), 2)
    assert notes == ["poll 1: the reply held no result document; polling again"]


def test_poll_with_only_garbled_replies_fails_with_the_script_error_at_the_end_of_the_window():
    cut_off = (0, b'{"script":"iphttps_state","iphttps_st', b"")
    conn, clock = FakeConnection(*[cut_off] * 20), FakeClock()
    with pytest.raises(ScriptError, match="no result document") as info:
        poll(conn, clock, timeout=20)
    assert info.value.kind == "no_document"
    assert len(conn.calls) == 4  # at 3, 8, 13 and 18 s: every poll of the window was tried
    # A good answer before the garbled ones is what the wait ends with.
    conn, clock = FakeConnection(answer(state_doc(UNTRUSTED_ROOT)), *[cut_off] * 20), FakeClock()
    doc, polls, notes = poll(conn, clock, timeout=20)
    assert doc == state_doc(UNTRUSTED_ROOT) and polls == 4 and len(notes) == 3


def test_poll_does_not_mistake_a_fault_in_until_for_a_dropped_connection():
    conn = FakeConnection(answer({"script": "iphttps_state", "iphttps_state": ["unexpected"]}), answer(state_doc(0)))
    with pytest.raises(TypeError):
        poll(conn, FakeClock())
    assert conn.resets == 0
    assert len(conn.calls) == 1


# --- what the scripts must keep doing (no PowerShell here: read as text) -------------------------

def script_code(name: str) -> str:
    """The script without its comment lines."""
    return "\n".join(line for line in load_script(name).splitlines() if not line.lstrip().startswith("#"))


@pytest.mark.parametrize("name, cmdlets", [
    ("client_info", ("Get-NetIPHttpsConfiguration", "Get-NetIPHttpsState", "Get-DAConnectionStatus")),
    ("iphttps_state", ("Get-NetIPHttpsState", "Get-DAConnectionStatus")),
])
def test_cmdlets_newer_than_windows_7_are_looked_up_before_any_call(name, cmdlets):
    # A missing cmdlet fails before -ErrorAction applies, and 'Stop' makes that fatal.
    code = script_code(name)
    for cmdlet in cmdlets:
        lookup = code.find(f"Get-Command -Name {cmdlet} -ErrorAction SilentlyContinue")
        calls = [m.start() for m in re.finditer(rf"(?<!-Name ){cmdlet}\b", code)]
        assert lookup >= 0, cmdlet
        assert calls and min(calls) > lookup, cmdlet


NETSH_ENGLISH = """\
Interface IPHTTPSInterface (Group Policy) Parameters
------------------------------------------------------------
Role              : client
URL               : https://da.contoso.com:443/IPHTTPS
Last Error Code   : 0x800b0109
Interface Status  : failed to connect to the IPHTTPS server. Waiting to reconnect
"""
# Labels and status in another language (made up for the test; netsh localizes both).
NETSH_OTHER = """\
Schnittstelle IPHTTPSInterface (Gruppenrichtlinie) Parameter
------------------------------------------------------------
Rolle              : Client
Adresse            : HTTPS://da.contoso.com/IPHTTPS
Letzter Fehlercode : 0X0
Status             : Verbindung 0x2af9 aktiv
"""


def netsh_patterns(name: str) -> list[str]:
    code = script_code(name)
    function = code[code.index("function Read-Netsh"):]
    function = function[:function.index("\n}\n")]
    return re.findall(r"-match '([^']+)'", function)


def read_netsh(patterns: list[str], text: str) -> list:
    """First match of each pattern, line by line, as PowerShell's case-insensitive -match finds it."""
    found: list = [None] * len(patterns)
    for line in text.splitlines():
        for index, pattern in enumerate(patterns):
            match = re.search(pattern, line, re.IGNORECASE)
            if found[index] is None and match:
                found[index] = match.group(1)
                break
    return found


@pytest.mark.parametrize("text, url, code", [
    (NETSH_ENGLISH, "https://da.contoso.com:443/IPHTTPS", "800b0109"),
    (NETSH_OTHER, "HTTPS://da.contoso.com/IPHTTPS", "0"),
    ("The following command was not found: interface httpstunnel show interfaces.\n", None, None),
])
def test_netsh_is_read_for_the_url_and_the_code_only(text, url, code):
    url_pattern, code_pattern = netsh_patterns("client_info")
    assert read_netsh([url_pattern, code_pattern], text) == [url, code]
    # The light poll reads the code the same way.
    assert netsh_patterns("iphttps_state") == [code_pattern]


def braced_block(code: str, opening: int) -> str:
    """The text inside the braces whose '{' is at ``opening`` (the scripts keep braces out of strings here)."""
    depth = 0
    for index in range(opening, len(code)):
        depth += {"{": 1, "}": -1}.get(code[index], 0)
        if depth == 0:
            return code[opening + 1:index]
    raise AssertionError(f"unbalanced braces after offset {opening}")


def test_client_info_keeps_the_chain_when_the_handshake_fails_after_the_callback():
    code = script_code("client_info")
    handshake = code.index("$ssl.AuthenticateAsClient(")
    cleanup = braced_block(code, code.index("finally {", handshake) + len("finally "))
    assert "$capture.server_chain = @($chainList)" in cleanup
    assert "$capture.chain_policy_extra_store = @($script:captured.extra)" in cleanup
    # Explicit versions: Windows PowerShell on .NET Framework 4.x may offer TLS 1.0 alone.
    assert "[System.Security.Authentication.SslProtocols]'Tls12, Tls11, Tls'" in code
    assert "$ssl.AuthenticateAsClient($uri.DnsSafeHost, $null, $protocols, $false)" in code


def test_client_info_connects_to_every_address_of_each_family_within_one_deadline():
    body = function_body(script_code("client_info"), "Connect-Server")
    # TcpClient() is IPv4-only on .NET Framework: one TcpClient per address, of that address's family.
    assert "$addresses = @([System.Net.Dns]::GetHostAddresses($hostName))" in body
    assert "New-Object -TypeName System.Net.Sockets.TcpClient -ArgumentList $address.AddressFamily" in body
    assert "$left = $waitMs - [int]$clock.ElapsedMilliseconds" in body and "WaitOne($left)" in body
    # A failed address is closed and the next one tried; the last failure is what the caller reports.
    assert "$tcp.Close()" in braced_block(body, body.index("{", body.index("catch {")))
    assert "if ($null -ne $failure) { throw $failure }" in body


def test_client_info_captures_through_the_winhttp_proxy_with_connect():
    code = script_code("client_info")
    capture = function_body(code, "Get-ServerChain")
    # The proxy WinHTTP would use for the URL (bypass list and per-scheme entries), the same as the CRL fetches'.
    assert "$proxy = Get-WebProxyFor $uri $proxySettings" in capture
    assert "Connect-Server $proxy.Address.DnsSafeHost $proxy.Address.Port $timeoutMs" in capture
    # The tunnel is opened before the TLS handshake, on the same stream.
    assert capture.index('Open-ProxyTunnel $tcp.GetStream() "$($uri.DnsSafeHost):$port" $proxyName') < \
        capture.index("New-Object -TypeName System.Net.Security.SslStream")
    tunnel = function_body(code, "Open-ProxyTunnel")
    assert '"CONNECT $target HTTP/1.1`r`nHost: $target`r`n`r`n"' in tunnel
    # Byte by byte up to the blank line, bounded: nothing of the TLS handshake is consumed.
    assert "$stream.ReadByte()" in tunnel and "if ($answer.Length -ge 8192)" in tunnel
    assert "if ($status -notmatch '^HTTP/1\\.[01] 2\\d\\d')" in tunnel
    # Read once, before any capture, and reused by the revocation fetches.
    assert code.index("$result.winhttp_proxy = Read-WinHttpProxy") < code.index("$first = Get-ServerChain")
    assert "$settings = $result.winhttp_proxy" in code


def test_client_info_captures_every_entry_point_only_when_none_is_activated():
    code = script_code("client_info")
    block = code[code.index("$first = Get-ServerChain"):code.index("$revocationErrors = @(")]
    assert "if ($result.iphttps_configuration.profile_activated -eq $false) {" in block
    assert "Where-Object { $_ -ne $result.iphttps_configuration.server_url } | Select-Object -First 7" in block
    assert "$result.entry_point_captures = @($others | ForEach-Object { Get-ServerChain $_ $result.winhttp_proxy })" \
        in block
    # Store certificates named by any entry point's chain come back in full.
    assert "foreach ($other in @($result.entry_point_captures))" in code


def test_ca_import_asks_for_a_process_outside_the_wmi_job_then_falls_back_on_a_refusal_or_a_throw():
    body = function_body(script_code("ca_import"), "Start-RestartProcess")
    breakaway = 0x01000000  # CREATE_BREAKAWAY_FROM_JOB ("Process Creation Flags")
    startup = f"-ClassName Win32_ProcessStartup -ClientOnly -Property @{{ CreateFlags = [uint32]{breakaway:#010x} }}"
    attempt = braced_block(body, body.index("{", body.index("try {")))
    # The breakaway attempt has a try of its own: a non-zero ReturnValue and an exception both leave it
    # for the plain Create after it, which is in no try of this function.
    assert startup in attempt and "ProcessStartupInformation = $startup" in attempt
    assert "if ($created.ReturnValue -eq 0) { return" in attempt
    handler = braced_block(body, body.index("{", body.index("catch {")))
    assert "throw" not in handler
    plain = body.index("Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{ CommandLine = "
                       "$CommandLine }")
    assert plain > body.index("catch {") and body.count("try {") == 1
    assert 'if ($created.ReturnValue -ne 0) { throw "Win32_Process.Create returned' in body[plain:]


def test_ca_import_registers_the_task_only_where_the_scheduledtasks_cmdlets_exist():
    code = script_code("ca_import")
    guard = code.index("if (Get-Command -Name Register-ScheduledTask -ErrorAction SilentlyContinue) {")
    guarded = braced_block(code, code.index("{", guard))
    calls = [m.start() for m in re.finditer(r"^\s*Start-RestartTask ", code, re.M)]
    assert len(calls) == 1 and "Start-RestartTask (ConvertTo-EncodedCommand" in guarded
    # The ScheduledTasks cmdlets are called in that function only (the task's own Unregister is text it runs).
    task = function_body(code, "Start-RestartTask")
    for cmdlet in ("New-ScheduledTaskAction", "New-ScheduledTaskPrincipal", "New-ScheduledTaskSettingsSet",
                   "Register-ScheduledTask", "Start-ScheduledTask"):
        calls = rf"(?<!-Name ){cmdlet} -"
        assert len(re.findall(calls, code)) == len(re.findall(calls, task)) == 1, cmdlet
    assert "New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest" in task
    assert "-AllowStartIfOnBatteries -DontStopIfGoingOnBatteries" in task


# --- client_info's revocation fetches ----------------------------------------------------------------

REVOCATION_ERRORS = {0x80092013, 0x80092012, 0x80092010}  # CRYPT_E_REVOCATION_OFFLINE, _NO_REVOCATION_CHECK, _REVOKED


def function_body(code: str, name: str) -> str:
    return braced_block(code, code.index("{", code.index(f"function {name}")))


def test_client_info_fetches_after_the_capture_and_before_the_stores():
    code = script_code("client_info")
    capture_done = code.index("if ($null -ne $tcp) { $tcp.Close() }")
    fetch = code.index("$outcome = Invoke-RevocationFetch ")
    stores = code.index("foreach ($storeName in ")
    # One command: the fetches use the chain the capture just got, and the stores are read after.
    assert capture_done < fetch < stores
    assert "$chain = @($result.server_chain)" in code[capture_done:fetch]


def test_client_info_auto_mode_fetches_for_the_three_revocation_errors_only():
    code = script_code("client_info")
    listed = re.search(r"\$revocationErrors = @\(([0-9, ]+)\)", code).group(1)
    # Decimal: Windows PowerShell 5.1 reads 0x80092013 as a negative Int32.
    assert {int(value) for value in listed.split(",")} == REVOCATION_ERRORS
    assert ("if ($fullLanguage -and ($revocationMode -eq 'always' -or ($revocationMode -eq 'auto' -and $null -ne "
            "$lastError -and $revocationErrors -contains $lastError)))") in code
    assert "throw \"revocation must be auto, always or never, not '$revocationMode'\"" in code
    assert 'throw "revocation_timeout_ms must be at least 1, not $revocationTimeoutMs"' in code


def test_client_info_fetches_with_the_winhttp_proxy_never_the_users():
    code = script_code("client_info")
    reader = function_body(code, "Read-WinHttpProxy")
    assert ("Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
            "\\Connections' -Name WinHttpSettings -ErrorAction Stop") in reader
    fetch = function_body(code, "Invoke-RevocationFetch")
    # Set on every request, before it is sent: left alone, HttpWebRequest would take the IE proxy.
    assert fetch.index("$request.Proxy = Get-WebProxyFor $uri $settings") < fetch.index("$request.GetResponse()")
    assert "$request.Timeout = $waitMs" in fetch and "$request.ReadWriteTimeout = $waitMs" in fetch
    for user_proxy in ("DefaultWebProxy", "GetSystemWebProxy", "Invoke-WebRequest", "Invoke-RestMethod"):
        assert user_proxy not in code


def test_client_info_reads_urls_from_the_der_not_from_localized_text():
    code = script_code("client_info")
    urls = function_body(code, "Get-RevocationUrls")
    assert ".Format(" not in code
    assert "$extension.Oid.Value -eq '2.5.29.31'" in urls and "$extension.Oid.Value -eq '1.3.6.1.5.5.7.1.1'" in urls
    assert "$name.tag -eq 0x86" in urls  # GeneralName uniformResourceIdentifier [6], implicit
    assert "'2B-06-01-05-05-07-30-01'" in urls  # 1.3.6.1.5.5.7.48.1, id-ad-ocsp, as DER content bytes
    element = function_body(code, "Read-DerElement")
    # Long-form lengths are read, and nothing may run past the enclosing element.
    assert "$length * 256 + [int]$der[$start + $i]" in element
    assert "if ($start + $length -gt $end) { return $null }" in element


def test_client_info_bounds_the_fetches():
    code = script_code("client_info")
    assert "$revocationTimeoutMs = 5000" in code
    assert "$deadlineMs = 30000" in code and "if ($fetches.Count -ge 16) { break }" in code
    assert "[Math]::Min($revocationTimeoutMs, $deadlineMs - $clock.ElapsedMilliseconds)" in code
    # Non-HTTP URLs (the ldap CDP AD CS lists first) are reported, never fetched.
    assert "@('http', 'https') -notcontains $scheme) { $outcome = New-FetchOutcome \"$scheme not fetched\" }" in code
    body = function_body(code, "Invoke-RevocationFetch")
    assert body.count("262144") == 2


def test_client_info_reads_the_language_mode_before_anything_constrained_language_refuses():
    code = script_code("client_info")
    mode = code.index("$languageMode = [string]$ExecutionContext.SessionState.LanguageMode")
    assert "$fullLanguage = $languageMode -eq 'FullLanguage'" in code
    assert "    language_mode = $languageMode\n" in code
    # Nothing before the check creates an object or touches [Console].
    assert "New-Object" not in code[:mode] and "[Console]" not in code[:mode]
    # Each part that needs New-Object, a .NET method or the delegate runs only in FullLanguage.
    # The capture's function runs only from inside the FullLanguage guard (its definition runs nothing).
    guard = code.index("if ($fullLanguage -and $null -ne $result.iphttps_configuration")
    calls = [m.start() for m in re.finditer(r"Get-ServerChain \$", code)]
    assert len(calls) == 2 and all(guard < call for call in calls)
    assert "if ($fullLanguage) { $result.winhttp_proxy = Read-WinHttpProxy }" in code
    assert "if ($fullLanguage -and ($revocationMode" in code
    stop = code.index("if (-not $fullLanguage) {")
    assert stop < code.index("X509Store") and "$result.stores = $null" in code[stop:code.index("X509Store")]
    assert "return" in code[stop:code.index("X509Store")]


def test_client_info_writes_utf8_as_ansibles_bootstrap_wrapper_does():
    code = script_code("client_info")
    # New-Object, as ansible's bootstrap_wrapper.ps1 does it; $false: no byte order mark before the JSON.
    setting = code.index("[Console]::OutputEncoding = New-Object -TypeName System.Text.UTF8Encoding "
                         "-ArgumentList $false")
    guard = code.rindex("if ($fullLanguage) {", 0, setting)
    assert "try {" in code[guard:setting] and code.index("catch { $null = $_ }", setting) > setting
    # Before the only output: the JSON at the end.
    assert setting < code.index("ConvertTo-Json -Depth 6 -Compress")


def test_client_info_lists_every_entry_point_not_only_the_first():
    code = script_code("client_info")
    listing = ("$entryPoints = @($clients | ForEach-Object { [string]$_.ServerURL } | Where-Object { $_ } | "
               "Select-Object -Unique)")
    assert listing in code
    assert code.count("entry_points = $entryPoints") == 1
    assert "entry_points = @($netsh.server_url)" in code
