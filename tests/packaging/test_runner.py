# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediate job run the way AWX runs it, against the lab, read back from ansible-runner's artifacts.

AWX writes a private data directory (inventory/, env/extravars, project/), answers the Machine
credential's password prompt, and starts ansible-playbook through ansible-runner, which records every
job event. What the job did is read here only from what the runner recorded (status, stats, the
events, the set_stats data) plus the lab's own state, never from the playbook's output text.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ansible_runner
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


REPO = Path(__file__).resolve().parents[2]
AWX_JOB_ID = 4711
# The prompt AWX answers with a Machine credential's password when it adds --ask-pass.
SSH_PASSWORD_PROMPT = r"SSH password:\s*?$"
UNTRUSTEDROOT = 0x800B0109
REMEDIATE_HOST = "directaccess.iphttps.remediate_host"
# The project's playbook: AWX job templates name a playbook file in a project, so the project
# imports the collection's playbook by its fully qualified name.
PROJECT_PLAYBOOK = """\
---
- name: Remediate DirectAccess IP-HTTPS trust
  ansible.builtin.import_playbook: directaccess.iphttps.remediate
"""


def windows_thumbprint(pem_file: Path) -> str:
    cert = x509.load_pem_x509_certificate(pem_file.read_bytes())
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()


def split_machine_credential(inventory: dict) -> tuple[str, str]:
    """Take the WinRM user and password out of the lab's inventory, as they would live in an AWX credential."""
    hosts = inventory["all"]["children"]["directaccess_clients"]["hosts"]
    pairs = {(host.pop("ansible_user"), host.pop("ansible_password")) for host in hosts.values()}
    assert len(pairs) == 1, "the lab gives every host one account, as one Machine credential would"
    return pairs.pop()


@pytest.fixture(scope="module")
def job(lab, tmp_path_factory, ansible_env):
    base = tmp_path_factory.mktemp("runner")
    collections = base / "collections"
    (collections / "ansible_collections" / "directaccess").mkdir(parents=True)
    (collections / "ansible_collections" / "directaccess" / "iphttps").symlink_to(REPO, target_is_directory=True)

    private = base / "private_data_dir"
    inventory = yaml.safe_load(lab.inventory.read_text())
    user, password = split_machine_credential(inventory)
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (private / "env").mkdir()
    report_dir = base / "report"
    # AWX adds its job metadata (awx_job_id and the older tower_job_id) to the extra vars; the role names the
    # run after tower_job_id.
    extravars = dict(lab.ca_inputs(), iphttps_report_dir=str(report_dir),
                     awx_job_id=AWX_JOB_ID, tower_job_id=AWX_JOB_ID)
    (private / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (private / "project").mkdir()
    (private / "project" / "remediate.yml").write_text(PROJECT_PLAYBOOK)

    hosts = {scenario: lab.host_in(scenario)
             for scenario in ("healthy", "untrusted_root", "name_mismatch", "stopped_host")}
    before = {name: lab.state(name) for name in hosts.values() if name != hosts["stopped_host"]}
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook="remediate.yml",
        ident=str(AWX_JOB_ID),
        cmdline=f"-u {user} --ask-pass",
        passwords={SSH_PASSWORD_PROMPT: password},
        # ansible-runner starts from this process's environment and writes envvars to env/envvars: pass only
        # what differs.
        envvars={key: value for key, value in ansible_env(collections).items()
                 if key == "PATH" or key.startswith("ANSIBLE_")},
        quiet=True,
        timeout=300,
    )
    return {
        "runner": runner,
        "events": list(runner.events),
        "artifacts": private / "artifacts" / str(AWX_JOB_ID),
        "private": private,
        "report_dir": report_dir,
        "user": user,
        "password": password,
        "hosts": hosts,
        "before": before,
        "lab": lab,
    }


def events_of(job, event: str, action: str | None = None) -> dict[str, dict]:
    """host -> event_data of each ``event`` (for the task running ``action``, when given)."""
    found = {}
    for item in job["events"]:
        data = item.get("event_data", {})
        if item.get("event") == event and (action is None or data.get("task_action") == action):
            assert data["host"] not in found, f"two {event} events for {data['host']} on {action}"
            found[data["host"]] = data
    return found


def test_the_runner_recorded_the_job_as_awx_reads_it(job):
    runner, artifacts = job["runner"], job["artifacts"]
    # The role keeps unreachable laptops in the play (ignore_unreachable) so each gets a record: a fleet with
    # one laptop switched off is a successful job, not a failed one.
    assert (runner.status, runner.rc) == ("successful", 0), (artifacts / "stdout").read_text()
    assert (artifacts / "status").read_text() == "successful"
    assert (artifacts / "rc").read_text() == "0"
    assert sorted((artifacts / "job_events").glob("*.json")), "no job events recorded"
    command = json.loads((artifacts / "command").read_text())
    # The Machine credential reaches WinRM as -u and a password prompt, never as an inventory variable.
    assert command["command"][:4] == ["ansible-playbook", "-u", job["user"], "--ask-pass"]
    # Playbook runs start in the project folder: a relative iphttps_report_dir lands there.
    assert command["cwd"] == str(job["private"] / "project")


def test_stats_count_one_change_one_ignored_unreachable_and_no_failure(job):
    stats, hosts = job["runner"].stats, job["hosts"]
    assert stats["dark"] == {}
    assert set(stats["ignored"]) == {hosts["stopped_host"]}
    assert stats["failures"] == {}
    assert set(stats["changed"]) == {hosts["untrusted_root"]}
    assert {hosts["healthy"], hosts["untrusted_root"], hosts["name_mismatch"]} <= set(stats["ok"])


def test_untrusted_root_host_got_the_root_and_ended_at_0x0(job):
    hosts, lab = job["hosts"], job["lab"]
    done = events_of(job, "runner_on_ok", REMEDIATE_HOST)
    assert {host for host, event in done.items() if event["res"]["changed"]} == {hosts["untrusted_root"]}
    result = done[hosts["untrusted_root"]]["res"]
    root = windows_thumbprint(lab.pki / "root.pem")
    assert [(cert["store"], cert["thumbprint"]) for cert in result["record"]["imported"]] == [("Root", root)]
    assert (result["status"], result["record"]["error_after"]["code"]) == ("fixed", 0)

    before, after = job["before"][hosts["untrusted_root"]], lab.state(hosts["untrusted_root"])
    assert before["iphttps_state"]["last_error_code"] == UNTRUSTEDROOT
    assert root not in before["root_store"] and root in after["root_store"]
    assert after["iphttps_state"]["last_error_code"] == 0


def test_name_mismatch_and_healthy_hosts_were_not_imported_into(job):
    hosts, lab = job["hosts"], job["lab"]
    done = events_of(job, "runner_on_ok", REMEDIATE_HOST)
    for scenario in ("healthy", "name_mismatch"):
        name = hosts[scenario]
        record = done[name]["res"]["record"]
        assert (record["action"], record["imported"], done[name]["res"]["changed"]) == ("none", [], False)
        before, after = job["before"][name], lab.state(name)
        assert (after["root_store"], after["ca_store"]) == (before["root_store"], before["ca_store"]), scenario
        assert after["iphlpsvc"]["restarts"] == before["iphlpsvc"]["restarts"], scenario


def test_stopped_host_is_unreachable_at_detection(job):
    unreachable = events_of(job, "runner_on_unreachable")
    assert set(unreachable) == {job["hosts"]["stopped_host"]}
    assert unreachable[job["hosts"]["stopped_host"]]["task_action"] == REMEDIATE_HOST


def test_set_stats_summary_is_in_the_artifacts_and_matches_the_report(job):
    hosts = job["hosts"]
    stats_events = [item for item in job["events"] if item.get("event") == "playbook_on_stats"]
    assert len(stats_events) == 1
    # ansible-runner keeps set_stats data (aggregate, not per host) in the stats event's artifact_data;
    # AWX stores it as the job's artifacts.
    summary = stats_events[0]["event_data"]["artifact_data"]["iphttps_report"]
    assert summary["run_id"] == f"awx-{AWX_JOB_ID}"
    assert summary["report_dir"] == str(job["report_dir"])
    assert summary["report_json"] == str(job["report_dir"] / "report.json")

    report = json.loads((job["report_dir"] / "report.json").read_text())
    status_of = {record["host"]: record["status"] for record in report["records"]}
    assert status_of == {hosts["healthy"]: "healthy", hosts["untrusted_root"]: "fixed",
                         hosts["name_mismatch"]: "unfixable", hosts["stopped_host"]: "unreachable"}
    assert summary["hosts"] == report["hosts"] == 4
    assert summary["by_status"] == report["by_status"]
    assert {status: count for status, count in summary["by_status"].items() if count} == {
        "healthy": 1, "fixed": 1, "unfixable": 1, "unreachable": 1}
    assert summary["by_verdict"] == report["by_verdict"] == {
        "trusted": 1, "untrusted_root": 1, "name_mismatch": 1, "none": 1}


def test_the_winrm_password_is_in_no_artifact_and_no_report(job):
    # ansible-runner keeps the prompt answers in env/passwords, the job's input (AWX deletes the private data
    # dir after the job); the recorded output and the fleet report must not carry them.
    secret = job["password"].encode()
    written = [path for folder in (job["artifacts"], job["report_dir"]) for path in folder.rglob("*") if path.is_file()]
    assert any(path.parent.name == "job_events" for path in written)
    assert [str(path) for path in written if secret in path.read_bytes()] == []
