# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report core: record checks, unreachable fill-in, newest-wins merging, the files it writes.

The CSV and HTML text itself is tested in test_report_render.py.
"""
from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import random
import re

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report as fr
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _report_render as rr

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
UNTRUSTED_ROOT = {"code": 0x800B0109, "hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"}
NO_ERROR = {"code": 0, "hex": "0x0", "name": "ERROR_SUCCESS"}


def thumb(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest().upper()


ROOT = {"thumbprint": thumb("root"), "store": "Root", "subject": "CN=Contoso Root CA 2026"}
ISSUING = {"thumbprint": thumb("issuing"), "store": "CA", "subject": "CN=Contoso Issuing CA, O=Contoso"}


def at(minutes: int) -> str:
    return (NOW + datetime.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fixed(host: str, **extra) -> dict:
    record = {"host": host, "status": "fixed", "verdict": "untrusted_root", "error_before": UNTRUSTED_ROOT,
              "error_after": NO_ERROR, "missing": [ROOT], "action": "import", "imported": [ROOT, ISSUING],
              "elapsed": 14.25, "reason": "Imported 2 certificate(s); IP-HTTPS reports 0x0.", "remedy": ""}
    record.update(extra)
    return record


def healthy(host: str, **extra) -> dict:
    record = {"host": host, "status": "healthy", "verdict": "trusted", "error_before": NO_ERROR,
              "reason": "The client trusts the chain."}
    record.update(extra)
    return record


def write(report_dir, records, **kwargs):
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("mode", "remediate")
    return fr.write_fleet_report(str(report_dir), records, **kwargs)


def load(report_dir) -> dict:
    with open(os.path.join(report_dir, "report.json"), encoding="utf-8") as handle:
        return json.load(handle)


def by_host(report: dict) -> dict:
    return {record["host"]: record for record in report["records"]}


def no_space_left(src, dst):
    """Stands in for os.replace on a full disk."""
    raise OSError(28, "No space left on device")


# ------------------------------------------------------------------------------------------------ records


def test_record_defaults_are_filled_and_values_normalised():
    record = fr.validate_record(
        {"host": "laptop-1", "status": "unfixable", "recorded_at": "2026-03-01T11:30:00.5+01:30",
         "error_before": {"code": -2146762487, "name": "CERT_E_UNTRUSTEDROOT", "remedy": "dropped",
                          "category": "trust"},
         "missing": [{"thumbprint": ROOT["thumbprint"].lower(), "store": "Root", "subject": None, "sha256": "x",
                      "in_bundle": False}, {"thumbprint": None, "store": "CA", "subject": "CN=Gone"}]},
        "records[0]", run_id="r1", mode="diagnose", now=NOW)
    assert record == {
        "host": "laptop-1", "run_id": "r1", "mode": "diagnose", "recorded_at": "2026-03-01T10:00:00.500000Z",
        "status": "unfixable", "verdict": None,
        "error_before": {"code": 0x800B0109, "hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"},
        "error_after": None,
        "missing": [{"thumbprint": ROOT["thumbprint"], "subject": None, "store": "Root"},
                    {"thumbprint": None, "subject": "CN=Gone", "store": "CA"}],
        "action": "none", "imported": [], "removed": [], "elapsed": None, "reason": "", "remedy": "",
        "filled_in": False, "attempted": [], "detail": "", "service_before": None, "service_started": False,
        "check_mode": False, "reconnected_by": None, "policy_copies": [], "gpo_carries": None,
    }
    assert list(record) == list(fr.RECORD_FIELDS)


def test_record_without_time_gets_now_and_empty_run_id_takes_the_runs():
    record = fr.validate_record({"host": "h", "status": "healthy", "run_id": ""}, "records[0]", run_id="r9",
                                mode="check", now=NOW)
    assert (record["recorded_at"], record["run_id"], record["mode"]) == ("2026-03-01T10:00:00Z", "r9", "check")


def test_error_given_only_as_hex_gets_its_code_and_a_null_code_means_no_error():
    record = fr.validate_record({"host": "h", "status": "unfixable", "error_before": {"hex": "0x800b010f"},
                                 "error_after": {"code": None, "hex": None, "name": "UNKNOWN"}},
                                "r", run_id="r1", mode="diagnose", now=NOW)
    assert record["error_before"] == {"code": 0x800B010F, "hex": "0x800B010F", "name": ""}
    assert record["error_after"] is None


BAD_RECORDS = [
    ("laptop", "must be a dict"),
    ({"status": "fixed"}, "records[2].host: must be a non-empty string"),
    ({"host": "  ", "status": "fixed"}, "records[2].host: must be a non-empty string"),
    ({"host": "a\nb", "status": "fixed"}, "records[2].host: must not contain control characters"),
    ({"host": "h", "status": "fixd"}, "records[2] (h).status: must be one of healthy, fixed, already_present"),
    ({"host": "h"}, "records[2] (h).status: must be one of"),
    ({"host": "h", "status": "fixed", "colour": "red", "size": 1}, "records[2]: unknown field(s) colour, size"),
    ({"host": "h", "status": "fixed", "mode": "repair"}, "records[2] (h).mode: must be one of diagnose, remediate"),
    ({"host": "h", "status": "fixed", "action": "reboot"}, "records[2] (h).action: must be one of none, import"),
    ({"host": "h", "status": "fixed", "recorded_at": "2026-03-01T10:00:00"},
     "records[2] (h).recorded_at: must be an ISO 8601 time with a UTC offset"),
    ({"host": "h", "status": "fixed", "recorded_at": "yesterday"}, "recorded_at: must be an ISO 8601 time"),
    ({"host": "h", "status": "fixed", "recorded_at": 1767225600}, "recorded_at: must be an ISO 8601 time"),
    ({"host": "h", "status": "fixed", "recorded_at": "2026-02-30T10:00:00Z"}, "is not a real time"),
    ({"host": "h", "status": "fixed", "recorded_at": "2026-02-01T10:00:00+25:00"}, "is not a real time"),
    # Valid local times outside UTC's range: they raised OverflowError, which nothing caught.
    ({"host": "h", "status": "fixed", "recorded_at": "9999-12-31T23:59:59-23:59"},
     "records[2] (h).recorded_at: '9999-12-31T23:59:59-23:59' is not a real time"),
    ({"host": "h", "status": "fixed", "recorded_at": "0001-01-01T00:00:00+01:00"},
     "records[2] (h).recorded_at: '0001-01-01T00:00:00+01:00' is not a real time"),
    ({"host": "h", "status": "fixed", "verdict": "Untrusted Root"}, "records[2] (h).verdict: must be null or a"),
    ({"host": "h", "status": "fixed", "verdict": 7}, "(h).verdict: must be null or a trust_check verdict"),
    ({"host": "h", "status": "fixed", "error_before": "0x800B0109"},
     "records[2] (h).error_before: must be null or a dict with code, hex and name, got str"),
    ({"host": "h", "status": "fixed", "error_after": {"code": 2 ** 32}},
     "records[2] (h).error_after.code: must be null or a 32-bit error code"),
    ({"host": "h", "status": "fixed", "error_after": {"code": True}}, "error_after.code: must be null or a 32-bit"),
    ({"host": "h", "status": "fixed", "error_after": {"code": "0"}}, "error_after.code: must be null or a 32-bit"),
    ({"host": "h", "status": "fixed", "error_after": {"hex": "800B0109"}}, "error_after.hex: must be null or a code"),
    ({"host": "h", "status": "fixed", "error_after": {"code": 0, "hex": "0x800B0109"}},
     "error_after: hex 0x800B0109 and code 0 are different errors"),
    ({"host": "h", "status": "fixed", "error_after": {"code": 0, "name": 5}}, "error_after.name: must be a string"),
    ({"host": "h", "status": "fixed", "missing": "Root"}, "records[2] (h).missing: must be a list of certificates"),
    ({"host": "h", "status": "fixed", "missing": ["AB"]}, "records[2] (h).missing[0]: must be a dict"),
    ({"host": "h", "status": "fixed", "missing": [{"thumbprint": "XYZ", "store": "Root"}]},
     "records[2] (h).missing[0].thumbprint: must be a Windows thumbprint (40 hex digits), got 'XYZ'"),
    ({"host": "h", "status": "fixed", "missing": [{"thumbprint": None, "subject": "CN=x"}]},
     "missing[0].store: must name the store"),
    ({"host": "h", "status": "fixed", "imported": [ROOT, {"thumbprint": None, "store": "CA"}]},
     "records[2] (h).imported[1].thumbprint: must be a Windows thumbprint"),
    ({"host": "h", "status": "fixed", "removed": [dict(ROOT, subject=["CN=x"])]},
     "records[2] (h).removed[0].subject: must be null or a string, got list"),
    ({"host": "h", "status": "fixed", "elapsed": -1}, "records[2] (h).elapsed: must be null or a non-negative"),
    ({"host": "h", "status": "fixed", "elapsed": True}, "elapsed: must be null or a non-negative"),
    ({"host": "h", "status": "fixed", "elapsed": float("nan")}, "elapsed: must be null or a non-negative"),
    ({"host": "h", "status": "fixed", "elapsed": "12s"}, "elapsed: must be null or a non-negative"),
    ({"host": "h", "status": "fixed", "reason": ["a"]}, "records[2] (h).reason: must be a string, got list"),
    ({"host": "h", "status": "fixed", "remedy": 3}, "records[2] (h).remedy: must be a string, got int"),
    ({"host": "h", "status": "fixed", "filled_in": "yes"}, "records[2] (h).filled_in: must be true or false"),
    ({"host": "h", "status": "in_progress", "attempted": [dict(ROOT, thumbprint="AB")]},
     "records[2] (h).attempted[0].thumbprint: must be a Windows thumbprint"),
    ({"host": "h", "status": "in_progress", "attempted": ROOT}, "records[2] (h).attempted: must be a list"),
    ({"host": "h", "status": "failed", "detail": {"exception": "x"}}, "records[2] (h).detail: must be a string"),
    ({"host": "h", "status": "service_stopped", "service_before": 4},
     "records[2] (h).service_before: must be null or the iphlpsvc state"),
    ({"host": "h", "status": "service_stopped", "service_before": "Stopped\nRunning"},
     "records[2] (h).service_before: must be null or the iphlpsvc state"),
    ({"host": "h", "status": "service_stopped", "service_before": ""}, "service_before: must be null or the"),
    ({"host": "h", "status": "fixed", "service_started": "yes"}, "records[2] (h).service_started: must be true or"),
    ({"host": "h", "status": "would_fix", "check_mode": 1}, "records[2] (h).check_mode: must be true or false"),
    ({"host": "h", "status": "fixed", "reconnected_by": "teredo"},
     "records[2] (h).reconnected_by: must be one of iphttps, connected_remotely, connected_locally"),
    ({"host": "h", "status": "fixed", "action": "reboot"},
     "must be one of none, import, would_import, remove, would_remove, restart, would_restart"),
    ({"host": "h", "status": "fixed", "run_id": "other"},
     "records[2] (h).run_id: 'other' is not this run's run_id 'r1'"),
    ({"host": "h", "status": "fixed", "run_id": "../etc"}, "records[2] (h).run_id: must be 1 to 128 letters"),
]


@pytest.mark.parametrize("raw, message", BAD_RECORDS)
def test_bad_record_is_refused_naming_index_and_field(raw, message):
    raws = [healthy("a"), healthy("b"), raw]
    with pytest.raises(fr.FleetReportError) as caught:
        fr.validate_records(raws, run_id="r1", mode="remediate", now=NOW)
    assert message in str(caught.value)
    assert str(caught.value).startswith("records[2]")


def test_one_record_per_host_and_records_must_be_a_list():
    with pytest.raises(fr.FleetReportError, match=r"records\[2\]\.host: 'a' already has a record at records\[0\]"):
        fr.validate_records([healthy("a"), healthy("b"), fixed("a")], run_id="r1", mode="remediate", now=NOW)
    with pytest.raises(fr.FleetReportError, match="records: must be a list of host records, got dict"):
        fr.validate_records({"host": "a"}, run_id="r1", mode="remediate", now=NOW)


def test_run_id_rules():
    generated = fr.new_run_id(NOW)
    assert re.fullmatch(r"run-20260301T100000Z-[0-9a-f]{6}", generated)
    assert fr.new_run_id(NOW) != generated
    assert fr.check_run_id("awx-4711_slice.2") == "awx-4711_slice.2"
    for bad in ("", "-x", "a/b", "..", "x" * 129, 5, None):
        with pytest.raises(fr.FleetReportError, match="run_id: must be 1 to 128 letters"):
            fr.check_run_id(bad)


# ------------------------------------------------------------------------------------------------ unreachable


def test_expected_hosts_without_a_record_are_unreachable():
    records = fr.validate_records([fixed("a")], run_id="r1", mode="remediate", now=NOW)
    filled = fr.fill_unreachable(records, ["a", "b", "c", "b"], run_id="r1", mode="remediate", now=NOW)
    assert [(r["host"], r["status"], r["filled_in"], r["run_id"], r["mode"]) for r in filled] == [
        ("b", "unreachable", True, "r1", "remediate"), ("c", "unreachable", True, "r1", "remediate")]
    assert "unreachable" in filled[0]["reason"] and "WinRM" in filled[0]["remedy"]
    assert filled[0]["recorded_at"] == "2026-03-01T10:00:00Z"


def test_a_bad_expected_host_is_set_aside_alone():
    """One bad name used to raise and lose every other host's record."""
    rejected = []
    filled = fr.fill_unreachable([], ["a", "", "b\x1b[2J", "c"], run_id="r1", mode="remediate", now=NOW,
                                 rejected=rejected)
    assert [r["host"] for r in filled] == ["a", "c"]
    assert rejected == [{"path": "expected_hosts[1]", "reason": "expected_hosts[1]: must be a host name, got ''"},
                        {"path": "expected_hosts[2]",
                         "reason": "expected_hosts[2]: must be a host name, got 'b\\x1b[2J'"}]
    # Without a list to report into, the bad name is still only skipped.
    assert [r["host"] for r in fr.fill_unreachable([], ["", "d"], run_id="r1", mode="remediate", now=NOW)] == ["d"]


def test_unreachable_fill_in_reaches_the_report(tmp_path):
    summary = write(tmp_path, [fixed("a")], expected_hosts=["a", "b"], run_id="r1")
    report = load(tmp_path)
    assert summary["run_records"] == 2
    assert by_host(report)["b"]["status"] == "unreachable"
    assert report["by_status"]["unreachable"] == 1 and report["by_status"]["fixed"] == 1


# ------------------------------------------------------------------------------------------------ merging


def test_newest_record_wins_then_greater_run_id():
    def rec(host, run_id, minutes, status="healthy", filled_in=False):
        return fr.validate_record({"host": host, "status": status, "run_id": run_id, "recorded_at": at(minutes),
                                   "mode": "remediate", "filled_in": filled_in}, "r")

    records = [rec("a", "r1", 0, "would_fix"), rec("a", "r2", 5, "fixed"),
               rec("b", "r2", 5, "fixed"), rec("b", "r1", 9, "healthy"),
               rec("c", "r1", 3, "fixed"), rec("c", "r2", 3, "failed"),
               # In one run, what the host said beats a fill-in, even a later one.
               rec("d", "r3", 1, "fixed"), rec("d", "r3", 8, "unreachable", filled_in=True)]
    expected = {"a": ("r2", "fixed"), "b": ("r1", "healthy"), "c": ("r2", "failed"), "d": ("r3", "fixed")}
    shuffler = random.Random(4)
    for _attempt in range(200):
        order = shuffler.sample(records, len(records))
        winners = fr.newest_per_host(order)
        assert {r["host"]: (r["run_id"], r["status"]) for r in winners} == expected
    assert [r["host"] for r in fr.newest_per_host(records)] == ["a", "b", "c", "d"]


def test_runs_in_one_folder_merge_newest_wins(tmp_path):
    write(tmp_path, [fixed("laptop-1"), dict(fixed("laptop-2"), status="fix_failed", error_after=None)],
          run_id="window-1", now=NOW)
    later = NOW + datetime.timedelta(days=7)
    summary = write(tmp_path, [healthy("laptop-2"), healthy("laptop-3")], run_id="window-2", now=later)
    report = load(tmp_path)
    hosts = by_host(report)
    assert {h: (r["run_id"], r["status"]) for h, r in hosts.items()} == {
        "laptop-1": ("window-1", "fixed"), "laptop-2": ("window-2", "healthy"), "laptop-3": ("window-2", "healthy")}
    no_metadata = {"mode": None, "check_mode": False, "started_at": None, "awx_job_id": None, "user": None,
                   "playbook": None, "play_hosts": None}
    assert report["runs"] == [
        {"run_id": "window-1", "modes": ["remediate"], "hosts": 2, "current": 1,
         "first_recorded_at": "2026-03-01T10:00:00Z", "last_recorded_at": "2026-03-01T10:00:00Z", **no_metadata},
        {"run_id": "window-2", "modes": ["remediate"], "hosts": 2, "current": 2,
         "first_recorded_at": "2026-03-08T10:00:00Z", "last_recorded_at": "2026-03-08T10:00:00Z", **no_metadata},
    ]
    assert summary["runs"] == report["runs"]
    assert report["generated_at"] == "2026-03-08T10:00:00Z"
    # runs/ keeps every run for audit.
    assert sorted(os.listdir(tmp_path / "runs")) == ["window-1", "window-2"]
    kept = json.loads((tmp_path / "runs" / "window-1" / "laptop-2.json").read_text())
    assert kept["status"] == "fix_failed"


def test_two_slices_of_one_job_merge_in_a_shared_folder(tmp_path):
    write(tmp_path, [fixed("h1"), healthy("h2")], expected_hosts=["h1", "h2"], run_id="awx-77")
    summary = write(tmp_path, [healthy("h3")], expected_hosts=["h3", "h4"], run_id="awx-77",
                    now=NOW + datetime.timedelta(seconds=30))
    report = load(tmp_path)
    assert [(r["host"], r["status"]) for r in report["records"]] == [
        ("h1", "fixed"), ("h2", "healthy"), ("h3", "healthy"), ("h4", "unreachable")]
    assert summary["hosts"] == 4 and report["runs"][0]["hosts"] == 4 and len(report["runs"]) == 1


@pytest.mark.parametrize("real_first", [True, False])
def test_fill_in_from_another_slice_never_replaces_a_real_record(tmp_path, real_first):
    """A slice that lists the whole job in expected_hosts must not hide the hosts another slice reached."""
    def real():
        write(tmp_path, [fixed("h2")], expected_hosts=["h2"], run_id="awx-77")

    def wide():
        write(tmp_path, [fixed("h1")], expected_hosts=["h1", "h2"], run_id="awx-77",
              now=NOW + datetime.timedelta(minutes=5))

    for step in ((real, wide) if real_first else (wide, real)):
        step()
    on_disk = json.loads((tmp_path / "runs" / "awx-77" / "h2.json").read_text())
    assert (on_disk["status"], on_disk["filled_in"]) == ("fixed", False)
    assert by_host(load(tmp_path))["h2"]["status"] == "fixed"


def test_merge_from_folders_and_report_files(tmp_path):
    slice_a, slice_b, old, target = (tmp_path / name for name in ("a", "b", "old", "target"))
    write(slice_a, [fixed("h1")], run_id="awx-10", now=NOW + datetime.timedelta(minutes=1))
    write(slice_b, [healthy("h2"), dict(fixed("h1"), status="fix_failed")], run_id="awx-11", now=NOW)
    # A report folder that only has report.json (copied out of another job), with a fill-in for h2 in run
    # awx-11 that is newer than slice b's real record for h2 in that same run: the real one must win.
    write(old, [healthy("h9")], expected_hosts=["h2"], run_id="awx-11", now=NOW + datetime.timedelta(hours=1))
    for path in (old / "runs" / "awx-11").iterdir():
        path.unlink()
    (old / "runs" / "awx-11").rmdir()
    (old / "runs").rmdir()
    report_file = tmp_path / "window1.json"
    report_file.write_text((slice_a / "report.json").read_text())

    summary = write(target, [], run_id="merge-1", merge_from=[str(slice_b), str(report_file), str(old)],
                    now=NOW + datetime.timedelta(hours=2))
    report = load(target)
    assert {h: (r["run_id"], r["status"]) for h, r in by_host(report).items()} == {
        "h1": ("awx-10", "fixed"), "h2": ("awx-11", "healthy"), "h9": ("awx-11", "healthy")}
    assert summary["run_records"] == 0
    assert not (target / "runs").exists()  # a merge-only call records no run
    assert [run["run_id"] for run in report["runs"]] == ["awx-11", "awx-10"]


def test_merge_from_one_runs_folder_takes_that_run_alone(tmp_path):
    """How a rollback gets back exactly what one remediation imported after later runs replaced it."""
    shared = tmp_path / "shared"
    write(shared, [fixed("h1"), fixed("h2")], run_id="remediate-1")
    write(shared, [healthy("h1", action="none")], run_id="diagnose-2", now=NOW + datetime.timedelta(days=1))
    assert by_host(load(shared))["h1"]["imported"] == []
    write(tmp_path / "rollback-source", [], merge_from=[str(shared / "runs" / "remediate-1")])
    report = load(tmp_path / "rollback-source")
    assert [(r["host"], r["run_id"], len(r["imported"])) for r in report["records"]] == [
        ("h1", "remediate-1", 2), ("h2", "remediate-1", 2)]


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "merge_from[0]: {p} does not exist"),
    (lambda p: p.mkdir(), "merge_from[0]: {p} is a folder without runs/ or report.json"),
    (lambda p: p.write_text("{nope"), "{p}: not valid JSON"),
    (lambda p: p.write_text('{"runs": []}'), "{p}: not a fleet report (a JSON object with a 'records' list)"),
    (lambda p: p.write_text('{"report_version": 3, "records": []}'), "{p}: report_version 3 is newer"),
    (lambda p: p.write_text('{"report_version": "2", "records": []}'), "{p}: report_version '2' is newer"),
])
def test_merge_from_errors_name_the_source(tmp_path, setup, message):
    source = tmp_path / "other"
    setup(source)
    with pytest.raises(fr.FleetReportError) as caught:
        write(tmp_path / "report", [], merge_from=[str(source)])
    assert message.format(p=source) in str(caught.value)


def test_a_bad_record_in_a_merged_report_json_is_set_aside_alone(tmp_path):
    source = tmp_path / "other.json"
    good = dict(healthy("g"), run_id="r1", recorded_at=at(0), mode="diagnose")
    source.write_text(json.dumps({"records": [dict(good, host="h", status="broken"), good]}))
    summary = write(tmp_path / "report", [], merge_from=[str(source)])
    assert [r["host"] for r in load(tmp_path / "report")["records"]] == ["g"]
    assert summary["rejected"] == [{"path": f"{source}: records[0]",
                                    "reason": f"{source}: records[0] (h).status: must be one of "
                                              f"{', '.join(fr.STATUSES)}, got 'broken'"}]


# ------------------------------------------------------------------------------------------------ outputs


def test_counts_in_json_match_the_records(tmp_path):
    records = [fixed(f"f{i}") for i in range(3)] + [healthy(f"h{i}") for i in range(4)] + [
        {"host": "n1", "status": "not_directaccess"},
        {"host": "u1", "status": "unfixable", "verdict": "name_mismatch"},
        {"host": "u2", "status": "unfixable", "verdict": "future_verdict"}]
    summary = write(tmp_path, records, expected_hosts=["x1"])
    report = load(tmp_path)
    assert report["hosts"] == summary["hosts"] == 11 == len(report["records"])
    assert list(report["by_status"]) == list(fr.STATUSES)
    for status in fr.STATUSES:
        assert report["by_status"][status] == sum(r["status"] == status for r in report["records"])
    assert report["by_status"]["fixed"] == 3 and report["by_status"]["healthy"] == 4
    assert report["by_verdict"] == {"trusted": 4, "untrusted_root": 3, "name_mismatch": 1, "future_verdict": 1,
                                    "none": 2}
    assert list(report["by_verdict"]) == ["trusted", "untrusted_root", "name_mismatch", "future_verdict", "none"]
    assert summary["by_status"] == report["by_status"] and summary["by_verdict"] == report["by_verdict"]
    assert [r["host"] for r in report["records"]] == sorted(r["host"] for r in report["records"])
    assert report["report_version"] == 2 and report["title"] == "DirectAccess IP-HTTPS fleet report"
    assert summary["report_json"] == os.path.join(str(tmp_path), "report.json")


def test_an_empty_run_still_writes_a_report(tmp_path):
    summary = write(tmp_path, [])
    assert summary["hosts"] == 0 and summary["runs"] == []
    assert load(tmp_path)["records"] == []


@pytest.mark.parametrize("records", [[], [fixed("laptop-1"), {"host": "-host", "status": "failed",
                                                              "reason": "Said \"no\",\nthen stopped"}]])
def test_report_files_hold_exactly_the_rendered_aggregate(tmp_path, records):
    """The CSV keeps its CRLF line ends and the newline inside a quoted cell on disk, byte for byte."""
    write(tmp_path, records, expected_hosts=["gone"])
    report = load(tmp_path)
    assert (tmp_path / "report.json").read_bytes() == fr.render_json(report).encode("utf-8")
    assert (tmp_path / "report.csv").read_bytes() == rr.render_csv(report).encode("utf-8")
    assert (tmp_path / "report.html").read_bytes() == rr.render_html(report).encode("utf-8")


# ------------------------------------------------------------------------------------------------ files


def test_record_file_names_cannot_leave_the_run_folder():
    assert fr.record_filename("laptop-1.corp.example.com") == "laptop-1.corp.example.com.json"
    assert fr.record_filename("<script>") == "%3Cscript%3E.json"
    for host in ("../../etc/passwd", "a/b", "..", ".", "<script>", "x" * 300, "laptop\\1"):
        name = fr.record_filename(host)
        assert "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 255, name
    assert fr.record_filename("x" * 300) != fr.record_filename("x" * 301)


def test_hosts_with_awkward_names_round_trip_through_run_files(tmp_path):
    hosts = ["../escape", "a/b", "<script>", "x" * 300, "UPPER", "upper"]
    write(tmp_path, [healthy(h) for h in hosts], run_id="r1")
    assert sorted(os.listdir(tmp_path)) == [".fleet_report.lock", "report.csv", "report.html", "report.json", "runs"]
    assert len(os.listdir(tmp_path / "runs" / "r1")) == len(hosts)
    assert sorted(r["host"] for r in load(tmp_path)["records"]) == sorted(hosts)


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")
    monkeypatch.setattr(fr.os, "replace", no_space_left)
    with pytest.raises(OSError):
        fr.write_atomic(str(target), "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]  # the temporary file is gone too


def test_failed_write_fails_the_report_naming_the_file(tmp_path, monkeypatch):
    write(tmp_path, [healthy("h")])
    before = (tmp_path / "report.json").read_text()
    monkeypatch.setattr(fr.os, "replace", no_space_left)
    with pytest.raises(fr.FleetReportError, match=r"cannot write .*h\.json: No space left on device"):
        write(tmp_path, [fixed("h")], run_id="r2")
    assert (tmp_path / "report.json").read_text() == before
    assert not [name for name in os.listdir(tmp_path / "runs" / "r2") if name.endswith(".tmp")]


def test_leftover_temporary_files_are_ignored_and_mode_follows_the_umask(tmp_path):
    write(tmp_path, [healthy("h")], run_id="r1")
    (tmp_path / "runs" / "r1" / ".h.json.123.abcd.tmp").write_text("{half")
    old = os.umask(0o027)
    try:
        write(tmp_path, [fixed("g")], run_id="r2")
    finally:
        os.umask(old)
    assert {r["host"] for r in load(tmp_path)["records"]} == {"g", "h"}
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o640


def test_report_dir_problems_are_clear(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(fr.FleetReportError, match=f"report_dir: {a_file} exists and is not a folder"):
        write(a_file, [])
    with pytest.raises(fr.FleetReportError, match="cannot create the folder .*file/sub"):
        write(a_file / "sub", [])
    with pytest.raises(fr.FleetReportError, match="title: must be a non-empty string"):
        write(tmp_path / "r", [], title=" ")
    with pytest.raises(fr.FleetReportError, match="mode: must be one of"):
        write(tmp_path / "r", [], mode="fix")


def test_a_held_lock_makes_the_second_writer_wait_then_fail_keeping_its_records(tmp_path):
    write(tmp_path, [healthy("h")])
    fd = os.open(tmp_path / ".fleet_report.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(fr.FleetReportError, match=r"another fleet_report held .* for more than 0\.3s; this "
                                                      r"run's records are kept in .*runs/r2 and the next fleet_report"):
            write(tmp_path, [fixed("g")], run_id="r2", lock_timeout=0.3)
    finally:
        os.close(fd)
    # The records were written before the lock was asked for: a rebuild with nothing new picks them up.
    assert (tmp_path / "runs" / "r2" / "g.json").is_file()
    write(tmp_path, [], run_id="r3", lock_timeout=0.3)
    assert load(tmp_path)["hosts"] == 2 and by_host(load(tmp_path))["g"]["status"] == "fixed"


# ------------------------------------------------------------------------------------------------ schema 2


def plan(host: str, **extra) -> dict:
    """A dry run's record: what remediate --check writes."""
    record = {"host": host, "status": "would_fix", "verdict": "untrusted_root", "error_before": UNTRUSTED_ROOT,
              "missing": [ROOT], "action": "would_import", "check_mode": True}
    record.update(extra)
    return record


def journal(report_dir, run_id: str, record: dict, **extra) -> str:
    """Writes a record the way the per-host action does: straight into runs/<run_id>/, no fleet_report call."""
    folder = os.path.join(str(report_dir), "runs", run_id)
    os.makedirs(folder, exist_ok=True)
    raw = dict(record, run_id=run_id, **extra)
    raw.setdefault("mode", "remediate")
    raw.setdefault("recorded_at", at(0))
    path = os.path.join(folder, fr.record_filename(raw["host"]))
    fr.write_atomic(path, fr.render_json(raw))
    return path


def test_every_new_field_round_trips_and_mode_check_is_a_plan():
    record = fr.validate_record(
        {"host": "h", "status": "in_progress", "attempted": [dict(ROOT, thumbprint=ROOT["thumbprint"].lower())],
         "detail": "System.Net.WebException: timed out", "service_before": "Stopped", "service_started": True,
         "check_mode": None, "action": "restart"}, "r", run_id="r1", mode="remediate", now=NOW)
    assert record["attempted"] == [ROOT] and record["detail"].startswith("System.Net")
    assert (record["service_before"], record["service_started"], record["check_mode"]) == ("Stopped", True, False)
    assert not fr.is_plan(record)
    dry = fr.validate_record({"host": "h", "status": "would_fix", "mode": "check"}, "r", run_id="r1", now=NOW)
    assert dry["check_mode"] is True and fr.is_plan(dry)
    preflight = fr.validate_record({"host": "h", "status": "would_trust", "mode": "preflight"}, "r", run_id="r1",
                                   now=NOW)
    assert preflight["check_mode"] is False and fr.is_plan(preflight)
    for status in ("restart_pending", "already_present", "service_stopped", "in_progress", "would_remove",
                   "nothing_to_remove"):
        assert fr.validate_record({"host": "h", "status": status}, "r", run_id="r1", mode="remediate",
                                  now=NOW)["status"] == status


def test_a_run_file_from_before_schema_2_still_loads(tmp_path):
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    old = {"host": "h", "run_id": "r1", "mode": "remediate", "recorded_at": at(0), "status": "fixed",
           "verdict": "untrusted_root", "error_before": UNTRUSTED_ROOT, "error_after": NO_ERROR, "missing": [ROOT],
           "action": "import", "imported": [ROOT], "removed": [], "elapsed": 3.0, "reason": "", "remedy": "",
           "filled_in": False}
    (folder / "h.json").write_text(json.dumps(old))
    summary = write(tmp_path, [], run_id="r2")
    record = by_host(load(tmp_path))["h"]
    assert summary["rejected"] == [] and record["status"] == "fixed"
    assert (record["attempted"], record["detail"], record["service_before"], record["check_mode"]) == \
        ([], "", None, False)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_time_outside_utcs_range_is_refused_not_an_overflow(value):
    with pytest.raises(fr.FleetReportError, match=r"recorded_at: .* is not a real time"):
        fr.parse_timestamp(value, "recorded_at")
    # The edges that do fit still parse.
    assert fr.format_timestamp(fr.parse_timestamp("9999-12-31T23:59:59Z", "t")) == "9999-12-31T23:59:59Z"
    assert fr.format_timestamp(fr.parse_timestamp("0001-01-01T00:00:00-01:00", "t")) == "0001-01-01T01:00:00Z"


# ------------------------------------------------------------------------------------------------ bad run files


BAD_RUN_FILES = [
    ("h2.json", '{"host": "h2", "run_id": "r1", "status": "hea', "not valid JSON"),  # truncated by a crash
    ("h2.json", "", "not valid JSON"),
    ("h2.json", '["h2"]', "must be a dict"),
    ("h2.json", json.dumps(dict(healthy("h2"), run_id="r1", mode="diagnose", recorded_at="9999-12-31T23:59:59-23:59")),
     "recorded_at: '9999-12-31T23:59:59-23:59' is not a real time"),
    ("h2.json", json.dumps(dict(healthy("h2"), run_id="r1", mode="diagnose", recorded_at="0001-01-01T00:00:00+01:00")),
     "is not a real time"),
    ("h2.json", json.dumps(dict(healthy("h2"), run_id="r7", mode="diagnose", recorded_at=at(0))),
     "run_id 'r7' does not match its folder 'r1'"),
    ("h2.json", json.dumps(dict(healthy("h2\x1b]0;owned\x07"), run_id="r1", mode="diagnose", recorded_at=at(0))),
     "host: must not contain control characters"),
    ("h2.json", json.dumps(dict(healthy("h2"), run_id="r1", mode="diagnose", recorded_at=at(0), colour="red")),
     "unknown field(s) colour"),
]


@pytest.mark.parametrize("name, text, reason", BAD_RUN_FILES)
def test_a_bad_run_file_is_set_aside_alone_and_the_others_count(tmp_path, name, text, reason):
    write(tmp_path, [healthy("h1"), fixed("h3")], run_id="r1")
    bad = tmp_path / "runs" / "r1" / name
    bad.write_text(text)
    summary = write(tmp_path, [fixed("h4")], run_id="r2", now=NOW + datetime.timedelta(minutes=1))
    report = load(tmp_path)
    assert sorted(by_host(report)) == ["h1", "h3", "h4"]
    assert [entry["path"] for entry in report["rejected"]] == [str(bad)]
    assert reason in report["rejected"][0]["reason"]
    assert summary["rejected"] == report["rejected"]
    assert any(str(bad) in line for line in summary["console"])
    # The file is left where it is, for whoever investigates.
    assert bad.read_text() == text


def test_run_metadata_says_who_ran_it(tmp_path):
    write(tmp_path, [fixed("h1")], run_id="awx-4711")
    meta = {"run_id": "awx-4711", "mode": "remediate", "check_mode": False, "started_at": "2026-03-01T10:59:00+01:00",
            "awx_job_id": 4711, "user": "admin", "playbook": "remediate.yml", "hosts": 3}
    (tmp_path / "runs" / "awx-4711" / ".run.json").write_text(json.dumps(meta))
    # A run opened by fleet_run whose hosts never got as far as a record.
    (tmp_path / "runs" / "awx-4712").mkdir()
    (tmp_path / "runs" / "awx-4712" / ".run.json").write_text(json.dumps(dict(
        meta, run_id="awx-4712", awx_job_id="4712", check_mode=True, started_at=at(30))))
    summary = write(tmp_path, [], run_id="rebuild", now=NOW + datetime.timedelta(hours=1))
    runs = {run["run_id"]: run for run in load(tmp_path)["runs"]}
    assert summary["rejected"] == [] and list(runs) == ["awx-4711", "awx-4712"]
    assert runs["awx-4711"] == {
        "run_id": "awx-4711", "modes": ["remediate"], "hosts": 1, "current": 1,
        "first_recorded_at": "2026-03-01T10:00:00Z", "last_recorded_at": "2026-03-01T10:00:00Z",
        "mode": "remediate", "check_mode": False, "started_at": "2026-03-01T09:59:00Z", "awx_job_id": "4711",
        "user": "admin", "playbook": "remediate.yml", "play_hosts": 3}
    assert (runs["awx-4712"]["hosts"], runs["awx-4712"]["first_recorded_at"], runs["awx-4712"]["check_mode"]) == \
        (0, None, True)


@pytest.mark.parametrize("text, reason", [
    ("{", "not valid JSON"),
    ('"remediate"', "must be a JSON object"),
    ('{"run_id": "other"}', "run_id 'other' does not match its folder 'r1'"),
    ('{"mode": "fix"}', "mode: must be one of"),
    ('{"check_mode": "no"}', "check_mode: must be true or false"),
    ('{"started_at": "9999-12-31T23:59:59-23:59"}', "is not a real time"),
    ('{"user": "a\\nb"}', "user: must be null or a line of text"),
    ('{"hosts": -1}', "hosts: must be null or the number of hosts"),
])
def test_bad_run_metadata_is_set_aside_and_the_runs_records_still_count(tmp_path, text, reason):
    write(tmp_path, [fixed("h1")], run_id="r1")
    (tmp_path / "runs" / "r1" / ".run.json").write_text(text)
    summary = write(tmp_path, [], run_id="r2")
    assert by_host(load(tmp_path))["h1"]["status"] == "fixed"
    assert [entry["path"] for entry in summary["rejected"]] == [str(tmp_path / "runs" / "r1" / ".run.json")]
    assert reason in summary["rejected"][0]["reason"]
    assert summary["runs"][0]["awx_job_id"] is None


def test_a_bad_expected_host_no_longer_loses_the_run(tmp_path):
    summary = write(tmp_path, [fixed("a")], expected_hosts=["a", "b\nc", "d"], run_id="r1")
    assert sorted(by_host(load(tmp_path))) == ["a", "d"]
    assert [entry["path"] for entry in summary["rejected"]] == ["expected_hosts[1]"]


def test_a_bad_record_passed_in_is_set_aside_alone(tmp_path):
    summary = write(tmp_path, [fixed("a"), {"host": "b\x00", "status": "fixed"}, fixed("a"), healthy("c")],
                    run_id="r1")
    assert sorted(by_host(load(tmp_path))) == ["a", "c"]
    assert [entry["path"] for entry in summary["rejected"]] == ["records[1]", "records[2]"]
    assert "records[2].host: 'a' already has a record at records[0]" in summary["rejected"][1]["reason"]
    # The strict form still raises on the first bad record.
    with pytest.raises(fr.FleetReportError, match=r"records\[1\]\.host: must not contain control characters"):
        fr.validate_records([fixed("a"), {"host": "b\x00", "status": "fixed"}], run_id="r1", mode="remediate",
                            now=NOW)


# ------------------------------------------------------------------------------------------------ merge rules


def test_a_dry_run_never_overwrites_a_fix(tmp_path):
    """Newest-wins let remediate --check, run after the fix, replace 'fixed' with its plan."""
    write(tmp_path, [fixed("h1"), fixed("h2")], run_id="fix-1")
    write(tmp_path, [plan("h1", status="healthy", action="none", missing=[])], run_id="dry-2", mode="check",
          now=NOW + datetime.timedelta(hours=1))
    write(tmp_path, [{"host": "h2", "status": "would_break", "mode": "preflight"}], run_id="pre-3",
          mode="preflight", now=NOW + datetime.timedelta(hours=2))
    hosts = by_host(load(tmp_path))
    assert {h: (r["run_id"], r["status"]) for h, r in hosts.items()} == {"h1": ("fix-1", "fixed"),
                                                                         "h2": ("fix-1", "fixed")}


def test_a_record_of_mode_check_is_a_plan_without_the_flag(tmp_path):
    write(tmp_path, [fixed("h1")], run_id="fix-1")
    journal(tmp_path, "dry-2", {"host": "h1", "status": "would_fix", "recorded_at": at(60), "mode": "check"})
    write(tmp_path, [], run_id="rebuild")
    assert by_host(load(tmp_path))["h1"]["run_id"] == "fix-1"


def test_a_host_with_only_plans_shows_its_newest_plan(tmp_path):
    write(tmp_path, [plan("h1")], run_id="dry-1", mode="check")
    write(tmp_path, [plan("h1", status="healthy", action="none")], run_id="dry-2", mode="check",
          now=NOW + datetime.timedelta(hours=1))
    record = by_host(load(tmp_path))["h1"]
    assert (record["run_id"], record["status"], record["check_mode"], record["last_change"]) == \
        ("dry-2", "healthy", True, None)


def test_check_mode_marks_every_record_of_the_call_as_a_plan(tmp_path):
    write(tmp_path, [fixed("h1")], run_id="fix-1")
    # A record built without the flag in a --check play, and a filled-in one, are plans all the same.
    summary = write(tmp_path, [healthy("h1")], expected_hosts=["h1", "h2"], run_id="dry-2", mode="remediate",
                    check_mode=True, now=NOW + datetime.timedelta(hours=1))
    on_disk = [json.loads(path.read_text()) for path in sorted((tmp_path / "runs" / "dry-2").iterdir())]
    assert [(r["host"], r["check_mode"]) for r in on_disk] == [("h1", True), ("h2", True)]
    assert by_host(load(tmp_path))["h1"]["run_id"] == "fix-1"
    assert summary["runs"][-1]["check_mode"] is True


def test_an_interrupted_import_is_an_outcome(tmp_path):
    write(tmp_path, [healthy("h1")], run_id="diag-1")
    journal(tmp_path, "fix-2", {"host": "h1", "status": "in_progress", "action": "import", "attempted": [ROOT],
                                "recorded_at": at(60)})
    summary = write(tmp_path, [], expected_hosts=["h1"], run_id="fix-2", now=NOW + datetime.timedelta(hours=2))
    record = by_host(load(tmp_path))["h1"]
    assert (record["run_id"], record["status"]) == ("fix-2", "in_progress")
    assert record["deployed_on_host"] == [dict(ROOT, run_id="fix-2")]
    assert summary["by_status"]["in_progress"] == 1 and summary["run_records"] == 1


def test_a_fix_verified_later_shows_both(tmp_path):
    write(tmp_path, [fixed("h1"), fixed("h2")], run_id="fix-1")
    write(tmp_path, [healthy("h1")], run_id="diag-2", mode="diagnose", now=NOW + datetime.timedelta(days=1))
    hosts = by_host(load(tmp_path))
    assert (hosts["h1"]["status"], hosts["h1"]["run_id"]) == ("healthy", "diag-2")
    assert hosts["h1"]["last_change"] == {"run_id": "fix-1", "status": "fixed", "recorded_at": at(0),
                                          "imported": [ROOT, ISSUING], "removed": []}
    # The winner that is itself the change carries none.
    assert hosts["h2"]["last_change"] is None
    # Computed, never stored: the journal's files hold records only.
    stored = json.loads((tmp_path / "runs" / "diag-2" / "h1.json").read_text())
    assert set(stored) == set(fr.RECORD_FIELDS)


def test_deployed_follows_imports_and_rollbacks(tmp_path):
    """After an import, then a verifying diagnose, then a rollback of the root: only the intermediate stays."""
    write(tmp_path, [fixed("h1"), fixed("h2", imported=[ROOT])], run_id="fix-1")
    report = load(tmp_path)
    assert by_host(report)["h1"]["deployed_on_host"] == [dict(ISSUING, run_id="fix-1"), dict(ROOT, run_id="fix-1")]
    assert report["deployed"] == [dict(ISSUING, hosts=1), dict(ROOT, hosts=2)]
    write(tmp_path, [healthy("h1"), healthy("h2")], run_id="diag-2", mode="diagnose",
          now=NOW + datetime.timedelta(days=1))
    assert load(tmp_path)["deployed"] == [dict(ISSUING, hosts=1), dict(ROOT, hosts=2)]
    write(tmp_path, [{"host": "h1", "status": "removed", "action": "remove", "removed": [ROOT]},
                     {"host": "h2", "status": "removed", "action": "remove", "removed": [dict(ROOT, store="root")]}],
          run_id="back-3", mode="rollback", now=NOW + datetime.timedelta(days=2))
    report = load(tmp_path)
    assert by_host(report)["h1"]["deployed_on_host"] == [dict(ISSUING, run_id="fix-1")]
    assert by_host(report)["h2"]["deployed_on_host"] == []
    assert report["deployed"] == [dict(ISSUING, hosts=1)]
    assert by_host(report)["h1"]["last_change"] is None  # the rollback is the newest change and the winner


def test_deployed_counts_what_an_import_may_have_landed(tmp_path):
    write(tmp_path, [
        {"host": "lost", "status": "already_present", "action": "import", "attempted": [ROOT]},
        {"host": "failed", "status": "fix_failed", "action": "import", "attempted": [ISSUING]},
        # A healthy host's attempted (there should be none) does not say anything landed.
        {"host": "calm", "status": "healthy", "attempted": [ROOT]},
    ], run_id="fix-1")
    # A dry run's plan never deploys.
    write(tmp_path, [plan("dry", imported=[ROOT])], run_id="dry-2", mode="check")
    hosts = by_host(load(tmp_path))
    assert hosts["lost"]["deployed_on_host"] == [dict(ROOT, run_id="fix-1")]
    assert hosts["failed"]["deployed_on_host"] == [dict(ISSUING, run_id="fix-1")]
    assert hosts["calm"]["deployed_on_host"] == hosts["dry"]["deployed_on_host"] == []


def test_a_v2_report_json_merges_back_in(tmp_path):
    """report.json carries computed fields; reading it back must not refuse them as unknown."""
    write(tmp_path / "a", [fixed("h1")], run_id="fix-1")
    write(tmp_path / "a", [healthy("h1")], run_id="diag-2", now=NOW + datetime.timedelta(days=1))
    summary = write(tmp_path / "b", [], merge_from=[str(tmp_path / "a" / "report.json")])
    assert summary["rejected"] == [] and summary["hosts"] == 1
    # The copy holds only the winners: history stays in the runs/ folders.
    assert by_host(load(tmp_path / "b"))["h1"]["last_change"] is None


# ------------------------------------------------------------------------------------------------ the journal


def test_a_record_the_journal_already_wrote_is_not_written_again(tmp_path):
    path = journal(tmp_path, "r1", fixed("h1"))
    before = os.stat(path)
    summary = write(tmp_path, [dict(fixed("h1"), run_id="r1", mode="remediate", recorded_at=at(0))], run_id="r1")
    after = os.stat(path)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    assert summary["rejected"] == [] and summary["run_records"] == 1 and summary["hosts"] == 1


def test_an_older_record_never_replaces_the_journals_newer_one(tmp_path):
    journal(tmp_path, "r1", fixed("h1"), recorded_at=at(5))
    write(tmp_path, [{"host": "h1", "status": "in_progress", "recorded_at": at(1), "attempted": [ROOT]}], run_id="r1")
    assert by_host(load(tmp_path))["h1"]["status"] == "fixed"
    # A newer one does.
    write(tmp_path, [dict(fixed("h1"), status="fix_failed", recorded_at=at(9))], run_id="r1")
    assert by_host(load(tmp_path))["h1"]["status"] == "fix_failed"


def test_a_broken_journal_file_is_replaced_by_the_hosts_valid_record(tmp_path):
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    (folder / "h1.json").write_text('{"host": "h1", "sta')
    summary = write(tmp_path, [fixed("h1")], run_id="r1")
    assert summary["rejected"] == [] and by_host(load(tmp_path))["h1"]["status"] == "fixed"


def test_a_journaled_host_is_not_filled_in_as_unreachable(tmp_path):
    journal(tmp_path, "r1", {"host": "h1", "status": "in_progress", "attempted": [ROOT]})
    summary = write(tmp_path, [], expected_hosts=["h1", "h2"], run_id="r1")
    assert sorted(os.listdir(tmp_path / "runs" / "r1")) == ["h1.json", "h2.json"]
    assert (summary["by_status"]["in_progress"], summary["by_status"]["unreachable"], summary["run_records"]) == \
        (1, 1, 2)


def test_a_fill_in_never_replaces_a_file_written_meanwhile(tmp_path, monkeypatch):
    """The fill-in is linked into place, so a record a slice wrote a moment earlier stays, with no lock taken."""
    path = str(tmp_path / "h1.json")
    assert fr.write_atomic(path, "real", replace=False) is True
    assert fr.write_atomic(path, "fill-in", replace=False) is False
    assert open(path, encoding="utf-8").read() == "real"

    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(fr.os, "link", no_links)
    assert fr.write_atomic(path, "fill-in", replace=False) is False
    assert fr.write_atomic(str(tmp_path / "h2.json"), "fill-in", replace=False) is True
    assert sorted(os.listdir(tmp_path)) == ["h1.json", "h2.json"]  # no temporary file left


# ------------------------------------------------------------------------------------------------ summary


def test_summary_adds_rejected_outcome_and_this_runs_console(tmp_path):
    write(tmp_path, [fixed("other-run-host")], run_id="r0")
    summary = write(tmp_path, [fixed("h1"), {"host": "h2", "status": "unfixable", "verdict": "name_mismatch"},
                               {"host": "h3", "status": "fix_failed"}], expected_hosts=["h4"], run_id="r1",
                    now=NOW + datetime.timedelta(minutes=1))
    assert set(summary) >= {"hosts", "by_status", "by_verdict", "runs", "run_id", "run_records", "report_dir",
                            "report_json", "report_csv", "report_html", "rejected", "outcome", "console"}
    assert summary["outcome"] == load(tmp_path)["outcome"] == (
        "2 fixed, 2 need attention (1 fix failed, 1 unreachable), 1 needs server-side work (1 unfixable).")
    console = "\n".join(summary["console"])
    assert "other-run-host" not in console  # the table is this run's
    assert "Per status: fixed 1, fix_failed 1, unfixable 1, unreachable 1" in console
    assert summary["console"][-1] == f"Report: {tmp_path / 'report.html'}"
    assert json.loads(json.dumps(summary)) == summary


def test_outcome_groups_cover_every_status_once():
    grouped = [status for _one, _several, statuses in fr.OUTCOME_GROUPS for status in statuses]
    assert sorted(grouped) == sorted(fr.STATUSES)
    assert fr.outcome_sentence({}) == "No hosts in this report."
    assert fr.outcome_sentence({"fixed": 12, "failed": 1, "unfixable": 4, "healthy": 0}) == \
        "12 fixed, 1 needs attention (1 failed), 4 need server-side work (4 unfixable)."
    assert fr.outcome_sentence({"not_directaccess": 1, "would_trust": 2}) == \
        "2 would trust the new chain, 1 not a DirectAccess client."
