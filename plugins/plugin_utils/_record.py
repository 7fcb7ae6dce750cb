# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's record: its vocabulary, its validation, its file name, the atomic write and the bounded read.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports. Kept apart from
_fleet_report because remediate_host journals a record in every forked worker, and Ansible's collection
loader compiles whatever a worker imports: the merge and the report stay out of that path.
The format is documented in docs/report.md.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import re
import secrets
import typing as t
import urllib.parse

from collections.abc import Mapping, Sequence

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._local_file import (
    FileTooLarge,
    NotRegularFile,
    ReadFailed,
    read_regular_file,
)


# In the order they are counted and shown: what was done, what needs people, plans, what needed nothing.
STATUSES = ("healthy", "fixed", "already_present", "would_fix", "restart_pending", "fix_failed", "in_progress",
            "service_stopped", "unfixable", "not_directaccess", "unreachable", "failed", "removed", "would_remove",
            "nothing_to_remove", "would_break", "would_trust")
MODES = ("diagnose", "remediate", "check", "rollback", "preflight")
ACTIONS = ("none", "import", "would_import", "remove", "would_remove", "restart", "would_restart")
RECORD_FIELDS = ("host", "run_id", "mode", "recorded_at", "status", "verdict", "error_before", "error_after",
                 "missing", "action", "imported", "removed", "elapsed", "reason", "remedy", "filled_in",
                 "attempted", "detail", "service_before", "service_started", "check_mode", "reconnected_by",
                 "policy_copies", "gpo_carries")
# How a fixed host showed DirectAccess working again: IP-HTTPS at 0x0, or Get-DAConnectionStatus.
RECONNECTED_BY = ("iphttps", "connected_remotely", "connected_locally")
_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
_VERDICT_RE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_THUMBPRINT_RE = re.compile(r"[0-9A-Fa-f]{40}", re.ASCII)
_HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]{1,8}", re.ASCII)
_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|z|[+-]\d{2}:?\d{2})", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Bounds for reading the files of a report folder: far above what the collection writes (a record is a few KiB,
# report.json about 2 KiB per host), far below what would exhaust the controller.
MAX_RECORD_FILE_BYTES = 16 * 1024 * 1024
MAX_REPORT_FILE_BYTES = 512 * 1024 * 1024


class FleetReportError(ValueError):
    """A record, an option or a report on disk is not what the report needs."""


def new_run_id(now: datetime.datetime | None = None) -> str:
    """A run id from the time plus a random suffix, so two runs started in the same second differ."""
    moment = _utc(now)
    return f"run-{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def check_run_id(run_id: t.Any, label: str = "run_id") -> str:
    """A run id names a folder under runs/: letters, digits, '.', '_' and '-' only."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.fullmatch(run_id):
        raise FleetReportError(f"{label}: must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter "
                               f"or digit (it names a folder under runs/), got {_show(run_id)}")
    return str(run_id)


def parse_timestamp(value: t.Any, label: str) -> datetime.datetime:
    """ISO 8601 with a UTC offset, as ``2026-03-01T10:15:00Z``; returned in UTC."""
    match = _TIMESTAMP_RE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise FleetReportError(f"{label}: must be an ISO 8601 time with a UTC offset, like 2026-03-01T10:15:00Z, "
                               f"got {_show(value)}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        if offset in ("Z", "z"):
            zone = datetime.timezone.utc
        else:
            digits = offset[1:].replace(":", "")
            delta = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            zone = datetime.timezone(-delta if offset[0] == "-" else delta)
        moment = datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        # 9999-12-31T23:59:59-23:59 or 0001-01-01T00:00:00+01:00 is a valid local time outside UTC's range.
        return moment.astimezone(datetime.timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise FleetReportError(f"{label}: {value!r} is not a real time: {exc}") from None


def format_timestamp(moment: datetime.datetime) -> str:
    moment = _utc(moment)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


def validate_record(raw: t.Any, label: str, *, run_id: str | None = None, mode: str | None = None,
                    now: datetime.datetime | None = None) -> dict:
    """Check one record and fill the optional fields; returns a new dict with every field of RECORD_FIELDS.

    ``label`` names the record in errors (``records[3]``). ``run_id`` and ``mode`` fill a record that has
    none; a record carrying another run_id than ``run_id`` is refused. ``now`` fills ``recorded_at``.
    Records written before schema 2 load with the new fields at their defaults.
    """
    if not isinstance(raw, Mapping):
        raise FleetReportError(f"{label}: must be a dict (one host's record), got {_kind(raw)}")
    unknown = sorted(str(key) for key in raw if key not in RECORD_FIELDS)
    if unknown:
        raise FleetReportError(f"{label}: unknown field(s) {', '.join(unknown)}; a record has "
                               f"{', '.join(RECORD_FIELDS)}")

    def where(field: str) -> str:
        return f"{label}.{field}"

    host = raw.get("host")
    if not isinstance(host, str) or not host.strip():
        raise FleetReportError(f"{where('host')}: must be a non-empty string (the inventory name), got {_show(host)}")
    if _CONTROL_RE.search(host):
        raise FleetReportError(f"{where('host')}: must not contain control characters, got {_show(host)}")
    label = f"{label} ({host})"

    record: dict[str, t.Any] = {"host": str(host)}
    given_run = raw.get("run_id") or None
    if given_run is not None:
        check_run_id(given_run, where("run_id"))
        if run_id is not None and given_run != run_id:
            raise FleetReportError(f"{where('run_id')}: {given_run!r} is not this run's run_id {run_id!r}; records "
                                   f"of one task belong to one run")
    record["run_id"] = str(given_run or run_id or "")
    if not record["run_id"]:
        raise FleetReportError(f"{where('run_id')}: missing, and no run_id to fill it from")
    record["mode"] = _choice(raw.get("mode") or mode, MODES, where("mode"))
    if raw.get("recorded_at") is None:
        record["recorded_at"] = format_timestamp(_utc(now))
    else:
        record["recorded_at"] = format_timestamp(parse_timestamp(raw["recorded_at"], where("recorded_at")))
    record["status"] = _choice(raw.get("status"), STATUSES, where("status"))
    verdict = raw.get("verdict")
    if verdict is not None and (not isinstance(verdict, str) or not _VERDICT_RE.fullmatch(verdict)):
        raise FleetReportError(f"{where('verdict')}: must be null or a trust_check verdict such as untrusted_root, "
                               f"got {_show(verdict)}")
    record["verdict"] = None if verdict is None else str(verdict)
    record["error_before"] = _error_code(raw.get("error_before"), where("error_before"))
    record["error_after"] = _error_code(raw.get("error_after"), where("error_after"))
    record["missing"] = _certificates(raw.get("missing"), where("missing"), thumbprint_required=False)
    record["action"] = _choice(raw.get("action", "none"), ACTIONS, where("action"))
    record["imported"] = _certificates(raw.get("imported"), where("imported"), thumbprint_required=True)
    record["removed"] = _certificates(raw.get("removed"), where("removed"), thumbprint_required=True)
    elapsed = raw.get("elapsed")
    if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, (int, float))
                                or not math.isfinite(elapsed) or elapsed < 0):
        raise FleetReportError(f"{where('elapsed')}: must be null or a non-negative number of seconds, "
                               f"got {_show(elapsed)}")
    record["elapsed"] = None if elapsed is None else float(elapsed)
    record["reason"] = _text(raw.get("reason"), where("reason"))
    record["remedy"] = _text(raw.get("remedy"), where("remedy"))
    record["filled_in"] = _flag(raw.get("filled_in"), where("filled_in"))
    record["attempted"] = _certificates(raw.get("attempted"), where("attempted"), thumbprint_required=True)
    record["detail"] = _text(raw.get("detail"), where("detail"))
    service = raw.get("service_before")
    if service is not None and (not isinstance(service, str) or not service.strip() or len(service) > 64
                                or _CONTROL_RE.search(service)):
        raise FleetReportError(f"{where('service_before')}: must be null or the iphlpsvc state read on the host "
                               f"(Running, Stopped, Disabled, ...), got {_show(service)}")
    record["service_before"] = None if service is None else str(service)
    record["service_started"] = _flag(raw.get("service_started"), where("service_started"))
    # Mode check is a dry run whatever the record says.
    record["check_mode"] = _flag(raw.get("check_mode"), where("check_mode")) or record["mode"] == "check"
    reconnected = raw.get("reconnected_by")
    record["reconnected_by"] = None if reconnected is None else \
        _choice(reconnected, RECONNECTED_BY, where("reconnected_by"))
    # The chain's CAs (or, in a rollback, the removed ones) the host also holds by Group Policy or Active Directory.
    record["policy_copies"] = _certificates(raw.get("policy_copies"), where("policy_copies"), thumbprint_required=True)
    carries = raw.get("gpo_carries")
    if carries is not None and not isinstance(carries, bool):
        raise FleetReportError(f"{where('gpo_carries')}: must be null (not known) or true or false, got {_show(carries)}")
    record["gpo_carries"] = carries
    return record


def render_json(report: dict) -> str:
    """report.json, and each record's file under runs/."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def record_filename(host: str) -> str:
    """A file name for a host's record: percent-encoded, so '/' or '..' cannot leave the run's folder."""
    # surrogatepass: a lone surrogate in a host name still gives one ASCII file name of its own.
    name = urllib.parse.quote(host, safe="-_", errors="surrogatepass")
    if name.startswith(".") or len(name) > 200:
        name = f"{name[:150].lstrip('.')}~{hashlib.sha256(host.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
    return f"{name}.json"


def write_atomic(path: str, text: str, *, replace: bool = True) -> bool:
    """Write to a temporary file in the same folder, then rename it over ``path``: readers never see half a file.

    With ``replace=False`` an existing ``path`` is left alone and False is returned (a hard link, which fails
    when the name exists, makes that check and the write one step; without hard links it is check, then rename).
    """
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open applies the umask, as a normal file creation would (mkstemp would force 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        # A lone surrogate (JSON may carry "\ud800"; a file name that is not UTF-8 comes back as "\udcff") cannot
        # be UTF-8. Written as \ud800 it stays a valid escape inside a JSON string and reads back the same, where
        # a strict write would fail every later rebuild of the report.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            if os.path.exists(path):
                return False
            os.replace(temp, path)
        return True
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass


def read_json(path: str, limit: int = MAX_RECORD_FILE_BYTES) -> t.Any:
    """A JSON file of a report folder; FleetReportError naming the file for anything else.

    Opened without blocking and checked on the open descriptor: a FIFO, a device or a folder put in
    runs/ is refused, never waited on or read without end. The file is read to at most ``limit`` bytes.
    """
    try:
        data = read_regular_file(path, limit)
    except NotRegularFile:
        raise FleetReportError(f"{path}: not a regular file") from None
    except FileTooLarge:
        raise FleetReportError(f"{path}: larger than {limit} bytes; not a file this collection wrote") from None
    except ReadFailed as exc:
        raise FleetReportError(f"{path}: cannot read: {exc.reason}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise FleetReportError(f"{path}: not valid JSON: nested too deeply") from None
    except ValueError as exc:  # bad JSON, and bytes that are not UTF-8
        raise FleetReportError(f"{path}: not valid JSON: {exc}") from None


def _utc(moment: datetime.datetime | None) -> datetime.datetime:
    if moment is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if moment.tzinfo is None:
        raise FleetReportError("internal: a time without a time zone")
    return moment.astimezone(datetime.timezone.utc)


def _choice(value: t.Any, choices: tuple, label: str) -> str:
    if value not in choices or not isinstance(value, str):
        raise FleetReportError(f"{label}: must be one of {', '.join(choices)}, got {_show(value)}")
    return str(value)


def _text(value: t.Any, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FleetReportError(f"{label}: must be a string, got {_kind(value)}")
    return str(value)


def _flag(value: t.Any, label: str) -> bool:
    """A true/false field; missing or null is false."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise FleetReportError(f"{label}: must be true or false, got {_show(value)}")
    return value


def _error_code(value: t.Any, label: str) -> dict | None:
    """{code, hex, name} from the error decoder's output (other keys, such as remedy, are dropped)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FleetReportError(f"{label}: must be null or a dict with code, hex and name, got {_kind(value)}")
    code, hex_code, name = value.get("code"), value.get("hex"), value.get("name")
    if code is not None:
        if isinstance(code, bool) or not isinstance(code, int) or not -0x80000000 <= code <= 0xFFFFFFFF:
            raise FleetReportError(f"{label}.code: must be null or a 32-bit error code, got {_show(code)}")
        code &= 0xFFFFFFFF  # Windows also prints the signed form
    if hex_code is not None:
        if not isinstance(hex_code, str) or not _HEX_RE.fullmatch(hex_code):
            raise FleetReportError(f"{label}.hex: must be null or a code like 0x800B0109, got {_show(hex_code)}")
        if code is not None and int(hex_code, 16) != code:
            raise FleetReportError(f"{label}: hex {hex_code} and code {code} are different errors")
        code = int(hex_code, 16)
    if code is None:
        return None  # the decoder's "no code" answer: nothing to report
    if name is not None and not isinstance(name, str):
        raise FleetReportError(f"{label}.name: must be a string, got {_kind(name)}")
    return {"code": code, "hex": f"0x{code:X}", "name": str(name or "")}


def _certificates(value: t.Any, label: str, *, thumbprint_required: bool) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise FleetReportError(f"{label}: must be a list of certificates, got {_kind(value)}")
    entries = []
    for index, entry in enumerate(value):
        where = f"{label}[{index}]"
        if not isinstance(entry, Mapping):
            raise FleetReportError(f"{where}: must be a dict with thumbprint, subject and store, got {_kind(entry)}")
        thumb, subject, store = entry.get("thumbprint"), entry.get("subject"), entry.get("store")
        if thumb is None and not thumbprint_required:
            pass
        elif not isinstance(thumb, str) or not _THUMBPRINT_RE.fullmatch(thumb):
            raise FleetReportError(f"{where}.thumbprint: must be a Windows thumbprint (40 hex digits), "
                                   f"got {_show(thumb)}")
        if not isinstance(store, str) or not store:
            raise FleetReportError(f"{where}.store: must name the store (Root or CA), got {_show(store)}")
        if subject is not None and not isinstance(subject, str):
            raise FleetReportError(f"{where}.subject: must be null or a string, got {_kind(subject)}")
        entries.append({"thumbprint": None if thumb is None else thumb.upper(), "subject": subject and str(subject),
                        "store": str(store)})
    return entries


def _kind(value: t.Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: t.Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
