# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's whole run for remediate_host: detect -> analyse -> import and reconnect -> verify -> record.

Internal to directaccess.iphttps; may change without notice. Every outcome is journaled on the
controller the moment it is known, and an ``in_progress`` record naming the certificates goes to disk
before an import is sent, so an interrupted run still says what may be on the host.
"""
from __future__ import annotations

import typing as t

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _host_record as records
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _windows_scripts as scripts
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._journal import (
    JournalError,
    check_record,
    write_record,
)


class RemediationError(ValueError):
    """The task's inputs cannot be used for this host; nothing was sent to it."""


class HostRun:
    """One host, one task. ``args`` are remediate_host's validated options."""

    def __init__(self, connection: t.Any, host: str, args: t.Mapping, *, check_mode: bool):
        self.connection, self.host, self.args, self.check_mode = connection, host, args, check_mode
        self.journal_path: str | None = None
        mode = "check" if args["mode"] == "remediate" and check_mode else args["mode"]
        self.record = records.new_record(host, args["run_id"], mode, check_mode=check_mode)
        # Fail before touching the host when its record could never be written (bad name, bad run id).
        self._journal(dict(self.record, status="healthy"), probe=True)

    def _journal(self, record: dict, *, probe: bool = False) -> None:
        try:
            if probe:
                check_record(self.args["report_dir"], record)
            else:
                self.journal_path = write_record(self.args["report_dir"], record)
        except JournalError as exc:
            raise RemediationError(f"{exc}; nothing was sent to the host") from None

    def run(self) -> tuple[dict, dict]:
        try:
            if self.args["mode"] == "rollback":
                return self._rollback()
            record, change = self._remediate()
            record = records.gpo_link(record, self.args.get("gpo_carries"))
        except RemediationError as exc:
            # Nothing was sent for the change; the host's record says why rather than "unreachable".
            self._journal(dict(self.record, status="failed", reason="The task's inputs could not be used for this "
                                                                    "host; nothing was changed.", detail=str(exc),
                               remedy="Fix what the detail names (usually the CA bundle), then run again."))
            raise
        self._journal(record)
        return record, change

    # -- detect and analyse --

    def _detect(self) -> tuple[dict | None, dict | None]:
        """(client report, None) or (None, a not-read record)."""
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._client_report import (
            ReportError,
            build_report,
        )
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import InputError, certificates

        try:
            self.bundle = certificates(self.args["bundle"], "bundle")
        except InputError as exc:
            raise RemediationError(str(exc)) from None
        preflight = self.args["mode"] == "preflight"
        try:
            # revocation auto: the client fetches its CRL and OCSP URLs only when its last error is about revocation.
            raw = scripts.run_script(self.connection, "client_info", {
                "connect_timeout_ms": self.args["connect_timeout"] * 1000,
                "store_certificates": "all" if preflight else "chain", "revocation": "auto"})
        except scripts.ScriptError as exc:
            return None, records.not_read(self.record, {"failed": True, "msg": str(exc)})
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Refused, dropped or unauthenticated WinRM: the host is unreachable, not failed.
            return None, records.not_read(self.record, {"unreachable": True, "msg": f"client_info: {exc}"})
        try:
            return build_report(raw, [] if preflight else self.bundle), None
        except ReportError as exc:
            return None, records.not_read(self.record, {"failed": True, "msg": f"client_info: {exc}"})

    def _diagnosis(self, client: dict) -> dict | None:
        if self.args["mode"] != "preflight" or not client["iphttps"]["configured"]:
            return client["diagnosis"]
        if (client["diagnosis"] or {}).get("verdict") == "constrained_language":
            return client["diagnosis"]  # the stores were not read: a candidate cannot be judged against them
        from ansible_collections.directaccess.iphttps.plugins.module_utils._chain import diagnose
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._client_report import server_name_of
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import (
            InputError,
            certificates,
            store_entries,
        )

        try:
            chain = certificates([self.args["candidate_chain"]], "candidate_chain")
        except InputError as exc:
            raise RemediationError(str(exc)) from None
        stores = {name: client["store_certificates"][name] + client["stores"][name] for name in ("Root", "CA")}
        return diagnose(chain, server_name=server_name_of(client["iphttps"]["server_url"]),
                        root_store=store_entries(stores["Root"], "root_store"),
                        intermediate_store=store_entries(stores["CA"], "intermediate_store"), bundle=self.bundle,
                        disallowed=client["stores"].get("Disallowed", []))

    # -- remediate --

    def _remediate(self) -> tuple[dict, dict]:
        client, not_read = self._detect()
        if client is None:
            return not_read, {}
        diagnosis = self._diagnosis(client)
        record = records.detected(self.record, client, diagnosis)
        record = records.assess(record, client, diagnosis, record["mode"],
                                start_service=self.args["start_service"] and self.args["mode"] == "remediate")
        if self.args["mode"] != "remediate" or record["status"] not in ("would_fix", "restart_pending"):
            return record, {}
        plan = self._plan(record) if record["status"] == "would_fix" else []
        planned = [{"store": p["store"], "thumbprint": p["thumbprint"], "subject": p["subject"]} for p in plan]
        if plan and not self.check_mode:
            # On disk before the host is asked: after SIGINT, a crash or a lost reply this says what may be there.
            self._journal(dict(record, status="in_progress", action="import", attempted=planned,
                               reason=f"An import of {len(plan)} certificate(s) was sent; its outcome was not "
                                      "recorded, so the run was interrupted. They may be on the host."))
        # Imported only where a change is made: every worker compiles what it imports.
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._host_change import apply

        down = records.service_down(client) is not None
        change = apply(self.connection, plan, state="present", check_mode=self.check_mode,
                       restart=self.args["reconnect"], force_restart=not plan or down,
                       restart_delay=self.args["restart_delay"], reconnect_timeout=self.args["reconnect_timeout"],
                       poll_interval=self.args["poll_interval"], restart_method=self.args["restart_method"])
        done = records.changed(record, change, planned=planned)
        # The stores the host listed after the change say what landed, and ``imported`` holds it. Only when no
        # answer came back (a lost or garbled reply) may the certificates sent be on the host unrecorded; counting
        # them after a definite answer would let a rollback of this run take back what a later run imported.
        done["attempted"] = [] if "stores_after" in change else planned
        return done, change

    def _plan(self, record: dict) -> list[dict]:
        from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import thumbprint, to_pem
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import

        wanted = {m["thumbprint"] for m in record["missing"]}
        # The bundle as parsed for the diagnosis, whatever form it came in (ca_bundle entries, PEM text).
        chosen = [to_pem(cert) for cert in self.bundle if thumbprint(cert) in wanted]
        if not chosen:
            raise RemediationError("the diagnosis is fixable but the bundle holds none of the missing certificates "
                                   f"({', '.join(sorted(wanted))}); pass ca_bundle's certificates as bundle")
        try:
            return plan_import(chosen, "present")
        except PlanError as exc:
            raise RemediationError(str(exc)) from None

    # -- rollback --

    def _rollback(self) -> tuple[dict, dict]:
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import

        asked = list(self.args["remove"])
        if not asked:
            record = dict(self.record, status="nothing_to_remove",
                          reason="The named run imported nothing on this host; it was not contacted.")
            self._journal(record)
            return record, {}
        try:
            plan = plan_import([dict(e, pem=None) for e in asked], "absent")
        except PlanError as exc:
            raise RemediationError(str(exc).replace("certificates", "remove", 1)) from None
        from ansible_collections.directaccess.iphttps.plugins.plugin_utils._host_change import apply

        # A removal never waits for 0x0: once the CA is gone IP-HTTPS is expected to fail.
        change = apply(self.connection, plan, state="absent", check_mode=self.check_mode,
                       restart=self.args["reconnect"], wait_for_zero=False, restart_delay=self.args["restart_delay"],
                       reconnect_timeout=self.args["reconnect_timeout"], poll_interval=self.args["poll_interval"],
                       restart_method=self.args["restart_method"])
        if change.get("unreachable") and not change.get("stores_before"):
            record = records.not_read(self.record, {"unreachable": True, "msg": change.get("msg")})
        else:
            record = records.removal(self.record, change, asked)
        self._journal(record)
        return record, change
