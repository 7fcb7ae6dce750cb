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
  - The run's folder is a journal. M(directaccess.iphttps.remediate_host) writes each host's record there the moment
    it knows the outcome, and M(directaccess.iphttps.fleet_run) writes the run's C(.run.json) (who or what ran it).
    This task adds O(records) and fill-ins to that folder and merges everything.
  - For each host an outcome beats a plan. A record made in check mode, or by a C(check) or C(preflight) run, never
    replaces what a real run found or did. Among outcomes the newest wins (by C(recorded_at), then C(run_id)). So
    the slices of an AWX sliced job, the batches of a C(serial) play, or the runs of successive change windows that
    write to one folder add up to one fleet report. No run needs to see the whole fleet.
  - A host changed by one run and verified by a later one keeps both facts (C(last_change)). The report lists the
    certificates the runs deployed and did not take back, per host and in total.
  - Every host of O(expected_hosts) that has no record in this run gets a record with status V(unreachable).
  - Records and run files are validated. A bad one (bad JSON, a truncated file, an impossible time, a wrong run id,
    a control character in a host name) is set aside alone. It is listed in C(rejected) and as a warning, and every
    other record still counts. The task never fails because of one bad record.
  - Returns C(summary.console), lines to print at the end of the play. They hold this run's hosts and counts, the
    report's outcome and its path.
  - The HTML page is one self-contained file (inline CSS, SVG chart and script, no network access) that can be
    attached to a change record; it can be read with scripts disabled.
  - Runs on the controller and never opens a connection to the hosts, so it sits in the play that targets the
    Windows clients, with C(run_once=true).
options:
  records:
    description:
      - One record per host, as the P(directaccess.iphttps.iphttps_record#filter) filter builds them. Leave it
        empty when the hosts journaled their records with M(directaccess.iphttps.remediate_host).
      - Required keys are C(host) and C(status); see C(docs/report.md) for every field and its default.
      - A record the journal already holds for the host in this run is not written again. Of two different ones
        for a host, the record the host produced beats a filled-in one, then the newer one is kept.
    type: list
    elements: raw
    default: []
  expected_hosts:
    description:
      - Every host this run should have a record for, usually the play's batch or C(ansible_play_hosts_all).
      - A host listed here without a record in this run (passed in or journaled) is reported V(unreachable).
        Within one run, a record a host produced always beats such a filled-in record, whichever was written first.
      - A name that is not a host name (empty, or with control characters) is set aside alone.
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
    description:
      - What the run was for; fills the C(mode) of records that have none and of filled-in records.
      - V(check) and V(preflight) records are plans, which never replace an outcome.
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
    description: Can run in check mode and return the report it would give.
    support: full
    details:
      - The report is written in check mode as well; for a dry run it is the plan. The task never reports
        C(changed), because nothing on the hosts changes.
      - In check mode every record this task adds is marked C(check_mode=true), a plan. A plan never replaces an
        outcome in the aggregate, so a dry run may share the change record's O(report_dir).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff
      mode.
    support: none
    details:
      - Nothing on the hosts changes, so there is no diff. The report itself is the record of what changed.
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
    # awx_job_id exists only under AWX / Automation Controller; elsewhere name the run yourself.
    run_id: "{{ 'awx-' ~ awx_job_id if awx_job_id is defined else 'chg0012345' }}"
    mode: remediate
    title: CHG0012345 - DirectAccess IP-HTTPS trust
  run_once: true
  register: report

- name: Print this run's hosts, the counts and where the report is (default verbosity)
  ansible.builtin.debug:
    msg: "{{ report.summary.console }}"
  run_once: true

# AWX shows custom stats on the job; ansible-playbook prints them only with show_custom_stats = true in
# the [defaults] section of ansible.cfg (or ANSIBLE_SHOW_CUSTOM_STATS=true).
- name: Publish the counts on the AWX job
  ansible.builtin.set_stats:
    data:
      iphttps_report: "{{ report.summary }}"
  run_once: true

- name: Merge what remediate_host journaled for this run
  directaccess.iphttps.fleet_report:
    records: []
    expected_hosts: "{{ ansible_play_batch }}"
    report_dir: /srv/change-records/CHG0012345
    run_id: "{{ iphttps_run_id }}"
    mode: remediate
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
      description: Hosts in the report (one record each).
      type: int
      sample: 120
    by_status:
      description: Hosts per status, every status listed (zero included), in a fixed order.
      type: dict
      sample: {"healthy": 97, "fixed": 18, "already_present": 0, "would_fix": 0, "restart_pending": 0, "fix_failed": 1,
               "in_progress": 0, "service_stopped": 0, "unfixable": 2, "not_directaccess": 0, "unreachable": 2,
               "failed": 0, "removed": 0, "would_remove": 0, "nothing_to_remove": 0, "would_break": 0,
               "would_trust": 0}
    by_verdict:
      description: Hosts per trust_check verdict, only verdicts that occur; V(none) counts hosts without one.
      type: dict
      sample: {"trusted": 97, "untrusted_root": 19, "name_mismatch": 2, "none": 2}
    runs:
      description:
        - Every run found, oldest first, each with C(run_id), C(modes), C(hosts) (records it holds),
          C(current) (how many of them still stand for their host), C(first_recorded_at)
          and C(last_recorded_at) (null for a run with no record yet).
        - From the run's C(.run.json) where there is one, else null, each also has C(mode), C(started_at),
          C(awx_job_id), C(user), C(playbook) and C(play_hosts) (hosts in the play). C(check_mode) is from
          C(.run.json), else true when every record of the run is a plan.
      type: list
      elements: dict
    run_id:
      description: This run's identifier.
      type: str
    run_records:
      description:
        - Records of this run in the folder (journaled, passed in, and filled in as V(unreachable) for
          O(expected_hosts)), one per host.
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
    rejected:
      description:
        - What was set aside, each with C(path) and C(reason).
        - "C(path) is a file (a record, or a run's C(.run.json)), a record of a merged C(report.json)
          (C(<file>: records[N])), or an entry of the options (C(records[N]), C(expected_hosts[N]))."
        - Every other record still counts. Bad files stay where they are until someone fixes or removes them.
      type: list
      elements: dict
      sample: [{"path": "/srv/change-records/CHG0012345/runs/awx-4711/laptop-0042.json",
                "reason": "/srv/change-records/CHG0012345/runs/awx-4711/laptop-0042.json: not valid JSON: ..."}]
    outcome:
      description: One sentence on the whole report, the first line of C(report.html).
      type: str
      sample: 12 fixed, 1 needs attention (1 fix failed), 4 need server-side work (4 unfixable), 97 healthy.
    console:
      description:
        - Lines to print at the end of the play. Up to 40 hosts, this run's table (host, error before, action,
          error after, status). Beyond that, only the hosts that need someone, grouped by status, at most 100 per
          status. Then this run's counts per status (non-zero only), its outcome, the report's outcome, what was
          set aside (at most 10) and the path of C(report.html).
      type: list
      elements: str
      sample: ["Run awx-4711 (remediate): 2 host(s)",
               "  host        before      action  after  status",
               "  laptop-1    0x800B0109  import  0x0    fixed",
               "  laptop-2    0x0         none    -      healthy",
               "Per status: healthy 1, fixed 1", "This run: 1 fixed, 1 healthy.",
               "Fleet report (2 hosts, 1 run(s)): 1 fixed, 1 healthy.",
               "Report: /srv/change-records/CHG0012345/report.html"]
"""
