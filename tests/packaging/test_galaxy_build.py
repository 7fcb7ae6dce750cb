# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The published artefact: build the collection tarball from the tracked files, install it into a clean
path, and use it from there the way a user (or an execution environment) would.

Also checks that execution-environment.yml is accepted by ``ansible-builder create`` and that the
collection's requirements.txt and bindep.txt reach an EE through meta/execution-environment.yml.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UNTRUSTEDROOT = 0x800B0109
# Development-only paths that must never ship. Under tests/ only the sanity ignore files may.
NEVER_SHIPPED = (".ci", ".venv", ".venv-next", ".build", ".lab", ".git", ".gitignore", "Makefile", "requirements")


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def tracked_files() -> list[str]:
    """What a clean checkout holds: tracked files plus new ones git does not ignore."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    return sorted(name for name in set(listed.split("\0")) if name and (REPO / name).is_file())


def galaxy_version() -> str:
    return yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("galaxy-build")
    source = base / "source"
    for name in tracked_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    run([BIN / "ansible-galaxy", "collection", "build", source, "--output-path", base / "dist"])
    built = sorted((base / "dist").glob("*.tar.gz"))
    assert [path.name for path in built] == [f"directaccess-iphttps-{galaxy_version()}.tar.gz"]
    return built[0]


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory, ansible_env) -> dict:
    collections = tmp_path_factory.mktemp("galaxy-install") / "collections"
    env = ansible_env(collections)
    run([BIN / "ansible-galaxy", "collection", "install", tarball, "-p", collections], env=env)
    return {"collections": collections, "env": env,
            "root": collections / "ansible_collections" / "directaccess" / "iphttps"}


def test_tarball_holds_the_collection_and_no_test_infrastructure(tarball):
    with tarfile.open(tarball) as archive:
        names = [member.name for member in archive.getmembers() if member.isfile()]
    for required in ("MANIFEST.json", "FILES.json", "README.md", "COPYING", "meta/runtime.yml",
                     "meta/execution-environment.yml", "requirements.txt", "bindep.txt",
                     "roles/remediate/meta/argument_specs.yml", "roles/remediate/tasks/main.yml",
                     "playbooks/diagnose.yml", "playbooks/remediate.yml", "playbooks/rollback.yml",
                     "playbooks/preflight.yml", "plugins/action/ca_import.py",
                     "plugins/plugin_utils/scripts/client_info.ps1"):
        assert required in names, f"{required} is missing from {tarball.name}"
    leaked = sorted(name for name in names
                    if name.split("/")[0] in NEVER_SHIPPED
                    or (name.startswith("tests/") and not name.startswith("tests/sanity/"))
                    or "__pycache__" in name.split("/"))
    assert leaked == [], f"test infrastructure in {tarball.name} (add it to galaxy.yml build_ignore): {leaked}"


def test_installed_collection_runs_diagnose_by_its_fully_qualified_name(installed, lab, tmp_path):
    listed = run([BIN / "ansible-galaxy", "collection", "list", "directaccess.iphttps"], env=installed["env"])
    assert str(installed["collections"] / "ansible_collections") in listed.stdout
    assert f"directaccess.iphttps {galaxy_version()}" in " ".join(listed.stdout.split())

    untrusted = lab.host_in("untrusted_root")
    before = lab.state(untrusted)
    report_dir = tmp_path / "report"
    workdir = tmp_path / "work"  # no collections/ folder beside the run: only the installed copy is found
    workdir.mkdir()
    done = subprocess.run(
        [BIN / "ansible-playbook", "directaccess.iphttps.diagnose", "-i", lab.inventory,
         "-e", json.dumps(dict(lab.ca_inputs(), iphttps_report_dir=str(report_dir), iphttps_run_id="packaging"))],
        cwd=workdir, env=installed["env"], capture_output=True, text=True, timeout=300, check=False)
    # The stopped host is unreachable, which the report records; the run itself succeeds.
    assert done.returncode == 0, done.stdout + done.stderr

    report = json.loads((report_dir / "report.json").read_text())
    assert {run_["run_id"] for run_ in report["runs"]} == {"packaging"}
    assert {record["mode"] for record in report["records"]} == {"diagnose"}
    status_of = {record["host"]: record["status"] for record in report["records"]}
    assert status_of == {lab.host_in("healthy"): "healthy", untrusted: "would_fix",
                         lab.host_in("name_mismatch"): "unfixable", lab.host_in("stopped_host"): "unreachable"}
    for kind in ("csv", "html"):
        assert (report_dir / f"report.{kind}").stat().st_size > 0
    # Diagnose only reads.
    after = lab.state(untrusted)
    assert after["root_store"] == before["root_store"]
    assert after["iphttps_state"]["last_error_code"] == UNTRUSTEDROOT


def test_ansible_doc_renders_the_role_from_the_installed_collection(installed):
    done = run([BIN / "ansible-doc", "-t", "role", "directaccess.iphttps.remediate"], env=installed["env"])
    assert f"({installed['root']})" in done.stdout
    specs = yaml.safe_load((REPO / "roles/remediate/meta/argument_specs.yml").read_text())["argument_specs"]
    # ansible-doc marks names with '*' when colour is off.
    assert re.search(r"^ENTRY POINT: \*?main\*? - ", done.stdout, re.MULTILINE), done.stdout
    missing = [option for option in specs["main"]["options"] if option not in done.stdout]
    assert missing == []


def test_execution_environment_definition_builds_a_context_with_the_collection(tarball, installed, tmp_path):
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    # The EE installs the tarball `ansible-galaxy collection build` writes: the names must follow galaxy.yml.
    wanted = [{"name": f"collections/{tarball.name}", "type": "file"}]
    assert definition["dependencies"]["galaxy"]["collections"] == wanted
    assert definition["additional_build_files"] == [{"src": tarball.name, "dest": "collections"}]

    workdir = tmp_path / "ee"
    workdir.mkdir()
    shutil.copy2(REPO / "execution-environment.yml", workdir)
    shutil.copy2(tarball, workdir)
    context = tmp_path / "context"
    run([BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", context,
         "--output-filename", "Containerfile"], cwd=workdir)
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text()) == {"collections": wanted}
    containerfile = (context / "Containerfile").read_text()
    for pin in (definition["dependencies"]["ansible_core"]["package_pip"],
                definition["dependencies"]["ansible_runner"]["package_pip"]):
        assert pin in containerfile

    # The builder stage runs this script over the installed collections; run it over ours.
    introspect = context / "_build" / "scripts" / "introspect.py"
    found = yaml.safe_load(run([sys.executable, introspect, "introspect", installed["collections"]]).stdout)

    def lines(path: Path) -> list[str]:
        return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]

    ours = "  # from collection directaccess.iphttps"
    assert found["python"] == [line + ours for line in lines(REPO / "requirements.txt")]
    assert found["system"] == [line + ours for line in lines(REPO / "bindep.txt")]
