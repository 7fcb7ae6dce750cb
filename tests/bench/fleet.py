# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet-scale benchmarks for bench.py: what the playbooks cost per host next to Ansible's floor.

4. fleet: one lab of (by default) 500 simulated clients, half healthy and half broken (untrusted
   root, missing intermediate). Inventories of 100 and 500 of them, forks 50. Each round runs,
   in rotating order, for both sizes: the floor (one ansible.builtin.raw per host), the
   directaccess.iphttps.diagnose playbook and the directaccess.iphttps.remediate playbook. The
   lab is reset to its scenario templates after every remediate run, so every run sees half the
   fleet broken. Wall time, controller CPU (ansible-playbook and its workers, from
   RUSAGE_CHILDREN), the main process's own CPU, the lab daemon's CPU and the lab's WinRM
   command count per host are recorded for every run.
5. latency: a lab with the latency model on (a cost per WinRM command, tests/lab), remediate
   beside the hand-written ansible.windows job, emulated command for command (HAND_JOB_PLAY).

The playbooks are run by FQCN, so whatever the role is when the bench runs is what it measures.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

FLOOR_PLAY = """\
---
# Written by tests/bench/fleet.py: the floor, the least a play can do per host over WinRM.
- name: One raw command per host
  hosts: directaccess_clients
  gather_facts: false
  tasks:
    - name: hostname (one WinRM command)
      ansible.builtin.raw: hostname
      changed_when: false
"""

# What a user would otherwise write with ansible.windows, per broken host (issue 7):
#   win_shell to read 1, win_copy of the PEMs 5, win_certificate_store per certificate (root and
#   issuing: 2), win_service 1, a polling win_shell 1 (the lab would answer 0x0 at once), win_file 1.
# The lab cannot run ansible.windows modules, so every one of those commands is a raw
# 'hostname': the same number of WinRM commands per host, each paying the lab's command cost,
# and the same number of tasks (loops where one module makes several commands). Which hosts are
# broken comes from the inventory (lab_scenario), standing for parsing what the first read
# returned. What the emulation leaves out makes the hand-written job look cheaper than it is:
# module payloads sent over stdin, the exec wrapper, file transfer, and the wait for the service.
HAND_JOB_COMMANDS = {"read": 1, "copy": 5, "certificate_store": 2, "service": 1, "poll": 1, "file": 1}
HAND_JOB_PLAY = """\
---
# Written by tests/bench/fleet.py: the hand-written ansible.windows job, emulated command for
# command with raw (the lab cannot run ansible.windows modules). Nothing on the host changes.
- name: Hand-written ansible.windows job, emulated
  hosts: directaccess_clients
  gather_facts: false
  vars:
    broken: "{{{{ lab_scenario != 'healthy' }}}}"
  tasks:
    - name: win_shell - read IP-HTTPS state and the stores ({read} command)
      ansible.builtin.raw: hostname
      changed_when: false
    - name: win_copy - the CA PEMs to the host ({copy} commands)
      ansible.builtin.raw: hostname
      loop: "{{{{ range({copy}) | list }}}}"
      when: broken | bool
    - name: win_certificate_store - one per certificate ({certificate_store} commands)
      ansible.builtin.raw: hostname
      loop: "{{{{ range({certificate_store}) | list }}}}"
      when: broken | bool
    - name: win_service - restart iphlpsvc ({service} command)
      ansible.builtin.raw: hostname
      when: broken | bool
    - name: win_shell - poll until LastErrorCode is 0x0 ({poll} command)
      ansible.builtin.raw: hostname
      when: broken | bool
    - name: win_file - remove the copied PEMs ({file} command)
      ansible.builtin.raw: hostname
      when: broken | bool
""".format(**HAND_JOB_COMMANDS)
HAND_JOB_BROKEN = sum(HAND_JOB_COMMANDS.values())

BROKEN_TEMPLATES = ("untrusted_root", "missing_intermediate")
SCENARIO = """\
description: bench fleet, half healthy, half broken (CA key rollover, missing intermediate)
hosts:
  - template: healthy
    count: 2
  - template: untrusted_root
    count: 1
  - template: missing_intermediate
    count: 1
"""

_TICK = os.sysconf("SC_CLK_TCK")


class FleetError(RuntimeError):
    """A fleet benchmark could not run as designed."""


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of one process, not its children; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Run:
    """One ansible-playbook run: wall seconds, CPU of the whole tree and of its main process."""

    def __init__(self, wall: float, cpu: float, main_cpu: float, lab_cpu: float, commands: dict[str, int]):
        self.wall, self.cpu, self.main_cpu, self.lab_cpu, self.commands = wall, cpu, main_cpu, lab_cpu, commands


class FleetLab:
    """A lab of ``size`` hosts (half healthy, half broken) in ``base``, with inventories of its subsets."""

    def __init__(self, base: Path, collections: Path, repo: Path, size: int, forks: int, command_cost: float = 0.0):
        self.base = base
        self.directory = base / "lab"
        self.work = base / "work"
        self.collections = collections
        self.repo = repo
        self.size = size
        self.forks = forks
        self.command_cost = command_cost
        self.started = False
        self.runs = 0

    # -- the lab --

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tests.lab", *args, "--lab-dir", str(self.directory)],
                              cwd=self.repo, capture_output=True, text=True, timeout=timeout, check=False)

    def up(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        scenario = self.base / "scenario.yml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        (self.work / "floor.yml").write_text(FLOOR_PLAY, encoding="utf-8")
        (self.work / "hand_job.yml").write_text(HAND_JOB_PLAY, encoding="utf-8")
        self.started = True  # before: a half-started daemon must be stopped too
        extra = ["--command-cost", repr(self.command_cost)] if self.command_cost else []
        done = self.cli("up", "--hosts", str(self.size), "--scenario", str(scenario), *extra)
        if done.returncode != 0:
            raise FleetError(f"the lab did not start: {done.stdout}{done.stderr}")
        self.lab = json.loads((self.directory / "lab.json").read_text(encoding="utf-8"))
        self.scenario_of = {name: host["scenario"] for name, host in self.lab["hosts"].items()}

    def down(self) -> None:
        if not self.started:
            return
        done = self.cli("down", timeout=120)
        if done.returncode != 0:
            print(f"  warning: 'python -m tests.lab down' failed: {done.stdout}{done.stderr}", file=sys.stderr)
        self.started = False

    def reset(self) -> None:
        done = self.cli("reset")
        if done.returncode != 0:
            raise FleetError(f"lab reset failed: {done.stdout}{done.stderr}")

    def counts(self) -> dict[str, int]:
        path = self.directory / "state" / "counts.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def last_errors(self, hosts: list[str]) -> dict[str, int | None]:
        errors = {}
        for host in hosts:
            record = json.loads((self.directory / "state" / f"{host}.json").read_text(encoding="utf-8"))
            state = record["iphttps_state"]
            errors[host] = None if state is None else state["last_error_code"]
        return errors

    # -- inventories --

    def subset(self, size: int) -> tuple[Path, list[str], list[str]]:
        """An inventory of ``size`` hosts, half healthy and half broken; -> (path, healthy, broken)."""
        by_scenario: dict[str, list[str]] = {}
        for name, scenario in self.scenario_of.items():
            by_scenario.setdefault(scenario, []).append(name)
        healthy = sorted(by_scenario.get("healthy", []))[:size - size // 2]
        broken_each = [sorted(by_scenario.get(t, [])) for t in BROKEN_TEMPLATES]
        want = size // 2
        broken = []
        for index, names in enumerate(broken_each):
            share = want // len(broken_each) + (1 if index < want % len(broken_each) else 0)
            broken += names[:share]
        if len(healthy) + len(broken) != size:
            raise FleetError(f"the {self.size}-host lab cannot give {size} hosts half healthy, half broken")
        document = yaml.safe_load((self.directory / "inventory.yml").read_text(encoding="utf-8"))
        members = document["all"]["children"]["directaccess_clients"]["hosts"]
        chosen = healthy + broken
        inventory = {"all": {"vars": document["all"]["vars"], "children": {"directaccess_clients": {
            "hosts": {name: members[name] for name in chosen}}}}}
        path = self.work / f"inventory-{size}.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the lab password
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            yaml.safe_dump(inventory, stream, sort_keys=False)
        return path, healthy, broken

    # -- running playbooks --

    def extra_vars(self, tag: str) -> list[str]:
        pki = self.directory / "pki"
        values = {
            "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
            "iphttps_ca_pins": [(pki / "root.sha256").read_text(encoding="ascii").strip()],
            "iphttps_report_dir": str(self.work / "reports" / tag),
            "iphttps_run_id": tag,
            "iphttps_reconnect_timeout": 60,
        }
        return ["-e", json.dumps(values)]

    def playbook(self, playbook: str, inventory: Path, tag: str, *extra: str,
                 wrap: list[str] | None = None) -> Run:
        """Run ansible-playbook with the bench's forks; fails unless it exits 0."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(self.collections), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_FORKS=str(self.forks),
                   ANSIBLE_LOCAL_TEMP=str(self.work / "ansible-tmp"), ANSIBLE_HOST_KEY_CHECKING="False")
        env.pop("ANSIBLE_CONFIG", None)
        command = [*(wrap or []), str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                   playbook, *extra]
        log_path = self.work / "logs" / f"{tag}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        before_counts = self.counts()
        lab_pid = self.lab["pid"]
        lab_before = _proc_cpu(lab_pid) or 0.0
        cpu_before = _children_cpu()
        main_cpu = [0.0]
        start = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as log:
            process = subprocess.Popen(command, cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT)
            stop = threading.Event()

            def sample():  # the main process's own CPU; the last sample before it exits
                while not stop.wait(0.1):
                    value = _proc_cpu(process.pid)
                    if value is not None:
                        main_cpu[0] = max(main_cpu[0], value)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                returncode = process.wait(timeout=3600)
            finally:
                stop.set()
                sampler.join()
                if process.poll() is None:
                    process.kill()
                    process.wait()
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu_before
        lab_cpu = (_proc_cpu(lab_pid) or lab_before) - lab_before
        self.runs += 1
        if returncode != 0:
            tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
            raise FleetError(f"ansible-playbook {playbook} ({tag}) exited {returncode}:\n{tail}")
        after = self.counts()
        spent = {host: after.get(host, 0) - before_counts.get(host, 0) for host in after}
        return Run(wall, cpu, main_cpu[0], lab_cpu, spent)


# ---------------------------------------------------------------------------------------------
# Checks: a benchmark of the wrong thing is worse than none
# ---------------------------------------------------------------------------------------------

def _check_counts(kind: str, run: Run, healthy: list[str], broken: list[str], others: list[str]) -> None:
    wrong = {host: run.commands.get(host) for host in others if run.commands.get(host, 0) != 0}
    if wrong:
        raise FleetError(f"{kind}: hosts outside the inventory ran commands: {wrong}")
    expect_broken_min, expect_broken_max = {"floor": (1, 1), "diagnose": (1, 1),
                                            "remediate": (3, 99), "hand_job": (HAND_JOB_BROKEN, HAND_JOB_BROKEN)}[kind]
    wrong = {host: run.commands.get(host) for host in healthy if run.commands.get(host) != 1}
    if wrong:
        raise FleetError(f"{kind}: a healthy host must cost exactly 1 WinRM command; got {wrong}")
    wrong = {host: run.commands.get(host) for host in broken
             if not expect_broken_min <= run.commands.get(host, 0) <= expect_broken_max}
    if wrong:
        raise FleetError(f"{kind}: broken hosts' WinRM commands outside {expect_broken_min}-{expect_broken_max}: "
                         f"{dict(list(wrong.items())[:10])}")


def _check_fixed(lab: FleetLab, healthy: list[str], broken: list[str]) -> None:
    errors = lab.last_errors(healthy + broken)
    wrong = {host: code for host, code in errors.items() if code != 0}
    if wrong:
        raise FleetError(f"remediate left hosts whose IP-HTTPS error is not 0x0: {dict(list(wrong.items())[:10])}")


def _check_broken(lab: FleetLab, broken: list[str]) -> None:
    errors = lab.last_errors(broken)
    wrong = {host: code for host, code in errors.items() if not code}
    if wrong:
        raise FleetError(f"after the reset, broken hosts read 0x0: {dict(list(wrong.items())[:10])}")


# ---------------------------------------------------------------------------------------------
# 4. fleet
# ---------------------------------------------------------------------------------------------

KINDS = ("floor", "diagnose", "remediate")
PLAYBOOK = {"floor": None, "diagnose": "directaccess.iphttps.diagnose",
            "remediate": "directaccess.iphttps.remediate", "hand_job": None}


def _run_kind(lab: FleetLab, kind: str, inventory: Path, tag: str, wrap: list[str] | None = None) -> Run:
    if kind == "floor":
        return lab.playbook(str(lab.work / "floor.yml"), inventory, tag, wrap=wrap)
    if kind == "hand_job":
        return lab.playbook(str(lab.work / "hand_job.yml"), inventory, tag, wrap=wrap)
    return lab.playbook(PLAYBOOK[kind], inventory, tag, *lab.extra_vars(tag), wrap=wrap)


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _ratios(numerator: list[float], denominator: list[float]) -> dict:
    return _summary([a / b for a, b in zip(numerator, denominator)])


def bench_fleet(results, quick: bool, base: Path, collections: Path, repo: Path, sizes: tuple[int, ...],
                forks: int, rounds: int, profile: Path | None, facts: dict) -> None:
    """Floor, diagnose and remediate on fleets of each size, interleaved; rows into ``results``."""
    lab = FleetLab(base / "fleet", collections, repo, max(sizes), forks)
    try:
        started = time.perf_counter()
        lab.up()
        print(f"  lab up: {lab.size} hosts in {time.perf_counter() - started:.1f}s", flush=True)
        inventories = {size: lab.subset(size) for size in sizes}
        everyone = list(lab.scenario_of)
        variants = [(size, kind) for size in sizes for kind in KINDS]
        runs: dict[tuple[int, str], list[Run]] = {variant: [] for variant in variants}
        # Warm-up on 4 hosts: the first run of each playbook compiles and caches what it loads.
        warm, _healthy, _broken = lab.subset(4)
        for kind in KINDS:
            _run_kind(lab, kind, warm, f"warmup-{kind}")
        lab.reset()
        load = []
        for index in range(rounds):
            shift = index % len(variants)
            for size, kind in variants[shift:] + variants[:shift]:
                inventory, healthy, broken = inventories[size]
                load.append(os.getloadavg()[0])
                tag = f"r{index + 1}-{size}-{kind}"
                run = _run_kind(lab, kind, inventory, tag)
                _check_counts(kind, run, healthy, broken, [h for h in everyone if h not in healthy + broken])
                if kind == "remediate":
                    _check_fixed(lab, healthy, broken)
                    lab.reset()
                    _check_broken(lab, broken)
                runs[(size, kind)].append(run)
                print(f"  round {index + 1}: {size} hosts, {kind}: {run.wall:.1f}s wall, "
                      f"{run.cpu / size * 1e3:.0f} ms CPU per host, lab {run.lab_cpu:.1f}s CPU", flush=True)
        facts["fleet_load"] = {"min": min(load), "max": max(load), "median": statistics.median(load)}
        facts["fleet_sizes"] = list(sizes)
        facts["fleet_forks"] = forks
        facts["fleet_rounds"] = rounds
        _fleet_rows(results, runs, sizes, inventories, facts)
        if profile is not None:
            _profile(lab, max(sizes), inventories[max(sizes)][0], profile, facts)
    finally:
        lab.down()


def _fleet_rows(results, runs, sizes, inventories, facts) -> None:
    small, big = min(sizes), max(sizes)
    targets = facts.setdefault("targets", [])
    for size in sizes:
        wall = {kind: [run.wall for run in runs[(size, kind)]] for kind in KINDS}
        cpu = {kind: [run.cpu / size for run in runs[(size, kind)]] for kind in KINDS}
        main = {kind: [run.main_cpu / size for run in runs[(size, kind)]] for kind in KINDS}
        lab_cpu = {kind: [run.lab_cpu / size for run in runs[(size, kind)]] for kind in KINDS}
        for kind in KINDS:
            results.add("fleet", f"{size} hosts, {kind}: wall time", _summary(wall[kind]), "s")
        for kind in KINDS[1:]:
            ratio = _ratios(wall[kind], wall["floor"])
            results.add("fleet", f"  {size} hosts, wall ratio {kind} / floor", ratio, "x", kind="ratio")
            if kind == "diagnose" and size == big:
                targets.append(("diagnose wall time / floor, %d hosts" % size, ratio["median"], 1.3, ratio))
        for kind in KINDS:
            results.add("fleet", f"{size} hosts, {kind}: controller CPU per host", _summary(cpu[kind]), "ms", 1e3)
        for kind in KINDS:
            results.add("fleet", f"{size} hosts, {kind}: of which the main process, per host",
                        _summary(main[kind]), "ms", 1e3)
        for kind in KINDS[1:]:
            ratio = _ratios(cpu[kind], cpu["floor"])
            results.add("fleet", f"  {size} hosts, controller CPU per host, {kind} / floor", ratio, "x", kind="ratio")
            if kind == "remediate":
                targets.append((f"remediate controller CPU per host / floor, {size} hosts", ratio["median"], 1.5,
                                ratio))
        for kind in KINDS:
            results.add("fleet", f"{size} hosts, {kind}: lab daemon CPU per host", _summary(lab_cpu[kind]), "ms", 1e3)
        _inventory, healthy, broken = inventories[size]
        for kind in KINDS:
            for label, hosts in (("healthy", healthy), ("broken", broken)):
                values = [run.commands[host] for run in runs[(size, kind)] for host in hosts]
                results.exact("fleet", f"{size} hosts, {kind}: WinRM commands per {label} host",
                              statistics.median(values), "commands", (min(values), max(values)))
    for kind in KINDS:
        per_host_wall = _ratios([run.wall / big for run in runs[(big, kind)]],
                                [run.wall / small for run in runs[(small, kind)]])
        per_host_cpu = _ratios([run.cpu / big for run in runs[(big, kind)]],
                               [run.cpu / small for run in runs[(small, kind)]])
        results.add("fleet", f"  {kind}: wall time per host, {big} / {small} hosts", per_host_wall, "x", kind="ratio")
        results.add("fleet", f"  {kind}: controller CPU per host, {big} / {small} hosts", per_host_cpu, "x",
                    kind="ratio")
        targets.append((f"{kind}: wall time per host, {big} / {small} hosts", per_host_wall["median"], 1.2,
                        per_host_wall))
        targets.append((f"{kind}: controller CPU per host, {big} / {small} hosts", per_host_cpu["median"], 1.2,
                        per_host_cpu))
    for kind, label, group, goal in (("diagnose", "diagnose, healthy host", 1, 1),
                                     ("diagnose", "diagnose, broken host", 2, 1),
                                     ("remediate", "remediate, healthy host", 1, 1),
                                     ("remediate", "remediate, broken host", 2, 3)):
        values = [run.commands[host] for size in sizes for run in runs[(size, kind)]
                  for host in inventories[size][group]]
        targets.append((f"WinRM commands per host: {label}", max(values), goal,
                        {"median": statistics.median(values), "min": min(values), "max": max(values),
                         "n": len(values)}))


# ---------------------------------------------------------------------------------------------
# Profile
# ---------------------------------------------------------------------------------------------

def _py_spy() -> str | None:
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"),
                      str(Path(sys.executable).parent / "py-spy")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _profile(lab: FleetLab, size: int, inventory: Path, output: Path, facts: dict) -> None:
    """One diagnose and one remediate run under py-spy (all processes), summarised by function."""
    spy = _py_spy()
    if spy is None:
        print("  profile skipped: py-spy not found (pip install py-spy, or set PY_SPY)", flush=True)
        facts["profile"] = None
        return
    output.mkdir(parents=True, exist_ok=True)
    summaries = {}
    for kind in ("floor", "diagnose", "remediate"):
        raw = output / f"{kind}-{size}.txt"
        wrap = [spy, "record", "--subprocesses", "--nonblocking", "--rate", "50", "--format", "raw",
                "--output", str(raw), "--"]
        run = _run_kind(lab, kind, inventory, f"profile-{size}-{kind}", wrap=wrap)
        if kind == "remediate":
            lab.reset()
        summaries[kind] = summarise_profile(raw)
        summaries[kind]["wall"] = run.wall
        print(f"  profiled {kind} at {size} hosts: {raw}", flush=True)
    facts["profile"] = {"size": size, "directory": str(output), "kinds": summaries}


def summarise_profile(path: Path, top: int = 12) -> dict:
    """Samples per process role and the functions with most self and inclusive time.

    py-spy's collapsed stacks start with the process ('process PID:"cmdline"'), and a child's
    with its parent's first: the main process is the outermost one, the workers its forks.
    """
    self_time: dict[str, dict[str, int]] = {"main": {}, "workers": {}}
    inclusive: dict[str, dict[str, int]] = {"main": {}, "workers": {}}
    totals = {"main": 0, "workers": 0}
    workers = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _sep, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        processes = [frame for frame in frames if re.match(r'process \d+:"', frame)]
        frames = [frame for frame in frames if not re.match(r'process \d+:"', frame)]
        role = "workers" if len(processes) > 1 else "main"
        if role == "workers":
            workers.add(re.match(r"process (\d+)", processes[-1]).group(1))
            # A fork carries its parent's stack above the worker's own: keep the worker's part.
            cut = next((i for i, frame in enumerate(frames) if frame.startswith("WorkerProcess._run ")), None)
            frames = frames[cut + 1:] if cut is not None else frames
        totals[role] += count
        if not frames:
            continue
        leaf = _frame(frames[-1])
        self_time[role][leaf] = self_time[role].get(leaf, 0) + count
        for name in {_frame(frame) for frame in frames}:
            inclusive[role][name] = inclusive[role].get(name, 0) + count

    def ranked(table: dict[str, int], total: int, spine: float = 1.01) -> list[tuple[str, float]]:
        shares = sorted(((name, count / total) for name, count in table.items()), key=lambda i: -i[1]) \
            if total else []
        return [(name, share) for name, share in shares if share < spine][:top]

    # Inclusive lists leave out the spine every sample shares (the CLI, the strategy loop).
    return {"samples": totals, "workers": len(workers),
            "self": {role: ranked(self_time[role], totals[role]) for role in totals},
            "inclusive": {role: ranked(inclusive[role], totals[role], 0.55) for role in totals}}


def _frame(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'function (file.py)', shortened for a table."""
    name, _sep, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    parts = path.split("/")
    if "ansible_collections" in parts:
        short = "/".join(parts[parts.index("ansible_collections") + 3:])
    elif "ansible" in parts:
        short = "ansible/" + "/".join(parts[len(parts) - 1 - parts[::-1].index("ansible") + 1:])
    else:
        short = parts[-1]
    return f"{name} ({short})"


# ---------------------------------------------------------------------------------------------
# 5. latency model: remediate beside the hand-written ansible.windows job
# ---------------------------------------------------------------------------------------------

def bench_latency(results, quick: bool, base: Path, collections: Path, repo: Path, hosts: int, forks: int,
                  rounds: int, command_cost: float, facts: dict) -> None:
    lab = FleetLab(base / "latency", collections, repo, hosts, forks, command_cost=command_cost)
    try:
        started = time.perf_counter()
        lab.up()
        print(f"  lab up: {hosts} hosts, {command_cost:g} s per WinRM command, in "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        inventory, healthy, broken = lab.subset(hosts)
        warm, _healthy, _broken = lab.subset(4)
        for kind in ("remediate", "hand_job"):
            _run_kind(lab, kind, warm, f"latency-warmup-{kind}")
        lab.reset()
        variants = ["remediate", "hand_job"]
        runs: dict[str, list[Run]] = {kind: [] for kind in variants}
        for index in range(rounds):
            order = variants if index % 2 == 0 else variants[::-1]
            for kind in order:
                run = _run_kind(lab, kind, inventory, f"latency-r{index + 1}-{kind}")
                _check_counts(kind, run, healthy, broken, [])
                if kind == "remediate":
                    _check_fixed(lab, healthy, broken)
                lab.reset()
                _check_broken(lab, broken)
                runs[kind].append(run)
                print(f"  round {index + 1}: {kind}: {run.wall:.1f}s wall", flush=True)
        for kind, label in (("remediate", "remediate"), ("hand_job", "hand-written ansible.windows job, emulated")):
            results.add("latency", f"{hosts} hosts, {label}: wall time", _summary([r.wall for r in runs[kind]]), "s")
        ratio = _ratios([r.wall for r in runs["hand_job"]], [r.wall for r in runs["remediate"]])
        results.add("latency", "  wall ratio hand-written job / remediate", ratio, "x", kind="ratio")
        for kind, label in (("remediate", "remediate"), ("hand_job", "hand-written job")):
            results.add("latency", f"{hosts} hosts, {label}: controller CPU per host",
                        _summary([r.cpu / hosts for r in runs[kind]]), "ms", 1e3)
            for group, names in (("healthy", healthy), ("broken", broken)):
                values = [r.commands[host] for r in runs[kind] for host in names]
                results.exact("latency", f"{hosts} hosts, {label}: WinRM commands per {group} host",
                              statistics.median(values), "commands", (min(values), max(values)))
        facts.setdefault("targets", []).append(
            (f"hand-written job / remediate, wall time, {command_cost:g} s per command", ratio["median"], 2.5, ratio))
        facts["latency"] = {"hosts": hosts, "forks": forks, "rounds": rounds, "command_cost": command_cost}
    finally:
        lab.down()


@contextlib.contextmanager
def exported_tree(repo: Path, ref: str | None, base: Path):
    """The collection to measure: the working tree, or ``ref`` exported with git archive."""
    if ref is None:
        yield repo, None
        return
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=repo, capture_output=True,
                            text=True, check=False)
    if commit.returncode != 0:
        raise FleetError(f"--commit {ref}: not a commit: {commit.stderr.strip()}")
    target = base / "tree"
    target.mkdir()
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit.stdout.strip()], cwd=repo,
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise FleetError(f"git archive {ref} failed")
    yield target, commit.stdout.strip()


# ---------------------------------------------------------------------------------------------
# docs/performance.md
# ---------------------------------------------------------------------------------------------

ANALYSIS_BEGIN = "<!-- analysis: written by people, kept by bench.py when it rewrites this file -->"
ANALYSIS_END = "<!-- end of analysis -->"


def _fmt_target(value: float, goal: float, label: str) -> str:
    return f"{value:g}" if label.startswith("WinRM") else f"{value:.2f}x"


def write_doc(path: Path, table: str, facts: dict, info: dict, command: str, elapsed: float,
              when: str, tree: str) -> None:
    """Write the measured figures to ``path``; the analysis block already there is kept."""
    kept = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if ANALYSIS_BEGIN in text and ANALYSIS_END in text:
            kept = text[text.index(ANALYSIS_BEGIN) + len(ANALYSIS_BEGIN):text.index(ANALYSIS_END)].strip("\n")
    lines = [
        "# Performance",
        "",
        "Written by `tests/bench/bench.py` (`make bench`); the figures below are measured, never edited",
        "by hand. How to read them: `tests/bench/README.md`. What the lab is and what it cannot show:",
        "`docs/lab.md`.",
        "",
        "## How these were measured",
        "",
        f"- **Command:** `{command}` (from the repository root), {elapsed / 60:.0f} minutes.",
        f"- **When and what:** {when}; the collection as in {tree}.",
        f"- **Machine:** {info['cpus']} CPUs ({info['cpu_model'] or 'unknown model'}), {info['platform']}; "
        f"Python {info['python']}, ansible-core {info['ansible-core']}, cryptography {info['cryptography']}.",
        f"- **Load:** 1-minute load average {' '.join(map(str, info['load_average']))} at the start, "
        f"{' '.join(map(str, info.get('load_average_end', [])))} at the end"
        + (f"; before each fleet run it was {facts['fleet_load']['min']:.1f} to {facts['fleet_load']['max']:.1f} "
           f"(median {facts['fleet_load']['median']:.1f})" if facts.get("fleet_load") else "")
        + ". The lab daemon, ansible-playbook and its forks all share these cores, with whatever else ran "
          "on the machine, so absolute times move between runs; the ratios are taken per round.",
    ]
    if facts.get("fleet_sizes"):
        lines.append(f"- **Fleet suite:** one lab of {max(facts['fleet_sizes'])} simulated clients on loopback, "
                     "half healthy, a quarter `untrusted_root`, a quarter `missing_intermediate`; inventories of "
                     f"{' and '.join(map(str, facts['fleet_sizes']))} of them (each half healthy, half broken); "
                     f"forks {facts['fleet_forks']}; {facts['fleet_rounds']} interleaved round(s). The lab is reset "
                     "to its templates after every remediate run. The latency model is off (0 s per command), so "
                     "these runs measure the controller, the part the collection controls.")
    if facts.get("latency"):
        latency = facts["latency"]
        lines.append(f"- **Latency suite:** {latency['hosts']} hosts (half broken), forks {latency['forks']}, "
                     f"{latency['rounds']} round(s), the lab's latency model at {latency['command_cost']:g} s per "
                     "WinRM command (`python -m tests.lab up --command-cost`, reasons in `docs/lab.md`).")
    targets = facts.get("targets", [])
    if targets:
        lines += ["", "## Targets (issue 7)", "", "| target | measured (median) | spread | goal | |",
                  "|---|---|---|---|---|"]
        for label, value, goal, stats in targets:
            counts = label.startswith("WinRM")
            if counts:
                met, spread = value <= goal, f"{stats['min']:g}-{stats['max']:g} (median {stats['median']:g})"
                shown, goal_text = f"{value:g} (worst host)", f"{goal:g}"
                by = "" if met else f"missed: {value - goal:g} more"
            elif label.startswith("hand-written"):
                met, spread = value >= goal, f"{stats['min']:.2f}x-{stats['max']:.2f}x"
                shown, goal_text = f"{value:.2f}x", f">= {goal:g}x"
                by = "" if met else f"missed by {goal / value:.2f}x"
            else:
                met, spread = value <= goal, f"{stats['min']:.2f}x-{stats['max']:.2f}x"
                shown, goal_text = f"{value:.2f}x", f"<= {goal:g}x"
                by = "" if met else f"missed by {value / goal:.2f}x"
            lines.append(f"| {label} | {shown} | {spread} | {goal_text} | {'met' if met else by} |")
    lines += ["", "## All measurements", "", table]
    profile = facts.get("profile")
    if profile:
        lines += ["", f"## Profile ({profile['size']} hosts, py-spy over every process, 50 samples/s)", "",
                  "Share of samples; \"main\" is ansible-playbook's own process, \"workers\" its forks. Self time is "
                  "where the samples were taken, inclusive counts a function once per sample when it was anywhere "
                  "on the stack (frames on more than 55% of the stacks, the CLI and strategy spine, are left out). "
                  "py-spy finds a new fork only when it next scans the process tree, so it misses short-lived "
                  "workers: take the split between main process and workers from the CPU rows above, and the "
                  "worker lists as a sample of where worker time goes. Raw stacks (py-spy's collapsed format) were "
                  f"written to `{profile['directory']}`.", ""]
        for kind, summary in profile["kinds"].items():
            samples = summary["samples"]
            lines += [f"### {kind}: {summary['wall']:.1f} s wall, {samples['main']} samples in the main process, "
                      f"{samples['workers']} in {summary['workers']} workers", ""]
            for role in ("main", "workers"):
                lines += [f"{role}, self time:", ""]
                lines += [f"- {share * 100:.1f}% {name}" for name, share in summary["self"][role][:8]]
                lines += ["", f"{role}, inclusive (first {len(summary['inclusive'][role][:10])}):", ""]
                lines += [f"- {share * 100:.1f}% {name}" for name, share in summary["inclusive"][role][:10]]
                lines.append("")
    lines += ["", "## What the figures say", "", ANALYSIS_BEGIN,
              kept or "(No analysis written yet.)", ANALYSIS_END, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
