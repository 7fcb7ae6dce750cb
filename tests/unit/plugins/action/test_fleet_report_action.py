# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_report's action plugin: options, the files it writes, check mode, and that it never uses the connection."""
from __future__ import annotations

import json
import os
import re

import pytest
from ansible.errors import AnsibleActionFail
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.directaccess.iphttps.plugins.action import fleet_report
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action

ROOT_THUMBPRINT = "5B3E9A1C0D2F4E6A8B7C9D0E1F2A3B4C5D6E7F80"


class UntouchableConnection:
    """The play's hosts are Windows clients: the report must not run anything on them."""

    def __init__(self):
        self._shell = ShellModule()

    def exec_command(self, *args, **kwargs):
        raise AssertionError("fleet_report ran a command on a host")

    def put_file(self, *args, **kwargs):
        raise AssertionError("fleet_report copied a file to a host")

    def fetch_file(self, *args, **kwargs):
        raise AssertionError("fleet_report fetched a file from a host")


def run(check_mode=False, **args):
    return run_action(fleet_report, "fleet_report", UntouchableConnection(), check_mode=check_mode, diff=False, **args)


def record(host, **extra):
    base = {"host": host, "run_id": "awx-4711", "mode": "remediate", "recorded_at": "2026-03-01T10:00:00Z",
            "status": "fixed", "verdict": "untrusted_root",
            "error_before": {"code": 2148204809, "hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"},
            "error_after": {"code": 0, "hex": "0x0", "name": "ERROR_SUCCESS"},
            "missing": [{"thumbprint": ROOT_THUMBPRINT, "subject": "CN=Contoso Root CA", "store": "Root"}],
            "action": "import",
            "imported": [{"thumbprint": ROOT_THUMBPRINT, "store": "Root", "subject": "CN=Contoso Root CA"}],
            "removed": [], "elapsed": 12.0, "reason": "Imported 1 certificate(s); IP-HTTPS reports 0x0.", "remedy": ""}
    base.update(extra)
    return base


def test_writes_the_run_and_the_three_reports(tmp_path):
    report_dir = tmp_path / "iphttps-report"
    result = run(records=[record("laptop-1"), record("laptop-2", status="healthy", action="none", imported=[])],
                 expected_hosts=["laptop-1", "laptop-2", "laptop-3"], report_dir=str(report_dir),
                 run_id="awx-4711", mode="remediate", title="CHG0012345")
    assert not result.get("failed")
    assert result["changed"] is False
    assert result["run_id"] == "awx-4711"
    summary = result["summary"]
    assert summary["hosts"] == 3
    assert (summary["by_status"]["fixed"], summary["by_status"]["healthy"], summary["by_status"]["unreachable"]) \
        == (1, 1, 1)
    assert summary["by_verdict"] == {"untrusted_root": 2, "none": 1}
    assert [run["run_id"] for run in summary["runs"]] == ["awx-4711"]
    for kind in ("json", "csv", "html"):
        assert summary[f"report_{kind}"] == str(report_dir / f"report.{kind}")
        assert os.path.getsize(summary[f"report_{kind}"]) > 0
    assert sorted(os.listdir(report_dir / "runs" / "awx-4711")) == ["laptop-1.json", "laptop-2.json", "laptop-3.json"]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["title"] == "CHG0012345"
    assert {r["host"]: r["status"] for r in report["records"]} == {
        "laptop-1": "fixed", "laptop-2": "healthy", "laptop-3": "unreachable"}
    # The summary is what set_stats publishes: it must survive JSON as is.
    assert json.loads(json.dumps(summary)) == summary


def test_check_mode_still_writes_the_report(tmp_path):
    result = run(check_mode=True, records=[record("laptop-1", status="would_fix", action="would_import",
                                                  mode="check", error_after=None, run_id="dry-1")],
                 report_dir=str(tmp_path), run_id="dry-1", mode="check")
    assert result["changed"] is False and not result.get("failed")
    assert result["summary"]["by_status"]["would_fix"] == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["records"][0]["mode"] == "check"
    assert (tmp_path / "runs" / "dry-1" / "laptop-1.json").is_file()


def test_check_mode_makes_this_tasks_records_plans_that_never_replace_a_fix(tmp_path):
    run(records=[record("laptop-1")], report_dir=str(tmp_path), run_id="awx-4711", mode="remediate")
    # In a --check play the filter's record says mode remediate; the task's check mode makes it a plan.
    result = run(check_mode=True, records=[record("laptop-1", run_id="dry-2", status="healthy", imported=[],
                                                  recorded_at="2026-03-02T10:00:00Z")],
                 expected_hosts=["laptop-1", "laptop-2"], report_dir=str(tmp_path), run_id="dry-2", mode="remediate")
    stored = json.loads((tmp_path / "runs" / "dry-2" / "laptop-1.json").read_text())
    assert stored["check_mode"] is True
    report = json.loads((tmp_path / "report.json").read_text())
    assert {r["host"]: (r["run_id"], r["status"]) for r in report["records"]} == {
        "laptop-1": ("awx-4711", "fixed"), "laptop-2": ("dry-2", "unreachable")}
    assert result["summary"]["console"][0] == "Run dry-2 (remediate, check mode): 2 host(s)"


def test_many_rejected_records_make_at_most_eleven_warnings(tmp_path):
    result = run(records=[{"host": f"h{n}", "status": "nope"} for n in range(25)] + [record("laptop-1")],
                 report_dir=str(tmp_path), run_id="awx-4711")
    assert len(result["summary"]["rejected"]) == 25 and result["summary"]["hosts"] == 1
    assert len(result["warnings"]) == fleet_report.MAX_WARNINGS + 1
    assert result["warnings"][-1] == (f"fleet_report set aside 15 more; see {tmp_path / 'report.json'} "
                                      f"('rejected')")


def test_the_summary_carries_the_outcome_and_console_lines(tmp_path):
    result = run(records=[record("laptop-1")], expected_hosts=["laptop-1", "laptop-2"], report_dir=str(tmp_path),
                 run_id="awx-4711", mode="remediate")
    summary = result["summary"]
    assert summary["outcome"] == "1 fixed, 1 needs attention (1 unreachable)."
    assert summary["rejected"] == [] and "warnings" not in result
    assert summary["console"][-1] == f"Report: {tmp_path / 'report.html'}"
    assert all(isinstance(line, str) for line in summary["console"])


def test_defaults_generate_a_run_id_and_take_the_mode(tmp_path):
    result = run(records=[{"host": "laptop-1", "status": "not_directaccess"}], report_dir=str(tmp_path))
    assert re.fullmatch(r"run-\d{8}T\d{6}Z-[0-9a-f]{6}", result["run_id"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["records"][0]["mode"], report["records"][0]["run_id"]) == ("diagnose", result["run_id"])
    assert report["title"] == "DirectAccess IP-HTTPS fleet report"


def test_merge_from_through_the_action(tmp_path):
    run(records=[record("laptop-1", run_id="awx-1")], report_dir=str(tmp_path / "slice-1"), run_id="awx-1")
    run(records=[record("laptop-2", run_id="awx-2")], report_dir=str(tmp_path / "slice-2"), run_id="awx-2")
    result = run(report_dir=str(tmp_path / "all"),
                 merge_from=[str(tmp_path / "slice-1"), str(tmp_path / "slice-2" / "report.json")])
    assert result["summary"]["hosts"] == 2
    assert [run_["run_id"] for run_ in result["summary"]["runs"]] == ["awx-1", "awx-2"]


def test_a_bad_record_is_set_aside_with_a_warning_naming_index_host_and_field(tmp_path):
    """One bad record used to fail the task and lose every other host's record."""
    result = run(records=[record("laptop-1"), record("laptop-2", status="done")], report_dir=str(tmp_path),
                 run_id="awx-4711")
    assert not result.get("failed") and result["changed"] is False
    assert sorted(os.listdir(tmp_path / "runs" / "awx-4711")) == ["laptop-1.json"]
    assert [entry["path"] for entry in result["summary"]["rejected"]] == ["records[1]"]
    assert len(result["warnings"]) == 1
    assert re.match(r"fleet_report set aside records\[1\]: records\[1\] \(laptop-2\)\.status: must be one of",
                    result["warnings"][0])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rejected"] == result["summary"]["rejected"]


@pytest.mark.parametrize("args, message", [
    ({}, "missing required arguments: report_dir"),
    ({"report_dir": "x", "mode": "repair"}, "value of mode must be one of"),
    ({"report_dir": "x", "colour": "red"}, "Unsupported parameters"),
    ({"report_dir": "x", "run_id": "a/b"}, "fleet_report: run_id: must be 1 to 128 letters"),
])
def test_bad_options_fail_clearly(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AnsibleActionFail) as caught:
        run(**args)
    assert message in str(caught.value)


def test_a_bare_string_for_records_is_set_aside(tmp_path):
    # A bare string becomes a one-element list, then is refused as a record that is not a dict.
    result = run(report_dir=str(tmp_path), records="laptop-1")
    assert result["summary"]["rejected"] == [{"path": "records[0]",
                                              "reason": "records[0]: must be a dict (one host's record), got str"}]


def test_relative_report_dir_is_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(records=[record("laptop-1", run_id=None)], report_dir="iphttps-report")
    assert result["summary"]["report_dir"] == str(tmp_path / "iphttps-report")
    assert (tmp_path / "iphttps-report" / "report.html").is_file()


def test_runs_on_the_controller_only():
    assert fleet_report.ActionModule._requires_connection is False
    assert fleet_report.ActionModule._supports_check_mode is True
