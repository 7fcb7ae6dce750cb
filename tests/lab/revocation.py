# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's PKI web: CRL and OCSP servers on loopback, the names that reach them, and revocation.

Test infrastructure only; the collection never imports anything from here, and this module does
not import the collection.

Sites. The lab PKI's revocation certificates (``pki.py``, ``revocation/``) name fixed hosts::

    pki.lab.example          published: the root's CRL, the CRL issuing CA's current CRL (it lists
                             the revoked server certificate) and a stale copy past its nextUpdate
    ocsp.lab.example         an OCSP responder for the CRL issuing CA (RFC 6960, GET and POST)
    crl-offline.lab.example  resolves, but nothing listens: connections are refused
    pki.corp.lab.example     the current CRL again, on a host only the corporate network resolves

``PKIWeb`` serves them, one real HTTP listener per site on a loopback port the kernel picks. Every
CRL is signed afresh by the lab CA's key when the servers start, so it is current (or stale) by
the clock of this run.

The network. Those names do not resolve; ``network.json`` in a lab's state directory maps each
one to the loopback address that serves it, once for the ``outside`` (the Internet, where every
lab client sits: IP-HTTPS is how clients outside connect) and once for the ``inside`` (the
corporate network: the outside names plus pki.corp.lab.example). A name a view does not list
fails the way a DNS miss does. ``provision_clients`` writes the file when the servers it gets
carry a ``PKIWeb``; a client without the file resolves nothing.

Revocation as a lab client checks it (``check_chain``), for a chain that already verified to a
trusted root: every certificate but the root, from the top down, is checked against a CRL fetched
from its CRL distribution points in order; the first CRL that parses, is signed by the issuer and
is current decides. Listed: CRYPT_E_REVOKED. No URL gives such a CRL: CRYPT_E_REVOCATION_OFFLINE.
docs/lab.md gives the Windows sources for each rule and marks what is assumed.

``revocation_section`` is what client_info.ps1 reports under ``revocation``: the fetch of every
CDP and OCSP URL of every certificate in ``server_chain``, with the script's limits.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from .pki import (
    INSIDE_PKI_HOST,
    ISSUING_CRL_PATH,
    OCSP_HOST,
    OCSP_PATH,
    OFFLINE_CRL_HOST,
    PKI_HOST,
    REVOCATION_CERT_FILES,
    ROOT_CRL_PATH,
    STALE_CRL_PATH,
    LabPKI,
)

CRYPT_E_REVOKED = 0x80092010
CRYPT_E_NO_REVOCATION_CHECK = 0x80092012
CRYPT_E_REVOCATION_OFFLINE = 0x80092013
# The last errors under which client_info.ps1's "auto" mode fetches.
REVOCATION_ERRORS = (CRYPT_E_REVOCATION_OFFLINE, CRYPT_E_NO_REVOCATION_CHECK, CRYPT_E_REVOKED)

NETWORK_FILE = "network.json"
VIEWS = ("outside", "inside")

# client_info.ps1's limits.
FETCH_TIMEOUT_MS = 5000
FETCH_DEADLINE_MS = 30000
MAX_FETCHES = 16
MAX_BODY_BYTES = 262144
# The blog post that says CryptoAPI's CRL download goes through WinHTTP gives this User-Agent; the
# script sends it so that a proxy rule written for CryptoAPI lets the fetch through as well.
USER_AGENT = "Microsoft-CryptoAPI/6.0"

_IO_TIMEOUT = 2.0
_DAY = datetime.timedelta(days=1)

# The .NET Framework WebException texts the script reports (English; Windows localizes them).
_NAME_NOT_RESOLVED = "The remote name could not be resolved: '{host}'"
_CONNECT_FAILED = "Unable to connect to the remote server"
_TIMED_OUT = "The operation has timed out"
_CONNECTION_CLOSED = "The underlying connection was closed: An unexpected error occurred on a receive."
_HTTP_ERROR = "The remote server returned an error: ({status}) {reason}."


# --- the certificates' URLs ----------------------------------------------------------------------------

def revocation_urls(cert: x509.Certificate) -> list[tuple[str, str]]:
    """(kind, URL) in certificate order: CRL distribution point URIs, then AIA OCSP responder URIs.

    Only fullName URIs count (as in the script); a malformed extension gives no URLs.
    """
    urls: list[tuple[str, str]] = []
    try:
        points = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except (x509.ExtensionNotFound, ValueError):
        points = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                urls.append(("crl", name.value))
    try:
        access = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except (x509.ExtensionNotFound, ValueError):
        access = []
    for description in access:
        if description.access_method == AuthorityInformationAccessOID.OCSP \
                and isinstance(description.access_location, x509.UniformResourceIdentifier):
            urls.append(("ocsp", description.access_location.value))
    return urls


# --- the network ---------------------------------------------------------------------------------------

def write_network(state_dir: str | os.PathLike, routes: Mapping[str, Mapping[str, str]]) -> Path:
    """Write ``network.json``: {view: {host: "127.0.0.1:port"}} for the views in VIEWS."""
    path = Path(state_dir) / NETWORK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {view: dict(sorted(routes[view].items())) for view in VIEWS}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_routes(state_dir: str | os.PathLike, view: str = "outside") -> dict[str, str]:
    """The name -> address table of one view; empty when the lab wrote no network file."""
    if view not in VIEWS:
        raise ValueError(f"network view must be one of {', '.join(VIEWS)}, got {view!r}")
    path = Path(state_dir) / NETWORK_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    routes = document.get(view) if isinstance(document, dict) else None
    if not isinstance(routes, dict) or not all(isinstance(v, str) for v in routes.values()):
        raise ValueError(f"{path}: {view} must map host names to 'address:port'")
    return {host.lower(): address for host, address in routes.items()}


# --- fetching, as WinHTTP does for CryptoAPI and HttpWebRequest does for the script ---------------------

@dataclasses.dataclass(frozen=True)
class Fetch:
    """One HTTP GET: ``status`` None when no HTTP response came; ``body`` only for a 2xx answer."""

    status: int | None
    body: bytes | None
    error: str | None

    @property
    def size(self) -> int | None:
        return None if self.body is None else len(self.body)


def fetch(url: str, routes: Mapping[str, str], timeout: float) -> Fetch:
    """GET ``url`` through the lab network ``routes`` (host -> "address:port"), directly (no proxy).

    Failures carry the message .NET's WebException gives for them. Socket errors other than a
    refusal, a reset or a timeout propagate: a lab fault is never disguised as a network state.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    address = routes.get(host)
    if address is None:
        return Fetch(None, None, _NAME_NOT_RESOLVED.format(host=host))
    ip, _sep, port = address.rpartition(":")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(ip.strip("[]"), int(port), timeout=timeout)
    try:
        connection.putrequest("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                              skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", parts.netloc.rpartition("@")[2])
        connection.putheader("User-Agent", USER_AGENT)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    except ConnectionRefusedError:
        return Fetch(None, None, _CONNECT_FAILED)
    except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
        return Fetch(None, None, _TIMED_OUT)
    except (ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected):
        return Fetch(None, None, _CONNECTION_CLOSED)
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return Fetch(response.status, body, None)
    return Fetch(response.status, None, _HTTP_ERROR.format(status=response.status, reason=response.reason))


# --- the check a lab client makes ------------------------------------------------------------------------

def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(data)
    except ValueError:
        return x509.load_pem_x509_crl(data)


def _describe(cert: x509.Certificate) -> str:
    return f"{cert.subject.rfc4514_string()} (serial {cert.serial_number:X})"


def check_chain(chain: Sequence[x509.Certificate], routes: Mapping[str, str], timeout: float,
                now: datetime.datetime | None = None) -> tuple[int, str] | None:
    """Revocation of a chain (leaf first, root last) that verified to a trusted root.

    -> None when no certificate is revoked or unknown, else (error code, detail naming the
    certificate and each URL tried). A certificate without a CRL distribution point is not
    checked (an assumption, see docs/lab.md).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    # From the root down; the root itself is not checked.
    for index in range(len(chain) - 2, -1, -1):
        cert, issuer = chain[index], chain[index + 1]
        urls = [url for kind, url in revocation_urls(cert) if kind == "crl"]
        if not urls:
            continue
        tried: list[str] = []
        for url in urls:
            scheme = urlsplit(url).scheme.lower()
            if scheme not in ("http", "https"):
                tried.append(f"{url}: {scheme} cannot be reached from outside the corporate network")
                continue
            got = fetch(url, routes, timeout)
            if got.body is None:
                tried.append(f"{url}: {got.error}")
                continue
            try:
                crl = _load_crl(got.body)
            except ValueError:
                tried.append(f"{url}: not a CRL")
                continue
            if crl.issuer != cert.issuer or not crl.is_signature_valid(issuer.public_key()):
                tried.append(f"{url}: CRL not signed by {issuer.subject.rfc4514_string()}")
                continue
            next_update = crl.next_update_utc
            if now < crl.last_update_utc or (next_update is not None and now >= next_update):
                tried.append(f"{url}: CRL not current (thisUpdate {crl.last_update_utc:%Y-%m-%dT%H:%M:%SZ}, "
                             f"nextUpdate {next_update:%Y-%m-%dT%H:%M:%SZ})")
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return CRYPT_E_REVOKED, (f"{_describe(cert)} is listed on the CRL at {url}, revoked "
                                         f"{entry.revocation_date_utc:%Y-%m-%dT%H:%M:%SZ}")
            break
        else:
            return CRYPT_E_REVOCATION_OFFLINE, f"no current CRL for {_describe(cert)}: " + "; ".join(tried)
    return None


# --- what client_info.ps1 reports --------------------------------------------------------------------------

def _not_fetched(index: int, kind: str, url: str, error: str) -> dict:
    return {"cert_index": index, "kind": kind, "url": url, "reachable": False, "status": None, "size": None,
            "error": error, "body_base64": None}


def revocation_section(server_chain: Sequence[bytes], routes: Mapping[str, str],
                       timeout_ms: int = FETCH_TIMEOUT_MS, proxy: Mapping | None = None,
                       clock=time.monotonic) -> dict:
    """client_info.ps1's ``revocation`` object for ``server_chain`` (DER, as the script lists it).

    Each URL once (a repeat, in any case, reuses the first answer), at most MAX_FETCHES entries, each fetch
    waiting at most ``timeout_ms`` and all of them together FETCH_DEADLINE_MS. A CRL counts as
    reachable when it came with a 2xx status; an OCSP responder when it answered at all (a GET of
    the responder URL asks nothing, so it proves reachability only).
    """
    started = clock()
    fetches: list[dict] = []
    seen: dict[str, dict] = {}  # keyed ignoring case, as the script's @{} compares its keys
    for index, der in enumerate(server_chain):
        try:
            urls = revocation_urls(x509.load_der_x509_certificate(der))
        except ValueError:
            urls = []
        for kind, url in urls:
            if len(fetches) >= MAX_FETCHES:
                break
            scheme = urlsplit(url).scheme.lower()
            if url.lower() in seen:
                entry = dict(seen[url.lower()], cert_index=index, kind=kind, url=url)
            elif scheme not in ("http", "https"):
                entry = _not_fetched(index, kind, url, f"{scheme or 'url without a scheme'} not fetched")
            else:
                left_ms = FETCH_DEADLINE_MS - int((clock() - started) * 1000)
                if left_ms <= 0:
                    entry = _not_fetched(index, kind, url, f"not fetched: all fetches together may take "
                                                           f"{FETCH_DEADLINE_MS} ms, and that time had passed")
                else:
                    got = fetch(url, routes, min(timeout_ms, left_ms) / 1000.0)
                    reachable = got.body is not None if kind == "crl" else got.status is not None
                    entry = {"cert_index": index, "kind": kind, "url": url, "reachable": reachable,
                             "status": got.status, "size": got.size, "error": got.error,
                             "body_base64": base64.b64encode(got.body).decode("ascii")
                             if got.body is not None and len(got.body) <= MAX_BODY_BYTES else None}
                seen[url.lower()] = entry
            fetches.append(entry)
    return {"proxy": dict(proxy) if proxy else {"source": "winhttp", "proxy": None, "bypass": None},
            "fetches": fetches}


# --- the servers -----------------------------------------------------------------------------------------

def _crl(issuer: x509.Certificate, key, number: int, this_update, next_update, revoked=()) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for cert, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(when)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


class _OCSPResponder:
    """Answers for the certificates the CRL issuing CA issued in the lab PKI, signed by that CA."""

    def __init__(self, pki: LabPKI, revoked: Sequence[x509.Certificate], now: datetime.datetime):
        self.issuer = pki.cert("issuing_crl")
        self.key = pki.private_key("issuing_crl")
        self.known = {pki.cert(name).serial_number: pki.cert(name) for name in REVOCATION_CERT_FILES
                      if pki.cert(name).issuer == self.issuer.subject}
        self.revoked = {cert.serial_number for cert in revoked}
        self.now = now

    def answer(self, request_der: bytes | None) -> bytes:
        builder = ocsp.OCSPResponseBuilder
        try:
            request = ocsp.load_der_ocsp_request(request_der or b"")
        except ValueError:
            return builder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(Encoding.DER)
        cert = self.known.get(request.serial_number)
        if cert is None:
            return builder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(Encoding.DER)
        revoked = cert.serial_number in self.revoked
        response = builder().add_response(
            cert=cert, issuer=self.issuer, algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=self.now - datetime.timedelta(hours=1), next_update=self.now + 7 * _DAY,
            revocation_time=self.now - _DAY if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.issuer)
        return response.sign(self.key, hashes.SHA256()).public_bytes(Encoding.DER)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.settimeout(_IO_TIMEOUT)

    def _send(self, status: int, content_type: str | None, body: bytes) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _answer(self, body: bytes | None) -> None:
        site = self.server.site
        path = self.path.split("?", 1)[0]
        self.server.record(self.headers.get("Host", ""), self.command, path)
        if site.responder is not None and (path == OCSP_PATH or path.startswith(OCSP_PATH + "/")):
            if body is None and path != OCSP_PATH:
                # RFC 6960 appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}
                try:
                    body = base64.b64decode(unquote(path[len(OCSP_PATH) + 1:]), validate=True)
                except (binascii.Error, ValueError):
                    body = b""
            self._send(200, "application/ocsp-response", site.responder.answer(body))
            return
        if self.command == "GET" and path in site.files:
            self._send(200, "application/pkix-crl", site.files[path])
            return
        self._send(404, "text/plain", b"not found\n")

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._answer(None)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(min(length, 65536)))

    def log_message(self, format, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        del format, args  # the lab's log stays readable; requests are counted instead


@dataclasses.dataclass
class _Site:
    host: str
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    responder: _OCSPResponder | None = None
    inside_only: bool = False


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, address, site: _Site, web: PKIWeb):
        self.site = site
        self.web = web
        super().__init__(address, _Handler)

    def record(self, host: str, method: str, path: str) -> None:
        self.web.record(self.site.host, host, method, path)


class PKIWeb:
    """The lab's CRL and OCSP sites on ``host``; ``routes(view)`` says where each name is served."""

    def __init__(self, pki: LabPKI, host: str = "127.0.0.1"):
        self.pki = pki
        self.host = host
        self._servers: dict[str, _SiteServer] = {}
        self._threads: list[threading.Thread] = []
        self._closed: socket.socket | None = None
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, str, str]] = []  # (site, Host header, method, path)

    def _sites(self) -> list[_Site]:
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        root, root_key = self.pki.cert("root"), self.pki.private_key("root")
        issuing, issuing_key = self.pki.cert("issuing_crl"), self.pki.private_key("issuing_crl")
        revoked = [self.pki.cert("iphttps_revoked")]
        current = _crl(issuing, issuing_key, 2, now - datetime.timedelta(hours=1), now + 30 * _DAY,
                       [(cert, now - _DAY) for cert in revoked])
        # Published once, two months ago, for a month; never renewed since.
        stale = _crl(issuing, issuing_key, 1, now - 60 * _DAY, now - 30 * _DAY)
        root_crl = _crl(root, root_key, 1, now - datetime.timedelta(hours=1), now + 180 * _DAY)
        return [
            _Site(PKI_HOST, {ROOT_CRL_PATH: root_crl, ISSUING_CRL_PATH: current, STALE_CRL_PATH: stale}),
            _Site(OCSP_HOST, responder=_OCSPResponder(self.pki, revoked, now)),
            _Site(INSIDE_PKI_HOST, {ISSUING_CRL_PATH: current}, inside_only=True),
        ]

    def start(self) -> PKIWeb:
        if self._servers or self._closed:
            raise RuntimeError("the lab PKI web servers are already running")
        try:
            for site in self._sites():
                server = _SiteServer((self.host, 0), site, self)
                self._servers[site.host] = server
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                          name=f"pki-web-{site.host}", daemon=True)
                thread.start()
                self._threads.append(thread)
            # The offline CDP host: bound, not listening, so connections are refused.
            self._closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._closed.bind((self.host, 0))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._servers.clear()
        self._threads.clear()
        if self._closed is not None:
            self._closed.close()
            self._closed = None

    def __enter__(self) -> PKIWeb:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def record(self, site: str, host_header: str, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((site, host_header, method, path))

    def routes(self, view: str = "outside") -> dict[str, str]:
        """host -> "address:port" as one view of the network resolves it."""
        if view not in VIEWS:
            raise ValueError(f"network view must be one of {', '.join(VIEWS)}, got {view!r}")
        if not self._servers or self._closed is None:
            raise RuntimeError("the lab PKI web servers are not running")
        table = {host: f"{self.host}:{server.server_address[1]}" for host, server in self._servers.items()
                 if view == "inside" or not server.site.inside_only}
        table[OFFLINE_CRL_HOST] = f"{self.host}:{self._closed.getsockname()[1]}"
        return table

    def write_network(self, state_dir: str | os.PathLike) -> Path:
        return write_network(state_dir, {view: self.routes(view) for view in VIEWS})
