# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpo_sync against the lab's GPO management host (tests/lab/gpo.py): --check gives the plan, present writes
what the GPO lacks (and a second run nothing), absent takes it out again, and a GPO linked nowhere is written
but reported as reaching no client. Tests run in file order on one lab."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from tests.e2e.conftest import CLIENT_GPO, GPO_LAB_OPTIONS, UNLINKED_GPO, lab_ca

LAB_FLEET = Path(__file__).resolve().parent / "fleet_gpo.yml"
LAB_UP_OPTIONS = GPO_LAB_OPTIONS
CERT_KEY = "HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\{}\\Certificates\\{}"


@pytest.fixture(scope="module")
def bundle(lab):
    """The lab's root and issuing CA: DER and thumbprint, and the playbook's CA variables."""
    return lab_ca(lab)


def gpo_registry(lab, guid):
    domain = json.loads((lab.directory / "state" / "domain.json").read_text())
    return next(g for g in domain["gpos"] if g["guid"] == guid)["registry"]


def sync(lab, variables, tmp_path, **options):
    report_file = tmp_path / f"gpo-{len(list(tmp_path.iterdir()))}.json"
    extra = dict(variables, iphttps_gpo_report_file=str(report_file), **options.pop("extra_vars", {}))
    run = lab.playbook("directaccess.iphttps.gpo_sync", "-i", str(lab.directory / "gpo_inventory.yml"),
                       extra_vars=extra, **options)
    assert run.rc == 0, run.stdout
    return json.loads(report_file.read_text()), run


def test_check_gives_the_plan_and_writes_nothing(lab, bundle, tmp_path):
    certs, variables = bundle
    report, run = sync(lab, variables, tmp_path, check=True, diff=True)
    assert report["checked"] is True and report["changed"] is True
    assert [(w["store"], w["thumbprint"]) for w in report["written"]] == [("Root", certs["root"][1]),
                                                                          ("CA", certs["issuing"][1])]
    assert report["gpo"]["guid"] == CLIENT_GPO and report["gpo"]["found_by"] == "Get-DAClient"
    assert report["carries"] == []
    assert gpo_registry(lab, CLIENT_GPO) == {}
    assert "would write" in run.stdout


def test_present_writes_store_elements_and_reports_the_reach(lab, bundle, tmp_path):
    certs, variables = bundle
    report, _run = sync(lab, variables, tmp_path)
    assert report["changed"] is True
    registry = gpo_registry(lab, CLIENT_GPO)
    for store, name in (("Root", "root"), ("CA", "issuing")):
        der, thumb = certs[name]
        value = registry[CERT_KEY.format(store, thumb)]["Blob"]
        assert value["type"] == "Binary"
        # The documented layout: property 3 (SHA-1), then property 32 (the DER), each header 3 little-endian DWORDs.
        expected = struct.pack("<III", 3, 1, 20) + bytes.fromhex(thumb) + struct.pack("<III", 32, 1, len(der)) + der
        assert base64.b64decode(value["base64"]) == expected
    assert sorted(c["thumbprint"] for c in report["carries"]) == sorted([certs["root"][1], certs["issuing"][1]])
    assert report["reach"] == {"linked": True, "computer_settings_enabled": True,
                               "client_groups": [{"name": "LAB\\DirectAccess Clients", "applies": True}]}
    assert report["warnings"] == []


def test_a_second_run_changes_nothing(lab, bundle, tmp_path):
    _certs, variables = bundle
    before = gpo_registry(lab, CLIENT_GPO)
    report, _run = sync(lab, variables, tmp_path)
    assert report["changed"] is False and report["written"] == []
    assert len(report["already_present"]) == 2
    assert gpo_registry(lab, CLIENT_GPO) == before


def test_absent_takes_the_certificates_out(lab, bundle, tmp_path):
    certs, variables = bundle
    report, _run = sync(lab, variables, tmp_path, extra_vars={"iphttps_gpo_state": "absent"})
    assert report["changed"] is True
    assert sorted(r["thumbprint"] for r in report["removed"]) == sorted([certs["root"][1], certs["issuing"][1]])
    assert report["carries"] == [] and gpo_registry(lab, CLIENT_GPO) == {}


def test_a_gpo_linked_nowhere_is_written_but_reaches_no_client(lab, bundle, tmp_path):
    certs, variables = bundle
    report, run = sync(lab, variables, tmp_path, extra_vars={"iphttps_gpo_name": "PKI Trust (unlinked)",
                                                             "iphttps_client_groups": ["LAB\\DirectAccess Clients"]})
    assert report["gpo"]["guid"] == UNLINKED_GPO and report["gpo"]["found_by"] == "name"
    assert len(gpo_registry(lab, UNLINKED_GPO)) == 2
    # Authenticated Users holds GpoApply, so the group would get it, but no link brings it to any OU.
    assert report["reach"]["linked"] is False and report["links"] == []
    assert any("is not linked anywhere" in warning for warning in report["warnings"])
    assert "not linked anywhere" in run.stdout
    assert gpo_registry(lab, CLIENT_GPO) == {}


def test_an_unknown_gpo_fails_naming_it(lab, bundle):
    _certs, variables = bundle
    run = lab.playbook("directaccess.iphttps.gpo_sync", "-i", str(lab.directory / "gpo_inventory.yml"),
                       extra_vars=dict(variables, iphttps_gpo_name="No Such GPO"))
    assert run.rc != 0
    assert "the GPO was not found: A GPO with the display name 'No Such GPO' was not found" in run.stdout
