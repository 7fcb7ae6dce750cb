# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's CSV and HTML: pure functions that take the aggregate (build_report's dict) and return text.

Internal to directaccess.iphttps; may change without notice. _fleet_report validates, merges and writes;
this module only renders. The formats are documented in docs/report.md. Pure: no Ansible imports.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import os
import re
import string
import typing as t

from ansible_collections.directaccess.iphttps.plugins.plugin_utils._fleet_report import (
    NO_VERDICT,
    STATUSES,
    FleetReportError,
)

# The HTML legend and the status cards' tooltips: one line for each of STATUSES.
STATUS_MEANINGS = {
    "healthy": "The client trusts the IP-HTTPS chain and reports no error; left alone.",
    "fixed": "Missing CA certificates were imported and IP-HTTPS now reports 0x0.",
    "would_fix": "Importing CA certificates from the bundle would fix this client (dry run or diagnosis).",
    "fix_failed": "An import was needed but failed, or IP-HTTPS did not reach 0x0 after it.",
    "unfixable": "The problem is not one an import can fix: see the verdict and the remedy.",
    "not_directaccess": "The host has no IP-HTTPS client configuration.",
    "unreachable": "No answer over WinRM, or the host dropped out of the play before its record was made.",
    "failed": "A step failed on this host: see the reason.",
    "removed": "A rollback removed the certificates an earlier run had imported.",
    "would_break": "Preflight: the client would not trust the candidate server chain.",
    "would_trust": "Preflight: the client would trust the candidate server chain.",
}

CSV_COLUMNS = ("host", "status", "verdict", "mode", "run_id", "recorded_at", "error_before_hex", "error_before_name",
               "error_after_hex", "error_after_name", "action", "missing", "imported", "removed", "elapsed",
               "reason", "remedy", "filled_in")

# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report_template.html")


def render_csv(report: dict) -> str:
    """One row per host, columns CSV_COLUMNS; lists joined with ';' (RFC 4180 quoting, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in report["records"]:
        before_hex, before_name = _error_text(record["error_before"])
        after_hex, after_name = _error_text(record["error_after"])
        row = {
            "host": record["host"], "status": record["status"], "verdict": record["verdict"] or "",
            "mode": record["mode"], "run_id": record["run_id"], "recorded_at": record["recorded_at"],
            "error_before_hex": before_hex, "error_before_name": before_name,
            "error_after_hex": after_hex, "error_after_name": after_name,
            "action": record["action"], "missing": _joined(record["missing"]),
            "imported": _joined(record["imported"]), "removed": _joined(record["removed"]),
            "elapsed": "" if record["elapsed"] is None else f"{record['elapsed']:g}",
            "reason": record["reason"], "remedy": record["remedy"],
            "filled_in": "true" if record["filled_in"] else "false",
        }
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def render_html(report: dict, template: str | None = None) -> str:
    """One self-contained page: no network, its own CSS and script allowed by hash in its CSP."""
    if template is None:
        with open(_TEMPLATE, encoding="utf-8") as handle:
            template = handle.read()
    style, script = _block(template, "style"), _block(template, "script")
    records = report["records"]
    values = {
        "csp": (f"default-src 'none'; style-src '{_csp_hash(style)}'; script-src '{_csp_hash(script)}'; "
                "img-src data:; base-uri 'none'; form-action 'none'"),
        "title": _esc(report["title"]),
        "generated_at": _esc(report["generated_at"]),
        "host_count": str(report["hosts"]),
        "run_count": str(len(report["runs"])),
        "status_cards": "\n".join(_status_card(status, count) for status, count in report["by_status"].items()),
        "verdict_cards": "\n".join(
            f'<div class="card verdict"><span class="count" data-verdict-count="{_esc(verdict)}">{count}</span>'
            f'<span class="label">{"no verdict" if verdict == NO_VERDICT else _esc(verdict).replace("_", "_<wbr>")}'
            '</span></div>'
            for verdict, count in report["by_verdict"].items())
        or '<p class="empty">No hosts.</p>',
        "chart": _chart(report["by_status"]),
        "status_options": "\n".join(
            f'<option value="{_esc(status)}">{_esc(status)} ({count})</option>'
            for status, count in report["by_status"].items()),
        "rows": "\n".join(_row(record) for record in records),
        "empty_row": "" if records else '<tr><td colspan="9" class="empty">No hosts in this report.</td></tr>',
        "runs": "\n".join(_run_row(run) for run in report["runs"]),
        "legend": "\n".join(f"<dt>{_esc(status)}</dt><dd>{_esc(meaning)}</dd>"
                            for status, meaning in STATUS_MEANINGS.items()),
    }
    try:
        return string.Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise FleetReportError(f"report_template.html: bad placeholder {exc}") from None


def _status_card(status: str, count: int) -> str:
    zero = " zero" if not count else ""
    return (f'<div class="card st-{status}{zero}" title="{_esc(STATUS_MEANINGS[status])}">'
            f'<span class="count" data-status-count="{status}">{count}</span>'
            f'<span class="label">{status.replace("_", "_<wbr>")}</span></div>')


def _chart(by_status: dict[str, int]) -> str:
    """Horizontal bars, one per status, the number at the end of each bar."""
    label_width, bar_width, row, pad = 140, 420, 26, 8
    most = max(by_status.values()) or 1
    height = pad * 2 + row * len(by_status)
    parts = [f'<svg id="status-chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{label_width + bar_width + 60}" '
             f'height="{height}" viewBox="0 0 {label_width + bar_width + 60} {height}" '
             f'aria-label="Hosts per status">']
    for index, (status, count) in enumerate(by_status.items()):
        y = pad + index * row
        width = round(bar_width * count / most) if count else 0
        parts.append(
            f'<g data-status-bar="{status}" data-count="{count}">'
            f'<title>{status}: {count}</title>'
            f'<text class="axis" x="{label_width - 8}" y="{y + 17}" text-anchor="end">{status}</text>'
            f'<rect class="bar st-{status}" x="{label_width}" y="{y + 4}" width="{max(width, 1)}" height="{row - 8}" '
            f'rx="3"/>'
            f'<text class="num" x="{label_width + max(width, 1) + 6}" y="{y + 17}">{count}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def _row(record: dict) -> str:
    status, verdict = record["status"], record["verdict"] or ""
    certs = [_cert_item(entry, removed=False) for entry in record["imported"]]
    certs += [_cert_item(entry, removed=True) for entry in record["removed"]]
    missing = "; ".join(_describe(entry, short=True) for entry in record["missing"])
    notes = [f'<p class="reason">{_esc(record["reason"])}</p>' if record["reason"] else "",
             f'<p class="remedy"><b>Remedy:</b> {_esc(record["remedy"])}</p>' if record["remedy"] else "",
             f'<p class="missing"><b>Missing:</b> {_esc(missing)}</p>' if missing else ""]
    cells = [
        # <wbr> lets a long FQDN wrap at its dots rather than mid-label.
        f'<td class="host" data-sort="{_esc(record["host"])}">{_esc(record["host"]).replace(".", ".<wbr>")}</td>',
        f'<td data-sort="{STATUSES.index(status):02d}"><span class="badge st-{status}">{status}</span></td>',
        f'<td data-sort="{_esc(verdict)}">{_esc(verdict) or "&mdash;"}</td>',
        _error_cell(record["error_before"]),
        _error_cell(record["error_after"]),
        f'<td data-sort="{_esc(record["action"])}">{_esc(record["action"])}</td>',
        f'<td data-sort="{len(record["imported"]) + len(record["removed"]):04d}">'
        f'{"<ul>" + "".join(certs) + "</ul>" if certs else "&mdash;"}</td>',
        f'<td class="notes" data-sort="{_esc(record["reason"])}">{"".join(notes) or "&mdash;"}</td>',
        f'<td class="when" data-sort="{_esc(record["recorded_at"])}" title="{_esc(record["recorded_at"])}">'
        f'{_esc(record["recorded_at"][:10])}<br>{_esc(record["recorded_at"][11:19])}Z'
        f'<br><span class="run">{_esc(record["run_id"])}</span></td>',
    ]
    return (f'<tr data-host="{_esc(record["host"])}" data-status="{status}" '
            f'data-filled-in="{"true" if record["filled_in"] else "false"}">'
            + "".join(cells) + "</tr>")


def _cert_item(entry: dict, removed: bool) -> str:
    css, sign = (' class="removed"', "&minus;") if removed else ("", "+")
    return (f'<li{css} title="{_esc(_describe(entry))}">{sign} {_esc(entry["store"])} '
            f'{_esc(entry["thumbprint"][:8])}&hellip;</li>')


def _error_cell(error: dict | None) -> str:
    if not error:
        return '<td data-sort="">&mdash;</td>'
    hex_code, name = _error_text(error)
    return (f'<td class="error" data-sort="{_esc(hex_code)}"><code>{_esc(hex_code)}</code>'
            f'{"<br>" + _esc(name) if name else ""}</td>')


def _run_row(run: dict) -> str:
    return (f'<tr><td><code>{_esc(run["run_id"])}</code></td><td>{_esc(", ".join(run["modes"]))}</td>'
            f'<td>{run["hosts"]}</td><td>{run["current"]}</td>'
            f'<td>{_esc(run["first_recorded_at"] or "")} &ndash; {_esc(run["last_recorded_at"] or "")}</td></tr>')


def _block(template: str, tag: str) -> str:
    found = re.findall(rf"^<{tag}>(.*?)^</{tag}>$", template, flags=re.S | re.M)
    if len(found) != 1:
        raise FleetReportError(f"report_template.html: needs exactly one <{tag}> block, found {len(found)}")
    if "$" in found[0]:
        # string.Template would rewrite it, and the CSP hash would no longer match.
        raise FleetReportError(f"report_template.html: the <{tag}> block must not contain '$'")
    return found[0]


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


# ---------------------------------------------------------------------------------------------------- small helpers


def _error_text(error: dict | None) -> tuple[str, str]:
    """The hex code and the name of a record's error_before or error_after, empty where there is none."""
    error = error or {}
    return error.get("hex") or "", error.get("name") or ""


def _describe(entry: dict, short: bool = False) -> str:
    thumb = entry["thumbprint"]
    parts = [entry["store"], (thumb[:8] + "\u2026" if short else thumb) if thumb else "(thumbprint unknown)"]
    if entry.get("subject"):
        parts.append(entry["subject"])
    return " ".join(parts)


def _joined(entries: list[dict]) -> str:
    items = []
    for entry in entries:
        if entry["thumbprint"]:
            items.append(f"{entry['store']}\\{entry['thumbprint']}")
        else:
            subject = (entry.get("subject") or "?").replace(";", "\\;")
            items.append(f"{entry['store']}\\({subject})")
    return ";".join(items)


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _esc(value: t.Any) -> str:
    return html.escape(str(value), quote=True)
