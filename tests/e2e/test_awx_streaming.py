# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediate job on AWX's scale-out engine: job slicing, each slice a Receptor work unit on a node of its own.

What AWX does, from its source:

- Job slicing hands slice k of N (from 1) the hosts ``sorted by name[k - 1::N]`` (``Inventory.get_script_data``,
  awx/main/models/inventory.py). Each slice is a job of its own with its own ``awx_job_id``; the slices share
  ``awx_workflow_job_id`` (``UnifiedJob.awx_meta_vars``, awx/main/models/unified_jobs.py).
- Receptor carries each job to an execution node as ansible-runner's streaming work unit. AWX writes the job with
  ``ansible_runner.interface.run(streamer='transmit', _output=...)``, the node runs
  ``ansible-runner worker --private-data-dir=<dir> --delete`` on that stream, and AWX reads the worker's stream
  with ``ansible_runner.interface.run(streamer='process', _input=..., event_handler=..., status_handler=...,
  finished_callback=...)`` (awx/main/tasks/receptor.py). The stream is ansible-runner's remote job format: JSON
  lines, the private data directory and the artifacts as zip files, an eof line
  (https://docs.ansible.com/projects/runner/en/2.4.0/remote_jobs/; ansible_runner/streaming.py).
- AWX keeps a job's artifacts from the ``artifact_data`` of the event that carries it (``RunnerCallback
  .event_handler``, awx/main/tasks/callback.py); ansible-runner puts set_stats data there, in the
  ``playbook_on_stats`` event (ansible_runner/display_callback/callback/awx_display.py).

This module does the same. Transmit and process run here through that Python API; each worker runs as that command
in a network namespace of its own (``ip netns``) whose only way out is a veth pair into a bridge, as a container
on an execution node has. The lab listens on the bridge's address (``--bind``), not on loopback, so a worker
reaches its hosts only across its veth. What the jobs did is read back as AWX reads it: status changes, job events
and artifacts from the process side, and the report folder the slices share.

The namespaces need root. Without root, or without permission to make them, the module is skipped with the
reason; IPHTTPS_REQUIRE_NETNS=1 turns that skip into a failure.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import ansible_runner
import pytest
import yaml

from tests.lab.handle import LabHandle

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FLEET = Path(__file__).resolve().parent / "fleet_awx_streaming.yml"
SLICES = 4
# The lab's latency model: each WinRM command takes this long, as on a real network, and the module stays short.
COMMAND_COST = "0.2"
# The sliced job is workflow 4710, its slices jobs 4711 to 4714; the unsliced jobs get ids of their own.
WORKFLOW_JOB_ID = 4710
REFERENCE_JOB_ID = 4700
SSH_PASSWORD_PROMPT = r"SSH password:\s*?$"  # what AWX answers with the Machine credential's password
# The project's playbook file a job template names: it imports the collection's playbook (docs/awx.md section 2).
PROJECT_PLAYBOOK = "---\n- name: The {name} job\n  ansible.builtin.import_playbook: directaccess.iphttps.{name}\n"
BROKEN = ("untrusted_root", "missing_intermediate")
# What differs between two runs that did the same to a host: the run's name and its times, left out of the
# comparison at the top of a record and inside last_change and deployed_on_host; and in "detail", the address and
# port of the host's WinRM listener (an unreachable host's connection error names them), which differ between labs.
RUN_SPECIFIC_FIELDS = ("run_id", "recorded_at", "elapsed")
# The report's fields about the fleet, not about the runs (report.json also lists its runs and generated_at).
FLEET_FIELDS = ("hosts", "by_status", "by_verdict", "deployed", "outcome", "rejected")


# --- the execution nodes: one network namespace each, a veth pair into one bridge -------------------------------

def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)


def _must(*args: str) -> None:
    done = _ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _cannot(reason: str) -> None:
    if os.environ.get("IPHTTPS_REQUIRE_NETNS") == "1":
        pytest.fail(f"IPHTTPS_REQUIRE_NETNS=1, but {reason}")
    pytest.skip(reason)


@dataclasses.dataclass
class Mesh:
    """A bridge (the lab's side) and, per execution node, a namespace joined to it by a veth pair."""

    tag: str
    prefix: str  # the first three octets of the /24 in RFC 2544's benchmarking range 198.18.0.0/15
    namespaces: list[str] = dataclasses.field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"iph{self.tag}br"

    @property
    def lab_address(self) -> str:
        return f"{self.prefix}.1"

    def veth(self, index: int) -> tuple[str, str]:
        """The pair's two ends: the bridge's side and the node's side (interface names stay under 16 bytes)."""
        return f"iph{self.tag}h{index + 1}", f"iph{self.tag}n{index + 1}"

    def node_address(self, index: int) -> str:
        return f"{self.prefix}.{11 + index}"

    def build(self) -> None:
        _must("link", "add", self.bridge, "type", "bridge")
        _must("addr", "add", f"{self.lab_address}/24", "dev", self.bridge)
        _must("link", "set", self.bridge, "up")
        for index in range(SLICES):
            namespace = f"iphttps-{self.tag}-{index + 1}"
            _must("netns", "add", namespace)
            self.namespaces.append(namespace)
            host_end, node_end = self.veth(index)
            _must("link", "add", host_end, "type", "veth", "peer", "name", node_end, "netns", namespace)
            _must("link", "set", host_end, "master", self.bridge, "up")
            _must("-n", namespace, "addr", "add", f"{self.node_address(index)}/24", "dev", node_end)
            _must("-n", namespace, "link", "set", node_end, "up")
            _must("-n", namespace, "link", "set", "lo", "up")

    def tear_down(self) -> None:
        """Everything build() made, whatever state it got to; processes left in a namespace are killed first."""
        for namespace in self.namespaces:
            with contextlib.suppress(Exception):
                kill_node(namespace)
            _ip("netns", "del", namespace)  # takes the node's veth end, and with it the pair
        _ip("link", "del", self.bridge)
        for index in range(SLICES):
            if _ip("link", "show", self.veth(index)[0]).returncode == 0:
                _ip("link", "del", self.veth(index)[0])


def kill_node(namespace: str, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process in the namespace, as when its execution node dies; -> the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(pid) for pid in _ip("netns", "pids", namespace).stdout.split()]
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.05)
    raise AssertionError(f"processes in {namespace} outlived SIGKILL for {timeout:.0f}s")


@pytest.fixture(scope="module")
def mesh():
    if shutil.which("ip") is None:
        _cannot("needs iproute2's ip command to make network namespaces and veth pairs")
    if os.geteuid() != 0:
        _cannot("needs root to make network namespaces and veth pairs (ip netns add, ip link add)")
    tag = secrets.token_hex(3)
    nodes = Mesh(tag, f"198.18.{int(tag[:2], 16)}")
    try:
        probe = _ip("netns", "add", f"iphttps-{tag}-probe")
        if probe.returncode != 0:
            _cannot(f"cannot make a network namespace here: ip netns add: {probe.stderr.strip()}")
        _ip("netns", "del", f"iphttps-{tag}-probe")
        nodes.build()
        yield nodes
    finally:
        _ip("netns", "del", f"iphttps-{tag}-probe")
        nodes.tear_down()


# --- the labs ---------------------------------------------------------------------------------------------------

def stores(lab: LabHandle) -> dict[str, tuple[set, set]]:
    return {host: (set(lab.state(host)["root_store"]), set(lab.state(host)["ca_store"])) for host in lab.hosts()}


def broken_hosts(lab: LabHandle) -> list[str]:
    return sorted(host for scenario in BROKEN for host in lab.hosts_in(scenario))


@pytest.fixture(scope="module")
def sliced_lab(mesh, tmp_path_factory):
    """The fleet the slices work on, listening only on the bridge's address."""
    lab = LabHandle(tmp_path_factory.mktemp("awx-sliced") / "lab")
    lab.up(FLEET, "--bind", mesh.lab_address, "--command-cost", COMMAND_COST)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def reference_lab(sliced_lab, tmp_path_factory):
    """A second lab built as the first: the same fleet file and a copy of its PKI (so the same thumbprints), on
    loopback, for the unsliced run."""
    lab = LabHandle(tmp_path_factory.mktemp("awx-reference") / "lab")
    shutil.copytree(sliced_lab.pki, lab.pki)
    lab.up(FLEET, "--command-cost", COMMAND_COST)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def collections(tmp_path_factory) -> Path:
    """The collection as the execution environment holds it."""
    base = tmp_path_factory.mktemp("awx-collections")
    (base / "ansible_collections" / "directaccess").mkdir(parents=True)
    (base / "ansible_collections" / "directaccess" / "iphttps").symlink_to(REPO, target_is_directory=True)
    return base


# --- AWX's side: slices, the private data directory, transmit | worker | process ---------------------------------

def awx_slices(hosts, count: int) -> list[list[str]]:
    """AWX's job slicing: the hosts by name, slice k (from 1) takes every count-th host from the k-th on."""
    ordered = sorted(hosts)
    return [ordered[k::count] for k in range(count)]


def slice_inventory(inventory: dict, hosts: list[str]) -> dict:
    """The inventory pared down to ``hosts`` with its groups and variables, as AWX writes a slice's inventory."""
    pared = copy.deepcopy(inventory)
    groups = pared["all"]["children"]
    for name, group in list(groups.items()):
        kept = {host: hostvars for host, hostvars in (group.get("hosts") or {}).items() if host in hosts}
        if kept:
            group["hosts"] = kept
        else:
            del groups[name]
    return pared


def split_machine_credential(inventory: dict) -> tuple[str, str]:
    """Take the WinRM account out of the inventory, as it would live in an AWX Machine credential."""
    hosts = inventory["all"]["children"]["directaccess_clients"]["hosts"]
    pairs = {(host.pop("ansible_user"), host.pop("ansible_password")) for host in hosts.values()}
    assert len(pairs) == 1, "the lab gives every host one account, as one Machine credential would"
    return pairs.pop()


def ansible_env(collections: Path) -> dict[str, str]:
    """The execution node's environment: no stray Ansible or Python path settings, the collection in the EE path."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_") and key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False", ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_FORKS="8")
    return env


def awx_vars(job_id: int, workflow_job_id: int | None = None) -> dict:
    """The job metadata AWX adds to every job's extra vars, under its awx_ and older tower_ names."""
    meta = {"awx_job_id": job_id, "tower_job_id": job_id}
    if workflow_job_id is not None:
        meta.update(awx_workflow_job_id=workflow_job_id, tower_workflow_job_id=workflow_job_id)
    return meta


def ca_inputs(lab: LabHandle) -> dict:
    return {"iphttps_ca_sources": [{"path": str(lab.pki / "root.pem")}, {"path": str(lab.pki / "issuing.pem")}],
            "iphttps_ca_pins": [(lab.pki / "root.sha256").read_text().strip()]}


@dataclasses.dataclass
class AwxJob:
    """One job run on an execution node, and what AWX's RunnerCallback keeps of it from the process side."""

    job_id: int
    hosts: list[str]
    private: Path  # AWX's private data directory on the control node
    node_dir: Path  # the worker's --private-data-dir on the execution node
    namespace: str | None
    password: str
    statuses: list[dict] = dataclasses.field(default_factory=list)
    events: list[dict] = dataclasses.field(default_factory=list)
    artifacts: dict = dataclasses.field(default_factory=dict)
    finished: bool = False
    failure: BaseException | None = None
    worker: subprocess.Popen | None = None
    thread: threading.Thread | None = None

    # The three callbacks AWX hands the process side (awx/main/tasks/callback.py).
    def status_handler(self, status_data, runner_config):  # pylint: disable=unused-argument
        self.statuses.append(dict(status_data))

    def event_handler(self, event_data):
        self.events.append(event_data)
        if event_data.get("event_data", {}).get("artifact_data"):
            self.artifacts = event_data["event_data"]["artifact_data"]
        return False  # AWX stores the events itself, so the processor writes no job_events files

    def finished_callback(self, runner_obj):  # pylint: disable=unused-argument
        self.finished = True

    @property
    def status(self) -> str | None:
        return self.statuses[-1]["status"] if self.statuses else None

    def events_named(self, name: str) -> list[dict]:
        return [event for event in self.events if event.get("event") == name]

    @property
    def stats(self) -> dict:
        found = self.events_named("playbook_on_stats")
        assert len(found) == 1, f"job {self.job_id}: {len(found)} playbook_on_stats events\n{self.output()}"
        return found[0]["event_data"]

    def output(self) -> str:
        """The job's output as AWX shows it (from the events), then the worker's own stderr."""
        stdout = "\n".join(event.get("stdout", "") for event in self.events if event.get("stdout"))
        log = self.node_dir.parent / f"worker-{self.job_id}.log"
        return f"{stdout}\n--- worker stderr ---\n{log.read_text(errors='replace') if log.exists() else ''}"


def launch(lab: LabHandle, collections: Path, base: Path, job_id: int, hosts: list[str], extra_vars: dict,
           namespace: str | None, playbook: str = "remediate") -> AwxJob:
    """Write the job's private data directory, transmit it to a worker (in ``namespace``), process its stream."""
    inventory = yaml.safe_load(lab.inventory.read_text())
    user, password = split_machine_credential(inventory)
    private = base / f"job-{job_id}"
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(slice_inventory(inventory, hosts)))
    (private / "project").mkdir()
    (private / "project" / f"{playbook}.yml").write_text(PROJECT_PLAYBOOK.format(name=playbook))
    job = AwxJob(job_id, sorted(hosts), private, base / f"node-{job_id}", namespace, password)
    env = ansible_env(collections)

    # The work unit's payload, as Receptor holds it until the node reads it.
    payload = base / f"job-{job_id}.stream"
    with open(payload, "wb") as stream:
        ansible_runner.run(
            streamer="transmit", _output=stream, private_data_dir=str(private), ident=str(job_id),
            playbook=f"{playbook}.yml", inventory=str(private / "inventory" / "hosts.yml"), extravars=extra_vars,
            cmdline=f"-u {user} --ask-pass", passwords={SSH_PASSWORD_PROMPT: password},
            envvars={key: value for key, value in env.items() if key == "PATH" or key.startswith("ANSIBLE_")},
            settings={"job_timeout": 300, "suppress_ansible_output": True, "suppress_output_file": True})

    command = [str(BIN / "ansible-runner"), "worker", f"--private-data-dir={job.node_dir}", "--delete"]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    with open(payload, "rb") as stream, open(base / f"worker-{job_id}.log", "wb") as log:
        job.worker = subprocess.Popen(command, stdin=stream, stdout=subprocess.PIPE, stderr=log, env=env, cwd=base)

    def process() -> None:
        try:
            ansible_runner.run(streamer="process", quiet=True, _input=job.worker.stdout, private_data_dir=str(private),
                               ident=str(job_id), event_handler=job.event_handler, status_handler=job.status_handler,
                               finished_callback=job.finished_callback)
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            job.failure = exc

    job.thread = threading.Thread(target=process, name=f"process-{job_id}", daemon=True)
    job.thread.start()
    return job


def finish(job: AwxJob, timeout: float = 300.0) -> AwxJob:
    job.thread.join(timeout)
    if job.thread.is_alive():
        if job.namespace is not None:
            kill_node(job.namespace)
        else:
            job.worker.kill()
        raise AssertionError(f"job {job.job_id} did not finish within {timeout:.0f}s\n{job.output()}")
    job.worker.wait(timeout=30)
    assert job.failure is None, f"job {job.job_id}: the process side raised {job.failure!r}"
    return job


def report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def journal(folder: Path) -> dict[str, dict]:
    """host -> record, of one run's folder (its .run.json left out)."""
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json") if not path.name.startswith(".")}


def comparable(record: dict, lab: LabHandle) -> dict:
    """A report record without RUN_SPECIFIC_FIELDS, at its top and in its last_change and deployed_on_host, and
    with the host's WinRM address and port in its detail replaced by a placeholder."""
    kept = {key: value for key, value in record.items() if key not in RUN_SPECIFIC_FIELDS}
    address = json.loads((lab.directory / "lab.json").read_text())["bind"]
    listener = f"host='{address}', port={lab.hosts()[record['host']]['port']}"
    kept["detail"] = kept["detail"].replace(listener, "host=<its WinRM listener>")
    if kept.get("last_change"):
        kept["last_change"] = {k: v for k, v in kept["last_change"].items() if k not in RUN_SPECIFIC_FIELDS}
    kept["deployed_on_host"] = [{k: v for k, v in entry.items() if k not in RUN_SPECIFIC_FIELDS}
                                for entry in kept.get("deployed_on_host") or []]
    return kept


# --- the sliced run and the unsliced one ------------------------------------------------------------------------

# How the slices name their runs: by default each after its own job (awx-<slice job id>); given a change number in
# the survey's iphttps_run_id, all of them share that one run (docs/awx.md section 7).
RUN_NAMING = {"own_job_ids": None, "one_change_number": "CHG0012345"}


@pytest.fixture(scope="module", params=sorted(RUN_NAMING))
def runs(request, mesh, sliced_lab, reference_lab, collections, tmp_path_factory):
    """The remediate job sliced in four, one slice per node, and the same job unsliced on the second lab."""
    for lab in (sliced_lab, reference_lab):
        reset = lab.cli("reset")  # both labs start from their templates, whichever run came before
        assert reset.returncode == 0, reset.stderr
    base = tmp_path_factory.mktemp("awx-jobs")
    shared, alone = base / "shared-report", base / "reference-report"
    common = {"iphttps_restart_delay": 2, "iphttps_reconnect_timeout": 60}
    change = RUN_NAMING[request.param]
    slices = awx_slices(sliced_lab.hosts(), SLICES)
    job_ids = [WORKFLOW_JOB_ID + 1 + index for index in range(SLICES)]
    before = stores(sliced_lab)
    reference = launch(reference_lab, collections, base, REFERENCE_JOB_ID, sorted(reference_lab.hosts()),
                       {**ca_inputs(reference_lab), **common, **awx_vars(REFERENCE_JOB_ID),
                        "iphttps_report_dir": str(alone)}, namespace=None)
    survey = {"iphttps_run_id": change} if change else {}
    jobs = [launch(sliced_lab, collections, base, job_id, hosts,
                   {**ca_inputs(sliced_lab), **common, **survey, **awx_vars(job_id, WORKFLOW_JOB_ID),
                    "iphttps_report_dir": str(shared)}, namespace=mesh.namespaces[index])
            for index, (job_id, hosts) in enumerate(zip(job_ids, slices))]
    for job in [reference, *jobs]:
        finish(job)
    return {"slices": slices, "jobs": jobs, "reference": reference, "shared": shared, "alone": alone,
            "before": before, "lab": sliced_lab, "reference_lab": reference_lab,
            "run_ids": [change or f"awx-{job_id}" for job_id in job_ids]}


def test_each_node_reaches_the_lab_only_across_its_veth(mesh, sliced_lab, reference_lab):
    port = next(host["port"] for host in sliced_lab.hosts().values() if host["listening"])
    elsewhere = next(host["port"] for host in reference_lab.hosts().values() if host["listening"])
    probe = ("import socket, sys\n"
             "for address, port in ((sys.argv[1], int(sys.argv[2])), ('127.0.0.1', int(sys.argv[3]))):\n"
             "    try:\n"
             "        socket.create_connection((address, port), timeout=3).close()\n"
             "        print(address, 'open')\n"
             "    except OSError as exc:\n"
             "        print(address, type(exc).__name__)\n")
    for index, namespace in enumerate(mesh.namespaces):
        routes = _ip("-n", namespace, "-4", "route", "show").stdout.split("\n")
        assert [line.split()[:3] for line in routes if line] == [
            [f"{mesh.prefix}.0/24", "dev", mesh.veth(index)[1]]], routes
        seen = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", probe, mesh.lab_address,
                               str(port), str(elsewhere)], capture_output=True, text=True, timeout=30, check=True)
        # The lab on the bridge answers; the loopback lab, one hop away in the host's namespace, cannot be seen.
        assert seen.stdout.split("\n")[:2] == [f"{mesh.lab_address} open", "127.0.0.1 ConnectionRefusedError"]


def test_awx_slices_by_name_and_each_slice_touches_only_its_hosts(runs):
    fleet = sorted(runs["lab"].hosts())
    slices = runs["slices"]
    assert sorted(host for part in slices for host in part) == fleet
    assert [len(part) for part in slices] == [3, 3, 2, 2]
    assert slices[0] == [fleet[0], fleet[4], fleet[8]]
    for job, part in zip(runs["jobs"], slices):
        touched = {event["event_data"]["host"] for event in job.events
                   if event.get("event", "").startswith("runner_on_") and "host" in event.get("event_data", {})}
        assert touched - {"localhost"} == set(part), job.output()
    # Each slice's run holds exactly its own hosts; slices sharing one run id fill that run's folder together.
    folders = sorted(set(runs["run_ids"]))
    assert sorted(path.name for path in (runs["shared"] / "runs").iterdir()) == folders
    held = {folder: sorted(journal(runs["shared"] / "runs" / folder)) for folder in folders}
    if len(folders) == 1:
        assert held == {folders[0]: fleet}
    else:
        assert held == dict(zip(runs["run_ids"], slices))


def test_the_merged_report_of_the_slices_equals_the_unsliced_run(runs):
    merged, alone = report(runs["shared"]), report(runs["alone"])
    assert runs["reference"].status == "successful", runs["reference"].output()
    assert sorted(run["run_id"] for run in merged["runs"]) == sorted(set(runs["run_ids"]))
    assert [run["run_id"] for run in alone["runs"]] == [f"awx-{REFERENCE_JOB_ID}"]
    assert [comparable(record, runs["lab"]) for record in merged["records"]] == [
        comparable(record, runs["reference_lab"]) for record in alone["records"]]
    assert {field: merged[field] for field in FLEET_FIELDS} == {field: alone[field] for field in FLEET_FIELDS}
    # Not trivially equal: the fleet holds every outcome the slices must agree on.
    assert {status for status, count in merged["by_status"].items() if count} == {
        "healthy", "fixed", "unfixable", "not_directaccess", "unreachable"}
    fixed = sorted(record["host"] for record in merged["records"] if record["status"] == "fixed")
    assert fixed == broken_hosts(runs["lab"])
    after = stores(runs["lab"])
    assert sorted(host for host in after if after[host] != runs["before"][host]) == fixed


def test_status_events_and_set_stats_come_back_through_process(runs):
    lab, merged = runs["lab"], report(runs["shared"])
    broken, stopped = set(broken_hosts(lab)), set(lab.hosts_in("stopped_host"))
    summaries = []
    for job, part, run_id in zip(runs["jobs"], runs["slices"], runs["run_ids"]):
        # The worker's status changes, in order, and its end of stream reach AWX's callbacks.
        assert [status["status"] for status in job.statuses] == ["starting", "running", "successful"], job.output()
        assert job.finished
        stats = job.stats
        assert set(stats["changed"]) == broken & set(part), job.output()
        assert set(stats["ignored"]) == stopped & set(part)
        assert (stats["failures"], stats["dark"]) == ({}, {})
        # The worker streams its artifact folder back after the events; process unpacks it where AWX reads it.
        artifacts = job.private / "artifacts" / str(job.job_id)
        assert ((artifacts / "status").read_text(), (artifacts / "rc").read_text()) == ("successful", "0")
        # set_stats arrives in the stats event's artifact_data, which AWX keeps as the job's artifacts.
        assert job.artifacts == stats["artifact_data"]
        summary = job.artifacts["iphttps_report"]
        assert summary["run_id"] == run_id
        # The run's records in the folder: the slice's own, and with a shared run id also the other slices' so far.
        if run_id == f"awx-{job.job_id}":
            assert summary["run_records"] == len(part)
        else:
            assert len(part) <= summary["run_records"] <= len(lab.hosts())
        assert summary["report_json"] == str(runs["shared"] / "report.json")
        done = {event["event_data"]["host"]: event["event_data"]["res"] for event in job.events_named("runner_on_ok")
                if event["event_data"].get("task_action") == "directaccess.iphttps.remediate_host"}
        standing = {record["host"]: record["status"] for record in merged["records"]}
        assert {host: result["status"] for host, result in done.items()} == {
            host: standing[host] for host in part if host not in stopped}
        secret = job.password
        assert secret not in json.dumps(job.events) and secret not in json.dumps(job.statuses)
        reported = [event for event in job.events_named("runner_on_ok")
                    if event["event_data"].get("task_action") == "directaccess.iphttps.fleet_report"]
        assert len(reported) == 1, job.output()
        summaries.append((reported[0]["created"], summary))
    # Each slice's summary shows the folder as that slice's report left it (other slices' hosts may still have
    # been in progress); the report written last, under the folder's lock, holds every host's final record.
    summaries.sort(key=lambda pair: pair[0])
    last = summaries[-1][1]
    assert (last["hosts"], last["by_status"], last["by_verdict"]) == (
        merged["hosts"], merged["by_status"], merged["by_verdict"])


def test_a_node_killed_mid_slice_loses_no_record_and_rolls_back(sliced_lab, mesh, collections, tmp_path):
    lab = sliced_lab
    reset = lab.cli("reset")
    assert reset.returncode == 0, reset.stderr
    before = stores(lab)
    report_dir, run_id = tmp_path / "report", "CHG0012345-w1"
    slices = awx_slices(lab.hosts(), SLICES)
    broken = broken_hosts(lab)
    # The node to kill: the slice with the most hosts to fix. The restart waits long enough for the kill to land
    # after the imports and before the slice could record them fixed.
    target = max(range(SLICES), key=lambda index: len(set(slices[index]) & set(broken)))
    target_broken = sorted(set(slices[target]) & set(broken))
    assert len(target_broken) >= 2
    # Slices given one change number share one run, as docs/awx.md section 7 describes.
    common = dict(ca_inputs(lab), iphttps_report_dir=str(report_dir), iphttps_run_id=run_id,
                  iphttps_restart_delay=10, iphttps_reconnect_timeout=60)
    jobs = [launch(lab, collections, tmp_path, 4800 + index, hosts, dict(common, **awx_vars(4800 + index, 4799)),
                   namespace=mesh.namespaces[index]) for index, hosts in enumerate(slices)]
    victim = jobs[target]
    deadline = time.monotonic() + 120
    while any(stores(lab)[host] == before[host] for host in target_broken):
        assert victim.worker.poll() is None, f"the worker ended before the imports\n{victim.output()}"
        assert time.monotonic() < deadline, f"the imports never happened\n{victim.output()}"
        time.sleep(0.1)
    assert kill_node(mesh.namespaces[target])
    for job in jobs:
        finish(job)

    # AWX sees the killed slice's stream end without its stats: the job errors, with the reason.
    assert victim.status == "error" and victim.finished
    assert "Worker did not produce events or streaming was aborted" in victim.statuses[-1]["job_explanation"]
    assert victim.events_named("playbook_on_stats") == []
    assert [job.status for index, job in enumerate(jobs) if index != target] == ["successful"] * (SLICES - 1)

    changed = sorted(host for host in lab.hosts() if stores(lab)[host] != before[host])
    assert changed == broken
    records = journal(report_dir / "runs" / run_id)
    for host in changed:
        record = records[host]
        if host in target_broken:
            # Journaled before the import was sent, with what it may put on the host: enough to take it back.
            assert (record["status"], bool(record["attempted"])) == ("in_progress", True), record
        else:
            assert (record["status"], bool(record["imported"])) == ("fixed", True), record

    # One unsliced rollback job, on one node, takes back everything the run's slices put on the hosts.
    undo = finish(launch(lab, collections, tmp_path, 4810, sorted(lab.hosts()),
                         dict(awx_vars(4810), iphttps_report_dir=str(report_dir), iphttps_rollback_run=run_id),
                         namespace=mesh.namespaces[0], playbook="rollback"))
    assert undo.status == "successful", undo.output()
    assert stores(lab) == before, undo.output()
