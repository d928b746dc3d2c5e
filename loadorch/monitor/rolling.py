"""Rolling windows over cumulative tables (pure, clock passed in): the last `window` seconds of every
series, from a ring of at most `slices + 1` snapshots taken every `window / slices` seconds.

The sources (the master's merged tables, the browser sink) only ever add; a window is the newest
values minus the oldest snapshot still inside it. Memory is the ring: (slices + 1) x series x a
histogram's buckets, whatever the time the monitor runs: series are bounded by the request-name and
tag bounds upstream, and a histogram by its bucket layout (at most 1,024 buckets per doubling of the
value, only those ever hit). Snapshots keep the full resolution, so a window judges as exactly as a run.
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


class RollingWindow:
    def __init__(self, window_s: float, slices: int, start: float) -> None:
        self.window_s = window_s
        self.slice_s = window_s / slices
        # the empty snapshot at the start: a window before the first slice is everything since then
        self.ring: deque[Snapshot] = deque([Snapshot(start)], maxlen=slices + 1)

    def observe(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {}) -> None:
        """Take a snapshot of the cumulative `tables` when a slice has passed since the last one."""
        if now - self.ring[-1].at < self.slice_s:
            return
        self.ring.append(Snapshot(
            now,
            {name: {k: Histogram().merge(h) for k, h in t.items()} for name, t in tables.items()},
            {name: {k: list(v) for k, v in c.items()} for name, c in counts.items()},
        ))

    def base(self, now: float) -> Snapshot:
        """The oldest snapshot at most `window_s` old (the newest one if every other is older)."""
        for snap in self.ring:
            if now - snap.at <= self.window_s + 1e-9:
                return snap
        return self.ring[-1]

    def window(self, now: float, tables: Mapping[str, Table], counts: Mapping[str, Counts] = {}) -> Window:
        base = self.base(now)
        out_tables: dict[str, dict[Any, Histogram]] = {}
        for name, table in tables.items():
            earlier = base.tables.get(name, {})
            rows = {}
            for key, h in table.items():
                diff = h.minus(earlier[key]) if key in earlier else Histogram().merge(h)
                if diff.count:
                    rows[key] = diff
            out_tables[name] = rows
        out_counts: dict[str, dict[Any, list[int]]] = {}
        for name, rows_of in counts.items():
            earlier_counts = base.counts.get(name, {})
            out_counts[name] = {
                k: [a - b for a, b in zip(v, earlier_counts.get(k, [0] * len(v)))] for k, v in rows_of.items()
            }
        full = now - self.ring[0].at >= self.window_s - 1e-9
        return Window(max(now - base.at, 1e-9), out_tables, out_counts, full)
