# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpo_certificates' action plugin against a stand-in management host that answers as
gpo_certificates.ps1's header comment promises."""
from __future__ import annotations

import base64
import datetime
import json

import pytest
import requests
from ansible.errors import AnsibleActionFail
from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.directaccess.iphttps.plugins.action import gpo_certificates
from ansible_collections.directaccess.iphttps.plugins.module_utils._cert_blob import build_blob, parse_blob
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.fake_windows import IDENTITY, PREFIX
from ansible_collections.directaccess.iphttps.tests.unit.plugins.action.runner import run_action
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki

GUID = "31a09564-cd4a-4520-98fa-446a2af23b4b"
CLIENTS = "CORP\\DirectAccessClients"


@pytest.fixture(scope="module")
def corp():
    root = pki.make_root("Contoso Root CA", key_type="ecdsa")
    issuing = pki.make_intermediate("Contoso Issuing CA", root, key_type="ecdsa")
    return root, issuing


class FakeManagementHost:
    """One GPO ('DirectAccess Client Settings') in a domain, reached over WinRM."""

    def __init__(self, values=None, links=None, trustees=None, status="AllSettingsEnabled", error=None,
                 fail_on=None, da_client=None):
        self._shell = ShellModule()
        self.values = dict(values or {})   # (store, thumbprint) -> blob bytes or None
        self.links = [{"som_path": "corp.example/Clients", "som_name": "Clients", "enabled": True, "enforced": False}] \
            if links is None else links
        self.trustees = [{"name": CLIENTS, "type": "Group", "denied": False}] if trustees is None else trustees
        self.status = status
        self.error = error
        self.fail_on = fail_on
        self.da_client = da_client
        self.commands = []
        self.drop_on_call = None
        self.ignore_removals = False  # a host that reports removals it did not make
        self.ignore_writes = False  # and writes
        self.modified = "2026-12-01T10:00:00.0000000Z"
        self.directory = {"RootCA": {}, "SubCA": {}}  # Active Directory's enterprise stores: thumbprint -> DER
        self.publish_fail_on = None
        self.ignore_publish = False  # a host that reports publishing it did not do

    def exec_command(self, cmd, in_data=None, sudoable=True):
        loader = base64.b64decode(cmd[len(PREFIX):]).decode("utf-16-le")
        assert IDENTITY.match(loader).group(1) == "gpo_certificates"
        params = json.loads(in_data)
        assert params.pop(_windows_scripts.SOURCE_KEY) == _windows_scripts.load_script("gpo_certificates")
        self.commands.append(params)
        if self.drop_on_call == len(self.commands):
            raise requests.exceptions.ConnectionError("connection reset by peer")
        doc = {"script": "gpo_certificates", "version": 2, "error": self.error, "gpo": None, "da_client": self.da_client,
               "da_client_note": None, "links": [], "apply_trustees": [], "certificates": [], "written": [],
               "removed": [], "failed": None, "enterprise": None, "published": [], "publish_failed": None}
        if self.error:
            return 0, json.dumps(doc).encode(), b""
        found_by = "guid" if params.get("gpo_guid") else "name" if params.get("gpo_name") else "default_name"
        doc["gpo"] = {"name": "DirectAccess Client Settings", "guid": GUID, "domain": "corp.example",
                      "status": self.status, "modified": "2026-12-01T10:00:00.0000000Z", "found_by": found_by}
        doc["links"], doc["apply_trustees"] = self.links, self.trustees
        for item in params["write"]:
            if item["thumbprint"] == self.fail_on:
                doc["failed"] = {"store": item["store"], "thumbprint": item["thumbprint"], "message": "Access is denied."}
                break
            if not self.ignore_writes:
                self.values[(item["store"], item["thumbprint"])] = base64.b64decode(item["blob_base64"])
            doc["written"].append({"store": item["store"], "thumbprint": item["thumbprint"]})
        for item in params["remove"]:
            if not self.ignore_removals:
                self.values.pop((item["store"], item["thumbprint"]))
            doc["removed"].append({"store": item["store"], "thumbprint": item["thumbprint"]})
        if doc["written"] or doc["removed"]:
            self.modified = "2026-12-02T09:30:00.0000000Z"  # an edit moves the GPO's ModificationTime
        doc["gpo"]["modified"] = self.modified
        doc["certificates"] = [{"store": s, "thumbprint": tp, "blob_base64": None if b is None else base64.b64encode(b).decode()}
                               for (s, tp), b in sorted(self.values.items())]
        for item in params.get("publish") or []:
            if doc["failed"]:
                break
            if item["thumbprint"] == self.publish_fail_on:
                doc["publish_failed"] = {"container": item["container"], "thumbprint": item["thumbprint"],
                                         "message": "certutil -dspublish exited with 5: Access is denied."}
                break
            if not self.ignore_publish:
                self.directory[item["container"]][item["thumbprint"]] = base64.b64decode(item["der_base64"])
            doc["published"].append({"container": item["container"], "thumbprint": item["thumbprint"]})
        if params.get("enterprise"):
            doc["enterprise"] = {"configuration_nc": "CN=Configuration,DC=corp,DC=example", **{
                container: [{"thumbprint": tp, "der_base64": base64.b64encode(der).decode()} for tp, der in sorted(held.items())]
                for container, held in self.directory.items()}}
        return 0, json.dumps(doc).encode(), b""


def run(host, check_mode=False, **args):
    return run_action(gpo_certificates, "gpo_certificates", host, check_mode=check_mode, diff=True, **args)


def test_present_writes_the_missing_certificates_as_store_elements(corp):
    root, issuing = corp
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der)})
    result = run(host, certificates=[root.pem, issuing.pem])

    assert len(host.commands) == 2
    assert host.commands[0]["write"] == [] and host.commands[0]["gpo_guid"] is None
    assert host.commands[1]["gpo_guid"] == GUID  # the writes go to the GPO the read found
    assert [(w["store"], w["thumbprint"]) for w in host.commands[1]["write"]] == [("CA", issuing.thumbprint)]
    assert parse_blob(host.values[("CA", issuing.thumbprint)])["der"] == issuing.der
    assert result["changed"] is True
    assert result["written"] == [{"store": "CA", "thumbprint": issuing.thumbprint, "subject": issuing.subject}]
    assert result["already_present"] == [{"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject}]
    assert [(c["store"], c["thumbprint"], c["subject"]) for c in result["certificates"]] == [
        ("CA", issuing.thumbprint, issuing.subject), ("Root", root.thumbprint, root.subject)]
    assert result["diff"] == {"before": {"Root": [root.thumbprint], "CA": []},
                              "after": {"Root": [root.thumbprint], "CA": [issuing.thumbprint]}}
    assert result["reach"] == {"linked": True, "computer_settings_enabled": True, "client_groups": []}
    assert result["gpo"]["found_by"] == "default_name"
    assert result["gpo"]["modified"] == "2026-12-02T09:30:00.0000000Z"


def test_second_run_changes_nothing_and_writes_nothing(corp):
    root, issuing = corp
    host = FakeManagementHost()
    run(host, certificates=[root.pem, issuing.pem])
    host.commands.clear()
    again = run(host, certificates=[root.pem, issuing.pem])
    assert again["changed"] is False
    assert len(host.commands) == 1 and again["written"] == []
    assert len(again["already_present"]) == 2


def test_check_mode_reports_the_plan_and_writes_nothing(corp):
    root, issuing = corp
    host = FakeManagementHost()
    result = run(host, check_mode=True, certificates=[root.pem, issuing.pem])
    assert result["changed"] is True
    assert [w["thumbprint"] for w in result["written"]] == [root.thumbprint, issuing.thumbprint]
    assert result["diff"]["after"] == {"Root": [root.thumbprint], "CA": [issuing.thumbprint]}
    assert result["certificates"] == []
    assert len(host.commands) == 1 and host.values == {}


def test_absent_removes_only_the_given_certificates(corp):
    root, issuing = corp
    other = pki.make_root("Fabrikam Root CA", key_type="ecdsa")
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der),
                                      ("Root", other.thumbprint): build_blob(other.der)})
    result = run(host, certificates=[root.pem, issuing.pem], state="absent")
    assert result["removed"] == [{"store": "Root", "thumbprint": root.thumbprint, "subject": root.subject}]
    assert result["absent"] == [{"store": "CA", "thumbprint": issuing.thumbprint, "subject": issuing.subject}]
    assert set(host.values) == {("Root", other.thumbprint)}


def test_read_only_without_certificates(corp):
    root, _issuing = corp
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der), ("CA", "AB" * 20): b"junk"})
    result = run(host, gpo_name="DirectAccess Client Settings")
    assert result["changed"] is False and len(host.commands) == 1
    assert host.commands[0]["gpo_name"] == "DirectAccess Client Settings"
    assert [c["thumbprint"] for c in result["certificates"]] == [root.thumbprint]
    assert result["unreadable"][0]["thumbprint"] == "AB" * 20
    assert result["unreadable"][0]["reason"].startswith("CA\\" + "AB" * 20 + ": ")


def test_reach_names_groups_the_security_filtering_leaves_out(corp):
    root, _issuing = corp
    host = FakeManagementHost(links=[{"som_path": "corp.example/Servers", "som_name": "Servers", "enabled": False,
                                      "enforced": False}],
                              trustees=[{"name": "CORP\\Laptops", "type": "Group", "denied": False}],
                              status="ComputerSettingsDisabled",
                              da_client={"gpo_names": ["corp.example\\DirectAccess Client Settings"],
                                         "security_groups": [CLIENTS, "corp.example\\Laptops"]})
    result = run(host, certificates=[root.pem], check_mode=True)
    assert result["reach"] == {"linked": False, "computer_settings_enabled": False, "client_groups": [
        {"name": CLIENTS, "applies": False}, {"name": "corp.example\\Laptops", "applies": True}]}
    assert len(result["gpo_warnings"]) == 3
    assert "not linked anywhere" in result["gpo_warnings"][0]
    assert "computer settings disabled (ComputerSettingsDisabled)" in result["gpo_warnings"][1]
    assert result["gpo_warnings"][2].endswith(f"does not apply to {CLIENTS}: it lacks GpoApply in the security filtering")


def test_authenticated_users_reaches_every_group_unless_denied():
    host = FakeManagementHost(trustees=[{"name": "NT AUTHORITY\\Authenticated Users", "type": "WellKnownGroup", "denied": False},
                                        {"name": "CORP\\Kiosks", "type": "Group", "denied": True}])
    result = run(host, client_groups=[CLIENTS, "Kiosks"])
    assert result["reach"]["client_groups"] == [{"name": CLIENTS, "applies": True}, {"name": "Kiosks", "applies": False}]


def test_expired_or_non_ca_certificates_are_refused_before_the_host_is_asked(corp):
    root, _issuing = corp
    now = datetime.datetime.now(datetime.timezone.utc)
    expired = pki.make_root("Old Root CA", key_type="ecdsa", not_before=now - datetime.timedelta(days=30),
                            not_after=now - datetime.timedelta(days=1))
    leaf = pki.make_leaf("da.contoso.com", root, key_type="ecdsa")
    host = FakeManagementHost()
    with pytest.raises(AnsibleActionFail, match="expired on .*set allow_unvetted to deploy it anyway"):
        run(host, certificates=[expired.pem])
    with pytest.raises(AnsibleActionFail, match="is not a CA certificate"):
        run(host, certificates=[leaf.pem])
    assert host.commands == []
    result = run(host, certificates=[expired.pem], allow_unvetted=True)
    assert result["written"][0]["thumbprint"] == expired.thumbprint
    with pytest.raises(AnsibleActionFail, match="is not a CA certificate"):
        run(host, certificates=[leaf.pem], allow_unvetted=True)


def test_name_and_guid_together_are_refused():
    with pytest.raises(AnsibleActionFail, match="gpo_name and gpo_guid: give one of them, not both"):
        run(FakeManagementHost(), gpo_name="x", gpo_guid=GUID)


@pytest.mark.parametrize("error, message", [
    ({"kind": "no_grouppolicy_module", "message": "the GroupPolicy module is not installed on this host"},
     "^gpo_certificates: the GroupPolicy module is not installed"),
    ({"kind": "gpo_not_found", "message": "A GPO with the name 'x' was not found"},
     "^gpo_certificates: the GPO was not found: A GPO with the name 'x' was not found"),
])
def test_host_errors_fail_with_the_hosts_message(error, message):
    with pytest.raises(AnsibleActionFail, match=message):
        run(FakeManagementHost(error=error))


def test_a_failed_write_names_what_was_written_before_it(corp):
    root, issuing = corp
    host = FakeManagementHost(fail_on=issuing.thumbprint)
    with pytest.raises(AnsibleActionFail) as caught:
        run(host, certificates=[root.pem, issuing.pem])
    assert str(caught.value) == (f"gpo_certificates: writing CA\\{issuing.thumbprint} failed: Access is denied.; "
                                 f"written before it: Root\\{root.thumbprint}; removed: none")


def test_a_connection_refused_before_any_write_is_unreachable(corp):
    root, _issuing = corp
    host = FakeManagementHost()
    host.drop_on_call = 1
    result = run(host, certificates=[root.pem])
    assert result["unreachable"] is True and result["changed"] is False
    assert result["msg"].startswith("gpo_certificates: connection reset")


def test_a_connection_dropped_while_writing_fails_and_says_to_look_again(corp):
    root, _issuing = corp
    host = FakeManagementHost()
    host.drop_on_call = 2
    with pytest.raises(AnsibleActionFail, match="dropped while writing the GPO .* run the task again"):
        run(host, certificates=[root.pem])


def test_access_denied_names_the_gpo_rights():
    class Denied(FakeManagementHost):
        def exec_command(self, cmd, in_data=None, sudoable=True):
            return 1, b"", b"Get-GPO : Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"
    with pytest.raises(AnsibleActionFail, match="the WinRM account needs the right to read the GPO"):
        run(Denied())


def test_a_host_answer_without_a_gpo_is_refused():
    class NoGpo(FakeManagementHost):
        def exec_command(self, cmd, in_data=None, sudoable=True):
            return 0, json.dumps({"script": "gpo_certificates", "version": 1, "error": None, "gpo": None}).encode(), b""
    with pytest.raises(AnsibleActionFail, match="the host named no GPO"):
        run(NoGpo())


def test_warnings_name_unreadable_values_and_a_certificate_in_the_wrong_store(corp):
    root, _issuing = corp
    host = FakeManagementHost(values={("CA", root.thumbprint): build_blob(root.der), ("Root", "AB" * 20): b"junk"})
    result = run(host, certificates=[root.pem], check_mode=True)
    assert [(w["store"], w["thumbprint"]) for w in result["written"]] == [("Root", root.thumbprint)]
    assert result["gpo_warnings"] == [
        f"GPO 'DirectAccess Client Settings' holds a certificate value clients cannot use: {result['unreadable'][0]['reason']}",
        f"GPO 'DirectAccess Client Settings' carries {root.subject} in CA; it belongs in Root "
        "(a root in Root, an intermediate in CA)",
    ]
    assert result["unreadable"][0]["reason"].startswith(f"Root\\{'AB' * 20}: ")


def test_a_removal_the_gpo_did_not_take_fails(corp):
    root, _issuing = corp
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der)})
    host.ignore_removals = True
    with pytest.raises(AnsibleActionFail, match=f"the GPO still carries Root\\\\{root.thumbprint} after removing it"):
        run(host, certificates=[root.pem], state="absent")


def test_a_write_the_gpo_did_not_keep_fails(corp):
    root, _issuing = corp
    host = FakeManagementHost()
    host.ignore_writes = True
    with pytest.raises(AnsibleActionFail, match=f"the GPO does not carry Root\\\\{root.thumbprint} after writing it"):
        run(host, certificates=[root.pem])


# --- publish_enterprise: Active Directory's enterprise stores (certutil -dspublish) ---

def test_publish_enterprise_publishes_roots_as_rootca_and_intermediates_as_subca(corp):
    root, issuing = corp
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der),
                                      ("CA", issuing.thumbprint): build_blob(issuing.der)})
    result = run(host, certificates=[root.pem, issuing.pem], publish_enterprise=True)

    # The GPO already carries both: the second command only publishes.
    assert len(host.commands) == 2
    assert host.commands[0]["enterprise"] is True and host.commands[0]["publish"] == []
    assert host.commands[1]["write"] == [] and host.commands[1]["gpo_guid"] == GUID
    assert [(p["container"], p["thumbprint"]) for p in host.commands[1]["publish"]] == [
        ("RootCA", root.thumbprint), ("SubCA", issuing.thumbprint)]
    assert host.directory == {"RootCA": {root.thumbprint: root.der}, "SubCA": {issuing.thumbprint: issuing.der}}
    assert result["changed"] is True
    enterprise = result["enterprise"]
    assert enterprise["configuration_nc"] == "CN=Configuration,DC=corp,DC=example"
    assert enterprise["held_before"] == {"RootCA": [], "SubCA": []}
    assert enterprise["held"] == {"RootCA": [{"thumbprint": root.thumbprint, "subject": root.subject}],
                                  "SubCA": [{"thumbprint": issuing.thumbprint, "subject": issuing.subject}]}
    assert enterprise["published"] == [
        {"container": "RootCA", "thumbprint": root.thumbprint, "subject": root.subject},
        {"container": "SubCA", "thumbprint": issuing.thumbprint, "subject": issuing.subject}]
    assert result["diff"]["before"]["enterprise"] == {"RootCA": [], "SubCA": []}
    assert result["diff"]["after"]["enterprise"] == {"RootCA": [root.thumbprint], "SubCA": [issuing.thumbprint]}


def test_publish_enterprise_in_check_mode_plans_and_publishes_nothing(corp):
    root, issuing = corp
    host = FakeManagementHost()
    host.directory["RootCA"][root.thumbprint] = root.der
    result = run(host, check_mode=True, certificates=[root.pem, issuing.pem], publish_enterprise=True)
    assert len(host.commands) == 1 and host.commands[0]["publish"] == []
    assert host.directory == {"RootCA": {root.thumbprint: root.der}, "SubCA": {}}
    assert result["changed"] is True
    assert [(p["container"], p["thumbprint"]) for p in result["enterprise"]["published"]] == [("SubCA", issuing.thumbprint)]
    assert result["enterprise"]["already_published"] == [
        {"container": "RootCA", "thumbprint": root.thumbprint, "subject": root.subject}]
    assert result["enterprise"]["held"] == result["enterprise"]["held_before"]


def test_publish_enterprise_second_run_changes_nothing(corp):
    root, issuing = corp
    host = FakeManagementHost()
    run(host, certificates=[root.pem, issuing.pem], publish_enterprise=True)
    host.commands.clear()
    result = run(host, certificates=[root.pem, issuing.pem], publish_enterprise=True)
    assert result["changed"] is False and len(host.commands) == 1
    assert result["enterprise"]["published"] == []
    assert len(result["enterprise"]["already_published"]) == 2


def test_without_publish_enterprise_active_directory_is_neither_read_nor_written(corp):
    root, issuing = corp
    host = FakeManagementHost()
    result = run(host, certificates=[root.pem, issuing.pem])
    assert all(c["enterprise"] is False and c["publish"] == [] for c in host.commands)
    assert host.directory == {"RootCA": {}, "SubCA": {}}
    assert result["enterprise"] is None and "enterprise" not in result["diff"]["before"]


def test_absent_never_unpublishes_and_warns_naming_the_manual_removal(corp):
    root, issuing = corp
    host = FakeManagementHost(values={("Root", root.thumbprint): build_blob(root.der)})
    host.directory["RootCA"][root.thumbprint] = root.der
    result = run(host, certificates=[root.pem, issuing.pem], state="absent", publish_enterprise=True)
    assert host.directory["RootCA"] == {root.thumbprint: root.der}
    assert all(c["publish"] == [] for c in host.commands)
    assert result["enterprise"]["stays_published"] == [
        {"container": "RootCA", "thumbprint": root.thumbprint, "subject": root.subject}]
    [warning] = [w for w in result["gpo_warnings"] if "stays published" in w]
    assert "CN=Certification Authorities" in warning and "pkiview.msc" in warning


def test_a_failed_publish_names_the_certificate_and_what_was_published_before_it(corp):
    root, issuing = corp
    host = FakeManagementHost()
    host.publish_fail_on = issuing.thumbprint
    with pytest.raises(AnsibleActionFail, match=rf"publishing SubCA\\{issuing.thumbprint} into Active Directory failed: "
                                                rf"certutil -dspublish exited with 5: Access is denied.; the GPO was written; "
                                                rf"published before it: RootCA\\{root.thumbprint}"):
        run(host, certificates=[root.pem, issuing.pem], publish_enterprise=True)


def test_a_publish_active_directory_does_not_show_fails(corp):
    root, issuing = corp
    host = FakeManagementHost()
    host.ignore_publish = True
    with pytest.raises(AnsibleActionFail, match=rf"Active Directory does not hold RootCA\\{root.thumbprint}, "
                                                rf"SubCA\\{issuing.thumbprint} after certutil -dspublish"):
        run(host, certificates=[root.pem, issuing.pem], publish_enterprise=True)


def test_publish_enterprise_without_certificates_is_refused():
    host = FakeManagementHost()
    with pytest.raises(AnsibleActionFail, match="publish_enterprise: give certificates to publish"):
        run(host, publish_enterprise=True)
    assert host.commands == []


def test_an_answer_without_the_enterprise_stores_is_refused(corp):
    root, _issuing = corp
    host = FakeManagementHost()
    original = host.exec_command

    def forgetful(cmd, in_data=None, sudoable=True):
        rc, out, err = original(cmd, in_data, sudoable)
        doc = json.loads(out)
        doc["enterprise"] = None
        return rc, json.dumps(doc).encode(), err

    host.exec_command = forgetful
    with pytest.raises(AnsibleActionFail, match="enterprise: expected an object from the host, got NoneType"):
        run(host, certificates=[root.pem], publish_enterprise=True)


@pytest.mark.parametrize("field, value, message", [
    ("published", 5, "published must be a list"),
    ("publish_failed", "no", "publish_failed must be an object or null"),
])
def test_publish_fields_of_the_wrong_shape_are_refused_naming_them(corp, field, value, message):
    root, _issuing = corp
    host = FakeManagementHost()
    original = host.exec_command

    def damaged(cmd, in_data=None, sudoable=True):
        rc, out, err = original(cmd, in_data, sudoable)
        doc = json.loads(out)
        doc[field] = value
        return rc, json.dumps(doc).encode(), err

    host.exec_command = damaged
    with pytest.raises(AnsibleActionFail, match=f"the host's answer is unusable: {message}"):
        run(host, certificates=[root.pem], publish_enterprise=True)
