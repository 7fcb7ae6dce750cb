# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft's three steps end to end: remediate fixes a client by import, gpo_sync makes the GPO carry the CA,
a policy refresh gives the client its policy copy, and a rollback of the import leaves that copy and the client
working. A client whose tunnel is broken never gets the policy: the very case this collection exists for.
Tests run in file order on one lab (tests/lab/domains/directaccess.yml)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import GPO_LAB_OPTIONS, UNLINKED_GPO, lab_ca

LAB_FLEET = Path(__file__).resolve().parent / "fleet_gpo_loop.yml"
LAB_UP_OPTIONS = GPO_LAB_OPTIONS


@pytest.fixture(scope="module")
def ca(lab):
    certs, variables = lab_ca(lab)
    return {name: thumb for name, (_der, thumb) in certs.items()}, variables


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("gpo-loop-files")


def gpo_sync(lab, variables, report_file, *extra, **extra_vars):
    run = lab.playbook("directaccess.iphttps.gpo_sync", "-i", str(lab.directory / "gpo_inventory.yml"), *extra,
                       extra_vars=dict(variables, iphttps_gpo_report_file=str(report_file), **extra_vars))
    assert run.rc == 0, run.stdout
    return json.loads(report_file.read_text())


def remediate(lab, host: str, variables: dict, report_dir: Path, gpo_report: Path) -> dict:
    """remediate one host with gpo_sync's report named; its record."""
    run = lab.playbook("directaccess.iphttps.remediate", limit=host, extra_vars=dict(
        variables, iphttps_report_dir=str(report_dir), iphttps_reconnect_timeout=20,
        iphttps_gpo_report_file=str(gpo_report)))
    assert run.rc == 0, run.stdout
    return records(report_dir)[host]


def records(report_dir: Path) -> dict:
    return {r["host"]: r for r in json.loads((report_dir / "report.json").read_text())["records"]}


def test_remediate_fixes_by_import_and_says_the_gpo_does_not_carry_the_ca(lab, ca, files):
    thumbs, variables = ca
    # The plan only: the GPO carries nothing yet, and gpo_sync --check says so without writing.
    plan = gpo_sync(lab, variables, files / "gpo-plan.json", "--check")
    assert plan["carries"] == []
    fixed, broken = lab.hosts()
    record = remediate(lab, fixed, variables, files / "remediate", files / "gpo-plan.json")
    assert record["status"] == "fixed" and record["gpo_carries"] is False, record
    assert "does NOT carry" in record["reason"] and "run gpo_sync" in record["reason"]
    assert thumbs["root"] in lab.state(fixed)["root_store"]
    assert lab.state(broken)["iphttps_state"]["last_error_code"] == 0x800B0109


def test_a_gpo_linked_nowhere_reaches_no_client(lab, ca, files):
    _thumbs, variables = ca
    report = gpo_sync(lab, variables, files / "gpo-unlinked.json", iphttps_gpo_guid=UNLINKED_GPO)
    assert report["written"] and report["reach"]["linked"] is False
    fixed, broken = lab.hosts()
    assert lab.refresh_policy() == {fixed: "unchanged", broken: "cannot reach the domain"}
    assert lab.state(fixed)["group_policy_store"] == {"Root": {}, "CA": {}}


def test_after_gpo_sync_a_refresh_gives_the_working_client_its_policy_copy_and_not_the_broken_one(lab, ca, files):
    thumbs, variables = ca
    report = gpo_sync(lab, variables, files / "gpo.json")
    assert sorted(c["thumbprint"] for c in report["carries"]) == sorted(thumbs.values())
    fixed, broken = lab.hosts()
    # The broken client's tunnel is down (0x800B0109): no domain controller, no policy. It needs the import.
    assert lab.refresh_policy() == {fixed: "changed", broken: "cannot reach the domain"}
    held = lab.state(fixed)
    assert set(held["group_policy_store"]["Root"]) == {thumbs["root"]}
    assert set(held["group_policy_store"]["CA"]) == {thumbs["issuing"]}
    assert thumbs["root"] in held["root_store"]  # both copies now: the import's and the policy's
    assert "group_policy_store" not in lab.state(broken) or lab.state(broken)["group_policy_store"]["Root"] == {}
    # diagnose names the policy copy of the chain's root, and a remediate of the broken client now says the
    # GPO carries what it was given.
    lab.playbook("directaccess.iphttps.diagnose", limit=fixed,
                 extra_vars={"iphttps_report_dir": str(files / "diagnose")})
    seen = records(files / "diagnose")[fixed]
    assert seen["status"] == "healthy"
    assert thumbs["root"] in [c["thumbprint"] for c in seen["policy_copies"]]
    second = remediate(lab, broken, variables, files / "remediate-2", files / "gpo.json")
    assert second["status"] == "fixed" and second["gpo_carries"] is True, second


def test_rollback_of_the_import_leaves_the_policy_copy_and_the_client_stays_at_zero(lab, ca, files):
    thumbs, variables = ca
    fixed, _broken = lab.hosts()
    remediate = files / "remediate"
    [run_dir] = [p for p in (remediate / "runs").iterdir() if p.is_dir()]
    check = lab.playbook("directaccess.iphttps.rollback", "--check", limit=fixed, extra_vars={
        "iphttps_report_dir": str(remediate), "iphttps_rollback_run": run_dir.name, "iphttps_reconnect_timeout": 20})
    assert check.rc == 0, check.stdout
    assert thumbs["root"] in lab.state(fixed)["root_store"]  # --check touched nothing
    run = lab.playbook("directaccess.iphttps.rollback", limit=fixed, extra_vars={
        "iphttps_report_dir": str(remediate), "iphttps_rollback_run": run_dir.name, "iphttps_reconnect_timeout": 20})
    assert run.rc == 0, run.stdout
    record = records(remediate)[fixed]
    assert record["status"] == "removed", record
    assert "only the copy this run imported was removed" in record["reason"] and "GroupPolicy" in record["reason"]
    assert thumbs["root"] in [c["thumbprint"] for c in record["policy_copies"]]
    state = lab.state(fixed)
    assert thumbs["root"] not in state["root_store"] and thumbs["root"] in state["group_policy_store"]["Root"]
    # The policy's copy keeps the chain trusted.
    lab.playbook("directaccess.iphttps.diagnose", limit=fixed,
                 extra_vars={"iphttps_report_dir": str(files / "diagnose-after")})
    after = records(files / "diagnose-after")[fixed]
    assert after["status"] == "healthy" and after["error_before"]["code"] == 0, after
