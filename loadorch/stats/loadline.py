"""The master's load timeline (pure): one point a second, at most 2 * `most` points kept, in memory taken once.

A point is (elapsed seconds, live users, arrivals scheduled, dispatched, dropped). Past 2 * `most` points every
other one is dropped and from then on one sample in twice as many is kept, so the points stay evenly spaced
from the start; the latest is always the newest (a sample between two kept ones stands in until the next
replaces it).

The points live in one array of doubles sized for the bound when the timeline is made (#32): as a list of
Python lists (about 220 bytes a point) a monitor's master grew 0.8 MB an hour for its first 20 minutes
(1,200 points), then by half as much for the next 40, and so on; here the memory is the same from the
first point to the last. The counts are integers below 2**53, exact as doubles, and read back as int.
"""

from __future__ import annotations

from array import array

WIDTH = 5  # elapsed, users, scheduled, dispatched, dropped


class LoadLine:
    def __init__(self, most: int) -> None:
        self.limit = 2 * most  # points kept; one more is held for a moment before the timeline is thinned
        self.data = array("d", bytes(8 * WIDTH * (self.limit + 1)))
        self.n = 0  # points held
        self.every = 1  # one sample in this many is kept (doubles each time the timeline is thinned)
        self.taken = 0  # samples taken

    def add(self, point: list[float]) -> None:
        """A sample: replaces the latest point if that one is not one to keep, else a new point."""
        if self.n and (self.taken - 1) % self.every:
            self._put(self.n - 1, point)
        else:
            self._put(self.n, point)
            self.n += 1
        self.taken += 1
        if self.n > self.limit:  # every other kept point goes; one standing in stays the latest
            kept = self.n if (self.taken - 1) % self.every == 0 else self.n - 1
            rows = [*range(0, kept, 2), *range(kept, self.n)]
            for to, row in enumerate(rows):
                self._move(row, to)
            self.n = len(rows)
            self.every *= 2

    def _put(self, row: int, point: list[float]) -> None:
        self.data[row * WIDTH : (row + 1) * WIDTH] = array("d", point)

    def _move(self, row: int, to: int) -> None:
        if row != to:
            self.data[to * WIDTH : (to + 1) * WIDTH] = self.data[row * WIDTH : (row + 1) * WIDTH]

    def points(self) -> list[list[float]]:
        """The points as the summary writes them: [elapsed, users, scheduled, dispatched, dropped], the counts
        as int."""
        d = self.data
        return [[d[i], *(int(v) for v in d[i + 1 : i + WIDTH])] for i in range(0, self.n * WIDTH, WIDTH)]

    def __len__(self) -> int:
        return self.n
