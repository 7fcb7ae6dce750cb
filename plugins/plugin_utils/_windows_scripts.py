# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's PowerShell scripts on a Windows host over the task's connection.

Internal to directaccess.iphttps; may change without notice.
Each script is a file in ``scripts/``; it is sent as one ``-EncodedCommand`` and reads its
parameters as one JSON document from stdin, so no value is ever interpolated into code. It
prints exactly one JSON document, which must name the script that produced it.
"""
from __future__ import annotations

import json
import os
import time
import typing as t

SCRIPT_DIR = os.path.join(os.path.dirname(__file__), "scripts")

# Phrases Windows uses when a non-administrator touches LocalMachine stores or services.
_ACCESS_DENIED_MARKERS = ("access is denied", "unauthorizedaccessexception", "access denied")


class ScriptError(Exception):
    """The script ran but failed; ``kind`` is ``access_denied`` or ``error``."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


def load_script(name: str) -> str:
    with open(os.path.join(SCRIPT_DIR, f"{name}.ps1"), encoding="utf-8-sig") as handle:
        return handle.read()


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
            except ValueError:
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
    raise ScriptError(f"{name}: the PowerShell script failed (rc={rc}): {detail}")


def run_script(connection: t.Any, name: str, params: dict) -> dict:
    """One WinRM command. Transport errors pass through: the caller reports the host unreachable."""
    script = load_script(name)
    command = connection._shell._encode_script(script, as_list=False, strict_mode=False, preserve_rc=False)
    payload = json.dumps(params, separators=(",", ":")).encode("utf-8")
    rc, stdout, stderr = connection.exec_command(command, in_data=payload, sudoable=False)
    return parse_output(name, rc, stdout, stderr)


def poll_script(connection: t.Any, name: str, params: dict, *, until: t.Callable[[dict], bool], timeout: float,
                first_delay: float, interval: float, sleep: t.Callable[[float], None] = time.sleep,
                clock: t.Callable[[], float] = time.monotonic) -> tuple[dict | None, int, list[str]]:
    """Run ``name`` until ``until(document)`` holds or ``timeout`` passes, like win_reboot waits.

    Connection failures inside the window are expected (the tunnel the session rides on may be
    restarting): the connection is reset and the poll repeats. Returns (last document or None,
    number of polls, notes on dropped connections).
    """
    deadline = clock() + timeout
    sleep(first_delay)
    polls = 0
    notes: list[str] = []
    last: dict | None = None
    while True:
        polls += 1
        try:
            last = run_script(connection, name, params)
            if until(last):
                return last, polls, notes
        except ScriptError:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # pywinrm and requests raise their own types mid-command; all mean the link dropped.
            notes.append(f"poll {polls}: connection dropped ({exc}); reconnecting")
            try:
                connection.reset()
            except Exception:  # the host may still be down; the next poll tries again
                pass
        if clock() + interval > deadline:
            return last, polls, notes
        sleep(interval)
