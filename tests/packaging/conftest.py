# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packaging fixtures: a small lab fleet, and an environment for ansible commands that sees no stray collections.

The lab stands in for Windows clients (see tests/lab); nothing here runs on Windows.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.lab.handle import LabHandle

REPO = Path(__file__).resolve().parents[2]
FLEET = Path(__file__).resolve().parent / "fleet.yml"
BIN = Path(sys.executable).parent


class Lab(LabHandle):
    def host_in(self, scenario: str) -> str:
        names = self.hosts_in(scenario)
        assert len(names) == 1, f"tests/packaging/fleet.yml should hold one {scenario} host, the lab has {names}"
        return names[0]

    def ca_inputs(self) -> dict:
        """The role's CA inputs as an operator would give them: the lab's root and issuing CA, root pinned."""
        return {
            "iphttps_ca_sources": [{"path": str(self.pki / "root.pem")}, {"path": str(self.pki / "issuing.pem")}],
            "iphttps_ca_pins": [(self.pki / "root.sha256").read_text().strip()],
        }


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    fleet = Lab(tmp_path_factory.mktemp("packaging-lab") / "lab")
    fleet.up(FLEET)
    try:
        yield fleet
    finally:
        fleet.down()


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
