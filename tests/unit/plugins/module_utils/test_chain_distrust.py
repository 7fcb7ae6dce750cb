# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client's Untrusted Certificates store (LocalMachine\\Disallowed) in the chain analyser (issue 8, section 4)."""
from __future__ import annotations

import datetime

import pytest

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import CertificateError
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

EC = {"key_type": "ecdsa"}
NAME = "da.contoso.com"


@pytest.fixture(scope="module")
def contoso():
    return pki.make_hierarchy(NAME, root_key_type="ecdsa", intermediate_key_type="ecdsa", leaf_key_type="ecdsa")


def distrust_problems(result):
    return [p for p in result["problems"] if p["verdict"] == "explicitly_distrusted"]


def test_distrusted_intermediate_fails_a_chain_that_is_otherwise_trusted(contoso):
    result = diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert],
                      disallowed=[contoso.intermediate.thumbprint])
    assert result["verdict"] == "explicitly_distrusted"
    assert result["trusted"] is False and result["fixable"] is False
    [problem] = distrust_problems(result)
    assert problem["thumbprint"] == contoso.intermediate.thumbprint and problem["index"] == 1
    assert "LocalMachine\\Disallowed" in problem["message"] and "does not override" in problem["message"]
    assert problem["message"] in result["reasons"]


def test_distrusted_root_is_not_fixable_even_when_the_bundle_has_it(contoso):
    # Without the distrust this is the classic fixable untrusted_root.
    plain = diagnose(contoso.server_chain, NAME, bundle=[contoso.root.cert])
    assert plain["verdict"] == "untrusted_root" and plain["fixable"] is True
    result = diagnose(contoso.server_chain, NAME, bundle=[contoso.root.cert], disallowed=[contoso.root.cert])
    assert result["verdict"] == "explicitly_distrusted" and result["fixable"] is False
    assert [p["thumbprint"] for p in distrust_problems(result)] == [contoso.root.thumbprint]


def test_a_root_in_both_root_and_disallowed_is_distrusted(contoso):
    result = diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert],
                      disallowed=[contoso.root.thumbprint])
    assert result["verdict"] == "explicitly_distrusted"


def test_distrusted_server_certificate(contoso):
    result = diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert], disallowed=[contoso.leaf.cert])
    [problem] = distrust_problems(result)
    assert problem["index"] == 0 and problem["message"].startswith("The server certificate")


def test_distrust_outranks_every_other_chain_problem_but_not_malformed(contoso):
    expired = pki.make_leaf(NAME, contoso.intermediate, **EC, valid_days=1,
                            not_before=pki.utcnow() - datetime.timedelta(days=30))
    result = diagnose([expired.cert, contoso.intermediate.cert], "other.contoso.com",
                      root_store=[contoso.root.cert], disallowed=[contoso.intermediate.thumbprint])
    assert result["verdict"] == "explicitly_distrusted"
    assert {p["verdict"] for p in result["problems"]} >= {"expired", "name_mismatch", "explicitly_distrusted"}


def test_unrelated_entries_change_nothing(contoso):
    stranger = pki.make_root("Fabrikam Root", **EC)
    result = diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert],
                      disallowed=[stranger.cert, "00" * 20])
    assert result["verdict"] == "trusted"


def test_thumbprints_are_accepted_as_windows_spells_them(contoso):
    spelled = ":".join(contoso.intermediate.thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()
    result = diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert], disallowed=[spelled])
    assert result["verdict"] == "explicitly_distrusted"


@pytest.mark.parametrize("entry, message", [
    ("not-a-thumbprint", "disallowed item 0"),
    (42, "disallowed item 0: expected a certificate or a thumbprint string, got int"),
])
def test_bad_disallowed_entries_are_refused_by_name(contoso, entry, message):
    with pytest.raises(CertificateError, match=message):
        diagnose(contoso.server_chain, NAME, root_store=[contoso.root.cert], disallowed=[entry])


def test_a_path_around_the_distrusted_certificate_is_preferred():
    # The issuing CA is cross-certified: the path through the distrusted old root is the last resort.
    old_root = pki.make_root("Contoso Root CA 2016", **EC)
    new_root = pki.make_root("Contoso Root CA 2026", **EC)
    cross = pki.issue(subject=new_root.name, key=new_root.key, issuer=old_root, ca=True)
    issuing = pki.make_intermediate("Contoso Issuing CA", new_root, **EC)
    leaf = pki.make_leaf(NAME, issuing, **EC)
    chain = [leaf.cert, issuing.cert, cross.cert]
    both = [old_root.cert, new_root.cert]

    result = diagnose(chain, NAME, root_store=both, disallowed=[old_root.thumbprint])
    assert result["verdict"] == "trusted"
    assert result["path"][-1]["thumbprint"] == new_root.thumbprint

    # With both roots distrusted there is no way around: the diagnosis says so.
    result = diagnose(chain, NAME, root_store=both, disallowed=[old_root.thumbprint, new_root.thumbprint])
    assert result["verdict"] == "explicitly_distrusted" and result["fixable"] is False
