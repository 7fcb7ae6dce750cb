# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clients that reach IP-HTTPS other than directly over IPv4 to one entry point, end to end.

A multisite client with no entry point chosen, a client whose only way out is the WinHTTP proxy, and a
server name with an IPv6 address only. client_info v5 judged the first entry point only, went direct and
connected over IPv4 only, so it called the first host healthy and the other two no_chain.
"""
from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

LAB_FLEET = Path(__file__).resolve().parents[1] / "lab" / "scenarios" / "network_paths.yml"


def test_client_info_reports_how_it_reached_each_entry_point(lab, tmp_path):
    """Runs first: the next test fixes these hosts."""
    playbook = tmp_path / "info.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - directaccess.iphttps.client_info:\n      register: info\n"
        "    - ansible.builtin.copy:\n        content: '{{ info | to_json }}'\n"
        "        dest: '{{ out_dir }}/{{ inventory_hostname }}.json'\n        mode: '0600'\n"
        "      delegate_to: localhost\n")
    info = lab.playbook(str(playbook)).results
    [multisite] = lab.hosts_in("multisite_leaf_only")
    [proxied] = lab.hosts_in("behind_proxy")
    [ipv6] = lab.hosts_in("ipv6_only_server")
    assert info[proxied]["server_connection"]["via"] == "proxy"
    assert info[proxied]["winhttp_proxy"]["proxy"] == info[proxied]["server_connection"]["proxy"]
    assert info[ipv6]["server_connection"] == {"via": "direct", "proxy": None, "address": "::1"}
    checks = info[multisite]["entry_point_checks"]
    assert len(checks) == 2 and len(info[multisite]["iphttps"]["entry_points"]) == 2
    assert [c["trusted"] for c in checks] == [True, False]
    assert checks[1]["verdict"] == "untrusted_root"  # no bundle: the issuing CA is nowhere to be found


def test_each_entry_point_the_proxy_and_ipv6_are_diagnosed_and_fixed(lab, tmp_path):
    pki = lab.pki
    out = tmp_path / "diagnose"
    lab.playbook("directaccess.iphttps.diagnose", extra_vars={"iphttps_report_dir": str(out)})
    seen = {r["host"]: r for r in json.loads((out / "report.json").read_text())["records"]}
    [multisite] = lab.hosts_in("multisite_leaf_only")
    [proxied] = lab.hosts_in("behind_proxy")
    [ipv6] = lab.hosts_in("ipv6_only_server")
    # The first entry point is trusted and IP-HTTPS is up there, yet the second lacks the issuing CA.
    assert seen[multisite]["error_before"]["code"] == 0
    # Without a bundle the issuing CA is nowhere to be found, so the chain ends short of any root.
    assert seen[multisite]["verdict"] == "untrusted_root", seen[multisite]
    assert "Entry point https://" in seen[multisite]["reason"], seen[multisite]["reason"]
    # Through the proxy and over IPv6 the chain arrives, so the real verdict shows, not no_chain.
    assert seen[proxied]["verdict"] == "untrusted_root", seen[proxied]
    assert seen[ipv6]["verdict"] == "untrusted_root", seen[ipv6]

    report = tmp_path / "remediate"
    lab.playbook("directaccess.iphttps.remediate", extra_vars={
        "iphttps_ca_sources": [{"path": str(pki / "root.pem")}, {"path": str(pki / "issuing.pem")}],
        "iphttps_ca_pins": [(pki / "root.sha256").read_text().strip()],
        "iphttps_report_dir": str(report), "iphttps_reconnect_timeout": 20})
    records = {r["host"]: r for r in json.loads((report / "report.json").read_text())["records"]}
    issuing = x509.load_pem_x509_certificate((pki / "issuing.pem").read_bytes())
    for host in (multisite, proxied, ipv6):
        assert records[host]["status"] == "fixed", records[host]
        assert records[host]["error_after"]["code"] == 0
    assert [i["store"] for i in records[multisite]["imported"]] == ["CA"]
    assert [i["thumbprint"] for i in records[multisite]["imported"]] == [issuing.fingerprint(hashes.SHA1()).hex().upper()]
    assert [i["store"] for i in records[proxied]["imported"]] == ["Root"]
    assert [i["store"] for i in records[ipv6]["imported"]] == ["Root"]
    # The proxied client's direct route refuses: only the tunnel could have carried the capture and the fix.
    assert lab.state(proxied)["winhttp_proxy"]
