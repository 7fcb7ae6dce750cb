# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clients whose revocation check fails (lab CRL/OCSP servers): the URL is named, and the host is left alone.

Each lab client's error comes from a real fetch and check of a real CRL (tests/lab/revocation.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

LAB_FLEET = Path(__file__).resolve().parents[1] / "lab" / "scenarios" / "revocation.yml"
OFFLINE = 0x80092013
REVOKED = 0x80092010
# template -> (verdict, error code, what the reason must say: the URL, or what the CRL there says)
EXPECTED = {
    "cdp_offline": ("revocation_offline", OFFLINE, "could not reach http://crl-offline.lab.example/"),
    "crl_expired": ("revocation_offline", OFFLINE, "/crl/stale/issuing-crl.crl expired on"),
    "cdp_inside_only": ("revocation_offline", OFFLINE, "could not reach http://pki.corp.lab.example/"),
    "revoked_server_cert": ("revoked", REVOKED, "as revoked on"),
}


def cas(lab) -> dict:
    pki = lab.pki
    return {"iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
            "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()]}


def records(folder: Path) -> dict:
    return {r["host"]: r for r in json.loads((folder / "report.json").read_text())["records"]}


@pytest.fixture(scope="module")
def before(lab):
    return {h: (lab.state(h)["root_store"], lab.state(h)["ca_store"], lab.state(h)["iphlpsvc"]["restarts"])
            for h in lab.hosts()}


def test_diagnose_names_the_url_each_client_cannot_use(lab, before, tmp_path):
    lab.playbook("directaccess.iphttps.diagnose", extra_vars=dict(cas(lab), iphttps_report_dir=str(tmp_path)))
    found = records(tmp_path)
    for template, (verdict, code, url_part) in EXPECTED.items():
        [host] = lab.hosts_in(template)
        record = found[host]
        assert record["verdict"] == verdict, record
        assert record["error_before"]["code"] == code
        assert record["status"] == "unfixable"
        # The reason names the URL the client could not use, or what the CRL fetched from it says.
        assert url_part in record["reason"], record["reason"]
        assert "CN=da.lab.example" in record["reason"]  # the certificate that carries the CDP
    [good] = lab.hosts_in("revocation_ok")
    assert found[good]["status"] == "healthy" and found[good]["verdict"] == "trusted"


def test_remediate_leaves_revocation_hosts_alone_with_the_remedy(lab, before, tmp_path):
    extra = dict(cas(lab), iphttps_report_dir=str(tmp_path), iphttps_reconnect_timeout=15)
    lab.playbook("directaccess.iphttps.remediate", extra_vars=extra)
    found = records(tmp_path)
    for template in EXPECTED:
        [host] = lab.hosts_in(template)
        record = found[host]
        assert record["status"] == "unfixable" and record["imported"] == [] and record["attempted"] == []
        assert "No import and no iphlpsvc restart fixes this" in record["remedy"], record["remedy"]
        # No import, and iphlpsvc was not restarted.
        state = lab.state(host)
        assert (state["root_store"], state["ca_store"], state["iphlpsvc"]["restarts"]) == before[host]
