# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change a Windows client's Root and CA stores and reconnect IP-HTTPS: the part ca_import and remediate_host share.

Internal to directaccess.iphttps; may change without notice. One ca_import.ps1 command changes the
stores and schedules the detached iphlpsvc restart; light iphttps_state.ps1 polls then wait for 0x0.
"""
from __future__ import annotations

import base64
import time
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts as scripts


def script_params(plan: t.Sequence[dict], *, state: str, check_mode: bool, restart: bool, restart_delay: int,
                  force_restart: bool = False) -> dict:
    """ca_import.ps1's input. The script restarts iphlpsvc only when it changed something, unless forced."""
    return {
        "state": state,
        "check_mode": check_mode,
        "restart_iphlpsvc": restart and not check_mode,
        "restart_even_if_unchanged": force_restart and restart and not check_mode,
        "restart_delay_seconds": restart_delay,
        "certificates": [{"store": p["store"], "thumbprint": p["thumbprint"],
                          "der_base64": base64.b64encode(p["der"]).decode("ascii") if p.get("der") else ""}
                         for p in plan],
    }


def _joined(items: t.Iterable[t.Mapping]) -> str:
    return ", ".join(f"{e['store']}\\{e['thumbprint']}" for e in items) or "nothing"


def apply(connection: t.Any, plan: t.Sequence[dict], *, state: str = "present", check_mode: bool = False,
          restart: bool = False, force_restart: bool = False, wait_for_zero: bool = True, restart_delay: int = 5,
          reconnect_timeout: float = 120, poll_interval: float = 5) -> dict:
    """Send the change, recover a lost reply, and wait for 0x0 when a restart was scheduled.

    Returns ca_import's result keys: changed, imported, removed, already_present, absent, stores_before,
    stores_after, restart_scheduled, restart_skipped, iphttps, polls, elapsed, and failed/unreachable with msg.
    ``recovered`` is true when the first reply was lost and the idempotent change ran again.
    """
    started = time.monotonic()
    params = script_params(plan, state=state, check_mode=check_mode, restart=restart, restart_delay=restart_delay,
                           force_restart=force_restart)
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
        "stores_before": {k: sorted(v or []) for k, v in (outcome.get("stores_before") or {}).items()},
        "stores_after": {k: sorted(v or []) for k, v in (outcome.get("stores_after") or {}).items()},
        "restart_scheduled": bool(outcome.get("restart_scheduled")),
        "restart_skipped": outcome.get("restart_skipped"),
        "service_started": bool(outcome.get("restart_scheduled")) and
        str(outcome.get("service_status") or "Running").lower() != "running",
        "iphttps": None,
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
        return dict(result, failed=True, elapsed=_since(started),
                    msg=f"{outcome['restart_error']}. Changed: {done}. Restart iphlpsvc on the host, or run the "
                        "remediate playbook: it restarts iphlpsvc where the chain is trusted but IP-HTTPS still "
                        "reports the old error.")
    # After a lost reply the interrupted attempt may have scheduled the restart: wait for it too.
    scheduled = result["restart_scheduled"] or (recovered_note is not None and restart and not check_mode
                                                and outcome.get("restart_skipped") is None)
    if scheduled and wait_for_zero:
        result = _wait_for_zero(connection, result, done, restart_delay=restart_delay,
                                reconnect_timeout=reconnect_timeout, poll_interval=poll_interval)
    result["elapsed"] = _since(started)
    return result


def _wait_for_zero(connection: t.Any, result: dict, done: str, *, restart_delay: int, reconnect_timeout: float,
                   poll_interval: float) -> dict:
    try:
        state, polls, notes = scripts.poll_script(
            connection, "iphttps_state", {},
            until=lambda doc: bool(doc.get("iphttps_state")) and doc["iphttps_state"].get("last_error_code") == 0,
            timeout=reconnect_timeout,
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
    current = (state or {}).get("iphttps_state")
    if current:
        code = current.get("last_error_code")
        result["iphttps"] = {"interface_status": current.get("interface_status"), "last_error_code": code,
                             "last_error": decode_error(code)}
    if not current or current.get("last_error_code") != 0:
        last = result["iphttps"]["last_error"]["hex"] + " " + result["iphttps"]["last_error"]["name"] \
            if result["iphttps"] else "no IP-HTTPS state"
        result.update(failed=True, msg=f"IP-HTTPS did not reach 0x0 within {reconnect_timeout}s after the iphlpsvc "
                                       f"restart; last seen: {last}")
    return result


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
