# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ansible-playbook commands in README.md and docs/getting-started.md, run verbatim from a project folder.

The project folder is laid out as docs/getting-started.md shows it (inventory.yml, approved-cas.yml,
cas/*.pem, new-chain.pem, ansible.cfg); only the pin is the lab root's real one. Every command the two
files show is run at least once, word for word, and must succeed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

LAB_FLEET = Path(__file__).resolve().parent / "fleet_docs.yml"
REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "README.md", REPO / "docs" / "getting-started.md")


def documented_commands() -> list[str]:
    """Every ansible-playbook line inside a ```bash block, without its trailing comment."""
    commands = []
    for doc in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("ansible-playbook ") and line not in commands:
                    commands.append(line)
    return commands


@pytest.fixture(scope="module")
def project(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("my-da-project")
    shutil.copy(lab.inventory, folder / "inventory.yml")
    (folder / "cas").mkdir()
    shutil.copy(lab.pki / "root.pem", folder / "cas" / "corp-root-2026.pem")
    shutil.copy(lab.pki / "issuing.pem", folder / "cas" / "corp-issuing-ca-2026.pem")
    pin = (lab.pki / "root.sha256").read_text().strip()
    (folder / "approved-cas.yml").write_text(
        "iphttps_ca_sources:\n  - path: cas/corp-root-2026.pem\n  - path: cas/corp-issuing-ca-2026.pem\n"
        f"iphttps_ca_pins:\n  - \"{pin}\"\n")
    (folder / "new-chain.pem").write_text((lab.pki / "iphttps.pem").read_text() + (lab.pki / "issuing.pem").read_text())
    (folder / "ansible.cfg").write_text("[defaults]\nshow_custom_stats = True\n")
    return folder


def run(lab, project: Path, command: str) -> subprocess.CompletedProcess:
    _argv, env = lab.command("directaccess.iphttps.diagnose", {}, project)
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    env["PATH"] = f"{Path(_argv[0]).parent}:{env['PATH']}"
    env["ANSIBLE_CONFIG"] = str(project / "ansible.cfg")
    done = subprocess.run(command, shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def stores_now(lab):
    return {h: (set(lab.state(h)["root_store"]), set(lab.state(h)["ca_store"])) for h in lab.hosts()}


def test_every_documented_command_runs_as_written(lab, project):
    commands = documented_commands()
    remediate = [c for c in commands if "remediate" in c and "--check" not in c and "iphttps_run_id=" in c]
    rollbacks = [c for c in commands if ".rollback" in c]
    others = [c for c in commands if c not in remediate + rollbacks]
    assert remediate and len(rollbacks) >= 2 and others, commands
    before = stores_now(lab)
    for command in others:
        done = run(lab, project, command)
        # Every playbook ends with the run's summary and the report's path at default verbosity.
        assert "report.html" in done.stdout, done.stdout
    # Each documented way of naming a run takes back exactly what the remediation imported.
    for rollback in rollbacks:
        run(lab, project, remediate[0])
        assert stores_now(lab) != before
        run(lab, project, rollback)
        assert stores_now(lab) == before, rollback
