# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging fixtures: a small lab fleet, and an environment for ansible commands that sees no stray collections.

The lab stands in for Windows clients (see tests/lab); nothing here runs on Windows.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FLEET = Path(__file__).resolve().parent / "fleet.yml"
BIN = Path(sys.executable).parent


@dataclasses.dataclass
class Lab:
    directory: Path

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def hosts(self) -> dict:
        return json.loads((self.directory / "lab.json").read_text())["hosts"]

    def host_in(self, scenario: str) -> str:
        names = [name for name, host in self.hosts().items() if host["scenario"] == scenario]
        assert len(names) == 1, f"tests/packaging/fleet.yml should hold one {scenario} host, the lab has {names}"
        return names[0]

    def state(self, host: str) -> dict:
        return json.loads((self.directory / "state" / f"{host}.json").read_text())

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tests.lab", *args, "--lab-dir", str(self.directory)],
                              cwd=REPO, capture_output=True, text=True, timeout=120, check=False)

    def ca_inputs(self) -> dict:
        """The role's CA inputs as an operator would give them: the lab's root and issuing CA, root pinned."""
        return {
            "iphttps_ca_sources": [{"path": str(self.pki / "root.pem")}, {"path": str(self.pki / "issuing.pem")}],
            "iphttps_ca_pins": [(self.pki / "root.sha256").read_text().strip()],
        }


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    fleet = Lab(tmp_path_factory.mktemp("packaging-lab") / "lab")
    started = fleet.cli("up", "--scenario", str(FLEET))
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield fleet
    finally:
        stopped = fleet.cli("down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _ansible_env(collections_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any Ansible or Python path settings, so the collection is found only
    in ``collections_path`` (not through a developer's PYTHONPATH or the sys.path scan)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_") and key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_FORKS="8",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def ansible_env():
    """``ansible_env(collections_path, **extra)``: environment for ansible commands (see ``_ansible_env``)."""
    return _ansible_env
