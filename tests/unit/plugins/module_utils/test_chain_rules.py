# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Windows' server-name, extension and signature rules in the chain analyser (issue 8, sections 2-3)."""
from __future__ import annotations

import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    basic_constraints,
    describe,
    extension_fault,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import (
    VERDICTS,
    diagnose,
    match_server_name,
    validate_path,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

EC = {"key_type": "ecdsa"}
PRIVATE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.99999.1")
SKI_OID = bytes.fromhex("0603551d0e")        # 2.5.29.14 subjectKeyIdentifier
SPARE_OID = bytes.fromhex("0603551d63")      # 2.5.29.99, unassigned: renamed into a duplicate


def codes(result):
    return sorted({p["code"] for p in result["problems"]})


def trusted_root():
    return pki.make_root("Contoso Root CA", **EC)


def verdict_for(leaf, root, server_name="da.contoso.com", chain=None):
    return diagnose(chain or [leaf.cert], server_name, root_store=[root.cert])


# ---------------------------------------------------------------------------------------------
# Server name: SAN when present, CN only without SAN (RFC 6125 6.4.4, Windows SSL policy)
# ---------------------------------------------------------------------------------------------

def test_cn_is_ignored_when_the_san_lacks_the_name():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=("www.contoso.com",))
    assert match_server_name(leaf.cert, "da.contoso.com") is None
    result = verdict_for(leaf, root)
    assert result["verdict"] == "name_mismatch" and result["fixable"] is False
    assert codes(result) == ["name_mismatch"]
    message = result["problems"][0]["message"]
    assert "SAN entries" in message and "subject CN is not used" in message


def test_cn_with_a_san_of_other_types_only_is_not_used():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=(), san_ip=("192.0.2.10",))
    assert match_server_name(leaf.cert, "da.contoso.com") is None
    assert verdict_for(leaf, root)["verdict"] == "name_mismatch"


def test_cn_only_certificate_still_matches_on_cn():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=())
    assert match_server_name(leaf.cert, "https://da.contoso.com:443/IPHTTPS") == "cn"
    result = verdict_for(leaf, root)
    assert result["verdict"] == "trusted"
    assert not any("SAN DNS name only" in r for r in result["reasons"])


def test_cn_and_san_with_the_same_name_match_on_san_without_a_note():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    assert match_server_name(leaf.cert, "da.contoso.com") == "san"
    result = verdict_for(leaf, root)
    assert result["verdict"] == "trusted"
    assert not any("SAN DNS name only" in r for r in result["reasons"])


def test_name_mismatch_message_for_a_cn_only_certificate_names_the_cn():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=())
    result = verdict_for(leaf, root, "da.fabrikam.com")
    assert result["verdict"] == "name_mismatch"
    assert "subject CN do not cover 'da.fabrikam.com'" in result["problems"][0]["message"]


@pytest.mark.parametrize("pattern, host, expected", [
    ("*.contoso.com", "da.contoso.com", "san"),
    ("*.contoso.com", "a.b.contoso.com", None),
    ("*.contoso.com", "contoso.com", None),
    ("da*.contoso.com", "da1.contoso.com", None),
    ("*da.contoso.com", "xda.contoso.com", None),
    ("da.*.com", "da.contoso.com", None),
    ("*.com", "contoso.com", None),
])
def test_san_wildcards_only_as_the_whole_left_most_label(pattern, host, expected):
    cert = pki.issue("IP-HTTPS", **EC, key_usage=False, san_dns=(pattern,)).cert
    assert match_server_name(cert, host) == expected


@pytest.mark.parametrize("host, expected", [
    ("192.0.2.10", "san"),
    ("https://192.0.2.10:443/IPHTTPS", "san"),
    ("https://[2001:db8::1]:443/IPHTTPS", "san"),
    ("[2001:DB8:0:0::1]", "san"),
    ("192.0.2.11", None),
    ("https://[2001:db8::2]/IPHTTPS", None),
])
def test_ip_address_urls_match_ip_address_san_entries(host, expected):
    cert = pki.issue("IP-HTTPS", **EC, key_usage=False, san_dns=("da.contoso.com",),
                     san_ip=("192.0.2.10", "2001:db8::1")).cert
    assert match_server_name(cert, host) == expected


def test_ip_address_never_matches_a_dns_name_or_the_cn():
    cn_only = pki.issue("192.0.2.10", **EC, key_usage=False).cert
    assert match_server_name(cn_only, "192.0.2.10") is None
    dns_only = pki.issue("IP-HTTPS", **EC, key_usage=False, san_dns=("192.0.2.10",)).cert
    assert match_server_name(dns_only, "https://192.0.2.10/IPHTTPS") is None
    root = trusted_root()
    leaf = pki.make_leaf("192.0.2.10", root, **EC, san_dns=())
    result = verdict_for(leaf, root, "https://192.0.2.10:443/IPHTTPS")
    assert result["verdict"] == "name_mismatch"


@pytest.mark.parametrize("cert_name, host", [
    ("xn--bcher-kva.example", "bücher.example"),
    ("xn--bcher-kva.example", "https://bücher.example/IPHTTPS"),
    ("xn--bcher-kva.example", "XN--BCHER-KVA.example"),
    ("*.xn--bcher-kva.example", "da.bücher.example"),
])
def test_internationalised_names_compare_in_a_label_form_on_san(cert_name, host):
    cert = pki.issue("IP-HTTPS", **EC, key_usage=False, san_dns=(cert_name,)).cert
    assert match_server_name(cert, host) == "san"


def test_internationalised_cn_in_u_label_form_matches_the_a_label_host():
    cert = pki.issue("bücher.example", **EC, key_usage=False).cert
    assert match_server_name(cert, "xn--bcher-kva.example") == "cn"
    assert match_server_name(cert, "bücher.example") == "cn"
    assert match_server_name(cert, "bucher.example") is None


def test_validate_path_applies_the_same_name_rule():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=("www.contoso.com",))
    checked = validate_path([leaf.cert, root.cert], server_name="da.contoso.com")
    assert checked["verdict"] == "name_mismatch"


# ---------------------------------------------------------------------------------------------
# Extensions: unknown critical ones, malformed and duplicate ones
# ---------------------------------------------------------------------------------------------

def test_unknown_critical_extension_on_the_leaf_fails_and_names_the_oid():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC,
                         extra_extensions=[(x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), True)])
    result = verdict_for(leaf, root)
    assert result["verdict"] == "unsupported_critical_extension"
    assert result["trusted"] is False and result["fixable"] is False
    problem = next(p for p in result["problems"] if p["code"] == "critical_extension")
    assert problem["extension"] == "1.3.6.1.4.1.311.99999.1" and problem["index"] == 0
    assert "1.3.6.1.4.1.311.99999.1" in problem["message"] and "CERT_E_CRITICAL" in problem["message"]
    assert any("1.3.6.1.4.1.311.99999.1" in r for r in result["reasons"])


def test_unknown_critical_extension_on_an_intermediate_fails_the_chain():
    root = trusted_root()
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC,
                                    extra_extensions=[(x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), True)])
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "unsupported_critical_extension"
    assert [p["index"] for p in result["problems"]] == [1]


def test_unknown_critical_extension_wins_over_a_missing_root():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC,
                         extra_extensions=[(x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), True)])
    result = diagnose([leaf.cert], "da.contoso.com", root_store=(), bundle=[root.cert])
    assert result["verdict"] == "unsupported_critical_extension" and result["fixable"] is False


def test_unknown_non_critical_and_supported_critical_extensions_are_fine():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, extra_extensions=[
        (x509.UnrecognizedExtension(PRIVATE_OID, b"\x05\x00"), False),
        (x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)]), True),
    ])
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def _malformed_basic_constraints_ca(root):
    return pki.make_intermediate(
        "Contoso Issuing CA", root, **EC, basic_constraints=False,
        extra_extensions=[(x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x04\x01\x00"),
                           True)])


def test_malformed_extension_on_an_intermediate_is_malformed_and_named():
    root = trusted_root()
    issuing = _malformed_basic_constraints_ca(root)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    with pytest.raises(ValueError):
        issuing.cert.extensions  # what used to escape from the SKI/AKI lookups
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "malformed" and result["fixable"] is False
    problem = next(p for p in result["problems"] if p["verdict"] == "malformed")
    assert problem["extension"] == "2.5.29.19" and problem["index"] == 1
    assert problem["thumbprint"] == issuing.thumbprint
    assert "Contoso Issuing CA" in problem["message"] and "2.5.29.19 (basicConstraints)" in problem["message"]
    assert "cannot be parsed" in problem["message"]


def test_malformed_san_on_the_leaf_is_malformed_not_a_crash():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, san_dns=(), extra_extensions=[
        (x509.UnrecognizedExtension(x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x04\x01\x00"), False)])
    assert match_server_name(leaf.cert, "da.contoso.com") is None
    result = verdict_for(leaf, root)
    assert result["verdict"] == "malformed"
    assert next(p for p in result["problems"] if p["verdict"] == "malformed")["extension"] == "2.5.29.17"
    assert result["path"][0]["san_dns"] == []


def test_malformed_store_certificate_does_not_crash_the_build():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    junk = _malformed_basic_constraints_ca(pki.make_root("Fabrikam Root CA", **EC))
    result = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert], intermediate_store=[junk.cert],
                      bundle=[junk.cert])
    assert result["verdict"] == "trusted"


def _with_duplicate_ski(issued_by, key_type="ecdsa"):
    """A CA certificate whose extensions hold subjectKeyIdentifier twice."""
    spare = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.99"), b"\x04\x02\x01\x02")
    issuing = pki.make_intermediate("Contoso Issuing CA", issued_by, key_type=key_type,
                                    extra_extensions=[(spare, False)])
    algorithm = "sha256_ecdsa" if key_type == "ecdsa" else "sha256_rsa"
    cert = pki.resign(issuing.cert, issued_by.key, algorithm, tbs_edit=lambda tbs: tbs.replace(SPARE_OID, SKI_OID))
    return pki.Issued(cert, issuing.key)


def test_duplicate_extension_is_malformed_and_named():
    root = trusted_root()
    issuing = _with_duplicate_ski(root)
    with pytest.raises(x509.DuplicateExtension):
        issuing.cert.extensions
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "malformed"
    problem = next(p for p in result["problems"] if p["verdict"] == "malformed")
    assert problem["extension"] == "2.5.29.14" and "appears more than once" in problem["message"]


def test_extension_fault_and_describe_on_malformed_certificates():
    root = trusted_root()
    assert extension_fault(root.cert) is None
    issuing = _malformed_basic_constraints_ca(root)
    assert extension_fault(issuing.cert)["oid"] == "2.5.29.19"
    assert basic_constraints(issuing.cert) is None
    entry = describe(issuing.cert)
    assert entry["is_ca"] is False and entry["ski"] is None and entry["eku"] == []
    assert extension_fault(_with_duplicate_ski(root).cert) == {"oid": "2.5.29.14", "reason": "appears more than once"}


# ---------------------------------------------------------------------------------------------
# Usage as CryptoAPI applies it: the gaps (leaf keyUsage); EKU intersection is in test_chain
# ---------------------------------------------------------------------------------------------

def test_leaf_key_usage_without_signature_or_encipherment_is_wrong_usage():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC, key_usage={"key_agreement"})
    result = verdict_for(leaf, root)
    assert result["verdict"] == "wrong_usage" and codes(result) == ["leaf_key_usage"]


@pytest.mark.parametrize("usage", [{"digital_signature"}, {"key_encipherment"}])
def test_leaf_key_usage_with_signature_or_encipherment_is_fine(usage):
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, key_usage=usage)
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def test_intermediate_eku_without_server_auth_fails_the_leaf():
    root = trusted_root()
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC, eku=[pki.CLIENT_AUTH])
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "wrong_usage" and codes(result) == ["eku"]


# ---------------------------------------------------------------------------------------------
# Signatures and keys
# ---------------------------------------------------------------------------------------------

def test_ecdsa_with_sha1_is_accepted():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    leaf = pki.Issued(pki.resign(leaf.cert, root.key, "sha1_ecdsa"), leaf.key)
    assert leaf.cert.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.1"
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def test_rsa_with_sha1_is_accepted():
    root = pki.make_root("Contoso Root CA")
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    leaf = pki.Issued(pki.resign(leaf.cert, root.key, "sha1_rsa"), leaf.key)
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def test_tampered_sha1_signature_is_still_bad_signature():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    forged = pki.resign(leaf.cert, pki.new_key("ecdsa"), "sha1_ecdsa")
    assert diagnose([forged], "da.contoso.com", root_store=[root.cert])["verdict"] == "bad_signature"


def test_rsa_pss_is_verified():
    root = pki.make_root("Contoso Root CA", rsa_padding=pki.pss_padding())
    leaf = pki.make_leaf("da.contoso.com", root, **EC, rsa_padding=pki.pss_padding())
    assert leaf.cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"
    assert verdict_for(leaf, root)["verdict"] == "trusted"
    forged = pki.make_leaf("da.contoso.com", root, **EC, rsa_padding=pki.pss_padding(),
                           signing_key=pki.new_key("rsa"))
    assert verdict_for(forged, root)["verdict"] == "bad_signature"


@pytest.mark.parametrize("bits", [512, 768])
def test_rsa_key_under_1024_bits_is_weak_crypto(bits):
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, public_key=pki.small_rsa_public_key(bits))
    result = verdict_for(leaf, root)
    assert result["verdict"] == "weak_crypto" and result["fixable"] is False
    problem = result["problems"][0]
    assert problem["code"] == "weak_key" and problem["index"] == 0
    assert f"{bits}-bit RSA key" in problem["message"] and "2661254" in problem["message"]


def test_rsa_1024_bit_key_is_accepted():
    root = trusted_root()
    leaf = pki.make_leaf("da.contoso.com", root, key_size=1024)
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def test_md5_signature_on_a_leaf_is_weak_crypto():
    root = pki.make_root("Contoso Root CA")
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    leaf = pki.Issued(pki.resign(leaf.cert, root.key, "md5_rsa"), leaf.key)
    result = verdict_for(leaf, root)
    assert result["verdict"] == "weak_crypto"
    assert codes(result) == ["weak_signature"]
    assert "md5WithRSAEncryption" in result["problems"][0]["message"]


def test_md2_signature_on_an_intermediate_is_weak_crypto():
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC)
    issuing = pki.Issued(pki.resign(issuing.cert, root.key, "md2_rsa"), issuing.key)
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], "da.contoso.com", root_store=[root.cert])
    assert result["verdict"] == "weak_crypto"
    assert [(p["code"], p["index"]) for p in result["problems"]] == [("weak_signature", 1)]


@pytest.mark.parametrize("algorithm", ["md5_rsa", "md2_rsa"])
def test_md5_or_md2_root_self_signature_is_accepted(algorithm):
    root = pki.make_root("Contoso Root CA")
    root = pki.Issued(pki.resign(root.cert, root.key, algorithm), root.key)
    leaf = pki.make_leaf("da.contoso.com", root, **EC)
    assert verdict_for(leaf, root)["verdict"] == "trusted"


def test_new_verdicts_are_listed():
    for verdict in ("malformed", "unsupported_critical_extension", "weak_crypto"):
        assert verdict in VERDICTS


# ---------------------------------------------------------------------------------------------
# Never crash: mutated certificates give a diagnosis or a clear refusal
# ---------------------------------------------------------------------------------------------

def _mutants(cert, count, seed):
    der = cert.public_bytes(serialization.Encoding.DER)
    rng = random.Random(seed)
    produced = []
    for _attempt in range(count * 20):
        mutated = bytearray(der)
        for _flip in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            produced.append(x509.load_der_x509_certificate(bytes(mutated)))
        except (ValueError, x509.InvalidVersion):  # not loadable: the loaders refuse it
            continue
        if len(produced) == count:
            break
    return produced


def test_mutated_certificates_never_crash_the_diagnosis():
    root = pki.make_root("Contoso Root CA", **EC)
    issuing = pki.make_intermediate("Contoso Issuing CA", root, **EC, aia_ca_issuers=("http://pki.contoso.com/ca.crt",),
                                    crl_urls=("http://pki.contoso.com/ca.crl",))
    leaf = pki.make_leaf("da.contoso.com", issuing, **EC, san_ip=("192.0.2.10",),
                         crl_urls=("http://pki.contoso.com/issuing.crl",))
    seen = set()
    for position, seed in ((0, 1), (1, 2), (2, 3)):
        original = [leaf.cert, issuing.cert, root.cert]
        for mutant in _mutants(original[position], 40, seed):
            chain = list(original)
            chain[position] = mutant
            result = diagnose(chain[:2], "da.contoso.com", root_store=[chain[2]], intermediate_store=[issuing.cert],
                              bundle=[root.cert])
            assert result["verdict"] in VERDICTS
            seen.add(result["verdict"])
    assert "trusted" not in seen or len(seen) > 1
