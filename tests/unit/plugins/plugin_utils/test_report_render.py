# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's CSV and HTML, rendered from the aggregate: columns, safe cells, escaping, CSP and counts."""
from __future__ import annotations

import base64
import csv
import datetime
import hashlib
import html.parser
import io
import json
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


# ------------------------------------------------------------------------------------------------ schema 2


def history_report(tmp_path) -> dict:
    """A fix, a verifying diagnose and a dry run in one folder, with who ran it and a file set aside."""
    folder = tmp_path / "report"
    fr.write_fleet_report(str(folder), [fixed("laptop-1"), fixed("laptop-2", imported=[ROOT])], run_id="awx-4711",
                          mode="remediate", now=NOW)
    (folder / "runs" / "awx-4711" / ".run.json").write_text(json.dumps({
        "run_id": "awx-4711", "mode": "remediate", "check_mode": False, "started_at": "2026-03-01T09:58:00Z",
        "awx_job_id": "4711", "user": "<b>ops</b>", "playbook": "remediate.yml", "hosts": 3}))
    (folder / "runs" / "awx-4711" / "<evil>.json").write_text('{"host": "<script>x()</script>", "status": "no"}')
    fr.write_fleet_report(str(folder), [
        healthy("laptop-1"),
        {"host": "laptop-3", "status": "fix_failed", "reason": "The host did not answer the import in time.",
         "detail": "urllib3.exceptions.ReadTimeoutError: <HTTPSConnectionPool> read timed out",
         "attempted": [ISSUING], "action": "import", "service_before": "Stopped", "service_started": True},
    ], run_id="diag-2", mode="diagnose", now=NOW + datetime.timedelta(days=1))
    fr.write_fleet_report(str(folder), [{"host": "laptop-2", "status": "would_fix", "check_mode": True}],
                          run_id="dry-3", mode="check", now=NOW + datetime.timedelta(days=2))
    return json.loads((folder / "report.json").read_text())


def test_every_status_has_a_meaning_and_the_legend_lists_each():
    assert list(rr.STATUS_MEANINGS) == list(fr.STATUSES)
    assert all(meaning.endswith(".") for meaning in rr.STATUS_MEANINGS.values())
    text = rr.render_html(aggregate([]))
    legend = re.search(r'<dl class="legend">(.*?)</dl>', text, re.S).group(1)
    assert re.findall(r"<dt>([a-z_]+)</dt>", legend) == list(fr.STATUSES)


def test_csv_appends_the_new_columns_and_keeps_the_old_order():
    old = ("host", "status", "verdict", "mode", "run_id", "recorded_at", "error_before_hex", "error_before_name",
           "error_after_hex", "error_after_name", "action", "missing", "imported", "removed", "elapsed", "reason",
           "remedy", "filled_in")
    assert rr.CSV_COLUMNS[:len(old)] == old
    assert rr.CSV_COLUMNS[len(old):] == ("attempted", "detail", "service_before", "service_started", "check_mode",
                                         "last_change_status", "last_change_run_id", "last_change_recorded_at",
                                         "deployed_on_host")


def test_csv_new_columns_hold_history_and_stay_safe(tmp_path):
    report = history_report(tmp_path)
    rows = {row["host"]: row for row in csv.DictReader(io.StringIO(rr.render_csv(report), newline=""))}
    assert (rows["laptop-1"]["status"], rows["laptop-1"]["last_change_status"],
            rows["laptop-1"]["last_change_run_id"]) == ("healthy", "fixed", "awx-4711")
    assert rows["laptop-1"]["deployed_on_host"] == f"CA\\{ISSUING['thumbprint']};Root\\{ROOT['thumbprint']}"
    assert (rows["laptop-3"]["attempted"], rows["laptop-3"]["service_before"], rows["laptop-3"]["service_started"]) \
        == (f"CA\\{ISSUING['thumbprint']}", "Stopped", "true")
    assert rows["laptop-2"]["check_mode"] == "false"  # the fix stands; the dry run does not replace it
    formula = aggregate([{"host": "h", "status": "failed", "detail": "=cmd|' /C calc'!A0"}])
    assert list(csv.DictReader(io.StringIO(rr.render_csv(formula), newline="")))[0]["detail"] == "'=cmd|' /C calc'!A0"


def test_html_says_the_outcome_who_ran_it_what_was_deployed_and_both_facts(tmp_path):
    report = history_report(tmp_path)
    text, parsed = page(report)
    assert report["outcome"] == ("1 fixed, 1 needs attention (1 fix failed), 1 healthy.")
    assert f'<p class="outcome" id="outcome">{report["outcome"]}</p>' in text
    assert text.index('id="outcome"') < text.index('id="status-cards"')
    # Certificates deployed: store, subject, thumbprint, hosts.
    deployed = re.search(r'<table id="deployed">.*?</table>', text, re.S).group(0)
    assert (f'<tr data-store="Root" data-thumbprint="{ROOT["thumbprint"]}" data-hosts="2"><td>Root</td>'
            f'<td>CN=Contoso Root CA 2026</td><td><code>{ROOT["thumbprint"]}</code></td><td>2</td></tr>') in deployed
    assert f'data-thumbprint="{ISSUING["thumbprint"]}" data-hosts="2"' in deployed  # laptop-1, and laptop-3's attempt
    # Who or what ran it; markup in a user name stays text.
    run_row = re.search(r'<tr data-run-id="awx-4711".*?</tr>', text).group(0)
    assert 'data-check-mode="false"' in run_row and "AWX job <code>4711</code>" in run_row
    assert "&lt;b&gt;ops&lt;/b&gt;" in run_row and "<b>ops" not in text and "2 of 3" in run_row
    assert 'data-check-mode="true"' in re.search(r'<tr data-run-id="dry-3".*?</tr>', text).group(0)
    # Fixed, then verified: both facts on the host's row.
    row = re.search(r'<tr data-host="laptop-1".*?</tr>', text).group(0)
    assert 'data-status="healthy"' in row and 'data-last-change="awx-4711"' in row
    assert '<div class="last-change" title="2026-03-01T10:00:00Z">fixed by <code>awx-4711</code> on 2026-03-01 (+2)' \
        in row
    assert parsed.row_hosts == ["laptop-1", "laptop-2", "laptop-3"]


def test_html_reason_first_and_raw_text_as_detail(tmp_path):
    text, _parsed = page(history_report(tmp_path))
    row = re.search(r'<tr data-host="laptop-3".*?</tr>', text).group(0)
    reason = row.index('<p class="reason">The host did not answer the import in time.</p>')
    detail = row.index('<details class="detail"><summary>Technical detail</summary><pre>urllib3.exceptions.'
                       'ReadTimeoutError: &lt;HTTPSConnectionPool&gt; read timed out</pre></details>')
    assert reason < detail
    assert '<p class="service">iphlpsvc was Stopped; this run started it.</p>' in row
    assert f'<li class="attempted" title="CA {ISSUING["thumbprint"]} CN=Contoso Issuing CA, O=Contoso (sent; may be ' \
           f'on the host)">? CA' in row


def test_html_fixed_rows_say_what_was_missing_not_that_it_is():
    text = rr.render_html(aggregate([fixed("laptop-1"), {"host": "laptop-2", "status": "would_fix",
                                                         "missing": [ROOT]}]))
    assert '<b>Was missing:</b> Root' in re.search(r'<tr data-host="laptop-1".*?</tr>', text).group(0)
    assert '<b>Missing:</b> Root' in re.search(r'<tr data-host="laptop-2".*?</tr>', text).group(0)


def test_html_lists_what_was_set_aside_escaped(tmp_path):
    report = history_report(tmp_path)
    text, parsed = page(report)
    assert [entry["path"] for entry in report["rejected"]] == [
        str(tmp_path / "report" / "runs" / "awx-4711" / "<evil>.json")]
    section = re.search(r'<section aria-labelledby="h-rejected" id="rejected">.*?</section>', text, re.S).group(0)
    assert "Set aside: 1 file(s) or record(s) that did not validate" in section
    assert "&lt;evil&gt;.json" in section and "<evil>" not in text and "&lt;script&gt;" in section
    assert section.count("&lt;evil&gt;.json") == 2  # the data attribute and the path, not again in the reason
    assert [tag for tag, _attrs in parsed.tags].count("script") == 1
    assert 'id="rejected"' not in rr.render_html(aggregate([healthy("h")]))


def test_html_marks_a_host_with_only_a_dry_run():
    text = rr.render_html(aggregate([{"host": "h", "status": "would_fix", "check_mode": True}]))
    row = re.search(r'<tr data-host="h".*?</tr>', text).group(0)
    assert 'data-plan="true"' in row and '<div class="plan">dry run</div>' in row


# ------------------------------------------------------------------------------------------------ console


def records_of(statuses: dict) -> list[dict]:
    raws = []
    for status, count in statuses.items():
        raws += [{"host": f"{status}-{n:03d}", "status": status, "error_before": NO_ERROR_OR_TRUST[status],
                  "action": "import" if status in ("fixed", "fix_failed") else "none"} for n in range(count)]
    return fr.validate_records(raws, run_id="r1", mode="remediate", now=NOW)


NO_ERROR_OR_TRUST = {status: {"hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"} for status in fr.STATUSES}
NO_ERROR_OR_TRUST["healthy"] = {"hex": "0x0", "name": "ERROR_SUCCESS"}


def test_console_lists_a_small_run_in_full():
    records = fr.validate_records([
        fixed("laptop-1"), healthy("laptop-22.corp.example.com"),
        {"host": "laptop-3", "status": "fixed", "action": "restart", "service_before": "Stopped",
         "service_started": True, "error_before": {"hex": "0x800B0109"}, "error_after": {"hex": "0x0"}},
    ], run_id="r1", mode="remediate", now=NOW)
    lines = rr.console_lines(fr.newest_per_host(records), run_id="r1", report_path="/srv/r/report.html")
    assert lines[:5] == [
        "Run r1 (remediate): 3 host(s)",
        "  host                        before      action                     after  status",
        "  laptop-1                    0x800B0109  import                     0x0    fixed",
        "  laptop-22.corp.example.com  0x0         none                       -      healthy",
        "  laptop-3                    0x800B0109  restart; started iphlpsvc  0x0    fixed",
    ]
    assert lines[5:] == ["Per status: healthy 1, fixed 2", "This run: 2 fixed, 1 healthy.",
                         "Report: /srv/r/report.html"]


def test_console_at_500_hosts_lists_only_those_that_need_someone_and_stays_bounded():
    records = records_of({"healthy": 150, "fixed": 120, "unreachable": 130, "fix_failed": 3, "unfixable": 97})
    lines = rr.console_lines(records, run_id="r1", report_path="/srv/r/report.html")
    text = "\n".join(lines)
    assert lines[0] == "Run r1 (remediate): 500 hosts; the 230 that need someone, by status (report.html lists " \
                       "every host):"
    assert "healthy-" not in text and "fixed-" not in text
    # Grouped by status in the report's order, at most 100 per status.
    headers = [line.split(" (")[0] for line in lines if re.match(r"^[a-z_]+ \(\d+\): ", line)]
    assert headers == ["fix_failed", "unfixable", "unreachable"]
    assert sum(line.startswith("  unreachable-") for line in lines) == 100
    assert "  ... and 30 more" in lines
    assert sum(line.startswith("  unfixable-") for line in lines) == 97
    assert "Per status: healthy 150, fixed 120, fix_failed 3, unfixable 97, unreachable 130" in lines
    assert len(lines) <= 3 * (100 + 3) + 5
    assert max(len(line) for line in lines) < 200


def test_console_stays_bounded_however_many_hosts_need_someone():
    statuses = dict.fromkeys(rr.NEEDS_SOMEONE, 500)
    lines = rr.console_lines(records_of(statuses), run_id="r1")
    assert len(lines) <= len(rr.NEEDS_SOMEONE) * (rr.CONSOLE_PER_STATUS + 3) + 5
    assert lines.count("  ... and 400 more") == len(rr.NEEDS_SOMEONE)


def test_console_names_rejected_files_safely_and_caps_them(tmp_path):
    report = aggregate([healthy("h")])
    report["rejected"] = [{"path": f"/r/runs/r1/bad-{n}\n.json", "reason": "not valid JSON: " + "x" * 400}
                          for n in range(12)]
    lines = rr.console_lines(fr.newest_per_host(fr.validate_records([healthy("h")], run_id="r1", mode="diagnose",
                                                                    now=NOW)), run_id="r1", report=report)
    assert "Set aside 12 file(s) or record(s) that did not validate; every other record counts (report.json " \
           "'rejected'):" in lines
    listed = [line for line in lines if line.startswith("  /r/runs/")]
    assert len(listed) == 10 and listed[0].startswith("  /r/runs/r1/bad-0?.json: not valid JSON: xxx")
    # A reason that starts with its path does not say it twice.
    report["rejected"] = [{"path": "/r/x.json", "reason": "/r/x.json: not valid JSON"}]
    assert "  /r/x.json: not valid JSON" in rr.console_lines([], run_id="r1", report=report)
    assert all(len(line) < 300 and "\n" not in line for line in lines)
    assert "  ... and 2 more" in lines
    assert f"Fleet report (1 hosts, 1 run(s)): {report['outcome']}" in lines


def test_console_for_a_run_without_records():
    assert rr.console_lines([], run_id="r1") == ["Run r1: no host records."]


def test_console_marks_a_dry_run():
    records = fr.validate_records([{"host": "h", "status": "would_fix", "mode": "check"}], run_id="r1",
                                  mode="check", now=NOW)
    assert rr.console_lines(records, run_id="r1")[0] == "Run r1 (check, check mode): 1 host(s)"
