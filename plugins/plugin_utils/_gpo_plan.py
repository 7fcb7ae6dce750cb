# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a GPO's Public Key Policies carry, and what gpo_certificates must write to match the bundle.

Internal to directaccess.iphttps; may change without notice.
A certificate deployment by Group Policy is one registry-based policy value per certificate:
``HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\<Root|CA>\\Certificates\\<THUMBPRINT>``,
value ``Blob`` (see _cert_blob). The store each bundle certificate belongs in is decided exactly as
for the client import (_import_plan: a self-signed CA to Root, any other CA to CA), and entries
are matched by store and thumbprint, so a second run with the same bundle changes nothing.
"""
from __future__ import annotations

import base64
import binascii
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._cert_blob import BlobError, build_blob, parse_blob
from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import CertificateError, describe, load_certificates

STORES = ("Root", "CA")
KEY_TEMPLATE = "HKLM\\Software\\Policies\\Microsoft\\SystemCertificates\\{store}\\Certificates\\{thumbprint}"
# A GPO with more certificate values than this is not a DirectAccess deployment; stop reading.
MAX_GPO_VALUES = 2000


class GpoPlanError(ValueError):
    """What the host reported about the GPO cannot be read; the message names the entry."""


def policy_key(store: str, thumbprint: str) -> str:
    return KEY_TEMPLATE.format(store=store, thumbprint=thumbprint)


def _subject_of(der: bytes, source: str) -> tuple[str | None, str | None, bool | None]:
    try:
        cert = load_certificates(der, source)[0]
        info = describe(cert)
    except (CertificateError, ValueError):
        return None, None, None
    return info.get("subject"), info.get("not_after"), info.get("is_ca")


def read_carried(values: t.Any) -> tuple[list[dict], list[dict]]:
    """Parse the script's ``certificates`` list: [{store, thumbprint, blob_base64}].

    Returns (carried, unreadable). A value whose Blob is not a certificate element, or whose
    certificate does not match its key name, is reported as unreadable with the reason, never
    skipped silently and never fatal: one damaged value must not hide the others.
    """
    if not isinstance(values, list):
        raise GpoPlanError(f"certificates: expected a list from the host, got {type(values).__name__}")
    if len(values) > MAX_GPO_VALUES:
        raise GpoPlanError(f"certificates: the GPO holds {len(values)} certificate values, more than {MAX_GPO_VALUES}")
    carried: list[dict] = []
    unreadable: list[dict] = []
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise GpoPlanError(f"certificates[{index}]: expected an object, got {type(value).__name__}")
        store = value.get("store")
        key = value.get("thumbprint")
        if store not in STORES or not isinstance(key, str) or not key:
            raise GpoPlanError(f"certificates[{index}]: needs store Root or CA and a thumbprint, got "
                               f"store {store!r}, thumbprint {key!r}")
        source = f"{store}\\{key}"
        entry = {"store": store, "thumbprint": key.upper(), "key": policy_key(store, key)}
        encoded = value.get("blob_base64")
        try:
            if not isinstance(encoded, str) or not encoded:
                raise BlobError(f"{source}: no Blob value under the key")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise BlobError(f"{source}: the Blob did not arrive as base64") from None
            parsed = parse_blob(blob, source, expected_thumbprint=key)
        except BlobError as exc:
            unreadable.append(dict(entry, reason=str(exc)))
            continue
        subject, not_after, is_ca = _subject_of(parsed["der"], source)
        carried.append(dict(entry, subject=subject, not_after=not_after, is_ca=is_ca))
    return carried, unreadable


def _by_key(entries: t.Iterable[dict]) -> dict[tuple[str, str], dict]:
    return {(e["store"], e["thumbprint"]): e for e in entries}


def _listing(entries: t.Iterable[dict]) -> dict[str, list[str]]:
    listing: dict[str, list[str]] = {store: [] for store in STORES}
    for entry in entries:
        listing[entry["store"]].append(entry["thumbprint"])
    return {store: sorted(set(thumbs)) for store, thumbs in listing.items()}


def plan_gpo(carried: t.Sequence[dict], unreadable: t.Sequence[dict], wanted: t.Sequence[dict],
             state: str = "present") -> dict:
    """The writes that make the GPO carry (present) or drop (absent) ``wanted``.

    ``wanted`` is _import_plan.plan_import's output: [{store, thumbprint, subject, der}], der None
    for a removal named by thumbprint. An unreadable value under a wanted key is rewritten on
    present and removed on absent. Returns {write, remove, already_present, absent, diff, changed}.
    """
    if state not in ("present", "absent"):
        raise GpoPlanError(f"state: must be present or absent, got {state!r}")
    readable = _by_key(carried)
    damaged = _by_key(unreadable)
    write: list[dict] = []
    remove: list[dict] = []
    already: list[dict] = []
    missing: list[dict] = []
    for item in wanted:
        key = (item["store"], item["thumbprint"])
        label = {"store": item["store"], "thumbprint": item["thumbprint"], "subject": item.get("subject")}
        if state == "present":
            if key in readable:
                already.append(label)
                continue
            if item.get("der") is None:
                raise GpoPlanError(f"{item['store']}\\{item['thumbprint']}: state present needs the certificate, "
                                   "not only its thumbprint")
            blob = build_blob(item["der"])
            write.append(dict(label, blob_base64=base64.b64encode(blob).decode("ascii"),
                              replaces_unreadable=key in damaged))
        elif key in readable or key in damaged:
            remove.append(label)
        else:
            missing.append(label)
    before = list(carried) + list(unreadable)
    after = [e for e in before if (e["store"], e["thumbprint"]) not in {(r["store"], r["thumbprint"]) for r in remove}]
    after += [w for w in write if not w["replaces_unreadable"]]
    return {
        "write": write,
        "remove": remove,
        "already_present": already,
        "absent": missing,
        "changed": bool(write or remove),
        "diff": {"before": _listing(before), "after": _listing(after)},
    }
