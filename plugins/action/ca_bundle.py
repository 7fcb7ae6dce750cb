# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle: gather and vet the CA certificates to deploy, on the controller."""
from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._action_args import validated_args

SOURCE_SPEC = dict(
    path=dict(type="path"),
    content=dict(type="str"),
    url=dict(type="str"),
    tls=dict(type="str"),
)

ARGUMENT_SPEC = dict(
    sources=dict(
        type="list", elements="dict", required=True, options=SOURCE_SPEC,
        mutually_exclusive=[["path", "content", "url", "tls"]],
        required_one_of=[["path", "content", "url", "tls"]],
    ),
    follow_aia=dict(type="bool", default=False),
    pins=dict(type="list", elements="str", default=[], no_log=False),
    allow_expired=dict(type="bool", default=False),
    timeout=dict(type="float", default=10.0),
    validate_certs=dict(type="bool", default=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Runs on the controller even in a play that targets Windows hosts: never opens WinRM.
    _requires_connection = False

    def _read_file(self, path: str) -> bytes:
        # Every relative path of the collection starts at the working directory (docs/getting-started.md);
        # a playbook's or role's files/ folder is only the fallback, as copy's src would look.
        resolved = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(resolved):
            try:
                resolved = self._find_needle("files", path)
            except AnsibleError as exc:
                raise AnsibleActionFail(f"sources path {path}: not found in the working directory {os.getcwd()}, "
                                        f"nor in a files/ folder ({exc.message})") from None
        with open(resolved, "rb") as handle:
            return handle.read()

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = validated_args(self, "ca_bundle", ARGUMENT_SPEC, positive=["timeout"])
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import SourceError, collect
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_vetting import VettingError, vet

        try:
            candidates = collect(
                args["sources"], read_file=self._read_file, timeout=args["timeout"],
                validate_certs=args["validate_certs"], follow_aia=args["follow_aia"],
            )
            accepted = vet(candidates, pins=args["pins"], allow_expired=args["allow_expired"])
        except (SourceError, VettingError) as exc:
            raise AnsibleActionFail(str(exc)) from None
        result["certificates"] = accepted
        result["changed"] = False
        return result
