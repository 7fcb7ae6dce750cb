# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_import: put CA certificates into a Windows client's Root and CA stores, then reconnect IP-HTTPS."""
from __future__ import annotations

import base64
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

ARGUMENT_SPEC = dict(
    certificates=dict(type="list", elements="raw", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    reconnect=dict(type="bool", default=False),
    reconnect_timeout=dict(type="int", default=120),
    restart_delay=dict(type="int", default=5),
    poll_interval=dict(type="int", default=5),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _recover(self, params, args, error, poll_script, started):
        """Re-run the same idempotent import once the host answers; (outcome or None, note)."""
        deadline = max(1.0, args["reconnect_timeout"] - (time.monotonic() - started))
        outcome, polls, _notes = poll_script(
            self._connection, "ca_import", params, until=lambda doc: True, timeout=deadline,
            first_delay=args["restart_delay"] + 1, interval=args["poll_interval"])
        if outcome is None:
            return None, None
        return outcome, (f"the reply to ca_import was lost ({error}); the import was run again after "
                         f"{polls} attempt(s). Entries listed as already present may have been added by the "
                         "interrupted attempt.")

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        started = time.monotonic()
        args = validated_args(self, "ca_import", ARGUMENT_SPEC, positive=["reconnect_timeout", "poll_interval"],
                              non_negative=["restart_delay"])

        from ansible_collections.directaccess.iphttps.plugins.module_utils._error_codes import decode_error
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts import (
            ScriptError,
            poll_script,
            run_script,
        )

        try:
            plan = plan_import(args["certificates"], args["state"])
        except PlanError as exc:
            raise AnsibleActionFail(str(exc)) from None
        check_mode = bool(self._task.check_mode)
        # The script restarts iphlpsvc only when it changed something: a converged host is left alone.
        params = {
            "state": args["state"],
            "check_mode": check_mode,
            "restart_iphlpsvc": args["reconnect"] and not check_mode,
            "restart_delay_seconds": args["restart_delay"],
            "certificates": [{"store": p["store"], "thumbprint": p["thumbprint"],
                              "der_base64": base64.b64encode(p["der"]).decode("ascii") if p["der"] else ""}
                             for p in plan],
        }
        recovered_note = None
        try:
            outcome = run_script(self._connection, "ca_import", params)
        except ScriptError as exc:
            raise AnsibleActionFail(str(exc)) from None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # The link may drop after the host ran the import (a tunnel going down, or WinRM's
            # clean-up after the reply). The import is idempotent, so run it again once the host
            # answers: that run reports the true state and finishes whatever the first one did not.
            outcome, recovered_note = self._recover(params, args, exc, poll_script, started)
            if outcome is None:
                return dict(result, unreachable=True, changed=False, elapsed=round(time.monotonic() - started, 3),
                            msg=f"ca_import: {exc}; the host did not answer again within "
                                f"{args['reconnect_timeout']}s, so whether the import ran is unknown. "
                                "Run again: the import converges.")

        subjects = {p["thumbprint"]: p["subject"] for p in plan}

        def described(entries):
            return [dict(e, subject=subjects.get(e["thumbprint"])) for e in entries or []]

        result.update(
            # After a lost reply the first attempt may have changed the host: say so rather than guess.
            changed=bool(outcome.get("changed")) or recovered_note is not None,
            imported=described(outcome.get("imported")),
            removed=described(outcome.get("removed")),
            already_present=described(outcome.get("already_present")),
            iphttps=None,
            polls=0,
        )
        before = {k: sorted(v or []) for k, v in (outcome.get("stores_before") or {}).items()}
        after = {k: sorted(v or []) for k, v in (outcome.get("stores_after") or {}).items()}
        if check_mode:
            # Nothing was touched; show what the stores would hold.
            after = {k: list(v) for k, v in before.items()}
            for entry in result["imported"]:
                after.setdefault(entry["store"], []).append(entry["thumbprint"])
            for entry in result["removed"]:
                after[entry["store"]] = [tp for tp in after.get(entry["store"], []) if tp != entry["thumbprint"]]
            after = {k: sorted(v) for k, v in after.items()}
        result["diff"] = {"before": before, "after": after}

        done = ", ".join(f"{e['store']}\\{e['thumbprint']}" for e in result["imported"] + result["removed"]) \
            or "nothing"
        early_notes = [note for note in (recovered_note, outcome.get("restart_note")) if note]
        if early_notes:
            result["reconnect_notes"] = early_notes
        failed = outcome.get("failed")
        if failed:
            reason = "access denied: the WinRM account needs local administrator rights" \
                if failed.get("kind") == "access_denied" else failed.get("message")
            result.update(failed=True, elapsed=round(time.monotonic() - started, 3),
                          msg=f"ca_import stopped at {failed.get('store')}\\{failed.get('thumbprint')}: {reason}. "
                              f"Changed before the failure: {done}. A re-run converges.")
            return result
        if outcome.get("restart_error"):
            done = ", ".join(f"{e['store']}\\{e['thumbprint']}" for e in result["imported"] + result["removed"]) \
                or "nothing"
            result.update(failed=True, elapsed=round(time.monotonic() - started, 3),
                          msg=f"{outcome['restart_error']}. Changed: {done}. Restart iphlpsvc on the host, "
                              "or run again with reconnect.")
            return result

        # After a lost reply the interrupted attempt may have scheduled the restart: wait for it too.
        if outcome.get("restart_scheduled") or (recovered_note and args["reconnect"] and not check_mode):
            try:
                state, polls, notes = poll_script(
                    self._connection, "iphttps_state", {},
                    until=lambda doc: bool(doc.get("iphttps_state")) and doc["iphttps_state"].get("last_error_code") == 0,
                    timeout=args["reconnect_timeout"],
                    # The restart waits restart_delay seconds; give IP-HTTPS a moment to come up after it.
                    first_delay=args["restart_delay"] + 1,
                    interval=args["poll_interval"],
                )
            except ScriptError as exc:
                # The stores did change: say so, rather than let the error lose what was done.
                result.update(failed=True, elapsed=round(time.monotonic() - started, 3),
                              msg=f"ca_import changed {done} and scheduled the iphlpsvc restart, but reading the IP-HTTPS "
                                  f"state afterwards failed: {exc}")
                return result
            result["polls"] = polls
            if notes:
                result["reconnect_notes"] = result.get("reconnect_notes", []) + notes
            current = (state or {}).get("iphttps_state")
            if current:
                code = current.get("last_error_code")
                result["iphttps"] = {"interface_status": current.get("interface_status"),
                                     "last_error_code": code, "last_error": decode_error(code)}
            if not current or current.get("last_error_code") != 0:
                last = result["iphttps"]["last_error"]["hex"] + " " + result["iphttps"]["last_error"]["name"] \
                    if result["iphttps"] else "no IP-HTTPS state"
                result.update(failed=True, msg=f"IP-HTTPS did not reach 0x0 within {args['reconnect_timeout']}s "
                                               f"after the iphlpsvc restart; last seen: {last}")
        result["elapsed"] = round(time.monotonic() - started, 3)
        return result
