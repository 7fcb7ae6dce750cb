# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the IP-HTTPS server's certificate path the way a Windows client does, and say what is wrong.

Internal to directaccess.iphttps; may change without notice. Controller side only, no ansible
imports. Callers must check _certificate.HAS_CRYPTOGRAPHY before use.

Windows differs from strict Web-PKI verifiers (DirectAccess planning guide, IP-HTTPS certificate):
issuers are matched by key identifier or by name plus signature, roots without SKI/AKI are fine,
a subject CN is used when there is no SAN extension, and alternative paths (cross-certificates, renewed CAs) are
tried until one ends at a trusted root. Revocation is not checked here.

Verdicts of diagnose(), most severe first (the first that applies wins):

1. ``malformed``: a certificate in the path has an extension cryptography cannot parse, or the
   same extension twice; the problem names the certificate and the extension OID.
2. ``no_chain``: the server sent nothing, the path is longer than MAX_DEPTH, a link's issuer
   name does not match the issuer's subject, or the top certificate has an empty issuer name
   and no issuer was found, so there is nothing to name.
3. ``explicitly_distrusted``: a certificate in the path is in the client's LocalMachine\\Disallowed
   store (TRUST_E_EXPLICIT_DISTRUST); importing into Root or CA cannot override that.
4. ``weak_crypto``: an RSA key under 1024 bits anywhere in the path (advisory 2661254), or an
   MD5/MD2 signature other than a root's own self-signature. SHA-1 (RSA and ECDSA) is accepted.
5. ``bad_signature``: a certificate's key identifier points at an issuer whose key does not
   verify its signature (tampered or corrupt certificate).
6. ``unsupported_critical_extension``: a certificate carries a critical extension CryptoAPI does
   not process (CERT_E_CRITICAL); the problem names the OID.
7. ``expired`` / ``not_yet_valid``: some certificate in the path is outside its validity window.
8. ``wrong_usage``: an issuer is not a CA (basicConstraints), a pathLenConstraint or keyUsage
   (keyCertSign) is violated, the leaf's keyUsage has neither digitalSignature nor
   keyEncipherment, or an EKU extension in the path excludes Server Authentication.
9. ``name_constraints``: a CA in the path has name constraints (2.5.29.30) that a name of the
   server certificate violates, or that use a form Windows does not support or cannot decode
   (CERT_E_INVALID_NAME); see _name_constraints. Never fixable by an import.
10. ``name_mismatch``: the leaf's SAN dNSName entries (or, without a SAN extension, its subject
    CN) do not cover server_name; an IP address needs an iPAddress SAN entry.
11. ``untrusted_root``: the path ends at a self-signed root the client does not trust, or stops
    at an issuer that was found nowhere (then the missing entry has thumbprint None).
12. ``missing_intermediate``: the path ends at a trusted root, but the client lacks an
    intermediate (not sent by the server, not in its CA or Root store).
13. ``trusted``.

Where this is stricter or looser than CryptoAPI, and why:

- Issuer and subject names are compared per RFC 5280 section 7.1 (case and whitespace folded),
  and a key-identifier match with different names is a broken link (PKITS 4.3.1); CryptoAPI
  may accept such a "key match" issuer. Real AD CS chains have byte-equal names either way.
- pathLenConstraint and keyUsage are enforced on the root too; RFC 5280 leaves trust anchors
  unchecked, Windows checks them. A root without basicConstraints (v1) is accepted.
- anyExtendedKeyUsage counts as Server Authentication; no EKU extension means any usage.
- AIA fetching is not modelled: an intermediate the client could download is still reported
  missing, with the URL in the reasons. Revocation is judged apart, from what the client fetched
  (_revocation.py), and only client_info's diagnosis carries its verdicts.
"""
from __future__ import annotations

import datetime
import ipaddress
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    authority_key_id,
    basic_constraints,
    describe,
    extended_key_usages,
    extension_fault,
    is_self_issued,
    is_signed_by,
    issuer_name_key,
    name_fault,
    names_match,
    normalize_fingerprint,
    sha256_fingerprint,
    subject_key_id,
    subject_name_key,
    thumbprint,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._name_constraints import (
    check_path as name_constraint_findings,
    explains_extension_fault as name_constraints_explain_fault,
)

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # reported through _certificate.HAS_CRYPTOGRAPHY
    pass

SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"
ANY_EKU_OID = "2.5.29.37.0"

# Longest path considered, leaf included. Real DirectAccess chains have 2-4 certificates.
MAX_DEPTH = 8
# Upper bound on alternative paths explored; cross-certified meshes are small in practice.
MAX_PATHS = 64
# Upper bound on signature checks spent finding issuers by name alone (no key identifiers to
# decide). Real stores hold a few same-name CAs (renewals); a hostile store of thousands must not
# stall the controller, so the rest are left unchecked and the reasons say so.
MAX_ISSUER_SIGNATURE_CHECKS = 128

VERDICTS = (
    "trusted", "untrusted_root", "missing_intermediate", "name_mismatch", "wrong_usage",
    "expired", "not_yet_valid", "unsupported_critical_extension", "weak_crypto", "bad_signature",
    "explicitly_distrusted", "no_chain", "malformed", "name_constraints",
)
# client_info's diagnosis adds these after the chain (_revocation.apply_to_diagnosis); diagnose() never gives them.
REVOCATION_VERDICTS = ("revoked", "revocation_offline")
VERDICTS += REVOCATION_VERDICTS
# client_info's diagnosis when PowerShell on the client runs in Constrained Language Mode and could not capture
# the chain or read the stores, or when the TLS handshake failed before the chain was seen (_client_report);
# never a certificate verdict, never fixable.
HOST_VERDICTS = ("constrained_language", "handshake_failed")
VERDICTS += HOST_VERDICTS
# Problems decide the verdict in this order; trust (untrusted_root, missing_intermediate) comes
# only after all of them, so a name mismatch with a missing root is a name mismatch.
PROBLEM_PRECEDENCE = ("malformed", "no_chain", "explicitly_distrusted", "weak_crypto", "bad_signature", "unsupported_critical_extension",
                      "expired", "not_yet_valid", "wrong_usage", "name_constraints", "name_mismatch")

# Extensions CryptoAPI processes, so it accepts them marked critical; any other critical
# extension fails the chain (CERT_TRUST_HAS_NOT_SUPPORTED_CRITICAL_EXT, surfacing as CERT_E_CRITICAL).
# RFC 5280 standard extensions, the pre-RFC basicConstraints (2.5.29.10) and the Microsoft
# application-policy extensions that CryptoAPI evaluates like EKU and policies.
SUPPORTED_CRITICAL_EXTENSIONS = {
    "2.5.29.10": "basicConstraints (pre-RFC 5280)",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.18": "issuerAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.30": "nameConstraints",
    "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.33": "policyMappings",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.36": "policyConstraints",
    "2.5.29.37": "extKeyUsage",
    "2.5.29.54": "inhibitAnyPolicy",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.4.1.311.21.10": "Microsoft application policies",
    "1.3.6.1.4.1.311.21.11": "Microsoft application policy mappings",
    "1.3.6.1.4.1.311.21.12": "Microsoft application policy constraints",
}
# Signature hashes Windows rejects (MD5 and MD2 outside a root's own self-signature; MD4 too).
# SHA-1 is accepted: Microsoft's SHA-1 deprecation covers roots in its own program, not the
# enterprise roots DirectAccess uses.
WEAK_SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.3": "md4WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
}
# Microsoft security advisory 2661254: RSA keys shorter than 1024 bits are blocked.
MIN_RSA_BITS = 1024

SOURCES = ("server", "intermediate_store", "root_store", "bundle")
# Label for a certificate found in several places: the client's own stores say most.
_SOURCE_LABEL_ORDER = ("root_store", "intermediate_store", "server", "bundle")
# Order in which issuer candidates are tried, so results do not depend on input order.
_CANDIDATE_ORDER = {"server": 0, "intermediate_store": 1, "root_store": 2, "bundle": 3}

_END_RANK = {"anchored": 0, "self_signed": 1, "incomplete": 2, "too_long": 3}


# ---------------------------------------------------------------------------------------------
# Server name
# ---------------------------------------------------------------------------------------------

def _host_of(server_name: str) -> str:
    """Host name from a bare name, host:port or an IP-HTTPS URL (https://da.contoso.com:443/IPHTTPS)."""
    if not isinstance(server_name, str) or not server_name.strip():
        raise CertificateError(f"server_name: expected a host name or URL, got {server_name!r}")
    text = server_name.strip()
    if "://" in text:
        try:
            host = urlsplit(text).hostname
        except ValueError as exc:  # an unclosed IPv6 bracket, for one: "https://[::1/"
            raise CertificateError(f"server_name: {server_name!r} is not a usable URL: {exc}") from None
        if not host:
            raise CertificateError(f"server_name: no host name in URL {server_name!r}")
        text = host
    elif text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".").lower()


def _a_label(name: str) -> str | None:
    """The name in A-label (IDNA) form, lower case, without a trailing dot; None if not encodable."""
    name = name.strip().rstrip(".")
    if name.isascii():
        return name.lower()
    try:
        return ".".join(label if label == "*" else label.encode("idna").decode("ascii")
                        for label in name.split(".")).lower()
    except UnicodeError:
        return None


def _dns_matches(pattern: str, host: str) -> bool:
    """``host`` must already be in A-label form (see _a_label)."""
    pattern = _a_label(pattern)
    if not pattern or not host:
        return False
    if pattern == host:
        return True
    # Wildcard only as the whole left-most label, covering exactly one label (RFC 6125 6.4.3),
    # and never directly under a single-label suffix such as *.com.
    if pattern.startswith("*.") and pattern.count(".") >= 2 and "*" not in pattern[1:]:
        labels = host.split(".", 1)
        return len(labels) == 2 and bool(labels[0]) and labels[1] == pattern[2:]
    return False


def match_server_name(cert, server_name: str) -> str | None:
    """Return 'san' or 'cn' for the field that covers server_name, or None when it is not covered.

    Windows' SSL chain policy, like RFC 6125 6.4.4 and Wine's crypt32: when the certificate has a
    subjectAltName extension only its dNSName entries count, and the subject CN only when there is
    no such extension. An IP address matches iPAddress entries only, never a dNSName or the CN.
    Internationalised names are compared in A-label form.
    """
    host = _host_of(server_name)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None  # reported as malformed by the checks
    if address is not None:
        if san is not None and address in san.get_values_for_type(x509.IPAddress):
            return "san"
        return None
    host = _a_label(host)
    if san is not None:
        return "san" if any(_dns_matches(name, host) for name in san.get_values_for_type(x509.DNSName)) else None
    # Every CN is tried: several CNs are rare, and which one Windows uses is not documented.
    names_cn = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return "cn" if any(_dns_matches(name, host) for name in names_cn) else None


def _cn_covers(cert, server_name: str) -> bool:
    host = _a_label(_host_of(server_name))
    return any(_dns_matches(str(a.value), host) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def server_name_matches(cert, server_name: str) -> bool:
    """IP-HTTPS name rule: SAN dNSName (or the CN without SAN), case-insensitive, left-most wildcard."""
    return match_server_name(cert, server_name) is not None


# ---------------------------------------------------------------------------------------------
# Validation of one given path
# ---------------------------------------------------------------------------------------------

def _utc(at) -> datetime.datetime:
    if at is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if not isinstance(at, datetime.datetime):
        raise CertificateError(f"at: expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None:
        return at.replace(tzinfo=datetime.timezone.utc)
    try:
        return at.astimezone(datetime.timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last datetime in UTC
        raise CertificateError(f"at: {at.isoformat()} cannot be expressed in UTC") from None


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem(code: str, verdict: str, index: int | None, cert, message: str) -> dict:
    return {
        "code": code,
        "verdict": verdict,
        "index": index,
        "subject": cert.subject.rfc4514_string() if cert is not None else None,
        "thumbprint": thumbprint(cert) if cert is not None else None,
        "message": message,
    }


def _check_certificates(items, name: str) -> list:
    if items is None or isinstance(items, (str, bytes)):
        raise CertificateError(f"{name}: expected a list of certificates, got {type(items).__name__}")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, x509.Certificate):
            raise CertificateError(f"{name} item {index}: expected a certificate, got {type(item).__name__}")
        result.append(item)
    return result


def _name_mismatch(leaf, server_name: str) -> dict:
    host = _host_of(server_name)
    if _has_san(leaf):
        where = "SAN entries" + (" (IP address entries, as the name is an address)" if _is_address(host) else "")
        note = " The subject CN is not used when the certificate has a subjectAltName extension."
    else:
        where, note = "subject CN", ""
    return _problem("name_mismatch", "name_mismatch", 0, leaf,
                    f"The server certificate's {where} do not cover {host!r}.{note}")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _has_san(cert) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType):
        return False
    return True


def _key_usage(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (x509.ExtensionNotFound, ValueError, TypeError, x509.DuplicateExtension,
            x509.UnsupportedGeneralNameType):
        return None


def _extension_label(oid: str | None) -> str:
    if oid is None:
        return "an extension"
    known = SUPPORTED_CRITICAL_EXTENSIONS.get(oid)
    return f"extension {oid} ({known})" if known else f"extension {oid}"


def _extension_problems(index: int, cert) -> list[dict]:
    """malformed (cannot be parsed, or repeated) or unsupported_critical_extension problems."""
    subject = cert.subject.rfc4514_string()
    fault = extension_fault(cert)
    if fault is not None and index > 0 and fault["oid"] == "2.5.29.30" and name_constraints_explain_fault(cert):
        return []  # Windows reports it as a name constraint fault: validate_path's name constraint check
    if fault is not None:
        problem = _problem("malformed_extension", "malformed", index, cert,
                           f"Certificate '{subject}' ({thumbprint(cert)}): {_extension_label(fault['oid'])} "
                           f"{fault['reason']}.")
        problem["extension"] = fault["oid"]
        return [problem]
    problems = []
    for extension in cert.extensions:
        oid = extension.oid.dotted_string
        if extension.critical and oid not in SUPPORTED_CRITICAL_EXTENSIONS:
            problem = _problem("critical_extension", "unsupported_critical_extension", index, cert,
                               f"Certificate '{subject}' has critical extension {oid}, which Windows does not "
                               "support (CERT_E_CRITICAL).")
            problem["extension"] = oid
            problems.append(problem)
    return problems


def _weak_key_problem(index: int, cert) -> dict | None:
    try:
        key = cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return _problem("weak_key", "weak_crypto", index, cert,
                        f"Certificate '{cert.subject.rfc4514_string()}' has a {key.key_size}-bit RSA key; Windows "
                        f"blocks RSA keys under {MIN_RSA_BITS} bits (Microsoft security advisory 2661254).")
    return None


def _worst(problems: list[dict]) -> str | None:
    found = {p["verdict"] for p in problems}
    for verdict in PROBLEM_PRECEDENCE:
        if verdict in found:
            return verdict
    return None


def validate_path(path, at=None, *, check_eku: bool = True, server_name: str | None = None,
                  top_is_anchor: bool = True, _self_signed=None, _signed=None) -> dict:
    """Check one explicit path (leaf first, issuer of each certificate next).

    Checks validity at ``at`` for every certificate, issuer name chaining (RFC 5280 7.1
    comparison), each link's signature, CA basicConstraints, pathLenConstraint (self-issued
    intermediates not counted, RFC 5280 6.1.4(l)), keyUsage keyCertSign on issuers, Server
    Authentication EKU on every certificate that has an EKU extension (Windows intersects EKUs
    along the chain) when ``check_eku``, every CA's name constraints against the leaf's names
    (_name_constraints), and the leaf name when ``server_name`` is given.

    Trust is not decided here: the top certificate is treated as a trust anchor when
    ``top_is_anchor`` (or when it is self-signed), which only exempts a root without
    basicConstraints (old v1 enterprise roots) from the CA check.
    Returns ``{'valid': bool, 'verdict': str|None, 'problems': [problem, ...]}``.
    """
    path = _check_certificates(path, "path")
    if not path:
        problems = [_problem("empty", "no_chain", None, None, "The path is empty.")]
        return {"valid": False, "verdict": "no_chain", "problems": problems}
    moment = _utc(at)
    for index, cert in enumerate(path):
        fault = _name_fault(cert)
        if fault is not None:
            # Nothing else can be checked on a certificate whose names cannot be read.
            thumb = thumbprint(cert)
            problem = {"code": "malformed_name", "verdict": "malformed", "index": index, "subject": None,
                       "thumbprint": thumb, "message": f"Certificate {thumb} is malformed: {fault}.",
                       "extension": None}
            return {"valid": False, "verdict": "malformed", "problems": [problem]}
    self_signed = _self_signed or (lambda cert: is_self_issued(cert) and is_signed_by(cert, cert))
    problems: list[dict] = []

    for index, cert in enumerate(path):
        problems.extend(_extension_problems(index, cert))
        weak = _weak_key_problem(index, cert)
        if weak is not None:
            problems.append(weak)

    for index, cert in enumerate(path):
        subject = cert.subject.rfc4514_string()
        if cert.not_valid_before_utc > moment:
            problems.append(_problem("not_yet_valid", "not_yet_valid", index, cert,
                                     f"Certificate '{subject}' is not valid before {_iso(cert.not_valid_before_utc)}."))
        if cert.not_valid_after_utc < moment:
            problems.append(_problem("expired", "expired", index, cert,
                                     f"Certificate '{subject}' expired on {_iso(cert.not_valid_after_utc)}."))

    last = len(path) - 1
    for index in range(last):
        child, parent = path[index], path[index + 1]
        if not names_match(child.issuer, parent.subject):
            problems.append(_problem(
                "name_chaining", "no_chain", index, child,
                f"Certificate '{child.subject.rfc4514_string()}' names issuer '{child.issuer.rfc4514_string()}', "
                f"but the next certificate is '{parent.subject.rfc4514_string()}'."))
        weak_hash = WEAK_SIGNATURE_ALGORITHMS.get(child.signature_algorithm_oid.dotted_string)
        if weak_hash is not None:
            # Not verified: Windows rejects the algorithm itself. A root's own self-signature is
            # never checked, so an old MD5 or MD2 root stays usable.
            problems.append(_problem(
                "weak_signature", "weak_crypto", index, child,
                f"Certificate '{child.subject.rfc4514_string()}' is signed with {weak_hash}, which Windows "
                "rejects outside a root's own self-signature."))
        elif not (_signed or is_signed_by)(child, parent):
            problems.append(_problem(
                "bad_signature", "bad_signature", index, child,
                f"The signature on '{child.subject.rfc4514_string()}' does not verify with the key of "
                f"'{parent.subject.rfc4514_string()}' ({thumbprint(parent)})."))

    for index in range(1, len(path)):
        issuer = path[index]
        subject = issuer.subject.rfc4514_string()
        is_root = index == last and (top_is_anchor or self_signed(issuer))
        constraints = basic_constraints(issuer)
        if constraints is None:
            # Unreadable extensions are reported once (malformed, name_constraints), not again here.
            if not is_root and extension_fault(issuer) is None:
                problems.append(_problem("not_ca", "wrong_usage", index, issuer,
                                         f"'{subject}' issues certificates but has no basicConstraints extension "
                                         "marking it as a CA."))
        elif not constraints.ca:
            problems.append(_problem("not_ca", "wrong_usage", index, issuer,
                                     f"'{subject}' issues certificates but its basicConstraints say it is not a CA."))
        if constraints is not None and constraints.path_length is not None:
            below = sum(1 for k in range(1, index) if not is_self_issued(path[k]))
            if below > constraints.path_length:
                problems.append(_problem("path_length", "wrong_usage", index, issuer,
                                         f"'{subject}' allows {constraints.path_length} intermediate CA(s) below it "
                                         f"(pathLenConstraint) but the path has {below}."))
        usage = _key_usage(issuer)
        if usage is not None and not usage.key_cert_sign:
            problems.append(_problem("key_usage", "wrong_usage", index, issuer,
                                     f"'{subject}' issues certificates but its keyUsage lacks keyCertSign."))

    # With check_eku the path is judged for TLS server use (the leaf's keyUsage matters too).
    leaf_usage = _key_usage(path[0]) if check_eku else None
    if leaf_usage is not None and not (leaf_usage.digital_signature or leaf_usage.key_encipherment):
        # A TLS server key must sign (ECDHE) or decrypt the key exchange (RSA).
        problems.append(_problem("leaf_key_usage", "wrong_usage", 0, path[0],
                                 "The server certificate's keyUsage has neither digitalSignature nor "
                                 "keyEncipherment, so it cannot be used for TLS."))

    if check_eku:
        for index, cert in enumerate(path):
            usages = extended_key_usages(cert)
            if usages is not None and SERVER_AUTH_OID not in usages and ANY_EKU_OID not in usages:
                what = "The server certificate" if index == 0 else f"CA certificate '{cert.subject.rfc4514_string()}'"
                problems.append(_problem("eku", "wrong_usage", index, cert,
                                         f"{what} has an Extended Key Usage extension without Server Authentication "
                                         f"({SERVER_AUTH_OID})."))

    # CryptoAPI applies every CA's name constraints to the server certificate's names.
    for finding in name_constraint_findings(path):
        problem = _problem(finding["code"], "name_constraints", finding["index"], path[finding["index"]],
                           finding["message"])
        problem.update(windows_status=finding["windows_status"], constraint=finding["constraint"],
                       name=finding["name"])
        problems.append(problem)

    if server_name is not None and match_server_name(path[0], server_name) is None:
        problems.append(_name_mismatch(path[0], server_name))

    return {"valid": not problems, "verdict": _worst(problems), "problems": problems}


# ---------------------------------------------------------------------------------------------
# Path building
# ---------------------------------------------------------------------------------------------

class _Pool:
    """Every certificate known to the analysis, indexed the ways Windows looks up issuers."""

    def __init__(self):
        self.certs: dict[str, object] = {}
        self.sources: dict[str, set] = {}
        self._by_ski: dict[bytes, set] = {}
        self._by_subject: dict[tuple, set] = {}
        self._self_signed: dict[str, bool] = {}
        self._signed: dict[tuple, bool] = {}
        self._edges: dict[str, tuple] = {}
        self._ski: dict[str, bytes | None] = {}
        # Same-name candidates left unchecked past MAX_ISSUER_SIGNATURE_CHECKS.
        self.unchecked: set = set()

    def add(self, cert, source: str) -> str:
        thumb = thumbprint(cert)
        if thumb not in self.certs:
            self.certs[thumb] = cert
            self.sources[thumb] = set()
            ski = self._ski[thumb] = subject_key_id(cert)
            if ski is not None:
                self._by_ski.setdefault(ski, set()).add(thumb)
            self._by_subject.setdefault(subject_name_key(cert), set()).add(thumb)
        self.sources[thumb].add(source)
        return thumb

    def signed(self, child, parent) -> bool:
        key = (thumbprint(child), thumbprint(parent))
        if key not in self._signed:
            self._signed[key] = is_signed_by(child, parent)
        return self._signed[key]

    def self_signed(self, cert) -> bool:
        thumb = thumbprint(cert)
        if thumb not in self._self_signed:
            self._self_signed[thumb] = is_self_issued(cert) and self.signed(cert, cert)
        return self._self_signed[thumb]

    def _order(self, thumb: str) -> tuple:
        return (min(_CANDIDATE_ORDER[s] for s in self.sources[thumb]), thumb)

    def issuers(self, cert) -> tuple:
        """(issuer thumbprints, same-name certificates rejected because the key does not fit)."""
        thumb = thumbprint(cert)
        if thumb in self._edges:
            return self._edges[thumb]
        aki = authority_key_id(cert)
        names = self._by_subject.get(issuer_name_key(cert), set())
        keyed = self._by_ski.get(aki, set()) if aki is not None else set()
        edges, rejected = [], []
        for cand_thumb in sorted(names | keyed, key=self._order):
            candidate = self.certs[cand_thumb]
            cand_ski = self._ski[cand_thumb]
            if aki is not None and cand_ski is not None:
                # Key identifiers decide (Windows key match); a bad signature then is a real
                # fault of the certificate, reported as such rather than hidden.
                if aki == cand_ski:
                    edges.append(cand_thumb)
                else:
                    rejected.append(cand_thumb)
            elif len(self._signed) >= MAX_ISSUER_SIGNATURE_CHECKS and (thumb, cand_thumb) not in self._signed:
                self.unchecked.add(cand_thumb)  # neither an issuer nor a rollover: not looked at
            elif self.signed(cert, candidate):
                edges.append(cand_thumb)
            else:
                # Same name, different key: the typical CA key rollover.
                rejected.append(cand_thumb)
        self._edges[thumb] = (tuple(edges), tuple(rejected))
        return self._edges[thumb]


def _build_paths(leaf, pool: _Pool, anchors: set) -> list[tuple]:
    """Depth-first list of (path, end); end is anchored, self_signed, incomplete or too_long."""
    results: list[tuple] = []

    def walk(path: list) -> None:
        if len(results) >= MAX_PATHS:
            return
        top = path[-1]
        if thumbprint(top) in anchors:
            results.append((path, "anchored"))
            return
        if pool.self_signed(top):
            results.append((path, "self_signed"))
            return
        if len(path) >= MAX_DEPTH:
            results.append((path, "too_long"))
            return
        in_path = {thumbprint(c) for c in path}
        extended = False
        for cand_thumb in pool.issuers(top)[0]:
            if cand_thumb not in in_path:
                extended = True
                walk(path + [pool.certs[cand_thumb]])
        if not extended:
            results.append((path, "incomplete"))

    walk([leaf])
    return results


# ---------------------------------------------------------------------------------------------
# Diagnosis
# ---------------------------------------------------------------------------------------------

def _split_store(items, name: str) -> tuple[list, set]:
    """Certificates and thumbprints from a store given as certificates and/or thumbprint strings."""
    if isinstance(items, (str, bytes)):
        raise CertificateError(f"{name}: expected a list of certificates or thumbprints, got a single string")
    certs, thumbs = [], set()
    for index, item in enumerate(items or ()):
        if isinstance(item, str):
            try:
                thumbs.add(normalize_fingerprint(item, kind="sha1"))
            except CertificateError as exc:
                raise CertificateError(f"{name} item {index}: {exc}") from None
        elif isinstance(item, x509.Certificate):
            certs.append(item)
            thumbs.add(thumbprint(item))
        else:
            raise CertificateError(
                f"{name} item {index}: expected a certificate or a thumbprint string, got {type(item).__name__}")
    return certs, thumbs


def _name_fault(cert) -> str | None:
    """Why the certificate's subject or issuer name cannot be read (cryptography parses them lazily)."""
    return name_fault(cert)


class _Context:
    def __init__(self, server_chain, root_store, intermediate_store, bundle, disallowed=()):
        self.server_chain = _check_certificates(server_chain, "server_chain")
        # Only thumbprints matter: Windows refuses a chain through any certificate in Disallowed.
        self.distrusted = _split_store(disallowed, "disallowed")[1]
        root_certs, self.anchors = _split_store(root_store, "root_store")
        ca_certs, self.ca_thumbs = _split_store(intermediate_store, "intermediate_store")
        bundle_certs = _check_certificates(bundle if bundle is not None else (), "bundle")
        self.pool = _Pool()
        # Certificates whose names cannot be parsed cannot take part in path building: the leaf
        # makes the diagnosis 'malformed', any other is left out with a note.
        self.leaf_fault = _name_fault(self.server_chain[0]) if self.server_chain else None
        self.ignored: list[str] = []
        self.server_thumbs = {self._add(c, "server") for c in self.server_chain}
        for cert in ca_certs:
            self._add(cert, "intermediate_store")
        for cert in root_certs:
            self._add(cert, "root_store")
        self.bundle_thumbs = {self._add(c, "bundle") for c in bundle_certs}
        # What Windows can use while building: the server's certificates and its own stores.
        self.available = self.server_thumbs | self.ca_thumbs | self.anchors

    def _add(self, cert, source: str) -> str:
        fault = _name_fault(cert)
        if fault is None:
            return self.pool.add(cert, source)
        thumb = thumbprint(cert)
        self.ignored.append(f"Certificate {thumb} from {source} was left out of path building: {fault}.")
        return thumb

    def source(self, thumb: str) -> str:
        sources = set(self.pool.sources.get(thumb, ()))
        if thumb in self.anchors:
            sources.add("root_store")
        if thumb in self.ca_thumbs:
            sources.add("intermediate_store")
        return next(s for s in _SOURCE_LABEL_ORDER if s in sources)


def _missing(path: list, end: str, ctx: _Context) -> list[dict]:
    missing: list[dict] = []
    seen: set = set()
    last = len(path) - 1
    for index, cert in enumerate(path):
        thumb = thumbprint(cert)
        is_top = index == last
        if thumb in seen or (is_top and end == "anchored"):
            continue
        if is_top and end == "self_signed":
            store = "Root"
        elif index == 0 or thumb in ctx.available:
            continue
        else:
            store = "CA"
        seen.add(thumb)
        child = path[index - 1] if index else None
        missing.append({
            "thumbprint": thumb,
            "sha256": sha256_fingerprint(cert),
            "subject": cert.subject.rfc4514_string(),
            "store": store,
            "in_bundle": thumb in ctx.bundle_thumbs,
            "aia_urls": describe(child)["aia_ca_issuers"] if child is not None else [],
        })
    if end == "incomplete":
        top = path[-1]
        # Nothing anywhere has this issuer: we only know its name. It may be a root or an
        # intermediate; it is reported for Root because the path cannot reach a trusted root.
        missing.append({
            "thumbprint": None,
            "sha256": None,
            "subject": top.issuer.rfc4514_string(),
            "store": "Root",
            "in_bundle": False,
            "aia_urls": describe(top)["aia_ca_issuers"],
        })
    return missing


def _path_entries(path: list, end: str, ctx: _Context) -> list[dict]:
    entries = []
    last = len(path) - 1
    for index, cert in enumerate(path):
        entry = describe(cert)
        del entry["pem"]
        if index == 0:
            entry["role"] = "leaf"
        elif index == last and end in ("anchored", "self_signed"):
            entry["role"] = "root"
        else:
            entry["role"] = "intermediate"
        entry["source"] = ctx.source(thumbprint(cert))
        entries.append(entry)
    return entries


def _distrust_problems(path: list, ctx: _Context) -> list[dict]:
    problems = []
    for index, cert in enumerate(path):
        thumb = thumbprint(cert)
        if thumb in ctx.distrusted:
            what = "The server certificate" if index == 0 else f"CA certificate '{cert.subject.rfc4514_string()}'"
            problems.append(_problem(
                "explicit_distrust", "explicitly_distrusted", index, cert,
                f"{what} ({thumb}) is in the client's Untrusted Certificates store (Cert:\\LocalMachine\\Disallowed): "
                "Windows refuses every chain through it, and importing it into Root or CA does not override that."))
    return problems


def _evaluate(path: list, end: str, ctx: _Context, at, server_name) -> dict:
    checked = validate_path(path, at, check_eku=True, server_name=None,
                            top_is_anchor=end == "anchored", _self_signed=ctx.pool.self_signed,
                            _signed=ctx.pool.signed)
    problems = checked["problems"]
    if end == "too_long":
        problems.append(_problem("too_long", "no_chain", None, None,
                                 f"No path to a root was found within {MAX_DEPTH} certificates."))
    if end == "incomplete" and not path[-1].issuer.rdns:
        problems.append(_problem("issuer_unknown", "no_chain", len(path) - 1, path[-1],
                                 f"Certificate '{path[-1].subject.rfc4514_string()}' has an empty issuer name "
                                 "and no certificate signed it."))
    problems.extend(_distrust_problems(path, ctx))
    missing = _missing(path, end, ctx)
    verdicts = {p["verdict"] for p in problems}
    rank = (
        "no_chain" in verdicts,
        "malformed" in verdicts,
        # A path through a distrusted certificate is the last resort: another path (a
        # cross-certificate, a renewed CA) that avoids it is preferred.
        "explicitly_distrusted" in verdicts,
        bool(verdicts & {"bad_signature", "weak_crypto"}),
        "unsupported_critical_extension" in verdicts,
        bool(verdicts & {"expired", "not_yet_valid"}),
        _END_RANK[end],
        "wrong_usage" in verdicts,
        "name_constraints" in verdicts,
        sum(1 for m in missing if not m["in_bundle"]),
        len(missing),
        len(path),
        tuple(thumbprint(c) for c in path),
    )
    return {"path": path, "end": end, "problems": problems, "missing": missing, "rank": rank}


def _reasons(best: dict, verdict: str, name_via: str | None, server_name, ctx: _Context) -> list[str]:
    path, end, missing = best["path"], best["end"], best["missing"]
    reasons = [p["message"] for p in best["problems"]]
    top = path[-1]
    for item in missing:
        if item["thumbprint"] is None:
            reasons.append(f"The issuer '{item['subject']}' of '{top.subject.rfc4514_string()}' was not found in "
                           "the server's chain, the client's stores or the bundle (it may be a root or an "
                           "intermediate CA).")
            if ctx.anchors - set(ctx.pool.certs):
                reasons.append("Part of the client's Root store is known by thumbprint only; if the issuer is "
                               "one of those roots, supply its certificate (for example in the bundle) to "
                               "confirm the path.")
            for cand_thumb in ctx.pool.issuers(top)[1]:
                cand = ctx.pool.certs[cand_thumb]
                reasons.append(f"'{cand.subject.rfc4514_string()}' ({cand_thumb}, from {ctx.source(cand_thumb)}) "
                               "has the issuer's name but a different key: the CA was probably renewed with a "
                               "new key (key rollover).")
        elif item["store"] == "Root":
            where = "the bundle has it" if item["in_bundle"] else "the bundle does not have it"
            reasons.append(f"The chain ends at root '{item['subject']}' ({item['thumbprint']}), which is not in "
                           f"the client's Trusted Root store (Cert:\\LocalMachine\\Root); {where}.")
            if item["thumbprint"] in ctx.ca_thumbs:
                reasons.append("It is in the client's Intermediate store (CA), but Windows trusts roots only "
                               "from the Root store.")
            if item["thumbprint"] in ctx.server_thumbs and not item["in_bundle"]:
                reasons.append("The server sends this root itself, but a root is only imported from the "
                               "vetted bundle, never taken from the server.")
        else:
            where = "the bundle has it" if item["in_bundle"] else "the bundle does not have it"
            reasons.append(f"Intermediate '{item['subject']}' ({item['thumbprint']}) is neither sent by the server "
                           f"nor in the client's Intermediate store (Cert:\\LocalMachine\\CA); {where}.")
            if item["aia_urls"]:
                reasons.append(f"Windows may fetch it from {', '.join(item['aia_urls'])} if that URL is reachable "
                               "from the client.")
    if verdict == "trusted":
        reasons.append(f"The chain ends at trusted root '{top.subject.rfc4514_string()}' ({thumbprint(top)}).")
    if name_via == "san" and not _cn_covers(path[0], server_name):
        reasons.append("The name matches a SAN DNS name only; the DirectAccess planning guide expects the public "
                       "FQDN in the subject CN.")
    if ctx.pool.unchecked:
        reasons.append(f"{len(ctx.pool.unchecked)} certificate(s) with an issuer's name were not checked: the analysis "
                       f"stops verifying signatures after {MAX_ISSUER_SIGNATURE_CHECKS} checks, so a path through "
                       "them may have been missed.")
    return reasons


def diagnose(server_chain, server_name: str | None = None, root_store=(), intermediate_store=(),
             bundle=(), at=None, disallowed=()) -> dict:
    """Say whether a Windows client would trust the IP-HTTPS server chain, and what it lacks.

    ``server_chain``: certificates the server sends, leaf first. ``root_store`` and
    ``intermediate_store``: the client's LocalMachine Root and CA stores as certificates and/or
    SHA-1 thumbprints. ``bundle``: candidate CA certificates that could be imported.
    ``disallowed``: the client's LocalMachine Disallowed store, as certificates and/or thumbprints.
    See the module docstring for verdicts and their precedence.
    """
    moment = _utc(at)
    ctx = _Context(server_chain, root_store, intermediate_store, bundle, disallowed)
    result = {
        "trusted": False, "verdict": "no_chain", "missing": [], "fixable": False, "path": [],
        "reasons": [], "problems": [], "checked_at": _iso(moment),
    }
    if not ctx.server_chain:
        result["reasons"] = ["The server sent no certificate."]
        result["problems"] = [_problem("empty", "no_chain", None, None, "The server sent no certificate.")]
        return result
    if ctx.leaf_fault is not None:
        thumb = thumbprint(ctx.server_chain[0])
        message = f"The server certificate ({thumb}) is malformed: {ctx.leaf_fault}."
        problem = {"code": "malformed_name", "verdict": "malformed", "index": 0, "subject": None,
                   "thumbprint": thumb, "message": message, "extension": None}
        result.update({"verdict": "malformed", "problems": [problem], "reasons": [message] + ctx.ignored})
        return result
    leaf = ctx.server_chain[0]
    candidates = [_evaluate(path, end, ctx, moment, server_name) for path, end in _build_paths(leaf, ctx.pool, ctx.anchors)]
    best = min(candidates, key=lambda c: c["rank"])

    problems = list(best["problems"])
    name_via = None
    if server_name is not None:
        name_via = match_server_name(leaf, server_name)
        if name_via is None:
            problems.append(_name_mismatch(leaf, server_name))
    best["problems"] = problems
    verdict = _worst(problems)
    if verdict is None:
        if best["end"] == "anchored":
            verdict = "missing_intermediate" if best["missing"] else "trusted"
        else:
            verdict = "untrusted_root"
    fixable = (verdict in ("untrusted_root", "missing_intermediate") and bool(best["missing"])
               and all(m["in_bundle"] for m in best["missing"]))
    result.update({
        "trusted": verdict == "trusted",
        "verdict": verdict,
        "missing": best["missing"],
        "fixable": fixable,
        "path": _path_entries(best["path"], best["end"], ctx),
        "reasons": _reasons(best, verdict, name_via, server_name, ctx) + ctx.ignored,
        "problems": problems,
    })
    return result
