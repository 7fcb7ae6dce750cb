# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn task arguments into certificates and thumbprints for the actions.

Internal to directaccess.iphttps; may change without notice.
Users hand certificates over in whatever shape the previous task produced: PEM or base64 DER
text, ca_bundle's entries (dicts with ``pem``), client_info's store entries, or bare Windows
thumbprints. Each error names the option and the index of the item.
"""
from __future__ import annotations

import datetime
import re
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    load_certificates,
    normalize_fingerprint,
)

_THUMBPRINT_LIKE = re.compile(r"^[0-9A-Fa-f\s:\-\u200e\u200f\u200b\ufeff]{1,200}$")


class InputError(ValueError):
    """A task argument is unusable; the message names the option and item."""


def _text_of(item: t.Any, label: str) -> str:
    if isinstance(item, dict):
        for key in ("pem", "certificate", "der_base64"):
            if item.get(key):
                return str(item[key])
        raise InputError(f"{label}: a dict item needs a 'pem' key (as ca_bundle returns)")
    if isinstance(item, (str, bytes)):
        return item.decode("utf-8", "replace") if isinstance(item, bytes) else item
    raise InputError(f"{label}: expected certificate text, not {type(item).__name__}")


def _load_item(item: t.Any, label: str) -> list[t.Any]:
    try:
        return load_certificates(_text_of(item, label), label)
    except CertificateError as exc:
        raise InputError(str(exc)) from None


def certificates(items: t.Iterable[t.Any] | None, option: str) -> list[t.Any]:
    """Every certificate in items, in order; items may hold several PEM blocks each."""
    found: list[t.Any] = []
    for index, item in enumerate(items or []):
        found += _load_item(item, f"{option}[{index}]")
    return found


def store_entries(items: t.Iterable[t.Any] | None, option: str) -> list[t.Any]:
    """A client store: certificates and/or bare SHA-1 thumbprints (upper-case, no separators)."""
    entries: list[t.Any] = []
    for index, item in enumerate(items or []):
        label = f"{option}[{index}]"
        if isinstance(item, dict) and not item.get("pem") and item.get("thumbprint"):
            item = item["thumbprint"]
        # Anything hex-like is a thumbprint, however it was pasted (colons, dashes, spaces, the
        # invisible marks the Windows certificate dialog copies); certificates are far longer.
        if isinstance(item, str) and _THUMBPRINT_LIKE.match(item):
            try:
                entries.append(normalize_fingerprint(item, kind="sha1"))
            except CertificateError as exc:
                raise InputError(f"{label}: {exc}") from None
            continue
        entries += _load_item(item, label)
    return entries


def point_in_time(value: t.Any, option: str = "at") -> datetime.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise InputError(f"{option}: {value!r} is not an ISO 8601 date and time "
                             "(for example 2026-11-28T12:00:00Z)") from None
    # A naive time is read as UTC, which is how certificate validity is expressed.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    try:
        return moment.astimezone(datetime.timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 or 0001-01-01T00:00:00+01:00: no such time in UTC
        raise InputError(f"{option}: {value!r} is outside the dates that can be expressed in UTC") from None
