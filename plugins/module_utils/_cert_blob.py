# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and read the ``Blob`` value a certificate deployment by Group Policy stores.

Internal to directaccess.iphttps; may change without notice. No ansible imports, no cryptography.

A Public Key Policies deployment keeps each certificate as the registry value ``Blob`` under
``HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\<Root|CA>\\Certificates\\<THUMBPRINT>``.
That value is not the bare DER: it is a serialized certificate store element, the output of
CertSerializeCertificateStoreElement ("serializes a certificate context's encoded certificate
and its encoded properties", Microsoft Learn, wincrypt.h). The layout, as Wine's crypt32
(dlls/crypt32/serialize.c, CRYPT_SerializeStoreElement and CRYPT_findPropID) describes it:

- a run of entries, each a 12-byte header of three little-endian DWORDs, property id, a reserved
  field that is always 1, and the data length, followed by that many data bytes (no padding);
- the certificate's properties first, then the certificate itself as the reserved property id 32
  (CERT_CERT_PROP_ID; CRLs and CTLs use 33 and 34) whose data is the DER certificate;
- a reader stops at a property id of 0 and refuses a reserved field other than 1 or a length
  that runs past the end.

Property ids are wincrypt.h's (Windows SDK): CERT_SHA1_HASH_PROP_ID 3 (the thumbprint, SHA-1 of
the DER), CERT_MD5_HASH_PROP_ID 4, CERT_FRIENDLY_NAME_PROP_ID 11 (UTF-16LE, NUL-terminated),
CERT_KEY_IDENTIFIER_PROP_ID 20. ``build_blob`` writes the SHA-1 property and the certificate, the
same two entries as a published regedit export of a Windows store entry (see docs/gpo.md).
"""
from __future__ import annotations

import hashlib
import struct
import typing as t

CERT_SHA1_HASH_PROP_ID = 3
CERT_MD5_HASH_PROP_ID = 4
CERT_FRIENDLY_NAME_PROP_ID = 11
CERT_KEY_IDENTIFIER_PROP_ID = 20
CERT_CERT_PROP_ID = 32
CERT_CRL_PROP_ID = 33
CERT_CTL_PROP_ID = 34

_HEADER = struct.Struct("<III")
_RESERVED = 1
# A CA certificate is a few KiB; a registry value this big is a mistake or abuse.
MAX_BLOB_BYTES = 1024 * 1024
# Windows writes a handful of properties per certificate; bound the loop on hostile input.
MAX_PROPERTIES = 64


class BlobError(ValueError):
    """The value is not a serialized certificate store element; the message names it and why."""


def _entry(prop_id: int, data: bytes) -> bytes:
    return _HEADER.pack(prop_id, _RESERVED, len(data)) + data


def _der_sequence_length(der: bytes) -> int | None:
    """Length of the outer DER SEQUENCE, header included, or None when it is not one."""
    if len(der) < 2 or der[0] != 0x30:
        return None
    first = der[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        return None
    return 2 + count + int.from_bytes(der[2:2 + count], "big")


def thumbprint_of(der: bytes) -> str:
    """Windows thumbprint: SHA-1 of the DER certificate, upper-case hex."""
    return hashlib.sha1(der).hexdigest().upper()


def build_blob(der: bytes, friendly_name: str | None = None) -> bytes:
    """The serialized store element for one DER certificate: its SHA-1 property, an optional
    friendly name, then the certificate."""
    if not isinstance(der, (bytes, bytearray)) or not der:
        raise BlobError("certificate: expected the DER bytes of a certificate")
    der = bytes(der)
    if _der_sequence_length(der) != len(der):
        raise BlobError("certificate: not a DER certificate (the bytes are not exactly one DER SEQUENCE)")
    parts = [_entry(CERT_SHA1_HASH_PROP_ID, hashlib.sha1(der).digest())]
    if friendly_name:
        parts.append(_entry(CERT_FRIENDLY_NAME_PROP_ID, (friendly_name + "\0").encode("utf-16-le")))
    parts.append(_entry(CERT_CERT_PROP_ID, der))
    blob = b"".join(parts)
    if len(blob) > MAX_BLOB_BYTES:
        raise BlobError(f"certificate: {len(der)} bytes is too large for a store element (limit {MAX_BLOB_BYTES})")
    return blob


def parse_blob(blob: t.Any, source: str = "Blob", expected_thumbprint: str | None = None) -> dict:
    """Read a serialized certificate store element.

    Returns ``{"der", "thumbprint", "properties"}`` (property id -> data, the certificate's own
    entry left out). Raises BlobError naming ``source`` for anything that is not exactly one
    well-formed certificate element, including a SHA-1 property or an ``expected_thumbprint``
    (the registry key's name) that disagrees with the certificate's bytes.
    """
    if isinstance(blob, bytearray):
        blob = bytes(blob)
    if not isinstance(blob, bytes):
        raise BlobError(f"{source}: expected binary data, got {type(blob).__name__}")
    if not blob:
        raise BlobError(f"{source}: empty value, no certificate")
    if len(blob) > MAX_BLOB_BYTES:
        raise BlobError(f"{source}: {len(blob)} bytes, more than the {MAX_BLOB_BYTES} a certificate element may hold")
    properties: dict[int, bytes] = {}
    der: bytes | None = None
    offset = 0
    count = 0
    while offset < len(blob):
        if len(blob) - offset < _HEADER.size:
            raise BlobError(f"{source}: truncated property header at offset {offset} "
                            f"({len(blob) - offset} bytes left, a header takes {_HEADER.size})")
        prop_id, reserved, length = _HEADER.unpack_from(blob, offset)
        if prop_id == 0:
            # CryptoAPI's reader takes a zero id as the end of the element; nothing may follow.
            if any(blob[offset:]):
                raise BlobError(f"{source}: property id 0 at offset {offset} followed by data")
            break
        count += 1
        if count > MAX_PROPERTIES:
            raise BlobError(f"{source}: more than {MAX_PROPERTIES} properties")
        if reserved != _RESERVED:
            raise BlobError(f"{source}: property {prop_id} at offset {offset} has reserved field {reserved}, "
                            f"expected {_RESERVED}")
        start = offset + _HEADER.size
        if length > len(blob) - start:
            raise BlobError(f"{source}: property {prop_id} at offset {offset} claims {length} bytes, "
                            f"only {len(blob) - start} follow")
        data = blob[start:start + length]
        offset = start + length
        if prop_id in (CERT_CRL_PROP_ID, CERT_CTL_PROP_ID):
            kind = "CRL" if prop_id == CERT_CRL_PROP_ID else "CTL"
            raise BlobError(f"{source}: holds a {kind} (property {prop_id}), not a certificate")
        if prop_id in properties or (prop_id == CERT_CERT_PROP_ID and der is not None):
            raise BlobError(f"{source}: property {prop_id} appears twice")
        if prop_id == CERT_CERT_PROP_ID:
            der = data
        else:
            properties[prop_id] = data
    if der is None:
        raise BlobError(f"{source}: no certificate (property {CERT_CERT_PROP_ID}) in the element")
    if _der_sequence_length(der) != len(der):
        raise BlobError(f"{source}: the certificate property is not exactly one DER SEQUENCE")
    thumb = thumbprint_of(der)
    recorded = properties.get(CERT_SHA1_HASH_PROP_ID)
    if recorded is not None and recorded.hex().upper() != thumb:
        raise BlobError(f"{source}: its SHA-1 property says {recorded.hex().upper()}, "
                        f"but the certificate's SHA-1 is {thumb}")
    if expected_thumbprint is not None and expected_thumbprint.upper() != thumb:
        raise BlobError(f"{source}: stored under thumbprint {expected_thumbprint.upper()}, "
                        f"but the certificate's SHA-1 is {thumb}")
    return {"der": der, "thumbprint": thumb, "properties": properties}
