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
        "filled_in": False,
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
    ({"host": "h", "status": "fixd"}, "records[2] (h).status: must be one of healthy, fixed, would_fix"),
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


def test_expected_host_must_be_a_name():
    with pytest.raises(fr.FleetReportError, match=r"expected_hosts\[1\]: must be a host name, got ''"):
        fr.fill_unreachable([], ["a", ""], run_id="r1", mode="remediate", now=NOW)


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
    assert report["runs"] == [
        {"run_id": "window-1", "modes": ["remediate"], "hosts": 2, "current": 1,
         "first_recorded_at": "2026-03-01T10:00:00Z", "last_recorded_at": "2026-03-01T10:00:00Z"},
        {"run_id": "window-2", "modes": ["remediate"], "hosts": 2, "current": 2,
         "first_recorded_at": "2026-03-08T10:00:00Z", "last_recorded_at": "2026-03-08T10:00:00Z"},
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
    (lambda p: p.write_text('{"report_version": 2, "records": []}'), "{p}: report_version 2 is newer"),
    (lambda p: p.write_text(json.dumps({"records": [dict(healthy("h"), run_id="r1", recorded_at=at(0),
                                                         mode="check", status="broken")]})),
     "{p}: records[0] (h).status: must be one of"),
])
def test_merge_from_errors_name_the_source(tmp_path, setup, message):
    source = tmp_path / "other"
    setup(source)
    with pytest.raises(fr.FleetReportError) as caught:
        write(tmp_path / "report", [], merge_from=[str(source)])
    assert message.format(p=source) in str(caught.value)


def test_broken_run_files_are_reported_not_skipped(tmp_path):
    write(tmp_path, [healthy("h1")], run_id="r1")
    (tmp_path / "runs" / "r1" / "h2.json").write_text("{")
    with pytest.raises(fr.FleetReportError, match=r"runs/r1/h2\.json: not valid JSON"):
        write(tmp_path, [], run_id="r2")
    (tmp_path / "runs" / "r1" / "h2.json").write_text(json.dumps(dict(healthy("h2"), run_id="r7",
                                                                      recorded_at=at(0), mode="check")))
    with pytest.raises(fr.FleetReportError, match=r"h2\.json: run_id 'r7' does not match its folder 'r1'"):
        write(tmp_path, [], run_id="r2")


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
    assert report["report_version"] == 1 and report["title"] == "DirectAccess IP-HTTPS fleet report"
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


def test_a_held_lock_makes_the_second_writer_wait_then_fail(tmp_path):
    write(tmp_path, [healthy("h")])
    fd = os.open(tmp_path / ".fleet_report.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(fr.FleetReportError, match=r"another fleet_report held .* for more than 0\.3s"):
            write(tmp_path, [fixed("g")], run_id="r2", lock_timeout=0.3)
    finally:
        os.close(fd)
    write(tmp_path, [fixed("g")], run_id="r2", lock_timeout=0.3)
    assert load(tmp_path)["hosts"] == 2
