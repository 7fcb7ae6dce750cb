# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""trust_check never crashes (issue 8, section 6): whatever the task passes, the action returns a
diagnosis or fails with AnsibleActionFail naming the option; never "Task failed" from an exception."""
from __future__ import annotations

import base64

import pytest
from ansible.errors import AnsibleActionFail
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.action import trust_check
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import VERDICTS
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import FakeWindowsHost
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

pytestmark = [pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

OPTIONS = ("server_chain", "server_name", "root_store", "intermediate_store", "bundle", "at")


@st.composite
def certificate_items(draw):
    """What a playbook may put in a certificate list: real or mutated PEM, base64 DER, ca_bundle's
    dicts, thumbprints, and values of the wrong type."""
    reference = fuzz.reference_chain()
    mutated = draw(fuzz.mutated_der())
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(mutated).decode("ascii") + "-----END CERTIFICATE-----\n"
    return draw(st.sampled_from([
        reference.leaf.pem, reference.intermediate.pem, reference.root.pem, reference.root.thumbprint,
        pem, base64.b64encode(mutated).decode("ascii"), {"pem": pem}, {"thumbprint": reference.root.thumbprint},
        {"der_base64": reference.intermediate.der_base64}, {"subject": "CN=x"}, None, 7, ["nested"],
        draw(st.text(max_size=60)), draw(st.binary(max_size=60)),
    ]))


def run(**args) -> dict:
    return run_action(trust_check, "trust_check", FakeWindowsHost(), **args)


def assert_result_or_named_refusal(args: dict) -> None:
    try:
        result = run(**args)
    except AnsibleActionFail as exc:
        assert any(option in str(exc) for option in OPTIONS), str(exc)
        return
    assert result["verdict"] in VERDICTS and result["changed"] is False


@fuzz.fuzz_settings(examples=40)
@given(server_chain=st.lists(certificate_items(), max_size=3), root_store=st.lists(certificate_items(), max_size=3),
       intermediate_store=st.lists(certificate_items(), max_size=2), bundle=st.lists(certificate_items(), max_size=2),
       server_name=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["da.contoso.com", "https://[::1/"])),
       at=st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["9999-12-31T23:59:59-23:59",
                                                                      "2026-11-28T12:00:00Z"])))
def test_any_arguments_give_a_diagnosis_or_a_failure_naming_the_option(server_chain, root_store, intermediate_store,
                                                                       bundle, server_name, at):
    assert_result_or_named_refusal(dict(server_chain=server_chain, root_store=root_store,
                                        intermediate_store=intermediate_store, bundle=bundle,
                                        server_name=server_name, at=at))


@fuzz.fuzz_settings(examples=30)
@given(server_name=st.text(max_size=60))
@example(server_name="")
@example(server_name="https://")
@example(server_name="https://[::1/")
def test_any_server_name_gives_a_diagnosis_or_a_failure_naming_server_name(server_name):
    reference = fuzz.reference_chain()
    assert_result_or_named_refusal(dict(server_chain=[reference.leaf.pem, reference.intermediate.pem],
                                        root_store=[reference.root.pem], server_name=server_name))


# The task arguments issue 10 found crashing trust_check, and their relatives.
@pytest.mark.parametrize("option, value, message", [
    ("server_name", "", r"^server_name: expected a host name or URL, got ''"),
    ("server_name", "   ", r"^server_name: expected a host name or URL"),
    ("server_name", "https://", r"^server_name: no host name in URL 'https://'"),
    ("server_name", "https://[::1/", r"^server_name: 'https://\[::1/' is not a usable URL: Invalid IPv6 URL"),
    ("at", "9999-12-31T23:59:59-23:59", r"^at: '9999-12-31T23:59:59-23:59' is outside the dates that can be"),
    ("at", "0001-01-01T00:00:00+01:00", r"^at: '0001-01-01T00:00:00\+01:00' is outside the dates that can be"),
])
def test_unusable_arguments_fail_the_task_naming_the_option(option, value, message):
    reference = fuzz.reference_chain()
    args = dict(server_chain=[reference.leaf.pem, reference.intermediate.pem], root_store=[reference.root.pem],
                server_name="da.contoso.com")
    args[option] = value
    with pytest.raises(AnsibleActionFail, match=message):
        run(**args)


def test_the_fuzzed_arguments_can_also_succeed():
    """The property above is not vacuous: real arguments give the real diagnosis."""
    reference = fuzz.reference_chain()
    result = run(server_chain=[reference.leaf.pem, reference.intermediate.pem], root_store=[reference.root.pem],
                 server_name="https://da.contoso.com:443/IPHTTPS")
    assert result["verdict"] == "trusted" and result["trusted"] is True
