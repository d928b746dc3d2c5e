"""Inline SVG line charts (no scripts, no network): what report.html draws with."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 34
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    color: str = ""


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * exp:
            return step * exp
    return 10 * exp


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.2g}"


def line_chart(title: str, series: Sequence[Series], y_unit: str, x_unit: str = "s") -> str:
    pts = [p for s in series for p in s.points]
    if not pts:
        return (
            f'<svg class="chart empty" viewBox="0 0 {WIDTH} 60" role="img" aria-label="{escape(title)}">'
            f'<text x="8" y="34">{escape(title)}: no data</text></svg>'
        )
    x_max = max(max(p[0] for p in pts), 1.0)
    y_max = _nice_max(max(p[1] for p in pts))
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + pw * x / x_max

    def sy(y: float) -> float:
        return TOP + ph * (1 - y / y_max)

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>',
    ]
    for i in range(5):
        y = y_max * i / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_fmt(y)}</text>'
        )
    for i in range(5):
        x = x_max * i / 4
        out.append(
            f'<text class="tick" x="{sx(x):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_fmt(x)}{x_unit}</text>"
        )
    out.append(
        f'<text class="tick" x="12" y="{TOP + ph / 2:.0f}" transform="rotate(-90 12 {TOP + ph / 2:.0f})" '
        f'text-anchor="middle">{escape(y_unit)}</text>'
    )
    legend_x = LEFT + 8
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        if s.points:
            path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(s.points))
            out.append(f'<path class="line" d="{path}" stroke="{color}"/>')
            if len(s.points) == 1:
                x, y = s.points[0]
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        out.append(
            f'<rect x="{legend_x}" y="{HEIGHT - 12}" width="10" height="3" fill="{color}"/>'
            f'<text class="legend" x="{legend_x + 14}" y="{HEIGHT - 8}">{escape(s.label)}</text>'
        )
        legend_x += 24 + 7 * len(s.label)
    out.append("</svg>")
    return "".join(out)
