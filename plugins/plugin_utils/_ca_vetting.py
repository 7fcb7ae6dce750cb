# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide which candidate certificates ca_bundle may hand to ca_import.

Internal to directaccess.iphttps; may change without notice.
The rules exist because ca_import writes to LocalMachine\\Root, the most trusted place on a
Windows machine: only CAs, only valid ones unless explicitly allowed, and nothing fetched over
the network unless it chains to a root whose SHA-256 fingerprint the operator pinned.
"""
from __future__ import annotations

import datetime
import typing as t

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import (
    CertificateError,
    describe,
    issued_by,
    normalize_fingerprint,
)
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._ca_fetch import Candidate

# Deep enough for any real hierarchy (Windows itself gives up far earlier); stops cross-cert loops.
MAX_CHAIN_DEPTH = 8


class VettingError(Exception):
    """A candidate was refused; the message names its source and the reason."""


def normalize_pins(pins: t.Iterable[str]) -> set[str]:
    normalized = set()
    for index, pin in enumerate(pins):
        try:
            normalized.add(normalize_fingerprint(str(pin), kind="sha256"))
        except CertificateError as exc:
            raise VettingError(f"pins[{index}]: {exc}") from None
    return normalized


def _dedupe(candidates: t.Iterable[Candidate]) -> list[tuple[Candidate, dict]]:
    """One entry per thumbprint; a local copy wins over a network copy of the same certificate."""
    chosen: dict[str, tuple[Candidate, dict]] = {}
    for cand in candidates:
        info = describe(cand.certificate)
        key = info["thumbprint"]
        if key not in chosen or (chosen[key][0].network and not cand.network):
            chosen[key] = (cand, info)
    return list(chosen.values())


def _chains_to_pin(cert: t.Any, pool: t.Sequence[tuple[Candidate, dict]], pins: set[str]) -> bool:
    """Depth-first search for any path from cert to a pinned self-signed root inside pool."""
    def search(current: t.Any, info: dict, seen: frozenset[str], depth: int) -> bool:
        if info["self_signed"]:
            return info["sha256"] in pins
        if depth >= MAX_CHAIN_DEPTH:
            return False
        for cand, cand_info in pool:
            if cand_info["thumbprint"] in seen or not issued_by(current, cand.certificate):
                continue
            if search(cand.certificate, cand_info, seen | {cand_info["thumbprint"]}, depth + 1):
                return True
        return False

    info = describe(cert)
    return search(cert, info, frozenset({info["thumbprint"]}), 0)


def _depth_below_root(info: dict, pool: t.Sequence[tuple[Candidate, dict]]) -> int:
    """Distance to the nearest self-signed certificate in pool, for a root-first ordering."""
    by_thumb = {i["thumbprint"]: (c, i) for c, i in pool}
    frontier = [(info, 0, frozenset({info["thumbprint"]}))]
    while frontier:
        current, depth, seen = frontier.pop(0)
        if current["self_signed"]:
            return depth
        if depth >= MAX_CHAIN_DEPTH:
            continue
        cert = by_thumb[current["thumbprint"]][0].certificate
        for cand, cand_info in pool:
            if cand_info["thumbprint"] not in seen and issued_by(cert, cand.certificate):
                frontier.append((cand_info, depth + 1, seen | {cand_info["thumbprint"]}))
    return MAX_CHAIN_DEPTH + 1


def vet(candidates: t.Sequence[Candidate], *, pins: t.Iterable[str] = (), allow_expired: bool = False,
        at: datetime.datetime | None = None) -> list[dict]:
    """Return the accepted certificates, roots first; raise VettingError on any refusal."""
    now = at or datetime.datetime.now(datetime.timezone.utc)
    pinned = normalize_pins(pins)
    pool = _dedupe(candidates)
    if not pool:
        raise VettingError("sources: no certificates were found")

    for cand, info in pool:
        label = f"{cand.source}: {info['subject']} (SHA-256 {info['sha256']})"
        if not info["is_ca"]:
            raise VettingError(f"{label} is not a CA certificate (basicConstraints CA is not set); "
                               "only root and intermediate CAs belong in the Root and CA stores")
        cert = cand.certificate
        if cert.not_valid_before_utc > now:
            raise VettingError(f"{label} is not valid until {info['not_before']}")
        if cert.not_valid_after_utc < now and not allow_expired:
            raise VettingError(f"{label} expired on {info['not_after']}; set allow_expired to import it anyway")
        if info["self_signed"] and pinned and info["sha256"] not in pinned:
            raise VettingError(f"{label} is a root that matches none of the pins")
        if cand.network:
            if not pinned:
                raise VettingError(f"{label} was fetched over the network, and such certificates are only "
                                   "kept when they chain to a pinned root: give pins")
            if not _chains_to_pin(cand.certificate, pool, pinned):
                raise VettingError(f"{label} was fetched over the network and does not chain to a pinned root")

    accepted = []
    for cand, info in pool:
        role = "root" if info["self_signed"] else "intermediate"
        accepted.append({
            "subject": info["subject"],
            "issuer": info["issuer"],
            "thumbprint": info["thumbprint"],
            "sha256": info["sha256"],
            "not_before": info["not_before"],
            "not_after": info["not_after"],
            "role": role,
            "store": "Root" if role == "root" else "CA",
            "source": cand.source,
            "pem": info["pem"],
            "_order": (_depth_below_root(info, pool), info["subject"], info["thumbprint"]),
        })
    accepted.sort(key=lambda entry: entry["_order"])
    for entry in accepted:
        del entry["_order"]
    return accepted


def check_importable(items: t.Sequence[t.Any], *, at: datetime.datetime | None = None) -> None:
    """For ca_import: every certificate to import is a CA valid now; VettingError names the first that is not.

    Pins and the network origin need ca_bundle's sources, so only ca_bundle can judge them. What the
    certificate alone shows is checked here too, so that ca_import called with anything else never puts
    an expired or not yet valid CA into LocalMachine\\Root by mistake.
    """
    # Imported here: the action reports a missing cryptography before this runs.
    from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import InputError, certificates

    now = at or datetime.datetime.now(datetime.timezone.utc)
    override = "set allow_unvetted to import it anyway"
    for index, item in enumerate(items):
        label = f"certificates[{index}]"
        try:
            found = certificates([item], label)
        except InputError as exc:
            raise VettingError(str(exc).replace(f"{label}[0]", label, 1)) from None
        for cert in found:
            info = describe(cert)
            name = f"{label}: {info['subject']} (thumbprint {info['thumbprint']})"
            if not info["is_ca"]:
                raise VettingError(f"{name} is not a CA certificate; only CA certificates belong in the Root and "
                                   "CA stores")
            if cert.not_valid_before_utc > now:
                raise VettingError(f"{name} is not valid until {info['not_before']}; {override}")
            if cert.not_valid_after_utc < now:
                raise VettingError(f"{name} expired on {info['not_after']}; {override}")
