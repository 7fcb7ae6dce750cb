# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's latency model (a cost per WinRM command), the floor's hostname command and reset.

Every test asserts on what the lab recorded (the delays it applied and counted, the order of
delay and handler, the state files), never on how long something took.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import winrm
import yaml

from .handlers import ClientHandler
from .scenarios import TEMPLATES, ClientSpec, provision_clients
from .wsman import CommandRequest, CommandResult, WSManEndpoint, read_counts, read_latency

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "da-admin", "Lab-latency-test-1"


class Timeline:
    """Stands in for the endpoint's sleep and handler; records what happened, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.events.append(("delay", seconds))

    def handler(self, request: CommandRequest) -> CommandResult:
        with self._lock:
            self.events.append(("run", request.script))
        return CommandResult(stdout=b"ok\r\n")


def _endpoint(pki, name: str, tmp_path: Path, cost: float, timeline: Timeline) -> WSManEndpoint:
    endpoint = WSManEndpoint(name, scheme="https", certfile=pki.cert_path("winrm"), keyfile=pki.key_path("winrm"),
                             users={USER: PASSWORD}, auth=("basic",), handler=timeline.handler,
                             state_dir=tmp_path / "state", command_cost=cost)
    endpoint._sleep = timeline.sleep  # observe the delay instead of waiting for it
    return endpoint.start()


def _session(pki, endpoint: WSManEndpoint) -> winrm.Session:
    return winrm.Session(endpoint.url, auth=(USER, PASSWORD), transport="basic", server_cert_validation="validate",
                         ca_trust_path=str(pki.cert_path("winrm_ca")))


def test_the_cost_is_applied_once_per_command_before_it_runs(pki, tmp_path):
    timeline = Timeline()
    endpoint = _endpoint(pki, "da-client-01", tmp_path, 0.75, timeline)
    try:
        session = _session(pki, endpoint)
        for number in range(3):
            assert session.run_ps(f"Write-Output {number}").std_out == b"ok\r\n"
        applied = endpoint.command_cost_applied()
    finally:
        endpoint.stop()
    # Each command: the delay first, then the script; one delay per command, none for the
    # shell's own requests (create, receive, delete).
    assert timeline.events == [("delay", 0.75), ("run", "Write-Output 0"), ("delay", 0.75), ("run", "Write-Output 1"),
                               ("delay", 0.75), ("run", "Write-Output 2")]
    assert applied == (3, 2.25)
    assert read_latency(tmp_path / "state") == {"da-client-01": {"commands": 3, "seconds": 2.25}}
    assert read_counts(tmp_path / "state") == {"da-client-01": 3}


def test_cost_zero_adds_nothing(pki, tmp_path):
    timeline = Timeline()
    endpoint = _endpoint(pki, "da-client-01", tmp_path, 0, timeline)
    try:
        session = _session(pki, endpoint)
        session.run_ps("Write-Output 1")
        session.run_ps("Write-Output 2")
        applied = endpoint.command_cost_applied()
    finally:
        endpoint.stop()
    assert timeline.events == [("run", "Write-Output 1"), ("run", "Write-Output 2")]  # no sleep call at all
    assert applied == (0, 0.0)
    assert not (tmp_path / "state" / "latency.json").exists()
    assert read_counts(tmp_path / "state") == {"da-client-01": 2}


def test_each_host_is_charged_for_its_own_commands(pki, tmp_path):
    timeline = Timeline()
    first = _endpoint(pki, "da-client-01", tmp_path, 0.5, timeline)
    second = _endpoint(pki, "da-client-02", tmp_path, 0.5, timeline)
    try:
        _session(pki, first).run_ps("one")
        for _number in range(2):
            _session(pki, second).run_ps("two")
    finally:
        first.stop()
        second.stop()
    assert read_latency(tmp_path / "state") == {"da-client-01": {"commands": 1, "seconds": 0.5},
                                                "da-client-02": {"commands": 2, "seconds": 1.0}}


@pytest.mark.parametrize("cost", [-0.1, 601, True, "1", None])
def test_the_endpoint_refuses_a_cost_that_is_not_seconds(pki, cost):
    with pytest.raises(ValueError, match="command_cost must be a number of seconds from 0 to 600"):
        WSManEndpoint("da-client-01", certfile=pki.cert_path("winrm"), keyfile=pki.key_path("winrm"),
                      users={USER: PASSWORD}, command_cost=cost)


def test_hostname_is_the_floors_command(pki, servers, tmp_path):
    client = provision_clients([ClientSpec("da-client-07", "untrusted_root")], pki, servers, tmp_path / "state")[0]
    handler = ClientHandler(client, administrator=TEMPLATES["untrusted_root"].administrator)
    try:
        for script in ("hostname", " HOSTNAME.exe\r\n"):
            result = handler(CommandRequest("da-client-07", "PowerShell -EncodedCommand x", script, b""))
            assert (result.rc, result.stdout, result.stderr) == (0, b"da-client-07\r\n", b"")
        other = handler(CommandRequest("da-client-07", "PowerShell -EncodedCommand x", "hostname; whoami", b""))
        assert other.rc == 1 and b"without a directaccess.iphttps identity line" in other.stderr
    finally:
        handler.close()


# --- through the lab's command line ---------------------------------------------------------------

def _lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("value", ["-1", "601", "nan", "fast"])
def test_up_refuses_a_bad_command_cost(tmp_path, value):
    done = _lab("up", "--command-cost", value, "--lab-dir", str(tmp_path / "lab"))
    assert done.returncode == 2 and "--command-cost" in done.stderr
    assert not (tmp_path / "lab").exists()


def test_up_with_a_command_cost_charges_every_command_and_reset_restores_the_fleet(tmp_path, pki):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    shutil.copytree(pki.directory, lab_dir / "pki")
    scenario = tmp_path / "half.yml"
    scenario.write_text("hosts:\n  - template: healthy\n    count: 1\n  - template: untrusted_root\n    count: 1\n",
                        encoding="utf-8")
    started = _lab("up", "--scenario", str(scenario), "--command-cost", "0.05", "--lab-dir", str(lab_dir))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "0.05 s per command" in started.stdout
        lab = json.loads((lab_dir / "lab.json").read_text())
        assert lab["command_cost"] == 0.05
        broken = lab["scenarios"]["untrusted_root"][0]
        hostvars = yaml.safe_load((lab_dir / "inventory.yml").read_text())["all"]["children"][
            "directaccess_clients"]["hosts"][broken]
        session = winrm.Session(f"https://127.0.0.1:{hostvars['ansible_port']}/wsman", transport="ntlm",
                                auth=(hostvars["ansible_user"], hostvars["ansible_password"]),
                                server_cert_validation="validate",
                                ca_trust_path=hostvars["ansible_winrm_ca_trust_path"])
        assert session.run_ps("hostname").std_out == f"{broken}\r\n".encode()
        assert session.run_ps("hostname").status_code == 0
        report = json.loads(_lab("status", "--json", "--lab-dir", str(lab_dir)).stdout)
        assert report["command_cost"] == 0.05
        assert report["latency"] == {broken: {"commands": 2, "seconds": 0.1},
                                     lab["scenarios"]["healthy"][0]: {"commands": 0, "seconds": 0.0}}
        assert "latency model: 0.05 s per WinRM command (2 commands delayed so far)" in _lab(
            "status", "--lab-dir", str(lab_dir)).stdout

        # Break the broken host's state further by hand (the right root arrives, IP Helper
        # restarted); reset puts it back to its template: only the old root, 0x800B0109 again.
        state_file = lab_dir / "state" / f"{broken}.json"
        before = json.loads(state_file.read_text())
        changed = dict(before, root_store={**before["root_store"], pki.thumbprint("root"): pki.pem("root")},
                       iphlpsvc={"status": "Running", "restarts": 3}, iphttps_state=None)
        state_file.write_text(json.dumps(changed))
        done = _lab("reset", "--lab-dir", str(lab_dir))
        assert done.returncode == 0 and "lab reset: 2 hosts" in done.stdout, done.stdout + done.stderr
        after = json.loads(state_file.read_text())
        assert list(after["root_store"]) == [pki.thumbprint("old_root")] and after["ca_store"] == {}
        assert after["iphlpsvc"] == {"status": "Running", "restarts": 0}
        assert after["iphttps_state"]["last_error_code"] == 0x800B0109  # connected once, as at boot
        assert read_counts(lab_dir / "state")[broken] == 2  # counts are kept
    finally:
        stopped = _lab("down", "--lab-dir", str(lab_dir))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_up_without_a_command_cost_writes_no_latency(tmp_path, pki):
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    shutil.copytree(pki.directory, lab_dir / "pki")
    scenario = tmp_path / "one.yml"
    scenario.write_text("hosts:\n  - template: healthy\n    count: 1\n", encoding="utf-8")
    (lab_dir / "state").mkdir()
    (lab_dir / "state" / "latency.json").write_text('{"da-client-01": {"commands": 9, "seconds": 9}}')
    started = _lab("up", "--scenario", str(scenario), "--lab-dir", str(lab_dir))
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert json.loads((lab_dir / "lab.json").read_text())["command_cost"] == 0
        # An earlier run's charge is gone, and nothing new is written.
        assert not (lab_dir / "state" / "latency.json").exists()
        assert json.loads(_lab("status", "--json", "--lab-dir", str(lab_dir)).stdout)["latency"] == {}
    finally:
        stopped = _lab("down", "--lab-dir", str(lab_dir))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
