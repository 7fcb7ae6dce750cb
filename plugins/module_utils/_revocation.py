# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judge the revocation data a DirectAccess client fetched for its IP-HTTPS chain.

Internal to directaccess.iphttps; may change without notice. Controller side only, no ansible
imports, no I/O. Callers must check _certificate.HAS_CRYPTOGRAPHY before use.

client_info.ps1 (v3) fetches, on the client and through the machine's WinHTTP proxy, every CRL
distribution point and every OCSP responder URL (AIA) of the certificates in its ``server_chain``,
and reports each answer: reachable, HTTP status, size and, up to MAX_BODY_BYTES, the body.
Nothing is fetched here, and nothing fetched ever becomes an import: a CRL is only read.

evaluate() judges each CRL the way CryptoAPI uses one (RFC 5280 section 6.3): issued and signed by
the issuer of the certificate that names it (the issuer's key verifies the signature; with a
keyUsage extension the issuer needs cRLSign), thisUpdate <= now <= nextUpdate, and the
certificate's serial number listed or not. OCSP is judged by reachability only: the client sends a
plain GET of the responder URL, not an OCSP request, so an answer proves the responder is
reachable, not what it would say.

Outcomes, per certificate and overall (the worst, in this order):

- ``revoked``: a CRL in force, signed by the issuer, lists the certificate (CRYPT_E_REVOKED).
- ``offline``: the certificate names CRL or OCSP URLs and every one failed for a reason the
  diagnosis names: unreachable, an HTTP error, an expired or not yet valid CRL, a CRL signed by
  another key or by a CA without cRLSign, an unreadable body, or an LDAP/file URL, which a client
  outside the corporate network cannot reach (CRYPT_E_REVOCATION_OFFLINE).
- ``no_check``: the certificate has neither a CRL distribution point nor an OCSP responder
  (CRYPT_E_NO_REVOCATION_CHECK).
- ``unknown``: no usable answer, but not every URL is proven broken: an HTTP URL the client did
  not fetch, a CRL too large to send or whose issuer is not known, an indirect CRL, or an OCSP
  responder that answered (what it would say is not known).
- ``good``: a CRL in force, signed by the issuer, does not list the certificate.
- ``not_checked``: a self-signed root; the usual chain revocation modes (X509RevocationFlag
  ExcludeRoot, CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT) leave the root out.

Malformed input (wrong types, bad base64, garbage, out-of-range numbers or indexes) never raises:
it becomes a ``problems`` entry naming the field, and the entry is left out of the judgement.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import re
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    extension_fault,
    is_self_signed,
    issued_by,
    names_match,
    thumbprint,
)

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.x509.oid import AuthorityInformationAccessOID
except ImportError:  # reported through _certificate.HAS_CRYPTOGRAPHY
    pass

# The client sends a body only up to this size (client_info.ps1's contract).
MAX_BODY_BYTES = 262144
# More fetches than any real chain has URLs; beyond this the answer is not trusted to be sane.
MAX_FETCHES = 64
# An HTTP status, a size: anything outside these is not a value the client can have measured.
_MAX_SIZE = 2 ** 53
_BASE64_RE = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*")

OUTCOMES = ("revoked", "offline", "no_check", "unknown", "good", "not_checked")
# Worst first: the overall outcome is the first of these any certificate has.
_SEVERITY = ("revoked", "offline", "no_check", "unknown", "good")

# What CryptoAPI reports for each outcome (winerror.h; CertVerifyRevocation's return values).
WINDOWS_ERRORS = {
    "revoked": (0x80092010, "CRYPT_E_REVOKED"),
    "offline": (0x80092013, "CRYPT_E_REVOCATION_OFFLINE"),
    "no_check": (0x80092012, "CRYPT_E_NO_REVOCATION_CHECK"),
}
# A client's IP-HTTPS last error that is about revocation, and what it says. CERT_E_REVOKED is the
# policy-level form of CRYPT_E_REVOKED.
CLIENT_ERRORS = {
    0x80092010: "revoked",
    0x800B010C: "revoked",
    0x80092013: "offline",
    0x80092012: "no_check",
}
# Chain verdicts an import would fix, or none at all: only here can revocation be the host's problem.
TRUST_VERDICTS = ("trusted", "untrusted_root", "missing_intermediate")

# Per-URL results that prove the URL gives no usable revocation answer.
_FAILED = ("unreachable", "http_error", "expired", "not_yet_valid", "wrong_signer", "unreadable", "internal_only")
_HTTP_SCHEMES = ("http", "https")

LEAVE_ALONE = "No import and no iphlpsvc restart fixes this, so remediate leaves the host alone."
_AFTER_CRL_FIX = ("Once the CRL is reachable and current, clear the client's CRL cache (certutil -urlcache * delete) "
                  "and restart iphlpsvc, or wait for its next retry.")


# ---------------------------------------------------------------------------------------------
# Reading the client's answer
# ---------------------------------------------------------------------------------------------

def _where(index: int, key: str) -> str:
    return f"revocation.fetches[{index}].{key}"


def _optional_int(entry: dict, key: str, where: str, low: int, high: int, problems: list):
    value = entry.get(key)
    if value is None:
        return True, None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(f"{where}: expected null or a whole number from {low} to {high}, got {_echo(value)}")
        return False, None
    return True, value


def _optional_text(value, where: str, problems: list):
    if value is None or isinstance(value, str):
        return True, value
    problems.append(f"{where}: expected a string or null, got {type(value).__name__}")
    return False, None


def _echo(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _proxy(raw, problems: list) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"revocation.proxy: expected an object or null, got {type(raw).__name__}")
        return None
    proxy = {}
    for key in ("source", "proxy", "bypass"):
        ok, value = _optional_text(raw.get(key), f"revocation.proxy.{key}", problems)
        proxy[key] = value if ok else None
    return proxy


def _fetch(index: int, entry, chain_length: int, problems: list) -> dict | None:
    """One fetch, checked field by field; None (with problems) when it cannot be used."""
    if not isinstance(entry, dict):
        problems.append(f"revocation.fetches[{index}]: expected an object, got {type(entry).__name__}")
        return None
    bad = len(problems)
    cert_index = entry.get("cert_index")
    if isinstance(cert_index, bool) or not isinstance(cert_index, int) or not 0 <= cert_index < chain_length:
        span = f"0..{chain_length - 1}" if chain_length else "none: the chain is empty"
        problems.append(f"{_where(index, 'cert_index')}: expected an index into server_chain ({span}), "
                        f"got {_echo(cert_index)}")
    kind = entry.get("kind")
    if kind not in ("crl", "ocsp"):
        problems.append(f"{_where(index, 'kind')}: expected 'crl' or 'ocsp', got {_echo(kind)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        problems.append(f"{_where(index, 'url')}: expected a URL, got {_echo(url)}")
    reachable = entry.get("reachable")
    if not isinstance(reachable, bool):
        problems.append(f"{_where(index, 'reachable')}: expected true or false, got {_echo(reachable)}")
    _ok, status = _optional_int(entry, "status", _where(index, "status"), 100, 599, problems)
    _ok, size = _optional_int(entry, "size", _where(index, "size"), 0, _MAX_SIZE, problems)
    _ok, error = _optional_text(entry.get("error"), _where(index, "error"), problems)
    body = _body(entry.get("body_base64"), _where(index, "body_base64"), problems)
    if len(problems) > bad:
        return None
    return {"cert_index": cert_index, "kind": kind, "url": url, "reachable": reachable, "status": status,
            "size": size, "error": error, "body": body}


def _body(value, where: str, problems: list) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{where}: expected base64 text or null, got {type(value).__name__}")
        return None
    # Base64 is 4/3 of the bytes; anything much longer cannot be within the client's limit.
    if len(value) > MAX_BODY_BYTES * 4 // 3 + 1024:
        problems.append(f"{where}: longer than the {MAX_BODY_BYTES} bytes the client sends; refused unread")
        return None
    if not _BASE64_RE.fullmatch(value):
        problems.append(f"{where}: not base64 text")
        return None
    try:
        body = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        problems.append(f"{where}: not valid base64 ({exc})")
        return None
    if len(body) > MAX_BODY_BYTES:
        problems.append(f"{where}: {len(body)} bytes, more than the {MAX_BODY_BYTES} the client sends; refused")
        return None
    return body


# ---------------------------------------------------------------------------------------------
# What a certificate names, and who issued it
# ---------------------------------------------------------------------------------------------

def _extension(cert, ext_class):
    try:
        return cert.extensions.get_extension_for_class(ext_class).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        # A malformed extension: the chain diagnosis reports it as 'malformed'.
        return None


def crl_distribution_points(cert) -> list[dict]:
    """Each CDP URL with the CRL issuer the distribution point names (None: the certificate's issuer)."""
    points = []
    for point in _extension(cert, x509.CRLDistributionPoints) or ():
        crl_issuer = None
        for name in point.crl_issuer or ():
            if isinstance(name, x509.DirectoryName):
                crl_issuer = name.value
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                points.append({"url": name.value, "crl_issuer": crl_issuer})
    return points


def ocsp_urls(cert) -> list[str]:
    aia = _extension(cert, x509.AuthorityInformationAccess)
    return [desc.access_location.value for desc in aia or ()
            if desc.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(desc.access_location, x509.UniformResourceIdentifier)]


def _issuer_of(index: int, chain: list, pool: list):
    cert = chain[index]
    candidates = ([chain[index + 1]] if index + 1 < len(chain) else []) + list(pool) + list(chain)
    for candidate in candidates:
        if candidate is not cert and issued_by(cert, candidate):
            return candidate
    return None


def _can_sign_crls(issuer) -> bool:
    usage = _extension(issuer, x509.KeyUsage)
    return usage is None or usage.crl_sign


# ---------------------------------------------------------------------------------------------
# Judging one URL
# ---------------------------------------------------------------------------------------------

def _iso(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load_crl(body: bytes):
    try:
        if body.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(body)
        return x509.load_der_x509_crl(body)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _signed_by(crl, issuer) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def _revoked_entry(crl, serial: int):
    """(listed, revocation date, reason); raises ValueError when the entries cannot be parsed."""
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    if entry is None:
        return False, None, None
    reason = None
    try:
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        pass
    except (ValueError, TypeError, x509.DuplicateExtension):
        reason = "unreadable"
    return True, _iso(entry.revocation_date_utc), reason


def _delta_urls(crl) -> list[str]:
    try:
        freshest = crl.extensions.get_extension_for_class(x509.FreshestCRL).value
    except (x509.ExtensionNotFound, ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return []
    return [name.value for point in freshest for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)]


def _judge_crl(url_result: dict, fetch: dict, cert, issuer, point: dict, now) -> None:
    body = fetch["body"]
    if body is None:
        url_result.update(result="not_evaluated",
                          message=f"The client reached {point['url']} (HTTP {fetch['status']}, {fetch['size']} bytes) "
                                  f"but did not send the CRL (it sends up to {MAX_BODY_BYTES} bytes), so it was not "
                                  "checked.")
        return
    crl = _load_crl(body)
    if crl is None:
        url_result.update(result="unreadable",
                          message=f"What the client got from {point['url']} is not a CRL (neither DER nor PEM).")
        return
    url_result.update(this_update=_iso(crl.last_update_utc), next_update=_iso(crl.next_update_utc),
                      delta_crl_urls=_delta_urls(crl))
    if point["crl_issuer"] is not None or not names_match(crl.issuer, cert.issuer):
        url_result.update(result="indirect",
                          message=f"The CRL at {point['url']} is issued by '{crl.issuer.rfc4514_string()}', not by the "
                                  f"certificate's issuer '{cert.issuer.rfc4514_string()}' (an indirect CRL); this "
                                  "check does not verify indirect CRLs.")
        return
    if issuer is None:
        url_result.update(result="not_evaluated",
                          message=f"The issuer of '{cert.subject.rfc4514_string()}' is not known here, so the "
                                  f"signature of the CRL at {point['url']} could not be checked.")
        return
    if not _signed_by(crl, issuer):
        url_result.update(result="wrong_signer",
                          message=f"The CRL at {point['url']} names '{crl.issuer.rfc4514_string()}' as issuer, but "
                                  f"that CA's key ({thumbprint(issuer)}) does not verify its signature: it was signed "
                                  "by another key (for example a renewed CA key) or is damaged. Windows rejects it.")
        return
    if not _can_sign_crls(issuer):
        url_result.update(result="wrong_signer",
                          message=f"The CRL at {point['url']} is signed by '{issuer.subject.rfc4514_string()}', whose "
                                  "keyUsage lacks cRLSign. Windows rejects it (RFC 5280 6.3.3).")
        return
    if crl.last_update_utc > now:
        url_result.update(result="not_yet_valid",
                          message=f"The CRL at {point['url']} is not valid until {_iso(crl.last_update_utc)} "
                                  "(thisUpdate); check the CA's and the client's clocks.")
        return
    try:
        listed, revoked_at, reason = _revoked_entry(crl, cert.serial_number)
    except (ValueError, TypeError, x509.DuplicateExtension):
        url_result.update(result="unreadable",
                          message=f"The entries of the CRL at {point['url']} cannot be parsed.")
        return
    next_update = crl.next_update_utc
    if next_update is not None and next_update < now:
        also = " It also lists this certificate as revoked." if listed else ""
        url_result.update(result="expired",
                          message=f"The CRL at {point['url']} expired on {_iso(next_update)} (nextUpdate) and no "
                                  f"newer one is published there; Windows treats that as offline.{also}")
        return
    if listed:
        why = f", reason {reason}" if reason else ""
        url_result.update(result="lists_certificate", revoked_at=revoked_at, reason=reason,
                          message=f"The CRL at {point['url']}, signed by '{issuer.subject.rfc4514_string()}' and in "
                                  f"force, lists '{cert.subject.rfc4514_string()}' (serial {cert.serial_number:X}) "
                                  f"as revoked on {revoked_at}{why}.")
        return
    url_result.update(result="current",
                      message=f"The CRL at {point['url']} is signed by the issuer, in force until "
                              f"{_iso(next_update) or 'an unspecified time (no nextUpdate)'}, and does not list the "
                              "certificate.")


def _scheme(url) -> str:
    try:
        return (urlsplit(url).scheme or "").lower()
    except (ValueError, TypeError):  # e.g. an unclosed IPv6 bracket
        return ""


def _judge_url(kind: str, point: dict, fetch: dict | None, cert, issuer, now, proxy: dict | None) -> dict:
    url = point["url"]
    result = {"url": url, "kind": kind, "reachable": None, "status": None, "size": None, "error": None,
              "result": "not_fetched", "message": ""}
    scheme = _scheme(url)
    if fetch is not None:
        result.update(reachable=fetch["reachable"], status=fetch["status"], size=fetch["size"], error=fetch["error"])
    if scheme not in _HTTP_SCHEMES and not (fetch and fetch["reachable"]):
        # AD CS puts ldap:// (and file://) CDPs first by default; both need the corporate network, which a client
        # whose IP-HTTPS tunnel is down reaches only through that tunnel. The client lists them without fetching.
        result.update(result="internal_only",
                      message=f"{url} is an {scheme or 'unknown'} URL, which needs the corporate network; a client on "
                              "the Internet reaches it only through the tunnel it is trying to build.")
        return result
    if fetch is None:
        result["message"] = f"The client did not fetch {url}."
        return result
    if kind == "ocsp" and fetch["reachable"]:
        result.update(result="responder_reachable",
                      message=f"The OCSP responder {url} answered the client (HTTP {fetch['status']}); what it "
                              "says about the certificate is not checked here.")
        return result
    if fetch["status"] is not None and not 200 <= fetch["status"] < 300:
        # The client reports an HTTP error answer as not reachable (for a CRL); the status says more.
        result.update(result="http_error", message=f"{url} answered the client with HTTP {fetch['status']}: the "
                                                   "CRL is not published there.")
        return result
    if not fetch["reachable"]:
        detail = f": {fetch['error']}" if fetch["error"] else ""
        result.update(result="unreachable", message=f"The client could not reach {url}{_via(proxy)}{detail}.")
        return result
    _judge_crl(result, fetch, cert, issuer, point, now)
    return result


def _via(proxy: dict | None) -> str:
    if not proxy:
        return ""
    if proxy.get("proxy"):
        return f" through its WinHTTP proxy {proxy['proxy']}"
    return " (WinHTTP: direct, no proxy)"


# ---------------------------------------------------------------------------------------------
# Judging a certificate and the chain
# ---------------------------------------------------------------------------------------------

def _certificate_outcome(urls: list[dict]) -> str:
    results = [u["result"] for u in urls]
    if not results:
        return "no_check"
    if "lists_certificate" in results:
        return "revoked"
    if "current" in results:
        return "good"
    if all(r in _FAILED for r in results):
        return "offline"
    return "unknown"


def _remedy(outcome: str, cert, issuer_name: str, urls: list[dict]) -> str:
    subject = cert.subject.rfc4514_string()
    if outcome == "revoked":
        return (f"'{subject}' is revoked by its issuer. Issue a new certificate to replace it (a new CA certificate "
                "if a CA was revoked), bind it on the DirectAccess server, and check that the CRL the clients "
                "download is current. " + LEAVE_ALONE)
    if outcome == "no_check":
        return (f"'{subject}' has no CRL distribution point and no OCSP responder, so Windows cannot check its "
                "revocation. Reissue it from a CA whose certificates carry an HTTP CRL distribution point that "
                "Internet clients can reach. " + LEAVE_ALONE)
    failing = [u for u in urls if u["result"] in _FAILED]
    expired = [u["url"] for u in failing if u["result"] in ("expired", "not_yet_valid", "wrong_signer")]
    unreachable = [u["url"] for u in failing if u["result"] not in ("expired", "not_yet_valid", "wrong_signer")]
    steps = []
    if unreachable:
        steps.append(f"Publish the CRL of '{issuer_name}' where Internet clients can reach it over HTTP "
                     f"({', '.join(unreachable)} cannot be reached from this client; the usual DirectAccess cause is "
                     "a CDP host name that resolves only inside the corporate network), and check the client's "
                     "WinHTTP proxy (netsh winhttp show proxy).")
    if expired:
        steps.append(f"Renew the CRL of '{issuer_name}' (certutil -CRL on the CA) and publish the new one, signed by "
                     f"that CA, at {', '.join(expired)}.")
    return " ".join(steps + [LEAVE_ALONE, _AFTER_CRL_FIX])


def _error(outcome: str | None) -> dict | None:
    if outcome not in WINDOWS_ERRORS:
        return None
    code, name = WINDOWS_ERRORS[outcome]
    return {"code": code, "hex": f"0x{code:X}", "name": name}


def _judge_certificate(index: int, chain: list, pool: list, by_url: dict, now, proxy) -> dict:
    cert = chain[index]
    entry = {"index": index, "subject": cert.subject.rfc4514_string(), "thumbprint": thumbprint(cert),
             "serial": f"{cert.serial_number:X}", "outcome": "not_checked", "windows_error": None, "urls": [],
             "message": "", "remedy": ""}
    if is_self_signed(cert):
        entry["message"] = (f"'{entry['subject']}' is a self-signed root; chain revocation checks leave the root "
                            "out.")
        return entry
    fault = extension_fault(cert)
    if fault is not None:  # otherwise an unparseable CDP would read as "no CDP"
        raise ValueError(f"extension {fault['oid']} {fault['reason']}")
    issuer = _issuer_of(index, chain, pool)
    issuer_name = issuer.subject.rfc4514_string() if issuer is not None else cert.issuer.rfc4514_string()
    for point in crl_distribution_points(cert):
        fetch = by_url.get((index, "crl", point["url"]))
        entry["urls"].append(_judge_url("crl", point, fetch, cert, issuer, now, proxy))
    for url in ocsp_urls(cert):
        fetch = by_url.get((index, "ocsp", url))
        entry["urls"].append(_judge_url("ocsp", {"url": url, "crl_issuer": None}, fetch, cert, issuer, now, proxy))
    outcome = _certificate_outcome(entry["urls"])
    entry.update(outcome=outcome, windows_error=_error(outcome))
    subject = entry["subject"]
    if outcome == "no_check":
        entry["message"] = (f"'{subject}' has no CRL distribution point and no OCSP responder URL, so its revocation "
                            "cannot be checked (CRYPT_E_NO_REVOCATION_CHECK).")
    elif outcome == "good":
        current = next(u["message"] for u in entry["urls"] if u["result"] == "current")
        entry["message"] = f"'{subject}' is not revoked: " + current
    else:
        relevant = [u for u in entry["urls"] if outcome != "revoked" or u["result"] == "lists_certificate"]
        lead = {"revoked": "is revoked", "offline": "cannot be checked for revocation (CRYPT_E_REVOCATION_OFFLINE)",
                "unknown": "has no revocation answer this check could use"}[outcome]
        entry["message"] = f"'{subject}' {lead}: " + " ".join(u["message"] for u in relevant)
    if outcome in WINDOWS_ERRORS:
        entry["remedy"] = _remedy(outcome, cert, issuer_name, entry["urls"])
    for url in entry["urls"]:
        if url.get("delta_crl_urls") and outcome in ("offline", "unknown", "good"):
            deltas = ", ".join(url["delta_crl_urls"])
            entry["message"] += (f" The CRL at {url['url']} also names delta CRLs ({deltas}), which Windows fetches "
                                 "as well; the client did not report them.")
    return entry


def _safely_judged(index: int, chain: list, pool: list, by_url: dict, now, proxy, problems: list) -> dict:
    try:
        return _judge_certificate(index, chain, pool, by_url, now, proxy)
    except (ValueError, TypeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        # A name or extension cryptography cannot parse: the chain diagnosis calls it 'malformed'.
        problems.append(f"server_chain[{index}]: cannot be judged for revocation ({exc})")
        return {"index": index, "subject": None, "thumbprint": thumbprint(chain[index]), "serial": None,
                "outcome": "unknown", "windows_error": None, "urls": [],
                "message": f"Certificate {thumbprint(chain[index])} cannot be read well enough to judge its "
                           "revocation.", "remedy": ""}


def _utc(at) -> datetime.datetime:
    if at is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if at.tzinfo is None:
        return at.replace(tzinfo=datetime.timezone.utc)
    return at.astimezone(datetime.timezone.utc)


def evaluate(server_chain, revocation, *, pool=(), at=None) -> dict | None:
    """Judge client_info.ps1's ``revocation`` answer for ``server_chain``; None when the client did not run it.

    ``server_chain``: the certificates of the script's ``server_chain`` (the leaf, then Windows' chain
    elements), which ``cert_index`` points into. ``pool``: other certificates the client holds (its
    stores), searched for an issuer when the next element did not issue a certificate.
    """
    if revocation is None:
        return None
    now = _utc(at)
    chain = [c for c in server_chain or () if isinstance(c, x509.Certificate)]
    pool = [c for c in pool or () if isinstance(c, x509.Certificate)]
    problems: list[str] = []
    proxy, fetches = None, []
    if not isinstance(revocation, dict):
        problems.append(f"revocation: expected an object or null, got {type(revocation).__name__}")
    else:
        proxy = _proxy(revocation.get("proxy"), problems)
        raw_fetches = revocation.get("fetches")
        if raw_fetches is None:
            raw_fetches = []
        if not isinstance(raw_fetches, list):
            problems.append(f"revocation.fetches: expected a list, got {type(raw_fetches).__name__}")
            raw_fetches = []
        if len(raw_fetches) > MAX_FETCHES:
            problems.append(f"revocation.fetches: {len(raw_fetches)} entries, more than {MAX_FETCHES}; only the first "
                            f"{MAX_FETCHES} were read")
        for index, entry in enumerate(raw_fetches[:MAX_FETCHES]):
            fetch = _fetch(index, entry, len(chain), problems)
            if fetch is not None:
                fetches.append((index, fetch))
    by_url: dict = {}
    for index, fetch in fetches:
        key = (fetch["cert_index"], fetch["kind"], fetch["url"])
        cert = chain[fetch["cert_index"]]
        named = [p["url"] for p in crl_distribution_points(cert)] if fetch["kind"] == "crl" else ocsp_urls(cert)
        if fetch["url"] not in named:
            what = "CRL distribution point" if fetch["kind"] == "crl" else "OCSP responder"
            problems.append(f"revocation.fetches[{index}].url: {_echo(fetch['url'])} is not a {what} of "
                            f"server_chain[{fetch['cert_index']}]; ignored")
        elif key in by_url:
            problems.append(f"revocation.fetches[{index}]: a second answer for {fetch['url']}; the first is used")
        else:
            by_url[key] = fetch
    certificates = [_safely_judged(i, chain, pool, by_url, now, proxy, problems) for i in range(len(chain))]
    judged = [c for c in certificates if c["outcome"] != "not_checked"]
    outcome = next((o for o in _SEVERITY if any(c["outcome"] == o for c in judged)), "unknown")
    deciding = next((c for c in judged if c["outcome"] == outcome), None)
    return {
        "outcome": outcome,
        "windows_error": _error(outcome),
        "certificate": ({"index": deciding["index"], "subject": deciding["subject"],
                         "thumbprint": deciding["thumbprint"]} if deciding else None),
        "urls": [u["url"] for u in deciding["urls"] if u["result"] in _FAILED or u["result"] == "lists_certificate"]
        if deciding else [],
        "message": deciding["message"] if deciding else "No certificate in the chain could be judged.",
        "remedy": deciding["remedy"] if deciding else "",
        "proxy": proxy,
        "certificates": certificates,
        "problems": problems,
        "checked_at": _iso(now),
    }


# ---------------------------------------------------------------------------------------------
# What it means for the diagnosis
# ---------------------------------------------------------------------------------------------

def _cdp_listing(diagnosis: dict) -> str:
    urls = [f"{url} (in '{entry.get('subject')}')" for entry in diagnosis.get("path") or []
            for url in entry.get("crl_urls") or []]
    return ("; its CRL distribution points are " + ", ".join(urls)) if urls else \
        "; no certificate in the path names a CRL distribution point"


def apply_to_diagnosis(diagnosis: dict, evaluation: dict | None, last_error_code) -> dict:
    """The diagnosis with revocation taken into account: a new dict, never the one given.

    The verdict becomes ``revoked`` or ``revocation_offline`` (not fixable) when the chain is
    trusted, or fails only for trust reasons an import would fix, and either the client's own last
    error is a revocation error or a CRL in force proves a certificate revoked. A host whose IP-HTTPS
    reports a revocation error is never one an import or a restart fixes. Otherwise the verdict is
    kept and revocation findings only add reasons.
    """
    result = dict(diagnosis)
    code = last_error_code if isinstance(last_error_code, int) and not isinstance(last_error_code, bool) else None
    client_says = CLIENT_ERRORS.get(code)
    outcome = evaluation["outcome"] if evaluation else None
    chain_verdict = diagnosis.get("verdict")
    verdict = None
    if chain_verdict in TRUST_VERDICTS:
        if client_says == "revoked" or outcome == "revoked":
            verdict = "revoked"
        elif client_says in ("offline", "no_check"):
            verdict = "revocation_offline"
    if client_says is None and outcome in (None, "good", "unknown"):
        result["revocation"] = _summary(evaluation, chain_verdict, None, client_says)
        return result
    reasons, problems = [], []
    if client_says is not None:
        name = {"revoked": "a revoked certificate", "offline": "that the revocation server is offline",
                "no_check": "that revocation could not be checked"}[client_says]
        reasons.append(f"IP-HTTPS reports 0x{code:X}: the client's revocation check found {name}.")
    if evaluation is None:
        if client_says is not None:
            reasons.append("The client did not fetch its revocation URLs (client_info revocation 'never', or an older "
                           "script), so the failing URL cannot be named" + _cdp_listing(diagnosis) + ".")
    else:
        for cert in evaluation["certificates"]:
            if cert["outcome"] in ("revoked", "offline", "no_check") or \
                    (client_says is not None and cert["outcome"] == "unknown"):
                reasons.append(cert["message"])
                problems.append({
                    "code": f"revocation_{cert['outcome']}",
                    "verdict": "revoked" if cert["outcome"] == "revoked" else "revocation_offline",
                    "index": cert["index"], "subject": cert["subject"], "thumbprint": cert["thumbprint"],
                    "message": cert["message"],
                    "urls": [u["url"] for u in cert["urls"] if u["result"] in _FAILED
                             or u["result"] == "lists_certificate"],
                })
        if client_says in ("offline", "no_check") and outcome == "good":
            reasons.append("Every CRL the client fetched now is current and signed by its issuer: the error may come "
                           "from a stale CRL in the client's cache (certutil -urlcache * delete) or a network that "
                           "has changed since.")
        if evaluation["problems"]:
            reasons.append("Part of the client's revocation answer was unusable: " + "; ".join(evaluation["problems"]))
    if verdict is None:
        if chain_verdict == "trusted" and client_says is None:
            reasons.append("IP-HTTPS does not report a revocation error now; Windows may hold a cached CRL until it "
                           "expires.")
        result.update(reasons=list(diagnosis.get("reasons") or []) + reasons,
                      problems=list(diagnosis.get("problems") or []) + problems)
        result["revocation"] = _summary(evaluation, chain_verdict, None, client_says)
        return result
    if chain_verdict != "trusted":
        reasons.append(f"The trust analysis also finds '{chain_verdict}' (below); with a revocation error on the "
                       "client no certificate is imported: fix revocation first, then run remediate again.")
    result.update(verdict=verdict, trusted=False, fixable=False,
                  reasons=reasons + list(diagnosis.get("reasons") or []),
                  problems=problems + list(diagnosis.get("problems") or []))
    result["revocation"] = _summary(evaluation, chain_verdict, verdict, client_says)
    return result


_GENERIC_REMEDIES = {
    "revocation_offline": ("Make the CRL of every CA in the chain current and reachable from the Internet over HTTP "
                           "(the usual DirectAccess cause is a CDP that resolves only inside the corporate network); "
                           "renew an expired CRL; reissue a certificate that has no CRL distribution point. Run "
                           "client_info with revocation 'always' to have the client name the failing URL. "
                           + LEAVE_ALONE + " " + _AFTER_CRL_FIX),
    "revoked": ("Issue a new IP-HTTPS certificate (or CA certificate) to replace the revoked one and bind it on the "
                "DirectAccess server. " + LEAVE_ALONE),
}
# The evaluation's own remedy fits the verdict only when it found the same kind of failure.
_OUTCOMES_OF = {"revoked": ("revoked",), "revocation_offline": ("offline", "no_check")}


def _summary(evaluation: dict | None, chain_verdict, verdict, client_says) -> dict | None:
    if evaluation is None and client_says is None:
        return None
    outcome = evaluation["outcome"] if evaluation else None
    if verdict is None:
        remedy = evaluation["remedy"] if evaluation else ""
    elif outcome in _OUTCOMES_OF[verdict]:
        remedy = evaluation["remedy"]
    else:
        remedy = _GENERIC_REMEDIES[verdict]
    return {
        "outcome": outcome,
        "windows_error": evaluation["windows_error"] if evaluation else None,
        "client_reports": client_says,
        "chain_verdict": chain_verdict,
        "certificate": evaluation["certificate"] if evaluation and outcome in WINDOWS_ERRORS else None,
        "urls": evaluation["urls"] if evaluation else [],
        "remedy": remedy,
    }
