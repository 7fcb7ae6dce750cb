# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle's rules for what may go into a client's Root and CA stores."""
from __future__ import annotations

import datetime

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import Candidate
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_vetting import VettingError, vet
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


def local(issued, source="sources[0] (path x.pem)"):
    return Candidate(issued.cert, source, False)


def fetched(issued, source="sources[0] (url http://pki.test/x.crt)"):
    return Candidate(issued.cert, source, True)


@pytest.fixture(scope="module")
def corp():
    return pki.make_hierarchy("da.contoso.com", intermediate_key_type="ecdsa", leaf_key_type="ecdsa")


def test_roots_first_then_intermediates_top_down(corp):
    policy = pki.make_intermediate("Contoso Policy CA", corp.root)
    issuing = pki.make_intermediate("Contoso Issuing CA 2", policy)
    result = vet([local(issuing), local(policy), local(corp.root)])
    assert [c["thumbprint"] for c in result] == [corp.root.thumbprint, policy.thumbprint, issuing.thumbprint]
    expected = [("root", "Root"), ("intermediate", "CA"), ("intermediate", "CA")]
    assert [(c["role"], c["store"]) for c in result] == expected
    first = result[0]
    assert set(first) == {"subject", "issuer", "thumbprint", "sha256", "not_before", "not_after", "role",
                          "store", "source", "pem"}
    assert first["sha256"] == corp.root.sha256
    assert first["pem"] == corp.root.pem
    assert first["not_after"].endswith("Z")


def test_duplicates_are_merged_and_a_local_copy_wins(corp):
    result = vet([fetched(corp.root, "sources[0] (url u)"), local(corp.root, "sources[1] (path p)")],
                 pins=[corp.root.sha256])
    assert len(result) == 1
    assert result[0]["source"] == "sources[1] (path p)"


def test_leaf_is_refused(corp):
    with pytest.raises(VettingError, match=r"^sources\[2\] \(path leaf.pem\): CN=da.contoso.com.* is not a CA"):
        vet([local(corp.root), local(corp.leaf, "sources[2] (path leaf.pem)")])


def test_certificate_without_basic_constraints_is_refused():
    legacy = pki.issue("Legacy Thing", basic_constraints=False)
    with pytest.raises(VettingError, match="is not a CA"):
        vet([local(legacy)])


def test_expired_ca_is_refused_unless_allowed(corp):
    now = pki.utcnow()
    expired = pki.make_intermediate("Old Issuing CA", corp.root, not_before=now - datetime.timedelta(days=400),
                                    not_after=now - datetime.timedelta(days=1))
    with pytest.raises(VettingError, match="expired on .*allow_expired"):
        vet([local(expired)])
    assert [c["thumbprint"] for c in vet([local(expired)], allow_expired=True)] == [expired.thumbprint]


def test_not_yet_valid_ca_is_refused(corp):
    future = pki.make_intermediate("Future CA", corp.root,
                                   not_before=pki.utcnow() + datetime.timedelta(days=10))
    with pytest.raises(VettingError, match="is not valid until"):
        vet([local(future)], allow_expired=True)


def test_at_moves_the_clock(corp):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=4000)
    with pytest.raises(VettingError, match="expired"):
        vet([local(corp.root)], at=later)


def test_pins_accept_any_spelling(corp):
    colon_lower = ":".join(corp.root.sha256[i:i + 2] for i in range(0, 64, 2)).lower()
    assert len(vet([local(corp.root)], pins=[colon_lower])) == 1


def test_every_root_must_be_pinned(corp):
    other = pki.make_root("Other Root CA")
    with pytest.raises(VettingError, match=r"Other Root CA.*matches none of the pins"):
        vet([local(corp.root), local(other)], pins=[corp.root.sha256])


def test_rollover_root_with_the_same_name_is_not_the_pinned_one(corp):
    old = pki.make_root("Contoso Root CA")  # same subject, other key
    with pytest.raises(VettingError, match="matches none of the pins"):
        vet([local(old)], pins=[corp.root.sha256])


def test_bad_pin_is_named():
    with pytest.raises(VettingError, match=r"^pins\[1\]"):
        vet([], pins=["00" * 32, "not-hex"])


def test_nothing_found_is_an_error():
    with pytest.raises(VettingError, match="no certificates were found"):
        vet([])


def test_network_certificates_need_pins(corp):
    with pytest.raises(VettingError, match="fetched over the network.*give pins"):
        vet([fetched(corp.root)])


def test_network_intermediate_must_chain_to_a_pinned_root(corp):
    # Root from a local file (pinned), intermediate from the network: it verifies up to the pin.
    result = vet([local(corp.root), fetched(corp.intermediate)], pins=[corp.root.sha256])
    assert [c["role"] for c in result] == ["root", "intermediate"]


def test_network_intermediate_without_its_root_is_refused(corp):
    with pytest.raises(VettingError, match="does not chain to a pinned root"):
        vet([fetched(corp.intermediate)], pins=[corp.root.sha256])


def test_network_intermediate_signed_by_another_key_under_the_pinned_name_is_refused(corp):
    # An attacker's CA with the same names as the real ones: names chain, signatures do not.
    fake_root = pki.make_root("Contoso Root CA")
    fake_issuing = pki.make_intermediate("Contoso Issuing CA", fake_root)
    with pytest.raises(VettingError, match="Contoso Issuing CA.*does not chain to a pinned root"):
        vet([local(corp.root), fetched(fake_issuing)], pins=[corp.root.sha256])


def test_network_chain_through_a_cross_certificate(corp):
    # New root cross-signed by the pinned old root: the network copy chains via the cross cert.
    new_root_key = pki.new_key("ecdsa")
    cross = pki.issue("Contoso Root CA G2", issuer=corp.root, key=new_root_key, ca=True)
    g2_issuing_issuer = pki.make_root("Contoso Root CA G2", key=new_root_key)
    g2_issuing = pki.make_intermediate("Contoso Issuing CA G2", g2_issuing_issuer)
    result = vet([local(corp.root), fetched(cross), fetched(g2_issuing)], pins=[corp.root.sha256])
    assert {c["thumbprint"] for c in result} == {corp.root.thumbprint, cross.thumbprint, g2_issuing.thumbprint}
    assert result[0]["thumbprint"] == corp.root.thumbprint


def test_local_intermediate_is_kept_without_its_root(corp):
    # An operator's own file for a missing-intermediate fix: the clients already trust the root.
    result = vet([local(corp.intermediate)], pins=[corp.root.sha256])
    assert [c["store"] for c in result] == ["CA"]
