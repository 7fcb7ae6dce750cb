# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading and identity of certificates (_certificate)."""
from __future__ import annotations

import base64
import datetime
import hashlib
import importlib.util
import re
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.directaccess.iphttps.plugins.module_utils import _certificate as certificate
from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    MAX_INPUT_BYTES,
    CertificateError,
    describe,
    is_ca,
    is_self_signed,
    is_signed_by,
    load_certificates,
    names_match,
    normalize_fingerprint,
    sha256_fingerprint,
    thumbprint,
    to_pem,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

SOURCE = "ca_bundle sources[0] (path /srv/pki/contoso.pem)"


def der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def refused(data, reason_pattern: str) -> str:
    with pytest.raises(CertificateError) as err:
        load_certificates(data, SOURCE)
    message = str(err.value)
    assert message.startswith(SOURCE + ": "), message
    assert re.search(reason_pattern, message), message
    return message


# ---------------------------------------------------------------------------------------------
# Accepted formats
# ---------------------------------------------------------------------------------------------

def test_single_pem(contoso):
    assert load_certificates(contoso.root.pem, SOURCE) == [contoso.root.cert]


def test_pem_bundle_keeps_order_and_ignores_text_between_blocks(contoso):
    text = ("Contoso chain, exported 2026-01-01\n" + contoso.leaf.pem + "\nnext: issuing CA\n"
            + contoso.intermediate.pem + "# and the root\n" + contoso.root.pem + "trailing words\n")
    assert load_certificates(text, SOURCE) == [contoso.leaf.cert, contoso.intermediate.cert, contoso.root.cert]


def test_pem_with_openssl_bag_attributes(contoso):
    text = (
        "Bag Attributes\n"
        "    localKeyID: 01 00 00 00\n"
        "    friendlyName: da.contoso.com\n"
        "subject=/O=Contoso Test/CN=Contoso Issuing CA\n"
        "issuer=/O=Contoso Test/CN=Contoso Root CA\n"
        + contoso.intermediate.pem
        + "Bag Attributes: <No Attributes>\nsubject=/O=Contoso Test/CN=Contoso Root CA\n"
        + contoso.root.pem
    )
    assert load_certificates(text.encode(), SOURCE) == [contoso.intermediate.cert, contoso.root.cert]


def test_pem_with_crlf_line_ends(contoso):
    text = pki.pem_bundle(contoso.intermediate, contoso.root.cert).replace("\n", "\r\n")
    assert load_certificates(text.encode("ascii"), SOURCE) == [contoso.intermediate.cert, contoso.root.cert]


def test_pem_with_utf8_bom_as_bytes_and_text(contoso):
    assert load_certificates(b"\xef\xbb\xbf" + contoso.root.pem.encode(), SOURCE) == [contoso.root.cert]
    assert load_certificates("\ufeff" + contoso.root.pem, SOURCE) == [contoso.root.cert]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_pem_written_as_utf16_by_windows_powershell(contoso, encoding):
    data = contoso.root.pem.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    assert load_certificates(data, SOURCE) == [contoso.root.cert]


def test_der(contoso):
    assert load_certificates(contoso.intermediate.der, SOURCE) == [contoso.intermediate.cert]


def test_bytearray_and_memoryview(contoso):
    assert load_certificates(bytearray(contoso.root.der), SOURCE) == [contoso.root.cert]
    assert load_certificates(memoryview(contoso.root.der), SOURCE) == [contoso.root.cert]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_pkcs7(contoso, encoding):
    blob = pkcs7.serialize_certificates([contoso.intermediate.cert, contoso.root.cert], encoding)
    if encoding == serialization.Encoding.PEM:
        assert blob.startswith(b"-----BEGIN PKCS7-----")
    loaded = load_certificates(blob, SOURCE)
    assert sorted(map(thumbprint, loaded)) == sorted([contoso.intermediate.thumbprint, contoso.root.thumbprint])


def test_pkcs7_pem_mixed_with_certificate_blocks(contoso):
    p7 = pkcs7.serialize_certificates([contoso.root.cert], serialization.Encoding.PEM).decode()
    loaded = load_certificates(contoso.intermediate.pem + p7, SOURCE)
    assert loaded == [contoso.intermediate.cert, contoso.root.cert]


def test_bare_base64_der_with_whitespace(contoso):
    encoded = base64.b64encode(contoso.root.der).decode()
    wrapped = "\n".join(encoded[i:i + 64] for i in range(0, len(encoded), 64))
    assert load_certificates(encoded, SOURCE) == [contoso.root.cert]
    assert load_certificates("  " + wrapped.replace("\n", "\r\n ") + "\n", SOURCE) == [contoso.root.cert]


def test_x509_certificate_pem_label(contoso):
    text = contoso.root.pem.replace("BEGIN CERTIFICATE", "BEGIN X509 CERTIFICATE").replace(
        "END CERTIFICATE", "END X509 CERTIFICATE")
    assert load_certificates(text, SOURCE) == [contoso.root.cert]


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------

def _key_leaks(message: str, key_material: bytes) -> bool:
    """True if any 16-character run of the key's PEM body or DER hex shows up in the message."""
    body = b"".join(line for line in key_material.splitlines() if not line.startswith(b"-----")).decode()
    runs = [body[i:i + 16] for i in range(0, max(len(body) - 16, 1), 8)]
    return any(run in message for run in runs) or re.search(r"[A-Za-z0-9+/]{24,}", message) is not None


def _private_key_pems():
    rsa_key = pki.new_key("rsa", 2048)
    ec_key = pki.new_key("ecdsa")
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    return {
        "pkcs8": rsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none),
        "rsa-traditional": rsa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none),
        "ec-traditional": ec_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none),
        "encrypted": ec_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"secret")),
    }


@pytest.fixture(scope="module")
def private_key_pems():
    return _private_key_pems()


@pytest.mark.parametrize("kind", ["pkcs8", "rsa-traditional", "ec-traditional", "encrypted"])
def test_pem_private_key_is_refused_without_echoing_it(private_key_pems, kind):
    key_pem = private_key_pems[kind]
    message = refused(key_pem, "contains a private key")
    assert not _key_leaks(message, key_pem)


@pytest.mark.parametrize("key_first", [True, False])
def test_certificate_with_private_key_is_refused_as_a_whole(contoso, key_first):
    key_pem = contoso.leaf.key_pem
    parts = [key_pem, contoso.leaf.pem.encode()]
    data = b"".join(parts if key_first else parts[::-1])
    message = refused(data, "contains a private key.*whole input is refused")
    assert not _key_leaks(message, key_pem)


def test_der_private_keys_are_refused_without_echoing_them(contoso):
    ec_key = pki.new_key("ecdsa")
    blobs = [
        contoso.leaf.key_der,  # PKCS#8
        contoso.leaf.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()),
        ec_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret")),
    ]
    for blob in blobs:
        message = refused(blob, "contains a private key")
        assert blob.hex()[:32] not in message.lower()
        assert not _key_leaks(message, base64.b64encode(blob))


def test_base64_private_key_is_refused(contoso):
    encoded = base64.b64encode(contoso.leaf.key_der)
    message = refused(encoded, "contains a private key")
    assert not _key_leaks(message, encoded)


def test_private_key_mislabelled_as_certificate_is_refused_as_a_key(contoso):
    body = base64.encodebytes(contoso.leaf.key_der)
    data = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    message = refused(data, "PEM block 1 \\(CERTIFICATE\\) contains a private key")
    assert not _key_leaks(message, body)


def test_pkcs12_is_refused(contoso):
    pfx = pkcs12.serialize_key_and_certificates(b"da", contoso.leaf.key, contoso.leaf.cert, [contoso.intermediate.cert],
                                                serialization.BestAvailableEncryption(b"secret"))
    message = refused(pfx, r"PKCS#12 \(PFX\)")
    assert not _key_leaks(message, base64.b64encode(pfx))


def _csr(key):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "da.contoso.com")]))
            .sign(key, hashes.SHA256()))


def _crl(issuer):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
            .last_update(now).next_update(now + datetime.timedelta(days=7)).sign(issuer.key, hashes.SHA256()))


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_csr_is_refused(contoso, encoding):
    refused(_csr(contoso.leaf.key).public_bytes(encoding), r"certificate signing request \(CSR\)")


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_crl_is_refused(contoso, encoding):
    refused(_crl(contoso.intermediate).public_bytes(encoding), r"certificate revocation list \(CRL\)")


def test_new_certificate_request_label_is_refused(contoso):
    text = _csr(contoso.leaf.key).public_bytes(serialization.Encoding.PEM).replace(
        b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST")
    refused(text, r"CSR")


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_public_key_is_refused(contoso, encoding):
    blob = contoso.root.cert.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    refused(blob, "public key, not a certificate")


def test_certificate_followed_by_crl_is_refused_as_a_whole(contoso):
    data = contoso.root.pem.encode() + _crl(contoso.root).public_bytes(serialization.Encoding.PEM)
    refused(data, r"PEM block 2 \(X509 CRL\)")


def test_openssl_trusted_certificate_and_unknown_pem_types_are_refused(contoso):
    trusted = contoso.root.pem.replace("CERTIFICATE", "TRUSTED CERTIFICATE")
    refused(trusted, "trusted-certificate blocks are not supported")
    refused("-----BEGIN DH PARAMETERS-----\nMAA=\n-----END DH PARAMETERS-----\n", "unsupported PEM type 'DH PARAMETERS'")


def test_pem_without_end_line_is_truncated(contoso):
    text = contoso.root.pem[: len(contoso.root.pem) // 2]
    refused(text, "truncated or malformed PEM: '-----BEGIN CERTIFICATE-----' has no matching END line")


def test_second_pem_block_without_end_line_is_truncated(contoso):
    refused(contoso.root.pem + contoso.intermediate.pem[:200], "no matching END line")


def test_pem_with_cut_body_is_refused(contoso):
    lines = contoso.root.pem.splitlines()
    cut = "\n".join(lines[:4] + lines[-1:]) + "\n"
    refused(cut, r"PEM block 1 \(CERTIFICATE\) (cannot be parsed|is not valid base64)")


def test_pem_with_bad_base64_is_refused(contoso):
    text = contoso.root.pem.replace("M", "!", 1)
    refused(text, r"PEM block 1 \(CERTIFICATE\) is not valid base64")


def test_truncated_der_is_refused(contoso):
    refused(contoso.root.der[: len(contoso.root.der) - 40], "truncated")


def test_der_with_trailing_data_is_refused(contoso):
    refused(contoso.root.der + b"\x00\x01garbage", "bytes of unexpected data after the DER structure")


def test_corrupt_der_is_refused(contoso):
    blob = bytearray(contoso.root.der)
    blob[6] ^= 0xFF  # inside the TBSCertificate header: length stays, structure breaks
    refused(bytes(blob), "cannot be parsed|truncated")


@pytest.mark.parametrize("data", [b"\x00\x01\x02\xffnot a cert", "hello world, this is not a certificate",
                                  b"\x89PNG\r\n\x1a\n"])
def test_garbage_is_refused(data):
    refused(data, "is not a certificate")


def test_text_with_a_broken_pem_marker_holds_no_certificates():
    refused("see -----BEGIN here----- for details", "contains no certificates")


def test_base64_of_garbage_is_refused():
    refused(base64.b64encode(b"just some words, not DER"), "is not a certificate")


@pytest.mark.parametrize("data", [b"", "", "   \r\n\t", b"\xef\xbb\xbf", "\ufeff\n"])
def test_empty_input_is_refused(data):
    refused(data, "is empty")


def test_input_over_10_mib_is_refused_before_parsing():
    assert MAX_INPUT_BYTES == 10 * 1024 * 1024
    # A valid-looking start proves the size check comes first.
    refused(b"-----BEGIN CERTIFICATE-----\n" + b"A" * MAX_INPUT_BYTES, "larger than 10485760 bytes")
    refused("x" * (MAX_INPUT_BYTES + 1), "larger than 10485760 bytes")


def test_multibyte_text_is_measured_in_bytes():
    # 5 Mi characters of 3 bytes each is 15 MiB once encoded.
    refused("\u20ac" * (5 * 1024 * 1024), "larger than 10485760 bytes")


def test_input_of_exactly_10_mib_is_parsed_not_refused_for_size():
    refused(b" " * MAX_INPUT_BYTES, "is empty")


def test_invalid_utf16_is_refused():
    refused(b"\xff\xfe\x00\xd8", "UTF-16")


@pytest.mark.parametrize("data", [None, 42, ["-----BEGIN CERTIFICATE-----"]])
def test_wrong_input_type_is_refused(data):
    refused(data, "expected bytes or text, got")


@pytest.mark.parametrize("encoding, reason", [
    (serialization.Encoding.DER, r"DER is PKCS#7 without readable certificates"),
    (serialization.Encoding.PEM, r"PEM block 1 \(PKCS7\) cannot be parsed as PKCS#7.*no certificate"),
])
def test_pkcs7_without_certificates_is_refused(encoding, reason):
    # A signed message with the certificates left out (PKCS7Options.NoCerts) holds nothing to import.
    root = pki.make_root("R", key_type="ecdsa")
    blob = (pkcs7.PKCS7SignatureBuilder().set_data(b"x").add_signer(root.cert, root.key, hashes.SHA256())
            .sign(encoding, [pkcs7.PKCS7Options.NoCerts]))
    refused(blob, reason)


def test_pkcs7_pem_with_corrupt_body_is_refused():
    refused("-----BEGIN PKCS7-----\nMAMCAQA=\n-----END PKCS7-----\n", r"PEM block 1 \(PKCS7\) cannot be parsed as PKCS#7")


# ---------------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------------

def test_thumbprint_and_sha256_match_hashlib(contoso):
    for issued in (contoso.root, contoso.intermediate, contoso.leaf):
        assert thumbprint(issued.cert) == hashlib.sha1(der(issued.cert)).hexdigest().upper()
        assert sha256_fingerprint(issued.cert) == hashlib.sha256(der(issued.cert)).hexdigest().upper()
        assert re.fullmatch(r"[0-9A-F]{40}", thumbprint(issued.cert))


def test_describe_leaf(contoso):
    info = describe(contoso.leaf.cert)
    cert = contoso.leaf.cert
    assert info["thumbprint"] == hashlib.sha1(der(cert)).hexdigest().upper()
    assert info["sha256"] == hashlib.sha256(der(cert)).hexdigest().upper()
    assert info["subject"] == "CN=da.contoso.com,O=Contoso Test"
    assert info["issuer"] == "CN=Contoso Issuing CA,O=Contoso Test"
    assert info["not_before"] == cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["is_ca"] is False
    assert info["path_length"] is None
    assert info["ski"] == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex().upper()
    assert info["aki"] == describe(contoso.intermediate.cert)["ski"]
    assert info["eku"] == ["1.3.6.1.5.5.7.3.1"]
    assert info["san_dns"] == ["da.contoso.com"]
    assert info["common_name"] == "da.contoso.com"
    assert info["aia_ca_issuers"] == ["http://pki.contoso.com/issuing.crt"]
    assert info["crl_urls"] == ["http://pki.contoso.com/issuing.crl"]
    assert info["self_issued"] is False
    assert info["self_signed"] is False
    assert x509.load_pem_x509_certificate(info["pem"].encode()) == cert


def test_describe_root_and_intermediate(contoso):
    root = describe(contoso.root.cert)
    assert root["is_ca"] is True and root["self_issued"] is True and root["self_signed"] is True
    assert root["aki"] is None and root["ski"] is not None
    assert root["eku"] == [] and root["san_dns"] == [] and root["aia_ca_issuers"] == []
    assert root["subject"] == root["issuer"] == "CN=Contoso Root CA,O=Contoso Test"
    inter = describe(contoso.intermediate.cert)
    assert inter["is_ca"] is True and inter["self_signed"] is False
    assert inter["aki"] == root["ski"]


def test_describe_dates_in_utc_iso_format():
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = pki.make_root("Dated", key_type="ecdsa", not_before=start,
                         not_after=datetime.datetime(2036, 1, 1, 12, 30, 5, tzinfo=datetime.timezone.utc)).cert
    info = describe(cert)
    assert info["not_before"] == "2026-01-01T00:00:00Z"
    assert info["not_after"] == "2036-01-01T12:30:05Z"


def test_describe_without_optional_extensions():
    cert = pki.issue(None, key_type="ecdsa", subject=x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "X")]),
                     ski=False, basic_constraints=False, key_usage=False).cert
    info = describe(cert)
    assert info["common_name"] is None
    assert info["ski"] is None and info["aki"] is None
    assert info["is_ca"] is False and info["path_length"] is None
    assert info["crl_urls"] == [] and info["eku"] == []


def test_describe_path_length():
    root = pki.make_root("PL", key_type="ecdsa", path_length=1)
    assert describe(root.cert)["path_length"] == 1
    assert is_ca(root.cert) is True


def test_self_issued_but_not_self_signed():
    # Same name as the issuer, different key: a renewed CA cross-signed by its old key.
    old = pki.make_root("Contoso Root CA", key_type="ecdsa")
    link = pki.issue("Contoso Root CA", issuer=old, key_type="ecdsa", ca=True)
    info = describe(link.cert)
    assert info["self_issued"] is True
    assert info["self_signed"] is False
    assert is_self_signed(link.cert) is False


def test_is_ca():
    root = pki.make_root("R", key_type="ecdsa")
    leaf = pki.make_leaf("a.example", root, key_type="ecdsa")
    no_bc = pki.issue("n", issuer=root, key_type="ecdsa", basic_constraints=False)
    assert (is_ca(root.cert), is_ca(leaf.cert), is_ca(no_bc.cert)) == (True, False, False)


def test_to_pem_round_trips(contoso):
    text = to_pem(contoso.leaf.cert)
    assert text.startswith("-----BEGIN CERTIFICATE-----\n")
    assert load_certificates(text, SOURCE) == [contoso.leaf.cert]


@pytest.mark.parametrize("text", [
    "a" * 64, "A" * 64, ":".join(["aa"] * 32), " ".join(["AA"] * 32), "\u200e" + "aa" * 32, "AA-" * 31 + "AA",
])
def test_normalize_sha256_fingerprint(text):
    assert normalize_fingerprint(text) == "A" * 64


def test_normalize_sha1_thumbprint(contoso):
    pretty = ":".join(contoso.root.thumbprint[i:i + 2].lower() for i in range(0, 40, 2))
    assert normalize_fingerprint(pretty, kind="sha1") == contoso.root.thumbprint


@pytest.mark.parametrize("text, kind, reason", [
    ("ab" * 20, "sha256", "expected 64 hex digits, got 40"),
    ("ab" * 32, "sha1", "expected 40 hex digits, got 64"),
    ("", "sha1", "expected 40 hex digits, got 0"),
    ("zz" * 20, "sha1", "characters other than hex digits"),
    ("0x" + "ab" * 19, "sha1", "characters other than hex digits"),
])
def test_normalize_fingerprint_errors_name_the_value(text, kind, reason):
    with pytest.raises(CertificateError) as err:
        normalize_fingerprint(text, kind=kind)
    assert repr(text) in str(err.value)
    assert reason in str(err.value)


def test_normalize_fingerprint_rejects_non_text_and_unknown_kind():
    with pytest.raises(CertificateError, match="expected a SHA-1 thumbprint as text, got bytes"):
        normalize_fingerprint(b"ab" * 20, kind="sha1")
    with pytest.raises(ValueError, match="kind must be"):
        normalize_fingerprint("ab" * 20, kind="md5")


def test_names_match_follows_rfc5280_comparison():
    def dn(*pairs):
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])
    base = dn((NameOID.ORGANIZATION_NAME, "Contoso Test"), (NameOID.COMMON_NAME, "Contoso Root CA"))
    assert names_match(base, dn((NameOID.ORGANIZATION_NAME, "contoso  test "), (NameOID.COMMON_NAME, "CONTOSO ROOT CA")))
    assert not names_match(base, dn((NameOID.COMMON_NAME, "Contoso Root CA"), (NameOID.ORGANIZATION_NAME, "Contoso Test")))
    assert not names_match(base, dn((NameOID.ORGANIZATION_NAME, "Contoso Test"), (NameOID.COMMON_NAME, "Contoso Root CA2")))


def test_is_signed_by_for_each_key_type():
    for key_type in ("rsa", "ecdsa", "ed25519"):
        root = pki.make_root(f"{key_type} root", key_type=key_type)
        other = pki.make_root(f"{key_type} root", key_type=key_type)
        leaf = pki.make_leaf("a.example", root, key_type="ecdsa")
        assert is_signed_by(leaf.cert, root.cert) is True
        assert is_signed_by(leaf.cert, other.cert) is False


def test_is_signed_by_rsa_pss():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PSS root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256(), rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                                salt_length=padding.PSS.DIGEST_LENGTH)))
    assert is_signed_by(cert, cert) is True


def test_is_signed_by_with_mismatched_key_type_is_false():
    ec_root = pki.make_root("R", key_type="ecdsa")
    rsa_root = pki.make_root("R", key_type="rsa")
    leaf = pki.make_leaf("a.example", ec_root, key_type="ecdsa")
    assert is_signed_by(leaf.cert, rsa_root.cert) is False
    assert isinstance(ec_root.key, ec.EllipticCurvePrivateKey)


def test_import_guard_without_cryptography(monkeypatch):
    # ansible-test's import sanity test loads module_utils where cryptography is absent.
    for name in list(sys.modules):
        if name == "cryptography" or name.startswith("cryptography."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)
    spec = importlib.util.spec_from_file_location("_certificate_without_cryptography", certificate.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HAS_CRYPTOGRAPHY is False
    assert "cryptography" in module.CRYPTOGRAPHY_IMPORT_ERROR
    assert certificate.HAS_CRYPTOGRAPHY is True and certificate.CRYPTOGRAPHY_IMPORT_ERROR is None


def test_certificate_with_an_unknown_version_is_refused_not_a_crash(contoso):
    # The version field [0] INTEGER 2 (v3) set to 5: cryptography raises InvalidVersion, which is no ValueError.
    data = der(contoso.root.cert)
    marker = b"\xa0\x03\x02\x01\x02"
    assert marker in data
    bad = data.replace(marker, b"\xa0\x03\x02\x01\x05", 1)
    refused(bad, "cannot be parsed|not a certificate")
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bad) + b"-----END CERTIFICATE-----\n"
    refused(pem, "cannot be parsed|not a certificate")
