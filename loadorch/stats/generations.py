"""A monitor master's judged tables by generation (pure): memory flat however long the monitor runs.

A run's master keeps its judged tables (series, service time, queries per request, timings) for the whole
run: a histogram per series that gains a bucket for each new latency its layout has room for, so a monitor
that runs for days would fill 64 buckets per doubling of every tail value it ever met. A monitor's master
instead keeps them per generation, each as long as its window (Merged.roll_timelines): the current one
(where reports merge) and the previous one. When a generation ends, the previous one retires: it is folded
into `retired`, one bucket per interval between the live metrics' bucket edges (`edges`, per table), so
/metrics' counters (requests, failures, each histogram bucket, sums) still count the whole run exactly and
never go down, in at most len(edges) + 1 buckets per series.

What reads what: the monitor's rolling windows the snapshot (current and previous generation: the window
restarts its difference when a generation begins, monitor/rolling.py); the final artifacts and the master's
live threshold states the window's tables (previous + current, `judged_from_s` on); /metrics the retired
counts plus both generations.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

from loadorch.stats.exemplars import Slowest
from loadorch.stats.histogram import Histogram, bounds_of

JUDGED = ("series", "service", "db", "timings")  # the tables kept per generation (Merged attributes)

Tables = dict[str, dict[Any, Histogram]]


def collapsed_into(into: Histogram | None, h: Histogram, edges: Sequence[int]) -> Histogram:
    """`into` (a new histogram when None) plus `h`, with one bucket per interval between `edges` (sorted, in
    recorded units): the largest bucket met in it stands for all. metrics.families.cumulative counts a
    bucket at an edge when its upper bound is at or below it, so every edge's count, the count, sum, min and
    max stay exact; percentiles of it mean nothing (it is for counters only)."""
    out = Histogram(h.sub_bits) if into is None else into
    if h.sub_bits > out.sub_bits:
        h = h.coarsened(out.sub_bits)
    groups: dict[int, tuple[int, int]] = {}  # interval between edges -> (largest bucket, count)
    for source in (out.buckets, h.buckets):
        for b, n in source.items():
            g = bisect_left(edges, bounds_of(b)[1])
            have = groups.get(g)
            groups[g] = (b, n) if have is None else (max(have[0], b), have[1] + n)
    out.buckets = {b: n for b, n in groups.values()}
    if h.count:
        out.min = h.min if out.count == 0 else min(out.min, h.min)
        out.max = max(out.max, h.max)
        out.count += h.count
        out.total += h.total
    return out


def summed(*tables: Mapping[Any, Histogram]) -> dict[Any, Histogram]:
    """The tables added up per key: a key in one table only keeps its histogram (not copied), a key in
    several gets a new one (the sources are not changed)."""
    out: dict[Any, Histogram] = {}
    shared: set[Any] = set()
    for table in tables:
        for key, h in table.items():
            have = out.get(key)
            if have is None:
                out[key] = h
                continue
            if key not in shared:
                have = out[key] = Histogram(have.sub_bits).merge(have)
                shared.add(key)
            have.merge(h)
    return out


def generation_slots(span_s: float, interval_s: float) -> int:
    """A generation's length in intervals: the window's (Merged.roll_timelines; a monitor's workers restart their
    K slowest on the same boundaries, Recorder.exemplar_slots)."""
    return max(1, math.ceil(span_s / interval_s))


class Generations:
    """The previous generation's judged tables and the retired ones' counts (the current generation is the
    Merged's own tables)."""

    def __init__(self) -> None:
        self.number = 0  # the current generation (interval // intervals per generation)
        self.older: Tables = {name: {} for name in JUDGED}
        self.retired: Tables = {name: {} for name in JUDGED}
        self.edges: dict[str, Sequence[int]] = {}  # per table: the live metrics' bucket edges (none: one bucket)
        self.older_from = 0  # the first interval of the previous generation (of the current one without it)
        self.current_from = 0  # the first interval of the current generation
        # the previous generation's K slowest requests (the current one's are the Merged's own): a monitor's
        # evidence is its window's slowest, not the slowest since it started days ago
        self.exemplars: Slowest | None = None

    def roll(self, current: Tables, first_interval: int) -> None:
        """A new generation begins at `first_interval`: the previous one retires (folded into counts), the
        current one (`current`, the Merged's tables, which the caller then empties) becomes the previous."""
        for name, table in self.older.items():
            edges = self.edges.get(name, ())
            retired = self.retired[name]
            for key, h in table.items():
                retired[key] = collapsed_into(retired.get(key), h, edges)
        self.older = {name: current.get(name, {}) for name in JUDGED}
        self.older_from, self.current_from = self.current_from, first_interval

    def total(self) -> int:
        """Requests in the previous and the retired generations' series."""
        return sum(h.count for table in (self.older["series"], self.retired["series"]) for h in table.values())
