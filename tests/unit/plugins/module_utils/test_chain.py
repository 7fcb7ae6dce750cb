# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Windows-style path building and diagnosis (_chain)."""
from __future__ import annotations

import datetime
import random

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import CertificateError
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import (
    MAX_DEPTH,
    VERDICTS,
    diagnose,
    match_server_name,
    server_name_matches,
    validate_path,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

EC = {"key_type": "ecdsa"}  # fast keys where the key type is not the point of the test
DAY = datetime.timedelta(days=1)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def ec_hierarchy(name="da.contoso.com", prefix="Contoso", **kwargs):
    return pki.make_hierarchy(name, prefix=prefix, root_key_type="ecdsa", intermediate_key_type="ecdsa",
                              leaf_key_type="ecdsa", **kwargs)


def thumbs(entries):
    return [e["thumbprint"] for e in entries]


def codes(result):
    return sorted({p["code"] for p in result["problems"]})


# ---------------------------------------------------------------------------------------------
# Trusted paths and the result shape
# ---------------------------------------------------------------------------------------------

def test_trusted_chain_and_result_shape(contoso):
    result = diagnose(contoso.server_chain, "da.contoso.com", root_store=[contoso.root.cert])
    assert result["trusted"] is True
    assert result["verdict"] == "trusted"
    assert result["missing"] == [] and result["fixable"] is False and result["problems"] == []
    assert thumbs(result["path"]) == [contoso.leaf.thumbprint, contoso.intermediate.thumbprint, contoso.root.thumbprint]
    assert [e["role"] for e in result["path"]] == ["leaf", "intermediate", "root"]
    assert [e["source"] for e in result["path"]] == ["server", "server", "root_store"]
    for entry in result["path"]:
        assert "pem" not in entry
        assert {"subject", "issuer", "thumbprint", "sha256", "not_after", "role", "source"} <= set(entry)
    assert result["path"][0]["subject"] == "CN=da.contoso.com,O=Contoso Test"
    assert any("trusted root 'CN=Contoso Root CA,O=Contoso Test'" in r for r in result["reasons"])
    assert set(VERDICTS) >= {result["verdict"]}


@pytest.mark.parametrize("style", ["upper", "lower", "colons", "spaces"])
def test_root_store_as_thumbprints_anchors_a_root_sent_by_the_server(contoso, style):
    value = contoso.root.thumbprint
    value = {"upper": value, "lower": value.lower(),
             "colons": ":".join(value[i:i + 2] for i in range(0, 40, 2)),
             "spaces": " ".join(value[i:i + 2] for i in range(0, 40, 2)).lower()}[style]
    chain = contoso.server_chain + [contoso.root.cert]
    result = diagnose(chain, "da.contoso.com", root_store=[value])
    assert result["verdict"] == "trusted"
    assert result["path"][-1]["source"] == "root_store"


def test_root_store_thumbprint_anchors_a_root_found_in_the_bundle(contoso):
    result = diagnose(contoso.server_chain, root_store=[contoso.root.thumbprint], bundle=[contoso.root.cert])
    assert result["verdict"] == "trusted"
    assert result["path"][-1]["source"] == "root_store"


def test_thumbprint_only_root_store_without_the_root_bytes_cannot_confirm(contoso):
    result = diagnose(contoso.server_chain, root_store=[contoso.root.thumbprint])
    assert result["verdict"] == "untrusted_root"
    assert result["missing"][0]["thumbprint"] is None
    assert any("known by thumbprint only" in r for r in result["reasons"])


def test_intermediate_store_supplies_the_missing_intermediate(contoso):
    result = diagnose([contoso.leaf.cert], root_store=[contoso.root.cert], intermediate_store=[contoso.intermediate.cert])
    assert result["verdict"] == "trusted"
    assert [e["source"] for e in result["path"]] == ["server", "intermediate_store", "root_store"]


def test_intermediate_store_thumbprint_counts_when_the_bundle_has_the_bytes(contoso):
    result = diagnose([contoso.leaf.cert], root_store=[contoso.root.cert],
                      intermediate_store=[contoso.intermediate.thumbprint.lower()], bundle=[contoso.intermediate.cert])
    assert result["verdict"] == "trusted"
    assert result["path"][1]["source"] == "intermediate_store"


def test_input_order_does_not_change_the_result(contoso, fabrikam):
    stores = [contoso.root.cert, fabrikam.root.cert, contoso.intermediate.cert, fabrikam.intermediate.cert]
    first = diagnose([contoso.leaf.cert], "da.contoso.com", root_store=stores[:2], bundle=stores[2:])
    shuffled = stores[:]
    random.Random(4).shuffle(shuffled)
    second = diagnose([contoso.leaf.cert], "da.contoso.com", root_store=[contoso.root.cert, fabrikam.root.cert][::-1],
                      bundle=shuffled)
    first.pop("checked_at")
    second.pop("checked_at")
    assert first == second


# ---------------------------------------------------------------------------------------------
# Trust problems: what is missing and whether the bundle fixes it
# ---------------------------------------------------------------------------------------------

def test_untrusted_root_fixable_from_bundle(contoso):
    result = diagnose(contoso.server_chain, "da.contoso.com", root_store=[], bundle=[contoso.root.cert])
    assert result["verdict"] == "untrusted_root" and result["trusted"] is False
    assert result["fixable"] is True
    # The server sends the intermediate, so Windows has it: only the root is missing.
    assert result["missing"] == [{
        "thumbprint": contoso.root.thumbprint, "sha256": contoso.root.sha256, "subject": contoso.root.subject,
        "store": "Root", "in_bundle": True, "aia_urls": ["http://pki.contoso.com/root.crt"],
    }]
    assert result["path"][-1]["source"] == "bundle"
    assert any("not in the client's Trusted Root store" in r for r in result["reasons"])


def test_untrusted_root_not_fixable_when_the_bundle_lacks_it(contoso, fabrikam):
    result = diagnose(contoso.server_chain + [contoso.root.cert], root_store=[fabrikam.root.cert],
                      bundle=[fabrikam.intermediate.cert])
    assert result["verdict"] == "untrusted_root"
    assert thumbs(result["missing"]) == [contoso.root.thumbprint]
    assert result["missing"][0]["in_bundle"] is False
    assert result["fixable"] is False
    assert any("never taken from the server" in r for r in result["reasons"])


def test_root_placed_in_the_intermediate_store_is_still_untrusted(contoso):
    result = diagnose(contoso.server_chain, root_store=[], intermediate_store=[contoso.root.cert],
                      bundle=[contoso.root.cert])
    assert result["verdict"] == "untrusted_root" and result["fixable"] is True
    assert [(m["thumbprint"], m["store"]) for m in result["missing"]] == [(contoso.root.thumbprint, "Root")]
    assert any("trusts roots only from the Root store" in r for r in result["reasons"])


def test_untrusted_root_and_missing_intermediate_are_both_listed(contoso):
    result = diagnose([contoso.leaf.cert], root_store=[], bundle=[contoso.intermediate.cert, contoso.root.cert])
    assert result["verdict"] == "untrusted_root"
    assert [(m["thumbprint"], m["store"]) for m in result["missing"]] == [
        (contoso.intermediate.thumbprint, "CA"), (contoso.root.thumbprint, "Root")]
    assert result["fixable"] is True


def test_issuer_found_nowhere_is_described_by_name(contoso):
    result = diagnose([contoso.leaf.cert], "da.contoso.com", root_store=[contoso.root.cert])
    assert result["verdict"] == "untrusted_root"
    assert result["fixable"] is False
    assert result["missing"] == [{
        "thumbprint": None, "sha256": None, "subject": "CN=Contoso Issuing CA,O=Contoso Test", "store": "Root",
        "in_bundle": False, "aia_urls": ["http://pki.contoso.com/issuing.crt"],
    }]
    assert [e["role"] for e in result["path"]] == ["leaf"]


def test_missing_intermediate_fixable_from_bundle(contoso):
    result = diagnose([contoso.leaf.cert], "da.contoso.com", root_store=[contoso.root.cert],
                      bundle=[contoso.intermediate.cert])
    assert result["verdict"] == "missing_intermediate"
    assert result["fixable"] is True
    assert [(m["thumbprint"], m["store"], m["in_bundle"]) for m in result["missing"]] == [
        (contoso.intermediate.thumbprint, "CA", True)]
    assert result["path"][1]["source"] == "bundle"
    assert any("Windows may fetch it from http://pki.contoso.com/issuing.crt" in r for r in result["reasons"])


def test_duplicates_across_inputs_are_listed_once(contoso):
    result = diagnose([contoso.leaf.cert, contoso.leaf.cert], root_store=[],
                      bundle=[contoso.intermediate.cert, contoso.root.cert, contoso.intermediate.cert,
                              contoso.root.cert])
    assert thumbs(result["missing"]) == [contoso.intermediate.thumbprint, contoso.root.thumbprint]


def test_three_levels_ecdsa_issuing_ca_server_sends_only_its_leaf():
    root = pki.make_root("Contoso Root CA", key_type="rsa")
    issuing = pki.make_intermediate("Contoso ECDSA Issuing CA", root, key_type="ecdsa")
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa")
    missing = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert], bundle=[issuing.cert])
    assert missing["verdict"] == "missing_intermediate" and missing["fixable"] is True
    assert thumbs(missing["missing"]) == [issuing.thumbprint]
    fixed = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert], intermediate_store=[issuing.cert])
    assert fixed["verdict"] == "trusted"
    unknown = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert])
    assert unknown["verdict"] == "untrusted_root" and unknown["fixable"] is False
    assert unknown["missing"][0]["subject"] == issuing.subject


# ---------------------------------------------------------------------------------------------
# Windows path building specifics
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_key_ids", [True, False])
def test_ca_key_rollover_with_identical_subject_names(with_key_ids):
    ids = {"ski": with_key_ids}
    old_root = pki.make_root("Contoso Root CA", **EC, **ids)
    new_root = pki.make_root("Contoso Root CA", **EC, **ids)
    issuing = pki.make_intermediate("Contoso Issuing CA", new_root, **EC, **ids, aki=with_key_ids)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC, aki=with_key_ids)
    chain = [leaf.cert, issuing.cert]

    # The client still has only the old root: the new one, from the bundle, is what it lacks.
    result = diagnose(chain, "da.contoso.com", root_store=[old_root.cert], bundle=[old_root.cert, new_root.cert])
    assert result["verdict"] == "untrusted_root" and result["fixable"] is True
    assert thumbs(result["missing"]) == [new_root.thumbprint]
    assert result["path"][-1]["thumbprint"] == new_root.thumbprint

    # Without the new root anywhere, the old one must not be mistaken for the issuer.
    result = diagnose(chain, "da.contoso.com", root_store=[old_root.cert])
    assert result["verdict"] == "untrusted_root" and result["fixable"] is False
    assert result["missing"][0]["thumbprint"] is None
    assert result["missing"][0]["subject"] == "CN=Contoso Root CA,O=Contoso Test"
    assert any("key rollover" in r and old_root.thumbprint in r for r in result["reasons"])

    both = diagnose(chain, "da.contoso.com", root_store=[old_root.cert, new_root.cert])
    assert both["verdict"] == "trusted"
    assert both["path"][-1]["thumbprint"] == new_root.thumbprint


def test_root_and_intermediate_without_ski_and_aki():
    root = pki.make_root("Enterprise Root", **EC, ski=False)
    issuing = pki.make_intermediate("Enterprise Issuing", root, **EC, ski=False, aki=False)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC, aki=False)
    for cert in (root.cert, issuing.cert, leaf.cert):
        assert not any(isinstance(e.value, (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier))
                       for e in cert.extensions if cert is not leaf.cert)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "trusted"
    assert result["path"][1]["ski"] is None and result["path"][1]["aki"] is None


def test_v1_style_root_without_basic_constraints_is_an_acceptable_anchor():
    root = pki.make_root("Old Enterprise Root", **EC, basic_constraints=False, key_usage=False)
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    assert diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert])["verdict"] == "trusted"


def _cross_pki():
    old_root = pki.make_root("Contoso Root CA 2016", **EC)
    new_root = pki.make_root("Contoso Root CA 2026", **EC)
    # Cross-certificate: the new root's name and key, signed by the old root.
    cross = pki.issue(subject=new_root.name, key=new_root.key, issuer=old_root, ca=True)
    issuing = pki.make_intermediate("Contoso Issuing CA", new_root, **EC)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    return old_root, new_root, cross, issuing, leaf


def test_cross_certificate_leads_to_the_trusted_old_root():
    old_root, new_root, cross, issuing, leaf = _cross_pki()
    chain = [leaf.cert, issuing.cert, cross.cert]
    result = diagnose(chain, "da.contoso.com", root_store=[old_root.cert], bundle=[new_root.cert])
    assert result["verdict"] == "trusted"
    assert thumbs(result["path"]) == [leaf.thumbprint, issuing.thumbprint, cross.thumbprint, old_root.thumbprint]
    assert [e["role"] for e in result["path"]] == ["leaf", "intermediate", "intermediate", "root"]


def test_cross_certificate_path_is_not_taken_when_the_new_root_is_trusted():
    old_root, new_root, cross, issuing, leaf = _cross_pki()
    result = diagnose([leaf.cert, issuing.cert, cross.cert], root_store=[new_root.cert], bundle=[old_root.cert])
    assert result["verdict"] == "trusted"
    assert thumbs(result["path"])[-1] == new_root.thumbprint


def test_cross_certificate_from_the_bundle_is_a_missing_intermediate():
    old_root, new_root, cross, issuing, leaf = _cross_pki()
    result = diagnose([leaf.cert, issuing.cert], root_store=[old_root.cert], bundle=[cross.cert, new_root.cert])
    # Importing the cross-certificate to CA suffices; the preferred fix reuses the trusted root.
    assert result["verdict"] == "missing_intermediate" and result["fixable"] is True
    assert [(m["thumbprint"], m["store"]) for m in result["missing"]] == [(cross.thumbprint, "CA")]


def test_loop_of_mutually_signed_cas_terminates():
    key_a, key_b = pki.new_key("ecdsa"), pki.new_key("ecdsa")
    seed_a = pki.make_root("CA A", key=key_a)
    seed_b = pki.make_root("CA B", key=key_b)
    a_by_b = pki.issue("CA A", key=key_a, issuer=seed_b, ca=True)
    b_by_a = pki.issue("CA B", key=key_b, issuer=seed_a, ca=True)
    leaf = pki.make_leaf("da.contoso.com", a_by_b, **EC)
    result = diagnose([leaf.cert, a_by_b.cert, b_by_a.cert], "da.contoso.com")
    assert result["verdict"] == "untrusted_root"
    assert result["missing"][0]["thumbprint"] is None


def test_path_longer_than_max_depth_is_no_chain():
    issuer = root = pki.make_root("Deep Root", **EC)
    chain = []
    for level in range(MAX_DEPTH):
        issuer = pki.make_intermediate(f"Deep CA {level}", issuer, **EC)
        chain.insert(0, issuer.cert)
    leaf = pki.make_leaf("da.contoso.com", issuer, **EC)
    result = diagnose([leaf.cert] + chain, "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "no_chain"
    assert "too_long" in codes(result)
    assert result["fixable"] is False


def test_empty_issuer_name_without_issuer_is_no_chain():
    leaf = pki.issue("da.contoso.com", **EC, issuer_name=x509.Name([]), aki=False, eku=[pki.SERVER_AUTH])
    result = diagnose([leaf.cert], "da.contoso.com")
    assert result["verdict"] == "no_chain"
    assert "issuer_unknown" in codes(result)


def test_empty_server_chain_is_no_chain(contoso):
    result = diagnose([], "da.contoso.com", root_store=[contoso.root.cert])
    assert result["verdict"] == "no_chain" and result["trusted"] is False
    assert result["path"] == [] and result["missing"] == [] and result["fixable"] is False
    assert result["reasons"] == ["The server sent no certificate."]


def test_self_signed_server_certificate_in_root_store_is_trusted():
    # A self-signed IP-HTTPS certificate (Hicks, 2017-04): the fix is the certificate itself in Root.
    leaf = pki.make_leaf("da.contoso.com", None, **EC)
    assert diagnose([leaf.cert], "da.contoso.com", root_store=[leaf.cert])["verdict"] == "trusted"
    result = diagnose([leaf.cert], "da.contoso.com", bundle=[leaf.cert])
    assert result["verdict"] == "untrusted_root" and result["fixable"] is True
    assert [(m["thumbprint"], m["store"]) for m in result["missing"]] == [(leaf.thumbprint, "Root")]
    assert [e["role"] for e in result["path"]] == ["leaf"]


def test_renewed_self_signed_server_certificate_is_not_trusted_by_the_old_one():
    old = pki.make_leaf("da.contoso.com", None, **EC)
    new = pki.make_leaf("da.contoso.com", None, **EC)
    result = diagnose([new.cert], "da.contoso.com", root_store=[old.cert])
    assert result["verdict"] == "untrusted_root"
    assert thumbs(result["missing"]) == [new.thumbprint]


def test_time_valid_renewed_intermediate_beats_expired_one_in_ca_store():
    root = pki.make_root("Contoso Root CA", **EC)
    key = pki.new_key("ecdsa")
    expired = pki.make_intermediate("Contoso Issuing CA", root, key=key, not_before=now() - 400 * DAY,
                                    not_after=now() - 10 * DAY)
    renewed = pki.make_intermediate("Contoso Issuing CA", root, key=key)
    leaf = pki.make_leaf("da.contoso.com", renewed, **EC)
    result = diagnose([leaf.cert, renewed.cert], "da.contoso.com", root_store=[root.cert],
                      intermediate_store=[expired.cert])
    assert result["verdict"] == "trusted"
    assert result["path"][1]["thumbprint"] == renewed.thumbprint


def test_expired_root_in_store_and_renewed_root_in_bundle_suggests_the_renewed_root():
    key = pki.new_key("ecdsa")
    old = pki.make_root("Contoso Root CA", key=key, not_before=now() - 4000 * DAY, not_after=now() - DAY)
    renewed = pki.make_root("Contoso Root CA", key=key)
    leaf = pki.make_leaf("da.contoso.com", renewed, **EC)
    result = diagnose([leaf.cert], "da.contoso.com", root_store=[old.cert], bundle=[renewed.cert])
    assert result["verdict"] == "untrusted_root" and result["fixable"] is True
    assert thumbs(result["missing"]) == [renewed.thumbprint]
    alone = diagnose([leaf.cert], "da.contoso.com", root_store=[old.cert])
    assert alone["verdict"] == "expired" and alone["fixable"] is False


# ---------------------------------------------------------------------------------------------
# Server name (IP-HTTPS rules)
# ---------------------------------------------------------------------------------------------

def test_cn_only_server_certificate_is_trusted():
    root = pki.make_root("Contoso Root CA", **EC)
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=())
    assert x509.SubjectAlternativeName not in [type(e.value) for e in leaf.cert.extensions]
    result = diagnose([leaf.cert], "DA.Contoso.com", root_store=[root.cert])
    assert result["verdict"] == "trusted"
    assert not any("SAN DNS name only" in r for r in result["reasons"])


def test_san_only_match_is_accepted_with_a_note():
    root = pki.make_root("Contoso Root CA", **EC)
    leaf = pki.make_leaf("iphttps server", root, **EC, san_dns=("da.contoso.com",))
    result = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "trusted"
    assert any("SAN DNS name only" in r for r in result["reasons"])


@pytest.mark.parametrize("pattern, host, expected", [
    ("da.contoso.com", "da.contoso.com", "cn"),
    ("da.contoso.com", "DA.CONTOSO.COM.", "cn"),
    ("*.contoso.com", "da.contoso.com", "cn"),
    ("*.Contoso.com", "Da.contoso.COM", "cn"),
    ("*.contoso.com", "a.b.contoso.com", None),
    ("*.contoso.com", "contoso.com", None),
    ("*.com", "contoso.com", None),
    ("da*.contoso.com", "da1.contoso.com", None),
    ("*.*.contoso.com", "a.b.contoso.com", None),
    ("da.contoso.com", "https://da.contoso.com:443/IPHTTPS", "cn"),
    ("da.contoso.com", "da.contoso.com:443", "cn"),
    ("da.contoso.com", "da.fabrikam.com", None),
])
def test_server_name_rules_on_cn(pattern, host, expected):
    cert = pki.issue(pattern, **EC, key_usage=False).cert
    assert match_server_name(cert, host) == expected
    assert server_name_matches(cert, host) is (expected is not None)


def test_server_name_rules_on_san_and_ip():
    cert = pki.issue("IP-HTTPS", **EC, san_dns=("*.contoso.com", "da.fabrikam.com"), san_ip=("192.0.2.10",)).cert
    assert match_server_name(cert, "da.contoso.com") == "san"
    assert match_server_name(cert, "DA.FABRIKAM.COM") == "san"
    assert match_server_name(cert, "192.0.2.10") == "san"
    assert match_server_name(cert, "https://[2001:db8::1]:443/IPHTTPS") is None
    assert match_server_name(cert, "a.b.contoso.com") is None


@pytest.mark.parametrize("bad", ["", "   ", "https:///IPHTTPS", 5])
def test_bad_server_name_is_refused(bad, contoso):
    with pytest.raises(CertificateError, match="server_name"):
        diagnose(contoso.server_chain, bad, root_store=[contoso.root.cert])


def test_name_mismatch(contoso):
    result = diagnose(contoso.server_chain, "da.fabrikam.com", root_store=[contoso.root.cert])
    assert result["verdict"] == "name_mismatch" and result["trusted"] is False
    assert codes(result) == ["name_mismatch"]
    assert any("'da.fabrikam.com'" in r for r in result["reasons"])


def test_name_mismatch_with_a_missing_root_is_name_mismatch_and_not_fixable(contoso):
    result = diagnose(contoso.server_chain, "da.fabrikam.com", root_store=[], bundle=[contoso.root.cert])
    assert result["verdict"] == "name_mismatch"
    assert result["fixable"] is False
    assert thumbs(result["missing"]) == [contoso.root.thumbprint]


def test_no_server_name_skips_the_name_check(contoso):
    assert diagnose(contoso.server_chain, None, root_store=[contoso.root.cert])["verdict"] == "trusted"


# ---------------------------------------------------------------------------------------------
# Usage, validity and signatures
# ---------------------------------------------------------------------------------------------

def test_wrong_eku_on_server_certificate():
    root = pki.make_root("Contoso Root CA", **EC)
    leaf = pki.make_leaf("da.contoso.com", root, **EC, eku=[pki.CLIENT_AUTH])
    result = diagnose([leaf.cert], "da.contoso.com", root_store=[], bundle=[root.cert])
    assert result["verdict"] == "wrong_usage"
    assert codes(result) == ["eku"]
    assert result["fixable"] is False
    assert thumbs(result["missing"]) == [root.thumbprint]


@pytest.mark.parametrize("eku", [None, [pki.ANY_EKU], [pki.CLIENT_AUTH, pki.SERVER_AUTH]])
def test_acceptable_eku_on_server_certificate(eku):
    root = pki.make_root("Contoso Root CA", **EC)
    leaf = pki.make_leaf("da.contoso.com", root, **EC, eku=eku)
    assert diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert])["verdict"] == "trusted"


def test_eku_restriction_on_an_issuing_ca_excludes_server_auth():
    root = pki.make_root("Contoso Root CA", **EC)
    issuing = pki.make_intermediate("Contoso Client CA", root, **EC, eku=[pki.CLIENT_AUTH])
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "wrong_usage"
    assert [(p["code"], p["index"]) for p in result["problems"]] == [("eku", 1)]


@pytest.mark.parametrize("which, verdict", [("leaf", "expired"), ("intermediate", "expired"),
                                            ("root", "expired"), ("leaf_future", "not_yet_valid")])
def test_validity_window(which, verdict):
    past = {"not_before": now() - 400 * DAY, "not_after": now() - DAY}
    future = {"not_before": now() + 10 * DAY, "not_after": now() + 400 * DAY}
    kwargs = {"root_kwargs": {}, "intermediate_kwargs": {}, "leaf_kwargs": {}}
    kwargs[{"leaf_future": "leaf_kwargs"}.get(which, which + "_kwargs")].update(future if which == "leaf_future" else past)
    h = ec_hierarchy(**kwargs)
    result = diagnose(h.server_chain, "da.contoso.com", root_store=[h.root.cert], bundle=[h.root.cert])
    assert result["verdict"] == verdict
    assert result["trusted"] is False and result["fixable"] is False


def test_at_parameter_controls_the_time_of_the_check():
    h = ec_hierarchy(leaf_kwargs={"not_before": now() + 10 * DAY, "not_after": now() + 40 * DAY})
    later = now() + 20 * DAY
    assert diagnose(h.server_chain, root_store=[h.root.cert], at=later)["verdict"] == "trusted"
    naive = later.replace(tzinfo=None)
    assert diagnose(h.server_chain, root_store=[h.root.cert], at=naive)["verdict"] == "trusted"
    assert diagnose(h.server_chain, root_store=[h.root.cert], at=now() + 50 * DAY)["verdict"] == "expired"
    result = diagnose(h.server_chain, root_store=[h.root.cert], at=datetime.datetime(2030, 1, 2, 3, 4, 5))
    assert result["checked_at"] == "2030-01-02T03:04:05Z"


def test_bad_signature_with_matching_key_identifier():
    root = pki.make_root("Contoso Root CA", **EC)
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC)
    forger = pki.new_key("ecdsa")
    # Names and AKI point at the issuing CA, but another key signed it.
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC, signing_key=forger)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "bad_signature"
    assert [(p["code"], p["index"]) for p in result["problems"]] == [("bad_signature", 0)]
    assert thumbs(result["path"]) == [leaf.thumbprint, issuing.thumbprint, root.thumbprint]


def test_tampered_intermediate_signature(contoso):
    tampered = pki.tamper_signature(contoso.intermediate.cert)
    result = diagnose([contoso.leaf.cert, tampered], root_store=[contoso.root.cert], bundle=[contoso.root.cert])
    assert result["verdict"] == "bad_signature"
    assert result["fixable"] is False


def test_path_length_violation():
    root = pki.make_root("Contoso Root CA", **EC, path_length=0)
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "wrong_usage"
    assert [(p["code"], p["index"]) for p in result["problems"]] == [("path_length", 2)]


@pytest.mark.parametrize("issuer_kwargs, code", [
    ({"ca": False, "key_usage": {"digital_signature", "key_cert_sign"}}, "not_ca"),
    ({"ca": True, "basic_constraints": False}, "not_ca"),
    ({"ca": True, "key_usage": {"digital_signature", "crl_sign"}}, "key_usage"),
])
def test_issuer_that_may_not_issue(issuer_kwargs, code):
    root = pki.make_root("Contoso Root CA", **EC)
    issuer = pki.issue("Contoso Web Server", issuer=root, **EC, **issuer_kwargs)
    leaf = pki.make_leaf("da.contoso.com", issuer, **EC)
    result = diagnose([leaf.cert, issuer.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "wrong_usage"
    assert [(p["code"], p["index"]) for p in result["problems"]] == [(code, 1)]


def test_precedence_bad_signature_over_expiry_over_usage_over_name():
    root = pki.make_root("Contoso Root CA", **EC)
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC)
    expired = {"not_before": now() - 40 * DAY, "not_after": now() - DAY}

    def verdict(**leaf_kwargs):
        leaf = pki.make_leaf("da.contoso.com", issuing, **EC, **leaf_kwargs)
        return diagnose([leaf.cert, issuing.cert], "da.fabrikam.com", bundle=[root.cert])["verdict"]

    assert verdict(eku=[pki.CLIENT_AUTH], signing_key=pki.new_key("ecdsa"), **expired) == "bad_signature"
    assert verdict(eku=[pki.CLIENT_AUTH], **expired) == "expired"
    assert verdict(eku=[pki.CLIENT_AUTH]) == "wrong_usage"
    assert verdict() == "name_mismatch"


# ---------------------------------------------------------------------------------------------
# validate_path directly
# ---------------------------------------------------------------------------------------------

def test_validate_path_valid(contoso):
    result = validate_path([contoso.leaf.cert, contoso.intermediate.cert, contoso.root.cert],
                           server_name="da.contoso.com")
    assert result == {"valid": True, "verdict": None, "problems": []}


def test_validate_path_flags_name_and_eku_only_when_asked(contoso):
    path = [contoso.leaf.cert, contoso.intermediate.cert, contoso.root.cert]
    assert validate_path(path, server_name="da.fabrikam.com")["verdict"] == "name_mismatch"
    root = pki.make_root("R", **EC)
    leaf = pki.make_leaf("a.example", root, **EC, eku=[pki.CLIENT_AUTH])
    assert validate_path([leaf.cert, root.cert])["verdict"] == "wrong_usage"
    assert validate_path([leaf.cert, root.cert], check_eku=False)["valid"] is True


def test_validate_path_broken_name_chaining(contoso, fabrikam):
    result = validate_path([contoso.leaf.cert, fabrikam.intermediate.cert, fabrikam.root.cert])
    assert result["verdict"] == "no_chain"
    assert {"name_chaining", "bad_signature"} <= {p["code"] for p in result["problems"]}


def test_validate_path_top_without_basic_constraints_needs_to_be_an_anchor():
    root = pki.make_root("R", **EC)
    issuer = pki.issue("No BC", issuer=root, **EC, ca=True, basic_constraints=False)
    leaf = pki.make_leaf("a.example", issuer, **EC)
    assert validate_path([leaf.cert, issuer.cert], top_is_anchor=True)["valid"] is True
    assert validate_path([leaf.cert, issuer.cert], top_is_anchor=False)["verdict"] == "wrong_usage"


def test_validate_path_empty_and_bad_items():
    assert validate_path([])["verdict"] == "no_chain"
    with pytest.raises(CertificateError, match="path item 0: expected a certificate, got str"):
        validate_path(["not a cert"])


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"root_store": ["not-a-thumbprint"]}, r"root_store item 0: 'not-a-thumbprint': not a valid SHA-1 thumbprint"),
    ({"root_store": ["AB" * 32]}, r"root_store item 0: .*expected 40 hex digits, got 64"),
    ({"intermediate_store": [b"bytes"]}, "intermediate_store item 0: expected a certificate or a thumbprint string, got bytes"),
    ({"root_store": "AB" * 20}, "root_store: expected a list of certificates or thumbprints, got a single string"),
    ({"bundle": "-----BEGIN CERTIFICATE-----"}, "bundle: expected a list of certificates, got str"),
    ({"bundle": ["AB" * 20]}, "bundle item 0: expected a certificate, got str"),
    ({"at": "2026-01-01"}, "at: expected a datetime, got str"),
])
def test_bad_inputs_are_named(contoso, kwargs, message):
    with pytest.raises(CertificateError, match=message):
        diagnose(contoso.server_chain, **kwargs)


@pytest.mark.parametrize("server_chain, message", [
    (None, "server_chain: expected a list of certificates, got NoneType"),
    (b"-----BEGIN CERTIFICATE-----", "server_chain: expected a list of certificates, got bytes"),
])
def test_server_chain_must_be_a_list(server_chain, message):
    with pytest.raises(CertificateError, match=message):
        diagnose(server_chain)


def test_none_stores_mean_empty(contoso):
    result = diagnose(contoso.server_chain, root_store=None, intermediate_store=None, bundle=None)
    assert result["verdict"] == "untrusted_root"


def test_server_chain_items_must_be_certificates(contoso):
    with pytest.raises(CertificateError, match="server_chain item 1: expected a certificate, got str"):
        diagnose([contoso.leaf.cert, contoso.intermediate.pem])


def test_subject_helper_names_are_stable():
    # Guards the pki helper other tests build on: subject order is O then CN.
    cert = pki.make_root("X", **EC).cert
    assert [a.oid for a in cert.subject] == [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME]
