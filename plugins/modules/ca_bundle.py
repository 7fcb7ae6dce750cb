#!/usr/bin/python
# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds documentation only; the work is done by the action plugin of the same name.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ca_bundle
short_description: Gather and vet the CA certificates a DirectAccess client must trust
version_added: 0.1.0
description:
  - Collects root and intermediate CA certificates from files on the controller, inline PEM, URLs
    (as AIA publishes them), AIA caIssuers links, or a TLS handshake with the IP-HTTPS server.
  - Refuses anything that is not a CA, has expired or is not yet valid, or, when O(pins) are given, any
    root whose SHA-256 fingerprint is not pinned.
  - A certificate obtained over the network (O(sources[].url), O(sources[].tls), O(follow_aia)) is only kept
    when its chain verifies up to a pinned root.
  - Any refusal fails the task with a message that names the source and the reason; no partial list is returned.
  - Runs on the controller and never opens a connection to the host, so it can sit in a play that
    targets Windows hosts. It is meant to run once per play (C(run_once=true)).
options:
  sources:
    description: Where to get certificates. Each item has exactly one of the keys below.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - A file on the controller with PEM (one or many certificates), DER, or PKCS#7 (C(.p7b)) content.
          - A relative path is searched in the role's or playbook's C(files) folder first, then from the working
            directory of C(ansible-playbook).
          - The P(directaccess.iphttps.remediate#role) role checks every C(path) from the working directory before
            any host is touched (in AWX, the project directory), so give paths from there when using the
            collection's playbooks.
        type: path
      content:
        description: PEM text or base64 DER.
        type: str
      url:
        description:
          - An C(http) or C(https) URL of a C(.crt), C(.cer) or C(.p7b) file, as AIA publishes them.
          - Needs O(pins).
        type: str
      tls:
        description:
          - A C(host:port) (or C([ipv6]:port)) to connect to; the CA certificates the server presents are
            candidates, its own certificate is ignored. Without a port, 443 is used.
          - Needs O(pins).
        type: str
  follow_aia:
    description:
      - Follow the AIA caIssuers URLs (C(http) and C(https) only) of every certificate up to a root.
    type: bool
    default: false
  pins:
    description:
      - SHA-256 fingerprints of the approved roots, in any case, with or without colons.
      - When given, every root returned must be pinned.
      - Required for network sources.
    type: list
    elements: str
    default: []
  allow_expired:
    description: Keep expired CA certificates instead of refusing them.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each network connection and download.
    type: float
    default: 10.0
  validate_certs:
    description:
      - Validate the TLS certificate of C(https) URLs while downloading.
      - This does not affect O(sources[].tls), whose chain is vetted against O(pins) instead.
    type: bool
    default: true
attributes:
  check_mode:
    description: Changes nothing; fetches, vets and returns the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  platform:
    description: Runs on the controller; it never opens a connection to the host.
    platforms: all
    support: full
notes:
  - Downloads are limited to 10 MiB each; AIA walks stop after 8 levels.
  - C(ldap://) AIA entries are skipped; clients off the corporate network cannot reach them either.
seealso:
  - module: directaccess.iphttps.trust_check
author:
  - directaccess.iphttps contributors (@directaccess)
"""

EXAMPLES = r"""
- name: Approved CA certificates from files (the playbook's files/ folder, then the working directory)
  directaccess.iphttps.ca_bundle:
    sources:
      - path: cas/corp-root-2026.pem
      - path: cas/corp-issuing-ca.p7b
    pins:
      - "5B:3E:...:9A"
  run_once: true
  register: bundle

- name: Take the CAs the IP-HTTPS server presents, walk AIA to the root, keep them only if pinned
  directaccess.iphttps.ca_bundle:
    sources:
      - tls: da.contoso.com:443
    follow_aia: true
    pins: "{{ corp_root_sha256_pins }}"
  run_once: true
  register: bundle
"""

RETURN = r"""
certificates:
  description: The accepted certificates, deduplicated, roots first and then intermediates from the top down.
  returned: success
  type: list
  elements: dict
  contains:
    subject:
      description: Subject distinguished name (RFC 4514).
      type: str
    issuer:
      description: Issuer distinguished name (RFC 4514).
      type: str
    thumbprint:
      description: Windows thumbprint, the SHA-1 of the DER certificate in upper-case hex.
      type: str
    sha256:
      description: SHA-256 fingerprint in upper-case hex.
      type: str
    not_before:
      description: Start of validity, ISO 8601 UTC.
      type: str
    not_after:
      description: End of validity, ISO 8601 UTC.
      type: str
    role:
      description: V(root) for a self-signed CA, V(intermediate) otherwise.
      type: str
    store:
      description: The LocalMachine store it belongs in, V(Root) or V(CA).
      type: str
    source:
      description: Which source it came from.
      type: str
    pem:
      description: The certificate in PEM.
      type: str
"""
