# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle's GET: a deadline for the whole download, a size bound, redirects, credentials and proxies.

Every server here is a real one on 127.0.0.1, in a thread of the test.
"""
from __future__ import annotations

import base64
import contextlib
import http.server
import os
import socket
import ssl
import tempfile
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fetch_http import (
    FetchError,
    Refused,
    address_refusal,
    get,
    redact_url,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@contextlib.contextmanager
def serve(routes: dict, tls_for: str | None = None):
    """An HTTP(S) server; ``routes`` maps a path to (status, headers, body). Yields (base URL, requests seen)."""
    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append({"path": self.path, "headers": dict(self.headers)})
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls_for:
        leaf = pki.make_leaf(tls_for, pki.make_root("Fetch Test Root", key_type="ecdsa"), key_type="ecdsa")
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
            with open(cert, "wb") as handle:
                handle.write(leaf.cert.public_bytes(serialization.Encoding.PEM))
            with open(key, "wb") as handle:
                handle.write(leaf.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def trickle(head: bytes, body_byte: bytes = b"A", every: float = 0.5, in_head: bool = False):
    """A server that sends ``head`` then one byte every ``every`` seconds (or the head itself that way)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def one(conn):
        with conn:
            try:
                conn.recv(65536)
                if not in_head:
                    conn.sendall(head)
                for byte in (head if in_head else iter(lambda: body_byte, None)):
                    if stop.wait(every):
                        return
                    conn.sendall(bytes([byte]) if isinstance(byte, int) else byte)
            except OSError:
                return

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/root.crt"
    finally:
        stop.set()
        listener.close()


def test_a_plain_download():
    with serve({"/root.crt": (200, {}, b"certificate")}) as (base, seen):
        assert get(f"{base}/root.crt", timeout=5, max_bytes=100) == b"certificate"
    assert seen[0]["path"] == "/root.crt"
    assert "Authorization" not in seen[0]["headers"]


@pytest.mark.parametrize("in_head", [False, True], ids=["body", "status line"])
def test_a_trickling_server_does_not_beat_the_timeout(in_head):
    # One byte every 0.5 s never lets a single read time out; the timeout is a deadline for the whole GET.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    with trickle(head, in_head=in_head) as url:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"did not finish within the timeout of 2s"):
            get(url, timeout=2, max_bytes=1000000)
        assert time.monotonic() - started < 3


def test_a_silent_server_times_out_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) and never answers
    try:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timeout of 1s"):
            get(f"http://127.0.0.1:{listener.getsockname()[1]}/x", timeout=1, max_bytes=10)
        assert time.monotonic() - started < 2
    finally:
        listener.close()


def test_the_size_bound_is_kept_with_and_without_a_length():
    body = b"A" * 2000
    with serve({"/declared": (200, {}, body)}) as (base, _seen):
        with pytest.raises(FetchError, match="larger than 1000 bytes"):
            get(f"{base}/declared", timeout=5, max_bytes=1000)
    # No Content-Length: the read stops one byte past the bound.
    head = b"HTTP/1.0 200 OK\r\n\r\n"
    with trickle(head, body_byte=b"A" * 600, every=0.01) as url:
        with pytest.raises(FetchError, match="larger than 1000 bytes"):
            get(url, timeout=5, max_bytes=1000)


def test_errors_name_the_status_not_the_body():
    with serve({"/x": (500, {}, b"internal details")}) as (base, _seen):
        with pytest.raises(FetchError, match=r"^HTTP 500 Internal Server Error$"):
            get(f"{base}/x", timeout=5, max_bytes=100)


def test_connection_refused_is_named():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=rf"cannot connect to 127.0.0.1 port {port}: Connection refused"):
        get(f"http://127.0.0.1:{port}/x", timeout=5, max_bytes=100)


@pytest.mark.parametrize("url, message", [
    ("ftp://host/x", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http:///x", "names no host"),
    ("http://host:99999/x", "port must be 1-65535"),
    ("http://host:0/x", "port must be 1-65535"),
    ("http://[::1/x", "not a usable URL"),
])
def test_unusable_urls(url, message):
    with pytest.raises(FetchError, match=message):
        get(url, timeout=1, max_bytes=10)


def test_credentials_go_to_their_host_only_and_are_never_shown():
    with serve({"/moved": (200, {}, b"elsewhere")}) as (other, other_seen):
        routes = {"/root.crt": (302, {"Location": f"{other}/moved"}, b""), "/here": (200, {}, b"ok")}
        with serve(routes) as (base, seen):
            url = base.replace("http://", "http://operator:S3cret%21@")
            assert get(f"{url}/here", timeout=5, max_bytes=100) == b"ok"
            assert get(f"{url}/root.crt", timeout=5, max_bytes=100) == b"elsewhere"
    expected = "Basic " + base64.b64encode(b"operator:S3cret!").decode()
    assert seen[0]["headers"]["Authorization"] == expected
    assert seen[1]["headers"]["Authorization"] == expected
    # The redirect went to another port: the credentials stay behind.
    assert "Authorization" not in other_seen[0]["headers"]


def test_a_failed_download_never_shows_the_password():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as caught:
        get(f"http://operator:S3cret@127.0.0.1:{port}/x", timeout=2, max_bytes=10)
    assert "S3cret" not in str(caught.value)


def test_redirects_are_checked_and_bounded():
    routes = {f"/{i}": (302, {"Location": f"/{i + 1}"}, b"") for i in range(10)}
    routes["/ftp"] = (301, {"Location": "ftp://operator:pw@host/x"}, b"")
    with serve(routes) as (base, _seen):
        with pytest.raises(FetchError, match="more than 5 redirects"):
            get(f"{base}/0", timeout=5, max_bytes=100)
        with pytest.raises(FetchError, match=r"redirected to ftp://\*\*\*@host/x: only http and https") as caught:
            get(f"{base}/ftp", timeout=5, max_bytes=100)
    assert "pw" not in str(caught.value)


def test_check_hop_sees_each_hop_before_anything_is_sent():
    with serve({}) as (target, target_seen):
        with serve({"/x": (302, {"Location": f"{target}/y"}, b"")}) as (base, _seen):
            port = target.rsplit(":", 1)[1]

            def check_hop(parts):
                if str(parts.port) == port:
                    raise Refused("not that one")
                return None
            with pytest.raises(Refused, match="redirected to http://127.0.0.1:.*/y: not that one"):
                get(f"{base}/x", timeout=5, max_bytes=100, check_hop=check_hop)
    assert target_seen == []


def test_the_address_check_runs_on_the_resolved_address():
    def check_hop(_parts):
        def check(address):
            raise Refused(address_refusal(address) or "allowed")
        return check
    with serve({"/x": (200, {}, b"x")}) as (base, seen):
        with pytest.raises(Refused, match="loopback address 127.0.0.1"):
            get(base.replace("127.0.0.1", "localhost") + "/x", timeout=5, max_bytes=10, check_hop=check_hop)
    assert seen == []


@pytest.mark.parametrize("address, refused", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"),
    ("10.1.2.3", None), ("192.168.1.1", None), ("fd00::1", None), ("203.0.113.7", None),
])
def test_address_refusal(address, refused):
    reason = address_refusal(address)
    assert (reason is None) if refused is None else (refused in reason)


@pytest.mark.parametrize("url, shown", [
    ("http://user:pass@host/x", "http://***@host/x"),
    ("https://user@host:8443/a@b?c=d@e", "https://***@host:8443/a@b?c=d@e"),
    ("http://u:p@ss@host/", "http://***@host/"),
    ("http://host/x@y", "http://host/x@y"),
    ("not a url", "not a url"),
    ("HTTP://USER:PW@HOST", "HTTP://***@HOST"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_an_http_proxy_from_the_environment_is_used(monkeypatch):
    with serve({"http://pki.example.invalid/root.crt": (200, {}, b"via proxy")}) as (proxy, seen):
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.replace("http://", "http://proxyuser:proxypw@"))
        assert get("http://pki.example.invalid/root.crt", timeout=5, max_bytes=100) == b"via proxy"
    assert seen[0]["headers"]["Proxy-Authorization"] == "Basic " + base64.b64encode(b"proxyuser:proxypw").decode()


@contextlib.contextmanager
def connect_proxy(upstream_port: int):
    """A CONNECT proxy that tunnels every request to 127.0.0.1:upstream_port; yields (URL, CONNECT lines)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    asked: list[str] = []
    stop = threading.Event()

    def pipe(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def tunnel(conn):
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        asked.append(head.split(b"\r\n", 1)[0].decode())
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def accept():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except OSError:
                continue
            threading.Thread(target=tunnel, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", asked
    finally:
        stop.set()
        listener.close()


def test_https_goes_through_the_proxy_tunnel(monkeypatch):
    with serve({"/root.crt": (200, {}, b"tunnelled")}, tls_for="pki.example.invalid") as (base, seen):
        with connect_proxy(int(base.rsplit(":", 1)[1])) as (proxy, asked):
            for name in ("no_proxy", "NO_PROXY"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("https_proxy", proxy)
            body = get("https://pki.example.invalid/root.crt", timeout=5, max_bytes=100, validate_certs=False)
            with pytest.raises(FetchError, match="TLS certificate is not valid"):
                get("https://pki.example.invalid/root.crt", timeout=5, max_bytes=100)
    assert body == b"tunnelled"
    assert asked[0].startswith("CONNECT pki.example.invalid:443 HTTP/1.")
    assert seen[0]["path"] == "/root.crt"
