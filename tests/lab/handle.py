# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test's handle on a running lab: start and stop it, read its hosts, state and command counts.

Test infrastructure only; the collection never imports anything from here. The suites that
drive the lab from outside (tests/e2e, tests/packaging) share it.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class LabHandle:
    directory: Path

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def pki(self) -> Path:
        return self.directory / "pki"

    def hosts(self) -> dict:
        return json.loads((self.directory / "lab.json").read_text())["hosts"]

    def hosts_in(self, scenario: str) -> list[str]:
        return sorted(name for name, host in self.hosts().items() if host["scenario"] == scenario)

    def state(self, host: str) -> dict:
        return json.loads((self.directory / "state" / f"{host}.json").read_text())

    def counts(self) -> dict[str, int]:
        path = self.directory / "state" / "counts.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tests.lab", *args, "--lab-dir", str(self.directory)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)

    def up(self, scenario: Path, *options: str) -> None:
        """Start the lab; ``options`` are more ``up`` arguments, e.g. "--bind", "10.0.0.1"."""
        started = self.cli("up", "--scenario", str(scenario), *options)
        assert started.returncode == 0, started.stdout + started.stderr

    def refresh_policy(self) -> dict[str, str]:
        """A Group Policy refresh on every host (the lab must serve a domain): host -> changed, unchanged, or
        cannot reach the domain."""
        done = self.cli("refresh-policy")
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)

    def down(self) -> None:
        stopped = self.cli("down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
