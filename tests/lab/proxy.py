# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's HTTP proxy: the machine WinHTTP proxy of clients whose only way out is a proxy.

Test infrastructure only; the collection never imports anything from here.

It answers ``CONNECT host:port HTTP/1.1`` only, as an HTTPS proxy does for a TLS client ([MS-IPHTTPS]
section 4: an IP-HTTPS client behind an HTTP proxy first opens a tunnel with CONNECT). The proxy
resolves the name from its own table (the lab's server names do not resolve on the host), connects,
answers ``200 Connection established`` and relays bytes both ways until either side closes. A name
it does not know gets ``502 Bad Gateway``; any other method ``405 Method Not Allowed``.

``tunnels`` counts the tunnels opened per ``host:port``, so a test can tell that a capture went
through the proxy rather than around it.
"""

from __future__ import annotations

import collections
import selectors
import socket
import socketserver
import threading
from collections.abc import Mapping

# One tunnel may not hold a handler thread past this without traffic, so stop() never waits long.
_IDLE_TIMEOUT = 5.0
_MAX_HEAD = 8192


class _Handler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client = self.request
        client.settimeout(_IDLE_TIMEOUT)
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                data = client.recv(1024)
            except OSError:
                return
            if not data or len(head) + len(data) > _MAX_HEAD:
                return
            head += data
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        target = parts[1]
        name, _sep, port_text = target.rpartition(":")
        address = self.server.names.get(name.lower())
        if address is None or not port_text.isdigit():
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        try:
            upstream = socket.create_connection((address, int(port_text)), timeout=_IDLE_TIMEOUT)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self.server.count(target.lower())
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            # Bytes that followed the request head belong to the tunnel (a client need not wait).
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            self._relay(client, upstream)

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while True:
                events = selector.select(_IDLE_TIMEOUT)
                if not events:
                    return
                for key, _mask in events:
                    try:
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
                    except OSError:
                        return


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address, names: Mapping[str, str]):
        self.names = {name.lower(): value for name, value in names.items()}
        self.tunnels: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def count(self, target: str) -> None:
        with self._lock:
            self.tunnels[target] += 1


class ConnectProxy:
    """A CONNECT proxy on ``host``, on a port the kernel picks; ``names`` maps host name -> address."""

    def __init__(self, names: Mapping[str, str], host: str = "127.0.0.1"):
        self.host = host
        self.names = dict(names)
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ConnectProxy:
        if self._server is not None:
            raise RuntimeError("the lab proxy is already running")
        self._server = _ProxyServer((self.host, 0), self.names)
        self._thread = threading.Thread(target=self._server.serve_forever, name="lab-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``address:port`` as a client's WinHTTP proxy list names it."""
        if self._server is None:
            raise RuntimeError("the lab proxy is not running")
        return f"{self.host}:{self._server.server_address[1]}"

    @property
    def tunnels(self) -> dict[str, int]:
        """Tunnels opened so far, by ``host:port`` as the client asked for it."""
        if self._server is None:
            return {}
        with self._server._lock:  # pylint: disable=protected-access
            return dict(self._server.tunnels)
