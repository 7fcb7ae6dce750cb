# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iphlpsvc restart and the reconnect, from the collection's change machinery to the lab's handlers.

Each test runs ``_host_change.apply`` (what ca_import and remediate_host run) against a handler, in real
time, on a host from ``scenarios/reconnect.yml``: a slow restart, a shared svchost.exe, the ASR rule that
blocks WMI, a Windows 7 client whose breakaway call throws, Teredo after the restart, a client inside.
"""

from __future__ import annotations

import importlib
import time

import pytest

from .handlers import LAUNCH_SECONDS, RESTART_SECONDS, ClientHandler
from .test_lab_runtime import HandlerConnection, import_item, run

UNTRUSTED_ROOT = 0x800B0109
BASE = "ansible_collections.directaccess.iphttps.plugins.plugin_utils."


@pytest.fixture(scope="module")
def change(collection):
    """apply() and plan_import() of the collection (the collection fixture put it on the path)."""
    host_change = importlib.import_module(BASE + "_host_change")
    import_plan = importlib.import_module(BASE + "_import_plan")
    return host_change.apply, import_plan.plan_import


def fix(change, handler, pki, **kwargs):
    """Import the current root and reconnect, as ca_import with reconnect does; quick polls."""
    apply, plan_import = change
    kwargs.setdefault("restart_delay", 0)
    kwargs.setdefault("poll_interval", 0.25)
    kwargs.setdefault("reconnect_timeout", 20)
    plan = plan_import([pki.pem("root")], "present")
    return apply(HandlerConnection(handler), plan, restart=True, **kwargs)


def wait_for_restarts(handler, count, seconds=10.0):
    deadline = time.monotonic() + seconds
    while handler.restarts_fired < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return handler.restarts_fired


def test_a_slow_restart_is_waited_for_and_never_reported_done_early(collection, make_handler, pki, change):
    # IP-HTTPS' own retry reconnects with the imported root at once, so 0x0 shows long before the restart;
    # the restart stops iphlpsvc only after the first poll (restart_delay + 1 s) and takes 1.5 s more.
    handler = make_handler("slow_restart", launch_seconds=2.0, restart_seconds=1.5)
    started = time.monotonic()
    result = fix(change, handler, pki)
    took = time.monotonic() - started
    assert not result.get("failed"), result.get("msg")
    # Done only once the restart ran: the service came back, and its marker carries this run's token.
    assert handler.restarts_fired == 1 and handler.client.load()["iphlpsvc"]["restarts"] == 1
    assert took >= 3.5 and result["polls"] > 1
    assert (result["restart_proof"], result["reconnected_by"]) == ("marker", "iphttps")
    assert handler.client.restart_marker()["token"] == result["restart_launch"]["token"]


def test_the_early_zero_is_real_and_carries_no_proof(collection, make_handler, pki):
    # What the first poll of the test above sees: 0x0 from IP-HTTPS' retry, no marker, the old process id.
    handler = make_handler("slow_restart")
    plain = make_handler("untrusted_root", "da-client-02")
    assert (handler.launch_seconds, handler.restart_seconds) == (3.0, 5.0)
    assert (plain.launch_seconds, plain.restart_seconds) == (LAUNCH_SECONDS, RESTART_SECONDS)
    run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True, "restart_delay_seconds": 0,
                                           "restart_token": "run-1",
                                           "certificates": [import_item(pki, "root", "Root")]})
    state = run(collection, handler, "iphttps_state", {})
    assert state["iphttps_state"]["last_error_code"] == 0
    assert state["restart_marker"] is None and state["service_process_id"] == 1000


def test_a_marker_of_an_earlier_restart_is_no_proof(collection, make_handler, pki, change):
    handler = make_handler("slow_restart", launch_seconds=0.5, restart_seconds=1.0)
    assert not fix(change, handler, pki).get("failed")
    # Restart alone (remediate's restart_pending): the old marker and 0x0 are there from the start.
    apply, _plan_import = change
    result = apply(HandlerConnection(handler), [], restart=True, force_restart=True, restart_delay=0,
                   poll_interval=0.25, reconnect_timeout=20)
    assert not result.get("failed") and handler.restarts_fired == 2 and result["polls"] > 1


def test_a_shared_svchost_keeps_its_process_id_and_the_marker_proves_the_restart(make_handler, pki, change):
    handler = make_handler("shared_svchost")
    result = fix(change, handler, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["restart_launch"]["service_process_id_before"] == 868
    assert handler.client.load()["iphlpsvc"]["restarts"] == 1
    assert (result["restart_proof"], result["reconnected_by"]) == ("marker", "iphttps")


def test_the_asr_rule_blocks_wmi_and_the_scheduled_task_restarts(make_handler, pki, change):
    handler = make_handler("asr_blocks_wmi")
    result = fix(change, handler, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["restart_launch"]["method"] == "scheduled_task" and "reconnect_notes" not in result
    # WMI alone: Win32_Process.Create is refused, the import stands, and nothing restarts.
    blocked = make_handler("asr_blocks_wmi", "da-client-02")
    result = fix(change, blocked, pki, restart_method="wmi")
    assert result["failed"] is True and result["changed"] is True and result["restart_launch"] is None
    assert result["msg"].startswith("could not schedule the iphlpsvc restart: Win32_Process.Create returned 2.")
    assert blocked.pending_restarts() == 0 and blocked.client.load()["iphlpsvc"]["restarts"] == 0


def test_windows7_falls_back_to_wmi_and_to_the_plain_create_when_the_breakaway_throws(make_handler, pki, change):
    handler = make_handler("windows7_breakaway_throws")
    result = fix(change, handler, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["restart_launch"]["method"] == "wmi" and result["restart_launch"]["process_id"]
    assert result["reconnect_notes"] == [
        "no ScheduledTasks cmdlets (they come with Windows 8); used WMI; Win32_Process.Create with "
        "CREATE_BREAKAWAY_FROM_JOB failed (Generic failure ); the restart runs inside the WMI provider host's job"]
    # Read through netsh: no interface status, no DirectAccess status, and 0x0 all the same.
    assert result["iphttps"]["last_error_code"] == 0 and result["iphttps"]["interface_status"] is None
    assert (result["da_connection_status"], result["reconnected_by"]) == (None, "iphttps")
    # Asked for the task alone, this client cannot.
    again = make_handler("windows7_breakaway_throws", "da-client-02")
    result = fix(change, again, pki, restart_method="scheduled_task")
    assert result["failed"] is True
    assert "the ScheduledTasks cmdlets are missing (they come with Windows 8)" in result["msg"]


def test_teredo_after_the_restart_is_a_fix_through_directaccess_status(collection, make_handler, pki, change):
    handler = make_handler("teredo_after_restart")
    before = run(collection, handler, "iphttps_state", {})
    assert before["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT
    assert before["da_connection_status"]["status_name"] == "ActionableError"
    result = fix(change, handler, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["iphttps"] is None and result["reconnected_by"] == "connected_remotely"
    assert result["da_connection_status"] == {"status": 0, "status_name": "ConnectedRemotely", "substatus": 0,
                                              "substatus_name": "None"}


def test_inside_the_corporate_network_is_a_fix_through_directaccess_status(collection, make_handler, pki, change):
    handler = make_handler("inside_corpnet")
    assert run(collection, handler, "client_info", {})["iphttps_state"] is None
    result = fix(change, handler, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["iphttps"] is None and result["reconnected_by"] == "connected_locally"
    assert wait_for_restarts(handler, 1) == 1


def test_the_restart_takes_its_time_and_the_service_is_down_meanwhile(collection, make_handler, pki):
    handler = make_handler("untrusted_root", restart_seconds=1.0)
    assert isinstance(handler, ClientHandler)
    run(collection, handler, "ca_import", {"state": "present", "restart_iphlpsvc": True, "restart_delay_seconds": 0,
                                           "restart_token": "run-1",
                                           "certificates": [import_item(pki, "root", "Root")]})
    time.sleep(0.6)  # the process has started and Restart-Service is stopping and starting iphlpsvc
    state = run(collection, handler, "iphttps_state", {})
    assert (state["service_status"], state["service_process_id"], state["iphttps_state"]) == ("Stopped", 0, None)
    assert state["da_connection_status"] is None and state["restart_marker"] is None
    assert handler.pending_restarts() == 1
    assert wait_for_restarts(handler, 1) == 1
    state = run(collection, handler, "iphttps_state", {})
    assert state["service_status"] == "Running" and state["restart_marker"]["token"] == "run-1"


@pytest.mark.parametrize("params, message", [
    ({"restart_token": "a b"}, "restart_token must be 1 to 64 letters, digits or '-', not 'a b'"),
    ({"restart_token": ""}, "restart_token must be 1 to 64 letters, digits or '-', not ''"),
    ({"restart_token": "run-1", "restart_method": "psexec"},
     "restart_method must be auto, scheduled_task or wmi, not 'psexec'"),
])
def test_a_bad_token_or_method_is_a_restart_error_not_a_launch(collection, make_handler, pki, params, message):
    handler = make_handler("untrusted_root")
    doc = run(collection, handler, "ca_import", dict(params, state="present", restart_iphlpsvc=True,
                                                     certificates=[import_item(pki, "root", "Root")]))
    assert doc["restart_error"] == f"could not schedule the iphlpsvc restart: {message}"
    assert doc["restart_scheduled"] is False and doc["restart_launch"] is None and doc["changed"] is True
    assert handler.pending_restarts() == 0
