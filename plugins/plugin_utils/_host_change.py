# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change a Windows client's Root and CA stores and reconnect IP-HTTPS: the part ca_import and remediate_host share.

Internal to directaccess.iphttps; may change without notice. One ca_import.ps1 command changes the
stores and launches the detached iphlpsvc restart; light iphttps_state.ps1 polls then wait until the
restart is proven to have run and DirectAccess is connected again.

A poll counts only with proof of the restart: the marker the restart writes when Restart-Service returns,
carrying this run's token, or a new Win32_Service.ProcessId for iphlpsvc. The process id alone is not
enough where iphlpsvc shares its svchost.exe with other services (Windows 10 before 1703, or 3.5 GB of
RAM or less), because a restart keeps it. Without proof, a 0x0 read before the restart would be the
old connection, not the fix.
"""
from __future__ import annotations

import base64
import secrets
import time
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts as scripts


RESTART_METHODS = ("auto", "scheduled_task", "wmi")
# Get-DAConnectionStatus' Status names that mean DirectAccess works, and what the record calls them.
CONNECTED_STATUSES = {"ConnectedRemotely": "connected_remotely", "ConnectedLocally": "connected_locally"}
ASR_HINT = ("An ASR rule (Block process creations originating from PSExec and WMI commands) stops processes "
            "created through WMI: use restart_method scheduled_task.")


def script_params(plan: t.Sequence[dict], *, state: str, check_mode: bool, restart: bool, restart_delay: int,
                  force_restart: bool = False, restart_method: str = "auto", restart_token: str = "") -> dict:
    """ca_import.ps1's input. The script restarts iphlpsvc only when it changed something, unless forced."""
    return {
        "state": state,
        "check_mode": check_mode,
        "restart_iphlpsvc": restart and not check_mode,
        "restart_even_if_unchanged": force_restart and restart and not check_mode,
        "restart_delay_seconds": restart_delay,
        "restart_method": restart_method,
        "restart_token": restart_token,
        "certificates": [{"store": p["store"], "thumbprint": p["thumbprint"],
                          "der_base64": base64.b64encode(p["der"]).decode("ascii") if p.get("der") else ""}
                         for p in plan],
    }


def _joined(items: t.Iterable[t.Mapping]) -> str:
    return ", ".join(f"{e['store']}\\{e['thumbprint']}" for e in items) or "nothing"


def apply(connection: t.Any, plan: t.Sequence[dict], *, state: str = "present", check_mode: bool = False,
          restart: bool = False, force_restart: bool = False, wait_for_zero: bool = True, restart_delay: int = 5,
          reconnect_timeout: float = 120, poll_interval: float = 5, restart_method: str = "auto",
          restart_token: str | None = None) -> dict:
    """Send the change, recover a lost reply, and wait for the proven reconnect when a restart was launched.

    Returns ca_import's result keys: changed, imported, removed, already_present, absent, stores_before,
    stores_after, restart_scheduled, restart_skipped, restart_launch, iphttps, da_connection_status,
    reconnected_by, restart_proof, polls, elapsed, and failed/unreachable with msg.
    ``recovered`` is true when the first reply was lost and the idempotent change ran again.
    ``restart_token`` names this run's restart proof; a fresh random one by default.
    """
    if restart_method not in RESTART_METHODS:
        raise ValueError(f"restart_method must be one of {', '.join(RESTART_METHODS)}, got {restart_method!r}")
    started = time.monotonic()
    # The same token goes with a retried import, so the proof of a restart the lost attempt launched counts too.
    token = restart_token or secrets.token_hex(8)
    params = script_params(plan, state=state, check_mode=check_mode, restart=restart, restart_delay=restart_delay,
                           force_restart=force_restart, restart_method=restart_method, restart_token=token)
    recovered_note = None
    try:
        outcome = scripts.run_script(connection, "ca_import", params)
    except scripts.ScriptError as exc:
        return {"failed": True, "changed": False, "msg": str(exc), "elapsed": _since(started)}
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # The link may drop after the host ran the change (a tunnel going down, or WinRM's clean-up
        # after the reply). The change is idempotent, so run it again once the host answers: that run
        # reports the true state and finishes whatever the first one did not.
        outcome, polls, _notes = scripts.poll_script(
            connection, "ca_import", params, until=lambda doc: True,
            timeout=max(1.0, reconnect_timeout - (time.monotonic() - started)),
            first_delay=min(restart_delay + 1, reconnect_timeout), interval=poll_interval)
        if outcome is None:
            return {"unreachable": True, "changed": False, "elapsed": _since(started),
                    "msg": f"ca_import: {exc}; the host did not answer again within {reconnect_timeout}s, so whether "
                           "the change ran is unknown. Run again: the change converges."}
        recovered_note = (f"the reply to ca_import was lost ({exc}); the change was run again after {polls} "
                          "attempt(s). Entries listed as already present may have been added by the interrupted "
                          "attempt.")
    result = {
        # After a lost reply the first attempt may have changed the host: say so rather than guess.
        "changed": bool(outcome.get("changed")) or recovered_note is not None,
        "recovered": recovered_note is not None,
        "imported": list(outcome.get("imported") or []),
        "removed": list(outcome.get("removed") or []),
        "already_present": list(outcome.get("already_present") or []),
        "absent": list(outcome.get("absent") or []),
        # ca_import v4: removals another physical store (Group Policy, Enterprise, AuthRoot) also delivers.
        "kept": [{"store": e.get("store"), "thumbprint": e.get("thumbprint"),
                  "kept_by": [str(name) for name in e.get("kept_by") or []],
                  "removed_default": bool(e.get("removed_default"))} for e in outcome.get("kept") or []
                 if isinstance(e, dict)],
        "stores_before": {k: sorted(v or []) for k, v in (outcome.get("stores_before") or {}).items()},
        "stores_after": {k: sorted(v or []) for k, v in (outcome.get("stores_after") or {}).items()},
        "restart_scheduled": bool(outcome.get("restart_scheduled")),
        "restart_skipped": outcome.get("restart_skipped"),
        "restart_launch": outcome.get("restart_launch"),
        "service_started": bool(outcome.get("restart_scheduled")) and
        str(outcome.get("service_status") or "Running").lower() != "running",
        "iphttps": None,
        "da_connection_status": None,
        "reconnected_by": None,
        "restart_proof": None,
        "polls": 0,
    }
    notes = [note for note in (recovered_note, outcome.get("restart_note")) if note]
    if notes:
        result["reconnect_notes"] = notes
    done = _joined(result["imported"] + result["removed"])
    failed = outcome.get("failed")
    if failed and failed.get("kind") == "distrusted":
        # Refused before anything was written: a re-run would refuse again.
        return dict(result, failed=True, distrusted=[failed.get("thumbprint")], elapsed=_since(started),
                    msg=f"ca_import refused {failed.get('store')}\\{failed.get('thumbprint')}: {failed.get('message')}. "
                        "Nothing was changed. Importing cannot override an explicit distrust: remove the "
                        "certificate from Disallowed if the distrust is a mistake, or reissue from a CA that is "
                        "not distrusted.")
    if failed:
        reason = "access denied: the WinRM account needs local administrator rights" \
            if failed.get("kind") == "access_denied" else failed.get("message")
        return dict(result, failed=True, elapsed=_since(started),
                    msg=f"ca_import stopped at {failed.get('store')}\\{failed.get('thumbprint')}: {reason}. "
                        f"Changed before the failure: {done}. A re-run converges.")
    if outcome.get("restart_error"):
        hint = f"{ASR_HINT} " if restart_method == "wmi" else ""
        return dict(result, failed=True, restart_error=outcome["restart_error"], elapsed=_since(started),
                    msg=f"{outcome['restart_error']}. Changed: {done}. {hint}Restart iphlpsvc on the host, or run the "
                        "remediate playbook: it restarts iphlpsvc where the chain is trusted but IP-HTTPS still "
                        "reports the old error.")
    # After a lost reply the interrupted attempt may have scheduled the restart: wait for it too.
    scheduled = result["restart_scheduled"] or (recovered_note is not None and restart and not check_mode
                                                and outcome.get("restart_skipped") is None)
    if scheduled and wait_for_zero:
        result = _wait_for_zero(connection, result, done, token=token, restart_delay=restart_delay,
                                reconnect_timeout=reconnect_timeout, poll_interval=poll_interval)
    result["elapsed"] = _since(started)
    return result


def restart_proof(doc: t.Mapping, token: str, launch: t.Mapping | None) -> str | None:
    """'marker' or 'process_id' when the poll shows that this run's restart ran; None without proof."""
    marker = doc.get("restart_marker") or {}
    if marker.get("token") == token and marker.get("outcome") == "restarted":
        return "marker"
    before = (launch or {}).get("service_process_id_before")
    now = doc.get("service_process_id")
    if before is not None and now and now != before and str(doc.get("service_status")).lower() == "running":
        return "process_id"
    return None


def restart_failure(doc: t.Mapping, token: str) -> str | None:
    """Restart-Service's own error, when this run's restart ran and failed."""
    marker = doc.get("restart_marker") or {}
    if marker.get("token") == token and marker.get("outcome") == "failed":
        return str(marker.get("message") or "no message")
    return None


def connected_by(doc: t.Mapping) -> str | None:
    """'iphttps' for IP-HTTPS at 0x0; 'connected_remotely'/'connected_locally' from Get-DAConnectionStatus.

    IP-HTTPS shows no state while Teredo or 6to4 carries DirectAccess, or inside the corporate network;
    the DirectAccess status still says whether the client is connected.
    """
    state = doc.get("iphttps_state")
    if state and state.get("last_error_code") == 0:
        return "iphttps"
    return CONNECTED_STATUSES.get((doc.get("da_connection_status") or {}).get("status_name"))


def _wait_for_zero(connection: t.Any, result: dict, done: str, *, token: str, restart_delay: int,
                   reconnect_timeout: float, poll_interval: float) -> dict:
    launch = result.get("restart_launch")

    def finished(doc: dict) -> bool:
        proven = restart_proof(doc, token, launch) is not None
        return restart_failure(doc, token) is not None or (proven and connected_by(doc) is not None)

    try:
        state, polls, notes = scripts.poll_script(
            connection, "iphttps_state", {}, until=finished, timeout=reconnect_timeout,
            # The restart waits restart_delay seconds; give IP-HTTPS a moment to come up after it.
            first_delay=min(restart_delay + 1, reconnect_timeout),
            interval=poll_interval,
        )
    except scripts.ScriptError as exc:
        # The stores did change: say so, rather than let the error lose what was done.
        return dict(result, failed=True, msg=f"ca_import changed {done} and scheduled the iphlpsvc restart, but "
                                             f"reading the IP-HTTPS state afterwards failed: {exc}")
    result["polls"] = polls
    if notes:
        result["reconnect_notes"] = result.get("reconnect_notes", []) + notes
    state = state or {}
    current = state.get("iphttps_state")
    if current:
        code = current.get("last_error_code")
        result["iphttps"] = {"interface_status": current.get("interface_status"), "last_error_code": code,
                             "last_error": decode_error(code)}
    result["da_connection_status"] = state.get("da_connection_status")
    proof = restart_proof(state, token, launch)
    via = connected_by(state)
    result["restart_proof"] = proof
    failure = restart_failure(state, token)
    if failure is not None:
        return dict(result, failed=True, msg=f"the iphlpsvc restart ran but Restart-Service failed: {failure}. "
                                             f"Changed: {done}. Restart iphlpsvc on the host, or run remediate again.")
    if proof is None:
        return dict(result, failed=True, msg=_unproven(result, state, launch, via, reconnect_timeout))
    if via is None:
        last = result["iphttps"]["last_error"]["hex"] + " " + result["iphttps"]["last_error"]["name"] \
            if result["iphttps"] else "no IP-HTTPS state"
        status = (state.get("da_connection_status") or {}).get("status_name")
        if status:
            last += f"; DirectAccess status {status}"
        return dict(result, failed=True, msg=f"IP-HTTPS did not reach 0x0 within {reconnect_timeout}s after the "
                                             f"iphlpsvc restart; last seen: {last}")
    result["reconnected_by"] = via
    return result


def _unproven(result: dict, state: dict, launch: t.Mapping | None, via: str | None, timeout: float) -> str:
    """Why no poll proved the restart: what was launched and what was seen instead."""
    launch = launch or {}
    method = launch.get("method") or "an earlier attempt whose reply was lost"
    what = {"scheduled_task": f"the scheduled task {launch.get('task_name')}",
            "wmi": f"process {launch.get('process_id')} through WMI"}.get(launch.get("method"), method)
    seen = f"iphlpsvc's process id stayed {state.get('service_process_id')}" \
        if state.get("service_process_id") is not None else "no poll reached the host"
    looked_fixed = f" The state read as fixed ({via}), but that may be the connection from before the restart." \
        if via else ""
    hint = f" {ASR_HINT}" if launch.get("method") == "wmi" else ""
    return (f"nothing proves that the iphlpsvc restart ran within {timeout}s: it was launched as {what}, but no "
            f"poll found its marker and {seen}.{looked_fixed}{hint}")


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
