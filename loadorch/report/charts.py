"""Inline SVG time-series charts (no scripts, no network): what report.html and the live page draw with.

`line_chart` is pure and stable: series in, SVG text out. Latency charts (y_unit "ms") switch their
labels to seconds from 2 s up; counts get k/M suffixes; limits are labelled horizontal lines and
breaches shaded time spans, each findable by data attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from loadorch.report import svg
from loadorch.report.svg import Frame

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 48
PALETTE = svg.PALETTE


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    color: str = ""
    dash: str | None = None


@dataclass(frozen=True)
class Limit:
    """A threshold drawn as a horizontal line, e.g. label "p95 < 300 ms" at value 300."""

    label: str
    value: float


@dataclass(frozen=True)
class Breach:
    """A time span [start, end] in which the observed value was over a limit."""

    label: str
    start: float
    end: float


def y_label_for(y_unit: str, top: float) -> tuple[str, float]:
    """(axis unit, divisor): latencies switch from ms to s at 2 s; other units are kept."""
    if y_unit == "ms":
        return svg.ms_unit(top)
    return y_unit, 1.0


def line_chart(
    title: str,
    series: Sequence[Series],
    y_unit: str,
    x_unit: str = "s",
    *,
    limits: Sequence[Limit] = (),
    breaches: Sequence[Breach] = (),
    x_max: float | None = None,
    chart_id: str = "",
    desc: str = "",
    kind: str = "timeseries",
) -> str:
    chart_id = chart_id or svg.slug(title)
    pts = [p for s in series for p in s.points]
    if not pts:
        return svg.empty_svg(chart_id, title, WIDTH)
    top = max([p[1] for p in pts] + [lim.value * 1.1 for lim in limits])
    frame = Frame(
        WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM,
        0.0, max(x_max or 0.0, max(p[0] for p in pts), 1.0), 0.0, svg.nice_max(top),
    )  # fmt: skip
    unit, div = y_label_for(y_unit, frame.y1)

    def y_text(v: float) -> str:
        return svg.fmt_count(v / div)

    x_text = svg.fmt_time if x_unit == "s" else (lambda v: svg.fmt_count(v) + x_unit)
    out = [
        svg.open_svg(
            frame,
            chart_id,
            title,
            desc or _describe(title, series, limits, breaches, y_unit),
            kind,
            f' data-y-unit="{svg.attr(y_unit)}"',
        ),
        f'<text class="title" x="{LEFT}" y="18">{escape(title)}</text>',
        svg.y_grid(frame, svg.ticks_to(frame.y1), y_text),
        svg.x_ticks(frame, svg.ticks_to(frame.x1, 5), x_text),
        svg.axis_label(frame, unit),
        _breaches(frame, breaches),
    ]
    for i, s in enumerate(series):
        stroke = s.color or svg.color(i)
        pattern = svg.dash(i) if s.dash is None else s.dash
        if not s.points:
            continue
        dash_attr = f' stroke-dasharray="{pattern}"' if pattern else ""
        out.append(
            f'<path class="line" data-series="{svg.attr(s.label)}" d="{svg.polyline(frame, s.points)}" '
            f'stroke="{stroke}"{dash_attr}/>'
        )
        if len(s.points) == 1:
            x, y = s.points[0]
            out.append(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="3" fill="{stroke}"/>')
    out.append(_limits(frame, limits))
    entries = [
        (s.label, s.color or svg.color(i), svg.dash(i) if s.dash is None else s.dash) for i, s in enumerate(series)
    ]
    out.append(svg.legend(frame, entries))
    out.append("</svg>")
    return "".join(out)


def _limits(frame: Frame, limits: Sequence[Limit]) -> str:
    out = []
    for lim in limits:
        y = frame.sy(lim.value)
        out.append(
            f'<g class="limit" data-limit="{lim.value:g}"><line x1="{frame.left}" x2="{frame.width - frame.right}" '
            f'y1="{y:.2f}" y2="{y:.2f}" stroke="{svg.LIMIT_COLOR}" stroke-width="1.5" stroke-dasharray="6 3"/>'
            f'<text class="limit-label" x="{frame.width - frame.right - 4}" y="{y - 4:.1f}" text-anchor="end">'
            f"{escape(lim.label)}</text></g>"
        )
    return "".join(out)


def _breaches(frame: Frame, breaches: Sequence[Breach]) -> str:
    out = []
    for b in breaches:
        x0, x1 = frame.sx(b.start), frame.sx(b.end)
        out.append(
            f'<g class="breach" data-start="{b.start:g}" data-end="{b.end:g}"><title>{escape(b.label)}</title>'
            f'<rect x="{x0:.1f}" y="{frame.top}" width="{max(x1 - x0, 1.0):.1f}" height="{frame.ph:g}" '
            f'fill="{svg.LIMIT_COLOR}" fill-opacity="0.10"/><rect x="{x0:.1f}" y="{frame.top}" '
            f'width="{max(x1 - x0, 1.0):.1f}" height="5" fill="{svg.LIMIT_COLOR}"/></g>'
        )
    return "".join(out)


def _describe(
    title: str, series: Sequence[Series], limits: Sequence[Limit], breaches: Sequence[Breach], y_unit: str
) -> str:
    parts = [f"{title}, {y_unit} over time."]
    for s in series:
        if s.points:
            peak = max(s.points, key=lambda p: p[1])
            parts.append(
                f"{s.label}: {len(s.points)} points, peak {svg.fmt_count(peak[1])} {y_unit} at {svg.fmt_time(peak[0])}."
            )
    parts += [f"Limit {lim.label}." for lim in limits]
    if breaches:
        parts.append(f"Over the limit in {len(breaches)} span(s).")
    return " ".join(parts)


def sparkline(
    label: str,
    points: Sequence[tuple[float, float]],
    *,
    limit: float | None = None,
    chart_id: str = "",
    width: int = 120,
    height: int = 28,
) -> str:
    """A small trend line (no axes) for a table cell; the values are in its description and tooltip."""
    chart_id = chart_id or "spark-" + svg.slug(label)
    if not points:
        return ""
    top = svg.nice_max(max([p[1] for p in points] + [limit or 0.0]))
    frame = Frame(width, height, 2, 2, 3, 3, min(p[0] for p in points), max(p[0] for p in points) or 1.0, 0.0, top)
    values = [p[1] for p in points]
    desc = (
        f"{len(points)} points from {svg.fmt_time(points[0][0])} to {svg.fmt_time(points[-1][0])}: "
        f"min {svg.fmt_ms(min(values))}, max {svg.fmt_ms(max(values))}, last {svg.fmt_ms(values[-1])}"
    )
    out = [svg.open_svg(frame, chart_id, label, desc, "spark")]
    if limit is not None:
        y = frame.sy(limit)
        out.append(
            f'<line class="spark-limit" data-limit="{limit:g}" x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{svg.LIMIT_COLOR}" stroke-dasharray="3 2"/>'
        )
    if len(points) == 1:
        out.append(f'<circle cx="{width / 2:.0f}" cy="{frame.sy(values[0]):.1f}" r="2" fill="{svg.color(0)}"/>')
    else:
        out.append(f'<path class="line" d="{svg.polyline(frame, points)}" stroke="{svg.color(0)}"/>')
    out.append("</svg>")
    return "".join(out)
