# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revocation diagnosis: CRLs the client fetched, judged on the controller; CRLs are generated here."""
from __future__ import annotations

import base64
import copy
import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from ansible_collections.directaccess.iphttps.plugins.module_utils import _chain
from ansible_collections.directaccess.iphttps.plugins.module_utils._revocation import (
    MAX_BODY_BYTES,
    MAX_FETCHES,
    apply_to_diagnosis,
    evaluate,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _host_record
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

NOW = pki.utcnow()
ROOT_CRL = "http://pki.contoso.com/root.crl"
ISSUING_CRL = "http://pki.contoso.com/issuing.crl"
OCSP = "http://ocsp.contoso.com/"
LDAP_CDP = "ldap:///CN=Contoso%20Issuing%20CA,CN=PKI,CN=CDP,DC=corp,DC=contoso,DC=com?certificateRevocationList"
OFFLINE, REVOKED, NO_CHECK = 0x80092013, 0x80092010, 0x80092012


def ocsp_extension(*urls):
    return (x509.AuthorityInformationAccess([
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)) for u in urls]),
        False)


@pytest.fixture(scope="module")
def chain():
    """Root -> Contoso Issuing CA (CDP root.crl) -> da.contoso.com (CDP issuing.crl); the script's server_chain."""
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, crl_urls=[ROOT_CRL])
    leaf = pki.make_leaf("da.contoso.com", issuing, crl_urls=[ISSUING_CRL])
    return root, issuing, leaf


def make_crl(issuer, *, revoked=(), this_update=None, next_update=None, signer=None, issuer_name=None,
             delta_urls=(), pem=False) -> bytes:
    this_update = this_update or NOW - datetime.timedelta(hours=1)
    next_update = next_update or NOW + datetime.timedelta(days=7)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_name or issuer.cert.subject)
               .last_update(this_update).next_update(next_update))
    for serial, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - datetime.timedelta(days=2))
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    if delta_urls:
        builder = builder.add_extension(x509.FreshestCRL([
            x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in delta_urls]),
            critical=False)
    crl = builder.sign(signer or issuer.key, hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)


def fetch(cert_index, url, body=None, *, reachable=True, status=200, kind="crl", error=None, size=None):
    return {"cert_index": cert_index, "kind": kind, "url": url, "reachable": reachable,
            "status": status if reachable else None,
            "size": size if size is not None else (len(body) if body is not None else None), "error": error,
            "body_base64": base64.b64encode(body).decode("ascii") if body is not None else None}


def answer(*fetches, proxy="proxy.contoso.com:8080"):
    return {"proxy": {"source": "winhttp", "proxy": proxy, "bypass": None}, "fetches": list(fetches)}


def server_chain(root, issuing, leaf):
    return [leaf.cert, issuing.cert, root.cert]


def good_answer(root, issuing, leaf):
    return answer(fetch(0, ISSUING_CRL, make_crl(issuing)), fetch(1, ROOT_CRL, make_crl(root)))


def judged(result, index):
    return result["certificates"][index]


# --- outcomes ---

def test_current_crls_signed_by_the_issuers_are_good(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), good_answer(*chain), at=NOW)
    assert (result["outcome"], result["windows_error"], result["problems"]) == ("good", None, [])
    assert [c["outcome"] for c in result["certificates"]] == ["good", "good", "not_checked"]
    [url] = judged(result, 0)["urls"]
    assert (url["url"], url["result"], url["reachable"], url["status"]) == (ISSUING_CRL, "current", True, 200)
    assert "self-signed root" in judged(result, 2)["message"]
    assert result["proxy"] == {"source": "winhttp", "proxy": "proxy.contoso.com:8080", "bypass": None}


def test_crl_in_pem_form_is_read(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, make_crl(issuing, pem=True)),
                                                   fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "good"


def test_listed_serial_is_revoked_with_date_and_reason(chain):
    root, issuing, leaf = chain
    crl = make_crl(issuing, revoked=[(leaf.cert.serial_number, x509.ReasonFlags.key_compromise)])
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, crl), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "revoked"
    assert result["windows_error"] == {"code": REVOKED, "hex": "0x80092010", "name": "CRYPT_E_REVOKED"}
    assert result["certificate"]["thumbprint"] == leaf.thumbprint and result["urls"] == [ISSUING_CRL]
    [url] = judged(result, 0)["urls"]
    assert url["result"] == "lists_certificate" and url["reason"] == "keyCompromise"
    assert url["revoked_at"] == (NOW - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "Issue a new certificate" in result["remedy"] and "leaves the host alone" in result["remedy"]


def test_other_serials_on_the_crl_do_not_revoke(chain):
    root, issuing, leaf = chain
    crl = make_crl(issuing, revoked=[(leaf.cert.serial_number + 1, None)])
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, crl), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "good"


def test_revoked_intermediate_outranks_an_offline_leaf(chain):
    root, issuing, leaf = chain
    root_crl = make_crl(root, revoked=[(issuing.cert.serial_number, x509.ReasonFlags.ca_compromise)])
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, reachable=False, error="timed out"),
                                                   fetch(1, ROOT_CRL, root_crl)), at=NOW)
    assert result["outcome"] == "revoked" and result["certificate"]["index"] == 1
    assert [c["outcome"] for c in result["certificates"]] == ["offline", "revoked", "not_checked"]


def test_expired_crl_is_offline_and_names_the_url_and_the_date(chain):
    root, issuing, leaf = chain
    expired = make_crl(issuing, this_update=NOW - datetime.timedelta(days=10),
                       next_update=NOW - datetime.timedelta(days=3))
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, expired), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "offline"
    assert result["windows_error"]["name"] == "CRYPT_E_REVOCATION_OFFLINE"
    assert result["urls"] == [ISSUING_CRL] and result["certificate"]["subject"] == leaf.subject
    [url] = judged(result, 0)["urls"]
    assert url["result"] == "expired" and "expired on" in url["message"] and ISSUING_CRL in url["message"]
    assert f"Renew the CRL of '{issuing.subject}'" in result["remedy"]


def test_expired_crl_that_lists_the_certificate_is_offline_and_says_so(chain):
    root, issuing, leaf = chain
    expired = make_crl(issuing, revoked=[(leaf.cert.serial_number, None)],
                       this_update=NOW - datetime.timedelta(days=10), next_update=NOW - datetime.timedelta(days=3))
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, expired), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "offline"
    assert "also lists this certificate as revoked" in judged(result, 0)["message"]


def test_crl_not_yet_valid_is_offline(chain):
    root, issuing, leaf = chain
    future = make_crl(issuing, this_update=NOW + datetime.timedelta(days=1),
                      next_update=NOW + datetime.timedelta(days=8))
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, future), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "offline"
    assert judged(result, 0)["urls"][0]["result"] == "not_yet_valid"


def test_crl_signed_by_another_key_under_the_issuers_name_is_rejected(chain):
    root, issuing, leaf = chain
    forged = make_crl(issuing, signer=pki.new_key())
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, forged), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "offline"
    [url] = judged(result, 0)["urls"]
    assert url["result"] == "wrong_signer" and issuing.thumbprint in url["message"]


def test_crl_from_another_issuer_is_called_indirect_not_judged(chain):
    root, issuing, leaf = chain
    other = pki.make_intermediate("Contoso CRL Signer", root)
    indirect = make_crl(other)
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, indirect), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert result["outcome"] == "unknown"
    [url] = judged(result, 0)["urls"]
    assert url["result"] == "indirect" and "Contoso CRL Signer" in url["message"]


def test_issuer_without_crl_sign_cannot_sign_crls():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_usage={"key_cert_sign", "digital_signature"})
    leaf = pki.make_leaf("da.contoso.com", issuing, crl_urls=[ISSUING_CRL])
    result = evaluate([leaf.cert, issuing.cert, root.cert], answer(fetch(0, ISSUING_CRL, make_crl(issuing))), at=NOW)
    [url] = judged(result, 0)["urls"]
    assert url["result"] == "wrong_signer" and "cRLSign" in url["message"]


def test_garbage_body_is_unreadable_and_offline(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, b"<html>Not Found</html>"),
                                                   fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "offline"
    assert judged(result, 0)["urls"][0]["result"] == "unreadable"


def test_unreachable_url_names_the_url_the_certificate_and_the_proxy(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(
        fetch(0, ISSUING_CRL, reachable=False, error="The remote name could not be resolved: 'pki.contoso.com'"),
        fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "offline" and result["urls"] == [ISSUING_CRL]
    message = judged(result, 0)["message"]
    assert leaf.subject in message and ISSUING_CRL in message and "proxy.contoso.com:8080" in message
    assert "could not be resolved" in message
    assert "resolves only inside the corporate network" in result["remedy"]
    assert "netsh winhttp show proxy" in result["remedy"]


def test_http_error_is_offline(chain):
    root, issuing, leaf = chain
    # As client_info.ps1 reports it: a CRL URL answering 404 is not reachable, with the status beside it.
    not_found = dict(fetch(0, ISSUING_CRL, reachable=False, error="The remote server returned an error: (404)"),
                     status=404)
    result = evaluate(server_chain(*chain), answer(not_found, fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "offline"
    [url] = judged(result, 0)["urls"]
    assert (url["result"], url["status"]) == ("http_error", 404) and "HTTP 404" in url["message"]


def test_read_that_failed_after_the_status_is_unreachable(chain):
    root, issuing, leaf = chain
    cut = dict(fetch(0, ISSUING_CRL, reachable=False, error="The operation has timed out."), status=200)
    result = evaluate(server_chain(*chain), answer(cut, fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert judged(result, 0)["urls"][0]["result"] == "unreachable"


def test_crl_too_large_to_send_is_unknown(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, size=MAX_BODY_BYTES + 1),
                                                   fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "unknown"
    assert judged(result, 0)["urls"][0]["result"] == "not_evaluated"


def test_ldap_cdp_alone_is_unreachable_from_the_internet():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root)
    leaf = pki.make_leaf("da.contoso.com", issuing, crl_urls=[LDAP_CDP])
    unlisted = evaluate([leaf.cert, issuing.cert, root.cert], answer(), at=NOW)
    # client_info.ps1 lists an ldap URL without fetching it.
    listed = evaluate([leaf.cert, issuing.cert, root.cert],
                      answer(fetch(0, LDAP_CDP, reachable=False, error="ldap not fetched")), at=NOW)
    for result in (unlisted, listed):
        assert judged(result, 0)["outcome"] == "offline" and result["outcome"] == "offline"
        [url] = judged(result, 0)["urls"]
        assert url["result"] == "internal_only" and "ldap URL" in url["message"]
        assert "resolves only inside the corporate network" in result["remedy"]


def test_ldap_cdp_before_a_working_http_cdp_is_good():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, crl_urls=[])
    leaf = pki.make_leaf("da.contoso.com", issuing, crl_urls=[LDAP_CDP, ISSUING_CRL])
    result = evaluate([leaf.cert, issuing.cert, root.cert], answer(fetch(0, ISSUING_CRL, make_crl(issuing))), at=NOW)
    assert judged(result, 0)["outcome"] == "good"
    # The intermediate names nothing at all.
    assert judged(result, 1)["outcome"] == "no_check"
    assert result["outcome"] == "no_check"


def test_http_url_the_client_did_not_fetch_is_unknown(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert judged(result, 0)["outcome"] == "unknown"
    assert judged(result, 0)["urls"][0]["result"] == "not_fetched"


def test_ocsp_only_is_judged_by_reachability():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root)
    leaf = pki.make_leaf("da.contoso.com", issuing, extra_extensions=[ocsp_extension(OCSP)])
    certs = [leaf.cert, issuing.cert, root.cert]
    # The client sends a plain GET; a responder refusing it with 405 has still answered.
    answered = evaluate(certs, answer(fetch(0, OCSP, kind="ocsp", status=405)), at=NOW)
    assert judged(answered, 0)["outcome"] == "unknown"
    assert judged(answered, 0)["urls"][0]["result"] == "responder_reachable"
    silent = evaluate(certs, answer(fetch(0, OCSP, kind="ocsp", reachable=False, error="timed out")), at=NOW)
    assert judged(silent, 0)["outcome"] == "offline" and silent["certificate"]["index"] == 0


def test_certificate_without_cdp_or_ocsp_cannot_be_checked():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, crl_urls=[ROOT_CRL])
    leaf = pki.make_leaf("da.contoso.com", issuing)
    result = evaluate([leaf.cert, issuing.cert, root.cert], answer(fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "no_check"
    assert result["windows_error"] == {"code": NO_CHECK, "hex": "0x80092012", "name": "CRYPT_E_NO_REVOCATION_CHECK"}
    assert "no CRL distribution point" in result["message"] and "Reissue" in result["remedy"]


def test_issuer_missing_from_the_chain_is_found_among_the_clients_certificates(chain):
    root, issuing, leaf = chain
    crl = make_crl(issuing)
    alone = evaluate([leaf.cert], answer(fetch(0, ISSUING_CRL, crl)), at=NOW)
    assert judged(alone, 0)["outcome"] == "unknown"
    assert "is not known here" in judged(alone, 0)["urls"][0]["message"]
    pooled = evaluate([leaf.cert], answer(fetch(0, ISSUING_CRL, crl)), pool=[issuing.cert], at=NOW)
    assert judged(pooled, 0)["outcome"] == "good"


def test_delta_crls_the_client_did_not_report_are_named(chain):
    root, issuing, leaf = chain
    crl = make_crl(issuing, delta_urls=["http://pki.contoso.com/issuing+.crl"])
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, crl), fetch(1, ROOT_CRL, make_crl(root))),
                      at=NOW)
    assert "http://pki.contoso.com/issuing+.crl" in judged(result, 0)["message"]


def test_direct_connection_is_said(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, reachable=False, error="refused"),
                                                   proxy=None), at=NOW)
    assert "direct, no proxy" in judged(result, 0)["message"]


def test_certificate_with_a_malformed_extension_is_unknown_not_a_crash(chain):
    root, issuing, leaf = chain
    broken = pki.make_intermediate("Contoso Issuing CA", root, basic_constraints=False, extra_extensions=[
        (x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x04\x01\x00"), True)])
    result = evaluate([leaf.cert, broken.cert, root.cert], good_answer(root, issuing, leaf), at=NOW)
    assert judged(result, 1)["outcome"] == "unknown" and judged(result, 1)["thumbprint"] == broken.thumbprint
    assert any(p.startswith("server_chain[1]: cannot be judged for revocation (extension 2.5.29.19")
               for p in result["problems"]), result["problems"]


def test_not_run_is_none(chain):
    assert evaluate(server_chain(*chain), None) is None


def test_naive_time_is_utc(chain):
    result = evaluate(server_chain(*chain), good_answer(*chain), at=NOW.replace(tzinfo=None))
    assert result["outcome"] == "good"


# --- malformed answers: a problem naming the field, never an exception ---

def _one(chain, **changes):
    root, issuing, leaf = chain
    entry = fetch(0, ISSUING_CRL, make_crl(issuing))
    entry.update(changes)
    return answer(entry, fetch(1, ROOT_CRL, make_crl(root)))


@pytest.mark.parametrize("changes, field", [
    ({"cert_index": 3}, "revocation.fetches[0].cert_index"),
    ({"cert_index": -1}, "revocation.fetches[0].cert_index"),
    ({"cert_index": True}, "revocation.fetches[0].cert_index"),
    ({"cert_index": "0"}, "revocation.fetches[0].cert_index"),
    ({"cert_index": 10 ** 40}, "revocation.fetches[0].cert_index"),
    ({"kind": "CRL"}, "revocation.fetches[0].kind"),
    ({"url": None}, "revocation.fetches[0].url"),
    ({"url": ["http://x"]}, "revocation.fetches[0].url"),
    ({"reachable": "yes"}, "revocation.fetches[0].reachable"),
    ({"status": 99}, "revocation.fetches[0].status"),
    ({"status": 600}, "revocation.fetches[0].status"),
    ({"status": 200.0}, "revocation.fetches[0].status"),
    ({"status": -(10 ** 30)}, "revocation.fetches[0].status"),
    ({"size": -1}, "revocation.fetches[0].size"),
    ({"size": 2 ** 64}, "revocation.fetches[0].size"),
    ({"error": 5}, "revocation.fetches[0].error"),
    ({"body_base64": 12}, "revocation.fetches[0].body_base64"),
    ({"body_base64": "!!not base64!!"}, "revocation.fetches[0].body_base64"),
    ({"body_base64": "QUJ"}, "revocation.fetches[0].body_base64"),
    ({"body_base64": "A" * (MAX_BODY_BYTES * 2)}, "revocation.fetches[0].body_base64"),
    ({"body_base64": base64.b64encode(b"\0" * (MAX_BODY_BYTES + 3)).decode()}, "revocation.fetches[0].body_base64"),
])
def test_malformed_fetch_is_a_problem_naming_the_field_and_is_left_out(chain, changes, field):
    result = evaluate(server_chain(*chain), _one(chain, **changes), at=NOW)
    assert any(p.startswith(field + ":") for p in result["problems"]), result["problems"]
    # The entry is left out: the leaf's CDP counts as not fetched.
    assert judged(result, 0)["urls"][0]["result"] == "not_fetched"
    assert judged(result, 1)["outcome"] == "good"


@pytest.mark.parametrize("revocation, field", [
    ("yes", "revocation:"),
    ([], "revocation:"),
    ({"fetches": "none"}, "revocation.fetches:"),
    ({"fetches": [None]}, "revocation.fetches[0]:"),
    ({"fetches": [], "proxy": "direct"}, "revocation.proxy:"),
    ({"fetches": [], "proxy": {"proxy": 8080}}, "revocation.proxy.proxy:"),
])
def test_malformed_answer_is_a_problem_naming_the_field(chain, revocation, field):
    result = evaluate(server_chain(*chain), revocation, at=NOW)
    assert any(p.startswith(field) for p in result["problems"]), result["problems"]
    assert result["outcome"] == "unknown"


def test_fetch_of_a_url_the_certificate_does_not_name_is_ignored(chain):
    root, issuing, leaf = chain
    revoking = make_crl(issuing, revoked=[(leaf.cert.serial_number, None)])
    result = evaluate(server_chain(*chain), answer(fetch(0, "http://evil.example/x.crl", revoking),
                                                   fetch(0, ISSUING_CRL, make_crl(issuing)),
                                                   fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "good"
    assert any("is not a CRL distribution point of server_chain[0]" in p for p in result["problems"])


def test_second_answer_for_a_url_is_ignored(chain):
    root, issuing, leaf = chain
    result = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, make_crl(issuing)),
                                                   fetch(0, ISSUING_CRL, reachable=False),
                                                   fetch(1, ROOT_CRL, make_crl(root))), at=NOW)
    assert result["outcome"] == "good"
    assert any(p.startswith("revocation.fetches[1]: a second answer") for p in result["problems"])


def test_too_many_fetches_are_cut_off(chain):
    entries = [fetch(0, ISSUING_CRL, reachable=False)] * (MAX_FETCHES + 5)
    result = evaluate(server_chain(*chain), answer(*entries), at=NOW)
    assert any(f"more than {MAX_FETCHES}" in p for p in result["problems"])


def test_fetch_into_an_empty_chain_is_a_problem():
    result = evaluate([], answer(fetch(0, ISSUING_CRL, b"x")), at=NOW)
    assert result["problems"] == ["revocation.fetches[0].cert_index: expected an index into server_chain (none: the "
                                  "chain is empty), got 0"]
    assert result["outcome"] == "unknown" and result["certificates"] == []


# --- what it does to the diagnosis ---

def diagnosis(verdict="trusted", *, fixable=False, missing=()):
    return {"trusted": verdict == "trusted", "verdict": verdict, "missing": list(missing), "fixable": fixable,
            "path": [{"subject": "CN=da.contoso.com", "crl_urls": [ISSUING_CRL]},
                     {"subject": "CN=Contoso Issuing CA", "crl_urls": [ROOT_CRL]}],
            "reasons": ["The chain ends at trusted root 'CN=Contoso Root CA'."], "problems": [],
            "checked_at": "2026-01-01T00:00:00Z"}


def offline_evaluation(chain):
    root, issuing, leaf = chain
    return evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, reachable=False, error="timed out"),
                                                 fetch(1, ROOT_CRL, make_crl(root))), at=NOW)


def test_trusted_chain_with_an_offline_error_becomes_revocation_offline(chain):
    given = diagnosis()
    before = copy.deepcopy(given)
    result = apply_to_diagnosis(given, offline_evaluation(chain), OFFLINE)
    assert given == before  # a new dict
    assert (result["verdict"], result["trusted"], result["fixable"]) == ("revocation_offline", False, False)
    assert result["reasons"][0].startswith("IP-HTTPS reports 0x80092013")
    assert ISSUING_CRL in result["reasons"][1]
    [problem] = result["problems"]
    assert (problem["code"], problem["verdict"], problem["index"], problem["urls"]) == \
        ("revocation_offline", "revocation_offline", 0, [ISSUING_CRL])
    summary = result["revocation"]
    assert (summary["outcome"], summary["client_reports"]) == ("offline", "offline")
    assert summary["chain_verdict"] == "trusted"
    assert summary["urls"] == [ISSUING_CRL] and ISSUING_CRL in summary["remedy"]


def test_fixable_untrusted_root_with_a_revocation_error_is_not_fixable(chain):
    result = apply_to_diagnosis(diagnosis("untrusted_root", fixable=True, missing=[{"thumbprint": "AB"}]),
                                offline_evaluation(chain), OFFLINE)
    assert (result["verdict"], result["fixable"]) == ("revocation_offline", False)
    assert result["revocation"]["chain_verdict"] == "untrusted_root"
    assert any("also finds 'untrusted_root'" in r for r in result["reasons"])


def test_other_chain_faults_keep_their_verdict(chain):
    result = apply_to_diagnosis(diagnosis("name_mismatch"), offline_evaluation(chain), OFFLINE)
    assert result["verdict"] == "name_mismatch"
    assert any(ISSUING_CRL in r for r in result["reasons"])


def test_client_error_without_an_evaluation_lists_the_cdps():
    result = apply_to_diagnosis(diagnosis(), None, OFFLINE)
    assert result["verdict"] == "revocation_offline"
    assert any("did not fetch its revocation URLs" in r and ISSUING_CRL in r and ROOT_CRL in r
               for r in result["reasons"])
    assert "revocation 'always'" in result["revocation"]["remedy"]


def test_no_revocation_check_error_is_revocation_offline():
    result = apply_to_diagnosis(diagnosis(), None, NO_CHECK)
    assert (result["verdict"], result["revocation"]["client_reports"]) == ("revocation_offline", "no_check")


@pytest.mark.parametrize("code", [REVOKED, 0x800B010C])
def test_revoked_error_is_revoked_even_when_the_crl_is_offline_now(chain, code):
    result = apply_to_diagnosis(diagnosis(), offline_evaluation(chain), code)
    assert result["verdict"] == "revoked"
    assert result["revocation"]["remedy"].startswith("Issue a new IP-HTTPS certificate")


def test_proven_revocation_is_revoked_without_a_client_error(chain):
    root, issuing, leaf = chain
    crl = make_crl(issuing, revoked=[(leaf.cert.serial_number, None)])
    evaluation = evaluate(server_chain(*chain), answer(fetch(0, ISSUING_CRL, crl), fetch(1, ROOT_CRL, make_crl(root))),
                          at=NOW)
    result = apply_to_diagnosis(diagnosis(), evaluation, 0)
    assert (result["verdict"], result["fixable"]) == ("revoked", False)
    assert result["revocation"]["certificate"]["thumbprint"] == leaf.thumbprint


def test_offline_without_a_client_error_only_adds_reasons(chain):
    result = apply_to_diagnosis(diagnosis(), offline_evaluation(chain), 0)
    assert (result["verdict"], result["trusted"]) == ("trusted", True)
    assert any("cached CRL" in r for r in result["reasons"])
    assert result["revocation"]["outcome"] == "offline"


def test_good_evaluation_with_an_offline_error_points_at_the_cache(chain):
    evaluation = evaluate(server_chain(*chain), good_answer(*chain), at=NOW)
    result = apply_to_diagnosis(diagnosis(), evaluation, OFFLINE)
    assert result["verdict"] == "revocation_offline"
    assert any("certutil -urlcache * delete" in r for r in result["reasons"])
    assert "revocation 'always'" in result["revocation"]["remedy"]


def test_healthy_client_without_revocation_data_is_untouched():
    given = diagnosis()
    result = apply_to_diagnosis(given, None, 0)
    assert result == dict(given, revocation=None)


def test_revocation_verdicts_are_known_documented_and_left_alone():
    assert set(_chain.REVOCATION_VERDICTS) <= set(_chain.VERDICTS)
    assert _host_record.REVOCATION_VERDICTS == _chain.REVOCATION_VERDICTS
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "verdicts.md")
    with open(doc, encoding="utf-8") as handle:
        text = handle.read()
    for verdict in _chain.REVOCATION_VERDICTS:
        assert f"| `{verdict}` |" in text, verdict
        assert verdict in _host_record.VERDICT_REMEDIES
