# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never crash on a management host's answer: whatever JSON document comes back as gpo_certificates'
answer, the action returns a result or fails naming the problem; nothing else escapes, and a bad answer
is never mistaken for an unreachable host."""
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleActionFail
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.action import gpo_certificates
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz, pki

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12), st.just("Root"),
                    st.just("CA"), st.just("AA" * 20), st.just("MzAwMA=="))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.sampled_from(
                                                         ["store", "thumbprint", "blob_base64", "name", "guid",
                                                          "som_path", "enabled", "denied", "kind", "message",
                                                          "configuration_nc", "RootCA", "SubCA", "der_base64",
                                                          "container"]),
                                                         inner, max_size=4)), max_leaves=12)
KEYS = ["error", "gpo", "da_client", "da_client_note", "links", "apply_trustees", "certificates", "written",
        "removed", "failed", "enterprise", "published", "publish_failed"]
GOOD_GPO = {"name": "DirectAccess Client Settings", "guid": "31a09564-cd4a-4520-98fa-446a2af23b4b",
            "domain": "corp.example", "status": "AllSettingsEnabled", "modified": "x", "found_by": "guid"}


class Answering:
    """A management host that answers every command with the same document."""

    def __init__(self, document):
        from ansible.plugins.shell.powershell import ShellModule
        self._shell = ShellModule()
        self.document = document

    def exec_command(self, cmd, in_data=None, sudoable=True):
        return 0, json.dumps(self.document).encode(), b""


@pytest.fixture(scope="module")
def root_pem():
    return pki.make_root("Contoso Root CA", key_type="ecdsa").pem


@fuzz.fuzz_settings(examples=60)
@given(fields=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6), good_gpo=st.booleans(),
       with_certificates=st.booleans(), check_mode=st.booleans(), publish=st.booleans())
def test_any_answer_is_a_result_or_a_named_failure(root_pem, fields, good_gpo, with_certificates, check_mode, publish):
    document = {"script": "gpo_certificates", "version": 2, **fields}
    if good_gpo:
        document["gpo"] = GOOD_GPO
    args = {"certificates": [root_pem]} if with_certificates else {}
    if with_certificates and publish:
        args["publish_enterprise"] = True
    try:
        result = run_action(gpo_certificates, "gpo_certificates", Answering(document), check_mode=check_mode, **args)
    except AnsibleActionFail as exc:
        assert str(exc).startswith("gpo_certificates: "), str(exc)
        return
    assert not result.get("unreachable"), result
    assert result["gpo"]["guid"] == GOOD_GPO["guid"]
    assert isinstance(result["reach"]["linked"], bool)


def test_an_error_without_a_message_says_so():
    with pytest.raises(AnsibleActionFail, match=r'^gpo_certificates: the host reported an error without a message \(\{"message": ""\}\)'):
        run_action(gpo_certificates, "gpo_certificates", Answering({"script": "gpo_certificates", "error": {"message": ""}}))
