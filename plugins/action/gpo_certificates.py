# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpo_certificates: read, and make carry or drop, the CA certificates a GPO deploys to the DirectAccess clients."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

ARGUMENT_SPEC = dict(
    certificates=dict(type="list", elements="raw"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    gpo_name=dict(type="str"),
    gpo_guid=dict(type="str"),
    domain=dict(type="str"),
    server=dict(type="str"),
    remote_access_server=dict(type="str"),
    client_groups=dict(type="list", elements="str"),
    allow_unvetted=dict(type="bool", default=False),
    publish_enterprise=dict(type="bool", default=False),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "gpo_certificates", ARGUMENT_SPEC)

        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._gpo_sync import GpoSyncError, sync

        if args["gpo_name"] and args["gpo_guid"]:
            raise AnsibleActionFail("gpo_name and gpo_guid: give one of them, not both")
        if args["certificates"] is not None and args["state"] == "present" and not args["allow_unvetted"]:
            # As ca_import: only ca_bundle can check pins and origin; what the certificate alone shows is checked here.
            from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_vetting import (
                VettingError,
                check_importable,
            )
            try:
                check_importable(args["certificates"])
            except VettingError as exc:
                raise AnsibleActionFail(str(exc).replace("set allow_unvetted to import it", "set allow_unvetted to deploy it")) from None
        try:
            outcome = sync(self._connection, args, check_mode=bool(self._task.check_mode))
        except GpoSyncError as exc:
            raise AnsibleActionFail(str(exc)) from None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Refused, dropped or unauthenticated WinRM before anything was written: unreachable, not failed.
            return dict(result, unreachable=True, changed=False, msg=f"gpo_certificates: {exc}")
        result.update(outcome)
        return result
