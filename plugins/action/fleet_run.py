# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_run: check a run's inputs and open its journal, on the controller, before any host is touched."""
from __future__ import annotations

import datetime
import getpass
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

ARGUMENT_SPEC = dict(
    mode=dict(type="str", required=True, choices=["diagnose", "remediate", "preflight", "rollback"]),
    report_dir=dict(type="str", required=True),
    run_id=dict(type="str", default=""),
    title=dict(type="str", default="DirectAccess IP-HTTPS trust report"),
    hosts=dict(type="list", elements="str", default=[]),
    hosts_pattern=dict(type="str", default=""),
    ca_sources=dict(type="list", elements="raw", default=[]),
    candidate_chain_file=dict(type="str", default=""),
    rollback_run=dict(type="str", default=""),
    rollback_report=dict(type="str", default=""),
    gpo_report_file=dict(type="str", default=""),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    # Controller only: it must run, and may fail, before any WinRM connection is opened.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = validated_args(self, "fleet_run", ARGUMENT_SPEC)
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._run_inputs import RunInputError, open_fleet_run

        check_mode = bool(self._task.check_mode)
        awx_job = task_vars.get("awx_job_id", task_vars.get("tower_job_id"))
        who = task_vars.get("awx_user_name") or task_vars.get("tower_user_name") or _local_user()
        try:
            opened = open_fleet_run(
                args, check_mode=check_mode, awx_job_id=None if awx_job in (None, "") else str(awx_job), user=who,
                playbook=os.path.basename(str(task_vars.get("ansible_play_name") or "")) or None,
                now=datetime.datetime.now(datetime.timezone.utc))
        except RunInputError as exc:
            raise AnsibleActionFail(f"fleet_run: {exc}. No host was touched.") from None
        warnings = opened.pop("warnings")
        result.update(opened, changed=False)
        if warnings:
            result["warnings"] = warnings
        return result


def _local_user():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers); the run is still recorded
        return None
