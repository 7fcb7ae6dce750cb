# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small test PKI builder: roots, intermediates and IP-HTTPS server certificates on demand.

Test helper only; never imported by the collection. Other unit tests may import it as
``ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils.pki``.

    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_type="ecdsa")
    server = pki.make_leaf("da.contoso.com", issuing)
    server.cert, server.key, server.pem, server.thumbprint
"""
from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE

_KEY_USAGE_FLAGS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def new_key(key_type: str = "rsa", key_size: int = 2048):
    """A fresh private key: 'rsa' (key_size bits), 'ecdsa' / 'ec' (P-256, P-384 with key_size=384) or 'ed25519'."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    if key_type in ("ecdsa", "ec"):
        curve = ec.SECP384R1() if key_size == 384 else ec.SECP256R1()
        return ec.generate_private_key(curve)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key_type {key_type!r}")


@dataclass(frozen=True)
class Issued:
    """A generated certificate with its private key."""

    cert: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def key_der(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def der_base64(self) -> str:
        """The DER in base64, as the Windows-side scripts send certificates."""
        return base64.b64encode(self.der).decode("ascii")

    @property
    def thumbprint(self) -> str:
        return hashlib.sha1(self.der).hexdigest().upper()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest().upper()

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @property
    def name(self) -> x509.Name:
        return self.cert.subject


def name(cn: str | None, organization: str | None = "Contoso Test") -> x509.Name:
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _ski(public_key) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def issue(cn: str | None = None, *, issuer: Issued | None = None, subject: x509.Name | None = None,
          issuer_name: x509.Name | None = None, key=None, key_type: str = "rsa", key_size: int = 2048,
          ca: bool = False, path_length: int | None = None, basic_constraints: bool = True,
          key_usage=None, eku=None, san_dns=(), san_ip=(), ski: bool = True, aki: bool | None = None,
          aki_value: bytes | None = None, aia_ca_issuers=(), crl_urls=(),
          not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
          valid_days: int = 365, signing_key=None, hash_algorithm=None, serial: int | None = None,
          extra_extensions=(), public_key=None, rsa_padding=None) -> Issued:
    """Build and sign one certificate.

    issuer: the signing CA (None: self-signed). subject/issuer_name override the DNs.
    key: the subject key (default: new key of key_type). signing_key overrides the key that signs
    (to forge a bad signature). key_usage: None for a sensible default, False to omit, or an
    iterable of flag names (key_cert_sign, crl_sign, digital_signature, ...). eku: iterable of
    ObjectIdentifier or dotted strings; None omits the extension. ski/aki: include the key
    identifiers (aki defaults to True when issued by another certificate); aki_value forces the
    AKI keyid. basic_constraints=False omits that extension. public_key puts another public key in
    the certificate (for keys cryptography will not generate, see small_rsa_public_key); rsa_padding
    signs with RSA-PSS when given padding.PSS.
    """
    key = key if key is not None else new_key(key_type, key_size)
    subject = subject if subject is not None else name(cn)
    if issuer is None:
        issuer_name = issuer_name if issuer_name is not None else subject
        signer = key
        issuer_public = key.public_key()
        issuer_has_ski = ski
    else:
        issuer_name = issuer_name if issuer_name is not None else issuer.cert.subject
        signer = issuer.key
        issuer_public = issuer.cert.public_key()
        try:
            issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            issuer_has_ski = True
        except x509.ExtensionNotFound:
            issuer_has_ski = False
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):  # a malformed issuer
            issuer_has_ski = True
    if signing_key is not None:
        signer = signing_key
    if aki is None:
        aki = issuer is not None and issuer_has_ski

    now = utcnow()
    not_before = not_before if not_before is not None else now - datetime.timedelta(days=1)
    not_after = not_after if not_after is not None else not_before + datetime.timedelta(days=valid_days)

    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_name)
               .public_key(public_key if public_key is not None else key.public_key())
               .serial_number(serial if serial is not None else x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after))
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    if key_usage is not False:
        if key_usage is None:
            flags = {"key_cert_sign", "crl_sign", "digital_signature"} if ca else {"digital_signature"}
            if not ca and isinstance(key, rsa.RSAPrivateKey):
                flags.add("key_encipherment")
        else:
            flags = set(key_usage)
        unknown = flags - set(_KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(f"unknown key usage flags {sorted(unknown)}")
        builder = builder.add_extension(
            x509.KeyUsage(**{flag: flag in flags for flag in _KEY_USAGE_FLAGS}), critical=True)
    if eku is not None:
        oids = [o if isinstance(o, x509.ObjectIdentifier) else x509.ObjectIdentifier(o) for o in eku]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    alt_names = [x509.DNSName(n) for n in san_dns]
    if san_ip:
        import ipaddress
        alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in san_ip]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(
            public_key if public_key is not None else key.public_key()), critical=False)
    if aki or aki_value is not None:
        keyid = aki_value if aki_value is not None else _ski(issuer_public)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier(key_identifier=keyid, authority_cert_issuer=None,
                                        authority_cert_serial_number=None), critical=False)
    if aia_ca_issuers:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u))
            for u in aia_ca_issuers]), critical=False)
    if crl_urls:
        builder = builder.add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint(full_name=[x509.UniformResourceIdentifier(u)], relative_name=None,
                                   reasons=None, crl_issuer=None)
            for u in crl_urls]), critical=False)
    for extension, critical in extra_extensions:
        builder = builder.add_extension(extension, critical=critical)

    if isinstance(signer, ed25519.Ed25519PrivateKey):
        algorithm = None
    else:
        algorithm = hash_algorithm if hash_algorithm is not None else hashes.SHA256()
    if rsa_padding is not None:
        return Issued(builder.sign(signer, algorithm, rsa_padding=rsa_padding), key)
    return Issued(builder.sign(signer, algorithm), key)


def pss_padding(hash_algorithm=None):
    """RSA-PSS padding as AD CS uses it (MGF1 with the same hash, salt as long as the digest)."""
    hash_algorithm = hash_algorithm or hashes.SHA256()
    return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)


def _is_probable_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _square in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def small_rsa_public_key(bits: int = 512):
    """An RSA public key shorter than cryptography will generate (it refuses under 1024 bits)."""
    import secrets
    half = bits // 2
    primes = []
    while len(primes) < 2:
        candidate = secrets.randbits(half) | (1 << (half - 1)) | (1 << (half - 2)) | 1
        if _is_probable_prime(candidate) and (candidate - 1) % 65537 and candidate not in primes:
            primes.append(candidate)
    return rsa.RSAPublicNumbers(65537, primes[0] * primes[1]).public_key()


# ---------------------------------------------------------------------------------------------
# DER surgery for what CertificateBuilder refuses: SHA-1 and MD5 signatures, repeated extensions
# ---------------------------------------------------------------------------------------------

SIGNATURE_ALGORITHMS = {
    # name: (AlgorithmIdentifier DER, hash or None when nothing can sign with it)
    "sha1_rsa": (bytes.fromhex("300d06092a864886f70d0101050500"), hashes.SHA1()),
    "md5_rsa": (bytes.fromhex("300d06092a864886f70d0101040500"), hashes.MD5()),
    "md2_rsa": (bytes.fromhex("300d06092a864886f70d0101020500"), None),
    "sha1_ecdsa": (bytes.fromhex("300906072a8648ce3d0401"), hashes.SHA1()),
    "sha256_rsa": (bytes.fromhex("300d06092a864886f70d01010b0500"), hashes.SHA256()),
    "sha256_ecdsa": (bytes.fromhex("300a06082a8648ce3d040302"), hashes.SHA256()),
}


def der_tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes((tag, len(body))) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + body


def der_children(raw: bytes) -> list[bytes]:
    """The DER elements inside one constructed element (whole TLVs)."""
    def header(pos):
        first = raw[pos + 1]
        if first < 0x80:
            return pos + 2, first
        count = first & 0x7F
        return pos + 2 + count, int.from_bytes(raw[pos + 2:pos + 2 + count], "big")
    start, length = header(0)
    children, pos = [], start
    while pos < start + length:
        body, size = header(pos)
        children.append(raw[pos:body + size])
        pos = body + size
    return children


def resign(cert: x509.Certificate, signer_key, algorithm: str, tbs_edit=None) -> x509.Certificate:
    """The certificate signed again by ``signer_key`` with ``algorithm`` (SIGNATURE_ALGORITHMS).

    tbs_edit(bytes) -> bytes may change the to-be-signed DER first (for example an OID). For md2
    the signature is random bytes: nothing signs MD2 any more, and only a root's own self-signature
    may use it, which is never verified.
    """
    import os
    alg_der, hash_algorithm = SIGNATURE_ALGORITHMS[algorithm]
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = der_children(der)[0]
    fields = der_children(tbs)
    index = 2 if fields[0][0] == 0xA0 else 1
    fields[index] = alg_der
    tbs = der_tlv(0x30, b"".join(fields))
    if tbs_edit is not None:
        tbs = tbs_edit(tbs)
    if hash_algorithm is None:
        signature = os.urandom(256)
    elif isinstance(signer_key, ec.EllipticCurvePrivateKey):
        signature = signer_key.sign(tbs, ec.ECDSA(hash_algorithm))
    else:
        signature = signer_key.sign(tbs, padding.PKCS1v15(), hash_algorithm)
    return x509.load_der_x509_certificate(der_tlv(0x30, tbs + alg_der + der_tlv(0x03, b"\x00" + signature)))


def make_root(cn: str = "Contoso Root CA", **kwargs) -> Issued:
    """Self-signed CA, as an AD CS standalone/enterprise root: SKI, no AKI, no EKU."""
    kwargs.setdefault("ca", True)
    kwargs.setdefault("valid_days", 3650)
    return issue(cn, **kwargs)


def make_intermediate(cn: str, issuer: Issued, **kwargs) -> Issued:
    kwargs.setdefault("ca", True)
    kwargs.setdefault("valid_days", 1825)
    return issue(cn, issuer=issuer, **kwargs)


def make_leaf(cn: str | None, issuer: Issued | None, **kwargs) -> Issued:
    """IP-HTTPS server certificate: Server Authentication EKU and the CN as SAN DNS name.

    Pass san_dns=() for a CN-only certificate, eku=None to omit the EKU extension,
    issuer=None for a self-signed server certificate.
    """
    kwargs.setdefault("eku", [SERVER_AUTH])
    if "san_dns" not in kwargs:
        kwargs["san_dns"] = (cn,) if cn else ()
    return issue(cn, issuer=issuer, **kwargs)


@dataclass(frozen=True)
class Hierarchy:
    root: Issued
    intermediate: Issued
    leaf: Issued

    @property
    def server_chain(self) -> list:
        """What a correctly configured server sends: leaf and intermediate, not the root."""
        return [self.leaf.cert, self.intermediate.cert]


def make_hierarchy(server_name: str = "da.contoso.com", *, prefix: str = "Contoso", root_key_type: str = "rsa",
                   intermediate_key_type: str = "rsa", leaf_key_type: str = "rsa", root_kwargs=None,
                   intermediate_kwargs=None, leaf_kwargs=None) -> Hierarchy:
    """Root -> issuing CA -> server certificate for ``server_name``."""
    root = make_root(f"{prefix} Root CA", key_type=root_key_type, **(root_kwargs or {}))
    intermediate = make_intermediate(f"{prefix} Issuing CA", root, key_type=intermediate_key_type,
                                     **(intermediate_kwargs or {}))
    leaf = make_leaf(server_name, intermediate, key_type=leaf_key_type, **(leaf_kwargs or {}))
    return Hierarchy(root, intermediate, leaf)


def pem_bundle(*items) -> str:
    """PEM text of the given Issued objects or certificates, in order."""
    certs = [item.cert if isinstance(item, Issued) else item for item in items]
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def tamper_signature(cert: x509.Certificate) -> x509.Certificate:
    """Same certificate with the last signature byte flipped (RSA signatures stay parseable)."""
    der = bytearray(cert.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_certificate(bytes(der))


# ---------------------------------------------------------------------------------------------
# Name constraints (2.5.29.30) and SAN entries of every form
# ---------------------------------------------------------------------------------------------

NAME_CONSTRAINTS_OID = x509.ObjectIdentifier("2.5.29.30")
UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")


def name_constraints(permitted=(), excluded=(), critical: bool = True) -> tuple:
    """An (extension, critical) pair for extra_extensions: subtrees as x509 GeneralName objects."""
    return (x509.NameConstraints(permitted_subtrees=list(permitted) or None,
                                 excluded_subtrees=list(excluded) or None), critical)


def general_subtree(base_der: bytes, minimum: int | None = None, maximum: int | None = None) -> bytes:
    """One GeneralSubtree in DER; minimum and maximum are what CertificateBuilder cannot write."""
    body = base_der
    if minimum is not None:
        body += der_tlv(0x80, minimum.to_bytes(max(1, (minimum.bit_length() + 8) // 8), "big"))
    if maximum is not None:
        body += der_tlv(0x81, maximum.to_bytes(max(1, (maximum.bit_length() + 8) // 8), "big"))
    return der_tlv(0x30, body)


def raw_name_constraints(permitted=(), excluded=(), critical: bool = True, value: bytes | None = None) -> tuple:
    """(extension, critical) built from GeneralSubtree DER (see general_subtree), or from a whole raw value.

    For what cryptography will not build: x400Address, ediPartyName, minimum/maximum, masks it
    refuses, empty or undecodable extensions.
    """
    if value is None:
        body = b""
        if permitted:
            body += der_tlv(0xA0, b"".join(permitted))
        if excluded:
            body += der_tlv(0xA1, b"".join(excluded))
        value = der_tlv(0x30, body)
    return (x509.UnrecognizedExtension(NAME_CONSTRAINTS_OID, value), critical)


def upn(text: str) -> x509.OtherName:
    """A user principal name (otherName 1.3.6.1.4.1.311.20.2.3), as AD CS writes it."""
    return x509.OtherName(UPN_OID, der_tlv(0x0C, text.encode("utf-8")))


def subject_alt_names(*names, critical: bool = False) -> tuple:
    """(extension, critical) with SAN entries of any form; pass san_dns=() to issue() with it."""
    return (x509.SubjectAlternativeName(list(names)), critical)
