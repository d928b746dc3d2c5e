"""The profilers' part of summary.md and report.html: top frames by own time, overhead, the flame graph
(data in, text out; the flame graph's SVG text is read from the run folder by the caller)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from loadorch.profiling.flamegraph import drawn_here
from loadorch.results import ProfileSection, Results, TopFrameRow

TOP_HEAD = ["function", "where", "own s", "own %", "total s"]


def _where(f: TopFrameRow) -> str:
    return f"{f.file}:{f.line}" if f.line is not None else f.file


def top_rows(frames: Sequence[TopFrameRow]) -> list[list[str]]:
    return [[f.name, _where(f), f"{f.self_s:.2f}", f"{f.self_share:.1%}", f"{f.total_s:.2f}"] for f in frames]


def top_line(p: ProfileSection, n: int = 3) -> str:
    """`slow_fn (shop.py:12) 61%, ...`: the first frames by own time, on one line."""
    return ", ".join(f"{f.name} ({_where(f)}) {f.self_share:.0%}" for f in p.top[:n])


def about(p: ProfileSection) -> str:
    """What was sampled, for how long, and what it cost (or why it was not)."""
    if not p.attached:
        return f"not attached: {p.problem}; fix: {p.fix}. The HTTP verdict does not depend on it."
    text = f"{p.tool} sampled {p.target} (pid {p.pid}) at {p.rate_hz} Hz for {p.profiled_s:.1f} s: {p.samples} samples"
    o = p.overhead
    if o is not None and o.profiler_cpu_s is not None and o.profiler_core_share is not None:
        text += (
            f". Overhead: py-spy used {o.profiler_cpu_s:.2f} s of CPU ({o.profiler_core_share:.1%} of one core)"
            + (f", the target {o.target_cpu_s:.2f} s" if o.target_cpu_s is not None else "")
            + "; the target was never paused (--nonblocking)"
        )
    if p.dropped_stacks:
        text += f"; {p.dropped_stacks} samples of rarer stacks counted as (other stacks)"
    if p.problem:  # attached, and cut short (the target exited): what it sampled is not the whole window
        text += f". Cut short: {p.problem}; fix: {p.fix}"
    return text + "."


def markdown_section(doc: Results) -> list[str]:
    from loadorch.report.markdown import md_cell, md_table

    if not doc.profiles:
        return []
    out = ["### Profiles", ""]
    for p in doc.profiles:  # py-spy's words and a pid file's text are in `about`: escaped, on one line
        out += [f"**{md_cell(p.name)}**: {md_cell(about(p))}", ""]
        if p.top:
            out += [md_table(top_rows(p.top), TOP_HEAD), ""]
        if p.speedscope:
            files = f"{md_cell(p.speedscope)} (open at https://www.speedscope.app), {md_cell(p.flamegraph or '')}"
            out += [f"Files: {files}.", ""]
    return out


def html_section(doc: Results, flamegraphs: Mapping[str, str]) -> str:
    """One part per profiler; `flamegraphs` maps a profiler's name to its SVG text (absent: a link)."""
    if not doc.profiles:
        return ""
    parts = ["<h2>Profiles</h2>"]
    for p in doc.profiles:
        parts.append(f'<h3>{escape(p.name)}</h3><p class="note">{escape(about(p))}</p>')
        if p.top:
            head = "".join(f"<th>{escape(h)}</th>" for h in TOP_HEAD)
            body = "".join(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in top_rows(p.top)
            )
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        svg = flamegraphs.get(p.name, "")
        if drawn_here(svg):  # a file of another shape (a script in it) is named, never inlined
            parts.append(f'<div class="flame">{svg}</div>')
        elif p.flamegraph:
            parts.append(f'<p class="note">flame graph: {escape(p.flamegraph)} (beside results.json)</p>')
        if p.speedscope:
            parts.append(f'<p class="note">speedscope profile: {escape(p.speedscope)} '
                         "(open it at https://www.speedscope.app)</p>")  # fmt: skip
    return "".join(parts)
