# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate_host: detect, analyse, import, reconnect and verify one client in one task, journaling its record."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import MAX_RESTART_DELAY, validated_args

ARGUMENT_SPEC = dict(
    mode=dict(type="str", required=True, choices=["diagnose", "remediate", "preflight", "rollback"]),
    run_id=dict(type="str", required=True),
    report_dir=dict(type="path", required=True),
    bundle=dict(type="list", elements="raw", default=[]),
    candidate_chain=dict(type="str", default=""),
    remove=dict(type="list", elements="dict", default=[]),
    reconnect=dict(type="bool", default=True),
    start_service=dict(type="bool", default=False),
    reconnect_timeout=dict(type="int", default=120),
    restart_delay=dict(type="int", default=5),
    poll_interval=dict(type="int", default=5),
    connect_timeout=dict(type="int", default=5),
    restart_method=dict(type="str", choices=["auto", "scheduled_task", "wmi"], default="auto"),
    gpo_carries=dict(type="list", elements="str", default=None),
)
# Statuses that fail the task: someone has to look at the host.
FAILING = ("fix_failed", "failed")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "remediate_host", ARGUMENT_SPEC,
                              positive=["reconnect_timeout", "poll_interval", "connect_timeout"],
                              non_negative=["restart_delay"])
        if args["restart_delay"] > MAX_RESTART_DELAY:
            # Same bound as ca_import: the delay is slept before the reconnect deadline starts to count.
            raise AnsibleActionFail(f"restart_delay: must be at most {MAX_RESTART_DELAY} seconds, "
                                    f"got {args['restart_delay']}")
        # Imported here: a worker that only validates options never compiles the rest.
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._remediation import (
            HostRun,
            RemediationError,
        )

        host = str((task_vars or {}).get("inventory_hostname") or self._play_context.remote_addr)
        try:
            run = HostRun(self._connection, host, args, check_mode=bool(self._task.check_mode))
            record, change = run.run()
        except RemediationError as exc:
            raise AnsibleActionFail(f"remediate_host: {exc}") from None
        changed = record["action"] in ("import", "remove", "restart") and not record["check_mode"]
        result.update(changed=changed or bool(change.get("changed") and not record["check_mode"]),
                      status=record["status"], record=record, journal=run.journal_path)
        if self._task.diff and change.get("stores_before"):
            result["diff"] = {"before": change["stores_before"], "after": change.get("stores_after")}
        if record["status"] == "unreachable":
            result.update(unreachable=True, msg=f"{host}: {record['detail'] or record['reason']}")
        elif record["status"] in FAILING:
            result.update(failed=True, msg=f"{record['status']}: {record['reason']} {record['detail']}".strip())
        return result
