# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab clients' .GroupPolicy physical stores: a policy refresh fills them only on a client that reaches the
domain, the logical stores include them, client_info lists them, and ca_import v4 spares their copies."""
from __future__ import annotations

import json

import pytest

from .client_state import ClientStateError, logical_store
from .test_lab_runtime import import_item, run


def test_a_refresh_reaches_only_a_client_whose_tunnel_works(make_handler, pki):
    working = make_handler("healthy", name="da-client-01").client
    broken = make_handler("untrusted_root", name="da-client-02").client
    policy = {"Root": [pki.pem("root")], "CA": [pki.pem("issuing")]}
    assert working.apply_group_policy(policy) is True
    assert working.apply_group_policy(policy) is False  # the same policy again changes nothing
    assert broken.apply_group_policy(policy) is None  # 0x800B0109: no tunnel, no domain controller
    assert broken.load()["group_policy_store"] == {"Root": {}, "CA": {}}
    record = working.load()
    assert set(record["group_policy_store"]["Root"]) == {pki.thumbprint("root")}
    # The refresh rewrites the store: what left the GPO leaves the client.
    assert working.apply_group_policy({"Root": [], "CA": []}) is True
    assert working.load()["group_policy_store"] == {"Root": {}, "CA": {}}


def test_inside_the_corporate_network_a_refresh_needs_no_tunnel(make_handler, pki):
    inside = make_handler("inside_corpnet").client
    assert inside.reaches_domain()
    assert inside.apply_group_policy({"Root": [pki.pem("root")]}) is True


def test_a_policy_copy_is_in_the_logical_store_and_fixes_the_chain(make_handler, pki):
    client = make_handler("untrusted_root").client
    # Inside for a moment (the lab sets the store directly): the policy's root makes the chain trusted.
    with client._transaction() as record:  # pylint: disable=protected-access
        record["group_policy_store"]["Root"][pki.thumbprint("root")] = pki.pem("root")
    record = client.load()
    assert pki.thumbprint("root") in logical_store(record, "Root")
    assert pki.thumbprint("root") not in record["root_store"]
    assert client.compute_iphttps_state(timeout=2).last_error_code == 0


def test_a_damaged_policy_store_is_refused_naming_the_field(make_handler):
    client = make_handler("healthy").client
    record = json.loads(client.path.read_text())
    record["group_policy_store"] = {"Root": {}}
    client.path.write_text(json.dumps(record))
    with pytest.raises(ClientStateError, match="group_policy_store: must be an object with Root and CA"):
        client.load()


def test_client_info_lists_the_physical_stores_and_ca_import_spares_the_policy_copy(collection, make_handler, pki):
    handler = make_handler("healthy")
    client = handler.client
    assert client.apply_group_policy({"Root": [pki.pem("root")], "CA": []}) is True
    info = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    root = pki.thumbprint("root")
    assert root in info["physical_stores"]["Root"]["Default"] and root in info["physical_stores"]["Root"]["GroupPolicy"]
    assert info["physical_stores"]["CA"]["GroupPolicy"] == []
    assert info["stores"]["Root"].count(root) == 1  # the logical store lists it once
    removal = {"state": "absent", "check_mode": False, "restart_iphlpsvc": False,
               "certificates": [import_item(pki, "root", "Root"), import_item(pki, "issuing", "CA")]}
    done = run(collection, handler, "ca_import", removal)
    assert done["kept"] == [{"store": "Root", "thumbprint": root, "kept_by": ["GroupPolicy"], "removed_default": True}]
    assert [e["thumbprint"] for e in done["removed"]] == [root, pki.thumbprint("issuing")]
    assert root in done["stores_after"]["Root"]  # still listed, by policy
    record = client.load()
    assert root not in record["root_store"] and root in record["group_policy_store"]["Root"]
    # Again: the import's copy is gone, so nothing is removed; the policy's copy is still kept.
    again = run(collection, handler, "ca_import", removal)
    assert again["changed"] is False and again["removed"] == []
    assert again["kept"] == [{"store": "Root", "thumbprint": root, "kept_by": ["GroupPolicy"], "removed_default": False}]
    # An import of a certificate the policy already delivers is already present.
    added = run(collection, handler, "ca_import", dict(removal, state="present",
                                                       certificates=[import_item(pki, "root", "Root")]))
    assert added["already_present"] == [{"store": "Root", "thumbprint": root}] and added["imported"] == []


def test_ca_import_refuses_a_thumbprint_that_is_not_forty_hex_digits(collection, make_handler):
    handler = make_handler("healthy")
    done = run(collection, handler, "ca_import", {"state": "absent", "check_mode": False, "restart_iphlpsvc": False,
                                                  "certificates": [{"store": "Root", "thumbprint": "..\\..\\X",
                                                                    "der_base64": ""}]})
    assert done["failed"]["kind"] == "error" and "40 hexadecimal digits" in done["failed"]["message"]
    assert done["changed"] is False


def test_an_enterprise_copy_is_listed_logical_and_spared_by_ca_import(collection, make_handler, pki):
    handler = make_handler("healthy")
    client = handler.client
    root, issuing = pki.thumbprint("root"), pki.thumbprint("issuing")
    # Active Directory gives the root (RootCA) and the issuing CA (SubCA); the GPO gives the root too.
    assert client.apply_group_policy({"Root": [pki.pem("root")]}, {"Root": [pki.pem("root")], "CA": [pki.pem("issuing")]})
    record = client.load()
    assert root in logical_store(record, "Root") and issuing in logical_store(record, "CA")
    info = run(collection, handler, "client_info", {"connect_timeout_ms": 2000})
    assert info["physical_stores"]["Root"]["Enterprise"] == [root]
    assert info["physical_stores"]["CA"]["Enterprise"] == [issuing]
    removal = {"state": "absent", "check_mode": False, "restart_iphlpsvc": False,
               "certificates": [import_item(pki, "root", "Root"), import_item(pki, "issuing", "CA")]}
    done = run(collection, handler, "ca_import", removal)
    assert done["kept"] == [
        {"store": "Root", "thumbprint": root, "kept_by": ["GroupPolicy", "Enterprise"], "removed_default": True},
        {"store": "CA", "thumbprint": issuing, "kept_by": ["Enterprise"], "removed_default": True}]
    record = client.load()
    assert root not in record["root_store"] and issuing not in record["ca_store"]
    assert record["enterprise_store"]["CA"] == {issuing: pki.pem("issuing")}
    assert root in done["stores_after"]["Root"] and issuing in done["stores_after"]["CA"]


def test_a_refresh_without_enterprise_leaves_the_enterprise_store(make_handler, pki):
    client = make_handler("healthy").client
    assert client.apply_group_policy({}, {"Root": [pki.pem("root")]}) is True
    assert client.apply_group_policy({}) is False  # no Active Directory answer given: the store stays
    assert set(client.load()["enterprise_store"]["Root"]) == {pki.thumbprint("root")}
    assert client.apply_group_policy({}, {}) is True  # AD holds nothing now: the copy goes
    assert client.load()["enterprise_store"] == {"Root": {}, "CA": {}}


def test_a_damaged_enterprise_store_is_refused_naming_the_field(make_handler):
    client = make_handler("healthy").client
    record = json.loads(client.path.read_text())
    record["enterprise_store"] = {"CA": {}}
    client.path.write_text(json.dumps(record))
    with pytest.raises(ClientStateError, match="enterprise_store: must be an object with Root and CA"):
        client.load()
