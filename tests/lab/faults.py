# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults a lab host injects, per host and per step: what goes wrong on a real fleet, on purpose.

Test infrastructure only; the collection never imports anything from here.

A *step* is the collection script a WinRM command runs (``client_info``, ``ca_import``,
``iphttps_state``); the *call* is which command of that step on that host, counted from 1 since
the lab started. A fault is described in a scenario file, for every host of a template (``faults``
in a ``hosts`` entry) or for one host (``host_faults``, by host name)::

    hosts:
      - template: untrusted_root
        count: 10
        faults:
          - {kind: access_denied, step: ca_import, times: 1}
    host_faults:
      da-client-03:
        - {kind: reboot, step: iphttps_state, seconds: 6}
        - {kind: http_500, step: client_info, nth: 2}

``nth`` (default 1) is the first call the fault hits; ``times`` how many calls from there it hits
(transient: a later run gets through), or omitted / ``null`` for every call from ``nth`` on
(permanent). ``seconds`` is how long a ``hang`` holds the command (``null``: for ever) or how long a
``reboot`` keeps WinRM unreachable; ``bytes`` is the size of a ``huge_json`` answer.
When two faults match one call the first listed wins, and only it counts that call.

What each kind does, and where (the endpoint in ``wsman.py`` does the transport faults, the
handler in ``handlers.py`` the others):

=================  ============================================================================
``drop``           the command is accepted, never runs, and its connection is reset when the
                   client asks for the output (a network path that died mid-command)
``http_500``       the output request gets HTTP 500 with an empty body; the command never ran
``wsman_fault``    the Command request gets WS-Management fault 0x803381A6
                   (ERROR_WSMAN_QUOTA_MAX_OPERATIONS); nothing ran
``hang``           the command runs only after ``seconds`` (default 25, past pywinrm's 20 s
                   OperationTimeout), so the client gets OperationTimeout faults until then
``reply_lost``     the command runs (the change is made), then the connection is reset instead
                   of delivering its output
``malformed_json`` the script runs; its output is cut off in the middle of the JSON document
``huge_json``      the script runs; its document carries ``bytes`` (default 4 MiB) of padding
``access_denied``  ca_import: opening a LocalMachine store for writing is denied
``restart_fails``  ca_import: the restart it launches runs, but Restart-Service cannot stop
                   iphlpsvc; the marker says ``failed``, the service and IP-HTTPS stay as they were
``never_recovers`` ca_import: the restart it launches runs, but IP-HTTPS does not reconnect: it
                   keeps the error it had before the restart
``reboot``         iphttps_state: the host reboots while being polled: the poll's connection is
                   reset, WinRM refuses connections for ``seconds`` (default 6) and forgets its
                   shells, a restart still pending is lost, and iphlpsvc comes up fresh
=================  ============================================================================

Every fault that fires is appended to ``faults.json`` in the lab's state directory (host, kind, step,
call, time), so a test can tell which hosts really met their fault. ``plan_faults`` picks a seeded,
repeatable set of hosts and faults for a fleet.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import tempfile
import threading
import time
import typing as t
from collections.abc import Mapping, Sequence

STEPS = ("client_info", "ca_import", "iphttps_state")
TRANSPORT_KINDS = ("drop", "http_500", "wsman_fault", "hang", "reply_lost")
SCRIPT_KINDS = ("malformed_json", "huge_json")
# Kinds that only make sense at one step.
ONE_STEP_KINDS = {"access_denied": "ca_import", "restart_fails": "ca_import", "never_recovers": "ca_import",
                  "reboot": "iphttps_state"}
KINDS = TRANSPORT_KINDS + SCRIPT_KINDS + tuple(ONE_STEP_KINDS)
DEFAULT_HANG_SECONDS = 25.0
DEFAULT_REBOOT_SECONDS = 6.0
DEFAULT_HUGE_BYTES = 4 * 1024 * 1024
MAX_HUGE_BYTES = 64 * 1024 * 1024
_KEYS = {"kind", "step", "nth", "times", "seconds", "bytes"}
# The identity line of the collection's scripts (handlers.IDENTITY_RE recognises the same line).
_STEP_RE = re.compile(r"^[ \t]*#[ \t]*directaccess\.iphttps script:[ \t]*([A-Za-z0-9_]+)[ \t]+v\d+[ \t]*$",
                      re.MULTILINE)
FAULTS_FILE = "faults.json"


class FaultError(ValueError):
    """A fault description is wrong; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    step: str
    nth: int = 1
    times: int | None = None  # None: permanent
    seconds: float | None = None
    bytes: int = DEFAULT_HUGE_BYTES

    @property
    def transient(self) -> bool:
        return self.times is not None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "step": self.step, "nth": self.nth, "times": self.times,
                "seconds": self.seconds, "bytes": self.bytes}


def parse_fault(value: t.Any, label: str) -> Fault:
    """One fault from its scenario-file mapping; FaultError names ``label`` and the field."""
    if not isinstance(value, Mapping):
        raise FaultError(f"{label}: must be a mapping with 'kind' and 'step', got {value!r}")
    unknown = set(value) - _KEYS
    if unknown:
        raise FaultError(f"{label}: unknown keys {', '.join(sorted(map(str, unknown)))}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    kind = value.get("kind")
    if kind not in KINDS:
        raise FaultError(f"{label}.kind: unknown fault {kind!r}; known: {', '.join(KINDS)}")
    step = value.get("step", ONE_STEP_KINDS.get(kind))
    if step not in STEPS:
        raise FaultError(f"{label}.step: must be one of {', '.join(STEPS)}, got {step!r}")
    if kind in ONE_STEP_KINDS and step != ONE_STEP_KINDS[kind]:
        raise FaultError(f"{label}.step: {kind} happens at {ONE_STEP_KINDS[kind]} only, got {step!r}")

    nth = value.get("nth", 1)
    if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
        raise FaultError(f"{label}.nth: must be an integer >= 1, got {nth!r}")
    times = value.get("times")
    if times == "permanent":
        times = None
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise FaultError(f"{label}.times: must be an integer >= 1, 'permanent' or null, got {times!r}")
    seconds = value.get("seconds")
    if seconds is None and "seconds" not in value:
        seconds = {"hang": DEFAULT_HANG_SECONDS, "reboot": DEFAULT_REBOOT_SECONDS}.get(kind)
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not 0 <= seconds <= 3600):
        raise FaultError(f"{label}.seconds: must be a number of seconds from 0 to 3600, got {seconds!r}")
    if seconds is None and kind == "reboot":
        raise FaultError(f"{label}.seconds: a reboot needs a number of seconds")
    size = value.get("bytes", DEFAULT_HUGE_BYTES)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_HUGE_BYTES:
        raise FaultError(f"{label}.bytes: must be an integer from 1 to {MAX_HUGE_BYTES}, got {size!r}")
    return Fault(kind, step, nth, times, None if seconds is None else float(seconds), size)


def parse_faults(value: t.Any, label: str) -> tuple[Fault, ...]:
    if not isinstance(value, list):
        raise FaultError(f"{label}: must be a list of faults, got {type(value).__name__}")
    return tuple(parse_fault(item, f"{label}[{index}]") for index, item in enumerate(value))


def step_of(script: str | None) -> str | None:
    """The collection script a decoded command runs, or None for anything else."""
    match = _STEP_RE.search(script or "")
    return match.group(1) if match and match.group(1) in STEPS else None


# --- one host's faults, as the lab daemon runs them --------------------------------------------

_FILE_LOCK = threading.Lock()


def read_fired(state_dir: str | os.PathLike) -> dict[str, list[dict]]:
    """faults.json: per host, every fault that fired, in order."""
    try:
        with open(os.path.join(state_dir, FAULTS_FILE), encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        return {}


def _append_fired(state_dir: str, host: str, entry: dict) -> None:
    path = os.path.join(state_dir, FAULTS_FILE)
    with _FILE_LOCK:
        fired = read_fired(state_dir)
        fired.setdefault(host, []).append(entry)
        fd, tmp = tempfile.mkstemp(prefix=".faults.", dir=state_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(fired, stream, indent=1, sort_keys=True)
        os.replace(tmp, path)


class HostFaults:
    """The faults of one host and how many calls of each step it has seen. Thread-safe."""

    def __init__(self, host: str, faults: Sequence[Fault] = (), state_dir: str | os.PathLike | None = None):
        self.host = host
        self.faults = tuple(faults)
        self.state_dir = os.fspath(state_dir) if state_dir is not None else None
        self._lock = threading.Lock()
        self._calls: dict[str, int] = {}
        self._hits: dict[int, int] = {}
        self.fired: list[dict] = []

    def __bool__(self) -> bool:
        return bool(self.faults)

    def decide(self, script: str | None) -> Fault | None:
        """Count this command as a call of its step; the fault it meets, or None."""
        step = step_of(script)
        if step is None or not self.faults:
            return None
        with self._lock:
            call = self._calls[step] = self._calls.get(step, 0) + 1
            for index, fault in enumerate(self.faults):
                if fault.step != step or call < fault.nth:
                    continue
                if fault.times is not None and self._hits.get(index, 0) >= fault.times:
                    continue
                self._hits[index] = self._hits.get(index, 0) + 1
                entry = {"kind": fault.kind, "step": step, "call": call, "transient": fault.transient,
                         "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                self.fired.append(entry)
                break
            else:
                return None
        if self.state_dir is not None:
            _append_fired(self.state_dir, self.host, entry)
        return fault


# --- seeded plans for fleet runs -----------------------------------------------------------------

def plan_faults(hosts: Sequence[str], *, count: int, seed: int, kinds: Sequence[str] = KINDS,
                transient_share: float = 0.5) -> dict[str, list[dict]]:
    """``count`` of ``hosts`` with one fault each, repeatable from ``seed``: {host: [fault mapping]}.

    While there are hosts left, every kind is used once before any is used twice. The step of a kind that
    can happen anywhere is drawn; a fault is transient (``times: 1``) with probability ``transient_share``,
    else permanent. The mappings go into a scenario file's ``host_faults``.
    """
    if not 0 <= count <= len(hosts):
        raise FaultError(f"count: must be from 0 to {len(hosts)}, got {count!r}")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise FaultError(f"kinds: unknown {unknown!r}; known: {', '.join(KINDS)}")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(list(hosts), count))
    order: list[str] = []
    while len(order) < count:
        batch = list(kinds)
        rng.shuffle(batch)
        order += batch
    plan: dict[str, list[dict]] = {}
    for host, kind in zip(chosen, order):
        step = ONE_STEP_KINDS.get(kind) or rng.choice(STEPS)
        fault: dict = {"kind": kind, "step": step}
        if rng.random() < transient_share:
            fault["times"] = 1
        plan[host] = [fault]
    return plan
