# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host fleet report record: what was wrong, what was done, how it ended, what to do next."""
from __future__ import annotations

import datetime

import pytest

from ansible_collections.directaccess.iphttps.plugins.filter.iphttps_record import FilterModule
from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._host_record import (
    VERDICT_REMEDIES,
    RecordError,
    build_record,
    gpo_link,
)

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
ROOT = {"thumbprint": "AA" * 20, "subject": "CN=Corp Root", "store": "Root", "in_bundle": True}


def client(code=0x800B0109, verdict="untrusted_root", fixable=True, missing=(ROOT,), configured=True,
           reasons=("The root is not trusted.",)):
    if not configured:
        return {"iphttps": {"configured": False, "last_error_code": None, "last_error": None}, "diagnosis": None}
    return {
        "iphttps": {"configured": True, "server_url": "https://da.corp.test/IPHTTPS", "last_error_code": code,
                    "last_error": decode_error(code) if code is not None else None},
        "diagnosis": {"trusted": verdict == "trusted", "verdict": verdict, "fixable": fixable,
                      "missing": list(missing), "reasons": list(reasons)},
    }


def change(after=0, failed=False, msg="", imported=(ROOT,), check_mode=False, removed=()):
    result = {"changed": True, "imported": list(imported), "removed": list(removed), "already_present": [],
              "elapsed": 7.5, "polls": 1,
              "iphttps": {"last_error_code": after, "last_error": decode_error(after)} if after is not None else None}
    if failed:
        result.update(failed=True, msg=msg)
    if check_mode:
        result["check_mode"] = True
    elif after is not None:
        result["restart_scheduled"] = True
    return result


def record(*args, **kwargs):
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("run_id", "run-1")
    return build_record(*args, **kwargs)


def test_healthy_host_is_left_alone():
    rec = record("pc1", client(code=0, verdict="trusted", fixable=False, missing=()))
    assert rec["status"] == "healthy"
    assert rec["action"] == "none"
    assert rec["error_before"] == {"code": 0, "hex": "0x0", "name": "ERROR_SUCCESS"}
    assert rec["error_after"] == rec["error_before"]
    assert rec["recorded_at"] == "2026-11-28T12:00:00Z"
    assert rec["run_id"] == "run-1"


def test_not_directaccess():
    rec = record("pc2", client(configured=False))
    assert (rec["status"], rec["verdict"], rec["error_before"]) == ("not_directaccess", None, None)


def test_fixed_host_shows_before_and_after():
    rec = record("pc3", client(), change=change(after=0))
    assert rec["status"] == "fixed"
    assert rec["action"] == "import"
    assert rec["error_before"]["name"] == "CERT_E_UNTRUSTEDROOT"
    assert rec["error_after"]["hex"] == "0x0"
    assert rec["imported"] == [{"thumbprint": ROOT["thumbprint"], "store": "Root", "subject": "CN=Corp Root"}]
    assert rec["missing"] == [{"thumbprint": ROOT["thumbprint"], "subject": "CN=Corp Root", "store": "Root"}]
    assert rec["elapsed"] == 7.5


def test_import_that_does_not_reach_zero_is_a_failed_fix():
    rec = record("pc4", client(), change=change(after=0x800B0109))
    assert rec["status"] == "fix_failed"
    assert rec["error_after"]["name"] == "CERT_E_UNTRUSTEDROOT"


def test_failed_import_keeps_the_message():
    rec = record("pc5", client(), change=change(after=None, failed=True, msg="access denied: needs administrator"))
    assert rec["status"] == "fix_failed"
    assert "administrator" in rec["reason"]
    assert rec["remedy"] == "Run with an account that has local administrator rights on the client."
    other = record("pc5b", client(), change=change(after=None, failed=True, msg="thumbprint mismatch"))
    assert other["remedy"] == "Fix what the detail names, then run remediate again."
    assert other["detail"] == "thumbprint mismatch"


def test_check_mode_plan():
    rec = record("pc6", client(), change=change(after=None, check_mode=True), mode="check")
    assert (rec["status"], rec["action"]) == ("would_fix", "would_import")
    assert rec["imported"][0]["store"] == "Root"


def test_diagnose_mode_marks_fixable_hosts():
    rec = record("pc7", client(), mode="diagnose")
    assert (rec["status"], rec["action"]) == ("would_fix", "would_import")
    assert rec["reason"] == "The root is not trusted."


@pytest.mark.parametrize("verdict, code", [("name_mismatch", 0x800B010F), ("expired", 0x800B0101),
                                           ("wrong_usage", 0x800B0110), ("bad_signature", 0x80096004)])
def test_unfixable_verdicts_carry_their_remedy(verdict, code):
    rec = record("pc8", client(code=code, verdict=verdict, fixable=False))
    assert rec["status"] == "unfixable"
    assert rec["action"] == "none"
    assert rec["remedy"] == VERDICT_REMEDIES[verdict]


def test_no_chain_takes_the_error_codes_remedy():
    rec = record("pc9", client(code=0x274C, verdict="no_chain", fixable=False, missing=()))
    assert rec["status"] == "unfixable"
    assert rec["remedy"] == decode_error(0x274C)["remedy"]


def test_trusted_chain_with_a_network_error_is_not_healthy():
    rec = record("pc10", client(code=0x80092013, verdict="trusted", fixable=False, missing=()))
    assert rec["status"] == "unfixable"
    assert "0x80092013" in rec["reason"]
    assert rec["remedy"] == decode_error(0x80092013)["remedy"]


def test_untrusted_root_missing_from_the_bundle_is_unfixable():
    rec = record("pc11", client(fixable=False, missing=[dict(ROOT, in_bundle=False)]))
    assert rec["status"] == "unfixable"
    assert rec["remedy"] == VERDICT_REMEDIES["untrusted_root"]


def test_remediate_mode_fixable_without_import_is_reported_as_failed():
    rec = record("pc12", client(), mode="remediate")
    assert rec["status"] == "fix_failed"
    assert rec["reason"].startswith("Fixable, but no import ran.")


def test_trust_check_result_overrides_client_diagnosis():
    trust = {"trusted": False, "verdict": "missing_intermediate", "fixable": True, "reasons": ["x"],
             "missing": [{"thumbprint": "BB" * 20, "subject": "CN=Issuing", "store": "CA"}]}
    rec = record("pc13", client(), trust=trust, mode="diagnose")
    assert rec["verdict"] == "missing_intermediate"
    assert rec["missing"][0]["store"] == "CA"


def test_skipped_results_are_ignored():
    rec = record("pc14", client(code=0, verdict="trusted", fixable=False, missing=()),
                 trust={"skipped": True, "changed": False}, change={"skipped": True})
    assert rec["status"] == "healthy"


def test_preflight():
    good = record("pc15", client(code=0, verdict="trusted", fixable=False, missing=()),
                  trust={"trusted": True, "verdict": "trusted", "fixable": False, "missing": [], "reasons": []},
                  mode="preflight")
    bad = record("pc16", client(code=0, verdict="trusted", fixable=False, missing=()),
                 trust={"trusted": False, "verdict": "untrusted_root", "fixable": False, "missing": [ROOT],
                        "reasons": ["new root unknown"]}, mode="preflight")
    assert good["status"] == "would_trust"
    assert (bad["status"], bad["reason"]) == ("would_break", "new root unknown")
    assert bad["missing"][0]["thumbprint"] == ROOT["thumbprint"]


def test_rollback_records_the_removal():
    removal = change(after=None, imported=(), removed=(ROOT,))
    rec = record("pc17", {}, change=removal, mode="rollback")
    assert (rec["status"], rec["action"]) == ("removed", "remove")
    assert rec["removed"][0]["thumbprint"] == ROOT["thumbprint"]
    assert "expected to fail again" in rec["reason"]
    # A host the rollback did not touch is not counted as removed.
    nothing = record("pc18", None, change={"skipped": True}, mode="rollback")
    assert nothing["status"] == "nothing_to_remove" and nothing["removed"] == []


def test_bad_client_result_is_named():
    with pytest.raises(RecordError, match="pc19: client_info's result is needed"):
        record("pc19", {"msg": "oops"})


def test_filter_wraps_errors():
    from ansible.errors import AnsibleFilterError
    flt = FilterModule().filters()["iphttps_record"]
    assert flt(client(code=0, verdict="trusted", fixable=False, missing=()), "pc20")["status"] == "healthy"
    with pytest.raises(AnsibleFilterError, match="iphttps_record: pc21"):
        flt("not a dict", "pc21")


def test_unreachable_host_keeps_the_connection_error():
    rec = record("pc22", {"unreachable": True, "msg": "ntlm: the specified credentials were rejected by the server"})
    assert rec["status"] == "unreachable"
    assert rec["reason"] == "The host did not answer over WinRM."
    assert "credentials were rejected" in rec["detail"]
    assert (rec["verdict"], rec["error_before"], rec["action"]) == (None, None, "none")
    assert "credentials" in rec["remedy"]


def test_failed_detection_is_a_failed_record_with_the_message():
    rec = record("pc23", {"failed": True, "msg": "client_info: the PowerShell script failed (rc=1): boom"})
    assert rec["status"] == "failed"
    assert rec["detail"] == "client_info: the PowerShell script failed (rc=1): boom"
    assert "boom" not in rec["reason"]
    assert rec["remedy"]


def test_host_lost_during_the_import_is_a_failed_fix():
    lost = {"unreachable": True, "changed": False, "msg": "ca_import: gone; the host did not answer again"}
    rec = record("pc24", client(), change=lost)
    assert (rec["status"], rec["action"]) == ("fix_failed", "import")
    assert rec["detail"] == lost["msg"]
    assert "converges" in rec["remedy"]


def test_trusted_chain_with_a_trust_error_is_a_pending_restart():
    rec = record("pc25", client(code=0x800B0109, verdict="trusted", fixable=False, missing=()), mode="diagnose")
    assert (rec["status"], rec["action"]) == ("restart_pending", "would_restart")
    assert "iphlpsvc" in rec["reason"] and "unfixable" != rec["status"]


def test_import_that_found_everything_present_imports_nothing():
    found = dict(change(after=None), imported=[], already_present=[ROOT], changed=False)
    rec = record("pc26", client(), change=found)
    assert (rec["status"], rec["action"], rec["imported"]) == ("already_present", "none", [])
    assert "Imported" not in rec["reason"]


def test_lost_reply_counts_a_planned_certificate_found_present_as_imported():
    recovered = dict(change(after=0), imported=[], already_present=[ROOT], recovered=True)
    rec = record("pc27", client(), change=recovered)
    assert rec["status"] == "fixed"
    assert [e["thumbprint"] for e in rec["imported"]] == [ROOT["thumbprint"]]


def test_import_without_a_restart_is_pending_not_fixed():
    rec = record("pc28", client(), change=change(after=None))
    assert rec["status"] == "restart_pending"
    assert rec["imported"] and rec["remedy"]


def test_rollback_in_check_mode_would_remove_and_removes_nothing():
    plan = dict(change(after=None, imported=(), removed=(ROOT,)), check_mode=True)
    rec = record("pc29", {}, change=plan, mode="rollback")
    assert (rec["status"], rec["action"], rec["check_mode"]) == ("would_remove", "would_remove", True)


def test_rollback_that_finds_the_certificate_still_listed_fails():
    removal = dict(change(after=None, imported=(), removed=(ROOT,)), stores_after={"Root": [ROOT["thumbprint"]]})
    rec = record("pc30", {}, change=removal, mode="rollback")
    assert rec["status"] == "failed" and ROOT["thumbprint"] in rec["reason"]


def kept(removed_default=True, kept_by=("GroupPolicy",)):
    return {"store": "Root", "thumbprint": ROOT["thumbprint"], "kept_by": list(kept_by),
            "removed_default": removed_default}


def test_rollback_of_a_ca_group_policy_also_delivers_removes_only_the_imported_copy_and_says_so():
    # The policy's copy keeps the certificate listed: that is success, not "still listed".
    removal = dict(change(after=None, imported=(), removed=(ROOT,)), stores_after={"Root": [ROOT["thumbprint"]]},
                   kept=[kept()])
    rec = record("pc33", {}, change=removal, mode="rollback")
    assert rec["status"] == "removed", rec
    assert "only the copy this run imported was removed" in rec["reason"] and "GroupPolicy" in rec["reason"]
    assert "expected to fail again" not in rec["reason"]  # the policy copy keeps IP-HTTPS working
    assert rec["policy_copies"] == [{"thumbprint": ROOT["thumbprint"], "store": "Root", "subject": None}]
    # In check mode it says the same as a plan.
    plan = dict(removal, check_mode=True)
    planned = record("pc34", {}, change=plan, mode="rollback")
    assert planned["status"] == "would_remove" and "would be removed" in planned["reason"]


def test_rollback_where_only_the_policy_copy_is_left_removes_nothing_and_says_why():
    removal = dict(change(after=None, imported=(), removed=()), stores_after={"Root": [ROOT["thumbprint"]]},
                   kept=[kept(removed_default=False, kept_by=("GroupPolicy", "Enterprise"))])
    rec = record("pc35", {}, change=removal, mode="rollback")
    assert rec["status"] == "nothing_to_remove"
    assert "this run's copy was not there" in rec["reason"] and "GroupPolicy and Enterprise" in rec["reason"]
    # Each holder's own way to remove it for good.
    assert "gpo_sync with absent" in rec["reason"] and "unpublish it from AD by hand" in rec["reason"]
    only_policy = record("pc37", {}, change=dict(removal, kept=[kept(removed_default=False)]), mode="rollback")
    assert "gpo_sync with absent" in only_policy["reason"] and "unpublish" not in only_policy["reason"]


def test_a_client_s_policy_copies_reach_its_record():
    holder = dict(client(code=0, verdict="trusted", fixable=False, missing=()),
                  policy_copies=[{"thumbprint": ROOT["thumbprint"], "store": "Root", "subject": "CN=Corp Root",
                                  "physical": ["GroupPolicy"]}])
    rec = record("pc36", holder, mode="diagnose")
    assert rec["status"] == "healthy"
    assert rec["policy_copies"] == [{"thumbprint": ROOT["thumbprint"], "store": "Root", "subject": "CN=Corp Root"}]


def test_stopped_ip_helper_is_its_own_state():
    stopped = dict(client(), iphlpsvc={"state": "Stopped", "start_mode": "Manual"})
    rec = record("pc31", stopped, mode="diagnose")
    assert (rec["status"], rec["service_before"]) == ("service_stopped", "Stopped")
    disabled = dict(client(), iphlpsvc={"state": "Stopped", "start_mode": "Disabled"})
    assert record("pc32", disabled, mode="diagnose")["status"] == "service_stopped"


def test_fixed_host_says_how_directaccess_came_back():
    rec = record("pc3", client(), change=change(after=0))
    assert rec["reconnected_by"] == "iphttps" and "IP-HTTPS reports 0x0" in rec["reason"]
    for via, status in (("connected_remotely", "ConnectedRemotely"), ("connected_locally", "ConnectedLocally")):
        # IP-HTTPS shows no state when Teredo, 6to4 or the corporate network carries DirectAccess.
        rec = record("pc9", client(), change=dict(change(after=None), restart_scheduled=True, reconnected_by=via))
        assert (rec["status"], rec["reconnected_by"], rec["error_after"]) == ("fixed", via, None)
        assert f"DirectAccess reports {status}" in rec["reason"]


def test_no_state_and_no_directaccess_connection_is_a_failed_fix():
    rec = record("pc9", client(), change=dict(change(after=None), restart_scheduled=True))
    assert (rec["status"], rec["reconnected_by"]) == ("fix_failed", None)
    assert "last seen: no IP-HTTPS state" in rec["reason"]


def test_a_restart_that_could_not_be_launched_says_so_not_part_way():
    message = "could not schedule the iphlpsvc restart: Win32_Process.Create returned 2. Changed: Root\\AA."
    failed = dict(change(after=None, failed=True, msg=message),
                  restart_error="could not schedule the iphlpsvc restart: Win32_Process.Create returned 2")
    rec = record("pc9", client(), change=failed)
    assert rec["status"] == "fix_failed"
    assert rec["reason"] == "Imported 1 certificate(s), but the iphlpsvc restart could not be launched."
    assert rec["detail"].startswith("could not schedule")


def test_a_reconnect_that_was_not_confirmed_says_so_not_part_way():
    unconfirmed = dict(change(after=None, failed=True, msg="nothing proves that the iphlpsvc restart ran"), polls=4,
                       restart_scheduled=True)
    rec = record("pc9", client(), change=unconfirmed)
    assert rec["reason"] == ("Imported 1 certificate(s) and the iphlpsvc restart was launched, but the reconnect was "
                             "not confirmed.")
    assert rec["detail"] == "nothing proves that the iphlpsvc restart ran"


# --- whether the DirectAccess GPO carries what the host was given -----------------------------------------

def test_a_fixed_host_says_whether_the_gpo_carries_its_ca():
    fixed = record("pc40", client(), change=change(after=0))
    assert fixed["status"] == "fixed" and fixed["gpo_carries"] is None
    carried = gpo_link(fixed, [ROOT["thumbprint"].lower()])
    assert carried["gpo_carries"] is True and "The DirectAccess GPO carries it" in carried["reason"]
    lacking = gpo_link(fixed, [])
    assert lacking["gpo_carries"] is False
    assert "does NOT carry CN=Corp Root: run gpo_sync" in lacking["reason"]
    assert lacking["reason"].startswith(fixed["reason"])
    # Not known: nothing is said.
    assert gpo_link(fixed, None) == fixed


def test_the_gpo_is_not_judged_for_hosts_that_were_given_nothing():
    healthy = record("pc41", client(code=0, verdict="trusted", fixable=False, missing=()), mode="diagnose")
    unfixable = record("pc42", client(verdict="name_mismatch", fixable=False), mode="diagnose")
    for rec in (healthy, unfixable):
        assert gpo_link(rec, []) == rec
