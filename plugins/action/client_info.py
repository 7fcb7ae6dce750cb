# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""client_info: read a Windows client's IP-HTTPS state and diagnose its trust, in one WinRM command."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

ARGUMENT_SPEC = dict(
    connect_timeout=dict(type="int", default=5),
    bundle=dict(type="list", elements="raw", default=[]),
    store_certificates=dict(type="str", choices=["chain", "all"], default="chain"),
    revocation=dict(type="str", choices=["auto", "always", "never"], default="auto"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "client_info", ARGUMENT_SPEC, positive=["connect_timeout"])
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._client_report import (
            ReportError,
            build_report,
        )
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import InputError, certificates
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts import (
            ScriptError,
            run_script,
        )

        try:
            bundle = certificates(args["bundle"], "bundle")
        except InputError as exc:
            raise AnsibleActionFail(str(exc)) from None
        try:
            raw = run_script(self._connection, "client_info", {"connect_timeout_ms": args["connect_timeout"] * 1000,
                                                               "store_certificates": args["store_certificates"],
                                                               "revocation": args["revocation"]})
        except ScriptError as exc:
            raise AnsibleActionFail(str(exc)) from None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Refused, dropped or unauthenticated WinRM: the host is unreachable, not failed.
            return dict(result, unreachable=True, changed=False, msg=f"client_info: {exc}")
        try:
            result.update(build_report(raw, bundle))
        except ReportError as exc:
            raise AnsibleActionFail(f"client_info: {exc}") from None
        result["changed"] = False
        return result
