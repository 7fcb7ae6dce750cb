# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a simulated Windows client answers when the collection runs its PowerShell scripts.

Test infrastructure only; the collection never imports anything from here, and this module does
not import the collection (the lab must not share code with what it tests). The contracts it
carries out are the header comments of ``plugins/plugin_utils/scripts/*.ps1``.

A ``ClientHandler`` is the ``handler`` of one ``WSManEndpoint``. It recognises a script by its
identity line ``# directaccess.iphttps script: <name> v<N>`` anywhere in the decoded
``-EncodedCommand`` (Ansible strips blank lines and indentation, so position is not reliable),
reads the parameters as one JSON document from stdin, and works on the client's ``ClientState``
exactly where the script works on the machine: certificate stores, IP Helper, IP-HTTPS. When the
command is only a loader and the script's source travels inside the stdin document, that source
must carry the same identity line, or the command fails (on Windows the source is what runs).

A client whose WinRM account is not a local administrator reads everything, but opening a
LocalMachine store for writing fails with "Access is denied." inside ca_import.ps1's try, so its
catch reports ``failed.kind = access_denied`` with exit code 0, as the script would.

A client built with ``iphttps_cmdlets=False`` answers as a Windows 7 client: no NetworkTransition
cmdlets and no Get-DAConnectionStatus, so the scripts read netsh and report ``state_source`` netsh,
no interface status and no DirectAccess status.

Output is what Windows PowerShell 5.1 prints for ``ConvertTo-Json -Compress``: one line, keys in
the script's order, ``< > & '`` escaped as ``\\u003c`` and so on (its JavaScriptSerializer does
that), CRLF at the end. Script errors that PowerShell itself would raise (stdin that is not JSON,
a value ``[int]`` cannot convert) exit 1 with the error record on stderr in CLIXML, the form
``powershell.exe -EncodedCommand`` uses over WinRM. Anything the lab does not know (another
script, another version, a command that is not PowerShell) exits 1 with a plain message naming
it, never hangs.

Where Windows behaviour is assumed rather than documented, the code says so.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import errno
import json
import logging
import random
import re
import socket
import ssl
import threading
import typing as t
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from .client_state import (
    CERT_E_CHAINING,
    CERT_E_CN_NO_MATCH,
    CERT_E_EXPIRED,
    CERT_E_UNTRUSTEDROOT,
    CERT_E_WRONG_USAGE,
    ERROR_SUCCESS,
    SEC_E_ILLEGAL_MESSAGE,
    STATUS_ACTIVE,
    STATUS_FAILED,
    TRUST_E_EXPLICIT_DISTRUST,
    ENTERPRISE,
    GROUP_POLICY,
    WINHTTP_PROXY,
    ClientState,
    ProxyRefused,
    distrust_outcome,
    entry_points,
    logical_store,
    open_tunnel,
    parse_connect_to,
    verify_iphttps_server,
)
from .revocation import FETCH_TIMEOUT_MS, REVOCATION_ERRORS, revocation_section
from .scenarios import TEMPLATES, HostTemplate
from .wsman import CommandRequest, CommandResult

__all__ = [
    "ClientHandler",
    "capture_server_chain",
    "chain_elements",
    "IDENTITY_RE",
    "SCRIPT_VERSIONS",
    "TUNNEL_OUTAGE_SECONDS",
    "clixml_error",
    "identify_script",
    "powershell_json",
]

log = logging.getLogger(__name__)

# The scripts and versions the lab implements; a version bump in the collection must be
# followed here (test_lab_runtime checks the .ps1 files against this table).
SCRIPT_VERSIONS = {"client_info": 6, "ca_import": 4, "iphttps_state": 3}
IDENTITY_RE = re.compile(r"^[ \t]*#[ \t]*directaccess\.iphttps script:[ \t]*([A-Za-z0-9_]+)[ \t]+v(\d+)[ \t]*$",
                         re.MULTILINE)

# How long a tunnel host's WinRM connections stay down while iphlpsvc restarts: IP-HTTPS has to
# set up TLS and the tunnel again before the controller's packets get through.
# lab-behaviour: tunnel-outage
TUNNEL_OUTAGE_SECONDS = 4.0

# The detached restart: powershell.exe starts cold (0.25 s, Microsoft's WMF 5.1 release notes,
# "PowerShell Engine Improvements"), sleeps restart_delay_seconds, then Restart-Service stops
# iphlpsvc and starts it again. Until the stop, the old connection and its state stay. How long a
# slow machine takes, and the restart itself, are assumed (docs/lab.md); a template or the
# handler's launch_seconds and restart_seconds set them per host.
# lab-behaviour: restart-timing
LAUNCH_SECONDS = 0.25
RESTART_SECONDS = 0.5
# Made-up Win32_Service.ProcessId values: a svchost.exe of its own gets a new id at every restart; a
# shared one keeps its id, because the other services in it keep running.
_OWN_SVCHOST_PID = 1000
_SHARED_SVCHOST_PID = 868
# What Invoke-CimMethod's CimException says when the breakaway call throws (assumed text).
_BREAKAWAY_THROWS = "Generic failure "
# Win32_Process.Create's ReturnValue when the ASR rule refuses the process: 2, Access denied (assumed).
_ASR_REFUSED = 2
_TASK_NAME = "\\directaccess.iphttps\\iphlpsvc-restart"
# ServiceController's error when the stop fails, as Restart-Service words it (assumed; faults.py restart_fails).
_CANNOT_STOP = ("Service 'IP Helper (iphlpsvc)' cannot be stopped due to the following error: Cannot open iphlpsvc "
                "service on computer '.'.")
_TOKEN_RE = re.compile(r"[A-Za-z0-9-]{1,64}")

# X509ChainStatusFlags names and the StatusInformation text .NET gives for them.
# lab-behaviour: chain-status-texts
_CHAIN_STATUS = {
    CERT_E_UNTRUSTEDROOT: ("UntrustedRoot", "A certificate chain processed, but terminated in a root "
                                            "certificate which is not trusted by the trust provider."),
    CERT_E_CHAINING: ("PartialChain", "A certificate chain could not be built to a trusted root authority."),
    CERT_E_EXPIRED: ("NotTimeValid", "A required certificate is not within its validity period when verifying "
                                     "against the current system clock or the timestamp in the signed file."),
    CERT_E_WRONG_USAGE: ("NotValidForUsage", "The certificate is not valid for the requested usage."),
    # X509ChainStatusFlags.ExplicitDistrust; the text is winerror.h's for TRUST_E_EXPLICIT_DISTRUST.
    TRUST_E_EXPLICIT_DISTRUST: ("ExplicitDistrust", "The certificate was explicitly marked as untrusted by the user."),
}

# lab-behaviour: localized-texts
# What a German (de-DE) client shows instead of the English texts: InterfaceStatus and the chain's
# StatusInformation follow the display language. The lab's own German renderings; the point is the umlauts.
_GERMAN = {
    STATUS_FAILED: "Fehler beim Herstellen einer Verbindung mit dem IPHTTPS-Server; Warten auf erneute Verbindung",
    STATUS_ACTIVE: "IPHTTPS-Schnittstelle aktiv",
    _CHAIN_STATUS[CERT_E_UNTRUSTEDROOT][1]: "Die Zertifikatkette wurde verarbeitet, endet jedoch mit einem "
                                            "Stammzertifikat, das vom Vertrauensanbieter nicht als vertrauenswürdig "
                                            "eingestuft wird.",
}


def _localized(result: dict, locale: str) -> dict:
    """client_info's document with the texts a client in ``locale`` shows (only de-DE differs)."""
    if locale != "de-DE":
        return result
    state = result.get("iphttps_state")
    if state and state.get("interface_status") in _GERMAN:
        state["interface_status"] = _GERMAN[state["interface_status"]]
    for entry in result.get("chain_status") or []:
        entry["information"] = _GERMAN.get(entry["information"], entry["information"])
    return result


# How [string] renders the MSFT_NetIPHttpsConfiguration enums of a Group Policy DirectAccess
# client (values per REFERENCE; the enum names are assumed, not confirmed on a live client).
# lab-behaviour: iphttps-configuration-enums
_CONFIGURATION = {"state": "Default", "type": "Client", "configuration_type": "GroupPolicy",
                  "profile": "IPHTTPSProfile", "profile_activated": True}
# What client_info.ps1 puts beside the URL when it had to read netsh.
_NETSH_CONFIGURATION = {"state": None, "type": None, "configuration_type": None, "profile": None,
                        "profile_activated": None}

# Get-DAConnectionStatus: MSFT_DAConnectionStatus's Status and Substatus are uint32 (Microsoft's
# class page), assumed to reach PowerShell as enums, so the script sends number and name. The page
# gives no value map: these numbers are placeholders, which the collection only passes through.
# lab-behaviour: da-connection-status-values
_DA_STATUS = {"ConnectedRemotely": 0, "ConnectedLocally": 1, "Error": 2, "ActionableError": 3}
_DA_SUBSTATUS = {"None": 0, "CouldNotContactDirectAccessServer": 1}

_ACCESS_DENIED = 'Exception calling "Open" with "1" argument(s): "Access is denied."'
_BAD_BASE64 = ('Exception calling "FromBase64String" with "1" argument(s): "The input is not a valid Base-64 '
               'string as it contains a non-base 64 character, more than two padding characters, or an illegal '
               'character among the padding characters. "')
_BAD_CERTIFICATE = 'Exception calling ".ctor" with "1" argument(s): "Cannot find the requested object."'
# lab-behaviour: wsaetimedout-text
_NO_RESPONSE = ("A connection attempt failed because the connected party did not properly respond after a period "
                "of time, or established connection failed because connected host has failed to respond")


# --- PowerShell's output formats ------------------------------------------------------------------

# lab-behaviour: json-compress-output
def powershell_json(document: t.Any) -> str:
    """``ConvertTo-Json -Compress`` as Windows PowerShell 5.1 writes it (without the line end)."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    # JavaScriptSerializer escapes these HTML-sensitive characters; they only occur inside strings.
    for char in "<>&'":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _clixml_text(line: str) -> str:
    # CLIXML writes control characters as _xHHHH_ (and a literal '_x' as _x005F_x).
    line = line.replace("_x", "_x005F_x")
    line = re.sub(r"[\x00-\x1f]", lambda m: f"_x{ord(m.group()):04X}_", line)
    return xml_escape(line)


# lab-behaviour: clixml-error-record
def clixml_error(message: str, category: str, error_id: str) -> bytes:
    """A terminating error as powershell.exe -EncodedCommand writes it to stderr over WinRM."""
    lines = [message, f"    + CategoryInfo          : {category}", f"    + FullyQualifiedErrorId : {error_id}"]
    body = "".join(f'<S S="Error">{_clixml_text(line + chr(13) + chr(10))}</S>' for line in lines)
    return ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
            f"{body}</Objs>").encode("utf-8")


class _PowerShellError(Exception):
    """A terminating error the real script would raise: exit 1, the record on stderr."""

    def __init__(self, message: str, category: str, error_id: str):
        super().__init__(message)
        self.category = category
        self.error_id = error_id


# lab-behaviour: int-conversion
def _ps_int(value: t.Any, name: str) -> int:
    """``[int]$params.<name>``: null is 0, numbers and numeric strings convert, the rest throws."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(round(value))  # [int] rounds half to even, as round() does
    if isinstance(value, str):
        try:
            return int(round(float(value.strip()))) if value.strip() else 0
        except ValueError:
            pass
    shown = json.dumps(value) if not isinstance(value, str) else value
    raise _PowerShellError(f'Cannot convert value "{shown}" to type "System.Int32". Error: "Input string was not '
                           f'in a correct format." (parameter {name})',
                           "InvalidArgument: (:) [], RuntimeException", "InvalidCastFromStringToInteger")


def _throw(message: str) -> t.NoReturn:
    """``throw "message"`` in the script: a terminating RuntimeException."""
    raise _PowerShellError(message, f"OperationStopped: ({message}:String) [], RuntimeException", message)


# lab-behaviour: string-conversion
def _ps_string(value: t.Any) -> str:
    """``[string]$x`` for JSON scalars: null is empty, booleans are True/False."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


# lab-behaviour: array-subexpression
def _as_array(value: t.Any) -> list:
    """``@($x)``: an array stays itself, anything else (null included) becomes one element."""
    return list(value) if isinstance(value, list) else [value]


# --- script recognition ---------------------------------------------------------------------------

def identify_script(script: str | None) -> tuple[str, int] | None:
    """(name, version) from the identity line of a decoded script, or None without one."""
    if not script:
        return None
    match = IDENTITY_RE.search(script)
    return (match.group(1), int(match.group(2))) if match else None


def _carried_identity(params: t.Any) -> tuple[str, int] | None:
    """The identity of a script source sent inside the stdin document, if there is one.

    A short loader in the command may run source that travels on stdin; what runs on Windows is
    then that source, so it must be the script the command line names.
    """
    if not isinstance(params, dict):
        return None
    for value in params.values():
        if isinstance(value, str):
            identity = identify_script(value)
            if identity is not None:
                return identity
    return None


# lab-behaviour: convertfrom-json-stdin
def _parse_params(stdin: bytes) -> t.Any:
    """``(@($input) -join "`n") | ConvertFrom-Json``; empty stdin gives null."""
    text = stdin.decode("utf-8-sig", "replace")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _PowerShellError(f"ConvertFrom-Json : Invalid JSON primitive: {text.strip()[:60]} ({exc.msg}).",
                               "NotSpecified: (:) [ConvertFrom-Json], ArgumentException",
                               "System.ArgumentException,Microsoft.PowerShell.Commands.ConvertFromJsonCommand") from None


# --- the TLS capture client_info.ps1 does with SslStream -----------------------------------------

class _CaptureError(Exception):
    """What ``$_.Exception.Message`` says when the script's capture fails.

    ``hresult`` is the Schannel status the script finds in an inner Win32Exception, or None.
    """

    def __init__(self, message: str, hresult: int | None = None):
        super().__init__(message)
        self.hresult = hresult


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """Every certificate the server sent, leaf first, as DER."""
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return list(public() or [])
    # Python 3.10-3.12 have it only on the private object (same data the 3.13 method returns).
    chain = tls._sslobj.get_unverified_chain() or []  # pylint: disable=protected-access
    import _ssl  # pylint: disable=import-outside-toplevel

    return [cert.public_bytes(_ssl.ENCODING_DER) for cert in chain]


# lab-behaviour: capture-connect-errors
def capture_server_chain(connect_to: str, server_name: str, port_in_url: int, timeout: float,
                         proxy: str | None = None, connection: dict | None = None) -> list[bytes]:
    """A real TLS handshake that accepts any certificate, like the script's validation callback.

    ``proxy`` ("address:port"): the client's WinHTTP proxy; the handshake then goes through a CONNECT
    tunnel to ``server_name:port_in_url``. ``connection``, when given, is filled in as the script's
    ``server_connection``: via, proxy, address. Raises ``_CaptureError`` with the message .NET would
    give for the same failure.
    """
    where = f"{server_name}:{port_in_url}"
    if proxy is not None:
        address = parse_connect_to(proxy)
        where = f"{address[0]}:{address[1]}"
    else:
        address = parse_connect_to(connect_to)
    if connection is not None:
        connection.update(via="proxy" if proxy else "direct", proxy=proxy, address=None)
    try:
        # lab-behaviour: capture-dual-stack
        # One TcpClient of the address's own family (IPv6 too): the lab's "resolution" is connect_to.
        raw = socket.create_connection(address, timeout=timeout)
    except TimeoutError:
        raise _CaptureError(f"connection to {where} timed out after {int(timeout * 1000)} ms") from None
    except ConnectionRefusedError:
        raise _CaptureError('Exception calling "EndConnect" with "1" argument(s): "No connection could be made '
                            f'because the target machine actively refused it {address[0]}:{address[1]}"') from None
    except OSError as exc:
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            raise _CaptureError('Exception calling "EndConnect" with "1" argument(s): "A socket operation was '
                                f'attempted to an unreachable network {address[0]}:{address[1]}"') from None
        raise
    if connection is not None:
        connection["address"] = address[0]
    if proxy is not None:
        try:
            raw.settimeout(timeout)
            open_tunnel(raw, f"{server_name}:{port_in_url}", proxy)
        except ProxyRefused as exc:
            raw.close()
            raise _CaptureError(str(exc)) from None
        except OSError:
            raw.close()
            raise _CaptureError(f'Exception calling "ReadByte" with "0" argument(s): "Unable to read data from the '
                                f'transport connection: {_NO_RESPONSE}."') from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # lab-behaviour: capture-handshake-errors
    # The script calls the four-argument overload (host, client certificates, protocols, revocation).
    prefix = 'Exception calling "AuthenticateAsClient" with "4" argument(s): '
    try:
        with raw, context.wrap_socket(raw, server_hostname=server_name) as tls:
            return _unverified_chain(tls)
    except TimeoutError:
        raise _CaptureError(f'{prefix}"Unable to read data from the transport connection: {_NO_RESPONSE}."') from None
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        raise _CaptureError(f'{prefix}"Unable to read data from the transport connection: An existing connection '
                            'was forcibly closed by the remote host."') from None
    except ssl.SSLEOFError:
        raise _CaptureError(f'{prefix}"Authentication failed because the remote party has closed the transport '
                            'stream."') from None
    except ssl.SSLError:
        # lab-behaviour: handshake-failure-hresult
        # Assumed: Schannel reports a handshake the server ends with an alert (a client certificate it
        # demands and does not get, no common cipher suite) as SEC_E_ILLEGAL_MESSAGE.
        raise _CaptureError(f'{prefix}"A call to SSPI failed, see inner exception."',
                            SEC_E_ILLEGAL_MESSAGE) from None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# lab-behaviour: chain-elements
def chain_elements(sent: list[bytes], root_store: t.Mapping[str, str],
                   ca_store: t.Mapping[str, str]) -> list[bytes]:
    """X509Chain.ChainElements as the script's callback gets them, approximately: DER, leaf first.

    Windows builds the chain from the leaf through what the server sent and the client's CA and
    Root stores, preferring a trusted root. The lab matches issuers by name and signature and
    takes Root, then sent, then CA certificates; it neither fetches by AIA nor weighs alternative
    paths the way CryptoAPI does.
    """
    leaf = x509.load_der_x509_certificate(sent[0])
    pool = [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in root_store.values()]
    pool += [x509.load_der_x509_certificate(der) for der in sent[1:]]
    pool += [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in ca_store.values()]
    chain = [leaf]
    seen = {leaf.public_bytes(Encoding.DER)}
    while len(chain) < 10 and not (chain[-1].issuer == chain[-1].subject and _issued_by(chain[-1], chain[-1])):
        issuer = next((c for c in pool if c.public_bytes(Encoding.DER) not in seen and _issued_by(chain[-1], c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        seen.add(issuer.public_bytes(Encoding.DER))
    return [cert.public_bytes(Encoding.DER) for cert in chain]


# lab-behaviour: thumbprint-sha1
def _sha1_thumbprint(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA1())  # Windows' thumbprint: an identifier, not a security check
    digest.update(der)
    return digest.finalize().hex().upper()


# lab-behaviour: certificate-from-bytes
def _load_certificate(der: bytes) -> x509.Certificate:
    """``New-Object X509Certificate2 -ArgumentList (, $bytes)``: DER, or PEM text in bytes."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        pass
    try:
        return x509.load_pem_x509_certificate(der)
    except ValueError:
        raise ValueError(_BAD_CERTIFICATE) from None


# lab-behaviour: base64-decoding
def _decode_base64(text: str) -> bytes:
    """``[Convert]::FromBase64String``: whitespace is ignored, anything else invalid throws."""
    compact = re.sub(r"[ \t\r\n]", "", text)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_BAD_BASE64) from None


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _first_set(*values: float | None) -> float:
    return next(value for value in values if value is not None)


def _process_id(record: dict, svchost_shared: bool) -> int:
    """iphlpsvc's Win32_Service.ProcessId: 0 while stopped (assumed), made up while running."""
    # lab-behaviour: process-id-svchost-grouping
    if record["iphlpsvc"]["status"] != "Running":
        return 0
    return _SHARED_SVCHOST_PID if svchost_shared else _OWN_SVCHOST_PID + 4 * record["iphlpsvc"]["restarts"]


# --- the handler ----------------------------------------------------------------------------------

class ClientHandler:
    """Answers one lab client's WinRM commands (``WSManEndpoint(handler=...)``).

    :param client: the client's state; every call reads it afresh.
    :param administrator: False for a WinRM account outside local Administrators: reading
        works, opening a LocalMachine store for writing is denied.
    :param drop_connections: the endpoint's ``drop_connections``; called when a scheduled
        iphlpsvc restart fires on a client the controller reaches through its tunnel. May be
        set after construction (the endpoint is built with the handler).
    :param tunnel_outage: seconds the tunnel stays down.
    :param iphttps_cmdlets: False for a Windows 7 client: the scripts fall back to netsh, and
        the ScheduledTasks cmdlets are missing too. None: the client's template says.
    :param launch_seconds: from the launch until Restart-Service stops iphlpsvc, the delay apart:
        the process start (and the stop's own wait). None: the client's template, else LAUNCH_SECONDS.
    :param restart_seconds: how long Restart-Service takes from the stop to the service running
        again. None: the client's template, else RESTART_SECONDS.

    The other restart settings (shared svchost.exe, what WMI does, IP-HTTPS' own retry) come
    from the client's scenario template (``scenarios.HostTemplate``).
    """

    def __init__(self, client: ClientState, *, administrator: bool = True,
                 drop_connections: t.Callable[[float], None] | None = None,
                 tunnel_outage: float = TUNNEL_OUTAGE_SECONDS, iphttps_cmdlets: bool | None = None,
                 launch_seconds: float | None = None, restart_seconds: float | None = None):
        self.client = client
        self.administrator = administrator
        template = TEMPLATES.get(client.load()["scenario"]) or HostTemplate("", "", None)
        self.iphttps_cmdlets = not template.windows7 if iphttps_cmdlets is None else iphttps_cmdlets
        self.scheduled_tasks = self.iphttps_cmdlets  # both come with Windows 8
        self.launch_seconds = _first_set(launch_seconds, template.launch_seconds, LAUNCH_SECONDS)
        self.restart_seconds = _first_set(restart_seconds, template.restart_seconds, RESTART_SECONDS)
        self.svchost_shared = template.svchost_shared
        self.wmi_process_create = template.wmi_process_create
        self.retry_reconnects = template.retry_reconnects
        self.language_mode = template.language_mode
        self.locale = template.locale
        self.drop_connections = drop_connections
        self.tunnel_outage = tunnel_outage
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self.restarts_fired = 0
        # The fault (tests/lab/faults.py) the command being answered meets; per thread, as commands run in parallel.
        self._call = threading.local()

    def _fault_kind(self) -> str | None:
        return getattr(self._call, "kind", None)

    def __call__(self, request: CommandRequest) -> CommandResult:
        fault = getattr(request, "fault", None)
        self._call.kind = fault.kind if fault is not None else None
        identity = identify_script(request.script)
        if identity is None:
            return self._unknown(request)
        name, version = identity
        if SCRIPT_VERSIONS.get(name) != version:
            known = ", ".join(f"{n} v{v}" for n, v in SCRIPT_VERSIONS.items())
            message = (f"lab host {request.host}: script {name} v{version} is not implemented by the lab "
                       f"(it implements {known})\n")
            return CommandResult(stderr=message.encode("utf-8"), rc=1)
        try:
            params = _parse_params(request.stdin)
            carried = _carried_identity(params)
            if carried is not None and carried != identity:
                message = (f"lab host {request.host}: the command is headed by script {name} v{version} but its "
                           f"stdin carries the source of {carried[0]} v{carried[1]}\n")
                return CommandResult(stderr=message.encode("utf-8"), rc=1)
            document = getattr(self, f"_{name}")(params)
        except _PowerShellError as exc:
            return CommandResult(stderr=clixml_error(str(exc), exc.category, exc.error_id), rc=1)
        # lab-behaviour: stdout-crlf
        return self._faulted(CommandResult(stdout=(powershell_json(document) + "\r\n").encode("utf-8")), fault)

    def _faulted(self, result: CommandResult, fault: t.Any) -> CommandResult:
        """The script's output as a fault of this command changes it (tests/lab/faults.py)."""
        # lab-behaviour: fault-malformed-json
        if self._call.kind == "malformed_json":
            # The script ran; its output stops part-way through the document (a console that died mid-write).
            return CommandResult(stdout=result.stdout[:max(1, len(result.stdout) // 2)], stderr=result.stderr,
                                 rc=result.rc)
        # lab-behaviour: fault-huge-json
        if self._call.kind == "huge_json":
            # The script ran; its document carries far more than the collection asked for.
            body = result.stdout.rstrip(b"\r\n")
            padding = b',"lab_padding":"' + b"A" * fault.bytes + b'"}'
            return CommandResult(stdout=body[:-1] + padding + b"\r\n", stderr=result.stderr, rc=result.rc)
        return result

    @staticmethod
    def _unknown(request: CommandRequest) -> CommandResult:
        if request.script is not None and request.script.strip().lower() in ("hostname", "hostname.exe"):
            # lab-behaviour: hostname-command
            # hostname.exe, the cheapest command there is: the benchmarks' floor (one raw per host).
            return CommandResult(stdout=f"{request.host}\r\n".encode("utf-8"))
        source = request.script if request.script is not None else request.command_line
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        first = first if len(first) <= 200 else first[:200] + "..."
        what = "PowerShell script without a directaccess.iphttps identity line" if request.script is not None \
            else "command that is not PowerShell -EncodedCommand"
        message = f"lab host {request.host}: unknown {what}: {first}\n"
        return CommandResult(stderr=message.encode("utf-8"), rc=1)

    # -- client_info.ps1 --

    def _client_info(self, params: t.Any) -> dict:
        timeout_ms = 5000
        mode = "chain"
        if isinstance(params, dict):
            if params.get("connect_timeout_ms") is not None:
                timeout_ms = _ps_int(params["connect_timeout_ms"], "connect_timeout_ms")
            if params.get("store_certificates"):  # PowerShell's truth test: "" and null keep the default
                mode = _ps_string(params["store_certificates"])
        # lab-behaviour: comparison-ignores-case
        if mode.lower() not in ("chain", "all"):  # -notcontains ignores case
            _throw(f"store_certificates must be chain or all, not '{mode}'")
        revocation_mode, revocation_timeout_ms = "auto", FETCH_TIMEOUT_MS
        if isinstance(params, dict):
            if params.get("revocation"):
                revocation_mode = _ps_string(params["revocation"])
            if params.get("revocation_timeout_ms") is not None:
                revocation_timeout_ms = _ps_int(params["revocation_timeout_ms"], "revocation_timeout_ms")
        if revocation_mode.lower() not in ("auto", "always", "never"):
            _throw(f"revocation must be auto, always or never, not '{revocation_mode}'")
        if revocation_timeout_ms < 1:
            _throw(f"revocation_timeout_ms must be at least 1, not {revocation_timeout_ms}")
        record = self.client.load()
        iphttps = record["iphttps"]
        # lab-behaviour: constrained-language-mode
        # Constrained Language Mode: cmdlets, CIM and netsh work; New-Object of TcpClient, SslStream,
        # X509Store and the delegate cast do not, so the script reads the state only.
        full_language = self.language_mode == "FullLanguage"
        result: dict = {
            "script": "client_info",
            "version": 6,
            # lab-behaviour: computer-name-netbios
            "computer_name": record["name"].upper()[:15],  # $env:COMPUTERNAME: NetBIOS name, upper case
            "language_mode": self.language_mode,
            "state_source": "cmdlet" if self.iphttps_cmdlets else "netsh",
            "iphttps_configuration": None,
            "iphttps_state": None,
            "da_connection_status": None,
            "winhttp_proxy": None,
            "server_connection": None,
            "server_chain": [],
            "chain_policy_extra_store": [],
            "server_chain_error": None,
            "server_chain_error_hresult": None,
            "policy_errors": None,
            "chain_status": [],
            "entry_point_captures": [],
            "stores": {"Root": [], "CA": [], "Disallowed": list(record.get("disallowed_store") or {})},
            "store_certificates": [],
            "physical_stores": self._physical_stores(record),
            "iphlpsvc": self._service(record, self.svchost_shared),
            "revocation": None,
        }
        if iphttps is not None:
            # lab-behaviour: netsh-lists-inactive-interface
            # Assumed: netsh lists the configured interface and its URL even while it is not active.
            extra = dict(_CONFIGURATION if self.iphttps_cmdlets else _NETSH_CONFIGURATION)
            urls = [iphttps["server_url"]]
            if self.iphttps_cmdlets:
                # lab-behaviour: multisite-none-activated
                # Assumed: a multisite client that has not chosen an entry point lists one profile per entry
                # point, none with ProfileActivated; netsh shows the interface's one URL.
                urls = list(dict.fromkeys(entry["server_url"] for entry in entry_points(iphttps)))
                if len(urls) > 1:
                    extra["profile_activated"] = False
            result["iphttps_configuration"] = {"server_url": iphttps["server_url"], **extra, "entry_points": urls}
        state = self.client.iphttps_state()
        if state is not None:
            # netsh's status text is localized, so the script does not read it.
            result["iphttps_state"] = {"interface_status": state.interface_status if self.iphttps_cmdlets else None,
                                       "last_error_code": state.last_error_code}
        # Get-DAConnectionStatus does not exist on Windows 7; elsewhere the same model iphttps_state answers from.
        names = self.client.da_connection_status() if self.iphttps_cmdlets else None
        if names is not None:
            result["da_connection_status"] = {"status": _DA_STATUS[names[0]], "status_name": names[0],
                                              "substatus": _DA_SUBSTATUS[names[1]], "substatus_name": names[1]}
        if not full_language:
            result["stores"] = None
            return _localized(result, self.locale)
        # lab-behaviour: winhttp-proxy-registry
        # The WinHttpSettings value as the script decodes it: the lab's clients name one proxy, no bypass list.
        result["winhttp_proxy"] = {"source": "winhttp", "proxy": record.get(WINHTTP_PROXY), "bypass": None}
        if iphttps is not None:
            timeout = max(timeout_ms, 1) / 1000.0
            first = self._capture(iphttps, record, timeout)
            result.update((key, value) for key, value in first.items() if key != "server_url")
            if result["iphttps_configuration"]["profile_activated"] is False:
                others = [entry for entry in entry_points(iphttps)[1:] if entry["server_url"] != iphttps["server_url"]]
                result["entry_point_captures"] = [self._capture(entry, record, timeout) for entry in others[:7]]
        code = state.last_error_code if state is not None else None
        if revocation_mode.lower() == "always" or (revocation_mode.lower() == "auto" and code in REVOCATION_ERRORS):
            # The fetches the script makes, through the names this client resolves; the lab's clients
            # have no WinHTTP proxy, so they go direct.
            chain = [base64.b64decode(b64) for b64 in result["server_chain"]]
            result["revocation"] = revocation_section(chain, self.client.routes(), revocation_timeout_ms)
            result["revocation"]["proxy"] = result["winhttp_proxy"]

        captures = [result] + result["entry_point_captures"]
        captured = [x509.load_der_x509_certificate(base64.b64decode(b64)) for capture in captures
                    for b64 in capture["server_chain"] + capture["chain_policy_extra_store"]]
        names = {cert.subject for cert in captured} | {cert.issuer for cert in captured}
        for store in ("Root", "CA"):
            for thumbprint, pem in logical_store(record, store).items():
                result["stores"][store].append(thumbprint)
                cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
                if mode.lower() == "all" or cert.subject in names:
                    result["store_certificates"].append({
                        "store": store, "thumbprint": thumbprint,
                        "der_base64": base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")})
        return _localized(result, self.locale)

    @staticmethod
    def _capture(iphttps: dict, record: dict, timeout: float) -> dict:
        """What the script's Get-ServerChain returns for one entry point."""
        result = {"server_url": iphttps["server_url"], "server_connection": {}, "server_chain": [],
                  "chain_policy_extra_store": [], "server_chain_error": None, "server_chain_error_hresult": None,
                  "policy_errors": None, "chain_status": []}
        url = urlsplit(iphttps["server_url"])
        try:
            sent = capture_server_chain(iphttps["connect_to"], url.hostname, url.port or 443, timeout,
                                        proxy=record.get(WINHTTP_PROXY), connection=result["server_connection"])
        except _CaptureError as exc:
            result["server_chain_error"] = str(exc)
            result["server_chain_error_hresult"] = exc.hresult
            return result
        if not sent:
            return result  # no certificate, no callback
        # server_chain is the leaf and the chain Windows assembled; the extra store is what the
        # server sent, which SslStream copies from Schannel's remote certificate store.
        elements = chain_elements(sent, logical_store(record, "Root"), logical_store(record, "CA"))
        result["server_chain"] = [base64.b64encode(der).decode("ascii") for der in elements]
        # lab-behaviour: extra-store-contents
        # Every certificate the server sent, the leaf included, in an order nobody promises: shuffled,
        # the same way on every run for the same host.
        extra = list(sent)
        random.Random(record["name"]).shuffle(extra)
        result["chain_policy_extra_store"] = [base64.b64encode(der).decode("ascii") for der in extra]
        # lab-behaviour: callback-chain-current-stores
        # The callback's X509Chain is built now, against the stores as they are now (not the state
        # IP-HTTPS recorded at its last connection), so verify afresh with the same stores.
        # SslStream was told checkCertificateRevocation=$false: its chain has no revocation status.
        verdict = verify_iphttps_server(iphttps["server_url"], iphttps["connect_to"], logical_store(record, "Root"),
                                        logical_store(record, "CA"), timeout, check_revocation=False,
                                        proxy=record.get(WINHTTP_PROXY))
        verdict = distrust_outcome(verdict, iphttps, record, timeout)
        status = _CHAIN_STATUS.get(verdict.last_error_code)
        if status is not None:
            result["chain_status"] = [{"status": status[0], "information": status[1]}]
        # lab-behaviour: ssl-policy-errors
        # [string] of the SslPolicyErrors flags .NET hands the callback: a name mismatch or a chain
        # that did not build. The lab's verdict gives one of them, never both.
        if verdict.last_error_code in (ERROR_SUCCESS, None):
            result["policy_errors"] = "None"
        elif verdict.last_error_code == CERT_E_CN_NO_MATCH:
            result["policy_errors"] = "RemoteCertificateNameMismatch"
        else:
            result["policy_errors"] = "RemoteCertificateChainErrors"
        return result

    @staticmethod
    # lab-behaviour: win32-service-properties
    def _service(record: dict, svchost_shared: bool) -> dict:
        """Win32_Service's State, StartMode and ProcessId for iphlpsvc. The lab does not model the start
        mode (always Auto); the process id is the one iphttps_state reports (``_process_id``)."""
        return {"state": record["iphlpsvc"]["status"], "start_mode": "Auto",
                "process_id": _process_id(record, svchost_shared)}

    # -- ca_import.ps1 --

    def _store_thumbprints(self) -> dict:
        record = self.client.load()
        return {"Root": list(logical_store(record, "Root")), "CA": list(logical_store(record, "CA"))}

    @staticmethod
    # lab-behaviour: physical-store-keys
    def _physical_stores(record: dict) -> dict:
        """The registry keys' subkey names client_info reads: the lab's clients have no AuthRoot copies, and the
        .GroupPolicy and .Enterprise stores hold what the last policy refresh applied."""
        policy = record.get(GROUP_POLICY) or {}
        enterprise = record.get(ENTERPRISE) or {}
        return {"Root": {"Default": list(record["root_store"]), "GroupPolicy": list(policy.get("Root", {})),
                         "Enterprise": list(enterprise.get("Root", {})), "AuthRoot": []},
                "CA": {"Default": list(record["ca_store"]), "GroupPolicy": list(policy.get("CA", {})),
                       "Enterprise": list(enterprise.get("CA", {}))}}

    def _ca_import(self, params: t.Any) -> dict:
        params = params if isinstance(params, dict) else {}
        absent = _ps_string(params.get("state")).lower() == "absent"  # PowerShell's -eq ignores case
        check_mode = bool(params.get("check_mode"))
        result: dict = {
            "script": "ca_import",
            "version": 4,
            "changed": False,
            "imported": [],
            "removed": [],
            "already_present": [],
            "absent": [],
            "kept": [],
            "failed": None,
            "stores_before": self._store_thumbprints(),
            "stores_after": None,
            "restart_scheduled": False,
            "restart_error": None,
            "restart_note": None,
            "restart_skipped": None,
            "service_status": self.client.load()["iphlpsvc"]["status"],
            "restart_launch": None,
        }
        items = _as_array(params.get("certificates"))
        if not absent:
            # As the script: a certificate to import that is in Disallowed refuses the whole import first.
            disallowed = self.client.load().get("disallowed_store") or {}
            for item in items:
                thumb = _ps_string(item.get("thumbprint") if isinstance(item, dict) else None).upper()
                if thumb in disallowed:
                    result["failed"] = {
                        "store": _ps_string(item.get("store")), "thumbprint": thumb, "kind": "distrusted",
                        "message": f"certificate {thumb} is in the Untrusted Certificates store "
                                   "(LocalMachine\\Disallowed); Windows would still refuse it, so nothing was imported"}
                    items = []
                    break
        for item in items:
            item = item if isinstance(item, dict) else {}
            entry = {"store": _ps_string(item.get("store")), "thumbprint": _ps_string(item.get("thumbprint")).upper()}
            try:
                if entry["store"].lower() not in ("root", "ca"):  # -notcontains ignores case too
                    raise ValueError(f"store must be Root or CA, not '{entry['store']}'")
                store = "Root" if entry["store"].lower() == "root" else "CA"
                if not re.fullmatch(r"[0-9A-F]{40}", entry["thumbprint"]):
                    raise ValueError(f"thumbprint must be 40 hexadecimal digits, not '{entry['thumbprint']}'")
                present = entry["thumbprint"] in result["stores_before"][store]
                cert = None
                if _ps_string(item.get("der_base64")):
                    cert = _load_certificate(_decode_base64(_ps_string(item.get("der_base64"))))
                    computed = _sha1_thumbprint(cert.public_bytes(Encoding.DER))
                    # The script recomputes the thumbprint from the bytes it received.
                    if computed != entry["thumbprint"]:
                        raise ValueError(f"thumbprint mismatch: the controller sent {entry['thumbprint']}, "
                                         f"the host computed {computed}")
                elif not absent:
                    # A removal may name the certificate by thumbprint alone; an import needs it.
                    raise ValueError("der_base64 is required to import a certificate")
                if absent and not present:
                    result["absent"].append(entry)
                    continue
                record = self.client.load()
                # The other physical stores holding it, in the script's order (Get-OtherCopies).
                kept_by = [name for name, field in (("GroupPolicy", GROUP_POLICY), ("Enterprise", ENTERPRISE))
                           if entry["thumbprint"] in (record.get(field) or {}).get(store, {})]
                if absent and kept_by:
                    # lab-behaviour: removal-spares-policy-copy
                    # Only the .Default copy's registry key is deleted; the policy's or the directory's copy stays listed.
                    own = entry["thumbprint"] in record["root_store" if store == "Root" else "ca_store"]
                    if own and not check_mode:
                        self._require_write_access()
                        self.client.remove_certificate(store, entry["thumbprint"])
                    result["kept"].append({**entry, "kept_by": kept_by, "removed_default": own})
                    if own:
                        result["removed"].append(entry)
                        result["changed"] = True
                    continue
                if not absent and present:
                    result["already_present"].append(entry)
                    continue
                if not check_mode:
                    self._require_write_access()
                    if absent:
                        self.client.remove_certificate(store, entry["thumbprint"])
                    else:
                        self.client.add_certificate(store, cert.public_bytes(Encoding.PEM))
                result["removed" if absent else "imported"].append(entry)
                result["changed"] = True
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # The script's catch takes every exception, and so does this one.
                kind = "access_denied" if isinstance(exc, PermissionError) or "Access is denied" in str(exc) \
                    else "error"
                result["failed"] = {"store": entry["store"], "thumbprint": entry["thumbprint"], "kind": kind,
                                    "message": str(exc)}
                break
        result["stores_after"] = self._store_thumbprints()
        # lab-behaviour: iphttps-retry-picks-up-root
        if result["changed"] and not check_mode and self.retry_reconnects:
            # The other reading of an unconfirmed behaviour: IP-HTTPS' own retry ("waiting to
            # reconnect") builds the chain afresh and picks up the new root before any restart.
            self.client.refresh_iphttps_state()
        wanted = params.get("restart_iphlpsvc") and (result["changed"] or params.get("restart_even_if_unchanged")) \
            and not check_mode and result["failed"] is None
        if wanted and self.client.load()["iphttps"] is None:
            # The script restarts only on a machine with an IP-HTTPS client configuration.
            wanted = False
            result["restart_skipped"] = ("not a DirectAccess client: no IP-HTTPS client configuration, so iphlpsvc "
                                         "was left alone")
        if wanted:
            self._launch_restart(params, result)
        return result

    def _require_write_access(self) -> None:
        """What opening a LocalMachine store for writing (or deleting its registry key) meets on this host."""
        # lab-behaviour: fault-store-access-denied
        denied = self._fault_kind() == "access_denied"
        # lab-behaviour: store-write-access-denied
        if not self.administrator or denied:
            # X509Store.Open('ReadWrite') on LocalMachine needs local administrator rights.
            raise PermissionError(_ACCESS_DENIED)

    def _launch_restart(self, params: dict, result: dict) -> None:
        """The script's launch: a SYSTEM scheduled task, else (or with restart_method wmi) WMI."""
        # lab-behaviour: scheduled-task-launch
        delay = max(_ps_int(params.get("restart_delay_seconds"), "restart_delay_seconds"), 0)
        notes: list[str] = []
        try:
            token = _ps_string(params.get("restart_token"))
            if not _TOKEN_RE.fullmatch(token):
                raise ValueError(f"restart_token must be 1 to 64 letters, digits or '-', not '{token}'")
            method = _ps_string(params.get("restart_method")).lower() or "auto"
            if method not in ("auto", "scheduled_task", "wmi"):
                raise ValueError(f"restart_method must be auto, scheduled_task or wmi, not '{method}'")
            launch = None
            if method != "wmi":
                if self.scheduled_tasks:
                    launch = {"method": "scheduled_task", "process_id": None, "task_name": _TASK_NAME}
                elif method == "scheduled_task":
                    raise ValueError("the ScheduledTasks cmdlets are missing (they come with Windows 8)")
                else:
                    notes.append("no ScheduledTasks cmdlets (they come with Windows 8); used WMI")
            if launch is None:
                launch = {"method": "wmi", "process_id": self._wmi_create(notes), "task_name": None}
            launch["service_process_id_before"] = _process_id(self.client.load(), self.svchost_shared)
            launch["token"] = token
            self._schedule_restart(delay, token, fault=self._fault_kind())
            result["restart_launch"] = launch
            result["restart_scheduled"] = True
        except ValueError as exc:
            result["restart_error"] = f"could not schedule the iphlpsvc restart: {exc}"
        if notes:
            result["restart_note"] = "; ".join(notes)

    def _wmi_create(self, notes: list[str]) -> int:
        """Start-RestartProcess: the breakaway Create, then on a refusal or an exception the plain one."""
        attempt: list[str] = []  # the function's own notes, lost when it throws, as in the script
        # lab-behaviour: asr-blocks-wmi-create
        if self.wmi_process_create == "blocked":
            # Defender's ASR rule refuses every process WmiPrvSE.exe would create, with or without breakaway.
            raise ValueError(f"Win32_Process.Create returned {_ASR_REFUSED}")
        # lab-behaviour: wmi-breakaway-fallback
        if self.wmi_process_create == "breakaway_throws":
            attempt.append(f"Win32_Process.Create with CREATE_BREAKAWAY_FROM_JOB failed ({_BREAKAWAY_THROWS})")
            attempt.append("the restart runs inside the WMI provider host's job")
        notes.extend(attempt)
        return 4000 + 4 * self.client.load()["iphlpsvc"]["restarts"]

    # -- iphttps_state.ps1 --

    def _iphttps_state(self, params: t.Any) -> dict:
        del params  # the script reads and ignores its input
        record = self.client.load()
        state = self.client.iphttps_state()
        # NcaSvc does not exist on Windows 7. Elsewhere the lab takes it to run on a DirectAccess
        # client exactly while iphlpsvc runs (it depends on iphlpsvc, and Restart-Service -Force stops
        # and starts it too), and to be stopped on other machines.
        nca = None
        da_status = None
        if self.iphttps_cmdlets:
            # lab-behaviour: ncasvc-follows-iphlpsvc
            nca = record["iphlpsvc"]["status"] if record["iphttps"] is not None else "Stopped"
            names = self.client.da_connection_status()
            if names is not None:
                da_status = {"status": _DA_STATUS[names[0]], "status_name": names[0],
                             "substatus": _DA_SUBSTATUS[names[1]], "substatus_name": names[1]}
        marker = self.client.restart_marker()
        return {
            "script": "iphttps_state",
            "version": 3,
            "service_status": record["iphlpsvc"]["status"],
            "service_process_id": _process_id(record, self.svchost_shared),
            "nca_service_status": nca,
            "state_source": "cmdlet" if self.iphttps_cmdlets else "netsh",
            "iphttps_state": None if state is None else {
                "interface_status": state.interface_status if self.iphttps_cmdlets else None,
                "last_error_code": state.last_error_code},
            "da_connection_status": da_status,
            "restart_marker": None if marker is None else {
                key: marker.get(key) for key in ("token", "outcome", "message", "finished_at")},
        }

    # -- the detached restart --

    # lab-behaviour: restart-detached
    def _schedule_restart(self, delay: float, token: str = "", fault: str | None = None) -> None:
        """The launched process: runs on its own, after this command has returned. It starts, sleeps
        ``delay``, stops iphlpsvc, and after restart_seconds has it running again and writes its marker.
        ``fault``: restart_fails or never_recovers (tests/lab/faults.py) change how it ends."""
        self._after(self.launch_seconds + delay, lambda: self._restart_stops(token, fault))

    def _after(self, seconds: float, action: t.Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                return
            timer = threading.Timer(seconds, lambda: self._fire(timer, action))
            timer.name = f"iphlpsvc-restart-{self.client.name}"
            timer.daemon = True
            self._timers.add(timer)
        timer.start()

    def _fire(self, timer: threading.Timer, action: t.Callable[[], None]) -> None:
        with self._lock:
            self._timers.discard(timer)
            if self._closed:
                return
        try:
            action()
        except Exception:  # pylint: disable=broad-exception-caught
            # A detached process has nobody to report to; the lab log keeps the trace.
            log.exception("lab host %s: scheduled iphlpsvc restart failed", self.client.name)

    def _restart_stops(self, token: str, fault: str | None = None) -> None:
        # lab-behaviour: fault-restart-fails
        if fault == "restart_fails":
            # Restart-Service cannot stop the service: it throws, iphlpsvc and IP-HTTPS stay as they were, and
            # the launched script's catch writes the marker with the exception's message.
            self.client.write_restart_marker({"token": token, "outcome": "failed", "message": _CANNOT_STOP,
                                              "finished_at": _utc_now()})
            self.restarts_fired += 1
            return
        # lab-behaviour: restart-stop-then-start
        if self.client.load()["tunnel"] and self.drop_connections is not None:
            # The controller's WinRM session rides on the tunnel that goes down with IP Helper.
            self.drop_connections(self.tunnel_outage)
        kept = self.client.load()["iphttps_state"] if fault == "never_recovers" else None
        self.client.stop_iphlpsvc()
        self._after(self.restart_seconds, lambda: self._restart_runs(token, kept))

    # lab-behaviour: restart-marker
    def _restart_runs(self, token: str, kept: dict | None = None) -> None:
        proof = {"token": token, "outcome": "restarted", "message": None, "finished_at": _utc_now()}
        self.client.restart_iphlpsvc(proof=proof)
        # lab-behaviour: fault-never-recovers
        if kept is not None:
            # The service runs again, but IP-HTTPS does not reconnect: it keeps showing the error from before.
            self.client.keep_iphttps_state(kept)
        self.restarts_fired += 1

    def reboot(self) -> None:
        """The host restarts (faults.py, reboot): a restart still pending dies with it and writes no marker;
        iphlpsvc starts at boot with a fresh IP-HTTPS connection. WSManEndpoint.reboot does the WinRM side."""
        with self._lock:
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
        self.client.restart_iphlpsvc()

    def pending_restarts(self) -> int:
        """Restarts launched that have not finished (a restart under way counts until it has)."""
        with self._lock:
            return len(self._timers)

    def close(self) -> None:
        """Cancel restarts that have not fired (the lab is shutting down); later ones are refused."""
        with self._lock:
            self._closed = True
            timers, self._timers = list(self._timers), set()
        for timer in timers:
            timer.cancel()
