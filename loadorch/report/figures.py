"""From results.json to the report's pictures: latency with its limits, spectra, load, sparklines.

Reads only results.json fields (new ones optional, so older files still render) and hands plain data
to the pure chart functions in charts, spectrum and sparkline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from loadorch.config.thresholds import Expression, Selector
from loadorch.report import svg
from loadorch.report.charts import Breach, Limit, Series, line_chart
from loadorch.report.spectrum import Curve, PercentilePoint, curve_of, spectrum_chart
from loadorch.results import EndpointStats, LoadTimeline, Results, ThresholdRow, TimeRow
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged
from loadorch.wire import MergedJson

SPECTRUM_ENDPOINTS = 6


class Charted(Protocol):
    """What the charts over time are drawn from: a results.json (Results) or the live dashboard's view."""

    @property
    def thresholds(self) -> Sequence[ThresholdRow]: ...
    @property
    def timeseries(self) -> Sequence[TimeRow]: ...
    @property
    def histograms(self) -> MergedJson: ...
    @property
    def load(self) -> LoadTimeline | None: ...
    @property
    def elapsed_s(self) -> float: ...
    def slot_seconds(self) -> float: ...


def latency_thresholds(thresholds: Sequence[ThresholdRow]) -> list[tuple[Selector, Expression, ThresholdRow]]:
    """The run's http_req_duration thresholds, as parsed when results.json was read (rows that could not be
    parsed are skipped: a picture, not a verdict)."""
    return [
        (t.threshold.selector, t.threshold.expression, t)
        for t in thresholds
        if t.threshold is not None and t.threshold.selector.metric == "http_req_duration"
    ]


def _applies(sel: Selector, **want: str) -> bool:
    """A selector applies to a chart when each of its tags is one the chart shows (no tag: the whole run)."""
    return all(want.get(tag) == value for tag, value in sel.tags)


def limit_label(expr: Expression) -> str:
    return f"{expr.label} {expr.op} {svg.fmt_ms(expr.value)}"


def observe(h: Histogram, expr: Expression) -> float:
    """The aggregation a threshold names, in ms, over one histogram."""
    if h.count == 0:
        return math.nan
    value = {
        "p": lambda: h.percentile(expr.percentile or 0.0),
        "med": lambda: h.percentile(50),
        "avg": lambda: h.mean,
        "max": lambda: float(h.max),
        "min": lambda: float(h.min),
    }.get(expr.aggregation, lambda: math.nan)()
    return value / 1000.0


def interval_histograms(hist_json: MergedJson, kind: str) -> dict[int, Histogram]:
    out: dict[int, Histogram] = {}
    for i, k, ok, hist in hist_json.get("intervals", []):
        if k == kind and ok:
            out.setdefault(int(i), Histogram()).merge(Histogram.from_json(hist))
    return out


def breaches(doc: Charted, kind: str, expr: Expression, shown: set[float]) -> list[Breach]:
    """Spans of consecutive intervals (among those drawn) in which the observed value broke the limit."""
    step = doc.slot_seconds()
    spans: list[Breach] = []
    for i, h in sorted(interval_histograms(doc.histograms, kind).items()):
        t = round(i * step, 3)
        value = observe(h, expr)
        if t not in shown or math.isnan(value) or expr.holds(value):
            continue
        label = f"{kind} {expr.label} {svg.fmt_ms(value)}, over {limit_label(expr)}"
        if spans and abs(spans[-1].end - t) < 1e-6:
            spans[-1] = Breach(spans[-1].label, spans[-1].start, t + step)
        else:
            spans.append(Breach(label, t, t + step))
    return spans


def latency_chart(doc: Charted, kind: str, rows: Sequence[TimeRow], x_max: float) -> str:
    limits, spans = [], []
    shown = {r.t_s for r in rows}
    for sel, expr, _ in latency_thresholds(doc.thresholds):
        if _applies(sel, kind=kind):
            limits.append(Limit(limit_label(expr), expr.value))
            spans += breaches(doc, kind, expr, shown)
    return line_chart(
        f"{kind} latency (successful requests)",
        [
            Series(name, [(r.t_s, v) for r in rows if (v := getattr(r, key)) is not None])
            for name, key in (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
        ],
        "ms",
        limits=limits,
        breaches=spans,
        x_max=x_max,
        chart_id=f"latency-{kind}",
    )


def load_chart(load: LoadTimeline | None, x_max: float) -> str:
    """Active users against the planned ramp (closed model), or target, achieved and dropped arrivals (open)."""
    if not load or not load.points:
        return ""
    pts = load.points
    target = [(float(t), float(v)) for t, v in load.target]
    if load.model == "open":
        series = [
            Series("target", target, dash="6 3"),
            Series("achieved", [(p.t_s, p.arrivals_per_s) for p in pts if p.arrivals_per_s is not None]),
            Series("dropped", [(p.t_s, p.dropped_per_s) for p in pts if p.dropped_per_s is not None]),
        ]
        return line_chart("arrivals per second", series, "/s", x_max=x_max, chart_id="load", kind="load open")
    if target and target[-1][0] < x_max:
        target.append((x_max, target[-1][1]))
    series = [Series("active users", [(p.t_s, p.users) for p in pts]), Series("planned", target, dash="6 3")]
    return line_chart("active users", series, "users", x_max=x_max, chart_id="load", kind="load closed")


def _points(thresholds: Sequence[ThresholdRow], **where: str) -> list[PercentilePoint]:
    out = []
    for sel, expr, t in latency_thresholds(thresholds):
        # an endpoint's chart shows only thresholds on that endpoint, not its kind's aggregate
        named = any(tag == "name" for tag, _ in sel.tags)
        if expr.aggregation in ("p", "med") and _applies(sel, **where) and named == ("name" in where):
            pct = 50.0 if expr.aggregation == "med" else float(expr.percentile or 0.0)
            out.append(PercentilePoint(limit_label(expr), pct, expr.value, t.verdict == "pass"))
    return out


def spectra(doc: Results, merged: Merged | None = None) -> list[str]:
    """One spectrum per kind, then one per busiest endpoint (at most SPECTRUM_ENDPOINTS)."""
    merged = merged or Merged.from_json(doc.histograms)
    out = []
    for kind in sorted(doc.kinds):
        h = merged.select((("kind", kind),))
        out.append(
            spectrum_chart(
                f"{kind} latency by percentile",
                [curve_of(h, kind)],
                _points(doc.thresholds, kind=kind),
                chart_id=f"spectrum-{kind}",
            )
        )
    busy = [(n, ep) for n, ep in top_endpoints(doc, len(doc.endpoints)) if ep.p50_ms is not None]
    for i, (name, ep) in enumerate(busy[:SPECTRUM_ENDPOINTS]):  # endpoints with successful requests only
        curve = curve_of(merged.select((("name", name),)), name)
        out.append(
            spectrum_chart(
                f"{name} latency by percentile",
                [curve],
                _points(doc.thresholds, kind=ep.kind, name=name),
                chart_id=f"spectrum-ep-{i}",
            )
        )
    return out


def top_endpoints(doc: Results, n: int) -> list[tuple[str, EndpointStats]]:
    return sorted(doc.endpoints.items(), key=lambda kv: (-kv[1].count, kv[0]))[:n]


def overlay(base: Histogram, cur: Histogram, title: str, chart_id: str) -> str:
    """Baseline and current distributions on one spectrum (compare.html)."""
    curves: list[Curve] = [
        curve_of(base, "baseline", svg.color(0), "6 3"),
        curve_of(cur, "current", svg.color(1), ""),
    ]
    return spectrum_chart(title, curves, chart_id=chart_id)
