# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The password canary: no secret of the run shows in anything the runs write.

Diagnose, remediate and rollback run at -vvvv --diff with the lab's WinRM password and a CA source
URL carrying a password of its own, which a local HTTP server insists on. Then every byte of their
output, every record and report, and every ansible-runner artifact of the same job run through
ansible-runner is searched for either password, in every form it could be written in.
"""
from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import secrets
import sys
import threading
import urllib.parse
from pathlib import Path

import ansible_runner
import pytest
import yaml

LAB_FLEET = Path(__file__).resolve().parent / "fleet_secrets.yml"
URL_USER = "pki-reader"
# Characters a password may hold that a URL must percent-encode, so every written form is searched for.
URL_PASSWORD = "Url-Canary-" + secrets.token_hex(6) + "/+:="
PROJECT_PLAYBOOK = """\
---
- name: Diagnose DirectAccess IP-HTTPS trust
  ansible.builtin.import_playbook: directaccess.iphttps.diagnose
"""
SSH_PASSWORD_PROMPT = r"SSH password:\s*?$"


def forms(secret: str) -> set[bytes]:
    """Every way the secret could be written: as is, percent-encoded, JSON-escaped, inside Basic auth."""
    found = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret), json.dumps(secret)[1:-1]}
    return {form.encode() for form in found}


def around(data: bytes, needles: set[bytes]) -> list[str]:
    """Where each needle occurs in data, with what surrounds it, to find the code that wrote it."""
    found = []
    for needle in needles:
        start = data.find(needle)
        while start >= 0:
            found.append(repr(data[max(0, start - 300):start + len(needle) + 100]))
            start = data.find(needle, start + 1)
    return found


@contextlib.contextmanager
def pki_server(root_pem: bytes):
    """Serves the root CA only to a request with the URL's credentials; yields (base URL, answers given)."""
    expected = "Basic " + base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
    served: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="pki"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                served.append(401)
                return
            if self.path != "/root.pem":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                served.append(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(root_pem)))
            self.end_headers()
            self.wfile.write(root_pem)
            served.append(200)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def runner_job(lab, base: Path, extra_vars: dict, password: str) -> Path:
    """The diagnose job the way AWX starts it: credential as -u and a prompt answer; returns its artifacts folder."""
    private = base / "private_data_dir"
    inventory = yaml.safe_load(lab.inventory.read_text())
    hosts = inventory["all"]["children"]["directaccess_clients"]["hosts"]
    users = {host.pop("ansible_user") for host in hosts.values()}
    for host in hosts.values():
        host.pop("ansible_password")
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (private / "env").mkdir()
    (private / "env" / "extravars").write_text(yaml.safe_dump(extra_vars))
    (private / "project").mkdir()
    (private / "project" / "diagnose.yml").write_text(PROJECT_PLAYBOOK)
    [user] = users
    runner = ansible_runner.run(
        private_data_dir=str(private), playbook="diagnose.yml", ident="4712",
        cmdline=f"-u {user} --ask-pass -vvvv --diff", passwords={SSH_PASSWORD_PROMPT: password},
        envvars={"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                 "ANSIBLE_COLLECTIONS_PATH": str(lab.collections), "ANSIBLE_NOCOLOR": "1",
                 "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_FORKS": "8"},
        quiet=True, timeout=300)
    artifacts = private / "artifacts" / "4712"
    assert runner.status == "successful", (artifacts / "stdout").read_text()[-3000:]
    return artifacts


@pytest.fixture(scope="module")
def canary(lab, tmp_path_factory):
    base = tmp_path_factory.mktemp("canary")
    winrm_password = json.loads((lab.directory / "credentials.json").read_text())["password"]
    report_dir = base / "report"
    with pki_server((lab.pki / "root.pem").read_bytes()) as (address, served):
        url = f"http://{URL_USER}:{urllib.parse.quote(URL_PASSWORD, safe='')}@{address}/root.pem"
        extra_vars = {
            "iphttps_ca_sources": [{"url": url}, {"path": str(lab.pki / "issuing.pem")}],
            "iphttps_ca_pins": [(lab.pki / "root.sha256").read_text().strip()],
            "iphttps_report_dir": str(report_dir), "iphttps_reconnect_timeout": 20, "iphttps_restart_delay": 1,
        }
        # In a vars file, as docs/security.md says: ansible-playbook -vvvv prints its command line, -e values too.
        vars_file = base / "approved-cas.yml"
        vars_file.write_text(yaml.safe_dump(extra_vars))
        runs = {
            "diagnose": lab.playbook("directaccess.iphttps.diagnose", "-vvvv", "-e", f"@{vars_file}", diff=True),
            "remediate": lab.playbook("directaccess.iphttps.remediate", "-vvvv", "-e", f"@{vars_file}", diff=True,
                                      extra_vars={"iphttps_run_id": "canary-fix"}),
            "rollback": lab.playbook("directaccess.iphttps.rollback", "-vvvv", "-e", f"@{vars_file}", diff=True,
                                     extra_vars={"iphttps_rollback_run": "canary-fix"}),
        }
        # A failed fetch: the URL is echoed in the error.
        missing = base / "missing-ca.yml"
        missing.write_text(yaml.safe_dump(dict(extra_vars, iphttps_ca_sources=[{"url": url + ".missing"}])))
        runs["failed fetch"] = lab.playbook("directaccess.iphttps.diagnose", "-vvvv", "-e", f"@{missing}", diff=True)
        artifacts = runner_job(lab, base / "runner", dict(extra_vars, iphttps_report_dir=str(base / "runner-report")),
                               winrm_password)
    return {"runs": runs, "artifacts": artifacts, "report_dirs": [report_dir, base / "runner-report"],
            "served": served, "winrm": winrm_password, "workdir": lab.workdir}


def test_the_secrets_were_used(canary, lab):
    # The URL's credentials reached the server (it refuses any request without them) on each fetch.
    assert canary["served"] and set(canary["served"]) == {200, 404}, canary["served"]
    records = {r["host"]: r for r in json.loads((canary["report_dirs"][0] / "report.json").read_text())["records"]}
    [fixed] = lab.hosts_in("untrusted_root")
    [wrong] = lab.hosts_in("wrong_credentials")
    run = json.loads((canary["report_dirs"][0] / "runs" / "canary-fix" / f"{fixed}.json").read_text())
    assert run["status"] == "fixed", run
    assert records[fixed]["status"] == "removed", records[fixed]
    wrong_run = json.loads((canary["report_dirs"][0] / "runs" / "canary-fix" / f"{wrong}.json").read_text())
    assert wrong_run["status"] in ("unreachable", "failed"), wrong_run
    # The URL was echoed, as the source of the certificates it gave and in the failed fetch's error, with its
    # credentials masked.
    assert "http://***@127.0.0.1:" in canary["runs"]["remediate"].stdout
    failed = canary["runs"]["failed fetch"]
    assert failed.rc != 0 and "root.pem.missing): download failed: HTTP 404" in failed.stdout, failed.stdout[-2000:]


@pytest.mark.parametrize("secret", ["winrm", "url"])
def test_no_output_record_report_or_artifact_holds_a_password(canary, secret):
    password = canary["winrm"] if secret == "winrm" else URL_PASSWORD
    needles = forms(password)
    if secret == "url":
        needles.add(base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()))
    leaks = []
    for name, run in canary["runs"].items():
        leaks += [f"{name} output: {context}" for context in around(run.stdout.encode(), needles)]
    # Every file the runs wrote: report folders with their records, the tree callback's per-host results,
    # and the runner job's artifacts (stdout, job events, command, status).
    folders = canary["report_dirs"] + [canary["workdir"], canary["artifacts"]]
    written = sorted({path for folder in folders for path in folder.rglob("*") if path.is_file()})
    assert any(path.parent.name == "job_events" for path in written)
    assert any(path.name == "report.html" for path in written)
    for path in written:
        leaks += [f"{path}: {context}" for context in around(path.read_bytes(), needles)]
    assert leaks == []
