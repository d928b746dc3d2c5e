"""compare.html's browser and database parts: p75 per page and vital, before and after with their 95 %
intervals and the change against its noise band; queries per request and the slow-statement share."""

from __future__ import annotations

from html import escape

from loadorch.report.bars import Bar, change_bars
from loadorch.results import Results
from loadorch.verdict.compare import ALL_PAGES, STEP_ERROR_RATE, Comparison, Row

_TAGS = {"regression": "fail", "improvement": "pass"}


def browser_part(result: Comparison) -> str:
    scopes = ("page", ALL_PAGES[0])
    rows = [r for r in result.rows if r.scope in scopes and r.verdict != "missing" and r.change is not None]
    if not rows:
        return ""
    charts = []
    for metric in sorted({r.metric for r in rows} - {STEP_ERROR_RATE}):  # vitals: a failed step has no noise band
        unit = "" if metric.startswith("cls") else "ms"
        chosen = sorted((r for r in rows if r.metric == metric), key=lambda r: (-(r.change or 0.0), r.name))
        bars = [_bar(r, unit) for r in chosen]
        chart_id = "vitals-" + metric.split(" ")[0]
        charts.append(change_bars(f"Change in {metric} per page", bars, unit or "score", chart_id=chart_id))
    return (
        '<h2>Browser users: web vitals (p75 per page) and failed steps</h2><p class="note">Before and after with '
        "their 95 % intervals; a bar outside its grey band is larger than the noise. Failed steps: the share of "
        "journey steps that failed, judged as HTTP error rates are.</p>" + _table(rows) + "".join(charts)
    )


def database_part(base: Results, cur: Results, result: Comparison) -> str:
    rows = [r for r in result.rows if r.metric == "db_queries_per_request" and r.change is not None]
    shares = [_slow_share(doc) for doc in (base, cur)]
    if not rows and shares == [None, None]:
        return ""
    out = ["<h2>Database</h2>"]
    if shares != [None, None]:
        shown = [f"{100 * s:.1f} %" if s is not None else "not measured" for s in shares]
        out.append(f'<p id="slow-share">slow statements\' share of all statements: baseline {shown[0]} &rarr; '
                   f"current {shown[1]}</p>")  # fmt: skip
    if rows:
        out.append(_table(rows))
        bars = [_bar(r, "queries") for r in sorted(rows, key=lambda r: (-(r.change or 0.0), r.name))]
        out.append(change_bars("Change in queries per request", bars, "queries", chart_id="bars-queries"))
    return "".join(out)


def _slow_share(doc: Results) -> float | None:
    collector = doc.database.collector if doc.database else None
    return collector.slow_share if collector else None


def _bar(r: Row, unit: str) -> Bar:
    return Bar(r.name, float(r.change or 0.0), r.noise_low, r.noise_high, r.verdict,
               f"{r.metric} {r.baseline} -> {r.current} {unit}; {r.note}")  # fmt: skip


def _table(rows: list[Row]) -> str:
    body = "".join(
        f'<tr><td><span class="tag {_TAGS.get(r.verdict, "")}">{escape(r.shown_verdict())}</span></td>'
        f"<td>{escape(r.name)}</td><td>{escape(r.metric)}</td><td class=num>{_num(r.baseline, r.metric)}</td>"
        f"<td class=num>{_num(r.current, r.metric)}</td><td>{escape(r.note)}</td><td>{escape(r.bound or '-')}</td></tr>"
        for r in rows
    )
    return (
        "<table><tr><th></th><th>name</th><th>metric</th><th>baseline</th><th>current</th>"
        f"<th>intervals / how measured</th><th>bound</th></tr>{body}</table>"
    )


def _num(v: float | None, metric: str = "") -> str:
    if v is not None and metric == STEP_ERROR_RATE:
        return f"{100 * v:.2f}%"
    return "-" if v is None else f"{v:.3f}" if abs(v) < 1 else f"{v:.1f}"
