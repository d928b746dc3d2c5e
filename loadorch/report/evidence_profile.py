"""The profile layer of a verdict's evidence: for a failing latency gate, where the target spent its time,
from each profiler of the run (the top functions by own time and the flame graph's file), or why a profiler
could not say (pure: from the run's profiles sections)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from loadorch.results import Evidence, ProfileEvidence, TopFrameRow
from loadorch.verdict.evaluate import ThresholdResult

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord

TARGET_TIME = ("http_req_duration", "http_req_waiting", "server_timing")  # latency the target's own code can
# explain (server_timing: the time the app says it spent, the closest to what a profile of it samples)
TOP = 5  # functions per profiler in the evidence
SHORT_TOP = 3  # of them on junit.xml's line


def profile_evidence(result: ThresholdResult, record: RunRecord) -> Evidence:
    """`profile` for a latency gate of a run with profilers; nothing otherwise."""
    t = result.threshold
    profiles = getattr(record, "profiles", None)  # a record built by hand (a test's namespace) may have none
    if t is None or t.selector.metric not in TARGET_TIME or not profiles or result.observed is None:
        return Evidence()
    out = []
    for p in profiles:
        if p.attached:
            cut_short = {"problem": p.problem} if p.problem else {}  # attached, and its target exited
            out.append(ProfileEvidence(name=p.name, target=p.target, attached=True, top=p.top[:TOP],
                                       flamegraph=p.flamegraph, **cut_short))
        else:
            out.append(ProfileEvidence(name=p.name, target=p.target, attached=False,
                                       problem=f"{p.problem}; fix: {p.fix}"))
    return Evidence(profile=out)


def _where(f: TopFrameRow) -> str:
    return f"{f.file.rsplit('/', 1)[-1]}:{f.line}" if f.line is not None else f.file.rsplit("/", 1)[-1]


def _frames(frames: Sequence[TopFrameRow], n: int) -> str:
    return ", ".join(f"{f.name} ({_where(f)}) {f.self_share:.0%}" for f in frames[:n]) or "no samples"


def _line(p: ProfileEvidence, n: int) -> str:
    if not p.attached:
        return f"profile {p.name}: not attached: {p.problem}"
    graph = f"; flame graph {p.flamegraph}" if p.flamegraph else ""
    short = f" (cut short: {p.problem})" if p.problem else ""
    return f"profile {p.name}: own time: {_frames(p.top, n)}{short}{graph}"


def profile_short(rows: Sequence[ProfileEvidence]) -> list[str]:
    return [_line(p, SHORT_TOP) for p in rows[:2]]


def profile_markdown(rows: Sequence[ProfileEvidence]) -> list[str]:
    from loadorch.report.markdown import _md
    from loadorch.report.text import one_line

    lines = (f"- {_md(one_line(_line(p, TOP), 600))}" for p in rows)  # a frame's file may hold a newline
    return ["Where the target spent its time (profilers):", "", *lines, ""]


def profile_html(rows: Sequence[ProfileEvidence]) -> str:
    items = "".join(f"<li>{escape(_line(p, TOP))}</li>" for p in rows)
    return f"<h3>Where the target spent its time</h3><ul>{items}</ul>"
