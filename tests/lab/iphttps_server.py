# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's IP-HTTPS server: real TLS on loopback, one listener per server profile.

Test infrastructure only; the collection never imports anything from here.

A profile says what a client meets when it connects:

- ``good``: the IP-HTTPS certificate with the issuing CA and the root. Sending the root makes an
  untrusted root the end of a complete chain, which is what 0x800B0109 (CERT_E_UNTRUSTEDROOT)
  describes; whether a given Windows server sends its root is not confirmed here.
- ``leaf_only``: the server certificate alone (a misconfigured server), so a client without the
  issuing CA in its CA store cannot build the chain.
- ``expired`` / ``wrong_name``: the other server certificates from the lab PKI, full chain.
- ``blackhole``: a port that listens but never answers, like a firewall dropping TCP 443;
  clients time out.
- ``closed``: a port that is bound but not listening; the kernel refuses connections, and
  keeping it bound stops anything else from taking the port.
- ``crl_ok``, ``crl_offline``, ``crl_stale``, ``crl_revoked``, ``crl_inside``: server certificates
  from the lab PKI's revocation/ set, with the CRL issuing CA and the root. Each names a CRL
  distribution point that the lab's PKI web (``revocation.py``) serves current, does not serve,
  serves stale, serves with this certificate listed, or serves only inside.
- ``client_cert_required``: the ``good`` chain from a device that demands a client certificate the
  lab's clients do not have, like a load balancer in front of the DirectAccess server that requires
  client authentication. It speaks TLS 1.2 at most, so the client learns of the refusal during its
  handshake, before the chain reaches the validation callback (TLS 1.3 would refuse only afterwards).
- ``good_ipv6``: the ``good`` chain on the IPv6 loopback only, for a server name that has an AAAA
  record and no A record. Where the host has no IPv6 loopback the profile is skipped, and a client
  that needs it cannot be provisioned.

``start_servers`` also starts the lab's CONNECT proxy (``ServerGroup.proxy``, ``proxy.py``), which
resolves the lab's server name to the servers' host, for clients whose only way out is a proxy.

``start_servers`` also starts the PKI web (``ServerGroup.pki_web``) unless told not to, so a
client provisioned against the group can reach the CRLs its server's certificates name.

The TLS server completes handshakes, answers one minimal HTTP response and closes. It does not
tunnel IPv6: the lab only needs what the client learns from the handshake.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import socketserver
import ssl
import tempfile
import threading

from .pki import LabPKI
from .proxy import ConnectProxy
from .revocation import PKIWeb

# Bounds how long one connection may hold a handler thread, so stop() never waits long.
_IO_TIMEOUT = 2.0
_MAX_REQUEST_HEAD = 8192
_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class ServerProfile:
    name: str
    behaviour: str  # "tls", "blackhole" or "closed"
    leaf: str | None = None  # lab PKI certificate name
    chain: tuple[str, ...] = ()  # sent after the leaf, in this order
    description: str = ""
    client_certificate: bool = False  # the server demands one (ssl.CERT_REQUIRED) and refuses clients without
    host: str | None = None  # where it listens, when not on the group's host (good_ipv6: "::1")


PROFILES: dict[str, ServerProfile] = {p.name: p for p in (
    ServerProfile("good", "tls", "iphttps", ("issuing", "root"), "server certificate, issuing CA and root"),
    ServerProfile("leaf_only", "tls", "iphttps", (), "server certificate without its issuing CA"),
    ServerProfile("expired", "tls", "iphttps_expired", ("issuing", "root"), "expired server certificate"),
    ServerProfile("wrong_name", "tls", "iphttps_wrong_name", ("issuing", "root"),
                  "server certificate issued for another name"),
    ServerProfile("blackhole", "blackhole", description="listens, never answers: clients time out"),
    ServerProfile("closed", "closed", description="bound, not listening: clients are refused"),
    ServerProfile("crl_ok", "tls", "iphttps_crl", ("issuing_crl", "root"),
                  "server certificate whose CDP and OCSP responder are published"),
    ServerProfile("crl_offline", "tls", "iphttps_crl_offline", ("issuing_crl", "root"),
                  "server certificate whose CDP host is down"),
    ServerProfile("crl_stale", "tls", "iphttps_crl_stale", ("issuing_crl", "root"),
                  "server certificate whose CDP serves a CRL past its nextUpdate"),
    ServerProfile("crl_revoked", "tls", "iphttps_revoked", ("issuing_crl", "root"),
                  "server certificate listed on its CA's CRL"),
    ServerProfile("crl_inside", "tls", "iphttps_crl_inside", ("issuing_crl", "root"),
                  "server certificate whose CDPs resolve only on the corporate network"),
    ServerProfile("client_cert_required", "tls", "iphttps", ("issuing", "root"),
                  "server certificate, issuing CA and root from a device that demands a client certificate",
                  client_certificate=True),
    ServerProfile("good_ipv6", "tls", "iphttps", ("issuing", "root"),
                  "server certificate, issuing CA and root, on the IPv6 loopback only", host="::1"),
)}


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(_IO_TIMEOUT)
        try:
            with self.server.tls_context.wrap_socket(self.request, server_side=True) as tls:
                self.server.handshake_done()
                head = b""
                while b"\r\n\r\n" not in head and len(head) < _MAX_REQUEST_HEAD:
                    chunk = tls.recv(1024)
                    if not chunk:
                        return
                    head += chunk
                tls.sendall(_RESPONSE)
        except OSError:
            # A client that rejects the chain aborts the handshake; that is the normal case here.
            return


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _TLSServer(socketserver.ThreadingTCPServer):
    # Non-daemon handler threads are joined by server_close(), so stop() leaves nothing behind.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address, tls_context: ssl.SSLContext):
        self.address_family = _family(address[0])
        self.tls_context = tls_context
        self.handshakes = 0
        self._count_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handshake_done(self) -> None:
        with self._count_lock:
            self.handshakes += 1


def _server_context(pki: LabPKI, profile: ServerProfile) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files; the chain file holds public certificates only and is
    # removed as soon as OpenSSL has read it. The key is read from the PKI's private directory.
    names = (profile.leaf,) + profile.chain
    fd, chain_path = tempfile.mkstemp(prefix="iphttps-chain-", suffix=".pem")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write("".join(pki.pem(name) for name in names))
        context.load_cert_chain(chain_path, str(pki.key_path(profile.leaf)))
    finally:
        os.unlink(chain_path)
    if profile.client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pki.pem("root"))
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class IPHttpsServer:
    """One profile's listener on ``host``, on a port the kernel picks."""

    def __init__(self, pki: LabPKI, profile: str | ServerProfile, host: str = "127.0.0.1"):
        if isinstance(profile, str):
            if profile not in PROFILES:
                raise ValueError(f"unknown IP-HTTPS server profile {profile!r}; known: {', '.join(PROFILES)}")
            profile = PROFILES[profile]
        if profile.behaviour not in ("tls", "blackhole", "closed"):
            raise ValueError(f"profile {profile.name!r}: unknown behaviour {profile.behaviour!r}")
        if profile.behaviour == "tls" and not profile.leaf:
            raise ValueError(f"profile {profile.name!r}: a TLS profile needs a leaf certificate")
        self.pki = pki
        self.profile = profile
        self.host = host
        self._tls_server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def start(self) -> IPHttpsServer:
        if self._tls_server or self._socket:
            raise RuntimeError(f"IP-HTTPS server {self.profile.name!r} is already running")
        if self.profile.behaviour == "tls":
            self._tls_server = _TLSServer((self.host, 0), _server_context(self.pki, self.profile))
            self._thread = threading.Thread(target=self._tls_server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"iphttps-{self.profile.name}", daemon=True)
            self._thread.start()
        else:
            sock = socket.socket(_family(self.host), socket.SOCK_STREAM)
            sock.bind((self.host, 0))
            if self.profile.behaviour == "blackhole":
                # Never accepted: the kernel completes a few TCP handshakes into the backlog and
                # drops the rest of the SYNs; either way the client's TLS handshake times out.
                sock.listen(1)
            self._socket = sock
        return self

    def stop(self) -> None:
        if self._tls_server is not None:
            self._tls_server.shutdown()
            self._tls_server.server_close()
            self._thread.join()
            self._tls_server = self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> IPHttpsServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._tls_server is not None:
            return self._tls_server.server_address[1]
        if self._socket is not None:
            return self._socket.getsockname()[1]
        raise RuntimeError(f"IP-HTTPS server {self.profile.name!r} is not running")

    @property
    def connect_to(self) -> str:
        """Where clients really connect: the URL's name does not resolve in the lab."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def server_url(self) -> str:
        """The IP-HTTPS URL a DirectAccess client of this server is configured with."""
        return f"https://{self.pki.server_name}:{self.port}/IPHTTPS"

    @property
    def handshakes(self) -> int:
        """TLS handshakes completed so far (0 for blackhole and closed profiles)."""
        return self._tls_server.handshakes if self._tls_server is not None else 0


class ServerGroup(dict):
    """Running servers by profile name, and the PKI web beside them; stop() stops them all."""

    pki_web: PKIWeb | None = None
    proxy: ConnectProxy | None = None

    def stop(self) -> None:
        while self:
            _name, server = self.popitem()
            server.stop()
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.pki_web is not None:
            self.pki_web.stop()
            self.pki_web = None

    def __enter__(self) -> ServerGroup:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_servers(pki: LabPKI, profiles=None, host: str = "127.0.0.1", pki_web: bool = True) -> ServerGroup:
    """Start one server per profile name (default: every profile in PROFILES), and the PKI web."""
    group = ServerGroup()
    try:
        if pki_web:
            group.pki_web = PKIWeb(pki, host).start()
        group.proxy = ConnectProxy({pki.server_name: host}, host).start()
        for name in (PROFILES if profiles is None else profiles):
            if name not in PROFILES:
                raise ValueError(f"unknown IP-HTTPS server profile {name!r}; known: {', '.join(PROFILES)}")
            own_host = PROFILES[name].host
            if own_host is not None and not _can_bind(own_host):
                continue  # no IPv6 loopback here: clients that need this server cannot be provisioned
            group[name] = IPHttpsServer(pki, name, own_host or host).start()
    except BaseException:
        group.stop()
        raise
    return group


def _can_bind(host: str) -> bool:
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True
