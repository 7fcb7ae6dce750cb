# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A broken or hostile host's answer never crashes client_info (issues 8 and 10): build_report
ends in a report or in ReportError naming the field, and the script output parser in ScriptError.

Documents start from a valid client_info.ps1 answer and have one field replaced by any JSON value,
a mutated certificate or a value nested thousands deep; or they are any JSON at all.
"""
from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._client_report import ReportError, build_report
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts import ScriptError, parse_output
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

pytestmark = [pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

URL = "https://da.contoso.com:443/IPHTTPS"
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)


def nested(depth: int, leaf=None, kind: str = "list"):
    """A value nested ``depth`` levels deep, built without recursion."""
    value = leaf
    for _level in range(depth):
        value = [value] if kind == "list" else {"x": value}
    return value


def valid_answer() -> dict:
    """What client_info.ps1 v2 returns for a healthy client (the root comes in full from its Root store)."""
    chain = fuzz.reference_chain()
    return {
        "script": "client_info",
        "version": 2,
        "computer_name": "CLIENT01",
        "state_source": "cmdlet",
        "iphttps_configuration": {"server_url": URL, "state": "1", "type": "0", "configuration_type": "1",
                                  "profile": "", "profile_activated": True},
        "iphttps_state": {"interface_status": "failed to connect to the IPHTTPS server", "last_error_code": 2148204809},
        "da_connection_status": {"status": 2, "status_name": "Error", "substatus": 7,
                                 "substatus_name": "CouldNotContactDirectAccessServer"},
        "server_chain": [chain.leaf.der_base64, chain.intermediate.der_base64],
        "chain_policy_extra_store": [chain.intermediate.der_base64],
        "server_chain_error": None,
        "chain_status": [{"status": "PartialChain", "information": "A certificate chain could not be built."}],
        "stores": {"Root": ["CABD2A79A1076A31F21D253635CB039D4329A5E8"], "CA": [], "Disallowed": []},
        "store_certificates": [{"store": "Root", "thumbprint": chain.root.thumbprint,
                                "der_base64": chain.root.der_base64}],
        "iphlpsvc": {"state": "Running", "start_mode": "Auto", "process_id": 1234},
    }


# Every field of the answer, with the paths that reach into its parts.
FIELDS = (
    ("computer_name",), ("state_source",), ("iphttps_configuration",), ("iphttps_configuration", "server_url"),
    ("iphttps_state",), ("iphttps_state", "last_error_code"), ("iphttps_state", "interface_status"),
    ("da_connection_status",), ("da_connection_status", "status"), ("da_connection_status", "substatus_name"),
    ("server_chain",), ("server_chain", 0), ("server_chain", 1), ("chain_policy_extra_store",),
    ("chain_policy_extra_store", 0), ("server_chain_error",), ("chain_status",), ("chain_status", 0),
    ("chain_status", 0, "status"), ("stores",), ("stores", "Root"), ("stores", "CA"), ("stores", "Disallowed"),
    ("stores", "Root", 0), ("store_certificates",), ("store_certificates", 0), ("store_certificates", 0, "store"),
    ("store_certificates", 0, "der_base64"), ("iphlpsvc",), ("iphlpsvc", "process_id"), ("revocation",),
)


def replaced(answer: dict, path: tuple, value) -> dict:
    target = answer
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return answer


def check(answer) -> dict | None:
    """build_report's result, or None after a ReportError; anything else fails the test."""
    try:
        report = build_report(answer)
    except ReportError as exc:
        assert str(exc), "a ReportError must say what is wrong"
        return None
    assert isinstance(report, dict) and isinstance(report["iphttps"], dict)
    json.dumps(report)  # what Ansible does with it: no recursion, no odd types
    return report


def assert_names_field(answer: dict, path: tuple) -> None:
    try:
        check_result = build_report(answer)
    except ReportError as exc:
        assert path[0] in str(exc), f"{exc} does not name {path[0]}"
        return
    json.dumps(check_result)


@st.composite
def certificate_texts(draw):
    """Base64 of a mutated certificate, as the script sends certificates."""
    return base64.b64encode(draw(fuzz.mutated_der())).decode("ascii")


@fuzz.fuzz_settings(examples=60)
@given(path=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_any_value_in_any_field_gives_a_report_or_a_report_error_naming_it(path, value):
    assert_names_field(replaced(valid_answer(), path, value), path)


@fuzz.fuzz_settings(examples=30)
@given(path=st.sampled_from([("server_chain", 0), ("server_chain", 1), ("chain_policy_extra_store", 0),
                             ("store_certificates", 0, "der_base64")]), value=certificate_texts())
def test_a_mutated_certificate_from_the_host_gives_a_report_or_a_report_error_naming_it(path, value):
    assert_names_field(replaced(valid_answer(), path, value), path)


@fuzz.fuzz_settings(examples=30)
@given(answer=st.one_of(JSON_VALUES, st.dictionaries(st.sampled_from([f[0] for f in FIELDS]), JSON_VALUES)))
def test_any_json_document_gives_a_report_or_a_report_error(answer):
    check(answer)


# The malformed host answers issue 10 names, and their relatives.
@pytest.mark.parametrize("path, value, field", [
    (("iphttps_state",), "IPHTTPS interface active", "iphttps_state"),
    (("iphttps_state", "last_error_code"), True, "iphttps_state.last_error_code"),
    (("iphttps_state", "last_error_code"), {"code": 1}, "iphttps_state.last_error_code"),
    (("iphttps_configuration", "server_url"), "https://[::1/x", "iphttps_configuration.server_url"),
    (("iphttps_configuration", "server_url"), "https://", "iphttps_configuration.server_url"),
    (("iphttps_configuration", "server_url"), 443, "iphttps_configuration.server_url"),
    (("iphttps_configuration",), ["https://da.contoso.com"], "iphttps_configuration"),
    (("chain_status",), 5, "chain_status"),
    (("chain_status",), "PartialChain", "chain_status"),
    (("chain_status", 0), "PartialChain", "chain_status[0]"),
    (("chain_status", 0, "information"), ["x"], "chain_status[0].information"),
    (("chain_status",), nested(5000), "chain_status[0]"),
    (("computer_name",), nested(5000, kind="dict"), "computer_name"),
    (("stores",), nested(5000), "stores"),
    (("stores", "Root"), "CABD2A79A1076A31F21D253635CB039D4329A5E8", "stores.Root"),
    (("stores", "Root", 0), nested(5000), "stores.Root[0]"),
    (("server_chain",), 5, "server_chain"),
    (("server_chain", 0), nested(5000), "server_chain[0]"),
    (("server_chain", 0), None, "server_chain[0]"),
    (("store_certificates",), {"store": "Root"}, "store_certificates"),
    (("store_certificates", 0), "MIIB", "store_certificates[0]"),
    (("store_certificates", 0, "store"), ["Root"], "store_certificates[0].store"),
    (("server_chain_error",), 12, "server_chain_error"),
    (("state_source",), ["cmdlet"], "state_source"),
    (("iphlpsvc", "state"), nested(5000, kind="dict"), "iphlpsvc"),
    (("da_connection_status", "status"), 2 ** 40, "da_connection_status.status"),
])
def test_malformed_host_answers_end_in_a_report_error_naming_the_field(path, value, field):
    with pytest.raises(ReportError) as caught:
        build_report(replaced(valid_answer(), path, value))
    # The field itself, not a longer one that starts with its name.
    assert re.search(rf"(?<![\w.]){re.escape(field)}(?=[:\s])", str(caught.value)), str(caught.value)


@pytest.mark.parametrize("answer", [None, [], "client_info", 5, nested(5000)])
def test_an_answer_that_is_not_an_object_is_a_report_error(answer):
    with pytest.raises(ReportError, match=r"^the host's answer is not a JSON object"):
        build_report(answer)


def test_a_malformed_answer_shows_values_briefly():
    with pytest.raises(ReportError) as caught:
        build_report(replaced(valid_answer(), ("state_source",), [["x" * 100_000] * 1000] * 1000))
    assert "xxx...xxx" in str(caught.value) and len(str(caught.value)) < 1000


def test_the_valid_answer_is_a_report_with_a_diagnosis():
    report = check(valid_answer())
    assert report["iphttps"]["configured"] is True and report["diagnosis"]["verdict"] == "trusted"


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_json_nested_thousands_deep_is_a_clear_error_not_a_crash(depth):
    """Python 3.11's json gives up on deep nesting (RecursionError, caught: no result document);
    3.13's parses 5,000 levels, and then the report builder names the field."""
    line = '{"script": "client_info", "chain_status": ' + "[" * depth + "]" * depth + "}"
    try:
        document = parse_output("client_info", 0, line, "")
    except ScriptError as exc:
        assert str(exc).startswith("client_info: the host printed no result document")
        return
    with pytest.raises(ReportError, match=r"unusable chain_status\[0\]: expected an object"):
        build_report(document)


@fuzz.fuzz_settings(examples=40)
@given(text=st.text(max_size=300), rc=st.integers(-5, 300))
@example(text='{"script": "client_info"', rc=0)
@example(text='{"script": "client_info", "x": ' + "{" * 3000, rc=0)
def test_any_script_output_parses_or_is_a_script_error(text, rc):
    try:
        document = parse_output("client_info", rc, text, "")
    except ScriptError:
        return
    assert isinstance(document, dict) and document["script"] == "client_info"
