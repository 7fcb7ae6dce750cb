# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch candidate CA certificates for ca_bundle: files, text, URLs, TLS handshakes and AIA.

Internal to directaccess.iphttps; may change without notice. Vetting lives in _ca_vetting.
Every certificate is tagged with where it came from and whether it crossed the network,
because network-obtained certificates are only kept when they chain to a pinned root.
"""
from __future__ import annotations

import dataclasses
import socket
import ssl
import typing as t
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    MAX_INPUT_BYTES,
    CertificateError,
    describe,
    is_ca,
    issued_by,
    load_certificates,
    thumbprint,
)

# AIA chains in the field are two or three links long; the bound only stops loops and abuse.
MAX_AIA_DEPTH = 8


class SourceError(Exception):
    """A source could not be read; the message names the source and the reason."""


@dataclasses.dataclass
class Candidate:
    certificate: t.Any  # cryptography x509.Certificate
    source: str
    network: bool


def describe_source(index: int, source: t.Mapping[str, t.Any]) -> str:
    for key in ("path", "content", "url", "tls"):
        if source.get(key):
            value = "<inline PEM>" if key == "content" else source[key]
            return f"sources[{index}] ({key} {value})"
    return f"sources[{index}]"


def _read_limited(stream: t.Any, label: str) -> bytes:
    # Read one byte past the limit so oversize input is refused rather than silently truncated.
    body = stream.read(MAX_INPUT_BYTES + 1)
    if len(body) > MAX_INPUT_BYTES:
        raise SourceError(f"{label}: response is larger than {MAX_INPUT_BYTES} bytes")
    return body


def fetch_url(url: str, label: str, timeout: float, validate_certs: bool,
              opener: t.Callable[..., t.Any] | None = None) -> bytes:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{label}: only http and https URLs are supported, not {scheme or 'a bare path'!r}")
    if opener is None:
        from ansible.module_utils.urls import open_url as opener
    try:
        response = opener(url, timeout=timeout, validate_certs=validate_certs, follow_redirects="safe")
        try:
            return _read_limited(response, label)
        finally:
            response.close()
    except SourceError:
        raise
    except Exception as exc:  # urllib raises a zoo of types; the reason text is what helps
        raise SourceError(f"{label}: download failed: {exc}") from None


def split_host_port(value: str, label: str) -> tuple[str, int]:
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise SourceError(f"{label}: expected host:port or [ipv6]:port, got {value!r}")
    elif text.count(":") == 1:
        host, _sep, port_text = text.partition(":")
    elif ":" in text:
        raise SourceError(f"{label}: write IPv6 addresses as [address]:port, got {value!r}")
    else:
        host, port_text = text, ""
    if not host:
        raise SourceError(f"{label}: no host name in {value!r}")
    if not port_text:
        return host, 443
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SourceError(f"{label}: port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


def fetch_tls_chain(endpoint: str, label: str, timeout: float) -> list[bytes]:
    """DER certificates the server presents, in the order it sends them."""
    host, port = split_host_port(endpoint, label)
    # No verification here on purpose: the chain is only a candidate, and ca_bundle keeps a
    # certificate from the network only if it chains to a pinned root.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                if hasattr(tls, "get_unverified_chain"):  # Python 3.13+
                    return [bytes(der) for der in tls.get_unverified_chain()]
                # Python 3.10-3.12 expose the same call on the internal object only.
                return [c.public_bytes(ssl._ssl.ENCODING_DER)  # pylint: disable=protected-access
                        for c in tls._sslobj.get_unverified_chain()]  # pylint: disable=protected-access
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"{label}: TLS handshake with {host}:{port} failed: {exc}") from None


def _load(data: bytes | str, label: str) -> list[t.Any]:
    try:
        return load_certificates(data, label)
    except CertificateError as exc:
        raise SourceError(str(exc)) from None


def collect(sources: t.Sequence[t.Mapping[str, t.Any]], *, read_file: t.Callable[[str], bytes],
            timeout: float = 10.0, validate_certs: bool = True, follow_aia: bool = False,
            opener: t.Callable[..., t.Any] | None = None) -> list[Candidate]:
    """Load every source; raise SourceError on the first one that cannot be read."""
    candidates: list[Candidate] = []
    for index, source in enumerate(sources):
        label = describe_source(index, source)
        if source.get("path"):
            candidates += [Candidate(c, label, False) for c in _load(read_file(source["path"]), label)]
        elif source.get("content"):
            candidates += [Candidate(c, label, False) for c in _load(source["content"], label)]
        elif source.get("url"):
            body = fetch_url(source["url"], label, timeout, validate_certs, opener)
            candidates += [Candidate(c, label, True) for c in _load(body, label)]
        elif source.get("tls"):
            chain = [_load(der, label)[0] for der in fetch_tls_chain(source["tls"], label, timeout)]
            # The server's own certificate is expected in a handshake; only its CAs are candidates.
            cas = [c for c in chain if is_ca(c)]
            if not cas:
                raise SourceError(f"{label}: the server presented no CA certificate, only its own certificate")
            candidates += [Candidate(c, label, True) for c in cas]
        else:
            raise SourceError(f"{label}: give exactly one of path, content, url or tls")
    if follow_aia:
        candidates += walk_aia(candidates, timeout=timeout, validate_certs=validate_certs, opener=opener)
    return candidates


def walk_aia(start: t.Sequence[Candidate], *, timeout: float, validate_certs: bool,
             opener: t.Callable[..., t.Any] | None = None) -> list[Candidate]:
    """Follow AIA caIssuers URLs upwards until self-signed roots, breadth first."""
    known = {thumbprint(c.certificate): c.certificate for c in start}
    found: list[Candidate] = []
    frontier = list(start)
    for _depth in range(MAX_AIA_DEPTH):
        next_frontier: list[Candidate] = []
        for cand in frontier:
            info = describe(cand.certificate)
            if info["self_signed"] or any(issued_by(cand.certificate, k) for k in known.values()):
                continue
            for url in info["aia_ca_issuers"]:
                if urlsplit(url).scheme.lower() not in ("http", "https"):
                    continue  # ldap:// AIA entries are common in AD CS; only HTTP is reachable off-network
                label = f"AIA of {info['subject']} ({url})"
                for cert in _load(fetch_url(url, label, timeout, validate_certs, opener), label):
                    if thumbprint(cert) not in known:
                        known[thumbprint(cert)] = cert
                        fetched = Candidate(cert, label, True)
                        found.append(fetched)
                        next_frontier.append(fetched)
        if not next_frontier:
            return found
        frontier = next_frontier
    raise SourceError(f"AIA walk did not reach a root within {MAX_AIA_DEPTH} levels")
