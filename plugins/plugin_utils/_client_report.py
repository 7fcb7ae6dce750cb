# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn client_info.ps1's raw JSON into client_info's result: decoded error, stores and diagnosis.

Internal to directaccess.iphttps; may change without notice. No I/O here, so it is unit-tested
on raw documents without a host.
"""
from __future__ import annotations

import datetime
import re
import reprlib
import typing as t
from urllib.parse import urlsplit

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    is_self_issued,
    issuer_name_key,
    load_certificates,
    normalize_fingerprint,
    subject_name_key,
    thumbprint,
    to_pem,
)
from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error
from ansible_collections.directaccess.iphttps.plugins.module_utils._revocation import apply_to_diagnosis, evaluate


class ReportError(ValueError):
    """The host's answer does not have the documented shape."""


STATE_SOURCES = ("cmdlet", "netsh")
FULL_LANGUAGE = "FullLanguage"
_UINT32_MAX = 0xFFFFFFFF
_DIGITS = re.compile(r"[0-9]+")


# Values in error messages are shown shortened and at most 3 levels deep: a plain repr() of a
# hostile answer nested thousands deep raises RecursionError, and a huge one floods the log.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60
_SHORT.maxlist = _SHORT.maxdict = 3


def _show(value: t.Any) -> str:
    try:
        return _SHORT.repr(value)
    except ValueError:  # an integer too long to print (Python's 4300-digit limit)
        return f"a {type(value).__name__} too long to show"


def _object(value: t.Any, label: str) -> dict | None:
    """A JSON object or null; an empty object reads as null, as the script's absent sections do."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReportError(f"the host returned an unusable {label}: expected an object, got {_show(value)}")
    return value or None


def _array(value: t.Any, label: str) -> list:
    """A JSON array; null reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ReportError(f"the host returned an unusable {label}: expected an array, got {_show(value)}")
    return value


def _text(value: t.Any, label: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ReportError(f"the host returned an unusable {label}: expected a string, got {_show(value)}")
    return value


def _der_list(items: t.Any, label: str) -> list:
    certs = []
    for index, der_b64 in enumerate(_array(items, label)):
        where = f"{label}[{index}]"
        if not isinstance(der_b64, str):
            raise ReportError(f"the host returned an unreadable certificate: {where}: expected base64 DER text, "
                              f"got {_show(der_b64)}")
        try:
            certs += load_certificates(der_b64, where)
        except CertificateError as exc:
            raise ReportError(f"the host returned an unreadable certificate: {exc}") from None
    return certs


def _thumbprints(items: t.Any, label: str) -> list[str]:
    thumbs = set()
    for index, value in enumerate(_array(items, label)):
        if not isinstance(value, str):
            raise ReportError(f"the host returned an unusable thumbprint at {label}[{index}]: expected a string, "
                              f"got {_show(value)}")
        try:
            thumbs.add(normalize_fingerprint(value, kind="sha1"))
        except CertificateError as exc:
            raise ReportError(f"the host returned an unusable thumbprint at {label}[{index}]: {exc}") from None
    return sorted(thumbs)


def server_name_of(url: str | None) -> str | None:
    """The host name of an IP-HTTPS URL, or None without a URL; ReportError when it has none."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket: "https://[::1/x"
        raise ReportError(f"the host returned an unusable iphttps_configuration.server_url {_show(url)}: "
                          f"{exc}") from None
    if not host:
        raise ReportError(f"the host returned an unusable iphttps_configuration.server_url {_show(url)}: "
                          "it has no host name")
    return host


def _number_and_name(value: t.Any, name: t.Any, label: str) -> tuple[int | None, str | None]:
    """One Get-DAConnectionStatus field: the uint32 Microsoft documents, the enum name, or both.

    client_info.ps1 v2 sends the number and, where PowerShell gave an enum, the name beside it;
    an older script sent only ``[string]``, which is the name or the number in digits.
    """
    if name is not None and not isinstance(name, str):
        raise ReportError(f"the host returned an unusable {label}_name: expected a string, got {_show(name)}")
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
        raise ReportError(f"the host returned an unusable {label}: expected a uint32 or a name, got {_show(value)}")
    return value, name


def _da_connection_status(raw: t.Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportError(f"the host returned an unusable da_connection_status: expected an object, got {_show(raw)}")
    status, status_name = _number_and_name(raw.get("status"), raw.get("status_name"), "da_connection_status.status")
    substatus, substatus_name = _number_and_name(raw.get("substatus"), raw.get("substatus_name"),
                                                 "da_connection_status.substatus")
    # The names stay under the keys they always had; the numbers come beside them.
    return {"status": status_name, "status_code": status, "substatus": substatus_name,
            "substatus_code": substatus}


def _state_source(raw: dict) -> str | None:
    source = raw.get("state_source")
    if source is not None and (not isinstance(source, str) or source not in STATE_SOURCES):
        raise ReportError(f"the host returned an unusable state_source: expected one of "
                          f"{', '.join(STATE_SOURCES)}, got {_show(source)}")
    return source


def _server_chain(raw: dict, prefix: str = "") -> tuple[list, str | None]:
    """The certificates the server sent, leaf first, and which of the script's lists they came from.

    ``server_chain`` is the leaf and X509Chain.ChainElements: Windows' own chain, which may hold
    certificates from the client's stores. ``chain_policy_extra_store`` is what SslStream on .NET
    Framework copies from Schannel's remote certificate store: everything the server sent, the leaf
    included, in no promised order. So the extra store wins when it holds anything; the leaf is the
    callback's certificate (``server_chain[0]``), and the rest follow it by issuer name where they
    link (diagnose() builds its paths itself, so the order is only for people reading the chain).
    """
    elements = _der_list(raw.get("server_chain"), f"{prefix}server_chain")
    extra = _der_list(raw.get("chain_policy_extra_store"), f"{prefix}chain_policy_extra_store")
    if not elements:
        # No handshake reached the callback, so there is no leaf to put first.
        return [], None
    if not extra:
        return elements, "chain_elements"
    chain, seen, rest = [elements[0]], {thumbprint(elements[0])}, []
    for cert in extra:
        if thumbprint(cert) not in seen:
            seen.add(thumbprint(cert))
            rest.append(cert)
    return chain + _by_issuer(chain[-1], rest), "chain_policy_extra_store"


def _by_issuer(tail: t.Any, rest: list) -> list:
    """``rest`` from ``tail`` upwards by issuer name, then what links to nothing in the order given."""
    ordered = []
    while rest and not is_self_issued(tail):
        issuer = next((cert for cert in rest if subject_name_key(cert) == issuer_name_key(tail)), None)
        if issuer is None:
            break
        rest = [cert for cert in rest if cert is not issuer]
        ordered.append(issuer)
        tail = issuer
    return ordered + rest


def _service(raw: t.Any) -> dict | None:
    """iphlpsvc as Win32_Service describes it: State, StartMode, ProcessId."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportError(f"the host returned an unusable iphlpsvc: expected an object, got {_show(raw)}")
    state, mode, pid = raw.get("state"), raw.get("start_mode"), raw.get("process_id")
    if not isinstance(state, str) or not isinstance(mode, (str, type(None))) or \
            (pid is not None and (isinstance(pid, bool) or not isinstance(pid, int))):
        raise ReportError("the host returned an unusable iphlpsvc: expected state, start_mode and process_id, "
                          f"got state {_show(state)}, start_mode {_show(mode)}, process_id {_show(pid)}")
    return {"state": state, "start_mode": mode, "process_id": pid}


def _last_error(state: dict) -> tuple[t.Any, dict]:
    code = state.get("last_error_code")
    try:
        return code, decode_error(code)
    except TypeError as exc:  # a type that cannot hold a code: true, an object, an array
        raise ReportError(f"the host returned an unusable iphttps_state.last_error_code: {exc}") from None


def _chain_status(raw: t.Any, prefix: str = "") -> list[dict]:
    """X509Chain.ChainStatus as the script sends it: [{status, information}], strings or null."""
    entries = []
    for index, entry in enumerate(_array(raw, f"{prefix}chain_status")):
        label = f"{prefix}chain_status[{index}]"
        if not isinstance(entry, dict):
            raise ReportError(f"the host returned an unusable {label}: expected an object, got {_show(entry)}")
        entries.append({key: _text(entry.get(key), f"{label}.{key}") for key in ("status", "information")})
    return entries


def _constrained_language(mode: str) -> dict:
    """The diagnosis of a host whose script could read the state but not the chain or the stores."""
    why = (f"PowerShell on the client runs in {mode} mode (WDAC or AppLocker script enforcement), which refuses "
           "the TLS capture and the certificate store reads; the chain was not judged and nothing is imported.")
    return {
        "trusted": False, "verdict": "constrained_language", "missing": [], "fixable": False, "path": [],
        "reasons": [why],
        "problems": [{"code": "constrained_language", "verdict": "constrained_language", "index": None,
                      "subject": None, "thumbprint": None, "message": why}],
        "checked_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "revocation": None,
    }


def _handshake_error(raw: t.Any, prefix: str = "") -> dict | None:
    """The Schannel status of a failed handshake (script v5), decoded; null when the script found none."""
    if raw is None:
        return None
    try:
        return decode_error(raw)
    except TypeError as exc:  # a type that cannot hold a code: true, an object, an array
        raise ReportError(f"the host returned an unusable {prefix}server_chain_error_hresult: {exc}") from None


# The physical stores each logical store merges ("System Store Locations"); .Default is where an import lands.
PHYSICAL_STORES = {"Root": ("Default", "GroupPolicy", "Enterprise", "AuthRoot"),
                   "CA": ("Default", "GroupPolicy", "Enterprise")}
# Copies that come back by themselves: Group Policy rewrites its store at every refresh, Active Directory fills
# the Enterprise store.
DELIVERED = ("GroupPolicy", "Enterprise")


def _physical_stores(raw: t.Any) -> dict | None:
    """Thumbprints per physical store (script v6); null from older scripts, which did not read them."""
    value = _object(raw, "physical_stores")
    if value is None:
        return None
    stores = {}
    for store, physicals in PHYSICAL_STORES.items():
        found = _object(value.get(store), f"physical_stores.{store}") or {}
        stores[store] = {name: _thumbprints(found.get(name), f"physical_stores.{store}.{name}") for name in physicals}
    return stores


def policy_copies(path: t.Sequence[t.Mapping], physical: t.Mapping | None) -> list[dict]:
    """The CAs of the path the client holds by Group Policy or from Active Directory, and where."""
    if not physical:
        return []
    copies = []
    for entry in path:
        store = {"root_store": "Root", "intermediate_store": "CA"}.get(entry.get("source"))
        if store is None:
            continue
        held = [name for name in DELIVERED if entry.get("thumbprint") in physical[store][name]]
        if held:
            copies.append({"thumbprint": entry["thumbprint"], "store": store, "subject": entry.get("subject"),
                           "physical": held})
    return copies


def _winhttp_proxy(raw: t.Any) -> dict | None:
    """The machine's WinHTTP proxy as client_info v6 read it; null where it was not read."""
    value = _object(raw, "winhttp_proxy")
    if value is None:
        return None
    return {key: _text(value.get(key), f"winhttp_proxy.{key}") for key in ("proxy", "bypass")}


def _server_connection(raw: t.Any, prefix: str = "") -> dict | None:
    """How the capture reached the server (script v6): direct or through the proxy, and the address."""
    label = f"{prefix}server_connection"
    value = _object(raw, label)
    if value is None:
        return None
    via = value.get("via")
    if via not in ("direct", "proxy"):
        raise ReportError(f"the host returned an unusable {label}.via: expected direct or proxy, got {_show(via)}")
    return {"via": via, "proxy": _text(value.get("proxy"), f"{label}.proxy"),
            "address": _text(value.get("address"), f"{label}.address")}


def _handshake_failed(diagnosis: dict, error: str, code: dict) -> dict:
    """A handshake that failed before the chain was seen: nothing about the chain is known, and no import helps."""
    why = (f"The TLS handshake with the IP-HTTPS server failed before the client saw its chain: {error} "
           f"(Schannel {code['hex'] or 'code'} {code['name']}: {code['meaning']})")
    return dict(diagnosis, trusted=False, verdict="handshake_failed", missing=[], fixable=False, reasons=[why],
                problems=[{"code": "handshake_failed", "verdict": "handshake_failed", "index": None,
                           "subject": None, "thumbprint": None, "message": why}])


def _flag(value: t.Any, label: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ReportError(f"the host returned an unusable {label}: expected true, false or null, got {_show(value)}")
    return value


def _entry_points(config: dict | None, server_url: str | None) -> list[str]:
    """Every client profile's server URL; script v3 and older sent only the one it used."""
    if not config or config.get("entry_points") is None:
        return [server_url] if server_url else []
    urls = []
    for index, url in enumerate(_array(config.get("entry_points"), "iphttps_configuration.entry_points")):
        label = f"iphttps_configuration.entry_points[{index}]"
        if not isinstance(url, str) or not url:
            raise ReportError(f"the host returned an unusable {label}: expected a URL, got {_show(url)}")
        try:
            server_name_of(url)  # a URL without a host name is refused, as server_url is
        except ReportError as exc:
            raise ReportError(str(exc).replace("iphttps_configuration.server_url", label)) from None
        if url not in urls:
            urls.append(url)
    return urls


def _unchosen_entry_points(iphttps: dict, captured: t.Collection[str]) -> str | None:
    """A note when no profile is activated and some entry points' chains were not captured."""
    others = [url for url in iphttps["entry_points"] if url != iphttps["server_url"] and url not in captured]
    if iphttps["profile_activated"] is not False or not others:
        return None
    return (f"No IP-HTTPS profile is activated and the client has {len(iphttps['entry_points'])} entry points "
            f"(multisite): the chains of {', '.join(others)} were not captured (client_info v5 and older capture "
            "one entry point, v6 at most 8), so they were not judged.")


def _entry_point_check(url: str, connection: dict | None, diagnosis: dict, error: str | None) -> dict:
    """One line of entry_point_checks: what this entry point's chain needs."""
    return {"server_url": url, "server_connection": connection, "verdict": diagnosis["verdict"],
            "trusted": diagnosis["trusted"], "fixable": diagnosis["fixable"],
            "missing": [m["thumbprint"] for m in diagnosis["missing"]], "server_chain_error": error}


def _merge_entry_points(primary_url: str, primary: dict, others: list[tuple[str, dict]]) -> dict:
    """The host's diagnosis over every entry point a multisite client may choose.

    The client may connect to any of them, so the host is trusted only when every one is. The verdict is
    the first entry point that no import fixes, else the first that fails; the host is fixable only when
    every failing one is, and ``missing`` is what all of them lack together.
    """
    if not others:
        return primary
    judged = [(primary_url, primary)] + others
    failing = [(url, d) for url, d in judged if not d["trusted"]]
    also = "Entry points judged: " + ", ".join(f"{url} ({d['verdict']})" for url, d in judged) + "."
    if not failing:
        return dict(primary, reasons=list(primary["reasons"]) + [also])
    base_url, base = next(((url, d) for url, d in failing if not d["fixable"]), failing[0])
    missing, seen = [], set()
    for _url, d in failing:
        for entry in d["missing"]:
            if entry["thumbprint"] not in seen:
                seen.add(entry["thumbprint"])
                missing.append(entry)
    reasons = [f"Entry point {url}: {reason}" for url, d in failing for reason in d["reasons"]]
    return dict(base, trusted=False, missing=missing, fixable=all(d["fixable"] for _url, d in failing),
                reasons=reasons + [also],
                problems=[dict(problem, message=f"Entry point {base_url}: {problem['message']}")
                          for problem in base["problems"]])


def build_report(raw: dict, bundle: t.Sequence[t.Any] = ()) -> dict:
    """client_info's result from the script's document; ReportError names the first unusable field."""
    if not isinstance(raw, dict):
        raise ReportError(f"the host's answer is not a JSON object: got {_show(raw)}")
    config = _object(raw.get("iphttps_configuration"), "iphttps_configuration")
    state = _object(raw.get("iphttps_state"), "iphttps_state")
    server_url = _text(config.get("server_url"), "iphttps_configuration.server_url") if config else None
    server_name = server_name_of(server_url)
    code, last_error = _last_error(state) if state else (None, None)
    iphttps = {
        "configured": bool(server_url),
        "server_url": server_url,
        # Null from netsh, whose status text is localized and therefore not read.
        "interface_status": _text(state.get("interface_status"), "iphttps_state.interface_status") if state else None,
        "last_error_code": code,
        "last_error": last_error,
        "state_source": _state_source(raw),
        # True or false from the cmdlet; null when read through netsh, which does not say.
        "profile_activated": _flag(config.get("profile_activated"), "iphttps_configuration.profile_activated")
        if config else None,
        "entry_points": _entry_points(config, server_url),
    }

    stores_raw = _object(raw.get("stores"), "stores") or {}
    # Disallowed: thumbprints only (script v2 did not send it, which reads as empty).
    stores = {name: _thumbprints(stores_raw.get(name), f"stores.{name}") for name in ("Root", "CA", "Disallowed")}
    store_certs: dict[str, list] = {"Root": [], "CA": []}
    for index, entry in enumerate(_array(raw.get("store_certificates"), "store_certificates")):
        label = f"store_certificates[{index}]"
        if not isinstance(entry, dict):
            raise ReportError(f"the host returned an unusable {label}: expected an object, got {_show(entry)}")
        name = _text(entry.get("store"), f"{label}.store")
        if name in store_certs:
            store_certs[name] += _der_list([entry.get("der_base64")], label)

    chain, chain_source = _server_chain(raw)
    captures = _array(raw.get("entry_point_captures"), "entry_point_captures")
    # Script v3 and older did not say: they ran only where New-Object worked, so FullLanguage.
    language_mode = _text(raw.get("language_mode"), "language_mode") or FULL_LANGUAGE
    report = {
        "computer_name": _text(raw.get("computer_name"), "computer_name"),
        "language_mode": language_mode,
        "iphttps": iphttps,
        # Script v6: the machine's WinHTTP proxy, and how the capture reached the server (direct or through it).
        "winhttp_proxy": _winhttp_proxy(raw.get("winhttp_proxy")),
        "server_connection": _server_connection(raw.get("server_connection")),
        "server_chain": [to_pem(c) for c in chain],
        "server_chain_source": chain_source,
        "server_chain_error": _text(raw.get("server_chain_error"), "server_chain_error"),
        # Script v5: the Schannel status of a failed handshake (decoded) and the callback's SslPolicyErrors.
        "server_chain_error_code": _handshake_error(raw.get("server_chain_error_hresult")),
        "policy_errors": _text(raw.get("policy_errors"), "policy_errors"),
        "client_chain_status": _chain_status(raw.get("chain_status")),
        "da_connection_status": _da_connection_status(raw.get("da_connection_status")),
        "stores": stores,
        # Store entries in full (those the chain names, or all of them), so trust_check can anchor on them.
        "store_certificates": {name: [to_pem(c) for c in certs] for name, certs in store_certs.items()},
        # Script v6: which physical stores (Default, GroupPolicy, Enterprise, AuthRoot) hold each thumbprint.
        "physical_stores": _physical_stores(raw.get("physical_stores")),
        # The chain's CAs the client holds by Group Policy or Active Directory (they come back by themselves).
        "policy_copies": [],
        "iphlpsvc": _service(raw.get("iphlpsvc")),
        # What the client fetched from the chain's CRL and OCSP URLs, judged here; null when it fetched nothing.
        "revocation": None,
        # Every entry point judged (script v6 captures each when none is activated), the used one first.
        "entry_point_checks": [],
        "diagnosis": None,
    }
    if not iphttps["configured"]:
        # Not a DirectAccess client: nothing to diagnose, and nothing to fix. (The configuration is read
        # through cmdlets or netsh, which Constrained Language Mode allows, so this holds there too.)
        return report
    if language_mode != FULL_LANGUAGE:
        # The script skipped the capture and the stores: empty lists there are no certificate problem.
        report["diagnosis"] = _constrained_language(language_mode)
        return report

    def store_entries(name: str) -> list:
        known = {thumbprint(c) for c in store_certs[name]}
        return store_certs[name] + [tp for tp in stores[name] if tp not in known]

    def judge(url: str, certs: list, error: str | None, error_code: dict | None, label: str) -> dict:
        try:
            diagnosis = diagnose(
                certs,
                server_name=server_name_of(url),
                root_store=store_entries("Root"),
                intermediate_store=store_entries("CA"),
                bundle=list(bundle),
                disallowed=stores["Disallowed"],
            )
        except CertificateError as exc:  # a host name diagnose() cannot match against, such as "https:// /"
            raise ReportError(f"the host returned an unusable {label}: {exc}") from None
        if not certs and error:
            # diagnose() can only say the server sent nothing; in fact the client never got the chain.
            why = f"The client could not capture the IP-HTTPS server's chain: {error}"
            diagnosis["reasons"] = [why]
            diagnosis["problems"] = [dict(problem, message=why) for problem in diagnosis["problems"]]
            if error_code:
                # Schannel refused the handshake (a timeout or a refused connection carries no status).
                diagnosis = _handshake_failed(diagnosis, error, error_code)
        return diagnosis

    diagnosis = judge(server_url, chain, report["server_chain_error"], report["server_chain_error_code"],
                      "iphttps_configuration.server_url")
    # cert_index points into the script's own server_chain (the leaf, then Windows' chain elements).
    report["revocation"] = evaluate(_der_list(raw.get("server_chain"), "server_chain"), raw.get("revocation"),
                                    pool=chain + store_certs["Root"] + store_certs["CA"])
    diagnosis = apply_to_diagnosis(diagnosis, report["revocation"], (iphttps["last_error"] or {}).get("code"))
    checks = [_entry_point_check(server_url, report["server_connection"], diagnosis, report["server_chain_error"])]
    others = []
    for index, capture in enumerate(captures):
        prefix = f"entry_point_captures[{index}]."
        if not isinstance(capture, dict):
            raise ReportError(f"the host returned an unusable entry_point_captures[{index}]: expected an object, "
                              f"got {_show(capture)}")
        url = _text(capture.get("server_url"), f"{prefix}server_url")
        if not url or url not in iphttps["entry_points"]:
            raise ReportError(f"the host returned an unusable {prefix}server_url: expected one of the entry points, "
                              f"got {_show(url)}")
        certs, _source = _server_chain(capture, prefix)
        error = _text(capture.get("server_chain_error"), f"{prefix}server_chain_error")
        judged = judge(url, certs, error, _handshake_error(capture.get("server_chain_error_hresult"), prefix),
                       f"{prefix}server_url")
        _chain_status(capture.get("chain_status"), prefix)  # checked for shape; the controller's verdict decides
        checks.append(_entry_point_check(url, _server_connection(capture.get("server_connection"), prefix),
                                         judged, error))
        others.append((url, judged))
    report["entry_point_checks"] = checks
    report["diagnosis"] = _merge_entry_points(server_url, diagnosis, others)
    report["policy_copies"] = policy_copies(report["diagnosis"]["path"], report["physical_stores"])
    unchosen = _unchosen_entry_points(iphttps, [check["server_url"] for check in checks])
    if unchosen:
        report["diagnosis"]["reasons"] = list(report["diagnosis"]["reasons"]) + [unchosen]
    return report
