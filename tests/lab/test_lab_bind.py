# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's --bind: its WinRM endpoints on another address of the machine, for a test that reaches the lab
from another network namespace (tests/e2e/test_awx_streaming.py).

127.0.0.2 serves here: Linux routes all of 127.0.0.0/8 to the loopback interface, so these tests need neither
root nor a namespace.
"""
from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .runner import LabError, down, status, up

REPO = Path(__file__).resolve().parents[2]
ELSEWHERE = "127.0.0.2"


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("bind, message", [
    ("::1", "--bind must be an IPv4 address such as 127.0.0.1, got '::1'"),
    ("lab.example", "--bind must be an IPv4 address such as 127.0.0.1, got 'lab.example'"),
    ("0.0.0.0", "--bind must be one address of this machine, got '0.0.0.0'"),
    ("224.0.0.1", "--bind must be one address of this machine, got '224.0.0.1'"),
    # TEST-NET-1 (RFC 5737): no machine has it.
    ("192.0.2.1", "--bind 192.0.2.1: cannot listen there: Cannot assign requested address"),
])
def test_an_address_the_lab_cannot_serve_on_is_refused_before_anything_starts(tmp_path, bind, message):
    with pytest.raises(LabError) as refused:
        up(tmp_path / "lab", hosts=1, bind=bind)
    assert str(refused.value) == message
    assert not (tmp_path / "lab").exists()


def test_the_command_line_names_the_bad_address(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tests.lab", "up", "--hosts", "1", "--bind", "0.0.0.0",
                           "--lab-dir", str(tmp_path / "lab")], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stderr) == (1, "lab: --bind must be one address of this machine, got '0.0.0.0'\n")


def test_a_lab_bound_elsewhere_serves_there_with_a_certificate_for_that_address(tmp_path):
    scenario = tmp_path / "fleet.yml"
    scenario.write_text("description: one host up, one down\nhosts:\n  - template: healthy\n    count: 1\n"
                        "  - template: stopped_host\n    count: 1\n")
    lab_dir = tmp_path / "lab"
    lab = up(lab_dir, scenario=scenario, bind=ELSEWHERE)
    try:
        assert lab["bind"] == ELSEWHERE
        hosts = yaml.safe_load(Path(lab["inventory"]).read_text())["all"]["children"]["directaccess_clients"]["hosts"]
        assert {host["ansible_host"] for host in hosts.values()} == {ELSEWHERE}
        ports = {name: host["port"] for name, host in lab["hosts"].items()}
        up_host, down_host = sorted(ports)
        # The endpoint answers on the bound address only; the stopped host's port is held there, closed.
        assert (_accepts(ELSEWHERE, ports[up_host]), _accepts("127.0.0.1", ports[up_host])) == (True, False)
        assert not _accepts(ELSEWHERE, ports[down_host])
        assert {name: host["listening"] for name, host in status(lab_dir)["hosts"].items()} == {
            up_host: True, down_host: False}
        # The inventory's CA validates the listener for that address (its subjectAltName names the IP).
        context = ssl.create_default_context(cafile=lab["winrm_ca"])
        with socket.create_connection((ELSEWHERE, ports[up_host]), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=ELSEWHERE) as tls:
                assert tls.version()
        key = lab_dir / "listener" / f"winrm-{ELSEWHERE}.key"
        assert key.stat().st_mode & 0o777 == 0o600
    finally:
        down(lab_dir)
