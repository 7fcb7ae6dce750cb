#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpo_certificates
short_description: Read and change the CA certificates a GPO deploys to the DirectAccess clients
version_added: 0.1.0
description:
  - Runs against a domain-joined management host that has the GroupPolicy module (RSAT Group Policy Management
    Tools or GPMC), over WinRM, in one command to read and, when something must change, one more to write.
  - Reads the GPO's Public Key Policies as registry-based policy values,
    C(HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\Root\\Certificates\\<thumbprint>) and the same
    under C(CA), value C(Blob). Each value holds a serialized certificate store element (the format
    C(CertSerializeCertificateStoreElement) produces), not bare DER. A value that is not one is reported in
    RV(unreadable) and, under a key this task manages, rewritten.
  - Reports where the GPO is linked (RV(links)), who it applies to (RV(apply_trustees), the trustees with the
    C(GpoApply) permission), and whether it reaches the DirectAccess client groups (RV(reach)).
  - With neither O(gpo_name) nor O(gpo_guid), the GPO is the DirectAccess client GPO that Remote Access created,
    that is the first C(GpoName) C(Get-DAClient) reports (on the Remote Access server, or with O(remote_access_server)),
    else the GPO named C(DirectAccess Client Settings), the Remote Access setup's default name.
  - With O(certificates), O(state=present) adds every certificate the GPO does not carry, in the store the client
    import would choose (a self-signed CA in Root, any other CA in CA); O(state=absent) removes exactly the given
    ones. Matching is by store and thumbprint, so a second run changes nothing. Without O(certificates) the task
    only reads.
  - With O(state=present), a certificate that is expired, not yet valid or not a CA is refused before the host is
    contacted, as M(directaccess.iphttps.ca_import) does; pass
    RV(directaccess.iphttps.ca_bundle#module:certificates), which holds only vetted certificates.
options:
  certificates:
    description:
      - The certificates, usually RV(directaccess.iphttps.ca_bundle#module:certificates); PEM strings work too.
      - With O(state=absent), entries may name a certificate by C(store) and C(thumbprint) alone.
      - Omit to only read the GPO.
    type: list
    elements: raw
  state:
    description: V(present) adds the certificates the GPO lacks; V(absent) removes exactly the given ones.
    type: str
    choices: [present, absent]
    default: present
  gpo_name:
    description: The GPO's display name. Mutually exclusive with O(gpo_guid).
    type: str
  gpo_guid:
    description: The GPO's GUID. Mutually exclusive with O(gpo_name).
    type: str
  domain:
    description: The GPO's domain (FQDN); by default the domain of the WinRM account.
    type: str
  server:
    description: The domain controller to read and write; by default the PDC emulator, as the GroupPolicy cmdlets choose.
    type: str
  remote_access_server:
    description:
      - The Remote Access server C(Get-DAClient) asks for the client GPO and groups when no GPO is named and the
        management host is not that server itself.
    type: str
  client_groups:
    description:
      - The groups of DirectAccess client computers the GPO must reach. By default the security groups
        C(Get-DAClient) reports; with neither, RV(reach) lists no groups.
    type: list
    elements: str
  allow_unvetted:
    description:
      - Deploy certificates that are expired or not yet valid, with O(state=present). A certificate that is not a CA
        is refused whatever this says.
    type: bool
    default: false
  publish_enterprise:
    description:
      - Also publish the certificates into Active Directory's enterprise stores, as
        C(certutil -dspublish -f <file> RootCA) and C(SubCA) do, so that every domain member gets them in its
        C(.Enterprise) physical store (Root for a root, CA for an intermediate) at its next policy refresh.
      - Reads first what Active Directory holds, the C(cACertificate) values of the objects under
        C(CN=Certification Authorities) (RootCA) and C(CN=AIA) (SubCA) in C(CN=Public Key Services,CN=Services) of the
        configuration naming context, and publishes only what a container lacks, by thumbprint.
      - Never unpublishes. With O(state=absent) it only reads, and RV(gpo_warnings) names each certificate that stays
        published; removal from Active Directory is manual (docs/gpo.md).
      - Needs O(certificates). The WinRM account needs write access to those containers (Enterprise Admins by default).
    type: bool
    default: false
attributes:
  check_mode:
    description: Reads the GPO and reports what would be written or removed; writes nothing.
    support: full
  diff_mode:
    description:
      - The thumbprints per store the GPO carries before and after; in check mode, after is what it would carry.
        The result carries RV(diff) whether or not C(--diff) is given.
    support: full
  platform:
    description: A domain-joined Windows management host reached over WinRM (Windows PowerShell 5.1, GroupPolicy module).
    platforms: windows
    support: full
notes:
  - The WinRM account needs read access to the GPO and, to change it, Edit settings on it.
  - Clients apply the change at their next Group Policy refresh, and only while they reach a domain controller
    (inside, or through a working DirectAccess tunnel). A client whose tunnel is broken by the missing CA never
    gets it this way; M(directaccess.iphttps.ca_import) fixes such a client directly.
  - The GPO's modification time (RV(gpo.modified)) is the only date the GroupPolicy cmdlets give; when a single
    certificate value was added is not recorded in the GPO.
  - Tested against the project's lab, which imitates the script's contract on loopback; not run on Windows by
    this project. See docs/gpo.md for the sources and the assumptions.
seealso:
  - module: directaccess.iphttps.ca_bundle
  - module: directaccess.iphttps.ca_import
  - name: certutil -dspublish
    description: Publishing a CA certificate into Active Directory.
    link: https://learn.microsoft.com/en-us/windows-server/administration/windows-commands/certutil
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: What does the DirectAccess client GPO deploy, and whom does it reach?
  directaccess.iphttps.gpo_certificates:
  register: gpo

- name: Make the GPO carry the vetted CA certificates
  directaccess.iphttps.gpo_certificates:
    certificates: "{{ bundle.certificates }}"
    gpo_name: DirectAccess Client Settings
    client_groups: ["CORP\\DirectAccessClients"]

- name: Make the GPO carry the CA certificates and publish them into Active Directory's enterprise stores
  directaccess.iphttps.gpo_certificates:
    certificates: "{{ bundle.certificates }}"
    publish_enterprise: true

- name: Take a retired root out of the GPO, by thumbprint
  directaccess.iphttps.gpo_certificates:
    certificates:
      - store: Root
        thumbprint: 5B3E0C2A79A1076A31F21D253635CB039D4329A5
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the GPO changed (in check mode, would change).
  returned: always
  type: bool
gpo:
  description: The GPO read.
  returned: always
  type: dict
  contains:
    name:
      description: Display name.
      type: str
    guid:
      description: GUID.
      type: str
    domain:
      description: Domain.
      type: str
    status:
      description: C(GpoStatus), e.g. V(AllSettingsEnabled) or V(ComputerSettingsDisabled).
      type: str
    modified:
      description: The GPO's modification time, ISO 8601 in UTC.
      type: str
    found_by:
      description: V(guid), V(name), V(Get-DAClient) or V(default_name).
      type: str
da_client:
  description: What C(Get-DAClient) reported (C(gpo_names), C(security_groups)), or null when it was not asked or failed.
  returned: always
  type: dict
da_client_note:
  description: Why C(Get-DAClient) gave nothing, or null.
  returned: always
  type: str
links:
  description: Where the GPO is linked, each with C(som_path), C(som_name), C(enabled) and C(enforced).
  returned: always
  type: list
  elements: dict
apply_trustees:
  description: The trustees with C(GpoApply) (security filtering), each with C(name), C(type) and C(denied).
  returned: always
  type: list
  elements: dict
reach:
  description: Whether the GPO can reach the clients.
  returned: always
  type: dict
  contains:
    linked:
      description: At least one enabled link.
      type: bool
    computer_settings_enabled:
      description: Computer Configuration, where Public Key Policies live, is not disabled.
      type: bool
    client_groups:
      description: Each client group with C(applies), true when it (or Authenticated Users or Domain Computers) holds GpoApply and it is not denied.
      type: list
      elements: dict
gpo_warnings:
  description:
    - Why clients may never get the certificates (no enabled link, computer settings off, a group left out), a
      certificate value they cannot use, and a bundle certificate the GPO carries in the wrong store.
  returned: always
  type: list
  elements: str
certificates:
  description:
    - The certificates the GPO carries after the task (C(store), C(thumbprint), C(subject), C(not_after)); in check
      mode, what it carries now.
  returned: always
  type: list
  elements: dict
unreadable:
  description: Certificate keys whose C(Blob) is missing or not a certificate store element, each with C(reason).
  returned: always
  type: list
  elements: dict
written:
  description: Certificates written (or that would be), each with C(store), C(thumbprint), C(subject).
  returned: always
  type: list
  elements: dict
removed:
  description: Certificates removed (or that would be) with O(state=absent).
  returned: always
  type: list
  elements: dict
already_present:
  description: With O(state=present), certificates the GPO already carried.
  returned: always
  type: list
  elements: dict
absent:
  description: With O(state=absent), certificates the GPO did not carry.
  returned: always
  type: list
  elements: dict
diff:
  description:
    - The thumbprints per store (C(Root), C(CA)) before and after; with O(publish_enterprise), also C(enterprise), the
      thumbprints per container (C(RootCA), C(SubCA)) Active Directory holds before and after.
  returned: always
  type: dict
enterprise:
  description: With O(publish_enterprise), what Active Directory's enterprise stores hold and what was published; else null.
  returned: always
  type: dict
  contains:
    configuration_nc:
      description: The configuration naming context read.
      type: str
    held_before:
      description: C(RootCA) and C(SubCA), each a list of C(thumbprint) and C(subject), before publishing.
      type: dict
    held:
      description: The same after publishing; in check mode, what it holds now.
      type: dict
    published:
      description: The certificates published (or that would be), each with C(container), C(thumbprint), C(subject).
      type: list
      elements: dict
    already_published:
      description: The certificates Active Directory already held in their container.
      type: list
      elements: dict
    stays_published:
      description: With O(state=absent), the given certificates Active Directory still holds; this task never removes them.
      type: list
      elements: dict
msg:
  description: Why the task failed or the host is unreachable.
  returned: on failure or when unreachable
  type: str
"""
