# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP(S) GET for ca_bundle, bounded in bytes and in total time.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports.
Why not ansible's open_url: its timeout applies to each socket operation, so a server that sends a
byte every half second keeps a download alive for ever. Here ``timeout`` is a deadline for the whole
GET (name lookup, connect, TLS handshake, proxy tunnel, redirects, headers and body), each hop's host
can be checked before anything is sent to it, and a URL's credentials never reach another host.
"""
from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import typing as t
import urllib.request
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(Exception):
    """The GET failed; the message says why and never holds the URL's credentials."""


class Refused(FetchError):
    """A hop's check refused the host or an address it resolves to; nothing was sent there."""


def redact_url(url: t.Any) -> str:
    """The URL with any user name and password replaced by ``***``, for every message and record."""
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    if "@" not in authority:
        return text
    return f"{scheme}://***@{authority.rpartition('@')[2]}{rest[authority_end:]}"


def address_refusal(address: str) -> str | None:
    """Why a fetch from an unvetted link must not go to ``address``, or None when it may.

    Loopback, link-local (169.254.169.254 is the cloud metadata service), unspecified, multicast and
    reserved addresses are never where a CA publishes its certificate, and are where a request forged
    by a hostile certificate does harm. Private ranges stay allowed: internal PKIs publish there.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                       ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                       ("reserved", ip.is_reserved)):
        if flag:
            return f"it resolves to the {kind} address {ip}"
    return None


class Deadline:
    """An absolute end in monotonic time; ``remaining`` raises FetchError once it has passed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise FetchError(f"did not finish within the timeout of {self.seconds:g}s")
        return left


class _DeadlineSocket(socket.socket):
    """Every receive and send waits at most until the deadline (http.client reads through recv_into)."""

    deadline: Deadline

    def recv_into(self, buffer, nbytes=0, flags=0):
        self.settimeout(self.deadline.remaining())
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize, flags=0):
        self.settimeout(self.deadline.remaining())
        return super().recv(bufsize, flags)

    def sendall(self, data, flags=0):
        self.settimeout(self.deadline.remaining())
        return super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The same for TLS; the handshake too. A subclass per GET carries its deadline."""

    deadline: Deadline

    def do_handshake(self, block=False):
        self.settimeout(self.deadline.remaining())
        return super().do_handshake(block)

    def recv_into(self, buffer, nbytes=None, flags=0):
        self.settimeout(self.deadline.remaining())
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data, flags=0):
        self.settimeout(self.deadline.remaining())
        return super().sendall(data, flags)


def _resolve(host: str, port: int, deadline: Deadline) -> list:
    """getaddrinfo has no timeout of its own: it runs in a thread that is waited for until the deadline."""
    answer: dict[str, t.Any] = {}

    def lookup():
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise FetchError(f"looking up {host} did not finish within the timeout of {deadline.seconds:g}s")
    if "error" in answer:
        raise FetchError(f"cannot resolve {host}: {_reason(answer['error'])}")
    return answer["infos"]


def open_socket(host: str, port: int, deadline: Deadline, check: t.Callable[[str], None] | None) -> socket.socket:
    infos = _resolve(host, port, deadline)
    if check is not None:
        # Every address is checked before any is tried, and the socket goes to a checked address:
        # a second lookup (DNS rebinding) cannot swap in another one.
        for info in infos:
            check(info[4][0])
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = _DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except FetchError:
            sock.close()
            raise
    raise FetchError(f"cannot connect to {host} port {port}: {_reason(last)}")


def _proxy_for(scheme: str, host: str) -> t.Any:
    """The proxy the environment names for this URL (http_proxy, https_proxy, no_proxy), as urllib would use."""
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise FetchError(f"the {scheme}_proxy environment variable must be an http:// proxy URL, "
                         f"got {redact_url(proxy)}")
    return parts


def _basic(username: str | None, password: str | None) -> str:
    pair = f"{unquote(username or '')}:{unquote(password or '')}".encode("utf-8")
    return "Basic " + base64.b64encode(pair).decode("ascii")


def parse_url(url: str) -> t.Any:
    """urlsplit's parts of an http or https URL with a host and a usable port; FetchError otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1/x": an unclosed IPv6 bracket
        raise FetchError("not a usable URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http and https URLs are supported, not {parts.scheme or 'a bare path'!r}")
    if not parts.hostname:
        raise FetchError("the URL names no host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise FetchError("the URL's port must be 1-65535")
    return parts


def _connection(parts: t.Any, deadline: Deadline, validate_certs: bool,
                check: t.Callable[[str], None] | None) -> tuple[http.client.HTTPConnection, str, dict]:
    """A connection for one hop, the request target to send on it and the headers that hop needs."""
    scheme = parts.scheme.lower()
    host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
    netloc = parts.netloc.rpartition("@")[2]
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    headers = {"Host": netloc, "Accept": "*/*", "Connection": "close", "User-Agent": "directaccess.iphttps ca_bundle"}
    proxy = _proxy_for(scheme, host)
    if proxy is not None:
        if check is not None:
            for info in _resolve(host, port, deadline):
                check(info[4][0])
        proxy_auth = _basic(proxy.username, proxy.password) if proxy.username else None
        connect_host, connect_port, connect_check = proxy.hostname, proxy.port or 8080, None
    else:
        connect_host, connect_port, connect_check = host, port, check

    if scheme == "https":
        context = ssl.create_default_context()
        if not validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.sslsocket_class = type("_Deadline", (_DeadlineSSLSocket,), {"deadline": deadline})
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(connect_host, connect_port, context=context)
        if proxy is not None:
            conn.set_tunnel(host, port, headers={"Proxy-Authorization": proxy_auth} if proxy_auth else None)
    else:
        conn = http.client.HTTPConnection(connect_host, connect_port)
        if proxy is not None:
            target = urlunsplit(("http", netloc, parts.path or "/", parts.query, ""))
            if proxy_auth:
                headers["Proxy-Authorization"] = proxy_auth
    conn._create_connection = (  # pylint: disable=protected-access  # the one hook http.client offers
        lambda address, timeout=None, source_address=None: open_socket(address[0], address[1], deadline,
                                                                       connect_check))
    return conn, quote(target, safe="/?&=%:@+,;~!$'()*[]#"), headers


def get(url: str, *, timeout: float, max_bytes: int, validate_certs: bool = True,
        check_hop: t.Callable[[t.Any], t.Callable[[str], None] | None] | None = None) -> bytes:
    """The body of ``url``, at most ``max_bytes``, all within ``timeout`` seconds; FetchError otherwise.

    ``check_hop(parts)`` is called for the URL and each redirect before anything is sent: it raises
    FetchError to refuse the hop, or returns a function that checks each address the host resolves to
    (or None). Credentials in the URL go as HTTP Basic authentication to that URL's host only.
    """
    deadline = Deadline(timeout)
    first = parse_url(url)
    authorization = _basic(first.username, first.password) if first.username is not None else None
    origin = (first.scheme.lower(), first.hostname, first.port)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            parts = first if hop == 0 else parse_url(current)
            check = check_hop(parts) if check_hop else None
        except FetchError as exc:
            if hop == 0:
                raise
            raise type(exc)(f"redirected to {redact_url(current)}: {exc}") from None
        conn, target, headers = _connection(parts, deadline, validate_certs, check)
        if authorization and (parts.scheme.lower(), parts.hostname, parts.port) == origin:
            headers["Authorization"] = authorization
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                current = urljoin(current, location.strip())
                continue
            if response.status != 200:
                raise FetchError(f"HTTP {response.status} {_printable(response.reason)}")
            length = response.getheader("Content-Length")
            if length and length.strip().isdigit() and int(length) > max_bytes:
                raise FetchError(f"the answer is larger than {max_bytes} bytes")
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FetchError(f"the answer is larger than {max_bytes} bytes")
            return body
        except Refused as exc:  # an address the redirect's host resolved to
            if hop:
                raise Refused(f"redirected to {redact_url(current)}: {exc}") from None
            raise
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            deadline.remaining()  # past the deadline, say so rather than a bare "timed out"
            raise FetchError(_reason(exc)) from None
        finally:
            conn.close()
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's TLS certificate is not valid: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, http.client.HTTPException):
        return f"not a valid HTTP answer ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _printable(str(exc)) or type(exc).__name__


def _printable(text: t.Any) -> str:
    """Server-chosen text (an HTTP reason phrase) shown on one short line."""
    cleaned = "".join(c if c.isprintable() else "?" for c in str(text or ""))
    return cleaned if len(cleaned) <= 100 else cleaned[:97] + "..."
