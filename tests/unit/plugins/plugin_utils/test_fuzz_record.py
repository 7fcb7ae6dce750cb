# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host records never crash the report (issue 10): any record is accepted whole or refused naming the
field, an accepted record reads back as itself from its file, and a rebuild survives any of them."""
from __future__ import annotations

import datetime
import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report, _journal
from ansible_collections.directaccess.iphttps.plugins.plugin_utils._record import (
    RECORD_FIELDS,
    FleetReportError,
    render_json,
    validate_record,
)
from ansible_collections.directaccess.iphttps.tests.unit.plugins.module_utils import fuzz
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_fleet_report import (
    ISSUING,
    NOW,
    ROOT,
    UNTRUSTED_ROOT,
    fixed,
)

# Values a broken or hostile writer may leave in a field; JSON-shaped, as records come from files.
SPECIAL = st.sampled_from([
    None, "", " ", "\x00", "\u202e", "\ud800", "pc\udcff", "x" * 300,
    0, -1, 2 ** 32, -2 ** 31 - 1, 2 ** 64, 1e308, math.nan, math.inf, True,
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "2026-02-30T10:00:00Z", "2026-03-01T10:00:00+99:99",
    "2026-03-01T10:00:00", "0x800B0109", "0xFFFFFFFFF", "untrusted_root", "Root", "CA", "fixed", "remediate",
    [], {}, [None], [{}], [ROOT], [dict(ROOT, thumbprint="zz")], [dict(ROOT, store="")], {"code": None},
    {"code": 5, "hex": "0x6"}, {"code": True}, {"hex": 5}, {"name": 7, "code": 1}, UNTRUSTED_ROOT,
])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@st.composite
def records(draw):
    """A good record with some fields replaced, removed or added; sometimes anything at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    record = fixed(draw(st.sampled_from(["pc1", "PC-2.corp.example", "pc/../x", ".hidden", "ü" * 3, "pc\udc80"])),
                   run_id="run-1", mode="remediate", recorded_at="2026-03-01T10:00:00Z", attempted=[ROOT, ISSUING])
    for _index in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(RECORD_FIELDS + ("unknown",)))
        action = draw(st.sampled_from(["replace", "replace", "remove"]))
        if action == "remove":
            record.pop(field, None)
        else:
            record[field] = draw(SPECIAL | JSON)
    return record


def validated_or_named(raw, label="records[3]"):
    """validate_record's result, or None after checking the refusal names the record."""
    try:
        return validate_record(raw, label, run_id="run-1", mode="remediate", now=NOW)
    except FleetReportError as exc:
        assert str(exc).startswith(label), str(exc)
        return None


@fuzz.fuzz_settings(examples=200)
@given(raw=records())
@example(raw=fixed("pc1", recorded_at="9999-12-31T23:59:59-23:59"))
@example(raw=fixed("pc1", recorded_at="0001-01-01T00:00:00+01:00"))
@example(raw=fixed("pc1", elapsed=math.nan))
@example(raw=fixed("pc1", error_before={"code": 2 ** 40}))
def test_a_record_is_accepted_whole_or_refused_naming_it(raw):
    record = validated_or_named(raw)
    if record is None:
        return
    assert tuple(record) == RECORD_FIELDS
    # What is written reads back as the same record: no file the collection writes is set aside later.
    assert validate_record(json.loads(render_json(record)), "file") == record


@fuzz.fuzz_settings(examples=40)
@given(raws=st.lists(records(), max_size=4), expected=st.lists(st.text(max_size=8) | SPECIAL, max_size=3))
def test_any_records_give_a_report_and_never_block_the_next_rebuild(tmp_path_factory, raws, expected):
    report_dir = tmp_path_factory.mktemp("fuzz-report")
    summary = _fleet_report.write_fleet_report(str(report_dir), raws, expected_hosts=expected, run_id="run-1",
                                               mode="remediate", now=NOW)
    assert summary["hosts"] == sum(summary["by_status"].values())
    for rejected in summary["rejected"]:
        assert rejected["reason"].startswith(rejected["path"]), rejected
    # The journal writes the same records one by one; any it accepts, a later rebuild reads back.
    for raw in raws:
        try:
            _journal.write_record(str(report_dir), validate_record(raw, "r", run_id="run-1", mode="remediate",
                                                                   now=NOW))
        except FleetReportError:
            continue
    later = _fleet_report.write_fleet_report(str(report_dir), [], run_id="run-2", mode="diagnose",
                                             now=NOW + datetime.timedelta(minutes=1))
    assert [entry for entry in later["rejected"] if "/runs/" in entry["path"]] == []
    assert later["hosts"] >= summary["hosts"] - len(expected)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_the_timestamps_issue_10_found(stamp):
    assert validated_or_named(fixed("pc1", recorded_at=stamp)) is None
    with pytest.raises(FleetReportError, match=r"^records\[3\] \(pc1\)\.recorded_at: .* is not a real time"):
        validate_record(fixed("pc1", recorded_at=stamp), "records[3]", run_id="run-1", mode="remediate", now=NOW)
