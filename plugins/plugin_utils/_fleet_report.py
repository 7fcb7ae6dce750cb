# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: validate per-host records, keep every run, merge them, write report.json, .csv and .html.

Internal to directaccess.iphttps; may change without notice. The public interface is the
directaccess.iphttps.fleet_report action; the formats are documented in docs/report.md.
The CSV and HTML text comes from _report_render. Pure: no Ansible imports, so it is tested on its own.
"""
from __future__ import annotations

import datetime
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import secrets
import time
import typing as t
import urllib.parse

from collections.abc import Mapping, Sequence

REPORT_VERSION = 1

# In the order they are counted and shown.
STATUSES = ("healthy", "fixed", "would_fix", "fix_failed", "unfixable", "not_directaccess", "unreachable",
            "failed", "removed", "would_break", "would_trust")
MODES = ("diagnose", "remediate", "check", "rollback", "preflight")
ACTIONS = ("none", "import", "would_import", "remove", "would_remove")
# trust_check's verdicts (docs/verdicts.md), in the order shown. Others are accepted and shown after them,
# so a verdict added to trust_check later does not break the report.
KNOWN_VERDICTS = ("trusted", "untrusted_root", "missing_intermediate", "name_mismatch", "wrong_usage", "expired",
                  "not_yet_valid", "bad_signature", "no_chain")
NO_VERDICT = "none"

RECORD_FIELDS = ("host", "run_id", "mode", "recorded_at", "status", "verdict", "error_before", "error_after",
                 "missing", "action", "imported", "removed", "elapsed", "reason", "remedy", "filled_in")

_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
_VERDICT_RE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_THUMBPRINT_RE = re.compile(r"[0-9A-Fa-f]{40}", re.ASCII)
_HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]{1,8}", re.ASCII)
_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|z|[+-]\d{2}:?\d{2})", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_LOCK_NAME = ".fleet_report.lock"


class FleetReportError(ValueError):
    """A record, an option or a report on disk is not what the report needs."""


# ---------------------------------------------------------------------------------------------------- records


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
    except ValueError as exc:
        raise FleetReportError(f"{label}: {value!r} is not a real time: {exc}") from None
    return moment.astimezone(datetime.timezone.utc)


def format_timestamp(moment: datetime.datetime) -> str:
    moment = _utc(moment)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds").replace("+00:00", "Z")


def validate_record(raw: t.Any, label: str, *, run_id: str | None = None, mode: str | None = None,
                    now: datetime.datetime | None = None) -> dict:
    """Check one record and fill the optional fields; returns a new dict with every field of RECORD_FIELDS.

    ``label`` names the record in errors (``records[3]``). ``run_id`` and ``mode`` fill a record that has
    none; a record carrying another run_id than ``run_id`` is refused. ``now`` fills ``recorded_at``.
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
    filled_in = raw.get("filled_in", False)
    if not isinstance(filled_in, bool):
        raise FleetReportError(f"{where('filled_in')}: must be true or false, got {_show(filled_in)}")
    record["filled_in"] = filled_in
    return record


def validate_records(raws: t.Any, *, run_id: str, mode: str, now: datetime.datetime) -> list[dict]:
    """Validate this run's records; one record per host."""
    if not isinstance(raws, Sequence) or isinstance(raws, (str, bytes)):
        raise FleetReportError(f"records: must be a list of host records, got {_kind(raws)}")
    records: list[dict] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raws):
        record = validate_record(raw, f"records[{index}]", run_id=run_id, mode=mode, now=now)
        if record["host"] in seen:
            raise FleetReportError(f"records[{index}].host: {record['host']!r} already has a record at "
                                   f"records[{seen[record['host']]}]; one record per host and run")
        seen[record["host"]] = index
        records.append(record)
    return records


def fill_unreachable(records: list[dict], expected_hosts: t.Iterable[str], *, run_id: str, mode: str,
                     now: datetime.datetime) -> list[dict]:
    """A record with status ``unreachable`` for every expected host that has none; returns only the new ones."""
    have = {record["host"] for record in records}
    filled = []
    for index, host in enumerate(expected_hosts):
        if not isinstance(host, str) or not host.strip() or _CONTROL_RE.search(host):
            raise FleetReportError(f"expected_hosts[{index}]: must be a host name, got {_show(host)}")
        if host in have:
            continue
        have.add(host)
        filled.append(validate_record({
            "host": host, "status": "unreachable", "filled_in": True,
            "reason": "No record from this run: the host was unreachable, or failed and left the play, "
                      "before its record was made.",
            "remedy": "Check WinRM to the host (port, credentials, firewall) and the run's log, then run again.",
        }, f"expected_hosts[{index}]", run_id=run_id, mode=mode, now=now))
    return filled


# ---------------------------------------------------------------------------------------------------- merge and summary


def newest_per_host(records: t.Iterable[dict]) -> list[dict]:
    """The record that stands for each host, sorted by host.

    Within one run a record the host produced beats one filled in for it (slices of one job may share a
    run_id and report folder); across runs the newest ``recorded_at`` wins, then the greater run_id.
    """
    per_run: dict[tuple[str, str], dict] = {}
    for record in records:
        key = (record["run_id"], record["host"])
        kept = per_run.get(key)
        if kept is None or _within_run_key(record) > _within_run_key(kept):
            per_run[key] = record
    newest: dict[str, dict] = {}
    for record in per_run.values():
        kept = newest.get(record["host"])
        if kept is None or _across_runs_key(record) > _across_runs_key(kept):
            newest[record["host"]] = record
    return [newest[host] for host in sorted(newest, key=_host_order)]


def build_report(records: t.Sequence[dict], *, title: str, generated_at: datetime.datetime,
                 all_records: t.Sequence[dict] | None = None) -> dict:
    """The aggregate: ``records`` are the winners (one per host); ``all_records`` every record seen, for ``runs``."""
    by_status = {status: 0 for status in STATUSES}
    verdict_counts: dict[str, int] = {}
    for record in records:
        by_status[record["status"]] += 1
        key = record["verdict"] or NO_VERDICT
        verdict_counts[key] = verdict_counts.get(key, 0) + 1
    order = list(KNOWN_VERDICTS) + sorted(set(verdict_counts) - set(KNOWN_VERDICTS) - {NO_VERDICT}) + [NO_VERDICT]
    by_verdict = {verdict: verdict_counts[verdict] for verdict in order if verdict in verdict_counts}

    current = {(record["run_id"], record["host"]) for record in records}
    runs: dict[str, dict] = {}
    for record in all_records if all_records is not None else records:
        stamp = _recorded_at(record)
        run = runs.setdefault(record["run_id"], {"modes": set(), "hosts": set(), "current": set(),
                                                 "first": stamp, "last": stamp})
        run["modes"].add(record["mode"])
        run["hosts"].add(record["host"])
        if (record["run_id"], record["host"]) in current:
            run["current"].add(record["host"])
        run["first"], run["last"] = min(run["first"], stamp), max(run["last"], stamp)
    run_list = [{"run_id": run_id, "modes": sorted(run["modes"]), "hosts": len(run["hosts"]),
                 "current": len(run["current"]), "first_recorded_at": format_timestamp(run["first"]),
                 "last_recorded_at": format_timestamp(run["last"])}
                for run_id, run in sorted(runs.items(), key=lambda item: (item[1]["first"], item[0]))]
    return {
        "report_version": REPORT_VERSION,
        "title": title,
        "generated_at": format_timestamp(generated_at),
        "runs": run_list,
        "hosts": len(records),
        "by_status": by_status,
        "by_verdict": by_verdict,
        "records": [dict(record) for record in records],
    }


# ---------------------------------------------------------------------------------------------------- files


def render_json(report: dict) -> str:
    """report.json, and each record's file under runs/."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def record_filename(host: str) -> str:
    """A file name for a host's record: percent-encoded, so '/' or '..' cannot leave the run's folder."""
    name = urllib.parse.quote(host, safe="-_")
    if name.startswith(".") or len(name) > 200:
        name = f"{name[:150].lstrip('.')}~{hashlib.sha256(host.encode('utf-8')).hexdigest()[:16]}"
    return f"{name}.json"


def write_atomic(path: str, text: str) -> None:
    """Write to a temporary file in the same folder, then rename it over ``path``: readers never see half a file."""
    folder, name = os.path.split(path)
    temp = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open applies the umask, as a normal file creation would (mkstemp would force 0600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_run(report_dir: str, run_id: str, records: t.Iterable[dict]) -> list[str]:
    """Write ``runs/<run_id>/<host>.json`` for each record; returns the paths written.

    A filled-in record never replaces a record the host produced in the same run: the slice that
    reached the host may have written first.
    """
    folder = os.path.join(report_dir, "runs", run_id)
    _makedirs(folder)
    written = []
    for record in records:
        path = os.path.join(folder, record_filename(record["host"]))
        if record["filled_in"] and os.path.exists(path):
            existing = _load_json(path)
            if isinstance(existing, Mapping) and existing.get("host") == record["host"] \
                    and existing.get("filled_in") is False:
                continue
        _write(path, render_json(record))
        written.append(path)
    return written


def load_records(report_dir: str, merge_from: t.Iterable[str] = ()) -> list[dict]:
    """Every record under ``report_dir/runs`` and in each ``merge_from``.

    A ``merge_from`` entry is a report folder (its runs/, or its report.json without runs/), one run's
    folder (``runs/<run_id>``), or a report.json file.
    """
    records = _load_runs(report_dir) if os.path.isdir(os.path.join(report_dir, "runs")) else []
    for index, source in enumerate(merge_from):
        label = f"merge_from[{index}]"
        if os.path.isdir(source):
            if os.path.isdir(os.path.join(source, "runs")):
                records += _load_runs(source)
            elif os.path.isfile(os.path.join(source, "report.json")):
                records += _load_report_json(os.path.join(source, "report.json"))
            elif os.path.basename(os.path.dirname(os.path.normpath(source))) == "runs":
                records += _load_run(os.path.normpath(source))  # one run's folder, runs/<run_id>
            else:
                raise FleetReportError(f"{label}: {source} is a folder without runs/ or report.json; "
                                       f"give a fleet report folder, one of its runs/<run_id> folders or a "
                                       f"report.json file")
        elif os.path.isfile(source):
            records += _load_report_json(source)
        else:
            raise FleetReportError(f"{label}: {source} does not exist")
    return records


def write_fleet_report(report_dir: str, records: t.Any, *, expected_hosts: t.Iterable[str] = (),
                       run_id: str | None = None, mode: str = "diagnose", merge_from: t.Iterable[str] = (),
                       title: str = "DirectAccess IP-HTTPS fleet report", now: datetime.datetime | None = None,
                       lock_timeout: float = 60.0) -> dict:
    """Record this run, then rebuild report.json, report.csv and report.html from every run; returns the summary."""
    # Imported here, not at the top: _report_render reads this module's vocabulary (STATUSES, FleetReportError).
    from ansible_collections.directaccess.iphttps.plugins.plugin_utils._report_render import render_csv, render_html

    moment = _utc(now)
    run_id = check_run_id(run_id) if run_id else new_run_id(moment)
    mode = _choice(mode, MODES, "mode")
    if not isinstance(title, str) or not title.strip():
        raise FleetReportError(f"title: must be a non-empty string, got {_show(title)}")
    expected = list(expected_hosts or [])
    merge_sources = [os.path.abspath(os.path.expanduser(str(source))) for source in merge_from or []]
    this_run = validate_records(records, run_id=run_id, mode=mode, now=moment)
    this_run += fill_unreachable(this_run, expected, run_id=run_id, mode=mode, now=moment)

    report_dir = os.path.abspath(os.path.expanduser(report_dir))
    if os.path.exists(report_dir) and not os.path.isdir(report_dir):
        raise FleetReportError(f"report_dir: {report_dir} exists and is not a folder")
    _makedirs(report_dir)
    paths = {kind: os.path.join(report_dir, f"report.{kind}") for kind in ("json", "csv", "html")}
    # Runs sharing the folder (job slices, parallel batches) take turns, so no rebuild misses another's records.
    with _Lock(os.path.join(report_dir, _LOCK_NAME), lock_timeout):
        if this_run:
            write_run(report_dir, run_id, this_run)
        everything = load_records(report_dir, merge_sources)
        winners = newest_per_host(everything)
        report = build_report(winners, title=title.strip(), generated_at=moment, all_records=everything)
        html_page = render_html(report)
        _write(paths["json"], render_json(report))
        _write(paths["csv"], render_csv(report))
        _write(paths["html"], html_page)
    return {
        "hosts": report["hosts"],
        "by_status": report["by_status"],
        "by_verdict": report["by_verdict"],
        "runs": report["runs"],
        "run_id": run_id,
        "run_records": len(this_run),
        "report_dir": report_dir,
        "report_json": paths["json"],
        "report_csv": paths["csv"],
        "report_html": paths["html"],
    }


class _Lock:
    """An exclusive flock on a file in the report folder, waited for up to ``timeout`` seconds."""

    def __init__(self, path: str, timeout: float):
        self._path, self._timeout, self._fd = path, timeout, -1

    def __enter__(self):
        try:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise FleetReportError(f"report_dir: cannot create the lock file {self._path}: {exc.strerror}") from None
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    # A file system without locks (some network shares): carry on unlocked.
                    return self
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise FleetReportError(f"report_dir: another fleet_report held {self._path} for more than "
                                           f"{self._timeout:g}s") from None
                time.sleep(0.1)

    def __exit__(self, *exc_info):
        os.close(self._fd)  # closing releases the lock


def _load_runs(report_dir: str) -> list[dict]:
    runs_dir = os.path.join(report_dir, "runs")
    records = []
    for run_name in sorted(os.listdir(runs_dir)):
        folder = os.path.join(runs_dir, run_name)
        if not run_name.startswith(".") and os.path.isdir(folder):
            records += _load_run(folder)
    return records


def _load_run(folder: str) -> list[dict]:
    run_name = os.path.basename(folder)
    records = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or not name.endswith(".json"):
            continue  # temporary files of a write in progress
        path = os.path.join(folder, name)
        record = validate_record(_load_json(path), path)
        if record["run_id"] != run_name:
            raise FleetReportError(f"{path}: run_id {record['run_id']!r} does not match its folder {run_name!r}")
        records.append(record)
    return records


def _load_report_json(path: str) -> list[dict]:
    document = _load_json(path)
    if not isinstance(document, Mapping) or not isinstance(document.get("records"), list):
        raise FleetReportError(f"{path}: not a fleet report (a JSON object with a 'records' list)")
    version = document.get("report_version", REPORT_VERSION)
    if not isinstance(version, int) or version > REPORT_VERSION:
        raise FleetReportError(f"{path}: report_version {version!r} is newer than this collection reads "
                               f"({REPORT_VERSION}); update directaccess.iphttps")
    return [validate_record(raw, f"{path}: records[{index}]") for index, raw in enumerate(document["records"])]


def _load_json(path: str) -> t.Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise FleetReportError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise FleetReportError(f"{path}: not valid JSON: {exc}") from None


def _write(path: str, text: str) -> None:
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise FleetReportError(f"cannot write {path}: {exc.strerror}") from None


def _makedirs(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise FleetReportError(f"cannot create the folder {folder}: {exc.strerror}") from None


# ---------------------------------------------------------------------------------------------------- small helpers


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


def _within_run_key(record: dict) -> tuple:
    return (not record["filled_in"], _recorded_at(record), _canonical(record))


def _across_runs_key(record: dict) -> tuple:
    return (_recorded_at(record), record["run_id"], _canonical(record))


def _recorded_at(record: dict) -> datetime.datetime:
    return parse_timestamp(record["recorded_at"], "recorded_at")


def _canonical(record: dict) -> str:
    # Last tie-break, so the same inputs always give the same report whatever order the files are read in.
    return json.dumps(record, sort_keys=True)


def _host_order(host: str) -> tuple:
    return (host.casefold(), host)


def _kind(value: t.Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: t.Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
