# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injected faults (tests/lab/faults.py), each seen the way the collection sees it.

Every test runs the collection's own script plumbing (``_windows_scripts.run_script``, and
``_host_change.apply`` for the change and its reconnect) through Ansible's ``winrm`` connection plugin,
over NTLM and HTTPS, against a real lab endpoint whose host carries the fault.
"""

from __future__ import annotations

import importlib
import textwrap
import time

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader
from winrm.exceptions import WinRMTransportError, WSManFaultError

from .faults import KINDS, FaultError, HostFaults, parse_fault, plan_faults, read_fired, step_of
from .scenarios import ScenarioError, build_fleet
from .test_lab_runtime import import_item
from .wsman import WSManEndpoint

BASE = "ansible_collections.directaccess.iphttps.plugins.plugin_utils."
USER, PASSWORD = "da-admin", "Lab-Passw0rd-for-faults"
UNTRUSTED_ROOT = 0x800B0109


@pytest.fixture
def host(collection, make_handler, pki, tmp_path):
    """make(template, *faults, **handler options) -> (handler, endpoint, Ansible winrm connection)."""
    started = []

    def make(template, *faults, name="da-client-01", **options):
        handler = make_handler(template, name, **options)
        specs = [parse_fault(fault, f"fault[{index}]") for index, fault in enumerate(faults)]
        endpoint = WSManEndpoint(handler.client.name, certfile=pki.cert_path("winrm"), keyfile=pki.key_path("winrm"),
                                 users={USER: PASSWORD}, auth=("ntlm",), handler=handler, state_dir=tmp_path / "state",
                                 faults=HostFaults(handler.client.name, specs, tmp_path / "state")).start()
        handler.drop_connections = endpoint.drop_connections
        endpoint.on_reboot = handler.reboot
        started.append(endpoint)
        connection = connection_loader.get("winrm", PlayContext())
        extras = {"ansible_winrm_transport": "ntlm", "ansible_winrm_server_cert_validation": "validate",
                  "ansible_winrm_ca_trust_path": str(pki.cert_path("winrm_ca")),
                  "ansible_winrm_operation_timeout_sec": 2, "ansible_winrm_read_timeout_sec": 4}
        connection.set_options(var_options=dict(extras, ansible_host="127.0.0.1", ansible_port=endpoint.port,
                                                ansible_user=USER, ansible_password=PASSWORD, _extras=extras))
        return handler, endpoint, connection

    yield make
    for endpoint in started:
        endpoint.stop()


@pytest.fixture(scope="module")
def plumbing(collection):
    return collection["_windows_scripts"], importlib.import_module(BASE + "_host_change")


def client_info(scripts, connection):
    return scripts.run_script(connection, "client_info", {"connect_timeout_ms": 2000})


def import_root(scripts, connection, pki):
    return scripts.run_script(connection, "ca_import", {"state": "present",
                                                        "certificates": [import_item(pki, "root", "Root")]})


def fix(plumbing, connection, pki, **kwargs):
    """ca_import of the current root with the restart and its proven reconnect, as remediate_host runs it."""
    _scripts, host_change = plumbing
    plan = importlib.import_module(BASE + "_import_plan").plan_import([pki.pem("root")], "present")
    kwargs.setdefault("reconnect_timeout", 8)
    return host_change.apply(connection, plan, restart=True, restart_delay=0, poll_interval=0.5, **kwargs)


def fired(endpoint, tmp_path):
    return [(entry["kind"], entry["step"], entry["call"]) for entry in read_fired(tmp_path / "state")[endpoint.host_name]]


# --- the transport faults ---------------------------------------------------------------------------------------

def test_a_drop_mid_command_is_a_connection_error_and_nothing_ran(host, plumbing, pki, tmp_path):
    scripts, _host_change = plumbing
    handler, endpoint, connection = host("untrusted_root", {"kind": "drop", "step": "ca_import", "times": 1})
    with pytest.raises(Exception) as raised:
        import_root(scripts, connection, pki)
    assert not isinstance(raised.value, scripts.ScriptError)  # the collection takes it for a dropped link
    assert "Connection" in type(raised.value).__name__ or "onnection" in str(raised.value)
    assert pki.thumbprint("root") not in handler.client.load()["root_store"]  # the command never ran
    connection.reset()
    assert import_root(scripts, connection, pki)["imported"]  # transient: the next call gets through
    assert fired(endpoint, tmp_path) == [("drop", "ca_import", 1)]


def test_an_http_500_is_a_transport_error_until_the_fault_passes(host, plumbing, tmp_path):
    scripts, _host_change = plumbing
    _handler, endpoint, connection = host("healthy", {"kind": "http_500", "step": "client_info", "nth": 2, "times": 2})
    assert client_info(scripts, connection)["script"] == "client_info"  # call 1: before nth
    for _call in (2, 3):
        with pytest.raises(WinRMTransportError) as raised:
            client_info(scripts, connection)
        assert raised.value.code == 500
        connection.reset()
    assert client_info(scripts, connection)["script"] == "client_info"
    assert fired(endpoint, tmp_path) == [("http_500", "client_info", 2), ("http_500", "client_info", 3)]


def test_a_wsman_quota_fault_once_is_absorbed_by_ansible_and_for_good_is_raised(host, plumbing, tmp_path):
    scripts, _host_change = plumbing
    _handler, endpoint, connection = host("healthy", {"kind": "wsman_fault", "step": "client_info", "times": 1})
    # Ansible re-creates the shell once on 0x803381A6, so one quota fault costs nothing.
    assert client_info(scripts, connection)["script"] == "client_info"
    _handler, endpoint2, connection2 = host("healthy", {"kind": "wsman_fault", "step": "client_info"},
                                            name="da-client-02")
    with pytest.raises(WSManFaultError) as raised:
        client_info(scripts, connection2)
    assert raised.value.wsman_fault_code == 0x803381A6 and raised.value.wmierror_code == 0x803381A6
    assert fired(endpoint, tmp_path) == [("wsman_fault", "client_info", 1)]
    assert [kind for kind, _step, _call in fired(endpoint2, tmp_path)] == ["wsman_fault", "wsman_fault"]


def test_a_hang_past_the_operation_timeout_answers_late_through_timeout_faults(host, plumbing):
    scripts, _host_change = plumbing
    _handler, _endpoint, connection = host("healthy", {"kind": "hang", "step": "client_info", "seconds": 5})
    started = time.monotonic()
    # OperationTimeout is 2 s here: the client gets the timeout fault twice, polls on, and gets the answer.
    assert client_info(scripts, connection)["script"] == "client_info"
    assert time.monotonic() - started >= 5


def test_a_command_that_never_finishes_is_given_up_at_the_collections_deadline(host, plumbing):
    scripts, _host_change = plumbing
    _handler, endpoint, connection = host("healthy", {"kind": "hang", "step": "client_info", "seconds": None,
                                                      "times": 1})
    started = time.monotonic()
    # Ansible's connection alone would poll for ever: every Receive gets the OperationTimeout fault.
    with pytest.raises(scripts.CommandTimeout, match="client_info: the host gave no result within 5s"):
        scripts.run_script(connection, "client_info", {"connect_timeout_ms": 2000}, timeout=5)
    assert 5 <= time.monotonic() - started < 15
    connection.reset()  # the given-up command still waits on the old shell; a fresh one works
    assert client_info(scripts, connection)["script"] == "client_info"
    assert endpoint.command_count() == 2


def test_a_lost_reply_leaves_the_change_made_and_the_collection_recovers_it(host, plumbing, pki, tmp_path):
    scripts, host_change = plumbing
    handler, endpoint, connection = host("untrusted_root", {"kind": "reply_lost", "step": "ca_import", "times": 1})
    with pytest.raises(Exception) as raised:
        import_root(scripts, connection, pki)
    assert not isinstance(raised.value, scripts.ScriptError)
    assert pki.thumbprint("root") in handler.client.load()["root_store"]  # the change ran
    connection.reset()
    # apply() runs the idempotent change again: the host says already present, the record says recovered.
    handler2, endpoint2, connection2 = host("untrusted_root", {"kind": "reply_lost", "step": "ca_import", "times": 1},
                                            name="da-client-02")
    result = fix(plumbing, connection2, pki)
    assert not result.get("failed"), result.get("msg")
    assert result["recovered"] is True and result["reconnected_by"] == "iphttps"
    assert handler2.client.load()["iphttps_state"]["last_error_code"] == 0
    assert fired(endpoint, tmp_path) == [("reply_lost", "ca_import", 1)] and fired(endpoint2, tmp_path)
    del host_change


def test_a_reply_lost_for_good_leaves_the_outcome_unknown_not_fixed(host, plumbing, pki):
    handler, _endpoint, connection = host("untrusted_root", {"kind": "reply_lost", "step": "ca_import"})
    result = fix(plumbing, connection, pki, reconnect_timeout=4)
    assert result["unreachable"] is True and "whether the change ran is unknown" in result["msg"]
    assert pki.thumbprint("root") in handler.client.load()["root_store"]


# --- what the script answers --------------------------------------------------------------------------------------

def test_malformed_json_is_a_script_error_naming_the_missing_document(host, plumbing, tmp_path):
    scripts, _host_change = plumbing
    _handler, endpoint, connection = host("healthy", {"kind": "malformed_json", "step": "client_info", "times": 1})
    with pytest.raises(scripts.ScriptError, match="printed no result document"):
        client_info(scripts, connection)
    assert client_info(scripts, connection)["script"] == "client_info"
    assert fired(endpoint, tmp_path) == [("malformed_json", "client_info", 1)]


def test_huge_json_arrives_whole(host, plumbing):
    scripts, _host_change = plumbing
    _handler, _endpoint, connection = host("healthy", {"kind": "huge_json", "step": "client_info",
                                                       "bytes": 3 * 1024 * 1024})
    document = client_info(scripts, connection)
    assert document["script"] == "client_info" and len(document["lab_padding"]) == 3 * 1024 * 1024


def test_access_denied_on_the_store_write_fails_the_import_and_a_later_one_gets_through(host, plumbing, pki):
    scripts, _host_change = plumbing
    handler, _endpoint, connection = host("untrusted_root", {"kind": "access_denied", "times": 1})
    first = import_root(scripts, connection, pki)
    assert first["failed"]["kind"] == "access_denied" and first["imported"] == []
    assert pki.thumbprint("root") not in handler.client.load()["root_store"]
    assert import_root(scripts, connection, pki)["imported"]


# --- the restart and the reconnect ---------------------------------------------------------------------------------

def test_a_restart_that_fails_is_reported_from_its_marker(host, plumbing, pki):
    handler, _endpoint, connection = host("untrusted_root", {"kind": "restart_fails"})
    result = fix(plumbing, connection, pki)
    assert result["failed"] is True and "Restart-Service failed" in result["msg"]
    assert "cannot be stopped" in result["msg"]
    state = handler.client.load()
    assert state["iphlpsvc"] == {"status": "Running", "restarts": 0}
    assert state["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT


def test_ip_https_that_never_recovers_is_not_reported_fixed(host, plumbing, pki):
    handler, _endpoint, connection = host("untrusted_root", {"kind": "never_recovers"})
    result = fix(plumbing, connection, pki, reconnect_timeout=4)
    assert result["failed"] is True and "did not reach 0x0" in result["msg"]
    assert result["restart_proof"] == "marker"
    state = handler.client.load()
    assert state["iphlpsvc"]["restarts"] == 1 and state["iphttps_state"]["last_error_code"] == UNTRUSTED_ROOT
    assert pki.thumbprint("root") in state["root_store"]


def test_a_reboot_mid_poll_loses_the_pending_restart_and_the_new_process_proves_it(host, plumbing, pki, tmp_path):
    # The restart is still pending at the first poll (it would stop iphlpsvc 5 s after the launch).
    handler, endpoint, connection = host("untrusted_root", {"kind": "reboot", "seconds": 2, "times": 1},
                                         launch_seconds=5.0)
    started = time.monotonic()
    result = fix(plumbing, connection, pki, reconnect_timeout=12)
    assert not result.get("failed"), (result.get("msg"), result.get("reconnect_notes"))
    assert (result["restart_proof"], result["reconnected_by"]) == ("process_id", "iphttps")
    assert any("connection dropped" in note for note in result["reconnect_notes"])
    assert time.monotonic() - started >= 2  # WinRM stayed away while the host rebooted
    state = handler.client.load()
    assert handler.restarts_fired == 0 and state.get("restart_marker") is None  # the pending restart died
    assert state["iphlpsvc"]["restarts"] == 1 and state["iphttps_state"]["last_error_code"] == 0
    assert handler.pending_restarts() == 0
    assert fired(endpoint, tmp_path) == [("reboot", "iphttps_state", 1)]


# --- descriptions, plans and scenario files ------------------------------------------------------------------------

@pytest.mark.parametrize("value, message", [
    ({"kind": "flood", "step": "client_info"}, "fault.kind: unknown fault 'flood'"),
    ({"kind": "drop"}, "fault.step: must be one of"),
    ({"kind": "reboot", "step": "ca_import"}, "fault.step: reboot happens at iphttps_state only"),
    ({"kind": "drop", "step": "ca_import", "times": 0}, "fault.times: must be an integer >= 1"),
    ({"kind": "drop", "step": "ca_import", "nth": True}, "fault.nth: must be an integer >= 1"),
    ({"kind": "hang", "step": "ca_import", "seconds": -1}, "fault.seconds: must be a number"),
    ({"kind": "drop", "step": "ca_import", "often": 1}, "fault: unknown keys often"),
    ("drop", "fault: must be a mapping"),
])
def test_a_bad_fault_is_refused_naming_the_field(value, message):
    with pytest.raises(FaultError, match=message):
        parse_fault(value, "fault")


def test_transient_and_permanent_faults_count_calls_per_step():
    encoded = "# directaccess.iphttps script: {} v1\nrest"
    faults = HostFaults("h", [parse_fault({"kind": "drop", "step": "ca_import", "nth": 2, "times": 1}, "a"),
                              parse_fault({"kind": "http_500", "step": "iphttps_state"}, "b")])
    assert step_of(encoded.format("client_info")) == "client_info" and step_of("hostname") is None
    kinds = [getattr(faults.decide(encoded.format("ca_import")), "kind", None) for _call in range(3)]
    assert kinds == [None, "drop", None]
    assert all(faults.decide(encoded.format("iphttps_state")).kind == "http_500" for _call in range(3))
    assert faults.decide(encoded.format("client_info")) is None and faults.decide("hostname") is None


def test_a_fault_plan_is_repeatable_from_its_seed_and_uses_every_kind():
    hosts = [f"da-client-{n:02d}" for n in range(1, 51)]
    plan = plan_faults(hosts, count=len(KINDS), seed=7)
    assert plan == plan_faults(hosts, count=len(KINDS), seed=7) != plan_faults(hosts, count=len(KINDS), seed=8)
    assert sorted(faults[0]["kind"] for faults in plan.values()) == sorted(KINDS)
    for faults in plan.values():
        parse_fault(faults[0], "planned")
    with pytest.raises(FaultError, match="count: must be from 0 to 50"):
        plan_faults(hosts, count=51, seed=1)


def test_a_scenario_file_gives_faults_per_template_and_per_host(tmp_path):
    path = tmp_path / "faults.yml"
    path.write_text(textwrap.dedent("""\
        hosts:
          - template: untrusted_root
            count: 2
            faults: [{kind: access_denied, times: 1}]
          - template: healthy
            count: 1
        host_faults:
          da-client-03: [{kind: reboot, seconds: 3}]
          da-client-01: [{kind: http_500, step: client_info}]
        """))
    fleet = {spec.name: [(f.kind, f.step, f.times) for f in spec.faults] for spec in build_fleet(path)}
    assert fleet == {"da-client-01": [("access_denied", "ca_import", 1), ("http_500", "client_info", None)],
                     "da-client-02": [("access_denied", "ca_import", 1)],
                     "da-client-03": [("reboot", "iphttps_state", None)]}
    path.write_text("hosts: [{template: healthy, count: 1}]\nhost_faults: {da-client-09: [{kind: drop, step: ca_import}]}\n")
    with pytest.raises(ScenarioError, match="host_faults: no host da-client-09"):
        build_fleet(path)
    path.write_text("hosts: [{template: healthy, count: 1, faults: [{kind: drop}]}]\n")
    with pytest.raises(ScenarioError, match=r"hosts\[0\].faults.*step: must be one of"):
        build_fleet(path)
