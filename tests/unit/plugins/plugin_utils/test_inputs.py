# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How task arguments become certificates and thumbprints."""
from __future__ import annotations

import base64
import datetime

import pytest

from ansible_collections.directaccess.iphttps.plugins.module_utils._certificate import thumbprint
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._inputs import (
    InputError,
    certificates,
    point_in_time,
    store_entries,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import pki


@pytest.fixture(scope="module")
def corp():
    return pki.make_hierarchy("da.contoso.com", root_key_type="ecdsa", intermediate_key_type="ecdsa",
                              leaf_key_type="ecdsa")


def test_certificates_accepts_pem_base64_and_bundle_entries(corp):
    items = [corp.leaf.pem + corp.intermediate.pem, base64.b64encode(corp.root.der).decode(),
             {"pem": corp.root.pem, "role": "root"}]
    found = certificates(items, "server_chain")
    assert [thumbprint(c) for c in found] == [corp.leaf.thumbprint, corp.intermediate.thumbprint,
                                              corp.root.thumbprint, corp.root.thumbprint]


def test_certificates_errors_name_option_and_index(corp):
    with pytest.raises(InputError, match=r"^bundle\[1\]"):
        certificates([corp.root.pem, "nonsense"], "bundle")
    with pytest.raises(InputError, match=r"bundle\[0\]: a dict item needs a 'pem' key"):
        certificates([{"subject": "x"}], "bundle")
    with pytest.raises(InputError, match=r"bundle\[0\]: expected certificate text, not int"):
        certificates([42], "bundle")


def test_certificates_never_echo_a_private_key(corp):
    key_pem = corp.leaf.key_pem.decode()
    with pytest.raises(InputError) as caught:
        certificates([key_pem], "server_chain")
    assert "private key" in str(caught.value)
    body_line = key_pem.splitlines()[1]
    assert body_line not in str(caught.value)


def test_store_entries_mix_thumbprints_and_certificates(corp):
    lower_colon = ":".join(corp.root.thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()
    entries = store_entries([lower_colon, corp.intermediate.pem, {"thumbprint": corp.leaf.thumbprint}],
                            "root_store")
    assert entries[0] == corp.root.thumbprint
    assert thumbprint(entries[1]) == corp.intermediate.thumbprint
    assert entries[2] == corp.leaf.thumbprint


def test_store_entries_with_a_dict_holding_pem_uses_the_certificate(corp):
    entries = store_entries([{"thumbprint": corp.root.thumbprint, "pem": corp.root.pem}], "root_store")
    assert thumbprint(entries[0]) == corp.root.thumbprint


def test_store_entries_bad_item_names_the_option():
    with pytest.raises(InputError, match=r"^intermediate_store\[0\]"):
        store_entries(["ABCDEF"], "intermediate_store")


def test_empty_inputs():
    assert certificates(None, "bundle") == []
    assert store_entries([], "root_store") == []


@pytest.mark.parametrize("value, expected", [
    ("2026-11-28T12:00:00Z", datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.timezone.utc)),
    ("2026-11-28T12:00:00", datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.timezone.utc)),
    ("2026-11-28T13:00:00+01:00", datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.timezone.utc)),
    ("", None),
    (None, None),
])
def test_point_in_time(value, expected):
    assert point_in_time(value) == expected


def test_point_in_time_error_names_the_value():
    with pytest.raises(InputError, match=r"at: 'yesterday' is not an ISO 8601 date"):
        point_in_time("yesterday")


def test_store_entries_accept_thumbprints_as_windows_copies_them(corp):
    pasted = "\u200e" + " ".join(corp.root.thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()
    dashed = "-".join(corp.root.thumbprint[i:i + 4] for i in range(0, 40, 4))
    assert store_entries([pasted, dashed], "root_store") == [corp.root.thumbprint, corp.root.thumbprint]


def test_store_entries_short_thumbprint_is_named_as_a_thumbprint_problem():
    with pytest.raises(InputError, match=r"^root_store\[0\]: .*SHA-1 thumbprint"):
        store_entries(["ABCDEF"], "root_store")
