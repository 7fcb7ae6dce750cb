# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's PKI: the CAs and server certificates a DirectAccess deployment would have.

Test infrastructure only; the collection never imports anything from here, and this module
does not import the collection either (the lab must not share code with what it tests).

``ensure_pki(directory)`` generates everything once and loads it on every later call, so the
lab keeps the same thumbprints across restarts. Layout of ``directory``::

    root.pem              DirectAccess Lab Root CA (the current root)
    root.sha256           SHA-256 of root.pem's DER, upper-case hex, no colons (the pin)
    issuing.pem           DirectAccess Lab Issuing CA, issued by the root
    ca-bundle.pem         issuing.pem + root.pem: what an admin hands to the collection
    old-root.pem          the root before a CA key rollover: same subject, different key
    iphttps.pem           IP-HTTPS server certificate for the server name
    iphttps-expired.pem   the same name, validity ended
    iphttps-wrong-name.pem  issued for another name
    winrm-ca.pem          DirectAccess Lab WinRM CA: trust anchor for the endpoints' HTTPS
    winrm.pem             WinRM listener certificate for localhost / 127.0.0.1
    private/              0700; one <name>.key (PKCS#8 PEM, 0600) per certificate above

Generation happens in a sibling temporary directory that is renamed into place, so a crash
never leaves a half-written PKI and two concurrent first starts end up sharing one PKI.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import re
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Reserved names (RFC 2606 .example), so the lab never points at a real host.
DEFAULT_SERVER_NAME = "da.lab.example"
WRONG_SERVER_NAME = "remote.lab.example"

ROOT_CA_NAME = "DirectAccess Lab Root CA"
ISSUING_CA_NAME = "DirectAccess Lab Issuing CA"
WINRM_CA_NAME = "DirectAccess Lab WinRM CA"
ORGANIZATION = "DirectAccess Lab"

# Certificate name -> file stem. Every certificate has <stem>.pem and private/<stem>.key.
CERT_FILES = {
    "root": "root",
    "old_root": "old-root",
    "issuing": "issuing",
    "iphttps": "iphttps",
    "iphttps_expired": "iphttps-expired",
    "iphttps_wrong_name": "iphttps-wrong-name",
    "winrm_ca": "winrm-ca",
    "winrm": "winrm",
}
ROOT_PIN_FILE = "root.sha256"
CA_BUNDLE_FILE = "ca-bundle.pem"
PRIVATE_DIR = "private"

# RSA 2048: a usual key size in enterprise PKIs, and quick enough to generate.
_KEY_SIZE = 2048
_DAY = datetime.timedelta(days=1)
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}$")


class PKIError(Exception):
    """The PKI directory cannot be used; the message names the path and the reason."""


def thumbprint(cert: x509.Certificate) -> str:
    """Windows' thumbprint: SHA-1 of the DER certificate, upper-case hex (an identifier, not security)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def sha256_fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


@dataclasses.dataclass(frozen=True)
class LabPKI:
    """A loaded lab PKI. ``certs`` maps the names in CERT_FILES to x509 certificates."""

    directory: Path
    certs: dict[str, x509.Certificate]

    @property
    def server_name(self) -> str:
        return common_name(self.certs["iphttps"]) or ""

    @property
    def wrong_server_name(self) -> str:
        return common_name(self.certs["iphttps_wrong_name"]) or ""

    @property
    def root_sha256(self) -> str:
        return sha256_fingerprint(self.certs["root"])

    def cert(self, name: str) -> x509.Certificate:
        try:
            return self.certs[name]
        except KeyError:
            raise PKIError(f"unknown lab certificate {name!r}; known: {', '.join(CERT_FILES)}") from None

    def pem(self, name: str) -> str:
        return cert_pem(self.cert(name))

    def thumbprint(self, name: str) -> str:
        return thumbprint(self.cert(name))

    def cert_path(self, name: str) -> Path:
        self.cert(name)
        return self.directory / f"{CERT_FILES[name]}.pem"

    def key_path(self, name: str) -> Path:
        self.cert(name)
        return self.directory / PRIVATE_DIR / f"{CERT_FILES[name]}.key"

    @property
    def root_pin_path(self) -> Path:
        return self.directory / ROOT_PIN_FILE

    @property
    def ca_bundle_path(self) -> Path:
        return self.directory / CA_BUNDLE_FILE


def _name(common: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)


def _ca(subject: str, key, not_before, not_after, issuer=None, issuer_key=None, path_length=None):
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    signing_key = issuer_key if issuer_key is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _server(common: str, key, issuer, issuer_key, not_before, not_after, ip_addresses=()):
    alt_names = [x509.DNSName(common)] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                       critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _generate(server_name: str) -> tuple[dict[str, x509.Certificate], dict]:
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    keys = {name: _new_key() for name in CERT_FILES}
    certs: dict[str, x509.Certificate] = {}
    # CAs start two years back so the expired server certificate sits inside their validity.
    ca_start = now - 730 * _DAY
    # The pre-rollover root: same subject, its own key, an older validity period.
    certs["old_root"] = _ca(ROOT_CA_NAME, keys["old_root"], now - 3650 * _DAY, now + 1825 * _DAY)
    certs["root"] = _ca(ROOT_CA_NAME, keys["root"], ca_start, now + 3650 * _DAY)
    certs["issuing"] = _ca(ISSUING_CA_NAME, keys["issuing"], ca_start, now + 1825 * _DAY,
                           issuer=certs["root"], issuer_key=keys["root"], path_length=0)
    server_args = (certs["issuing"], keys["issuing"])
    certs["iphttps"] = _server(server_name, keys["iphttps"], *server_args, now - _DAY, now + 825 * _DAY)
    certs["iphttps_expired"] = _server(server_name, keys["iphttps_expired"], *server_args,
                                       now - 400 * _DAY, now - 2 * _DAY)
    certs["iphttps_wrong_name"] = _server(WRONG_SERVER_NAME, keys["iphttps_wrong_name"], *server_args,
                                          now - _DAY, now + 825 * _DAY)
    certs["winrm_ca"] = _ca(WINRM_CA_NAME, keys["winrm_ca"], now - _DAY, now + 3650 * _DAY)
    certs["winrm"] = _server("localhost", keys["winrm"], certs["winrm_ca"], keys["winrm_ca"],
                             now - _DAY, now + 825 * _DAY, ip_addresses=("127.0.0.1",))
    return certs, keys


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _write_pki(target: Path, certs: dict[str, x509.Certificate], keys: dict) -> None:
    (target / PRIVATE_DIR).mkdir(mode=0o700)
    for name, stem in CERT_FILES.items():
        (target / f"{stem}.pem").write_text(cert_pem(certs[name]), encoding="ascii")
        _write_private(target / PRIVATE_DIR / f"{stem}.key", keys[name].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (target / ROOT_PIN_FILE).write_text(sha256_fingerprint(certs["root"]) + "\n", encoding="ascii")
    (target / CA_BUNDLE_FILE).write_text(cert_pem(certs["issuing"]) + cert_pem(certs["root"]), encoding="ascii")


def _pki_files(directory: Path) -> list[Path]:
    files = [directory / f"{stem}.pem" for stem in CERT_FILES.values()]
    files += [directory / PRIVATE_DIR / f"{stem}.key" for stem in CERT_FILES.values()]
    return files + [directory / ROOT_PIN_FILE, directory / CA_BUNDLE_FILE]


def load_pki(directory: str | os.PathLike) -> LabPKI:
    """Load an existing lab PKI; PKIError if it is missing, incomplete or unreadable."""
    directory = Path(directory)
    missing = [str(p.relative_to(directory)) for p in _pki_files(directory) if not p.is_file()]
    if missing:
        raise PKIError(f"lab PKI in {directory} is incomplete, missing: {', '.join(missing)}; "
                       "delete the directory to generate a new one")
    certs = {}
    for name, stem in CERT_FILES.items():
        path = directory / f"{stem}.pem"
        try:
            certs[name] = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError as exc:
            raise PKIError(f"{path}: cannot parse certificate: {exc}") from None
    pin = (directory / ROOT_PIN_FILE).read_text(encoding="ascii").strip()
    if pin != sha256_fingerprint(certs["root"]):
        raise PKIError(f"{directory / ROOT_PIN_FILE} does not match root.pem; the PKI was modified")
    return LabPKI(directory=directory, certs=certs)


def ensure_pki(directory: str | os.PathLike, server_name: str = DEFAULT_SERVER_NAME) -> LabPKI:
    """Load the PKI in ``directory`` if one exists there, else generate it."""
    if not isinstance(server_name, str) or not _DNS_NAME_RE.match(server_name):
        raise PKIError(f"server_name must be a DNS name such as {DEFAULT_SERVER_NAME!r}, got {server_name!r}")
    directory = Path(directory)
    if not directory.exists() or (directory.is_dir() and not any(directory.iterdir())):
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            certs, keys = _generate(server_name)
            _write_pki(staging, certs, keys)
            os.chmod(staging, 0o755)
            try:
                staging.rename(directory)
            except OSError:
                # Another process finished first (the target is no longer empty): use its PKI.
                if not directory.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    pki = load_pki(directory)
    if pki.server_name != server_name:
        raise PKIError(f"lab PKI in {directory} was generated for {pki.server_name!r}, not {server_name!r}; "
                       "delete the directory to generate a new one")
    return pki
