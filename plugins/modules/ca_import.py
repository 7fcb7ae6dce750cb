#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ca_import
short_description: Import CA certificates into a DirectAccess client's Root and CA stores and reconnect IP-HTTPS
version_added: 0.1.0
description:
  - Puts roots into C(LocalMachine\\Root) and intermediates into C(LocalMachine\\CA), as a Group Policy
    certificate deployment does, in one WinRM command, idempotently by thumbprint.
  - The store follows from the certificate (self-signed CA to Root, other CAs to CA). There is no C(store) option;
    an entry of O(certificates) that carries a C(store) or C(thumbprint) key (as
    RV(directaccess.iphttps.ca_bundle#module:certificates) entries do) must agree with the certificate, or the task
    fails. Non-CA certificates are refused.
  - With O(state=present), a certificate that is expired or not yet valid is refused before the host is
    contacted, unless O(allow_unvetted) is set. ca_import cannot tell where a certificate came from, so it cannot
    judge whether its root is the one you approved. Pass RV(directaccess.iphttps.ca_bundle#module:certificates),
    which only holds certificates from your sources that chain to your pinned roots, or vet the certificates
    yourself before passing them.
  - The host recomputes every thumbprint from the bytes it received and refuses a mismatch.
  - With O(state=absent), an entry may name a certificate by C(store) and C(thumbprint) alone (no C(pem)), as a
    fleet report record lists what a run imported. Exactly those entries are removed, nothing else.
  - With O(reconnect), and only when something changed, the same command launches a restart of the IP Helper
    service (C(iphlpsvc)) in a process detached from the WinRM shell (see O(restart_method)). For
    O(state=present) the action then reconnects and polls, the way C(win_reboot) waits for a reboot, until the
    restart is proven to have run and DirectAccess works again. O(state=absent) never waits, because once the CA
    is gone IP-HTTPS is expected to fail.
  - "A poll counts only with proof that the restart ran: the marker the restart writes when C(Restart-Service)
    returns, carrying this task's token (registry value C(iphlpsvc_restart) under
    C(HKLM\\SOFTWARE\\directaccess.iphttps)), or a new C(Win32_Service.ProcessId) for C(iphlpsvc). A state
    read before the restart is the old connection, so it never ends the wait. The process id alone is not proof
    where C(iphlpsvc) shares its C(svchost.exe) with other services (Windows 10 before 1703, or 3.5 GB of RAM or
    less), because a restart keeps it."
  - "DirectAccess works again when IP-HTTPS reports C(LastErrorCode) 0, or when C(Get-DAConnectionStatus)
    reports C(ConnectedRemotely) (Teredo or 6to4 carries the tunnel, so IP-HTTPS shows no state) or
    C(ConnectedLocally) (the client is inside the corporate network). RV(reconnected_by) says which."
  - On a machine without an IP-HTTPS client configuration (not a DirectAccess client) the certificates are still
    imported or removed as asked, but C(iphlpsvc) is not restarted and nothing is polled; RV(restart_skipped)
    says why.
  - For a whole fleet, the P(directaccess.iphttps.remediate#role) role (the C(remediate) and C(rollback)
    playbooks) imports only what each host lacks and journals it, so a rollback can take back exactly that.
options:
  certificates:
    description:
      - The certificates, usually RV(directaccess.iphttps.ca_bundle#module:certificates); PEM strings work too.
    type: list
    elements: raw
    required: true
  state:
    description: V(present) adds missing certificates; V(absent) removes exactly the given ones.
    type: str
    choices: [present, absent]
    default: present
  reconnect:
    description:
      - After a change, restart C(iphlpsvc); with O(state=present), then wait for IP-HTTPS to report
        C(LastErrorCode) 0. With O(state=absent) the restart is not waited for.
      - Without it, imported certificates take effect only at the next C(iphlpsvc) restart; until then IP-HTTPS
        keeps reporting its old error. Running the task again with O(reconnect) does not restart by itself when
        nothing changes; the P(directaccess.iphttps.remediate#role) role restarts such hosts (status
        V(restart_pending)).
      - Skipped on a machine without an IP-HTTPS client configuration; see RV(restart_skipped).
      - Restarting C(iphlpsvc) tears down IP-HTTPS, Teredo and 6to4. A WinRM session that rides on one of them
        drops for a moment; that is expected inside the wait and not a failure.
    type: bool
    default: false
  reconnect_timeout:
    description: Seconds to wait for C(LastErrorCode) 0 after the restart. Must be positive.
    type: int
    default: 120
  restart_delay:
    description:
      - Seconds the detached restart waits, so that the WinRM reply (and WinRM's clean-up of the command) leaves
        the host before the tunnel goes down.
      - If the reply is lost anyway, the action reconnects and runs the same idempotent import again to learn the
        true state, then waits for the restart as usual.
      - Must not be negative, and at most 60.
    type: int
    default: 5
  poll_interval:
    description: Seconds between polls after the first one. Must be positive.
    type: int
    default: 5
  allow_unvetted:
    description:
      - Import certificates that are expired or not yet valid, with O(state=present).
      - Only for a deliberate exception, for example after RV(directaccess.iphttps.ca_bundle#module:certificates)
        with its C(allow_expired). A certificate that is not a CA is refused whatever this says.
    type: bool
    default: false
  restart_method:
    description:
      - How the detached C(iphlpsvc) restart is started.
      - V(scheduled_task) registers a one-shot task run as SYSTEM, starts it, and the task deletes itself after the
        restart (C(\\directaccess.iphttps\\iphlpsvc-restart)). The Task Scheduler service starts it, so it
        outlives the WinRM command, and the Defender attack surface reduction rule "Block process creations
        originating from PSExec and WMI commands" (d1e49aac-8f56-4280-b9ba-993a6d77406c) does not apply to it.
        Needs the ScheduledTasks cmdlets (Windows 8 and later).
      - V(wmi) creates the process with C(Win32_Process.Create), first asking to leave the WMI provider host's job
        (C(CREATE_BREAKAWAY_FROM_JOB)), then, on a refusal or an error, without. That ASR rule blocks it.
      - V(auto) tries the scheduled task first and falls back to WMI when the task cannot be registered or
        started, or the cmdlets are missing. The task goes first because it works in more places, and because a
        WMI launch that the rule blocks is not always seen as failed when it is made.
    type: str
    choices: [auto, scheduled_task, wmi]
    default: auto
attributes:
  check_mode:
    description: Reads the stores and reports what would be imported or removed; touches nothing.
    support: full
  diff_mode:
    description:
      - The thumbprints per store before and after; in check mode, after is what the stores would hold. The result
        carries RV(diff) whether or not C(--diff) is given.
    support: full
  platform:
    description: Windows targets reached over WinRM (Windows PowerShell 5.1).
    platforms: windows
    support: full
notes:
  - Needs local administrator rights on the host; access denied is reported as such.
  - With O(reconnect), the restart leaves a registry value on the host, C(iphlpsvc_restart) under
    C(HKLM\\SOFTWARE\\directaccess.iphttps), which is the proof the poll reads. The scheduled task removes
    itself.
  - A refused or lost connection before the import makes the host C(unreachable), not C(failed).
  - If an import stops part-way, the failure message and RV(imported) say exactly what was added; a re-run converges.
  - With O(state=present), a certificate the host lists in C(LocalMachine\\Disallowed) (Untrusted Certificates) is
    refused before anything is written, and the task fails saying so. Windows refuses every chain through a
    distrusted certificate whatever Root holds, so the import would fix nothing. O(state=absent) still removes it.
  - Tested against the project's lab, which imitates the script's contract on loopback; not run on Windows by
    this project.
seealso:
  - module: directaccess.iphttps.ca_bundle
  - module: directaccess.iphttps.client_info
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: Import what the bundle holds and bring IP-HTTPS back
  directaccess.iphttps.ca_import:
    certificates: "{{ bundle.certificates }}"
    reconnect: true
    reconnect_timeout: 120
  register: imported

- name: Import only what this client lacks (client_info ran with the same bundle)
  directaccess.iphttps.ca_import:
    certificates: "{{ bundle.certificates | selectattr('thumbprint', 'in',
                      client.diagnosis.missing | map(attribute='thumbprint')) | list }}"
    reconnect: true
  when: client.diagnosis.fixable | default(false)

# Never pass the bundle with state=absent to undo a run: that also removes the CAs the client already had.
# Remove only what the run recorded, by store and thumbprint. For a whole fleet use the rollback playbook,
# which reads every host's record, including imports whose reply was lost or whose run was interrupted:
#   ansible-playbook directaccess.iphttps.rollback -i inventory.yml -e iphttps_rollback_run=<run_id>
- name: Take back exactly what an earlier run imported on this host
  directaccess.iphttps.ca_import:
    # Entries with store and thumbprint and no pem are removed by thumbprint; nothing else is touched.
    certificates: "{{ earlier_record.imported + earlier_record.attempted }}"
    state: absent
  vars:
    # This host's record in the run's journal, <report_dir>/runs/<run_id>/<host>.json, read on the controller.
    # An absolute path: the file lookup looks for a relative one in the playbook's files/ folder.
    earlier_record: "{{ lookup('ansible.builtin.file', '/srv/iphttps-report/runs/CHG0012345/' ~ inventory_hostname ~ '.json')
                        | from_json }}"
  when: (earlier_record.imported + earlier_record.attempted) | length > 0
"""

RETURN = r"""
changed:
  description:
    - Whether a store changed. Also true after a lost reply, when the first attempt may have changed the host.
  returned: always
  type: bool
imported:
  description: Certificates added (or, in check mode, that would be added), each with C(store), C(thumbprint), C(subject).
  returned: always
  type: list
  elements: dict
removed:
  description: Certificates removed (or, in check mode, that would be removed) with O(state=absent).
  returned: always
  type: list
  elements: dict
already_present:
  description: With O(state=present), certificates that were already in their store.
  returned: always
  type: list
  elements: dict
absent:
  description: With O(state=absent), certificates that were not in their store (nothing to remove).
  returned: always
  type: list
  elements: dict
kept:
  description:
    - With O(state=absent), certificates that another physical store of the host also delivers, so they stay in
      the logical store C(LocalMachine\\Root) or C(LocalMachine\\CA) (the logical stores merge .Default,
      .GroupPolicy, .Enterprise and, for Root, .AuthRoot). Only the copy an import made, in .Default, is removed
      (then the certificate is in RV(removed) too); the others would come back at the next Group Policy refresh or
      from Active Directory, so they are left alone.
  returned: always
  type: list
  elements: dict
  contains:
    store:
      description: V(Root) or V(CA).
      type: str
    thumbprint:
      description: SHA-1 thumbprint.
      type: str
    subject:
      description: The certificate's subject, when it was given.
      type: str
    kept_by:
      description: The physical stores that still hold it, from V(GroupPolicy), V(Enterprise), V(AuthRoot).
      type: list
      elements: str
    removed_default:
      description: Whether a .Default copy was removed (or, in check mode, would be).
      type: bool
restart_scheduled:
  description:
    - Whether the detached C(iphlpsvc) restart was scheduled. False in check mode, without O(reconnect), when
      nothing changed, and on a machine that is not a DirectAccess client.
  returned: always
  type: bool
restart_skipped:
  description:
    - Why a restart that O(reconnect) asked for was not scheduled, or null. A machine without an IP-HTTPS client
      configuration is not a DirectAccess client; its C(iphlpsvc) is left alone and nothing is polled.
  returned: always
  type: str
  sample: "not a DirectAccess client: no IP-HTTPS client configuration, so iphlpsvc was left alone"
restart_launch:
  description:
    - What was launched to restart C(iphlpsvc), or null when nothing was.
  returned: always
  type: dict
  contains:
    method:
      description: V(scheduled_task) or V(wmi).
      type: str
    process_id:
      description: With V(wmi), the id of the process C(Win32_Process.Create) started; else null.
      type: int
    task_name:
      description: With V(scheduled_task), the task's path and name; else null.
      type: str
    service_process_id_before:
      description: The C(Win32_Service.ProcessId) of C(iphlpsvc) before the launch (0 while stopped), or null.
      type: int
    token:
      description: This task's token, which the restart's marker must carry to count as proof.
      type: str
restart_proof:
  description:
    - What proved the restart ran, once polled. V(marker) (the restart's own marker with this task's token) or
      V(process_id) (C(iphlpsvc) runs in a new process); null without proof, which fails the task.
  returned: always
  type: str
reconnected_by:
  description:
    - How the proven reconnect showed DirectAccess working. V(iphttps) (IP-HTTPS C(LastErrorCode) 0),
      V(connected_remotely) (C(Get-DAConnectionStatus) ConnectedRemotely; IP-HTTPS is not the active transition
      technology), V(connected_locally) (ConnectedLocally; inside the corporate network); null when nothing was
      polled or the reconnect failed.
  returned: always
  type: str
da_connection_status:
  description:
    - C(Get-DAConnectionStatus) at the last poll (C(status), C(status_name), C(substatus), C(substatus_name)), or
      null when nothing was polled, the cmdlet is missing (before Windows 8) or NcaSvc was not answering.
  returned: always
  type: dict
iphttps:
  description:
    - The IP-HTTPS state after the reconnect (C(interface_status), C(last_error_code), C(last_error)), or null
      when nothing was polled (no reconnect, O(state=absent), or the restart was skipped), or when IP-HTTPS showed
      no state (see RV(reconnected_by)).
  returned: always
  type: dict
polls:
  description: How many state polls the reconnect took (0 without a reconnect and with O(state=absent)).
  returned: always
  type: int
elapsed:
  description: Seconds the task took.
  returned: always
  type: float
reconnect_notes:
  description:
    - What happened to the connection while waiting, for example polls that found the tunnel down, or an import
      reply that was lost and recovered by running the import again; also what the restart fell back to (no
      scheduled task, a refused or failed breakaway) and why it ran inside the WMI provider host's job.
  returned: when there is something to say
  type: list
  elements: str
diff:
  description: The thumbprints per store (C(Root), C(CA)) before and after; in check mode, after is what would be.
  returned: when the host reported its stores
  type: dict
  contains:
    before:
      description: Store name to sorted thumbprints before the task.
      type: dict
    after:
      description: Store name to sorted thumbprints after the task.
      type: dict
msg:
  description: Why the task failed or the host is unreachable; it lists what was changed before the failure.
  returned: on failure or when unreachable
  type: str
"""
