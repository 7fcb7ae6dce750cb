# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Name constraints as Windows CryptoAPI applies them (issue 8, section 1), on generated chains."""
from __future__ import annotations

import datetime
import ipaddress
import os
import random

import cryptography_vectors  # pinned in requirements/test.txt, as for test_pkits
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.directaccess.iphttps.plugins.module_utils import _name_constraints
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import (
    PROBLEM_PRECEDENCE,
    VERDICTS,
    diagnose,
    validate_path,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

EC = {"key_type": "ecdsa"}
SERVER = "da.contoso.com"
ISSUING = "CN=Contoso Issuing,O=Contoso Test"
der_tlv = pki.der_tlv


def dns(value):
    return x509.DNSName(value)


def ip(value):
    return x509.IPAddress(ipaddress.ip_network(value))


def dirname(*attributes):
    return x509.DirectoryName(x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes]))


def chain(constraints, *, on="intermediate", cn=SERVER, **leaf_kwargs):
    """Root -> 'Contoso Issuing' -> server certificate; constraints is an (extension, critical) pair."""
    root = pki.make_root("Contoso Root CA", **EC, extra_extensions=[constraints] if on == "root" else [])
    issuing = pki.make_intermediate("Contoso Issuing", root, **EC,
                                    extra_extensions=[constraints] if on == "intermediate" else [])
    leaf = pki.make_leaf(cn, issuing, **EC, **leaf_kwargs)
    return root, issuing, leaf


def judge(constraints, server_name=SERVER, **kwargs):
    root, issuing, leaf = chain(constraints, **kwargs)
    return diagnose([leaf.cert, issuing.cert], server_name, root_store=[root.cert])


def leaf_with(*san, cn=SERVER, subject=None):
    """Leaf keyword arguments for SAN entries of any form (and optionally a whole subject)."""
    kwargs = {"san_dns": (), "extra_extensions": [pki.subject_alt_names(*san)] if san else []}
    if subject is not None:
        kwargs["subject"] = subject
    return kwargs


def nc_problems(result):
    return [p for p in result["problems"] if p["verdict"] == "name_constraints"]


def codes(result):
    return sorted({p["code"] for p in nc_problems(result)})


def assert_trusted(result):
    assert result["verdict"] == "trusted", result["problems"]
    assert not nc_problems(result)


def assert_violation(result, code, status):
    assert result["verdict"] == "name_constraints", result["problems"]
    assert result["fixable"] is False and result["trusted"] is False
    assert codes(result) == [code]
    assert {p["windows_status"] for p in nc_problems(result)} == {status}
    return nc_problems(result)


# ---------------------------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------------------------

def test_verdict_is_registered_before_name_mismatch_and_after_wrong_usage():
    assert "name_constraints" in VERDICTS
    order = list(PROBLEM_PRECEDENCE)
    assert order.index("wrong_usage") < order.index("name_constraints") < order.index("name_mismatch")


def test_problem_names_the_ca_the_subtree_and_the_server_name():
    root, issuing, leaf = chain(pki.name_constraints([dns("corp.contoso.com")]))
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert problem["message"] == (f"'{ISSUING}' permits only DNS names under corp.contoso.com; the server "
                                  "certificate's name da.contoso.com is outside them.")
    assert (problem["index"], problem["subject"], problem["thumbprint"]) == (1, ISSUING, issuing.thumbprint)
    assert problem["constraint"] == {"kind": "permitted", "form": "dNSName", "value": "corp.contoso.com"}
    assert problem["name"] == SERVER
    assert problem["message"] in result["reasons"]


def test_unfixable_even_when_the_root_is_missing_and_in_the_bundle():
    root, issuing, leaf = chain(pki.name_constraints([dns("corp.contoso.com")]))
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[], bundle=[root.cert])
    assert result["verdict"] == "name_constraints" and result["fixable"] is False
    # The root is still named as missing: the report shows both, the verdict is the constraint.
    assert [m["thumbprint"] for m in result["missing"]] == [root.thumbprint]


def test_constraint_on_the_root_is_applied_and_names_the_root():
    root, issuing, leaf = chain(pki.name_constraints([dns("corp.contoso.com")]), on="root")
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert (problem["index"], problem["thumbprint"]) == (2, root.thumbprint)
    assert problem["message"].startswith("'CN=Contoso Root CA,O=Contoso Test' permits only DNS names")


def test_constraint_on_the_root_that_the_server_name_meets():
    assert_trusted(judge(pki.name_constraints([dns("contoso.com")]), on="root"))


def test_constraints_on_root_and_intermediate_both_apply():
    root = pki.make_root("Contoso Root CA", **EC, extra_extensions=[pki.name_constraints([dns("contoso.com")])])
    issuing = pki.make_intermediate("Contoso Issuing", root, **EC,
                                    extra_extensions=[pki.name_constraints(excluded=[dns("da.contoso.com")])])
    leaf = pki.make_leaf(SERVER, issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
    (problem,) = assert_violation(result, "name_excluded", _name_constraints.EXCLUDED)
    assert problem["index"] == 1
    other = pki.make_leaf("www.contoso.com", issuing, **EC)
    assert_trusted(diagnose([other.cert, issuing.cert], "www.contoso.com", root_store=[root.cert]))
    outside = pki.make_leaf("da.fabrikam.com", issuing, **EC)
    result = diagnose([outside.cert, issuing.cert], "da.fabrikam.com", root_store=[root.cert])
    assert [p["index"] for p in nc_problems(result)] == [2]


def test_constraints_apply_to_the_server_certificate_only_not_to_intermediates():
    # Windows documents the flags for names of the end certificate; an intermediate whose own
    # subject lies outside the root's directoryName subtree does not fail the chain.
    root = pki.make_root("Contoso Root CA", **EC, extra_extensions=[
        pki.name_constraints([dirname((NameOID.ORGANIZATION_NAME, "Contoso Test"))])])
    issuing = pki.issue(issuer=root, ca=True, subject=pki.name("Issuing", organization="Elsewhere"), **EC)
    leaf = pki.make_leaf(SERVER, issuing, **EC)
    assert_trusted(diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert]))


def test_a_path_avoiding_the_constrained_ca_is_preferred():
    # The same issuing CA cross-certified by a constrained and an unconstrained root, both trusted.
    constrained = pki.make_root("Contoso Old Root", **EC,
                                extra_extensions=[pki.name_constraints([dns("corp.contoso.com")])])
    clean = pki.make_root("Contoso New Root", **EC)
    key = pki.new_key("ecdsa")
    subject = pki.name("Contoso Issuing")
    via_constrained = pki.issue(issuer=constrained, subject=subject, key=key, ca=True)
    via_clean = pki.issue(issuer=clean, subject=subject, key=key, ca=True)
    leaf = pki.make_leaf(SERVER, via_clean, **EC)
    both = dict(root_store=[constrained.cert, clean.cert], intermediate_store=[via_constrained.cert, via_clean.cert])
    result = diagnose([leaf.cert], SERVER, **both)
    assert_trusted(result)
    assert result["path"][-1]["thumbprint"] == clean.thumbprint
    only = diagnose([leaf.cert], SERVER, root_store=[constrained.cert], intermediate_store=[via_constrained.cert])
    assert only["verdict"] == "name_constraints"


def test_validate_path_reports_name_constraints():
    root, issuing, leaf = chain(pki.name_constraints(excluded=[dns("contoso.com")]))
    checked = validate_path([leaf.cert, issuing.cert, root.cert])
    assert checked["valid"] is False and checked["verdict"] == "name_constraints"
    assert [p["code"] for p in checked["problems"]] == ["name_excluded"]


@pytest.mark.parametrize("other, expected", [
    ({"not_before": pki.utcnow() - datetime.timedelta(days=30), "not_after": pki.utcnow() - datetime.timedelta(days=1)},
     "expired"),
    ({"eku": [pki.CLIENT_AUTH]}, "wrong_usage"),
])
def test_more_severe_problems_still_win(other, expected):
    root, issuing, leaf = chain(pki.name_constraints([dns("corp.contoso.com")]), **other)
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
    assert result["verdict"] == expected
    assert codes(result) == ["name_not_permitted"]


def test_name_constraints_win_over_a_name_mismatch():
    result = judge(pki.name_constraints([dns("corp.contoso.com")]), server_name="vpn.contoso.com")
    assert result["verdict"] == "name_constraints"
    assert {p["verdict"] for p in result["problems"]} == {"name_constraints", "name_mismatch"}


def test_a_ca_without_constraints_and_a_leaf_in_range_are_trusted():
    assert_trusted(judge(pki.name_constraints([dns("contoso.com")])))


# ---------------------------------------------------------------------------------------------
# dNSName
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("constraint, name, permitted", [
    ("contoso.com", "da.contoso.com", True),
    ("contoso.com", "contoso.com", True),
    ("CONTOSO.com", "Da.Contoso.COM", True),
    ("da.contoso.com", "da.contoso.com", True),
    ("da.contoso.com", "www.da.contoso.com", True),
    ("contoso.com", "notcontoso.com", False),
    ("contoso.com", "www.notcontoso.com", False),  # a label boundary, not a string suffix
    ("corp.contoso.com", "da.contoso.com", False),
    # Leading-dot form (Windows accepts it): subdomains only, never the domain itself.
    (".contoso.com", "da.contoso.com", True),
    (".contoso.com", "contoso.com", False),
    # A wildcard passes a permitted subtree only if every name it stands for is inside.
    ("contoso.com", "*.contoso.com", True),
    (".contoso.com", "*.contoso.com", True),
    ("da.contoso.com", "*.contoso.com", False),
])
def test_dns_permitted(constraint, name, permitted):
    result = judge(pki.name_constraints([dns(constraint)]), server_name=None, cn=name)
    if permitted:
        assert_trusted(result)
    else:
        assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)


@pytest.mark.parametrize("constraint, name, excluded", [
    ("contoso.com", "da.contoso.com", True),
    ("da.contoso.com", "da.contoso.com", True),
    ("fabrikam.com", "da.contoso.com", False),
    ("contoso.com", "contoso.com.evil.example", False),
    (".contoso.com", "da.contoso.com", True),
    (".contoso.com", "contoso.com", False),
    # A wildcard fails if any name it stands for is excluded.
    ("secret.contoso.com", "*.contoso.com", True),
    ("contoso.com", "*.contoso.com", True),
    ("a.secret.contoso.com", "*.contoso.com", False),  # *. covers exactly one label
    (".secret.contoso.com", "*.contoso.com", False),
    ("secret.fabrikam.com", "*.contoso.com", False),
])
def test_dns_excluded(constraint, name, excluded):
    result = judge(pki.name_constraints(excluded=[dns(constraint)]), server_name=None, cn=name)
    if excluded:
        (problem,) = assert_violation(result, "name_excluded", _name_constraints.EXCLUDED)
        assert problem["constraint"] == {"kind": "excluded", "form": "dNSName", "value": constraint}
        stands = "could stand for names" if name.startswith("*.") else "is"
        assert problem["message"] == (f"'{ISSUING}' excludes DNS names under {constraint}; the server "
                                      f"certificate's name {name} {stands} inside them.")
    else:
        assert_trusted(result)


def test_excluded_wins_over_permitted():
    constraints = pki.name_constraints([dns("contoso.com")], [dns("da.contoso.com")])
    assert_violation(judge(constraints), "name_excluded", _name_constraints.EXCLUDED)


def test_several_permitted_subtrees_any_one_holds_the_name():
    constraints = pki.name_constraints([dns("corp.contoso.com"), dns("contoso.com")])
    assert_trusted(judge(constraints))
    result = judge(pki.name_constraints([dns("corp.contoso.com"), dns(".contoso.net")]))
    (problem,) = nc_problems(result)
    assert "permits only DNS names under corp.contoso.com or .contoso.net;" in problem["message"]


def test_every_san_entry_is_checked_not_just_the_server_name():
    result = judge(pki.name_constraints([dns("contoso.com")]), san_dns=(SERVER, "www.fabrikam.com"))
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert problem["name"] == "www.fabrikam.com"


# ---------------------------------------------------------------------------------------------
# The subject CN, only without a SAN extension
# ---------------------------------------------------------------------------------------------

def test_cn_without_san_is_checked_as_a_dns_name():
    result = judge(pki.name_constraints([dns("corp.contoso.com")]), san_dns=())
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert "da.contoso.com (its subject CN; it has no SAN extension) is outside them" in problem["message"]


def test_cn_without_san_inside_the_subtree_is_trusted():
    assert_trusted(judge(pki.name_constraints([dns("contoso.com")]), san_dns=()))


def test_cn_without_san_against_an_excluded_subtree():
    assert_violation(judge(pki.name_constraints(excluded=[dns("contoso.com")]), san_dns=()),
                     "name_excluded", _name_constraints.EXCLUDED)


def test_cn_is_not_checked_when_the_certificate_has_a_san():
    kwargs = leaf_with(dns(SERVER), cn="legacy.fabrikam.com")
    assert_trusted(judge(pki.name_constraints([dns("contoso.com")]), **kwargs))


def test_cn_that_is_no_host_name_is_not_a_dns_name():
    result = judge(pki.name_constraints([dns("contoso.com")]), server_name=None, cn="Contoso VPN Server",
                   san_dns=())
    assert_trusted(result)


def test_internationalised_cn_is_compared_in_a_label_form():
    result = judge(pki.name_constraints([dns("xn--bcher-kva.example")]), server_name=None, cn="da.bücher.example",
                   san_dns=())
    assert_trusted(result)


# ---------------------------------------------------------------------------------------------
# iPAddress
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("constraint, address, permitted", [
    ("192.0.2.0/24", "192.0.2.10", True),
    ("192.0.2.0/24", "192.0.3.10", False),
    ("192.0.2.10/32", "192.0.2.10", True),
    ("0.0.0.0/0", "203.0.113.7", True),
    ("2001:db8::/32", "2001:db8:1::10", True),
    ("2001:db8::/32", "2001:db9::10", False),
    ("2001:db8:0:1::/64", "2001:db8:0:1::1", True),
    # An IPv4 subtree never holds an IPv6 address, nor the reverse.
    ("192.0.2.0/24", "::ffff:192.0.2.10", False),
    ("::/0", "192.0.2.10", False),
])
def test_ip_permitted(constraint, address, permitted):
    result = judge(pki.name_constraints([ip(constraint)]), server_name=address,
                   **leaf_with(x509.IPAddress(ipaddress.ip_address(address))))
    if permitted:
        assert_trusted(result)
    else:
        (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
        shown = ipaddress.ip_address(address)
        expected = f"permits only IP addresses in {constraint}; the server certificate's name {shown} is"
        assert expected in problem["message"]


@pytest.mark.parametrize("constraint, address, excluded", [
    ("10.0.0.0/8", "10.20.30.40", True),
    ("10.0.0.0/8", "11.0.0.1", False),
    ("fd00::/8", "fd12::1", True),
    ("fd00::/8", "2001:db8::1", False),
])
def test_ip_excluded(constraint, address, excluded):
    result = judge(pki.name_constraints(excluded=[ip(constraint)]), server_name=address,
                   **leaf_with(x509.IPAddress(ipaddress.ip_address(address))))
    if excluded:
        assert_violation(result, "name_excluded", _name_constraints.EXCLUDED)
    else:
        assert_trusted(result)


def test_ip_constraints_leave_dns_names_alone():
    result = judge(pki.name_constraints([ip("192.0.2.0/24")]))
    assert_trusted(result)


def test_ip_constraint_with_host_bits_is_compared_under_its_mask():
    # Windows masks both sides; cryptography cannot load such a subtree, so the DER is read here.
    subtree = pki.general_subtree(der_tlv(0x87, bytes([192, 0, 2, 77, 255, 255, 255, 0])))
    assert _name_constraints._decode(der_tlv(0x30, der_tlv(0xA0, subtree))).permitted[0].shown == "192.0.2.0/24"


def test_ip_constraint_of_the_wrong_length_is_invalid():
    subtree = pki.general_subtree(der_tlv(0x87, bytes([192, 0, 2, 0, 255])))
    result = judge(pki.raw_name_constraints([subtree]))
    (problem,) = assert_violation(result, "name_constraints_invalid", _name_constraints.INVALID)
    assert "an iPAddress subtree of 5 bytes" in problem["message"]


def test_ip_constraint_cryptography_refuses_leaves_the_ca_malformed():
    # A non-contiguous mask: Windows would apply it bit by bit, but cryptography cannot read any
    # extension of that CA, so the analyser says malformed rather than guess.
    subtree = pki.general_subtree(der_tlv(0x87, bytes([10, 0, 0, 0, 255, 0, 255, 0])))
    result = judge(pki.raw_name_constraints([subtree]))
    assert result["verdict"] == "malformed"
    assert [p["extension"] for p in result["problems"] if p["verdict"] == "malformed"] == ["2.5.29.30"]


# ---------------------------------------------------------------------------------------------
# rfc822Name (SAN entries and emailAddress in the subject)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("constraint, address, permitted", [
    ("contoso.com", "pki@contoso.com", True),
    ("contoso.com", "pki@mail.contoso.com", False),  # a host, not a domain
    (".contoso.com", "pki@mail.contoso.com", True),
    (".contoso.com", "pki@contoso.com", False),
    ("pki@contoso.com", "PKI@contoso.com", True),
    ("pki@contoso.com", "admin@contoso.com", False),
])
def test_rfc822_permitted(constraint, address, permitted):
    result = judge(pki.name_constraints([x509.RFC822Name(constraint)]),
                   **leaf_with(dns(SERVER), x509.RFC822Name(address)))
    if permitted:
        assert_trusted(result)
    else:
        (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
        assert problem["constraint"]["form"] == "rfc822Name" and problem["name"] == address


def test_rfc822_excluded():
    constraints = pki.name_constraints(excluded=[x509.RFC822Name("contoso.com")])
    assert_violation(judge(constraints, **leaf_with(dns(SERVER), x509.RFC822Name("pki@contoso.com"))),
                     "name_excluded", _name_constraints.EXCLUDED)
    assert_trusted(judge(constraints, **leaf_with(dns(SERVER), x509.RFC822Name("pki@fabrikam.com"))))


def test_email_address_in_the_subject_is_an_rfc822_name():
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER),
                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@fabrikam.com")])
    result = judge(pki.name_constraints([x509.RFC822Name("contoso.com")]), subject=subject)
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert "pki@fabrikam.com (emailAddress in its subject)" in problem["message"]


# ---------------------------------------------------------------------------------------------
# directoryName (subject DN and directoryName SAN entries)
# ---------------------------------------------------------------------------------------------

O_CONTOSO = (NameOID.ORGANIZATION_NAME, "Contoso Test")


def test_directory_name_permitted_prefix_of_the_subject():
    assert_trusted(judge(pki.name_constraints([dirname(O_CONTOSO)])))


def test_directory_name_compared_per_rfc5280_7_1():
    # Case and inner whitespace are folded; the string type does not matter.
    constraint = dirname((NameOID.ORGANIZATION_NAME, "CONTOSO   test"))
    assert_trusted(judge(pki.name_constraints([constraint])))


def test_directory_name_outside_the_permitted_subtree():
    result = judge(pki.name_constraints([dirname((NameOID.ORGANIZATION_NAME, "Fabrikam"))]))
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert problem["message"] == (f"'{ISSUING}' permits only subject names under 'O=Fabrikam'; the server "
                                  "certificate's name 'CN=da.contoso.com,O=Contoso Test' (its subject) is "
                                  "outside them.")


def test_directory_name_must_be_a_prefix_not_anywhere_in_the_name():
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso Test"),
                         x509.NameAttribute(NameOID.COMMON_NAME, SERVER)])
    assert_violation(judge(pki.name_constraints([dirname(O_CONTOSO)]), subject=subject),
                     "name_not_permitted", _name_constraints.NOT_PERMITTED)
    constraint = dirname((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Contoso Test"))
    assert_trusted(judge(pki.name_constraints([constraint]), subject=subject))


def test_directory_name_excluded():
    lab = dirname(O_CONTOSO, (NameOID.ORGANIZATIONAL_UNIT_NAME, "Lab"))
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso Test"),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "lab"),
                         x509.NameAttribute(NameOID.COMMON_NAME, SERVER)])
    assert_violation(judge(pki.name_constraints(excluded=[lab]), subject=subject),
                     "name_excluded", _name_constraints.EXCLUDED)
    assert_trusted(judge(pki.name_constraints(excluded=[lab])))


def test_directory_name_san_entries_are_checked_too():
    fabrikam = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fabrikam")])
    result = judge(pki.name_constraints([dirname(O_CONTOSO)]),
                   **leaf_with(dns(SERVER), x509.DirectoryName(fabrikam)))
    (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
    assert problem["name"] == "'O=Fabrikam'"


def test_directory_name_constraints_leave_dns_names_alone_and_dns_constraints_leave_the_subject():
    assert_trusted(judge(pki.name_constraints([dirname(O_CONTOSO)]), san_dns=(SERVER, "www.fabrikam.com")))
    assert_trusted(judge(pki.name_constraints([dns("contoso.com")]),
                         subject=x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fabrikam"),
                                            x509.NameAttribute(NameOID.COMMON_NAME, SERVER)])))


# ---------------------------------------------------------------------------------------------
# uniformResourceIdentifier (the host part)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("constraint, uri, permitted", [
    (".contoso.com", "https://www.contoso.com/crl", True),
    (".contoso.com", "https://user@www.contoso.com:8443/x?y", True),
    (".contoso.com", "https://contoso.com/", False),
    ("pki.contoso.com", "http://PKI.contoso.com/root.crt", True),
    ("pki.contoso.com", "http://www.pki.contoso.com/root.crt", False),
    ("contoso.com", "urn:example:no-host", False),
])
def test_uri_permitted(constraint, uri, permitted):
    result = judge(pki.name_constraints([x509.UniformResourceIdentifier(constraint)]),
                   **leaf_with(dns(SERVER), x509.UniformResourceIdentifier(uri)))
    if permitted:
        assert_trusted(result)
    else:
        (problem,) = assert_violation(result, "name_not_permitted", _name_constraints.NOT_PERMITTED)
        assert problem["name"] == uri


def test_uri_excluded():
    constraints = pki.name_constraints(excluded=[x509.UniformResourceIdentifier(".fabrikam.com")])
    outside = leaf_with(dns(SERVER), x509.UniformResourceIdentifier("https://a.fabrikam.com"))
    assert_violation(judge(constraints, **outside), "name_excluded", _name_constraints.EXCLUDED)
    inside = leaf_with(dns(SERVER), x509.UniformResourceIdentifier("https://a.contoso.com"))
    assert_trusted(judge(constraints, **inside))


# ---------------------------------------------------------------------------------------------
# otherName UPN: the one otherName Windows supports
# ---------------------------------------------------------------------------------------------

def test_upn_constraint_is_supported_and_applied():
    # .NET's Windows test: an excluded UPN '@microsoft.com' excludes johndoe@microsoft.com.
    constraints = pki.name_constraints(excluded=[pki.upn("@contoso.com")])
    result = judge(constraints, **leaf_with(dns(SERVER), pki.upn("da-server@contoso.com")))
    (problem,) = assert_violation(result, "name_excluded", _name_constraints.EXCLUDED)
    assert problem["constraint"]["form"] == "otherName (UPN)"
    assert_trusted(judge(constraints, **leaf_with(dns(SERVER), pki.upn("da-server@fabrikam.com"))))
    assert_trusted(judge(constraints))


def test_upn_permitted():
    constraints = pki.name_constraints([pki.upn("@contoso.com")])
    assert_trusted(judge(constraints, **leaf_with(dns(SERVER), pki.upn("svc@contoso.com"))))
    assert_violation(judge(constraints, **leaf_with(dns(SERVER), pki.upn("svc@fabrikam.com"))),
                     "name_not_permitted", _name_constraints.NOT_PERMITTED)


# ---------------------------------------------------------------------------------------------
# Forms Windows does not support, and extensions it cannot use
# ---------------------------------------------------------------------------------------------

UNSUPPORTED = [
    ("registeredID", pki.name_constraints([x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4"))])),
    ("otherName 1.3.6.1.4.1.99999.1", pki.name_constraints(
        [x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), der_tlv(0x0C, b"x"))])),
    ("x400Address", pki.raw_name_constraints([pki.general_subtree(der_tlv(0xA3, der_tlv(0x30, b"")))])),
    ("ediPartyName", pki.raw_name_constraints(
        excluded=[pki.general_subtree(der_tlv(0xA5, der_tlv(0xA1, der_tlv(0x0C, b"x"))))])),
    ("minimum other than 0", pki.raw_name_constraints(
        [pki.general_subtree(der_tlv(0x82, b"contoso.com"), minimum=1)])),
    ("maximum", pki.raw_name_constraints([pki.general_subtree(der_tlv(0x82, b"contoso.com"), maximum=3)])),
]


@pytest.mark.parametrize("what, constraints", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_unsupported_form_fails_the_chain_and_says_so(what, constraints):
    result = judge(constraints)
    (problem,) = assert_violation(result, "name_constraint_unsupported", _name_constraints.NOT_SUPPORTED)
    assert what in problem["message"] and "does not support" in problem["message"]
    assert "CERT_TRUST_HAS_NOT_SUPPORTED_NAME_CONSTRAINT" in problem["message"]
    assert (problem["index"], problem["subject"]) == (1, ISSUING)
    # Not reported as malformed, nor as "not a CA" because cryptography cannot read the CA.
    assert {p["verdict"] for p in result["problems"]} == {"name_constraints"}


def test_unsupported_form_on_an_untrusted_root_still_outranks_trust():
    root, issuing, leaf = chain(UNSUPPORTED[2][1], on="root")
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[], bundle=[root.cert])
    assert result["verdict"] == "name_constraints" and result["fixable"] is False


def test_a_minimum_of_zero_spelt_out_is_not_a_fault_for_windows():
    subtree = pki.general_subtree(der_tlv(0x82, b"contoso.com"), minimum=0)
    decoded = _name_constraints._decode(der_tlv(0x30, der_tlv(0xA0, subtree)))
    assert decoded.faults == () and decoded.permitted[0].shown == "contoso.com"


@pytest.mark.parametrize("value, reason", [
    (der_tlv(0x30, b""), "neither permitted nor excluded subtrees"),
    (der_tlv(0x30, der_tlv(0xA0, b"")), "an empty list of subtrees"),
    (b"\x30\x05\x01", "runs past its container"),
    (der_tlv(0x30, der_tlv(0xA2, der_tlv(0x30, der_tlv(0x82, b"x")))), "a field other than"),
    (der_tlv(0x30, der_tlv(0xA0, der_tlv(0x30, der_tlv(0x89, b"x")))), "unknown GeneralName tag 0x89"),
])
def test_an_undecodable_extension_fails_the_chain_as_invalid(value, reason):
    result = judge(pki.raw_name_constraints(value=value))
    (problem,) = assert_violation(result, "name_constraints_invalid", _name_constraints.INVALID)
    assert reason in problem["message"] and "CERT_TRUST_INVALID_NAME_CONSTRAINTS" in problem["message"]


def test_a_repeated_nameconstraints_extension_stays_malformed():
    # CertificateBuilder refuses a repeated extension: an unassigned OID is renamed after signing.
    value = pki.raw_name_constraints([pki.general_subtree(der_tlv(0x82, b"contoso.com"))])[0].value
    spare = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.99"), value)
    root = pki.make_root("Contoso Root CA", **EC)
    built = pki.make_intermediate("Contoso Issuing", root, **EC,
                                  extra_extensions=[pki.raw_name_constraints(value=value), (spare, True)])
    renamed = pki.resign(built.cert, root.key, "sha256_ecdsa",
                         tbs_edit=lambda tbs: tbs.replace(bytes.fromhex("0603551d63"), bytes.fromhex("0603551d1e")))
    issuing = pki.Issued(renamed, built.key)
    assert _name_constraints.read(issuing.cert) is None
    leaf = pki.make_leaf(SERVER, issuing, **EC)
    result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
    assert result["verdict"] == "malformed"
    assert "appears more than once" in " ".join(result["reasons"])


def test_constraints_on_the_server_certificate_itself_are_ignored():
    # RFC 5280 allows them only in CA certificates; CryptoAPI applies those of the CAs above.
    root = pki.make_root("Contoso Root CA", **EC)
    issuing = pki.make_intermediate("Contoso Issuing", root, **EC)
    leaf = pki.make_leaf(SERVER, issuing, **EC, extra_extensions=[pki.name_constraints([dns("fabrikam.com")])])
    assert_trusted(diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert]))


# ---------------------------------------------------------------------------------------------
# Never a crash
# ---------------------------------------------------------------------------------------------

def test_mutated_extension_values_always_give_a_verdict():
    permitted = [pki.general_subtree(der_tlv(0x82, b"contoso.com")), pki.general_subtree(der_tlv(0x87, bytes(8))),
                 pki.general_subtree(der_tlv(0xA4, dirname(O_CONTOSO).value.public_bytes()))]
    excluded = [pki.general_subtree(der_tlv(0x81, b".fabrikam.com"))]
    base = pki.raw_name_constraints(permitted, excluded)[0].value
    rng = random.Random(8)
    root = pki.make_root("Contoso Root CA", **EC)
    for _round in range(150):
        mutated = bytearray(base)
        for _flip in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        issuing = pki.make_intermediate("Contoso Issuing", root, **EC,
                                        extra_extensions=[pki.raw_name_constraints(value=bytes(mutated))])
        leaf = pki.make_leaf(SERVER, issuing, **EC)
        result = diagnose([leaf.cert, issuing.cert], SERVER, root_store=[root.cert])
        assert result["verdict"] in VERDICTS
        constraints = _name_constraints.read(issuing.cert)
        assert constraints is None or isinstance(constraints, _name_constraints.Constraints)


# ---------------------------------------------------------------------------------------------
# NIST PKITS 4.13 (name constraints), from cryptography_vectors: every case agrees
# ---------------------------------------------------------------------------------------------

PKITS_DIR = os.path.join(os.path.dirname(cryptography_vectors.__file__), "x509", "PKITS_data", "certs")
PKITS_AT = datetime.datetime(2020, 6, 1, tzinfo=datetime.timezone.utc)
PKITS_CASES = sorted((name[:-len(".crt")] for name in os.listdir(PKITS_DIR) if "nameConstraintsTest" in name),
                     key=lambda name: int(name.rsplit("Test", 1)[1][:-len("EE")]))


def _pkits(name):
    with open(os.path.join(PKITS_DIR, name + ".crt"), "rb") as handle:
        return x509.load_der_x509_certificate(handle.read())


@pytest.fixture(scope="module")
def pkits_stores():
    skip = ("TrustAnchorRootCertificate", "DSAParametersInheritedCACert")
    cas = [_pkits(name[:-len(".crt")]) for name in sorted(os.listdir(PKITS_DIR))
           if not name.endswith("EE.crt") and name[:-len(".crt")] not in skip]
    return {"root_store": [_pkits("TrustAnchorRootCertificate")], "intermediate_store": cas}


def test_pkits_has_all_38_name_constraints_cases():
    assert len(PKITS_CASES) == 38


@pytest.mark.parametrize("ee", PKITS_CASES)
def test_pkits_4_13(pkits_stores, ee):
    # diagnose builds the path itself from the EE, among every PKITS CA (many constrained ones).
    result = diagnose([_pkits(ee)], at=PKITS_AT, **pkits_stores)
    if ee.startswith("Valid"):
        assert_trusted(result)
    else:
        assert result["verdict"] == "name_constraints", result["problems"]
        assert {p["verdict"] for p in result["problems"]} == {"name_constraints"}
        assert codes(result) in (["name_excluded"], ["name_not_permitted"], ["name_excluded", "name_not_permitted"])
