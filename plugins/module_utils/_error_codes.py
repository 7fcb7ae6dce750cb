# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# INTERNAL: this module is private to the directaccess.iphttps collection. Its
# API may change without notice; the public interface is the
# directaccess.iphttps.iphttps_error filter.
#
# Decodes the IP-HTTPS "last error code" a DirectAccess client reports
# (Get-NetIPHttpsState LastErrorCode, or the 0x... value from
# "netsh interface httpstunnel show interfaces") into a name, a meaning, a
# remedy for an operations engineer and a category to branch on.
#
# Pure Python on purpose: no ansible imports, so action plugins, filters and
# tests can all use it.

from __future__ import annotations

import math
import re
import types
import typing as t

from collections.abc import Mapping, Sequence, Set

__all__ = [
    'CATEGORIES',
    'ErrorCode',
    'KNOWN_CODES',
    'decode_error',
    'is_fixable_by_import',
]

# Every category decode_error() can return. 'trust' is reserved for the
# errors this collection fixes by importing CA certificates; see
# is_fixable_by_import().
CATEGORIES = (
    'ok',
    'trust',
    'revocation',
    'distrust',
    'name',
    'expiry',
    'usage',
    'network',
    'proxy',
    'tls',
    'client_auth',
    'config',
    'unknown',
)

_UINT32_MAX = 0xFFFFFFFF
_INT32_MIN = -0x80000000

# re.ASCII keeps Unicode digits such as '١٢٣' out: they are not how Windows
# prints an error code.
_DECIMAL_RE = re.compile(r'[+-]?[0-9]+', re.ASCII)
_HEX_RE = re.compile(r'0[xX][0-9a-fA-F]+', re.ASCII)

# How much of a rejected input to quote back in the meaning text.
_ECHO_LIMIT = 40


class ErrorCode(t.NamedTuple):
    """One entry of the known-code table (immutable)."""

    code: int
    name: str
    category: str
    meaning: str
    remedy: str


_RESTART_IPHLPSVC = 'then restart the IP Helper service (Restart-Service iphlpsvc) so the client reconnects at once.'

_REVOCATION_REMEDY = (
    'DirectAccess checks revocation of the IP-HTTPS certificate chain, so the CRL of every CA in it must be '
    'current and reachable from the Internet; the usual cause is a CRL distribution point (CDP) whose host name '
    'resolves only inside the corporate network. Publish the CRL at an HTTP CDP that Internet clients can reach, '
    'renew an expired CRL on its CA (certutil -CRL), and check the proxy the SYSTEM account uses (netsh winhttp '
    "show proxy); client_info names the URL the client cannot reach. Then clear the client's cached CRLs with "
    "'certutil -urlcache * delete' and restart iphlpsvc. Importing CA certificates does not help."
)

_NO_REVOCATION_CHECK_REMEDY = (
    'A certificate in the chain that names no CRL distribution point and no OCSP responder must be reissued from a '
    'CA that adds an HTTP CDP Internet clients can reach. Otherwise: ' + _REVOCATION_REMEDY
)

_REISSUE_REVOKED_REMEDY = (
    'A revoked certificate cannot be made valid again, and no import or restart on the client helps. Issue a new '
    'IP-HTTPS certificate (or a new CA certificate if a CA was revoked) to replace it, bind it to IP-HTTPS on the '
    'DirectAccess server, and check that the CRL the clients download is current.'
)

_NAME_LOOKUP_REMEDY = (
    'Check that the public FQDN in the IP-HTTPS URL resolves from the client (Resolve-DnsName). If that '
    'name is inside an internal DNS suffix, add an NRPT exemption for it so it is resolved by public DNS. '
    "Check the client's proxy settings, including the WinHTTP proxy used by the SYSTEM account "
    "(netsh winhttp show proxy; 'netsh winhttp reset proxy' clears it), and any firewall in between."
)

_GHOST_INTERFACE_REMEDY = (
    'Remove stale IP-HTTPS interfaces: in Device Manager show hidden devices and uninstall the greyed-out '
    '"iphttpsinterface" adapters, then restart iphlpsvc. Reboot if the interface does not come back.'
)

_TABLE = (
    ErrorCode(
        0x0, 'ERROR_SUCCESS', 'ok',
        'The IP-HTTPS interface is connected; there is no error.',
        'Nothing to do.',
    ),
    # --- trust: the client lacks CA certificates (KB 2980667) ---
    ErrorCode(
        0x800B0109, 'CERT_E_UNTRUSTEDROOT', 'trust',
        "The IP-HTTPS server certificate chains to a root CA that is not in the client's "
        'Trusted Root store (Cert:\\LocalMachine\\Root).',
        'Import the root CA certificate into Cert:\\LocalMachine\\Root and the intermediate CA certificates '
        'into Cert:\\LocalMachine\\CA on the client, ' + _RESTART_IPHLPSVC,
    ),
    ErrorCode(
        0x800B010A, 'CERT_E_CHAINING', 'trust',
        'The client could not build a certificate chain from the IP-HTTPS certificate up to a root, '
        'usually because an intermediate CA certificate is missing and its AIA URL is not reachable '
        '(generic Windows meaning).',
        'Import the intermediate CA certificates into Cert:\\LocalMachine\\CA (and the root into '
        'Cert:\\LocalMachine\\Root if it is missing too), ' + _RESTART_IPHLPSVC,
    ),
    # --- explicit distrust: an import cannot override the Disallowed store ---
    ErrorCode(
        0x800B0111, 'TRUST_E_EXPLICIT_DISTRUST', 'distrust',
        'A certificate in the IP-HTTPS chain is explicitly distrusted on the client: it is in the '
        'Untrusted Certificates store (Cert:\\LocalMachine\\Disallowed).',
        'Importing into Root does not help: Disallowed wins. If the distrust is a mistake, remove the certificate '
        'from Cert:\\LocalMachine\\Disallowed (and from the Group Policy that put it there); otherwise reissue the '
        'IP-HTTPS certificate from a CA that is not distrusted. client_info names the certificate.',
    ),
    # --- revocation ---
    ErrorCode(
        0x80092013, 'CRYPT_E_REVOCATION_OFFLINE', 'revocation',
        'The revocation server was offline: the client could not download the CRL from a CDP in the '
        'certificate chain, the CRL there is unpublished or expired, or the client uses an old cached CRL '
        '(KB 2980672).',
        _REVOCATION_REMEDY,
    ),
    ErrorCode(
        0x80092012, 'CRYPT_E_NO_REVOCATION_CHECK', 'revocation',
        'The revocation status of a certificate in the chain could not be checked, for example because it names '
        'no CRL distribution point (generic Windows meaning).',
        _NO_REVOCATION_CHECK_REMEDY,
    ),
    ErrorCode(
        0x800B010C, 'CERT_E_REVOKED', 'revocation',
        'A certificate in the IP-HTTPS chain has been explicitly revoked by its issuer.',
        _REISSUE_REVOKED_REMEDY,
    ),
    ErrorCode(
        0x80092010, 'CRYPT_E_REVOKED', 'revocation',
        'The revocation check found that a certificate in the IP-HTTPS chain is revoked.',
        _REISSUE_REVOKED_REMEDY,
    ),
    # --- validity period ---
    ErrorCode(
        0x800B0101, 'CERT_E_EXPIRED', 'expiry',
        'The IP-HTTPS certificate, or a certificate in its chain, is outside its validity period.',
        'Renew the IP-HTTPS certificate and bind the new one on the DirectAccess server (Remote Access '
        "Management console, or Set-RemoteAccess -SslCertificate). If the certificate looks valid, check the client's "
        'clock and time zone.',
    ),
    ErrorCode(
        0x800B0102, 'CERT_E_VALIDITYPERIODNESTING', 'expiry',
        "The certificate's validity period does not fall inside its issuer's validity period.",
        'Reissue the IP-HTTPS certificate so that it expires before the CA certificate that signs it; '
        'renew the CA certificate first if it is close to expiry.',
    ),
    # --- name ---
    ErrorCode(
        0x800B010F, 'CERT_E_CN_NO_MATCH', 'name',
        "The certificate's name does not match the host name the client connected to (generic Windows "
        'meaning).',
        'Reissue the IP-HTTPS certificate with the public FQDN of the IP-HTTPS URL as the subject CN and, '
        'when the certificate has a subjectAltName, as a SAN DNS name too: with a SAN present Windows '
        'matches only the SAN.',
    ),
    ErrorCode(
        0x103, 'ERROR_NO_MORE_ITEMS', 'name',
        'No usable certificate found: the IP-HTTPS URL does not match the certificate the server offers, '
        'or the certificate subject carries extra information (KB 2980635).',
        'Make the host name in the IP-HTTPS URL and the subject CN of the IP-HTTPS certificate the same '
        'public FQDN: reissue the certificate with a plain CN=<fqdn> subject, or change the URL.',
    ),
    # --- key usage ---
    ErrorCode(
        0x800B0110, 'CERT_E_WRONG_USAGE', 'usage',
        'The certificate is not valid for the requested use; for IP-HTTPS this means it lacks the '
        'Server Authentication extended key usage (generic Windows meaning).',
        'Reissue the IP-HTTPS certificate with the Server Authentication EKU (1.3.6.1.5.5.7.3.1) and bind '
        'the new certificate on the DirectAccess server.',
    ),
    # --- proxy / network (Winsock errors) ---
    ErrorCode(
        0x2AF9, 'WSAHOST_NOT_FOUND', 'proxy',
        'Host not found. Besides a genuine name-resolution failure, this is what a client with a web '
        'browser or WinHTTP proxy configured typically reports (Richard Hicks, DirectAccess blog).',
        "Clear the proxy settings on the client: the user's browser proxy and the machine WinHTTP proxy "
        "('netsh winhttp show proxy', then 'netsh winhttp reset proxy'). Then check that the public FQDN "
        'of the IP-HTTPS URL resolves from the client.',
    ),
    ErrorCode(
        0x2AFC, 'WSANO_DATA', 'network',
        'The name is valid but no address of the requested type was returned: DNS, a proxy, a firewall, '
        'or an NRPT rule that sends the public name to internal DNS (KB 2980635, KB 3056560).',
        _NAME_LOOKUP_REMEDY,
    ),
    ErrorCode(
        0x274C, 'WSAETIMEDOUT', 'network',
        'The TCP connection to the IP-HTTPS server on port 443 timed out.',
        'Check every firewall and NAT/port-forwarding rule between the client and the DirectAccess server '
        'for TCP 443; test with Test-NetConnection <public fqdn> -Port 443 from the client.',
    ),
    ErrorCode(
        0x274D, 'WSAECONNREFUSED', 'network',
        'The connection to port 443 was refused. Often an NRPT rule catches the public name, so the '
        'client resolves it through the tunnel to an internal address (KB 3056560).',
        'If the public FQDN is inside an internal DNS suffix, add an NRPT exemption for it in the '
        'DirectAccess configuration and refresh policy on the clients; otherwise check that the server or '
        'its load balancer listens on TCP 443.',
    ),
    ErrorCode(
        0x2746, 'WSAECONNRESET', 'network',
        'The connection was reset, typically by a firewall, load balancer or other edge device between '
        'client and server.',
        'Check the edge devices in front of the DirectAccess server: IP-HTTPS must pass through TCP 443 '
        'untouched (no TLS inspection, no idle resets).',
    ),
    # --- TLS and client authentication ---
    ErrorCode(
        0x80090326, 'SEC_E_ILLEGAL_MESSAGE', 'tls',
        'The TLS handshake failed. Seen when a load balancer or edge device offers cipher suites the client '
        'does not accept, or demands client certificate authentication.',
        'Fix the TLS settings of the device that terminates TCP 443 in front of the DirectAccess server '
        '(protocols, cipher suites, client-certificate requirement), or pass the traffic through to the '
        'server unchanged.',
    ),
    ErrorCode(
        0x90320, 'SEC_I_INCOMPLETE_CREDENTIALS', 'client_auth',
        'The server asked for a client certificate and the client could not present a usable one, so '
        'IP-HTTPS client authentication failed.',
        'Give the client a valid computer certificate (Cert:\\LocalMachine\\My) from the CA the DirectAccess '
        'server trusts for IP-HTTPS client authentication, or turn client authentication off for IP-HTTPS '
        'if it is not required.',
    ),
    # --- configuration ---
    ErrorCode(
        0x4BE, 'ERROR_INVALID_NETNAME', 'config',
        'Invalid IP-HTTPS URL: the URL holds an IP address where a host name is required (KB 2980627).',
        'Reconfigure DirectAccess so the IP-HTTPS URL uses the public FQDN instead of an IP address, '
        'then refresh Group Policy on the clients.',
    ),
    ErrorCode(
        0x643, 'ERROR_INSTALL_FAILURE', 'config',
        'The IP-HTTPS interface could not be set up, usually because a duplicate or corrupt IP-HTTPS '
        'interface is left on the client.',
        _GHOST_INTERFACE_REMEDY,
    ),
    ErrorCode(
        0x34, 'ERROR_DUP_NAME', 'config',
        'Duplicate name: another IP-HTTPS interface with the same name already exists on the client.',
        _GHOST_INTERFACE_REMEDY,
    ),
    # Chain faults that importing CA certificates cannot fix: the server must
    # present a different certificate, so they are 'config', not 'trust'.
    ErrorCode(
        0x800B010D, 'CERT_E_UNTRUSTEDTESTROOT', 'config',
        'The IP-HTTPS certificate chains to a test root certificate, which the current trust policy does '
        'not accept.',
        'Replace the IP-HTTPS certificate with one issued by a production CA (internal PKI or public CA) '
        'and bind it on the DirectAccess server.',
    ),
    ErrorCode(
        0x80096004, 'TRUST_E_CERT_SIGNATURE', 'config',
        'The signature on a certificate in the IP-HTTPS chain does not verify against its issuer: the '
        'certificate is damaged, or the client holds a different CA certificate with the same name '
        '(for example after a CA key rollover).',
        'Compare the issuing CA certificate on the server with the one on the client (thumbprint and key '
        'identifiers). Deploy the CA certificate that really signed the IP-HTTPS certificate, or reissue '
        'the IP-HTTPS certificate.',
    ),
    # Every CERT_TRUST_*_NAME_CONSTRAINT(S) chain status maps to this code (.NET's Windows chain PAL).
    ErrorCode(
        0x800B0114, 'CERT_E_INVALID_NAME', 'config',
        'A name of the IP-HTTPS certificate is outside the name constraints of a CA in its chain (not in '
        'its permitted subtrees, or in its excluded subtrees), or a CA carries name constraints Windows '
        'does not support or cannot decode.',
        'Importing certificates will not help: the CA hierarchy must change. Reissue the IP-HTTPS certificate '
        'with names the constrained CA permits, or reissue the CA certificate with name constraints that cover '
        'the server\'s names (in forms Windows supports: DNS, e-mail, URI, IP address, directory name, UPN). '
        'trust_check names the CA, the subtree and the name.',
    ),
)

KNOWN_CODES = types.MappingProxyType({entry.code: entry for entry in _TABLE})
"""Read-only mapping of unsigned code -> ErrorCode for every known code."""


class _NotACode(Exception):
    """Internal: the input is not a 32-bit error code; args[0] says why."""


def _echo(value: t.Any) -> str:
    """Quote a rejected input for a meaning text, shortened."""
    text = repr(value)
    if len(text) > _ECHO_LIMIT:
        text = text[:_ECHO_LIMIT - 3] + '...'
    return text


def _to_unsigned(value: int, shown: t.Any) -> int:
    if _INT32_MIN <= value < 0:
        # Windows' signed HRESULT form, e.g. -2146762487 for 0x800B0109.
        return value + 0x100000000
    if 0 <= value <= _UINT32_MAX:
        return value
    raise _NotACode(
        '%s is not a 32-bit error code: it is outside -2147483648..4294967295.' % _echo(shown)
    )


def _parse(value: t.Any) -> int | None:
    """Return the unsigned code, None for "no code", or raise.

    Raises TypeError for types that cannot hold an error code and _NotACode
    for values that can but do not.
    """
    if value is None:
        return None
    # bool is an int subclass; True silently meaning 0x1 would hide a bug.
    if isinstance(value, bool):
        raise TypeError('the error code must be an int or a string, got bool (%r)' % value)
    if isinstance(value, int):
        return _to_unsigned(int(value), value)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _NotACode('%s is not a whole number, so it is not an error code.' % _echo(value))
        return _to_unsigned(int(value), value)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode('ascii', errors='replace')
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _HEX_RE.fullmatch(text):
            return _to_unsigned(int(text, 16), value)
        if _DECIMAL_RE.fullmatch(text):
            return _to_unsigned(int(text, 10), value)
        raise _NotACode(
            '%s is not an error code. Give it as decimal (2148204809), signed decimal (-2146762487) '
            'or hexadecimal with a 0x prefix (0x800B0109); hex without 0x is not accepted because '
            'it can be mistaken for decimal.' % _echo(value)
        )
    raise TypeError('the error code must be an int or a string, got %s' % _describe_type(value))


def _describe_type(value: t.Any) -> str:
    """Name a rejected type the way a playbook author sees it, plus a hint."""
    # Templated values arrive as ansible's dict/list subclasses; name the
    # YAML kind, not the Python class.
    if isinstance(value, Mapping):
        return 'dict; pass the LastErrorCode value, not the whole Get-NetIPHttpsState result'
    if isinstance(value, (Sequence, Set)):
        return "list; decode one code at a time, e.g. codes | map('directaccess.iphttps.iphttps_error')"
    return type(value).__name__


def _hex(code: int) -> str:
    return '0x%X' % code


def decode_error(value: t.Any) -> dict[str, t.Any]:
    """Decode an IP-HTTPS last error code.

    ``value`` may be an int (unsigned, or the signed 32-bit form), a decimal
    string, or a hex string with a 0x/0X prefix; surrounding whitespace is
    ignored. Returns a new dict with ``code`` (unsigned int), ``hex``
    (``0x800B0109`` style), ``name``, ``meaning``, ``remedy`` and
    ``category``.

    Never fails on a value: an unknown code, None, an empty string, a
    non-numeric string or a number outside the 32-bit range decode to name
    ``UNKNOWN`` and category ``unknown``, with ``meaning`` saying which case
    it is. ``code`` and ``hex`` are None when there is no 32-bit code.

    Raises TypeError only for types that cannot hold a code (bool, dict,
    list, ...).
    """
    try:
        code = _parse(value)
    except _NotACode as e:
        return {
            'code': None,
            'hex': None,
            'name': 'UNKNOWN',
            'meaning': e.args[0],
            'remedy': 'Pass the LastErrorCode value from Get-NetIPHttpsState, or the 0x... code that '
                      "'netsh interface httpstunnel show interfaces' prints.",
            'category': 'unknown',
        }

    if code is None:
        return {
            'code': None,
            'hex': None,
            'name': 'UNKNOWN',
            'meaning': 'No error code was given (%s). Get-NetIPHttpsState returns nothing when IP-HTTPS is '
                       'not active on the host, so there is no last error to decode.'
                       % ('null' if value is None else 'empty string'),
            'remedy': 'Check whether the host uses IP-HTTPS at all (Get-NetIPHttpsConfiguration, '
                      'Get-DAConnectionStatus) before troubleshooting the connection.',
            'category': 'unknown',
        }

    entry = KNOWN_CODES.get(code)
    if entry is None:
        return {
            'code': code,
            'hex': _hex(code),
            'name': 'UNKNOWN',
            'meaning': '%s is not one of the IP-HTTPS error codes this collection knows.' % _hex(code),
            'remedy': "Look the code up on a Windows host with 'certutil -error %s' and check the "
                      'Microsoft DirectAccess troubleshooting articles.' % _hex(code),
            'category': 'unknown',
        }

    return {
        'code': code,
        'hex': _hex(code),
        'name': entry.name,
        'meaning': entry.meaning,
        'remedy': entry.remedy,
        'category': entry.category,
    }


def is_fixable_by_import(code: t.Any) -> bool:
    """True when importing the server's CA certificates fixes this error.

    That is the 'trust' category: CERT_E_UNTRUSTEDROOT and CERT_E_CHAINING.
    Accepts every form decode_error() accepts; raises TypeError like it.
    """
    return decode_error(code)['category'] == 'trust'
