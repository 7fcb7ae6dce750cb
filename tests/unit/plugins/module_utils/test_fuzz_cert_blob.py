# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never crash on a GPO's Blob values: any bytes end in a parsed certificate or a BlobError that
names the value; every real certificate survives build and parse unchanged."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.module_utils._cert_blob import BlobError, build_blob, parse_blob
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz

pytestmark = [pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")]

SOURCE = "Root\\fuzzed"


def _parse_or_refuse(blob: bytes) -> None:
    try:
        parsed = parse_blob(blob, SOURCE)
    except BlobError as exc:
        assert str(exc).startswith(f"{SOURCE}: "), str(exc)
        return
    assert parsed["thumbprint"] == hashlib.sha1(parsed["der"]).hexdigest().upper()
    assert parsed["der"] in blob


@fuzz.fuzz_settings()
@given(der=st.sampled_from(fuzz.corpus()))
def test_round_trip_of_real_certificates(der):
    parsed = parse_blob(build_blob(der), SOURCE)
    assert parsed["der"] == der


@fuzz.fuzz_settings()
@given(der=st.sampled_from(fuzz.corpus()),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 1 << 16))
def test_mutated_blobs_parse_or_are_refused(der, edits, cut):
    blob = bytearray(build_blob(der))
    for position, value in edits:
        blob[position % len(blob)] = value
    _parse_or_refuse(bytes(blob[:len(blob) - cut % len(blob)]))


@fuzz.fuzz_settings()
@given(st.binary(max_size=512))
def test_random_bytes_parse_or_are_refused(blob):
    if blob:
        _parse_or_refuse(blob)
