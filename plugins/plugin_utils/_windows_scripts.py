# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's PowerShell scripts on a Windows host over the task's connection.

Internal to directaccess.iphttps; may change without notice.
Each script is a file in ``scripts/`` whose first line names it. The ``-EncodedCommand`` carries
only a short loader headed by that line; the script's source and its parameters travel together
as one JSON document on stdin (parameters at the top level, the source under ``script_source``),
so no value is ever interpolated into code. The script prints exactly one JSON document, which
must name the script that produced it.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time
import typing as t

SCRIPT_DIR = os.path.join(os.path.dirname(__file__), "scripts")

# WinRM runs a command through cmd.exe, whose command line stops at 8191 characters (Microsoft
# KB 830473); client_info.ps1 alone encodes to about 14,000. So the command holds only this
# loader, which runs the source it finds on stdin and hands that script the same stdin.
SOURCE_KEY = "script_source"
_LOADER = (
    "$ErrorActionPreference = 'Stop'\n"
    "$stdin = @($input) -join \"`n\"\n"
    f"$stdin | & ([ScriptBlock]::Create((ConvertFrom-Json -InputObject $stdin).{SOURCE_KEY}))\n"
)
# The command line Ansible's own PowerShell shell plugin builds; winrm and psrp recognise it and
# send it as is. Built here because PowerShell._encode_script is deprecated in ansible-core 2.21.
_POWERSHELL = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand"
IDENTITY_PREFIX = "# directaccess.iphttps script: "

# Phrases Windows uses when a non-administrator touches LocalMachine stores or services. The
# message is in the display language; E_ACCESSDENIED (0x80070005, -2147024891 as a signed HResult)
# is not, so its two printed forms count too.
_ACCESS_DENIED_MARKERS = ("access is denied", "unauthorizedaccessexception", "access denied", "0x80070005",
                          "-2147024891")


# Ansible's winrm connection keeps asking for the output of a command for as long as the host answers each Receive
# with an OperationTimeout fault, so a command that hangs on the host would hold its fork, and the play, for ever.
# Past this many seconds the command is given up like a dropped connection (the connection is reset before reuse).
COMMAND_TIMEOUT = 300.0


class CommandTimeout(Exception):
    """The host took the command but gave no result within the deadline; what it did is unknown."""


class ScriptError(Exception):
    """The script ran but failed; ``kind`` is ``access_denied``, ``no_document`` (exit code 0 but no result
    document: output cut off or garbled on the way) or ``error``."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


def load_script(name: str) -> str:
    with open(os.path.join(SCRIPT_DIR, f"{name}.ps1"), encoding="utf-8-sig") as handle:
        return handle.read()


def encoded_command(name: str, script: str) -> str:
    """The loader as a PowerShell command line, headed by the script's identity comment."""
    identity = script.splitlines()[0] if script.strip() else ""
    if not identity.startswith(IDENTITY_PREFIX) or identity[len(IDENTITY_PREFIX):].split(" ")[0] != name:
        raise ValueError(f"scripts/{name}.ps1 must start with the line '{IDENTITY_PREFIX}{name} v<N>'")
    loader = f"{identity}\n{_LOADER}"
    return f"{_POWERSHELL} {base64.b64encode(loader.encode('utf-16-le')).decode('ascii')}"


def _access_denied(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _ACCESS_DENIED_MARKERS)


def _text(value: t.Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def parse_output(name: str, rc: int, stdout: t.Any, stderr: t.Any) -> dict:
    """The script's JSON document, or ScriptError with PowerShell's own message."""
    out, err = _text(stdout), _text(stderr).strip()
    document = None
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                candidate = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: arrays or objects nested thousands deep
                continue
            if isinstance(candidate, dict) and candidate.get("script") == name:
                document = candidate
                break
    if document is not None and rc == 0:
        return document
    detail = err or out.strip() or f"exit code {rc} and no output"
    if _access_denied(detail):
        raise ScriptError(f"{name}: access denied on the host; the WinRM account needs local administrator "
                          f"rights to read and change LocalMachine certificate stores and restart iphlpsvc. "
                          f"PowerShell said: {detail}", kind="access_denied")
    if rc == 0:
        # Exit code 0 without the document: say what is missing rather than that the script "failed".
        raise ScriptError(f"{name}: the host printed no result document (a JSON line with \"script\": "
                          f"\"{name}\"); output: {out.strip() or err or 'none'}", kind="no_document")
    raise ScriptError(f"{name}: the PowerShell script failed (rc={rc}): {detail}")


def _exec_within(connection: t.Any, name: str, command: str, payload: bytes, timeout: float) -> tuple:
    """``connection.exec_command`` with a deadline: CommandTimeout when no result came within ``timeout`` seconds.

    The command runs in a daemon thread; one given up keeps waiting there until the host answers or the task's
    worker process ends, so the caller must reset the connection before using it again.
    """
    outcome: dict = {}

    def execute() -> None:
        try:
            outcome["result"] = connection.exec_command(command, in_data=payload, sudoable=False)
        # Everything is handed to the caller, in the caller's thread.
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            outcome["error"] = exc

    worker = threading.Thread(target=execute, name=f"directaccess.iphttps {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise CommandTimeout(f"{name}: the host gave no result within {timeout:g}s (the command may still be "
                             "running there)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def run_script(connection: t.Any, name: str, params: dict, *, timeout: float = COMMAND_TIMEOUT) -> dict:
    """One WinRM command, given up after ``timeout`` seconds (CommandTimeout). Transport errors pass through: the
    caller reports the host unreachable."""
    if SOURCE_KEY in params:
        raise ValueError(f"{name}: '{SOURCE_KEY}' is reserved for the script's source")
    script = load_script(name)
    # ASCII-only JSON on one line: the loader reads stdin as lines in the console code page.
    payload = json.dumps(dict(params, **{SOURCE_KEY: script}), separators=(",", ":")).encode("ascii")
    rc, stdout, stderr = _exec_within(connection, name, encoded_command(name, script), payload, timeout)
    return parse_output(name, rc, stdout, stderr)


def poll_script(connection: t.Any, name: str, params: dict, *, until: t.Callable[[dict], bool], timeout: float,
                first_delay: float, interval: float, sleep: t.Callable[[float], None] = time.sleep,
                clock: t.Callable[[], float] = time.monotonic) -> tuple[dict | None, int, list[str]]:
    """Run ``name`` until ``until(document)`` holds or ``timeout`` passes, like win_reboot waits.

    Connection failures inside the window are expected (the tunnel the session rides on may be
    restarting): the connection is reset and the poll repeats. So is a reply whose result document was cut
    off or garbled (a read-only script, so asking again is safe); if no poll gave a document by the end of the
    window, that ScriptError is raised. Any other ScriptError (access denied, the script failing) ends the
    wait at once. Returns (last document or None, number of polls, notes on dropped connections and garbled
    replies).
    """
    deadline = clock() + timeout
    sleep(first_delay)
    polls = 0
    notes: list[str] = []
    last: dict | None = None
    garbled: ScriptError | None = None
    while True:
        polls += 1
        try:
            # A poll that hangs ends with the window, not after it.
            last = run_script(connection, name, params, timeout=max(1.0, deadline - clock()))
        except ScriptError as exc:
            if exc.kind != "no_document":
                raise
            garbled = exc
            notes.append(f"poll {polls}: the reply held no result document; polling again")
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # pywinrm and requests raise their own types mid-command; all mean the link dropped.
            notes.append(f"poll {polls}: connection dropped ({exc}); reconnecting")
            try:
                connection.reset()
            except Exception:  # the host may still be down; the next poll tries again
                pass
        else:
            # Outside the try: a fault in ``until`` is a bug to report, not a dropped connection.
            if until(last):
                return last, polls, notes
        if clock() + interval > deadline:
            if last is None and garbled is not None:
                raise garbled
            return last, polls, notes
        sleep(interval)
