"""The "Browser" section of report.html and summary.md: web vitals per page, p75 against the budget."""

from __future__ import annotations

from html import escape

from loadorch.report.charts import Series, line_chart
from loadorch.report.markdown import md_cell, md_table
from loadorch.results import Browser

COLUMNS = (("lcp", "LCP p75"), ("fcp", "FCP p75"), ("ttfb", "TTFB p75"), ("inp", "INP p75"), ("cls", "CLS p75"))
CHARTED = (("lcp", "LCP", "ms"), ("inp", "INP", "ms"), ("cls", "CLS", ""))


def _value(vital: str, v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if vital == "cls" else f"{v:.0f} ms"


def page_rows(browser: Browser) -> list[list[str]]:
    budgets = browser.budgets_p75
    rows = []
    for page, info in sorted(browser.pages.items()):
        row = [page, str(info.views or 0), f"{info.failed_steps}/{info.steps}"]
        for vital, _ in COLUMNS:
            seen = info.vitals.get(vital)
            p75 = seen.p75 if seen else None
            mark = ""
            if p75 is not None and vital in budgets:
                mark = " ✓" if p75 < budgets[vital] else " ✗"
            row.append(_value(vital, p75) + mark)
        rows.append(row)
    if rows and budgets:
        rows.append(["budget (p75)", "", "", *[_value(v, budgets.get(v)) if v in budgets else "" for v, _ in COLUMNS]])
    return rows


HEAD = ["page", "views", "failed steps", *[label for _, label in COLUMNS]]
WEIGHT_HEAD = ["page", "resource type", "requests p75", "transferred p75", "decoded p75", "transferred max"]


def _bytes(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1024:.1f} KiB" if v >= 1024 else f"{v:.0f} bytes"


def weight_rows(browser: Browser) -> list[list[str]]:
    """Each page's weight per resource type it had, over its views (p75 and the heaviest view)."""
    rows = []
    for page, info in sorted(browser.pages.items()):
        for kind, w in info.weight.items():
            requests = "-" if w.requests.p75 is None else f"{w.requests.p75:g}"
            rows.append([page, kind, requests, _bytes(w.bytes.p75), _bytes(w.decoded_bytes.p75), _bytes(w.bytes.max)])
    return rows


def markdown_section(browser: Browser | None) -> list[str]:
    """The section of summary.md; its cells and lines escaped (report/markdown.py): page names come from the
    scenario, the blocked URLs and failure reasons from the target's pages (`https://x.test/[a](https://y.test)`
    or `![](...)` in a URL a page asked for was a link or an image on the job's summary page)."""
    if not browser:
        return []
    out = ["### Browser", ""]
    rows = page_rows(browser)
    if rows:
        out += [md_table(rows, HEAD), ""]
    weight = weight_rows(browser)
    if weight:
        out += ["Page weight per view:", "", md_table(weight, WEIGHT_HEAD), ""]
    for b in browser.blocked[:10]:
        out.append(md_cell(f"- blocked (outside allowed_hosts): {b.url} on page {b.page or '?'} ({b.count}x)"))
    for f in browser.failures[:10]:
        out.append(md_cell(f"- failed: {f.user}, {f.reason} ({f.count}x)"))
    return [*out, ""] if out[-1] else out


def html_section(browser: Browser | None) -> str:
    if not browser:
        return ""
    parts = ["<h2>Browser</h2>"]
    rows = page_rows(browser)
    if rows:
        head = "".join(f"<th>{escape(h)}</th>" for h in HEAD)
        body = "".join(
            "<tr>" + "".join(f"<td{' class=num' if i else ''}>{escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
            for r in rows
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    weight = weight_rows(browser)
    if weight:
        head = "".join(f"<th>{escape(h)}</th>" for h in WEIGHT_HEAD)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in weight)
        parts.append(f"<h3>Page weight per view</h3><table><tr>{head}</tr>{body}</table>")
    series = browser.timeseries
    if series:
        pages = sorted({r.page for r in series})
        charts = []
        for vital, label, unit in CHARTED:
            drawn = [r for r in series if r.vital == vital]
            lines = [
                Series(page, [(r.t_s, r.p75) for r in drawn if r.page == page and r.p75 is not None]) for page in pages
            ]
            if any(line.points for line in lines):
                charts.append(line_chart(f"{label} p75 per page", lines, unit))
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    lists = [
        f"<li>blocked (outside allowed_hosts): {escape(b.url)} on page {escape(b.page or '?')} ({b.count}x)</li>"
        for b in browser.blocked[:20]
    ] + [f"<li>failed: {escape(f.user)}, {escape(f.reason)} ({f.count}x)</li>" for f in browser.failures[:20]]
    if lists:
        parts.append("<ul>" + "".join(lists) + "</ul>")
    return "".join(parts)
