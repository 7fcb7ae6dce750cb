# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clients that explicitly distrust a CA of the chain (LocalMachine\\Disallowed): named, and left alone."""
from __future__ import annotations

import json
from pathlib import Path

LAB_FLEET = Path(__file__).resolve().parents[1] / "lab" / "scenarios" / "distrust.yml"


def test_remediate_names_the_distrusted_ca_and_leaves_those_hosts_alone(lab, tmp_path):
    pki = lab.pki
    before = {h: (lab.state(h)["root_store"], lab.state(h)["ca_store"]) for h in lab.hosts()}
    run = lab.playbook("directaccess.iphttps.remediate", extra_vars={
        "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
        "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()],
        "iphttps_report_dir": str(tmp_path), "iphttps_reconnect_timeout": 20})
    records = {r["host"]: r for r in json.loads((tmp_path / "report.json").read_text())["records"]}

    for template in ("distrusted_intermediate", "distrusted_root"):
        [host] = lab.hosts_in(template)
        record = records[host]
        assert record["status"] == "unfixable", record
        assert record["verdict"] == "explicitly_distrusted"
        assert record["error_before"]["hex"].upper() == "0X800B0111"
        assert record["imported"] == [] and record["attempted"] == []
        # The record names the distrusted certificate by its thumbprint.
        [thumb] = lab.state(host)["disallowed_store"]
        assert thumb in record["reason"], record["reason"]
        assert "Disallowed" in record["reason"] and "Disallowed" in record["remedy"]
        # Nothing was imported and iphlpsvc was not restarted.
        assert (lab.state(host)["root_store"], lab.state(host)["ca_store"]) == before[host]
        assert lab.state(host)["iphlpsvc"]["restarts"] == 0
    [healthy] = lab.hosts_in("healthy")
    assert records[healthy]["status"] == "healthy"
    assert "explicitly_distrusted" in run.stdout or "unfixable" in run.stdout
