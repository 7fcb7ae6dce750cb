# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""client_info and ca_import through real ansible-playbook runs over WinRM against the lab fleet.

Tests run in file order on one lab: detection and check mode first, then the fix, then the
second run, diff and removal. Each test states the lab state it leaves behind.
"""
from __future__ import annotations

import pytest

UNTRUSTEDROOT = 0x800B0109
CHAINING = 0x800B010A


def pem_thumbprint(lab, name: str) -> str:
    from cryptography import x509
    import hashlib
    from cryptography.hazmat.primitives.serialization import Encoding
    cert = x509.load_pem_x509_certificate((lab.pki / name).read_bytes())
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()


def stores(lab, host: str) -> tuple[set, set]:
    state = lab.state(host)
    return set(state["root_store"]), set(state["ca_store"])


@pytest.fixture(scope="module")
def detected(lab):
    before = lab.counts()
    run = lab.playbook("detect.yml")
    after = lab.counts()
    return run, {host: after.get(host, 0) - before.get(host, 0) for host in after}


def test_detection_verdicts_for_every_scenario(lab, detected):
    run, _commands = detected
    root = pem_thumbprint(lab, "root.pem")
    issuing = pem_thumbprint(lab, "issuing.pem")
    results = run.results

    for host in lab.hosts_in("healthy"):
        assert results[host]["iphttps"]["last_error_code"] == 0
        assert results[host]["diagnosis"]["verdict"] == "trusted"
        assert results[host]["diagnosis"]["missing"] == []

    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("tunnel") + lab.hosts_in("non_admin"):
        iphttps, diagnosis = results[host]["iphttps"], results[host]["diagnosis"]
        assert iphttps["last_error_code"] == UNTRUSTEDROOT
        assert iphttps["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"
        assert diagnosis["verdict"] == "untrusted_root"
        assert [(m["thumbprint"], m["store"], m["in_bundle"]) for m in diagnosis["missing"]] == [(root, "Root", True)]
        assert diagnosis["fixable"] is True

    for host in lab.hosts_in("missing_intermediate"):
        iphttps, diagnosis = results[host]["iphttps"], results[host]["diagnosis"]
        assert iphttps["last_error_code"] == CHAINING
        assert diagnosis["verdict"] == "missing_intermediate"
        assert [(m["thumbprint"], m["store"]) for m in diagnosis["missing"]] == [(issuing, "CA")]
        assert diagnosis["fixable"] is True

    for host in lab.hosts_in("not_directaccess"):
        assert results[host]["iphttps"]["configured"] is False
        assert results[host]["iphttps"]["last_error_code"] is None
        assert results[host]["diagnosis"] is None

    for host in lab.hosts_in("name_mismatch"):
        assert results[host]["iphttps"]["last_error"]["name"] == "CERT_E_CN_NO_MATCH"
        assert results[host]["diagnosis"]["verdict"] == "name_mismatch"
        assert results[host]["diagnosis"]["fixable"] is False

    for host in lab.hosts_in("expired_server_cert"):
        assert results[host]["diagnosis"]["verdict"] == "expired"
        assert results[host]["diagnosis"]["fixable"] is False

    for host in lab.hosts_in("unreachable"):
        assert results[host]["iphttps"]["last_error"]["hex"] == "0x274C"
        assert results[host]["server_chain_error"]
        assert results[host]["diagnosis"]["fixable"] is False


def test_stopped_host_is_unreachable_and_bad_credentials_are_explained(lab, detected):
    run, _commands = detected
    for host in lab.hosts_in("stopped_host"):
        assert host in run.unreachable
        assert host not in run.results
    for host in lab.hosts_in("wrong_credentials"):
        assert host in run.unreachable
        assert "credentials" in run.unreachable[host].lower() or "401" in run.unreachable[host]


def test_client_info_costs_one_command_per_host(lab, detected):
    _run, commands = detected
    reachable = [h for h in lab.hosts() if h not in lab.hosts_in("stopped_host") + lab.hosts_in("wrong_credentials")]
    assert {h: commands.get(h) for h in reachable} == {h: 1 for h in reachable}


def test_check_mode_reports_and_touches_nothing(lab):
    hosts = lab.hosts_in("untrusted_root")
    before = {h: stores(lab, h) for h in hosts}
    run = lab.playbook("fix.yml", check=True)
    root = pem_thumbprint(lab, "root.pem")
    for host in hosts:
        imported = run.results[host]["imported"]
        assert imported["changed"] is True
        assert [(e["store"], e["thumbprint"]) for e in imported["imported"]] == [("Root", root)]
        assert imported["iphttps"] is None
        assert stores(lab, host) == before[host]
        assert lab.state(host)["iphttps_state"]["last_error_code"] == UNTRUSTEDROOT


def test_fix_takes_fixable_hosts_to_zero(lab):
    fixable = (lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate") + lab.hosts_in("tunnel"))
    before = lab.counts()
    run = lab.playbook("fix.yml")
    after = lab.counts()
    for host in fixable:
        imported = run.results[host]["imported"]
        assert imported.get("failed") is not True, imported
        assert imported["changed"] is True
        assert imported["iphttps"]["last_error_code"] == 0
        assert lab.state(host)["iphttps_state"]["last_error_code"] == 0
    for host in lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate"):
        # client_info, the import with the scheduled restart, and one poll.
        assert after[host] - before.get(host, 0) == 2 + run.results[host]["imported"]["polls"]
        assert run.results[host]["imported"]["polls"] == 1
    for host in lab.hosts_in("name_mismatch") + lab.hosts_in("expired_server_cert") + lab.hosts_in("healthy"):
        assert run.results[host]["imported"].get("skipped") is True
        assert after[host] - before.get(host, 0) == 1


def test_tunnel_host_recovers_despite_the_dropped_connection(lab):
    for host in lab.hosts_in("tunnel"):
        state = lab.state(host)
        assert state["iphttps_state"]["last_error_code"] == 0
        assert state["iphlpsvc"]["restarts"] >= 1


def test_access_denied_is_explained(lab):
    run = lab.playbook("fix.yml", limit=",".join(lab.hosts_in("non_admin")))
    for host in lab.hosts_in("non_admin"):
        imported = run.results[host]["imported"]
        assert imported["failed"] is True
        assert "administrator" in imported["msg"]
        assert lab.state(host)["iphttps_state"]["last_error_code"] == UNTRUSTEDROOT


def test_second_run_changes_nothing(lab):
    fixed = lab.hosts_in("untrusted_root") + lab.hosts_in("missing_intermediate") + lab.hosts_in("tunnel")
    before = lab.counts()
    run = lab.playbook("fix.yml", limit=",".join(fixed))
    after = lab.counts()
    for host in fixed:
        assert run.results[host]["client"]["diagnosis"]["verdict"] == "trusted"
        assert run.results[host]["imported"].get("skipped") is True
        assert after[host] - before[host] == 1


def test_import_is_idempotent_by_thumbprint(lab):
    hosts = lab.hosts_in("untrusted_root")
    root = pem_thumbprint(lab, "root.pem")
    before = lab.counts()
    run = lab.playbook("certificates.yml", extra_vars={"cert_sources": [{"path": str(lab.pki / "root.pem")}],
                                                       "reconnect": True}, limit=",".join(hosts))
    after = lab.counts()
    for host in hosts:
        result = run.results[host]
        assert result["changed"] is False
        assert result["imported"] == []
        assert [(e["store"], e["thumbprint"]) for e in result["already_present"]] == [("Root", root)]
        # Nothing changed, so iphlpsvc is left alone and no poll is needed: one command.
        assert result["polls"] == 0
        assert after[host] - before[host] == 1


def test_diff_shows_thumbprints_per_store(lab):
    host = lab.hosts_in("healthy")[0]
    extra_root = str(lab.pki / "old-root.pem")
    run = lab.playbook("certificates.yml", extra_vars={"cert_sources": [{"path": extra_root}], "cert_pins": []},
                       limit=host, check=True, diff=True)
    assert run.rc == 0, run.stdout
    old_root = pem_thumbprint(lab, "old-root.pem")
    assert any(line.startswith("+") and old_root in line for line in run.stdout.splitlines()), run.stdout
    assert run.results[host]["diff"]["after"]["Root"] == sorted(run.results[host]["diff"]["before"]["Root"] + [old_root])


def test_state_absent_removes_exactly_what_was_given(lab):
    host = lab.hosts_in("healthy")[0]
    root_before, ca_before = stores(lab, host)
    issuing = pem_thumbprint(lab, "issuing.pem")
    assert issuing in ca_before
    run = lab.playbook("certificates.yml", limit=host,
                       extra_vars={"cert_sources": [{"path": str(lab.pki / "issuing.pem")}], "cert_state": "absent"})
    result = run.results[host]
    assert result["changed"] is True
    assert [(e["store"], e["thumbprint"]) for e in result["removed"]] == [("CA", issuing)]
    assert stores(lab, host) == (root_before, ca_before - {issuing})
    again = lab.playbook("certificates.yml", limit=host,
                         extra_vars={"cert_sources": [{"path": str(lab.pki / "issuing.pem")}], "cert_state": "absent"})
    assert again.results[host]["changed"] is False
