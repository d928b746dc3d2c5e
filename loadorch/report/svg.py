"""SVG building blocks for the charts: scales, nice ticks, unit-aware labels, the palette and the frame.

Everything here is pure (numbers in, SVG text out). Colours are the Okabe-Ito set, safe for the common
colour-vision deficiencies, and every series also gets its own dash pattern, so no chart depends on
colour alone. Text is always drawn in dark grey on white (contrast above 4.5:1); colours mark lines only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "7 3", "2 3", "9 3 2 3", "4 4", "1 2", "12 4")
INK, MUTED = "#111827", "#374151"
LIMIT_COLOR = "#B91C1C"


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def dash(i: int) -> str:
    return DASHES[i % len(DASHES)]


def attr(value: object) -> str:
    return escape(str(value), quote=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def nice_step(span: float, ticks: int = 4) -> float:
    """The smallest 1-2-2.5-5 step that covers `span` in at most ticks + 1 intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    exp: float = 10 ** math.floor(math.log10(span / (ticks + 1)))  # an int from 1 up: labels show "100", not "100.0"
    for scale in (exp, 10 * exp):
        for m in (1, 2, 2.5, 5):
            if math.ceil(span / (m * scale) - 1e-9) <= ticks + 1:
                return m * scale
    return 100 * exp


def nice_max(v: float, ticks: int = 4) -> float:
    if v <= 0 or not math.isfinite(v):
        return 1.0
    step = nice_step(v, ticks)
    return step * math.ceil(v / step - 1e-9)


def ticks_to(top: float, ticks: int = 4) -> list[float]:
    step = nice_step(top, ticks)
    n = math.floor(top / step + 1e-9)
    return [round(step * i, 10) for i in range(n + 1)]


def _trim(v: float, digits: int) -> str:
    text = f"{v:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_count(v: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M; small numbers keep up to two decimals."""
    a = abs(v)
    if a >= 1e6:
        return _trim(v / 1e6, 1) + "M"
    if a >= 1e3:
        return _trim(v / 1e3, 1) + "k"
    return _trim(v, 0 if a >= 100 else 1 if a >= 10 else 2)


def ms_unit(top_ms: float) -> tuple[str, float]:
    """The axis unit for latencies up to `top_ms`: milliseconds, or seconds from 2 s up."""
    return ("s", 1000.0) if top_ms >= 2000 else ("ms", 1.0)


def fmt_ms(v: float) -> str:
    """A latency for a label: 0.35 ms, 12 ms, 250 ms, 1.5 s."""
    if v >= 1000:
        return _trim(v / 1000, 2) + " s"
    return _trim(v, 0 if v >= 100 else 1 if v >= 10 else 2) + " ms"


def fmt_time(s: float) -> str:
    """Elapsed time for an axis: 45s, or m:ss from two minutes, h:mm:ss from an hour."""
    if s < 120:
        return _trim(s, 1) + "s"
    whole = round(s)
    h, rest = divmod(whole, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass(frozen=True)
class Frame:
    """A chart's canvas: viewBox size, plot area and the linear scales from data to viewBox units."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def pw(self) -> float:
        return self.width - self.left - self.right

    @property
    def ph(self) -> float:
        return self.height - self.top - self.bottom

    def sx(self, x: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + self.pw * (x - self.x0) / span

    def sy(self, y: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.top + self.ph * (1 - (min(max(y, self.y0), self.y1) - self.y0) / span)

    @property
    def bottom_y(self) -> float:
        return self.height - self.bottom


def open_svg(frame: Frame, chart_id: str, title: str, desc: str, kind: str, extra: str = "") -> str:
    """The <svg> element with an accessible name and description, and its scales as data attributes."""
    return (
        f'<svg class="chart {attr(kind)}" id="{attr(chart_id)}" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-labelledby="{attr(chart_id)}-t" aria-describedby="{attr(chart_id)}-d" '
        f'xmlns="http://www.w3.org/2000/svg" '
        f'data-x0="{frame.x0:g}" data-x1="{frame.x1:g}" data-y0="{frame.y0:g}" data-y1="{frame.y1:g}" '
        f'data-plot="{frame.left} {frame.top} {frame.pw:g} {frame.ph:g}"{extra}>'
        f'<title id="{attr(chart_id)}-t">{escape(title)}</title><desc id="{attr(chart_id)}-d">{escape(desc)}</desc>'
    )


def empty_svg(chart_id: str, title: str, width: int = 640) -> str:
    return (
        f'<svg class="chart empty" id="{attr(chart_id)}" viewBox="0 0 {width} 60" role="img" '
        f'aria-labelledby="{attr(chart_id)}-t" aria-describedby="{attr(chart_id)}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{attr(chart_id)}-t">{escape(title)}</title><desc id="{attr(chart_id)}-d">no data</desc>'
        f'<text class="tick" x="8" y="34">{escape(title)}: no data</text></svg>'
    )


def y_grid(frame: Frame, values: Sequence[float], label: Callable[[float], str]) -> str:
    """Horizontal grid lines with their labels; `data-value` is the line's data value (for tests)."""
    out = []
    for v in values:
        y = frame.sy(v)
        out.append(
            f'<line class="grid" data-value="{v:g}" x1="{frame.left}" x2="{frame.width - frame.right}" '
            f'y1="{y:.2f}" y2="{y:.2f}"/><text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(label(v))}</text>'
        )
    return "".join(out)


def x_ticks(frame: Frame, values: Sequence[float], label: Callable[[float], str]) -> str:
    return "".join(
        f'<line class="grid" x1="{frame.sx(v):.1f}" x2="{frame.sx(v):.1f}" y1="{frame.bottom_y}" '
        f'y2="{frame.bottom_y + 4}"/><text class="tick" x="{frame.sx(v):.1f}" y="{frame.bottom_y + 16}" '
        f'text-anchor="middle">{escape(label(v))}</text>'
        for v in values
    )


def axis_label(frame: Frame, text: str) -> str:
    mid = frame.top + frame.ph / 2
    return (
        f'<text class="tick" x="12" y="{mid:.0f}" transform="rotate(-90 12 {mid:.0f})" '
        f'text-anchor="middle">{escape(text)}</text>'
    )


def polyline(frame: Frame, points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if j == 0 else 'L'}{frame.sx(x):.1f},{frame.sy(y):.1f}" for j, (x, y) in enumerate(points))


def legend(frame: Frame, entries: Sequence[tuple[str, str, str]], y: float | None = None) -> str:
    """Sample line (colour and dash) plus the name, left to right under the plot."""
    out, x = [], float(frame.left)
    y = frame.height - 8 if y is None else y
    for label, stroke, pattern in entries:
        dash_attr = f' stroke-dasharray="{pattern}"' if pattern else ""
        out.append(
            f'<line class="key" x1="{x:.0f}" x2="{x + 22:.0f}" y1="{y - 4:.0f}" y2="{y - 4:.0f}" '
            f'stroke="{stroke}"{dash_attr}/><text class="legend" x="{x + 26:.0f}" y="{y:.0f}">{escape(label)}</text>'
        )
        x += 34 + 6.5 * len(label)
    return "".join(out)
