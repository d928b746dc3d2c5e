"""The "Browser" section of report.html and summary.md: web vitals per page, p75 against the budget."""

from __future__ import annotations

from html import escape
from typing import Any

from tabulate import tabulate

from loadorch.report.charts import Series, line_chart

COLUMNS = (("lcp", "LCP p75"), ("fcp", "FCP p75"), ("ttfb", "TTFB p75"), ("inp", "INP p75"), ("cls", "CLS p75"))
CHARTED = (("lcp", "LCP", "ms"), ("inp", "INP", "ms"), ("cls", "CLS", ""))


def _value(vital: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if vital == "cls" else f"{v:.0f} ms"


def page_rows(doc: dict[str, Any]) -> list[list[str]]:
    browser = doc.get("browser") or {}
    budgets = browser.get("budgets_p75", {})
    rows = []
    for page, info in sorted((browser.get("pages") or {}).items()):
        row = [page, str(info.get("views") or 0), f"{info.get('failed_steps', 0)}/{info.get('steps', 0)}"]
        for vital, _ in COLUMNS:
            p75 = (info["vitals"].get(vital) or {}).get("p75")
            mark = ""
            if p75 is not None and vital in budgets:
                mark = " ✓" if p75 < budgets[vital] else " ✗"
            row.append(_value(vital, p75) + mark)
        rows.append(row)
    if rows and budgets:
        rows.append(["budget (p75)", "", "", *[_value(v, budgets.get(v)) if v in budgets else "" for v, _ in COLUMNS]])
    return rows


HEAD = ["page", "views", "failed steps", *[label for _, label in COLUMNS]]


def markdown_section(doc: dict[str, Any]) -> list[str]:
    browser = doc.get("browser")
    if not browser:
        return []
    out = ["### Browser", ""]
    rows = page_rows(doc)
    if rows:
        out += [tabulate(rows, HEAD, tablefmt="github"), ""]
    for b in browser.get("blocked", [])[:10]:
        out.append(f"- blocked (outside allowed_hosts): {b['url']} on page {b['page'] or '?'} ({b['count']}x)")
    for f in browser.get("failures", [])[:10]:
        out.append(f"- failed: {f['user']}, {f['reason']} ({f['count']}x)")
    return [*out, ""] if out[-1] else out


def html_section(doc: dict[str, Any]) -> str:
    browser = doc.get("browser")
    if not browser:
        return ""
    parts = ["<h2>Browser</h2>"]
    rows = page_rows(doc)
    if rows:
        head = "".join(f"<th>{escape(h)}</th>" for h in HEAD)
        body = "".join(
            "<tr>" + "".join(f"<td{' class=num' if i else ''}>{escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
            for r in rows
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    series = browser.get("timeseries") or []
    if series:
        pages = sorted({r["page"] for r in series})
        charts = []
        for vital, label, unit in CHARTED:
            lines = [
                Series(page, [(r["t_s"], r["p75"]) for r in series if r["page"] == page and r["vital"] == vital])
                for page in pages
            ]
            if any(line.points for line in lines):
                charts.append(line_chart(f"{label} p75 per page", lines, unit))
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    lists = [
        f"<li>blocked (outside allowed_hosts): {escape(b['url'])} on page {escape(b['page'] or '?')} "
        f"({b['count']}x)</li>"
        for b in browser.get("blocked", [])[:20]
    ] + [
        f"<li>failed: {escape(f['user'])}, {escape(f['reason'])} ({f['count']}x)</li>"
        for f in browser.get("failures", [])[:20]
    ]
    if lists:
        parts.append("<ul>" + "".join(lists) + "</ul>")
    return "".join(parts)
