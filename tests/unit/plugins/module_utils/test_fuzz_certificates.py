# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never crash (issue 8, section 6): mutated real certificates through the loaders, the identity
helpers, validate_path and diagnose. Each input ends in a result or a CertificateError that names
the input; nothing else may escape.

`make test` runs a few derandomized examples per property; `make fuzz` runs many random ones
(fuzz.py). The regression tests below pin each crash the fuzzer found.
"""
from __future__ import annotations

import base64

import pytest
from cryptography import x509
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.module_utils import _certificate, _chain
from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    describe,
    extension_fault,
    is_self_issued,
    is_self_signed,
    issued_by,
    load_certificates,
    name_fault,
    name_key,
    normalize_fingerprint,
    thumbprint,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import (
    MAX_DEPTH,
    MAX_ISSUER_SIGNATURE_CHECKS,
    MAX_PATHS,
    VERDICTS,
    diagnose,
    validate_path,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz, pki

# cryptography warns (and will one day refuse) on some of the odd certificates the mutations make.
pytestmark = [pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

SOURCE = "fuzzed input"
SERVER_NAMES = st.sampled_from(["da.contoso.com", "https://da.contoso.com:443/IPHTTPS", "192.0.2.10",
                                "[2001:db8::1]", "b\u00fccher.example", "*.contoso.com"])
# Where a mutated certificate goes: the server's leaf or intermediate, or one of the client's stores.
PLACES = ("leaf", "intermediate", "root_store", "intermediate_store", "bundle", "everywhere")


def assert_refusal_names_the_input(exc: CertificateError, source: str = SOURCE) -> None:
    assert str(exc).startswith(f"{source}"), str(exc)


def assert_diagnosis(result: dict) -> None:
    assert result["verdict"] in VERDICTS
    assert result["trusted"] is (result["verdict"] == "trusted")
    assert isinstance(result["reasons"], list) and all(isinstance(r, str) for r in result["reasons"])
    for entry in result["missing"]:
        assert entry["store"] in ("Root", "CA")


def arrange(cert, place: str) -> dict:
    chain = fuzz.reference_chain()
    args = {"server_chain": [chain.leaf.cert, chain.intermediate.cert], "root_store": [chain.root.cert],
            "intermediate_store": [], "bundle": []}
    if place in ("leaf", "everywhere"):
        args["server_chain"][0] = cert
    if place in ("intermediate", "everywhere"):
        args["server_chain"][1] = cert
    for store in ("root_store", "intermediate_store", "bundle"):
        if place in (store, "everywhere"):
            args[store] = args[store] + [cert]
    return args


# ---------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------

@fuzz.fuzz_settings(examples=40)
@given(data=fuzz.encoded())
def test_mutated_certificates_load_or_are_refused_by_name(data):
    try:
        certs = load_certificates(data, SOURCE)
    except CertificateError as exc:
        assert_refusal_names_the_input(exc)
        return
    assert certs and all(isinstance(cert, x509.Certificate) for cert in certs)


@fuzz.fuzz_settings(examples=40)
@given(data=st.one_of(st.binary(max_size=2048), st.text(max_size=512),
                      st.builds(lambda body: f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----",
                                st.text(max_size=256)),
                      st.builds(lambda raw: b"\x30" + raw, st.binary(max_size=512))))
@example(data=b"\x30\x84\xff\xff\xff\xff")
@example(data="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----")
@example(data="\ufeff" + "A" * 64)
def test_arbitrary_bytes_and_text_load_or_are_refused_by_name(data):
    try:
        load_certificates(data, SOURCE)
    except CertificateError as exc:
        assert_refusal_names_the_input(exc)


@fuzz.fuzz_settings(examples=40)
@given(text=st.one_of(st.text(max_size=80), st.text(alphabet="0123456789abcdefABCDEF :-\u200e", max_size=80),
                      st.integers(), st.none(), st.binary(max_size=20)), kind=st.sampled_from(["sha1", "sha256"]))
def test_any_fingerprint_text_normalizes_or_is_refused_by_name(text, kind):
    try:
        normalized = normalize_fingerprint(text, kind=kind)
    except CertificateError as exc:
        assert "SHA-1 thumbprint" in str(exc) or "SHA-256 fingerprint" in str(exc), str(exc)
        return
    assert len(normalized) == {"sha1": 40, "sha256": 64}[kind] and normalized == normalized.upper()


@pytest.mark.parametrize("data", [None, 42, ["PEM"], {"pem": "x"}, 3.5])
def test_loader_refuses_what_is_not_bytes_or_text(data):
    with pytest.raises(CertificateError, match=rf"^{SOURCE}: expected bytes or text"):
        load_certificates(data, SOURCE)


# ---------------------------------------------------------------------------------------------
# Identity helpers, validate_path and diagnose on certificates cryptography loads
# ---------------------------------------------------------------------------------------------

@fuzz.fuzz_settings(examples=30)
@given(cert=fuzz.mutated_certificates())
def test_identity_helpers_never_fail_on_a_loaded_certificate(cert):
    info = describe(cert)
    assert info["thumbprint"] == thumbprint(cert)
    assert isinstance(info["subject"], str) and isinstance(info["issuer"], str)
    fault = extension_fault(cert)
    assert fault is None or isinstance(fault["reason"], str)
    reference = fuzz.reference_chain()
    assert isinstance(is_self_issued(cert), bool) and isinstance(is_self_signed(cert), bool)
    assert isinstance(issued_by(cert, reference.intermediate.cert), bool)
    assert isinstance(issued_by(reference.leaf.cert, cert), bool)


@fuzz.fuzz_settings(examples=40)
@given(cert=fuzz.mutated_certificates(), place=st.sampled_from(PLACES), server_name=SERVER_NAMES)
def test_diagnose_gives_a_verdict_wherever_a_mutated_certificate_sits(cert, place, server_name):
    assert_diagnosis(diagnose(server_name=server_name, **arrange(cert, place)))


@fuzz.fuzz_settings(examples=20)
@given(certs=st.lists(fuzz.mutated_certificates(), min_size=1, max_size=4), server_name=SERVER_NAMES,
       order=st.randoms(use_true_random=False))
def test_diagnose_gives_a_verdict_for_chains_of_mutated_certificates(certs, server_name, order):
    reference = fuzz.reference_chain()
    pool = certs + [reference.intermediate.cert, reference.root.cert]
    order.shuffle(pool)
    assert_diagnosis(diagnose([certs[0]] + pool[:3], server_name, root_store=pool[1:], intermediate_store=pool,
                              bundle=pool))


@fuzz.fuzz_settings(examples=30)
@given(cert=fuzz.mutated_certificates(), index=st.integers(0, 2), server_name=SERVER_NAMES)
def test_validate_path_gives_a_result_with_a_mutated_certificate(cert, index, server_name):
    reference = fuzz.reference_chain()
    path = [reference.leaf.cert, reference.intermediate.cert, reference.root.cert]
    path[index] = cert
    result = validate_path(path, server_name=server_name)
    assert result["valid"] is (not result["problems"])
    assert result["verdict"] is None or result["verdict"] in VERDICTS


@fuzz.fuzz_settings(examples=40)
@given(server_name=st.text(max_size=80))
@example(server_name="https://[::1/")
@example(server_name="https://")
@example(server_name="   ")
def test_any_server_name_gives_a_verdict_or_a_refusal_naming_server_name(server_name):
    reference = fuzz.reference_chain()
    try:
        result = diagnose([reference.leaf.cert, reference.intermediate.cert], server_name,
                          root_store=[reference.root.cert])
    except CertificateError as exc:
        assert str(exc).startswith("server_name: "), str(exc)
        return
    assert_diagnosis(result)


def _names_through_cryptography(cert) -> tuple:
    keys, fault = {}, None
    for field in ("subject", "issuer"):
        try:
            keys[field] = name_key(getattr(cert, field))
        except (ValueError, TypeError):
            keys[field], fault = None, field
    return keys["subject"], keys["issuer"], fault


def test_names_keyed_from_the_der_agree_with_cryptography_on_the_corpus():
    """The fast path is taken for nearly every real certificate, and gives cryptography's keys."""
    taken = 0
    for der in fuzz.corpus():
        cert = x509.load_der_x509_certificate(der)
        fast = _certificate._der_name_keys(cert)
        if fast is not None:
            taken += 1
            assert _names_through_cryptography(cert) == (fast[0], fast[1], None)
    assert taken >= 0.9 * len(fuzz.corpus())


@fuzz.fuzz_settings(examples=60)
@given(cert=fuzz.mutated_certificates())
def test_names_keyed_from_the_der_agree_with_cryptography_on_mutations(cert):
    """Where the DER reading accepts a name, cryptography parses it to the same key; where either
    refuses, cryptography decides (a name the fast path took but cryptography cannot parse would
    hide a malformed certificate)."""
    fast = _certificate._der_name_keys(cert)
    if fast is not None:
        assert _names_through_cryptography(cert) == (fast[0], fast[1], None)


# ---------------------------------------------------------------------------------------------
# Crashes the fuzzer found, pinned
# ---------------------------------------------------------------------------------------------

def _with_broken_subject(cert) -> x509.Certificate:
    """The certificate with its subject's CN value re-tagged as an INTEGER: it loads (names are parsed
    lazily) but reading the subject fails."""
    der = cert.public_bytes(pki.serialization.Encoding.DER)
    tbs = pki.der_children(der)[0]
    fields = pki.der_children(tbs)
    subject_index = 5 if fields[0][0] == 0xA0 else 4
    subject = fields[subject_index]
    # Last byte run: ... 06 03 55 04 03 <tag> <len> <value>; the CN value's tag follows the CN OID.
    position = subject.rfind(b"\x06\x03\x55\x04\x03") + 5
    fields[subject_index] = subject[:position] + b"\x02" + subject[position + 1:]
    rebuilt = pki.der_tlv(0x30, b"".join(fields))
    return x509.load_der_x509_certificate(pki.der_tlv(0x30, rebuilt + b"".join(pki.der_children(der)[1:])))


@pytest.fixture(scope="module")
def broken_name():
    return _with_broken_subject(fuzz.reference_chain().intermediate.cert)


def test_a_certificate_whose_subject_cannot_be_parsed_is_described_not_a_crash(broken_name):
    with pytest.raises(ValueError):
        broken_name.subject.rfc4514_string()  # the fixture is what it claims to be
    assert name_fault(broken_name).startswith("its subject name cannot be parsed")
    info = describe(broken_name)
    assert info["subject"] == "(unreadable subject name)"
    assert info["common_name"] is None
    assert info["self_issued"] is False and info["self_signed"] is False
    reference = fuzz.reference_chain()
    assert issued_by(reference.leaf.cert, broken_name) is False
    assert info["issuer"] == reference.root.subject  # the other name still reads


def test_validate_path_calls_a_certificate_with_an_unreadable_name_malformed(broken_name):
    reference = fuzz.reference_chain()
    result = validate_path([reference.leaf.cert, broken_name, reference.root.cert])
    assert result["valid"] is False and result["verdict"] == "malformed"
    [problem] = result["problems"]
    assert problem["code"] == "malformed_name" and problem["index"] == 1
    assert problem["thumbprint"] == thumbprint(broken_name)
    assert "subject name cannot be parsed" in problem["message"]


def test_diagnose_leaves_a_store_certificate_with_an_unreadable_name_out(broken_name):
    reference = fuzz.reference_chain()
    result = diagnose([reference.leaf.cert], "da.contoso.com", root_store=[reference.root.cert],
                      intermediate_store=[broken_name])
    assert result["verdict"] == "untrusted_root"
    assert any(thumbprint(broken_name) in reason and "left out" in reason for reason in result["reasons"])


@pytest.mark.parametrize("server_name", ["https://[::1/", "https://[::1/x"])
def test_a_url_with_an_unclosed_ipv6_bracket_is_refused_naming_server_name(server_name):
    reference = fuzz.reference_chain()
    with pytest.raises(CertificateError, match=r"^server_name: .* is not a usable URL: Invalid IPv6 URL"):
        diagnose([reference.leaf.cert], server_name, root_store=[reference.root.cert])


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_time_outside_utc_is_refused_naming_at(at):
    import datetime
    moment = datetime.datetime.fromisoformat(at)
    reference = fuzz.reference_chain()
    with pytest.raises(CertificateError, match=r"^at: .* cannot be expressed in UTC"):
        diagnose([reference.leaf.cert], "da.contoso.com", root_store=[reference.root.cert], at=moment)


def test_base64_of_a_mutated_certificate_is_refused_with_the_source_name():
    der = fuzz.reference_chain().leaf.der
    truncated = base64.b64encode(der[:len(der) // 2]).decode("ascii")
    with pytest.raises(CertificateError, match=rf"^{SOURCE}: base64 DER is truncated"):
        load_certificates(truncated, SOURCE)


# ---------------------------------------------------------------------------------------------
# Work bound: a 20-certificate chain against 5,000-certificate pools (timed in `make fuzz` and the bench)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scenarios():
    return fuzz.pool_scenarios()


@pytest.fixture
def signature_checks(monkeypatch):
    """Counts every signature verification diagnose() makes (path search and path validation)."""
    calls = []
    real = _chain.is_signed_by

    def counted(cert, issuer):
        calls.append(1)
        return real(cert, issuer)

    monkeypatch.setattr(_chain, "is_signed_by", counted)
    return calls


# Per scenario: the expected verdict and the most signature checks the analysis may spend.
WORK_BOUNDS = {
    "deep": ("no_chain", MAX_DEPTH),
    "same_name": ("untrusted_root", MAX_ISSUER_SIGNATURE_CHECKS),
    "key_id_mesh": ("no_chain", MAX_PATHS + MAX_DEPTH),
    "cross_mesh": ("trusted", 2 * 2 * MAX_DEPTH),
}


@pytest.mark.parametrize("name", sorted(WORK_BOUNDS))
def test_big_pools_cost_a_bounded_number_of_signature_checks(scenarios, signature_checks, name):
    scenario = scenarios[name]
    assert fuzz.pool_size(scenario) <= fuzz.POOL_SIZE and len(scenario["server_chain"]) <= fuzz.CHAIN_LENGTH
    assert fuzz.pool_size(scenario) >= fuzz.POOL_SIZE - 10
    verdict, most = WORK_BOUNDS[name]
    result = diagnose(server_name="da.contoso.com", **scenario)
    assert result["verdict"] == verdict
    assert 0 < len(signature_checks) <= most


def test_the_signature_budget_is_named_in_the_reasons(scenarios):
    result = diagnose(server_name="da.contoso.com", **scenarios["same_name"])
    note = [r for r in result["reasons"] if "were not checked" in r]
    assert len(note) == 1 and f"after {MAX_ISSUER_SIGNATURE_CHECKS} checks" in note[0]
    # The budget is not a verdict of its own: the path simply stops where no issuer was confirmed.
    assert result["missing"][-1]["thumbprint"] is None


def test_a_few_same_name_candidates_are_all_checked(signature_checks):
    """Real stores: a CA renewed a few times under one name. Every candidate is checked, the right
    one is found wherever it sorts, and no budget note appears."""
    root = pki.make_root("Renewed Root", key_type="ecdsa")
    issuing = pki.make_intermediate("Renewed Issuing", root, key_type="ecdsa", ski=False)
    renewals = [pki.make_intermediate("Renewed Issuing", root, key_type="ecdsa", ski=False) for _renewal in range(6)]
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa", aki=False)
    result = diagnose([leaf.cert], "da.contoso.com", root_store=[root.cert],
                      intermediate_store=[r.cert for r in renewals] + [issuing.cert])
    assert result["verdict"] == "trusted"
    assert not any("were not checked" in r for r in result["reasons"])
    assert len(signature_checks) <= len(renewals) + 4
