# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check what ca_import is asked to import and decide each certificate's store.

Internal to directaccess.iphttps; may change without notice.
The store follows from the certificate itself, as a GPO deployment does it: a self-signed CA
goes to Root, any other CA to CA (Intermediate Certification Authorities). A caller's ``store``
or ``thumbprint`` that disagrees with the bytes is an error, never silently "corrected".
"""
from __future__ import annotations

import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    describe,
    normalize_fingerprint,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import InputError, certificates


class PlanError(ValueError):
    """The certificates option cannot be imported as given."""


def _removal_by_thumbprint(item: t.Mapping, label: str) -> dict:
    """A removal named by store and thumbprint only, as a fleet report records an import."""
    store = item.get("store")
    if store not in ("Root", "CA"):
        raise PlanError(f"{label}: a removal by thumbprint needs store Root or CA, got {store!r}")
    try:
        thumb = normalize_fingerprint(str(item["thumbprint"]), kind="sha1")
    except CertificateError as exc:
        raise PlanError(f"{label}: thumbprint {exc}") from None
    return {"store": store, "thumbprint": thumb, "subject": item.get("subject"), "der": None}


def plan_import(items: t.Sequence[t.Any], state: str = "present") -> list[dict]:
    # Imported here: the action reports a missing cryptography before this module is used.
    from cryptography.hazmat.primitives.serialization import Encoding

    if not items:
        raise PlanError("certificates: the list is empty; pass ca_bundle's certificates")
    plan: dict[str, dict] = {}
    for index, item in enumerate(items):
        label = f"certificates[{index}]"
        if state == "absent" and isinstance(item, dict) and item.get("thumbprint") and not item.get("pem"):
            entry = _removal_by_thumbprint(item, label)
            plan.setdefault(entry["thumbprint"], entry)
            continue
        try:
            found = certificates([item], "certificates")
        except InputError as exc:
            raise PlanError(str(exc).replace("certificates[0]", label, 1)) from None
        for cert in found:
            info = describe(cert)
            if not info["is_ca"]:
                raise PlanError(f"{label}: {info['subject']} is not a CA certificate; "
                                "only CA certificates belong in the Root and CA stores")
            store = "Root" if info["self_signed"] else "CA"
            if isinstance(item, dict):
                wanted_store = item.get("store")
                if wanted_store and wanted_store != store:
                    raise PlanError(f"{label}: {info['subject']} belongs in {store}, not {wanted_store}: "
                                    "a root goes only to Root and an intermediate only to CA")
                wanted_thumb = item.get("thumbprint")
                if wanted_thumb:
                    # As pasted from the Windows certificate dialog: spaces, any case, a hidden U+200E.
                    try:
                        wanted_thumb = normalize_fingerprint(str(wanted_thumb), kind="sha1")
                    except CertificateError as exc:
                        raise PlanError(f"{label}: thumbprint {exc}") from None
                if wanted_thumb and len(found) == 1 and wanted_thumb != info["thumbprint"]:
                    raise PlanError(f"{label}: thumbprint {wanted_thumb} does not match the certificate "
                                    f"({info['thumbprint']})")
            plan.setdefault(info["thumbprint"], {
                "store": store,
                "thumbprint": info["thumbprint"],
                "subject": info["subject"],
                "der": cert.public_bytes(Encoding.DER),
            })
    # Roots first, so a partial run never leaves an intermediate whose root is missing.
    return sorted(plan.values(), key=lambda p: (p["store"] != "Root", p["subject"], p["thumbprint"]))
