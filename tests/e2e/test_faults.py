# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet with faults: remediate three times and roll back, and nothing is lost, faked or left behind.

A lab fleet (tests/e2e/fleet_faults.yml: every host broken in a way an import fixes) gets seeded faults on some
hosts (tests/lab/faults.py: drops, HTTP 500, WS-Management faults, hangs, access denied, failed restarts, IP-HTTPS
that never recovers, malformed and huge JSON, lost replies, reboots mid-poll), each transient or permanent.

- First run: every host without a fault is fixed; every host has its own record (none filled in for it), a host
  recorded fixed really reads 0x0 in the lab, and a faulted host that is not fixed says why.
- Second run: every host whose faults were transient is fixed or healthy.
- Third run: no store changes on any host; every host without a permanent fault is healthy at one command.
- Rolling back the first run restores every host it changed byte for byte; rolling back the second as well
  restores the whole fleet's stores byte for byte.

``make test`` runs 50 hosts with 11 faulted (one per kind) at forks 16. ``make soak`` runs the same with
IPHTTPS_FAULT_HOSTS=500, IPHTTPS_FAULT_SHARE=0.05 and IPHTTPS_FAULT_FORKS=50. IPHTTPS_FAULT_SEED=N (default
fixed; ``make soak`` draws one) repeats a run; the seed is printed. IPHTTPS_FAULT_SUMMARY=FILE writes the
figures as JSON.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import new_lab
from tests.lab.faults import KINDS, plan_faults, read_fired

BASE_FLEET = Path(__file__).resolve().parent / "fleet_faults.yml"
HOSTS = int(os.environ.get("IPHTTPS_FAULT_HOSTS", "50"))
SHARE = float(os.environ.get("IPHTTPS_FAULT_SHARE", "0"))  # 0: one host per fault kind
FORKS = int(os.environ.get("IPHTTPS_FAULT_FORKS", "16"))
SEED = int(os.environ.get("IPHTTPS_FAULT_SEED", "20261202"))
NOT_FIXED = ("fix_failed", "failed", "unreachable", "in_progress")


_CONFIG: list = []


def first_run_status(kind: str, step: str, transient: bool) -> str:
    """What the first run must record for a host with one fault: what the collection rides out inside the task
    is fixed, the rest says why it is not."""
    if kind == "huge_json":
        return "fixed"  # taken whole
    if kind == "hang":
        # 25 s: a command waits it out; a poll is given up when the 20 s reconnect window closes.
        return "fix_failed" if step == "iphttps_state" else "fixed"
    if kind == "malformed_json":
        if step == "iphttps_state":
            return "fixed" if transient else "fix_failed"  # a garbled poll is asked again within the window
        return "failed" if step == "client_info" else "fix_failed"
    if kind in ("access_denied", "restart_fails", "never_recovers"):
        return "fix_failed"
    if kind == "reboot":
        return "fixed" if transient else "fix_failed"  # a reboot at every poll never lets the restart be proven
    if kind == "wsman_fault" and transient:
        return "fixed"  # Ansible's connection re-creates the shell once on the quota fault
    if step == "client_info":
        return "unreachable"
    return "fixed" if transient else "fix_failed"  # a change is run again, a poll repeated, within the window


# What the record of a host that is not fixed must say, per fault kind (reason and detail together).
WHY = {"access_denied": "Access denied", "restart_fails": "Restart-Service failed", "never_recovers": "did not reach 0x0",
       "malformed_json": "no result document"}


def say(text: str) -> None:
    """Past pytest's capture: the seed and the figures belong on the console."""
    capture = _CONFIG[0].pluginmanager.getplugin("capturemanager") if _CONFIG else None
    if capture is None:
        print(text, file=sys.stderr, flush=True)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{text}", file=sys.stderr, flush=True)


@pytest.fixture(scope="module")
def fleet(request, tmp_path_factory):
    _CONFIG[:] = [request.config]
    base = tmp_path_factory.mktemp("faults")
    lab = new_lab(base)
    names = [f"da-client-{n:0{max(2, len(str(HOSTS)))}d}" for n in range(1, HOSTS + 1)]
    count = max(1, math.ceil(HOSTS * SHARE)) if SHARE else len(KINDS)
    plan = plan_faults(names, count=count, seed=SEED)
    scenario = yaml.safe_load(BASE_FLEET.read_text())
    scenario["host_faults"] = plan
    path = base / "fleet.yml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    say(f"fault run: seed {SEED} (IPHTTPS_FAULT_SEED={SEED} repeats it), {HOSTS} hosts, {len(plan)} with faults, "
        f"forks {FORKS}")
    started = time.monotonic()
    lab.cli("down")
    assert lab.cli("up", "--scenario", str(path), "--hosts", str(HOSTS)).returncode == 0
    say(f"fault run: lab up in {time.monotonic() - started:.1f}s")
    try:
        yield lab, plan, base
    finally:
        lab.down()


def stores(lab) -> dict[str, str]:
    """Every host's Root, CA and Disallowed stores as the lab persists them, as canonical text."""
    keep = ("root_store", "ca_store", "disallowed_store")
    return {host: json.dumps({key: lab.state(host).get(key) for key in keep}, sort_keys=True) for host in lab.hosts()}


def last_error(lab, host):
    state = lab.state(host)
    return (state.get("iphttps_state") or {}).get("last_error_code"), state["iphlpsvc"]["status"]


def records_of(report_dir: Path) -> dict[str, dict]:
    return {r["host"]: r for r in json.loads((report_dir / "report.json").read_text())["records"]}


def test_faults_first_run_second_run_third_run_and_rollback(fleet, tmp_path):
    lab, plan, base = fleet
    pki = lab.pki
    hosts = sorted(lab.hosts())
    transient = {h for h, faults in plan.items() if all(f.get("times") for f in faults)}
    permanent = set(plan) - transient
    cas = {"iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
           "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()],
           "iphttps_reconnect_timeout": 20, "iphttps_restart_delay": 1}
    figures: dict = {"seed": SEED, "hosts": HOSTS, "faulted": len(plan), "forks": FORKS, "runs": []}

    def remediate(number: int):
        out = tmp_path / f"run{number}"
        before = lab.counts()
        started = time.monotonic()
        run = lab.playbook("directaccess.iphttps.remediate", "--forks", str(FORKS), extra_vars=dict(
            cas, iphttps_report_dir=str(out), iphttps_run_id=f"fault-run-{number}"))
        took = time.monotonic() - started
        after = lab.counts()
        records = records_of(out)
        by_status: dict[str, int] = {}
        for record in records.values():
            by_status[record["status"]] = by_status.get(record["status"], 0) + 1
        reasons: dict[str, dict[str, int]] = {}
        for host, faults in plan.items():
            key = f"{faults[0]['kind']}@{faults[0]['step']} ({'transient' if faults[0].get('times') else 'permanent'})"
            status = records[host]["status"] if host in records else "missing"
            reasons.setdefault(key, {})[status] = reasons.setdefault(key, {}).get(status, 0) + 1
        figures["runs"].append({"run": number, "seconds": round(took, 1), "by_status": by_status,
                                "faulted_by_kind": reasons})
        say(f"fault run {number}: {took:.1f}s, {by_status}")
        return run, records, {h: after.get(h, 0) - before.get(h, 0) for h in hosts}, out

    initial = stores(lab)

    # -- first run --
    run, records, _commands, first = remediate(1)
    after_first = stores(lab)
    context = f"seed {SEED}; plan {plan}; output tail:\n{run.stdout[-3000:]}"
    assert sorted(records) == hosts, context
    assert not [h for h, r in records.items() if r.get("filled_in")], f"a host lost its record; {context}"
    for host, record in records.items():
        code, service = last_error(lab, host)
        if record["status"] == "fixed":
            # Never a false "fixed": the lab's own IP-HTTPS state agrees.
            assert (code, service) == (0, "Running"), f"{host} recorded fixed but reads {code} {service}; {context}"
        elif host not in plan:
            pytest.fail(f"{host} has no fault but ended {record['status']}: {record['reason']} {record['detail']}; "
                        f"{context}")
        else:
            assert record["status"] in NOT_FIXED, f"{host}: {record}; {context}"
            assert record["reason"].strip(), f"{host} says no reason: {record}; {context}"
        if host in plan:
            fault = plan[host][0]
            expected = first_run_status(fault["kind"], fault["step"], bool(fault.get("times")))
            assert record["status"] == expected, f"{host} ({fault}): expected {expected}: {record}; {context}"
            said = f"{record['reason']} {record['detail']}"
            assert record["status"] == "fixed" or WHY.get(fault["kind"], "") in said, \
                f"{host} ({fault}) does not say {WHY.get(fault['kind'])!r}: {said}; {context}"
    fired = read_fired(lab.directory / "state")
    assert sorted(fired) == sorted(plan), f"every planned fault fired, and no other: {sorted(fired)}; {context}"

    # -- second run: the transient faults are gone --
    run, records, _commands, second = remediate(2)
    after_second = stores(lab)
    context = f"seed {SEED}; plan {plan}; output tail:\n{run.stdout[-3000:]}"
    assert sorted(records) == hosts and not [h for h, r in records.items() if r.get("filled_in")], context
    for host in hosts:
        record, (code, service) = records[host], last_error(lab, host)
        if record["status"] in ("fixed", "healthy"):
            assert (code, service) == (0, "Running"), f"{host} recorded {record['status']} but reads {code}; {context}"
        if host not in permanent:
            assert record["status"] in ("fixed", "healthy"), f"{host} ({plan.get(host)}): {record}; {context}"

    # -- third run: nothing left to change --
    run, records, commands, _third = remediate(3)
    context = f"seed {SEED}; plan {plan}; output tail:\n{run.stdout[-3000:]}"
    assert stores(lab) == after_second, f"the third run changed a store; {context}"
    for host in hosts:
        if host not in permanent:
            assert (records[host]["status"], commands[host]) == ("healthy", 1), f"{host}: {records[host]}; {context}"

    # -- rollback of the first run, then of the second: byte for byte --
    started = time.monotonic()
    changed_first = [h for h in hosts if after_first[h] != initial[h]]
    lab.playbook("directaccess.iphttps.rollback", "--forks", str(FORKS), extra_vars={
        "iphttps_rollback_run": str(first / "runs" / "fault-run-1"), "iphttps_report_dir": str(tmp_path / "undo1"),
        "iphttps_restart_delay": 1, "iphttps_reconnect_timeout": 20})
    now = stores(lab)
    for host in hosts:
        expected = initial[host] if host in changed_first else after_second[host]
        assert now[host] == expected, f"{host}: the rollback of run 1 left {now[host]}; seed {SEED}, plan {plan}"
    if (second / "runs" / "fault-run-2").is_dir() and any(after_second[h] != after_first[h] for h in hosts):
        lab.playbook("directaccess.iphttps.rollback", "--forks", str(FORKS), extra_vars={
            "iphttps_rollback_run": str(second / "runs" / "fault-run-2"),
            "iphttps_report_dir": str(tmp_path / "undo2"), "iphttps_restart_delay": 1, "iphttps_reconnect_timeout": 20})
    assert stores(lab) == initial, f"the rollbacks did not restore every store; seed {SEED}, plan {plan}"
    figures["rollback_seconds"] = round(time.monotonic() - started, 1)
    figures["changed_by_run_1"] = len(changed_first)
    say(f"fault run: rollbacks {figures['rollback_seconds']}s; every store byte for byte as before")
    summary = os.environ.get("IPHTTPS_FAULT_SUMMARY")
    if summary:
        Path(summary).write_text(json.dumps(figures, indent=2) + "\n")
    del base
