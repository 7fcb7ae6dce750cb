# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load X.509 certificates from the formats admins have at hand, and say who they are.

Internal to directaccess.iphttps; may change without notice. Controller side only, no ansible
imports. Callers must check HAS_CRYPTOGRAPHY before use and report CRYPTOGRAPHY_IMPORT_ERROR.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import re
import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

# Biggest CA bundles in the wild are well under 1 MiB; anything larger is a mistake or abuse.
MAX_INPUT_BYTES = 10 * 1024 * 1024

_FINGERPRINT_HEX_DIGITS = {"sha1": 40, "sha256": 64}
_FINGERPRINT_LABEL = {"sha1": "SHA-1 thumbprint", "sha256": "SHA-256 fingerprint"}
# Copying a thumbprint from the Windows certificate dialog brings along an invisible
# left-to-right mark (U+200E); strip it and its relatives so pasted values just work.
_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\ufeff\u200b"), None)

_PEM_BEGIN_RE = re.compile(rb"-----BEGIN ([A-Z0-9 #]+?)-----")
_BASE64_RE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
_WHITESPACE_RE = re.compile(rb"\s+")

_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")
_PKCS7_LABELS = (b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS")
_CSR_LABELS = (b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# DER OIDs (tag, length, value) used to recognise a PKCS#12 archive without a password.
_OID_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")
_OID_PKCS7_SIGNED = bytes.fromhex("06092a864886f70d010702")


class CertificateError(ValueError):
    """Input is not usable as certificates; the message names the input and the reason."""


def _fail(source: str, reason: str) -> CertificateError:
    return CertificateError(f"{source}: {reason}")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def load_certificates(data: bytes | str, source: str) -> list:
    """Return every certificate in ``data`` (leaf-first order of the input is kept).

    Accepts PEM (one or many blocks, any text around them), DER, PKCS#7 in PEM or DER, and
    bare base64 DER. Refuses the whole input on a private key, CSR, CRL, PKCS#12, public key,
    truncated or unparseable data, empty input or input over MAX_INPUT_BYTES.
    """
    raw = _to_bytes(data, source)
    raw = _strip_bom(raw, source)
    if not raw.strip():
        raise _fail(source, "is empty")
    if b"-----BEGIN " in raw:
        certs = _load_pem(raw, source)
    elif raw[:1] == b"\x30" and _der_length_matches(raw):
        certs = _load_der(raw, source, "DER")
    elif _looks_like_base64(raw):
        certs = _load_der(_decode_base64(raw, source, "base64 text"), source, "base64 DER")
    elif raw[:1] == b"\x30":
        certs = _load_der(raw, source, "DER")
    else:
        raise _fail(source, "is not a certificate: not PEM, DER, PKCS#7 or base64-encoded DER")
    if not certs:
        raise _fail(source, "contains no certificates")
    return certs


def _to_bytes(data, source: str) -> bytes:
    if isinstance(data, str):
        # Each character is at least one byte, so this check is safe before encoding.
        if len(data) > MAX_INPUT_BYTES:
            raise _fail(source, f"is larger than {MAX_INPUT_BYTES} bytes (10 MiB); refusing to parse it")
        raw = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    else:
        raise _fail(source, f"expected bytes or text, got {type(data).__name__}")
    if len(raw) > MAX_INPUT_BYTES:
        raise _fail(source, f"is larger than {MAX_INPUT_BYTES} bytes (10 MiB); refusing to parse it")
    return raw


def _strip_bom(raw: bytes, source: str) -> bytes:
    if raw.startswith(_UTF8_BOM):
        return raw[len(_UTF8_BOM):]
    # Windows PowerShell 5.1 writes UTF-16 with a BOM by default (Out-File, '>').
    if raw[:2] in _UTF16_BOMS:
        try:
            return raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise _fail(source, "starts with a UTF-16 byte order mark but is not valid UTF-16 text") from None
    return raw


def _pem_blocks(raw: bytes, source: str) -> list[tuple[bytes, bytes]]:
    """(label, body) of each PEM block, in order. One linear pass, since input may come from
    the network and a regex with backtracking over 10 MiB of crafted BEGIN lines is too slow."""
    blocks = []
    pos = 0
    while True:
        begin = _PEM_BEGIN_RE.search(raw, pos)
        if begin is None:
            return blocks
        label = begin.group(1)
        end_marker = b"-----END " + label + b"-----"
        end = raw.find(end_marker, begin.end())
        if end < 0 or raw.find(b"-----BEGIN ", begin.end(), end) >= 0:
            name = label.decode("ascii")
            raise _fail(source, f"is truncated or malformed PEM: '-----BEGIN {name}-----' has no matching END line")
        blocks.append((label, raw[begin.end():end]))
        pos = end + len(end_marker)


def _load_pem(raw: bytes, source: str) -> list:
    # Look at every label before decoding anything, so a key anywhere refuses the whole input.
    if any(b"PRIVATE KEY" in m.group(1) for m in _PEM_BEGIN_RE.finditer(raw)):
        raise _fail(source, "contains a private key; only certificates are accepted, so the whole input is refused")
    blocks = _pem_blocks(raw, source)
    certs: list = []
    for index, (label, body) in enumerate(blocks, start=1):
        name = label.decode("ascii")
        where = f"PEM block {index} ({name})"
        if label in _CSR_LABELS:
            raise _fail(source, f"{where} is a certificate signing request (CSR), not a certificate")
        if label == b"X509 CRL":
            raise _fail(source, f"{where} is a certificate revocation list (CRL), not a certificate")
        if label.endswith(b"PUBLIC KEY"):
            raise _fail(source, f"{where} is a bare public key, not a certificate")
        if label == b"TRUSTED CERTIFICATE":
            raise _fail(source, f"{where}: OpenSSL trusted-certificate blocks are not supported; export a plain certificate")
        if label not in _CERT_LABELS and label not in _PKCS7_LABELS:
            raise _fail(source, f"{where} is not a certificate (unsupported PEM type {name!r})")
        der = _decode_base64(body, source, where)
        if label in _PKCS7_LABELS:
            certs.extend(_load_pkcs7_der(der, source, where))
        else:
            certs.append(_load_cert_der(der, source, where))
    return certs


def _looks_like_base64(raw: bytes) -> bool:
    compact = _WHITESPACE_RE.sub(b"", raw)
    return bool(compact) and _BASE64_RE.match(compact) is not None


def _decode_base64(text: bytes, source: str, where: str) -> bytes:
    compact = _WHITESPACE_RE.sub(b"", text)
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(source, f"{where} is not valid base64 (truncated or corrupt)") from None
    if not der:
        raise _fail(source, f"{where} is empty")
    return der


def _der_header(raw: bytes, pos: int = 0):
    """Return (tag, value_start, value_end) of the DER element at pos, or None if malformed."""
    if pos + 2 > len(raw):
        return None
    tag = raw[pos]
    first = raw[pos + 1]
    if first < 0x80:
        length, start = first, pos + 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + 2 + count > len(raw):
            return None
        length = int.from_bytes(raw[pos + 2:pos + 2 + count], "big")
        start = pos + 2 + count
    return tag, start, start + length


def _der_length_matches(raw: bytes) -> bool:
    header = _der_header(raw)
    return header is not None and header[2] == len(raw)


def _load_der(der: bytes, source: str, where: str) -> list:
    if der[:1] != b"\x30":
        raise _fail(source, f"{where} is not a certificate: not PEM, DER, PKCS#7 or base64-encoded DER")
    header = _der_header(der)
    if header is None or header[2] > len(der):
        _refuse_non_certificate(der, source, where)
        raise _fail(source, f"{where} is truncated: the data ends before the DER structure does")
    try:
        return [x509.load_der_x509_certificate(der)]
    except (ValueError, x509.InvalidVersion):  # InvalidVersion is no ValueError
        pass
    try:
        return _parse_pkcs7_der(der)
    except ValueError as exc:
        if _is_pkcs7_signed_data(der):
            raise _fail(source, f"{where} is PKCS#7 without readable certificates: {exc}") from None
    _refuse_non_certificate(der, source, where)
    if header[2] < len(der):
        raise _fail(source, f"{where} has {len(der) - header[2]} bytes of unexpected data after the DER structure")
    raise _fail(source, f"{where} is not a certificate: the DER structure cannot be parsed (corrupt or unsupported)")


def _load_cert_der(der: bytes, source: str, where: str):
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
        _refuse_non_certificate(der, source, where)
        raise _fail(source, f"{where} cannot be parsed as a certificate (truncated or corrupt): {exc}") from None


def _load_pkcs7_der(der: bytes, source: str, where: str) -> list:
    try:
        return _parse_pkcs7_der(der)
    except ValueError as exc:
        raise _fail(source, f"{where} cannot be parsed as PKCS#7 (truncated or corrupt): {exc}") from None


def _parse_pkcs7_der(der: bytes) -> list:
    try:
        return list(pkcs7.load_der_pkcs7_certificates(der))
    except UnsupportedAlgorithm as exc:  # e.g. PKCS#7 that is not SignedData
        raise ValueError(str(exc)) from None


def _refuse_non_certificate(der: bytes, source: str, where: str) -> None:
    """Raise a precise refusal if ``der`` is a known non-certificate object."""
    # Never pass exception text on here: a key parser's message could quote key material.
    try:
        serialization.load_der_private_key(der, password=None)
    except TypeError:  # encrypted key: the parser wanted a password, so it is a key
        raise _fail(source, f"{where} contains a private key; only certificates are accepted") from None
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        raise _fail(source, f"{where} contains a private key; only certificates are accepted")
    if _is_pkcs12(der):
        raise _fail(source, f"{where} is a PKCS#12 (PFX) archive, which normally carries a private key; "
                            "supply only the certificates (PEM, DER or PKCS#7)")
    for loader, what in ((x509.load_der_x509_csr, "a certificate signing request (CSR)"),
                         (x509.load_der_x509_crl, "a certificate revocation list (CRL)"),
                         (serialization.load_der_public_key, "a bare public key")):
        try:
            loader(der)
        except (ValueError, UnsupportedAlgorithm):
            continue
        raise _fail(source, f"{where} is {what}, not a certificate")


def _is_pkcs7_signed_data(der: bytes) -> bool:
    # ContentInfo ::= SEQUENCE { contentType OID signedData, content [0] } (RFC 2315)
    outer = _der_header(der)
    return outer is not None and outer[0] == 0x30 and \
        der[outer[1]:outer[1] + len(_OID_PKCS7_SIGNED)] == _OID_PKCS7_SIGNED


def _is_pkcs12(der: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, macData OPTIONAL } (RFC 7292)
    outer = _der_header(der)
    if outer is None or outer[0] != 0x30:
        return False
    version = _der_header(der, outer[1])
    if version is None or version[0] != 0x02 or der[version[1]:version[2]] != b"\x03":
        return False
    content = _der_header(der, version[2])
    if content is None or content[0] != 0x30:
        return False
    oid = der[content[1]:content[1] + len(_OID_PKCS7_DATA)]
    return oid in (_OID_PKCS7_DATA, _OID_PKCS7_SIGNED)


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------

# Pools of 5,000 certificates are analysed: a smaller cache would evict them between passes.
@functools.lru_cache(maxsize=8192)
def _digests(cert) -> tuple[str, str]:
    # Path building asks for the same certificates' thumbprints over and over, and cryptography
    # re-encodes the DER on every public_bytes call. Certificates hash and compare by their DER.
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def thumbprint(cert) -> str:
    """Windows thumbprint: SHA-1 of the DER certificate, upper-case hex."""
    return _digests(cert)[0]


def sha256_fingerprint(cert) -> str:
    """SHA-256 of the DER certificate, upper-case hex without separators."""
    return _digests(cert)[1]


def normalize_fingerprint(text: str, kind: str = "sha256") -> str:
    """Upper-case hex without separators; accepts any case, colons, spaces and dashes."""
    if kind not in _FINGERPRINT_HEX_DIGITS:
        raise ValueError(f"kind must be 'sha256' or 'sha1', got {kind!r}")
    label = _FINGERPRINT_LABEL[kind]
    if not isinstance(text, str):
        raise CertificateError(f"{text!r}: expected a {label} as text, got {type(text).__name__}")
    compact = re.sub(r"[\s:\-]", "", text.translate(_INVISIBLE))
    if not re.fullmatch(r"[0-9A-Fa-f]*", compact):
        raise CertificateError(f"{text!r}: not a valid {label}: contains characters other than hex digits")
    expected = _FINGERPRINT_HEX_DIGITS[kind]
    if len(compact) != expected:
        raise CertificateError(f"{text!r}: not a valid {label}: expected {expected} hex digits, got {len(compact)}")
    return compact.upper()


def to_pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _extension_errors() -> tuple:
    # What cryptography raises when it parses a certificate's extensions on first access:
    # malformed DER (ValueError), a repeated extension, unsupported forms (TypeError).
    return (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def _extension(cert, ext_class):
    """The extension's value, or None when it is absent or the extensions cannot be parsed.

    Unparseable extensions are reported by extension_fault(); every reader here tolerates them,
    so one malformed certificate never crashes a diagnosis.
    """
    try:
        return cert.extensions.get_extension_for_class(ext_class).value
    except x509.ExtensionNotFound:
        return None
    except _extension_errors():
        return None


def _der_encode(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def _der_elements(raw: bytes, start: int, end: int):
    """(tag, element_start, value_start, value_end) of each DER element in raw[start:end], or None."""
    elements, pos = [], start
    while pos < end:
        header = _der_header(raw, pos)
        if header is None or header[2] > end:
            return None
        elements.append((header[0], pos, header[1], header[2]))
        pos = header[2]
    return elements


def _oid_string(body: bytes) -> str:
    parts, value = [], 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        return "?"
    first = min(parts[0] // 40, 2)
    return ".".join(str(p) for p in [first, parts[0] - 40 * first] + parts[1:])


def _failing_extension_oid(cert) -> str | None:
    """OID of the first extension that cryptography cannot parse on its own.

    cryptography's error does not always name the extension, so each extension is loaded alone
    in a copy of the certificate (the copy's signature is irrelevant: it is only parsed).
    """
    der = cert.public_bytes(serialization.Encoding.DER)
    outer = _der_elements(der, 0, len(der))
    if not outer or outer[0][0] != 0x30:
        return None
    cert_parts = _der_elements(der, outer[0][2], outer[0][3])
    if not cert_parts or len(cert_parts) != 3:
        return None
    tbs = cert_parts[0]
    fields = _der_elements(der, tbs[2], tbs[3])
    if not fields or fields[-1][0] != 0xA3:
        return None
    wrapper = _der_elements(der, fields[-1][2], fields[-1][3])
    if not wrapper:
        return None
    extensions = _der_elements(der, wrapper[0][2], wrapper[0][3]) or []
    head = der[tbs[2]:fields[-1][1]]
    tail = der[cert_parts[1][1]:cert_parts[2][3]]
    for _tag, ext_start, value_start, value_end in extensions:
        inner = _der_elements(der, value_start, value_end)
        oid = _oid_string(der[inner[0][2]:inner[0][3]]) if inner and inner[0][0] == 0x06 else None
        single = _der_encode(0xA3, _der_encode(0x30, der[ext_start:value_end]))
        copy = _der_encode(0x30, _der_encode(0x30, head + single) + tail)
        try:
            alone = x509.load_der_x509_certificate(copy)
        except ValueError:  # the copy itself does not load: this extension cannot be singled out
            continue
        try:
            alone.extensions
        except _extension_errors():
            return oid
    return None


def extension_fault(cert) -> dict | None:
    """None when the extensions parse; else {'oid': dotted OID or None, 'reason': text}."""
    try:
        cert.extensions
    except x509.DuplicateExtension as exc:
        return {"oid": exc.oid.dotted_string, "reason": "appears more than once"}
    except _extension_errors() as exc:
        return {"oid": _failing_extension_oid(cert), "reason": f"cannot be parsed ({exc})"}
    return None


def basic_constraints(cert):
    """The BasicConstraints value, or None when the extension is absent."""
    return _extension(cert, x509.BasicConstraints)


def is_ca(cert) -> bool:
    constraints = basic_constraints(cert)
    return bool(constraints is not None and constraints.ca)


def subject_key_id(cert) -> bytes | None:
    ski = _extension(cert, x509.SubjectKeyIdentifier)
    return ski.digest if ski is not None else None


def authority_key_id(cert) -> bytes | None:
    aki = _extension(cert, x509.AuthorityKeyIdentifier)
    return aki.key_identifier if aki is not None else None


def extended_key_usages(cert) -> list[str] | None:
    """Dotted EKU OIDs, or None when the extension is absent (which means any usage)."""
    eku = _extension(cert, x509.ExtendedKeyUsage)
    return None if eku is None else [oid.dotted_string for oid in eku]


def _normalize_value(value):
    # RFC 5280 section 7.1 (after RFC 4518): compare case-insensitively with whitespace folded;
    # the string type (PrintableString versus UTF8String) does not matter (PKITS 4.3.3-4.3.11).
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    return value


def name_key(name) -> tuple:
    """Hashable form of a distinguished name for RFC 5280 section 7.1 comparison."""
    return tuple(
        frozenset((attr.oid.dotted_string, _normalize_value(attr.value)) for attr in rdn)
        for rdn in name.rdns
    )


def names_match(first, second) -> bool:
    """Distinguished names equal under RFC 5280 section 7.1 rules (RDN order matters)."""
    return name_key(first) == name_key(second)


# What cryptography raises when it decodes a name on first access, which it does lazily: malformed
# DER or a value it cannot represent (ValueError), a value type that does not fit its OID (TypeError).
_NAME_ERRORS = (ValueError, TypeError)


# Name value types read straight from the DER (what AD CS and nearly every CA writes), and the
# characters PrintableString allows (X.680 41.4). Anything else is left to cryptography.
_UTF8_STRING, _PRINTABLE_STRING, _IA5_STRING = 0x0C, 0x13, 0x16
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _valid_oid(body: bytes) -> bool:
    # Each arc base-128, minimal (no leading 0x80 byte), the last byte of the OID ending an arc.
    if not body or body[-1] & 0x80:
        return False
    return all(not (byte == 0x80 and (index == 0 or not body[index - 1] & 0x80)) for index, byte in enumerate(body))


@functools.lru_cache(maxsize=256)
def _attribute_type(body: bytes) -> str | None:
    """Dotted form of a name attribute's OID (a handful of distinct ones), None when malformed."""
    return _oid_string(body) if _valid_oid(body) else None


@functools.lru_cache(maxsize=16384)
def _der_name_key(name: bytes) -> tuple | None:
    """name_key() of a Name from the contents of its DER SEQUENCE, or None when it holds anything
    but single-valued RDNs of well-formed UTF8String, PrintableString or IA5String values: then
    cryptography parses it and decides. Issuer names repeat across a store, hence the cache."""
    rdns = _der_elements(name, 0, len(name))
    if rdns is None:
        return None
    key = []
    for tag, _begin, value_start, value_end in rdns:
        attributes = _der_elements(name, value_start, value_end) if tag == 0x31 else None
        if not attributes or len(attributes) > 1:  # multi-valued RDNs (rare) have rules of their own
            return None
        attribute_tag, _attribute_begin, attribute_start, attribute_end = attributes[0]
        parts = _der_elements(name, attribute_start, attribute_end) if attribute_tag == 0x30 else None
        if not parts or len(parts) != 2 or parts[0][0] != 0x06:
            return None
        oid = _attribute_type(name[parts[0][2]:parts[0][3]])
        value_tag, value = parts[1][0], name[parts[1][2]:parts[1][3]]
        if oid is None:
            return None
        if value_tag == _UTF8_STRING:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                return None
        elif (value_tag == _PRINTABLE_STRING and _PRINTABLE.issuperset(value)) or \
                (value_tag == _IA5_STRING and value.isascii()):
            text = value.decode("ascii")
        else:
            return None
        key.append(frozenset(((oid, _normalize_value(text)),)))
    return tuple(key)


def _der_name_keys(cert) -> tuple | None:
    """(subject key, issuer key) read from the TBS DER, or None to let cryptography parse the names."""
    tbs = cert.tbs_certificate_bytes
    outer = _der_header(tbs)
    if outer is None or outer[0] != 0x30 or outer[2] != len(tbs):
        return None
    fields = _der_elements(tbs, outer[1], outer[2])
    if not fields:
        return None
    first = 1 if fields[0][0] == 0xA0 else 0  # [0] version, absent in v1 certificates
    expected = (0x02, 0x30, 0x30, 0x30, 0x30)  # serial, signature, issuer, validity, subject
    if len(fields) < first + 5 or tuple(f[0] for f in fields[first:first + 5]) != expected:
        return None
    issuer, subject = fields[first + 2], fields[first + 4]
    subject_key = _der_name_key(tbs[subject[2]:subject[3]])
    issuer_key = _der_name_key(tbs[issuer[2]:issuer[3]])
    return None if subject_key is None or issuer_key is None else (subject_key, issuer_key)


@functools.lru_cache(maxsize=8192)
def _names(cert) -> tuple:
    """(subject key, issuer key, fault). cryptography builds a new Name on every access to
    .subject or .issuer, and a 5,000-certificate pool spends most of its time there, so plain names
    are keyed straight from the DER (test_fuzz_certificates checks both ways agree). A key is None,
    and the fault says why, when that name cannot be parsed; once every value has decoded for
    name_key(), rfc4514_string() cannot fail either."""
    fast = _der_name_keys(cert)
    if fast is not None:
        return fast[0], fast[1], None
    keys, fault = {}, None
    for field in ("subject", "issuer"):
        try:
            keys[field] = name_key(getattr(cert, field))
        except _NAME_ERRORS as exc:
            keys[field] = None
            fault = fault or f"its {field} name cannot be parsed ({exc})"
    return keys["subject"], keys["issuer"], fault


def name_fault(cert) -> str | None:
    """None when the subject and issuer names parse; else why not, naming the field."""
    return _names(cert)[2]


def subject_name_key(cert) -> tuple | None:
    """name_key() of the subject, or None when it cannot be parsed."""
    return _names(cert)[0]


def issuer_name_key(cert) -> tuple | None:
    """name_key() of the issuer, or None when it cannot be parsed."""
    return _names(cert)[1]


def name_text(cert, field: str = "subject") -> str:
    """The subject (or issuer) in RFC 4514 form; a placeholder when it cannot be parsed, so
    describing a broken certificate never fails (name_fault says why)."""
    try:
        return getattr(cert, field).rfc4514_string()
    except _NAME_ERRORS:
        return f"(unreadable {field} name)"


def is_self_issued(cert) -> bool:
    """Subject and issuer are the same name; a name that cannot be parsed matches nothing."""
    subject = subject_name_key(cert)
    return subject is not None and subject == issuer_name_key(cert)


def is_signed_by(cert, issuer) -> bool:
    """True when ``issuer``'s public key verifies ``cert``'s signature. Names are not compared.

    cryptography's verify_directly_issued_by also demands byte-equal names and does not do DSA;
    chain building compares names itself, so only the signature is checked here.
    """
    try:
        key = issuer.public_key()
        signature = cert.signature
        tbs = cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            # PKCS#1 v1.5 or the certificate's RSA-PSS parameters.
            key.verify(signature, tbs, cert.signature_algorithm_parameters, cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            # Built from the hash: cryptography gives no parameters for ecdsa-with-SHA1, which
            # Windows accepts under enterprise roots (the SHA-1 deprecation covers its root program).
            key.verify(signature, tbs, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, tbs, cert.signature_hash_algorithm)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        # TypeError: signature algorithm does not fit the key type (e.g. ECDSA params, RSA key).
        return False
    return True


def is_self_signed(cert) -> bool:
    return is_self_issued(cert) and is_signed_by(cert, cert)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def common_name(cert) -> str | None:
    try:
        values = [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    except _NAME_ERRORS:
        return None
    return str(values[0]) if values else None


def san_dns_names(cert) -> list[str]:
    san = _extension(cert, x509.SubjectAlternativeName)
    return [] if san is None else list(san.get_values_for_type(x509.DNSName))


def _aia_ca_issuers(cert) -> list[str]:
    aia = _extension(cert, x509.AuthorityInformationAccess)
    if aia is None:
        return []
    return [desc.access_location.value for desc in aia
            if desc.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(desc.access_location, x509.UniformResourceIdentifier)]


def _crl_urls(cert) -> list[str]:
    cdp = _extension(cert, x509.CRLDistributionPoints)
    urls: list[str] = []
    for point in cdp or ():
        for general_name in point.full_name or ():
            if isinstance(general_name, x509.UniformResourceIdentifier):
                urls.append(general_name.value)
    return urls


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex().upper()


def describe(cert) -> dict:
    """Identity and the extensions chain analysis cares about, as plain JSON-friendly values."""
    constraints = basic_constraints(cert)
    self_issued = is_self_issued(cert)
    return {
        "thumbprint": thumbprint(cert),
        "sha256": sha256_fingerprint(cert),
        "subject": name_text(cert, "subject"),
        "issuer": name_text(cert, "issuer"),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "is_ca": bool(constraints is not None and constraints.ca),
        "path_length": constraints.path_length if constraints is not None else None,
        "ski": _hex(subject_key_id(cert)),
        "aki": _hex(authority_key_id(cert)),
        "eku": extended_key_usages(cert) or [],
        "san_dns": san_dns_names(cert),
        "common_name": common_name(cert),
        "aia_ca_issuers": _aia_ca_issuers(cert),
        "crl_urls": _crl_urls(cert),
        "self_issued": self_issued,
        "self_signed": self_issued and is_signed_by(cert, cert),
        "pem": to_pem(cert),
    }


def issued_by(cert, issuer) -> bool:
    """``issuer`` is a possible issuer of ``cert``: the names chain and its key verifies the signature.

    Stricter than a key-identifier match alone, as vetting wants: a same-name certificate with
    another key (a CA key rollover) is not the issuer. A name that cannot be parsed matches nothing.
    """
    issuer_name = issuer_name_key(cert)
    return issuer_name is not None and issuer_name == subject_name_key(issuer) and is_signed_by(cert, issuer)
