# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's management host: gpo_certificates.ps1's contract against the persisted GPO store (gpo.py),
driven through the collection's own run_script, so the command and stdin are what the collection sends."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from .gpo import (
    DomainError,
    DomainStore,
    ManagementHandler,
    certificates_reaching,
    enterprise_certificates,
    gpo_certificates,
    load_domain,
    refresh_group_policy,
)
from .wsman import CommandRequest, decode_command_line

DOMAIN_FILE = Path(__file__).resolve().parent / "domains" / "directaccess.yml"
CLIENT_GPO = "4f6a1c2e-3b7d-4e2a-9c1f-8d5e6b7a0c31"
UNLINKED_GPO = "9b2d7e4f-1a3c-4d5e-8f60-7a1b2c3d4e5f"
ROOT_KEY = "HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\Root\\Certificates\\"


class Connection:
    def __init__(self, handler):
        self.handler = handler
        self.results = []

    def exec_command(self, cmd, in_data=None, sudoable=True):
        result = self.handler(CommandRequest("gpo-mgmt-01", cmd, decode_command_line(cmd), in_data or b""))
        self.results.append(result)
        return result.rc, result.stdout, result.stderr


@pytest.fixture
def store(tmp_path):
    return DomainStore(tmp_path / "state", load_domain(DOMAIN_FILE))


@pytest.fixture
def run(collection, store):
    connection = Connection(ManagementHandler(store))

    def call(**params):
        base = {"gpo_name": None, "gpo_guid": None, "domain": None, "server": None, "remote_access_server": None,
                "write": [], "remove": []}
        return collection["_windows_scripts"].run_script(connection, "gpo_certificates", dict(base, **params))
    call.connection = connection
    return call


def blob(thumbprint: str) -> str:
    return base64.b64encode(b"element of " + thumbprint.encode()).decode()


def test_finds_the_client_gpo_through_get_daclient(run):
    doc = run()
    assert doc["gpo"]["guid"] == CLIENT_GPO and doc["gpo"]["found_by"] == "Get-DAClient"
    assert doc["da_client"] == {"gpo_names": ["lab.example\\DirectAccess Client Settings"],
                                "security_groups": ["LAB\\DirectAccess Clients"]}
    assert doc["links"] == [{"som_path": "lab.example/DirectAccess Clients", "som_name": "DirectAccess Clients",
                             "enabled": True, "enforced": False}]
    assert doc["apply_trustees"] == [{"name": "LAB\\DirectAccess Clients", "type": "Group", "denied": False}]
    assert doc["certificates"] == [] and doc["error"] is None
    assert run.connection.results[-1].stdout.endswith(b"\r\n")


def test_without_get_daclient_the_default_name_is_used(run, store):
    store.update(lambda domain: domain.update(da_client=None))
    doc = run()
    assert doc["gpo"]["found_by"] == "default_name" and doc["gpo"]["name"] == "DirectAccess Client Settings"
    assert doc["da_client_note"] == "no Get-DAClient cmdlet (RemoteAccess module) on this host"


def test_by_name_ignores_case_and_by_guid_takes_braces(run):
    assert run(gpo_name="pki trust (UNLINKED)")["gpo"]["guid"] == UNLINKED_GPO
    assert run(gpo_guid="{" + UNLINKED_GPO.upper() + "}")["gpo"]["found_by"] == "guid"


@pytest.mark.parametrize("params, message", [
    ({"gpo_name": "Nope"}, "A GPO with the display name 'Nope' was not found in the lab.example domain."),
    ({"gpo_guid": "00000000-0000-0000-0000-000000000001"}, "A GPO with ID {00000000-0000-0000-0000-000000000001} was not found"),
    ({"gpo_guid": "not-a-guid"}, 'Cannot convert value "not-a-guid" to type "System.Guid".'),
])
def test_an_unknown_gpo_is_gpo_not_found(run, params, message):
    doc = run(**params)
    assert doc["error"]["kind"] == "gpo_not_found" and doc["gpo"] is None
    assert doc["error"]["message"].startswith(message)


def test_writes_persist_and_read_back_by_subkey(run, store):
    thumbs = ["AA" * 20, "BB" * 20]
    doc = run(gpo_guid=CLIENT_GPO, write=[{"store": "Root", "thumbprint": thumbs[0], "blob_base64": blob(thumbs[0])},
                                          {"store": "CA", "thumbprint": thumbs[1], "blob_base64": blob(thumbs[1])}])
    assert doc["written"] == [{"store": "Root", "thumbprint": thumbs[0]}, {"store": "CA", "thumbprint": thumbs[1]}]
    assert doc["certificates"] == [{"store": "Root", "thumbprint": thumbs[0], "blob_base64": blob(thumbs[0])},
                                   {"store": "CA", "thumbprint": thumbs[1], "blob_base64": blob(thumbs[1])}]
    saved = json.loads(store.path.read_text())
    registry = next(g for g in saved["gpos"] if g["guid"] == CLIENT_GPO)["registry"]
    assert registry[ROOT_KEY + thumbs[0]]["Blob"] == {"type": "Binary", "base64": blob(thumbs[0])}
    # A new handler on the same store (the lab restarted) reads the same GPO.
    assert gpo_certificates(store.load(), {"gpo_guid": CLIENT_GPO})["certificates"] == doc["certificates"]
    assert run(gpo_guid=UNLINKED_GPO)["certificates"] == []


def test_remove_takes_the_key_and_a_missing_key_fails(run):
    thumb = "CC" * 20
    run(gpo_guid=CLIENT_GPO, write=[{"store": "Root", "thumbprint": thumb, "blob_base64": blob(thumb)}])
    removed = run(gpo_guid=CLIENT_GPO, remove=[{"store": "Root", "thumbprint": thumb.lower()}])
    assert removed["removed"] == [{"store": "Root", "thumbprint": thumb.lower()}] and removed["certificates"] == []
    again = run(gpo_guid=CLIENT_GPO, remove=[{"store": "Root", "thumbprint": thumb}])
    assert again["removed"] == []
    assert again["failed"]["message"] == f'The following Group Policy registry setting was not found: "{ROOT_KEY}{thumb}".'


def test_a_write_that_is_not_base64_fails_and_stops_the_rest(run):
    doc = run(gpo_guid=CLIENT_GPO, write=[{"store": "CA", "thumbprint": "DD" * 20, "blob_base64": "***"},
                                          {"store": "CA", "thumbprint": "EE" * 20, "blob_base64": blob("EE")}])
    assert doc["failed"]["thumbprint"] == "DD" * 20 and doc["written"] == [] and doc["certificates"] == []


def test_a_write_moves_the_modification_time(run):
    before = run(gpo_guid=CLIENT_GPO)["gpo"]["modified"]
    after = run(gpo_guid=CLIENT_GPO, write=[{"store": "Root", "thumbprint": "AB" * 20, "blob_base64": blob("AB")}])
    assert after["gpo"]["modified"] >= before


def test_without_the_grouppolicy_module(run, store):
    store.update(lambda domain: domain.update(grouppolicy_module=False))
    doc = run()
    assert doc["error"]["kind"] == "no_grouppolicy_module" and doc["gpo"] is None


def test_other_scripts_are_refused_with_a_message(collection, store):
    connection = Connection(ManagementHandler(store))
    with pytest.raises(collection["_windows_scripts"].ScriptError, match="the management host answers gpo_certificates v2 only"):
        collection["_windows_scripts"].run_script(connection, "iphttps_state", {})


def test_certificates_reach_only_clients_in_a_linked_ou_and_group(run, store):
    run(gpo_guid=CLIENT_GPO, write=[{"store": "Root", "thumbprint": "AA" * 20, "blob_base64": blob("AA")}])
    run(gpo_guid=UNLINKED_GPO, write=[{"store": "CA", "thumbprint": "BB" * 20, "blob_base64": blob("BB")}])
    domain = store.load()
    assert certificates_reaching(domain, "lab.example/DirectAccess Clients", ["LAB\\DirectAccess Clients"]) == {
        "Root": ["AA" * 20], "CA": []}
    assert certificates_reaching(domain, "lab.example/DirectAccess Clients", ["LAB\\Kiosks"]) == {"Root": [], "CA": []}
    assert certificates_reaching(domain, "lab.example/Servers", ["LAB\\DirectAccess Clients"]) == {"Root": [], "CA": []}


@pytest.mark.parametrize("text, message", [
    ("[]", "(top level): must be a mapping"),
    ("domain: x\nsurprise: 1\n", "unknown keys surprise"),
    ("gpos: []\n", "domain: must be"),
    ("domain: x\ngpos: [{name: a, guid: nope}]\n", "gpos[0].guid: not a GUID"),
    ("domain: x\ngpos: [{name: a, guid: 4f6a1c2e-3b7d-4e2a-9c1f-8d5e6b7a0c31, status: Off}]\n", "gpos[0].status"),
])
def test_bad_domain_files_name_the_field(tmp_path, text, message):
    path = tmp_path / "domain.yml"
    path.write_text(text)
    with pytest.raises(DomainError) as caught:
        load_domain(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_up_refuses_a_bad_domain_file_before_starting(tmp_path):
    from .runner import LabError, up

    bad = tmp_path / "domain.yml"
    bad.write_text("domain: lab.example\ngpos: [{name: x, guid: 12}]\n")
    scenario = Path(__file__).resolve().parent / "scenarios" / "locales.yml"
    with pytest.raises(LabError, match=r"domain\.yml: gpos\[0\]\.guid: not a GUID: 12"):
        up(tmp_path / "lab", scenario=scenario, domain=bad)
    assert not (tmp_path / "lab").exists()


def test_the_lab_answers_with_the_scripts_own_keys_in_its_order(run):
    """The script's $result block lists the document's keys; the lab's answer has exactly those, in that order."""
    import re

    source = (Path(__file__).resolve().parents[2] / "plugins" / "plugin_utils" / "scripts" / "gpo_certificates.ps1").read_text()
    block = source.split("$result = [ordered]@{", 1)[1].split("\n}", 1)[0]
    keys = re.findall(r"^\s*(\w+) = ", block, re.MULTILINE)
    assert keys[:2] == ["script", "version"] and len(keys) == 15
    assert list(run()) == keys


# --- Active Directory's enterprise stores: certutil -dspublish and the [adsi] read (gpo_certificates v2) ---

def der_base64(pki, name):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return base64.b64encode(x509.load_pem_x509_certificate(pki.pem(name).encode()).public_bytes(Encoding.DER)).decode()


def test_enterprise_is_read_only_when_asked(run, store):
    assert run()["enterprise"] is None
    doc = run(enterprise=True)
    assert doc["enterprise"] == {"configuration_nc": "CN=Configuration,DC=lab,DC=example", "RootCA": [], "SubCA": []}
    assert store.load()["enterprise"] == {"RootCA": {}, "SubCA": {}}


def test_publish_persists_once_per_thumbprint_and_reads_back(run, store, pki):
    items = [{"container": "RootCA", "thumbprint": pki.thumbprint("root"), "der_base64": der_base64(pki, "root")},
             {"container": "SubCA", "thumbprint": pki.thumbprint("issuing"), "der_base64": der_base64(pki, "issuing")}]
    doc = run(enterprise=True, publish=items)
    assert doc["published"] == [{"container": i["container"], "thumbprint": i["thumbprint"]} for i in items]
    assert doc["publish_failed"] is None
    assert doc["enterprise"]["RootCA"] == [{"thumbprint": pki.thumbprint("root"), "der_base64": der_base64(pki, "root")}]
    assert [e["thumbprint"] for e in doc["enterprise"]["SubCA"]] == [pki.thumbprint("issuing")]
    before = store.load()["enterprise"]
    run(publish=items)  # -f: publishing again changes nothing
    assert store.load()["enterprise"] == before
    assert enterprise_certificates(store.load()) == {"Root": [pki.pem("root")], "CA": [pki.pem("issuing")]}


def test_a_publish_that_fails_stops_the_rest_and_names_it(run, store, pki):
    good = {"container": "RootCA", "thumbprint": pki.thumbprint("root"), "der_base64": der_base64(pki, "root")}
    doc = run(enterprise=True, publish=[{"container": "NTAuthCA", "thumbprint": "AB", "der_base64": "AA=="}, good])
    assert doc["publish_failed"]["container"] == "NTAuthCA" and "must be RootCA or SubCA" in doc["publish_failed"]["message"]
    assert doc["published"] == [] and doc["enterprise"]["RootCA"] == []
    doc = run(publish=[{"container": "SubCA", "thumbprint": "AB", "der_base64": base64.b64encode(b"no").decode()}])
    assert "Cannot find the requested object" in doc["publish_failed"]["message"]
    store.update(lambda domain: domain.update(publish_denied=True))
    doc = run(enterprise=True, publish=[good])
    assert "Access is denied" in doc["publish_failed"]["message"] and doc["enterprise"]["RootCA"] == []


def test_a_failed_gpo_write_publishes_nothing(run, store, pki):
    good = {"container": "RootCA", "thumbprint": pki.thumbprint("root"), "der_base64": der_base64(pki, "root")}
    doc = run(write=[{"store": "Root", "thumbprint": "AA", "blob_base64": "not base64!"}], publish=[good])
    assert doc["failed"] is not None and doc["published"] == []
    assert store.load()["enterprise"]["RootCA"] == {}


def test_a_store_from_before_the_enterprise_section_still_publishes(run, store, pki):
    store.update(lambda domain: domain.pop("enterprise"))
    assert run(enterprise=True)["enterprise"]["RootCA"] == []
    good = {"container": "RootCA", "thumbprint": pki.thumbprint("root"), "der_base64": der_base64(pki, "root")}
    assert run(publish=[good])["published"] == [{"container": "RootCA", "thumbprint": pki.thumbprint("root")}]


def test_a_refresh_fills_the_enterprise_store_only_on_a_client_that_reaches_the_domain(make_handler, pki, tmp_path):
    working = make_handler("healthy", name="da-client-01").client
    broken = make_handler("untrusted_root", name="da-client-02").client
    domain = DomainStore(tmp_path / "state", load_domain(DOMAIN_FILE))
    domain.update(lambda d: d["enterprise"]["RootCA"].update({pki.thumbprint("root"): der_base64(pki, "root")}))
    assert refresh_group_policy(tmp_path / "state") == {"da-client-01": True, "da-client-02": None}
    assert working.load()["enterprise_store"] == {"Root": {pki.thumbprint("root"): pki.pem("root")}, "CA": {}}
    assert working.load()["group_policy_store"] == {"Root": {}, "CA": {}}
    assert broken.load()["enterprise_store"] == {"Root": {}, "CA": {}}
    assert refresh_group_policy(tmp_path / "state")["da-client-01"] is False
