# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpo_sync with iphttps_gpo_publish_enterprise: the vetted root is published into Active Directory as RootCA and
the issuing CA as SubCA (certutil -dspublish), --check only plans, a second run changes nothing, a policy refresh
gives every client that reaches the domain its .Enterprise copies (whatever GPO carries them: here the GPO written
is linked nowhere), and a rollback of the import leaves that copy. Tests run in file order on one lab
(tests/lab/domains/directaccess.yml, tests/e2e/fleet_gpo_loop.yml)."""
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
    # The GPO linked nowhere: whatever reaches the client comes from Active Directory.
    variables.update(iphttps_gpo_guid=UNLINKED_GPO, iphttps_gpo_publish_enterprise=True)
    return {name: thumb for name, (_der, thumb) in certs.items()}, variables


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("gpo-enterprise-files")


def directory(lab) -> dict:
    return json.loads((lab.directory / "state" / "domain.json").read_text()).get("enterprise")


def gpo_sync(lab, variables, report_file, *extra):
    run = lab.playbook("directaccess.iphttps.gpo_sync", "-i", str(lab.directory / "gpo_inventory.yml"), *extra,
                       extra_vars=dict(variables, iphttps_gpo_report_file=str(report_file)))
    assert run.rc == 0, run.stdout
    return json.loads(report_file.read_text()), run


def records(report_dir: Path) -> dict:
    return {r["host"]: r for r in json.loads((report_dir / "report.json").read_text())["records"]}


def test_check_plans_the_publishing_and_publishes_nothing(lab, ca, files):
    thumbs, variables = ca
    report, run = gpo_sync(lab, variables, files / "plan.json", "--check", "--diff")
    assert report["checked"] is True and report["changed"] is True
    enterprise = report["enterprise"]
    assert enterprise["configuration_nc"] == "CN=Configuration,DC=lab,DC=example"
    assert enterprise["held_before"] == {"RootCA": [], "SubCA": []} and enterprise["held"] == enterprise["held_before"]
    published = [(p["container"], p["thumbprint"]) for p in enterprise["published"]]
    assert published == [("RootCA", thumbs["root"]), ("SubCA", thumbs["issuing"])]
    assert directory(lab) == {"RootCA": {}, "SubCA": {}}
    assert "would publish" in run.stdout


def test_publish_writes_both_containers_and_a_second_run_changes_nothing(lab, ca, files):
    thumbs, variables = ca
    report, run = gpo_sync(lab, variables, files / "publish.json")
    assert report["changed"] is True
    assert [(p["container"], p["thumbprint"]) for p in report["enterprise"]["published"]] == [
        ("RootCA", thumbs["root"]), ("SubCA", thumbs["issuing"])]
    assert [e["thumbprint"] for e in report["enterprise"]["held"]["RootCA"]] == [thumbs["root"]]
    held = directory(lab)
    assert set(held["RootCA"]) == {thumbs["root"]} and set(held["SubCA"]) == {thumbs["issuing"]}
    assert "published: " in run.stdout
    again, _run = gpo_sync(lab, variables, files / "again.json")
    assert again["changed"] is False and again["enterprise"]["published"] == []
    assert len(again["enterprise"]["already_published"]) == 2 and again["written"] == []
    assert directory(lab) == held


def test_a_refresh_gives_a_working_client_its_enterprise_copies_and_rollback_leaves_them(lab, ca, files):
    thumbs, variables = ca
    fixed, broken = lab.hosts()
    # Fix one client by import first: only a client that reaches the domain gets anything at a refresh.
    run = lab.playbook("directaccess.iphttps.remediate", limit=fixed, extra_vars=dict(
        variables, iphttps_report_dir=str(files / "remediate"), iphttps_reconnect_timeout=20))
    assert run.rc == 0, run.stdout
    assert records(files / "remediate")[fixed]["status"] == "fixed"
    assert lab.refresh_policy() == {fixed: "changed", broken: "cannot reach the domain"}
    state = lab.state(fixed)
    assert set(state["enterprise_store"]["Root"]) == {thumbs["root"]}
    assert set(state["enterprise_store"]["CA"]) == {thumbs["issuing"]}
    assert state["group_policy_store"] == {"Root": {}, "CA": {}}  # the GPO written is linked nowhere
    assert lab.state(broken)["enterprise_store"] == {"Root": {}, "CA": {}}
    # Rollback of the import: only the imported .Default copies go; the directory's copies keep the client working.
    remediate = files / "remediate"
    [run_dir] = [p for p in (remediate / "runs").iterdir() if p.is_dir()]
    run = lab.playbook("directaccess.iphttps.rollback", limit=fixed, extra_vars={
        "iphttps_report_dir": str(remediate), "iphttps_rollback_run": run_dir.name, "iphttps_reconnect_timeout": 20})
    assert run.rc == 0, run.stdout
    record = records(remediate)[fixed]
    assert record["status"] == "removed", record
    assert "only the copy this run imported was removed" in record["reason"] and "Enterprise" in record["reason"]
    state = lab.state(fixed)
    assert thumbs["root"] not in state["root_store"] and thumbs["root"] in state["enterprise_store"]["Root"]
    lab.playbook("directaccess.iphttps.diagnose", limit=fixed, extra_vars={"iphttps_report_dir": str(files / "diagnose")})
    after = records(files / "diagnose")[fixed]
    assert after["status"] == "healthy" and after["error_before"]["code"] == 0, after
    assert thumbs["root"] in [c["thumbprint"] for c in after["policy_copies"]]


def test_absent_leaves_active_directory_and_says_how_to_remove_by_hand(lab, ca, files):
    thumbs, variables = ca
    before = directory(lab)
    report, run = gpo_sync(lab, dict(variables, iphttps_gpo_state="absent"), files / "absent.json")
    assert directory(lab) == before
    assert [(s["container"], s["thumbprint"]) for s in report["enterprise"]["stays_published"]] == [
        ("RootCA", thumbs["root"]), ("SubCA", thumbs["issuing"])]
    assert sum("stays published in Active Directory" in w for w in report["warnings"]) == 2
    assert "pkiview.msc" in run.stdout
