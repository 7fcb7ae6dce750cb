# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for the Windows side of a WinRM connection, shared by the action plugin tests.

It answers as the scripts' header comments promise (ca_import.ps1, iphttps_state.ps1) and recognises
each script by the identity line in the decoded -EncodedCommand, as the lab does.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re

from ansible.plugins.shell.powershell import ShellModule

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts

PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
IDENTITY = re.compile(r"^# directaccess\.iphttps script: (\w+) ")


def state(code: int | None, *, proof: bool = True, da: str | None = None, process_id: int | None = None,
          failed: str | None = None) -> dict:
    """An iphttps_state document. With ``proof`` the host adds the marker of the restart it launched last
    (this task's token); ``failed`` makes that marker say Restart-Service failed. ``da`` is the
    Get-DAConnectionStatus Status name."""
    iphttps = None if code is None else {"interface_status": "IPHTTPS interface active" if code == 0 else
                                         "failed to connect to the IPHTTPS server; waiting to reconnect",
                                         "last_error_code": code}
    da_status = None if da is None else {"status": None, "status_name": da, "substatus": None,
                                         "substatus_name": "None"}
    return {"script": "iphttps_state", "version": 3, "service_status": "Running", "service_process_id": process_id,
            "iphttps_state": iphttps, "da_connection_status": da_status, "restart_marker": None,
            "_proof": "failed" if failed else proof, "_failure": failed}


class FakeWindowsHost:
    """One WinRM connection to a DirectAccess client with LocalMachine Root and CA stores."""

    def __init__(self, root=(), ca=(), polls=(), fail_on=None, fail_kind="error", disallowed=(), policy_root=()):
        self._shell = ShellModule()
        self.stores = {"Root": set(root), "CA": set(ca)}  # the .Default physical stores
        self.policy = {"Root": set(policy_root), "CA": set()}  # .GroupPolicy: listed too, never removed
        self.disallowed = set(disallowed)  # LocalMachine\Disallowed thumbprints
        self.polls = list(polls)      # answers to iphttps_state, in order
        self.fail_on = fail_on        # thumbprint whose store operation fails
        self.fail_kind = fail_kind
        self.overrides = {}           # script name -> extra fields for its document
        self.commands: list[tuple[str, dict]] = []
        self.restarts = 0
        self.resets = 0
        self.token = None             # the restart token of the last launch
        self.launch = {"method": "scheduled_task", "process_id": None,
                       "task_name": "\\directaccess.iphttps\\iphlpsvc-restart", "service_process_id_before": 1000}

    def exec_command(self, cmd, in_data=None, sudoable=True):
        assert cmd.startswith(PREFIX)
        loader = base64.b64decode(cmd[len(PREFIX):]).decode("utf-16-le")
        name = IDENTITY.match(loader).group(1)
        params = json.loads(in_data)
        assert params.pop(_windows_scripts.SOURCE_KEY) == _windows_scripts.load_script(name)
        self.commands.append((name, params))
        reply = getattr(self, name)(params)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, tuple):
            return reply
        reply.update(self.overrides.get(name, {}))
        return 0, json.dumps(reply).encode(), b""

    def reset(self):
        self.resets += 1

    def listing(self):
        """The logical stores: .Default and .GroupPolicy together."""
        return {name: sorted(thumbs | self.policy[name]) for name, thumbs in self.stores.items()}

    def ca_import(self, params):
        doc = {"script": "ca_import", "version": 4, "changed": False, "imported": [], "removed": [],
               "already_present": [], "absent": [], "kept": [], "failed": None, "stores_before": self.listing(),
               "stores_after": None, "restart_scheduled": False, "restart_error": None}
        items = list(params["certificates"])
        # As ca_import.ps1: a distrusted certificate to import refuses the whole import before any change.
        refused = [i for i in items if params["state"] != "absent" and i["thumbprint"] in self.disallowed]
        if refused:
            doc["failed"] = {"store": refused[0]["store"], "thumbprint": refused[0]["thumbprint"], "kind": "distrusted",
                             "message": f"certificate {refused[0]['thumbprint']} is in the Untrusted Certificates "
                                        "store (LocalMachine\\Disallowed); Windows would still refuse it, so nothing "
                                        "was imported"}
            items = []
        for item in items:
            entry = {"store": item["store"], "thumbprint": item["thumbprint"]}
            # The script recomputes the thumbprint from the bytes it received; a removal may send none.
            assert params["state"] == "absent" and not item["der_base64"] or \
                hashlib.sha1(base64.b64decode(item["der_base64"])).hexdigest().upper() == item["thumbprint"]
            if item["thumbprint"] == self.fail_on:
                message = "Access is denied." if self.fail_kind == "access_denied" else "The store is read-only."
                doc["failed"] = dict(entry, kind=self.fail_kind, message=message)
                break
            present = item["thumbprint"] in self.stores[item["store"]] | self.policy[item["store"]]
            if params["state"] == "absent":
                if not present:
                    doc["absent"].append(entry)
                    continue
                if item["thumbprint"] in self.policy[item["store"]]:
                    # As ca_import.ps1 v4: only the .Default copy goes; the policy's stays.
                    own = item["thumbprint"] in self.stores[item["store"]]
                    doc["kept"].append(dict(entry, kept_by=["GroupPolicy"], removed_default=own))
                    if own:
                        if not params["check_mode"]:
                            self.stores[item["store"]].discard(item["thumbprint"])
                        doc["removed"].append(entry)
                        doc["changed"] = True
                    continue
            elif present:
                doc["already_present"].append(entry)
                continue
            if not params["check_mode"]:
                change = self.stores[item["store"]].discard if params["state"] == "absent" else \
                    self.stores[item["store"]].add
                change(item["thumbprint"])
            doc["removed" if params["state"] == "absent" else "imported"].append(entry)
            doc["changed"] = True
        doc["stores_after"] = self.listing()
        doc["restart_launch"] = None
        if params["restart_iphlpsvc"] and doc["changed"] and not params["check_mode"] and not doc["failed"]:
            self.launch_restart(params, doc)
        return doc

    def launch_restart(self, params, doc):
        """As ca_import.ps1 reports a launched restart; later polls carry its token's marker."""
        self.restarts += 1
        self.token = params["restart_token"]
        doc["restart_scheduled"] = True
        doc["restart_launch"] = dict(self.launch, token=self.token)

    def iphttps_state(self, params):
        reply = self.polls.pop(0)
        if not isinstance(reply, dict):
            return reply
        reply = dict(reply)
        proof, failure = reply.pop("_proof", False), reply.pop("_failure", None)
        if proof and self.token:
            reply["restart_marker"] = {"token": self.token, "outcome": "failed" if failure else "restarted",
                                       "message": failure, "finished_at": "2026-12-01T10:00:00.0000000Z"}
        return reply

    def scripts_run(self):
        return [name for name, _params in self.commands]


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
