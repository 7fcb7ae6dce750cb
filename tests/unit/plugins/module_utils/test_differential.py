# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chain analyser against an independent verifier (issue 8, section 7).

pyca/cryptography's own X.509 verifier (cryptography.x509.verification, Web PKI rules: RFC 5280
plus the CA/Browser Forum profile) judges the same generated chains as diagnose(). Where the two
disagree, the case must be in EXPECTED_DIFFERENCES, which says what Windows does and where that
rule comes from; docs/verdicts.md ("Where Windows and the Web PKI rules differ") carries the same
table. Any other disagreement fails: either the analyser is wrong, or a new difference needs a
Windows source before it can be accepted.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

SERVER = "da.contoso.com"
EC = {"key_type": "ecdsa"}
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.99999.1")
DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "verdicts.md")


@dataclass
class Case:
    """What the server sends (leaf first), what the client's stores hold, and the name it connects to."""

    chain: list
    roots: list
    intermediates: list = field(default_factory=list)
    bundle: list = field(default_factory=list)  # what could be imported: the analyser's view only
    server_name: str = SERVER
    at: datetime.datetime | None = None


# Each expected difference: (what diagnose() says, what cryptography says, the Windows rule and its source).
# The same rows, in prose, are in docs/verdicts.md.
EXPECTED_DIFFERENCES = {
    "cn_only": (True, False,
                "Without a subjectAltName extension Windows matches the host name against the subject CN "
                "(RFC 2818 3.1 and RFC 6125 6.4.4 allow it; Wine's crypt32 SSL policy does it). The Web PKI "
                "requires a SAN (CA/Browser Forum Baseline Requirements 7.1.4.3)."),
    "sha1_rsa": (True, False,
                 "Microsoft's SHA-1 deprecation blocks SHA-1 only for certificates that chain to a root of the "
                 "Microsoft Trusted Root Program; 'manually-installed enterprise or self-signed SHA-1 "
                 "certificates will not be impacted' (Microsoft Edge blog, SHA-1 deprecation countdown, "
                 "2016-11-18; TechNet, Windows Enforcement of SHA1 Certificates)."),
    "sha1_ecdsa": (True, False, "As sha1_rsa: the SHA-1 block covers Microsoft's root program only."),
    "leaf_without_aki": (True, False,
                         "Without an authorityKeyIdentifier CryptoAPI finds the issuer by name ('name match'; "
                         "TechNet wiki, Certificate Chaining Engine (CCE); Komar, Windows Server 2003 PKI and "
                         "Certificate Security, ch. 9). RFC 5280 4.2.1.1 makes the extension a MUST for "
                         "conforming CAs, which the Web PKI verifier enforces."),
    "v1_root_without_basic_constraints": (
        True, False,
        "A root in the Root store needs no basicConstraints: CryptoAPI's basic-constraints policy treats a "
        "certificate with neither basicConstraints extension as valid (learn.microsoft.com, "
        "CertVerifyCertificateChainPolicy, CERT_CHAIN_POLICY_BASIC_CONSTRAINTS), and RFC 5280 6.1.1(d) "
        "takes a trust anchor as given. The Web PKI verifier requires the extension on every CA."),
    "leaf_any_eku": (True, False,
                     "The analyser counts anyExtendedKeyUsage as Server Authentication (RFC 5280 4.2.1.12: the "
                     "key may be used for any purpose). Not confirmed on Windows: an assumption, listed in "
                     "docs/verdicts.md. The Web PKI verifier requires serverAuth itself in the leaf."),
    "leaf_is_a_ca": (True, False,
                     "Windows' SSL policy (CERT_CHAIN_POLICY_SSL) does not check the end entity's basicConstraints; "
                     "that is a separate policy a caller must ask for (CERT_CHAIN_POLICY_BASIC_CONSTRAINTS with "
                     "BASIC_CONSTRAINTS_CERT_CHAIN_POLICY_END_ENTITY_FLAG, learn.microsoft.com "
                     "CertVerifyCertificateChainPolicy). Inferred from the documentation, not confirmed on "
                     "Windows. The Web PKI forbids cA=TRUE in a server certificate."),
}


def _ca(name: str, issuer=None, **kwargs):
    kwargs = {**EC, **kwargs}
    return pki.make_root(name, **kwargs) if issuer is None else pki.make_intermediate(name, issuer, **kwargs)


def _leaf(issuer, name: str = SERVER, **kwargs):
    return pki.make_leaf(name, issuer, **{**EC, **kwargs})


def _simple(leaf_kwargs=None, intermediate_kwargs=None, root_kwargs=None, *, send_intermediate=True,
            server_name=SERVER, leaf_name=SERVER) -> Case:
    root = _ca("Differential Root CA", **(root_kwargs or {}))
    issuing = _ca("Differential Issuing CA", root, **(intermediate_kwargs or {}))
    leaf = _leaf(issuing, leaf_name, **(leaf_kwargs or {}))
    chain = [leaf.cert, issuing.cert] if send_intermediate else [leaf.cert]
    return Case(chain, [root.cert], server_name=server_name)


def _cross_signed(client_has: str) -> Case:
    """A CA renewed under a new root, cross-certified by the old one; the server sends the cross-certificate."""
    old_root = _ca("Contoso Root CA 2016")
    new_root = _ca("Contoso Root CA 2026")
    cross = pki.issue(subject=new_root.cert.subject, issuer=old_root, key=new_root.key, ca=True, valid_days=1825)
    issuing = _ca("Contoso Issuing CA", new_root)
    leaf = _leaf(issuing)
    # cryptography's Store cannot be empty: "none" holds an unrelated root.
    roots = {"old": [old_root.cert], "new": [new_root.cert], "none": [_ca("Unrelated Root CA").cert]}[client_has]
    return Case([leaf.cert, issuing.cert, cross.cert], roots)


def _name_constrained(leaf_name: str) -> Case:
    root = _ca("Constrained Root CA")
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("contoso.com")], excluded_subtrees=None)
    issuing = _ca("Constrained Issuing CA", root, extra_extensions=[(constraints, True)])
    return Case([_leaf(issuing, leaf_name).cert, issuing.cert], [root.cert], server_name=leaf_name)


def _signed_with(algorithm: str) -> Case:
    root = _ca("Differential Root CA", key_type="rsa")
    issuing = _ca("Differential Issuing CA", root, key_type="rsa")
    leaf = _leaf(issuing, key_type="rsa")
    return Case([pki.resign(leaf.cert, issuing.key, algorithm), issuing.cert], [root.cert])


def _sha1_ecdsa() -> Case:
    root = _ca("Differential Root CA")
    issuing = _ca("Differential Issuing CA", root)
    return Case([pki.resign(_leaf(issuing).cert, issuing.key, "sha1_ecdsa"), issuing.cert], [root.cert])


def _tampered() -> Case:
    root = _ca("Differential Root CA", key_type="rsa")
    issuing = _ca("Differential Issuing CA", root, key_type="rsa")
    return Case([pki.tamper_signature(_leaf(issuing, key_type="rsa").cert), issuing.cert], [root.cert])


def _intermediate_only_in_the_bundle() -> Case:
    case = _intermediate_in_store()
    case.bundle, case.intermediates = case.intermediates, []
    return case


def _untrusted_root() -> Case:
    case = _simple()
    case.roots = [_ca("Some Other Root CA").cert]
    return case


def _intermediate_in_store() -> Case:
    root = _ca("Differential Root CA")
    issuing = _ca("Differential Issuing CA", root)
    return Case([_leaf(issuing).cert], [root.cert], intermediates=[issuing.cert])


def _rsa_pss() -> Case:
    root = _ca("Differential Root CA", key_type="rsa")
    issuing = _ca("Differential Issuing CA", root, key_type="rsa", rsa_padding=pki.pss_padding())
    leaf = pki.issue(SERVER, issuer=issuing, san_dns=(SERVER,), eku=[pki.SERVER_AUTH],
                     rsa_padding=pki.pss_padding(hashes.SHA384()), hash_algorithm=hashes.SHA384())
    return Case([leaf.cert, issuing.cert], [root.cert])


def _path_length_exceeded() -> Case:
    root = _ca("Differential Root CA")
    policy = _ca("Differential Policy CA", root, path_length=0)
    issuing = _ca("Differential Issuing CA", policy)
    return Case([_leaf(issuing).cert, issuing.cert, policy.cert], [root.cert])


def _expired(which: str) -> Case:
    lapsed = {"not_before": pki.utcnow() - datetime.timedelta(days=400), "valid_days": 30}
    root = _ca("Differential Root CA")
    issuing = _ca("Differential Issuing CA", root, **(lapsed if which == "issuing" else {}))
    leaf = _leaf(issuing, **(lapsed if which == "leaf" else {}))
    return Case([leaf.cert, issuing.cert], [root.cert])


def _critical(critical: bool) -> Case:
    extension = x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00")
    return _simple(leaf_kwargs={"extra_extensions": [(extension, critical)]})


# name -> how to build it. Every case is judged by both verifiers.
CASES = {
    "trusted_ecdsa": _simple,
    "trusted_rsa": lambda: _simple({"key_type": "rsa"}, {"key_type": "rsa"}, {"key_type": "rsa"}),
    "trusted_ed25519_leaf": lambda: _simple({"key_type": "ed25519"}),
    "untrusted_root": _untrusted_root,
    "intermediate_nowhere": lambda: _simple(send_intermediate=False),
    "missing_intermediate": _intermediate_only_in_the_bundle,
    "intermediate_from_the_client_store": _intermediate_in_store,
    "expired_leaf": lambda: _expired("leaf"),
    "expired_intermediate": lambda: _expired("issuing"),
    "tampered_signature": _tampered,
    "leaf_eku_client_auth_only": lambda: _simple({"eku": [pki.CLIENT_AUTH]}),
    "leaf_without_eku": lambda: _simple({"eku": None}),
    "leaf_any_eku": lambda: _simple({"eku": [pki.ANY_EKU]}),
    "intermediate_eku_without_server_auth": lambda: _simple(intermediate_kwargs={"eku": [pki.CLIENT_AUTH]}),
    "intermediate_eku_server_auth": lambda: _simple(intermediate_kwargs={"eku": [pki.SERVER_AUTH]}),
    "name_mismatch": lambda: _simple(server_name="vpn.contoso.com"),
    "san_without_the_name_cn_with_it": lambda: _simple({"san_dns": ("www.contoso.com",)}),
    "cn_only": lambda: _simple({"san_dns": ()}),
    "wildcard_one_label": lambda: _simple(leaf_name="*.contoso.com"),
    "wildcard_two_labels": lambda: _simple(leaf_name="*.contoso.com", server_name="a.da.contoso.com"),
    "ip_address_san": lambda: _simple({"san_ip": ("192.0.2.10",)}, server_name="192.0.2.10"),
    "path_length_exceeded": _path_length_exceeded,
    "root_path_length_zero": lambda: _simple(root_kwargs={"path_length": 0}),
    "intermediate_without_key_cert_sign": lambda: _simple(intermediate_kwargs={"key_usage": ["crl_sign"]}),
    "leaf_key_usage_key_cert_sign_only": lambda: _simple({"key_usage": ["key_cert_sign"]}),
    "leaf_without_key_usage": lambda: _simple({"key_usage": False}),
    "leaf_is_a_ca": lambda: _simple({"ca": True}),
    "critical_unknown_extension": lambda: _critical(True),
    "non_critical_unknown_extension": lambda: _critical(False),
    "sha1_rsa": lambda: _signed_with("sha1_rsa"),
    "sha1_ecdsa": _sha1_ecdsa,
    "md5_rsa": lambda: _signed_with("md5_rsa"),
    "rsa_pss": _rsa_pss,
    "v1_root_without_basic_constraints": lambda: _simple(root_kwargs={"basic_constraints": False, "key_usage": False}),
    "root_without_ski": lambda: _simple(root_kwargs={"ski": False}),
    "leaf_without_aki": lambda: _simple({"aki": False}),
    "cross_signed_client_has_old_root": lambda: _cross_signed("old"),
    "cross_signed_client_has_new_root": lambda: _cross_signed("new"),
    "cross_signed_client_has_neither": lambda: _cross_signed("none"),
    "name_constraints_permitted": lambda: _name_constrained(SERVER),
    "name_constraints_violated": lambda: _name_constrained("da.fabrikam.com"),
}


def windows_view(case: Case) -> dict:
    return diagnose(case.chain, case.server_name, root_store=case.roots, intermediate_store=case.intermediates,
                    bundle=case.bundle, at=case.at)


def web_pki_accepts(case: Case) -> tuple[bool, str]:
    """cryptography's server verifier: (accepted, its reason when not)."""
    try:
        subject = x509.IPAddress(ipaddress.ip_address(case.server_name))
    except ValueError:
        subject = x509.DNSName(case.server_name)
    builder = PolicyBuilder().store(Store(case.roots)).time(case.at or datetime.datetime.now(datetime.timezone.utc))
    verifier = builder.build_server_verifier(subject)
    try:
        verifier.verify(case.chain[0], case.chain[1:] + case.intermediates)
    except VerificationError as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture(scope="module", params=sorted(CASES))
def judged(request):
    case = CASES[request.param]()
    return request.param, windows_view(case), web_pki_accepts(case)


def test_the_analyser_and_the_web_pki_verifier_agree_or_the_difference_is_documented(judged):
    name, diagnosis, (web_ok, web_reason) = judged
    ours = diagnosis["trusted"]
    if name in EXPECTED_DIFFERENCES:
        expected_ours, expected_web, _rule = EXPECTED_DIFFERENCES[name]
        assert (ours, web_ok) == (expected_ours, expected_web), (
            f"{name}: the documented difference no longer holds (analyser {diagnosis['verdict']}, "
            f"cryptography {'accepts' if web_ok else 'rejects: ' + web_reason}); update the table and docs")
    else:
        assert ours == web_ok, (
            f"{name}: unexplained disagreement: the analyser says {diagnosis['verdict']}, cryptography "
            f"{'accepts' if web_ok else 'rejects: ' + web_reason}")


# The verdicts the agreed cases must give: agreement on 'not trusted' alone could hide a wrong reason.
EXPECTED_VERDICTS = {
    "untrusted_root": "untrusted_root", "missing_intermediate": "missing_intermediate",
    # Nothing anywhere has the issuer: known by name only, it is reported for Root (docs/verdicts.md).
    "intermediate_nowhere": "untrusted_root",
    "expired_leaf": "expired", "expired_intermediate": "expired", "tampered_signature": "bad_signature",
    "leaf_eku_client_auth_only": "wrong_usage", "intermediate_eku_without_server_auth": "wrong_usage",
    "name_mismatch": "name_mismatch", "san_without_the_name_cn_with_it": "name_mismatch",
    "wildcard_two_labels": "name_mismatch", "path_length_exceeded": "wrong_usage",
    "root_path_length_zero": "wrong_usage", "intermediate_without_key_cert_sign": "wrong_usage",
    "leaf_key_usage_key_cert_sign_only": "wrong_usage", "critical_unknown_extension": "unsupported_critical_extension",
    "md5_rsa": "weak_crypto", "cross_signed_client_has_neither": "untrusted_root",
    "name_constraints_violated": "name_constraints",
}


def test_rejected_cases_are_rejected_for_the_right_reason(judged):
    name, diagnosis, _web = judged
    if diagnosis["trusted"]:
        assert name not in EXPECTED_VERDICTS
    else:
        assert diagnosis["verdict"] == EXPECTED_VERDICTS[name], name


def test_every_case_in_the_tables_exists():
    assert set(EXPECTED_DIFFERENCES) <= set(CASES)
    assert set(EXPECTED_VERDICTS) <= set(CASES)


def test_docs_list_every_expected_difference():
    """docs/verdicts.md carries the same table, one row per difference, each with its rule and source."""
    with open(DOC, encoding="utf-8") as handle:
        text = handle.read()
    heading = "### Where Windows and the Web PKI rules differ"
    assert heading in text
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")}
    assert rows == set(EXPECTED_DIFFERENCES)
