# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NIST PKITS (2011 edition, shipped by cryptography_vectors) against validate_path.

Sections run: 4.1 signature verification, 4.2 validity periods, 4.3 name chaining,
4.6 basic constraints, 4.7 key usage. Each path is EE <- intermediates <- Trust Anchor, as
given in the PKITS description; the PKITS names are the file names without ``.crt``.
PKITS has no serverAuth EKU and no host names, so those checks are off.

Each case runs twice: validate_path on the documented path, and diagnose() building the path
itself from the EE alone, with every PKITS CA certificate (about 200, many sharing names and
keys) in the client's Intermediate store and the Trust Anchor in Root.

Not run as validation cases:
- 4.7.4 and 4.7.5 (cRLSign false): they are invalid only because the CRL the CA signs cannot be
  trusted, so the EE's revocation status is unknown. Revocation is out of scope here
  (the client checks it itself, against the CDP), so our result would say "valid".
- 4.1.5 (DSA parameter inheritance): cryptography cannot parse a DSA key whose parameters are
  inherited from the issuer; the test asserts that the loader refuses it with a clear error.
"""
from __future__ import annotations

import datetime
import os

import cryptography_vectors  # pinned in requirements/test.txt: a missing package must fail, not skip
import pytest

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    load_certificates,
    thumbprint,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose, validate_path

CERTS_DIR = os.path.join(os.path.dirname(cryptography_vectors.__file__), "x509", "PKITS_data", "certs")
ANCHOR = "TrustAnchorRootCertificate"
# Inside every PKITS certificate's intended window (the set is valid 2010-01-01 to 2030-12-31).
AT = datetime.datetime(2020, 6, 1, tzinfo=datetime.timezone.utc)

CRL_DEPENDENT = "depends on CRL checking (revocation is out of scope for path analysis)"

# (PKITS number, EE file, intermediates from the EE's issuer upwards, expected verdict or None when valid)
CASES = [
    # 4.1 Signature verification
    ("4.1.1", "ValidCertificatePathTest1EE", ["GoodCACert"], None),
    ("4.1.2", "InvalidCASignatureTest2EE", ["BadSignedCACert"], "bad_signature"),
    ("4.1.3", "InvalidEESignatureTest3EE", ["GoodCACert"], "bad_signature"),
    ("4.1.4", "ValidDSASignaturesTest4EE", ["DSACACert"], None),
    ("4.1.6", "InvalidDSASignatureTest6EE", ["DSACACert"], "bad_signature"),
    # 4.2 Validity periods
    ("4.2.1", "InvalidCAnotBeforeDateTest1EE", ["BadnotBeforeDateCACert"], "not_yet_valid"),
    ("4.2.2", "InvalidEEnotBeforeDateTest2EE", ["GoodCACert"], "not_yet_valid"),
    ("4.2.3", "Validpre2000UTCnotBeforeDateTest3EE", ["GoodCACert"], None),
    ("4.2.4", "ValidGeneralizedTimenotBeforeDateTest4EE", ["GoodCACert"], None),
    ("4.2.5", "InvalidCAnotAfterDateTest5EE", ["BadnotAfterDateCACert"], "expired"),
    ("4.2.6", "InvalidEEnotAfterDateTest6EE", ["GoodCACert"], "expired"),
    ("4.2.7", "Invalidpre2000UTCEEnotAfterDateTest7EE", ["GoodCACert"], "expired"),
    ("4.2.8", "ValidGeneralizedTimenotAfterDateTest8EE", ["GoodCACert"], None),
    # 4.3 Verifying name chaining
    ("4.3.1", "InvalidNameChainingTest1EE", ["GoodCACert"], "no_chain"),
    ("4.3.2", "InvalidNameChainingOrderTest2EE", ["NameOrderingCACert"], "no_chain"),
    ("4.3.3", "ValidNameChainingWhitespaceTest3EE", ["GoodCACert"], None),
    ("4.3.4", "ValidNameChainingWhitespaceTest4EE", ["GoodCACert"], None),
    ("4.3.5", "ValidNameChainingCapitalizationTest5EE", ["GoodCACert"], None),
    ("4.3.6", "ValidNameUIDsTest6EE", ["UIDCACert"], None),
    ("4.3.7", "ValidRFC3280MandatoryAttributeTypesTest7EE", ["RFC3280MandatoryAttributeTypesCACert"], None),
    ("4.3.8", "ValidRFC3280OptionalAttributeTypesTest8EE", ["RFC3280OptionalAttributeTypesCACert"], None),
    ("4.3.9", "ValidUTF8StringEncodedNamesTest9EE", ["UTF8StringEncodedNamesCACert"], None),
    ("4.3.10", "ValidRolloverfromPrintableStringtoUTF8StringTest10EE",
     ["RolloverfromPrintableStringtoUTF8StringCACert"], None),
    ("4.3.11", "ValidUTF8StringCaseInsensitiveMatchTest11EE", ["UTF8StringCaseInsensitiveMatchCACert"], None),
    # 4.6 Basic constraints
    ("4.6.1", "InvalidMissingbasicConstraintsTest1EE", ["MissingbasicConstraintsCACert"], "wrong_usage"),
    ("4.6.2", "InvalidcAFalseTest2EE", ["basicConstraintsCriticalcAFalseCACert"], "wrong_usage"),
    ("4.6.3", "InvalidcAFalseTest3EE", ["basicConstraintsNotCriticalcAFalseCACert"], "wrong_usage"),
    ("4.6.4", "ValidbasicConstraintsNotCriticalTest4EE", ["basicConstraintsNotCriticalCACert"], None),
    ("4.6.5", "InvalidpathLenConstraintTest5EE", ["pathLenConstraint0subCACert", "pathLenConstraint0CACert"],
     "wrong_usage"),
    ("4.6.6", "InvalidpathLenConstraintTest6EE", ["pathLenConstraint0subCACert", "pathLenConstraint0CACert"],
     "wrong_usage"),
    ("4.6.7", "ValidpathLenConstraintTest7EE", ["pathLenConstraint0CACert"], None),
    ("4.6.8", "ValidpathLenConstraintTest8EE", ["pathLenConstraint0CACert"], None),
    ("4.6.9", "InvalidpathLenConstraintTest9EE",
     ["pathLenConstraint6subsubCA00Cert", "pathLenConstraint6subCA0Cert", "pathLenConstraint6CACert"], "wrong_usage"),
    ("4.6.10", "InvalidpathLenConstraintTest10EE",
     ["pathLenConstraint6subsubCA00Cert", "pathLenConstraint6subCA0Cert", "pathLenConstraint6CACert"], "wrong_usage"),
    ("4.6.11", "InvalidpathLenConstraintTest11EE",
     ["pathLenConstraint6subsubsubCA11XCert", "pathLenConstraint6subsubCA11Cert", "pathLenConstraint6subCA1Cert",
      "pathLenConstraint6CACert"], "wrong_usage"),
    ("4.6.12", "InvalidpathLenConstraintTest12EE",
     ["pathLenConstraint6subsubsubCA11XCert", "pathLenConstraint6subsubCA11Cert", "pathLenConstraint6subCA1Cert",
      "pathLenConstraint6CACert"], "wrong_usage"),
    ("4.6.13", "ValidpathLenConstraintTest13EE",
     ["pathLenConstraint6subsubsubCA41XCert", "pathLenConstraint6subsubCA41Cert", "pathLenConstraint6subCA4Cert",
      "pathLenConstraint6CACert"], None),
    ("4.6.14", "ValidpathLenConstraintTest14EE",
     ["pathLenConstraint6subsubsubCA41XCert", "pathLenConstraint6subsubCA41Cert", "pathLenConstraint6subCA4Cert",
      "pathLenConstraint6CACert"], None),
    ("4.6.15", "ValidSelfIssuedpathLenConstraintTest15EE",
     ["pathLenConstraint0SelfIssuedCACert", "pathLenConstraint0CACert"], None),
    ("4.6.16", "InvalidSelfIssuedpathLenConstraintTest16EE",
     ["pathLenConstraint0subCA2Cert", "pathLenConstraint0SelfIssuedCACert", "pathLenConstraint0CACert"],
     "wrong_usage"),
    ("4.6.17", "ValidSelfIssuedpathLenConstraintTest17EE",
     ["pathLenConstraint1SelfIssuedsubCACert", "pathLenConstraint1subCACert", "pathLenConstraint1SelfIssuedCACert",
      "pathLenConstraint1CACert"], None),
    # 4.7 Key usage
    ("4.7.1", "InvalidkeyUsageCriticalkeyCertSignFalseTest1EE", ["keyUsageCriticalkeyCertSignFalseCACert"],
     "wrong_usage"),
    ("4.7.2", "InvalidkeyUsageNotCriticalkeyCertSignFalseTest2EE", ["keyUsageNotCriticalkeyCertSignFalseCACert"],
     "wrong_usage"),
    ("4.7.3", "ValidkeyUsageNotCriticalTest3EE", ["keyUsageNotCriticalCACert"], None),
    pytest.param("4.7.4", "InvalidkeyUsageCriticalcRLSignFalseTest4EE", ["keyUsageCriticalcRLSignFalseCACert"],
                 "revoked_unknown", marks=pytest.mark.skip(reason=CRL_DEPENDENT), id="4.7.4"),
    pytest.param("4.7.5", "InvalidkeyUsageNotCriticalcRLSignFalseTest5EE", ["keyUsageNotCriticalcRLSignFalseCACert"],
                 "revoked_unknown", marks=pytest.mark.skip(reason=CRL_DEPENDENT), id="4.7.5"),
]

# The problem code that must be among the findings, beyond the verdict class (pins the reason).
EXPECTED_CODE = {
    "4.3.1": "name_chaining", "4.3.2": "name_chaining",
    "4.6.1": "not_ca", "4.6.2": "not_ca", "4.6.3": "not_ca",
    "4.6.5": "path_length", "4.6.6": "path_length", "4.6.9": "path_length", "4.6.10": "path_length",
    "4.6.11": "path_length", "4.6.12": "path_length", "4.6.16": "path_length",
    "4.7.1": "key_usage", "4.7.2": "key_usage",
}


# One test id per PKITS number (pytest.param entries carry theirs already).
CASE_IDS = [getattr(case, "id", None) or case[0] for case in CASES]


def load(name: str):
    path = os.path.join(CERTS_DIR, name + ".crt")
    with open(path, "rb") as handle:
        (cert,) = load_certificates(handle.read(), path)
    return cert


@pytest.mark.parametrize("number, ee, intermediates, expected", CASES, ids=CASE_IDS)
def test_pkits_path(number, ee, intermediates, expected):
    path = [load(ee)] + [load(n) for n in intermediates] + [load(ANCHOR)]
    result = validate_path(path, at=AT, check_eku=False)
    if expected is None:
        assert result["problems"] == []
        assert result["valid"] is True
        assert result["verdict"] is None
    else:
        assert result["valid"] is False
        assert result["verdict"] == expected
        # Nothing else is wrong with these paths: the one defect PKITS planted is the finding.
        assert {p["verdict"] for p in result["problems"]} == {expected}
        if number in EXPECTED_CODE:
            assert EXPECTED_CODE[number] in {p["code"] for p in result["problems"]}


@pytest.fixture(scope="module")
def pkits_ca_store():
    cas = []
    for filename in sorted(os.listdir(CERTS_DIR)):
        stem = filename[:-len(".crt")]
        if filename.endswith("EE.crt") or stem in (ANCHOR, "DSAParametersInheritedCACert"):
            continue
        cas.append(load(stem))
    return cas


@pytest.mark.parametrize("number, ee, intermediates, expected", CASES, ids=CASE_IDS)
def test_pkits_path_building(pkits_ca_store, number, ee, intermediates, expected):
    result = diagnose([load(ee)], root_store=[load(ANCHOR)], intermediate_store=pkits_ca_store, at=AT)
    assert result["verdict"] == (expected or "trusted")
    assert result["missing"] == []
    expected_path = [thumbprint(load(n)) for n in [ee] + intermediates + [ANCHOR]]
    assert [entry["thumbprint"] for entry in result["path"]] == expected_path


def test_pkits_4_1_5_dsa_parameter_inheritance_is_refused_by_the_loader():
    path = os.path.join(CERTS_DIR, "DSAParametersInheritedCACert.crt")
    with open(path, "rb") as handle:
        data = handle.read()
    with pytest.raises(CertificateError) as err:
        load_certificates(data, "DSAParametersInheritedCACert.crt")
    assert str(err.value).startswith("DSAParametersInheritedCACert.crt: ")


def test_pkits_anchor_alone_is_a_valid_path():
    assert validate_path([load(ANCHOR)], at=AT, check_eku=False)["valid"] is True


def test_pkits_valid_path_fails_outside_the_time_window():
    path = [load("ValidCertificatePathTest1EE"), load("GoodCACert"), load(ANCHOR)]
    late = validate_path(path, at=datetime.datetime(2031, 6, 1, tzinfo=datetime.timezone.utc), check_eku=False)
    assert late["verdict"] == "expired"
    assert [p["index"] for p in late["problems"]] == [0, 1, 2]
