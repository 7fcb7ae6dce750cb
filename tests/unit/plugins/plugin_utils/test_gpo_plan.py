# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a GPO carries and what gpo_certificates writes to match the bundle."""
from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.module_utils._cert_blob import build_blob, parse_blob
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._gpo_plan import (
    MAX_ENTERPRISE_VALUES,
    MAX_GPO_VALUES,
    GpoPlanError,
    plan_enterprise,
    plan_gpo,
    policy_key,
    read_carried,
    read_enterprise,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import plan_import
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz, pki


@pytest.fixture(scope="module")
def corp():
    root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_type="ecdsa")
    other_root = pki.make_root("Fabrikam Root CA", key_type="ecdsa")
    return root, issuing, other_root


def value(store, issued, **overrides):
    entry = {"store": store, "thumbprint": issued.thumbprint,
             "blob_base64": base64.b64encode(build_blob(issued.der)).decode()}
    entry.update(overrides)
    return entry


def keys(entries):
    return [(e["store"], e["thumbprint"]) for e in entries]


def test_read_carried_names_subject_and_key(corp):
    root, issuing, _other = corp
    carried, unreadable = read_carried([value("Root", root), value("CA", issuing, thumbprint=issuing.thumbprint.lower())])
    assert unreadable == []
    assert keys(carried) == [("Root", root.thumbprint), ("CA", issuing.thumbprint)]
    assert carried[0]["subject"] == root.subject and carried[0]["is_ca"] is True
    assert carried[1]["key"].endswith("\\SystemCertificates\\CA\\Certificates\\" + issuing.thumbprint.lower())


def test_damaged_values_are_reported_not_skipped(corp):
    root, issuing, other = corp
    carried, unreadable = read_carried([
        value("Root", root),
        value("CA", issuing, blob_base64=None),
        value("Root", other, thumbprint=root.thumbprint[::-1]),
        {"store": "CA", "thumbprint": "AB", "blob_base64": "not base64!"},
        {"store": "CA", "thumbprint": "CD", "blob_base64": base64.b64encode(issuing.der).decode()},
    ])
    assert keys(carried) == [("Root", root.thumbprint)]
    reasons = [u["reason"] for u in unreadable]
    assert reasons[0] == f"CA\\{issuing.thumbprint}: no Blob value under the key"
    assert "stored under thumbprint" in reasons[1]
    assert reasons[2] == "CA\\AB: the Blob did not arrive as base64"
    # Bare DER, as a hand-made value might hold: not a store element.
    assert reasons[3].startswith("CA\\CD: ")


@pytest.mark.parametrize("values, message", [
    ("Root", "expected a list from the host, got str"),
    ([42], r"certificates\[0\]: expected an object, got int"),
    ([{"store": "My", "thumbprint": "AB"}], r"certificates\[0\]: needs store Root or CA and a thumbprint, got store 'My'"),
    ([{"store": "CA", "thumbprint": ""}], "needs store Root or CA"),
    ([{"store": "CA", "thumbprint": "AB"}] * (MAX_GPO_VALUES + 1), "more than 2000"),
])
def test_malformed_host_answers_are_refused(values, message):
    with pytest.raises(GpoPlanError, match=message):
        read_carried(values)


def test_present_writes_what_is_missing_in_the_store_the_import_chooses(corp):
    root, issuing, other = corp
    carried, unreadable = read_carried([value("Root", root), value("Root", other)])
    plan = plan_gpo(carried, unreadable, plan_import([issuing.pem, root.pem]), "present")
    assert plan["changed"] is True
    assert keys(plan["already_present"]) == [("Root", root.thumbprint)]
    assert keys(plan["write"]) == [("CA", issuing.thumbprint)]
    written = parse_blob(base64.b64decode(plan["write"][0]["blob_base64"]), expected_thumbprint=issuing.thumbprint)
    assert written["der"] == issuing.der
    assert plan["remove"] == []
    assert plan["diff"] == {
        "before": {"Root": sorted([root.thumbprint, other.thumbprint]), "CA": []},
        "after": {"Root": sorted([root.thumbprint, other.thumbprint]), "CA": [issuing.thumbprint]},
    }


def test_present_twice_changes_nothing(corp):
    root, issuing, _other = corp
    wanted = plan_import([root.pem, issuing.pem])
    first = plan_gpo([], [], wanted, "present")
    applied = [{"store": w["store"], "thumbprint": w["thumbprint"], "blob_base64": w["blob_base64"]} for w in first["write"]]
    carried, unreadable = read_carried(applied)
    second = plan_gpo(carried, unreadable, wanted, "present")
    assert second["changed"] is False and second["write"] == []
    assert keys(second["already_present"]) == [("Root", root.thumbprint), ("CA", issuing.thumbprint)]
    assert second["diff"]["before"] == second["diff"]["after"] == first["diff"]["after"]


def test_an_unreadable_value_under_a_wanted_key_is_rewritten(corp):
    root, _issuing, _other = corp
    carried, unreadable = read_carried([value("Root", root, blob_base64=base64.b64encode(b"junk").decode())])
    plan = plan_gpo(carried, unreadable, plan_import([root.pem]), "present")
    assert keys(plan["write"]) == [("Root", root.thumbprint)]
    assert plan["write"][0]["replaces_unreadable"] is True
    assert plan["diff"]["before"] == plan["diff"]["after"] == {"Root": [root.thumbprint], "CA": []}


def test_a_root_carried_in_the_wrong_store_does_not_count(corp):
    root, _issuing, _other = corp
    carried, unreadable = read_carried([value("CA", root)])
    plan = plan_gpo(carried, unreadable, plan_import([root.pem]), "present")
    assert keys(plan["write"]) == [("Root", root.thumbprint)]


def test_absent_removes_only_the_bundle_and_reports_the_rest_absent(corp):
    root, issuing, other = corp
    carried, unreadable = read_carried([value("Root", root), value("Root", other),
                                        value("CA", issuing, blob_base64="")])
    plan = plan_gpo(carried, unreadable, plan_import([root.pem, issuing.pem], "absent"), "absent")
    assert keys(plan["remove"]) == [("Root", root.thumbprint), ("CA", issuing.thumbprint)]
    assert plan["write"] == []
    assert plan["diff"]["after"] == {"Root": [other.thumbprint], "CA": []}
    again = plan_gpo([c for c in carried if c["thumbprint"] == other.thumbprint], [],
                     plan_import([root.pem, issuing.pem], "absent"), "absent")
    assert again["changed"] is False
    assert keys(again["absent"]) == [("Root", root.thumbprint), ("CA", issuing.thumbprint)]


def test_absent_by_thumbprint_only(corp):
    root, _issuing, _other = corp
    carried, unreadable = read_carried([value("Root", root)])
    wanted = plan_import([{"store": "Root", "thumbprint": root.thumbprint.lower()}], "absent")
    plan = plan_gpo(carried, unreadable, wanted, "absent")
    assert keys(plan["remove"]) == [("Root", root.thumbprint)]


def test_present_with_a_thumbprint_only_is_refused():
    wanted = [{"store": "Root", "thumbprint": "AA" * 20, "subject": None, "der": None}]
    with pytest.raises(GpoPlanError, match="state present needs the certificate"):
        plan_gpo([], [], wanted, "present")


def test_unknown_state_is_refused():
    with pytest.raises(GpoPlanError, match="state: must be present or absent, got 'latest'"):
        plan_gpo([], [], [], "latest")


def test_policy_key():
    assert policy_key("Root", "AB") == "HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\Root\\Certificates\\AB"


def _apply(carried_values: list[dict], plan: dict) -> list[dict]:
    """What the host holds after the script carries out ``plan``, as it would answer the next read."""
    removed = {(r["store"], r["thumbprint"]) for r in plan["remove"]}
    written = {(w["store"], w["thumbprint"]): w["blob_base64"] for w in plan["write"]}
    kept = [v for v in carried_values if (v["store"], v["thumbprint"].upper()) not in removed | set(written)]
    return kept + [{"store": s, "thumbprint": tp, "blob_base64": b} for (s, tp), b in written.items()]


@fuzz.fuzz_settings(examples=40)
@given(data=st.data())
def test_any_plan_applied_once_leaves_nothing_to_do(corp, data):
    root, issuing, other = corp
    pool = [("Root", root), ("CA", issuing), ("Root", other), ("CA", root)]
    carried_values = []
    for store, issued in data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=4)):
        damaged = data.draw(st.booleans())
        carried_values.append(value(store, issued, blob_base64=base64.b64encode(b"junk").decode()) if damaged
                              else value(store, issued))
    wanted_certs = data.draw(st.lists(st.sampled_from([root, issuing, other]), unique=True, min_size=1))
    state = data.draw(st.sampled_from(["present", "absent"]))
    wanted = plan_import([c.pem for c in wanted_certs], state)
    first = plan_gpo(*read_carried(carried_values), wanted, state)
    after = _apply(carried_values, first)
    carried, unreadable = read_carried(after)
    second = plan_gpo(carried, unreadable, wanted, state)
    assert second["changed"] is False
    held = {(c["store"], c["thumbprint"]) for c in carried}
    for item in wanted:
        assert ((item["store"], item["thumbprint"]) in held) is (state == "present")
    # Nothing outside the bundle is touched.
    wanted_keys = {(w["store"], w["thumbprint"]) for w in wanted}
    before_others = {(v["store"], v["thumbprint"]) for v in carried_values} - wanted_keys
    assert before_others <= {(v["store"], v["thumbprint"]) for v in after}
    assert first["diff"]["after"] == second["diff"]["before"]


# --- Active Directory's enterprise stores (publish_enterprise) ---

CONFIG = "CN=Configuration,DC=corp,DC=example"


def directory(**containers):
    return {"configuration_nc": CONFIG, **{name: [{"thumbprint": "ANYTHING", "der_base64": base64.b64encode(c.der).decode()}
                                                  for c in certs] for name, certs in containers.items()}}


def test_read_enterprise_computes_thumbprints_from_the_der_and_lists_each_once(corp):
    root, issuing, other_root = corp
    held = read_enterprise(directory(RootCA=[other_root, root, root], SubCA=[issuing]))
    assert held["configuration_nc"] == CONFIG
    assert held["RootCA"] == sorted([{"thumbprint": root.thumbprint, "subject": root.subject},
                                     {"thumbprint": other_root.thumbprint, "subject": other_root.subject}],
                                    key=lambda e: e["thumbprint"])
    assert held["SubCA"] == [{"thumbprint": issuing.thumbprint, "subject": issuing.subject}]
    assert read_enterprise({"configuration_nc": CONFIG})["RootCA"] == []


@pytest.mark.parametrize("value, message", [
    (None, "enterprise: expected an object from the host, got NoneType"),
    ({"RootCA": []}, "enterprise.configuration_nc: expected the configuration naming context's DN"),
    ({"configuration_nc": CONFIG, "SubCA": {}}, "enterprise.SubCA: expected a list, got dict"),
    ({"configuration_nc": CONFIG, "RootCA": ["x"]}, r"enterprise.RootCA\[0\]: expected an object with der_base64"),
    ({"configuration_nc": CONFIG, "RootCA": [{"der_base64": "!!"}]}, r"enterprise.RootCA\[0\]: not a certificate"),
    ({"configuration_nc": CONFIG, "SubCA": [{"der_base64": base64.b64encode(b"0123").decode()}]},
     r"enterprise.SubCA\[0\]: not a certificate"),
    ({"configuration_nc": CONFIG, "RootCA": [{"der_base64": "AA=="}] * (MAX_ENTERPRISE_VALUES + 1)},
     f"more than {MAX_ENTERPRISE_VALUES}"),
])
def test_read_enterprise_refuses_an_unusable_answer_naming_the_field(value, message):
    with pytest.raises(GpoPlanError, match=message):
        read_enterprise(value)


def test_plan_enterprise_publishes_what_each_container_lacks(corp):
    root, issuing, _other = corp
    wanted = plan_import([root.pem, issuing.pem])
    held = read_enterprise(directory(RootCA=[root], SubCA=[root]))  # a root in AIA does not make the intermediate held
    plan = plan_enterprise(held, wanted)
    assert [(p["container"], p["thumbprint"]) for p in plan["publish"]] == [("SubCA", issuing.thumbprint)]
    assert base64.b64decode(plan["publish"][0]["der_base64"]) == issuing.der
    assert plan["already_published"] == [{"container": "RootCA", "thumbprint": root.thumbprint, "subject": root.subject}]
    assert plan["changed"] is True and plan["stays_published"] == []
    assert plan["diff"] == {"before": {"RootCA": [root.thumbprint], "SubCA": [root.thumbprint]},
                            "after": {"RootCA": [root.thumbprint], "SubCA": sorted([root.thumbprint, issuing.thumbprint])}}
    again = plan_enterprise(read_enterprise(directory(RootCA=[root], SubCA=[issuing])), wanted)
    assert again["changed"] is False and again["publish"] == [] and len(again["already_published"]) == 2


def test_plan_enterprise_absent_publishes_nothing_and_lists_what_stays(corp):
    root, issuing, _other = corp
    wanted = plan_import([{"store": "Root", "thumbprint": root.thumbprint}, issuing.pem], "absent")
    plan = plan_enterprise(read_enterprise(directory(RootCA=[root])), wanted, "absent")
    assert plan["publish"] == [] and plan["changed"] is False
    assert [(s["container"], s["thumbprint"]) for s in plan["stays_published"]] == [("RootCA", root.thumbprint)]
    assert plan["diff"]["before"] == plan["diff"]["after"]
    with pytest.raises(GpoPlanError, match="state: must be present or absent"):
        plan_enterprise(read_enterprise(directory()), wanted, "gone")
