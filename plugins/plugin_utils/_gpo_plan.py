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


# Active Directory's enterprise stores, as certutil -dspublish names them: a root is published as RootCA (the
# objects under CN=Certification Authorities), an intermediate as SubCA (under CN=AIA), both in
# CN=Public Key Services,CN=Services of the configuration naming context. Clients copy the first into their
# Root .Enterprise store and the second into their CA .Enterprise store.
CONTAINERS = {"Root": "RootCA", "CA": "SubCA"}
# More CA certificates than this in one container is not a PKI this task can reason about; stop reading.
MAX_ENTERPRISE_VALUES = 2000


def read_enterprise(value: t.Any) -> dict[str, list[dict]]:
    """Parse the script's ``enterprise`` object: {configuration_nc, RootCA: [{thumbprint, der_base64}], SubCA: [...]}.

    Returns {"configuration_nc": str, "RootCA": [{thumbprint, subject}], "SubCA": [...]}, each list sorted and
    each thumbprint once. The thumbprint is computed here from the DER, so a value the host mislabels cannot
    pass for the bundle's certificate; a value that is not a certificate fails naming its place.
    """
    if not isinstance(value, dict):
        raise GpoPlanError(f"enterprise: expected an object from the host, got {type(value).__name__}")
    configuration = value.get("configuration_nc")
    if not isinstance(configuration, str) or not configuration:
        raise GpoPlanError("enterprise.configuration_nc: expected the configuration naming context's DN")
    held: dict[str, t.Any] = {"configuration_nc": configuration}
    for container in CONTAINERS.values():
        entries = value.get(container)
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise GpoPlanError(f"enterprise.{container}: expected a list, got {type(entries).__name__}")
        if len(entries) > MAX_ENTERPRISE_VALUES:
            raise GpoPlanError(f"enterprise.{container}: {len(entries)} certificates, more than {MAX_ENTERPRISE_VALUES}")
        found: dict[str, dict] = {}
        for index, entry in enumerate(entries):
            where = f"enterprise.{container}[{index}]"
            encoded = entry.get("der_base64") if isinstance(entry, dict) else None
            if not isinstance(encoded, str) or not encoded:
                raise GpoPlanError(f"{where}: expected an object with der_base64")
            try:
                der = base64.b64decode(encoded, validate=True)
                cert = load_certificates(der, where)[0]
                info = describe(cert)
            except (binascii.Error, CertificateError, ValueError) as exc:
                raise GpoPlanError(f"{where}: not a certificate ({exc})") from None
            thumbprint = str(info["thumbprint"]).upper()
            found.setdefault(thumbprint, {"thumbprint": thumbprint, "subject": info.get("subject")})
        held[container] = sorted(found.values(), key=lambda e: e["thumbprint"])
    return held


def _enterprise_listing(held: dict) -> dict[str, list[str]]:
    return {container: [e["thumbprint"] for e in held.get(container, [])] for container in CONTAINERS.values()}


def plan_enterprise(held: dict, wanted: t.Sequence[dict], state: str = "present") -> dict:
    """What to publish so that Active Directory holds ``wanted`` (plan_import's output): each root as RootCA,
    each intermediate as SubCA, unless that container already holds its thumbprint.

    Nothing is ever taken out of Active Directory: with state absent the plan publishes nothing and lists in
    ``stays_published`` what the directory still holds. Returns {publish, already_published, stays_published,
    changed, diff}.
    """
    if state not in ("present", "absent"):
        raise GpoPlanError(f"state: must be present or absent, got {state!r}")
    publish: list[dict] = []
    already: list[dict] = []
    stays: list[dict] = []
    for item in wanted:
        container = CONTAINERS[item["store"]]
        label = {"container": container, "thumbprint": item["thumbprint"], "subject": item.get("subject")}
        holds = item["thumbprint"] in {e["thumbprint"] for e in held.get(container, [])}
        if state == "absent":
            if holds:
                stays.append(label)
            continue
        if holds:
            already.append(label)
            continue
        if any(p["container"] == container and p["thumbprint"] == item["thumbprint"] for p in publish):
            continue
        if item.get("der") is None:
            raise GpoPlanError(f"{container}\\{item['thumbprint']}: publishing needs the certificate, not only its thumbprint")
        publish.append(dict(label, der_base64=base64.b64encode(item["der"]).decode("ascii")))
    before = _enterprise_listing(held)
    after = {container: sorted(set(thumbs) | {p["thumbprint"] for p in publish if p["container"] == container})
             for container, thumbs in before.items()}
    return {
        "publish": publish,
        "already_published": already,
        "stays_published": stays,
        "changed": bool(publish),
        "diff": {"before": before, "after": after},
    }
