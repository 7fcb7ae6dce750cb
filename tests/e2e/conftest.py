# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End-to-end fixtures: a lab fleet on loopback, and real ansible-playbook runs against it.

The lab stands in for Windows clients (see tests/lab); nothing here runs on Windows.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.lab.handle import LabHandle

REPO = Path(__file__).resolve().parents[2]
# The lab's domain (tests/lab/domains/directaccess.yml): a module sets LAB_UP_OPTIONS = GPO_LAB_OPTIONS to get the
# GPO management host; its client GPO and the GPO linked nowhere.
GPO_DOMAIN = REPO / "tests" / "lab" / "domains" / "directaccess.yml"
GPO_LAB_OPTIONS = ("--domain", str(GPO_DOMAIN))
CLIENT_GPO = "4f6a1c2e-3b7d-4e2a-9c1f-8d5e6b7a0c31"
UNLINKED_GPO = "9b2d7e4f-1a3c-4d5e-8f60-7a1b2c3d4e5f"
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
FLEET = Path(__file__).resolve().parent / "fleet.yml"
BIN = Path(sys.executable).parent


@dataclasses.dataclass
class PlaybookRun:
    rc: int
    stdout: str
    results: dict[str, dict]  # host -> what the playbook recorded
    unreachable: dict[str, str]  # host -> message


@dataclasses.dataclass
class Lab(LabHandle):
    collections: Path
    workdir: Path

    def command(self, name: str, extra_vars: dict, tree_dir: Path) -> tuple[list[str], dict]:
        """The ansible-playbook command line and environment for one of the playbooks."""
        env = dict(os.environ,
                   ANSIBLE_COLLECTIONS_PATH=str(self.collections),
                   ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
                   ANSIBLE_CALLBACK_TREE_DIR=str(tree_dir),
                   ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_RETRY_FILES_ENABLED="False",
                   ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORKS="8")
        # The collection's own playbooks run by their fully qualified name, as users run them.
        target = name if name.startswith("directaccess.iphttps.") else str(PLAYBOOKS / name)
        return [str(BIN / "ansible-playbook"), "-i", str(self.inventory), target, "-e", json.dumps(extra_vars)], env

    def playbook(self, name: str, *extra: str, extra_vars: dict | None = None, check: bool = False,
                 diff: bool = False, limit: str | None = None) -> PlaybookRun:
        out_dir = self.workdir / f"run-{len(list(self.workdir.iterdir()))}"
        tree_dir = out_dir / "tree"
        tree_dir.mkdir(parents=True)
        command, env = self.command(name, dict(extra_vars or {}, out_dir=str(out_dir)), tree_dir)
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if limit:
            command += ["--limit", limit]
        done = subprocess.run(command + list(extra), cwd=self.workdir, env=env, capture_output=True, text=True,
                              timeout=600, check=False)
        results = {p.stem: json.loads(p.read_text()) for p in out_dir.glob("*.json")}
        unreachable = {}
        for path in tree_dir.iterdir():
            try:
                last = json.loads(path.read_text())
            except ValueError:
                continue
            if last.get("unreachable"):
                unreachable[path.name] = last.get("msg", "")
        return PlaybookRun(done.returncode, done.stdout + done.stderr, results, unreachable)


def new_lab(base: Path) -> Lab:
    """A lab handle in ``base`` (not started) whose playbooks see this repository as the collection."""
    collections = base / "collections" / "ansible_collections" / "directaccess"
    collections.mkdir(parents=True)
    (collections / "iphttps").symlink_to(REPO, target_is_directory=True)
    work = base / "work"
    work.mkdir()
    return Lab(base / "lab", base / "collections", work)


def lab_ca(lab: LabHandle) -> tuple[dict[str, tuple[bytes, str]], dict]:
    """The lab's root and issuing CA as name -> (DER, SHA-1 thumbprint), and the playbooks' CA variables."""
    certs = {}
    for name in ("root", "issuing"):
        der = x509.load_pem_x509_certificate((lab.pki / f"{name}.pem").read_bytes()).public_bytes(Encoding.DER)
        certs[name] = (der, hashlib.sha1(der).hexdigest().upper())
    variables = {"iphttps_ca_sources": [{"path": str(lab.pki / "root.pem")}, {"path": str(lab.pki / "issuing.pem")}],
                 "iphttps_ca_pins": [(lab.pki / "root.sha256").read_text().strip()]}
    return certs, variables


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """A lab per test module; a module may name its own fleet file in LAB_FLEET and more ``up`` arguments in
    LAB_UP_OPTIONS (for example ``("--domain", FILE)`` for the GPO management host)."""
    fleet = new_lab(tmp_path_factory.mktemp("e2e"))
    fleet.up(getattr(request.module, "LAB_FLEET", FLEET), *getattr(request.module, "LAB_UP_OPTIONS", ()))
    try:
        yield fleet
    finally:
        fleet.down()
