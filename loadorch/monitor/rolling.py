"""Rolling windows over cumulative tables (pure, clock passed in): the last `window` seconds of every
series, from a ring of at most `slices` slice histograms (what each `window / slices` seconds added)
plus what came since the last slice ended.

The sources (the master's merged tables, the browser sink) only ever add; at each slice's end the
window keeps what the slice added (the source minus the copy taken at the slice's start) and one copy
of the source, for the next difference. Everything kept is in a fixed coarse layout (`MONITOR_SUB_BITS`:
64 buckets per doubling, stats/histogram.py): a histogram of it has at most that many buckets per
doubling of its values, however many distinct values come, so the copy of the source (cumulative) stops
growing once its buckets are there, and the ring holds at most `slices` of them: memory flat for days.
Series are bounded upstream (the request-name bound, declared tags). The price: a percentile over a
window is within `PERCENTILE_ERROR` (1/128, 0.78 %) of the true value, not 0.05 %; exact below 128 us;
count, sum, min and max stay exact; a threshold whose limit lies inside a value's possible range is
inconclusive, never guessed (verdict/evaluate.decide, from the histogram's `value_range`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadorch.stats.histogram import Histogram, relative_error

MONITOR_SUB_BITS = 6  # the layout the monitor keeps and judges: 64 buckets per doubling
PERCENTILE_ERROR = relative_error(MONITOR_SUB_BITS)  # 1/128: a window's percentile within 0.78 %

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


def coarse(h: Histogram) -> Histogram:
    """`h` in the monitor's layout (itself when it is in it already)."""
    return h if h.sub_bits <= MONITOR_SUB_BITS else h.coarsened(MONITOR_SUB_BITS)


def _since(tables: Mapping[str, Table], counts: Mapping[str, Counts], earlier: Snapshot, at: float) -> Snapshot:
    """What the cumulative `tables` and `counts` added since the copy `earlier`; `at`: when that began."""
    out = Snapshot(at)
    for name, table in tables.items():
        before = earlier.tables.get(name, {})
        rows = {}
        for key, source in table.items():
            h = coarse(source)
            diff = h.minus(before[key]) if key in before else Histogram(MONITOR_SUB_BITS).merge(h)
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
            target[key] = target[key].merge(h) if key in target else Histogram(MONITOR_SUB_BITS).merge(h)
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
        # one copy of the source in the layout: the slice is its difference from the last one, and it is the next
        copies = {name: {k: Histogram(MONITOR_SUB_BITS).merge(h) for k, h in t.items()} for name, t in tables.items()}
        self.ring.append(_since(copies, counts, self.last, self.last.at))
        self.last = Snapshot(now, copies, {name: {k: list(v) for k, v in c.items()} for name, c in counts.items()})

    def window(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {}) -> Window:
        """The slices that began at most `window_s` ago, plus what came since the last one ended."""
        kept = [s for s in self.ring if now - s.at <= self.window_s + 1e-9]
        began = kept[0].at if kept else self.last.at
        out = _since(tables, counts, self.last, began)
        for part in kept:
            _add(out, part)
        full = now - self.start >= self.window_s - 1e-9
        return Window(max(now - began, 1e-9), out.tables, out.counts, full)
