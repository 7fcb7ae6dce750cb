# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a fleet run's inputs before any host is touched, and open its journal.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports.
Every relative path resolves from the working directory of ansible-playbook (in AWX, the project
directory), as docs/getting-started.md says.
"""
from __future__ import annotations

import datetime
import os
import re
import typing as t

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fleet_report import (
    FleetReportError,
    check_run_id,
    format_timestamp,
    new_run_id,
    usable_path,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import (
    MAX_REPORT_FILE_BYTES,
    read_json,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import _certificates as certificate_list
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._journal import (
    JournalError,
    imports_of_run,
    open_run,
    read_run,
    run_folder,
)

MAX_CHAIN_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RunInputError(ValueError):
    """A run input is unusable; the message names the variable and the reason."""


def resolve(path: str) -> str:
    """A path as the operator wrote it, from the working directory."""
    return os.path.abspath(os.path.expanduser(path))


def _usable(path: str, label: str) -> str:
    try:
        return usable_path(path, label)
    except FleetReportError as exc:
        raise RunInputError(str(exc)) from None


def _readable_file(path: str, label: str) -> str:
    full = resolve(_usable(path, label))
    if not os.path.exists(full):
        raise RunInputError(f"{label}: {path} does not exist (relative paths start at the working directory "
                            f"{os.getcwd()})")
    if not os.path.isfile(full):
        raise RunInputError(f"{label}: {path} is not a regular file")
    if not os.access(full, os.R_OK):
        raise RunInputError(f"{label}: {path} is not readable")
    return full


def _writable_report_dir(report_dir: str) -> str:
    if not report_dir.strip() or _CONTROL.search(report_dir):
        raise RunInputError(f"iphttps_report_dir: must name a folder, got {report_dir!r}")
    full = resolve(_usable(report_dir, "iphttps_report_dir"))
    if os.path.exists(full) and not os.path.isdir(full):
        raise RunInputError(f"iphttps_report_dir: {report_dir} exists and is not a folder")
    probe = full
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunInputError(f"iphttps_report_dir: {report_dir} cannot be written ({probe} is not writable)")
    return full


def _title(title: str) -> str:
    if not title.strip() or _CONTROL.search(title) or len(title) > 200:
        raise RunInputError(f"iphttps_report_title: must be 1 to 200 printable characters, got {title[:80]!r}")
    return title.strip()


def _run_id(given: str, awx_job_id: str | None, now: datetime.datetime) -> str:
    if given:
        try:
            return check_run_id(given, "iphttps_run_id")
        except FleetReportError as exc:
            raise RunInputError(str(exc)) from None
    if awx_job_id and re.fullmatch(r"[0-9]{1,20}", awx_job_id):
        return f"awx-{awx_job_id}"
    return new_run_id(now)


def _candidate_chain(path: str) -> str:
    if not path:
        raise RunInputError("iphttps_candidate_chain_file: preflight needs a PEM file holding the new server "
                            "chain, leaf first")
    full = _readable_file(path, "iphttps_candidate_chain_file")
    try:
        with open(full, "rb") as handle:
            data = handle.read(MAX_CHAIN_BYTES + 1)
    except OSError as exc:  # /proc/1/mem and other files that pass the checks but refuse to be read
        raise RunInputError(f"iphttps_candidate_chain_file: {path} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CHAIN_BYTES:
        raise RunInputError(f"iphttps_candidate_chain_file: {path} is larger than {MAX_CHAIN_BYTES} bytes")
    text = data.decode("ascii", "replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise RunInputError(f"iphttps_candidate_chain_file: {path} holds no PEM certificate")
    return text


def _ca_sources(sources: t.Sequence[t.Any]) -> None:
    for index, source in enumerate(sources):
        if isinstance(source, t.Mapping) and source.get("path"):
            _readable_file(str(source["path"]), f"iphttps_ca_sources[{index}].path")


def rollback_plan(report_dir: str, run: str, report: str) -> tuple[dict[str, list[dict]], str]:
    """Per host, the certificates to take back, from a run (its folder or its id) or from a report.json."""
    if bool(run) == bool(report):
        raise RunInputError("rollback needs exactly one of iphttps_rollback_run (a runs/<run_id> folder, or a run "
                            "id under iphttps_report_dir) and iphttps_rollback_report (a report.json)")
    try:
        if run:
            run = _usable(run, "iphttps_rollback_run")
            folder = resolve(run) if os.path.isdir(resolve(run)) else run_folder(report_dir, run)
            if not os.path.isdir(folder):
                raise RunInputError(f"iphttps_rollback_run: {run} is neither a folder nor a run id with a folder "
                                    f"under {resolve(report_dir)}/runs")
            records, rejected = read_run(folder)
            plan, source = imports_of_run(records), folder
        else:
            full = _readable_file(report, "iphttps_rollback_report")
            runs = os.path.join(os.path.dirname(full), "runs")
            records, rejected = [], []
            if os.path.isdir(runs):
                # The report's own runs: every import, in order, minus what a later rollback took back.
                for name in sorted(os.listdir(runs)):
                    if os.path.isdir(os.path.join(runs, name)) and not name.startswith("."):
                        found, bad = read_run(os.path.join(runs, name))
                        records += found
                        rejected += bad
                plan = imports_of_run(records)
            else:
                # A report copied away from its runs: it carries each host's deployed certificates itself.
                plan = _deployed_in_report(full)
            source = full
    except JournalError as exc:
        raise RunInputError(str(exc)) from None
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:  # FleetReportError is a ValueError
        raise RunInputError(f"iphttps_rollback_report: {report} is not a readable fleet report: {exc}") from None
    if rejected:
        listed = "; ".join(f"{bad['path']}: {bad['reason']}" for bad in rejected[:3])
        raise RunInputError(f"rollback: {len(rejected)} record file(s) cannot be read, so what to remove is not "
                            f"certain: {listed}")
    if not plan:
        raise RunInputError(f"rollback: {source} records no import on any host; there is nothing to roll back")
    return plan, source


def _deployed_in_report(path: str) -> dict[str, list[dict]]:
    """Per host, the certificates a report.json says are deployed; every entry checked, as it drives removals."""
    document = read_json(path, MAX_REPORT_FILE_BYTES)
    winners = document.get("records") if isinstance(document, dict) else None
    if not isinstance(winners, list):
        raise FleetReportError(f"{path}: not a fleet report (a JSON object with a 'records' list)")
    plan = {}
    for index, record in enumerate(winners):
        label = f"{path}: records[{index}]"
        if not isinstance(record, dict) or not record.get("deployed_on_host"):
            continue
        host = record.get("host")
        if not isinstance(host, str) or not host.strip() or _CONTROL.search(host):
            raise FleetReportError(f"{label}.host: must be a host name, got {host!r:.80}")
        entries = certificate_list(record["deployed_on_host"], f"{label}.deployed_on_host", thumbprint_required=True)
        for where, entry in enumerate(entries):
            if entry["store"] not in ("Root", "CA"):
                raise FleetReportError(f"{label}.deployed_on_host[{where}].store: must be Root or CA, "
                                       f"got {entry['store']!r:.80}")
        plan[host] = entries
    return plan


def gpo_carries(path: str) -> list[str] | None:
    """The thumbprints the DirectAccess GPO carries, from gpo_sync's report file; None when no file is named."""
    if not path:
        return None
    label = "iphttps_gpo_report_file"
    full = _readable_file(path, label)
    try:
        document = read_json(full, MAX_REPORT_FILE_BYTES)
    except FleetReportError as exc:
        raise RunInputError(f"{label}: {exc}") from None
    carried = document.get("carries") if isinstance(document, dict) else None
    if not isinstance(carried, list):
        raise RunInputError(f"{label}: {path} is not gpo_sync's report (a JSON object with a 'carries' list)")
    # A --check run's report lists what the GPO carries now, before its planned writes: that is what counts here.
    try:
        entries = certificate_list(carried, f"{label}: {path}: carries", thumbprint_required=True)
    except FleetReportError as exc:
        raise RunInputError(str(exc)) from None
    return sorted({entry["thumbprint"] for entry in entries})


def open_fleet_run(args: t.Mapping, *, check_mode: bool, awx_job_id: str | None, user: str | None,
                   playbook: str | None, now: datetime.datetime) -> dict:
    """Check everything a run needs, then write its .run.json. Returns what the hosts' tasks need."""
    mode = args["mode"]
    if args.get("hosts_pattern") and not args.get("hosts"):
        raise RunInputError(f"iphttps_hosts: the pattern {args['hosts_pattern']!r} matches no host in the inventory "
                            "(check the pattern, the inventory and --limit)")
    report_dir = _writable_report_dir(args["report_dir"])
    title = _title(args["title"])
    run_id = _run_id(args["run_id"], awx_job_id, now)
    _ca_sources(args["ca_sources"])
    opened: dict[str, t.Any] = {"candidate_chain": "", "rollback": {}, "rollback_source": None,
                                "gpo_carries": gpo_carries(args.get("gpo_report_file") or "")}
    if mode == "remediate" and not args["ca_sources"]:
        raise RunInputError("iphttps_ca_sources: remediate needs the approved CA certificates (and iphttps_ca_pins "
                            "for url and tls sources). Without them nothing can be imported, and a missing "
                            "intermediate cannot be told from an untrusted root. Check the variable's spelling; run "
                            "the diagnose playbook to only look")
    if mode == "preflight":
        opened["candidate_chain"] = _candidate_chain(args["candidate_chain_file"])
    warnings = []
    if mode == "rollback":
        opened["rollback"], opened["rollback_source"] = rollback_plan(args["report_dir"], args["rollback_run"],
                                                                      args["rollback_report"])
        outside = sorted(set(opened["rollback"]) - set(args.get("hosts") or []))
        if outside and args.get("hosts"):
            warnings.append(f"rollback: {len(outside)} host(s) with imports to take back are not in this play's "
                            f"hosts and stay as they are: {', '.join(outside[:10])}"
                            + (" ..." if len(outside) > 10 else ""))
    record_mode = "check" if mode == "remediate" and check_mode else mode
    started = format_timestamp(now)
    try:
        folder = open_run(report_dir, run_id, {
            "mode": record_mode, "check_mode": check_mode, "started_at": started, "awx_job_id": awx_job_id,
            "user": user, "playbook": playbook, "hosts": len(args.get("hosts") or []), "title": title,
            "rollback_source": opened["rollback_source"]})
    except JournalError as exc:
        raise RunInputError(str(exc)) from None
    return dict(opened, run_id=run_id, run_dir=folder, report_dir=report_dir, mode=record_mode,
                check_mode=check_mode, started_at=started, title=title, warnings=warnings)
