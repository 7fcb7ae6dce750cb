# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run journal: each host's record on the controller, written the moment it is known.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports.
Layout (docs/report.md): ``<report_dir>/runs/<run_id>/.run.json`` says who opened the run and how;
``<report_dir>/runs/<run_id>/<host>.json`` is the host's record. remediate_host writes an
``in_progress`` record before it sends an import and overwrites it with the outcome, each time
atomically and without a lock, so neither a crash, SIGINT nor a held report lock loses it.
"""
from __future__ import annotations

import os
import typing as t

# _record, not _fleet_report: every forked worker imports this module to write one record.
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import (
    FleetReportError,
    check_run_id,
    read_json,
    record_filename,
    render_json,
    validate_record,
    write_atomic,
)

RUN_FILE = ".run.json"


class JournalError(ValueError):
    """The run's folder or a record cannot be used; the message names which and why."""


def run_folder(report_dir: str, run_id: str) -> str:
    try:
        check_run_id(run_id)
    except FleetReportError as exc:
        raise JournalError(str(exc)) from None
    return os.path.join(os.path.abspath(os.path.expanduser(report_dir)), "runs", run_id)


def open_run(report_dir: str, run_id: str, metadata: t.Mapping) -> str:
    """Create the run's folder and write .run.json; returns the folder. Fails if the folder cannot be written."""
    folder = run_folder(report_dir, run_id)
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(os.path.join(folder, RUN_FILE), render_json(dict(metadata, run_id=run_id)))
    except OSError as exc:
        raise JournalError(f"report_dir: cannot write the run's folder {folder}: {exc.strerror or exc}") from None
    return folder


def check_record(report_dir: str, record: t.Mapping) -> tuple[dict, str]:
    """The validated record and the path of its file, without writing anything."""
    try:
        checked = validate_record(record, f"record of {record.get('host')!r}")
    except FleetReportError as exc:
        raise JournalError(str(exc)) from None
    return checked, os.path.join(run_folder(report_dir, checked["run_id"]), record_filename(checked["host"]))


def write_record(report_dir: str, record: t.Mapping) -> str:
    """Validate one record and write it over the host's file in its run's folder; returns the path."""
    checked, path = check_record(report_dir, record)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        write_atomic(path, render_json(checked))
    except OSError as exc:
        raise JournalError(f"cannot write the record {path}: {exc.strerror or exc}") from None
    return path


def read_run(folder: str) -> tuple[list[dict], list[dict]]:
    """Every record in one run's folder, and the files set aside as [{path, reason}]."""
    records, rejected = [], []
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise JournalError(f"{folder}: cannot read the run's folder: {exc.strerror or exc}") from None
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        path = os.path.join(folder, name)
        try:
            records.append(validate_record(read_json(path), path))
        except FleetReportError as exc:
            rejected.append({"path": path, "reason": str(exc)})
    return records, rejected


def imports_of_run(records: t.Iterable[dict]) -> dict[str, list[dict]]:
    """Per host, what one run may have put on it: what it imported, and what an import it sent may have added.

    ``attempted`` counts where the import may have landed (a lost reply, an interrupted run); a removal by
    thumbprint of a certificate that is not there changes nothing.
    """
    from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fleet_report import deployed_by_host

    return deployed_by_host(records)
