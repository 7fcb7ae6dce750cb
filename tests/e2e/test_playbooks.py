# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The four playbooks and the remediate role, run by their fully qualified names against a lab fleet.

Tests run in file order on one lab: preflight and diagnose first, then the dry run, the fix in two
slices that merge into one report, the second run, a rollback and a run in serial batches.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lab.client_state import ClientState

LAB_FLEET = Path(__file__).resolve().parent / "fleet_playbooks.yml"


def report(path: Path) -> dict:
    return json.loads((path / "report.json").read_text())


def by_host(rep: dict) -> dict:
    return {r["host"]: r for r in rep["records"]}


@pytest.fixture(scope="module")
def cas(lab):
    pki = lab.pki
    return {"iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
            "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()]}


@pytest.fixture(scope="module")
def initial_stores(lab):
    return {h: (set(lab.state(h)["root_store"]), set(lab.state(h)["ca_store"])) for h in lab.hosts()}


def stores_now(lab):
    return {h: (set(lab.state(h)["root_store"]), set(lab.state(h)["ca_store"])) for h in lab.hosts()}


def commands_during(lab, action):
    before = lab.counts()
    result = action()
    after = lab.counts()
    return result, {h: after.get(h, 0) - before.get(h, 0) for h in after}


def test_preflight_names_the_clients_a_new_chain_would_break(lab, cas, initial_stores, tmp_path):
    candidate = tmp_path / "candidate.pem"
    candidate.write_text((lab.pki / "iphttps.pem").read_text() + (lab.pki / "issuing.pem").read_text())
    out = tmp_path / "preflight"
    run = lab.playbook("directaccess.iphttps.preflight", extra_vars=dict(
        cas, iphttps_candidate_chain_file=str(candidate), iphttps_report_dir=str(out)))
    records = by_host(report(out))
    for host in lab.hosts_in("healthy") + lab.hosts_in("missing_intermediate") + lab.hosts_in("name_mismatch"):
        assert records[host]["status"] == "would_trust", records[host]
    for host in lab.hosts_in("untrusted_root"):
        assert records[host]["status"] == "would_break"
        assert [m["store"] for m in records[host]["missing"]] == ["Root"]
    assert records[lab.hosts_in("not_directaccess")[0]]["status"] == "not_directaccess"
    stopped = records[lab.hosts_in("stopped_host")[0]]
    assert stopped["status"] == "unreachable" and stopped["detail"].startswith("client_info: ")
    assert stores_now(lab) == initial_stores
    assert run.rc == 0, run.stdout  # an unreachable laptop is reported, not a failed job


def test_preflight_requires_a_chain_file(lab, tmp_path):
    run = lab.playbook("directaccess.iphttps.preflight", extra_vars={"iphttps_report_dir": str(tmp_path)})
    assert run.rc != 0
    assert "iphttps_candidate_chain_file" in run.stdout


def test_diagnose_reports_and_costs_one_command_per_host(lab, cas, initial_stores, tmp_path):
    out = tmp_path / "diagnose"
    _run, commands = commands_during(lab, lambda: lab.playbook(
        "directaccess.iphttps.diagnose", extra_vars=dict(cas, iphttps_report_dir=str(out))))
    rep = report(out)
    records = by_host(rep)
    assert rep["hosts"] == len(lab.hosts())
    for host in lab.hosts_in("healthy"):
        assert records[host]["status"] == "healthy"
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        assert (records[host]["status"], records[host]["action"]) == ("would_fix", "would_import")
    name_mismatch = records[lab.hosts_in("name_mismatch")[0]]
    assert name_mismatch["status"] == "unfixable" and "FQDN" in name_mismatch["remedy"]
    reachable = [h for h in lab.hosts() if h not in lab.hosts_in("stopped_host")]
    assert {h: commands[h] for h in reachable} == {h: 1 for h in reachable}
    assert stores_now(lab) == initial_stores
    assert (out / "report.csv").exists() and (out / "report.html").exists()


def test_remediate_check_mode_is_a_plan_that_touches_nothing(lab, cas, initial_stores, tmp_path):
    out = tmp_path / "plan"
    lab.playbook("directaccess.iphttps.remediate", extra_vars=dict(cas, iphttps_report_dir=str(out)), check=True)
    records = by_host(report(out))
    root = lab.state(lab.hosts_in("healthy")[0])["root_store"]
    for host in lab.hosts_in("untrusted_root"):
        assert records[host]["status"] == "would_fix"
        assert [(e["store"], e["thumbprint"] in root) for e in records[host]["imported"]] == [("Root", True)]
    assert [e["store"] for e in records[lab.hosts_in("missing_intermediate")[0]]["imported"]] == ["CA"]
    assert stores_now(lab) == initial_stores


@pytest.fixture(scope="module")
def remediated(lab, cas, tmp_path_factory):
    """The fix, run as two slices of one job (as AWX job slicing does) into one report folder."""
    out = tmp_path_factory.mktemp("remediate")
    hosts = sorted(lab.hosts())
    half = len(hosts) // 2
    commands = {}
    for index, part in enumerate((hosts[:half], hosts[half:])):
        _run, spent = commands_during(lab, lambda part=part, index=index: lab.playbook(
            "directaccess.iphttps.remediate", limit=",".join(part),
            extra_vars=dict(cas, iphttps_report_dir=str(out), iphttps_run_id=f"fix-slice{index}",
                            iphttps_reconnect_timeout=30)))
        commands.update({h: spent[h] for h in part if h in spent})
    return out, commands


def test_remediate_fixes_what_an_import_can_fix(lab, remediated):
    out, commands = remediated
    records = by_host(report(out))
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        record = records[host]
        assert record["status"] == "fixed", record
        assert record["error_before"]["hex"].upper().endswith(("0B0109", "0B010A"))
        assert record["error_after"]["code"] == 0
        assert lab.state(host)["iphttps_state"]["last_error_code"] == 0
        # client_info, the import with its scheduled restart, and the confirmation polls.
        assert commands[host] == 2 + 1
    for host in lab.hosts_in("healthy"):
        assert records[host]["status"] == "healthy" and commands[host] == 1
    mismatch = lab.hosts_in("name_mismatch")[0]
    assert records[mismatch]["status"] == "unfixable" and records[mismatch]["imported"] == []
    assert commands[mismatch] == 1


def test_slices_merge_into_one_report(lab, remediated):
    out, _commands = remediated
    rep = report(out)
    assert sorted(run["run_id"] for run in rep["runs"]) == ["fix-slice0", "fix-slice1"]
    assert rep["hosts"] == len(lab.hosts())
    assert sum(rep["by_status"].values()) == len(lab.hosts())
    assert rep["by_status"]["fixed"] == len(lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"))


def test_second_remediation_changes_nothing(lab, cas, remediated, tmp_path):
    fixed_stores = stores_now(lab)
    out = tmp_path / "again"
    _run, commands = commands_during(lab, lambda: lab.playbook(
        "directaccess.iphttps.remediate", extra_vars=dict(cas, iphttps_report_dir=str(out))))
    records = by_host(report(out))
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        assert records[host]["status"] == "healthy"
        assert commands[host] == 1
    assert stores_now(lab) == fixed_stores


def test_rollback_check_mode_removes_nothing_and_says_would_remove(lab, remediated, tmp_path):
    out, _commands = remediated
    before = stores_now(lab)
    run = lab.playbook("directaccess.iphttps.rollback", check=True, extra_vars={
        "iphttps_rollback_run": str(out / "runs" / "fix-slice0"), "iphttps_report_dir": str(tmp_path / "plan")})
    assert stores_now(lab) == before, run.stdout
    statuses = {r["status"] for r in report(tmp_path / "plan")["records"]}
    assert "removed" not in statuses and "would_remove" in statuses


def test_rollback_removes_exactly_what_the_run_imported(lab, remediated, initial_stores, tmp_path):
    out, _commands = remediated
    runs = [str(out / "runs" / "fix-slice0"), str(out / "runs" / "fix-slice1")]
    for run_dir in runs:
        lab.playbook("directaccess.iphttps.rollback",
                     extra_vars={"iphttps_rollback_run": run_dir, "iphttps_report_dir": str(tmp_path / "rollback")})
    assert stores_now(lab) == initial_stores
    # Each rollback run's own records: the hosts it removed from, and the hosts it left untouched.
    statuses: dict[str, list[str]] = {}
    for path in sorted((tmp_path / "rollback" / "runs").glob("*/[!.]*.json")):  # .run.json is no record
        record = json.loads(path.read_text())
        statuses.setdefault(record["host"], []).append(record["status"])
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        assert sorted(statuses[host]) == ["nothing_to_remove", "removed"], statuses[host]
    # Hosts the run imported nothing on are said to be untouched, never counted as removed.
    for host in lab.hosts_in("healthy") + lab.hosts_in("name_mismatch"):
        assert statuses[host] == ["nothing_to_remove", "nothing_to_remove"], statuses[host]


def test_rollback_needs_one_named_run(lab, tmp_path):
    run = lab.playbook("directaccess.iphttps.rollback", extra_vars={"iphttps_report_dir": str(tmp_path)})
    assert run.rc != 0
    assert "iphttps_rollback_run" in run.stdout


def test_serial_batches_are_one_run_that_rolls_back_whole(lab, cas, initial_stores, tmp_path):
    out = tmp_path / "serial"
    lab.playbook("directaccess.iphttps.remediate",
                 extra_vars=dict(cas, iphttps_report_dir=str(out), iphttps_serial=3, iphttps_reconnect_timeout=30))
    rep = report(out)
    assert rep["hosts"] == len(lab.hosts())
    # Three batches, one run: the run id is fixed once per playbook run, not per batch.
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 1 and [r["run_id"] for r in rep["runs"]] == runs
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        assert by_host(rep)[host]["status"] == "fixed"
        assert lab.state(host)["iphttps_state"]["last_error_code"] == 0
    lab.playbook("directaccess.iphttps.rollback", extra_vars={
        "iphttps_rollback_run": str(out / "runs" / runs[0]), "iphttps_report_dir": str(tmp_path / "undo"),
        "iphttps_serial": 3})
    assert stores_now(lab) == initial_stores


def test_remediate_without_ca_sources_fails_before_touching_any_host(lab, tmp_path):
    # A misspelt variable (iphttps_ca_source) leaves iphttps_ca_sources at its empty default.
    misspelt = {"iphttps_report_dir": str(tmp_path / "none"), "iphttps_ca_source": [{"path": "misspelt.pem"}]}
    run, commands = commands_during(lab, lambda: lab.playbook("directaccess.iphttps.remediate", extra_vars=misspelt))
    assert run.rc != 0 and "iphttps_ca_sources" in run.stdout
    assert sum(commands.values()) == 0


def test_host_pattern_that_matches_nothing_fails(lab, cas, tmp_path):
    run = lab.playbook("directaccess.iphttps.diagnose",
                       extra_vars=dict(cas, iphttps_hosts="no_such_group", iphttps_report_dir=str(tmp_path)))
    assert run.rc != 0 and "matches no host" in run.stdout


@pytest.mark.parametrize("bad, needle", [({"iphttps_run_id": "../x"}, "iphttps_run_id"),
                                         ({"iphttps_report_title": "a\nb"}, "iphttps_report_title")])
def test_bad_inputs_fail_before_touching_any_host(lab, cas, tmp_path, bad, needle):
    run, commands = commands_during(lab, lambda: lab.playbook(
        "directaccess.iphttps.remediate", extra_vars=dict(cas, iphttps_report_dir=str(tmp_path), **bad)))
    assert run.rc != 0 and needle in run.stdout
    assert sum(commands.values()) == 0


def test_import_without_restart_is_pending_then_converges(lab, cas, initial_stores, tmp_path):
    host = lab.hosts_in("untrusted_root")[0]
    # Earlier tests rolled this host back without a restart: let IP-HTTPS see its stores as they are now.
    ClientState(lab.directory / "state", host).restart_iphlpsvc()
    assert lab.state(host)["iphttps_state"]["last_error_code"] == 0x800B0109
    first = tmp_path / "first"
    lab.playbook("directaccess.iphttps.remediate", limit=host,
                 extra_vars=dict(cas, iphttps_report_dir=str(first), iphttps_reconnect=False))
    assert by_host(report(first))[host]["status"] == "restart_pending"
    second = tmp_path / "second"
    lab.playbook("directaccess.iphttps.remediate", limit=host,
                 extra_vars=dict(cas, iphttps_report_dir=str(second), iphttps_reconnect_timeout=30))
    record = by_host(report(second))[host]
    assert (record["status"], record["action"]) == ("fixed", "restart"), record
    assert lab.state(host)["iphttps_state"]["last_error_code"] == 0
    # Undo by run id, with the report folder relative to the working directory, as the docs write it.
    lab.playbook("directaccess.iphttps.rollback", extra_vars={
        "iphttps_rollback_report": str(first / "report.json"), "iphttps_report_dir": "undo-pending"})
    assert stores_now(lab)[host] == initial_stores[host]
