# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""client_info.ps1's raw answer turned into client_info's result; PKIs are generated here."""
from __future__ import annotations

import base64
import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.directaccess.iphttps.plugins.module_utils import _chain
from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import thumbprint
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report, _host_record
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._client_report import (
    ReportError,
    build_report,
    server_name_of,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

URL = "https://da.contoso.com:443/IPHTTPS"
UNTRUSTED_ROOT = 2148204809  # 0x800B0109 as Get-NetIPHttpsState's uint32
STATUS = "failed to connect to the IPHTTPS server; waiting to reconnect"
# Unrelated thumbprints a real Root store is full of.
OTHER_ROOTS = ["CABD2A79A1076A31F21D253635CB039D4329A5E8", "D4DE20D05E66FC53FE1A50882C78DB2852CAE474"]


def store_cert(store: str, issued) -> dict:
    return {"store": store, "thumbprint": issued.thumbprint, "der_base64": issued.der_base64}


def raw_doc(*, chain=(), extra_store=(), root=(), ca=(), store_certificates=(), code=UNTRUSTED_ROOT, status=STATUS,
            url=URL, chain_error=None, **extra) -> dict:
    doc = {
        "script": "client_info",
        "version": 2,
        "computer_name": "CLIENT01",
        "state_source": "cmdlet",
        "iphttps_configuration": {"server_url": url, "state": "1", "type": "0", "configuration_type": "1",
                                  "profile": "", "profile_activated": True} if url else None,
        "iphttps_state": {"interface_status": status, "last_error_code": code} if code is not None else None,
        "da_connection_status": {"status": 2, "status_name": "Error", "substatus": 7,
                                 "substatus_name": "CouldNotContactDirectAccessServer"},
        "server_chain": [c.der_base64 for c in chain],
        "chain_policy_extra_store": [c.der_base64 for c in extra_store],
        "server_chain_error": chain_error,
        "chain_status": [{"status": "PartialChain", "information": "A certificate chain could not be built."}],
        "stores": {"Root": list(root), "CA": list(ca)},
        "store_certificates": list(store_certificates),
    }
    doc.update(extra)
    return doc


def test_not_configured_host_has_no_diagnosis(rollover):
    raw = raw_doc(url=None, code=None, chain_error=None, root=[t.lower() for t in OTHER_ROOTS])
    report = build_report(raw)
    assert report["iphttps"] == {"configured": False, "server_url": None, "interface_status": None,
                                 "last_error_code": None, "last_error": None, "state_source": "cmdlet",
                                 "profile_activated": None, "entry_points": []}
    assert report["diagnosis"] is None
    assert report["computer_name"] == "CLIENT01"
    # The stores are still reported, in Windows' upper-case form.
    assert report["stores"] == {"Root": sorted(OTHER_ROOTS), "CA": [], "Disallowed": []}


def test_not_configured_host_still_decodes_a_stray_state():
    report = build_report(raw_doc(url=None, code=0, status="IPHTTPS interface active"))
    assert report["iphttps"]["configured"] is False
    assert report["iphttps"]["last_error"]["name"] == "ERROR_SUCCESS"
    assert report["diagnosis"] is None


def test_untrusted_root_after_key_rollover(rollover):
    old_root, _new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=OTHER_ROOTS + [old_root.thumbprint],
                  store_certificates=[store_cert("Root", old_root)])
    report = build_report(raw)

    assert report["iphttps"]["configured"] is True
    assert report["iphttps"]["server_url"] == URL
    assert report["iphttps"]["interface_status"] == STATUS
    assert report["iphttps"]["last_error_code"] == UNTRUSTED_ROOT
    assert report["iphttps"]["last_error"]["hex"] == "0x800B0109"
    assert report["iphttps"]["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"

    diagnosis = report["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root"
    assert diagnosis["trusted"] is False
    assert diagnosis["fixable"] is False
    [missing] = diagnosis["missing"]
    assert missing["store"] == "Root"
    assert missing["thumbprint"] is None  # the new root is nowhere yet, so only its name is known
    assert missing["subject"] == old_root.subject
    # The old root came as thumbprint plus full certificate, so the rollover can be named.
    rollover_reasons = [r for r in diagnosis["reasons"] if "key rollover" in r]
    assert len(rollover_reasons) == 1
    assert old_root.thumbprint in rollover_reasons[0] and "root_store" in rollover_reasons[0]


def test_untrusted_root_with_the_new_root_in_the_bundle_is_fixable(rollover):
    old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=OTHER_ROOTS + [old_root.thumbprint],
                  store_certificates=[store_cert("Root", old_root)])
    diagnosis = build_report(raw, [new_root.cert])["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root"
    assert diagnosis["fixable"] is True
    [missing] = diagnosis["missing"]
    assert (missing["store"], missing["thumbprint"], missing["in_bundle"]) == ("Root", new_root.thumbprint, True)


def test_store_entry_as_thumbprint_plus_full_certificate_makes_the_chain_trusted(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], code=0, status="IPHTTPS interface active",
                  root=OTHER_ROOTS + [new_root.thumbprint], store_certificates=[store_cert("Root", new_root)])
    diagnosis = build_report(raw)["diagnosis"]
    assert diagnosis["verdict"] == "trusted"
    assert diagnosis["missing"] == []
    assert [(p["role"], p["thumbprint"], p["source"]) for p in diagnosis["path"]] == [
        ("leaf", leaf.thumbprint, "server"),
        ("intermediate", issuing.thumbprint, "server"),
        ("root", new_root.thumbprint, "root_store"),
    ]


def test_root_known_by_thumbprint_only_anchors_a_chain_that_includes_it(rollover):
    # A trusting client's chain engine returns the root in the chain; the store need only list it.
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing, new_root], code=0, root=OTHER_ROOTS + [new_root.thumbprint])
    assert build_report(raw)["diagnosis"]["verdict"] == "trusted"


def test_root_known_by_thumbprint_only_is_pointed_out_when_the_path_stops(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=OTHER_ROOTS + [new_root.thumbprint])
    diagnosis = build_report(raw)["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root"
    assert any("known by thumbprint only" in r for r in diagnosis["reasons"])


def test_intermediate_store_certificates_are_used(rollover):
    _old_root, new_root, issuing, leaf = rollover
    root_entries = dict(root=[new_root.thumbprint], store_certificates=[store_cert("Root", new_root)])
    # Known only from the bundle: the client lacks it.
    missing = build_report(raw_doc(chain=[leaf], **root_entries), [issuing.cert])["diagnosis"]
    assert missing["verdict"] == "missing_intermediate"
    assert [(m["store"], m["thumbprint"], m["in_bundle"]) for m in missing["missing"]] == [
        ("CA", issuing.thumbprint, True)]

    present = raw_doc(chain=[leaf], root=[new_root.thumbprint], ca=[issuing.thumbprint],
                      store_certificates=[store_cert("Root", new_root), store_cert("CA", issuing)])
    assert build_report(present)["diagnosis"]["verdict"] == "trusted"


def test_store_certificates_of_other_stores_are_ignored(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], store_certificates=[store_cert("My", new_root)])
    diagnosis = build_report(raw)["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root"
    assert diagnosis["missing"][0]["thumbprint"] is None


def test_name_mismatch_uses_the_host_of_the_server_url(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing, new_root], root=[new_root.thumbprint],
                  url="https://da.fabrikam.com:443/IPHTTPS")
    assert build_report(raw)["diagnosis"]["verdict"] == "name_mismatch"


def test_report_passes_the_host_facts_through(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint.lower(), new_root.thumbprint],
                  ca=[issuing.thumbprint])
    report = build_report(raw)
    assert report["server_chain"] == [leaf.pem, issuing.pem]
    assert report["server_chain_source"] == "chain_elements"
    assert report["client_chain_status"] == raw["chain_status"]
    assert report["da_connection_status"] == {"status": "Error", "status_code": 2,
                                              "substatus": "CouldNotContactDirectAccessServer", "substatus_code": 7}
    assert report["server_chain_error"] is None
    assert report["stores"] == {"Root": [new_root.thumbprint], "CA": [issuing.thumbprint], "Disallowed": []}


def test_missing_optional_fields_are_tolerated():
    report = build_report({"script": "client_info", "iphttps_configuration": {"server_url": URL}})
    assert report["stores"] == {"Root": [], "CA": [], "Disallowed": []}
    assert report["server_chain"] == []
    assert report["server_chain_source"] is None
    assert report["da_connection_status"] is None
    assert report["iphttps"]["state_source"] is None
    assert report["client_chain_status"] == []
    assert report["iphttps"]["last_error"] is None
    assert report["diagnosis"]["verdict"] == "no_chain"


def test_chain_capture_failure_is_the_reason(rollover):
    error = "connection to da.contoso.com:443 timed out after 5000 ms"
    report = build_report(raw_doc(chain=[], code=0x274C, chain_error=error))
    assert report["server_chain_error"] == error
    assert report["iphttps"]["last_error"]["name"] == "WSAETIMEDOUT"
    diagnosis = report["diagnosis"]
    assert diagnosis["verdict"] == "no_chain"
    assert diagnosis["trusted"] is False
    assert diagnosis["reasons"] == [f"The client could not capture the IP-HTTPS server's chain: {error}"]
    assert [p["message"] for p in diagnosis["problems"]] == diagnosis["reasons"]
    assert not any("sent no certificate" in r for r in diagnosis["reasons"])


def test_empty_chain_without_an_error_says_the_server_sent_nothing():
    diagnosis = build_report(raw_doc(chain=[]))["diagnosis"]
    assert diagnosis["verdict"] == "no_chain"
    assert diagnosis["reasons"] == ["The server sent no certificate."]


def test_unreadable_chain_certificate_is_a_report_error(rollover):
    raw = raw_doc(chain=[rollover[3]])
    raw["server_chain"].append("bm90IGEgY2VydGlmaWNhdGU=")  # base64 of 'not a certificate'
    with pytest.raises(ReportError, match=r"unreadable certificate: server_chain\[1\]"):
        build_report(raw)


def test_bad_base64_in_a_store_certificate_is_a_report_error():
    raw = raw_doc(store_certificates=[{"store": "Root", "thumbprint": OTHER_ROOTS[0], "der_base64": "!!!"}])
    with pytest.raises(ReportError, match=r"unreadable certificate: store_certificates\[0\]"):
        build_report(raw)


def test_store_certificate_without_data_is_a_report_error():
    raw = raw_doc(store_certificates=[{"store": "CA", "thumbprint": OTHER_ROOTS[0]}])
    with pytest.raises(ReportError, match=r"store_certificates\[0\]"):
        build_report(raw)


def test_unusable_store_thumbprint_is_a_report_error():
    raw = raw_doc(root=[OTHER_ROOTS[0], "not-a-thumbprint"])
    with pytest.raises(ReportError, match=r"unusable thumbprint at stores\.Root\[1\]: 'not-a-thumbprint'"):
        build_report(raw)


def test_disallowed_store_makes_the_chain_explicitly_distrusted(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint],
                  store_certificates=[store_cert("Root", new_root)], code=0x800B0111)
    raw["stores"]["Disallowed"] = [issuing.thumbprint.lower()]
    report = build_report(raw, [new_root.cert])
    assert report["stores"]["Disallowed"] == [issuing.thumbprint]
    assert report["diagnosis"]["verdict"] == "explicitly_distrusted"
    assert report["diagnosis"]["fixable"] is False
    assert report["iphttps"]["last_error"]["name"] == "TRUST_E_EXPLICIT_DISTRUST"


def test_unusable_disallowed_thumbprint_is_a_report_error():
    raw = raw_doc()
    raw["stores"]["Disallowed"] = ["zz"]
    with pytest.raises(ReportError, match=r"stores\.Disallowed\[0\]"):
        build_report(raw)


def test_bundle_certificates_feed_the_diagnosis(rollover):
    old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf], root=[old_root.thumbprint])
    diagnosis = build_report(raw, [new_root.cert, issuing.cert])["diagnosis"]
    assert diagnosis["fixable"] is True
    assert {m["thumbprint"] for m in diagnosis["missing"]} == {thumbprint(new_root.cert), issuing.thumbprint}


# --- which chain is the server's ----------------------------------------------------------------

def test_extra_store_is_the_server_chain_when_it_holds_anything(rollover):
    _old_root, new_root, issuing, leaf = rollover
    # Windows completed the chain with the root from its store; the server sent only the intermediate.
    raw = raw_doc(chain=[leaf, issuing, new_root], extra_store=[issuing], code=0, root=[new_root.thumbprint])
    report = build_report(raw)
    assert report["server_chain_source"] == "chain_policy_extra_store"
    assert report["server_chain"] == [leaf.pem, issuing.pem]
    # The root is known by thumbprint only and the server did not send it: nothing anchors the path.
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    assert any("known by thumbprint only" in r for r in report["diagnosis"]["reasons"])
    # With the root's certificate from the store, the same server chain is trusted.
    anchored = raw_doc(chain=[leaf, issuing, new_root], extra_store=[issuing], code=0, root=[new_root.thumbprint],
                       store_certificates=[store_cert("Root", new_root)])
    assert build_report(anchored)["diagnosis"]["verdict"] == "trusted"


def test_chain_elements_are_the_server_chain_when_the_extra_store_is_empty(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing, new_root], extra_store=[], code=0, root=[new_root.thumbprint])
    report = build_report(raw)
    assert report["server_chain_source"] == "chain_elements"
    assert report["server_chain"] == [leaf.pem, issuing.pem, new_root.pem]
    assert report["diagnosis"]["verdict"] == "trusted"


def test_extra_store_repeating_the_leaf_or_itself_is_taken_once(rollover):
    _old_root, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf], extra_store=[issuing, leaf, new_root, issuing])
    report = build_report(raw)
    assert report["server_chain"] == [leaf.pem, issuing.pem, new_root.pem]
    assert report["server_chain_source"] == "chain_policy_extra_store"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)])
def test_shuffled_extra_store_with_the_leaf_rebuilds_the_chain_leaf_first(rollover, order):
    # SslStream copies Schannel's remote store: everything the server sent, the leaf too, in any order.
    _old_root, new_root, issuing, leaf = rollover
    sent = [leaf, issuing, new_root]
    raw = raw_doc(chain=[leaf, issuing, new_root], extra_store=[sent[i] for i in order], code=0,
                  root=[new_root.thumbprint], store_certificates=[store_cert("Root", new_root)])
    report = build_report(raw)
    assert report["server_chain_source"] == "chain_policy_extra_store"
    assert report["server_chain"] == [leaf.pem, issuing.pem, new_root.pem]
    assert report["diagnosis"]["verdict"] == "trusted"


def test_extra_store_certificates_that_link_to_nothing_follow_the_chain(rollover):
    old_root, _new_root, issuing, leaf = rollover
    stray = pki.make_root("Stray Root CA", key_type="ecdsa")
    raw = raw_doc(chain=[leaf], extra_store=[stray, issuing, leaf])
    report = build_report(raw)
    assert report["server_chain"] == [leaf.pem, issuing.pem, stray.pem]
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    assert old_root.pem not in report["server_chain"]


def test_extra_store_without_a_leaf_is_not_a_chain(rollover):
    _old_root, _new_root, issuing, _leaf = rollover
    report = build_report(raw_doc(chain=[], extra_store=[issuing]))
    assert report["server_chain"] == [] and report["server_chain_source"] is None
    assert report["diagnosis"]["verdict"] == "no_chain"


def test_unreadable_extra_store_certificate_is_a_report_error(rollover):
    raw = raw_doc(chain=[rollover[3]], extra_store=[rollover[2]])
    raw["chain_policy_extra_store"].append("bm90IGEgY2VydGlmaWNhdGU=")
    with pytest.raises(ReportError, match=r"unreadable certificate: chain_policy_extra_store\[1\]"):
        build_report(raw)


# --- state read through netsh, DirectAccess status -----------------------------------------------

def test_state_read_through_netsh_has_a_code_and_no_status_text(rollover):
    _old_root, _new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], status=None, state_source="netsh", da_connection_status=None)
    report = build_report(raw)
    assert report["iphttps"]["state_source"] == "netsh"
    assert report["iphttps"]["interface_status"] is None
    assert report["iphttps"]["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"
    assert report["da_connection_status"] is None
    assert report["diagnosis"]["verdict"] == "untrusted_root"


@pytest.mark.parametrize("source", ["wmi", "", "NETSH", 1])
def test_unknown_state_source_is_a_report_error(source):
    with pytest.raises(ReportError, match=r"unusable state_source: expected one of cmdlet, netsh, got "):
        build_report(raw_doc(state_source=source))


@pytest.mark.parametrize("raw, expected", [
    # client_info.ps1 v2 with an enum from PowerShell: number and name.
    ({"status": 0, "status_name": "ConnectedRemotely", "substatus": 0, "substatus_name": "None"},
     {"status": "ConnectedRemotely", "status_code": 0, "substatus": "None", "substatus_code": 0}),
    # v2 where PowerShell gave plain uint32 values: numbers only.
    ({"status": 3, "status_name": None, "substatus": 4294967295, "substatus_name": None},
     {"status": None, "status_code": 3, "substatus": None, "substatus_code": 4294967295}),
    # client_info.ps1 v1 sent [string]: an enum's name, or a number in digits.
    ({"status": "ActionableError", "substatus": "CouldNotContactDirectAccessServer"},
     {"status": "ActionableError", "status_code": None, "substatus": "CouldNotContactDirectAccessServer",
      "substatus_code": None}),
    ({"status": " 2 ", "substatus": "17"}, {"status": None, "status_code": 2, "substatus": None, "substatus_code": 17}),
    ({"status": None, "status_name": "  ", "substatus": "", "substatus_name": None},
     {"status": None, "status_code": None, "substatus": None, "substatus_code": None}),
    ({}, {"status": None, "status_code": None, "substatus": None, "substatus_code": None}),
])
def test_da_connection_status_takes_numbers_names_or_both(raw, expected):
    assert build_report(raw_doc(da_connection_status=raw))["da_connection_status"] == expected


@pytest.mark.parametrize("raw, message", [
    ({"status": True}, r"unusable da_connection_status\.status: expected a uint32 or a name, got True"),
    ({"status": -1}, r"unusable da_connection_status\.status: expected a uint32 or a name, got -1"),
    ({"substatus": 4294967296}, r"unusable da_connection_status\.substatus: .* got 4294967296"),
    ({"status": 1.5}, r"unusable da_connection_status\.status: .* got 1\.5"),
    ({"substatus": ["None"]}, r"unusable da_connection_status\.substatus: .* got \['None'\]"),
    ({"status": 1, "status_name": 7}, r"unusable da_connection_status\.status_name: expected a string, got 7"),
    ("ConnectedRemotely", r"unusable da_connection_status: expected an object, got 'ConnectedRemotely'"),
])
def test_unusable_da_connection_status_is_a_report_error(raw, message):
    with pytest.raises(ReportError, match=message):
        build_report(raw_doc(da_connection_status=raw))


@pytest.mark.parametrize("url, name", [
    ("https://DA.Contoso.com:443/IPHTTPS", "da.contoso.com"),
    ("https://da.contoso.com/IPHTTPS", "da.contoso.com"),
    ("", None),
    (None, None),
])
def test_server_name_of(url, name):
    assert server_name_of(url) == name


# --- revocation (client_info.ps1 v3 fetches the chain's CRL and OCSP URLs) ---

CDP = "http://pki.contoso.com/issuing.crl"
REVOCATION_OFFLINE = 0x80092013


@pytest.fixture(scope="module")
def published():
    """Root -> issuing CA -> da.contoso.com, whose CDP is CDP."""
    root = pki.make_root("Contoso Root CA")
    issuing = pki.make_intermediate("Contoso Issuing CA", root)
    leaf = pki.make_leaf("da.contoso.com", issuing, crl_urls=[CDP])
    return root, issuing, leaf


def crl_of(issuing, *serials) -> str:
    """A current CRL of the issuing CA listing serials, in base64 as the client sends it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = x509.CertificateRevocationListBuilder().issuer_name(issuing.cert.subject) \
        .last_update(now - datetime.timedelta(hours=1)).next_update(now + datetime.timedelta(days=7))
    for serial in serials:
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                                  .revocation_date(now - datetime.timedelta(days=1)).build())
    der = builder.sign(issuing.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")


def revocation_doc(*fetches):
    return {"proxy": {"source": "winhttp", "proxy": None, "bypass": None}, "fetches": list(fetches)}


def revocation_raw(published, code, revocation, **extra):
    root, issuing, leaf = published
    return raw_doc(chain=[leaf, issuing, root], code=code, root=[root.thumbprint],
                   store_certificates=[store_cert("Root", root)], revocation=revocation, **extra)


def test_unreachable_cdp_on_a_trusted_chain_is_revocation_offline_and_named(published):
    root, issuing, leaf = published
    unreachable = {"cert_index": 0, "kind": "crl", "url": CDP, "reachable": False, "status": None, "size": None,
                   "error": "The remote name could not be resolved", "body_base64": None}
    report = build_report(revocation_raw(published, REVOCATION_OFFLINE, revocation_doc(unreachable)))
    assert report["revocation"]["outcome"] == "offline" and report["revocation"]["urls"] == [CDP]
    diagnosis = report["diagnosis"]
    assert (diagnosis["verdict"], diagnosis["trusted"], diagnosis["fixable"]) == ("revocation_offline", False, False)
    assert diagnosis["revocation"]["chain_verdict"] == "trusted"
    assert diagnosis["revocation"]["certificate"]["thumbprint"] == leaf.thumbprint
    assert any(CDP in reason and leaf.subject in reason for reason in diagnosis["reasons"])
    assert CDP in diagnosis["revocation"]["remedy"]


def test_cert_index_points_into_the_scripts_server_chain_not_the_extra_store(published):
    root, issuing, leaf = published
    current = {"cert_index": 0, "kind": "crl", "url": CDP, "reachable": True, "status": 200, "size": 1,
               "error": None, "body_base64": crl_of(issuing, leaf.cert.serial_number)}
    # The extra store lists the certificates in another order; index 0 is still the leaf of server_chain.
    raw = revocation_raw(published, 0, revocation_doc(current),
                         chain_policy_extra_store=[c.der_base64 for c in (root, issuing, leaf)])
    report = build_report(raw)
    assert report["server_chain_source"] == "chain_policy_extra_store"
    assert report["revocation"]["certificate"]["thumbprint"] == leaf.thumbprint
    assert report["diagnosis"]["verdict"] == "revoked"


def test_healthy_client_without_revocation_data_is_trusted(published):
    report = build_report(revocation_raw(published, 0, None))
    assert report["revocation"] is None
    assert report["diagnosis"]["verdict"] == "trusted" and report["diagnosis"]["revocation"] is None


def test_revocation_error_without_fetches_still_leaves_the_host_unfixable(published):
    report = build_report(revocation_raw(published, REVOCATION_OFFLINE, None))
    assert report["diagnosis"]["verdict"] == "revocation_offline"
    assert any(CDP in reason for reason in report["diagnosis"]["reasons"])


def test_malformed_revocation_section_is_reported_not_raised(published):
    bad = {"cert_index": 9, "kind": "crl", "url": CDP, "reachable": True, "status": 200, "size": 3,
           "error": None, "body_base64": "@@@"}
    report = build_report(revocation_raw(published, REVOCATION_OFFLINE, revocation_doc(bad, "junk")))
    problems = report["revocation"]["problems"]
    assert any(p.startswith("revocation.fetches[0].cert_index:") for p in problems)
    assert any(p.startswith("revocation.fetches[0].body_base64:") for p in problems)
    assert any(p.startswith("revocation.fetches[1]: expected an object") for p in problems)
    assert report["diagnosis"]["verdict"] == "revocation_offline"


def test_not_a_directaccess_client_has_no_revocation(published):
    report = build_report(revocation_raw(published, None, revocation_doc(), url=None))
    assert report["revocation"] is None and report["diagnosis"] is None


# --- Constrained Language Mode (client_info.ps1 v4) ---------------------------------------------

def constrained_doc(**extra) -> dict:
    # What the script sends when New-Object is refused: the state, no chain, stores not read.
    fields = dict(version=4, language_mode="ConstrainedLanguage", stores=None, chain_status=[])
    fields.update(extra)
    return raw_doc(chain=[], chain_error=None, **fields)


def test_constrained_language_is_its_own_verdict_never_a_certificate_problem(rollover):
    _old_root, new_root, issuing, _leaf = rollover
    report = build_report(constrained_doc(), [new_root.cert, issuing.cert])
    assert report["language_mode"] == "ConstrainedLanguage"
    diagnosis = report["diagnosis"]
    assert (diagnosis["verdict"], diagnosis["trusted"], diagnosis["fixable"]) == ("constrained_language", False, False)
    assert diagnosis["missing"] == [] and diagnosis["path"] == []
    assert [p["code"] for p in diagnosis["problems"]] == ["constrained_language"]
    assert "ConstrainedLanguage mode" in diagnosis["reasons"][0]
    # The state read through cmdlets still comes through.
    assert report["iphttps"]["last_error_code"] == UNTRUSTED_ROOT and report["iphttps"]["configured"] is True
    assert report["stores"] == {"Root": [], "CA": [], "Disallowed": []}


def test_constrained_language_host_without_directaccess_has_no_diagnosis():
    report = build_report(constrained_doc(url=None, code=None))
    assert report["language_mode"] == "ConstrainedLanguage" and report["diagnosis"] is None


def test_script_without_language_mode_ran_in_full_language(rollover):
    _old_root, _new_root, issuing, leaf = rollover
    report = build_report(raw_doc(chain=[leaf, issuing]))
    assert report["language_mode"] == "FullLanguage"
    assert report["diagnosis"]["verdict"] == "untrusted_root"


def test_constrained_language_is_registered_wherever_verdicts_are_listed():
    assert "constrained_language" in _chain.VERDICTS and "constrained_language" in _fleet_report.KNOWN_VERDICTS
    assert "about_language_modes" in _host_record.VERDICT_REMEDIES["constrained_language"]
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "verdicts.md")
    with open(doc, encoding="utf-8") as handle:
        assert "| `constrained_language` |" in handle.read()


def test_unusable_language_mode_is_a_report_error():
    with pytest.raises(ReportError, match=r"unusable language_mode: expected a string, got 3"):
        build_report(constrained_doc(language_mode=3))


# --- multisite: several entry points, none activated ------------------------------------------------

SITE_B = "https://da-b.contoso.com:443/IPHTTPS"


def multisite(raw: dict, *, activated: bool, entry_points: list) -> dict:
    raw["iphttps_configuration"].update(profile_activated=activated, entry_points=entry_points)
    return raw


def test_no_activated_profile_lists_every_entry_point_and_says_which_was_not_captured(rollover):
    _old_root, _new_root, issuing, leaf = rollover
    raw = multisite(raw_doc(chain=[leaf, issuing]), activated=False, entry_points=[URL, SITE_B, URL])
    report = build_report(raw)
    assert report["iphttps"]["entry_points"] == [URL, SITE_B]
    assert report["iphttps"]["profile_activated"] is False
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    note = report["diagnosis"]["reasons"][-1]
    assert "No IP-HTTPS profile is activated" in note and f"the chains of {SITE_B} were not captured" in note
    assert [check["server_url"] for check in report["entry_point_checks"]] == [URL]


# --- every entry point of a multisite client (client_info.ps1 v6) -------------------------------------

def capture(url: str, chain=(), *, error=None, hresult=None, via="direct") -> dict:
    return {"server_url": url, "server_connection": {"via": via, "proxy": None, "address": "2001:db8::7"},
            "server_chain": [c.der_base64 for c in chain], "chain_policy_extra_store": [c.der_base64 for c in chain],
            "server_chain_error": error, "server_chain_error_hresult": hresult,
            "policy_errors": "None" if chain else None, "chain_status": []}


@pytest.fixture(name="site_b")
def site_b_fixture():
    """Entry point B's own PKI: a root the client lacks, an issuing CA and a server certificate for B's name."""
    root = pki.make_root("Fabrikam Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Fabrikam Issuing CA", root, key_type="ecdsa")
    return root, issuing, pki.make_leaf("da-b.contoso.com", issuing, key_type="ecdsa")


def test_an_entry_point_that_fails_makes_the_host_fail_though_the_first_is_trusted(rollover, site_b):
    """v5 judged the first entry point only: a trusted first one hid the one the client may choose next."""
    _old, new_root, issuing, leaf = rollover
    b_root, b_issuing, b_leaf = site_b
    raw = multisite(raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint], code=0,
                            store_certificates=[store_cert("Root", new_root)]),
                    activated=False, entry_points=[URL, SITE_B])
    raw["entry_point_captures"] = [capture(SITE_B, [b_leaf, b_issuing])]
    report = build_report(raw, [b_root.cert])
    diagnosis = report["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root" and not diagnosis["trusted"] and diagnosis["fixable"]
    assert [m["thumbprint"] for m in diagnosis["missing"]] == [b_root.thumbprint]
    assert any(reason.startswith(f"Entry point {SITE_B}: ") for reason in diagnosis["reasons"])
    assert [(c["server_url"], c["verdict"], c["missing"]) for c in report["entry_point_checks"]] == [
        (URL, "trusted", []), (SITE_B, "untrusted_root", [b_root.thumbprint])]
    assert report["entry_point_checks"][1]["server_connection"]["address"] == "2001:db8::7"


def test_missing_is_the_union_and_an_unfixable_entry_point_decides_the_verdict(rollover, site_b):
    _old, new_root, issuing, leaf = rollover
    b_root, b_issuing, b_leaf = site_b
    raw = multisite(raw_doc(chain=[leaf, issuing]), activated=False, entry_points=[URL, SITE_B])
    raw["entry_point_captures"] = [capture(SITE_B, [b_leaf, b_issuing])]
    both = build_report(raw, [new_root.cert, b_root.cert])["diagnosis"]
    assert both["verdict"] == "untrusted_root" and both["fixable"]
    assert sorted(m["thumbprint"] for m in both["missing"]) == sorted([new_root.thumbprint, b_root.thumbprint])
    # B's certificate is for another name: no import fixes B, so none is planned for the host.
    raw["entry_point_captures"] = [capture(SITE_B, [pki.make_leaf("other.contoso.com", b_issuing), b_issuing])]
    mixed = build_report(raw, [new_root.cert, b_root.cert])["diagnosis"]
    assert mixed["verdict"] == "name_mismatch" and not mixed["fixable"] and not mixed["trusted"]
    assert all(p["message"].startswith(f"Entry point {SITE_B}: ") for p in mixed["problems"])


def test_an_entry_point_that_could_not_be_reached_is_no_chain_and_its_error_is_kept(rollover):
    _old, new_root, issuing, leaf = rollover
    raw = multisite(raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint],
                            store_certificates=[store_cert("Root", new_root)]),
                    activated=False, entry_points=[URL, SITE_B])
    refused = 'Exception calling "EndConnect" with "1" argument(s): "No connection could be made"'
    raw["entry_point_captures"] = [capture(SITE_B, error=refused)]
    report = build_report(raw)
    assert report["diagnosis"]["verdict"] == "no_chain" and not report["diagnosis"]["fixable"]
    assert report["entry_point_checks"][1]["server_chain_error"] == refused
    assert any(refused in reason for reason in report["diagnosis"]["reasons"])


def test_all_entry_points_trusted_is_trusted_and_says_which_were_judged(rollover, site_b):
    _old, new_root, issuing, leaf = rollover
    b_root, b_issuing, b_leaf = site_b
    raw = multisite(raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint, b_root.thumbprint], code=0,
                            store_certificates=[store_cert("Root", new_root), store_cert("Root", b_root)]),
                    activated=False, entry_points=[URL, SITE_B])
    raw["entry_point_captures"] = [capture(SITE_B, [b_leaf, b_issuing])]
    diagnosis = build_report(raw)["diagnosis"]
    assert diagnosis["trusted"] and diagnosis["verdict"] == "trusted"
    assert diagnosis["reasons"][-1] == f"Entry points judged: {URL} (trusted), {SITE_B} (trusted)."


@pytest.mark.parametrize("captures, message", [
    ("x", r"entry_point_captures: expected an array"),
    ([7], r"entry_point_captures\[0\]: expected an object, got 7"),
    ([{"server_url": "https://elsewhere/IPHTTPS"}], r"entry_point_captures\[0\]\.server_url: expected one of the entry"),
    ([{"server_url": SITE_B, "server_chain": [5]}], r"entry_point_captures\[0\]\.server_chain\[0\]"),
    ([{"server_url": SITE_B, "server_chain_error_hresult": True}],
     r"entry_point_captures\[0\]\.server_chain_error_hresult"),
    ([{"server_url": SITE_B, "server_connection": {"via": "tunnel"}}],
     r"entry_point_captures\[0\]\.server_connection\.via: expected direct or proxy"),
])
def test_unusable_entry_point_captures_are_report_errors_naming_the_field(rollover, captures, message):
    raw = multisite(raw_doc(chain=[rollover[3]]), activated=False, entry_points=[URL, SITE_B])
    raw["entry_point_captures"] = captures
    with pytest.raises(ReportError, match=message):
        build_report(raw)


def test_the_proxy_and_the_connection_are_reported(rollover):
    raw = raw_doc(chain=[rollover[3]])
    raw["winhttp_proxy"] = {"source": "winhttp", "proxy": "proxy.contoso.com:8080", "bypass": "<local>"}
    raw["server_connection"] = {"via": "proxy", "proxy": "proxy.contoso.com:8080", "address": "10.0.0.8"}
    report = build_report(raw)
    assert report["winhttp_proxy"] == {"proxy": "proxy.contoso.com:8080", "bypass": "<local>"}
    assert report["server_connection"] == {"via": "proxy", "proxy": "proxy.contoso.com:8080", "address": "10.0.0.8"}
    assert build_report(raw_doc(chain=[rollover[3]]))["server_connection"] is None  # script v5 did not say
    raw["winhttp_proxy"] = {"proxy": 8080}
    with pytest.raises(ReportError, match=r"winhttp_proxy\.proxy: expected a string"):
        build_report(raw)


@pytest.mark.parametrize("activated, entry_points", [(True, [URL, SITE_B]), (False, [URL]), (None, [URL])])
def test_an_activated_profile_or_a_single_entry_point_needs_no_note(rollover, activated, entry_points):
    _old_root, _new_root, issuing, leaf = rollover
    report = build_report(multisite(raw_doc(chain=[leaf, issuing]), activated=activated, entry_points=entry_points))
    assert report["iphttps"]["entry_points"] == entry_points
    assert not any("profile is activated" in reason for reason in report["diagnosis"]["reasons"])


def test_script_without_entry_points_has_its_server_url_as_the_only_one(rollover):
    report = build_report(raw_doc(chain=[rollover[3]]))
    assert report["iphttps"]["entry_points"] == [URL] and report["iphttps"]["profile_activated"] is True


@pytest.mark.parametrize("field, value, message", [
    ("entry_points", "https://x/", r"iphttps_configuration.entry_points: expected an array"),
    ("entry_points", [URL, 7], r"iphttps_configuration.entry_points\[1\]: expected a URL, got 7"),
    ("entry_points", [URL, ""], r"iphttps_configuration.entry_points\[1\]: expected a URL"),
    ("entry_points", ["https:///x"], r"entry_points\[0\] 'https:///x': it has no host name"),
    ("profile_activated", "yes", r"iphttps_configuration.profile_activated: expected true, false or null"),
])
def test_unusable_multisite_fields_are_report_errors(rollover, field, value, message):
    raw = raw_doc(chain=[rollover[3]])
    raw["iphttps_configuration"][field] = value
    with pytest.raises(ReportError, match=message):
        build_report(raw)


# --- a handshake that fails before the chain is seen (client_info.ps1 v5) ------------------------------

SSPI_FAILED = ('Exception calling "AuthenticateAsClient" with "4" argument(s): '
               '"A call to SSPI failed, see inner exception."')


def assessed(report: dict, mode: str) -> dict:
    record = _host_record.detected(_host_record.new_record("client01", "run1", mode), report, report["diagnosis"])
    return _host_record.assess(record, report, report["diagnosis"], mode)


@pytest.mark.parametrize("hresult, name, remedy", [
    (0x80090326, "SEC_E_ILLEGAL_MESSAGE", "device that terminates TCP 443"),
    (0x90320, "SEC_I_INCOMPLETE_CREDENTIALS", "computer certificate"),
    ("0x80090326", "SEC_E_ILLEGAL_MESSAGE", "device that terminates TCP 443"),
])
def test_handshake_failure_without_a_chain_is_handshake_failed(hresult, name, remedy):
    report = build_report(raw_doc(chain=[], version=5, chain_error=SSPI_FAILED, server_chain_error_hresult=hresult,
                                  policy_errors=None))
    assert report["server_chain_error_code"]["name"] == name and report["policy_errors"] is None
    diagnosis = report["diagnosis"]
    assert (diagnosis["verdict"], diagnosis["trusted"], diagnosis["fixable"]) == ("handshake_failed", False, False)
    assert diagnosis["missing"] == []
    code = report["server_chain_error_code"]
    assert diagnosis["reasons"] == ["The TLS handshake with the IP-HTTPS server failed before the client saw its "
                                    f"chain: {SSPI_FAILED} (Schannel {code['hex']} {name}: {code['meaning']})"]
    assert [(p["code"], p["message"]) for p in diagnosis["problems"]] == [("handshake_failed", diagnosis["reasons"][0])]
    assert remedy in code["remedy"]
    record = assessed(report, "remediate")
    assert record["status"] == "unfixable" and remedy in record["remedy"]


def test_unknown_handshake_code_is_still_handshake_failed_with_the_generic_remedy():
    report = build_report(raw_doc(chain=[], version=5, chain_error=SSPI_FAILED, server_chain_error_hresult=0x80090399))
    assert report["diagnosis"]["verdict"] == "handshake_failed"
    assert "0x80090399 UNKNOWN" in report["diagnosis"]["reasons"][0]
    record = assessed(report, "remediate")
    assert record["remedy"] == _host_record.VERDICT_REMEDIES["handshake_failed"]


def test_connection_failure_without_a_code_stays_no_chain():
    error = "connection to da.contoso.com:443 timed out after 5000 ms"
    report = build_report(raw_doc(chain=[], version=5, code=0x274C, chain_error=error, server_chain_error_hresult=None))
    assert report["server_chain_error_code"] is None
    assert report["diagnosis"]["verdict"] == "no_chain"


def test_handshake_failure_after_the_callback_keeps_the_chain_verdict(rollover):
    _old_root, _new_root, issuing, leaf = rollover
    report = build_report(raw_doc(chain=[leaf, issuing], version=5, chain_error=SSPI_FAILED,
                                  server_chain_error_hresult=0x80090326, policy_errors="RemoteCertificateChainErrors"))
    assert report["diagnosis"]["verdict"] == "untrusted_root"
    assert report["policy_errors"] == "RemoteCertificateChainErrors"


@pytest.mark.parametrize("field, value, message", [
    ("server_chain_error_hresult", True, r"unusable server_chain_error_hresult: "),
    ("server_chain_error_hresult", [1], r"unusable server_chain_error_hresult: "),
    ("policy_errors", 4, r"unusable policy_errors: expected a string, got 4"),
])
def test_unusable_handshake_fields_are_report_errors(field, value, message):
    with pytest.raises(ReportError, match=message):
        build_report(raw_doc(chain=[], chain_error=SSPI_FAILED, **{field: value}))


def test_handshake_failed_is_registered_wherever_verdicts_are_listed():
    assert "handshake_failed" in _chain.VERDICTS and "handshake_failed" in _fleet_report.KNOWN_VERDICTS
    assert "TCP 443" in _host_record.VERDICT_REMEDIES["handshake_failed"]
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "verdicts.md")
    with open(doc, encoding="utf-8") as handle:
        assert "| `handshake_failed` |" in handle.read()


# --- where each copy lives: the physical stores (client_info.ps1 v6) ------------------------------------

def physical(**held) -> dict:
    stores = {"Root": {"Default": [], "GroupPolicy": [], "Enterprise": [], "AuthRoot": []},
              "CA": {"Default": [], "GroupPolicy": [], "Enterprise": []}}
    for key, thumbs in held.items():
        store, name = key.split("_")
        stores[store][name] = thumbs
    return stores


def test_the_chain_s_cas_held_by_group_policy_are_named(rollover):
    _old, new_root, issuing, leaf = rollover
    raw = raw_doc(chain=[leaf, issuing], root=[new_root.thumbprint], code=0,
                  store_certificates=[store_cert("Root", new_root)])
    raw["physical_stores"] = physical(Root_GroupPolicy=[new_root.thumbprint.lower()], Root_Default=[new_root.thumbprint])
    report = build_report(raw)
    assert report["diagnosis"]["trusted"]
    assert report["physical_stores"]["Root"]["GroupPolicy"] == [new_root.thumbprint]
    assert report["policy_copies"] == [{"thumbprint": new_root.thumbprint, "store": "Root",
                                        "subject": report["diagnosis"]["path"][-1]["subject"],
                                        "physical": ["GroupPolicy"]}]
    # Held by the machine's own store only: no policy copy.
    raw["physical_stores"] = physical(Root_Default=[new_root.thumbprint])
    assert build_report(raw)["policy_copies"] == []
    # Scripts before v6 did not say.
    del raw["physical_stores"]
    assert build_report(raw)["physical_stores"] is None and build_report(raw)["policy_copies"] == []


@pytest.mark.parametrize("value, message", [
    ("x", r"physical_stores: expected an object"),
    ({"Root": []}, r"physical_stores.Root: expected an object"),
    ({"Root": {"GroupPolicy": "AA"}}, r"physical_stores.Root.GroupPolicy: expected an array"),
    ({"CA": {"Enterprise": ["zz"]}}, r"physical_stores.CA.Enterprise\[0\]"),
])
def test_unusable_physical_stores_are_report_errors(rollover, value, message):
    raw = raw_doc(chain=[rollover[3]])
    raw["physical_stores"] = value
    with pytest.raises(ReportError, match=message):
        build_report(raw)
