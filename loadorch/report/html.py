"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network) from results.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from loadorch.report.browser import html_section
from loadorch.report.charts import Series, line_chart, sparkline
from loadorch.report.database import html_database
from loadorch.report.evidence import html_evidence
from loadorch.report.figures import Charted, latency_chart, latency_thresholds, load_chart, spectra
from loadorch.report.profile import html_section as html_profiles
from loadorch.report.summary import (
    ENDPOINT_HEAD,
    FAILING_CHECK_HEAD,
    endpoint_rows,
    failing_check_rows,
    headline,
    window_line,
)
from loadorch.results import LiveView, LiveWindow, Results, ThresholdRow, Window

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#111827;margin:0;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.verdict{display:inline-block;padding:4px 12px;border-radius:6px;font-weight:700;color:#fff;letter-spacing:.04em}
.pass{background:#15803d}.fail{background:#b91c1c}.inconclusive{background:#b45309}.error{background:#7f1d1d}
.interrupted{background:#4b5563}
.meta{color:#4b5563;margin:6px 0 0}
table{border-collapse:collapse;width:100%;background:#fff;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600}td.num{text-align:right}
.tag{font-weight:700}.tag.pass{color:#15803d;background:none}.tag.fail{color:#b91c1c;background:none}
.tag.inconclusive{color:#b45309;background:none}.tag.error{color:#7f1d1d;background:none}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
svg.chart{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb;border-radius:6px}
svg .grid{stroke:#e5e7eb}svg .tick,svg .legend{font-size:11px;fill:#4b5563}
svg .title{font-size:13px;font-weight:600;fill:#111827}svg .line{fill:none;stroke-width:2}
svg .key{stroke-width:2.5}svg .zero{stroke:#111827}
svg .limit-label{font-size:11px;font-weight:600;fill:#991b1b;paint-order:stroke;
stroke:#fff;stroke-width:3px}
svg.bars{max-width:900px}svg.spark{width:120px;height:28px;border:0;border-radius:0;background:none;vertical-align:middle}
svg.spark .line{stroke-width:1.5}
.note{color:#4b5563;font-size:13px;margin:4px 0 8px}
h3{font-size:15px;margin:18px 0 6px}.flame svg{width:100%;height:auto;background:#fff;border:1px solid #e5e7eb}
@media print{body{background:#fff}main{padding:0}.charts{grid-template-columns:1fr 1fr}
h2{break-after:avoid}table,svg{break-inside:avoid}svg.chart{border-color:#9ca3af}}
"""


def render_html(doc: Results, flamegraphs: Mapping[str, str] | None = None) -> str:
    """The page; `flamegraphs` maps a profiler's name to its flame graph's SVG text (read beside results.json)."""
    run = doc.run
    verdict = doc.verdict
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>loadorch {escape(run.profile)}: {escape(verdict)}</title><style>{CSS}</style></head><body><main>",
        f'<h1>{escape(run.profile)} <span class="verdict {escape(verdict)}">{escape(verdict.upper())}</span></h1>',
        f'<p class="meta">{escape(headline(doc))}</p>',
        f'<p class="meta">scenario {escape(run.scenario)} (sha256 {escape(run.scenario_sha256[:12])}), '
        f"host {escape(run.host)}, {escape(run.start)} to {escape(run.end)}, "
        f"{run.elapsed_s:.1f}s, loadorch {escape(run.versions.get('loadorch', ''))}, "
        f"locust {escape(run.versions.get('locust', ''))}</p>",
    ]
    if doc.error:
        parts.append(f"<p><strong>Error:</strong> {escape(doc.error)}</p>")
    parts += _thresholds(doc.thresholds, doc.window), html_evidence(doc.thresholds)
    parts += _charts(doc), _spectra(doc), html_section(doc.browser)
    parts += _endpoints(doc), html_database(doc.database), html_profiles(doc, flamegraphs or {})
    parts += _failing_checks(doc), _checks(doc), _errors(doc)
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def _failing_checks(doc: Results) -> str:
    rows = failing_check_rows(doc)
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in FAILING_CHECK_HEAD)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>Failing checks</h2><table><tr>{head}</tr>{body}</table>"


def _tag(verdict: str) -> str:
    return f'<span class="tag {escape(verdict)}">{escape(verdict.upper())}</span>'


def _thresholds(thresholds: Sequence[ThresholdRow], window_of: Window | LiveWindow | None) -> str:
    if not thresholds:
        return ""
    rows = []
    for t in thresholds:
        observed = "no data" if t.observed is None else f"{t.observed:.3f}{t.unit}"
        bound = f"±{t.error_bound:.3f}" if t.error_bound else "exact"
        rows.append(
            f"<tr><td>{_tag(t.verdict)}</td><td>{escape(t.selector)}</td>"
            f"<td>{escape(t.expression)}</td><td class=num>{escape(observed)}</td>"
            f"<td class=num>{t.samples}</td><td class=num>{bound}</td><td>{escape(t.message)}</td></tr>"
        )
    window = f'<p class="note">{escape(window_line(window_of))}</p>' if window_of else ""
    return (
        "<h2>Thresholds</h2><table><tr><th></th><th>selector</th><th>threshold</th><th>observed</th>"
        "<th>samples</th><th>error bound</th><th>detail</th></tr>" + "".join(rows) + "</table>" + window
    )


def _charts(doc: Charted) -> str:
    ts = doc.timeseries
    if not ts:
        return ""
    step = doc.slot_seconds()
    elapsed = doc.elapsed_s
    complete = [r for r in ts if r.t_s + step <= elapsed + 1e-6]
    if len({r.t_s for r in complete}) >= 3:
        ts = complete  # a final, partial interval would show a false drop in throughput
    kinds = sorted({row.kind for row in ts})
    x_max = max(float(elapsed), max(r.t_s for r in ts) + step)
    charts = [latency_chart(doc, kind, [r for r in ts if r.kind == kind], x_max) for kind in kinds]
    charts.append(load_chart(doc.load, x_max))
    charts.append(
        line_chart(
            "throughput",
            [Series(kind, [(r.t_s, r.requests / step) for r in ts if r.kind == kind]) for kind in kinds],
            "req/s",
            x_max=x_max,
        )
    )
    charts.append(
        line_chart(
            "errors",
            [Series(kind, [(r.t_s, r.failures / step) for r in ts if r.kind == kind]) for kind in kinds],
            "errors/s",
            x_max=x_max,
        )
    )
    return '<h2>Over time</h2><div class="charts">' + "".join(c for c in charts if c) + "</div>"


def _spectra(doc: Results) -> str:
    if not doc.kinds or not doc.histograms.get("series"):
        return ""
    return (
        '<h2>Latency by percentile</h2><p class="note">The whole distribution of successful requests, '
        "read like an HdrHistogram plot: the x axis spreads the tail (90 %, 99 %, 99.9 % ...); diamonds are "
        'the thresholds.</p><div class="charts">' + "".join(spectra(doc)) + "</div>"
    )


def _endpoints(doc: Results) -> str:
    rows = endpoint_rows(doc)
    if not rows:
        return ""
    trends = doc.endpoint_timeseries.endpoints if doc.endpoint_timeseries else {}
    head = "".join(f"<th>{escape(h)}</th>" for h in ENDPOINT_HEAD) + ("<th>p95 over time</th>" if trends else "")
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i > 1 else ''}>{escape(c)}</td>" for i, c in enumerate(r))
        + (f"<td>{_trend(doc, r[0], trends.get(r[0]) or [], n)}</td>" if trends else "")
        + "</tr>"
        for n, r in enumerate(rows)
    )
    return f"<h2>Endpoints</h2><table><tr>{head}</tr>{body}</table>"


def _trend(doc: Results, name: str, points: Sequence[tuple[float, float]], n: int) -> str:
    limits = [
        e.value
        for sel, e, _ in latency_thresholds(doc.thresholds)
        if e.aggregation == "p" and e.percentile == 95 and ("name", name) in sel.tags
    ]
    pts = [(float(t), float(v)) for t, v in points]
    return sparkline(f"{name} p95 over time", pts, limit=limits[0] if limits else None, chart_id=f"spark-{n}")


def _checks(doc: Results) -> str:
    if not doc.checks:
        return ""
    rows = "".join(
        f"<tr><td>{_tag(c.verdict)}</td><td>{escape(c.name)}</td><td>{escape(c.message)}</td></tr>" for c in doc.checks
    )
    return f"<h2>Run integrity</h2><table><tr><th></th><th>check</th><th>detail</th></tr>{rows}</table>"


def _errors(doc: Results) -> str:
    errors = doc.errors
    if not errors:
        return ""
    rows = "".join(
        f"<tr><td>{escape(e.name)}</td><td class=num>{e.status or '-'}</td>"
        f"<td>{escape(e.reason)}</td><td class=num>{e.count}</td><td>{escape(e.example or '')}</td></tr>"
        for e in errors[:30]
    )
    return (
        "<h2>Errors</h2><table><tr><th>endpoint</th><th>status</th><th>reason</th><th>count</th>"
        f"<th>example</th></tr>{rows}</table>"
    )


def live_sections(view: LiveView) -> dict[str, str]:
    """What the live dashboard redraws every second: the same threshold table and charts as this page."""
    return {"thresholds": _thresholds(view.thresholds, view.window), "charts": _charts(view)}
