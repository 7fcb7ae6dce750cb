# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make bench`: what the collection costs, as ratios of variants measured side by side.

    python tests/bench/bench.py [--quick] [--json OUT] [--hosts N] [--only controller,winrm,report,fleet,latency]
        [--fleet-sizes 100,500] [--rounds N] [--forks 50] [--latency-hosts 100] [--command-cost 0.5]
        [--profile DIR] [--commit REF] [--doc docs/performance.md | --no-doc]

Build machines are noisy (2 cores, other jobs), so absolute times move from run to run. Every
benchmark therefore times two or more variants in the same run, interleaved round by round (the
order rotates each round), and reports the median of the per-round ratios with their min-max
spread; absolute medians are printed beside them for context. tests/bench/README.md explains
each number.

1. controller: diagnose() for an untrusted-root client against Root stores of 5, 60 and 400
   certificates (as certificates, and as thumbprints as client_info passes them), and
   load_certificates() on one 400-certificate PEM bundle against 400 single loads; and diagnose()
   of a 20-certificate chain against 5,000-certificate pools in four worst-case shapes, per chain.
2. winrm: a lab fleet on loopback (tests/lab), real ansible-playbook over WinRM: WinRM commands
   per host for the remediate role (healthy vs broken), and client_info play wall time with
   forks=1 against forks=N.
3. report: the fleet report's aggregation (validate, newest per host, build) and rendering for
   100 against 2000 host records, per record.
4. fleet: lab fleets of 100 and 500 hosts, forks 50: the floor (one ansible.builtin.raw per host),
   diagnose and remediate (half the hosts broken), by FQCN; wall-time ratios to the floor,
   controller CPU per host, per-host cost at 500 against 100, WinRM commands per host.
5. latency: remediate beside the hand-written ansible.windows job (emulated command for command)
   under the lab's latency model. tests/bench/fleet.py holds 4 and 5; a run that includes 4 or 5
   writes docs/performance.md.

Test infrastructure only: never shipped, nothing here touches a real Windows host. Every lab it
starts is stopped in a finally block, and its temporary folder removed.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import gc
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUITES = ("controller", "winrm", "report", "fleet", "latency")
# The latency model's cost per WinRM command for the latency suite: docs/lab.md gives the reasons.
DEFAULT_COMMAND_COST = 0.5
SERVER_NAME = "da.bench.example"  # RFC 2606 reserved name


class BenchError(RuntimeError):
    """A benchmark could not run as designed; the message says which step and why."""


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------

def _time_batch(fn, calls: int) -> float:
    """Seconds per call over ``calls`` calls; garbage from earlier batches is collected first."""
    gc.collect()
    start = time.perf_counter()
    for _call in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def interleaved(variants: list[tuple[str, object]], rounds: int, batch_seconds: float) -> dict[str, list[float]]:
    """Per-call seconds of each variant, one sample per round, variants interleaved.

    Each variant is calibrated once (a timed warm-up call, then a short probe when that call was
    fast) to enough calls for ``batch_seconds``; each round then times every variant once,
    rotating the start so no variant always runs first.
    """
    calls = {}
    for name, fn in variants:
        once = _time_batch(fn, 1)  # also the warm-up: imports, caches, lazy initialisation
        per_call = once if once > batch_seconds / 4 else _time_batch(fn, 3)
        calls[name] = max(1, round(batch_seconds / max(per_call, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name, _fn in variants}
    for index in range(rounds):
        shift = index % len(variants)
        for name, fn in variants[shift:] + variants[:shift]:
            samples[name].append(_time_batch(fn, calls[name]))
    return samples


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def paired(numerator: list[float], denominator: list[float]) -> dict:
    """Median and spread of the per-round ratios numerator/denominator."""
    return _summary([a / b for a, b in zip(numerator, denominator)])


class Results:
    """Rows of the final table, plus everything needed for the JSON output."""

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, suite: str, label: str, stats: dict, unit: str, scale: float = 1.0, kind: str = "absolute"):
        row = {"suite": suite, "label": label, "unit": unit, "kind": kind, "n": stats.get("n", 1)}
        for key in ("median", "min", "max"):
            row[key] = stats[key] * scale
        self.rows.append(row)

    def exact(self, suite: str, label: str, value: float, unit: str, spread: tuple | None = None):
        low, high = spread if spread is not None else (value, value)
        self.rows.append({"suite": suite, "label": label, "unit": unit, "kind": "count", "n": 1,
                          "median": value, "min": low, "max": high})


def _fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("commands", "hosts"):
        return f"{value:g}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def format_table(results: Results) -> str:
    header = ("suite", "measurement", "median", "spread (min-max)", "n")
    lines = [header]
    for row in results.rows:
        if row["min"] == row["max"]:
            spread = "-"
        else:
            spread = f"{_fmt(row['min'], row['unit'])} - {_fmt(row['max'], row['unit'])}"
        lines.append((row["suite"], row["label"], _fmt(row["median"], row["unit"]), spread, str(row["n"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for number, line in enumerate(lines):
        text.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |")
        if number == 0:
            text.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(text)


# ---------------------------------------------------------------------------------------------
# Test PKI, generated here with cryptography
# ---------------------------------------------------------------------------------------------

class BenchPKI:
    """An AD CS-like chain after a CA key rollover, plus filler roots for realistic store sizes."""

    def __init__(self, fillers: int):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self._x509, self._hashes = x509, hashes
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before = now - datetime.timedelta(days=365)
        self._not_after = now + datetime.timedelta(days=3650)

        def name(common: str, org: str = "Bench Corp") -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                              x509.NameAttribute(NameOID.COMMON_NAME, common)])

        def rsa_key():
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)

        root_key, old_root_key, issuing_key, leaf_key = rsa_key(), rsa_key(), rsa_key(), rsa_key()
        root_name, issuing_name = name("Bench Root CA"), name("Bench Issuing CA")
        self.root = self._cert(root_name, root_name, root_key, root_key, ca=True)
        # Same subject, another key: the rollover that leaves clients with 0x800B0109.
        self.old_root = self._cert(root_name, root_name, old_root_key, old_root_key, ca=True)
        self.issuing = self._cert(issuing_name, root_name, issuing_key, root_key, ca=True, path_length=0)
        self.leaf = self._cert(
            name(SERVER_NAME), issuing_name, leaf_key, issuing_key, ca=False,
            extra=[(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), False),
                   (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
        # Filler roots stand for the public and corporate roots a Windows Root store holds.
        # P-256 keys keep generation fast; fillers are never signature-checked by diagnose().
        self.fillers = []
        for number in range(fillers):
            key = ec.generate_private_key(ec.SECP256R1())
            subject = name(f"Bench Filler Root CA {number:03d}", f"Bench Trust Services {number:03d}")
            self.fillers.append(self._cert(subject, subject, key, key, ca=True))

    def _cert(self, subject, issuer, key, issuer_key, *, ca: bool, path_length=None, extra=()):
        x509 = self._x509
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(self._not_before).not_valid_after(self._not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=not ca, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer_key is not key:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        for extension, critical in extra:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, self._hashes.SHA256())


# ---------------------------------------------------------------------------------------------
# 1. Controller analysis cost
# ---------------------------------------------------------------------------------------------

STORE_SIZES = (5, 60, 400)


def bench_controller(results: Results, quick: bool) -> None:
    from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
        load_certificates,
        thumbprint,
        to_pem,
    )
    from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose

    started = time.perf_counter()
    pki = BenchPKI(max(STORE_SIZES) - 1)
    print(f"  generated the test PKI ({len(pki.fillers) + 4} certificates) in {time.perf_counter() - started:.1f}s",
          flush=True)
    chain, bundle = [pki.leaf, pki.issuing], [pki.root, pki.issuing]

    def store(size: int, as_thumbprints: bool) -> list:
        fillers = pki.fillers[:size - 1]
        return [pki.old_root] + ([thumbprint(c) for c in fillers] if as_thumbprints else fillers)

    variants = []
    for as_thumbprints in (False, True):
        for size in STORE_SIZES:
            root_store = store(size, as_thumbprints)
            result = diagnose(chain, server_name=SERVER_NAME, root_store=root_store, intermediate_store=[],
                              bundle=bundle)
            # A benchmark of the wrong code path is worse than none: check it is the broken client.
            missing = [m["thumbprint"] for m in result["missing"]]
            if result["verdict"] != "untrusted_root" or not result["fixable"] or missing != [thumbprint(pki.root)]:
                raise BenchError(f"diagnose() with a {size}-root store did not report the fixable untrusted root "
                                 f"(verdict {result['verdict']}, fixable {result['fixable']}, missing {missing})")

            call = functools.partial(diagnose, chain, server_name=SERVER_NAME, root_store=root_store,
                                     intermediate_store=[], bundle=bundle)
            variants.append((f"{'thumbs' if as_thumbprints else 'certs'}-{size}", call))
    rounds = 5 if quick else 11
    samples = interleaved(variants, rounds, 0.04 if quick else 0.1)
    for kind, words in (("certs", "certificates"), ("thumbs", "thumbprints")):
        for size in STORE_SIZES:
            results.add("controller", f"diagnose, untrusted root, Root store {size} {words}",
                        _summary(samples[f"{kind}-{size}"]), "us", 1e6)
        base = samples[f"{kind}-{STORE_SIZES[0]}"]
        for size in STORE_SIZES[1:]:
            results.add("controller", f"  ratio {size} / {STORE_SIZES[0]} {words}",
                        paired(samples[f"{kind}-{size}"], base), "x", kind="ratio")
        big, small = STORE_SIZES[-1], STORE_SIZES[0]
        marginal = [(b - s) / (big - small) for b, s in zip(samples[f"{kind}-{big}"], base)]
        results.add("controller", f"  cost of each extra Root entry ({words})", _summary(marginal), "us", 1e6)
    results.add("controller", "  ratio 400 certificates / 400 thumbprints",
                paired(samples["certs-400"], samples["thumbs-400"]), "x", kind="ratio")

    # load_certificates: one bundle of N PEM blocks against N single loads.
    count = max(STORE_SIZES)
    pems = [to_pem(cert) for cert in pki.fillers[:count - 1] + [pki.root]]
    joined = "".join(pems)
    if len(load_certificates(joined, "bundle")) != count:
        raise BenchError(f"load_certificates() did not return {count} certificates from the bundle")

    def one_bundle():
        load_certificates(joined, "bundle")

    def singles():
        for index, pem in enumerate(pems):
            load_certificates(pem, f"certificate {index}")

    samples = interleaved([("bundle", one_bundle), ("singles", singles)], rounds, 0.08 if quick else 0.2)
    results.add("controller", f"load_certificates, one {count}-cert PEM bundle, per cert",
                _summary(samples["bundle"]), "us", 1e6 / count)
    results.add("controller", f"load_certificates, {count} single PEM loads, per cert",
                _summary(samples["singles"]), "us", 1e6 / count)
    results.add("controller", "  ratio bundle / singles", paired(samples["bundle"], samples["singles"]), "x",
                kind="ratio")
    bench_big_pools(results, quick)


# Verdict each big-pool scenario must give (tests/unit/plugins/module_utils/fuzz.py builds them).
BIG_POOL_VERDICTS = {"deep": "no_chain", "same_name": "untrusted_root", "key_id_mesh": "no_chain",
                     "cross_mesh": "trusted"}


def bench_big_pools(results: Results, quick: bool) -> None:
    """diagnose() on a 20-certificate chain with 5,000 certificates in Root, CA and the bundle (issue 8's
    limit is one second per chain). Each call starts from freshly loaded certificates with the caches
    emptied, as a new task does; loading alone is a variant of its own and is subtracted per round."""
    from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
    from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

    started = time.perf_counter()
    scenarios = fuzz.pool_scenarios()
    print(f"  generated the big-pool scenarios in {time.perf_counter() - started:.1f}s", flush=True)
    variants = []
    for name, scenario in scenarios.items():
        verdict = diagnose(server_name="da.contoso.com", **fuzz.fresh(scenario))["verdict"]
        if verdict != BIG_POOL_VERDICTS[name]:
            raise BenchError(f"big pool '{name}': diagnose() said {verdict}, expected {BIG_POOL_VERDICTS[name]}")
        variants.append((f"load-{name}", functools.partial(fuzz.fresh, scenario)))
        variants.append((name, functools.partial(fuzz.timed_diagnosis, scenario)))
    samples = interleaved(variants, 3 if quick else 7, 0.5 if quick else 1.0)
    for name, scenario in scenarios.items():
        analysis = [whole - load for whole, load in zip(samples[name], samples[f"load-{name}"])]
        label = (f"diagnose, {len(scenario['server_chain'])}-cert chain, {fuzz.pool_size(scenario):,}-cert pools "
                 f"({name.replace('_', ' ')}), per chain")
        results.add("controller", label, _summary(analysis), "s")


# ---------------------------------------------------------------------------------------------
# 2. WinRM command cost against the lab
# ---------------------------------------------------------------------------------------------

CLIENT_INFO_PLAY = """\
---
# Written by tests/bench/bench.py: one read-only client_info per host.
- name: Read IP-HTTPS state
  hosts: directaccess_clients
  gather_facts: false
  tasks:
    - name: Detect (one WinRM command)
      directaccess.iphttps.client_info:
"""


class BenchLab:
    """A lab fleet of healthy and untrusted_root hosts in a temporary folder."""

    def __init__(self, base: Path, collections: Path, hosts: int):
        self.base = base
        self.directory = base / "lab"
        self.collections = collections
        self.hosts = hosts
        self.work = base / "work"
        self.started = False

    def lab_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tests.lab", *args, "--lab-dir", str(self.directory)],
                              cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)

    def up(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        healthy = self.hosts // 2
        scenario = self.base / "scenario.yml"
        scenario.write_text("description: bench fleet, half healthy, half broken by a CA key rollover\n"
                            "hosts:\n"
                            f"  - template: healthy\n    count: {healthy}\n"
                            f"  - template: untrusted_root\n    count: {self.hosts - healthy}\n",
                            encoding="utf-8")
        (self.work / "client_info.yml").write_text(CLIENT_INFO_PLAY, encoding="utf-8")
        self.started = True  # set before: a half-started daemon must be stopped too
        done = self.lab_cli("up", "--scenario", str(scenario))
        if done.returncode != 0:
            raise BenchError(f"the lab did not start: {done.stdout}{done.stderr}")

    def down(self) -> None:
        if not self.started:
            return
        done = self.lab_cli("down", timeout=60)
        if done.returncode != 0:
            print(f"  warning: 'python -m tests.lab down' failed: {done.stdout}{done.stderr}", file=sys.stderr)
        self.started = False

    def fleet(self) -> dict[str, str]:
        hosts = json.loads((self.directory / "lab.json").read_text(encoding="utf-8"))["hosts"]
        return {name: host["scenario"] for name, host in hosts.items()}

    def counts(self) -> dict[str, int]:
        path = self.directory / "state" / "counts.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def playbook(self, playbook: str, forks: int, *extra: str) -> float:
        """Run ansible-playbook; wall seconds. Fails unless every host finished without error."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(self.collections), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_FORKS=str(forks),
                   ANSIBLE_LOCAL_TEMP=str(self.work / "ansible-tmp"))
        command = [str(BIN / "ansible-playbook"), "-i", str(self.directory / "inventory.yml"), playbook, *extra]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.work, env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
            raise BenchError(f"ansible-playbook {playbook} (forks={forks}) exited {done.returncode}:\n{tail}")
        return elapsed


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {host: count - before.get(host, 0) for host, count in after.items()}


def bench_winrm(results: Results, quick: bool, hosts: int, base: Path, collections: Path) -> None:
    if not (BIN / "ansible-playbook").exists():
        raise BenchError(f"{BIN / 'ansible-playbook'} not found: run bench.py with the project venv's python")
    lab = BenchLab(base, collections, hosts)
    try:
        started = time.perf_counter()
        lab.up()
        print(f"  lab up: {hosts} hosts in {time.perf_counter() - started:.1f}s", flush=True)
        fleet = lab.fleet()
        healthy = sorted(name for name, scenario in fleet.items() if scenario == "healthy")
        broken = sorted(name for name, scenario in fleet.items() if scenario == "untrusted_root")
        play = str(lab.work / "client_info.yml")

        # Wall time first: client_info is read-only, so the fleet is still half broken afterwards.
        # 'one host' gives ansible-playbook's fixed start-up cost, so the per-host part can be separated.
        variants = [
            ("one", lambda: lab.playbook(play, 1, "--limit", healthy[0])),
            ("serial", lambda: lab.playbook(play, 1)),
            ("parallel", lambda: lab.playbook(play, hosts)),
        ]
        rounds = 2 if quick else 6
        samples: dict[str, list[float]] = {name: [] for name, _fn in variants}
        variants[0][1]()  # warm-up: the first run compiles and caches the plugins
        for index in range(rounds):
            shift = index % len(variants)
            for name, fn in variants[shift:] + variants[:shift]:
                samples[name].append(fn())
        counts = lab.counts()
        # Warm-up and 'one' run on healthy[0] only; 'serial' and 'parallel' on every host.
        expected = {host: (1 + 3 * rounds if host == healthy[0] else 2 * rounds) for host in fleet}
        if counts != expected:
            raise BenchError(f"client_info did not cost exactly one WinRM command per host and run: "
                             f"counts {counts}, expected {expected}")
        one, serial, parallel = samples["one"], samples["serial"], samples["parallel"]
        results.add("winrm", "client_info play, 1 host", _summary(one), "s")
        results.add("winrm", f"client_info play, {hosts} hosts, forks=1", _summary(serial), "s")
        results.add("winrm", f"client_info play, {hosts} hosts, forks={hosts}", _summary(parallel), "s")
        results.add("winrm", f"  ratio forks=1 / forks={hosts} (whole play)", paired(serial, parallel), "x",
                    kind="ratio")
        per_host_serial = [(s - o) / (hosts - 1) for s, o in zip(serial, one)]
        per_host_parallel = [(p - o) / (hosts - 1) for p, o in zip(parallel, one)]
        results.add("winrm", "  per extra host, forks=1", _summary(per_host_serial), "ms", 1e3)
        results.add("winrm", f"  per extra host, forks={hosts}", _summary(per_host_parallel), "ms", 1e3)
        results.add("winrm", f"  ratio per extra host, forks=1 / forks={hosts}",
                    paired(per_host_serial, per_host_parallel), "x", kind="ratio")

        # The remediate role, as operators run it: healthy hosts 1 command, broken 2 + polls.
        pki = lab.directory / "pki"
        extra_vars = {
            "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
            "iphttps_ca_pins": [(pki / "root.sha256").read_text(encoding="ascii").strip()],
            "iphttps_report_dir": str(lab.work / "report"),
            "iphttps_reconnect_timeout": 60,
        }
        passes = (("first run", "broken"),) if quick else (("first run", "broken"), ("second run", "fixed"))
        for number, (label, broken_word) in enumerate(passes, start=1):
            before = lab.counts()
            wall = lab.playbook("directaccess.iphttps.remediate", hosts, "-e",
                                json.dumps(dict(extra_vars, iphttps_run_id=f"bench-{number}")))
            spent = _delta(lab.counts(), before)
            report = json.loads((lab.work / "report" / "report.json").read_text(encoding="utf-8"))
            status = {record["host"]: record["status"] for record in report["records"]}
            want = {host: ("fixed" if host in broken and number == 1 else "healthy") for host in fleet}
            if status != want:
                raise BenchError(f"remediate {label}: host statuses {status}, expected {want}")
            healthy_counts = [spent[host] for host in healthy]
            broken_counts = [spent[host] for host in broken]
            results.exact("winrm", f"remediate {label}: WinRM commands per healthy host",
                          statistics.median(healthy_counts), "commands", (min(healthy_counts), max(healthy_counts)))
            results.exact("winrm", f"remediate {label}: WinRM commands per {broken_word} host",
                          statistics.median(broken_counts), "commands", (min(broken_counts), max(broken_counts)))
            if number == 1:
                polls = [count - 2 for count in broken_counts]
                results.exact("winrm", "  of which state polls after the iphlpsvc restart",
                              statistics.median(polls), "commands", (min(polls), max(polls)))
            results.exact("winrm", f"remediate {label}: wall time, {hosts} hosts, forks={hosts}", wall, "s")
    finally:
        lab.down()


# ---------------------------------------------------------------------------------------------
# 3. Fleet report scaling
# ---------------------------------------------------------------------------------------------

def _fleet_records(count: int, now: datetime.datetime) -> list[dict]:
    """Host records shaped like iphttps_record's output, a plausible fleet mix, fixed seed."""
    rng = random.Random(count)
    root = {"thumbprint": "A" * 40, "subject": "CN=Bench Root CA,O=Bench Corp,C=US", "store": "Root"}
    issuing = {"thumbprint": "B" * 40, "subject": "CN=Bench Issuing CA,O=Bench Corp,C=US", "store": "CA"}
    untrusted = {"code": 0x800B0109, "hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"}
    kinds = (("healthy", 55), ("fixed", 20), ("unfixable", 8), ("unreachable", 10), ("fix_failed", 4),
             ("not_directaccess", 3))
    records = []
    for number in range(count):
        status = rng.choices([k for k, _w in kinds], [w for _k, w in kinds])[0]
        record = {"host": f"da-client-{number:05d}.corp.example", "status": status,
                  "recorded_at": (now - datetime.timedelta(seconds=rng.randrange(3600))).strftime(
                      "%Y-%m-%dT%H:%M:%SZ"),
                  "elapsed": round(rng.uniform(0.3, 9.0), 3)}
        if status == "healthy":
            record.update(verdict="trusted", error_before={"code": 0, "hex": "0x00000000", "name": "NO_ERROR"},
                          reason="The client trusts the chain.")
        elif status == "fixed":
            record.update(verdict="untrusted_root", error_before=untrusted,
                          error_after={"code": 0, "hex": "0x00000000", "name": "NO_ERROR"},
                          missing=[root], imported=[root], action="import",
                          reason="Imported 1 certificate(s); IP-HTTPS reports 0x0.")
        elif status == "fix_failed":
            record.update(verdict="untrusted_root", error_before=untrusted, missing=[root], action="import",
                          reason="ca_import stopped at Root: access denied.",
                          remedy="Give the WinRM account local administrator rights.")
        elif status == "unfixable":
            record.update(verdict="name_mismatch",
                          error_before={"code": 0x800B010F, "hex": "0x800B010F", "name": "CERT_E_CN_NO_MATCH"},
                          missing=[issuing] if rng.random() < 0.3 else [],
                          reason="The server certificate's subject CN and SAN DNS names do not cover the name.",
                          remedy="Reissue the IP-HTTPS certificate for the public name.")
        elif status == "unreachable":
            record.update(filled_in=True, reason="No record from this run.", remedy="Check WinRM to the host.")
        else:
            record.update(reason="No IP-HTTPS client configuration: not a DirectAccess client.")
        records.append(record)
    return records


def bench_report(results: Results, quick: bool, base: Path) -> None:
    try:
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report as fleet_report
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _report_render as report_render
    except ImportError as exc:
        raise BenchError(f"plugins/plugin_utils/_fleet_report.py or _report_render.py: cannot import: {exc}") from None
    for module, names in ((fleet_report, ("validate_records", "newest_per_host", "build_report", "render_json",
                                          "write_fleet_report")),
                          (report_render, ("render_csv", "render_html"))):
        for needed in names:
            if not hasattr(module, needed):
                raise BenchError(f"{module.__name__.rpartition('.')[2]} has no {needed}(); "
                                 f"the benchmark needs updating")

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    sizes = (100, 2000)
    raw = {size: _fleet_records(size, now) for size in sizes}

    def aggregate(size: int) -> dict:
        records = fleet_report.validate_records(raw[size], run_id="bench-run", mode="remediate", now=now)
        winners = fleet_report.newest_per_host(records)
        return fleet_report.build_report(winners, title="bench", generated_at=now, all_records=records)

    reports = {size: aggregate(size) for size in sizes}
    for size in sizes:
        if reports[size]["hosts"] != size or sum(reports[size]["by_status"].values()) != size:
            raise BenchError(f"build_report() over {size} records did not count {size} hosts")
    with open(Path(report_render.__file__).with_name("report_template.html"), encoding="utf-8") as handle:
        template = handle.read()

    def render(size: int) -> None:
        report = reports[size]
        fleet_report.render_json(report)
        report_render.render_csv(report)
        report_render.render_html(report, template)

    variants = [(f"aggregate-{size}", lambda size=size: aggregate(size)) for size in sizes]
    variants += [(f"render-{size}", lambda size=size: render(size)) for size in sizes]
    samples = interleaved(variants, 5 if quick else 9, 0.1 if quick else 0.25)
    small, big = sizes
    for step, words in (("aggregate", "validate + newest per host + build_report"),
                        ("render", "render JSON + CSV + HTML")):
        for size in sizes:
            results.add("report", f"{words}, {size} records, per record",
                        _summary(samples[f"{step}-{size}"]), "us", 1e6 / size)
        per_record_big = [value / big for value in samples[f"{step}-{big}"]]
        per_record_small = [value / small for value in samples[f"{step}-{small}"]]
        results.add("report", f"  ratio per record {big} / {small} ({step})", paired(per_record_big, per_record_small),
                    "x", kind="ratio")
        results.add("report", f"  {big} records, whole {step} step", _summary(samples[f"{step}-{big}"]), "ms", 1e3)

    if quick:
        print("  --quick: write_fleet_report on disk skipped (a few seconds per 2000-record call)", flush=True)
        return
    # What the fleet_report task costs on disk: one file per record (written with fsync), then the
    # three report files rebuilt from everything in the folder. A new folder for every call.
    folders = base / "reports"
    folders.mkdir(exist_ok=True)
    made = iter(range(10 ** 9))

    def on_disk(size: int) -> None:
        folder = folders / f"{size}-{next(made)}"
        summary = fleet_report.write_fleet_report(str(folder), raw[size], run_id="bench-run", mode="remediate",
                                                  now=now)
        if summary["hosts"] != size:
            raise BenchError(f"write_fleet_report() over {size} records reported {summary['hosts']} hosts")

    samples = interleaved([(f"disk-{size}", lambda size=size: on_disk(size)) for size in sizes],
                          7, 0.5)
    for size in sizes:
        results.add("report", f"write_fleet_report to a new folder, {size} records, per record",
                    _summary(samples[f"disk-{size}"]), "us", 1e6 / size)
    results.add("report", f"  ratio per record {big} / {small} (on disk)",
                paired([value / big for value in samples[f"disk-{big}"]],
                       [value / small for value in samples[f"disk-{small}"]]), "x", kind="ratio")
    results.add("report", f"  {big} records, whole write_fleet_report", _summary(samples[f"disk-{big}"]), "s")
    shutil.rmtree(folders, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for package in ("cryptography", "ansible-core"):
        try:
            from importlib.metadata import version
            versions[package] = version(package)
        except Exception:  # pylint: disable=broad-exception-caught
            versions[package] = "unknown"
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), **versions,
            "load_average": [round(value, 2) for value in os.getloadavg()]}


def _terminated(signum, _frame):
    raise SystemExit(128 + signum)


def _suites(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SUITES))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SUITES)}, got {text!r}")
    return chosen


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give two fleet sizes such as 100,500, got {text!r}") from None
    if len(sizes) != 2 or sizes[0] < 4:
        raise argparse.ArgumentTypeError(f"give two different fleet sizes of at least 4, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.py", description="directaccess.iphttps benchmarks "
                                     "(ratios of variants measured side by side; see tests/bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and hosts (about 40 s)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument("--hosts", type=int, default=None, help="lab fleet size (default 12, --quick 6; 2-24)")
    parser.add_argument("--only", type=_suites, default=list(SUITES),
                        help=f"comma-separated suites to run (default: {','.join(SUITES)})")
    fleet_options = parser.add_argument_group("fleet and latency suites")
    fleet_options.add_argument("--fleet-sizes", type=_sizes, default=None,
                               help="the two fleet sizes compared (default 100,500; --quick 20,60)")
    fleet_options.add_argument("--rounds", type=int, default=None,
                               help="interleaved rounds of the fleet and latency suites (default 3; --quick 1)")
    fleet_options.add_argument("--forks", type=int, default=50, help="ansible forks (default 50)")
    fleet_options.add_argument("--latency-hosts", type=int, default=None,
                               help="hosts in the latency suite (default 100; --quick 20)")
    fleet_options.add_argument("--command-cost", type=float, default=DEFAULT_COMMAND_COST,
                               help=f"latency model, seconds per WinRM command (default {DEFAULT_COMMAND_COST})")
    fleet_options.add_argument("--profile", metavar="DIR", type=Path, default=None,
                               help="after the fleet rounds, profile floor, diagnose and remediate at the larger "
                                    "size with py-spy (all processes); raw stacks kept in DIR")
    fleet_options.add_argument("--commit", metavar="REF", default=None,
                               help="measure the collection as committed at REF (git archive) instead of the "
                                    "working tree")
    fleet_options.add_argument("--doc", type=Path, default=REPO / "docs" / "performance.md",
                               help="where a run with the fleet or latency suite writes its figures "
                                    "(default docs/performance.md; not written with --quick unless given)")
    fleet_options.add_argument("--no-doc", action="store_true", help="do not write the performance doc")
    args = parser.parse_args(argv)
    hosts = args.hosts if args.hosts is not None else (6 if args.quick else 12)
    sizes = args.fleet_sizes or ((20, 60) if args.quick else (100, 500))
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    latency_hosts = args.latency_hosts if args.latency_hosts is not None else (20 if args.quick else 100)
    if rounds < 1 or args.forks < 1 or latency_hosts < 4 or not 0 < args.command_cost <= 60:
        parser.error("--rounds and --forks must be >= 1, --latency-hosts >= 4, --command-cost in (0, 60]")
    write_doc = not args.no_doc and ("fleet" in args.only or "latency" in args.only) and (
        not args.quick or any(arg == "--doc" or arg.startswith("--doc=") for arg in (argv or sys.argv[1:])))
    if not 2 <= hosts <= 24:
        parser.error(f"--hosts must be between 2 and 24, got {hosts}")

    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the finally blocks stop the lab.
    signal.signal(signal.SIGTERM, _terminated)
    started = time.perf_counter()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    print(f"bench: {when}, {info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
          f"ansible-core {info['ansible-core']}, cryptography {info['cryptography']}, "
          f"load {' '.join(map(str, info['load_average']))}{', quick' if args.quick else ''}", flush=True)
    results = Results()
    failures = []
    facts: dict = {}
    base = Path(tempfile.mkdtemp(prefix="iphttps-bench-"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fleet  # pylint: disable=import-outside-toplevel  # tests/bench/fleet.py, beside this file

    try:
        with contextlib.ExitStack() as stack:
            tree, commit = stack.enter_context(fleet.exported_tree(REPO, args.commit, base))
            # The collection must be importable as ansible_collections.directaccess.iphttps, both here
            # and for ansible-playbook: a symlink to this checkout (or to --commit's export) in a
            # temporary collections folder. The lab always runs from this checkout.
            collections = base / "collections"
            namespace = collections / "ansible_collections" / "directaccess"
            namespace.mkdir(parents=True)
            (namespace / "iphttps").symlink_to(tree, target_is_directory=True)
            sys.path.insert(0, str(collections))
            if commit is None:
                head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                      check=False).stdout.strip()
                dirty = subprocess.run(["git", "status", "--porcelain", "--", "plugins", "roles", "playbooks"],
                                       cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
                facts["tree"] = f"the working tree at {head}" + (
                    " with uncommitted changes in plugins/, roles/ or playbooks/" if dirty else "")
            else:
                facts["tree"] = f"commit {commit[:12]}"

            steps = {
                "controller": ("1. controller analysis cost", lambda: bench_controller(results, args.quick)),
                "winrm": ("2. WinRM command cost against the lab",
                          lambda: bench_winrm(results, args.quick, hosts, base, collections)),
                "report": ("3. fleet report scaling", lambda: bench_report(results, args.quick, base)),
                "fleet": (f"4. fleets of {sizes[0]} and {sizes[1]} hosts: floor, diagnose, remediate",
                          lambda: fleet.bench_fleet(results, args.quick, base, collections, REPO, sizes, args.forks,
                                                    rounds, args.profile, facts)),
                "latency": (f"5. latency model, {args.command_cost:g} s per command: remediate and the hand-written job",
                            lambda: fleet.bench_latency(results, args.quick, base, collections, REPO, latency_hosts,
                                                        args.forks, rounds, args.command_cost, facts)),
            }
            for suite in SUITES:
                if suite not in args.only:
                    continue
                title, run = steps[suite]
                print(f"{title} ...", flush=True)
                step_start = time.perf_counter()
                try:
                    run()
                except (BenchError, fleet.FleetError) as exc:
                    failures.append(f"{suite}: {exc}")
                    print(f"  FAILED: {exc}", file=sys.stderr, flush=True)
                print(f"  done in {time.perf_counter() - step_start:.1f}s", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    elapsed = time.perf_counter() - started
    info["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    print()
    print(format_table(results))
    if write_doc and not failures:
        command = " ".join([".venv/bin/python tests/bench/bench.py", *(argv if argv is not None else sys.argv[1:])])
        fleet.write_doc(args.doc, format_table(results), facts, info, command, elapsed, when,
                        facts.get("tree", "the working tree"))
        print(f"Performance doc written to {args.doc}")
    elif write_doc:
        print(f"Performance doc NOT written ({args.doc}): a suite failed", file=sys.stderr)
    print(f"\nAbsolute values: median over interleaved rounds; ratios: median of the per-round ratios. "
          f"Total {elapsed:.0f}s.")
    if args.json:
        document = {"date": when, "quick": args.quick, "hosts": hosts, "machine": info,
                    "seconds": round(elapsed, 1), "results": results.rows,
                    "failures": failures}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json}")
    for failure in failures:
        print(f"bench: FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
