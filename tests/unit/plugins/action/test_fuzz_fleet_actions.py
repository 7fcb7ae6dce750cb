# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_report and fleet_run never crash (issue 10): whatever the task passes, and whatever the report
folder holds, the action returns its result or fails naming the option; and a later rebuild still works."""
from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleActionFail
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.action import fleet_report, fleet_run
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.test_fleet_report_action import (
    UntouchableConnection,
    record,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_fuzz_record import JSON, SPECIAL
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_fuzz_record import records

REPORT_OPTIONS = ("records", "expected_hosts", "report_dir", "run_id", "mode", "merge_from", "title",
                  "Unsupported parameters")
RUN_OPTIONS = ("iphttps_", "rollback", "mode", "report_dir", "run_id", "title", "hosts", "ca_sources",
               "candidate_chain_file", "Unsupported parameters")

JUNK = st.none() | st.integers() | st.booleans() | st.text(max_size=12) | st.lists(st.text(max_size=4), max_size=2)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder of report folders and files of every kind; the examples write only inside it."""
    base = tmp_path_factory.mktemp("fleet_fuzz")
    (base / "report" / "runs" / "old-run").mkdir(parents=True)
    (base / "report" / "runs" / "old-run" / "pc1.json").write_text(json.dumps(record("pc1", run_id="old-run")))
    (base / "random.json").write_text("")
    (base / "afile").write_text("x")
    os.mkfifo(base / "fifo")
    (base / "chain.pem").write_text(fuzz.reference_chain().leaf.pem + fuzz.reference_chain().intermediate.pem)
    return base


def paths(place):
    """Report folders, merge sources and files: inside ``place``, or ones nothing can be written to."""
    inside = ["report", "report/runs/old-run", "new-report", "random.json", "afile", "fifo", "chain.pem",
              "missing", "report/runs", ".", "report/report.json"]
    outside = ["/dev/null", "/dev/zero", "/proc/self/nothing/x", "", " ", "bad\x00name", "bad\ud800name",
               "/proc/1/mem"]
    return st.sampled_from([str(place / name) for name in inside] + outside)


def path_or_junk(place):
    """Mostly paths: a path reaches the code behind the option, junk mostly stops at the argument check."""
    return st.integers(0, 3).flatmap(lambda pick: JUNK if pick == 0 else paths(place))


def rewrite_random(place, content) -> None:
    with open(place / "random.json", "w", encoding="utf-8", errors="surrogatepass") as handle:
        handle.write(content)


def mutated(data, valid: dict, hostile: dict, focus: tuple = ()) -> dict:
    """A working set of arguments with up to three of them replaced by hostile values, or removed.

    The options in ``focus`` (those the mode reads) are picked more often, so the paths behind them are reached.
    """
    args = dict(valid)
    names = st.sampled_from(sorted(hostile)) | st.sampled_from(focus) if focus else st.sampled_from(sorted(hostile))
    for name in data.draw(st.lists(names, max_size=3, unique=True)):
        if data.draw(st.integers(0, 5)) == 0:
            args.pop(name, None)
        else:
            args[name] = data.draw(hostile[name])
    return args


@fuzz.fuzz_settings(examples=40)
@given(data=st.data(), content=st.text(max_size=40) | JSON.map(json.dumps))
def test_fleet_report_gives_a_summary_or_a_failure_naming_the_option(place, data, content, monkeypatch):
    rewrite_random(place, content)
    monkeypatch.chdir(place)  # a relative report_dir (junk becomes one) is made here, never in the checkout
    valid = {"records": [record("pc2")], "expected_hosts": ["pc2", "pc3"], "report_dir": str(place / "report"),
             "run_id": "awx-4711", "mode": "remediate", "merge_from": [], "title": "CHG0012345"}
    args = mutated(data, valid, {
        "records": st.lists(records(), max_size=3) | JUNK,
        "expected_hosts": st.lists(st.text(max_size=8) | SPECIAL, max_size=3) | JUNK,
        "report_dir": path_or_junk(place),
        "run_id": st.sampled_from(["run-1", "awx-7", "../x", "", "a" * 200]) | JUNK,
        "mode": st.sampled_from(["diagnose", "remediate", "check", "rollback", "preflight", "nope"]) | JUNK,
        "merge_from": st.lists(paths(place), max_size=2) | JUNK,
        "title": st.text(max_size=20) | JUNK,
        "unknown": st.integers(),
    })
    try:
        result = run_action(fleet_report, "fleet_report", UntouchableConnection(),
                            check_mode=data.draw(st.booleans()), **args)
    except AnsibleActionFail as exc:
        assert any(option in str(exc) for option in REPORT_OPTIONS), str(exc)
    else:
        assert result["changed"] is False and result["summary"]["hosts"] == sum(result["summary"]["by_status"].values())
    # Whatever that run left in the folder, the next plain rebuild works.
    again = run_action(fleet_report, "fleet_report", UntouchableConnection(), records=[record("pc9")],
                       report_dir=str(place / "report"), run_id="awx-4711", mode="remediate")
    assert again["summary"]["hosts"] >= 2


@fuzz.fuzz_settings(examples=60)
@given(data=st.data(), content=st.text(max_size=40) | JSON.map(json.dumps),
       mode=st.sampled_from(["diagnose", "remediate", "preflight", "rollback"]))
def test_fleet_run_opens_the_run_or_fails_naming_the_variable(place, data, content, mode, monkeypatch):
    rewrite_random(place, content)
    monkeypatch.chdir(place)
    valid = {"mode": mode, "report_dir": "report", "run_id": "", "title": "T", "hosts": ["pc1"],
             "hosts_pattern": "", "ca_sources": [{"path": "chain.pem"}] if mode == "remediate" else [],
             "candidate_chain_file": "chain.pem" if mode == "preflight" else "",
             "rollback_run": "old-run" if mode == "rollback" else "", "rollback_report": ""}
    args = mutated(data, valid, {
        "mode": st.sampled_from(["diagnose", "remediate", "preflight", "rollback", "check"]) | JUNK,
        "report_dir": path_or_junk(place),
        "run_id": st.sampled_from(["run-1", "../x", "a" * 200, "", "old-run"]) | JUNK,
        "title": st.text(max_size=20) | JUNK,
        "hosts": st.lists(st.text(max_size=8), max_size=3) | JUNK,
        "hosts_pattern": st.text(max_size=8) | JUNK,
        "ca_sources": st.lists(st.fixed_dictionaries({"path": paths(place)}) | JSON, max_size=2) | JUNK,
        "candidate_chain_file": path_or_junk(place),
        "rollback_run": st.sampled_from(["old-run", "report/runs/old-run", "missing", "../..", "/"]) | paths(place),
        "rollback_report": path_or_junk(place),
    }, focus={"remediate": ("ca_sources",), "preflight": ("candidate_chain_file",),
              "rollback": ("rollback_run", "rollback_report")}.get(mode, ("report_dir",)))
    try:
        result = run_action(fleet_run, "fleet_run", UntouchableConnection(), check_mode=data.draw(st.booleans()),
                            **args)
    except AnsibleActionFail as exc:
        assert any(option in str(exc) for option in RUN_OPTIONS), str(exc)
    else:
        assert os.path.isfile(os.path.join(result["run_dir"], ".run.json"))
        assert result["mode"] in ("diagnose", "remediate", "preflight", "rollback", "check")


@pytest.mark.parametrize("chain_file", ["/proc/1/mem", "/proc/self/mem", "/dev/zero", "fifo", "."])
def test_a_candidate_chain_that_cannot_be_read_is_named(place, monkeypatch, chain_file):
    monkeypatch.chdir(place)
    with pytest.raises(AnsibleActionFail, match=r"^fleet_run: iphttps_candidate_chain_file: "):
        run_action(fleet_run, "fleet_run", UntouchableConnection(), mode="preflight", report_dir="report",
                   candidate_chain_file=chain_file)


def test_the_properties_are_not_vacuous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report" / "runs" / "old-run").mkdir(parents=True)
    (tmp_path / "report" / "runs" / "old-run" / "pc1.json").write_text(json.dumps(record("pc1", run_id="old-run")))
    opened = run_action(fleet_run, "fleet_run", UntouchableConnection(), mode="rollback", report_dir="report",
                        rollback_run="old-run", hosts=["pc1"])
    assert list(opened["rollback"]) == ["pc1"]
    result = run_action(fleet_report, "fleet_report", UntouchableConnection(), records=[record("pc2")],
                        report_dir=str(tmp_path / "report"), run_id="awx-4711", mode="remediate")
    assert result["summary"]["hosts"] == 2
