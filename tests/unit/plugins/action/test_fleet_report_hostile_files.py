# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bad file in a report folder is set aside and named; it never blocks the other records or a later rebuild."""
from __future__ import annotations

import contextlib
import json
import os
import signal

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._journal import read_run
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import FleetReportError, read_json
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._run_inputs import RunInputError, rollback_plan
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.test_fleet_report_action import record, run

OUT_OF_RANGE = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00")


@contextlib.contextmanager
def within(seconds: int):
    """Fail instead of hanging when something waits on a FIFO."""
    def expire(_signum, _frame):
        raise AssertionError(f"still waiting after {seconds}s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def hostile_run(report_dir) -> dict[str, str]:
    """A run folder with one good record and every kind of bad file; returns file name -> what the reason says."""
    folder = report_dir / "runs" / "old-run"
    folder.mkdir(parents=True)
    (folder / "good.json").write_text(json.dumps(record("good", run_id="old-run")))
    for index, stamp in enumerate(OUT_OF_RANGE):
        (folder / f"range{index}.json").write_text(json.dumps(record(f"range{index}", run_id="old-run",
                                                                     recorded_at=stamp)))
    (folder / "truncated.json").write_text(json.dumps(record("truncated", run_id="old-run"))[:70])
    os.mkfifo(folder / "fifo.json")
    os.symlink("/dev/zero", folder / "zero.json")
    (folder / "deep.json").write_text("[" * 100000 + "]" * 100000)
    (folder / "latin1.json").write_bytes(b'{"host": "caf\xe9"}')
    (folder / "folder.json").mkdir()
    os.mkfifo(folder / ".run.json")
    # A name that is not UTF-8 comes back from listdir with a lone surrogate, and JSON may carry one.
    (folder / os.fsdecode(b"bad-\xff.json")).write_text("{")
    (folder / "surrogate.json").write_text(json.dumps(record("pc\ud800", run_id="old-run", reason="\udcff")))
    return {os.fsdecode(b"bad-\xff.json"): "not valid JSON",
            "range0.json": "is not a real time", "range1.json": "is not a real time",
            "truncated.json": "not valid JSON", "fifo.json": "not a regular file", "zero.json": "not a regular file",
            "deep.json": "nested too deeply", "latin1.json": "not valid JSON", "folder.json": "not a regular file",
            ".run.json": "not a regular file"}


def test_bad_run_files_are_set_aside_and_later_rebuilds_work(tmp_path):
    expected = hostile_run(tmp_path)
    with within(20):
        first = run(records=[record("new")], report_dir=str(tmp_path), run_id="awx-4711", mode="remediate")
        again = run(records=[], report_dir=str(tmp_path), run_id="awx-4712", mode="diagnose")
    for result in (first, again):
        rejected = {os.path.basename(entry["path"]): entry["reason"] for entry in result["summary"]["rejected"]}
        assert set(rejected) == set(expected)
        for name, reason in expected.items():
            assert reason in rejected[name], (name, rejected[name])
        assert result["summary"]["hosts"] == 3  # good, new and the surrogate's host
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(r["host"] for r in report["records"]) == ["good", "new", "pc\ud800"]
    assert len(report["rejected"]) == len(expected)
    assert len(first["warnings"]) == len(expected)


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
def test_a_record_out_of_utc_range_is_set_aside_alone(tmp_path, stamp):
    result = run(records=[record("a", recorded_at=stamp), record("b")], report_dir=str(tmp_path), run_id="awx-4711",
                 mode="remediate")
    assert result["summary"]["hosts"] == 1
    [entry] = result["summary"]["rejected"]
    assert entry["path"] == "records[0]"
    assert entry["reason"].startswith(f"records[0] (a).recorded_at: {stamp!r} is not a real time")


def test_the_journal_and_a_rollback_never_wait_on_a_bad_file(tmp_path):
    expected = hostile_run(tmp_path)
    with within(20):
        records, rejected = read_run(str(tmp_path / "runs" / "old-run"))
        with pytest.raises(RunInputError, match=r"record file\(s\) cannot be read"):
            rollback_plan(str(tmp_path), "old-run", "")
    assert sorted(r["host"] for r in records) == ["good", "pc\ud800"]
    assert {os.path.basename(entry["path"]) for entry in rejected} == set(expected) - {".run.json"}


def test_rollback_by_a_hostile_report_json(tmp_path):
    (tmp_path / "copy").mkdir()
    report = tmp_path / "copy" / "report.json"
    report.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(RunInputError, match="not a readable fleet report: .*nested too deeply"):
        rollback_plan(str(tmp_path), "", str(report))
    report.write_text(json.dumps({"records": [{"host": "pc1", "deployed_on_host": [
        {"store": "My", "thumbprint": "A" * 40, "subject": None}]}]}))
    with pytest.raises(RunInputError, match=r"deployed_on_host\[0\].store: must be Root or CA"):
        rollback_plan(str(tmp_path), "", str(report))


def test_read_json_is_bounded(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"x": "A" * 200}))
    assert read_json(str(path))["x"] == "A" * 200
    with pytest.raises(FleetReportError, match=r"big.json: larger than 100 bytes"):
        read_json(str(path), limit=100)
