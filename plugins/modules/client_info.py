#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: client_info
short_description: Read a DirectAccess client's IP-HTTPS state and say why it does not trust the server
version_added: 0.1.0
description:
  - Runs one read-only PowerShell script on the Windows host over the task's connection (one WinRM command).
  - The script reads C(Get-NetIPHttpsConfiguration), C(Get-NetIPHttpsState) and, where it exists,
    C(Get-DAConnectionStatus). On a client without the NetworkTransition cmdlets (Windows 7) it falls back to
    C(netsh interface httpstunnel show interfaces) and reads only the server URL and the C(0x...) last error code,
    because netsh's labels and status text are localized.
  - Among several IP-HTTPS client profiles, the activated one that names a server is used; otherwise the first.
  - It makes a TLS handshake (TLS 1.2, 1.1 or 1.0) to the IP-HTTPS server and records the certificates and the
    Windows chain engine's status flags; and lists the thumbprints in C(LocalMachine\\Root) and
    C(LocalMachine\\CA), with full certificates as O(store_certificates) asks; and reads the state, start mode
    and process id of the IP Helper service (C(iphlpsvc)) from C(Win32_Service).
  - On the controller, the last error is decoded (see the P(directaccess.iphttps.iphttps_error#filter) filter) and
    the chain is analysed the way M(directaccess.iphttps.trust_check) does.
  - A machine that is not a DirectAccess client, or whose IP-HTTPS interface is not active, is a state, not a failure.
options:
  connect_timeout:
    description: Seconds the host waits for the TCP connection and TLS handshake to the IP-HTTPS server.
    type: int
    default: 5
  bundle:
    description:
      - Candidate certificates (RV(directaccess.iphttps.ca_bundle#module:certificates) or PEM strings), so that
        the diagnosis can say which missing certificates the bundle holds and whether the host is fixable.
    type: list
    elements: raw
    default: []
  store_certificates:
    description:
      - Which C(Root) and C(CA) store entries the host returns in full, besides the thumbprints of all of them.
      - V(chain) returns the entries whose subject is the subject or issuer of a certificate in the chain.
      - V(all) returns every entry. Use it to judge a chain other than the one the server sends now (a
        preflight of a new IP-HTTPS certificate), which may come from a CA the client trusts but the controller
        has no copy of. A Root store of a few hundred certificates makes the answer a few hundred kilobytes.
    type: str
    choices: [chain, all]
    default: chain
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  platform:
    description: Windows targets reached over WinRM (Windows PowerShell 5.1).
    platforms: windows
    support: full
notes:
  - A refused, dropped or unauthenticated WinRM connection makes the host C(unreachable), not C(failed).
  - The script was written against Microsoft's documentation of the cmdlets and tested against the project's
    lab, which imitates the script's contract on loopback; it has not been run on Windows by this project.
seealso:
  - module: directaccess.iphttps.ca_import
  - module: directaccess.iphttps.trust_check
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: Read the IP-HTTPS state of every client
  directaccess.iphttps.client_info:
    bundle: "{{ bundle.certificates }}"
  register: client

- name: Read every client with its whole Root and CA stores, to judge a new server chain
  directaccess.iphttps.client_info:
    store_certificates: all
  register: client_stores

- name: Show why a client cannot connect
  ansible.builtin.debug:
    msg: >-
      {{ client.iphttps.last_error.hex }} {{ client.iphttps.last_error.name }}:
      {{ client.diagnosis.verdict }}, missing {{ client.diagnosis.missing | map(attribute='subject') | list }}
  when: client.diagnosis is not none and not client.diagnosis.trusted
"""

RETURN = r"""
computer_name:
  description: The host's computer name.
  returned: always
  type: str
iphttps:
  description: The IP-HTTPS client state.
  returned: always
  type: dict
  contains:
    configured:
      description: Whether the host has an IP-HTTPS client configuration (it is a DirectAccess client).
      type: bool
    server_url:
      description: The IP-HTTPS server URL, or null.
      type: str
    interface_status:
      description: C(InterfaceStatus) from C(Get-NetIPHttpsState), or null when IP-HTTPS is not active.
      type: str
    last_error_code:
      description: C(LastErrorCode) (unsigned), or null when IP-HTTPS is not active.
      type: int
    last_error:
      description: The decoded error (code, hex, name, meaning, remedy, category), or null.
      type: dict
    state_source:
      description:
        - Where the state was read. V(cmdlet) is C(Get-NetIPHttpsState); V(netsh) is
          C(netsh interface httpstunnel show interfaces), which gives no C(interface_status).
      type: str
      choices: [cmdlet, netsh]
server_chain:
  description:
    - The server's certificates, leaf first, in PEM; see RV(server_chain_source) for where they come from.
  returned: always
  type: list
  elements: str
server_chain_source:
  description:
    - V(chain_policy_extra_store) when the chain engine was handed certificates besides the leaf (the leaf, then
      those). Whether .NET Framework's SslStream hands it the certificates the server sent is not confirmed.
    - V(chain_elements) otherwise, the chain Windows assembled (C(X509Chain.ChainElements)), which can include
      certificates from the client's own stores or fetched through AIA rather than sent by the server.
    - Null when no chain was captured.
  returned: always
  type: str
server_chain_error:
  description: Why the chain could not be captured (timeout, refused, TLS failure), or null.
  returned: always
  type: str
client_chain_status:
  description: The Windows chain engine's own X509Chain status flags for that chain.
  returned: always
  type: list
  elements: dict
da_connection_status:
  description:
    - C(Get-DAConnectionStatus) status and substatus, where the cmdlet exists and returns an object; else null.
    - C(status_code) and C(substatus_code) are the uint32 values of C(MSFT_DAConnectionStatus); C(status) and
      C(substatus) are their names (for example C(ConnectedRemotely)) where PowerShell gives them, else null.
  returned: always
  type: dict
  contains:
    status:
      description: The status name, or null.
      type: str
    status_code:
      description: The status number, or null.
      type: int
    substatus:
      description: The substatus name, or null.
      type: str
    substatus_code:
      description: The substatus number, or null.
      type: int
stores:
  description: Thumbprints in C(LocalMachine\\Root) (C(Root)), C(LocalMachine\\CA) (C(CA)) and
    C(LocalMachine\\Disallowed) (C(Disallowed)).
  returned: always
  type: dict
  contains:
    Root:
      description: Trusted Root Certification Authorities.
      type: list
      elements: str
    CA:
      description: Intermediate Certification Authorities.
      type: list
      elements: str
    Disallowed:
      description:
        - Untrusted Certificates. A certificate of the IP-HTTPS path listed here makes the diagnosis
          C(explicitly_distrusted), and M(directaccess.iphttps.ca_import) refuses to import it.
        - Empty when the host ran an older client_info script that did not read it.
      type: list
      elements: str
store_certificates:
  description:
    - Full certificates (PEM) of C(Root) and C(CA) store entries, by store, as O(store_certificates) chose them, so
      that M(directaccess.iphttps.trust_check) can anchor on them.
  returned: always
  type: dict
iphlpsvc:
  description:
    - The IP Helper service (C(iphlpsvc)), which carries IP-HTTPS, as C(Win32_Service) describes it; null when it
      could not be read. A stopped or disabled service means IP-HTTPS cannot run, whatever the stores hold.
  returned: always
  type: dict
  contains:
    state:
      description: C(Win32_Service.State), for example V(Running) or V(Stopped).
      type: str
      sample: Running
    start_mode:
      description: C(Win32_Service.StartMode), for example V(Auto), V(Manual) or V(Disabled).
      type: str
      sample: Auto
    process_id:
      description: C(Win32_Service.ProcessId) of the service's host process; expected to be 0 while it is stopped.
      type: int
diagnosis:
  description:
    - The M(directaccess.iphttps.trust_check) result for the chain the client received, judged against its own
      stores and O(bundle); null on a host that is not a DirectAccess client.
  returned: always
  type: dict
  contains:
    trusted:
      description: Whether the client trusts the chain as its stores stand.
      type: bool
    verdict:
      description: The main problem, or V(trusted); see RV(directaccess.iphttps.trust_check#module:verdict).
      type: str
      sample: untrusted_root
    missing:
      description:
        - The certificates the client lacks, each with C(thumbprint), C(sha256), C(subject), C(store),
          C(in_bundle) and C(aia_urls); see RV(directaccess.iphttps.trust_check#module:missing).
      type: list
      elements: dict
    fixable:
      description: True only when importing certificates from O(bundle) fixes the chain.
      type: bool
    path:
      description: The chain that was built, leaf first.
      type: list
      elements: dict
    reasons:
      description: Short sentences for people.
      type: list
      elements: str
    problems:
      description:
        - Every problem found on the chosen path, each with C(code), C(verdict), C(index), C(subject),
          C(thumbprint) and C(message); see RV(directaccess.iphttps.trust_check#module:problems).
      type: list
      elements: dict
    checked_at:
      description: The point in time the validity checks used, ISO 8601 UTC.
      type: str
"""
