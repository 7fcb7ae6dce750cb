# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn client_info.ps1's raw JSON into client_info's result: decoded error, stores and diagnosis.

Internal to directaccess.iphttps; may change without notice. No I/O here, so it is unit-tested
on raw documents without a host.
"""
from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    load_certificates,
    normalize_fingerprint,
    thumbprint,
    to_pem,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error


class ReportError(ValueError):
    """The host's answer does not have the documented shape."""


def _der_list(items: t.Any, label: str) -> list:
    certs = []
    for index, der_b64 in enumerate(items or []):
        try:
            certs += load_certificates(str(der_b64), f"{label}[{index}]")
        except CertificateError as exc:
            raise ReportError(f"the host returned an unreadable certificate: {exc}") from None
    return certs


def _thumbprints(items: t.Any, label: str) -> list[str]:
    thumbs = set()
    for index, value in enumerate(items or []):
        try:
            thumbs.add(normalize_fingerprint(str(value), kind="sha1"))
        except CertificateError as exc:
            raise ReportError(f"the host returned an unusable thumbprint at {label}[{index}]: {exc}") from None
    return sorted(thumbs)


def server_name_of(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def build_report(raw: dict, bundle: t.Sequence[t.Any] = ()) -> dict:
    config = raw.get("iphttps_configuration") or None
    state = raw.get("iphttps_state") or None
    server_url = config.get("server_url") if config else None
    code = state.get("last_error_code") if state else None
    iphttps = {
        "configured": bool(server_url),
        "server_url": server_url,
        "interface_status": state.get("interface_status") if state else None,
        "last_error_code": code,
        "last_error": decode_error(code) if state else None,
    }

    stores_raw = raw.get("stores") or {}
    stores = {name: _thumbprints(stores_raw.get(name), f"stores.{name}") for name in ("Root", "CA")}
    store_certs: dict[str, list] = {"Root": [], "CA": []}
    for index, entry in enumerate(raw.get("store_certificates") or []):
        name = entry.get("store")
        if name in store_certs:
            store_certs[name] += _der_list([entry.get("der_base64")], f"store_certificates[{index}]")

    chain = _der_list(raw.get("server_chain"), "server_chain")
    report = {
        "computer_name": raw.get("computer_name"),
        "iphttps": iphttps,
        "server_chain": [to_pem(c) for c in chain],
        "server_chain_error": raw.get("server_chain_error"),
        "client_chain_status": list(raw.get("chain_status") or []),
        "da_connection_status": raw.get("da_connection_status"),
        "stores": stores,
        # The store entries the chain refers to, in full, so trust_check can anchor on them later.
        "store_certificates": {name: [to_pem(c) for c in certs] for name, certs in store_certs.items()},
        "diagnosis": None,
    }
    if not iphttps["configured"]:
        # Not a DirectAccess client: nothing to diagnose, and nothing to fix.
        return report

    def store_entries(name: str) -> list:
        known = {thumbprint(c) for c in store_certs[name]}
        return store_certs[name] + [tp for tp in stores[name] if tp not in known]

    diagnosis = diagnose(
        chain,
        server_name=server_name_of(server_url),
        root_store=store_entries("Root"),
        intermediate_store=store_entries("CA"),
        bundle=list(bundle),
    )
    if not chain and report["server_chain_error"]:
        # diagnose() can only say the server sent nothing; in fact the client never got the chain.
        why = f"The client could not capture the IP-HTTPS server's chain: {report['server_chain_error']}"
        diagnosis["reasons"] = [why]
        diagnosis["problems"] = [dict(problem, message=why) for problem in diagnosis["problems"]]
    report["diagnosis"] = diagnosis
    return report
