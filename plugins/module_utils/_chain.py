# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the IP-HTTPS server's certificate path the way a Windows client does, and say what is wrong.

Internal to directaccess.iphttps; may change without notice. Controller side only, no ansible
imports. Callers must check _certificate.HAS_CRYPTOGRAPHY before use.

Windows differs from strict Web-PKI verifiers (DirectAccess planning guide, IP-HTTPS certificate):
issuers are matched by key identifier or by name plus signature, roots without SKI/AKI are fine,
a subject CN without SAN is fine, and alternative paths (cross-certificates, renewed CAs) are
tried until one ends at a trusted root. Revocation is not checked here.

Verdicts of diagnose(), most severe first (the first that applies wins):

1. ``no_chain``: the server sent nothing, the path is longer than MAX_DEPTH, a link's issuer
   name does not match the issuer's subject, or the top certificate has an empty issuer name
   and no issuer was found, so there is nothing to name.
2. ``bad_signature``: a certificate's key identifier points at an issuer whose key does not
   verify its signature (tampered or corrupt certificate).
3. ``expired`` / ``not_yet_valid``: some certificate in the path is outside its validity window.
4. ``wrong_usage``: an issuer is not a CA (basicConstraints), a pathLenConstraint or keyUsage
   (keyCertSign) is violated, or an EKU extension in the path excludes Server Authentication.
5. ``name_mismatch``: the leaf's CN and SAN DNS names do not cover server_name.
6. ``untrusted_root``: the path ends at a self-signed root the client does not trust, or stops
   at an issuer that was found nowhere (then the missing entry has thumbprint None).
7. ``missing_intermediate``: the path ends at a trusted root, but the client lacks an
   intermediate (not sent by the server, not in its CA or Root store).
8. ``trusted``.

Where this is stricter or looser than CryptoAPI, and why:

- Issuer and subject names are compared per RFC 5280 section 7.1 (case and whitespace folded),
  and a key-identifier match with different names is a broken link (PKITS 4.3.1); CryptoAPI
  may accept such a "key match" issuer. Real AD CS chains have byte-equal names either way.
- pathLenConstraint and keyUsage are enforced on the root too; RFC 5280 leaves trust anchors
  unchecked, Windows checks them. A root without basicConstraints (v1) is accepted.
- anyExtendedKeyUsage counts as Server Authentication; no EKU extension means any usage.
- AIA fetching is not modelled: an intermediate the client could download is still reported
  missing, with the URL in the reasons. Revocation (CDP) is out of scope.
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
    is_self_issued,
    is_signed_by,
    name_key,
    names_match,
    normalize_fingerprint,
    san_dns_names,
    sha256_fingerprint,
    subject_key_id,
    thumbprint,
)

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # reported through _certificate.HAS_CRYPTOGRAPHY
    pass

SERVER_AUTH_OID = "1.3.6.1.5.5.7.3.1"
ANY_EKU_OID = "2.5.29.37.0"

# Longest path considered, leaf included. Real DirectAccess chains have 2-4 certificates.
MAX_DEPTH = 8
# Upper bound on alternative paths explored; cross-certified meshes are small in practice.
MAX_PATHS = 64

VERDICTS = (
    "trusted", "untrusted_root", "missing_intermediate", "name_mismatch", "wrong_usage",
    "expired", "not_yet_valid", "bad_signature", "no_chain",
)
# Problems decide the verdict in this order; trust (untrusted_root, missing_intermediate) comes
# only after all of them, so a name mismatch with a missing root is a name mismatch.
PROBLEM_PRECEDENCE = ("no_chain", "bad_signature", "expired", "not_yet_valid", "wrong_usage", "name_mismatch")

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
        host = urlsplit(text).hostname
        if not host:
            raise CertificateError(f"server_name: no host name in URL {server_name!r}")
        text = host
    elif text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".").lower()


def _dns_matches(pattern: str, host: str) -> bool:
    pattern = pattern.strip().rstrip(".").lower()
    if not pattern:
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
    """Return 'cn' or 'san' for the field that covers server_name, or None when neither does."""
    host = _host_of(server_name)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    # Every CN is tried: several CNs are rare, and which one Windows uses is not documented.
    names_cn = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if any(_dns_matches(name, host) for name in names_cn):
        return "cn"
    if any(_dns_matches(name, host) for name in san_dns_names(cert)):
        return "san"
    if address is not None:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return None
        if address in san.get_values_for_type(x509.IPAddress):
            return "san"
    return None


def server_name_matches(cert, server_name: str) -> bool:
    """IP-HTTPS name rule: subject CN or a SAN DNS name, case-insensitive, left-most wildcard."""
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
    return at.astimezone(datetime.timezone.utc)


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


def _worst(problems: list[dict]) -> str | None:
    found = {p["verdict"] for p in problems}
    for verdict in PROBLEM_PRECEDENCE:
        if verdict in found:
            return verdict
    return None


def validate_path(path, at=None, *, check_eku: bool = True, server_name: str | None = None,
                  top_is_anchor: bool = True, _self_signed=None) -> dict:
    """Check one explicit path (leaf first, issuer of each certificate next).

    Checks validity at ``at`` for every certificate, issuer name chaining (RFC 5280 7.1
    comparison), each link's signature, CA basicConstraints, pathLenConstraint (self-issued
    intermediates not counted, RFC 5280 6.1.4(l)), keyUsage keyCertSign on issuers, Server
    Authentication EKU on every certificate that has an EKU extension (Windows intersects EKUs
    along the chain) when ``check_eku``, and the leaf name when ``server_name`` is given.

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
    self_signed = _self_signed or (lambda cert: is_self_issued(cert) and is_signed_by(cert, cert))
    problems: list[dict] = []

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
        if not is_signed_by(child, parent):
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
            if not is_root:
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
        try:
            usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.key_cert_sign:
            problems.append(_problem("key_usage", "wrong_usage", index, issuer,
                                     f"'{subject}' issues certificates but its keyUsage lacks keyCertSign."))

    if check_eku:
        for index, cert in enumerate(path):
            usages = extended_key_usages(cert)
            if usages is not None and SERVER_AUTH_OID not in usages and ANY_EKU_OID not in usages:
                what = "The server certificate" if index == 0 else f"CA certificate '{cert.subject.rfc4514_string()}'"
                problems.append(_problem("eku", "wrong_usage", index, cert,
                                         f"{what} has an Extended Key Usage extension without Server Authentication "
                                         f"({SERVER_AUTH_OID})."))

    if server_name is not None and match_server_name(path[0], server_name) is None:
        problems.append(_problem("name_mismatch", "name_mismatch", 0, path[0],
                                 f"The server certificate's subject CN and SAN DNS names do not cover "
                                 f"{_host_of(server_name)!r}."))

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

    def add(self, cert, source: str) -> str:
        thumb = thumbprint(cert)
        if thumb not in self.certs:
            self.certs[thumb] = cert
            self.sources[thumb] = set()
            ski = subject_key_id(cert)
            if ski is not None:
                self._by_ski.setdefault(ski, set()).add(thumb)
            self._by_subject.setdefault(name_key(cert.subject), set()).add(thumb)
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
        names = self._by_subject.get(name_key(cert.issuer), set())
        keyed = self._by_ski.get(aki, set()) if aki is not None else set()
        edges, rejected = [], []
        for cand_thumb in sorted(names | keyed, key=self._order):
            candidate = self.certs[cand_thumb]
            cand_ski = subject_key_id(candidate)
            if aki is not None and cand_ski is not None:
                # Key identifiers decide (Windows key match); a bad signature then is a real
                # fault of the certificate, reported as such rather than hidden.
                if aki == cand_ski:
                    edges.append(cand_thumb)
                else:
                    rejected.append(cand_thumb)
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


class _Context:
    def __init__(self, server_chain, root_store, intermediate_store, bundle):
        self.server_chain = _check_certificates(server_chain, "server_chain")
        root_certs, self.anchors = _split_store(root_store, "root_store")
        ca_certs, self.ca_thumbs = _split_store(intermediate_store, "intermediate_store")
        bundle_certs = _check_certificates(bundle if bundle is not None else (), "bundle")
        self.pool = _Pool()
        self.server_thumbs = {self.pool.add(c, "server") for c in self.server_chain}
        for cert in ca_certs:
            self.pool.add(cert, "intermediate_store")
        for cert in root_certs:
            self.pool.add(cert, "root_store")
        self.bundle_thumbs = {self.pool.add(c, "bundle") for c in bundle_certs}
        # What Windows can use while building: the server's certificates and its own stores.
        self.available = self.server_thumbs | self.ca_thumbs | self.anchors

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


def _evaluate(path: list, end: str, ctx: _Context, at, server_name) -> dict:
    checked = validate_path(path, at, check_eku=True, server_name=None,
                            top_is_anchor=end == "anchored", _self_signed=ctx.pool.self_signed)
    problems = checked["problems"]
    if end == "too_long":
        problems.append(_problem("too_long", "no_chain", None, None,
                                 f"No path to a root was found within {MAX_DEPTH} certificates."))
    if end == "incomplete" and not path[-1].issuer.rdns:
        problems.append(_problem("issuer_unknown", "no_chain", len(path) - 1, path[-1],
                                 f"Certificate '{path[-1].subject.rfc4514_string()}' has an empty issuer name "
                                 "and no certificate signed it."))
    missing = _missing(path, end, ctx)
    verdicts = {p["verdict"] for p in problems}
    rank = (
        "no_chain" in verdicts,
        "bad_signature" in verdicts,
        bool(verdicts & {"expired", "not_yet_valid"}),
        _END_RANK[end],
        "wrong_usage" in verdicts,
        sum(1 for m in missing if not m["in_bundle"]),
        len(missing),
        len(path),
        tuple(thumbprint(c) for c in path),
    )
    return {"path": path, "end": end, "problems": problems, "missing": missing, "rank": rank}


def _reasons(best: dict, verdict: str, name_via: str | None, ctx: _Context) -> list[str]:
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
    if name_via == "san":
        reasons.append("The name matches a SAN DNS name only; the DirectAccess planning guide expects the public "
                       "FQDN in the subject CN.")
    return reasons


def diagnose(server_chain, server_name: str | None = None, root_store=(), intermediate_store=(),
             bundle=(), at=None) -> dict:
    """Say whether a Windows client would trust the IP-HTTPS server chain, and what it lacks.

    ``server_chain``: certificates the server sends, leaf first. ``root_store`` and
    ``intermediate_store``: the client's LocalMachine Root and CA stores as certificates and/or
    SHA-1 thumbprints. ``bundle``: candidate CA certificates that could be imported.
    See the module docstring for verdicts and their precedence.
    """
    moment = _utc(at)
    ctx = _Context(server_chain, root_store, intermediate_store, bundle)
    result = {
        "trusted": False, "verdict": "no_chain", "missing": [], "fixable": False, "path": [],
        "reasons": [], "problems": [], "checked_at": _iso(moment),
    }
    if not ctx.server_chain:
        result["reasons"] = ["The server sent no certificate."]
        result["problems"] = [_problem("empty", "no_chain", None, None, "The server sent no certificate.")]
        return result
    leaf = ctx.server_chain[0]
    candidates = [_evaluate(path, end, ctx, moment, server_name) for path, end in _build_paths(leaf, ctx.pool, ctx.anchors)]
    best = min(candidates, key=lambda c: c["rank"])

    problems = list(best["problems"])
    name_via = None
    if server_name is not None:
        name_via = match_server_name(leaf, server_name)
        if name_via is None:
            problems.append(_problem("name_mismatch", "name_mismatch", 0, leaf,
                                     f"The server certificate's subject CN and SAN DNS names do not cover "
                                     f"{_host_of(server_name)!r}."))
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
        "reasons": _reasons(best, verdict, name_via, ctx),
        "problems": problems,
    })
    return result
