# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_import: put CA certificates into a Windows client's Root and CA stores, then reconnect IP-HTTPS."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import MAX_RESTART_DELAY, validated_args

ARGUMENT_SPEC = dict(
    certificates=dict(type="list", elements="raw", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    reconnect=dict(type="bool", default=False),
    reconnect_timeout=dict(type="int", default=120),
    restart_delay=dict(type="int", default=5),
    poll_interval=dict(type="int", default=5),
    allow_unvetted=dict(type="bool", default=False),
    restart_method=dict(type="str", choices=["auto", "scheduled_task", "wmi"], default="auto"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "ca_import", ARGUMENT_SPEC, positive=["reconnect_timeout", "poll_interval"],
                              non_negative=["restart_delay"])
        if args["restart_delay"] > MAX_RESTART_DELAY:
            raise AnsibleActionFail(f"restart_delay: must be at most {MAX_RESTART_DELAY} seconds, "
                                    f"got {args['restart_delay']}")

        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._host_change import apply
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import

        try:
            plan = plan_import(args["certificates"], args["state"])
        except PlanError as exc:
            raise AnsibleActionFail(str(exc)) from None
        if args["state"] == "present" and not args["allow_unvetted"]:
            # Only ca_bundle can check pins and origin; what the certificate alone shows is checked here too.
            from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_vetting import (
                VettingError,
                check_importable,
            )
            try:
                check_importable(args["certificates"])
            except VettingError as exc:
                raise AnsibleActionFail(str(exc)) from None
        check_mode = bool(self._task.check_mode)
        # A removal never waits for 0x0: once the CA is gone, IP-HTTPS is expected to fail.
        change = apply(self._connection, plan, state=args["state"], check_mode=check_mode, restart=args["reconnect"],
                       wait_for_zero=args["state"] == "present", restart_delay=args["restart_delay"],
                       reconnect_timeout=args["reconnect_timeout"], poll_interval=args["poll_interval"],
                       restart_method=args["restart_method"])
        if change.get("unreachable"):
            return dict(result, **change)
        if "stores_before" not in change:
            # The script itself failed (access denied from PowerShell, no result document): nothing was reported.
            raise AnsibleActionFail(change["msg"])
        subjects = {p["thumbprint"]: p["subject"] for p in plan}

        def described(items):
            return [dict(e, subject=subjects.get(e["thumbprint"])) for e in items or []]

        result.update(change)
        for key in ("imported", "removed", "already_present", "absent", "kept"):
            result[key] = described(change.get(key))
        if "stores_before" in change:
            result["diff"] = {"before": change["stores_before"], "after": _after(change, check_mode)}
        for key in ("stores_before", "stores_after", "recovered", "service_started"):
            result.pop(key, None)
        return result


def _after(change: dict, check_mode: bool) -> dict:
    """What the stores hold after the change; in check mode, what they would hold."""
    if not check_mode:
        return change["stores_after"]
    after = {k: list(v) for k, v in change["stores_before"].items()}
    for entry in change["imported"]:
        after.setdefault(entry["store"], []).append(entry["thumbprint"])
    # A copy Group Policy or the Enterprise store delivers stays listed: only the imported copy goes.
    kept = {(entry["store"], entry["thumbprint"]) for entry in change.get("kept") or []}
    for entry in change["removed"]:
        if (entry["store"], entry["thumbprint"]) not in kept:
            after[entry["store"]] = [tp for tp in after.get(entry["store"], []) if tp != entry["thumbprint"]]
    return {k: sorted(v) for k, v in after.items()}
