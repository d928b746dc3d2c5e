"""A sorted horizontal bar chart of changes with their noise bands (compare.html); pure, data in, SVG out.

Each row: a grey band for the changes that are within the noise, a bar from zero to the observed
change, and the verdict written beside it (a regression is also hatched: never colour alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from loadorch.report import svg
from loadorch.report.svg import Frame

WIDTH, ROW, LEFT, RIGHT, TOP, BOTTOM = 760, 22, 190, 150, 34, 34
COLORS = {"regression": "#D55E00", "improvement": "#0072B2", "same": "#6B7280", "missing": "#6B7280"}


@dataclass(frozen=True)
class Bar:
    label: str
    change: float  # ms, current - baseline
    noise_low: float | None  # ms; None: unbounded
    noise_high: float | None
    verdict: str
    detail: str = ""


PAD = 1.15  # the axis reaches past the widest bar or band: a band never fills it exactly, so it reads as a band


def _extent(bars: Sequence[Bar]) -> float:
    values = [abs(b.change) for b in bars]
    values += [abs(v) for b in bars for v in (b.noise_low, b.noise_high) if v is not None]
    return svg.nice_max(PAD * max([*values, 1.0]))


def change_bars(title: str, bars: Sequence[Bar], unit: str = "ms", *, chart_id: str = "", desc: str = "") -> str:
    """Bars in the given order (callers sort them); the x axis is symmetric around zero."""
    chart_id = chart_id or svg.slug(title)
    if not bars:
        return svg.empty_svg(chart_id, title, WIDTH)
    span = _extent(bars)
    height = TOP + BOTTOM + ROW * len(bars)
    f = Frame(WIDTH, height, LEFT, RIGHT, TOP, BOTTOM, -span, span, 0.0, float(len(bars)))
    ticks = svg.ticks_to(span, 2)
    out = [
        svg.open_svg(f, chart_id, title, desc or _describe(title, bars, unit), "bars", f' data-unit="{unit}"'),
        f'<defs><pattern id="{svg.attr(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#D55E00"/><line x1="0" y1="0" x2="0" y2="6" stroke="#fff" '
        'stroke-width="2"/></pattern></defs>',
        f'<text class="title" x="8" y="18">{escape(title)}</text>',
    ]
    for v in sorted({-t + 0.0 for t in ticks} | set(ticks)):  # + 0.0: zero is labelled 0, never -0
        x = f.sx(v)
        out.append(
            f'<line class="{"zero" if v == 0 else "grid"}" data-value="{v:g}" x1="{x:.2f}" x2="{x:.2f}" y1="{TOP}" '
            f'y2="{height - BOTTOM}"/><text class="tick" x="{x:.1f}" y="{height - BOTTOM + 16}" '
            f'text-anchor="middle">{"+" if v > 0 else ""}{escape(svg.fmt_count(v))}</text>'
        )
    out.append(
        f'<text class="tick" x="{f.sx(0):.0f}" y="{height - 4}" text-anchor="middle">change, {escape(unit)} '
        "(grey: within the noise)</text>"
    )
    for i, b in enumerate(bars):
        out.append(_row(f, i, b, span, unit, chart_id))
    out.append("</svg>")
    return "".join(out)


def _row(f: Frame, i: int, b: Bar, span: float, unit: str, chart_id: str) -> str:
    y = TOP + ROW * i
    lo = f.sx(max(-span, b.noise_low if b.noise_low is not None else -span))
    hi = f.sx(min(span, b.noise_high if b.noise_high is not None else span))
    # a side too few samples bound is open: the band runs off the axis there, outlined dashed
    open_ = " open" if b.noise_low is None or b.noise_high is None else ""
    x0, x1 = sorted((f.sx(0), f.sx(b.change)))
    fill = f"url(#{svg.attr(chart_id)}-hatch)" if b.verdict == "regression" else COLORS.get(b.verdict, "#6B7280")
    word = {"regression": "REGRESSION", "improvement": "improvement"}.get(b.verdict, "within noise")
    text = f"{'+' if b.change > 0 else ''}{svg.fmt_count(b.change)} {unit} {word}"
    return (
        f'<g class="bar {escape(b.verdict)}" data-name="{svg.attr(b.label)}" data-change="{b.change:g}" '
        f'data-low="{"" if b.noise_low is None else f"{b.noise_low:g}"}" '
        f'data-high="{"" if b.noise_high is None else f"{b.noise_high:g}"}" data-verdict="{svg.attr(b.verdict)}">'
        f"<title>{escape(b.label)}: {escape(text)}{'; ' + escape(b.detail) if b.detail else ''}</title>"
        f'<text class="tick" x="{LEFT - 8}" y="{y + 15}" text-anchor="end">{escape(_short(b.label))}</text>'
        f'<rect class="noise{open_}" x="{lo:.1f}" y="{y + 3}" width="{max(hi - lo, 1.0):.1f}" height="{ROW - 6}" '
        f'fill="#D1D5DB"{_dashed(open_)}/>'
        f'<rect class="change" x="{x0:.2f}" y="{y + 6}" width="{max(x1 - x0, 1.0):.2f}" '
        f'height="{ROW - 12}" fill="{fill}" stroke="{COLORS.get(b.verdict, "#6B7280")}"/>'
        f'<text class="tick" x="{WIDTH - RIGHT + 8}" y="{y + 15}">{escape(text)}</text></g>'
    )


def _dashed(open_: str) -> str:
    return ' stroke="#6B7280" stroke-dasharray="3 2"' if open_ else ""


def _short(label: str, n: int = 28) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _describe(title: str, bars: Sequence[Bar], unit: str) -> str:
    parts = [f"{title}, largest first."]
    for b in bars[:10]:
        parts.append(f"{b.label}: {'+' if b.change > 0 else ''}{svg.fmt_count(b.change)} {unit}, {b.verdict}.")
    if len(bars) > 10:
        parts.append(f"{len(bars) - 10} more.")
    return " ".join(parts)
