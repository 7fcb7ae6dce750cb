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
    ATTENTION_STATUSES,
    NO_VERDICT,
    SERVER_SIDE_STATUSES,
    STATUSES,
    FleetReportError,
    outcome_sentence,
)

# The HTML legend, the status cards' tooltips and the console: one line for each of STATUSES.
STATUS_MEANINGS = {
    "healthy": "The client trusts the IP-HTTPS chain and reports no error; left alone.",
    "fixed": "Missing CA certificates were imported (or iphlpsvc restarted) and IP-HTTPS now reports 0x0.",
    "already_present": "An import was planned, but the host already held every certificate: nothing was imported.",
    "would_fix": "Importing CA certificates from the bundle would fix this client (dry run or diagnosis).",
    "restart_pending": "The chain is trusted, but IP-HTTPS still reports a trust error: iphlpsvc was never restarted "
                       "after the certificates arrived. Remediate restarts it.",
    "fix_failed": "An import was needed but failed, or IP-HTTPS did not reach 0x0 after it.",
    "in_progress": "The run stopped while importing (interrupted, crashed or lost the host): the certificates it "
                   "attempted may be on the host. Run remediate again, or roll the run back.",
    "service_stopped": "The IP Helper service (iphlpsvc) is stopped or disabled on this DirectAccess client; left "
                       "alone unless the run was asked to start it.",
    "unfixable": "The problem is not one an import can fix: see the verdict and the remedy.",
    "not_directaccess": "The host has no IP-HTTPS client configuration; nothing was imported or restarted.",
    "unreachable": "No answer over WinRM, or the host dropped out of the play before its record was made.",
    "failed": "A step failed on this host: see the reason.",
    "removed": "A rollback removed the certificates an earlier run had imported; IP-HTTPS is expected to fail "
               "again until the client trusts the chain another way.",
    "would_remove": "A dry run of the rollback: these certificates would be removed.",
    "nothing_to_remove": "The rollback left the host alone: the named run imported nothing here, or it was gone.",
    "would_break": "Preflight: the client would not trust the candidate server chain.",
    "would_trust": "Preflight: the client would trust the candidate server chain.",
}
# Where the missing certificates are history, not a problem still open.
_MISSING_WAS = ("fixed", "already_present", "restart_pending")
NEEDS_SOMEONE = ATTENTION_STATUSES + SERVER_SIDE_STATUSES
# The console lists every host of a run up to this many records, then only the hosts that need someone.
CONSOLE_FULL_TABLE = 40
CONSOLE_PER_STATUS = 100
CONSOLE_REJECTED = 10

CSV_COLUMNS = ("host", "status", "verdict", "mode", "run_id", "recorded_at", "error_before_hex", "error_before_name",
               "error_after_hex", "error_after_name", "action", "missing", "imported", "removed", "elapsed",
               "reason", "remedy", "filled_in",
               # Added with schema 2, at the end so existing column positions hold.
               "attempted", "detail", "service_before", "service_started", "check_mode", "last_change_status",
               "last_change_run_id", "last_change_recorded_at", "deployed_on_host")

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
        change = record["last_change"] or {}
        row = {
            "host": record["host"], "status": record["status"], "verdict": record["verdict"] or "",
            "mode": record["mode"], "run_id": record["run_id"], "recorded_at": record["recorded_at"],
            "error_before_hex": before_hex, "error_before_name": before_name,
            "error_after_hex": after_hex, "error_after_name": after_name,
            "action": record["action"], "missing": _joined(record["missing"]),
            "imported": _joined(record["imported"]), "removed": _joined(record["removed"]),
            "elapsed": "" if record["elapsed"] is None else f"{record['elapsed']:g}",
            "reason": record["reason"], "remedy": record["remedy"],
            "filled_in": _bool(record["filled_in"]),
            "attempted": _joined(record["attempted"]), "detail": record["detail"],
            "service_before": record["service_before"] or "", "service_started": _bool(record["service_started"]),
            "check_mode": _bool(record["check_mode"]),
            "last_change_status": change.get("status", ""), "last_change_run_id": change.get("run_id", ""),
            "last_change_recorded_at": change.get("recorded_at", ""),
            "deployed_on_host": _joined(record["deployed_on_host"]),
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
        "outcome": _esc(report["outcome"]),
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
        "deployed": "\n".join(_deployed_row(entry) for entry in report["deployed"])
        or '<tr><td colspan="4" class="empty">None: these runs left no certificate on any host.</td></tr>',
        "rejected": _rejected_section(report["rejected"]),
        "legend": "\n".join(f"<dt>{_esc(status)}</dt><dd>{_esc(meaning)}</dd>"
                            for status, meaning in STATUS_MEANINGS.items()),
    }
    try:
        return string.Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise FleetReportError(f"report_template.html: bad placeholder {exc}") from None


def console_lines(run_records: t.Sequence[dict], *, run_id: str, report: dict | None = None,
                  report_path: str = "", full_table: int = CONSOLE_FULL_TABLE,
                  per_status: int = CONSOLE_PER_STATUS) -> list[str]:
    """What a playbook prints at its end: this run's hosts, its counts, the report's outcome and where it is.

    ``run_records`` are the run's records, one per host. Up to ``full_table`` of them are listed in full (host,
    before, action, after, status); beyond that only the hosts that need someone, grouped by status, at most
    ``per_status`` per status, so 500 hosts still fit a screen or an AWX job log.
    """
    counts = {status: 0 for status in STATUSES}
    for record in run_records:
        counts[record["status"]] += 1
    plans = bool(run_records) and all(record["check_mode"] for record in run_records)
    modes = ", ".join(sorted({record["mode"] for record in run_records}) + (["check mode"] if plans else []))
    if not run_records:
        lines = [f"Run {run_id}: no host records."]
    elif len(run_records) <= full_table:
        lines = [f"Run {run_id} ({modes}): {len(run_records)} host(s)"] + _console_table(run_records)
    else:
        needing = [record for record in run_records if record["status"] in NEEDS_SOMEONE]
        lines = [f"Run {run_id} ({modes}): {len(run_records)} hosts; the {len(needing)} that need someone, by status "
                 f"(report.html lists every host):"]
        for status in (status for status in STATUSES if status in NEEDS_SOMEONE and counts[status]):
            group = [record for record in needing if record["status"] == status]
            lines.append(f"{status} ({len(group)}): {STATUS_MEANINGS[status]}")
            lines += _console_table(group[:per_status])
            if len(group) > per_status:
                lines.append(f"  ... and {len(group) - per_status} more")
    if run_records:
        lines.append("Per status: " + ", ".join(f"{status} {count}" for status, count in counts.items() if count))
        lines.append(f"This run: {outcome_sentence(counts)}")
    if report is not None:
        lines.append(f"Fleet report ({report['hosts']} hosts, {len(report['runs'])} run(s)): {report['outcome']}")
        rejected = report["rejected"]
        if rejected:
            lines.append(f"Set aside {len(rejected)} file(s) or record(s) that did not validate; every other record "
                         f"counts (report.json 'rejected'):")
            lines += [f"  {_console_text(entry['path'])}: {_console_text(_rejected_reason(entry), 240)}"
                      for entry in rejected[:CONSOLE_REJECTED]]
            if len(rejected) > CONSOLE_REJECTED:
                lines.append(f"  ... and {len(rejected) - CONSOLE_REJECTED} more")
    if report_path:
        lines.append(f"Report: {_console_text(report_path)}")
    return lines


def _console_table(records: t.Sequence[dict]) -> list[str]:
    rows = [("host", "before", "action", "after", "status")]
    for record in records:
        action = record["action"] + ("; started iphlpsvc" if record["service_started"] else "")
        rows.append((record["host"], _error_text(record["error_before"])[0] or "-", action,
                     _error_text(record["error_after"])[0] or "-", record["status"]))
    # A very long host name pushes its own line out rather than every line.
    widths = [min(max(len(row[column]) for row in rows), 48) for column in range(4)]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4] for row in rows]


def _console_text(text: str, most: int = 0) -> str:
    """One console line: control characters (a file name may hold a newline) shown as '?', long text cut."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", text)
    return text if not most or len(text) <= most else text[:most - 3] + "..."


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
    certs = [_cert_item(entry, "") for entry in record["imported"]]
    certs += [_cert_item(entry, "removed") for entry in record["removed"]]
    imported = {(entry["store"], entry["thumbprint"]) for entry in record["imported"]}
    certs += [_cert_item(entry, "attempted") for entry in record["attempted"]
              if (entry["store"], entry["thumbprint"]) not in imported]
    missing = "; ".join(_describe(entry, short=True) for entry in record["missing"])
    missing_label = "Was missing" if status in _MISSING_WAS else "Missing"
    notes = [f'<p class="reason">{_esc(record["reason"])}</p>' if record["reason"] else "",
             _service_note(record),
             f'<p class="remedy"><b>Remedy:</b> {_esc(record["remedy"])}</p>' if record["remedy"] else "",
             f'<p class="missing"><b>{missing_label}:</b> {_esc(missing)}</p>' if missing else "",
             # Raw exception or PowerShell text, for whoever digs further; the reason above is for people.
             f'<details class="detail"><summary>Technical detail</summary><pre>{_esc(record["detail"])}</pre>'
             '</details>' if record["detail"] else ""]
    cells = [
        # <wbr> lets a long FQDN wrap at its dots rather than mid-label.
        f'<td class="host" data-sort="{_esc(record["host"])}">{_esc(record["host"]).replace(".", ".<wbr>")}</td>',
        f'<td data-sort="{STATUSES.index(status):02d}"><span class="badge st-{status}">{status}</span>'
        f'{_plan_note(record)}{_last_change_note(record["last_change"])}</td>',
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
            f'data-filled-in="{_bool(record["filled_in"])}" data-plan="{_bool(record["check_mode"])}"'
            f'{_last_change_attr(record["last_change"])}>'
            + "".join(cells) + "</tr>")


def _cert_item(entry: dict, kind: str) -> str:
    css, sign, note = {"": ("", "+", ""), "removed": (' class="removed"', "&minus;", ""),
                       "attempted": (' class="attempted"', "?", " (sent; may be on the host)")}[kind]
    return (f'<li{css} title="{_esc(_describe(entry) + note)}">{sign} {_esc(entry["store"])} '
            f'{_esc(entry["thumbprint"][:8])}&hellip;</li>')


def _plan_note(record: dict) -> str:
    return '<div class="plan">dry run</div>' if record["check_mode"] else ""


def _last_change_note(change: dict | None) -> str:
    """A host changed in one run and verified in a later one shows both facts."""
    if not change:
        return ""
    counts = [f"+{len(change['imported'])}" if change["imported"] else "",
              f"&minus;{len(change['removed'])}" if change["removed"] else ""]
    counted = " ".join(part for part in counts if part)
    return (f'<div class="last-change" title="{_esc(change["recorded_at"])}">{_esc(change["status"])} by '
            f'<code>{_esc(change["run_id"])}</code> on {_esc(change["recorded_at"][:10])}'
            f'{" (" + counted + ")" if counted else ""}</div>')


def _last_change_attr(change: dict | None) -> str:
    return f' data-last-change="{_esc(change["run_id"])}"' if change else ""


def _service_note(record: dict) -> str:
    if record["service_started"]:
        before = record["service_before"] or "not running"
        return f'<p class="service">iphlpsvc was {_esc(before)}; this run started it.</p>'
    if record["service_before"] and record["service_before"].casefold() != "running":
        return f'<p class="service">iphlpsvc is {_esc(record["service_before"])}.</p>'
    return ""


def _error_cell(error: dict | None) -> str:
    if not error:
        return '<td data-sort="">&mdash;</td>'
    hex_code, name = _error_text(error)
    return (f'<td class="error" data-sort="{_esc(hex_code)}"><code>{_esc(hex_code)}</code>'
            f'{"<br>" + _esc(name) if name else ""}</td>')


def _run_row(run: dict) -> str:
    """A run and who or what ran it (from its .run.json, where fleet_run wrote one)."""
    by = [f'AWX job <code>{_esc(run["awx_job_id"])}</code>' if run["awx_job_id"] else "",
          _esc(run["user"]) if run["user"] else "", _esc(run["playbook"]) if run["playbook"] else ""]
    modes = run["mode"] if run["mode"] and not run["modes"] else ", ".join(run["modes"])
    recorded = (f'{_esc(run["first_recorded_at"])} &ndash; {_esc(run["last_recorded_at"])}'
                if run["first_recorded_at"] else "no record yet")
    return (f'<tr data-run-id="{_esc(run["run_id"])}" data-check-mode="{_bool(run["check_mode"])}">'
            f'<td><code>{_esc(run["run_id"])}</code></td><td>{_esc(modes)}</td>'
            f'<td>{"yes" if run["check_mode"] else "no"}</td>'
            f'<td class="run-by">{"<br>".join(part for part in by if part) or "&mdash;"}</td>'
            f'<td>{_esc(run["started_at"] or "")}</td>'
            f'<td>{run["hosts"]}{"" if run["play_hosts"] is None else " of " + str(run["play_hosts"])}</td>'
            f'<td>{run["current"]}</td><td>{recorded}</td></tr>')


def _deployed_row(entry: dict) -> str:
    return (f'<tr data-store="{_esc(entry["store"])}" data-thumbprint="{_esc(entry["thumbprint"])}" '
            f'data-hosts="{entry["hosts"]}"><td>{_esc(entry["store"])}</td><td>{_esc(entry["subject"] or "")}</td>'
            f'<td><code>{_esc(entry["thumbprint"])}</code></td><td>{entry["hosts"]}</td></tr>')


def _rejected_section(rejected: list[dict]) -> str:
    if not rejected:
        return ""
    items = "\n".join(f'<li data-path="{_esc(entry["path"])}"><code>{_esc(entry["path"])}</code><br>'
                      f'{_esc(_rejected_reason(entry))}</li>' for entry in rejected)
    return ('<section aria-labelledby="h-rejected" id="rejected">\n'
            f'<h2 id="h-rejected">Set aside: {len(rejected)} file(s) or record(s) that did not validate</h2>\n'
            '<p class="meta">Every other record still counts. Fix or remove these, then run the report again.</p>\n'
            f'<ul class="rejected">\n{items}\n</ul>\n</section>')


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


def _rejected_reason(entry: dict) -> str:
    """The reason without the path it starts with, which is shown beside it."""
    path, reason = entry["path"], entry["reason"]
    return reason[len(path):].lstrip(": ") if reason.startswith(path) and len(reason) > len(path) else reason


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _esc(value: t.Any) -> str:
    return html.escape(str(value), quote=True)
