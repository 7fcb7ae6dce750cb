# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_run's checks: every bad input fails before a host is touched, with the variable named."""
from __future__ import annotations

import datetime
import json
import os

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._journal import write_record
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._run_inputs import RunInputError, open_fleet_run

NOW = datetime.datetime(2026, 12, 2, 10, 0, tzinfo=datetime.timezone.utc)
ROOT = {"store": "Root", "thumbprint": "AB" * 20, "subject": "CN=Corp Root"}


def args(**overrides):
    base = dict(mode="diagnose", report_dir="report", run_id="", title="Report", hosts=["pc1"], hosts_pattern="all",
                ca_sources=[], candidate_chain_file="", rollback_run="", rollback_report="")
    base.update(overrides)
    return base


def opened(**overrides):
    return open_fleet_run(args(**overrides), check_mode=overrides.pop("check", False), awx_job_id=None, user="op",
                          playbook=None, now=NOW)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def record(host, run_id, **fields):
    return dict({"host": host, "run_id": run_id, "mode": "remediate", "recorded_at": "2026-12-01T10:00:00Z",
                 "status": "fixed", "imported": [ROOT]}, **fields)


def test_run_is_opened_with_its_metadata_under_the_working_directory(in_tmp):
    result = opened()
    assert result["report_dir"] == str(in_tmp / "report")
    meta = json.loads((in_tmp / "report" / "runs" / result["run_id"] / ".run.json").read_text())
    assert (meta["mode"], meta["user"], meta["started_at"]) == ("diagnose", "op", "2026-12-02T10:00:00Z")


def test_two_runs_in_the_same_second_get_different_ids():
    assert opened()["run_id"] != opened()["run_id"]


def test_awx_job_id_names_the_run():
    result = open_fleet_run(args(), check_mode=False, awx_job_id="4711", user=None, playbook=None, now=NOW)
    assert result["run_id"] == "awx-4711"


@pytest.mark.parametrize("overrides, message", [
    (dict(mode="remediate"), "iphttps_ca_sources: remediate needs"),
    (dict(run_id="../x"), "iphttps_run_id"),
    (dict(title="a\x07b"), "iphttps_report_title"),
    (dict(title="  "), "iphttps_report_title"),
    (dict(hosts=[]), "matches no host"),
    (dict(ca_sources=[{"path": "missing.pem"}]), "iphttps_ca_sources[0].path: missing.pem does not exist"),
    (dict(mode="preflight"), "iphttps_candidate_chain_file: preflight needs"),
    (dict(mode="preflight", candidate_chain_file="nope.pem"), "nope.pem does not exist"),
    (dict(mode="rollback"), "exactly one of iphttps_rollback_run"),
    (dict(mode="rollback", rollback_run="a", rollback_report="b"), "exactly one of"),
    (dict(mode="rollback", rollback_run="no-such-run"), "neither a folder nor a run id"),
])
def test_bad_inputs_name_the_variable(overrides, message, in_tmp):
    with pytest.raises(RunInputError) as error:
        opened(**overrides)
    assert message in str(error.value)
    assert not (in_tmp / "report" / "runs").exists()


def test_report_dir_that_is_a_file_is_refused(in_tmp):
    (in_tmp / "file").write_text("x")
    with pytest.raises(RunInputError, match="exists and is not a folder"):
        opened(report_dir="file")


def test_candidate_chain_without_a_certificate_is_refused(in_tmp):
    (in_tmp / "chain.pem").write_text("not a certificate")
    with pytest.raises(RunInputError, match="holds no PEM certificate"):
        opened(mode="preflight", candidate_chain_file="chain.pem")


def test_rollback_by_id_by_relative_folder_and_by_report(in_tmp):
    write_record("report", record("pc1", "fix-1"))
    write_record("report", record("pc2", "fix-1", status="in_progress", imported=[], attempted=[ROOT]))
    write_record("report", record("pc3", "fix-1", status="healthy", imported=[]))
    by_id = opened(mode="rollback", rollback_run="fix-1")["rollback"]
    by_folder = opened(mode="rollback", rollback_run=os.path.join("report", "runs", "fix-1"))["rollback"]
    assert by_id == by_folder
    # An interrupted import counts: its certificates may be on the host.
    assert sorted(by_id) == ["pc1", "pc2"] and by_id["pc2"][0]["thumbprint"] == ROOT["thumbprint"]
    # A later diagnose run in the same folder does not hide the import from a rollback by report.
    write_record("report", record("pc1", "look-2", mode="diagnose", status="healthy", imported=[],
                                  recorded_at="2026-12-02T09:00:00Z"))
    (in_tmp / "report" / "report.json").write_text("{}")
    by_report = opened(mode="rollback", rollback_report=os.path.join("report", "report.json"))["rollback"]
    assert sorted(by_report) == ["pc1", "pc2"]


def test_rollback_after_a_rollback_has_nothing_left(in_tmp):
    write_record("report", record("pc1", "fix-1"))
    write_record("report", record("pc1", "undo-2", mode="rollback", status="removed", imported=[], removed=[ROOT],
                                  recorded_at="2026-12-02T09:00:00Z"))
    (in_tmp / "report" / "report.json").write_text("{}")
    with pytest.raises(RunInputError, match="records no import on any host"):
        opened(mode="rollback", rollback_report="report/report.json")


def test_rollback_of_a_run_without_imports_fails_clearly(in_tmp):
    write_record("report", record("pc1", "look-1", mode="diagnose", status="healthy", imported=[]))
    with pytest.raises(RunInputError, match="records no import on any host; there is nothing to roll back"):
        opened(mode="rollback", rollback_run="look-1")


def test_rollback_refuses_a_run_with_an_unreadable_record(in_tmp):
    write_record("report", record("pc1", "fix-1"))
    (in_tmp / "report" / "runs" / "fix-1" / "pc2.json").write_text('{"host": "pc2", "run_')
    with pytest.raises(RunInputError, match="cannot be read"):
        opened(mode="rollback", rollback_run="fix-1")


def test_rollback_by_a_report_copied_away_from_its_runs_uses_what_it_deployed(in_tmp):
    (in_tmp / "copy").mkdir()
    (in_tmp / "copy" / "report.json").write_text(json.dumps({"records": [
        {"host": "pc1", "status": "healthy", "deployed_on_host": [dict(ROOT, run_id="fix-1")]},
        {"host": "pc2", "status": "healthy", "deployed_on_host": []}]}))
    plan = opened(mode="rollback", rollback_report="copy/report.json")["rollback"]
    assert plan == {"pc1": [ROOT]}


def test_rollback_by_a_malformed_report_names_it(in_tmp):
    (in_tmp / "bad.json").write_text(json.dumps({"records": [{"host": "pc1", "deployed_on_host": [{"x": 1}]}]}))
    with pytest.raises(RunInputError, match="iphttps_rollback_report: bad.json is not a readable fleet report"):
        opened(mode="rollback", rollback_report="bad.json")


def test_rollback_warns_about_hosts_outside_the_play(in_tmp):
    write_record("report", record("pc1", "fix-1"))
    write_record("report", record("pc9", "fix-1"))
    result = opened(mode="rollback", rollback_run="fix-1", hosts=["pc1"])
    assert sorted(result["rollback"]) == ["pc1", "pc9"]
    assert result["warnings"] == ["rollback: 1 host(s) with imports to take back are not in this play's hosts and "
                                  "stay as they are: pc9"]


# --- gpo_sync's report: what the DirectAccess GPO carries ------------------------------------------------

def test_the_gpo_report_gives_the_thumbprints_the_gpo_carries(in_tmp):
    (in_tmp / "gpo.json").write_text(json.dumps({"checked": False, "carries": [
        dict(ROOT, thumbprint=ROOT["thumbprint"].lower()), {"store": "CA", "thumbprint": "CD" * 20, "subject": None}]}))
    assert opened(gpo_report_file="gpo.json")["gpo_carries"] == ["AB" * 20, "CD" * 20]
    assert opened()["gpo_carries"] is None  # none named: not known
    (in_tmp / "empty.json").write_text(json.dumps({"carries": []}))
    assert opened(gpo_report_file="empty.json")["gpo_carries"] == []  # known: it carries nothing


@pytest.mark.parametrize("content, message", [
    (None, r"iphttps_gpo_report_file: missing.json does not exist"),
    ("{", r"iphttps_gpo_report_file: .*not valid JSON"),
    ('{"records": []}', r"is not gpo_sync's report \(a JSON object with a 'carries' list\)"),
    ('{"carries": [{"store": "Root", "thumbprint": "xyz"}]}', r"carries\[0\]\.thumbprint: must be a Windows thumbprint"),
])
def test_an_unusable_gpo_report_is_refused_naming_the_variable(in_tmp, content, message):
    name = "missing.json" if content is None else "gpo.json"
    if content is not None:
        (in_tmp / name).write_text(content)
    with pytest.raises(RunInputError, match=message):
        opened(gpo_report_file=name)
    assert not (in_tmp / "report").exists() or not any((in_tmp / "report").rglob("*.run.json"))
