# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run gpo_certificates.ps1 on a management host: read the GPO, plan, write, and say whom it reaches.

Internal to directaccess.iphttps; may change without notice.
One read-only command, then (outside check mode, and only when the plan changes something) one
command that writes and reads again, so the result reports what the GPO holds after the change.
With publish_enterprise, the same two commands also read Active Directory's enterprise stores and
publish (certutil -dspublish) the bundle's roots as RootCA and intermediates as SubCA that they lack.
Nothing is ever unpublished: removal from Active Directory is left to an administrator (docs/gpo.md).
"""
from __future__ import annotations

import json
import typing as t

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._gpo_plan import (
    GpoPlanError,
    plan_enterprise,
    plan_gpo,
    read_carried,
    read_enterprise,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._import_plan import PlanError, plan_import
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._windows_scripts import ScriptError, run_script

SCRIPT = "gpo_certificates"
# How to take a certificate out of Active Directory by hand, named in the warnings of state absent.
MANUAL_REMOVAL = ("remove it by hand: the Enterprise PKI snap-in (pkiview.msc, Manage AD Containers) or ADSI Edit "
                  "in CN=Public Key Services,CN=Services of the configuration naming context, see docs/gpo.md")
CONTAINER_DN = {"RootCA": "CN=Certification Authorities", "SubCA": "CN=AIA"}
# Security filtering that reaches every domain computer: Authenticated Users holds GpoApply by default.
_EVERY_COMPUTER = ("authenticated users", "domain computers")
# GpoStatus names under which Computer Configuration (where Public Key Policies live) is not applied.
_COMPUTER_SETTINGS_OFF = ("ComputerSettingsDisabled", "AllSettingsDisabled")


class GpoSyncError(Exception):
    """The GPO cannot be read or changed as asked; the message says why and what was written."""


def _short(name: str) -> str:
    return name.rsplit("\\", 1)[-1].strip().lower()


def reach(links: t.Sequence[dict], trustees: t.Sequence[dict], status: str, groups: t.Sequence[str]) -> dict:
    """Whom the GPO reaches: enabled links, computer settings on, and each client group in its security filtering."""
    allowed = {_short(tr["name"]) for tr in trustees if not tr.get("denied")}
    denied = {_short(tr["name"]) for tr in trustees if tr.get("denied")}
    everyone = any(name in allowed for name in _EVERY_COMPUTER)
    reached = []
    for group in groups:
        short = _short(group)
        reached.append({"name": group, "applies": short not in denied and (short in allowed or everyone)})
    enabled_links = [link for link in links if link.get("enabled")]
    return {
        "linked": bool(enabled_links),
        "computer_settings_enabled": status not in _COMPUTER_SETTINGS_OFF,
        "client_groups": reached,
    }


def _run(connection: t.Any, params: dict, *, writing: bool = False) -> dict:
    try:
        doc = run_script(connection, SCRIPT, params)
    except ScriptError as exc:
        if exc.kind == "access_denied":
            raise GpoSyncError(f"{SCRIPT}: access denied on the management host; the WinRM account needs the right to "
                               f"read the GPO and, to change it, Edit settings on it. {exc}") from None
        raise GpoSyncError(str(exc)) from None
    except Exception as exc:  # pylint: disable=broad-exception-caught
        if not writing:
            raise  # nothing was sent that changes anything: the caller reports the host unreachable
        raise GpoSyncError(f"{SCRIPT}: the connection dropped while writing the GPO ({exc}); some values may have "
                           "been written: run the task again to see what the GPO carries") from None
    error = doc.get("error")
    if error:
        kind = error.get("kind") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if not isinstance(message, str) or not message.strip():
            message = f"the host reported an error without a message ({json.dumps(error)[:200]})"
        if kind == "gpo_not_found":
            raise GpoSyncError(f"{SCRIPT}: the GPO was not found: {message}")
        raise GpoSyncError(f"{SCRIPT}: {message}")
    if not isinstance(doc.get("gpo"), dict):
        raise GpoSyncError(f"{SCRIPT}: the host named no GPO in its answer")
    return _checked(doc)


def _checked(doc: dict) -> dict:
    """The document with the shapes the plan and the report rely on, or GpoSyncError naming the field."""
    def fail(field: str, expected: str) -> t.NoReturn:
        raise GpoSyncError(f"{SCRIPT}: the host's answer is unusable: {field} must be {expected}")

    gpo = doc["gpo"]
    for key in ("name", "guid"):
        if not isinstance(gpo.get(key), str) or not gpo[key]:
            fail(f"gpo.{key}", "a non-empty string")
    for key in ("domain", "status", "modified", "found_by"):
        if gpo.get(key) is not None and not isinstance(gpo[key], str):
            fail(f"gpo.{key}", "a string")
    for field, required in (("links", ("som_path",)), ("apply_trustees", ("name",))):
        value = doc.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            fail(field, "a list")
        for index, item in enumerate(value):
            if not isinstance(item, dict) or not all(isinstance(item.get(key), str) for key in required):
                fail(f"{field}[{index}]", f"an object with {', '.join(required)}")
    da_client = doc.get("da_client")
    if da_client is not None:
        if not isinstance(da_client, dict):
            fail("da_client", "an object or null")
        for key in ("gpo_names", "security_groups"):
            names = da_client.get(key)
            if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
                fail(f"da_client.{key}", "a list of strings")
    for field in ("failed", "publish_failed"):
        if doc.get(field) is not None and not isinstance(doc[field], dict):
            fail(field, "an object or null")
    if doc.get("published") is not None and not isinstance(doc["published"], list):
        fail("published", "a list")
    return doc


def _labels(items: t.Iterable[dict]) -> list[dict]:
    return [{"store": i["store"], "thumbprint": i["thumbprint"], "subject": i.get("subject")} for i in items]


def sync(connection: t.Any, args: dict, *, check_mode: bool) -> dict:
    """Read the GPO and, with ``certificates``, make it carry (present) or drop (absent) them."""
    base = {key: args.get(key) for key in ("gpo_name", "gpo_guid", "domain", "server", "remote_access_server")}
    wanted: list[dict] | None = None
    if args.get("certificates") is not None:
        try:
            wanted = plan_import(args["certificates"], args["state"])
        except PlanError as exc:
            raise GpoSyncError(str(exc)) from None
    publishing = bool(args.get("publish_enterprise"))
    if publishing and wanted is None:
        raise GpoSyncError("publish_enterprise: give certificates to publish (ca_bundle's certificates)")
    first = _run(connection, dict(base, write=[], remove=[], enterprise=publishing, publish=[]))
    try:
        carried, unreadable = read_carried(first.get("certificates") or [])
        plan = plan_gpo(carried, unreadable, wanted or [], args["state"])
        directory = read_enterprise(first.get("enterprise")) if publishing else None
        published_plan = plan_enterprise(directory, wanted or [], args["state"]) if publishing else None
    except GpoPlanError as exc:
        raise GpoSyncError(f"{SCRIPT}: {exc}") from None
    final, final_unreadable = carried, unreadable
    final_directory = directory
    changed = plan["changed"] or bool(published_plan and published_plan["changed"])
    doc = first
    if changed and not check_mode:
        # The GPO was found once; the writes go to that very GPO, by GUID.
        target = dict(base, gpo_name=None, gpo_guid=first["gpo"]["guid"])
        publish = [{k: p[k] for k in ("container", "thumbprint", "der_base64")} for p in (published_plan or {}).get("publish", [])]
        doc = _run(connection, dict(target, write=[{k: w[k] for k in ("store", "thumbprint", "blob_base64")} for w in plan["write"]],
                                    remove=[{"store": r["store"], "thumbprint": r["thumbprint"]} for r in plan["remove"]],
                                    enterprise=publishing, publish=publish),
                   writing=True)
        try:
            final, final_unreadable = read_carried(doc.get("certificates") or [])
        except GpoPlanError as exc:
            raise GpoSyncError(f"{SCRIPT}: after the change: {exc}") from None
        failed = doc.get("failed")
        if failed:
            raise GpoSyncError(f"{SCRIPT}: writing {failed.get('store')}\\{failed.get('thumbprint')} failed: {failed.get('message')}; "
                               f"written before it: {_keys(doc.get('written'))}; removed: {_keys(doc.get('removed'))}")
        missing = [w for w in plan["write"] if (w["store"], w["thumbprint"]) not in {(c["store"], c["thumbprint"]) for c in final}]
        if missing:
            raise GpoSyncError(f"{SCRIPT}: the GPO does not carry {_keys(missing)} after writing it")
        left = [r for r in plan["remove"] if (r["store"], r["thumbprint"]) in
                {(c["store"], c["thumbprint"]) for c in list(final) + list(final_unreadable)}]
        if left:
            raise GpoSyncError(f"{SCRIPT}: the GPO still carries {_keys(left)} after removing it")
        if publishing:
            final_directory = _published(doc, publish)
    # found_by says how the first read found the GPO (the writes went to its GUID); modified is after the writes.
    gpo = dict(first["gpo"], modified=doc["gpo"].get("modified"))
    da_client = first.get("da_client")
    groups = args.get("client_groups")
    if groups is None:
        groups = list((da_client or {}).get("security_groups") or [])
    links = list(doc.get("links") or [])
    trustees = list(doc.get("apply_trustees") or [])
    reached = reach(links, trustees, str(gpo.get("status") or ""), groups)
    warnings = []
    if not reached["linked"]:
        warnings.append(f"GPO {gpo.get('name')!r} is not linked anywhere (or every link is disabled): clients never get it")
    if not reached["computer_settings_enabled"]:
        warnings.append(f"GPO {gpo.get('name')!r} has its computer settings disabled ({gpo.get('status')}): "
                        "Public Key Policies are computer settings, so clients never get them")
    for group in reached["client_groups"]:
        if not group["applies"]:
            warnings.append(f"GPO {gpo.get('name')!r} does not apply to {group['name']}: it lacks GpoApply in the security filtering")
    for item in final_unreadable:
        warnings.append(f"GPO {gpo.get('name')!r} holds a certificate value clients cannot use: {item['reason']}")
    held = {(c["store"], c["thumbprint"]) for c in final}
    for item in wanted or []:
        other = "CA" if item["store"] == "Root" else "Root"
        if (other, item["thumbprint"]) in held:
            warnings.append(f"GPO {gpo.get('name')!r} carries {item['subject'] or item['thumbprint']} in {other}; "
                            f"it belongs in {item['store']} (a root in Root, an intermediate in CA)")
    enterprise = None
    diff = plan["diff"]
    if publishing:
        for item in published_plan["stays_published"]:
            warnings.append(f"{item['subject'] or item['thumbprint']} stays published in Active Directory as "
                            f"{item['container']} ({CONTAINER_DN[item['container']]}): this task never unpublishes; "
                            + MANUAL_REMOVAL)
        enterprise = {
            "configuration_nc": final_directory["configuration_nc"],
            "held_before": {c: directory[c] for c in CONTAINER_DN},
            "held": {c: final_directory[c] for c in CONTAINER_DN},
            "published": [{k: p[k] for k in ("container", "thumbprint", "subject")} for p in published_plan["publish"]],
            "already_published": published_plan["already_published"],
            "stays_published": published_plan["stays_published"],
        }
        diff = {"before": dict(diff["before"], enterprise=published_plan["diff"]["before"]),
                "after": dict(diff["after"], enterprise=published_plan["diff"]["after"])}
    return {
        "changed": changed,
        "gpo": gpo,
        "da_client": da_client,
        "da_client_note": first.get("da_client_note"),
        "links": links,
        "apply_trustees": trustees,
        "reach": reached,
        "certificates": [{k: c.get(k) for k in ("store", "thumbprint", "subject", "not_after")} for c in final],
        "unreadable": [{k: u.get(k) for k in ("store", "thumbprint", "reason")} for u in final_unreadable],
        "written": _labels(plan["write"]),
        "removed": _labels(plan["remove"]),
        "already_present": plan["already_present"],
        "absent": plan["absent"],
        "diff": diff,
        "gpo_warnings": warnings,
        "enterprise": enterprise,
    }


def _published(doc: dict, publish: list[dict]) -> dict:
    """What Active Directory holds after publishing, or GpoSyncError naming what failed or did not land."""
    done = _keys([{"store": p.get("container"), "thumbprint": p.get("thumbprint")} for p in doc.get("published") or []
                  if isinstance(p, dict)])
    failed = doc.get("publish_failed")
    if failed:
        raise GpoSyncError(f"{SCRIPT}: publishing {failed.get('container')}\\{failed.get('thumbprint')} into Active Directory "
                           f"failed: {failed.get('message')}; the GPO was written; published before it: {done}")
    try:
        final_held = read_enterprise(doc.get("enterprise"))
    except GpoPlanError as exc:
        raise GpoSyncError(f"{SCRIPT}: after publishing: {exc}") from None
    missing = [p for p in publish if p["thumbprint"] not in {e["thumbprint"] for e in final_held[p["container"]]}]
    if missing:
        raise GpoSyncError(f"{SCRIPT}: Active Directory does not hold "
                           f"{_keys([{'store': p['container'], 'thumbprint': p['thumbprint']} for p in missing])} after "
                           "certutil -dspublish (certutil may have written through another domain controller than the one read: "
                           "run again after replication)")
    return final_held


def _keys(items: t.Any) -> str:
    listed = [f"{i.get('store')}\\{i.get('thumbprint')}" for i in items or [] if isinstance(i, dict)]
    return ", ".join(listed) or "none"
