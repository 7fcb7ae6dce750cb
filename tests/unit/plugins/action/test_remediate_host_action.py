# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate_host: one task per host that detects, analyses, imports, reconnects, verifies and journals.

The stand-in Windows host answers client_info.ps1 from its stores and IP-HTTPS state, and ca_import.ps1 /
iphttps_state.ps1 as ca_import's own tests do (the same fake, extended).
"""
from __future__ import annotations

import json
import os
import pathlib

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.directaccess.iphttps.plugins.action import remediate_host
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._journal import imports_of_run
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import FakeWindowsHost, state
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

URL = "https://da.contoso.com:443/IPHTTPS"
UNTRUSTED_ROOT = 0x800B0109
RUN = "run-20261202T000000Z-abc123"


class FakeClient(FakeWindowsHost):
    """A DirectAccess client: client_info reads the stores the import changes."""

    def __init__(self, pki, *, code=UNTRUSTED_ROOT, configured=True, service="Running", lose_import_reply=False,
                 **kwargs):
        old_root, new_root, issuing, leaf = pki
        super().__init__(root=[old_root.thumbprint], **kwargs)
        self.pki, self.code, self.configured, self.service = pki, code, configured, service
        self.lose_import_reply = lose_import_reply
        self.journal_at_import: list = []   # what the journal held when each import arrived
        self.journal_dir = None

    def client_info(self, params):
        old_root, new_root, issuing, leaf = self.pki
        by_thumb = {c.thumbprint: c for c in (old_root, new_root, issuing)}
        return {
            "script": "client_info", "version": 2, "computer_name": "PC1", "state_source": "cmdlet",
            "iphttps_configuration": {"server_url": URL, "state": "1", "type": "0", "configuration_type": "1",
                                      "profile": "", "profile_activated": True} if self.configured else None,
            "iphttps_state": {"interface_status": "x", "last_error_code": self.code}
            if self.configured and self.service == "Running" else None,
            "da_connection_status": None,
            "server_chain": [leaf.der_base64, issuing.der_base64] if self.configured else [],
            "chain_policy_extra_store": [],
            "server_chain_error": None, "chain_status": [],
            "stores": {name: sorted(thumbs) for name, thumbs in self.stores.items()},
            "store_certificates": [{"store": name, "thumbprint": tp, "der_base64": by_thumb[tp].der_base64}
                                   for name, thumbs in self.stores.items() for tp in sorted(thumbs) if tp in by_thumb],
            "iphlpsvc": {"state": self.service, "start_mode": "Auto", "process_id": 1000},
        }

    def ca_import(self, params):
        if self.journal_dir:
            self.journal_at_import.append(_records(self.journal_dir))
        doc = super().ca_import(params)
        doc["service_status"] = self.service
        if params.get("restart_even_if_unchanged") and params["restart_iphlpsvc"] and not doc["failed"] \
                and not doc["restart_scheduled"]:
            self.launch_restart(params, doc)
        if self.lose_import_reply:
            self.lose_import_reply = False
            return ConnectionResetError("connection reset by peer")
        return doc


def _records(folder):
    runs = os.path.join(folder, "runs", RUN)
    if not os.path.isdir(runs):
        return {}
    return {path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in pathlib.Path(runs).iterdir() if not path.name.startswith(".")}


def run(host, tmp_path, check_mode=False, hostname="pc1", **args):
    host.journal_dir = str(tmp_path)
    args.setdefault("mode", "remediate")
    args.setdefault("run_id", RUN)
    args.setdefault("report_dir", str(tmp_path))
    task_vars = {"inventory_hostname": hostname}
    return run_action(remediate_host, "remediate_host", host, check_mode=check_mode, diff=True,
                      task_vars=task_vars, **args)


def bundle(*certs):
    return [{"pem": c.pem, "thumbprint": c.thumbprint} for c in certs]


def test_untrusted_root_is_fixed_in_one_task_and_journaled_before_the_import(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)])
    result = run(host, tmp_path, bundle=bundle(new_root, issuing))
    assert host.scripts_run() == ["client_info", "ca_import", "iphttps_state"]
    assert result["status"] == "fixed" and result["changed"] is True
    record = _records(tmp_path)["pc1.json"]
    assert record["status"] == "fixed" and record["error_after"]["code"] == 0
    assert [e["thumbprint"] for e in record["imported"]] == [new_root.thumbprint]
    # Before the import went out, the journal already said what it would send.
    before = host.journal_at_import[0]["pc1.json"]
    assert before["status"] == "in_progress"
    assert [e["thumbprint"] for e in before["attempted"]] == [new_root.thumbprint]


def test_lost_reply_counts_the_certificate_as_imported_by_this_run(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)], lose_import_reply=True)
    result = run(host, tmp_path, bundle=bundle(new_root, issuing))
    assert host.scripts_run()[:3] == ["client_info", "ca_import", "ca_import"]
    record = result["record"]
    assert record["status"] == "fixed"
    assert [e["thumbprint"] for e in record["imported"]] == [new_root.thumbprint]


def test_a_refused_import_attempted_nothing_so_its_rollback_spares_later_imports(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)], fail_on=new_root.thumbprint, fail_kind="access_denied")
    record = run(host, tmp_path, bundle=bundle(new_root, issuing))["record"]
    assert (record["status"], record["imported"], record["attempted"]) == ("fix_failed", [], [])
    assert host.stores["Root"] == {old_root.thumbprint}
    # The host said nothing landed: rolling this run back must not remove the root a later run imports.
    assert imports_of_run([record]) == {}


class GarbledImportReply(FakeClient):
    def ca_import(self, params):
        super().ca_import(params)  # the change is made on the host
        return 0, b'{"script":"ca_import","changed":tr', b""


def test_a_garbled_import_reply_keeps_what_was_sent_as_possibly_on_the_host(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = GarbledImportReply(rollover, polls=[state(0)])
    record = run(host, tmp_path, bundle=bundle(new_root, issuing))["record"]
    assert record["status"] == "fix_failed" and record["imported"] == []
    assert [e["thumbprint"] for e in record["attempted"]] == [new_root.thumbprint]
    assert [e["thumbprint"] for e in imports_of_run([record])["pc1"]] == [new_root.thumbprint]


def test_check_mode_is_a_plan_that_touches_nothing(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover)
    result = run(host, tmp_path, check_mode=True, bundle=bundle(new_root, issuing))
    assert result["status"] == "would_fix" and result["changed"] is False
    assert host.stores["Root"] == {old_root.thumbprint} and host.restarts == 0
    record = _records(tmp_path)["pc1.json"]
    assert (record["mode"], record["check_mode"]) == ("check", True)
    assert host.journal_at_import == [{}]  # no in_progress entry for a dry run


def test_trusted_chain_with_an_old_error_is_restarted_not_called_unfixable(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)])
    host.stores["Root"].add(new_root.thumbprint)  # imported earlier, restart never ran
    diagnose = run(host, tmp_path, mode="diagnose", bundle=bundle(new_root, issuing), run_id=RUN + "d")
    assert diagnose["status"] == "restart_pending"
    result = run(host, tmp_path, bundle=bundle(new_root, issuing))
    assert result["status"] == "fixed"
    assert result["record"]["action"] == "restart" and result["record"]["imported"] == []
    assert host.commands[-2][1]["certificates"] == [] and host.restarts == 1


def test_import_without_reconnect_is_pending_and_the_next_run_restarts(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover)
    result = run(host, tmp_path, bundle=bundle(new_root, issuing), reconnect=False)
    assert result["status"] == "restart_pending" and host.restarts == 0


def test_not_a_directaccess_client_is_read_once_and_left_alone(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, configured=False)
    result = run(host, tmp_path, bundle=bundle(new_root, issuing))
    assert result["status"] == "not_directaccess"
    assert host.scripts_run() == ["client_info"]


def test_stopped_ip_helper_is_reported_and_started_only_when_asked(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, service="Stopped")
    assert run(host, tmp_path, bundle=bundle(new_root, issuing))["status"] == "service_stopped"
    assert host.scripts_run() == ["client_info"]
    host.polls = [state(0)]
    result = run(host, tmp_path, bundle=bundle(new_root, issuing), start_service=True)
    assert result["status"] == "fixed" and result["record"]["service_started"] is True
    assert "started it" in result["record"]["reason"]


def test_unreachable_host_is_journaled_and_reported_unreachable(rollover, tmp_path):
    host = FakeClient(rollover)
    host.client_info = lambda params: ConnectionRefusedError("connection refused")
    result = run(host, tmp_path)
    assert result["unreachable"] is True and result["status"] == "unreachable"
    assert _records(tmp_path)["pc1.json"]["status"] == "unreachable"


def test_host_name_that_cannot_be_recorded_fails_before_anything_is_sent(rollover, tmp_path):
    host = FakeClient(rollover)
    with pytest.raises(AnsibleActionFail, match="control characters.*nothing was sent"):
        run(host, tmp_path, hostname="pc\n1")
    assert host.commands == []


def test_bad_run_id_fails_before_anything_is_sent(rollover, tmp_path):
    host = FakeClient(rollover)
    with pytest.raises(AnsibleActionFail, match="run_id"):
        run(host, tmp_path, run_id="../escape")
    assert host.commands == []


@pytest.mark.parametrize("delay, message", [(61, "at most 60 seconds, got 61"), (-1, "restart_delay")])
def test_restart_delay_out_of_range_fails_before_anything_is_sent(rollover, tmp_path, delay, message):
    host = FakeClient(rollover)
    with pytest.raises(AnsibleActionFail, match=message):
        run(host, tmp_path, restart_delay=delay)
    assert host.commands == []


def test_rollback_removes_without_waiting_for_zero(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover)
    host.stores["Root"].add(new_root.thumbprint)
    remove = [{"store": "Root", "thumbprint": new_root.thumbprint, "subject": "CN=Contoso Root CA"}]
    planned = run(host, tmp_path, check_mode=True, mode="rollback", remove=remove)
    assert (planned["status"], planned["changed"]) == ("would_remove", False)
    assert new_root.thumbprint in host.stores["Root"]
    result = run(host, tmp_path, mode="rollback", remove=remove)
    assert result["status"] == "removed" and "iphttps_state" not in host.scripts_run()
    assert host.stores["Root"] == {old_root.thumbprint}
    assert "expected to fail again" in result["record"]["reason"]
    again = run(host, tmp_path, mode="rollback", remove=remove)
    assert again["status"] == "nothing_to_remove"


def test_rollback_of_a_host_the_run_never_touched_does_not_contact_it(rollover, tmp_path):
    host = FakeClient(rollover)
    result = run(host, tmp_path, mode="rollback", remove=[])
    assert result["status"] == "nothing_to_remove" and host.commands == []


def test_bundle_as_pem_text_is_imported_like_ca_bundle_entries(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)])
    result = run(host, tmp_path, bundle=[new_root.pem + issuing.pem])
    assert result["status"] == "fixed"
    assert [e["thumbprint"] for e in result["record"]["imported"]] == [new_root.thumbprint]


def test_unusable_input_fails_the_host_with_a_record_and_changes_nothing(rollover, tmp_path):
    host = FakeClient(rollover)
    with pytest.raises(AnsibleActionFail, match="candidate_chain"):
        run(host, tmp_path, mode="preflight", candidate_chain="not a certificate")
    record = _records(tmp_path)["pc1.json"]
    assert record["status"] == "failed" and "candidate_chain" in record["detail"]
    assert host.scripts_run() == ["client_info"]


# --- revocation: remediate leaves the host alone ---

CDP = "http://pki.contoso.com/issuing.crl"
REVOCATION_OFFLINE, REVOKED = 0x80092013, 0x80092010


@pytest.fixture(scope="module")
def published():
    """(root, root, issuing, leaf) in FakeClient's order, the client trusting the root; the leaf names CDP."""
    root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_type="ecdsa")
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa", crl_urls=[CDP])
    return root, root, issuing, leaf


def unreachable_cdp():
    # client_info.ps1 v3's revocation section: the leaf's CDP did not answer through the WinHTTP proxy.
    return {"proxy": {"source": "winhttp", "proxy": None, "bypass": None},
            "fetches": [{"cert_index": 0, "kind": "crl", "url": CDP, "reachable": False, "status": None,
                         "size": None, "error": "The remote name could not be resolved: 'pki.contoso.com'",
                         "body_base64": None}]}


def test_trusted_chain_with_an_offline_cdp_is_left_alone_with_the_url(published, tmp_path, clock):
    host = FakeClient(published, code=REVOCATION_OFFLINE, polls=[state(0)])
    host.overrides["client_info"] = {"version": 3, "revocation": unreachable_cdp()}
    result = run(host, tmp_path, bundle=bundle(published[0], published[2]))
    # One read; no import, no restart of iphlpsvc, no waiting for 0x0.
    assert host.scripts_run() == ["client_info"] and host.restarts == 0
    assert host.commands[0][1]["revocation"] == "auto"
    record = result["record"]
    assert (result["status"], record["verdict"], record["action"]) == ("unfixable", "revocation_offline", "none")
    assert result["changed"] is False and "failed" not in result
    assert CDP in record["remedy"] and "leaves the host alone" in record["remedy"]
    assert CDP in record["reason"] and "0x80092013" in record["reason"]
    assert _records(tmp_path)["pc1.json"]["status"] == "unfixable"


def test_revoked_error_is_never_restart_pending(published, tmp_path, clock):
    # Contrast: a trusted chain with an old trust error is restarted (see above); a revocation error is not.
    host = FakeClient(published, code=REVOKED, polls=[state(0)])
    diagnose = run(host, tmp_path, mode="diagnose", run_id=RUN + "d")
    assert (diagnose["status"], diagnose["record"]["verdict"]) == ("unfixable", "revoked")
    result = run(host, tmp_path, start_service=True)
    assert result["status"] == "unfixable" and result["record"]["action"] == "none"
    assert host.scripts_run() == ["client_info", "client_info"] and host.restarts == 0


def test_fixable_root_with_a_revocation_error_is_not_imported(rollover, tmp_path, clock):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, code=REVOCATION_OFFLINE, polls=[state(0)])
    result = run(host, tmp_path, bundle=bundle(new_root, issuing))
    assert result["status"] == "unfixable" and result["record"]["verdict"] == "revocation_offline"
    assert host.scripts_run() == ["client_info"] and host.stores["Root"] == {old_root.thumbprint}
    assert "untrusted_root" in result["record"]["reason"]


# --- Constrained Language Mode ---------------------------------------------------------------------

def constrained(host):
    # client_info.ps1 v4 in ConstrainedLanguage: the state is read, the chain and the stores are not.
    host.overrides["client_info"] = {"version": 4, "language_mode": "ConstrainedLanguage", "server_chain": [],
                                     "chain_policy_extra_store": [], "chain_status": [], "stores": None,
                                     "store_certificates": []}


@pytest.mark.parametrize("args", [{}, {"start_service": True}, {"mode": "diagnose"}, {"mode": "preflight"}])
def test_constrained_language_host_is_left_alone_never_called_a_certificate_problem(rollover, tmp_path, clock, args):
    old_root, new_root, issuing, leaf = rollover
    host = FakeClient(rollover, polls=[state(0)])
    constrained(host)
    if args.get("mode") == "preflight":
        args = dict(args, candidate_chain=leaf.pem + issuing.pem)
    result = run(host, tmp_path, bundle=bundle(new_root, issuing), **args)
    record = result["record"]
    assert (result["status"], record["verdict"], record["action"]) == ("unfixable", "constrained_language", "none")
    assert host.scripts_run() == ["client_info"] and host.restarts == 0
    assert host.stores["Root"] == {old_root.thumbprint}
    assert "Constrained" in record["reason"] and "no_chain" not in record["reason"]
    assert "WDAC or AppLocker" in record["remedy"] and "about_language_modes" in record["remedy"]
    assert result["changed"] is False and "failed" not in result


# --- a TLS handshake that fails before the chain is seen -----------------------------------------------

SSPI_FAILED = ('Exception calling "AuthenticateAsClient" with "4" argument(s): '
               '"A call to SSPI failed, see inner exception."')


@pytest.mark.parametrize("args", [{}, {"start_service": True}, {"mode": "diagnose"}])
def test_handshake_failed_host_is_left_alone_with_the_codes_remedy(rollover, tmp_path, clock, args):
    old_root, new_root, issuing, _leaf = rollover
    host = FakeClient(rollover, code=0x80090326, polls=[state(0)])
    # client_info.ps1 v5 against a load balancer that demands a client certificate: no callback, no chain.
    host.overrides["client_info"] = {"version": 5, "server_chain": [], "chain_policy_extra_store": [],
                                     "chain_status": [], "server_chain_error": SSPI_FAILED,
                                     "server_chain_error_hresult": 0x80090326, "policy_errors": None}
    result = run(host, tmp_path, bundle=bundle(new_root, issuing), **args)
    record = result["record"]
    assert (result["status"], record["verdict"], record["action"]) == ("unfixable", "handshake_failed", "none")
    assert host.scripts_run() == ["client_info"] and host.restarts == 0
    assert host.stores["Root"] == {old_root.thumbprint}
    assert "0x80090326 SEC_E_ILLEGAL_MESSAGE" in record["reason"] and SSPI_FAILED in record["reason"]
    assert "device that terminates TCP 443" in record["remedy"]
    assert result["changed"] is False and "failed" not in result


def test_constrained_language_host_that_is_not_a_directaccess_client_is_just_that(rollover, tmp_path, clock):
    host = FakeClient(rollover, configured=False)
    constrained(host)
    assert run(host, tmp_path)["status"] == "not_directaccess"
