# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ca_bundle: gather and vet the CA certificates to deploy, on the controller."""
from __future__ import annotations

import math
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
    aia_hosts=dict(type="list", elements="str", default=[]),
)
# A deadline for a whole download; no CA file needs more, and a bound keeps every wait finite.
MAX_TIMEOUT = 600.0


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # Runs on the controller even in a play that targets Windows hosts: never opens WinRM.
    _requires_connection = False

    def _read_file(self, path: str) -> bytes:
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import SourceError, read_local_file

        # Every relative path of the collection starts at the working directory (docs/getting-started.md);
        # a playbook's or role's files/ folder is only the fallback, as copy's src would look.
        resolved = os.path.abspath(os.path.expanduser(path))
        if not os.path.lexists(resolved):
            try:
                resolved = self._find_needle("files", path)
            except AnsibleError as exc:
                raise SourceError(f"not found in the working directory {os.getcwd()}, nor in a files/ folder "
                                  f"({exc.message})") from None
        return read_local_file(resolved)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            args = validated_args(self, "ca_bundle", ARGUMENT_SPEC, positive=["timeout"])
        except AnsibleActionFail as exc:
            # Ansible's message for a list item that is not a dict names no option; sources is the only such list.
            if "dictionary requested" in exc.message:
                raise AnsibleActionFail(f"sources: every item must be a dict with one of path, content, url or tls "
                                        f"({exc.message})") from None
            raise
        # nan passes "positive"; inf and 1e300 do not fit a socket timeout.
        if not math.isfinite(args["timeout"]) or args["timeout"] > MAX_TIMEOUT:
            raise AnsibleActionFail(f"timeout: must be more than 0 and at most {MAX_TIMEOUT:g} seconds, "
                                    f"got {args['timeout']}")
        aia_hosts = []
        for index, host in enumerate(args["aia_hosts"]):
            if not host.strip() or any(c.isspace() or c in "/@?#" or not c.isprintable() for c in host.strip()):
                raise AnsibleActionFail(f"aia_hosts[{index}]: must be a host name or IP address (no scheme, port "
                                        f"or path), got {host!r}")
            aia_hosts.append(host)
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import SourceError, collect
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_vetting import VettingError, vet

        notes: list[str] = []
        try:
            candidates = collect(
                args["sources"], read_file=self._read_file, timeout=args["timeout"],
                validate_certs=args["validate_certs"], follow_aia=args["follow_aia"], aia_hosts=aia_hosts,
                notes=notes,
            )
            accepted = vet(candidates, pins=args["pins"], allow_expired=args["allow_expired"])
        except SourceError as exc:
            raise AnsibleActionFail(str(exc)) from None
        except VettingError as exc:
            # An AIA link left alone is often why a certificate does not reach its pinned root.
            raise AnsibleActionFail(" ".join([str(exc)] + notes)) from None
        if notes:
            result["warnings"] = result.get("warnings", []) + notes
        result["certificates"] = accepted
        result["changed"] = False
        return result
