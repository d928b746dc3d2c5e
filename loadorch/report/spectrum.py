"""Percentile spectrum charts: latency against percentile on a log "nines" axis, read like HdrHistogram plots.

The x position of percentile p is -log10(1 - p/100): 90 % at 1, 99 % at 2, 99.9 % at 3. Curves are
sampled from a merged histogram with the same nearest-rank rule (and bucket midpoints) as
`Histogram.percentile`, so a marked p99 is exactly the p99 in results.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from loadorch.report import svg
from loadorch.report.svg import Frame
from loadorch.stats.histogram import Histogram, bounds_of, nearest_rank

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 52
MARKED = (50.0, 90.0, 95.0, 99.0, 99.9)
SAMPLES = 96


def nines(pct: float) -> float:
    """x position of a percentile: 0 for p0, 1 for p90, 2 for p99 (capped at 7 nines)."""
    return min(-math.log10(max(1.0 - pct / 100.0, 1e-7)), 7.0)


def pct_at(x: float) -> float:
    return 100.0 * (1.0 - math.pow(10.0, -x))


def percentiles_ms(h: Histogram, pcts: Sequence[float]) -> list[float]:
    """Several percentiles (ms, 3 decimals) in one pass; identical to `Histogram.percentile`."""
    if h.count == 0:
        return [math.nan for _ in pcts]
    cumulative, seen = [], 0
    for b in sorted(h.buckets):
        seen += h.buckets[b]
        cumulative.append((seen, b))
    out = []
    for pct in pcts:
        if pct <= 0:
            value = float(h.min)
        elif pct >= 100:
            value = float(h.max)
        else:
            rank = nearest_rank(pct, h.count)
            bucket = next(b for n, b in cumulative if n >= rank)
            low, high = bounds_of(bucket)
            value = min(max((low + high) / 2.0, h.min), h.max)
        out.append(round(value / 1000.0, 3))
    return out


@dataclass(frozen=True)
class Curve:
    """One distribution: sampled (percentile, ms) points and the marked percentiles."""

    label: str
    count: int
    points: Sequence[tuple[float, float]]
    marks: Sequence[tuple[float, float]]
    color: str = ""
    dash: str | None = None


@dataclass(frozen=True)
class PercentilePoint:
    """A threshold drawn as a point: at percentile `pct`, latency must stay below `ms`."""

    label: str
    pct: float
    ms: float
    passed: bool | None = None


def curve_of(h: Histogram, label: str, color: str = "", dash: str | None = None) -> Curve:
    """Sample a histogram over the nines its sample count supports (at least to p99)."""
    top = max(math.log10(max(h.count, 1)), 2.0)
    xs = [top * i / SAMPLES for i in range(SAMPLES + 1)]
    pcts = [pct_at(x) for x in xs]
    values = percentiles_ms(h, [*pcts, *MARKED])
    pts = [(p, v) for p, v in zip(pcts, values[: len(pcts)], strict=True) if not math.isnan(v)]
    marks = [
        (p, v) for p, v in zip(MARKED, values[len(pcts) :], strict=True) if not math.isnan(v) and nines(p) <= top + 1e-9
    ]
    return Curve(label, h.count, pts, marks, color, dash)


@dataclass
class _Layout:
    frame: Frame
    unit: str
    div: float
    ticks: list[float] = field(default_factory=list)


def _layout(curves: Sequence[Curve], points: Sequence[PercentilePoint]) -> _Layout:
    xmax = max([nines(p) for c in curves for p, _ in c.points] + [nines(p.pct) for p in points] + [2.0])
    ymax = max([v for c in curves for _, v in c.points] + [p.ms * 1.1 for p in points] + [0.001])
    frame = Frame(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM, 0.0, math.ceil(xmax - 1e-9), 0.0, svg.nice_max(ymax))
    unit, div = svg.ms_unit(frame.y1)
    return _Layout(frame, unit, div, svg.ticks_to(frame.y1))


def _nines_label(x: float) -> str:
    return "0%" if x == 0 else f"{pct_at(x):.{max(round(x) - 2, 0)}f}%"


def spectrum_chart(
    title: str,
    curves: Sequence[Curve],
    points: Sequence[PercentilePoint] = (),
    *,
    chart_id: str = "",
    desc: str = "",
) -> str:
    chart_id = chart_id or svg.slug(title)
    if not any(c.points for c in curves):
        return svg.empty_svg(chart_id, title, WIDTH)
    lay = _layout(curves, points)
    f = lay.frame
    x_ticks = [0.0, math.log10(2.0), *[float(x) for x in range(1, int(f.x1) + 1)]]
    out = [
        svg.open_svg(
            f,
            chart_id,
            title,
            desc or _describe(title, curves, points),
            "spectrum",
            ' data-y-unit="ms" data-x-scale="nines"',
        ),
        f'<text class="title" x="{LEFT}" y="18">{escape(title)}</text>',
        svg.y_grid(f, lay.ticks, lambda v: svg.fmt_count(v / lay.div)),
        svg.x_ticks(f, x_ticks, _nines_label),
        svg.axis_label(f, lay.unit),
        f'<text class="tick" x="{LEFT + f.pw / 2:.0f}" y="{f.bottom_y + 30}" text-anchor="middle">percentile '
        f"(log scale of nines)</text>",
    ]
    for i, c in enumerate(curves):
        stroke, pattern = c.color or svg.color(i), svg.dash(i) if c.dash is None else c.dash
        pts = [(nines(p), v) for p, v in c.points]
        dash_attr = f' stroke-dasharray="{pattern}"' if pattern else ""
        out.append(
            f'<path class="line" data-series="{svg.attr(c.label)}" d="{svg.polyline(f, pts)}" '
            f'stroke="{stroke}"{dash_attr}/>'
        )
        for p, v in c.marks:
            out.append(
                f'<circle class="pct" data-series="{svg.attr(c.label)}" data-pct="{p:g}" data-ms="{v:g}" '
                f'cx="{f.sx(nines(p)):.2f}" cy="{f.sy(v):.2f}" r="3" fill="{stroke}"><title>'
                f"{escape(c.label)} p{p:g} = {escape(svg.fmt_ms(v))}</title></circle>"
            )
    out.append(_threshold_points(f, points))
    entries = [
        (f"{c.label} ({svg.fmt_count(c.count)})", c.color or svg.color(i), svg.dash(i) if c.dash is None else c.dash)
        for i, c in enumerate(curves)
    ]
    out.append(svg.legend(f, entries))
    out.append("</svg>")
    return "".join(out)


def _threshold_points(f: Frame, points: Sequence[PercentilePoint]) -> str:
    out = []
    for p in points:
        x, y = f.sx(nines(p.pct)), f.sy(p.ms)
        verdict = "" if p.passed is None else (" (met)" if p.passed else " (missed)")
        out.append(
            f'<g class="threshold-point" data-pct="{p.pct:g}" data-ms="{p.ms:g}"><title>{escape(p.label)}{verdict}'
            f'</title><path d="M{x:.1f},{y - 6:.1f}L{x + 6:.1f},{y:.1f}L{x:.1f},{y + 6:.1f}L{x - 6:.1f},{y:.1f}Z" '
            f'fill="#fff" stroke="{svg.LIMIT_COLOR}" stroke-width="2"/><text class="limit-label" x="{x - 8:.1f}" '
            f'y="{y - 8:.1f}" text-anchor="end">{escape(p.label)}</text></g>'
        )
    return "".join(out)


def _describe(title: str, curves: Sequence[Curve], points: Sequence[PercentilePoint]) -> str:
    parts = [f"{title}: latency by percentile."]
    for c in curves:
        marks = ", ".join(f"p{p:g} {svg.fmt_ms(v)}" for p, v in c.marks)
        parts.append(f"{c.label} ({c.count} requests): {marks}.")
    parts += [f"Threshold {p.label}." for p in points]
    return " ".join(parts)
