#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: trust_check
short_description: Diagnose why a DirectAccess client does not trust the IP-HTTPS server chain
version_added: 0.1.0
description:
  - Builds the certificate path from the IP-HTTPS server certificate to a root the way Windows does
    (key identifiers or name plus signature, several candidate issuers, cross-certificates) and
    checks it against what the client's C(LocalMachine\\Root) and C(LocalMachine\\CA) stores hold.
  - Names exactly which certificates the client lacks and which store each belongs in, and says
    whether importing certificates from O(bundle) can fix the problem.
  - Runs on the controller and changes nothing. It does not open a connection to the host, so it
    can run in a play that targets Windows hosts.
options:
  server_chain:
    description:
      - The certificates the IP-HTTPS server sent, leaf first.
      - Each item is PEM text (one or more certificates) or base64 DER.
    type: list
    elements: raw
    required: true
  server_name:
    description:
      - The host name of the IP-HTTPS URL, for example C(da.contoso.com).
      - Matched against the subject CN and the SAN DNS names, with a left-most wildcard label.
      - When omitted, the name is not checked.
    type: str
  root_store:
    description:
      - What the client's C(LocalMachine\\Root) store holds.
      - Each item is a certificate (PEM, base64 DER or a dict with a C(pem) key) or a bare Windows
        thumbprint (SHA-1 hex, any case, colons allowed).
    type: list
    elements: raw
    default: []
  intermediate_store:
    description:
      - What the client's C(LocalMachine\\CA) store holds, in the same forms as O(root_store).
    type: list
    elements: raw
    default: []
  disallowed_store:
    description:
      - What the client's C(LocalMachine\\Disallowed) (Untrusted Certificates) store holds, in the same forms as
        O(root_store); RV(directaccess.iphttps.client_info#module:stores.Disallowed) gives it.
      - A certificate of the path found here makes the verdict C(explicitly_distrusted), which no import fixes.
    type: list
    elements: raw
    default: []
  bundle:
    description:
      - Candidate certificates that could be imported, usually the RV(directaccess.iphttps.ca_bundle#module:certificates)
        list, or PEM strings.
      - A missing certificate found here is reported with C(in_bundle=true).
    type: list
    elements: raw
    default: []
  at:
    description:
      - The point in time for validity checks, as ISO 8601 (for example C(2026-11-28T12:00:00Z)).
      - A time without a zone is read as UTC. Defaults to now.
    type: str
attributes:
  check_mode:
    description: Changes nothing; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  platform:
    description: Runs on the controller; it never opens a connection to the host.
    platforms: all
    support: full
notes:
  - Revocation is not checked here.
  - The analysis mirrors Windows chain building as documented by Microsoft; it was tested against
    generated PKIs and the NIST PKITS vectors, not against a Windows chain engine.
seealso:
  - module: directaccess.iphttps.ca_bundle
  - plugin: directaccess.iphttps.iphttps_error
    plugin_type: filter
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: Decide what a client lacks
  directaccess.iphttps.trust_check:
    server_chain: "{{ captured_chain }}"
    server_name: da.contoso.com
    root_store: "{{ client_root_thumbprints }}"
    intermediate_store: "{{ client_ca_thumbprints }}"
    bundle: "{{ bundle.certificates }}"
  register: diagnosis

- name: Show the certificates to deploy
  ansible.builtin.debug:
    msg: "{{ diagnosis.missing | map(attribute='subject') }} -> {{ diagnosis.missing | map(attribute='store') }}"
  when: diagnosis.fixable
"""

RETURN = r"""
trusted:
  description: Whether the client trusts the chain as its stores stand.
  returned: always
  type: bool
verdict:
  description:
    - The main problem, or C(trusted).
    - One of V(trusted), V(untrusted_root), V(missing_intermediate), V(name_mismatch), V(name_constraints),
      V(wrong_usage), V(expired), V(not_yet_valid), V(unsupported_critical_extension), V(weak_crypto),
      V(bad_signature), V(explicitly_distrusted), V(malformed), V(no_chain); C(docs/verdicts.md) says what each
      means and what to do.
  returned: always
  type: str
  sample: untrusted_root
missing:
  description: The certificates the client lacks, each with the store it belongs in.
  returned: always
  type: list
  elements: dict
  contains:
    thumbprint:
      description: Windows thumbprint (SHA-1, upper-case hex); null when the certificate is not known at all.
      type: str
    sha256:
      description: SHA-256 fingerprint, upper-case hex; null when the certificate is not known at all.
      type: str
    subject:
      description: Subject distinguished name.
      type: str
    store:
      description: V(Root) for a root, V(CA) for an intermediate.
      type: str
    in_bundle:
      description: Whether O(bundle) holds it.
      type: bool
    aia_urls:
      description: The AIA caIssuers URLs of the certificate it issued, where the client could fetch it.
      type: list
      elements: str
fixable:
  description:
    - True only when the problem is trust (V(untrusted_root) or V(missing_intermediate)) and every missing
      certificate is in O(bundle). Never true for a name, usage, expiry or signature problem.
  returned: always
  type: bool
path:
  description: The chain that was built, leaf first.
  returned: always
  type: list
  elements: dict
reasons:
  description: Short sentences for people.
  returned: always
  type: list
  elements: str
problems:
  description:
    - Every problem found on the chosen path (and a name mismatch of the leaf), machine-readable; RV(verdict) is the
      most severe of them. Empty when the chain is trusted or only lacks certificates.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description:
        - What is wrong. One of V(empty), V(too_long), V(issuer_unknown), V(name_chaining), V(bad_signature),
          V(weak_signature), V(weak_key), V(expired), V(not_yet_valid), V(not_ca), V(path_length), V(key_usage),
          V(leaf_key_usage), V(eku), V(critical_extension), V(malformed_extension), V(malformed_name),
          V(explicit_distrust), V(name_mismatch), V(name_not_permitted), V(name_excluded),
          V(name_constraint_unsupported), V(name_constraints_invalid).
      type: str
    verdict:
      description: The verdict this problem leads to.
      type: str
    index:
      description: Position in RV(path) where the problem was found (0 is the leaf), or null.
      type: int
    subject:
      description: Subject of that certificate, or null.
      type: str
    thumbprint:
      description: Windows thumbprint of that certificate, or null.
      type: str
    message:
      description: The problem in a sentence.
      type: str
    extension:
      description: For V(malformed) and V(unsupported_critical_extension) problems, the extension's OID.
      type: str
    windows_status:
      description:
        - For V(name_constraints) problems, the CryptoAPI chain status flag Windows sets, for example
          C(CERT_TRUST_HAS_EXCLUDED_NAME_CONSTRAINT).
      type: str
    constraint:
      description: For V(name_constraints) problems, the subtree that was violated (or the unsupported form).
      type: str
    name:
      description: For V(name_constraints) problems, the server certificate's name that violates it.
      type: str
checked_at:
  description: The point in time the validity checks used (O(at), or now), ISO 8601 UTC.
  returned: always
  type: str
  sample: "2026-11-28T12:00:00Z"
"""
