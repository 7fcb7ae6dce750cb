# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Name constraints (RFC 5280 4.2.1.10, extension 2.5.29.30) as Windows CryptoAPI applies them.

Internal to directaccess.iphttps; may change without notice. Controller side only, no ansible
imports. Callers must check _certificate.HAS_CRYPTOGRAPHY before use.

What CryptoAPI does, and so what this does (docs/verdicts.md names the sources):

- Every CA certificate of the path (the root too) may carry permitted and excluded subtrees.
  They are applied to the names of the end certificate: Microsoft documents the
  CERT_TRUST_*_NAME_CONSTRAINT flags for "one of the name choices in the end certificate". RFC
  5280 6.1.3 (b)/(c) would also apply them to the intermediate CAs below; Windows is not
  documented to, so neither does this.
- The end certificate's names: each SAN entry; its subject DN (directoryName) when not empty;
  emailAddress attributes of the subject (rfc822Name); and, only when it has no SAN extension,
  each subject CN that is a DNS name (dNSName), since that is the name Windows' SSL policy uses.
- A name is checked only against subtrees of its own form. Excluded wins: a name in an excluded
  subtree fails even if a permitted subtree holds it. A name fails a permitted list when there
  are permitted subtrees of its form and none holds it.
- A wildcard SAN entry (*.example.com) fails an excluded subtree if any name it stands for is in
  it, and passes a permitted subtree only if every name it stands for is in it.
- Supported forms: dNSName, rfc822Name, uniformResourceIdentifier (its host), iPAddress (address
  and mask, IPv4 and IPv6), directoryName (RDN prefix, RFC 5280 7.1 comparison) and otherName
  of type UPN. x400Address, ediPartyName, registeredID, any other otherName, and a subtree with
  a minimum or maximum fail the chain (CERT_TRUST_HAS_NOT_SUPPORTED_NAME_CONSTRAINT). An
  extension that cannot be decoded, has no subtree, or has an iPAddress subtree that is not
  address plus mask (8 or 32 bytes) fails it too (CERT_TRUST_INVALID_NAME_CONSTRAINTS).

The extension is decoded here from the certificate's DER: cryptography drops minimum and
maximum, and refuses x400Address and ediPartyName, which Windows reports differently.
"""
from __future__ import annotations

import functools
import ipaddress
import typing
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    _normalize_value,
    name_key,
)

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # reported through _certificate.HAS_CRYPTOGRAPHY
    pass

NAME_CONSTRAINTS_OID = "2.5.29.30"
UPN_OID = "1.3.6.1.4.1.311.20.2.3"
EMAIL_ADDRESS_OID = "1.2.840.113549.1.9.1"

# CERT_TRUST_STATUS flags; every one surfaces as CERT_E_INVALID_NAME (0x800B0114).
NOT_PERMITTED = "CERT_TRUST_HAS_NOT_PERMITTED_NAME_CONSTRAINT"
EXCLUDED = "CERT_TRUST_HAS_EXCLUDED_NAME_CONSTRAINT"
NOT_SUPPORTED = "CERT_TRUST_HAS_NOT_SUPPORTED_NAME_CONSTRAINT"
INVALID = "CERT_TRUST_INVALID_NAME_CONSTRAINTS"

REMEDY = ("Reissue the server certificate with names the constrained CA permits, or reissue the CA "
          "certificate with name constraints that cover the server's names (in forms Windows supports); "
          "importing certificates will not help.")

# GeneralName tags (RFC 5280 4.2.1.6) as they appear in a GeneralSubtree's base.
_FORM_BY_TAG = {0x81: "email", 0x82: "dns", 0xA4: "dirname", 0x86: "uri", 0x87: "ip"}
_UNSUPPORTED_BY_TAG = {0xA3: "x400Address", 0xA5: "ediPartyName", 0x88: "registeredID"}
_OTHER_NAME_TAG = 0xA0
FORM_NAMES = {"dns": "dNSName", "email": "rfc822Name", "uri": "uniformResourceIdentifier",
              "ip": "iPAddress", "dirname": "directoryName", "upn": "otherName (UPN)"}
_FORM_PHRASES = {"dns": "DNS names under", "email": "e-mail addresses at", "uri": "URIs with a host in",
                 "ip": "IP addresses in", "dirname": "subject names under", "upn": "UPNs at"}

# Short attribute names for showing a directoryName constraint (RFC 4514 where it has one).
_ATTRIBUTE_LABELS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                     "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
                     "0.9.2342.19200300.100.1.1": "UID", EMAIL_ADDRESS_OID: "emailAddress"}
# How cryptography decodes directory string types, so decoded names compare equal to parsed ones.
_STRING_CODECS = {0x0C: "utf-8", 0x13: "latin-1", 0x16: "latin-1", 0x12: "latin-1", 0x1A: "latin-1",
                  0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


class _Undecodable(ValueError):
    """The nameConstraints DER is not what RFC 5280 defines."""


# ---------------------------------------------------------------------------------------------
# DER
# ---------------------------------------------------------------------------------------------

def _elements(raw: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(tag, value_start, value_end) of each DER element in raw[start:end]."""
    found, pos = [], start
    while pos < end:
        if pos + 2 > end:
            raise _Undecodable("truncated element")
        tag, first = raw[pos], raw[pos + 1]
        if tag & 0x1F == 0x1F:
            raise _Undecodable("unexpected multi-byte tag")
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            if not count or count > 4 or pos + count > end:
                raise _Undecodable("bad length")
            length = int.from_bytes(raw[pos:pos + count], "big")
            pos += count
        else:
            length = first
        if pos + length > end:
            raise _Undecodable("element runs past its container")
        found.append((tag, pos, pos + length))
        pos += length
    return found


def _only(raw: bytes, start: int, end: int, tag: int) -> tuple[int, int]:
    items = _elements(raw, start, end)
    if len(items) != 1 or items[0][0] != tag:
        raise _Undecodable(f"expected one element with tag 0x{tag:02X}")
    return items[0][1], items[0][2]


def _oid(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise _Undecodable("bad object identifier")
    parts, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first] + parts[1:])


def _text(body: bytes) -> str:
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise _Undecodable("a name that is not IA5 (ASCII) text") from None


def _name(raw: bytes, start: int, end: int) -> tuple:
    """A DER Name as (name_key form, RFC 4514-style text)."""
    key, shown = [], []
    for rdn_tag, rdn_start, rdn_end in _elements(raw, *_only(raw, start, end, 0x30)):
        if rdn_tag != 0x31:
            raise _Undecodable("a directoryName RDN is not a SET")
        attributes, labels = [], []
        for atv_tag, atv_start, atv_end in _elements(raw, rdn_start, rdn_end):
            parts = _elements(raw, atv_start, atv_end) if atv_tag == 0x30 else []
            if len(parts) != 2 or parts[0][0] != 0x06:
                raise _Undecodable("a directoryName attribute is not type and value")
            oid = _oid(raw[parts[0][1]:parts[0][2]])
            value_tag, value = parts[1][0], raw[parts[1][1]:parts[1][2]]
            codec = _STRING_CODECS.get(value_tag)
            try:
                value = value.decode(codec) if codec else value
            except UnicodeDecodeError:
                raise _Undecodable("a directoryName attribute value cannot be decoded") from None
            attributes.append((oid, _normalize_value(value)))
            labels.append(f"{_ATTRIBUTE_LABELS.get(oid, oid)}={value if isinstance(value, str) else value.hex()}")
        key.append(frozenset(attributes))
        shown.append("+".join(labels))
    return tuple(key), ",".join(reversed(shown))


def _extension_values(cert, oid: str) -> list[bytes]:
    """The raw values of every extension with this OID, read from the DER (not cryptography's parse)."""
    tbs = cert.tbs_certificate_bytes
    fields = _elements(tbs, *_only(tbs, 0, len(tbs), 0x30))
    values = []
    for tag, start, end in fields:
        if tag != 0xA3:
            continue
        for ext_tag, ext_start, ext_end in _elements(tbs, *_only(tbs, start, end, 0x30)):
            parts = _elements(tbs, ext_start, ext_end)
            if ext_tag != 0x30 or not parts or parts[0][0] != 0x06 or parts[-1][0] != 0x04:
                raise _Undecodable("an extension is not OID, critical flag and value")
            if _oid(tbs[parts[0][1]:parts[0][2]]) == oid:
                values.append(tbs[parts[-1][1]:parts[-1][2]])
    return values


# ---------------------------------------------------------------------------------------------
# The CA's constraints
# ---------------------------------------------------------------------------------------------

class Subtree(typing.NamedTuple):
    """One permitted or excluded subtree; form is a key of FORM_NAMES, value what the matcher compares."""

    form: str
    value: typing.Any
    shown: str


class Constraints(typing.NamedTuple):
    """A CA's name constraints; faults are (windows_status, reason) pairs that fail every chain."""

    permitted: tuple
    excluded: tuple
    faults: tuple


def _ip_shown(octets: bytes) -> str:
    half = len(octets) // 2
    address = ipaddress.ip_address(octets[:half])
    mask = int.from_bytes(octets[half:], "big")
    bits = half * 8
    prefix = bin(mask).count("1")
    if mask == ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1):
        network = (int.from_bytes(octets[:half], "big") & mask).to_bytes(half, "big")
        return str(ipaddress.ip_network((ipaddress.ip_address(network), prefix)))
    return f"{address}/{ipaddress.ip_address(octets[half:])}"


def _subtree(raw: bytes, start: int, end: int, faults: list) -> Subtree | None:
    parts = _elements(raw, start, end)
    if not parts:
        raise _Undecodable("an empty GeneralSubtree")
    tag, value_start, value_end = parts[0]
    for extra_tag, extra_start, extra_end in parts[1:]:
        if extra_tag == 0x80:
            if any(raw[extra_start:extra_end]):
                faults.append((NOT_SUPPORTED, "a subtree with a minimum other than 0"))
        elif extra_tag == 0x81:
            faults.append((NOT_SUPPORTED, "a subtree with a maximum"))
        else:
            raise _Undecodable("unexpected field after a subtree's base name")
    body = raw[value_start:value_end]
    if tag in _UNSUPPORTED_BY_TAG:
        faults.append((NOT_SUPPORTED, f"a subtree of form {_UNSUPPORTED_BY_TAG[tag]}"))
        return None
    if tag == _OTHER_NAME_TAG:
        inner = _elements(raw, value_start, value_end)
        if len(inner) != 2 or inner[0][0] != 0x06 or inner[1][0] != 0xA0:
            raise _Undecodable("an otherName subtree is not type and value")
        type_id = _oid(raw[inner[0][1]:inner[0][2]])
        if type_id != UPN_OID:
            # Windows supports only the UPN otherName in constraints (CERT_TRUST_STATUS).
            faults.append((NOT_SUPPORTED, f"a subtree of form otherName {type_id}"))
            return None
        text_start, text_end = _only(raw, inner[1][1], inner[1][2], 0x0C)
        try:
            upn = raw[text_start:text_end].decode("utf-8")
        except UnicodeDecodeError:
            raise _Undecodable("a UPN subtree that is not UTF-8") from None
        return Subtree("upn", upn.lower(), upn)
    form = _FORM_BY_TAG.get(tag)
    if form is None:
        raise _Undecodable(f"a subtree with unknown GeneralName tag 0x{tag:02X}")
    if form == "ip":
        if len(body) not in (8, 32):
            raise _Undecodable(f"an iPAddress subtree of {len(body)} bytes (address and mask take 8 or 32)")
        return Subtree("ip", body, _ip_shown(body))
    if form == "dirname":
        key, shown = _name(raw, value_start, value_end)
        return Subtree("dirname", key, f"'{shown}'")
    text = _text(body)
    return Subtree(form, text.lower(), text)


def _decode(value: bytes) -> Constraints:
    faults: list = []
    lists: dict = {0xA0: [], 0xA1: []}
    seen = set()
    for tag, start, end in _elements(value, *_only(value, 0, len(value), 0x30)):
        if tag not in lists or tag in seen:
            raise _Undecodable("a field other than one permittedSubtrees and one excludedSubtrees")
        seen.add(tag)
        items = _elements(value, start, end)
        if not items:
            raise _Undecodable("an empty list of subtrees")
        for item_tag, item_start, item_end in items:
            if item_tag != 0x30:
                raise _Undecodable("a subtree that is not a SEQUENCE")
            subtree = _subtree(value, item_start, item_end, faults)
            if subtree is not None:
                lists[0xA0 if tag == 0xA0 else 0xA1].append(subtree)
    if not seen:
        raise _Undecodable("neither permitted nor excluded subtrees")
    return Constraints(tuple(lists[0xA0]), tuple(lists[0xA1]), tuple(dict.fromkeys(faults)))


@functools.lru_cache(maxsize=1024)
def read(cert) -> Constraints | None:
    """The certificate's name constraints, or None when it has none (or has the extension twice).

    Never raises for a loaded certificate: a value that cannot be decoded comes back as a fault.
    A repeated extension is left to the malformed check (RFC 5280 4.2: at most once).
    """
    try:
        cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(NAME_CONSTRAINTS_OID))
    except x509.ExtensionNotFound:
        return None
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        pass  # cryptography cannot parse the extensions: read the DER below
    try:
        values = _extension_values(cert, NAME_CONSTRAINTS_OID)
    except (_Undecodable, ValueError):
        return None  # the certificate's own extension list is broken: reported as malformed
    if len(values) != 1:
        return None
    try:
        return _decode(values[0])
    except _Undecodable as exc:
        return Constraints((), (), ((INVALID, f"it cannot be decoded: {exc}"),))


def explains_extension_fault(cert) -> bool:
    """True when cryptography's failure to parse this CA's extensions is its nameConstraints.

    Windows reports such an extension as a name constraint fault (unsupported form, invalid),
    not as a malformed certificate; the caller then reports it through check_path().
    """
    constraints = read(cert)
    return constraints is not None and bool(constraints.faults)


# ---------------------------------------------------------------------------------------------
# The end certificate's names
# ---------------------------------------------------------------------------------------------

class Name(typing.NamedTuple):
    """One name of the end certificate, in the same form and value shape as Subtree."""

    form: str
    value: typing.Any
    shown: str


_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def _cn_as_dns_name(text) -> str | None:
    """The CN as a DNS name in A-label form, or None when it is not a host name (or is an address)."""
    if not isinstance(text, str):
        return None
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    labels = []
    for label in text.strip().rstrip(".").split("."):
        if not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:
                return None
        label = label.lower()
        if not label or not (label == "*" or set(label) <= _HOST_CHARACTERS):
            return None
        labels.append(label)
    return ".".join(labels)


def _upn(value: bytes) -> str | None:
    try:
        start, end = _only(value, 0, len(value), 0x0C)
        return value[start:end].decode("utf-8")
    except (_Undecodable, UnicodeDecodeError):
        return None


def _san_names(san) -> list[Name]:
    names = []
    for entry in san:
        if isinstance(entry, x509.DNSName):
            names.append(Name("dns", entry.value.lower(), entry.value))
        elif isinstance(entry, x509.RFC822Name):
            names.append(Name("email", entry.value.lower(), entry.value))
        elif isinstance(entry, x509.UniformResourceIdentifier):
            names.append(Name("uri", entry.value, entry.value))
        elif isinstance(entry, x509.IPAddress) and \
                not isinstance(entry.value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            names.append(Name("ip", entry.value.packed, str(entry.value)))
        elif isinstance(entry, x509.DirectoryName):
            names.append(Name("dirname", name_key(entry.value), f"'{entry.value.rfc4514_string()}'"))
        elif isinstance(entry, x509.OtherName) and entry.type_id.dotted_string == UPN_OID:
            upn = _upn(entry.value)
            if upn is not None:
                names.append(Name("upn", upn.lower(), upn))
    return names


def end_certificate_names(cert) -> list[Name]:
    """Every name of the end certificate that name constraints apply to, as Windows reads them."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return []  # the certificate is reported as malformed
    names = _san_names(san) if san is not None else []
    subject = cert.subject
    if subject.rdns:
        names.append(Name("dirname", name_key(subject), f"'{subject.rfc4514_string()}' (its subject)"))
    for attribute in subject:
        if attribute.oid.dotted_string == EMAIL_ADDRESS_OID and isinstance(attribute.value, str):
            names.append(Name("email", attribute.value.lower(), f"{attribute.value} (emailAddress in its subject)"))
    if san is None:
        # Without a SAN extension the CN is the server name Windows' SSL policy checks.
        for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            host = _cn_as_dns_name(attribute.value)
            if host is not None:
                names.append(Name("dns", host, f"{attribute.value} (its subject CN; it has no SAN extension)"))
    return names


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------

def _dns_within(constraint: str, name: str) -> bool:
    # RFC 5280 4.2.1.10: zero or more labels added on the left; a leading dot (as Windows
    # accepts it) means at least one label must be added.
    if not constraint:
        return True
    if constraint.startswith("."):
        return len(name) > len(constraint) and name.endswith(constraint)
    return name == constraint or name.endswith("." + constraint)


def _dns_may_be_within(constraint: str, name: str) -> bool:
    """Whether some name the SAN entry stands for is within the constraint (wildcards expanded)."""
    if _dns_within(constraint, name):
        return True
    if not name.startswith("*.") or constraint.startswith("."):
        return False
    # *.example.com stands for host.example.com, which a constraint host.example.com holds.
    rest = name[1:]
    return constraint.endswith(rest) and len(constraint) > len(rest) and "." not in constraint[:-len(rest)]


def _host_within(constraint: str, host: str) -> bool:
    # rfc822Name and URI hosts: a leading dot means any host below the domain, otherwise exactly it.
    if constraint.startswith("."):
        return len(host) > len(constraint) and host.endswith(constraint)
    return host == constraint


def _mailbox_within(constraint: str, address: str) -> bool:
    if "@" in constraint.lstrip("@"):
        return address == constraint
    host = address.rsplit("@", 1)[1] if "@" in address else address
    return _host_within(constraint.lstrip("@"), host)


def _uri_within(constraint: str, uri: str) -> bool:
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        host = None
    return bool(host) and _host_within(constraint, host.rstrip("."))


def _ip_within(constraint: bytes, address: bytes) -> bool:
    half = len(constraint) // 2
    if len(address) != half:
        return False  # an IPv4 subtree never holds an IPv6 address, and the reverse
    network, mask = constraint[:half], constraint[half:]
    return all(a & m == n & m for a, n, m in zip(address, network, mask))


def _dirname_within(constraint: tuple, name: tuple) -> bool:
    return name[:len(constraint)] == constraint


_WITHIN = {"dns": _dns_within, "email": _mailbox_within, "upn": _mailbox_within, "uri": _uri_within,
           "ip": _ip_within, "dirname": _dirname_within}


def _excluded_by(subtree: Subtree, name: Name) -> bool:
    if subtree.form == "dns":
        return _dns_may_be_within(subtree.value, name.value)
    return _WITHIN[subtree.form](subtree.value, name.value)


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------

def _finding(code: str, status: str, message: str, constraint=None, name=None) -> dict:
    return {"code": code, "windows_status": status, "message": message, "constraint": constraint, "name": name}


def _by_form(subtrees: tuple) -> dict:
    grouped: dict = {}
    for subtree in subtrees:
        grouped.setdefault(subtree.form, []).append(subtree)
    return grouped


@functools.lru_cache(maxsize=1024)
def _ca_findings(ca, end_cert) -> tuple:
    """What this CA's constraints say about the end certificate; the same on every path through it."""
    constraints = read(ca)
    if constraints is None:
        return ()
    subject = ca.subject.rfc4514_string()
    findings = []
    for status, reason in constraints.faults:
        if status == NOT_SUPPORTED:
            code, what = "name_constraint_unsupported", "has a name constraint Windows does not support"
        else:
            code, what = "name_constraints_invalid", "has a nameConstraints extension Windows cannot use"
        findings.append(_finding(code, status, f"'{subject}' {what}: {reason}. Windows fails every chain "
                                               f"through it ({status}, CERT_E_INVALID_NAME)."))
    if findings:
        return tuple(findings)
    permitted, excluded = _by_form(constraints.permitted), _by_form(constraints.excluded)
    for name in end_certificate_names(end_cert):
        subtree = next((s for s in excluded.get(name.form, ()) if _excluded_by(s, name)), None)
        if subtree is not None:
            wildcard = name.form == "dns" and name.value.startswith("*.")
            stands = "could stand for names" if wildcard else "is"
            findings.append(_finding(
                "name_excluded", EXCLUDED,
                f"'{subject}' excludes {_FORM_PHRASES[name.form]} {subtree.shown}; the server certificate's "
                f"name {name.shown} {stands} inside them.",
                {"kind": "excluded", "form": FORM_NAMES[name.form], "value": subtree.shown}, name.shown))
            continue
        allowed = permitted.get(name.form)
        if allowed and not any(_WITHIN[name.form](s.value, name.value) for s in allowed):
            shown = " or ".join(s.shown for s in allowed)
            findings.append(_finding(
                "name_not_permitted", NOT_PERMITTED,
                f"'{subject}' permits only {_FORM_PHRASES[name.form]} {shown}; the server certificate's name "
                f"{name.shown} is outside them.",
                {"kind": "permitted", "form": FORM_NAMES[name.form], "value": shown}, name.shown))
    return tuple(findings)


def check_path(path) -> list[dict]:
    """Findings for every CA of the path (index 1 up) whose name constraints fail the chain.

    Each finding: code (name_not_permitted, name_excluded, name_constraint_unsupported,
    name_constraints_invalid), windows_status (the CERT_TRUST_* flag), index of the CA carrying
    the constraint, message, constraint ({kind, form, value} or None) and name (the end
    certificate's name or None). Each CA is judged once per end certificate, however many
    candidate paths run through it.
    """
    findings = []
    for index in range(1, len(path)):
        for cached in _ca_findings(path[index], path[0]):
            # Copies, so a caller that edits a finding never changes the cache.
            constraint = dict(cached["constraint"]) if cached["constraint"] else None
            findings.append(dict(cached, index=index, constraint=constraint))
    return findings
