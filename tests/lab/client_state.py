# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of one simulated Windows DirectAccess client, and how it judges the IP-HTTPS server.

Test infrastructure only; the collection never imports anything from here.

State model
-----------
Each client is one JSON file, ``<state_dir>/<name>.json``, so a lab restart loses nothing::

    {
      "format": 1,
      "name": "da-client-01",
      "scenario": "untrusted_root",
      "root_store": {"<SHA-1 thumbprint>": "<PEM>", ...},   # Cert:\\LocalMachine\\Root
      "ca_store": {"<SHA-1 thumbprint>": "<PEM>", ...},     # Cert:\\LocalMachine\\CA
      "iphttps": {"server_url": "https://da.lab.example:41234/IPHTTPS",
                  "connect_to": "127.0.0.1:41234", "profile": "good",   # or null: not a DA client
                  "others": [{"server_url": ..., "connect_to": ..., "profile": ...}]},  # optional: more entry
                  # points (multisite), none of them activated; IP-HTTPS uses the first
      "winhttp_proxy": "127.0.0.1:41300",   # optional: the machine's WinHTTP proxy; IP-HTTPS tunnels through it
      "group_policy_store": {"Root": {...}, "CA": {...}},   # the .GroupPolicy physical stores (a policy refresh)
      "enterprise_store": {"Root": {...}, "CA": {...}},     # the .Enterprise physical stores (from AD, same refresh)
      "iphlpsvc": {"status": "Running", "restarts": 0},
      "tunnel": false,             # the controller reaches this host through its DirectAccess tunnel
      "reachable": true,           # false: the lab does not start this host's WinRM endpoint
      "wrong_credentials": false,  # true: the inventory carries a wrong password for this host
      "iphttps_state": {"last_error_code": 2148204809,
                        "interface_status": "failed to connect to the IPHTTPS server; waiting to reconnect",
                        "detail": "...", "checked_at": "2026-01-01T00:00:00Z"},  # or null
      "active_transition": "Teredo",   # optional: set by a restart when Teredo, not IP-HTTPS, came up
      "restart_marker": {"token": "...", "outcome": "restarted", "message": null,
                         "finished_at": "..."}   # optional: what the collection's restart command wrote
    }

Thumbprints are Windows-style: SHA-1 of the DER certificate, upper-case hex. The URL's name does
not resolve in the lab, so ``connect_to`` says where the client really connects.

Every change is a locked read-modify-write (``fcntl.flock`` on ``<name>.lock``, which serialises
threads and processes alike because each operation opens its own descriptor) followed by an
atomic replace of the JSON file.

How the client judges the server
--------------------------------
``compute_iphttps_state()`` really connects to ``connect_to`` and has OpenSSL verify the chain the
server presents against this client's own stores, then maps the outcome to the
``Get-NetIPHttpsState`` values (``LastErrorCode`` as uint32, ``InterfaceStatus``)::

    chain verified, subject CN equals the URL's host    0x0        "IPHTTPS interface active"
    complete chain ends at a root not in Root           0x800B0109 CERT_E_UNTRUSTEDROOT
    chain incomplete (issuer neither sent nor in CA)    0x800B010A CERT_E_CHAINING
    a certificate outside its validity period           0x800B0101 CERT_E_EXPIRED
    a certificate is listed on its issuer's CRL         0x80092010 CRYPT_E_REVOKED
    no current CRL for a certificate with a CDP         0x80092013 CRYPT_E_REVOCATION_OFFLINE
    no Server Authentication EKU                        0x800B0110 CERT_E_WRONG_USAGE
    any other chain failure (e.g. path length)          0x800B010B TRUST_E_FAIL
    subject CN is not the URL's host                    0x800B010F CERT_E_CN_NO_MATCH
    TLS fails for another reason                        0x80090326 SEC_E_ILLEGAL_MESSAGE
    connect or handshake timed out                      0x274C     WSAETIMEDOUT
    connection refused                                  0x274D     WSAECONNREFUSED
    connection reset                                    0x2746     WSAECONNRESET
    network unreachable                                 0x2743     WSAENETUNREACH

Every failure reads "failed to connect to the IPHTTPS server; waiting to reconnect". Other
socket errors are not mapped: they propagate, so a lab fault is never disguised as a client state.

Revocation is checked only on a chain that verified to a trusted root, as CryptoAPI does, and
before the name: each certificate but the root that names a CRL distribution point is checked
against a CRL really fetched over HTTP from the lab's PKI web, through the names the client can
resolve (``<state_dir>/network.json``, the outside view; ``revocation.py`` has the rules).

The name is checked against the subject CN only, because the DirectAccess planning guide says
the IP-HTTPS client uses the subject name and not the SAN. It is checked after the chain: a name
on an untrusted chain proves nothing. A client that is not a DirectAccess client has no IP-HTTPS
state (None), and so does one whose ``iphlpsvc`` is stopped: ``Get-NetIPHttpsState`` returns
nothing when the interface does not exist.

The recorded ``iphttps_state`` is what the client learnt at its last connection attempt, and the
lab client reconnects only when IP Helper (re)starts (``start_iphlpsvc()``,
``restart_iphlpsvc()``) or on the first query. So importing a certificate shows nothing until the
restart, and the state changes only because the stores really changed. Whether Windows' own
retry picks up a new root without the restart is not confirmed; the lab takes the strict
reading, which the collection's restart-then-poll flow must handle anyway. (The ``slow_restart``
template takes the other reading, through its handler, so that 0x0 shows before the restart.)

Nor is IP-HTTPS always the interface in use: inside the corporate network (a template's
``network``) DirectAccess does not use it, and after a restart Teredo may come up first (a
template's ``after_restart``). Get-NetIPHttpsState then returns nothing, and
``da_connection_status()`` gives what Get-DAConnectionStatus reports instead.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import errno
import fcntl
import ipaddress
import json
import os
import re
import socket
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .pki import cert_pem, thumbprint
from .revocation import check_chain, read_routes

STATE_FORMAT = 1
STORES = {"Root": "root_store", "CA": "ca_store"}
# LocalMachine\Disallowed: read by client_info, never written by the collection. Optional in state files
# written before it existed.
DISALLOWED = "disallowed_store"
TRUST_E_EXPLICIT_DISTRUST = 0x800B0111
SERVICE_STATUSES = ("Running", "Stopped")
# Optional keys a restart writes: which transition technology carries DirectAccess when it is not
# IP-HTTPS ("Teredo"), and the marker the collection's restart command leaves.
ACTIVE_TRANSITION = "active_transition"
WINHTTP_PROXY = "winhttp_proxy"
# The .GroupPolicy physical stores ({"Root": {thumbprint: PEM}, "CA": {...}}); root_store and ca_store are .Default.
GROUP_POLICY = "group_policy_store"
# The .Enterprise physical stores, filled from Active Directory's RootCA and SubCA containers at a policy refresh.
ENTERPRISE = "enterprise_store"
RESTART_MARKER = "restart_marker"
DEFAULT_TIMEOUT = 2.0

# lab-behaviour: interface-status-texts
STATUS_ACTIVE = "IPHTTPS interface active"
STATUS_FAILED = "failed to connect to the IPHTTPS server; waiting to reconnect"

ERROR_SUCCESS = 0x0
CERT_E_EXPIRED = 0x800B0101
CERT_E_UNTRUSTEDROOT = 0x800B0109
CERT_E_CHAINING = 0x800B010A
TRUST_E_FAIL = 0x800B010B
CERT_E_CN_NO_MATCH = 0x800B010F
CERT_E_WRONG_USAGE = 0x800B0110
SEC_E_ILLEGAL_MESSAGE = 0x80090326
WSAECONNRESET = 0x2746
WSAENETUNREACH = 0x2743
WSAETIMEDOUT = 0x274C
WSAECONNREFUSED = 0x274D

# OpenSSL X509_V_ERR_* codes, grouped by what they say about the chain. OpenSSL 3 treats a
# certificate whose signature does not verify as "issuer not found", so that is a partial chain.
_PARTIAL_CHAIN = {2, 20, 21}  # unable to get issuer (locally) / to verify the leaf signature
_UNTRUSTED_ROOT = {18, 19}  # self-signed leaf / self-signed certificate in chain, not trusted
# lab-behaviour: last-error-code-mapping
_VERIFY_CODES = {9: CERT_E_EXPIRED, 10: CERT_E_EXPIRED, 26: CERT_E_WRONG_USAGE}
for _code in _PARTIAL_CHAIN:
    _VERIFY_CODES[_code] = CERT_E_CHAINING
for _code in _UNTRUSTED_ROOT:
    _VERIFY_CODES[_code] = CERT_E_UNTRUSTEDROOT

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_THUMBPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


class ClientStateError(Exception):
    """Bad input or a bad state file; the message names the client or file and the reason."""


@dataclasses.dataclass(frozen=True)
class IPHttpsState:
    last_error_code: int
    interface_status: str
    detail: str = ""

    def as_cim(self) -> dict:
        """The two MSFT_NetIPHttpsState properties, as Get-NetIPHttpsState | ConvertTo-Json shows them."""
        return {"InterfaceStatus": self.interface_status, "LastErrorCode": self.last_error_code}


def _failed(code: int, detail: str) -> IPHttpsState:
    return IPHttpsState(code, STATUS_FAILED, detail)


# --- how the client judges the server ------------------------------------------------------------

def parse_connect_to(value: str) -> tuple[str, int]:
    """``127.0.0.1:443`` or ``[::1]:443`` -> (address, port); addresses only, so nothing resolves."""
    if not isinstance(value, str):
        raise ClientStateError(f"connect_to must be a string 'address:port', got {value!r}")
    host, sep, port_text = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ClientStateError(f"connect_to: expected an IP address and a port, got {value!r}") from None
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ClientStateError(f"connect_to: port must be 1-65535, got {value!r}")
    return address, int(port_text)


def _url_host(server_url: str) -> str:
    try:
        parts = urlsplit(server_url)
        host = parts.hostname
    except (TypeError, ValueError, AttributeError):
        host, parts = None, None
    if parts is None or parts.scheme != "https" or not host:
        raise ClientStateError(f"server_url must be an https URL with a host name, got {server_url!r}")
    return host


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _verified_chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    """The chain OpenSSL verified, leaf first, root last."""
    public = getattr(tls, "get_verified_chain", None)  # Python 3.13+
    if public is not None:
        return [x509.load_der_x509_certificate(der) for der in public() or []]
    # Python 3.10-3.12 have it only on the private object (the same data the 3.13 method returns).
    import _ssl  # pylint: disable=import-outside-toplevel

    chain = tls._sslobj.get_verified_chain() or []  # pylint: disable=protected-access
    return [x509.load_der_x509_certificate(cert.public_bytes(_ssl.ENCODING_DER)) for cert in chain]


class ProxyRefused(OSError):
    """The WinHTTP proxy did not open the tunnel; the message is the one client_info.ps1 throws."""


def open_tunnel(raw: socket.socket, target: str, proxy: str) -> None:
    """CONNECT ``target`` through the proxy ``raw`` is connected to, as an IP-HTTPS client does."""
    raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii"))
    answer = b""
    while not answer.endswith(b"\r\n\r\n"):  # byte by byte: nothing of the TLS handshake is taken
        if len(answer) >= 8192:
            raise ProxyRefused(f"proxy {proxy} answered CONNECT {target} with more than 8192 bytes of headers")
        byte = raw.recv(1)
        if not byte:
            raise ProxyRefused(f"proxy {proxy} closed the connection before it answered CONNECT {target}")
        answer += byte
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    if not re.match(r"^HTTP/1\.[01] 2\d\d", status):
        raise ProxyRefused(f"proxy {proxy} refused CONNECT {target}: {status}")


def _handshake(address: tuple[str, int], host: str, anchors: str,
               timeout: float, tunnel: str | None = None) -> tuple[dict, list[x509.Certificate]]:
    """One real TLS handshake verifying against ``anchors``; -> (peer certificate dict, verified chain).

    ``tunnel``: ``host:port`` to CONNECT to first, when ``address`` is the client's proxy.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The name is checked against the subject CN afterwards, the way the IP-HTTPS client does.
    context.check_hostname = False
    # No PARTIAL_CHAIN: only a self-signed certificate from ``anchors`` may end a chain, so the CA
    # store's intermediates help build chains but never anchor one. No X509_STRICT: Windows
    # accepts certificates a strict verifier rejects (see REFERENCE "How the client judges").
    context.verify_flags = ssl.VERIFY_X509_TRUSTED_FIRST
    if anchors:
        context.load_verify_locations(cadata=anchors)
    with socket.create_connection(address, timeout=timeout) as raw:
        if tunnel is not None:
            open_tunnel(raw, tunnel, f"{address[0]}:{address[1]}")
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert(), _verified_chain(tls)


def _chain_outcome(exc: ssl.SSLCertVerificationError) -> tuple[int, IPHttpsState]:
    code = exc.verify_code
    detail = f"OpenSSL verify error {code}: {exc.verify_message}"
    # Rank: how far verification got. Windows picks the best of the paths it can build.
    # lab-behaviour: best-path-wins
    rank = 1 if code in _PARTIAL_CHAIN else 2 if code in _UNTRUSTED_ROOT else 3
    return rank, _failed(_VERIFY_CODES.get(code, TRUST_E_FAIL), detail)


def verify_iphttps_server(server_url: str, connect_to: str, root_store: Mapping[str, str],
                          ca_store: Mapping[str, str], timeout: float = DEFAULT_TIMEOUT,
                          routes: Mapping[str, str] | None = None, check_revocation: bool = True,
                          proxy: str | None = None) -> IPHttpsState:
    """Connect like an IP-HTTPS client with these stores and report what it would see.

    ``routes`` is the client's view of the network (host -> "address:port") for fetching CRLs;
    None resolves nothing. ``check_revocation`` False skips revocation, as a chain built with
    X509RevocationMode.NoCheck does. ``proxy`` ("address:port"): the client's WinHTTP proxy, through
    which it opens a CONNECT tunnel to the URL's host and port instead of connecting itself.

    Why handshakes and not an offline verifier: OpenSSL through ``ssl`` is real verification and
    lenient where Windows is (CN-only names, no SAN, no AKI), while cryptography's PolicyBuilder
    enforces Web PKI rules Windows does not and reports failures only as text. OpenSSL has no
    slot for untrusted intermediates besides the handshake, and it always prefers certificates
    from its trust store (trusted-first cannot be turned off since OpenSSL 1.1), so putting the CA
    store beside the roots can make it abandon the complete chain the server sent. Hence up to
    two verifying handshakes, both real: one trusting Root only (the sent chain is the untrusted
    material), and, if the client has CA-store certificates, one trusting Root plus the CA
    store's non-self-signed certificates, which without PARTIAL_CHAIN can extend a chain but
    never anchor one. The better result wins, as Windows picks the best path it can build.
    The verified chain comes from ``get_verified_chain`` (public from Python 3.13, on the private
    ssl object before), for the revocation check only.
    """
    host = _url_host(server_url)
    address = parse_connect_to(connect_to)
    tunnel = None
    if proxy is not None:
        address = parse_connect_to(proxy)
        tunnel = f"{host}:{urlsplit(server_url).port or 443}"
    roots = "".join(root_store.values())
    intermediates = "".join(pem for pem in ca_store.values()
                            if not _is_self_signed(x509.load_pem_x509_certificate(pem.encode("ascii"))))
    attempts = [roots] + ([roots + intermediates] if intermediates else [])
    best: tuple[int, IPHttpsState] | None = None
    for anchors in attempts:
        try:
            peer, chain = _handshake(address, host, anchors, timeout, tunnel)
        except ProxyRefused as exc:
            # lab-behaviour: proxy-refusal-code
            # Assumed: IP-HTTPS reports a proxy that refuses the tunnel as a refused connection.
            return _failed(WSAECONNREFUSED, str(exc))
        except ssl.SSLCertVerificationError as exc:
            outcome = _chain_outcome(exc)
            if best is None or outcome[0] > best[0]:
                best = outcome
            continue
        except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
            return _failed(WSAETIMEDOUT, f"timed out after {timeout}s: {exc}")
        except ConnectionRefusedError as exc:
            return _failed(WSAECONNREFUSED, f"connection refused: {exc}")
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
            return _failed(WSAECONNRESET, f"connection reset: {exc}")
        except ssl.SSLError as exc:
            return _failed(SEC_E_ILLEGAL_MESSAGE, f"TLS handshake failed: {exc}")
        except OSError as exc:
            if exc.errno == errno.ENETUNREACH:
                return _failed(WSAENETUNREACH, f"network unreachable: {exc}")
            raise
        if check_revocation:
            # CryptoAPI checks revocation only on chains that end in a trusted root, so an
            # untrusted root is reported before any revocation failure.
            failure = check_chain(chain, routes or {}, timeout)
            if failure is not None:
                return _failed(*failure)
        # lab-behaviour: name-check-subject-cn
        common_names = [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
        if not any(name.lower() == host.lower() for name in common_names):
            return _failed(CERT_E_CN_NO_MATCH,
                           f"subject CN {', '.join(common_names) or '(none)'} is not the URL's host {host}")
        return IPHttpsState(ERROR_SUCCESS, STATUS_ACTIVE, "chain verified; subject CN matches the URL")
    return best[1]


# lab-behaviour: explicit-distrust
def distrust_outcome(state: IPHttpsState, iphttps: Mapping, record: Mapping, timeout: float) -> IPHttpsState:
    """TRUST_E_EXPLICIT_DISTRUST when the chain the client builds runs through a Disallowed certificate.

    Assumed (docs/lab.md): the distrust is reported before any other chain error, and a certificate the
    chain cannot reach (a root in Disallowed but not in Root) does not count.
    """
    disallowed = record.get(DISALLOWED) or {}
    if not disallowed or state.last_error_code not in (ERROR_SUCCESS, *_VERIFY_CODES.values(), TRUST_E_FAIL):
        return state
    from .handlers import capture_server_chain, chain_elements  # handlers imports this module

    url = urlsplit(iphttps["server_url"])
    try:
        sent = capture_server_chain(iphttps["connect_to"], url.hostname, url.port or 443, timeout,
                                    proxy=record.get(WINHTTP_PROXY))
    except Exception:  # pylint: disable=broad-exception-caught
        return state  # the handshake that just worked failed now: keep what it said
    for der in chain_elements(sent, logical_store(record, "Root"), logical_store(record, "CA")):
        thumb = thumbprint(x509.load_der_x509_certificate(der))
        if thumb in disallowed:
            return _failed(TRUST_E_EXPLICIT_DISTRUST, f"certificate {thumb} of the chain is in Disallowed")
    return state


# --- the persisted record ------------------------------------------------------------------------

def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_pem(pem, label: str) -> tuple[str, str]:
    """-> (thumbprint, normalised PEM) for exactly one certificate."""
    if isinstance(pem, str):
        pem = pem.encode("ascii", "replace")
    if not isinstance(pem, bytes):
        raise ClientStateError(f"{label}: expected a PEM certificate, got {type(pem).__name__}")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ClientStateError(f"{label}: cannot parse PEM certificate: {exc}") from None
    if len(certs) != 1:
        raise ClientStateError(f"{label}: expected one certificate, found {len(certs)}")
    return thumbprint(certs[0]), cert_pem(certs[0])


def _store_field(store: str) -> str:
    if store not in STORES:
        raise ClientStateError(f"store must be one of {', '.join(STORES)}, got {store!r}")
    return STORES[store]


def normalise_thumbprint(value) -> str:
    """Accepts Windows' spellings (spaces, colons, any case); ClientStateError if not 40 hex digits."""
    text = re.sub(r"[\s:]", "", value).upper() if isinstance(value, str) else ""
    if not _THUMBPRINT_RE.match(text):
        raise ClientStateError(f"thumbprint must be 40 hexadecimal digits (SHA-1), got {value!r}")
    return text


def _check_iphttps(iphttps, label: str, nested: bool = False) -> dict | None:
    if iphttps is None and not nested:
        return None
    if not isinstance(iphttps, Mapping):
        raise ClientStateError(f"{label}: must be a mapping or null, got {type(iphttps).__name__}")
    unknown = set(iphttps) - {"server_url", "connect_to", "profile"} - (set() if nested else {"others"})
    if unknown:
        raise ClientStateError(f"{label}: unknown keys {', '.join(sorted(unknown))}")
    try:
        _url_host(iphttps.get("server_url"))
        parse_connect_to(iphttps.get("connect_to"))
    except ClientStateError as exc:
        raise ClientStateError(f"{label}: {exc}") from None
    profile = iphttps.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ClientStateError(f"{label}.profile: must be a string or null")
    checked = {"server_url": iphttps["server_url"], "connect_to": iphttps["connect_to"], "profile": profile}
    others = iphttps.get("others")
    if others:
        if not isinstance(others, list):
            raise ClientStateError(f"{label}.others: must be a list of entry points")
        checked["others"] = [_check_iphttps(other, f"{label}.others[{index}]", nested=True)
                             for index, other in enumerate(others)]
    return checked


def entry_points(iphttps: Mapping | None) -> list[dict]:
    """Every entry point of a client, the one IP-HTTPS uses first."""
    if iphttps is None:
        return []
    return [iphttps] + list(iphttps.get("others") or [])


def _check_record(record, name: str, label: str) -> dict:
    """Validate a loaded record; ClientStateError names the file and the field."""
    def fail(field: str, reason: str):
        raise ClientStateError(f"{label}: {field}: {reason}")

    if not isinstance(record, dict):
        fail("(top level)", "must be a JSON object")
    if record.get("format") != STATE_FORMAT:
        fail("format", f"must be {STATE_FORMAT}, got {record.get('format')!r}")
    if record.get("name") != name:
        fail("name", f"must be {name!r}, got {record.get('name')!r}")
    if not isinstance(record.get("scenario"), str):
        fail("scenario", "must be a string")
    record.setdefault(DISALLOWED, {})
    for field in (*STORES.values(), DISALLOWED):
        store = record.get(field)
        if not isinstance(store, dict):
            fail(field, "must be an object of thumbprint -> PEM")
        for key, pem in store.items():
            if _parse_pem(pem, f"{label}: {field}[{key}]")[0] != key:
                fail(f"{field}[{key}]", "key is not the certificate's SHA-1 thumbprint")
    for physical in (GROUP_POLICY, ENTERPRISE):
        policy = record.setdefault(physical, {"Root": {}, "CA": {}})
        if not isinstance(policy, dict) or set(policy) != set(STORES):
            fail(physical, "must be an object with Root and CA, each thumbprint -> PEM")
        for store, held in policy.items():
            if not isinstance(held, dict):
                fail(f"{physical}.{store}", "must be an object of thumbprint -> PEM")
            for key, pem in held.items():
                if _parse_pem(pem, f"{label}: {physical}.{store}[{key}]")[0] != key:
                    fail(f"{physical}.{store}[{key}]", "key is not the certificate's SHA-1 thumbprint")
    _check_iphttps(record.get("iphttps"), f"{label}: iphttps")
    if record.get(WINHTTP_PROXY) is not None:
        try:
            parse_connect_to(record[WINHTTP_PROXY])
        except ClientStateError as exc:
            fail(WINHTTP_PROXY, str(exc))
    service = record.get("iphlpsvc")
    if not isinstance(service, dict) or service.get("status") not in SERVICE_STATUSES \
            or not isinstance(service.get("restarts"), int):
        fail("iphlpsvc", f"must be {{status: {'|'.join(SERVICE_STATUSES)}, restarts: int}}, got {service!r}")
    for field in ("tunnel", "reachable", "wrong_credentials"):
        if not isinstance(record.get(field), bool):
            fail(field, f"must be true or false, got {record.get(field)!r}")
    state = record.get("iphttps_state")
    if state is not None and not (isinstance(state, dict) and isinstance(state.get("last_error_code"), int)
                                  and 0 <= state["last_error_code"] <= 0xFFFFFFFF
                                  and isinstance(state.get("interface_status"), str)):
        fail("iphttps_state", "must be null or {last_error_code: uint32, interface_status: string, ...}")
    return record


def _state_to_json(state: IPHttpsState | None) -> dict | None:
    if state is None:
        return None
    return {"last_error_code": state.last_error_code, "interface_status": state.interface_status,
            "detail": state.detail, "checked_at": _now()}


def _state_from_json(value: dict | None) -> IPHttpsState | None:
    if value is None:
        return None
    return IPHttpsState(value["last_error_code"], value["interface_status"], value.get("detail", ""))


# lab-behaviour: logical-store-union
def logical_store(record: Mapping, store: str) -> dict[str, str]:
    """What LocalMachine's Root or CA store lists: the .Default physical store with the .GroupPolicy and
    .Enterprise ones."""
    return {**record[_store_field(store)], **(record.get(GROUP_POLICY) or {}).get(store, {}),
            **(record.get(ENTERPRISE) or {}).get(store, {})}


def _template_setting(record: Mapping, name: str, default):
    """A setting of the client's scenario template (scenarios imports this module, hence the late import)."""
    from .scenarios import TEMPLATES

    template = TEMPLATES.get(record.get("scenario"))
    return default if template is None else getattr(template, name)


# lab-behaviour: inside-no-iphttps
def _inside(record: Mapping) -> bool:
    """Inside the corporate network DirectAccess does not use IP-HTTPS: Get-NetIPHttpsState returns nothing."""
    return _template_setting(record, "network", "internet") == "corporate"


def _iphttps_active(record: Mapping) -> bool:
    """Whether IP-HTTPS is the interface DirectAccess uses now, so Get-NetIPHttpsState has an object."""
    return (record["iphttps"] is not None and record["iphlpsvc"]["status"] == "Running" and not _inside(record)
            and record.get(ACTIVE_TRANSITION) != "Teredo")


def list_clients(state_dir: str | os.PathLike) -> list[str]:
    """Names of the clients that have a state file in ``state_dir``, sorted."""
    directory = Path(state_dir)
    if not directory.is_dir():
        return []
    # The lab keeps its own files beside the clients' (wsman.py, revocation.py).
    lab_files = {"counts", "latency", "network", "domain"}  # domain: the GPO store (gpo.py)
    return sorted(p.stem for p in directory.glob("*.json") if _NAME_RE.match(p.stem) and p.stem not in lab_files)


class ClientState:
    """Handle on one client's state file. Every call reads the file afresh, so handles in other
    threads or processes never see stale data."""

    def __init__(self, state_dir: str | os.PathLike, name: str):
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ClientStateError(f"client name must be letters, digits and '-' (max 63), got {name!r}")
        self.state_dir = Path(state_dir)
        self.name = name
        self.path = self.state_dir / f"{name}.json"
        self._lock_path = self.state_dir / f"{name}.lock"

    def __repr__(self) -> str:
        return f"ClientState({str(self.state_dir)!r}, {self.name!r})"

    # -- persistence --

    @classmethod
    def create(cls, state_dir: str | os.PathLike, name: str, *, scenario: str = "",
               root_store: Iterable = (), ca_store: Iterable = (), disallowed_store: Iterable = (),
               iphttps: Mapping | None = None,
               iphlpsvc: str = "Running", tunnel: bool = False, reachable: bool = True,
               wrong_credentials: bool = False, winhttp_proxy: str | None = None,
               overwrite: bool = False) -> ClientState:
        """Write a new state file; the stores are given as PEM certificates."""
        client = cls(state_dir, name)
        if iphlpsvc not in SERVICE_STATUSES:
            raise ClientStateError(f"{name}: iphlpsvc must be one of {', '.join(SERVICE_STATUSES)}, got {iphlpsvc!r}")
        record = {
            "format": STATE_FORMAT,
            "name": name,
            "scenario": scenario,
            "root_store": dict(_parse_pem(pem, f"{name}: Root store") for pem in root_store),
            "ca_store": dict(_parse_pem(pem, f"{name}: CA store") for pem in ca_store),
            DISALLOWED: dict(_parse_pem(pem, f"{name}: Disallowed store") for pem in disallowed_store),
            "iphttps": _check_iphttps(iphttps, f"{name}: iphttps"),
            "iphlpsvc": {"status": iphlpsvc, "restarts": 0},
            "tunnel": bool(tunnel),
            "reachable": bool(reachable),
            "wrong_credentials": bool(wrong_credentials),
            "iphttps_state": None,
        }
        if winhttp_proxy is not None:
            parse_connect_to(winhttp_proxy)  # refuses anything but address:port
            record[WINHTTP_PROXY] = winhttp_proxy
        client.state_dir.mkdir(parents=True, exist_ok=True)
        with client._locked():
            if client.path.exists() and not overwrite:
                raise ClientStateError(f"{client.path}: state for {name} already exists")
            client._write(record)
        return client

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict:
        """The whole record, validated (a fresh copy; changing it changes nothing)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ClientStateError(f"{self.path}: no state for client {self.name}") from None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise ClientStateError(f"{self.path}: not valid JSON: {exc}") from None
        return _check_record(record, self.name, str(self.path))

    @contextlib.contextmanager
    def _locked(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _transaction(self):
        """Locked read-modify-write; the record is written back only if it changed."""
        with self._locked():
            record = self.load()
            before = copy.deepcopy(record)
            yield record
            if record != before:
                self._write(record)

    def _write(self, record: dict) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(record, stream, indent=2, sort_keys=True)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # -- certificate stores --

    def certificates(self, store: str) -> dict[str, str]:
        """thumbprint -> PEM of one store ("Root" or "CA")."""
        return self.load()[_store_field(store)]

    def add_certificate(self, store: str, pem: str | bytes) -> tuple[str, bool]:
        """Import one certificate; -> (thumbprint, changed). Importing a present one changes nothing."""
        field = _store_field(store)
        key, normalised = _parse_pem(pem, f"{self.name}: certificate for the {store} store")
        with self._transaction() as record:
            changed = key not in record[field]
            record[field][key] = normalised
        return key, changed

    def remove_certificate(self, store: str, thumbprint_value: str) -> bool:
        """Delete by thumbprint; -> whether it was there."""
        field = _store_field(store)
        key = normalise_thumbprint(thumbprint_value)
        with self._transaction() as record:
            return record[field].pop(key, None) is not None

    # -- configuration the lab manages --

    def set_iphttps_endpoint(self, server_url: str, connect_to: str, others: list[dict] | None = None,
                             winhttp_proxy: str | None = None) -> None:
        """Re-point a DirectAccess client at the lab servers and proxy (their ports change when the lab restarts)."""
        with self._transaction() as record:
            if record["iphttps"] is None:
                raise ClientStateError(f"{self.name}: not a DirectAccess client; it has no IP-HTTPS URL")
            endpoint = dict(record["iphttps"], server_url=server_url, connect_to=connect_to)
            if others:
                endpoint["others"] = others
            record["iphttps"] = _check_iphttps(endpoint, f"{self.name}: iphttps")
            if winhttp_proxy is not None:
                parse_connect_to(winhttp_proxy)
                record[WINHTTP_PROXY] = winhttp_proxy

    def set_flags(self, *, tunnel: bool | None = None, reachable: bool | None = None,
                  wrong_credentials: bool | None = None) -> None:
        flags = {"tunnel": tunnel, "reachable": reachable, "wrong_credentials": wrong_credentials}
        with self._transaction() as record:
            for field, value in flags.items():
                if value is None:
                    continue
                if not isinstance(value, bool):
                    raise ClientStateError(f"{self.name}: {field} must be true or false, got {value!r}")
                record[field] = value

    # -- IP Helper and IP-HTTPS --

    def compute_iphttps_state(self, timeout: float = DEFAULT_TIMEOUT) -> IPHttpsState | None:
        """Connect now with the current stores; records nothing. None: no IP-HTTPS interface."""
        return self._compute(self.load(), timeout)

    def routes(self) -> dict[str, str]:
        """How this client resolves CRL and OCSP hosts: the lab network's outside view."""
        return read_routes(self.state_dir, "outside")

    def _compute(self, record: dict, timeout: float) -> IPHttpsState | None:
        iphttps = record["iphttps"]
        if not _iphttps_active(record):
            return None
        state = verify_iphttps_server(iphttps["server_url"], iphttps["connect_to"],
                                      logical_store(record, "Root"), logical_store(record, "CA"), timeout,
                                      routes=self.routes(), proxy=record.get(WINHTTP_PROXY))
        return distrust_outcome(state, iphttps, record, timeout)

    # lab-behaviour: reconnect-only-on-restart
    def refresh_iphttps_state(self, timeout: float = DEFAULT_TIMEOUT) -> IPHttpsState | None:
        """Connect now and record the result, as the client does when IP Helper (re)starts."""
        with self._transaction() as record:
            state = self._compute(record, timeout)
            record["iphttps_state"] = _state_to_json(state)
        return state

    # lab-behaviour: no-state-when-inactive
    def iphttps_state(self, timeout: float = DEFAULT_TIMEOUT) -> IPHttpsState | None:
        """What Get-NetIPHttpsState shows: the recorded result of the last connection attempt
        (connecting first if none was made yet). None when there is no IP-HTTPS interface."""
        record = self.load()
        if not _iphttps_active(record):
            return None
        if record["iphttps_state"] is None:
            return self.refresh_iphttps_state(timeout)
        return _state_from_json(record["iphttps_state"])

    def iphlpsvc_status(self) -> str:
        return self.load()["iphlpsvc"]["status"]

    def stop_iphlpsvc(self) -> None:
        """Also the first half of Restart-Service: the interfaces IP Helper carries go down with it."""
        with self._transaction() as record:
            record["iphlpsvc"]["status"] = "Stopped"
            record["iphttps_state"] = None
            record.pop(ACTIVE_TRANSITION, None)

    def start_iphlpsvc(self, timeout: float = DEFAULT_TIMEOUT) -> IPHttpsState | None:
        """Start IP Helper (no-op if running) and return the IP-HTTPS state it ends up with."""
        with self._transaction() as record:
            if record["iphlpsvc"]["status"] != "Running" or record["iphttps_state"] is None:
                record["iphlpsvc"]["status"] = "Running"
                record["iphttps_state"] = _state_to_json(self._compute(record, timeout))
            return _state_from_json(record["iphttps_state"])

    def restart_iphlpsvc(self, timeout: float = DEFAULT_TIMEOUT, *, proof: Mapping | None = None
                         ) -> IPHttpsState | None:
        """Restart-Service iphlpsvc: the client sets up a new IP-HTTPS connection with its
        current stores; returns the new state. On a template whose Teredo comes up first after a
        restart, Teredo carries DirectAccess instead and IP-HTTPS shows no state. ``proof`` is the
        marker the collection's restart command writes when Restart-Service returns."""
        with self._transaction() as record:
            # lab-behaviour: restart-starts-stopped-service
            record["iphlpsvc"] = {"status": "Running", "restarts": record["iphlpsvc"]["restarts"] + 1}
            record.pop(ACTIVE_TRANSITION, None)
            # lab-behaviour: teredo-after-restart
            if _template_setting(record, "after_restart", "iphttps") == "teredo":
                record[ACTIVE_TRANSITION] = "Teredo"
            state = self._compute(record, timeout)
            record["iphttps_state"] = _state_to_json(state)
            if proof is not None:
                record[RESTART_MARKER] = dict(proof)
        return state

    def restart_marker(self) -> dict | None:
        """The last restart's marker (HKLM\\SOFTWARE\\directaccess.iphttps, iphlpsvc_restart), or None."""
        return self.load().get(RESTART_MARKER)

    def write_restart_marker(self, proof: Mapping) -> None:
        """Write the restart's marker alone: a restart that ran and failed (faults.py, restart_fails)."""
        with self._transaction() as record:
            record[RESTART_MARKER] = dict(proof)

    def keep_iphttps_state(self, state: dict | None) -> None:
        """Put back a recorded IP-HTTPS state: a reconnect that did not happen (faults.py, never_recovers)."""
        with self._transaction() as record:
            record["iphttps_state"] = state

    # lab-behaviour: group-policy-refresh
    def apply_group_policy(self, certificates: Mapping[str, Iterable],
                           enterprise: Mapping[str, Iterable] | None = None) -> bool | None:
        """A policy refresh: the .GroupPolicy stores are rewritten with what the GPOs deploy (PEMs by store)
        and, given ``enterprise`` (PEMs by store: Root from AD's RootCA container, CA from SubCA), so are the
        .Enterprise stores; but only when the client reaches a domain controller: inside, or through a working
        DirectAccess tunnel. Returns whether the stores changed, or None when the client could not refresh."""
        if not self.reaches_domain():
            return None
        with self._transaction() as record:
            new = {store: dict(_parse_pem(pem, f"{self.name}: Group Policy {store} store")
                               for pem in certificates.get(store, ())) for store in STORES}
            changed = new != record[GROUP_POLICY]
            record[GROUP_POLICY] = new
            if enterprise is not None:
                # lab-behaviour: enterprise-store-refresh
                held = {store: dict(_parse_pem(pem, f"{self.name}: Enterprise {store} store")
                                    for pem in enterprise.get(store, ())) for store in STORES}
                changed = changed or held != record[ENTERPRISE]
                record[ENTERPRISE] = held
        return changed

    def reaches_domain(self) -> bool:
        """Inside the corporate network, or connected remotely through DirectAccess."""
        record = self.load()
        if record["iphttps"] is None:
            return _inside(record)
        return (self.da_connection_status() or ("", ""))[0] in ("ConnectedLocally", "ConnectedRemotely")

    # lab-behaviour: da-connection-status-model
    def da_connection_status(self) -> tuple[str, str] | None:
        """Get-DAConnectionStatus' Status and Substatus names, or None: no DirectAccess configuration
        (the cmdlet returns nothing), or IP Helper stopped (NcaSvc, which depends on it, is down and
        the cmdlet throws)."""
        record = self.load()
        if record["iphttps"] is None or record["iphlpsvc"]["status"] != "Running":
            return None
        if _inside(record):
            return "ConnectedLocally", "None"
        if record.get(ACTIVE_TRANSITION) == "Teredo":
            return "ConnectedRemotely", "None"
        state = self.iphttps_state()
        if state is not None and state.last_error_code == ERROR_SUCCESS:
            return "ConnectedRemotely", "None"
        return "ActionableError", "CouldNotContactDirectAccessServer"
