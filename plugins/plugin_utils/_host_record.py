# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Condense one host's client_info / trust_check / ca_import results into a fleet report record.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports.
The record format is documented in docs/report.md; fleet_report validates it.
"""
from __future__ import annotations

import datetime
import typing as t

# What to tell people for verdicts an import cannot fix (docs/verdicts.md has the long form).
VERDICT_REMEDIES = {
    "name_mismatch": "Reissue the IP-HTTPS certificate with the public FQDN of the URL as subject, or fix the URL.",
    "wrong_usage": "Reissue the IP-HTTPS certificate with the Server Authentication EKU from a CA allowed to issue it.",
    "expired": "Renew the expired certificate on the IP-HTTPS server or its CA.",
    "not_yet_valid": "Check the client's clock; otherwise wait for, or reissue, the certificate.",
    "bad_signature": "The server sends a corrupt or forged chain: investigate the IP-HTTPS server or the network path.",
    "no_chain": "The client could not get a chain from the IP-HTTPS server; see the error code's remedy.",
    "untrusted_root": "Add the root CA to the bundle (ca_bundle sources and pins), then run remediate again.",
    "missing_intermediate": "Add the intermediate CA to the bundle, or make the server send it, then run remediate again.",
}


class RecordError(ValueError):
    """The results handed over do not have the shape the actions return."""


def _error(decoded: t.Mapping | None) -> dict | None:
    if not decoded or decoded.get("code") is None:
        return None
    return {"code": decoded["code"], "hex": decoded["hex"], "name": decoded["name"]}


def _entries(items: t.Iterable[t.Mapping] | None) -> list[dict]:
    return [{"thumbprint": e.get("thumbprint"), "store": e.get("store"), "subject": e.get("subject")}
            for e in items or []]


def _ran(result: t.Any) -> bool:
    return isinstance(result, t.Mapping) and bool(result) and not result.get("skipped")


def build_record(host: str, client: t.Mapping | None, *, trust: t.Mapping | None = None,
                 change: t.Mapping | None = None, mode: str = "remediate", run_id: str = "",
                 now: datetime.datetime | None = None) -> dict:
    """One record. ``trust`` overrides client_info's own diagnosis; ``change`` is ca_import's result."""
    if isinstance(client, t.Mapping) and (client.get("unreachable") or client.get("failed")):
        return _not_read(host, client, mode, run_id, now)
    # A rollback reads no state first: its record is about the removal alone.
    if mode != "rollback" and (not isinstance(client, t.Mapping) or "iphttps" not in client):
        raise RecordError(f"{host}: client_info's result is needed (a dict with 'iphttps'), "
                          f"got {type(client).__name__}")
    moment = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(datetime.timezone.utc)
    client = client or {}
    iphttps = client.get("iphttps") or {}
    diagnosis = trust if _ran(trust) else client.get("diagnosis")
    last_error = iphttps.get("last_error") or {}
    record = {
        "host": host,
        "run_id": run_id,
        "mode": mode,
        "recorded_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "",
        "verdict": diagnosis.get("verdict") if diagnosis else None,
        "error_before": _error(last_error),
        "error_after": None,
        "missing": [{"thumbprint": m.get("thumbprint"), "subject": m.get("subject"), "store": m.get("store")}
                    for m in (diagnosis or {}).get("missing") or []],
        "action": "none",
        "imported": [],
        "removed": [],
        "elapsed": None,
        "reason": "",
        "remedy": "",
    }

    if mode == "rollback":
        if _ran(change):
            return _with_change(record, change, mode)
        record.update(status="removed", reason="That report records no import on this host; nothing to remove.")
        return record
    if not iphttps.get("configured"):
        record.update(status="not_directaccess", reason="No IP-HTTPS client configuration: not a DirectAccess client.")
        return record

    if _ran(change):
        return _with_change(record, change, mode)

    verdict = record["verdict"]
    code = record["error_before"]["code"] if record["error_before"] else None
    if mode == "preflight":
        trusted = bool(diagnosis and diagnosis.get("trusted"))
        record.update(status="would_trust" if trusted else "would_break",
                      reason=" ".join((diagnosis or {}).get("reasons") or []),
                      remedy="" if trusted else VERDICT_REMEDIES.get(verdict, ""))
        return record
    if verdict == "trusted" and code in (0, None):
        record.update(status="healthy", error_after=record["error_before"], reason="The client trusts the chain.")
        return record
    if verdict == "trusted":
        # The chain is fine, yet IP-HTTPS fails: the cause is elsewhere (network, proxy, revocation).
        record.update(status="unfixable", reason=f"The chain is trusted, but IP-HTTPS reports "
                                                 f"{last_error.get('hex')} {last_error.get('name')}.",
                      remedy=last_error.get("remedy") or "")
        return record
    if diagnosis and diagnosis.get("fixable"):
        record.update(status="would_fix" if mode in ("check", "diagnose") else "fix_failed",
                      action="would_import" if mode in ("check", "diagnose") else "none",
                      reason=" ".join(diagnosis.get("reasons") or []))
        if record["status"] == "fix_failed":
            record["reason"] = "Fixable, but no import ran. " + record["reason"]
        return record
    record.update(status="unfixable", reason=" ".join((diagnosis or {}).get("reasons") or []),
                  remedy=VERDICT_REMEDIES.get(verdict) or last_error.get("remedy") or "")
    if verdict in ("untrusted_root", "missing_intermediate") and last_error.get("remedy"):
        record["remedy"] = VERDICT_REMEDIES[verdict]
    elif verdict == "no_chain" and last_error.get("remedy"):
        record["remedy"] = last_error["remedy"]
    return record


def _not_read(host: str, client: t.Mapping, mode: str, run_id: str, now: datetime.datetime | None) -> dict:
    """client_info could not read the host: unreachable over WinRM, or the script failed there."""
    record = build_record(host, {"iphttps": {"configured": False}}, mode=mode, run_id=run_id, now=now)
    if client.get("unreachable"):
        record.update(status="unreachable", reason=f"WinRM: {client.get('msg') or 'connection failed'}",
                      remedy="Check that the host is on, WinRM listens and the credentials are right, "
                             "then run again.")
    else:
        record.update(status="failed", reason=str(client.get("msg") or "client_info failed"),
                      remedy="Fix what the reason names on the host, then run again.")
    return record


def _with_change(record: dict, change: t.Mapping, mode: str) -> dict:
    removing = bool(change.get("removed")) or mode == "rollback"
    check = mode == "check" or bool(change.get("check_mode"))
    record["imported"] = _entries(change.get("imported"))
    record["removed"] = _entries(change.get("removed"))
    record["elapsed"] = change.get("elapsed")
    after = (change.get("iphttps") or {}).get("last_error")
    record["error_after"] = _error(after)
    if removing:
        record["action"] = "would_remove" if check else "remove"
        record["status"] = "removed" if not change.get("failed") else "failed"
        record["reason"] = change.get("msg") or f"Removed {len(record['removed'])} certificate(s)."
        return record
    record["action"] = "would_import" if check else "import"
    if change.get("unreachable"):
        record.update(status="fix_failed", reason=str(change.get("msg") or "the host went away during the import"),
                      remedy="Run remediate again when the host is reachable: the import converges.")
    elif change.get("failed"):
        message = str(change.get("msg") or "ca_import failed.")
        remedy = "Run with an account that has local administrator rights on the client." \
            if "administrator" in message else "Fix what the reason names, then run remediate again."
        record.update(status="fix_failed", reason=message, remedy=remedy)
    elif check:
        record.update(status="would_fix", reason=f"Would import {len(record['imported'])} certificate(s).")
    elif record["error_after"] and record["error_after"]["code"] == 0:
        record.update(status="fixed", reason=f"Imported {len(record['imported'])} certificate(s); "
                                             "IP-HTTPS reports 0x0.")
    else:
        record.update(status="fix_failed", reason="Imported, but IP-HTTPS did not report 0x0.")
    return record
