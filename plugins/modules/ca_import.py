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
  - The store follows from the certificate (self-signed CA to Root, other CAs to CA); a given C(store) that
    disagrees is an error. Non-CA certificates are refused.
  - The host recomputes every thumbprint from the bytes it received and refuses a mismatch.
  - With O(reconnect), and only when something changed, the same command schedules a restart of the IP Helper
    service (C(iphlpsvc)) in a process detached from the WinRM shell, then the action reconnects and polls
    C(Get-NetIPHttpsState) until C(LastErrorCode) is 0, the way C(win_reboot) waits for a reboot.
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
      - After a change, restart C(iphlpsvc) and wait for IP-HTTPS to report C(LastErrorCode) 0.
      - Restarting C(iphlpsvc) tears down IP-HTTPS, Teredo and 6to4. A WinRM session that rides on one of them
        drops for a moment; that is expected inside the wait and not a failure.
    type: bool
    default: false
  reconnect_timeout:
    description: Seconds to wait for C(LastErrorCode) 0 after the restart.
    type: int
    default: 120
  restart_delay:
    description:
      - Seconds the detached restart waits, so that the WinRM reply (and WinRM's clean-up of the command) leaves
        the host before the tunnel goes down.
      - If the reply is lost anyway, the action reconnects and runs the same idempotent import again to learn the
        true state, then waits for the restart as usual.
    type: int
    default: 5
  poll_interval:
    description: Seconds between polls after the first one.
    type: int
    default: 5
attributes:
  check_mode:
    description: Reads the stores and reports what would be imported or removed; touches nothing.
    support: full
  diff_mode:
    description: Shows the thumbprints per store before and after.
    support: full
  platform:
    description: Windows targets reached over WinRM (Windows PowerShell 5.1).
    platforms: windows
    support: full
notes:
  - Needs local administrator rights on the host; access denied is reported as such.
  - A refused or lost connection before the import makes the host C(unreachable), not C(failed).
  - If an import stops part-way, the failure message and RV(imported) say exactly what was added; a re-run converges.
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

- name: Take back exactly what an earlier run imported
  directaccess.iphttps.ca_import:
    certificates: "{{ earlier_bundle.certificates }}"
    state: absent
"""

RETURN = r"""
imported:
  description: Certificates added (or, in check mode, that would be added), each with C(store), C(thumbprint), C(subject).
  returned: always
  type: list
  elements: dict
removed:
  description: Certificates removed with O(state=absent).
  returned: always
  type: list
  elements: dict
already_present:
  description: Certificates that were already in their store.
  returned: always
  type: list
  elements: dict
iphttps:
  description:
    - The IP-HTTPS state after the reconnect (C(interface_status), C(last_error_code), C(last_error)), or null
      when no reconnect took place.
  returned: always
  type: dict
polls:
  description: How many state polls the reconnect took (0 without a reconnect).
  returned: always
  type: int
elapsed:
  description: Seconds the task took.
  returned: always
  type: float
reconnect_notes:
  description:
    - What happened to the connection while waiting, for example polls that found the tunnel down, or an import
      reply that was lost and recovered by running the import again.
  returned: when a connection dropped
  type: list
  elements: str
diff:
  description: The thumbprints per store (C(Root), C(CA)) before and after; in check mode, after is what would be.
  returned: always
  type: dict
  contains:
    before:
      description: Store name to sorted thumbprints before the task.
      type: dict
    after:
      description: Store name to sorted thumbprints after the task.
      type: dict
"""
