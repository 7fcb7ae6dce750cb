# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's fleet report record: what was wrong, what was done, how it ended, what to do next.

Internal to directaccess.iphttps; may change without notice. Pure: no Ansible imports.
remediate_host builds its records step by step with these functions; the iphttps_record filter
builds one from the composable actions' results. The record format is documented in docs/report.md;
fleet_report validates it.
"""
from __future__ import annotations

import datetime
import typing as t

# What to tell people for verdicts an import cannot fix (docs/verdicts.md has the long form).
VERDICT_REMEDIES = {
    "name_mismatch": "Reissue the IP-HTTPS certificate with the public FQDN of the URL as subject, or fix the URL.",
    "wrong_usage": "Reissue the IP-HTTPS certificate with the Server Authentication EKU from a CA allowed to issue it.",
    "name_constraints": ("Reissue the server certificate with names the constrained CA permits, or reissue the CA "
                         "certificate with name constraints that cover the server's names (in forms Windows supports); "
                         "importing certificates will not help."),
    "expired": "Renew the expired certificate on the IP-HTTPS server or its CA.",
    "not_yet_valid": "Check the client's clock; otherwise wait for, or reissue, the certificate.",
    "bad_signature": "The server sends a corrupt or forged chain: investigate the IP-HTTPS server or the network path.",
    "no_chain": "The client could not get a chain from the IP-HTTPS server; see the error code's remedy.",
    "untrusted_root": "Add the root CA to the bundle (ca_bundle sources and pins), then run remediate again.",
    "missing_intermediate": "Add the intermediate CA to the bundle, or make the server send it, then run remediate again.",
    "unsupported_critical_extension": ("Reissue the named certificate without the critical extension Windows does not "
                                       "support (or with it marked non-critical); no import helps."),
    "malformed": "Reissue the named certificate: an extension in it cannot be parsed or appears twice; no import helps.",
    "explicitly_distrusted": ("A certificate of the chain is in the client's Untrusted Certificates store "
                              "(LocalMachine\\Disallowed); importing into Root cannot override that. Remove it from "
                              "Disallowed if the distrust is a mistake, or reissue from a CA that is not distrusted."),
    "weak_crypto": ("Reissue the named certificate with an RSA key of 2048 bits or more (or ECDSA) and a SHA-256 "
                    "signature; Windows rejects RSA keys under 1024 bits and MD5/MD2 signatures."),
    # The diagnosis' own remedy, naming the URL or certificate, is used when there is one.
    "revocation_offline": ("Publish a current CRL of every CA in the chain where Internet clients can reach it over "
                           "HTTP (a CDP that resolves only inside the corporate network is the usual cause); renew "
                           "an expired CRL. No import or restart helps, so the host is left alone."),
    "revoked": ("Replace the revoked certificate: issue a new one and bind it on the DirectAccess server. No import "
                "or restart helps, so the host is left alone."),
    "constrained_language": ("PowerShell on the client runs in Constrained Language Mode (WDAC or AppLocker script "
                             "enforcement), so the chain and the certificate stores could not be read; the host is "
                             "left alone. Allow the collection's scripts in the WDAC or AppLocker policy, or run with "
                             "an account or WinRM endpoint that gets FullLanguage "
                             "(https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/"
                             "about_language_modes?view=powershell-5.1)."),
    # The Schannel code's own remedy (client_info's server_chain_error_code) is used when there is one.
    "handshake_failed": ("The TLS handshake with the IP-HTTPS URL failed before the chain was seen, so no import or "
                         "restart helps and the host is left alone. Check the device that terminates TCP 443 in front "
                         "of the DirectAccess server (load balancer, reverse proxy): a client-certificate requirement, "
                         "NULL-only cipher suites or TLS versions the client does not offer."),
}
REVOCATION_VERDICTS = ("revoked", "revocation_offline")
RESTART_REMEDY = "Run remediate (with iphttps_reconnect true): it restarts iphlpsvc and checks for 0x0."
SERVICE_REMEDY = ("Start the IP Helper service (iphlpsvc) and set it to start automatically, or run remediate with "
                  "iphttps_start_service true to let this collection start it.")
# How a proven reconnect showed that DirectAccess works again (the record's reconnected_by).
RECONNECTED = {
    "iphttps": "IP-HTTPS reports 0x0",
    "connected_remotely": ("DirectAccess reports ConnectedRemotely; IP-HTTPS shows no state because another "
                           "transition technology (Teredo or 6to4) carries the tunnel"),
    "connected_locally": ("DirectAccess reports ConnectedLocally: the client is inside the corporate network, "
                          "where IP-HTTPS is not used"),
}
ROLLBACK_AFTER = ("IP-HTTPS is expected to fail again (0x800B0109) after the next iphlpsvc restart, unless the "
                  "client trusts the CA another way (Group Policy, Active Directory).")


class RecordError(ValueError):
    """The results handed over do not have the shape the actions return."""


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def error_of(decoded: t.Mapping | None) -> dict | None:
    if not decoded or decoded.get("code") is None:
        return None
    return {"code": decoded["code"], "hex": decoded["hex"], "name": decoded["name"]}


def entries(items: t.Iterable[t.Mapping] | None) -> list[dict]:
    return [{"thumbprint": e.get("thumbprint"), "store": e.get("store"), "subject": e.get("subject")}
            for e in items or []]


def _ran(result: t.Any) -> bool:
    return isinstance(result, t.Mapping) and bool(result) and not result.get("skipped")


def new_record(host: str, run_id: str, mode: str, *, check_mode: bool = False,
               now: datetime.datetime | None = None) -> dict:
    """A record with every field at its empty value."""
    moment = (now or now_utc()).astimezone(datetime.timezone.utc)
    return {
        "host": host, "run_id": run_id, "mode": mode, "recorded_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "", "verdict": None, "error_before": None, "error_after": None, "missing": [], "action": "none",
        "imported": [], "removed": [], "attempted": [], "elapsed": None, "reason": "", "remedy": "", "detail": "",
        "service_before": None, "service_started": False, "check_mode": bool(check_mode or mode == "check"),
        "reconnected_by": None, "policy_copies": [], "gpo_carries": None,
    }


def not_read(record: dict, client: t.Mapping) -> dict:
    """client_info could not read the host: unreachable over WinRM, or the script failed there."""
    if client.get("unreachable"):
        record.update(status="unreachable", reason="The host did not answer over WinRM.",
                      detail=str(client.get("msg") or "connection failed"),
                      remedy="Check that the host is on, WinRM listens and the credentials are right, then run again.")
    else:
        message = str(client.get("msg") or "client_info failed")
        denied = "access denied" in message.lower()
        record.update(status="failed", detail=message,
                      reason="The WinRM account may not read the host's state." if denied else
                      "Reading the host's IP-HTTPS state failed.",
                      remedy="Run with an account that has local administrator rights on the client." if denied else
                      "Fix what the detail names on the host, then run again.")
    return record


def detected(record: dict, client: t.Mapping, diagnosis: t.Mapping | None) -> dict:
    """Fill what detection and analysis found; the status is left to assess() or a change."""
    iphttps = client.get("iphttps") or {}
    service = client.get("iphlpsvc") or {}
    record.update(
        verdict=diagnosis.get("verdict") if diagnosis else None,
        error_before=error_of(iphttps.get("last_error")),
        missing=[{"thumbprint": m.get("thumbprint"), "subject": m.get("subject"), "store": m.get("store")}
                 for m in (diagnosis or {}).get("missing") or []],
        service_before=service.get("state"),
        policy_copies=entries(client.get("policy_copies")),
    )
    return record


def needs_restart(client: t.Mapping, diagnosis: t.Mapping | None) -> bool:
    """The chain is trusted, yet IP-HTTPS still reports a trust error: the restart after the import never ran."""
    last_error = (client.get("iphttps") or {}).get("last_error") or {}
    return bool(diagnosis and diagnosis.get("trusted")) and last_error.get("category") == "trust"


def service_down(client: t.Mapping) -> str | None:
    """'Stopped' or 'Disabled' when iphlpsvc cannot be carrying IP-HTTPS; None when it runs or is unknown."""
    service = client.get("iphlpsvc") or {}
    if str(service.get("start_mode") or "").lower() == "disabled":
        return "Disabled"
    state = service.get("state")
    if state and str(state).lower() != "running":
        return str(state)
    return None


def assess(record: dict, client: t.Mapping, diagnosis: t.Mapping | None, mode: str, *,
           start_service: bool = False) -> dict:
    """The status of a host this run does not change (or, for would_fix / restart_pending, not yet).

    With ``start_service`` a stopped iphlpsvc is no reason to stop: the restart starts it.
    """
    iphttps = client.get("iphttps") or {}
    last_error = iphttps.get("last_error") or {}
    verdict = record["verdict"]
    code = record["error_before"]["code"] if record["error_before"] else None
    reasons = " ".join((diagnosis or {}).get("reasons") or [])
    if not iphttps.get("configured"):
        return dict(record, status="not_directaccess",
                    reason="No IP-HTTPS client configuration: not a DirectAccess client. Left alone.")
    if verdict == "constrained_language":
        # Nothing about the chain is known, so neither a preflight nor a restart nor an import applies.
        return dict(record, status="unfixable", reason=reasons, remedy=VERDICT_REMEDIES[verdict])
    if verdict == "handshake_failed":
        # Likewise: the device in front of the server must change, whatever the mode.
        code = client.get("server_chain_error_code") or {}
        return dict(record, status="unfixable", reason=reasons,
                    remedy=code["remedy"] if code.get("name", "UNKNOWN") != "UNKNOWN" else VERDICT_REMEDIES[verdict])
    if mode == "preflight":
        trusted = bool(diagnosis and diagnosis.get("trusted"))
        return dict(record, status="would_trust" if trusted else "would_break", reason=reasons,
                    remedy="" if trusted else VERDICT_REMEDIES.get(verdict, ""))
    down = service_down(client)
    if down and start_service and down != "Disabled":
        if verdict == "trusted":
            return dict(record, status="restart_pending", action="would_restart",
                        reason=f"The client trusts the chain, but iphlpsvc is {down.lower()}.", remedy=RESTART_REMEDY)
    elif down:
        return dict(record, status="service_stopped",
                    reason=f"The IP Helper service (iphlpsvc) is {down.lower()}, so IP-HTTPS cannot run. "
                           f"Left alone." + (f" The chain: {reasons}" if reasons and verdict != "trusted" else ""),
                    remedy=SERVICE_REMEDY)
    if verdict == "trusted" and code in (0, None):
        return dict(record, status="healthy", error_after=record["error_before"], reason="The client trusts the chain.")
    if needs_restart(client, diagnosis):
        return dict(record, status="restart_pending", action="would_restart",
                    reason=f"The client trusts the chain now, but IP-HTTPS still reports {last_error.get('hex')} "
                           f"{last_error.get('name')} from before: iphlpsvc has not been restarted since the "
                           "certificates arrived.",
                    remedy=RESTART_REMEDY)
    if verdict == "trusted":
        # The chain is fine, yet IP-HTTPS fails: the cause is elsewhere (network, proxy, revocation).
        return dict(record, status="unfixable",
                    reason=f"The chain is trusted, but IP-HTTPS reports {last_error.get('hex')} {last_error.get('name')}.",
                    remedy=last_error.get("remedy") or "")
    if diagnosis and diagnosis.get("fixable"):
        return dict(record, status="would_fix", action="would_import", reason=reasons)
    remedy = VERDICT_REMEDIES.get(verdict) or last_error.get("remedy") or ""
    if verdict == "no_chain" and last_error.get("remedy"):
        remedy = last_error["remedy"]
    if verdict in REVOCATION_VERDICTS:
        # Never restart_pending or would_fix: an import or a restart cannot fix revocation.
        remedy = ((diagnosis or {}).get("revocation") or {}).get("remedy") or remedy
    return dict(record, status="unfixable", reason=reasons, remedy=remedy)


def _failure_remedy(message: str) -> str:
    return "Run with an account that has local administrator rights on the client." \
        if "administrator" in message else "Fix what the detail names, then run remediate again."


def changed(record: dict, change: t.Mapping, *, planned: t.Sequence[t.Mapping] = ()) -> dict:
    """Fill what an import (or restart) did and how it ended.

    ``change`` is ca_import's result. ``planned`` are the certificates detection found missing:
    one that comes back already_present after a lost reply was put there by this run's first attempt.
    """
    record = dict(record)
    check = record["check_mode"]
    imported = entries(change.get("imported"))
    if change.get("recovered") and planned:
        wanted = {p.get("thumbprint") for p in planned}
        imported += [e for e in entries(change.get("already_present")) if e["thumbprint"] in wanted]
    record.update(imported=imported, elapsed=change.get("elapsed"),
                  error_after=error_of((change.get("iphttps") or {}).get("last_error")),
                  service_started=bool(change.get("service_started")))
    restart_only = not planned
    record["action"] = ("would_restart" if check else "restart") if restart_only else \
        ("would_import" if check else "import")
    message = str(change.get("msg") or "")
    if change.get("unreachable"):
        return dict(record, status="fix_failed", reason="The host went away during the change; what it holds now "
                                                        "is unknown.", detail=message,
                    remedy="Run remediate again when the host is reachable: the change converges.")
    if change.get("failed"):
        return dict(record, status="fix_failed", reason=_failed_reason(record, change), detail=message,
                    remedy=_failure_remedy(message))
    count = len(imported)
    if check:
        what = "restart iphlpsvc" if restart_only else f"import {count} certificate(s) and restart iphlpsvc"
        return dict(record, status="would_fix" if not restart_only else "restart_pending", reason=f"Would {what}.")
    if not restart_only and not imported:
        return dict(record, status="already_present", action="none",
                    reason="Every planned certificate was already on the host; nothing was imported and iphlpsvc "
                           "was not restarted.")
    started = " iphlpsvc was stopped; this run started it." if record["service_started"] else ""
    if not change.get("restart_scheduled") and not change.get("recovered"):
        note = change.get("restart_skipped") or "the run did not ask for the iphlpsvc restart (iphttps_reconnect false)"
        return dict(record, status="restart_pending",
                    reason=f"Imported {count} certificate(s); IP-HTTPS keeps its old error until iphlpsvc restarts: "
                           f"{note}.", remedy=RESTART_REMEDY)
    done = "Restarted iphlpsvc" if restart_only else f"Imported {count} certificate(s) and restarted iphlpsvc"
    # ca_import says how the proven reconnect succeeded; a result without it counts only an IP-HTTPS 0x0.
    via = change.get("reconnected_by") or ("iphttps" if record["error_after"] and record["error_after"]["code"] == 0
                                           else None)
    if via in RECONNECTED:
        return dict(record, status="fixed", reconnected_by=via, reason=f"{done}; {RECONNECTED[via]}.{started}")
    last = record["error_after"]
    seen = f"{last['hex']} {last['name']}" if last else "no IP-HTTPS state"
    return dict(record, status="fix_failed", reason=f"{done}, but IP-HTTPS did not reach 0x0; last seen: {seen}.",
                detail=message, remedy="See the error's remedy in docs/verdicts.md, then run remediate again.")


def _failed_reason(record: dict, change: t.Mapping) -> str:
    if "administrator" in str(change.get("msg") or ""):
        return "Access denied: the WinRM account needs local administrator rights on the client."
    done = f"Imported {len(record['imported'])} certificate(s)" if record["imported"] else "Nothing was imported"
    if change.get("restart_error"):
        return f"{done}, but the iphlpsvc restart could not be launched."
    if change.get("restart_scheduled") and change.get("polls"):
        return f"{done} and the iphlpsvc restart was launched, but the reconnect was not confirmed."
    if record["imported"]:
        return f"The change stopped part-way; imported before that: {len(record['imported'])} certificate(s)."
    if change.get("imported") is None and change.get("restart_error") is None:
        return "The change failed before the host reported anything."
    return "The change failed."


def removal(record: dict, change: t.Mapping, asked: t.Sequence[t.Mapping]) -> dict:
    """A rollback's removal, verified against the stores the host listed afterwards."""
    record = dict(record)
    check = record["check_mode"]
    removed = entries(change.get("removed"))
    record.update(removed=removed, elapsed=change.get("elapsed"), action="would_remove" if check else "remove")
    message = str(change.get("msg") or "")
    if change.get("unreachable") or change.get("failed"):
        return dict(record, status="failed", reason=f"The removal did not finish; removed before that: "
                                                    f"{len(removed)} certificate(s).", detail=message,
                    remedy="Run the rollback again when the host is reachable: it converges.")
    kept = [e for e in change.get("kept") or [] if isinstance(e, t.Mapping)]
    record["policy_copies"] = entries(kept)
    kept_keys = {(e.get("store"), e.get("thumbprint")) for e in kept}
    after = change.get("stores_after") or {}
    # A copy that Group Policy or Active Directory delivers stays listed, as it should.
    still = [e for e in removed if e["thumbprint"] in (after.get(e["store"]) or [])
             and (e["store"], e["thumbprint"]) not in kept_keys] if not check else []
    if still:
        listed = ", ".join(f"{e['store']}\\{e['thumbprint']}" for e in still)
        return dict(record, status="failed", reason=f"The host still lists {listed} after the removal.",
                    remedy="Look for another copy (Group Policy, Enterprise store) on the host.")
    note = _kept_note(kept, check)
    if not removed:
        return dict(record, status="nothing_to_remove", action="none",
                    reason=f"None of the {len(asked)} certificate(s) the run imported is on the host any more"
                           + (f" in the store an import uses. {note}" if note else "."))
    if check:
        return dict(record, status="would_remove", reason=f"Would remove {len(removed)} certificate(s)."
                    + (f" {note}" if note else ""))
    if note:
        return dict(record, status="removed", reason=f"Removed {len(removed)} certificate(s). {note}")
    return dict(record, status="removed", reason=f"Removed {len(removed)} certificate(s); the host's stores no "
                                                 f"longer list them. {ROLLBACK_AFTER}")


def gpo_link(record: dict, carried: t.Iterable[str] | None) -> dict:
    """Say whether the DirectAccess GPO carries the CAs this host was given (or would be), from gpo_sync's report.

    Without the GPO the fix lasts only as long as the host's own store: a re-imaged or new client breaks again.
    ``carried`` None: not known (no report named), and the record says nothing.
    """
    if carried is None or record["status"] not in ("fixed", "would_fix", "already_present", "restart_pending"):
        return record
    certs = [c for c in record["imported"] or record["attempted"] or record["missing"] if c.get("thumbprint")]
    if not certs:
        return record
    held = {str(thumb).upper() for thumb in carried}
    lacking = [c for c in certs if str(c["thumbprint"]).upper() not in held]
    if lacking:
        names = ", ".join(c.get("subject") or c["thumbprint"] for c in lacking)
        note = (f"The DirectAccess GPO does NOT carry {names}: run gpo_sync, or a re-imaged or new client "
                "breaks again.")
    else:
        note = "The DirectAccess GPO carries it, so the fix stays: clients get it again at a policy refresh."
    return dict(record, gpo_carries=not lacking, reason=f"{record['reason']} {note}".strip())


def _kept_note(kept: t.Sequence[t.Mapping], check: bool) -> str:
    """What a rollback left in place because Group Policy or Active Directory also delivers it, and why."""
    if not kept:
        return ""
    parts = []
    for entry in kept:
        where = " and ".join(str(name) for name in entry.get("kept_by") or []) or "another physical store"
        done = ("only the copy this run imported would be removed" if check else
                "only the copy this run imported was removed") if entry.get("removed_default") else \
            "this run's copy was not there"
        parts.append(f"{entry.get('store')}\\{entry.get('thumbprint')}: {done}; {where} also delivers it, so "
                     f"LocalMachine\\{entry.get('store')} keeps listing it")
    holders = {str(name) for entry in kept for name in entry.get("kept_by") or []}
    how = []
    if "GroupPolicy" in holders:
        how.append("Group Policy restores its copy at the next refresh: take it out of the GPO (gpo_sync with "
                   "absent) to remove it for good")
    if "Enterprise" in holders:
        how.append("Active Directory refills the Enterprise store: unpublish it from AD by hand (docs/gpo.md)")
    if "AuthRoot" in holders:
        how.append("AuthRoot is Windows' own root program")
    return "Left in place: " + "; ".join(parts) + ". Removing that copy would not last: " + "; ".join(how) + "."


def build_record(host: str, client: t.Mapping | None, *, trust: t.Mapping | None = None,
                 change: t.Mapping | None = None, mode: str = "remediate", run_id: str = "",
                 now: datetime.datetime | None = None) -> dict:
    """The iphttps_record filter: one record from client_info / trust_check / ca_import results."""
    record = new_record(host, run_id, mode, check_mode=mode == "check", now=now)
    if mode == "rollback":
        if not _ran(change):
            return dict(record, status="nothing_to_remove", reason="The named run imported nothing on this host.")
        check = bool(change.get("check_mode"))
        record["check_mode"] = check
        return removal(record, change, change.get("removed") or [])
    if isinstance(client, t.Mapping) and (client.get("unreachable") or client.get("failed")):
        return not_read(record, client)
    if not isinstance(client, t.Mapping) or "iphttps" not in client:
        raise RecordError(f"{host}: client_info's result is needed (a dict with 'iphttps'), "
                          f"got {type(client).__name__}")
    diagnosis = trust if _ran(trust) else client.get("diagnosis")
    record = detected(record, client, diagnosis)
    if _ran(change) and (client.get("iphttps") or {}).get("configured"):
        record["check_mode"] = record["check_mode"] or bool(change.get("check_mode"))
        return changed(record, change, planned=(diagnosis or {}).get("missing") or [])
    record = assess(record, client, diagnosis, mode)
    if record["status"] == "would_fix" and mode == "remediate":
        record.update(status="fix_failed", action="none", reason="Fixable, but no import ran. " + record["reason"])
    return record
