"""Rolling windows over cumulative tables (pure, clock passed in): the last `window` seconds of every
series, from a ring of at most `slices` slice histograms (what each `window / slices` seconds added)
plus what came since the last slice ended.

The sources (the master's merged tables, the browser sink) only ever add; at each slice's end the
window keeps what the slice added (the source minus the copy taken at the slice's start) and one copy
of the source, for the next difference. So memory is the samples of one window (bounded by the rate
and by a histogram's bucket layout) plus one copy of the source, whatever the time the monitor runs;
series are bounded upstream (the request-name bound, declared tags). Slices keep full resolution, so a
window judges as exactly as a run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadorch.stats.histogram import Histogram

Table = Mapping[Any, Histogram]
Counts = Mapping[Any, list[int]]


@dataclass
class Snapshot:
    """Tables at a time: a copy of the cumulative source (`last`), or what a slice added (the ring)."""

    at: float
    tables: dict[str, dict[Any, Histogram]] = field(default_factory=dict)
    counts: dict[str, dict[Any, list[int]]] = field(default_factory=dict)


@dataclass
class Window:
    """The samples of the last `seconds` (shorter while the monitor has run less than its window)."""

    seconds: float
    tables: dict[str, dict[Any, Histogram]]
    counts: dict[str, dict[Any, list[int]]]
    full: bool  # the window spans its whole length


def _since(tables: Mapping[str, Table], counts: Mapping[str, Counts], earlier: Snapshot, at: float) -> Snapshot:
    """What the cumulative `tables` and `counts` added since the copy `earlier`; `at`: when that began."""
    out = Snapshot(at)
    for name, table in tables.items():
        before = earlier.tables.get(name, {})
        rows = {}
        for key, h in table.items():
            diff = h.minus(before[key]) if key in before else Histogram().merge(h)
            if diff.count:
                rows[key] = diff
        out.tables[name] = rows
    for name, rows_of in counts.items():
        before_counts = earlier.counts.get(name, {})
        out.counts[name] = {k: [a - b for a, b in zip(v, before_counts.get(k, [0] * len(v)))]
                            for k, v in rows_of.items()}
    return out


def _add(into: Snapshot, part: Snapshot) -> None:
    for name, rows in part.tables.items():
        target = into.tables.setdefault(name, {})
        for key, h in rows.items():
            target[key] = target[key].merge(h) if key in target else Histogram().merge(h)
    for name, rows_of in part.counts.items():
        target_counts = into.counts.setdefault(name, {})
        for key, v in rows_of.items():
            old = target_counts.get(key)
            target_counts[key] = [a + b for a, b in zip(old, v)] if old is not None else list(v)


class RollingWindow:
    def __init__(self, window_s: float, slices: int, start: float) -> None:
        self.window_s = window_s
        self.slice_s = window_s / slices
        self.start = start
        self.ring: deque[Snapshot] = deque(maxlen=slices)  # each slice's additions, stamped with its start
        self.last = Snapshot(start)  # the source as it was when the current slice began

    def observe(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {}) -> None:
        """Close the current slice when `slice_s` has passed since it began."""
        if now - self.last.at < self.slice_s:
            return
        self.ring.append(_since(tables, counts, self.last, self.last.at))
        self.last = Snapshot(
            now,
            {name: {k: Histogram().merge(h) for k, h in t.items()} for name, t in tables.items()},
            {name: {k: list(v) for k, v in c.items()} for name, c in counts.items()},
        )

    def window(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {}) -> Window:
        """The slices that began at most `window_s` ago, plus what came since the last one ended."""
        kept = [s for s in self.ring if now - s.at <= self.window_s + 1e-9]
        began = kept[0].at if kept else self.last.at
        out = _since(tables, counts, self.last, began)
        for part in kept:
            _add(out, part)
        full = now - self.start >= self.window_s - 1e-9
        return Window(max(now - began, 1e-9), out.tables, out.counts, full)
