#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_run
short_description: Check a fleet run's inputs and open its journal, before any host is touched
version_added: 0.1.0
description:
  - The first task of the P(directaccess.iphttps.remediate#role) role (C(tasks_from=open)), which the collection's
    playbooks run once, in a play of their own on C(localhost). It runs on the controller and never opens a
    connection to a host, so a bad input fails the job before any client is contacted.
  - "It fails, naming the variable and the reason, when: O(hosts_pattern) matches no host; O(report_dir) is empty,
    not a folder or not writable; O(title) is empty, longer than 200 characters or holds a control character;
    O(run_id) is not letters, digits, C(.), C(_) and C(-); a C(path) in O(ca_sources) does not exist or cannot be
    read; O(mode=remediate) has no O(ca_sources); O(mode=preflight) has no readable O(candidate_chain_file) with
    a PEM certificate in it; O(mode=rollback) does not name exactly one of O(rollback_run) and
    O(rollback_report), names something that does not exist, has a record file that cannot be read, or records no
    import on any host."
  - Every relative path (O(report_dir), the C(path) entries of O(ca_sources), O(candidate_chain_file),
    O(rollback_run), O(rollback_report)) starts at the working directory of C(ansible-playbook); in AWX that is the
    project directory.
  - Then it opens the run's journal, C(<report_dir>/runs/<run_id>/), and writes C(.run.json) there (mode, check
    mode, start time, AWX job id and user, number of hosts, title, rollback source). Each host's
    M(directaccess.iphttps.remediate_host) task writes its record into that folder.
  - Without O(run_id) the run is named C(awx-<job id>) when AWX's C(awx_job_id) (or C(tower_job_id)) is set, else
    C(run-<UTC time>-<random>), so two runs started in the same second never share a folder.
  - For a rollback it works out, per host, what to remove. By run (O(rollback_run), a C(runs/<run_id>) folder or a
    run id under O(report_dir)), that is every certificate the run's records say it imported, or attempted to
    import when a reply was lost or the run was interrupted. By report (O(rollback_report), a C(report.json)), it
    is what the report folder's runs deployed and no later rollback took back. Plans made in check mode and
    diagnose or preflight records never count.
options:
  mode:
    description: The kind of run, from the playbook; V(remediate) in check mode is recorded as C(check).
    type: str
    required: true
    choices: [diagnose, remediate, preflight, rollback]
  report_dir:
    description:
      - Folder on the controller for the journal and the fleet report; created if missing.
    type: str
    required: true
  run_id:
    description:
      - The run's identifier and folder name. Letters, digits, C(.), C(_) and C(-).
      - Empty picks one (see above).
    type: str
    default: ""
  title:
    description: Title of the HTML report; 1 to 200 printable characters.
    type: str
    default: DirectAccess IP-HTTPS trust report
  hosts:
    description:
      - The inventory hosts the fleet play will target, usually
        C(query('ansible.builtin.inventory_hostnames', iphttps_hosts)). Counted into C(.run.json).
    type: list
    elements: str
    default: []
  hosts_pattern:
    description:
      - The host pattern the fleet play uses. When it is given and O(hosts) is empty, the pattern matches nothing
        and the run fails.
    type: str
    default: ""
  ca_sources:
    description:
      - The O(directaccess.iphttps.ca_bundle#module:sources) the run will use. Only checked here (each C(path)
        must be a readable file); M(directaccess.iphttps.ca_bundle) fetches and vets them.
    type: list
    elements: raw
    default: []
  candidate_chain_file:
    description: O(mode=preflight) only. A PEM file with the candidate IP-HTTPS server chain, leaf first; at most 1 MiB.
    type: str
    default: ""
  rollback_run:
    description:
      - O(mode=rollback) only. The run to take back, as its folder (C(iphttps-report/runs/<run_id>)) or its id under
        O(report_dir).
    type: str
    default: ""
  rollback_report:
    description:
      - O(mode=rollback) only. A fleet report's C(report.json); takes back what the runs of its folder deployed and
        no rollback has taken back since. Without a C(runs/) folder beside it (a report copied away), each host's
        C(deployed_on_host) in the report is used.
    type: str
    default: ""
  gpo_report_file:
    description:
      - The JSON report of the gpo_sync playbook (its C(iphttps_gpo_report_file)). Its C(carries) list says which
        CA certificates the DirectAccess client GPO carries, so each host's record can say whether its fix stays
        (see C(docs/gpo.md)). Checked here, before any host is touched; empty for none.
    type: str
    default: ""
attributes:
  check_mode:
    description:
      - Runs the same in check mode and opens the run with C(check_mode=true), so that its records are kept apart
        as plans. Changes nothing on any host; the task never reports C(changed).
    support: full
  diff_mode:
    description: No diff.
    support: none
  platform:
    description: Runs on the controller.
    platforms: all
    support: full
notes:
  - The failure message ends with "No host was touched."
seealso:
  - module: directaccess.iphttps.remediate_host
  - module: directaccess.iphttps.ca_bundle
  - module: directaccess.iphttps.fleet_report
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
# In a play on localhost, before the fleet play (the collection's playbooks do this through the role).
- name: Check the run's inputs and open its journal
  directaccess.iphttps.fleet_run:
    mode: remediate
    report_dir: iphttps-report
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'directaccess_clients') }}"
    hosts_pattern: directaccess_clients
    ca_sources:
      - path: cas/corp-root-2026.pem
  register: opened

- name: Open a rollback of one earlier run, named by its id
  directaccess.iphttps.fleet_run:
    mode: rollback
    report_dir: iphttps-report
    rollback_run: run-20261202T054838Z-3fa9c1
  register: opened
"""

RETURN = r"""
run_id:
  description: The run's identifier, given or picked.
  returned: success
  type: str
  sample: run-20261202T054838Z-3fa9c1
run_dir:
  description: Absolute path of the run's journal folder, C(<report_dir>/runs/<run_id>).
  returned: success
  type: str
report_dir:
  description: Absolute path of the report folder.
  returned: success
  type: str
mode:
  description: The mode the run's records carry; V(check) for remediate in check mode, else O(mode).
  returned: success
  type: str
  sample: remediate
check_mode:
  description: Whether the run is a dry run.
  returned: success
  type: bool
started_at:
  description: When the run was opened, ISO 8601 UTC.
  returned: success
  type: str
  sample: "2026-12-02T05:48:38Z"
title:
  description: The report title, trimmed.
  returned: success
  type: str
candidate_chain:
  description: For O(mode=preflight), the PEM text of O(candidate_chain_file); else empty.
  returned: success
  type: str
rollback:
  description:
    - For O(mode=rollback), per inventory host, the certificates to remove, each with C(store), C(thumbprint) and
      C(subject), and C(run_id), the run that put it there (not for a report copied away from its runs). Hosts
      not listed get nothing removed.
      Empty for other modes.
  returned: success
  type: dict
  sample: {"laptop-0042.corp.example.com": [{"store": "Root", "thumbprint": "0563B8630D62D75ABBC8AB1E4BDFB5A899B24D43",
                                             "subject": "CN=Corp Root CA 2026"}]}
rollback_source:
  description: For O(mode=rollback), the absolute path of the run folder or C(report.json) read; else null.
  returned: success
  type: str
gpo_carries:
  description:
    - The thumbprints the DirectAccess client GPO carries, read from O(gpo_report_file); null when no file was named.
  returned: success
  type: list
  elements: str
"""
