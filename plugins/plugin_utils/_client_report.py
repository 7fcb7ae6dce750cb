# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn client_info.ps1's raw JSON into client_info's result: decoded error, stores and diagnosis.

Internal to directaccess.iphttps; may change without notice. No I/O here, so it is unit-tested
on raw documents without a host.
"""
from __future__ import annotations

import re
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
from ansible_collections.directaccess.iphttps.plugins.module_utils._revocation import apply_to_diagnosis, evaluate


class ReportError(ValueError):
    """The host's answer does not have the documented shape."""


STATE_SOURCES = ("cmdlet", "netsh")
_UINT32_MAX = 0xFFFFFFFF
_DIGITS = re.compile(r"[0-9]+")


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


def _number_and_name(value: t.Any, name: t.Any, label: str) -> tuple[int | None, str | None]:
    """One Get-DAConnectionStatus field: the uint32 Microsoft documents, the enum name, or both.

    client_info.ps1 v2 sends the number and, where PowerShell gave an enum, the name beside it;
    an older script sent only ``[string]``, which is the name or the number in digits.
    """
    if name is not None and not isinstance(name, str):
        raise ReportError(f"the host returned an unusable {label}_name: expected a string, got {name!r}")
    if isinstance(name, str):
        name = name.strip() or None
    if value is None:
        return None, name
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.fullmatch(text):
            return None, name or text or None
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise ReportError(f"the host returned an unusable {label}: expected a uint32 or a name, got {value!r}")
    return value, name


def _da_connection_status(raw: t.Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportError(f"the host returned an unusable da_connection_status: expected an object, got {raw!r}")
    status, status_name = _number_and_name(raw.get("status"), raw.get("status_name"), "da_connection_status.status")
    substatus, substatus_name = _number_and_name(raw.get("substatus"), raw.get("substatus_name"),
                                                 "da_connection_status.substatus")
    # The names stay under the keys they always had; the numbers come beside them.
    return {"status": status_name, "status_code": status, "substatus": substatus_name,
            "substatus_code": substatus}


def _state_source(raw: dict) -> str | None:
    source = raw.get("state_source")
    if source is not None and source not in STATE_SOURCES:
        raise ReportError(f"the host returned an unusable state_source: expected one of "
                          f"{', '.join(STATE_SOURCES)}, got {source!r}")
    return source


def _server_chain(raw: dict) -> tuple[list, str | None]:
    """The certificates the server sent, leaf first, and which of the script's lists they came from.

    ``server_chain`` is the leaf and X509Chain.ChainElements: Windows' own chain, which may hold
    certificates from the client's stores. ``chain_policy_extra_store`` is what SslStream gave the
    chain engine, which is the server's certificates if SslStream fills it (unconfirmed on .NET
    Framework). So the extra store wins when it holds anything; it may repeat the leaf.
    """
    elements = _der_list(raw.get("server_chain"), "server_chain")
    extra = _der_list(raw.get("chain_policy_extra_store"), "chain_policy_extra_store")
    if not elements:
        # No handshake reached the callback, so there is no leaf to put first.
        return [], None
    if not extra:
        return elements, "chain_elements"
    chain, seen = [elements[0]], {thumbprint(elements[0])}
    for cert in extra:
        if thumbprint(cert) not in seen:
            seen.add(thumbprint(cert))
            chain.append(cert)
    return chain, "chain_policy_extra_store"


def _service(raw: t.Any) -> dict | None:
    """iphlpsvc as Win32_Service describes it: State, StartMode, ProcessId."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportError(f"the host returned an unusable iphlpsvc: expected an object, got {raw!r}")
    state, mode, pid = raw.get("state"), raw.get("start_mode"), raw.get("process_id")
    if not isinstance(state, str) or not isinstance(mode, (str, type(None))) or \
            (pid is not None and (isinstance(pid, bool) or not isinstance(pid, int))):
        raise ReportError(f"the host returned an unusable iphlpsvc: expected state, start_mode and process_id, "
                          f"got {raw!r}")
    return {"state": state, "start_mode": mode, "process_id": pid}


def build_report(raw: dict, bundle: t.Sequence[t.Any] = ()) -> dict:
    config = raw.get("iphttps_configuration") or None
    state = raw.get("iphttps_state") or None
    server_url = config.get("server_url") if config else None
    code = state.get("last_error_code") if state else None
    iphttps = {
        "configured": bool(server_url),
        "server_url": server_url,
        # Null from netsh, whose status text is localized and therefore not read.
        "interface_status": state.get("interface_status") if state else None,
        "last_error_code": code,
        "last_error": decode_error(code) if state else None,
        "state_source": _state_source(raw),
    }

    stores_raw = raw.get("stores") or {}
    # Disallowed: thumbprints only (script v2 did not send it, which reads as empty).
    stores = {name: _thumbprints(stores_raw.get(name), f"stores.{name}") for name in ("Root", "CA", "Disallowed")}
    store_certs: dict[str, list] = {"Root": [], "CA": []}
    for index, entry in enumerate(raw.get("store_certificates") or []):
        name = entry.get("store")
        if name in store_certs:
            store_certs[name] += _der_list([entry.get("der_base64")], f"store_certificates[{index}]")

    chain, chain_source = _server_chain(raw)
    report = {
        "computer_name": raw.get("computer_name"),
        "iphttps": iphttps,
        "server_chain": [to_pem(c) for c in chain],
        "server_chain_source": chain_source,
        "server_chain_error": raw.get("server_chain_error"),
        "client_chain_status": list(raw.get("chain_status") or []),
        "da_connection_status": _da_connection_status(raw.get("da_connection_status")),
        "stores": stores,
        # Store entries in full (those the chain names, or all of them), so trust_check can anchor on them.
        "store_certificates": {name: [to_pem(c) for c in certs] for name, certs in store_certs.items()},
        "iphlpsvc": _service(raw.get("iphlpsvc")),
        # What the client fetched from the chain's CRL and OCSP URLs, judged here; null when it fetched nothing.
        "revocation": None,
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
        disallowed=stores["Disallowed"],
    )
    if not chain and report["server_chain_error"]:
        # diagnose() can only say the server sent nothing; in fact the client never got the chain.
        why = f"The client could not capture the IP-HTTPS server's chain: {report['server_chain_error']}"
        diagnosis["reasons"] = [why]
        diagnosis["problems"] = [dict(problem, message=why) for problem in diagnosis["problems"]]
    # cert_index points into the script's own server_chain (the leaf, then Windows' chain elements).
    report["revocation"] = evaluate(_der_list(raw.get("server_chain"), "server_chain"), raw.get("revocation"),
                                    pool=chain + store_certs["Root"] + store_certs["CA"])
    report["diagnosis"] = apply_to_diagnosis(diagnosis, report["revocation"], (iphttps["last_error"] or {}).get("code"))
    return report
