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
    revocation/           certificates that name where their revocation status is published:
      issuing-crl.pem         DirectAccess Lab CRL Issuing CA, issued by the root; its CDP is the root's CRL
      iphttps-crl.pem         server certificate: CDP on pki.lab.example and an OCSP responder
      iphttps-crl-offline.pem server certificate whose CDP host is down
      iphttps-crl-stale.pem   server certificate whose CDP serves a CRL past its nextUpdate
      iphttps-revoked.pem     server certificate listed on its CA's CRL
      iphttps-crl-inside.pem  server certificate whose CDPs (LDAP, then HTTP) resolve only inside
      private/                their keys, as above

The revocation URLs name fixed hosts under lab.example; the lab's PKI web servers
(``revocation.py``) publish there, and the lab routes those names to loopback ports, as it routes
the IP-HTTPS URL through ``connect_to``. A PKI made before the revocation certificates existed
gets them added on the next ``ensure_pki``, signed by its own root.

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
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

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
# Certificates that carry CRL distribution points (and one an OCSP responder), in revocation/.
REVOCATION_CERT_FILES = {
    "issuing_crl": "issuing-crl",
    "iphttps_crl": "iphttps-crl",
    "iphttps_crl_offline": "iphttps-crl-offline",
    "iphttps_crl_stale": "iphttps-crl-stale",
    "iphttps_revoked": "iphttps-revoked",
    "iphttps_crl_inside": "iphttps-crl-inside",
}
REVOCATION_DIR = "revocation"
CRL_ISSUING_CA_NAME = "DirectAccess Lab CRL Issuing CA"

# Where the revocation certificates point. Reserved names (RFC 2606), routed by the lab only.
PKI_HOST = "pki.lab.example"  # published on the Internet
OCSP_HOST = "ocsp.lab.example"
OFFLINE_CRL_HOST = "crl-offline.lab.example"  # resolves, but its web server is down
INSIDE_PKI_HOST = "pki.corp.lab.example"  # resolves only on the corporate network
ROOT_CRL_PATH = "/crl/root.crl"
ISSUING_CRL_PATH = "/crl/issuing-crl.crl"
STALE_CRL_PATH = "/crl/stale/issuing-crl.crl"  # a copy nobody republishes
OCSP_PATH = "/ocsp"
ROOT_CRL_URL = f"http://{PKI_HOST}{ROOT_CRL_PATH}"
ISSUING_CRL_URL = f"http://{PKI_HOST}{ISSUING_CRL_PATH}"
STALE_CRL_URL = f"http://{PKI_HOST}{STALE_CRL_PATH}"
OFFLINE_CRL_URL = f"http://{OFFLINE_CRL_HOST}{ISSUING_CRL_PATH}"
INSIDE_CRL_URL = f"http://{INSIDE_PKI_HOST}{ISSUING_CRL_PATH}"
# AD CS lists an LDAP CDP in Active Directory before its HTTP one by default: useless outside.
INSIDE_LDAP_CRL_URL = ("ldap:///CN=DirectAccess%20Lab%20CRL%20Issuing%20CA,CN=pki,CN=CDP,CN=Public%20Key%20Services,"
                       "CN=Services,CN=Configuration,DC=corp,DC=lab,DC=example"
                       "?certificateRevocationList?base?objectClass=cRLDistributionPoint")
OCSP_URL = f"http://{OCSP_HOST}{OCSP_PATH}"
# Revocation certificate -> (CDP URLs in order, OCSP URLs).
REVOCATION_URLS = {
    "issuing_crl": ((ROOT_CRL_URL,), ()),
    "iphttps_crl": ((ISSUING_CRL_URL,), (OCSP_URL,)),
    "iphttps_crl_offline": ((OFFLINE_CRL_URL,), ()),
    "iphttps_crl_stale": ((STALE_CRL_URL,), ()),
    "iphttps_revoked": ((ISSUING_CRL_URL,), ()),
    "iphttps_crl_inside": ((INSIDE_LDAP_CRL_URL, INSIDE_CRL_URL), ()),
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
            known = ", ".join([*CERT_FILES, *REVOCATION_CERT_FILES])
            raise PKIError(f"unknown lab certificate {name!r}; known: {known}") from None

    def pem(self, name: str) -> str:
        return cert_pem(self.cert(name))

    def thumbprint(self, name: str) -> str:
        return thumbprint(self.cert(name))

    def _location(self, name: str) -> tuple[Path, str]:
        self.cert(name)
        if name in CERT_FILES:
            return self.directory, CERT_FILES[name]
        return self.directory / REVOCATION_DIR, REVOCATION_CERT_FILES[name]

    def cert_path(self, name: str) -> Path:
        directory, stem = self._location(name)
        return directory / f"{stem}.pem"

    def key_path(self, name: str) -> Path:
        directory, stem = self._location(name)
        return directory / PRIVATE_DIR / f"{stem}.key"

    def private_key(self, name: str):
        """The key of a lab certificate, for the lab's own servers (CRL and OCSP signing, TLS)."""
        return serialization.load_pem_private_key(self.key_path(name).read_bytes(), password=None)

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


def _revocation_extensions(builder, crl_urls=(), ocsp_urls=()):
    """CRL distribution points (one point per URL, as AD CS writes them) and AIA OCSP responders."""
    if crl_urls:
        builder = builder.add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None) for url in crl_urls
        ]), critical=False)
    if ocsp_urls:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))
            for url in ocsp_urls
        ]), critical=False)
    return builder


def _ca(subject: str, key, not_before, not_after, issuer=None, issuer_key=None, path_length=None, crl_urls=()):
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
    return _revocation_extensions(builder, crl_urls).sign(signing_key, hashes.SHA256())


def _server(common: str, key, issuer, issuer_key, not_before, not_after, ip_addresses=(), crl_urls=(),
            ocsp_urls=()):
    alt_names = [x509.DNSName(common)] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    builder = (
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
    )
    return _revocation_extensions(builder, crl_urls, ocsp_urls).sign(issuer_key, hashes.SHA256())


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


def _generate_revocation(server_name: str, root: x509.Certificate, root_key) -> tuple[dict, dict]:
    """The revocation/ certificates: a CRL-publishing issuing CA under ``root`` and its server certificates."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    keys = {name: _new_key() for name in REVOCATION_CERT_FILES}
    certs: dict[str, x509.Certificate] = {}
    crl_urls, _ocsp = REVOCATION_URLS["issuing_crl"]
    certs["issuing_crl"] = _ca(CRL_ISSUING_CA_NAME, keys["issuing_crl"], now - _DAY, now + 1825 * _DAY,
                               issuer=root, issuer_key=root_key, path_length=0, crl_urls=crl_urls)
    for name in REVOCATION_CERT_FILES:
        if name == "issuing_crl":
            continue
        crl_urls, ocsp_urls = REVOCATION_URLS[name]
        certs[name] = _server(server_name, keys[name], certs["issuing_crl"], keys["issuing_crl"], now - _DAY,
                              now + 825 * _DAY, crl_urls=crl_urls, ocsp_urls=ocsp_urls)
    return certs, keys


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _write_certs(target: Path, files: dict[str, str], certs: dict[str, x509.Certificate], keys: dict) -> None:
    (target / PRIVATE_DIR).mkdir(mode=0o700)
    for name, stem in files.items():
        (target / f"{stem}.pem").write_text(cert_pem(certs[name]), encoding="ascii")
        _write_private(target / PRIVATE_DIR / f"{stem}.key", keys[name].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _write_pki(target: Path, certs: dict[str, x509.Certificate], keys: dict) -> None:
    _write_certs(target, CERT_FILES, certs, keys)
    (target / ROOT_PIN_FILE).write_text(sha256_fingerprint(certs["root"]) + "\n", encoding="ascii")
    (target / CA_BUNDLE_FILE).write_text(cert_pem(certs["issuing"]) + cert_pem(certs["root"]), encoding="ascii")


def _pki_files(directory: Path) -> list[Path]:
    files = [directory / f"{stem}.pem" for stem in CERT_FILES.values()]
    files += [directory / PRIVATE_DIR / f"{stem}.key" for stem in CERT_FILES.values()]
    revocation = directory / REVOCATION_DIR
    files += [revocation / f"{stem}.pem" for stem in REVOCATION_CERT_FILES.values()]
    files += [revocation / PRIVATE_DIR / f"{stem}.key" for stem in REVOCATION_CERT_FILES.values()]
    return files + [directory / ROOT_PIN_FILE, directory / CA_BUNDLE_FILE]


def load_pki(directory: str | os.PathLike) -> LabPKI:
    """Load an existing lab PKI; PKIError if it is missing, incomplete or unreadable."""
    directory = Path(directory)
    missing = [str(p.relative_to(directory)) for p in _pki_files(directory) if not p.is_file()]
    if missing:
        raise PKIError(f"lab PKI in {directory} is incomplete, missing: {', '.join(missing)}; "
                       "delete the directory to generate a new one")
    certs = {}
    for name, path in [(name, directory / f"{stem}.pem") for name, stem in CERT_FILES.items()] + [
            (name, directory / REVOCATION_DIR / f"{stem}.pem") for name, stem in REVOCATION_CERT_FILES.items()]:
        try:
            certs[name] = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError as exc:
            raise PKIError(f"{path}: cannot parse certificate: {exc}") from None
    pin = (directory / ROOT_PIN_FILE).read_text(encoding="ascii").strip()
    if pin != sha256_fingerprint(certs["root"]):
        raise PKIError(f"{directory / ROOT_PIN_FILE} does not match root.pem; the PKI was modified")
    return LabPKI(directory=directory, certs=certs)


def _staged(target: Path, write) -> None:
    """Run ``write(staging)`` in a sibling temporary directory, then rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging)
        os.chmod(staging, 0o755)
        try:
            staging.rename(target)
        except OSError:
            # Another process finished first (the target is no longer empty): use its files.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _is_empty(directory: Path) -> bool:
    return not directory.exists() or (directory.is_dir() and not any(directory.iterdir()))


def _ensure_revocation(directory: Path) -> None:
    """Add revocation/ to a PKI that lacks it, signed by that PKI's own root, for its server name."""
    target = directory / REVOCATION_DIR
    sources = [directory / "root.pem", directory / PRIVATE_DIR / "root.key", directory / "iphttps.pem"]
    if not _is_empty(target) or not all(path.is_file() for path in sources):
        return  # present, or a broken PKI that load_pki reports
    try:
        root = x509.load_pem_x509_certificate(sources[0].read_bytes())
        root_key = serialization.load_pem_private_key(sources[1].read_bytes(), password=None)
        server_name = common_name(x509.load_pem_x509_certificate(sources[2].read_bytes())) or DEFAULT_SERVER_NAME
    except ValueError as exc:
        raise PKIError(f"{directory}: cannot read the root CA to sign the revocation certificates: {exc}") from None
    certs, keys = _generate_revocation(server_name, root, root_key)
    _staged(target, lambda staging: _write_certs(staging, REVOCATION_CERT_FILES, certs, keys))


def ensure_pki(directory: str | os.PathLike, server_name: str = DEFAULT_SERVER_NAME) -> LabPKI:
    """Load the PKI in ``directory`` if one exists there, else generate it."""
    if not isinstance(server_name, str) or not _DNS_NAME_RE.match(server_name):
        raise PKIError(f"server_name must be a DNS name such as {DEFAULT_SERVER_NAME!r}, got {server_name!r}")
    directory = Path(directory)
    if _is_empty(directory):
        certs, keys = _generate(server_name)
        _staged(directory, lambda staging: _write_pki(staging, certs, keys))
    _ensure_revocation(directory)
    pki = load_pki(directory)
    if pki.server_name != server_name:
        raise PKIError(f"lab PKI in {directory} was generated for {pki.server_name!r}, not {server_name!r}; "
                       "delete the directory to generate a new one")
    return pki
