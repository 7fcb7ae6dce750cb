#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write the DirectAccess fleet report (JSON, CSV, HTML) for the change record
version_added: 0.1.0
description:
  - Keeps one record per host of this run under C(<report_dir>/runs/<run_id>/), then rebuilds C(report.json),
    C(report.csv) and C(report.html) in O(report_dir) from every run in that folder and in O(merge_from).
  - For each host the newest record wins (by C(recorded_at), then C(run_id)), so the slices of an AWX sliced job,
    the batches of a C(serial) play, or the runs of successive change windows that write to one folder add up to
    one fleet report. No run needs to see the whole fleet.
  - Every host of O(expected_hosts) that has no record in O(records) gets a record with status V(unreachable).
  - Records are validated; a bad one fails the task with its index, host and field.
  - The HTML page is one self-contained file (inline CSS, SVG chart and script, no network access) that can be
    attached to a change record; it can be read with scripts disabled.
  - Runs on the controller and never opens a connection to the hosts, so it sits in the play that targets the
    Windows clients, with C(run_once=true).
options:
  records:
    description:
      - One record per host, as the P(directaccess.iphttps.iphttps_record#filter) filter builds them.
      - Required keys are C(host) and C(status); see C(docs/report.md) for every field and its default.
    type: list
    elements: raw
    default: []
  expected_hosts:
    description:
      - Every host this run should have a record for, usually the play's batch or C(ansible_play_hosts_all).
      - A host listed here without a record is reported V(unreachable). Within one run, a record a host produced
        always beats such a filled-in record, whichever was written first.
    type: list
    elements: str
    default: []
  report_dir:
    description:
      - Folder on the controller that holds the report; created if missing. A relative path is relative to the
        working directory of C(ansible-playbook).
      - In AWX, point it at storage that outlives the job (a mounted volume), or collect the files afterwards.
    type: path
    required: true
  run_id:
    description:
      - Identifies this run; names the folder C(runs/<run_id>). Letters, digits, C(.), C(_) and C(-), up to 128.
      - Defaults to C(run-<UTC time>-<random>).
      - A record that carries a different C(run_id) is refused.
    type: str
  mode:
    description: What the run was for; fills the C(mode) of records that have none and of filled-in records.
    type: str
    choices: [diagnose, remediate, check, rollback, preflight]
    default: diagnose
  merge_from:
    description:
      - Other fleet reports to merge in, each a report folder (its C(runs/), or its C(report.json) when it has no
        C(runs/)), one run's folder C(<report_dir>/runs/<run_id>), or a C(report.json) file.
      - They are read, never written.
    type: list
    elements: path
    default: []
  title:
    description: Title of the report.
    type: str
    default: DirectAccess IP-HTTPS fleet report
attributes:
  check_mode:
    description:
      - The report is written in check mode as well; for a dry run it is the plan. The task never reports
        C(changed), because nothing on the hosts changes.
      - A dry run's records enter the folder's aggregate like any other run; use a separate O(report_dir) to keep
        them out of a change record.
    support: full
  diff_mode:
    description: No diff.
    support: none
  platform:
    description: Runs on the controller.
    platforms: all
    support: full
notes:
  - Every file is written to a temporary name and renamed, so a reader never sees half a report.
  - Runs that share O(report_dir) take turns through a lock file (C(.fleet_report.lock)); on a file system
    without working locks, the next run's rebuild picks up anything a concurrent run missed.
  - Text cells of the CSV that a spreadsheet would run as a formula (starting with C(=), C(+), C(-), C(@)) are
    prefixed with a single quote.
  - Host names, reasons and remedies come from the hosts; the HTML page escapes them, and its Content Security
    Policy only lets its own style and script run.
seealso:
  - module: directaccess.iphttps.client_info
  - module: directaccess.iphttps.ca_import
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: Write the fleet report for this run
  directaccess.iphttps.fleet_report:
    records: "{{ ansible_play_batch | map('extract', hostvars, 'iphttps_record') | list }}"
    expected_hosts: "{{ ansible_play_hosts_all }}"
    report_dir: /srv/change-records/CHG0012345
    run_id: "awx-{{ tower_job_id }}"
    mode: remediate
    title: CHG0012345 - DirectAccess IP-HTTPS trust
  run_once: true
  register: report

- name: Publish the counts on the AWX job
  ansible.builtin.set_stats:
    data:
      iphttps_report: "{{ report.summary }}"
  run_once: true

- name: Combine the reports of two change windows without recording a new run
  directaccess.iphttps.fleet_report:
    report_dir: /srv/change-records/combined
    merge_from:
      - /srv/change-records/CHG0012345
      - /srv/change-records/CHG0012399/report.json
  run_once: true
"""

RETURN = r"""
run_id:
  description: The run's identifier (given or generated).
  returned: success
  type: str
  sample: awx-4711
summary:
  description: The counts of the rebuilt report and where its files are; small enough for C(set_stats).
  returned: success
  type: dict
  contains:
    hosts:
      description: Hosts in the report (one newest record each).
      type: int
      sample: 120
    by_status:
      description: Hosts per status, every status listed (zero included), in a fixed order.
      type: dict
      sample: {"healthy": 97, "fixed": 18, "would_fix": 0, "fix_failed": 1, "unfixable": 2, "not_directaccess": 0,
               "unreachable": 2, "failed": 0, "removed": 0, "would_break": 0, "would_trust": 0}
    by_verdict:
      description: Hosts per trust_check verdict, only verdicts that occur; V(none) counts hosts without one.
      type: dict
      sample: {"trusted": 97, "untrusted_root": 19, "name_mismatch": 2, "none": 2}
    runs:
      description:
        - Every run found, oldest first, each with C(run_id), C(modes), C(hosts) (records it holds),
          C(current) (how many of them are still the newest for their host), C(first_recorded_at)
          and C(last_recorded_at).
      type: list
      elements: dict
    run_id:
      description: This run's identifier.
      type: str
    run_records:
      description: Records of this run, the ones filled in as V(unreachable) for O(expected_hosts) included.
      type: int
    report_dir:
      description: Absolute path of the report folder.
      type: str
    report_json:
      description: Absolute path of C(report.json).
      type: str
    report_csv:
      description: Absolute path of C(report.csv).
      type: str
    report_html:
      description: Absolute path of C(report.html).
      type: str
"""
