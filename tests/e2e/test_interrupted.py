# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A remediation killed during the import (SIGINT as Ctrl-C sends it, and SIGKILL) loses no record.

Every host the import changed is in the run's journal before the playbook dies, and a rollback of that
run leaves every store exactly as it was.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

LAB_FLEET = Path(__file__).resolve().parent / "fleet_interrupted.yml"


def stores_now(lab):
    return {h: (set(lab.state(h)["root_store"]), set(lab.state(h)["ca_store"])) for h in lab.hosts()}


def journal(folder: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_during_the_import_keeps_every_record_and_rolls_back_exactly(lab, tmp_path, sig):
    pki = lab.pki
    before = stores_now(lab)
    broken = lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate")
    report_dir, run_id = tmp_path / "report", f"killed-{sig.name.lower()}"
    extra = {"iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
             "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()], "iphttps_report_dir": str(report_dir),
             "iphttps_run_id": run_id, "iphttps_restart_delay": 60, "iphttps_reconnect_timeout": 90}
    tree = tmp_path / "tree"
    tree.mkdir()
    command, env = lab.command("directaccess.iphttps.remediate", extra, tree)
    # Its own process group, so the signal reaches ansible-playbook and its workers as a terminal's Ctrl-C does.
    process = subprocess.Popen(command, cwd=lab.workdir, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # Wait until every broken host has taken the import: the workers are then polling for 0x0.
        while stores_now(lab) == before or any(stores_now(lab)[h] == before[h] for h in broken):
            assert process.poll() is None, "the playbook ended before the imports"
            assert time.monotonic() < deadline, "the imports never happened"
            time.sleep(0.2)
        os.killpg(process.pid, sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    changed = [h for h in lab.hosts() if stores_now(lab)[h] != before[h]]
    assert sorted(changed) == sorted(broken)
    records = journal(report_dir / "runs" / run_id)
    for host in changed:
        assert records[host]["status"] == "in_progress", records[host]
        assert records[host]["attempted"], records[host]
    undo = lab.playbook("directaccess.iphttps.rollback", extra_vars={
        "iphttps_rollback_run": str(report_dir / "runs" / run_id), "iphttps_report_dir": str(tmp_path / "undo")})
    assert stores_now(lab) == before, undo.stdout


def test_a_failed_fix_fails_the_job_and_the_report_still_runs(lab, tmp_path):
    pki = lab.pki
    host = lab.hosts_in("non_admin")[0]
    report_dir = tmp_path / "report"
    run = lab.playbook("directaccess.iphttps.remediate", limit=host, extra_vars={
        "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
        "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()], "iphttps_report_dir": str(report_dir)})
    # Every host of the play failed, yet the report, the summary and the record are there.
    assert run.rc == 2, run.stdout
    record = json.loads((report_dir / "report.json").read_text())["records"][0]
    assert (record["host"], record["status"]) == (host, "fix_failed")
    assert "administrator" in record["reason"]
    assert f"{host}  0x800B0109" in run.stdout and "report.html" in run.stdout
