# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_import's action plugin against a stand-in for the Windows side of the connection.

The stand-in answers as the scripts' header comments promise (ca_import.ps1, iphttps_state.ps1);
it recognises each script by the identity line in the decoded -EncodedCommand, as the lab does.
"""
from __future__ import annotations

import base64
import importlib
import pathlib
import re

import pytest
import requests
import yaml
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure

from ansible_collections.directaccess.iphttps.plugins.action import ca_import
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import FakeWindowsHost, state
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _action_args
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

UNTRUSTED_ROOT = 0x800B0109
OTHER_ROOT = "CABD2A79A1076A31F21D253635CB039D4329A5E8"


@pytest.fixture(scope="module")
def corp():
    root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_type="ecdsa")
    return root, issuing


def run(host, check_mode=False, **args):
    return run_action(ca_import, "ca_import", host, check_mode=check_mode, diff=True, **args)


def test_imports_roots_first_with_subjects_and_diff(corp):
    root, issuing = corp
    host = FakeWindowsHost(root=[OTHER_ROOT])
    result = run(host, certificates=[issuing.pem, root.pem])

    assert host.scripts_run() == ["ca_import"]
    params = host.commands[0][1]
    assert re.fullmatch(r"[0-9a-f]{16}", params.pop("restart_token"))  # a fresh token per task
    assert params == {
        "state": "present", "check_mode": False, "restart_iphlpsvc": False, "restart_even_if_unchanged": False,
        "restart_delay_seconds": 5, "restart_method": "auto",
        "certificates": [
            {"store": "Root", "thumbprint": root.thumbprint, "der_base64": base64.b64encode(root.der).decode()},
            {"store": "CA", "thumbprint": issuing.thumbprint, "der_base64": base64.b64encode(issuing.der).decode()},
        ],
    }
    assert result["changed"] is True
    assert not result.get("failed")
    assert result["imported"] == [
        {"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject},
        {"store": "CA", "thumbprint": issuing.thumbprint, "subject": issuing.subject},
    ]
    assert result["removed"] == [] and result["already_present"] == []
    assert result["diff"] == {
        "before": {"Root": [OTHER_ROOT], "CA": []},
        "after": {"Root": sorted([OTHER_ROOT, root.thumbprint]), "CA": [issuing.thumbprint]},
    }
    assert (result["iphttps"], result["polls"]) == (None, 0)
    assert isinstance(result["elapsed"], float)
    assert host.stores == {"Root": {OTHER_ROOT, root.thumbprint}, "CA": {issuing.thumbprint}}


def test_second_run_changes_nothing_and_does_not_restart(corp, clock):
    root, issuing = corp
    host = FakeWindowsHost(polls=[state(0)])
    first = run(host, certificates=[root.pem, issuing.pem], reconnect=True)
    assert first["changed"] is True and first["polls"] == 1
    assert host.scripts_run() == ["ca_import", "iphttps_state"]

    host.commands.clear()
    second = run(host, certificates=[root.pem, issuing.pem], reconnect=True)
    assert host.scripts_run() == ["ca_import"]  # one command: no restart, no polling
    assert second["changed"] is False
    assert host.restarts == 1
    assert [e["thumbprint"] for e in second["already_present"]] == [root.thumbprint, issuing.thumbprint]
    assert second["imported"] == []
    assert (second["iphttps"], second["polls"]) == (None, 0)
    assert second["diff"]["before"] == second["diff"]["after"]


def test_check_mode_reports_without_touching_or_restarting(corp, clock):
    root, issuing = corp
    host = FakeWindowsHost(root=[OTHER_ROOT])
    result = run(host, check_mode=True, certificates=[root.pem, issuing.pem], reconnect=True)

    assert host.scripts_run() == ["ca_import"]
    params = host.commands[0][1]
    assert params["check_mode"] is True
    assert params["restart_iphlpsvc"] is False
    assert host.stores == {"Root": {OTHER_ROOT}, "CA": set()}
    assert host.restarts == 0
    assert result["changed"] is True
    assert [e["thumbprint"] for e in result["imported"]] == [root.thumbprint, issuing.thumbprint]
    # The host's stores_after equals stores_before in check mode; the diff shows the would-be state.
    assert result["diff"] == {
        "before": {"Root": [OTHER_ROOT], "CA": []},
        "after": {"Root": sorted([OTHER_ROOT, root.thumbprint]), "CA": [issuing.thumbprint]},
    }
    assert result["polls"] == 0 and clock.sleeps == []


def test_check_mode_absent_shows_the_removal(corp):
    root, issuing = corp
    host = FakeWindowsHost(root=[OTHER_ROOT, root.thumbprint], ca=[issuing.thumbprint])
    result = run(host, check_mode=True, certificates=[root.pem, issuing.pem], state="absent")
    assert result["changed"] is True
    assert [e["thumbprint"] for e in result["removed"]] == [root.thumbprint, issuing.thumbprint]
    assert result["diff"]["after"] == {"Root": [OTHER_ROOT], "CA": []}
    assert host.stores["Root"] == {OTHER_ROOT, root.thumbprint}


def test_absent_removes_exactly_the_given_certificates(corp):
    root, issuing = corp
    host = FakeWindowsHost(root=[OTHER_ROOT, root.thumbprint])
    result = run(host, certificates=[root.pem, issuing.pem], state="absent")
    assert host.commands[0][1]["state"] == "absent"
    assert result["changed"] is True
    assert result["removed"] == [{"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject}]
    assert result["diff"]["after"] == {"Root": [OTHER_ROOT], "CA": []}
    assert host.stores == {"Root": {OTHER_ROOT}, "CA": set()}


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_leaves_the_copy_group_policy_delivers(corp, check_mode):
    root, issuing = corp
    host = FakeWindowsHost(root=[root.thumbprint], ca=[issuing.thumbprint], policy_root=[root.thumbprint])
    result = run(host, check_mode=check_mode, certificates=[root.pem, issuing.pem], state="absent")
    assert [e["thumbprint"] for e in result["removed"]] == [root.thumbprint, issuing.thumbprint]
    assert result["kept"] == [{"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject,
                               "kept_by": ["GroupPolicy"], "removed_default": True}]
    # The logical Root store still lists the root, by policy; the diff says so in check mode too.
    assert result["diff"]["after"] == {"Root": [root.thumbprint], "CA": []}
    assert host.stores["Root"] == ({root.thumbprint} if check_mode else set())
    assert host.policy["Root"] == {root.thumbprint}


def test_part_way_failure_lists_what_was_added(corp):
    root, issuing = corp
    host = FakeWindowsHost(fail_on=issuing.thumbprint)
    result = run(host, certificates=[root.pem, issuing.pem], reconnect=True)
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["imported"] == [{"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject}]
    msg = result["msg"]
    assert f"stopped at CA\\{issuing.thumbprint}: The store is read-only." in msg
    assert f"Changed before the failure: Root\\{root.thumbprint}." in msg
    assert "re-run converges" in msg
    assert host.scripts_run() == ["ca_import"] and host.restarts == 0


def test_failure_on_the_first_certificate_says_nothing_changed(corp):
    root, issuing = corp
    host = FakeWindowsHost(fail_on=root.thumbprint)
    result = run(host, certificates=[root.pem, issuing.pem])
    assert result["failed"] is True and result["changed"] is False
    assert "Changed before the failure: nothing." in result["msg"]


def test_access_denied_inside_the_script_says_administrator_rights(corp):
    root, _issuing = corp
    host = FakeWindowsHost(fail_on=root.thumbprint, fail_kind="access_denied")
    result = run(host, certificates=[root.pem])
    assert result["failed"] is True
    assert "access denied: the WinRM account needs local administrator rights" in result["msg"]


def test_access_denied_from_powershell_fails_the_task(corp):
    host = FakeWindowsHost()
    host.ca_import = lambda params: (1, b"", b'Exception calling "Open" with "1" argument(s): "Access is denied."')
    with pytest.raises(AnsibleActionFail, match="local administrator rights") as info:
        run(host, certificates=[corp[0].pem])
    assert "Access is denied." in str(info.value)


@pytest.mark.parametrize("error", [
    AnsibleConnectionFailure("winrm connection error: [Errno 111] Connection refused"),
    requests.exceptions.ConnectionError("Max retries exceeded with url: /wsman"),
])
def test_host_that_stays_away_is_unreachable_not_failed(corp, error, clock):
    host = FakeWindowsHost()
    host.ca_import = lambda params: error
    result = run(host, certificates=[corp[0].pem], reconnect_timeout=30, poll_interval=5)
    assert result["unreachable"] is True
    assert result["changed"] is False
    assert "failed" not in result
    assert result["msg"].startswith(f"ca_import: {error}; the host did not answer again within 30s")
    assert "converges" in result["msg"]
    # It kept trying the same idempotent import until the reconnect window closed, on the fake clock.
    assert set(host.scripts_run()) == {"ca_import"} and len(host.commands) > 1
    assert clock.now <= 30 + 5


def test_lost_reply_after_the_import_ran_is_recovered(corp, clock):
    root, issuing = corp
    host = FakeWindowsHost(polls=[state(0)])
    real_import = host.ca_import
    calls = []

    def import_then_drop(params):
        document = real_import(params)
        if not calls:
            calls.append(document)
            return requests.exceptions.ConnectionError("Connection aborted: the tunnel went down")
        return document

    host.ca_import = import_then_drop
    result = run(host, certificates=[root.pem, issuing.pem], reconnect=True)
    # The first attempt changed the host; the second found everything present and said so.
    assert host.stores["Root"] == {root.thumbprint} and host.stores["CA"] == {issuing.thumbprint}
    assert host.scripts_run() == ["ca_import", "ca_import", "iphttps_state"]
    # The retry carries the same token, so the restart the lost attempt launched proves itself.
    assert host.commands[0][1]["restart_token"] == host.commands[1][1]["restart_token"] == host.token
    assert result["restart_proof"] == "marker" and result["restart_launch"] is None
    assert result["changed"] is True
    assert result["imported"] == []
    assert {e["thumbprint"] for e in result["already_present"]} == {root.thumbprint, issuing.thumbprint}
    assert "reply to ca_import was lost" in result["reconnect_notes"][0]
    assert not result.get("failed")
    assert result["iphttps"]["last_error_code"] == 0


def test_reconnect_healthy_at_the_first_poll(corp, clock):
    root, issuing = corp
    host = FakeWindowsHost(polls=[state(0)])
    result = run(host, certificates=[root.pem, issuing.pem], reconnect=True, restart_delay=4)
    assert host.commands[0][1]["restart_iphlpsvc"] is True
    assert host.commands[0][1]["restart_delay_seconds"] == 4
    assert host.scripts_run() == ["ca_import", "iphttps_state"]
    assert host.commands[1][1] == {}
    assert not result.get("failed")
    assert result["polls"] == 1
    assert result["iphttps"]["last_error_code"] == 0
    assert result["iphttps"]["last_error"]["hex"] == "0x0"
    assert result["iphttps"]["interface_status"] == "IPHTTPS interface active"
    assert "reconnect_notes" not in result
    assert result["restart_launch"] == {"method": "scheduled_task", "process_id": None,
                                        "task_name": "\\directaccess.iphttps\\iphlpsvc-restart",
                                        "service_process_id_before": 1000,
                                        "token": host.commands[0][1]["restart_token"]}
    assert (result["restart_proof"], result["reconnected_by"]) == ("marker", "iphttps")
    # The first poll waits for the detached restart (restart_delay) plus a second.
    assert clock.sleeps == [5]


def test_machine_that_is_not_a_directaccess_client_is_not_restarted_or_polled(corp, clock):
    root, _issuing = corp
    host = FakeWindowsHost()
    skipped = "not a DirectAccess client: no IP-HTTPS client configuration, so iphlpsvc was left alone"
    host.overrides["ca_import"] = {"restart_scheduled": False, "restart_skipped": skipped}
    result = run(host, certificates=[root.pem], reconnect=True)
    assert host.scripts_run() == ["ca_import"]
    assert not result.get("failed") and clock.sleeps == []
    assert result["restart_skipped"] == skipped and result["imported"]


def test_removal_with_reconnect_never_waits_for_zero(corp, clock):
    root, _issuing = corp
    host = FakeWindowsHost(root=[root.thumbprint])
    result = run(host, certificates=[{"store": "Root", "thumbprint": root.thumbprint}], state="absent",
                 reconnect=True)
    assert host.scripts_run() == ["ca_import"] and host.restarts == 1
    assert not result.get("failed") and [e["thumbprint"] for e in result["removed"]] == [root.thumbprint]


def test_reconnect_rides_out_a_dropped_connection(corp, clock):
    root, _issuing = corp
    host = FakeWindowsHost(polls=[
        requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected())"),
        state(None),                # iphlpsvc back, IP-HTTPS not up yet
        state(0),
    ])
    result = run(host, certificates=[root.pem], reconnect=True, poll_interval=3)
    assert not result.get("failed")
    assert result["polls"] == 3
    assert host.resets == 1
    assert len(result["reconnect_notes"]) == 1 and "Connection aborted" in result["reconnect_notes"][0]
    assert result["iphttps"]["last_error_code"] == 0
    assert clock.sleeps == [5 + 1, 3, 3]  # the default restart_delay, one second to come up, then the interval


def test_reconnect_timeout_fails_with_the_decoded_last_error(corp, clock):
    root, _issuing = corp
    host = FakeWindowsHost(polls=[state(UNTRUSTED_ROOT)] * 10)
    result = run(host, certificates=[root.pem], reconnect=True, reconnect_timeout=20, restart_delay=0,
                 poll_interval=5)
    assert result["failed"] is True
    assert result["changed"] is True
    # Polls at +1, +6, +11, +16; the next would start after the 20 s deadline.
    assert result["polls"] == 4
    assert sum(clock.sleeps) <= 20
    assert result["iphttps"]["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"
    assert result["msg"] == ("IP-HTTPS did not reach 0x0 within 20s after the iphlpsvc restart; "
                             "last seen: 0x800B0109 CERT_E_UNTRUSTEDROOT")
    assert result["imported"][0]["thumbprint"] == root.thumbprint


def test_reconnect_timeout_without_any_state(corp, clock):
    host = FakeWindowsHost(polls=[AnsibleConnectionFailure("refused")] * 3 + [state(None)] * 10)
    result = run(host, certificates=[corp[0].pem], reconnect=True, reconnect_timeout=30)
    assert result["failed"] is True
    assert result["iphttps"] is None
    assert result["msg"].endswith("last seen: no IP-HTTPS state")
    assert len(result["reconnect_notes"]) == 3 and host.resets == 3


def test_script_error_while_polling_keeps_what_was_imported(corp, clock):
    root, _issuing = corp
    host = FakeWindowsHost(polls=[(1, b"", b"Get-Service : Cannot find any service with service name 'iphlpsvc'.")])
    result = run(host, certificates=[root.pem], reconnect=True)
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["imported"][0]["thumbprint"] == root.thumbprint
    assert f"ca_import changed Root\\{root.thumbprint}" in result["msg"]
    assert "Cannot find any service" in result["msg"]


def test_restart_that_could_not_be_scheduled_fails(corp):
    host = FakeWindowsHost()
    host.overrides["ca_import"] = {"restart_scheduled": False,
                                   "restart_error": "could not schedule the iphlpsvc restart: RPC server unavailable"}
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["msg"].startswith("could not schedule the iphlpsvc restart: RPC server unavailable. "
                                    f"Changed: Root\\{corp[0].thumbprint}.")
    assert host.scripts_run() == ["ca_import"]
    assert result["restart_error"] == "could not schedule the iphlpsvc restart: RPC server unavailable"
    assert "ASR rule" not in result["msg"]


def test_a_wmi_launch_that_was_refused_names_the_asr_rule(corp):
    host = FakeWindowsHost()
    host.overrides["ca_import"] = {"restart_scheduled": False, "restart_launch": None,
                                   "restart_error": "could not schedule the iphlpsvc restart: Win32_Process.Create "
                                                    "returned 2"}
    result = run(host, certificates=[corp[0].pem], reconnect=True, restart_method="wmi")
    assert result["failed"] is True and host.scripts_run() == ["ca_import"]
    assert "Block process creations originating from PSExec and WMI commands" in result["msg"]
    assert "use restart_method scheduled_task" in result["msg"]


def test_unusable_certificates_fail_before_contacting_the_host(corp):
    leaf = pki.make_leaf("da.contoso.com", corp[1], key_type="ecdsa")
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match=r"certificates\[1\]: .* is not a CA certificate"):
        run(host, certificates=[corp[0].pem, leaf.pem])
    with pytest.raises(AnsibleActionFail, match="certificates: the list is empty"):
        run(host, certificates=[])
    assert host.commands == []


@pytest.mark.parametrize("option, value, message", [
    ("reconnect_timeout", 0, "reconnect_timeout: must be a positive number of seconds, got 0"),
    ("poll_interval", -5, "poll_interval: must be a positive number of seconds, got -5"),
    ("restart_delay", -1, "restart_delay: must not be negative, got -1"),
])
def test_bad_timing_options_are_refused(corp, option, value, message):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match=re.escape(message)):
        run(host, certificates=[corp[0].pem], **{option: value})
    assert host.commands == []


def test_argument_spec_is_enforced(corp):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match="certificates"):
        run(host)
    with pytest.raises(AnsibleActionFail, match="state"):
        run(host, certificates=[corp[0].pem], state="latest")
    assert host.commands == []


def test_missing_cryptography_is_reported(corp, monkeypatch):
    monkeypatch.setattr(_action_args, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(_action_args, "CRYPTOGRAPHY_IMPORT_ERROR", "No module named 'cryptography'")
    with pytest.raises(AnsibleActionFail, match="needs the Python 'cryptography' library"):
        run(FakeWindowsHost(), certificates=[corp[0].pem])


def test_restart_note_from_the_host_is_kept_with_poll_notes(corp, clock):
    host = FakeWindowsHost(polls=[requests.exceptions.ConnectionError("tunnel down"), state(0)])
    host.overrides["ca_import"] = {"restart_note": "Windows refused CREATE_BREAKAWAY_FROM_JOB; restarted inside the job"}
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert result["reconnect_notes"][0].startswith("Windows refused CREATE_BREAKAWAY_FROM_JOB")
    assert "tunnel down" in result["reconnect_notes"][1]
    assert result["iphttps"]["last_error_code"] == 0


def test_distrusted_certificate_is_refused_and_nothing_is_imported(corp, clock):
    root, issuing = corp
    host = FakeWindowsHost(root=[OTHER_ROOT], disallowed=[issuing.thumbprint])
    result = run(host, certificates=[root.pem, issuing.pem], reconnect=True)
    assert result["failed"] is True and result["changed"] is False
    assert result["imported"] == []
    msg = result["msg"]
    assert f"refused CA\\{issuing.thumbprint}" in msg and "LocalMachine\\Disallowed" in msg
    assert "Nothing was changed" in msg and "re-run converges" not in msg
    # The root came first in the request, yet it was not imported either: the refusal is all or nothing.
    assert host.stores == {"Root": {OTHER_ROOT}, "CA": set()}
    assert host.restarts == 0 and host.scripts_run() == ["ca_import"]


def test_distrusted_certificate_can_still_be_removed(corp):
    root, _issuing = corp
    host = FakeWindowsHost(root=[root.thumbprint], disallowed=[root.thumbprint])
    result = run(host, certificates=[root.pem], state="absent")
    assert not result.get("failed") and result["changed"] is True
    assert host.stores["Root"] == set()


# --- the proven reconnect ---------------------------------------------------------------------------------


def test_a_state_read_before_the_restart_ran_never_ends_the_wait(corp, clock):
    # IP-HTTPS' own retry may pick up the new root, or the connection was fine: 0x0 before the restart
    # proves nothing about the restart that is still to come.
    host = FakeWindowsHost(polls=[state(0, proof=False), state(0, proof=False), state(0)])
    result = run(host, certificates=[corp[0].pem], reconnect=True, poll_interval=2)
    assert not result.get("failed")
    assert result["polls"] == 3 and clock.sleeps == [6, 2, 2]
    assert (result["restart_proof"], result["reconnected_by"]) == ("marker", "iphttps")


def test_no_proof_within_the_timeout_fails_even_when_the_state_reads_fixed(corp, clock):
    host = FakeWindowsHost(polls=[state(0, proof=False, process_id=1000)] * 10)
    result = run(host, certificates=[corp[0].pem], reconnect=True, reconnect_timeout=20, restart_delay=0)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == (
        "nothing proves that the iphlpsvc restart ran within 20s: it was launched as the scheduled task "
        "\\directaccess.iphttps\\iphlpsvc-restart, but no poll found its marker and iphlpsvc's process id stayed "
        "1000. The state read as fixed (iphttps), but that may be the connection from before the restart.")
    assert result["restart_proof"] is None and result["reconnected_by"] is None


def test_a_wmi_launch_without_proof_names_the_asr_rule(corp, clock):
    host = FakeWindowsHost(polls=[state(0x800B0109, proof=False)] * 10)
    host.launch = {"method": "wmi", "process_id": 4242, "task_name": None, "service_process_id_before": 1000}
    result = run(host, certificates=[corp[0].pem], reconnect=True, reconnect_timeout=20, restart_method="wmi")
    assert host.commands[0][1]["restart_method"] == "wmi"
    assert result["failed"] is True
    assert "launched as process 4242 through WMI" in result["msg"]
    assert "Block process creations originating from PSExec and WMI commands" in result["msg"]
    assert "use restart_method scheduled_task" in result["msg"]


def test_a_new_process_id_proves_the_restart_without_a_marker(corp, clock):
    host = FakeWindowsHost(polls=[state(0, proof=False, process_id=1000), state(0, proof=False, process_id=1004)])
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert not result.get("failed") and result["polls"] == 2
    assert result["restart_proof"] == "process_id"


def test_a_shared_svchost_keeps_its_process_id_and_only_the_marker_proves(corp, clock):
    # iphlpsvc in a shared svchost.exe (Windows 10 before 1703, or 3.5 GB of RAM or less): the id stays.
    host = FakeWindowsHost(polls=[state(0, proof=False, process_id=868), state(0, process_id=868)])
    host.launch = dict(host.launch, service_process_id_before=868)
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert not result.get("failed") and result["polls"] == 2 and result["restart_proof"] == "marker"


def test_a_restart_that_failed_on_the_host_fails_at_once(corp, clock):
    failure = "Service 'IP Helper (iphlpsvc)' cannot be stopped due to the following error: Cannot stop iphlpsvc"
    host = FakeWindowsHost(polls=[state(None, failed=failure)] + [state(0)] * 5)
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert result["failed"] is True and result["polls"] == 1
    assert result["msg"].startswith(f"the iphlpsvc restart ran but Restart-Service failed: {failure}. Changed: Root\\")


def test_a_marker_with_another_token_is_no_proof(corp, clock):
    host = FakeWindowsHost(polls=[state(0, proof=False)] * 3)
    stale = {"token": "an-earlier-run", "outcome": "restarted", "message": None, "finished_at": "x"}
    host.polls = [dict(p, restart_marker=stale) for p in host.polls]
    result = run(host, certificates=[corp[0].pem], reconnect=True, reconnect_timeout=10)
    assert result["failed"] is True and result["restart_proof"] is None


@pytest.mark.parametrize("status, via", [("ConnectedRemotely", "connected_remotely"),
                                         ("ConnectedLocally", "connected_locally")])
def test_directaccess_connected_without_ip_https_is_success(corp, clock, status, via):
    # Teredo or 6to4 won after the restart, or the client is inside: Get-NetIPHttpsState returns nothing.
    host = FakeWindowsHost(polls=[state(None, da=status, proof=False), state(None, da=status)])
    result = run(host, certificates=[corp[0].pem], reconnect=True)
    assert not result.get("failed") and result["polls"] == 2
    assert result["iphttps"] is None and result["reconnected_by"] == via
    assert result["da_connection_status"]["status_name"] == status


def test_directaccess_in_error_is_not_success(corp, clock):
    host = FakeWindowsHost(polls=[state(None, da="ActionableError")] * 10)
    result = run(host, certificates=[corp[0].pem], reconnect=True, reconnect_timeout=20)
    assert result["failed"] is True and result["restart_proof"] == "marker"
    assert result["msg"] == ("IP-HTTPS did not reach 0x0 within 20s after the iphlpsvc restart; last seen: no "
                             "IP-HTTPS state; DirectAccess status ActionableError")


def test_restart_method_must_be_one_of_the_three(corp):
    host = FakeWindowsHost()
    with pytest.raises(AnsibleActionFail, match="restart_method"):
        run(host, certificates=[corp[0].pem], reconnect=True, restart_method="psexec")
    assert host.commands == []


@pytest.mark.parametrize("name", ["ca_import", "remediate_host"])
def test_documented_options_are_the_options_the_action_takes(name):
    action = importlib.import_module(f"ansible_collections.directaccess.iphttps.plugins.action.{name}")
    module = importlib.import_module(f"ansible_collections.directaccess.iphttps.plugins.modules.{name}")
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(documented) == set(action.ARGUMENT_SPEC)
    for option, spec in action.ARGUMENT_SPEC.items():
        assert documented[option]["type"] == spec["type"], option
        assert documented[option].get("default") == spec.get("default"), option
        assert documented[option].get("choices") == spec.get("choices"), option
    returned = yaml.safe_load(module.RETURN)
    assert name != "ca_import" or {"restart_launch", "restart_proof", "reconnected_by"} <= set(returned)


def test_the_role_passes_its_restart_method_on():
    repo = pathlib.Path(__file__).resolve().parents[4]
    defaults = yaml.safe_load((repo / "roles/remediate/defaults/main.yml").read_text())
    spec = yaml.safe_load((repo / "roles/remediate/meta/argument_specs.yml").read_text())
    option = spec["argument_specs"]["main"]["options"]["iphttps_restart_method"]
    assert defaults["iphttps_restart_method"] == option["default"] == "auto"
    assert ca_import.ARGUMENT_SPEC["restart_method"]["default"] == "auto"
    assert option["choices"] == ca_import.ARGUMENT_SPEC["restart_method"]["choices"]
    assert 'restart_method: "{{ iphttps_restart_method }}"' in (repo / "roles/remediate/tasks/hosts.yml").read_text()
