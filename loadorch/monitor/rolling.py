"""Rolling windows over cumulative tables (pure, clock passed in): the last `window` seconds of every
series, from a ring of at most `slices` slice histograms (what each `window / slices` seconds added)
plus what came since the last slice ended.

The sources (the master's merged tables, the browser sink) only ever add; at each slice's end the
window keeps what the slice added (the source minus the copy taken at the slice's start) and one copy
of the source, for the next difference. Everything kept is in a fixed coarse layout (`MONITOR_SUB_BITS`:
64 buckets per doubling, stats/histogram.py): a histogram of it has at most that many buckets per
doubling of its values, however many distinct values come, so the copy of the source (cumulative) stops
growing once its buckets are there, and the ring holds at most `slices` of them: memory flat for days.
Series are bounded upstream (the request-name bound, declared tags). The master's HTTP tables restart
each generation (stats/generations.py: a window long, so they stop filling too): the snapshot says which
generation it is and holds the previous one's tables as they ended, so when a new one has begun the slice
is what the previous generation added since the copy plus the new one's whole, still exact. The price: a
percentile over a window is within `PERCENTILE_ERROR` (1/128, 0.78 %) of the true value, not 0.05 %;
exact below 128 us; count, sum, min and max stay exact; a threshold whose limit lies inside a value's possible range is
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
    generation: int = 0  # the source's generation (its HTTP tables restart with each)


@dataclass
class Window:
    """The samples of the last `seconds` (shorter while the monitor has run less than its window)."""

    seconds: float
    tables: dict[str, dict[Any, Histogram]]
    counts: dict[str, dict[Any, list[int]]]
    full: bool  # the monitor has run its window, and the window spans at least window - slice of it


def coarse(h: Histogram) -> Histogram:
    """`h` in the monitor's layout (itself when it is in it already)."""
    return h if h.sub_bits <= MONITOR_SUB_BITS else h.coarsened(MONITOR_SUB_BITS)


def _minus(table: Table, before: Mapping[Any, Histogram]) -> dict[Any, Histogram]:
    rows = {}
    for key, source in table.items():
        h = coarse(source)
        diff = h.minus(before[key]) if key in before else Histogram(MONITOR_SUB_BITS).merge(h)
        if diff.count:
            rows[key] = diff
    return rows


def _since(tables: Mapping[str, Table], counts: Mapping[str, Counts], earlier: Snapshot, at: float,
           older: Mapping[str, Table] | None = None) -> Snapshot:
    """What the cumulative `tables` and `counts` added since the copy `earlier`; `at`: when that began.
    `older`: the source began a new generation since `earlier` (these tables restarted from nothing): the
    previous generation's tables as they ended, whose additions since `earlier` count too."""
    out = Snapshot(at)
    for name, table in tables.items():
        before = earlier.tables.get(name, {})
        if older is None or name not in older:
            out.tables[name] = _minus(table, before)
            continue
        rows = _minus(older[name], before)
        for key, h in table.items():
            if h.count:
                rows[key] = rows[key].merge(coarse(h)) if key in rows else Histogram(MONITOR_SUB_BITS).merge(h)
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

    def _added(self, tables: Mapping[str, Table], counts: Mapping[str, Counts], at: float, generation: int,
               older: Mapping[str, Table] | None) -> Snapshot:
        """What the source added since the last copy; across a new generation, what the previous one added
        since it (when the copy is of the generation before: one skipped whole, what it held is gone)."""
        last = self.last
        if generation == last.generation or older is None:
            return _since(tables, counts, last, at)
        base = last if generation == last.generation + 1 else Snapshot(last.at, {}, last.counts, last.generation)
        return _since(tables, counts, base, at, older)

    def observe(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {},
                generation: int = 0, older: Mapping[str, Table] | None = None) -> None:
        """Close the current slice when `slice_s` has passed since it began (`generation`, `older`: the
        source's, see the module)."""
        if now - self.last.at < self.slice_s:
            return
        # one copy of the source in the layout: the slice is its difference from the last one, and it is the next
        copies = {name: {k: Histogram(MONITOR_SUB_BITS).merge(h) for k, h in t.items()} for name, t in tables.items()}
        self.ring.append(self._added(copies, counts, self.last.at, generation, older))
        self.last = Snapshot(now, copies, {name: {k: list(v) for k, v in c.items()} for name, c in counts.items()},
                             generation)

    def window(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {},
               generation: int = 0, older: Mapping[str, Table] | None = None) -> Window:
        """The slices that began at most `window_s` ago, plus what came since the last one ended."""
        kept = [s for s in self.ring if now - s.at <= self.window_s + 1e-9]
        began = kept[0].at if kept else self.last.at
        out = self._added(tables, counts, began, generation, older)
        for part in kept:
            _add(out, part)
        # full: the monitor has run a window and the slices kept span at least window - slice (as they do while
        # reads come; a stall longer than that dropped the slice that spans it whole)
        full = now - self.start >= self.window_s - 1e-9 and now - began >= self.window_s - self.slice_s - 1e-9
        return Window(max(now - began, 1e-9), out.tables, out.counts, full)
