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
import json
import os
import time
import typing as t

from collections.abc import Mapping, Sequence

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import (
    check_run_id,
    FleetReportError,
    format_timestamp,
    MAX_RECORD_FILE_BYTES,
    MAX_REPORT_FILE_BYTES,
    MODES,
    new_run_id,
    parse_timestamp,
    read_json,
    RECORD_FIELDS,
    record_filename,
    render_json,
    STATUSES,
    validate_record,
    write_atomic,
    _choice,
    _CONTROL_RE,
    _flag,
    _kind,
    _show,
    _utc,
)

# 2: records gained attempted, detail, service_before, service_started and check_mode; report.json gained
# outcome, deployed and rejected, and each record last_change and deployed_on_host. Version 1 reports still load.
REPORT_VERSION = 2

# trust_check's verdicts (docs/verdicts.md), in the order shown. Others are accepted and shown after them,
# so a verdict added to trust_check later does not break the report.
KNOWN_VERDICTS = ("trusted", "untrusted_root", "missing_intermediate", "name_mismatch", "wrong_usage",
                  "name_constraints", "expired", "not_yet_valid", "unsupported_critical_extension", "weak_crypto",
                  "bad_signature", "explicitly_distrusted", "revocation_offline", "revoked", "malformed", "no_chain",
                  "constrained_language", "handshake_failed")
NO_VERDICT = "none"

# Added to each record of report.json by the merge, never stored under runs/.
COMPUTED_FIELDS = ("last_change", "deployed_on_host")

# A record made in check mode, or by a run that only plans, is a plan: it never replaces an outcome.
PLAN_MODES = ("check", "preflight")
# A record with one of these statuses, or that imported or removed anything, changed the host.
CHANGE_STATUSES = ("fixed", "removed")
# The certificates in ``attempted`` may be on the host after a record with one of these statuses.
DEPLOYING_STATUSES = ("in_progress", "fix_failed", "fixed", "already_present")
# Statuses that need someone: on the host or its connection, or on the server side.
ATTENTION_STATUSES = ("fix_failed", "failed", "unreachable", "in_progress", "restart_pending", "service_stopped")
SERVER_SIDE_STATUSES = ("unfixable", "would_break")
# The outcome sentence: (one host, several hosts, statuses). A group of several statuses is broken down.
OUTCOME_GROUPS = (
    ("fixed", "fixed", ("fixed",)),
    ("rolled back", "rolled back", ("removed",)),
    ("needs attention", "need attention", ATTENTION_STATUSES),
    ("needs server-side work", "need server-side work", SERVER_SIDE_STATUSES),
    ("would be fixed", "would be fixed", ("would_fix",)),
    ("would be rolled back", "would be rolled back", ("would_remove",)),
    ("healthy", "healthy", ("healthy",)),
    ("already had the certificates", "already had the certificates", ("already_present",)),
    ("had nothing to remove", "had nothing to remove", ("nothing_to_remove",)),
    ("would trust the new chain", "would trust the new chain", ("would_trust",)),
    ("not a DirectAccess client", "not DirectAccess clients", ("not_directaccess",)),
)
# How a status reads inside the outcome sentence's brackets.
STATUS_PHRASES = {"fix_failed": "fix failed", "in_progress": "interrupted", "restart_pending": "restart pending",
                  "service_stopped": "iphlpsvc stopped", "would_break": "would break"}

_LOCK_NAME = ".fleet_report.lock"
RUN_META_NAME = ".run.json"


# ---------------------------------------------------------------------------------------------------- records


def is_plan(record: Mapping) -> bool:
    """A record of what would happen (check mode, a dry run or a preflight), not of what did."""
    return bool(record["check_mode"]) or record["mode"] in PLAN_MODES


def is_change(record: Mapping) -> bool:
    """A real record of a run that changed the host's stores."""
    return not is_plan(record) and (record["status"] in CHANGE_STATUSES or bool(record["imported"])
                                    or bool(record["removed"]))


def validate_records(raws: t.Any, *, run_id: str, mode: str, now: datetime.datetime) -> list[dict]:
    """Validate this run's records; one record per host. The first bad record raises."""
    def refuse(entry: dict) -> None:
        raise FleetReportError(entry["reason"])

    return screen_records(raws, run_id=run_id, mode=mode, now=now, set_aside=refuse)


def screen_records(raws: t.Any, *, run_id: str, mode: str, now: datetime.datetime,
                   set_aside: t.Callable[[dict], None]) -> list[dict]:
    """Validate this run's records, handing each bad one to ``set_aside`` as {path, reason}; returns the good ones.

    A second record for a host already seen is bad: one record per host and run.
    """
    if not isinstance(raws, Sequence) or isinstance(raws, (str, bytes)):
        raise FleetReportError(f"records: must be a list of host records, got {_kind(raws)}")
    records: list[dict] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raws):
        label = f"records[{index}]"
        try:
            record = validate_record(raw, label, run_id=run_id, mode=mode, now=now)
            if record["host"] in seen:
                raise FleetReportError(f"{label}.host: {record['host']!r} already has a record at "
                                       f"records[{seen[record['host']]}]; one record per host and run")
        except FleetReportError as exc:
            set_aside({"path": label, "reason": str(exc)})
            continue
        seen[record["host"]] = index
        records.append(record)
    return records


def fill_unreachable(records: list[dict], expected_hosts: t.Iterable[str], *, run_id: str, mode: str,
                     now: datetime.datetime, rejected: list[dict] | None = None) -> list[dict]:
    """A record with status ``unreachable`` for every expected host that has none; returns only the new ones.

    An expected host that is not a host name is skipped alone, and listed in ``rejected`` when given.
    """
    have = {record["host"] for record in records}
    filled = []
    for index, host in enumerate(expected_hosts):
        label = f"expected_hosts[{index}]"
        if not isinstance(host, str) or not host.strip() or _CONTROL_RE.search(host):
            if rejected is not None:
                rejected.append({"path": label, "reason": f"{label}: must be a host name, got {_show(host)}"})
            continue
        if host in have:
            continue
        have.add(host)
        filled.append(validate_record({
            "host": host, "status": "unreachable", "filled_in": True,
            "reason": "No record from this run: the host was unreachable, or failed and left the play, "
                      "before its record was made.",
            "remedy": "Check WinRM to the host (port, credentials, firewall) and the run's log, then run again.",
        }, label, run_id=run_id, mode=mode, now=now))
    return filled


# ---------------------------------------------------------------------------------------------------- merge and summary


def newest_per_host(records: t.Iterable[dict]) -> list[dict]:
    """The record that stands for each host, sorted by host.

    Within one run a record the host produced beats one filled in for it (slices of one job may share a
    run_id and report folder). Across runs an outcome beats a plan (a dry run never hides what happened);
    then the newest ``recorded_at`` wins, then the greater run_id.
    """
    newest: dict[str, dict] = {}
    for record in _per_run(records).values():
        kept = newest.get(record["host"])
        if kept is None or _across_runs_key(record) > _across_runs_key(kept):
            newest[record["host"]] = record
    return [newest[host] for host in sorted(newest, key=_host_order)]


def outcome_sentence(by_status: Mapping[str, int]) -> str:
    """One sentence an operator reads first, e.g. '12 fixed, 1 needs attention (1 failed), 97 healthy.'"""
    parts = []
    for one, several, statuses in OUTCOME_GROUPS:
        counts = [(status, by_status.get(status, 0)) for status in statuses if by_status.get(status, 0)]
        total = sum(count for _status, count in counts)
        if not total:
            continue
        part = f"{total} {one if total == 1 else several}"
        if len(statuses) > 1:
            part += " (" + ", ".join(f"{count} {STATUS_PHRASES.get(status, status)}" for status, count in counts) + ")"
        parts.append(part)
    return (", ".join(parts) if parts else "No hosts in this report") + "."


def build_report(records: t.Sequence[dict], *, title: str, generated_at: datetime.datetime,
                 all_records: t.Sequence[dict] | None = None, run_meta: Mapping[str, dict] | None = None,
                 rejected: t.Sequence[dict] = ()) -> dict:
    """The aggregate: ``records`` are the winners (one per host); ``all_records`` every record seen.

    ``all_records`` gives ``runs``, each host's ``last_change`` and what the runs deployed; ``run_meta`` maps a
    run_id to its .run.json; ``rejected`` lists what was set aside as {path, reason}.
    """
    everything = all_records if all_records is not None else records
    by_status = {status: 0 for status in STATUSES}
    verdict_counts: dict[str, int] = {}
    for record in records:
        by_status[record["status"]] += 1
        key = record["verdict"] or NO_VERDICT
        verdict_counts[key] = verdict_counts.get(key, 0) + 1
    order = list(KNOWN_VERDICTS) + sorted(set(verdict_counts) - set(KNOWN_VERDICTS) - {NO_VERDICT}) + [NO_VERDICT]
    by_verdict = {verdict: verdict_counts[verdict] for verdict in order if verdict in verdict_counts}

    history = _history(everything)
    winners = []
    for record in records:
        past = history.get(record["host"], [])
        winner = {field: record[field] for field in RECORD_FIELDS}
        winner["last_change"] = _last_change(record, past)
        winner["deployed_on_host"] = _deployed_on_host(past)
        winners.append(winner)
    return {
        "report_version": REPORT_VERSION,
        "title": title,
        "generated_at": format_timestamp(generated_at),
        "outcome": outcome_sentence(by_status),
        "runs": _runs(everything, records, run_meta or {}),
        "hosts": len(records),
        "by_status": by_status,
        "by_verdict": by_verdict,
        "deployed": _deployed(winners),
        "rejected": [dict(entry) for entry in rejected],
        "records": winners,
    }


def run_records(records: t.Iterable[dict], run_id: str) -> list[dict]:
    """The record that stands for each host within one run, sorted by host: what that run found and did."""
    chosen = [record for key, record in _per_run(records).items() if key[0] == run_id]
    return sorted(chosen, key=lambda record: _host_order(record["host"]))


def _per_run(records: t.Iterable[dict]) -> dict[tuple[str, str], dict]:
    per_run: dict[tuple[str, str], dict] = {}
    for record in records:
        key = (record["run_id"], record["host"])
        kept = per_run.get(key)
        if kept is None or _within_run_key(record) > _within_run_key(kept):
            per_run[key] = record
    return per_run


def _history(records: t.Iterable[dict]) -> dict[str, list[dict]]:
    """Each host's outcome records, one per run, oldest first (plans are left out: they changed nothing)."""
    history: dict[str, list[dict]] = {}
    for record in _per_run(records).values():
        if not is_plan(record):
            history.setdefault(record["host"], []).append(record)
    for past in history.values():
        past.sort(key=_across_runs_key)
    return history


def _last_change(winner: dict, past: list[dict]) -> dict | None:
    """The newest run that changed the host, when a later record stands for it (a verifying diagnose, say)."""
    changes = [record for record in past if is_change(record)]
    if not changes or changes[-1]["run_id"] == winner["run_id"]:
        return None
    change = changes[-1]
    return {"run_id": change["run_id"], "status": change["status"], "recorded_at": change["recorded_at"],
            "imported": [dict(entry) for entry in change["imported"]],
            "removed": [dict(entry) for entry in change["removed"]]}


def deployed_by_host(records: t.Iterable[dict]) -> dict[str, list[dict]]:
    """Per host, what these (validated) records' runs put there and no later rollback took back."""
    deployed = {host: _deployed_on_host(past) for host, past in _history(records).items()}
    return {host: entries for host, entries in deployed.items() if entries}


def _deployed_on_host(past: list[dict]) -> list[dict]:
    """What these runs put on the host and did not take back, oldest record first.

    An import's ``attempted`` certificates count where it may have landed (in_progress, fix_failed, fixed,
    already_present): they were missing when the run looked, so if they are there now, the run put them there.
    """
    on_host: dict[tuple[str, str], dict] = {}
    for record in past:
        added = list(record["imported"])
        if record["status"] in DEPLOYING_STATUSES:
            added += record["attempted"]
        for entry in added:
            key = _cert_key(entry)
            if key not in on_host:
                on_host[key] = {"store": entry["store"], "thumbprint": entry["thumbprint"],
                                "subject": entry["subject"], "run_id": record["run_id"]}
            elif not on_host[key]["subject"]:
                on_host[key]["subject"] = entry["subject"]
        for entry in record["removed"]:
            on_host.pop(_cert_key(entry), None)
    return [on_host[key] for key in sorted(on_host)]


def _deployed(winners: t.Iterable[dict]) -> list[dict]:
    """Each certificate still deployed by these runs, with how many hosts hold it."""
    certificates: dict[tuple[str, str], dict] = {}
    for winner in winners:
        for entry in winner["deployed_on_host"]:
            kept = certificates.setdefault(_cert_key(entry), {
                "store": entry["store"], "thumbprint": entry["thumbprint"], "subject": entry["subject"], "hosts": 0})
            kept["hosts"] += 1
            kept["subject"] = kept["subject"] or entry["subject"]
    return sorted(certificates.values(), key=lambda entry: (entry["store"].casefold(),
                                                            (entry["subject"] or "").casefold(), entry["thumbprint"]))


def _runs(everything: t.Iterable[dict], winners: t.Iterable[dict], run_meta: Mapping[str, dict]) -> list[dict]:
    """Every run seen, with who or what ran it where its .run.json says so, oldest first."""
    current = {(record["run_id"], record["host"]) for record in winners}
    runs: dict[str, dict] = {run_id: {"modes": set(), "hosts": set(), "current": set(), "first": None,
                                      "last": None, "plans": True} for run_id in run_meta}
    for record in everything:
        stamp = _recorded_at(record)
        run = runs.setdefault(record["run_id"], {"modes": set(), "hosts": set(), "current": set(), "first": stamp,
                                                 "last": stamp, "plans": True})
        run["modes"].add(record["mode"])
        run["hosts"].add(record["host"])
        run["plans"] = run["plans"] and record["check_mode"]
        if (record["run_id"], record["host"]) in current:
            run["current"].add(record["host"])
        run["first"] = stamp if run["first"] is None else min(run["first"], stamp)
        run["last"] = stamp if run["last"] is None else max(run["last"], stamp)
    run_list = []
    for run_id, run in runs.items():
        meta = run_meta.get(run_id, {})
        started = meta.get("started_at")
        run_list.append(((started and parse_timestamp(started, "started_at")) or run["first"], run_id, {
            "run_id": run_id, "modes": sorted(run["modes"]), "hosts": len(run["hosts"]), "current": len(run["current"]),
            "first_recorded_at": run["first"] and format_timestamp(run["first"]),
            "last_recorded_at": run["last"] and format_timestamp(run["last"]),
            "mode": meta.get("mode"),
            "check_mode": meta["check_mode"] if "check_mode" in meta else bool(run["hosts"]) and run["plans"],
            "started_at": started, "awx_job_id": meta.get("awx_job_id"), "user": meta.get("user"),
            "playbook": meta.get("playbook"), "play_hosts": meta.get("hosts"),
        }))
    return [entry for _moment, _run_id, entry in sorted(run_list, key=lambda item: (item[0], item[1]))]


def _cert_key(entry: Mapping) -> tuple[str, str]:
    return (entry["store"].casefold(), entry["thumbprint"])


# ---------------------------------------------------------------------------------------------------- files


def write_run(report_dir: str, run_id: str, records: t.Iterable[dict]) -> list[str]:
    """Write ``runs/<run_id>/<host>.json`` for each record; returns the paths written.

    The journal may already hold the host's record for this run. The record that wins within the run is kept:
    one the host produced beats one filled in for it, then the newer. An identical record is not rewritten,
    and a filled-in record never replaces a file that is there.
    """
    folder = os.path.join(report_dir, "runs", run_id)
    _makedirs(folder)
    written = []
    for record in records:
        path = os.path.join(folder, record_filename(record["host"]))
        if record["filled_in"]:
            if _write(path, render_json(record), replace=False):
                written.append(path)
            continue
        existing = _journal_record(path, record["host"], run_id)
        if existing is not None and (existing == record or _within_run_key(existing) > _within_run_key(record)):
            continue
        _write(path, render_json(record))
        written.append(path)
    return written


class Loaded(t.NamedTuple):
    """What a report folder and its merge sources hold: records, each run's .run.json, and what was set aside."""
    records: list[dict]
    run_meta: dict[str, dict]
    rejected: list[dict]


def load_records(report_dir: str, merge_from: t.Iterable[str] = ()) -> Loaded:
    """Every record under ``report_dir/runs`` and in each ``merge_from``; a bad file is set aside alone.

    A ``merge_from`` entry is a report folder (its runs/, or its report.json without runs/), one run's
    folder (``runs/<run_id>``), or a report.json file. A source that does not exist, or is not a fleet
    report at all, is an error in the option and raises.
    """
    loaded = Loaded([], {}, [])
    if os.path.isdir(os.path.join(report_dir, "runs")):
        _load_runs(report_dir, loaded)
    for index, source in enumerate(merge_from):
        label = f"merge_from[{index}]"
        try:
            _load_source(source, label, loaded)
        except FleetReportError as exc:
            raise FleetReportError(exc if str(exc).startswith(label) else f"{label}: {exc}") from None
    return loaded


def _load_source(source: str, label: str, loaded: Loaded) -> None:
    """One merge_from entry; an entry that is no fleet report at all raises."""
    if os.path.isdir(source):
        if os.path.isdir(os.path.join(source, "runs")):
            _load_runs(source, loaded)
        elif os.path.isfile(os.path.join(source, "report.json")):
            _load_report_json(os.path.join(source, "report.json"), loaded)
        elif os.path.basename(os.path.dirname(os.path.normpath(source))) == "runs":
            _load_run(os.path.normpath(source), loaded)  # one run's folder, runs/<run_id>
        else:
            raise FleetReportError(f"{label}: {source} is a folder without runs/ or report.json; give a fleet "
                                   f"report folder, one of its runs/<run_id> folders or a report.json file")
    elif os.path.isfile(source):
        _load_report_json(source, loaded)
    else:
        raise FleetReportError(f"{label}: {source} does not exist")


def write_fleet_report(report_dir: str, records: t.Any, *, expected_hosts: t.Iterable[str] = (),
                       run_id: str | None = None, mode: str = "diagnose", merge_from: t.Iterable[str] = (),
                       title: str = "DirectAccess IP-HTTPS fleet report", now: datetime.datetime | None = None,
                       lock_timeout: float = 60.0, check_mode: bool = False) -> dict:
    """Record this run, then rebuild report.json, report.csv and report.html from every run; returns the summary.

    ``records`` adds to what the run's journal (runs/<run_id>/) already holds; a bad record is set aside alone
    and listed in ``rejected``. With ``check_mode`` every record this call adds is marked a plan.
    """
    # Imported here, not at the top: _report_render reads this module's vocabulary (STATUSES, FleetReportError).
    from ansible_collections.directaccess.iphttps.plugins.plugin_utils._report_render import (
        console_lines,
        render_csv,
        render_html,
    )

    moment = _utc(now)
    run_id = check_run_id(run_id) if run_id else new_run_id(moment)
    mode = _choice(mode, MODES, "mode")
    if not isinstance(title, str) or not title.strip():
        raise FleetReportError(f"title: must be a non-empty string, got {_show(title)}")
    expected = list(expected_hosts or [])
    merge_sources = [os.path.abspath(os.path.expanduser(usable_path(source, f"merge_from[{index}]")))
                     for index, source in enumerate(merge_from or [])]
    set_aside: list[dict] = []
    this_call = screen_records(records, run_id=run_id, mode=mode, now=moment, set_aside=set_aside.append)

    report_dir = os.path.abspath(os.path.expanduser(usable_path(report_dir, "report_dir")))
    if os.path.exists(report_dir) and not os.path.isdir(report_dir):
        raise FleetReportError(f"report_dir: {report_dir} exists and is not a folder")
    _makedirs(report_dir)
    run_folder = os.path.join(report_dir, "runs", run_id)
    journal = Loaded([], {}, [])
    if os.path.isdir(run_folder):
        _load_run(run_folder, journal)
    this_call += fill_unreachable(this_call + journal.records, expected, run_id=run_id, mode=mode, now=moment,
                                  rejected=set_aside)
    if check_mode:
        for record in this_call:
            record["check_mode"] = True
    # Before the lock: a held lock must not lose this run's records (the next rebuild reads them).
    if this_call:
        write_run(report_dir, run_id, this_call)

    paths = {kind: os.path.join(report_dir, f"report.{kind}") for kind in ("json", "csv", "html")}
    # Runs sharing the folder (job slices, parallel batches) take turns, so no rebuild misses another's records.
    with _Lock(os.path.join(report_dir, _LOCK_NAME), lock_timeout, run_folder):
        loaded = load_records(report_dir, merge_sources)
        rejected = set_aside + loaded.rejected
        winners = newest_per_host(loaded.records)
        report = build_report(winners, title=title.strip(), generated_at=moment, all_records=loaded.records,
                              run_meta=loaded.run_meta, rejected=rejected)
        html_page = render_html(report)
        _write(paths["json"], render_json(report))
        _write(paths["csv"], render_csv(report))
        _write(paths["html"], html_page)
    this_run = run_records(loaded.records, run_id)
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
        "rejected": rejected,
        "outcome": report["outcome"],
        "console": console_lines(this_run, run_id=run_id, report=report, report_path=paths["html"]),
    }


def usable_path(value: t.Any, label: str) -> str:
    """A path the operating system can take: a non-empty string without NUL and encodable as a file name."""
    if not isinstance(value, str) or not value.strip():
        raise FleetReportError(f"{label}: must name a file or folder, got {_show(value)}")
    try:
        if b"\0" in os.fsencode(value):
            raise FleetReportError(f"{label}: a path cannot hold a NUL character, got {_show(value)}")
    except UnicodeEncodeError:
        raise FleetReportError(f"{label}: not a usable file name (a lone surrogate), got {_show(value)}") from None
    return value


class _Lock:
    """An exclusive flock on a file in the report folder, waited for up to ``timeout`` seconds."""

    def __init__(self, path: str, timeout: float, run_folder: str = ""):
        self._path, self._timeout, self._run_folder, self._fd = path, timeout, run_folder, -1

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
                    kept = f"; this run's records are kept in {self._run_folder} and the next fleet_report " \
                           f"includes them" if os.path.isdir(self._run_folder) else ""
                    raise FleetReportError(f"report_dir: another fleet_report held {self._path} for more than "
                                           f"{self._timeout:g}s{kept}") from None
                time.sleep(0.1)

    def __exit__(self, *exc_info):
        os.close(self._fd)  # closing releases the lock


def _load_runs(report_dir: str, loaded: Loaded) -> None:
    runs_dir = os.path.join(report_dir, "runs")
    for run_name in sorted(os.listdir(runs_dir)):
        folder = os.path.join(runs_dir, run_name)
        if not run_name.startswith(".") and os.path.isdir(folder):
            _load_run(folder, loaded)


def _load_run(folder: str, loaded: Loaded) -> None:
    """One run's records; a file that does not validate is set aside in ``loaded.rejected``, the others count."""
    run_name = os.path.basename(folder)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            if name == RUN_META_NAME:
                loaded.run_meta[run_name] = _run_meta(path, run_name)
            elif name.startswith(".") or not name.endswith(".json"):
                continue  # temporary files of a write in progress
            else:
                record = validate_record(_load_json(path), path)
                if record["run_id"] != run_name:
                    raise FleetReportError(f"{path}: run_id {record['run_id']!r} does not match its folder "
                                           f"{run_name!r}")
                loaded.records.append(record)
        except FleetReportError as exc:
            loaded.rejected.append({"path": path, "reason": str(exc)})


def _run_meta(path: str, run_name: str) -> dict:
    """A run's .run.json, written by fleet_run before any host is touched: who or what ran it, and how."""
    meta = _load_json(path)
    if not isinstance(meta, Mapping):
        raise FleetReportError(f"{path}: must be a JSON object (the run's metadata), got {_kind(meta)}")
    if meta.get("run_id", run_name) != run_name:
        raise FleetReportError(f"{path}: run_id {meta.get('run_id')!r} does not match its folder {run_name!r}")
    checked: dict[str, t.Any] = {}
    if meta.get("mode") is not None:
        checked["mode"] = _choice(meta["mode"], MODES, f"{path}: mode")
    if meta.get("check_mode") is not None:
        checked["check_mode"] = _flag(meta["check_mode"], f"{path}: check_mode")
    if meta.get("started_at") is not None:
        checked["started_at"] = format_timestamp(parse_timestamp(meta["started_at"], f"{path}: started_at"))
    for field in ("awx_job_id", "user", "playbook"):
        value = meta.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an AWX job id may come as a number
        if value is not None and (not isinstance(value, str) or _CONTROL_RE.search(value) or len(value) > 512):
            raise FleetReportError(f"{path}: {field}: must be null or a line of text, got {_show(value)}")
        checked[field] = value
    hosts = meta.get("hosts")
    if hosts is not None and (isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 0):
        raise FleetReportError(f"{path}: hosts: must be null or the number of hosts in the play, got {_show(hosts)}")
    checked["hosts"] = hosts
    return checked


def _load_report_json(path: str, loaded: Loaded) -> None:
    document = _load_json(path, MAX_REPORT_FILE_BYTES)
    if not isinstance(document, Mapping) or not isinstance(document.get("records"), list):
        raise FleetReportError(f"{path}: not a fleet report (a JSON object with a 'records' list)")
    version = document.get("report_version", REPORT_VERSION)
    if not isinstance(version, int) or version > REPORT_VERSION:
        raise FleetReportError(f"{path}: report_version {version!r} is newer than this collection reads "
                               f"({REPORT_VERSION}); update directaccess.iphttps")
    for index, raw in enumerate(document["records"]):
        label = f"{path}: records[{index}]"
        if isinstance(raw, Mapping):
            raw = {key: value for key, value in raw.items() if key not in COMPUTED_FIELDS}
        try:
            loaded.records.append(validate_record(raw, label))
        except FleetReportError as exc:
            loaded.rejected.append({"path": label, "reason": str(exc)})


def _journal_record(path: str, host: str, run_id: str) -> dict | None:
    """The record already in the journal at ``path``, or None when there is none or it does not validate."""
    if not os.path.exists(path):
        return None
    try:
        record = validate_record(_load_json(path), path, run_id=run_id)
    except FleetReportError:
        return None  # a broken file is replaced by the valid record of the same host and run
    return record if record["host"] == host else None


def _load_json(path: str, limit: int = MAX_RECORD_FILE_BYTES) -> t.Any:
    return read_json(path, limit)


def _write(path: str, text: str, *, replace: bool = True) -> bool:
    try:
        return write_atomic(path, text, replace=replace)
    except OSError as exc:
        raise FleetReportError(f"report_dir: cannot write {path}: {exc.strerror}") from None


def _makedirs(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise FleetReportError(f"report_dir: cannot create the folder {folder}: {exc.strerror}") from None


# ---------------------------------------------------------------------------------------------------- small helpers


def _within_run_key(record: dict) -> tuple:
    return (not record["filled_in"], _recorded_at(record), _canonical(record))


def _across_runs_key(record: dict) -> tuple:
    return (not is_plan(record), _recorded_at(record), record["run_id"], _canonical(record))


def _recorded_at(record: dict) -> datetime.datetime:
    return parse_timestamp(record["recorded_at"], "recorded_at")


def _canonical(record: dict) -> str:
    # Last tie-break, so the same inputs always give the same report whatever order the files are read in.
    return json.dumps(record, sort_keys=True)


def _host_order(host: str) -> tuple:
    return (host.casefold(), host)
