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
          - Must be a regular file of at most 10 MiB. A folder, FIFO, device or socket is refused without reading
            from it, so C(/dev/zero) or a named pipe cannot hold up the task.
        type: path
      content:
        description: PEM text or base64 DER.
        type: str
      url:
        description:
          - An C(http) or C(https) URL of a C(.crt), C(.cer) or C(.p7b) file, as AIA publishes them.
          - Needs O(pins).
          - A user name and password in the URL (C(https://user:password@host/path)) are sent as HTTP Basic
            authentication to that host only, never to a host a redirect leads to. They are shown as C(***) in
            every message and in each certificate's RV(certificates[].source). Use C(https) so they do not cross
            the network in clear.
          - The C(http_proxy), C(https_proxy) and C(no_proxy) environment variables are honoured.
        type: str
      tls:
        description:
          - A C(host:port) (or C([ipv6]:port)) to connect to; the CA certificates the server presents are
            candidates, its own certificate is ignored. Without a port, 443 is used.
          - Needs O(pins).
        type: str
  follow_aia:
    description:
      - Follow AIA caIssuers URLs (C(http) and C(https) only) up to a root.
      - The links of the certificates you give in O(sources[].path) and O(sources[].content) are followed, and
        so are those of each CA certificate fetched that way that verifiably signed the certificate before it,
        because your CA wrote those links.
      - The links of certificates obtained over the network (O(sources[].url), O(sources[].tls), or anything
        else a download returned) are written by whoever runs that server. They are followed only to hosts in
        O(aia_hosts); any other such link is never looked up nor contacted, so a hostile server cannot make the
        controller send requests into your network or learn what answers there.
      - Without O(aia_hosts), no link goes to a loopback, link-local (such as C(169.254.169.254), the cloud
        metadata service), unspecified, multicast or reserved address, checked on every address the host name
        resolves to and on every redirect. Private addresses are allowed, as internal PKIs publish there.
      - A link not followed is a warning, and is named in the failure when a certificate then does not reach
        a pinned root.
    type: bool
    default: false
  aia_hosts:
    description:
      - Host names or IP addresses (no scheme, port or path) that O(follow_aia) may fetch from whatever
        certificate names them, at any address they resolve to, loopback included. Compared case-insensitively.
      - Needed to follow the links of certificates from O(sources[].url) or O(sources[].tls), typically the
        host your PKI publishes its CA certificates on.
    type: list
    elements: str
    default: []
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
    description:
      - Seconds each network source (each URL, each AIA link, each TLS handshake) may take in all, from the
        name lookup to the last byte, redirects included. A server sending one byte at a time cannot stretch it.
      - More than 0 and at most 600.
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
  - Downloads and files are limited to 10 MiB each; AIA walks stop after 8 levels; redirects after 5.
  - C(ldap://) AIA entries are skipped; clients off the corporate network cannot reach them either.
  - The threat model and what the collection guarantees against each threat are in the collection's
    C(docs/security.md).
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
    aia_hosts:
      - pki.contoso.com     # where the CA publishes its certificates; no other link is followed
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
      description:
        - Which source it came from, for example C(sources[0] (url https://***@pki.contoso.com/root.crt)) or
          C(AIA of CN=... (http://...)). Credentials in a URL are shown as C(***).
      type: str
    pem:
      description: The certificate in PEM.
      type: str
"""
