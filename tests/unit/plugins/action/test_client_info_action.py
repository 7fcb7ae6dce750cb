# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""client_info's action plugin against a stand-in for the Windows side of the connection.

The stand-in answers as client_info.ps1's header comment promises and recognises the script by
the identity line in the decoded -EncodedCommand, as the lab does.
"""
from __future__ import annotations

import base64
import json
import re

import pytest
import requests
import yaml
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.directaccess.iphttps.plugins.action import client_info
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.plugins.modules import client_info as client_info_doc
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _action_args, _windows_scripts

PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
IDENTITY = re.compile(r"^# directaccess\.iphttps script: (\w+) ")
URL = "https://da.contoso.com:443/IPHTTPS"
UNTRUSTED_ROOT = 2148204809


def untrusted_client(rollover) -> dict:
    old_root, _new_root, issuing, leaf = rollover
    return {
        "script": "client_info", "version": 2, "computer_name": "CLIENT01", "state_source": "cmdlet",
        "iphttps_configuration": {"server_url": URL, "state": "1", "type": "0", "configuration_type": "1",
                                  "profile": "", "profile_activated": True},
        "iphttps_state": {"interface_status": "failed to connect to the IPHTTPS server; waiting to reconnect",
                          "last_error_code": UNTRUSTED_ROOT},
        "da_connection_status": {"status": 2, "status_name": "Error", "substatus": 7,
                                 "substatus_name": "CouldNotContactDirectAccessServer"},
        "server_chain": [leaf.der_base64, issuing.der_base64],
        "chain_policy_extra_store": [issuing.der_base64],
        "server_chain_error": None,
        "chain_status": [{"status": "PartialChain", "information": "A certificate chain could not be built."}],
        "stores": {"Root": [old_root.thumbprint], "CA": []},
        "store_certificates": [{"store": "Root", "thumbprint": old_root.thumbprint, "der_base64": old_root.der_base64}],
    }


class FakeWindowsHost:
    def __init__(self, reply):
        self._shell = ShellModule()
        self.reply = reply
        self.commands: list[tuple[str, dict]] = []

    def exec_command(self, cmd, in_data=None, sudoable=True):
        assert cmd.startswith(PREFIX)
        name = IDENTITY.match(base64.b64decode(cmd[len(PREFIX):]).decode("utf-16-le")).group(1)
        params = json.loads(in_data)
        assert params.pop(_windows_scripts.SOURCE_KEY) == _windows_scripts.load_script(name)
        self.commands.append((name, params))
        if isinstance(self.reply, BaseException):
            raise self.reply
        if isinstance(self.reply, tuple):
            return self.reply
        return 0, json.dumps(self.reply).encode(), b""


def run(host, check_mode=False, **args):
    return run_action(client_info, "client_info", host, check_mode=check_mode, diff=False, **args)


def test_untrusted_client_is_diagnosed_in_one_command(rollover):
    host = FakeWindowsHost(untrusted_client(rollover))
    result = run(host)
    assert host.commands == [("client_info", {"connect_timeout_ms": 5000, "store_certificates": "chain",
                                              "revocation": "auto"})]
    assert result["changed"] is False
    assert not result.get("failed")
    assert result["computer_name"] == "CLIENT01"
    assert result["iphttps"]["configured"] is True
    assert result["iphttps"]["last_error"]["name"] == "CERT_E_UNTRUSTEDROOT"
    assert result["server_chain"] == [rollover[3].pem, rollover[2].pem]
    assert result["server_chain_source"] == "chain_policy_extra_store"
    assert result["iphttps"]["state_source"] == "cmdlet"
    assert result["da_connection_status"] == {"status": "Error", "status_code": 2,
                                              "substatus": "CouldNotContactDirectAccessServer", "substatus_code": 7}
    assert result["stores"] == {"Root": [rollover[0].thumbprint], "CA": [], "Disallowed": []}
    diagnosis = result["diagnosis"]
    assert diagnosis["verdict"] == "untrusted_root"
    assert diagnosis["fixable"] is False
    assert diagnosis["missing"][0]["store"] == "Root"


def test_bundle_makes_the_diagnosis_name_the_fix(rollover):
    _old_root, new_root, _issuing, _leaf = rollover
    host = FakeWindowsHost(untrusted_client(rollover))
    bundle_entry = {"pem": new_root.pem, "store": "Root", "thumbprint": new_root.thumbprint}
    result = run(host, bundle=[bundle_entry], connect_timeout=12)
    assert host.commands == [("client_info", {"connect_timeout_ms": 12000, "store_certificates": "chain",
                                              "revocation": "auto"})]
    diagnosis = result["diagnosis"]
    assert diagnosis["fixable"] is True
    assert [(m["store"], m["thumbprint"]) for m in diagnosis["missing"]] == [("Root", new_root.thumbprint)]


def test_check_mode_runs_the_same_read_only_script(rollover):
    host = FakeWindowsHost(untrusted_client(rollover))
    result = run(host, check_mode=True)
    assert host.commands == [("client_info", {"connect_timeout_ms": 5000, "store_certificates": "chain",
                                              "revocation": "auto"})]
    assert result["changed"] is False
    assert result["diagnosis"]["verdict"] == "untrusted_root"


def test_store_certificates_all_is_asked_of_the_host_and_every_entry_comes_back(rollover):
    old_root, new_root, issuing, _leaf = rollover
    reply = dict(untrusted_client(rollover),
                 stores={"Root": [old_root.thumbprint, new_root.thumbprint], "CA": [issuing.thumbprint]},
                 store_certificates=[{"store": s, "thumbprint": c.thumbprint, "der_base64": c.der_base64}
                                     for s, c in (("Root", old_root), ("Root", new_root), ("CA", issuing))])
    host = FakeWindowsHost(reply)
    result = run(host, store_certificates="all")
    assert host.commands == [("client_info", {"connect_timeout_ms": 5000, "store_certificates": "all",
                                              "revocation": "auto"})]
    assert result["store_certificates"] == {"Root": [old_root.pem, new_root.pem], "CA": [issuing.pem]}
    assert result["diagnosis"]["verdict"] == "trusted"


def test_store_certificates_must_be_chain_or_all():
    host = FakeWindowsHost({})
    with pytest.raises(AnsibleActionFail, match=r"store_certificates must be one of: chain, all, got: everything"):
        run(host, store_certificates="everything")
    assert host.commands == []


@pytest.mark.parametrize("mode", ["always", "never"])
def test_revocation_mode_is_passed_to_the_host(rollover, mode):
    host = FakeWindowsHost(untrusted_client(rollover))
    result = run(host, revocation=mode)
    assert host.commands[0][1]["revocation"] == mode
    # The v2-shaped answer has no revocation section: nothing was fetched.
    assert result["revocation"] is None


def test_revocation_must_be_auto_always_or_never():
    host = FakeWindowsHost({})
    with pytest.raises(AnsibleActionFail, match=r"revocation must be one of: auto, always, never, got: sometimes"):
        run(host, revocation="sometimes")
    assert host.commands == []


def test_documented_options_are_the_options_the_action_takes():
    documented = yaml.safe_load(client_info_doc.DOCUMENTATION)["options"]
    assert set(documented) == set(client_info.ARGUMENT_SPEC)
    for name, spec in client_info.ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
        assert documented[name].get("choices") == spec.get("choices"), name


def test_host_that_is_not_a_directaccess_client(rollover):
    reply = dict(untrusted_client(rollover), iphttps_configuration=None, iphttps_state=None, server_chain=[],
                 store_certificates=[])
    result = run(FakeWindowsHost(reply))
    assert result["iphttps"]["configured"] is False
    assert result["diagnosis"] is None
    assert not result.get("failed")


def test_chain_that_could_not_be_captured_is_explained(rollover):
    error = "connection to da.contoso.com:443 timed out after 5000 ms"
    reply = dict(untrusted_client(rollover), server_chain=[], server_chain_error=error)
    result = run(FakeWindowsHost(reply))
    assert result["server_chain_error"] == error
    assert result["diagnosis"]["verdict"] == "no_chain"
    assert error in result["diagnosis"]["reasons"][0]


def test_access_denied_fails_with_administrator_hint():
    host = FakeWindowsHost((1, b"", b"Get-NetIPHttpsConfiguration : Access denied"))
    with pytest.raises(AnsibleActionFail, match="local administrator rights"):
        run(host)


def test_script_failure_fails_with_powershells_message():
    host = FakeWindowsHost((1, b"", b"The term 'Get-NetIPHttpsState' is not recognized"))
    with pytest.raises(AnsibleActionFail, match=r"client_info: the PowerShell script failed \(rc=1\): The term"):
        run(host)


@pytest.mark.parametrize("error", [
    AnsibleConnectionFailure("winrm connection error: [Errno 111] Connection refused"),
    requests.exceptions.ConnectionError("Max retries exceeded with url: /wsman"),
])
def test_transport_failure_makes_the_host_unreachable(error):
    result = run(FakeWindowsHost(error))
    assert result["unreachable"] is True
    assert result["changed"] is False
    assert "failed" not in result
    assert result["msg"] == f"client_info: {error}"


def test_malformed_answer_fails_clearly(rollover):
    reply = untrusted_client(rollover)
    reply["server_chain"][1] = "!!!"
    with pytest.raises(AnsibleActionFail, match=r"^client_info: the host returned an unreadable certificate: "
                                                r"server_chain\[1\]"):
        run(FakeWindowsHost(reply))


def test_bad_bundle_fails_before_contacting_the_host():
    host = FakeWindowsHost({})
    with pytest.raises(AnsibleActionFail, match=r"bundle\[0\]: a dict item needs a 'pem' key"):
        run(host, bundle=[{"thumbprint": "ABC"}])
    assert host.commands == []


@pytest.mark.parametrize("value", [0, -3])
def test_connect_timeout_must_be_positive(value):
    host = FakeWindowsHost({})
    with pytest.raises(AnsibleActionFail, match=f"connect_timeout: must be a positive number of seconds, got {value}"):
        run(host, connect_timeout=value)
    assert host.commands == []


def test_missing_cryptography_is_reported(monkeypatch):
    monkeypatch.setattr(_action_args, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(_action_args, "CRYPTOGRAPHY_IMPORT_ERROR", "No module named 'cryptography'")
    with pytest.raises(AnsibleActionFail, match="needs the Python 'cryptography' library"):
        run(FakeWindowsHost({}))
