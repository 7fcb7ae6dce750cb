#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: remediate_host
short_description: Detect, analyse, fix, reconnect and verify one DirectAccess client in one task, journaling its record
version_added: 0.1.0
description:
  - The per-host task of the P(directaccess.iphttps.remediate#role) role. In one task it does what
    M(directaccess.iphttps.client_info), M(directaccess.iphttps.trust_check) and M(directaccess.iphttps.ca_import)
    do in three, and writes the host's fleet report record on the controller the moment the outcome is known.
  - "Detect and analyse: one read-only WinRM command (the C(client_info) script) reads the IP-HTTPS configuration
    and state, the chain the client receives, its C(LocalMachine\\Root) and C(LocalMachine\\CA) stores and the
    IP Helper service (C(iphlpsvc)); the chain is then judged on the controller."
  - "O(mode=remediate): where importing certificates from O(bundle) fixes the host, one more WinRM command imports
    them and launches the detached C(iphlpsvc) restart (O(restart_method)), then light polls wait until the
    restart is proven to have run and IP-HTTPS reports C(LastErrorCode) 0 or DirectAccess reports itself connected
    (as M(directaccess.iphttps.ca_import) does). A host whose chain is trusted but whose IP-HTTPS still reports a
    trust error (V(restart_pending)) gets the restart alone. Nothing else is changed: healthy hosts, machines that
    are not DirectAccess clients and problems an import cannot fix are recorded and left alone."
  - "Revocation: when the client's last error is about revocation (C(0x80092010), C(0x80092012),
    C(0x80092013)), the same read has the client fetch its chain's CRL and OCSP URLs (client_info's
    O(directaccess.iphttps.client_info#module:revocation=auto)). Such a host is recorded V(unfixable) with verdict
    V(revocation_offline) or V(revoked) and a remedy naming the URL and the certificate; it is never imported to,
    restarted or polled, even when its chain also lacks a certificate the bundle has."
  - "Constrained Language Mode: a client whose PowerShell runs in ConstrainedLanguage (WDAC or AppLocker script
    enforcement) cannot have its chain or stores read; it is recorded V(unfixable) with verdict
    V(constrained_language) and left alone in every mode, O(mode=preflight) included."
  - "TLS handshake failure: a client whose handshake with the IP-HTTPS URL fails with a Schannel error before the
    chain is seen (a device in front of the server that demands a client certificate, for one) is recorded
    V(unfixable) with verdict V(handshake_failed) and the code's remedy, and left alone. O(mode=preflight) still
    judges O(candidate_chain) against the client's stores."
  - "O(mode=diagnose) only reads. O(mode=preflight) judges O(candidate_chain) against the client's stores instead
    of the chain the server sends now. O(mode=rollback) removes exactly the O(remove) entries (by store and
    thumbprint) and then checks the stores; it never waits for 0x0, because IP-HTTPS is expected to fail once the
    CA is gone."
  - The journal. The record goes to C(<report_dir>/runs/<run_id>/<host>.json), written to a temporary file and
    renamed, without a lock, before the task returns. Before an import is sent, an V(in_progress) record naming
    the certificates in C(attempted) is written first, so that after SIGINT, a crash or a lost reply the journal
    still says what may be on the host. The final record replaces it.
  - A record that could not be written (a host name with a control character, a bad O(run_id), a folder that
    cannot be written) fails the task before anything is sent to the host.
  - M(directaccess.iphttps.fleet_report) then merges the journal into the fleet report. See C(docs/report.md)
    for every status and record field.
options:
  mode:
    description:
      - What the task does on this host; the playbook of the same name sets it.
    type: str
    required: true
    choices: [diagnose, remediate, preflight, rollback]
  run_id:
    description:
      - The run this record belongs to, as RV(directaccess.iphttps.fleet_run#module:run_id) returned it. Names the
        folder C(runs/<run_id>). Letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  report_dir:
    description:
      - The report folder on the controller, as RV(directaccess.iphttps.fleet_run#module:report_dir) returned it.
        A relative path starts at the working directory of C(ansible-playbook).
    type: path
    required: true
  bundle:
    description:
      - The approved CA certificates, RV(directaccess.iphttps.ca_bundle#module:certificates). Only certificates the
        diagnosis finds missing are imported.
      - Without it the diagnosis cannot say whether a host is fixable, and cannot tell a missing intermediate
        from an untrusted root.
    type: list
    elements: raw
    default: []
  candidate_chain:
    description:
      - O(mode=preflight) only. PEM text of the candidate IP-HTTPS server chain, leaf first, as
        RV(directaccess.iphttps.fleet_run#module:candidate_chain) returned it.
    type: str
    default: ""
  remove:
    description:
      - O(mode=rollback) only. The certificates to remove from this host, each with C(store) (V(Root) or V(CA)),
        C(thumbprint) and optionally C(subject), this host's entry of
        RV(directaccess.iphttps.fleet_run#module:rollback).
      - Empty means the named run imported nothing here; the host is then recorded as V(nothing_to_remove)
        without being contacted.
    type: list
    elements: dict
    default: []
  reconnect:
    description:
      - After an import, restart C(iphlpsvc) and wait for IP-HTTPS to report C(LastErrorCode) 0.
      - Without it an imported host is recorded as V(restart_pending); a later remediate run restarts it.
      - With O(mode=rollback) it restarts C(iphlpsvc) after the removal but never waits for 0x0.
      - A machine without an IP-HTTPS client configuration is never restarted.
    type: bool
    default: true
  start_service:
    description:
      - With O(mode=remediate), start a stopped C(iphlpsvc) on a DirectAccess client, through the same restart
        (C(Restart-Service) starts a stopped service). The record says so in C(service_started).
      - Without it such a host is recorded as V(service_stopped) and left alone. A disabled service is never
        changed.
    type: bool
    default: false
  reconnect_timeout:
    description: Seconds to wait for C(LastErrorCode) 0 after the restart. Must be positive.
    type: int
    default: 120
  restart_delay:
    description:
      - Seconds the detached restart waits before it restarts C(iphlpsvc), so that the WinRM reply leaves the host
        before the tunnel goes down. Must not be negative, and at most 60.
    type: int
    default: 5
  poll_interval:
    description: Seconds between state polls after the first one. Must be positive.
    type: int
    default: 5
  connect_timeout:
    description:
      - Seconds the host waits for the TCP connection and TLS handshake to the IP-HTTPS server while it reads the
        chain. Must be positive.
    type: int
    default: 5
  restart_method:
    description:
      - How the detached C(iphlpsvc) restart is started, as M(directaccess.iphttps.ca_import)'s
        O(directaccess.iphttps.ca_import#module:restart_method). V(auto) tries a one-shot scheduled task run as
        SYSTEM, then WMI's C(Win32_Process.Create); V(scheduled_task) and V(wmi) use only that one.
    type: str
    choices: [auto, scheduled_task, wmi]
    default: auto
  gpo_carries:
    description:
      - The thumbprints the DirectAccess client GPO carries, from gpo_sync's report (as
        M(directaccess.iphttps.fleet_run) returns them in RV(directaccess.iphttps.fleet_run#module:gpo_carries)).
      - When given, the record of a host that was fixed (or would be) says whether the GPO carries what it was given
        (RV(record.gpo_carries)). Only then does the fix survive a re-image or reach a new client.
      - Null (the default) when not known; the record then says nothing about the GPO.
    type: list
    elements: str
attributes:
  check_mode:
    description:
      - Reads the host and records the plan; changes nothing on it. Remediate records V(would_fix) (or
        V(restart_pending) with action V(would_restart)), rollback records V(would_remove); never V(fixed) or
        V(removed).
      - The plan records are written to the journal with C(check_mode=true); the fleet report never lets them
        replace a real outcome.
    support: full
  diff_mode:
    description:
      - With C(--diff), the thumbprints per store before and after an import or removal; in check mode, after is
        what the host holds (nothing changed).
    support: full
  platform:
    description: Windows targets reached over WinRM (Windows PowerShell 5.1); the journal is written on the controller.
    platforms: windows
    support: full
notes:
  - Needs local administrator rights on the host to change its stores and restart C(iphlpsvc); reading needs less
    (see C(docs/getting-started.md)).
  - A host that does not answer over WinRM is reported C(unreachable) and still gets a record (status
    V(unreachable)). The task fails for V(fix_failed) and V(failed), so that the play shows the host; the role keeps
    such hosts in the play (C(ignore_errors)) so that the report and summary still run.
  - If the reply to an import is lost, the idempotent import runs again once the host answers. A certificate the
    diagnosis found missing that then comes back as already present is counted as imported by this run, so a
    rollback removes it.
  - Tested against the project's lab, which imitates the scripts' contracts on loopback; not run on Windows by
    this project.
seealso:
  - module: directaccess.iphttps.fleet_run
  - module: directaccess.iphttps.fleet_report
  - module: directaccess.iphttps.ca_import
  - module: directaccess.iphttps.client_info
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
# The collection's playbooks do this through the role (tasks_from: hosts); the run was opened by fleet_run
# and the bundle gathered by ca_bundle in an earlier play on localhost.
- name: Detect, analyse, import, reconnect and verify (one task per host)
  directaccess.iphttps.remediate_host:
    mode: remediate
    run_id: "{{ hostvars['localhost']['opened']['run_id'] }}"
    report_dir: "{{ hostvars['localhost']['opened']['report_dir'] }}"
    bundle: "{{ hostvars['localhost']['bundle']['certificates'] }}"
  register: host_outcome
  ignore_errors: true
  ignore_unreachable: true

- name: Take back what a run imported on this host (rollback playbook, by store and thumbprint)
  directaccess.iphttps.remediate_host:
    mode: rollback
    run_id: "{{ hostvars['localhost']['opened']['run_id'] }}"
    report_dir: "{{ hostvars['localhost']['opened']['report_dir'] }}"
    remove: "{{ hostvars['localhost']['opened']['rollback'][inventory_hostname] | default([]) }}"
    reconnect: false
"""

RETURN = r"""
changed:
  description:
    - True when this task imported, removed or restarted something on the host. Always false in check mode.
  returned: always
  type: bool
status:
  description:
    - The host's status, as in RV(record.status).
  returned: always
  type: str
  sample: fixed
journal:
  description: Absolute path of the record file this task wrote on the controller.
  returned: always
  type: str
  sample: /srv/iphttps-report/runs/run-20261202T054838Z-3fa9c1/laptop-0042.corp.example.com.json
record:
  description:
    - The host's record, exactly as written to RV(journal). C(docs/report.md) describes every field and status.
  returned: always
  type: dict
  contains:
    host:
      description: The inventory host name.
      type: str
    run_id:
      description: The run's identifier.
      type: str
    mode:
      description: V(diagnose), V(remediate), V(check) (remediate in check mode), V(rollback) or V(preflight).
      type: str
    recorded_at:
      description: When the record was made, ISO 8601 UTC (C(YYYY-MM-DDTHH:MM:SSZ)).
      type: str
    status:
      description:
        - What happened on the host. V(healthy), V(fixed), V(already_present), V(would_fix), V(restart_pending),
          V(fix_failed), V(in_progress), V(service_stopped), V(unfixable), V(not_directaccess), V(unreachable),
          V(failed), V(removed), V(would_remove), V(nothing_to_remove), V(would_break), V(would_trust).
      type: str
    verdict:
      description: The trust_check verdict (see C(docs/verdicts.md)), or null when the chain was not judged.
      type: str
    error_before:
      description: IP-HTTPS C(LastErrorCode) when the host was read (C(code), C(hex), C(name)), or null.
      type: dict
    error_after:
      description: C(LastErrorCode) after the reconnect (C(code), C(hex), C(name)), or null without one.
      type: dict
    missing:
      description: The certificates the client lacked, each with C(thumbprint), C(subject) and C(store).
      type: list
      elements: dict
    action:
      description:
        - V(none), V(import), V(would_import), V(remove), V(would_remove), V(restart) (an C(iphlpsvc) restart
          alone) or V(would_restart).
      type: str
    imported:
      description:
        - Certificates this run put on the host (C(thumbprint), C(store), C(subject)), including any that a lost
          reply's first attempt added.
      type: list
      elements: dict
    removed:
      description: Certificates a rollback removed (or, in check mode, would remove).
      type: list
      elements: dict
    attempted:
      description:
        - Certificates an import was asked to add (C(thumbprint), C(store), C(subject)), whether or not it landed.
          On an V(in_progress) record they may be on the host; rollback takes them into account.
      type: list
      elements: dict
    elapsed:
      description: Seconds the change took, or null without a change.
      type: float
    reason:
      description: What happened, written for people.
      type: str
    remedy:
      description: What to do next, or empty.
      type: str
    detail:
      description: Raw technical text (WinRM or PowerShell error), kept apart from RV(record.reason); may be empty.
      type: str
    service_before:
      description: The C(iphlpsvc) state when the host was read (C(Running), C(Stopped), ...), or null.
      type: str
    service_started:
      description: True when this run's restart started a stopped C(iphlpsvc).
      type: bool
    check_mode:
      description: True when the record is a plan made in check mode, not an outcome.
      type: bool
    reconnected_by:
      description:
        - On a V(fixed) host, how the proven reconnect showed DirectAccess working. V(iphttps) (IP-HTTPS
          C(LastErrorCode) 0), V(connected_remotely) (C(Get-DAConnectionStatus) ConnectedRemotely; Teredo or 6to4,
          not IP-HTTPS, carries the tunnel) or V(connected_locally) (ConnectedLocally; inside the corporate
          network). Null otherwise.
      type: str
    policy_copies:
      description:
        - The chain's CA certificates the host also holds by Group Policy (C(.GroupPolicy) physical store) or from
          Active Directory (C(.Enterprise)); such a copy comes back by itself. In a rollback, the certificates left
          in place because of such a copy (only the copy the run imported was removed). Each with C(thumbprint),
          C(store) and C(subject).
      type: list
      elements: dict
    gpo_carries:
      description:
        - Whether the DirectAccess GPO carries every CA this host was given (or would be), from O(gpo_carries);
          null when not known or nothing was given.
      type: bool
diff:
  description: The thumbprints per store (C(Root), C(CA)) before and after the change.
  returned: with C(--diff), when the host's stores were read by an import or removal
  type: dict
  contains:
    before:
      description: Store name to sorted thumbprints before the task.
      type: dict
    after:
      description: Store name to sorted thumbprints after the task.
      type: dict
msg:
  description: Why the task failed or the host is unreachable.
  returned: on failure or when unreachable
  type: str
"""
