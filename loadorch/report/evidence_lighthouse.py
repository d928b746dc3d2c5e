"""The Lighthouse layer of a gate's evidence (results.LighthouseEvidence) as text: short lines for junit.xml,
markdown for summary.md, HTML for report.html. Data in, text out; bounded whatever the data holds."""

from __future__ import annotations

from html import escape

from loadorch.report.text import one_line
from loadorch.results import LighthouseEvidence, LighthouseNode, LighthouseShift

SHORT_ROWS = 3  # shifts, resources, audits on junit.xml's lines
WHOLE_ROWS = 5  # in summary.md and report.html (what the model keeps)
MAX_LINE = 400


def _bytes(n: float) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n:.0f} bytes"


def _value(ev: LighthouseEvidence) -> str:
    if ev.metric == "browser_resource_bytes":
        return _bytes(ev.value)
    if ev.metric == "lighthouse_score":
        return f"{ev.value:.2f}"
    if ev.metric == "browser_resource_count":
        return f"{ev.value:.0f} requests"
    return f"{ev.value:g}" + (f" ({ev.display})" if ev.display else "")


def _node(n: LighthouseNode | None) -> str:
    if n is None:
        return "?"
    named = n.selector or n.label or "?"
    return named + (f" {n.snippet}" if n.snippet else "")


def head(ev: LighthouseEvidence) -> str:
    of = f", {ev.role} of {ev.files} result files" if ev.files > 1 else ""
    page = f" of {ev.page}" if ev.page else ""
    return f"Lighthouse {ev.file}{of}: {ev.key} {_value(ev)}{page}"


def _lcp(ev: LighthouseEvidence) -> list[str]:
    out = []
    if ev.lcp_element is not None:
        out.append(f"LCP element {_node(ev.lcp_element)}")
    if ev.lcp_phases:
        parts = " + ".join(f"{p.phase} {p.ms:.0f}" + (f" ({p.share:.0%})" if p.share is not None else "")
                           for p in ev.lcp_phases)
        out.append(f"LCP phases: {parts} ms")
    return out


def _shift(s: LighthouseShift) -> str:
    causes = f"; causes: {', '.join(s.causes)}" if s.causes else ""
    return f"shift {s.score:.4g} of {_node(s.element)}{causes}"


def lines(ev: LighthouseEvidence, rows: int) -> list[str]:
    out = [head(ev), *_lcp(ev)]
    out += [_shift(s) for s in ev.shifts[:rows]]
    out += [f"resource {_bytes(r.transfer)} {r.type + ' ' if r.type else ''}{r.url}" for r in ev.resources[:rows]]
    out += [f"audit {a.audit} lost {a.points:g} points (score {a.score:.2f}, weight {a.weight:g})"
            + (f": {a.display}" if a.display else "") for a in ev.losses[:rows]]
    if ev.note:
        out.append(f"note: {ev.note}")
    return out


def short(ev: LighthouseEvidence) -> list[str]:
    return lines(ev, SHORT_ROWS)


def markdown(ev: LighthouseEvidence) -> list[str]:
    from loadorch.report.markdown import _md

    shown = (f"- {_md(one_line(line, MAX_LINE))}" for line in lines(ev, WHOLE_ROWS))
    return ["What the Lighthouse result says:", "", *shown, ""]


def html(ev: LighthouseEvidence) -> str:
    items = "".join(f"<li>{escape(one_line(line, MAX_LINE))}</li>" for line in lines(ev, WHOLE_ROWS))
    return f"<h3>What the Lighthouse result says</h3><ul>{items}</ul>"
