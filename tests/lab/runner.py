# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the lab: one background process serving a fleet of simulated Windows clients.

Test infrastructure only; the collection never imports anything from here.

``up()`` prepares the PKI, checks the scenario, then starts ``python -m tests.lab serve`` in
its own session and waits until every endpoint accepts TCP. That one daemon holds the IP-HTTPS
servers and one ``WSManEndpoint`` per reachable client, each on its own loopback port, and
stays until ``down()`` sends SIGTERM. Layout of the lab directory::

    pki/              ensure_pki(): root.pem, issuing.pem, root.sha256, winrm-ca.pem, ...
    state/            one <host>.json per client (kept across restarts), counts.json, network.json
                      (where the clients find the CRL and OCSP hosts) and, with a command cost,
                      latency.json (what the latency model charged each host)
    credentials.json  the WinRM password of this lab (0600; made once, kept)
    lab.lock          held (flock) by the running daemon: one lab per directory
    lab.pid           the daemon's pid while it runs
    lab.json          what the daemon serves: hosts, ports, scenarios, files
    inventory.yml     Ansible inventory for the fleet (0600: it holds the password)
    lab.log           the daemon's output
    listener/         with a bind address other than loopback: the WinRM listener certificate for it

``up(command_cost=S)`` turns on the latency model: every WinRM command spends S seconds before
its output is available (``WSManEndpoint(command_cost=...)``; docs/lab.md gives the reasons for
the figure the benchmarks use). ``up(bind=ADDRESS)`` serves the WinRM endpoints on that IPv4
address instead of loopback, for a test that reaches the lab from another network namespace: the
inventory names the address, and the listeners present a certificate for it from the lab's WinRM CA.
``reset()`` puts every host back to its scenario template, for benchmarks that break and fix the
same fleet round after round.

The daemon stops cleanly on SIGTERM or SIGINT, and by itself when its lab directory is removed
or replaced or lab.pid stops naming it, so it never outlives its lab.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import errno
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from .client_state import ClientState, ClientStateError
from .faults import FAULTS_FILE, HostFaults
from .handlers import ClientHandler
from .iphttps_server import start_servers
from .pki import _DAY, _new_key, _server, cert_pem, ensure_pki
from .scenarios import TEMPLATES, ScenarioError, build_fleet, provision_clients
from .wsman import WSManEndpoint, read_counts, read_latency

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LAB_DIR = ".lab"
DEFAULT_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "default.yml"
TRANSPORTS = ("ntlm", "basic")
DEFAULT_BIND = "127.0.0.1"
LAB_FORMAT = 1

ADMIN_USER = "da-admin"  # a local administrator, as the collection needs
NON_ADMIN_USER = "da-operator"  # in Remote Management Users only (the non_admin template)

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
_WATCH_INTERVAL = 1.0
_WARMUP_WORKERS = 8
MAX_COMMAND_COST = 600.0


class LabError(Exception):
    """The lab cannot do what was asked; the message names the directory and the reason."""


# --- files ------------------------------------------------------------------------------------------

def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise LabError(f"{path}: not valid JSON: {exc}") from None


def _credentials(lab_dir: Path) -> dict:
    """The lab's WinRM password, made once so a restarted lab keeps its inventory valid."""
    path = lab_dir / "credentials.json"
    stored = _read_json(path)
    if stored and isinstance(stored.get("password"), str) and stored["password"]:
        return stored
    # token_urlsafe has no ':' (NTLM_USER_FILE's separator) and nothing YAML would mangle.
    stored = {"password": "Lab-" + secrets.token_urlsafe(18)}
    _atomic_write(path, json.dumps(stored) + "\n", mode=0o600)
    return stored


# --- is a lab running? ------------------------------------------------------------------------------

def _process_state(pid: int) -> str | None:
    """Linux process state letter, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[-1].split()[0]


def _is_lab_daemon(pid: int, lab_dir: Path) -> bool:
    """Whether ``pid`` is a live ``tests.lab serve`` of this lab dir (a recycled pid is not)."""
    state = _process_state(pid)
    if state is None or state in ("Z", "X"):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [arg.decode("utf-8", "replace") for arg in argv]
    if "tests.lab" not in args or "serve" not in args or "--lab-dir" not in args:
        return False
    index = args.index("--lab-dir") + 1
    return index < len(args) and Path(args[index]) == lab_dir


def read_pid(lab_dir: Path) -> int | None:
    try:
        text = (lab_dir / "lab.pid").read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def running_pid(lab_dir: str | os.PathLike) -> int | None:
    """The pid of the daemon serving ``lab_dir``, or None."""
    lab_dir = Path(lab_dir).resolve()
    pid = read_pid(lab_dir)
    return pid if pid is not None and _is_lab_daemon(pid, lab_dir) else None


# --- up ---------------------------------------------------------------------------------------------

def _check_options(hosts: int | None, transport: str, command_cost: float = 0.0, bind: str = DEFAULT_BIND) -> None:
    if hosts is not None and (isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1):
        raise LabError(f"--hosts must be an integer >= 1, got {hosts!r}")
    if transport not in TRANSPORTS:
        raise LabError(f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    if (isinstance(command_cost, bool) or not isinstance(command_cost, (int, float))
            or not 0 <= command_cost <= MAX_COMMAND_COST):
        raise LabError(f"--command-cost must be a number of seconds from 0 to {MAX_COMMAND_COST:g}, "
                       f"got {command_cost!r}")
    try:
        address = ipaddress.IPv4Address(bind)
    except (ipaddress.AddressValueError, TypeError):
        raise LabError(f"--bind must be an IPv4 address such as 127.0.0.1, got {bind!r}") from None
    if address.is_unspecified or address.is_multicast or str(address) == "255.255.255.255":
        # The inventory names the address, and the lab (which holds a password) must not listen everywhere.
        raise LabError(f"--bind must be one address of this machine, got {bind!r}")


def _check_bindable(bind: str) -> None:
    """Fail before the daemon starts when ``bind`` is no address of this machine (EADDRNOTAVAIL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((bind, 0))
        except OSError as exc:
            raise LabError(f"--bind {bind}: cannot listen there: {exc.strerror or exc}") from None


def _accepts(port: int, timeout: float = 0.5, address: str = DEFAULT_BIND) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(lab_dir: Path, lines: int = 15) -> str:
    try:
        text = (lab_dir / "lab.log").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no lab.log)"
    return "\n".join(text.splitlines()[-lines:])


def up(lab_dir: str | os.PathLike = DEFAULT_LAB_DIR, hosts: int | None = None,
       scenario: str | os.PathLike = DEFAULT_SCENARIO, transport: str = "ntlm",
       timeout: float = _START_TIMEOUT, command_cost: float = 0.0, bind: str = DEFAULT_BIND,
       domain: str | os.PathLike | None = None) -> dict:
    """Start the lab daemon for ``lab_dir`` and wait until it serves; returns lab.json's content.

    ``command_cost``: seconds each WinRM command spends before its output is available (the
    latency model); 0 adds nothing. ``bind``: the IPv4 address the WinRM endpoints listen on.
    ``domain``: a domain file (tests/lab/gpo.py); the lab then also serves its GPO management host.
    """
    started = time.monotonic()
    lab_dir = Path(lab_dir).resolve()
    scenario = Path(scenario).resolve()
    _check_options(hosts, transport, command_cost, bind)
    _check_bindable(bind)
    pid = running_pid(lab_dir)
    if pid is not None:
        raise LabError(f"a lab is already running in {lab_dir} (pid {pid}); "
                       f"stop it first with: python -m tests.lab down --lab-dir {lab_dir}")
    try:
        build_fleet(scenario, hosts)  # a bad scenario fails here, with the file and field named
    except ScenarioError as exc:
        raise LabError(str(exc)) from None
    if domain is not None:
        from .gpo import DomainError, load_domain
        domain = Path(domain).resolve()
        try:
            load_domain(domain)  # a bad domain file fails here, with the file and field named
        except DomainError as exc:
            raise LabError(str(exc)) from None
    lab_dir.mkdir(parents=True, exist_ok=True)
    ensure_pki(lab_dir / "pki")  # generated here so the slow part's errors reach the caller

    command = [sys.executable, "-m", "tests.lab", "serve", "--lab-dir", str(lab_dir),
               "--scenario", str(scenario), "--transport", transport]
    if hosts is not None:
        command += ["--hosts", str(hosts)]
    if command_cost:
        command += ["--command-cost", repr(float(command_cost))]
    if bind != DEFAULT_BIND:
        command += ["--bind", bind]
    if domain is not None:
        command += ["--domain", str(domain)]
    env = {key: value for key, value in os.environ.items() if key != "NTLM_USER_FILE"}
    with open(lab_dir / "lab.log", "ab") as log_file:
        daemon = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                  stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    lab = None
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise LabError(f"the lab daemon for {lab_dir} exited with status {daemon.returncode} while "
                           f"starting; the end of {lab_dir / 'lab.log'}:\n{_log_tail(lab_dir)}")
        lab = _read_json(lab_dir / "lab.json")
        if lab and lab.get("pid") == daemon.pid and lab.get("ready"):
            break
        time.sleep(0.05)
    else:
        _terminate(daemon.pid)
        raise LabError(f"the lab daemon for {lab_dir} did not become ready within {timeout:.0f}s; "
                       f"the end of {lab_dir / 'lab.log'}:\n{_log_tail(lab_dir)}")
    waiting = {name: host["port"] for name, host in lab["hosts"].items() if host["listening"]}
    while waiting and time.monotonic() < deadline:
        waiting = {name: port for name, port in waiting.items() if not _accepts(port, address=bind)}
        if waiting:
            time.sleep(0.05)
    if waiting:
        _terminate(daemon.pid)
        raise LabError(f"lab {lab_dir}: endpoints did not accept connections within {timeout:.0f}s: "
                       f"{', '.join(sorted(waiting))}")
    lab["startup_seconds"] = round(time.monotonic() - started, 2)
    return lab


# --- down -------------------------------------------------------------------------------------------

def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _process_state(pid)
        if state is None or state in ("Z", "X"):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child (up() in this process)
            return True
        time.sleep(0.05)
    return False


def _terminate(pid: int, timeout: float = _STOP_TIMEOUT) -> str:
    """SIGTERM, wait, SIGKILL as a last resort; -> 'stopped', 'killed' or 'gone'."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    if _wait_gone(pid, timeout):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    return "killed"


def down(lab_dir: str | os.PathLike = DEFAULT_LAB_DIR, timeout: float = _STOP_TIMEOUT) -> str:
    """Stop the lab of ``lab_dir``; -> 'stopped', 'killed' or 'not running'."""
    lab_dir = Path(lab_dir).resolve()
    pid = running_pid(lab_dir)
    outcome = "not running" if pid is None else _terminate(pid, timeout)
    if outcome == "gone":
        outcome = "not running"
    pid_file = lab_dir / "lab.pid"
    if read_pid(lab_dir) is not None and running_pid(lab_dir) is None:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
    return outcome


# --- status -----------------------------------------------------------------------------------------

def error_hex(code: int | None) -> str | None:
    return None if code is None else f"0x{code:X}"


def status(lab_dir: str | os.PathLike = DEFAULT_LAB_DIR) -> dict:
    """What each host looks like now: from lab.json, the state files and counts.json."""
    lab_dir = Path(lab_dir).resolve()
    lab = _read_json(lab_dir / "lab.json")
    if lab is None:
        raise LabError(f"no lab in {lab_dir}: run 'python -m tests.lab up --lab-dir {lab_dir}' first")
    pid = running_pid(lab_dir)
    state_dir = Path(lab["state_dir"])
    counts = read_counts(state_dir)
    hosts = {}
    for name, host in lab["hosts"].items():
        try:
            record = ClientState(state_dir, name).load()
        except ClientStateError as exc:
            raise LabError(f"lab {lab_dir}: cannot read the state of {name}: {exc}") from None
        iphttps_state = record["iphttps_state"]
        code = iphttps_state["last_error_code"] if iphttps_state else None
        hosts[name] = {
            "scenario": record["scenario"],
            "port": host["port"],
            "listening": pid is not None and host["listening"] and _accepts(host["port"], 0.2,
                                                                            lab.get("bind", DEFAULT_BIND)),
            "iphlpsvc": record["iphlpsvc"]["status"],
            "last_error_code": code,
            "last_error_hex": error_hex(code),
            "stores": {"Root": len(record["root_store"]), "CA": len(record["ca_store"])},
            "commands": counts.get(name, 0),
        }
    return {"lab_dir": str(lab_dir), "running": pid is not None, "pid": pid, "transport": lab["transport"],
            "inventory": lab["inventory"], "command_cost": lab.get("command_cost", 0.0),
            "latency": read_latency(state_dir), "hosts": hosts}


def format_status(report: dict) -> str:
    state = f"running (pid {report['pid']})" if report["running"] else "not running"
    lines = [f"lab {report['lab_dir']}: {state}, {len(report['hosts'])} hosts, WinRM {report['transport']} "
             f"over https; inventory {report['inventory']}"]
    if report.get("command_cost"):
        delayed = sum(entry["commands"] for entry in report.get("latency", {}).values())
        lines.append(f"latency model: {report['command_cost']:g} s per WinRM command "
                     f"({delayed} commands delayed so far)")
    header = ("HOST", "SCENARIO", "PORT", "LISTENING", "IPHLPSVC", "IPHTTPS ERROR", "ROOT", "CA", "COMMANDS")
    rows = [header] + [
        (name, host["scenario"], str(host["port"]), "yes" if host["listening"] else "no", host["iphlpsvc"],
         host["last_error_hex"] or "-", str(host["stores"]["Root"]), str(host["stores"]["CA"]),
         str(host["commands"]))
        for name, host in report["hosts"].items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


# --- the daemon -------------------------------------------------------------------------------------

def _inventory(lab_dir: Path, pki, hosts: dict, transport: str, password: str, bind: str = DEFAULT_BIND) -> str:
    members = {}
    groups: dict[str, dict] = {}
    for name, host in hosts.items():
        members[name] = {
            "ansible_host": bind,
            "ansible_port": host["port"],
            "ansible_connection": "winrm",
            "ansible_winrm_transport": transport,
            "ansible_winrm_scheme": "https",
            "ansible_winrm_server_cert_validation": "validate",
            "ansible_winrm_ca_trust_path": str(pki.cert_path("winrm_ca")),
            "ansible_user": host["user"],
            # The endpoint accepts the lab password only; these hosts get a wrong one.
            "ansible_password": password + "-wrong" if host["wrong_credentials"] else password,
            "lab_scenario": host["scenario"],
        }
        groups.setdefault(f"scenario_{host['scenario']}", {"hosts": {}})["hosts"][name] = None
    document = {"all": {
        "vars": {"lab_pki_dir": str(pki.directory), "lab_root_sha256": pki.root_sha256},
        "children": {"directaccess_clients": {"hosts": members}, **dict(sorted(groups.items()))},
    }}
    header = f"# Generated by python -m tests.lab up for {lab_dir}; rewritten at every start.\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _listener_files(lab_dir: Path, pki, bind: str) -> tuple[Path, Path]:
    """The WinRM listeners' certificate and key for the address they serve on.

    The PKI's winrm.pem names localhost and 127.0.0.1 only. A lab bound elsewhere gets a certificate for
    its address from the same WinRM CA, made at each start, so the inventory's CA still validates it.
    """
    if bind == DEFAULT_BIND:
        return pki.cert_path("winrm"), pki.key_path("winrm")
    folder = lab_dir / "listener"
    folder.mkdir(mode=0o700, exist_ok=True)
    key = _new_key()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert = _server("localhost", key, pki.cert("winrm_ca"), pki.private_key("winrm_ca"), now - _DAY,
                   now + 825 * _DAY, ip_addresses=(bind,))
    certfile, keyfile = folder / f"winrm-{bind}.pem", folder / f"winrm-{bind}.key"
    _atomic_write(certfile, cert_pem(cert))
    _atomic_write(keyfile, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode("ascii"), mode=0o600)
    return certfile, keyfile


class _Daemon:
    def __init__(self, lab_dir: Path, scenario: Path, hosts: int | None, transport: str,
                 command_cost: float = 0.0, bind: str = DEFAULT_BIND, domain: Path | None = None):
        self.lab_dir = lab_dir
        self.domain = domain  # a domain file: also serve its GPO management host (gpo.py)
        self.bind = bind
        self.command_cost = command_cost
        self.scenario = scenario
        self.hosts = hosts
        self.transport = transport
        self.stop_event = threading.Event()
        self.servers = None
        self.endpoints: list[WSManEndpoint] = []
        self.handlers: list[ClientHandler] = []
        self.clients: list[ClientState] = []
        self.closed_ports: list[socket.socket] = []
        self.lock_file = None
        self.identity = None

    def run(self) -> int:
        self.lab_dir.mkdir(parents=True, exist_ok=True)
        self.lock_file = open(self.lab_dir / "lab.lock", "a", encoding="ascii")  # pylint: disable=consider-using-with
        try:
            fcntl.flock(self.lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                print(f"lab: another lab daemon already serves {self.lab_dir}", file=sys.stderr)
                return 2
            raise
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_args: self.stop_event.set())
        self.identity = os.stat(self.lab_dir).st_ino
        _atomic_write(self.lab_dir / "lab.pid", f"{os.getpid()}\n")
        try:
            self.start()
            threading.Thread(target=self.warm_up, name="lab-warmup", daemon=True).start()
            threading.Thread(target=self.watch, name="lab-watch", daemon=True).start()
            while not self.stop_event.wait(0.5):
                pass
            log.info("lab: stopping")
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        begun = time.monotonic()
        pki = ensure_pki(self.lab_dir / "pki")
        state_dir = self.lab_dir / "state"
        fleet = build_fleet(self.scenario, self.hosts)
        # What an earlier run's latency model charged does not belong to this one.
        with contextlib.suppress(FileNotFoundError):
            (state_dir / "latency.json").unlink()
        with contextlib.suppress(FileNotFoundError):  # faults fired count from this start (faults.py)
            (state_dir / FAULTS_FILE).unlink()
        self.servers = start_servers(pki)
        clients = provision_clients(fleet, pki, self.servers, state_dir)
        self.clients = clients
        password = _credentials(self.lab_dir)["password"]
        certfile, keyfile = _listener_files(self.lab_dir, pki, self.bind)
        hosts: dict[str, dict] = {}
        notes: list[str] = []
        for spec, client in zip(fleet, clients):
            record = client.load()
            if record["scenario"] != spec.scenario:
                notes.append(f"{spec.name} keeps its state from an earlier run (scenario {record['scenario']}, "
                             f"not {spec.scenario}); delete {state_dir} to start afresh")
                log.warning("lab: %s", notes[-1])
            template = TEMPLATES.get(record["scenario"], spec.template)
            user = ADMIN_USER if template.administrator else NON_ADMIN_USER
            if record["reachable"]:
                handler = ClientHandler(client, administrator=template.administrator)
                endpoint = WSManEndpoint(
                    spec.name, bind=(self.bind, 0), scheme="https", certfile=certfile,
                    keyfile=keyfile, users={user: password}, auth=(self.transport,),
                    handler=handler, state_dir=state_dir, command_cost=self.command_cost,
                    faults=HostFaults(spec.name, spec.faults, state_dir) if spec.faults else None).start()
                handler.drop_connections = endpoint.drop_connections
                endpoint.on_reboot = handler.reboot
                self.handlers.append(handler)
                self.endpoints.append(endpoint)
                port = endpoint.port
            else:
                # A stopped host: bound, not listening, so connections are refused and no other
                # process can take the port while the lab runs.
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((self.bind, 0))
                self.closed_ports.append(sock)
                port = sock.getsockname()[1]
            hosts[spec.name] = {
                "scenario": record["scenario"], "port": port, "listening": record["reachable"], "user": user,
                "administrator": template.administrator, "tunnel": record["tunnel"],
                "wrong_credentials": record["wrong_credentials"],
                "faults": [fault.as_dict() for fault in spec.faults],
            }
        scenarios: dict[str, list[str]] = {}
        for name, host in hosts.items():
            scenarios.setdefault(host["scenario"], []).append(name)
        inventory = self.lab_dir / "inventory.yml"
        _atomic_write(inventory, _inventory(self.lab_dir, pki, hosts, self.transport, password, self.bind),
                      mode=0o600)
        management = None
        if self.domain is not None:
            from .gpo import start_management_host
            endpoint, management = start_management_host(
                self.lab_dir, self.domain, state_dir, bind=self.bind, certfile=certfile, keyfile=keyfile,
                winrm_ca=pki.cert_path("winrm_ca"), user=ADMIN_USER, password=password, transport=self.transport,
                command_cost=self.command_cost)
            self.endpoints.append(endpoint)
        lab = {
            "format": LAB_FORMAT,
            "pid": os.getpid(),
            "ready": True,
            "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "serve_seconds": round(time.monotonic() - begun, 2),
            "lab_dir": str(self.lab_dir),
            "scenario_file": str(self.scenario),
            "transport": self.transport,
            "command_cost": self.command_cost,
            "bind": self.bind,
            "scheme": "https",
            "pki_dir": str(pki.directory),
            "winrm_ca": str(pki.cert_path("winrm_ca")),
            "root_sha256": pki.root_sha256,
            "state_dir": str(state_dir),
            "counts_file": str(state_dir / "counts.json"),
            "inventory": str(inventory),
            "iphttps_servers": {name: {"server_url": server.server_url, "connect_to": server.connect_to}
                                for name, server in self.servers.items()},
            # Where the CRL and OCSP hosts of the lab PKI are served, as the Internet (outside, where
            # the clients are) and the corporate network (inside) resolve them; also state/network.json.
            "pki_web": {view: self.servers.pki_web.routes(view) for view in ("outside", "inside")},
            "hosts": hosts,
            "scenarios": scenarios,
            "notes": notes,
            "management_host": management,  # the GPO management host (--domain), or null
        }
        _atomic_write(self.lab_dir / "lab.json", json.dumps(lab, indent=2) + "\n")
        log.info("lab: serving %d hosts (%d endpoints) in %.2fs", len(hosts), len(self.endpoints),
                 time.monotonic() - begun)

    def warm_up(self) -> None:
        """Each client connects to IP-HTTPS once at start, as IP Helper does at boot."""
        def connect(client: ClientState) -> None:
            if not self.stop_event.is_set():
                client.iphttps_state()

        with concurrent.futures.ThreadPoolExecutor(_WARMUP_WORKERS, thread_name_prefix="lab-warmup") as pool:
            for future in [pool.submit(connect, client) for client in self.clients]:
                try:
                    future.result()
                except Exception:  # pylint: disable=broad-exception-caught
                    log.exception("lab: first IP-HTTPS connection failed")

    def watch(self) -> None:
        """Stop when the lab directory goes away or lab.pid stops naming this process."""
        while not self.stop_event.wait(_WATCH_INTERVAL):
            try:
                same_dir = os.stat(self.lab_dir).st_ino == self.identity
            except OSError:
                same_dir = False
            if not same_dir or read_pid(self.lab_dir) != os.getpid():
                log.warning("lab: %s or its lab.pid is gone; stopping", self.lab_dir)
                self.stop_event.set()

    def stop(self) -> None:
        for handler in self.handlers:
            handler.close()
        with concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="lab-stop") as pool:
            list(pool.map(WSManEndpoint.stop, self.endpoints))
        self.endpoints.clear()
        if self.servers is not None:
            self.servers.stop()
        for sock in self.closed_ports:
            sock.close()
        if read_pid(self.lab_dir) == os.getpid():
            with contextlib.suppress(OSError):
                (self.lab_dir / "lab.pid").unlink()
        log.info("lab: stopped")


def serve(lab_dir: str | os.PathLike, scenario: str | os.PathLike = DEFAULT_SCENARIO, hosts: int | None = None,
          transport: str = "ntlm", command_cost: float = 0.0, bind: str = DEFAULT_BIND,
          domain: str | os.PathLike | None = None) -> int:
    """The daemon's main: serve until SIGTERM. Exit status 2 when another daemon holds the lab."""
    _check_options(hosts, transport, command_cost, bind)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    daemon = _Daemon(Path(lab_dir).resolve(), Path(scenario).resolve(), hosts, transport, command_cost, bind,
                     Path(domain).resolve() if domain is not None else None)
    return daemon.run()


# --- reset ------------------------------------------------------------------------------------------

def reset(lab_dir: str | os.PathLike = DEFAULT_LAB_DIR) -> list[str]:
    """Put every host of ``lab_dir`` back to its scenario template; -> the names reset.

    Stores, iphlpsvc and the recorded IP-HTTPS state are rewritten as a new lab would make them,
    then each client connects to IP-HTTPS once, as at boot. It works on a running lab (the
    daemon reads a client's state afresh for every command), but only between jobs: a command
    or a scheduled iphlpsvc restart still under way would act on the reset state. Command
    counts are kept.
    """
    lab_dir = Path(lab_dir).resolve()
    lab = _read_json(lab_dir / "lab.json")
    if lab is None:
        raise LabError(f"no lab in {lab_dir}: run 'python -m tests.lab up --lab-dir {lab_dir}' first")
    pki = ensure_pki(lab_dir / "pki")
    state_dir = Path(lab["state_dir"])
    servers = lab["iphttps_servers"]
    clients = []
    for name in lab["hosts"]:
        client = ClientState(state_dir, name)
        try:
            scenario = client.load()["scenario"]
        except ClientStateError as exc:
            raise LabError(f"lab {lab_dir}: cannot read the state of {name}: {exc}") from None
        template = TEMPLATES.get(scenario)
        if template is None:
            raise LabError(f"lab {lab_dir}: {name} has scenario {scenario!r}, which is no template")
        iphttps = None
        if template.server_profile is not None:
            server = servers.get(template.server_profile)
            if server is None:
                raise LabError(f"lab {lab_dir}: no IP-HTTPS server for profile {template.server_profile!r}")
            iphttps = {"server_url": server["server_url"], "connect_to": server["connect_to"],
                       "profile": template.server_profile}
        ClientState.create(
            state_dir, name, scenario=scenario,
            root_store=[pki.pem(cert) for cert in template.root_store],
            ca_store=[pki.pem(cert) for cert in template.ca_store],
            iphttps=iphttps, iphlpsvc=template.iphlpsvc, tunnel=template.tunnel,
            reachable=template.reachable, wrong_credentials=template.wrong_credentials, overwrite=True)
        clients.append(client)
    with concurrent.futures.ThreadPoolExecutor(_WARMUP_WORKERS, thread_name_prefix="lab-reset") as pool:
        list(pool.map(lambda client: client.iphttps_state(), clients))
    return [client.name for client in clients]
