# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: the main job against a fresh lab fleet, with a before/after table.

Starts a lab of simulated DirectAccess clients (tests/lab) with mixed scenarios, runs the
collection's diagnose, remediate and diagnose playbooks against it by their fully qualified
names, prints what changed per host and where the HTML report is, and stops the lab.
Everything runs on loopback; nothing here touches a real Windows host.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(command: list[str], env: dict | None = None, quiet: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=quiet, text=True, check=False)
    if done.returncode not in (0, 2, 4):  # 2 and 4: failed or unreachable hosts, which the demo shows
        sys.stdout.write((done.stdout or "") + (done.stderr or ""))
        raise SystemExit(f"demo: {' '.join(command[:3])} failed with exit code {done.returncode}")
    return done


def lab(*args: str, lab_dir: Path) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "tests.lab", *args, "--lab-dir", str(lab_dir)])


def error_text(error: dict | None) -> str:
    return f"{error['hex']} {error['name']}" if error else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=22)
    parser.add_argument("--work-dir", default=".demo")
    args = parser.parse_args()
    started = time.monotonic()

    work = (REPO / args.work_dir).resolve()
    lab_dir, report_dir = work / "lab", work / "report"
    if (lab_dir / "lab.pid").exists():
        lab("down", lab_dir=lab_dir)
    # A fresh fleet every time: a second demo on a fixed fleet would have nothing to show.
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    collections = work / "collections" / "ansible_collections" / "directaccess"
    collections.mkdir(parents=True)
    (collections / "iphttps").symlink_to(REPO, target_is_directory=True)

    print(f"demo: starting a lab fleet of {args.hosts} simulated DirectAccess clients on loopback")
    lab("up", "--hosts", str(args.hosts), lab_dir=lab_dir)
    try:
        fleet = json.loads((lab_dir / "lab.json").read_text())["hosts"]
        pki = lab_dir / "pki"
        extra = {
            "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
            "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()],
            "iphttps_reconnect_timeout": 60,
        }
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(work / "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORKS="16", ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")
        snapshots = {}
        # The change record is the remediate run's report; the two diagnose runs get folders of their own.
        steps = (("before", "diagnose", work / "diagnose-before"), ("fix", "remediate", report_dir),
                 ("after", "diagnose", work / "diagnose-after"))
        for step, playbook, folder in steps:
            print(f"demo: ansible-playbook directaccess.iphttps.{playbook}")
            run([str(BIN / "ansible-playbook"), f"directaccess.iphttps.{playbook}", "-i",
                 str(lab_dir / "inventory.yml"), "-e",
                 json.dumps(dict(extra, iphttps_run_id=f"demo-{step}", iphttps_report_dir=str(folder)))],
                env=env)
            report = json.loads((folder / "report.json").read_text())
            snapshots[step] = {r["host"]: r for r in report["records"]}
    finally:
        lab("down", lab_dir=lab_dir)

    before, fix, after = snapshots["before"], snapshots["fix"], snapshots["after"]
    rows = [("host", "scenario", "before", "action", "after", "status")]
    for host in sorted(fleet):
        first, done, last = before.get(host, {}), fix.get(host, {}), after.get(host, {})
        action = done.get("action", "-")
        if done.get("imported"):
            action += " " + ",".join(f"{e['store']}:{e['thumbprint'][:8]}" for e in done["imported"])
        rows.append((host, fleet[host]["scenario"], error_text(first.get("error_before")), action,
                     error_text(last.get("error_before")), done.get("status", "-")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    print()
    for index, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print()
    # Hosts left broken, with what to do about them.
    for host, record in sorted(fix.items()):
        if record["status"] in ("unfixable", "fix_failed", "unreachable", "failed"):
            print(f"{host} [{record['status']}] {record['reason']}")
            if record["remedy"]:
                print(f"    what to do: {record['remedy']}")
    print()
    print(f"demo: HTML report of the remediation {report_dir / 'report.html'}")
    print(f"demo: finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
