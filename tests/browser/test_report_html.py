# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's HTML page in a real browser: headless Chromium reads the DOM after the page's script ran.

Needs the Debian 'chromium' package. Skipped without it, except under CI=true, where it fails instead.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from ansible_collections.directaccess.iphttps.plugins.plugin_utils import _fleet_report as fr

NOW = datetime.datetime(2026, 3, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
UNTRUSTED_ROOT = {"code": 0x800B0109, "hex": "0x800B0109", "name": "CERT_E_UNTRUSTEDROOT"}
NO_ERROR = {"code": 0, "hex": "0x0", "name": "ERROR_SUCCESS"}
ROOT = {"thumbprint": hashlib.sha1(b"root").hexdigest().upper(), "store": "Root", "subject": "CN=Contoso Root CA"}
# Escaping must hold; if it did not, this host name would mark the page as tampered with.
EVIL_HOST = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed; CI needs it for the report's browser check "
                    "(apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); set CI=true to make this a failure")


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """A report with known counts: 3 fixed, 2 healthy, 1 would_fix, 1 unfixable, 1 failed, 1 unreachable."""
    folder = tmp_path_factory.mktemp("report")
    records = [
        {"host": f"laptop-{n:04d}.corp.example.com", "status": "fixed", "verdict": "untrusted_root",
         "error_before": UNTRUSTED_ROOT, "error_after": NO_ERROR, "missing": [ROOT], "action": "import",
         "imported": [ROOT], "elapsed": 14.0, "reason": "Imported 1 certificate(s); IP-HTTPS reports 0x0."}
        for n in (1, 2, 10)
    ] + [
        {"host": "laptop-0003.corp.example.com", "status": "healthy", "verdict": "trusted", "error_before": NO_ERROR},
        {"host": "laptop-0004.corp.example.com", "status": "healthy", "verdict": "trusted", "error_before": NO_ERROR},
        {"host": "laptop-0005.corp.example.com", "status": "would_fix", "verdict": "missing_intermediate",
         "error_before": {"code": 0x800B010A, "hex": "0x800B010A", "name": "CERT_E_CHAINING"},
         "action": "would_import"},
        {"host": "kiosk-17.corp.example.com", "status": "unfixable", "verdict": "name_mismatch",
         "reason": "da.contoso.com is not in the certificate's names.", "remedy": "Reissue the certificate."},
        {"host": EVIL_HOST, "status": "failed", "reason": "<script>document.title='pwned'</script>"},
    ]
    fr.write_fleet_report(str(folder), records, expected_hosts=["laptop-0099.corp.example.com"], run_id="awx-4711",
                          mode="remediate", title="CHG0012345 DirectAccess trust", now=NOW)
    return folder


def report_json(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text(encoding="utf-8"))


def dump_dom(chromium: str, page: Path, profile: Path, fragment: str = "") -> str:
    url = page.resolve().as_uri() + fragment
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


class Dom(html.parser.HTMLParser):
    """What the tests read from the dumped DOM."""

    def __init__(self, text: str):
        super().__init__()
        self.status_counts: dict[str, int] = {}
        self.verdict_counts: dict[str, int] = {}
        self.rows: list[dict] = []  # attributes of each host row
        self.by_id: dict[str, dict] = {}
        self.text_of: dict[str, str] = {}
        self.body: dict = {}
        self.title = ""
        self.tag_counts: dict[str, int] = {}
        self._open: list[tuple[str, str]] = []  # (tag, key) whose text we collect
        self._buffers: dict[str, list[str]] = {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tag_counts[tag] = self.tag_counts.get(tag, 0) + 1
        if tag == "body":
            self.body = attrs
        if tag == "tr" and "data-host" in attrs:
            self.rows.append(attrs)
        keys = []
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
            keys.append("#" + attrs["id"])
        if "data-status-count" in attrs:
            keys.append("status:" + attrs["data-status-count"])
        if "data-verdict-count" in attrs:
            keys.append("verdict:" + attrs["data-verdict-count"])
        if tag == "title":
            keys.append("title")
        for key in keys:
            self._open.append((tag, key))
            self._buffers[key] = []

    def handle_data(self, data):
        for _tag, key in self._open:
            self._buffers[key].append(data)

    def handle_endtag(self, tag):
        while self._open and self._open[-1][0] == tag:
            _tag, key = self._open.pop()
            value = "".join(self._buffers[key]).strip()
            if key.startswith("status:"):
                self.status_counts[key[7:]] = int(value)
            elif key.startswith("verdict:"):
                self.verdict_counts[key[8:]] = int(value)
            elif key == "title":
                self.title = self.title or value  # the document's, not the chart's <title>s
            else:
                self.text_of[key] = value

    def visible_rows(self) -> list[dict]:
        return [row for row in self.rows if "hidden" not in row]


def test_counts_shown_match_report_json_and_the_script_ran(chromium, report_dir, tmp_path):
    report = report_json(report_dir)
    assert report["by_status"]["fixed"] == 3 and report["by_status"]["unreachable"] == 1 and report["hosts"] == 9
    dom = Dom(dump_dom(chromium, report_dir / "report.html", tmp_path))
    assert dom.status_counts == report["by_status"]
    assert dom.verdict_counts == report["by_verdict"]
    assert int(dom.text_of["#host-count"]) == report["hosts"]
    assert [row["data-host"] for row in dom.rows] == [r["host"] for r in report["records"]]
    # The controls are shown by the page's script: it ran, so the CSP hash matches it.
    assert "hidden" not in dom.by_id["controls"]
    assert int(dom.text_of["#shown-count"]) == report["hosts"] == len(dom.visible_rows())
    # Host-supplied markup stayed text.
    assert "data-pwned" not in dom.body
    assert dom.title == "CHG0012345 DirectAccess trust"
    assert dom.tag_counts.get("img", 0) == 0 and dom.tag_counts["script"] == 1


@pytest.mark.parametrize("fragment, wanted", [
    ("#status=fixed", lambda r: r["status"] == "fixed"),
    ("#status=unreachable", lambda r: r["status"] == "unreachable"),
    ("#q=kiosk", lambda r: r["host"].startswith("kiosk")),
    ("#status=fixed&q=laptop-0010", lambda r: r["host"].startswith("laptop-0010")),
    ("#status=no_such_status", lambda r: True),
])
def test_filtering_by_status_and_text_hides_the_other_rows(chromium, report_dir, tmp_path, fragment, wanted):
    report = report_json(report_dir)
    dom = Dom(dump_dom(chromium, report_dir / "report.html", tmp_path, fragment))
    expected = [r["host"] for r in report["records"] if wanted(r)]
    assert expected, "the case must select something"
    assert [row["data-host"] for row in dom.visible_rows()] == expected
    assert len(dom.rows) == report["hosts"]  # hidden, not removed
    assert int(dom.text_of["#shown-count"]) == len(expected)


def csp_with(text: str, extra_script: str) -> str:
    """The page with one more inline script, which its CSP is changed to allow."""
    digest = "sha256-" + base64.b64encode(hashlib.sha256(extra_script.encode()).digest()).decode()
    text = re.sub(r"(script-src '[^']+')", rf"\1 '{digest}'", text, count=1)
    return text.replace("</body>", f"<script>{extra_script}</script></body>")


def test_clicking_headers_sorts_and_the_controls_filter(chromium, report_dir, tmp_path):
    driver = (
        "(function () {"
        " var buttons = document.querySelectorAll('#hosts thead button');"
        " function order(attr) { return Array.prototype.map.call("
        "   document.querySelectorAll('#hosts tbody tr[data-host]'), function (r) { return r.getAttribute(attr); })"
        "   .join('|'); }"
        " buttons[0].click(); document.body.setAttribute('data-host-asc', order('data-host'));"
        " buttons[0].click(); document.body.setAttribute('data-host-desc', order('data-host'));"
        " buttons[1].click(); document.body.setAttribute('data-status-asc', order('data-status'));"
        " var select = document.getElementById('filter-status'); select.value = 'healthy';"
        " select.dispatchEvent(new Event('change'));"
        " document.body.setAttribute('data-after-select', document.getElementById('shown-count').textContent"
        "   + ' ' + window.location.hash);"
        " var box = document.getElementById('filter-text'); box.value = '0004';"
        " box.dispatchEvent(new Event('input'));"
        " document.body.setAttribute('data-after-text', document.getElementById('shown-count').textContent"
        "   + ' ' + window.location.hash);"
        "}());"
    )
    page = tmp_path / "driven.html"
    page.write_text(csp_with((report_dir / "report.html").read_text(encoding="utf-8"), driver), encoding="utf-8")
    dom = Dom(dump_dom(chromium, page, tmp_path / "profile"))
    report = report_json(report_dir)
    hosts = [r["host"] for r in report["records"]]

    def natural(host):
        return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", host)]

    assert dom.body["data-host-asc"].split("|") == sorted(hosts, key=natural)
    assert dom.body["data-host-desc"].split("|") == sorted(hosts, key=natural, reverse=True)
    ranks = [fr.STATUSES.index(s) for s in dom.body["data-status-asc"].split("|")]
    assert ranks == sorted(ranks) and len(ranks) == len(hosts)
    assert dom.body["data-after-select"] == f"{report['by_status']['healthy']} #status=healthy"
    assert dom.body["data-after-text"] == "1 #status=healthy&q=0004"


def test_an_injected_script_would_not_run(chromium, report_dir, tmp_path):
    """Defence in depth: the CSP only allows the page's own script, by hash."""
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    page = tmp_path / "injected.html"
    page.write_text(text.replace("</body>", "<script>document.body.setAttribute('data-pwned','1')</script></body>"),
                    encoding="utf-8")
    dom = Dom(dump_dom(chromium, page, tmp_path / "profile"))
    assert "data-pwned" not in dom.body
    assert "hidden" not in dom.by_id["controls"]  # the page's own script still ran


def test_page_reads_without_its_script(chromium, report_dir, tmp_path):
    """With scripts blocked (CSP script-src 'none') every row is listed and the counts are there."""
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    page = tmp_path / "noscript.html"
    page.write_text(re.sub(r"script-src '[^']+'", "script-src 'none'", text, count=1), encoding="utf-8")
    dom = Dom(dump_dom(chromium, page, tmp_path / "profile", "#status=fixed"))
    report = report_json(report_dir)
    assert "hidden" in dom.by_id["controls"]
    assert len(dom.visible_rows()) == report["hosts"]
    assert dom.status_counts == report["by_status"]


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of an 8-bit RGB(A) PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour = header
    assert depth == 8 and colour in (2, 6), header
    return width, height, zlib.decompress(idat)


def test_screenshot_is_a_full_non_blank_page(chromium, report_dir, tmp_path):
    shot = tmp_path / "report.png"
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1400,1600", f"--screenshot={shot}",
                           (report_dir / "report.html").resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1400, 1600)
    # Cards, bars and badges are coloured: a blank or failed render has only a few distinct byte values.
    assert len(set(pixels)) > 100
    keep = os.environ.get("REPORT_SCREENSHOT")
    if keep:  # to look at it: REPORT_SCREENSHOT=/tmp/report.png pytest tests/browser
        shutil.copyfile(shot, keep)


@pytest.fixture(scope="module")
def journal_dir(tmp_path_factory) -> Path:
    """Records the way the per-host action journals them: a fix, its verification, a dry run, an interrupted
    import, run metadata, and one truncated file that must be set aside."""
    folder = tmp_path_factory.mktemp("journal")
    fixed = {"status": "fixed", "verdict": "untrusted_root", "error_before": UNTRUSTED_ROOT, "error_after": NO_ERROR,
             "missing": [ROOT], "action": "import", "imported": [ROOT], "reason": "Imported 1 certificate(s)."}
    fr.write_fleet_report(str(folder), [dict(fixed, host="laptop-0001"), dict(fixed, host="laptop-0002")],
                          run_id="awx-4711", mode="remediate", now=NOW)
    (folder / "runs" / "awx-4711" / ".run.json").write_text(json.dumps({
        "run_id": "awx-4711", "mode": "remediate", "check_mode": False, "started_at": "2026-03-01T09:59:00Z",
        "awx_job_id": "4711", "user": "ops@corp", "playbook": "remediate.yml", "hosts": 3}))
    (folder / "runs" / "awx-4711" / "laptop-0003.json").write_text('{"host": "laptop-0003", "run_id": "awx-47')
    later = NOW + datetime.timedelta(days=1)
    fr.write_fleet_report(str(folder), [
        {"host": "laptop-0001", "status": "healthy", "verdict": "trusted", "error_before": NO_ERROR},
        {"host": "laptop-0004", "status": "in_progress", "action": "import", "attempted": [ROOT],
         "reason": "The run stopped while importing.", "detail": "KeyboardInterrupt"},
    ], run_id="awx-4712", mode="remediate", now=later)
    fr.write_fleet_report(str(folder), [{"host": "laptop-0002", "status": "healthy"}], run_id="dry-1",
                          mode="check", now=later + datetime.timedelta(hours=1))
    return folder


def test_the_journal_report_reads_in_a_browser(chromium, journal_dir, tmp_path):
    report = report_json(journal_dir)
    text = dump_dom(chromium, journal_dir / "report.html", tmp_path)
    dom = Dom(text)
    assert dom.text_of["#outcome"] == report["outcome"] == "1 fixed, 1 needs attention (1 interrupted), 1 healthy."
    assert dom.status_counts == report["by_status"]
    # The dry run did not replace the fix; the verified host shows both facts.
    assert {row["data-host"]: row["data-status"] for row in dom.rows} == {
        "laptop-0001": "healthy", "laptop-0002": "fixed", "laptop-0004": "in_progress"}
    assert {row["data-host"]: row.get("data-last-change") for row in dom.rows}["laptop-0001"] == "awx-4711"
    # Certificates deployed, who ran what, the file set aside, a meaning for every status.
    assert re.search(rf'<tr data-store="Root" data-thumbprint="{ROOT["thumbprint"]}" data-hosts="3">', text)
    assert re.search(r'<tr data-run-id="awx-4711" data-check-mode="false">.*?AWX job <code>4711</code><br>ops@corp',
                     text, re.S)
    assert 'data-run-id="dry-1" data-check-mode="true"' in text
    assert f'data-path="{journal_dir / "runs" / "awx-4711" / "laptop-0003.json"}"' in text
    assert re.findall(r"<dt>([a-z_]+)</dt>", text) == list(fr.STATUSES)
    # Raw text is there but folded away behind the reason.
    assert re.search(r"<details class=\"detail\"><summary>Technical detail</summary><pre>KeyboardInterrupt</pre>",
                     text)
    assert "hidden" not in dom.by_id["controls"]  # the script still runs under the CSP
