"""Closed-model stages and measurement windows (pure).

A closed-model stage ramps the number of virtual users linearly from the previous stage's count
(0 before the first) to its own over its duration, like k6's ramping-vus. At `t` seconds the users
with slots 0..users_at(t)-1 are active: the lowest slots start first and the highest stop first, so
the same seed gives the same users in the same stage on any number of workers.

A measurement window is a list of (from, to) spans in seconds since the start of the load; a sample
belongs to it when it completes inside a span. `steady_spans` gives the spans whose level is flat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Stage = tuple[float, float, float]  # level at the start, level at the end, seconds
Span = tuple[float, float]

PHASE_IN, PHASE_BEFORE, PHASE_AFTER, PHASE_BETWEEN = "in", "ramp_up", "ramp_down", "between"


def users_at(stages: Sequence[Stage], t: float) -> int:
    """Active users at `t` seconds: the linear ramp, rounded half up; the last level after the end."""
    start = 0.0
    for a, b, d in stages:
        if t < start + d:
            level = a + (b - a) * (t - start) / d if d > 0 else b
            return math.floor(level + 0.5)
        start += d
    return int(stages[-1][1]) if stages else 0


def steady_spans(stages: Sequence[Stage]) -> tuple[Span, ...]:
    """The spans of the stages whose level is flat (adjacent ones joined)."""
    spans: list[Span] = []
    start = 0.0
    for a, b, d in stages:
        if a == b and d > 0 and b > 0:
            if spans and math.isclose(spans[-1][1], start):
                spans[-1] = (spans[-1][0], start + d)
            else:
                spans.append((start, start + d))
        start += d
    return tuple(spans)


def phase_of(spans: Sequence[Span], t: float) -> str:
    """Where a sample completed at `t` falls: inside the window, before it, after it or between spans."""
    for a, b in spans:
        if a <= t < b:
            return PHASE_IN
    if t < spans[0][0]:
        return PHASE_BEFORE
    return PHASE_AFTER if t >= spans[-1][1] else PHASE_BETWEEN


def window_seconds(spans: Sequence[Span], elapsed: float) -> float:
    """How long the window lasted in a run that lasted `elapsed` seconds."""
    return sum(max(0.0, min(b, elapsed) - a) for a, b in spans)
