# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ca_import accepts and where each certificate goes."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@pytest.fixture(scope="module")
def corp():
    """Root -> policy CA -> issuing CA -> da.contoso.com, all ECDSA for speed."""
    root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    policy = pki.make_intermediate("Contoso Policy CA", root, key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", policy, key_type="ecdsa")
    leaf = pki.make_leaf("da.contoso.com", issuing, key_type="ecdsa")
    return root, policy, issuing, leaf


def bundle_entry(issued, **overrides) -> dict:
    """An entry shaped like ca_bundle's certificates."""
    entry = {"subject": issued.subject, "thumbprint": issued.thumbprint, "sha256": issued.sha256,
             "role": "root" if issued.cert.issuer == issued.cert.subject else "intermediate",
             "store": "Root" if issued.cert.issuer == issued.cert.subject else "CA", "source": "test",
             "pem": issued.pem}
    entry.update(overrides)
    return entry


def summary(plan):
    return [(p["store"], p["thumbprint"]) for p in plan]


def test_roots_come_first_and_the_store_follows_from_the_certificate(corp):
    root, policy, issuing, _leaf = corp
    plan = plan_import([issuing.pem, policy.pem, root.pem])
    assert summary(plan) == [("Root", root.thumbprint), ("CA", issuing.thumbprint), ("CA", policy.thumbprint)]
    assert [p["subject"] for p in plan] == [root.subject, issuing.subject, policy.subject]
    assert [p["der"] for p in plan] == [root.der, issuing.der, policy.der]


def test_ca_bundle_entries_are_accepted(corp):
    root, policy, issuing, _leaf = corp
    plan = plan_import([bundle_entry(root), bundle_entry(policy), bundle_entry(issuing)])
    assert summary(plan) == [("Root", root.thumbprint), ("CA", issuing.thumbprint), ("CA", policy.thumbprint)]


def test_pem_strings_dicts_and_base64_der_mix(corp):
    root, policy, issuing, _leaf = corp
    plan = plan_import([{"pem": root.pem}, policy.pem + issuing.pem, base64.b64encode(issuing.der).decode()])
    assert summary(plan) == [("Root", root.thumbprint), ("CA", issuing.thumbprint), ("CA", policy.thumbprint)]


def test_duplicates_are_merged(corp):
    root, policy, _issuing, _leaf = corp
    plan = plan_import([root.pem, bundle_entry(root), root.pem + policy.pem, policy.pem])
    assert summary(plan) == [("Root", root.thumbprint), ("CA", policy.thumbprint)]


@pytest.mark.parametrize("items", [[], None, ()])
def test_empty_list_is_refused(items):
    with pytest.raises(PlanError, match="certificates: the list is empty"):
        plan_import(items)


def test_wrong_store_names_the_index(corp):
    root, policy, _issuing, _leaf = corp
    with pytest.raises(PlanError, match=r"^certificates\[1\]: .*Contoso Policy CA.* belongs in CA, not Root"):
        plan_import([bundle_entry(root), bundle_entry(policy, store="Root")])
    with pytest.raises(PlanError, match=r"^certificates\[0\]: .*Contoso Root CA.* belongs in Root, not CA"):
        plan_import([bundle_entry(root, store="CA")])


def test_thumbprint_mismatch_is_refused(corp):
    root, policy, _issuing, _leaf = corp
    with pytest.raises(PlanError) as info:
        plan_import([bundle_entry(root), bundle_entry(policy, thumbprint=root.thumbprint)])
    message = str(info.value)
    assert message.startswith("certificates[1]: thumbprint ")
    assert root.thumbprint in message and policy.thumbprint in message


def test_thumbprint_as_pasted_from_windows_is_accepted(corp):
    root = corp[0]
    # The certificate dialog shows lower-case pairs with spaces and copies a hidden left-to-right mark.
    pasted = "\u200e" + " ".join(root.thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()
    with_colons = ":".join(root.thumbprint[i:i + 2] for i in range(0, 40, 2))
    for given in (pasted, with_colons, root.thumbprint.lower()):
        assert summary(plan_import([{"pem": root.pem, "thumbprint": given}])) == [("Root", root.thumbprint)]


def test_malformed_thumbprint_is_refused(corp):
    with pytest.raises(PlanError, match=r"^certificates\[0\]: thumbprint 'ABC': not a valid SHA-1 thumbprint"):
        plan_import([{"pem": corp[0].pem, "thumbprint": "ABC"}])


def test_non_ca_certificate_is_refused(corp):
    root, _policy, _issuing, leaf = corp
    with pytest.raises(PlanError, match=r"^certificates\[1\]: .*da\.contoso\.com.* is not a CA certificate"):
        plan_import([root.pem, leaf.pem])


def test_self_signed_non_ca_is_refused():
    server = pki.make_leaf("da.contoso.com", None, key_type="ecdsa")
    with pytest.raises(PlanError, match=r"^certificates\[0\]: .* is not a CA certificate"):
        plan_import([server.pem])


@pytest.mark.parametrize("item, reason", [
    ("%%% nonsense %%%", "is not a certificate"),
    ({"subject": "CN=Contoso Root CA"}, "a dict item needs a 'pem' key"),
    (42, "expected certificate text, not int"),
])
def test_unusable_items_name_their_index(corp, item, reason):
    with pytest.raises(PlanError) as info:
        plan_import([corp[0].pem, corp[1].pem, item])
    assert str(info.value).startswith("certificates[2]: ")
    assert reason in str(info.value)
    assert "certificates[0]" not in str(info.value)


def test_private_key_is_refused_without_echoing_it(corp):
    root = corp[0]
    key_pem = root.key_pem.decode()
    with pytest.raises(PlanError) as info:
        plan_import([root.pem + key_pem])
    assert "private key" in str(info.value)
    assert key_pem.splitlines()[1] not in str(info.value)
