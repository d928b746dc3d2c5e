"""The browser layer of a gate's evidence (results.BrowserEvidence) as text: short lines for junit.xml,
markdown for summary.md, HTML for report.html (the LCP and INP parts as a stacked bar, the shift's sources
with their rectangles, the page's largest resources). Data in, text out; bounded whatever the data holds."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from loadorch.report.markdown import _md
from loadorch.results import (
    BrowserEvidence,
    BrowserView,
    ClsAttribution,
    FrameScript,
    InpAttribution,
    LcpAttribution,
    PageWeight,
    StepFailure,
)

MAX_VIEWS = 2  # the view at the gate's value and the worst
MAX_ROWS = 5  # sources, scripts, resources per view
LCP_PARTS = (("ttfb", "TTFB"), ("load_delay", "load delay"), ("load_duration", "load"), ("render_delay", "render"))
INP_PARTS = (("input_delay", "input delay"), ("processing", "processing"), ("presentation", "presentation"))
COLORS = ("#0072B2", "#E69F00", "#D55E00", "#009E73")


def _ms(v: float) -> str:
    return f"{v:.0f}"


def _bytes(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n:.0f} bytes"


def _value(ev: BrowserEvidence, v: float) -> str:
    if ev.unit == "bytes":
        return _bytes(v)
    return f"{v:.0f} ms" if ev.unit == "ms" else f"{v:.4g}"


def _rect(r: list[int] | None) -> str:
    return "-" if not r else f"[{', '.join(str(x) for x in r)}]"


def _lcp(a: LcpAttribution) -> str:
    parts = " + ".join(f"{label} {_ms(getattr(a, key))}" for key, label in LCP_PARTS)
    url = f" {a.url}" if a.url else " (text, no resource)"
    return f"LCP element {a.element or '?'}{url} = {parts} ms"


def _inp(a: InpAttribution) -> str:
    parts = " + ".join(f"{label} {_ms(getattr(a, key))}" for key, label in INP_PARTS)
    return f"INP {a.type} {a.event} on {a.target or '?'} at {_ms(a.time)} ms = {parts} ms"


def _script(s: FrameScript) -> str:
    return f"script {s.invoker or '?'} ({s.url or 'no URL'}) {_ms(s.duration)} ms"


def _cls(a: ClsAttribution) -> str:
    moved = ", ".join(f"{s.element or '?'} {_rect(s.previous)} to {_rect(s.current)}" for s in a.sources[:2])
    return f"largest shift {a.value:.4g} at {_ms(a.time)} ms moved {moved or 'no element the page could name'}"


def _weight(w: PageWeight) -> str:
    noun = "request" if w.requests == 1 else "requests"
    head = f"{w.requests} {w.type} {noun}, {_bytes(w.transfer)} transferred ({_bytes(w.decoded)} decoded)"
    top = w.largest[0] if w.largest else None
    return head + (f"; largest {top.url} {_bytes(top.transfer)}" if top else "")


def view_lines(ev: BrowserEvidence, v: BrowserView) -> list[str]:
    """What one view shows: a head line, then one line per attribution it has."""
    out = [f"{v.role} view: {_value(ev, v.value)} on page {v.page} ({v.user}, {v.at_s:.0f} s into the run)"]
    if v.lcp:
        out.append(_lcp(v.lcp))
    if v.inp:
        out.append(_inp(v.inp))
        out += [_script(s) for s in v.inp.scripts[:2]]
    if v.cls:
        out.append(_cls(v.cls))
    if v.weight:
        out.append(_weight(v.weight))
    return out


def short(ev: BrowserEvidence) -> list[str]:
    return [line for v in ev.views[:MAX_VIEWS] for line in view_lines(ev, v)]


def markdown(ev: BrowserEvidence) -> list[str]:
    out = []
    for v in ev.views[:MAX_VIEWS]:
        head, *rest = view_lines(ev, v)
        out += [f"- {head}", *(f"  - {line}" for line in rest)]
        if v.cls:
            out += [
                f"  - source {s.element or '?'} {_rect(s.previous)} to {_rect(s.current)}"
                for s in v.cls.sources[1:MAX_ROWS]
            ]
        if v.weight:
            out += [
                f"  - {r.type} {r.url}: {_bytes(r.transfer)} ({_bytes(r.decoded)} decoded)"
                for r in v.weight.largest[1:MAX_ROWS]
            ]
    return [*(_md(line) for line in out), ""]


def _bar(title: str, parts: list[tuple[str, float]]) -> str:
    """A stacked bar of parts (never colour alone: each segment and the legend carry the label and value)."""
    total = sum(max(0.0, v) for _, v in parts) or 1.0
    segments = "".join(
        f'<div title="{escape(label)} {_ms(v)} ms" style="width:{max(0.0, v) / total * 100:.2f}%;'
        f'background:{COLORS[i % len(COLORS)]};height:14px"></div>'
        for i, (label, v) in enumerate(parts)
    )
    legend = " + ".join(f"{escape(label)} {_ms(v)} ms" for label, v in parts)
    return (
        f'<div class="bar" role="img" aria-label="{escape(title)}: {legend}">'
        f'<div style="display:flex;width:100%;max-width:640px">{segments}</div><small>{legend}</small></div>'
    )


def _table(head: tuple[str, ...], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _view_html(ev: BrowserEvidence, v: BrowserView) -> str:
    head, *_ = view_lines(ev, v)
    out = [f"<h4>{escape(head)}</h4>"]
    if v.lcp:
        out.append(f"<p>{escape(_lcp(v.lcp))}</p>")
        out.append(_bar("LCP parts", [(label, float(getattr(v.lcp, key))) for key, label in LCP_PARTS]))
    if v.inp:
        out.append(f"<p>{escape(_inp(v.inp))}</p>")
        out.append(_bar("INP parts", [(label, float(getattr(v.inp, key))) for key, label in INP_PARTS]))
        rows = [[s.invoker, s.type, s.url, _ms(s.duration)] for s in v.inp.scripts[:MAX_ROWS]]
        if rows:
            out.append(_table(("script", "invoker type", "URL", "ms"), rows))
    if v.cls:
        out.append(f"<p>largest shift {v.cls.value:.4g} at {_ms(v.cls.time)} ms</p>")
        rows = [[s.element or "?", _rect(s.previous), _rect(s.current)] for s in v.cls.sources[:MAX_ROWS]]
        out.append(_table(("source (moved element)", "before [x, y, w, h]", "after"), rows))
    if v.weight:
        out.append(f"<p>{escape(_weight(v.weight))}</p>")
        rows = [[r.type, r.url, _bytes(r.transfer), _bytes(r.decoded)] for r in v.weight.largest[:MAX_ROWS]]
        out.append(_table(("type", "resource", "transferred", "decoded"), rows))
    return "".join(out)


def html(ev: BrowserEvidence) -> str:
    return '<div class="browser-evidence">' + "".join(_view_html(ev, v) for v in ev.views[:MAX_VIEWS]) + "</div>"


MAX_STEPS = 10  # failed (user, page, step, reason) rows of a browser_step_failed gate's evidence


def failed_steps(failures: Sequence[StepFailure], tags: tuple[tuple[str, str], ...]) -> list[StepFailure]:
    """The failed steps of the gate's user and page (the run's table: the most frequent first), at most MAX_STEPS."""
    wanted = dict(tags)
    return [f for f in failures if wanted.get("user", f.user) == f.user and wanted.get("page", f.page) == f.page][
        :MAX_STEPS]


def step_line(f: StepFailure) -> str:
    return f"step {f.step} on page {f.page or '?'} ({f.user}) failed {f.count}x: {f.reason}"
