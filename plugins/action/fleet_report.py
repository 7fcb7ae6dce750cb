# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_report: keep this run's host records and rebuild the fleet report (JSON, CSV, HTML) on the controller."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

ARGUMENT_SPEC = dict(
    records=dict(type="list", elements="raw", default=[]),
    expected_hosts=dict(type="list", elements="str", default=[]),
    report_dir=dict(type="path", required=True),
    run_id=dict(type="str"),
    mode=dict(type="str", choices=["diagnose", "remediate", "check", "rollback", "preflight"], default="diagnose"),
    merge_from=dict(type="list", elements="path", default=[]),
    title=dict(type="str", default="DirectAccess IP-HTTPS fleet report"),
)
# Each rejected record or file becomes a warning, up to this many; the report lists them all.
MAX_WARNINGS = 10


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    # Writes files on the controller only; the play's hosts are Windows clients it never contacts.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "fleet_report", ARGUMENT_SPEC)
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fleet_report import (
            FleetReportError,
            write_fleet_report,
        )

        # Check mode writes the report too: for a dry run it is the plan the operator asked for. The records this
        # task adds are marked as plans, so they never replace an outcome.
        try:
            summary = write_fleet_report(
                args["report_dir"], args["records"], expected_hosts=args["expected_hosts"], run_id=args["run_id"],
                mode=args["mode"], merge_from=args["merge_from"], title=args["title"],
                check_mode=bool(self._task.check_mode),
            )
        except FleetReportError as exc:
            raise AnsibleActionFail(f"fleet_report: {exc}") from None
        # A record or file set aside does not fail the report (every other record counts), but it must be seen.
        warnings = [f"fleet_report set aside {entry['path']}: {entry['reason']}"
                    for entry in summary["rejected"][:MAX_WARNINGS]]
        if len(summary["rejected"]) > MAX_WARNINGS:
            warnings.append(f"fleet_report set aside {len(summary['rejected']) - MAX_WARNINGS} more; see "
                            f"{summary['report_json']} ('rejected')")
        if warnings:
            result["warnings"] = result.get("warnings", []) + warnings
        # The report is an artefact on the controller, not a change to any host.
        result.update(changed=False, summary=summary, run_id=summary["run_id"])
        return result
