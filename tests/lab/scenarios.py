# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab scenarios: which simulated clients the lab runs, and what is wrong with each.

Test infrastructure only; the collection never imports anything from here.

A scenario file is YAML::

    description: optional text
    hosts:
      - template: healthy      # a name from TEMPLATES
        count: 4               # hosts of this kind; the weight when the fleet size is given

``build_fleet(file, hosts=N)`` spreads N hosts over the counts by largest remainder (ties go to
the template listed first), so the same file and N always give the same fleet. Without N the
counts are used as they are. Hosts are named ``da-client-01``, ``da-client-02``, ... in file order.

``provision_clients()`` turns a fleet into client state files: new hosts get their template's
stores and settings; hosts that already have state keep it (a lab restart loses nothing) and
are only re-pointed at the port their IP-HTTPS server listens on now. When the servers carry the
lab's PKI web, it also writes the network those clients resolve CRL and OCSP hosts through
(``revocation.py``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from .client_state import ClientState
from .faults import Fault, FaultError, parse_faults
from .pki import LabPKI


@dataclasses.dataclass(frozen=True)
class HostTemplate:
    name: str
    description: str
    server_profile: str | None  # iphttps_server profile; None: not a DirectAccess client
    root_store: tuple[str, ...] = ("root",)  # lab PKI certificate names
    ca_store: tuple[str, ...] = ("issuing",)
    iphlpsvc: str = "Running"
    reachable: bool = True
    tunnel: bool = False
    wrong_credentials: bool = False
    administrator: bool = True  # False: the WinRM account is not a local administrator
    disallowed_store: tuple[str, ...] = ()  # LocalMachine\Disallowed (Untrusted Certificates)
    # How the host's iphlpsvc restart and reconnect behave (docs/lab.md, "The restart and the reconnect").
    launch_seconds: float | None = None  # process start until iphlpsvc stops; None: handlers.LAUNCH_SECONDS
    restart_seconds: float | None = None  # Restart-Service's stop and start; None: handlers.RESTART_SECONDS
    svchost_shared: bool = False  # iphlpsvc shares its svchost.exe: a restart keeps its process id
    wmi_process_create: str = "ok"  # "ok", "breakaway_throws" or "blocked" (Defender ASR rule d1e49aac)
    windows7: bool = False  # no NetworkTransition, ScheduledTasks or NetworkConnectivityStatus cmdlets
    after_restart: str = "iphttps"  # "iphttps", or "teredo": Teredo comes up first after a restart
    network: str = "internet"  # "internet", or "corporate": inside, where DirectAccess does not use IP-HTTPS
    retry_reconnects: bool = False  # IP-HTTPS's own retry picks up an imported root before any restart
    # $ExecutionContext.SessionState.LanguageMode of the WinRM session: "FullLanguage", or "ConstrainedLanguage"
    # where WDAC or AppLocker enforces script rules (docs/lab.md, "Locked-down clients").
    language_mode: str = "FullLanguage"
    locale: str = "en-US"  # the display language: "de-DE" gives German status and chain texts (handlers.py)
    # How the client reaches its IP-HTTPS server (docs/lab.md, "Entry points, proxies and IPv6").
    other_entry_points: tuple[str, ...] = ()  # more server profiles, one entry point each; none activated
    winhttp_proxy: bool = False  # only the machine's WinHTTP proxy reaches the Internet: direct connections are refused


_ROLLED_OVER = {"server_profile": "good", "root_store": ("old_root",), "ca_store": ()}

TEMPLATES: dict[str, HostTemplate] = {t.name: t for t in (
    HostTemplate("healthy", "trusts the root and has the issuing CA: IP-HTTPS active", "good"),
    HostTemplate("untrusted_root", "holds only the pre-rollover root (same name, other key): 0x800B0109",
                 **_ROLLED_OVER),
    HostTemplate("missing_intermediate", "server sends its certificate alone; issuing CA not in CA: 0x800B010A",
                 "leaf_only", ca_store=()),
    HostTemplate("not_directaccess", "no IP-HTTPS configuration; holds the old root only, and must be left alone",
                 None, root_store=("old_root",), ca_store=()),
    HostTemplate("name_mismatch", "server certificate issued for another name; no import fixes it: 0x800B010F",
                 "wrong_name"),
    HostTemplate("expired_server_cert", "server certificate expired; no import fixes it: 0x800B0101", "expired"),
    HostTemplate("unreachable", "server port drops traffic: 0x274C", "blackhole"),
    HostTemplate("refused", "server port refuses connections (e.g. an NRPT rule catches the name): 0x274D",
                 "closed"),
    HostTemplate("service_stopped", "untrusted_root with iphlpsvc stopped: no IP-HTTPS interface",
                 iphlpsvc="Stopped", **_ROLLED_OVER),
    HostTemplate("stopped_host", "untrusted_root whose WinRM endpoint is not started", reachable=False,
                 **_ROLLED_OVER),
    HostTemplate("wrong_credentials", "untrusted_root; the inventory carries a wrong password",
                 wrong_credentials=True, **_ROLLED_OVER),
    HostTemplate("tunnel", "untrusted_root reached through its DirectAccess tunnel", tunnel=True, **_ROLLED_OVER),
    HostTemplate("distrusted_intermediate", "trusts the root, but the issuing CA is in Disallowed: 0x800B0111; "
                 "no import fixes it", "good", disallowed_store=("issuing",)),
    HostTemplate("distrusted_root", "holds the pre-rollover root only and has the current root, which the server "
                 "sends, in Disallowed: 0x800B0111; importing the root would not help", disallowed_store=("root",), **_ROLLED_OVER),
    HostTemplate("non_admin", "untrusted_root whose WinRM account is not a local administrator: it can read "
                 "the stores but not change them", administrator=False, **_ROLLED_OVER),
    # Revocation: the chain is trusted; what differs is where its CRLs can be had.
    HostTemplate("revocation_ok", "CDP and OCSP responder published on the Internet: 0x0", "crl_ok",
                 ca_store=("issuing_crl",)),
    HostTemplate("cdp_offline", "the CDP host is down: 0x80092013", "crl_offline", ca_store=("issuing_crl",)),
    HostTemplate("crl_expired", "the CDP serves a CRL past its nextUpdate: 0x80092013", "crl_stale",
                 ca_store=("issuing_crl",)),
    HostTemplate("revoked_server_cert", "the server certificate is on its CA's CRL: 0x80092010", "crl_revoked",
                 ca_store=("issuing_crl",)),
    HostTemplate("cdp_inside_only", "the CDPs (LDAP, then HTTP) resolve only on the corporate network: "
                 "0x80092013", "crl_inside", ca_store=("issuing_crl",)),
    # The restart and the reconnect: untrusted_root hosts whose restart or reconnect is not the plain case.
    HostTemplate("slow_restart", "untrusted_root on a busy laptop: the restart stops iphlpsvc 3 s after the launch "
                 "and has it back 5 s later, and IP-HTTPS' own retry reconnects with the imported root before that: "
                 "0x0 shows before the restart ran", launch_seconds=3.0, restart_seconds=5.0, retry_reconnects=True,
                 **_ROLLED_OVER),
    HostTemplate("shared_svchost", "untrusted_root whose iphlpsvc shares its svchost.exe (3.5 GB of RAM or less): "
                 "a restart keeps the process id", svchost_shared=True, **_ROLLED_OVER),
    HostTemplate("asr_blocks_wmi", "untrusted_root with the Defender ASR rule that blocks processes created through "
                 "WMI: the scheduled task restarts iphlpsvc", wmi_process_create="blocked", **_ROLLED_OVER),
    HostTemplate("windows7_breakaway_throws", "untrusted_root on Windows 7 (no ScheduledTasks cmdlets): the restart "
                 "falls back to WMI, whose breakaway call throws, then to the plain Win32_Process.Create",
                 windows7=True, wmi_process_create="breakaway_throws", **_ROLLED_OVER),
    HostTemplate("teredo_after_restart", "untrusted_root where Teredo comes up first after the restart: no IP-HTTPS "
                 "state, DirectAccess ConnectedRemotely", after_restart="teredo", **_ROLLED_OVER),
    HostTemplate("inside_corpnet", "untrusted_root inside the corporate network: IP-HTTPS never active, "
                 "DirectAccess ConnectedLocally", network="corporate", **_ROLLED_OVER),
    # Locked down: what the scripts may do on the client differs.
    HostTemplate("constrained_language", "untrusted_root whose PowerShell runs in Constrained Language Mode (WDAC "
                 "or AppLocker script enforcement): the state is read, the chain and the stores are not; left alone",
                 language_mode="ConstrainedLanguage", **_ROLLED_OVER),
    HostTemplate("german_locale", "untrusted_root on a German Windows (de-DE): the IP-HTTPS status and the chain "
                 "status texts are German, with umlauts, and must arrive intact as UTF-8", locale="de-DE",
                 **_ROLLED_OVER),
    # In front of the server: a device that ends the TLS handshake before the chain is seen.
    HostTemplate("client_cert_required", "trusts the chain, but a load balancer in front of the server demands a "
                 "client certificate the client does not present: the handshake fails with 0x80090326, no chain",
                 "client_cert_required"),
    # How the client reaches the server: more than one entry point, a proxy, IPv6 only.
    HostTemplate("multisite_leaf_only", "two entry points, none activated (multisite): the first sends its full "
                 "chain and is trusted (0x0), the second sends its certificate alone and the client lacks the issuing "
                 "CA, so that entry point fails with 0x800B010A", "good", ca_store=(),
                 other_entry_points=("leaf_only",)),
    HostTemplate("behind_proxy", "untrusted_root whose only way out is the machine's WinHTTP proxy: direct "
                 "connections are refused, IP-HTTPS and the capture tunnel through the proxy with CONNECT",
                 winhttp_proxy=True, **_ROLLED_OVER),
    HostTemplate("ipv6_only_server", "untrusted_root whose IP-HTTPS server name has an IPv6 address only (AAAA, "
                 "no A record): the capture must connect over IPv6", "good_ipv6",
                 root_store=_ROLLED_OVER["root_store"], ca_store=_ROLLED_OVER["ca_store"]),
)}

_ENTRY_KEYS = {"template", "count", "faults"}  # faults: tests/lab/faults.py, for every host of the template
_TOP_KEYS = {"description", "hosts", "host_faults"}  # host_faults: {host name: [fault, ...]}


class ScenarioError(ValueError):
    """A scenario file or fleet request is wrong; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class ClientSpec:
    name: str
    scenario: str  # a TEMPLATES key
    faults: tuple[Fault, ...] = ()  # what this host injects (tests/lab/faults.py)

    def __post_init__(self):
        if self.scenario not in TEMPLATES:
            raise ScenarioError(f"{self.name}: unknown template {self.scenario!r}; known: {', '.join(TEMPLATES)}")

    @property
    def template(self) -> HostTemplate:
        return TEMPLATES[self.scenario]


@dataclasses.dataclass(frozen=True)
class Scenario:
    path: Path
    description: str
    counts: tuple[tuple[str, int], ...]  # (template name, count) in file order
    template_faults: tuple[tuple[str, tuple[Fault, ...]], ...] = ()  # (template name, faults) where given
    host_faults: tuple[tuple[str, tuple[Fault, ...]], ...] = ()  # (host name, faults)


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None

    def fail(field: str, reason: str):
        raise ScenarioError(f"{path}: {field}: {reason}")

    if not isinstance(document, dict):
        fail("(top level)", f"must be a mapping with a 'hosts' list, got {type(document).__name__}")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        fail("(top level)",
             f"unknown keys {', '.join(sorted(map(str, unknown)))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    description = document.get("description", "")
    if not isinstance(description, str):
        fail("description", "must be a string")
    entries = document.get("hosts")
    if not isinstance(entries, list) or not entries:
        fail("hosts", "must be a non-empty list of {template, count} entries")
    counts: list[tuple[str, int]] = []
    template_faults: list[tuple[str, tuple[Fault, ...]]] = []
    for index, entry in enumerate(entries):
        field = f"hosts[{index}]"
        if not isinstance(entry, dict):
            fail(field, f"must be a mapping with 'template' and 'count', got {entry!r}")
        unknown = set(entry) - _ENTRY_KEYS
        if unknown:
            fail(field, f"unknown keys {', '.join(sorted(map(str, unknown)))}; allowed: template, count, faults")
        template = entry.get("template")
        if template not in TEMPLATES:
            fail(f"{field}.template", f"unknown template {template!r}; known: {', '.join(TEMPLATES)}")
        if any(template == seen for seen, _count in counts):
            fail(f"{field}.template", f"{template!r} is listed twice")
        count = entry.get("count")
        # bool is an int in Python; 'count: yes' is a mistake, not 1.
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            fail(f"{field}.count", f"must be an integer >= 0, got {count!r}")
        counts.append((template, count))
        if "faults" in entry:
            try:
                template_faults.append((template, parse_faults(entry["faults"], f"{field}.faults")))
            except FaultError as exc:
                fail(f"{field}.faults", str(exc))
    if sum(count for _template, count in counts) == 0:
        fail("hosts", "all counts are 0; at least one host is needed")
    host_faults = document.get("host_faults") or {}
    if not isinstance(host_faults, dict) or not all(isinstance(name, str) for name in host_faults):
        fail("host_faults", "must be a mapping of host names to lists of faults")
    try:
        parsed_hosts = tuple((name, parse_faults(value, f"host_faults.{name}")) for name, value in host_faults.items())
    except FaultError as exc:
        fail("host_faults", str(exc))
    return Scenario(path=path, description=description, counts=tuple(counts),
                    template_faults=tuple(template_faults), host_faults=parsed_hosts)


def _spread(counts: Sequence[tuple[str, int]], hosts: int) -> list[int]:
    """Largest-remainder apportionment of ``hosts`` over the counts, in exact integer arithmetic."""
    total = sum(count for _name, count in counts)
    shares = [hosts * count // total for _name, count in counts]
    remainders = [hosts * count % total for _name, count in counts]
    leftover = hosts - sum(shares)
    for index in sorted(range(len(counts)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return shares


def build_fleet(scenario_file: str | os.PathLike, hosts: int | None = None) -> list[ClientSpec]:
    """The fleet a scenario file describes, optionally scaled to ``hosts`` hosts."""
    scenario = load_scenario(scenario_file)
    if hosts is None:
        shares = [count for _name, count in scenario.counts]
    elif isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1:
        raise ScenarioError(f"{scenario.path}: fleet size: hosts must be an integer >= 1, got {hosts!r}")
    else:
        shares = _spread(scenario.counts, hosts)
    size = sum(shares)
    width = max(2, len(str(size)))
    names = iter(f"da-client-{number:0{width}d}" for number in range(1, size + 1))
    fleet = [ClientSpec(next(names), template)
             for (template, _count), share in zip(scenario.counts, shares) for _index in range(share)]
    by_template, by_host = dict(scenario.template_faults), dict(scenario.host_faults)
    unknown = sorted(set(by_host) - {spec.name for spec in fleet})
    if unknown:
        raise ScenarioError(f"{scenario.path}: host_faults: no host {', '.join(unknown)} in a fleet of {size}")
    return [dataclasses.replace(spec, faults=by_template.get(spec.scenario, ()) + by_host.get(spec.name, ()))
            if spec.scenario in by_template or spec.name in by_host else spec for spec in fleet]


def provision_clients(fleet: Sequence[ClientSpec], pki: LabPKI, servers: Mapping,
                      state_dir: str | os.PathLike) -> list[ClientState]:
    """Create state for new hosts, re-point existing ones; ``servers`` maps profile -> IPHttpsServer."""
    def server_for(name: str, profile: str):
        if profile not in servers:
            raise ScenarioError(f"{name}: no running IP-HTTPS server for profile {profile!r}")
        return servers[profile]

    pki_web = getattr(servers, "pki_web", None)
    if pki_web is not None:
        pki_web.write_network(state_dir)

    def endpoint(name: str, profile: str, template: HostTemplate) -> dict:
        server = server_for(name, profile)
        connect_to = server.connect_to
        if template.winhttp_proxy:
            # lab-behaviour: proxy-only-egress
            # Outbound connections other than the proxy's are refused, as behind a firewall that allows
            # only the proxy: the URL's address is a port that refuses, so only the tunnel works.
            connect_to = server_for(name, "closed").connect_to
        return {"server_url": server.server_url, "connect_to": connect_to, "profile": profile}

    def proxy_for(name: str, template: HostTemplate) -> str | None:
        if not template.winhttp_proxy:
            return None
        proxy = getattr(servers, "proxy", None)
        if proxy is None:
            raise ScenarioError(f"{name}: template {template.name!r} needs the lab's proxy, which is not running")
        return proxy.address

    clients = []
    for spec in fleet:
        client = ClientState(state_dir, spec.name)
        template = spec.template
        if client.exists():
            iphttps = client.load()["iphttps"]
            if iphttps is not None and iphttps["profile"] is not None:
                first = endpoint(spec.name, iphttps["profile"], template)
                others = [endpoint(spec.name, other["profile"], template) for other in iphttps.get("others") or []]
                client.set_iphttps_endpoint(first["server_url"], first["connect_to"], others,
                                            proxy_for(spec.name, template))
        else:
            iphttps = None
            if template.server_profile is not None:
                iphttps = endpoint(spec.name, template.server_profile, template)
                if template.other_entry_points:
                    iphttps["others"] = [endpoint(spec.name, profile, template)
                                         for profile in template.other_entry_points]
            ClientState.create(
                state_dir, spec.name, scenario=spec.scenario,
                root_store=[pki.pem(name) for name in template.root_store],
                ca_store=[pki.pem(name) for name in template.ca_store],
                disallowed_store=[pki.pem(name) for name in template.disallowed_store],
                iphttps=iphttps, iphlpsvc=template.iphlpsvc, tunnel=template.tunnel,
                reachable=template.reachable, wrong_credentials=template.wrong_credentials,
                winhttp_proxy=proxy_for(spec.name, template))
        clients.append(client)
    return clients
