# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""trust_check: diagnose a server chain against a client's stores, on the controller."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import (
    InputError,
    certificates,
    point_in_time,
    store_entries,
)

ARGUMENT_SPEC = dict(
    server_chain=dict(type="list", elements="raw", required=True),
    server_name=dict(type="str"),
    root_store=dict(type="list", elements="raw", default=[]),
    intermediate_store=dict(type="list", elements="raw", default=[]),
    bundle=dict(type="list", elements="raw", default=[]),
    disallowed_store=dict(type="list", elements="raw", default=[]),
    at=dict(type="str"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Pure analysis: it must run in a play that targets Windows hosts without opening WinRM.
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "trust_check", ARGUMENT_SPEC)
        # Imported late so the error above, not an ImportError, is what a user without cryptography sees.
        from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import CertificateError
        from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose

        try:
            chain = certificates(args["server_chain"], "server_chain")
            diagnosis = diagnose(
                chain,
                server_name=args["server_name"],
                root_store=store_entries(args["root_store"], "root_store"),
                intermediate_store=store_entries(args["intermediate_store"], "intermediate_store"),
                bundle=certificates(args["bundle"], "bundle"),
                at=point_in_time(args["at"]),
                disallowed=store_entries(args["disallowed_store"], "disallowed_store"),
            )
        except (InputError, CertificateError) as exc:  # CertificateError: diagnose() refusing server_name or at
            raise AnsibleActionFail(str(exc)) from None
        result.update(diagnosis)
        result["changed"] = False
        return result
