"""compare.html: two runs on one page (overlaid spectra, p95 change bars with noise, goals, web vitals and
database rows, the verdict); self-contained."""

from __future__ import annotations

from html import escape

from loadorch.report.bars import Bar, change_bars
from loadorch.report.compare_evidence import html_part, regressions_evidence
from loadorch.report.compare_parts import browser_part, database_part
from loadorch.report.figures import overlay
from loadorch.report.html import CSP, CSS
from loadorch.results import Results
from loadorch.verdict.basis import basis
from loadorch.verdict.compare import ERROR_RATES, Comparison, Row

MAX_BARS = 40
MAX_SPECTRA = 12
BAR_METRIC = "p95"
_TAGS = {"regression": "fail", "improvement": "pass"}
_GOAL_TAGS = {"met": "pass", "missed": "fail", "inconclusive": "inconclusive"}


def top_changes(result: Comparison, n: int = 10) -> list[Row]:
    """Regressions (error rates too, whose change is in points), then improvements, then the largest relative
    latency changes."""
    rank = {"regression": 0, "improvement": 1}
    rows = [r for r in result.rows if r.verdict in rank or (r.change_pct is not None and r.verdict != "missing")]
    rows.sort(key=lambda r: (rank.get(r.verdict, 2), -abs(r.change_pct or 0.0), r.scope, r.name, r.metric))
    return rows[:n]


def bars_for(result: Comparison, scope: str) -> list[Bar]:
    """The p95 change per kind or endpoint, largest increase first (at most MAX_BARS, by size of change)."""
    rows = [r for r in result.rows if r.scope == scope and r.metric == BAR_METRIC and r.change is not None]
    rows = sorted(rows, key=lambda r: -abs(r.change or 0.0))[:MAX_BARS]
    rows.sort(key=lambda r: (-(r.change or 0.0), r.name))
    return [
        Bar(r.name, float(r.change or 0.0), r.noise_low, r.noise_high, r.verdict,
            f"p95 {r.baseline} -> {r.current} ms; {r.note}")
        for r in rows
    ]  # fmt: skip


def render_compare_html(
    base: Results, cur: Results, result: Comparison, base_label: str, cur_label: str, budgets: str
) -> str:
    verdict = result.headline()
    css = {"regression": "fail", "inconclusive": "inconclusive"}.get(result.verdict, "pass")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>loadorch compare: {escape(verdict.lower())}</title><style>{CSS}</style></head><body><main>",
        f'<h1>loadorch compare <span class="verdict {css}" id="verdict">{escape(verdict)}</span></h1>',
        f'<p class="meta">baseline {escape(base_label)} ({_when(base)}) &rarr; current {escape(cur_label)} '
        f"({_when(cur)})</p>",
        f'<p class="meta">{escape(budgets)}</p>',
        f'<p class="meta" id="compared">compared: {escape(result.basis)}</p>',
    ]
    if result.reason():
        parts.append(f'<p id="why"><strong>Why:</strong> {escape(result.reason())}</p>')
    if result.warnings:
        parts.append("<ul>" + "".join(f"<li>warning: {escape(w)}</li>" for w in result.warnings) + "</ul>")
    parts += [_goals(result), _changes_table(result), _one_run_only(result), _bars(result), _spectra(base, cur, result)]
    parts += [browser_part(result), database_part(base, cur, result)]
    parts.append(html_part(regressions_evidence(base, cur, result.rows)))  # where both runs have it
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _when(doc: Results) -> str:
    return escape(f"{doc.run.profile}, {doc.run.start}, verdict {doc.verdict}")


def _changes_table(result: Comparison) -> str:
    rows = top_changes(result)
    if not rows:
        return ""
    body = "".join(
        f'<tr><td><span class="tag {_tag(r)}">{escape(r.shown_verdict())}'
        f"</span></td><td>{escape(r.scope)}</td><td>{escape(r.name)}</td><td>{escape(r.metric)}</td>"
        f"<td class=num>{_num(r.baseline, r.metric)}</td><td class=num>{_num(r.current, r.metric)}</td>"
        f"<td class=num>{escape(r.shown_change())}</td></tr>"
        for r in rows
    )
    return (
        "<h2>Top changes</h2><table><tr><th></th><th>scope</th><th>name</th><th>metric</th><th>baseline</th>"
        f"<th>current</th><th>change</th></tr>{body}</table>"
    )


def _one_run_only(result: Comparison) -> str:
    """The endpoints in one run only: gone ones the baseline judged are undecided (unless allowed), new ones shown."""
    rows = [r for r in result.rows if r.scope == "endpoint" and r.metric == "requests" and r.verdict == "missing"]
    if not rows:
        return ""
    rows.sort(key=lambda r: (not r.undecided, r.baseline is None, r.name))  # the undecided first
    body = "".join(
        f'<tr><td><span class="tag {_tag(r)}">{"UNDECIDED" if r.undecided else "not gated"}</span></td>'
        f"<td>{escape(r.name)}</td><td class=num>{_num(r.baseline, r.metric)}</td>"
        f"<td class=num>{_num(r.current, r.metric)}</td><td>{escape(r.note)}</td></tr>"
        for r in rows[:MAX_BARS]
    )
    more = f'<p class="note">... and {len(rows) - MAX_BARS} more: compare.json lists them all.</p>' if len(
        rows) > MAX_BARS else ""  # fmt: skip
    return (
        '<h2>Endpoints in one run only</h2><table id="one-run-only"><tr><th></th><th>endpoint</th><th>baseline</th>'
        f"<th>current</th><th>what it means</th></tr>{body}</table>{more}"
    )


def _tag(r: Row) -> str:
    """The row's colour: a regression, an improvement, a row that cannot be decided, or none."""
    return _TAGS.get(r.verdict, "inconclusive" if r.undecided else "")


def _goals(result: Comparison) -> str:
    if not result.goals:
        return ""
    body = "".join(
        f'<tr><td><span class="tag {_GOAL_TAGS.get(g.verdict, "")}">{escape(g.verdict.upper())}</span>'
        f"</td><td>{escape(g.selector)}</td><td>{escape(g.goal)}</td><td>{escape(g.why)}</td></tr>"
        for g in result.goals
    )
    head = "<tr><th></th><th>selector</th><th>goal</th><th>figures</th></tr>"
    return f'<h2>Goals</h2><table id="goals">{head}{body}</table>'


def _num(v: float | None, metric: str) -> str:
    if v is None:
        return "-"
    if metric in ERROR_RATES:
        return f"{100 * v:.2f}%"
    if metric == "requests":
        return f"{v:.0f} requests"
    if metric == "db_queries_per_request":  # a count, as compare.md shows it
        return f"{v:.2f} queries/request"
    return f"{v:.3f}" if metric.startswith("cls") else f"{v:.1f} {'/s' if metric == 'rps' else 'ms'}"


def _bars(result: Comparison) -> str:
    charts = [
        change_bars(f"Change in {BAR_METRIC} per {scope}", bars_for(result, scope), chart_id=f"bars-{scope}")
        for scope in ("kind", "endpoint")
        if bars_for(result, scope)
    ]
    if not charts:
        return ""
    return (
        f'<h2>Change in {BAR_METRIC}</h2><p class="note">Largest increase first. A bar outside its grey band is '
        "larger than the noise (the two runs' 95 % intervals do not overlap); it counts as a regression when it "
        "also exceeds the budget.</p>" + "".join(charts)
    )


def _spectra(base: Results, cur: Results, result: Comparison) -> str:
    on = basis(base, cur)  # the same samples as the rows: both measurement windows when both runs have one
    bm, cm = on.base, on.cur
    charts = []
    for kind in sorted(set(base.kinds) & set(cur.kinds)):
        tags = (("kind", kind),)
        charts.append(overlay(bm.select(tags), cm.select(tags), f"{kind}: baseline vs current", f"overlay-{kind}"))
    names = [b.label for b in bars_for(result, "endpoint")][:MAX_SPECTRA]
    for i, name in enumerate(names):
        tags = (("name", name),)
        charts.append(overlay(bm.select(tags), cm.select(tags), f"{name}: baseline vs current", f"overlay-ep-{i}"))
    if not charts:
        return ""
    return (
        '<h2>Latency by percentile, baseline vs current</h2><p class="note">Dashed: baseline; solid: current. '
        'The x axis spreads the tail (90 %, 99 %, 99.9 % ...).</p><div class="charts">' + "".join(charts) + "</div>"
    )
