# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch candidate CA certificates for ca_bundle: files, text, URLs, TLS handshakes and AIA.

Internal to directaccess.iphttps; may change without notice. Vetting lives in _ca_vetting.
Every certificate is tagged with where it came from and whether it crossed the network,
because network-obtained certificates are only kept when they chain to a pinned root.
Every read is bounded in bytes and every wait by the task's timeout, taken as a deadline for the
whole source; URLs are shown with their credentials replaced by ``***``.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import ssl
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    MAX_INPUT_BYTES,
    CertificateError,
    describe,
    is_ca,
    issued_by,
    load_certificates,
    thumbprint,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fetch_http import (
    Deadline,
    FetchError,
    Refused,
    address_refusal,
    get,
    open_socket,
    parse_url,
    redact_url,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._local_file import (
    FileTooLarge,
    NotRegularFile,
    ReadFailed,
    read_regular_file,
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
            value = "<inline PEM>" if key == "content" else redact_url(source[key]) if key == "url" else source[key]
            return f"sources[{index}] ({key} {value})"
    return f"sources[{index}]"


def read_local_file(path: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A regular file's bytes, at most ``limit``; SourceError (without the source's label) otherwise."""
    try:
        return read_regular_file(path, limit)
    except NotRegularFile as exc:
        raise SourceError(f"{path} is {exc.kind}, not a regular file holding certificates") from None
    except FileTooLarge:
        raise SourceError(f"{path} is larger than {limit} bytes; refusing to read it") from None
    except ReadFailed as exc:
        raise SourceError(f"cannot {exc.stage} {path}: {exc.reason}") from None


def fetch_url(url: str, label: str, timeout: float, validate_certs: bool,
              check_hop: t.Callable[[t.Any], t.Callable[[str], None] | None] | None = None) -> bytes:
    """The body at ``url``: the whole download, redirects included, must finish within ``timeout`` seconds."""
    try:
        return get(url, timeout=timeout, max_bytes=MAX_INPUT_BYTES, validate_certs=validate_certs,
                   check_hop=check_hop)
    except FetchError as exc:
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
    """DER certificates the server presents, in the order it sends them; connect and handshake within ``timeout``."""
    host, port = split_host_port(endpoint, label)
    deadline = Deadline(timeout)
    # No verification here on purpose: the chain is only a candidate, and ca_bundle keeps a
    # certificate from the network only if it chains to a pinned root.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with open_socket(host, port, deadline, None) as raw:
            raw.settimeout(deadline.remaining())  # the handshake's own deadline: what is left of the timeout
            with context.wrap_socket(raw, server_hostname=host) as tls:
                if hasattr(tls, "get_unverified_chain"):  # Python 3.13+
                    return [bytes(der) for der in tls.get_unverified_chain()]
                # Python 3.10-3.12 expose the same call on the internal object only.
                return [c.public_bytes(ssl._ssl.ENCODING_DER)  # pylint: disable=protected-access
                        for c in tls._sslobj.get_unverified_chain()]  # pylint: disable=protected-access
    except FetchError as exc:
        raise SourceError(f"{label}: TLS handshake with {host}:{port} failed: {exc}") from None
    except (OSError, ssl.SSLError, UnicodeError, ValueError) as exc:
        raise SourceError(f"{label}: TLS handshake with {host}:{port} failed: {exc}") from None


def _load(data: bytes | str, label: str) -> list[t.Any]:
    try:
        return load_certificates(data, label)
    except CertificateError as exc:
        raise SourceError(str(exc)) from None


def collect(sources: t.Sequence[t.Mapping[str, t.Any]], *, read_file: t.Callable[[str], bytes],
            timeout: float = 10.0, validate_certs: bool = True, follow_aia: bool = False,
            aia_hosts: t.Iterable[str] = (), notes: list[str] | None = None) -> list[Candidate]:
    """Load every source; raise SourceError on the first one that cannot be read.

    ``read_file`` may raise SourceError; its message gets the source's label. ``notes`` collects what
    the operator should know but is no error, such as an AIA link that was not followed.
    """
    candidates: list[Candidate] = []
    for index, source in enumerate(sources):
        label = describe_source(index, source)
        if source.get("path"):
            try:
                data = read_file(source["path"])
            except SourceError as exc:
                raise SourceError(f"{label}: {exc}") from None
            candidates += [Candidate(c, label, False) for c in _load(data, label)]
        elif source.get("content"):
            candidates += [Candidate(c, label, False) for c in _load(source["content"], label)]
        elif source.get("url"):
            body = fetch_url(source["url"], label, timeout, validate_certs)
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
        candidates += walk_aia(candidates, timeout=timeout, validate_certs=validate_certs, aia_hosts=aia_hosts,
                               notes=notes)
    return candidates


def host_key(host: str) -> str:
    """A host as aia_hosts and URLs are compared: lower case, no trailing dot, IP addresses in one form."""
    text = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _aia_hop(from_operator: bool, allowed: set[str]) -> t.Callable[[t.Any], t.Callable[[str], None] | None]:
    """The check of each hop of an AIA download (the link, then each redirect), before anything is sent.

    A host in aia_hosts is allowed at any address. Otherwise only a link the operator's own certificates
    vouch for is followed, and never to a loopback, link-local or other special address.
    """
    def check_hop(parts: t.Any) -> t.Callable[[str], None] | None:
        host = host_key(parts.hostname or "")
        if host in allowed:
            return None
        if not from_operator:
            raise Refused(f"{host} is not in aia_hosts, and the link comes from a certificate obtained "
                          "over the network")

        def check_address(address: str) -> None:
            refusal = address_refusal(address)
            if refusal:
                raise Refused(f"{host}: {refusal}; list it in aia_hosts to allow it")
        return check_address
    return check_hop


def walk_aia(start: t.Sequence[Candidate], *, timeout: float, validate_certs: bool,
             aia_hosts: t.Iterable[str] = (), notes: list[str] | None = None) -> list[Candidate]:
    """Follow AIA caIssuers URLs upwards until self-signed roots, breadth first.

    The links of the operator's own certificates (path and content sources) are followed, and so are
    those of each CA certificate fetched that way which verifiably signed the one before it: the
    link was written by the operator's CA. Links in certificates obtained over the network (url and
    tls sources, or anything else a download returned) are written by whoever controls that server,
    so they are followed only to hosts in ``aia_hosts``, and a refused link is never looked up or
    contacted: a hostile server cannot make the controller probe internal addresses.
    """
    allowed = {host_key(str(host)) for host in aia_hosts}
    known = {thumbprint(c.certificate): c.certificate for c in start}
    vouched = {thumbprint(c.certificate) for c in start if not c.network}
    found: list[Candidate] = []
    frontier = list(start)
    for _depth in range(MAX_AIA_DEPTH):
        next_frontier: list[Candidate] = []
        for cand in frontier:
            info = describe(cand.certificate)
            if info["self_signed"] or any(issued_by(cand.certificate, k) for k in known.values()):
                continue
            from_operator = info["thumbprint"] in vouched
            for url in info["aia_ca_issuers"]:
                label = f"AIA of {info['subject']} ({redact_url(url)})"
                if not url.lower().startswith(("http://", "https://")):
                    continue  # ldap:// AIA entries are common in AD CS; only HTTP is reachable off-network
                try:
                    parts = parse_url(url)
                except FetchError as exc:
                    _note(notes, f"{label}: not followed: {exc}")
                    continue
                check_hop = _aia_hop(from_operator, allowed)
                try:
                    check_hop(parts)  # the link itself, by name: a refused host is never even looked up
                except Refused as exc:
                    _note(notes, f"{label}: not followed: {exc}")
                    continue
                try:
                    body = get(url, timeout=timeout, max_bytes=MAX_INPUT_BYTES, validate_certs=validate_certs,
                               check_hop=check_hop)
                except Refused as exc:  # a redirect, or an address the name resolved to
                    _note(notes, f"{label}: not followed: {exc}")
                    continue
                except FetchError as exc:
                    raise SourceError(f"{label}: download failed: {exc}") from None
                for cert in _load(body, label):
                    if thumbprint(cert) in known:
                        continue
                    known[thumbprint(cert)] = cert
                    fetched = Candidate(cert, label, True)
                    found.append(fetched)
                    next_frontier.append(fetched)
                    if from_operator and issued_by(cand.certificate, cert):
                        vouched.add(thumbprint(cert))
        if not next_frontier:
            return found
        frontier = next_frontier
    raise SourceError(f"AIA walk did not reach a root within {MAX_AIA_DEPTH} levels")


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
