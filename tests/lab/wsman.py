# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A WS-Management endpoint that stands in for a Windows client in the test lab.

Internal test infrastructure: not part of the collection, may change at any time.

Each ``WSManEndpoint`` is a real HTTP(S) server on its own port that pywinrm and
Ansible's ``winrm`` connection plugin talk to unmodified.  It implements the
WinRS shell lifecycle (Create, Command, Send, Receive, Signal, Delete; MS-WSMV
section 3.1.4), Basic and NTLM authentication, and NTLM message encryption over
plain HTTP (MS-WSMV 2.2.9.1).  The commands themselves never run: each one is
decoded into a ``CommandRequest`` and given to the caller's ``handler``, whose
``CommandResult`` becomes the command's output.

When the handler runs: once the client closes stdin (a Send with ``End="true"``),
or at the first Receive for the command, whichever comes first.  A client with
no stdin simply starts receiving, so the handler then sees ``stdin=b""``; a client
that sends stdin without ``End="true"`` and then receives gets what it sent so
far.  Each handler call runs in its own worker thread.  A Receive waits at most
``w:OperationTimeout`` (capped by ``max_operation_timeout``) and, when the
command is still running, answers with fault 2150858793 as Windows does; the
client polls again.  A handler that raises, or returns something other than a
``CommandResult``, gives exit code 1 with the error on stderr.

Windows behaviour mirrored (MS-WSMV; pywinrm and Ansible rely on it):

* ``AllowUnencrypted=false`` by default: over HTTP, Basic and unsealed NTLM
  messages get 401; NTLM with message encryption works.
* Wrong credentials get 401 with ``WWW-Authenticate: Negotiate`` (and
  ``Basic realm="WSMAN"`` where Basic is usable).
* NTLM over HTTPS checks the client's channel bindings (RFC 5929
  tls-server-end-point) when it sends them and accepts a client that sends none,
  like Windows' default ``CbtHardeningLevel=Relaxed``.
* A sealed message that does not verify against the connection's NTLM context
  gets 400.
* Only raw NTLM is accepted inside ``Negotiate`` (what requests_ntlm sends); no
  Kerberos.

Process-wide state, on purpose:

* ``NTLM_USER_FILE``.  pyspnego's NTLM acceptor reads the accepted credentials
  from the file named in this environment variable, so it is global to the
  process.  While at least one NTLM endpoint runs, this module owns the variable:
  it points it at a private file that holds the users of every running NTLM
  endpoint.  Each endpoint still admits only its own users.  Do not set the
  variable yourself in a process that runs endpoints; ``start()`` refuses when it
  already names some other file.
* ``counts.json``.  Endpoints given the same ``state_dir`` share one counts file,
  written under a process-wide lock.  Only one process should write a state dir.
  ``latency.json`` beside it (only with a ``command_cost``) is shared the same way.

The latency model: ``command_cost`` seconds are spent in the command's worker
thread before its handler runs, so the output of every command becomes
available that much later.  It stands for what a real Windows client adds to
each command (a cold PowerShell start, the network round trips); docs/lab.md
gives the reasons for the figure the benchmarks use.  0, the default, skips it
entirely: no sleep, no counter, no file.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
import typing as t
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import spnego
import spnego.exceptions
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from spnego.channel_bindings import GssChannelBindings

__all__ = [
    "CommandRequest",
    "CommandResult",
    "WSManEndpoint",
    "decode_command_line",
    "default_handler",
    "read_counts",
    "read_latency",
    "RECEIVE_TIMEOUT_FAULT_CODE",
    "SHELL_NOT_FOUND_FAULT_CODE",
]

log = logging.getLogger(__name__)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)

SHELL_RESOURCE_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
ACTION_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
ACTION_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
ACTION_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT: a Receive that saw no output within
# w:OperationTimeout.  pywinrm turns it into WinRMOperationTimeoutError and polls again.
RECEIVE_TIMEOUT_FAULT_CODE = 2150858793
# 0x8033805B: what Windows answers when a request names a ShellId it does not know.
# lab-behaviour: shell-not-found-fault
SHELL_NOT_FOUND_FAULT_CODE = 2150858843
# 0x803381A6 ERROR_WSMAN_QUOTA_MAX_OPERATIONS: WinRS counts every command against the shell's
# operation quota; Ansible's winrm connection re-creates the shell once when a Command gets it.
WSMAN_QUOTA_MAX_OPERATIONS_CODE = 0x803381A6
_WMI_ERROR_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"
# Generic Win32 codes for faults where the lab does not mimic a specific Windows code.
_ERROR_INVALID_PARAMETER = 87
_ERROR_NOT_SUPPORTED = 50
_ERROR_BROKEN_PIPE = 109

_ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
_ENCRYPTED_BOUNDARY = b"Encrypted Boundary"
_NTLM_SIGNATURE = b"NTLMSSP\x00"

# Windows caps w:OperationTimeout at MaxTimeoutms, 60000 by default (winrm/config).
# lab-behaviour: max-operation-timeout
_DEFAULT_MAX_OPERATION_TIMEOUT = 60.0
# HTTP.sys closes idle keep-alive connections after 120 s by default.
# lab-behaviour: http-idle-timeout
_IDLE_TIMEOUT = 120.0
_HANDSHAKE_TIMEOUT = 10.0
_MAX_BODY = 16 * 1024 * 1024
_AUTH_METHODS = ("basic", "ntlm")

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


@dataclasses.dataclass(frozen=True)
class CommandRequest:
    """One command a client started, as the handler sees it.

    ``command_line`` is ``rsp:Command`` and ``rsp:Arguments`` joined by spaces.
    ``script`` is the decoded PowerShell of a ``-EncodedCommand`` command line,
    or None when the command line is not PowerShell with an encoded command.
    ``stdin`` is everything the client sent through Send before the command
    started.
    """

    host: str
    command_line: str
    script: str | None
    stdin: bytes
    fault: t.Any = None  # the faults.Fault this command meets, or None (tests/lab/faults.py)


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What a handler returns: the command's output streams and exit code."""

    stdout: bytes = b""
    stderr: bytes = b""
    rc: int = 0

    def __post_init__(self) -> None:
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(self, name), bytes):
                raise TypeError(f"CommandResult.{name} must be bytes, got {type(getattr(self, name)).__name__}")
        if not isinstance(self.rc, int) or isinstance(self.rc, bool):
            raise TypeError(f"CommandResult.rc must be int, got {type(self.rc).__name__}")


# lab-behaviour: encoded-command
def decode_command_line(command_line: str) -> str | None:
    """Return the script of a ``powershell ... -EncodedCommand <base64>`` command line.

    The base64 carries UTF-16-LE text, as PowerShell expects.  Returns None when
    the command is not PowerShell, has no encoded command, or the value does not
    decode.
    """
    tokens = command_line.split()
    if not tokens:
        return None
    exe = tokens[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    if exe not in ("powershell", "powershell.exe", "pwsh", "pwsh.exe"):
        return None
    for index, token in enumerate(tokens[1:-1], start=1):
        name = token.lower()
        if name[:1] not in ("-", "/") or len(name) < 2:
            continue
        name = name[1:]
        # PowerShell accepts -e, -ec and any prefix of -EncodedCommand.
        if name == "ec" or "encodedcommand".startswith(name):
            try:
                return base64.b64decode(tokens[index + 1], validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def default_handler(request: CommandRequest) -> CommandResult:
    """Fail every command, naming it; the lab's answer to commands nobody expects."""
    source = request.script if request.script is not None else request.command_line
    first_line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if len(first_line) > 200:
        first_line = first_line[:200] + "..."
    message = f"lab host {request.host}: no handler for command: {first_line}\n"
    return CommandResult(stdout=b"", stderr=message.encode("utf-8"), rc=1)


def read_counts(state_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Read ``counts.json`` in ``state_dir``: host name -> Command requests seen.

    Returns an empty dict when no endpoint has written the file yet.
    """
    return _read_state_file(state_dir, "counts.json")


def read_latency(state_dir: str | os.PathLike[str]) -> dict[str, dict]:
    """Read ``latency.json`` in ``state_dir``: host name -> ``{"commands": n, "seconds": s}``.

    What the latency model charged each host: how many commands were delayed and the seconds
    of delay applied in total.  Empty when no endpoint there has a ``command_cost``.
    """
    return _read_state_file(state_dir, "latency.json")


def _read_state_file(state_dir: str | os.PathLike[str], name: str) -> dict:
    """A JSON file the endpoints keep in ``state_dir``; empty when none has written it yet."""
    try:
        with open(os.path.join(os.fspath(state_dir), name), encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


# --- process-wide registries -------------------------------------------------

_COUNTS_LOCK = threading.Lock()
_COUNTS_OWNERS: dict[tuple[str, str], WSManEndpoint] = {}


def _write_count(endpoint: WSManEndpoint) -> None:
    if endpoint._counts_path is None:
        return
    with _COUNTS_LOCK:
        # Read the live count under the lock so concurrent writers never store a stale value.
        counts = read_counts(os.path.dirname(endpoint._counts_path))
        counts[endpoint.host_name] = endpoint.command_count()
        _atomic_write(endpoint._counts_path, json.dumps(counts, indent=2, sort_keys=True) + "\n")


def _write_latency(endpoint: WSManEndpoint) -> None:
    if endpoint._state_dir is None:
        return
    with _COUNTS_LOCK:
        latency = read_latency(endpoint._state_dir)
        commands, seconds = endpoint.command_cost_applied()
        latency[endpoint.host_name] = {"commands": commands, "seconds": round(seconds, 6)}
        _atomic_write(os.path.join(endpoint._state_dir, "latency.json"),
                      json.dumps(latency, indent=2, sort_keys=True) + "\n")


def _atomic_write(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _NtlmUserStore:
    """The NTLM_USER_FILE of this process: the union of the running NTLM endpoints' users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: str | None = None
        self._users: dict[int, dict[tuple[str, str], str]] = {}

    @property
    def path(self) -> str | None:
        return os.path.join(self._dir, "ntlm_users") if self._dir else None

    def register(self, owner: int, host_name: str, users: dict[tuple[str, str], str]) -> None:
        with self._lock:
            current = os.environ.get("NTLM_USER_FILE")
            if current and current != self.path:
                raise RuntimeError(
                    f"NTLM_USER_FILE is already set to {current!r}; the lab's wsman module manages this "
                    "process-wide variable itself while NTLM endpoints run, so unset it first"
                )
            for key, password in users.items():
                for other_owner, other in self._users.items():
                    if other_owner != owner and key in other and other[key] != password:
                        raise ValueError(
                            f"endpoint {host_name!r}: NTLM user {_format_user(key)!r} is already registered with "
                            "a different password by another running endpoint; NTLM_USER_FILE holds one "
                            "password per user for the whole process"
                        )
            self._users[owner] = users
            self._rewrite()

    def unregister(self, owner: int) -> None:
        with self._lock:
            if self._users.pop(owner, None) is None:
                return
            if self._users:
                self._rewrite()
                return
            if os.environ.get("NTLM_USER_FILE") == self.path:
                del os.environ["NTLM_USER_FILE"]
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def discard(self) -> None:
        with self._lock:
            self._users.clear()
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _rewrite(self) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="wsman-ntlm-")
        merged: dict[tuple[str, str], str] = {}
        for users in self._users.values():
            merged.update(users)
        # pyspnego's Heimdal-style format: DOMAIN:USER:PASSWORD, empty domain for local users.
        text = "".join(f"{domain}:{user}:{password}\n" for (domain, user), password in sorted(merged.items()))
        path = t.cast(str, self.path)
        _atomic_write(path, text)
        os.chmod(path, 0o600)
        os.environ["NTLM_USER_FILE"] = path


_NTLM_USERS = _NtlmUserStore()
# An endpoint never stopped (a crashed test) must not leave the credential file behind.
atexit.register(_NTLM_USERS.discard)


def _split_user(name: str) -> tuple[str, str]:
    """'DOMAIN\\user' -> ('DOMAIN', 'user'); 'user' -> ('', 'user'), both upper-cased for lookups."""
    domain, sep, user = name.rpartition("\\")
    return (domain.upper() if sep else "", user.upper())


def _format_user(key: tuple[str, str]) -> str:
    return f"{key[0]}\\{key[1]}" if key[0] else key[1]


def _server_end_point_bindings(certfile: str) -> GssChannelBindings:
    """Channel bindings for the server certificate: tls-server-end-point (RFC 5929 section 4.1)."""
    with open(certfile, "rb") as handle:
        cert = x509.load_pem_x509_certificates(handle.read())[0]
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    # RFC 5929 4.1: MD5 and SHA-1 signatures (and unknown ones) hash with SHA-256.
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert.public_bytes(Encoding.DER))
    return GssChannelBindings(application_data=b"tls-server-end-point:" + digest.finalize())


def _ntlm_carries_bindings(token: bytes) -> bool:
    """Whether an NTLM AUTHENTICATE message carries MsvAvChannelBindings (MS-NLMP 2.2.1.3, 2.2.2.1)."""
    try:
        length, _max_length, offset = struct.unpack("<HHI", token[20:28])
        nt_response = token[offset : offset + length]
        # NTLMv2 response: NTProofStr (16) + NTLMv2_CLIENT_CHALLENGE header (28), then AV pairs.
        position = 16 + 28
        while position + 4 <= len(nt_response):
            av_id, av_length = struct.unpack("<HH", nt_response[position : position + 4])
            if av_id == 0x0000:  # MsvAvEOL
                return False
            if av_id == 0x000A:  # MsvAvChannelBindings
                return True
            position += 4 + av_length
    except struct.error:
        pass
    return False


def _parse_duration(text: str | None) -> float | None:
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match:
        return None
    parts = match.groupdict()
    return (
        int(parts["d"] or 0) * 86400
        + int(parts["h"] or 0) * 3600
        + int(parts["m"] or 0) * 60
        + float(parts["s"] or 0)
    )


def _reset_connection(connection: t.Any) -> None:
    """Reset a request's connection (RST), TLS or not, from the thread that serves it."""
    if connection is None:
        return
    sock = connection.request
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _abort_socket(sock: socket.socket) -> None:
    """Reset a connection: SO_LINGER 0 makes the close send RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# --- shell state -------------------------------------------------------------


class _Command:
    def __init__(self, command_id: str, command_line: str) -> None:
        self.command_id = command_id
        self.command_line = command_line
        self.stdin: list[bytes] = []
        self.stdin_closed = False
        self.started = False
        self.result: CommandResult | None = None
        self.delivered = False
        self.fault: t.Any = None  # faults.Fault or None


class _Shell:
    def __init__(self, shell_id: str) -> None:
        self.shell_id = shell_id
        self.commands: dict[str, _Command] = {}


class _Fault(Exception):
    """A WS-Management fault to send back instead of a reply."""

    def __init__(self, status: int, code: str, subcode: str, reason: str, wsman_code: int,
                 wmi_code: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.wsman_code = wsman_code
        self.wmi_code = wmi_code  # an MSFT_WmiError error_Code in the detail, where Windows adds one


class _Reply:
    def __init__(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


# --- HTTP plumbing -----------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(self, endpoint: WSManEndpoint, address: tuple[str, int]) -> None:
        self.endpoint = endpoint
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup we neither need nor want per endpoint.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def verify_request(self, request: t.Any, client_address: t.Any) -> bool:
        if self.endpoint._refusing():
            _abort_socket(request)
            return False
        return True

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        log.debug("wsman %s: connection from %s ended with an error", self.endpoint.host_name, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # lab-behaviour: server-header
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    server: _Server

    def setup(self) -> None:
        self.endpoint = self.server.endpoint
        self._wrapped = False
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the client's
        # delayed ACK stalls every reply by about 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Track before the TLS handshake so a drop during the handshake cuts this connection too.
        self.endpoint._track(self.request)
        if self.endpoint._refusing():  # accepted just before a drop began
            self.endpoint._untrack(self.request)
            _abort_socket(self.request)
            raise ConnectionAbortedError("endpoint is dropping connections")
        if self.endpoint._ssl_context is not None:
            raw = self.request
            raw.settimeout(_HANDSHAKE_TIMEOUT)
            try:
                self.request = self.endpoint._ssl_context.wrap_socket(raw, server_side=True)
            finally:
                self.endpoint._untrack(raw)
            self._wrapped = True
            self.endpoint._track(self.request)
        # Per-connection NTLM state: NTLM authenticates the TCP connection, not single requests.
        self._ntlm_pending: t.Any = None
        self._ntlm: t.Any = None
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.endpoint._untrack(self.request)
            if self._wrapped:
                self.request.close()

    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("wsman %s: " + format, self.endpoint.host_name, *args)

    # -- methods --

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.path.split("?", 1)[0].lower() != "/wsman":
            self._send(_Reply(404))
            return
        try:
            reply = self._process(body)
        except Exception:
            log.exception("wsman %s: unexpected error handling a request", self.endpoint.host_name)
            reply = _Reply(500)
        if reply is not None:
            self._send(reply)

    def _method_not_allowed(self) -> None:
        if self._read_body() is None:
            return
        self._send(_Reply(405, headers=[("Allow", "POST")]))

    do_GET = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _method_not_allowed

    # -- request reading --

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError(raw_length)
        except ValueError:
            self.close_connection = True
            self._send(_Reply(400))
            return None
        if length > _MAX_BODY:
            self.close_connection = True
            self._send(_Reply(413))
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        chunks = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self._send(_Reply(400))
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                self.close_connection = True
                self._send(_Reply(413))
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- authentication --

    # lab-behaviour: auth-challenges
    def _challenges(self) -> list[tuple[str, str]]:
        endpoint = self.endpoint
        challenges = []
        if "ntlm" in endpoint.auth:
            challenges.append(("WWW-Authenticate", "Negotiate"))
        if "basic" in endpoint.auth and endpoint._basic_allowed():
            challenges.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return challenges

    def _unauthorized(self, why: str, token_header: str | None = None) -> _Reply:
        log.debug("wsman %s: 401 (%s)", self.endpoint.host_name, why)
        headers = [("WWW-Authenticate", token_header)] if token_header else self._challenges()
        return _Reply(401, headers=headers)

    def _authenticate(self) -> tuple[str | None, _Reply | None]:
        """Return ('basic'|'ntlm', None) when the request may proceed, else (None, reply to send)."""
        endpoint = self.endpoint
        header = self.headers.get("Authorization")
        if not header:
            if self._ntlm is not None:
                return "ntlm", None
            return None, self._unauthorized("no Authorization header")

        scheme, _sep, token = header.strip().partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic" and "basic" in endpoint.auth:
            if not endpoint._basic_allowed():
                # AllowUnencrypted=false: Windows refuses Basic over HTTP with a 401.
                return None, self._unauthorized("Basic over HTTP while unencrypted traffic is not allowed")
            try:
                user, _sep, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, self._unauthorized("malformed Basic credentials")
            if endpoint._users.get(_split_user(user)) != password:
                return None, self._unauthorized(f"wrong Basic credentials for user {user!r}")
            return "basic", None

        if scheme_l in ("negotiate", "ntlm") and "ntlm" in endpoint.auth:
            # Echo the client's scheme name: requests_ntlm looks for it in our challenge.
            scheme_name = "NTLM" if scheme_l == "ntlm" else "Negotiate"
            try:
                in_token = base64.b64decode(token.strip(), validate=True)
            except binascii.Error:
                return None, self._unauthorized("malformed NTLM token")
            if not in_token.startswith(_NTLM_SIGNATURE) or len(in_token) < 12:
                # Only raw NTLM inside Negotiate is supported (what requests_ntlm sends); no Kerberos.
                return None, self._unauthorized("Negotiate token is not NTLM")
            message_type = struct.unpack("<I", in_token[8:12])[0]
            if message_type == 1:
                self._ntlm = None
                # Bindings are given per step (below) so a client that sends none can be let through.
                acceptor = spnego.server(hostname=endpoint.host_name, service="http", protocol="ntlm")
                try:
                    challenge = acceptor.step(in_token)
                except spnego.exceptions.SpnegoError as exc:
                    return None, self._unauthorized(f"NTLM negotiate rejected: {exc}")
                self._ntlm_pending = acceptor
                return None, self._unauthorized(
                    "NTLM challenge sent", f"{scheme_name} {base64.b64encode(challenge or b'').decode()}"
                )
            if message_type == 3 and self._ntlm_pending is not None:
                acceptor, self._ntlm_pending = self._ntlm_pending, None
                # lab-behaviour: cbt-relaxed
                # CbtHardeningLevel=Relaxed, the Windows default: bindings are checked when the
                # client sends them and not required when it does not (ansible_winrm_send_cbt=false).
                bindings = endpoint._channel_bindings if _ntlm_carries_bindings(in_token) else None
                try:
                    acceptor.step(in_token, channel_bindings=bindings)
                except spnego.exceptions.SpnegoError as exc:
                    return None, self._unauthorized(f"NTLM authentication failed: {exc}")
                principal = acceptor.client_principal or ""
                if _split_user(principal) not in endpoint._users:
                    return None, self._unauthorized(f"NTLM user {principal!r} is not a user of this endpoint")
                self._ntlm = acceptor
                return "ntlm", None
            return None, self._unauthorized(f"unexpected NTLM message type {message_type}")

        return None, self._unauthorized(f"authentication scheme {scheme!r} not enabled")

    # -- encryption (MS-WSMV 2.2.9.1.1) --

    def _is_encrypted(self) -> bool:
        content_type = self.headers.get("Content-Type", "")
        return content_type.lower().startswith("multipart/encrypted") and _ENCRYPTED_PROTOCOL.lower() in content_type.lower()

    def _decrypt(self, body: bytes) -> bytes | None:
        """Unseal an encrypted request; None when it is malformed or does not verify."""
        marker = b"--" + _ENCRYPTED_BOUNDARY
        try:
            first = body.index(marker + b"\r\n")
            second = body.index(marker + b"\r\n", first + len(marker))
            headers = body[first:second]
            length = int(re.search(rb"Length=(\d+)", headers).group(1))  # type: ignore[union-attr]
            payload_start = body.index(b"application/octet-stream\r\n", second) + len(b"application/octet-stream\r\n")
            payload_end = body.rindex(marker + b"--")
            payload = body[payload_start:payload_end]
            signature_length = struct.unpack("<I", payload[:4])[0]
            signature = payload[4 : 4 + signature_length]
            sealed = payload[4 + signature_length :]
            plain = self._ntlm.unwrap_winrm(signature, sealed)
        except (ValueError, AttributeError, struct.error, spnego.exceptions.SpnegoError) as exc:
            log.debug("wsman %s: cannot decrypt request: %s", self.endpoint.host_name, exc)
            return None
        if len(plain) != length:
            log.debug("wsman %s: decrypted length %d != declared %d", self.endpoint.host_name, len(plain), length)
            return None
        return plain

    def _encrypt(self, plain: bytes) -> tuple[bytes, str]:
        wrapped = self._ntlm.wrap_winrm(plain)
        marker = b"--" + _ENCRYPTED_BOUNDARY
        body = (
            marker + b"\r\n"
            b"\tContent-Type: " + _ENCRYPTED_PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(plain)).encode() + b"\r\n"
            + marker + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<I", len(wrapped.header)) + wrapped.header + wrapped.data
            + marker + b"--\r\n"
        )
        content_type = f'multipart/encrypted;protocol="{_ENCRYPTED_PROTOCOL}";boundary="{_ENCRYPTED_BOUNDARY.decode()}"'
        return body, content_type

    # -- request processing --

    def _process(self, body: bytes) -> _Reply | None:
        endpoint = self.endpoint
        method, reply = self._authenticate()
        if reply is not None:
            return reply

        encrypted = self._is_encrypted()
        if encrypted:
            if method != "ntlm":
                return _Reply(400)
            plain = self._decrypt(body)
            if plain is None:
                # lab-behaviour: sealed-mismatch-400
                # What Windows answers to a payload sealed for another NTLM context (see
                # ansible.builtin.winrm's cleanup_command comment).
                return _Reply(400)
        else:
            plain = body
            if plain and method == "ntlm" and not endpoint._unencrypted_allowed():
                # AllowUnencrypted=false: an unsealed body over HTTP is refused with 401.
                return self._unauthorized("unencrypted NTLM message over HTTP")

        if not plain:
            # pywinrm's empty POST that sets up the NTLM context for message encryption.
            return _Reply(200)

        status, soap = endpoint._dispatch(plain, self)
        if soap is None:
            self.close_connection = True
            return None
        if status == 500 and not soap:
            # An injected HTTP 500: HTTP.sys' own error page carries no SOAP and is never sealed.
            return _Reply(500, headers=[("Content-Type", "text/html")])
        if encrypted:
            sealed, content_type = self._encrypt(soap)
            return _Reply(status, sealed, [("Content-Type", content_type)])
        return _Reply(status, soap, [("Content-Type", "application/soap+xml;charset=UTF-8")])

    def _send(self, reply: _Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.body:
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


# --- the endpoint ------------------------------------------------------------


class WSManEndpoint:
    """One simulated Windows host: a WS-Management listener on its own port.

    :param host_name: the host's name; the key of its counts and ``CommandRequest.host``.
    :param bind: ``(address, port)`` to listen on; port 0 picks a free port (see ``port``).
    :param scheme: ``'https'`` or ``'http'``.
    :param certfile: PEM server certificate (chain) file, required for https.
    :param keyfile: PEM private key file of ``certfile``, required for https.
    :param users: ``{'user': 'password'}``; a name may carry a domain as ``'DOMAIN\\\\user'``.
        Names are case-insensitive, passwords are not.
    :param auth: enabled methods, any of ``'basic'`` and ``'ntlm'``.
    :param handler: ``callable(CommandRequest) -> CommandResult`` run in a worker thread for
        every command; defaults to ``default_handler`` (rc 1, names the command).
    :param state_dir: when set, ``counts.json`` there is rewritten after every Command.
    :param allow_unencrypted: mirror of WinRM's ``AllowUnencrypted``; False (the Windows
        default) refuses Basic and unsealed NTLM messages over HTTP with 401.
    :param max_operation_timeout: cap on ``w:OperationTimeout`` in seconds (MaxTimeoutms).
    :param command_cost: the latency model: seconds every command spends before its handler
        runs (a cold PowerShell start plus network round trips); 0, the default, adds nothing.
        Counted per endpoint (``command_cost_applied()``) and, with a state_dir, in latency.json.
    """

    def __init__(
        self,
        host_name: str,
        bind: tuple[str, int] = ("127.0.0.1", 0),
        scheme: str = "https",
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        users: dict[str, str] | None = None,
        auth: t.Iterable[str] = _AUTH_METHODS,
        handler: t.Callable[[CommandRequest], CommandResult] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        allow_unencrypted: bool = False,
        max_operation_timeout: float = _DEFAULT_MAX_OPERATION_TIMEOUT,
        command_cost: float = 0.0,
        faults: t.Any = None,
    ) -> None:
        if not isinstance(host_name, str) or not host_name.strip():
            raise ValueError(f"host_name must be a non-empty string, got {host_name!r}")
        if scheme not in ("http", "https"):
            raise ValueError(f"endpoint {host_name!r}: scheme must be 'http' or 'https', got {scheme!r}")
        if (
            not isinstance(bind, tuple)
            or len(bind) != 2
            or not isinstance(bind[0], str)
            or not isinstance(bind[1], int)
            or not 0 <= bind[1] <= 65535
        ):
            raise ValueError(f"endpoint {host_name!r}: bind must be (address, port 0-65535), got {bind!r}")
        auth = tuple(auth)
        unknown = [method for method in auth if method not in _AUTH_METHODS]
        if not auth or unknown:
            raise ValueError(
                f"endpoint {host_name!r}: auth must name one or more of {', '.join(_AUTH_METHODS)}; got {auth!r}"
            )
        if not users:
            raise ValueError(f"endpoint {host_name!r}: users must map at least one user name to a password")
        self._users: dict[tuple[str, str], str] = {}
        for name, password in users.items():
            if not isinstance(name, str) or not isinstance(password, str) or not _split_user(name)[1]:
                raise ValueError(f"endpoint {host_name!r}: user names and passwords must be strings, got user {name!r}")
            if ":" in name or any(c in name + password for c in "\r\n"):
                raise ValueError(
                    f"endpoint {host_name!r}: user {name!r}: names may not contain ':' and neither may contain line breaks"
                )
            if "ntlm" in auth and ":" in password:
                raise ValueError(
                    f"endpoint {host_name!r}: user {name!r}: an NTLM password may not contain ':' "
                    "(NTLM_USER_FILE lines are DOMAIN:USER:PASSWORD)"
                )
            # pyspnego looks users up case-insensitively too, so one normalised key serves both methods.
            self._users[_split_user(name)] = password
        if handler is not None and not callable(handler):
            raise ValueError(f"endpoint {host_name!r}: handler must be callable, got {handler!r}")
        if not max_operation_timeout or max_operation_timeout <= 0:
            raise ValueError(f"endpoint {host_name!r}: max_operation_timeout must be positive")
        if (isinstance(command_cost, bool) or not isinstance(command_cost, (int, float))
                or not 0 <= command_cost <= 600):
            raise ValueError(f"endpoint {host_name!r}: command_cost must be a number of seconds from 0 to 600, "
                             f"got {command_cost!r}")

        self._ssl_context: ssl.SSLContext | None = None
        self._channel_bindings: GssChannelBindings | None = None
        if scheme == "https":
            if not certfile or not keyfile:
                raise ValueError(f"endpoint {host_name!r}: scheme 'https' needs both certfile and keyfile")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(os.fspath(certfile), os.fspath(keyfile))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"endpoint {host_name!r}: cannot load certfile {os.fspath(certfile)!r} with its keyfile: {exc}"
                ) from None
            self._ssl_context = context
            if "ntlm" in auth:
                self._channel_bindings = _server_end_point_bindings(os.fspath(certfile))
        elif "basic" in auth and "ntlm" not in auth and not allow_unencrypted:
            raise ValueError(
                f"endpoint {host_name!r}: Basic over http is refused unless allow_unencrypted=True, "
                "so this endpoint would accept nobody"
            )

        self.host_name = host_name
        self.scheme = scheme
        self.auth = auth
        self.allow_unencrypted = bool(allow_unencrypted)
        self.handler = handler or default_handler
        self.max_operation_timeout = float(max_operation_timeout)
        self.command_cost = float(command_cost)
        self._sleep = time.sleep  # the latency model's clock; tests replace it to observe the delay
        # Fault injection (tests/lab/faults.py): an object whose decide(script) gives the fault a command
        # meets, and what a reboot does on the host besides WinRM going away (set by the runner).
        self.faults = faults
        self.on_reboot: t.Callable[[], None] | None = None
        self._stopped_event = threading.Event()
        self._delayed_commands = 0
        self._delay_seconds = 0.0
        self._bind = bind
        self._state_dir = os.fspath(state_dir) if state_dir is not None else None
        self._counts_path: str | None = None

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._shells: dict[str, _Shell] = {}
        self._command_count = 0
        self._connections: set[socket.socket] = set()
        self._generation = 0  # bumped by drop/stop so waiting Receives abandon their connection
        self._refuse_until = 0.0
        self._stopping = False
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> WSManEndpoint:
        """Bind and serve in a background thread; returns self (``port`` is then the real port)."""
        if self._httpd is not None:
            raise RuntimeError(f"endpoint {self.host_name!r} is already running")
        if self._state_dir is not None:
            os.makedirs(self._state_dir, exist_ok=True)
            key = (os.path.realpath(self._state_dir), self.host_name)
            with _COUNTS_LOCK:
                if key in _COUNTS_OWNERS:
                    raise ValueError(
                        f"endpoint {self.host_name!r}: another running endpoint already writes counts for "
                        f"this host name in {self._state_dir!r}"
                    )
                _COUNTS_OWNERS[key] = self
            self._counts_path = os.path.join(self._state_dir, "counts.json")
        try:
            if "ntlm" in self.auth:
                _NTLM_USERS.register(id(self), self.host_name, self._users)
            try:
                self._httpd = _Server(self, self._bind)
            except OSError as exc:
                raise OSError(exc.errno, f"endpoint {self.host_name!r}: cannot listen on {self._bind!r}: {exc.strerror}") from None
        except BaseException:
            self._release_registrations()
            raise
        self._stopping = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.5}, name=f"wsman-{self.host_name}", daemon=True
        )
        self._thread.start()
        _write_count(self)
        if self.command_cost > 0:
            _write_latency(self)
        log.debug("wsman %s: listening on %s", self.host_name, self.url)
        return self

    def stop(self) -> None:
        """Stop listening, close every connection and forget all shells.  Safe to call twice.

        A handler still running keeps its worker thread until it returns; its result is dropped.
        """
        httpd = self._httpd
        if httpd is None:
            return
        with self._cond:
            self._stopping = True
            self._generation += 1
            self._cond.notify_all()
        self._stopped_event.set()
        closer = threading.Thread(target=httpd.shutdown, name=f"wsman-{self.host_name}-stop", daemon=True)
        closer.start()
        while closer.is_alive():
            # Wake serve_forever's select() so it sees the shutdown now rather than after poll_interval.
            try:
                socket.create_connection(self._loopback_address(), timeout=0.2).close()
            except OSError:
                pass
            closer.join(0.05)
        httpd.server_close()
        self._close_connections()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            self._shells.clear()
        self._httpd = None
        self._thread = None
        self._release_registrations()

    def _release_registrations(self) -> None:
        _NTLM_USERS.unregister(id(self))
        if self._state_dir is not None:
            with _COUNTS_LOCK:
                key = (os.path.realpath(self._state_dir), self.host_name)
                if _COUNTS_OWNERS.get(key) is self:
                    del _COUNTS_OWNERS[key]

    def __enter__(self) -> WSManEndpoint:
        return self.start()

    def __exit__(self, *exc_info: t.Any) -> None:
        self.stop()

    # -- addresses --

    @property
    def port(self) -> int:
        """The listening port: the real one once started (also when bound with port 0)."""
        if self._httpd is not None:
            return self._httpd.server_address[1]
        return self._bind[1]

    @property
    def address(self) -> str:
        return self._bind[0]

    @property
    def url(self) -> str:
        """``scheme://address:port/wsman``, the endpoint URL pywinrm takes."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}/wsman"

    def _loopback_address(self) -> tuple[str, int]:
        host = self.address
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return host, self.port

    # -- counters --

    def command_count(self) -> int:
        """How many Command requests this endpoint has accepted since start or the last reset."""
        with self._lock:
            return self._command_count

    def reset_command_count(self) -> None:
        """Set the Command counter to 0 (and rewrite counts.json when a state_dir is set)."""
        with self._lock:
            self._command_count = 0
        _write_count(self)

    def command_cost_applied(self) -> tuple[int, float]:
        """The latency model's charge so far: (commands delayed, seconds of delay applied)."""
        with self._lock:
            return self._delayed_commands, self._delay_seconds

    @property
    def counts_file(self) -> str | None:
        """Path of counts.json, or None without a state_dir."""
        return os.path.join(self._state_dir, "counts.json") if self._state_dir is not None else None

    # -- outage simulation --

    # lab-behaviour: tunnel-drop-connections
    def drop_connections(self, seconds: float) -> None:
        """Cut every open connection now and reset new ones for ``seconds``.

        Mimics a DirectAccess tunnel going down while iphlpsvc restarts: clients see a
        connection error (reset or closed) until the window ends.  Shells and commands
        survive, as they would on the Windows side.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"drop_connections: seconds must be a number >= 0, got {seconds!r}")
        with self._cond:
            self._refuse_until = time.monotonic() + seconds
            self._generation += 1
            self._cond.notify_all()
        self._close_connections()

    # lab-behaviour: fault-reboot
    def reboot(self, seconds: float) -> None:
        """The host restarts: every connection is cut, new ones are reset for ``seconds``, and the
        WinRM service comes back without the shells it had."""
        with self._lock:
            self._shells.clear()
        self.drop_connections(seconds)

    def _refusing(self) -> bool:
        return self._stopping or time.monotonic() < self._refuse_until

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def _close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # The plain socket's shutdown: safe across threads (unlike close) and, for TLS,
                # skips the close_notify exchange a dead tunnel would not deliver either.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    # -- policy --

    # lab-behaviour: allow-unencrypted-false
    def _basic_allowed(self) -> bool:
        return self.scheme == "https" or self.allow_unencrypted

    def _unencrypted_allowed(self) -> bool:
        return self.scheme == "https" or self.allow_unencrypted

    # -- SOAP dispatch --

    # lab-behaviour: shell-lifecycle
    def _dispatch(self, plain: bytes, connection: _Handler) -> tuple[int, bytes | None]:
        """Handle one SOAP request; returns (HTTP status, reply XML) or (0, None) to drop the connection."""
        relates_to = None
        try:
            try:
                envelope = ET.fromstring(plain)
            except ET.ParseError as exc:
                raise _Fault(400, "s:Sender", "w:SchemaValidationError", f"The request is not well-formed XML: {exc}", _ERROR_INVALID_PARAMETER) from None
            header = envelope.find("s:Header", NS)
            body = envelope.find("s:Body", NS)
            if envelope.tag != _q("s", "Envelope") or header is None:
                raise _Fault(400, "s:Sender", "w:SchemaValidationError", "The request is not a SOAP 1.2 envelope with a header.", _ERROR_INVALID_PARAMETER)
            relates_to = header.findtext("a:MessageID", None, NS)
            action = (header.findtext("a:Action", "", NS) or "").strip()
            resource_uri = (header.findtext("w:ResourceURI", "", NS) or "").strip()
            if action not in (ACTION_CREATE, ACTION_DELETE, ACTION_COMMAND, ACTION_SEND, ACTION_RECEIVE, ACTION_SIGNAL):
                raise _Fault(500, "s:Sender", "a:ActionNotSupported", f"The action {action!r} is not supported by this lab endpoint.", _ERROR_NOT_SUPPORTED)
            if resource_uri.lower() != SHELL_RESOURCE_URI:
                raise _Fault(
                    500, "s:Sender", "w:DestinationUnreachable",
                    f"This lab endpoint serves only the resource {SHELL_RESOURCE_URI}; the request named {resource_uri!r}.",
                    _ERROR_NOT_SUPPORTED,
                )
            if body is None:
                body = ET.Element(_q("s", "Body"))
            if action == ACTION_CREATE:
                return 200, self._create(relates_to)
            shell = self._shell(header)
            if action == ACTION_DELETE:
                return 200, self._delete(shell, relates_to)
            if action == ACTION_COMMAND:
                return 200, self._command(shell, body, relates_to)
            if action == ACTION_SEND:
                return 200, self._send_input(shell, body, relates_to)
            if action == ACTION_SIGNAL:
                return 200, self._signal(shell, body, relates_to)
            return self._receive(shell, header, body, relates_to, connection)
        except _Fault as fault:
            return fault.status, self._fault_xml(fault, relates_to)

    # lab-behaviour: reply-addressing
    def _reply(self, action: str, relates_to: str | None) -> tuple[ET.Element, ET.Element]:
        envelope = ET.Element(_q("s", "Envelope"))
        header = ET.SubElement(envelope, _q("s", "Header"))
        ET.SubElement(header, _q("a", "Action")).text = action
        ET.SubElement(header, _q("a", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
        ET.SubElement(header, _q("a", "To")).text = ANONYMOUS
        if relates_to:
            ET.SubElement(header, _q("a", "RelatesTo")).text = relates_to
        body = ET.SubElement(envelope, _q("s", "Body"))
        return envelope, body

    @staticmethod
    def _xml(envelope: ET.Element) -> bytes:
        return ET.tostring(envelope, encoding="utf-8", xml_declaration=True)

    def _fault_xml(self, fault: _Fault, relates_to: str | None) -> bytes:
        envelope, body = self._reply(ACTION_FAULT, relates_to)
        fault_el = ET.SubElement(body, _q("s", "Fault"))
        code = ET.SubElement(fault_el, _q("s", "Code"))
        ET.SubElement(code, _q("s", "Value")).text = fault.code
        subcode = ET.SubElement(code, _q("s", "Subcode"))
        ET.SubElement(subcode, _q("s", "Value")).text = fault.subcode
        reason = ET.SubElement(fault_el, _q("s", "Reason"))
        text = ET.SubElement(reason, _q("s", "Text"))
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
        text.text = fault.reason
        detail = ET.SubElement(fault_el, _q("s", "Detail"))
        wsman_fault = ET.SubElement(detail, _q("f", "WSManFault"))
        wsman_fault.set("Code", str(fault.wsman_code))
        wsman_fault.set("Machine", self.host_name)
        ET.SubElement(wsman_fault, _q("f", "Message")).text = fault.reason
        if fault.wmi_code is not None:
            wmi = ET.SubElement(detail, f"{{{_WMI_ERROR_NS}}}MSFT_WmiError")
            ET.SubElement(wmi, f"{{{_WMI_ERROR_NS}}}error_Code").text = str(fault.wmi_code)
        return self._xml(envelope)

    def _shell(self, header: ET.Element) -> _Shell:
        shell_id = None
        for selector in header.findall("w:SelectorSet/w:Selector", NS):
            if selector.get("Name") == "ShellId":
                shell_id = (selector.text or "").strip()
        with self._lock:
            shell = self._shells.get((shell_id or "").upper())
        if shell is None:
            raise _Fault(
                500, "s:Sender", "w:InvalidSelectors",
                f"The shell {shell_id!r} was not found on {self.host_name}; it may have been deleted or never existed.",
                SHELL_NOT_FOUND_FAULT_CODE,
            )
        return shell

    def _command_of(self, shell: _Shell, command_id: str | None) -> _Command:
        with self._lock:
            command = shell.commands.get((command_id or "").upper())
        if command is None:
            raise _Fault(
                500, "s:Sender", "w:InvalidParameter",
                f"The command {command_id!r} was not found in shell {shell.shell_id}.",
                _ERROR_INVALID_PARAMETER,
            )
        return command

    def _create(self, relates_to: str | None) -> bytes:
        shell = _Shell(str(uuid.uuid4()).upper())
        with self._lock:
            self._shells[shell.shell_id] = shell
        envelope, body = self._reply(ACTION_CREATE + "Response", relates_to)
        created = ET.SubElement(body, _q("x", "ResourceCreated"))
        ET.SubElement(created, _q("a", "Address")).text = self.url
        params = ET.SubElement(created, _q("a", "ReferenceParameters"))
        ET.SubElement(params, _q("w", "ResourceURI")).text = SHELL_RESOURCE_URI
        selectors = ET.SubElement(params, _q("w", "SelectorSet"))
        selector = ET.SubElement(selectors, _q("w", "Selector"), {"Name": "ShellId"})
        selector.text = shell.shell_id
        return self._xml(envelope)

    def _delete(self, shell: _Shell, relates_to: str | None) -> bytes:
        with self._lock:
            self._shells.pop(shell.shell_id, None)
        envelope, _shell = self._reply(ACTION_DELETE + "Response", relates_to)
        return self._xml(envelope)

    def _command(self, shell: _Shell, body: ET.Element, relates_to: str | None) -> bytes:
        command_line_el = body.find("rsp:CommandLine", NS)
        command = (command_line_el.findtext("rsp:Command", "", NS) if command_line_el is not None else "") or ""
        if not command.strip():
            raise _Fault(500, "s:Sender", "w:InvalidParameter", "The Command request has no rsp:CommandLine/rsp:Command.", _ERROR_INVALID_PARAMETER)
        arguments = [arg.text or "" for arg in command_line_el.findall("rsp:Arguments", NS)]  # type: ignore[union-attr]
        command_line = " ".join(part for part in [command.strip(), *arguments] if part)
        fault = self.faults.decide(decode_command_line(command_line)) if self.faults else None
        # lab-behaviour: fault-wsman-quota
        if fault is not None and fault.kind == "wsman_fault":
            raise _Fault(
                500, "s:Receiver", "w:QuotaLimit",
                "The WS-Management service cannot process the request. This user has exceeded the maximum number "
                "of concurrent operations for this shell. Close existing operations or raise the quota.",
                WSMAN_QUOTA_MAX_OPERATIONS_CODE, wmi_code=WSMAN_QUOTA_MAX_OPERATIONS_CODE,
            )
        record = _Command(str(uuid.uuid4()).upper(), command_line)
        record.fault = fault
        with self._lock:
            shell.commands[record.command_id] = record
            self._command_count += 1
        _write_count(self)
        envelope, reply_body = self._reply(ACTION_COMMAND + "Response", relates_to)
        response = ET.SubElement(reply_body, _q("rsp", "CommandResponse"))
        ET.SubElement(response, _q("rsp", "CommandId")).text = record.command_id
        return self._xml(envelope)

    def _send_input(self, shell: _Shell, body: ET.Element, relates_to: str | None) -> bytes:
        streams = body.findall("rsp:Send/rsp:Stream", NS)
        if not streams:
            raise _Fault(500, "s:Sender", "w:InvalidParameter", "The Send request has no rsp:Send/rsp:Stream.", _ERROR_INVALID_PARAMETER)
        for stream in streams:
            command = self._command_of(shell, stream.get("CommandId"))
            try:
                chunk = base64.b64decode((stream.text or "").strip(), validate=True)
            except binascii.Error:
                raise _Fault(500, "s:Sender", "w:InvalidParameter", "A stdin stream is not valid base64.", _ERROR_INVALID_PARAMETER) from None
            with self._lock:
                if command.stdin_closed or command.started:
                    raise _Fault(
                        500, "s:Receiver", "w:InternalError",
                        f"The stdin of command {command.command_id} is already closed.",
                        _ERROR_BROKEN_PIPE,
                    )
                command.stdin.append(chunk)
                if (stream.get("End") or "").lower() == "true":
                    command.stdin_closed = True
                    self._start(shell, command)
        envelope, reply_body = self._reply(ACTION_SEND + "Response", relates_to)
        ET.SubElement(reply_body, _q("rsp", "SendResponse"))
        return self._xml(envelope)

    def _signal(self, shell: _Shell, body: ET.Element, relates_to: str | None) -> bytes:
        signal = body.find("rsp:Signal", NS)
        command_id = signal.get("CommandId") if signal is not None else None
        if command_id:
            command = self._command_of(shell, command_id)
            # Terminate: forget the command; a handler still running finishes unobserved.
            with self._lock:
                shell.commands.pop(command.command_id, None)
        envelope, reply_body = self._reply(ACTION_SIGNAL + "Response", relates_to)
        ET.SubElement(reply_body, _q("rsp", "SignalResponse"))
        return self._xml(envelope)

    def _start(self, shell: _Shell, command: _Command) -> None:
        """Run the handler once stdin is complete (caller holds the lock)."""
        if command.started:
            return
        command.started = True
        request = CommandRequest(
            host=self.host_name,
            command_line=command.command_line,
            script=decode_command_line(command.command_line),
            stdin=b"".join(command.stdin),
            fault=command.fault,
        )
        worker = threading.Thread(
            target=self._run_handler, args=(command, request), name=f"wsman-{self.host_name}-cmd", daemon=True
        )
        worker.start()

    # lab-behaviour: command-cost
    def _apply_command_cost(self) -> None:
        """The latency model: spend ``command_cost`` before the command runs, and count it."""
        cost = self.command_cost
        if cost <= 0:
            return
        self._sleep(cost)
        with self._lock:
            self._delayed_commands += 1
            self._delay_seconds += cost
        _write_latency(self)

    def _run_handler(self, command: _Command, request: CommandRequest) -> None:
        kind = command.fault.kind if command.fault is not None else None
        if kind in ("drop", "http_500"):
            return  # the command never runs; _receive answers for it
        if kind == "reboot":
            # The host goes down while the command starts: it never runs, and what was pending on the host is lost.
            if self.on_reboot is not None:
                try:
                    self.on_reboot()
                except Exception:  # pylint: disable=broad-exception-caught
                    log.exception("wsman %s: the reboot's host side failed", self.host_name)
            self.reboot(command.fault.seconds or 0.0)
            return
        # lab-behaviour: fault-hang
        if kind == "hang":
            # The command holds past the client's OperationTimeout; None: it never finishes.
            if command.fault.seconds is None:
                self._stopped_event.wait()
                return
            if self._stopped_event.wait(command.fault.seconds):
                return
        try:
            self._apply_command_cost()
            result = self.handler(request)
            if not isinstance(result, CommandResult):
                raise TypeError(f"handler returned {type(result).__name__}, not CommandResult")
        except Exception as exc:
            log.debug("wsman %s: handler raised", self.host_name, exc_info=True)
            message = f"lab host {self.host_name}: handler raised {type(exc).__name__}: {exc}\n"
            result = CommandResult(stdout=b"", stderr=message.encode("utf-8", "replace"), rc=1)
        with self._cond:
            command.result = result
            self._cond.notify_all()

    # lab-behaviour: receive-operation-timeout
    def _receive(self, shell: _Shell, header: ET.Element, body: ET.Element, relates_to: str | None,
                 connection: t.Any = None) -> tuple[int, bytes | None]:
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS)
        command = self._command_of(shell, desired.get("CommandId") if desired is not None else None)
        kind = command.fault.kind if command.fault is not None else None
        # lab-behaviour: fault-connection-drop
        if kind == "drop":
            _reset_connection(connection)
            return 0, None
        # lab-behaviour: fault-http-500
        if kind == "http_500":
            return 500, b""
        timeout = _parse_duration(header.findtext("w:OperationTimeout", None, NS))
        if timeout is None or timeout <= 0:
            timeout = self.max_operation_timeout
        timeout = min(timeout, self.max_operation_timeout)
        with self._cond:
            # A Receive before End="true" means the client sends no (more) stdin: start now.
            self._start(shell, command)
            generation = self._generation
            self._cond.wait_for(lambda: command.result is not None or self._generation != generation, timeout)
            if self._generation != generation:
                return 0, None
            result = command.result
            if result is None:
                raise _Fault(
                    500, "s:Receiver", "w:TimedOut",
                    "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
                    RECEIVE_TIMEOUT_FAULT_CODE,
                )
            first_delivery = not command.delivered
            command.delivered = True
        # lab-behaviour: fault-reply-lost
        if kind == "reply_lost":
            # The command ran and its change stays; the link dies before the output reaches the client.
            _reset_connection(connection)
            return 0, None
        envelope, reply_body = self._reply(ACTION_RECEIVE + "Response", relates_to)
        response = ET.SubElement(reply_body, _q("rsp", "ReceiveResponse"))
        for name, data in (("stdout", result.stdout), ("stderr", result.stderr)):
            if first_delivery and data:
                stream = ET.SubElement(response, _q("rsp", "Stream"), {"Name": name, "CommandId": command.command_id})
                stream.text = base64.b64encode(data).decode("ascii")
            ET.SubElement(response, _q("rsp", "Stream"), {"Name": name, "CommandId": command.command_id, "End": "true"})
        state = ET.SubElement(response, _q("rsp", "CommandState"), {"CommandId": command.command_id, "State": STATE_DONE})
        ET.SubElement(state, _q("rsp", "ExitCode")).text = str(result.rc)
        return 200, self._xml(envelope)
