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
  - Among several IP-HTTPS client profiles, the activated one that names a server is used. Where none is activated
    (multisite, before the client has chosen an entry point) the client may connect to any of them, so the chain of
    every entry point is captured (at most 8) and judged; RV(entry_point_checks) has one line per entry point, and
    the diagnosis is trusted only when every entry point is (see RV(diagnosis)).
  - It connects the way IP-HTTPS does, over IPv4 or IPv6 (every address the server name resolves to, in the
    resolver's order), and through the machine's WinHTTP proxy with C(CONNECT) when one is set and applies to the
    URL; RV(server_connection) says which. It makes a TLS handshake (the versions Windows allows, from .NET
    Framework 4.7; TLS 1.2, 1.1 or 1.0 before) to the IP-HTTPS server and records the certificates and the
    Windows chain engine's status flags; and lists the thumbprints in C(LocalMachine\\Root) and
    C(LocalMachine\\CA), with full certificates as O(store_certificates) asks; and reads the state, start mode
    and process id of the IP Helper service (C(iphlpsvc)) from C(Win32_Service).
  - On the controller, the last error is decoded (see the P(directaccess.iphttps.iphttps_error#filter) filter) and
    the chain is analysed the way M(directaccess.iphttps.trust_check) does.
  - "Revocation (see O(revocation)): in the same command the client fetches every CRL distribution point and OCSP
    responder URL of the certificates in its chain, through the machine's WinHTTP proxy as Windows' own revocation
    check does, and sends back what each URL answered, with CRLs up to 256 KiB. The controller checks each CRL:
    signed by the issuer of the certificate that names it, C(thisUpdate)/C(nextUpdate) in force, and whether the
    certificate is listed. OCSP responders are judged by reachability only (a plain GET). The controller fetches
    nothing itself, and nothing fetched is ever imported."
  - A machine that is not a DirectAccess client, or whose IP-HTTPS interface is not active, is a state, not a failure.
  - "Constrained Language Mode (WDAC or AppLocker script enforcement) refuses the objects the TLS handshake, the store
    reads and the revocation fetches need. The script checks the language mode first and there reads only what
    cmdlets and netsh give (C(iphlpsvc), the IP-HTTPS configuration and state, C(Get-DAConnectionStatus)); the
    diagnosis is then V(constrained_language), never fixable, and no chain or store is judged."
  - The script writes its JSON as UTF-8 (C([Console]::OutputEncoding)), as Ansible's own bootstrap wrapper does, so
    localized status and error texts arrive intact; in Constrained Language Mode that setting is refused and texts
    come in the console code page.
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
  revocation:
    description:
      - When the client fetches its chain's revocation URLs (RV(revocation)).
      - V(auto) only when its IP-HTTPS last error is about revocation (C(0x80092013) CRYPT_E_REVOCATION_OFFLINE,
        C(0x80092012) CRYPT_E_NO_REVOCATION_CHECK or C(0x80092010) CRYPT_E_REVOKED), so a healthy fleet sends no
        extra requests.
      - V(always) on every run, to find a CDP that will fail before clients do; V(never) not at all.
      - Each URL gets a short timeout, so a chain with unreachable URLs adds a few seconds to the command.
    type: str
    choices: [auto, always, never]
    default: auto
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

- name: Name the CRL distribution point a client cannot reach, even while it still connects
  directaccess.iphttps.client_info:
    revocation: always
  register: client_revocation

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
language_mode:
  description:
    - The PowerShell language mode the script ran in (C($ExecutionContext.SessionState.LanguageMode)), normally
      V(FullLanguage). Anything else (V(ConstrainedLanguage)) makes the diagnosis V(constrained_language).
  returned: always
  type: str
  sample: FullLanguage
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
    profile_activated:
      description: C(ProfileActivated) of the profile used; null when read through netsh.
      type: bool
    entry_points:
      description:
        - The server URL of every IP-HTTPS client profile, each once. Several on a multisite client; when none is
          activated each one's chain is captured (client_info script v6; v5 and older captured
          RV(iphttps.server_url) only).
      type: list
      elements: str
winhttp_proxy:
  description:
    - The machine's WinHTTP proxy (what C(netsh winhttp set proxy) sets), which IP-HTTPS and Windows' revocation
      fetches use; null when the script did not read it (Constrained Language Mode, or a script older than v6).
  returned: always
  type: dict
  contains:
    proxy:
      description: The proxy list, such as C(proxy.contoso.com:8080); null for a direct connection.
      type: str
    bypass:
      description: The bypass list, or null.
      type: str
server_connection:
  description:
    - How the capture reached the IP-HTTPS server, or null when none was tried.
  returned: always
  type: dict
  contains:
    via:
      description: V(direct), or V(proxy) when it went through a C(CONNECT) tunnel of the WinHTTP proxy.
      type: str
    proxy:
      description: The proxy's C(host:port) when V(proxy), else null.
      type: str
    address:
      description: The IP address connected to (the server's, or the proxy's), IPv4 or IPv6; null when no
        connection was made.
      type: str
entry_point_checks:
  description:
    - One line per entry point judged, the one in RV(iphttps.server_url) first. A single line unless the client is
      multisite with no profile activated.
  returned: always
  type: list
  elements: dict
  contains:
    server_url:
      description: The entry point's IP-HTTPS URL.
      type: str
    server_connection:
      description: As RV(server_connection), for this entry point.
      type: dict
    verdict:
      description: This entry point's verdict (see RV(diagnosis.verdict)).
      type: str
    trusted:
      description: Whether the client trusts this entry point's chain.
      type: bool
    fixable:
      description: Whether importing certificates from the bundle fixes this entry point.
      type: bool
    missing:
      description: Thumbprints this entry point's chain lacks.
      type: list
      elements: str
    server_chain_error:
      description: Why this entry point's chain could not be captured, or null.
      type: str
server_chain:
  description:
    - The server's certificates, leaf first, in PEM; see RV(server_chain_source) for where they come from.
  returned: always
  type: list
  elements: str
server_chain_source:
  description:
    - V(chain_policy_extra_store) when the callback's C(ChainPolicy.ExtraStore) held anything. On .NET Framework
      SslStream copies into it every certificate of Schannel's remote certificate store, that is everything the
      server sent, the leaf included, in no guaranteed order. The chain is then the callback's certificate (the
      leaf), followed by the others, put in order by issuer name where they link and as they came otherwise.
    - V(chain_elements) otherwise, the chain Windows assembled (C(X509Chain.ChainElements)), which can include
      certificates from the client's own stores or fetched through AIA rather than sent by the server.
    - Null when no chain was captured.
  returned: always
  type: str
server_chain_error:
  description: Why the chain could not be captured (timeout, refused, TLS failure), or null.
  returned: always
  type: str
server_chain_error_code:
  description:
    - The Schannel status of a TLS handshake that failed, decoded (code, hex, name, meaning, remedy, category), or
      null. The script takes it from the Win32Exception inside .NET's AuthenticationException; a timeout or a refused
      connection has none. Without a chain it makes the diagnosis V(handshake_failed).
  returned: always
  type: dict
policy_errors:
  description:
    - The SslPolicyErrors the TLS validation callback was given (V(None), V(RemoteCertificateNameMismatch),
      V(RemoteCertificateChainErrors), or several joined by commas), or null when the callback did not run.
  returned: always
  type: str
client_chain_status:
  description:
    - The Windows chain engine's own X509Chain status flags (C(status), C(information)) for the chain it built in
      the TLS callback.
    - That chain is built with revocation checking off and in the context of the WinRM user running the script
      (its user stores and policy apply), not as IP Helper (C(iphlpsvc)) builds it as LocalSystem. It is not the
      verdict of IP-HTTPS; RV(iphttps.last_error_code) is. The controller's RV(diagnosis) stays the decision; this
      field is there to show where Windows and the analysis disagree.
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
    C(LocalMachine\\Disallowed) (C(Disallowed)); empty lists when the stores were not read (Constrained Language
    Mode).
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
revocation:
  description:
    - The client's fetches of the chain's CRL and OCSP URLs, judged on the controller; null when the client fetched
      nothing (O(revocation=never), V(auto) without a revocation error, an older script, or not a DirectAccess
      client).
    - C(docs/verdicts.md) (Revocation) gives the Windows rules behind it.
  returned: always
  type: dict
  contains:
    outcome:
      description:
        - The worst outcome of any certificate. V(revoked) (a CRL in force lists it), V(offline) (every URL it names
          failed), V(no_check) (it names no CRL or OCSP URL), V(unknown) (no usable answer, nothing proven broken),
          V(good) (a current CRL signed by the issuer does not list it).
      type: str
      choices: [revoked, offline, no_check, unknown, good]
    windows_error:
      description: The error Windows reports for that outcome (C(code), C(hex), C(name)), or null.
      type: dict
    certificate:
      description: The certificate that decides the outcome (C(index) into the path, C(subject), C(thumbprint)).
      type: dict
    urls:
      description: The URLs of that certificate that failed, or the CRL that lists it.
      type: list
      elements: str
    message:
      description: What was found, for people.
      type: str
    remedy:
      description: What to do about it; empty when nothing is wrong.
      type: str
    proxy:
      description: The WinHTTP proxy the client fetched through (C(source), C(proxy) as host:port or null for
        direct, C(bypass)).
      type: dict
    certificates:
      description:
        - Each certificate of the client's chain (the leaf, then the elements Windows built), with C(index),
          C(subject), C(thumbprint), C(serial), C(outcome) (also V(not_checked) for a self-signed root),
          C(windows_error), C(message), C(remedy) and C(urls).
        - Each URL has C(url), C(kind) (V(crl) or V(ocsp)), C(reachable), C(status), C(size), C(error), C(message)
          and C(result), one of V(current), V(lists_certificate), V(expired), V(not_yet_valid), V(wrong_signer),
          V(indirect), V(unreadable), V(unreachable), V(http_error), V(internal_only) (an LDAP or file URL),
          V(not_fetched), V(not_evaluated) or V(responder_reachable); CRLs add C(this_update), C(next_update) and
          C(delta_crl_urls), a listed certificate C(revoked_at) and C(reason).
      type: list
      elements: dict
    problems:
      description: Parts of the client's answer that could not be used, each naming the field; they are left out.
      type: list
      elements: str
    checked_at:
      description: The time the CRLs were judged against, ISO 8601 UTC.
      type: str
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
    - With several entry points judged (RV(entry_point_checks)), trusted only when all are; otherwise the verdict
      and problems of the first entry point no import fixes, else of the first that fails, with C(missing) what
      all failing entry points lack together and C(fixable) only when every one of them is. Each reason names its
      entry point.
  returned: always
  type: dict
  contains:
    trusted:
      description:
        - Whether the client trusts the chain as its stores stand; false with a V(revoked) or V(revocation_offline)
          verdict.
      type: bool
    verdict:
      description:
        - The main problem, or V(trusted); see RV(directaccess.iphttps.trust_check#module:verdict).
        - Besides trust_check's verdicts, V(revocation_offline) or V(revoked) (see RV(diagnosis.revocation)).
        - V(constrained_language) when PowerShell on the client runs in Constrained Language Mode (see
          RV(language_mode)), so the chain and the stores could not be read; never fixable. Allow the collection's
          scripts in the WDAC or AppLocker policy, or run with an account or WinRM endpoint that gets FullLanguage
          (U(https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_language_modes?view=powershell-5.1)).
        - V(handshake_failed) when the TLS handshake failed with a Schannel error before the chain was seen (see
          RV(server_chain_error_code)), such as a device in front of the server that demands a client certificate;
          never fixable. The code's remedy says what to change.
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
    revocation:
      description:
        - Null unless revocation matters. Otherwise C(outcome) and C(windows_error) of RV(revocation),
          C(client_reports) (what the client's last error says, V(revoked), V(offline), V(no_check) or null),
          C(chain_verdict) (the verdict of the trust analysis alone), C(certificate), C(urls) and C(remedy).
        - The verdict is V(revoked) or V(revocation_offline), never fixable, when the chain is trusted (or lacks only
          what an import adds) and the client's last error is a revocation error, or a CRL in force lists a
          certificate of the chain. A host with a revocation error is never one an import or a restart fixes.
      type: dict
"""
