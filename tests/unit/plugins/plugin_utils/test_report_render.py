# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's CSV and HTML, rendered from the aggregate: columns, safe cells, escaping, CSP and counts."""
from __future__ import annotations

import base64
import csv
import hashlib
import html.parser
import io
import re

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report as fr
from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _report_render as rr
# The record builders live with the record tests; the renderer draws the same records.
from ansible_collections.directaccess.iphttps.tests.unit.plugins.plugin_utils.test_fleet_report import (
    ISSUING,
    NOW,
    ROOT,
    fixed,
    healthy,
)


def aggregate(records, *, expected_hosts=(), title="DirectAccess IP-HTTPS fleet report") -> dict:
    """What write_fleet_report renders for one run of ``records`` into a new folder, built without the disk."""
    this_run = fr.validate_records(records, run_id="r1", mode="remediate", now=NOW)
    this_run += fr.fill_unreachable(this_run, expected_hosts, run_id="r1", mode="remediate", now=NOW)
    return fr.build_report(fr.newest_per_host(this_run), title=title, generated_at=NOW, all_records=this_run)


# ------------------------------------------------------------------------------------------------ CSV


def test_csv_has_stable_columns_and_safe_cells():
    tricky = "Said \"no\", then\nstopped; twice"
    text = rr.render_csv(aggregate([
        fixed("laptop-1", missing=[ROOT, {"thumbprint": None, "store": "CA", "subject": "CN=Odd; Name"}]),
        {"host": "-host", "status": "failed", "reason": "=HYPERLINK(\"http://x\")", "remedy": "@SUM(A1)"},
        {"host": "laptop-2", "status": "unfixable", "reason": tricky, "remedy": "+1"},
    ]))
    assert text.startswith(",".join(rr.CSV_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["host"] for row in rows] == ["'-host", "laptop-1", "laptop-2"]
    first = rows[1]
    assert first["imported"] == f"Root\\{ROOT['thumbprint']};CA\\{ISSUING['thumbprint']}"
    assert first["missing"] == f"Root\\{ROOT['thumbprint']};CA\\(CN=Odd\\; Name)"
    assert (first["error_before_hex"], first["error_before_name"]) == ("0x800B0109", "CERT_E_UNTRUSTEDROOT")
    assert (first["error_after_hex"], first["elapsed"], first["removed"]) == ("0x0", "14.25", "")
    assert (first["verdict"], first["filled_in"], first["mode"]) == ("untrusted_root", "false", "remediate")
    # A spreadsheet must not run host-supplied text as a formula.
    assert (rows[0]["reason"], rows[0]["remedy"]) == ("'=HYPERLINK(\"http://x\")", "'@SUM(A1)")
    assert (rows[2]["reason"], rows[2]["remedy"]) == (tricky, "'+1")
    assert all(list(row) == list(rr.CSV_COLUMNS) for row in rows)


# ------------------------------------------------------------------------------------------------ HTML


class _Page(html.parser.HTMLParser):
    """Collects what the tests read from the page: tags, count attributes, row hosts, script bodies."""

    def __init__(self):
        super().__init__()
        self.tags, self.status_counts, self.verdict_counts, self.row_hosts = [], {}, {}, []
        self.scripts, self.styles, self.csp = [], [], None
        self._capture = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            self.csp = attrs["content"]
        if tag == "tr" and "data-host" in attrs:
            self.row_hosts.append(attrs["data-host"])
        for key, store in (("data-status-count", self.status_counts), ("data-verdict-count", self.verdict_counts)):
            if key in attrs:
                self._capture = (store, attrs[key])
                self._text = []
        if tag in ("script", "style"):
            self._capture = (self.scripts if tag == "script" else self.styles, None)
            self._text = []

    def handle_data(self, data):
        if self._capture:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._capture:
            store, key = self._capture
            if key is None:
                store.append("".join(self._text))
            else:
                store[key] = int("".join(self._text))
            self._capture = None


def page(report: dict) -> tuple[str, _Page]:
    text = rr.render_html(report)
    parsed = _Page()
    parsed.feed(text)
    return text, parsed


def test_html_escapes_everything_that_comes_from_hosts():
    evil = "<script>alert(1)</script>"
    text, parsed = page(aggregate([
        {"host": evil, "status": "failed", "reason": "\"><img src=x onerror=alert(2)>", "remedy": "a & b",
         "verdict": None},
        fixed("laptop-1", missing=[{"thumbprint": None, "store": "Root", "subject": "CN=<b>x</b>"}]),
    ], title="CHG <1> & \"2\""))
    assert evil not in text and "<img" not in text and "<b>x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<title>CHG &lt;1&gt; &amp; &quot;2&quot;</title>" in text
    assert [tag for tag, _attrs in parsed.tags].count("script") == 1
    assert parsed.row_hosts == [evil, "laptop-1"]  # the attribute round-trips to the real name


def test_html_is_self_contained_and_its_csp_allows_only_its_own_code():
    _text, parsed = page(aggregate([fixed("laptop-1"), healthy("laptop-2")]))
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    assert len(parsed.scripts) == len(parsed.styles) == 1

    def digest(body):
        return "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    assert parsed.csp == (f"default-src 'none'; style-src '{digest(parsed.styles[0])}'; "
                          f"script-src '{digest(parsed.scripts[0])}'; img-src data:; base-uri 'none'; "
                          f"form-action 'none'")


def test_html_counts_and_rows_match_the_aggregate():
    report = aggregate([fixed("f1"), fixed("f2"), healthy("h1"), {"host": "n1", "status": "not_directaccess"}],
                       expected_hosts=["gone"])
    text, parsed = page(report)
    assert parsed.status_counts == report["by_status"]
    assert parsed.verdict_counts == report["by_verdict"]
    assert parsed.row_hosts == [r["host"] for r in report["records"]]
    assert re.search(r'<span id="host-count" data-hosts="5">5</span>', text)
    for status, count in report["by_status"].items():
        assert f'data-status-bar="{status}" data-count="{count}"' in text
    # Without scripts every row is there and the filter controls stay hidden.
    assert '<div id="controls" hidden>' in text
    assert not re.search(r"<tr[^>]*data-host[^>]*hidden", text)


def test_html_row_shows_errors_and_imported_and_removed_certificates():
    text = rr.render_html(aggregate([
        fixed("laptop-1", imported=[ROOT], removed=[ISSUING], error_after=None),
        healthy("laptop-2", error_before={"hex": "0x0"}),
    ]))
    row = re.search(r'<tr data-host="laptop-1".*?</tr>', text).group(0)
    assert (f'<li title="Root {ROOT["thumbprint"]} CN=Contoso Root CA 2026">+ Root {ROOT["thumbprint"][:8]}&hellip;'
            f'</li><li class="removed" title="CA {ISSUING["thumbprint"]} CN=Contoso Issuing CA, O=Contoso">'
            f'&minus; CA {ISSUING["thumbprint"][:8]}&hellip;</li>') in row
    assert ('<td class="error" data-sort="0x800B0109"><code>0x800B0109</code><br>CERT_E_UNTRUSTEDROOT</td>'
            '<td data-sort="">&mdash;</td>') in row
    # A code without a name shows the code alone.
    assert '<td class="error" data-sort="0x0"><code>0x0</code></td>' in text


def test_empty_report_still_renders():
    text, parsed = page(aggregate([]))
    assert "No hosts in this report." in text and parsed.row_hosts == []
    assert set(parsed.status_counts.values()) == {0}


@pytest.mark.parametrize("template, message", [
    ("<html>$title</html>", "needs exactly one <style> block, found 0"),
    ("<style>\nb {}\n</style>\n<script>\nvar a = '$x';\n</script>\n", "the <script> block must not contain '$'"),
    ("<style>\nb {}\n</style>\n<script>\n1;\n</script>\n$nosuch", "bad placeholder 'nosuch'"),
])
def test_template_mistakes_are_caught(template, message):
    # The action turns FleetReportError into a failed task, so a broken template must raise that.
    with pytest.raises(fr.FleetReportError, match=re.escape(message)):
        rr.render_html(aggregate([healthy("h")]), template)
