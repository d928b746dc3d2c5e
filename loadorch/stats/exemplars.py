"""The K slowest requests per endpoint (exemplars): kept on each worker, shipped with each delta, merged by
the master into the K slowest of the whole run (pure).

A worker's offer costs one dict lookup and one comparison (`Slowest.floor`) unless the request is slower
than the fastest of its endpoint's K kept so far; memory is K rows per endpoint name (names are bounded by
stats/endpoints.py), each row bounded (SERVER_TIMING_KEPT entries, names and descs cut).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from typing import Any

DEFAULT_K = 5
MAX_K = 50
NOT_MEASURED = -1  # a phase (connect, TLS, waiting, receiving) or size the request path could not measure
SERVER_TIMING_KEPT = 8  # Server-Timing entries kept per exemplar
NAME_CHARS = 64
DESC_CHARS = 120
TRACE_ID_CHARS = 32

# An exemplar row (also its wire form, a JSON-able list):
# [name, method, status, duration_us, at (epoch s), connect_us, tls_us, waiting_us, receiving_us, bytes,
#  trace_id ("" if none), server_timing [[name, dur_ms | None, desc | None], ...], worker, user ("" if not known)]
# the user class: two users may name a request alike, and a gate on one user lists only its own requests
Row = list[Any]
ROW_LEN = 14
USER = 13
_SHAPE = (str, str, int, int, float, int, int, int, int, int, str, list, int, str)


def row(
    name: str,
    method: str,
    status: int,
    duration_us: int,
    at: float,
    connect_us: int = NOT_MEASURED,
    tls_us: int = NOT_MEASURED,
    waiting_us: int = NOT_MEASURED,
    receiving_us: int = NOT_MEASURED,
    size: int = NOT_MEASURED,
    trace_id: str = "",
    server_timing: Sequence[tuple[str, float | None, str | None]] = (),
    worker: int = 0,
    user: str = "",
) -> Row:
    kept = server_timing[:SERVER_TIMING_KEPT]
    timing = [[n[:NAME_CHARS], d, None if s is None else s[:DESC_CHARS]] for n, d, s in kept]
    return [name, method, int(status), int(duration_us), float(at), int(connect_us), int(tls_us), int(waiting_us),
            int(receiving_us), int(size), trace_id[:TRACE_ID_CHARS], timing, int(worker), user[:200]]


class Slowest:
    """Per endpoint name, a min-heap of its K slowest rows (the fastest of them on top, to be replaced)."""

    __slots__ = ("floor", "heaps", "k", "seq", "taken")

    def __init__(self, k: int = DEFAULT_K) -> None:
        self.k = max(0, min(int(k), MAX_K))
        self.heaps: dict[str, list[tuple[int, int, Row]]] = {}
        # per endpoint whose K are all kept, the duration a request must exceed to be kept: a request path
        # asks `duration_us > floor.get(name, -1)` (one lookup, one comparison) before it builds a row
        self.floor: dict[str, int] = {}
        self.seq = 0  # ties between equal durations: the first kept stays
        self.taken = 0  # `seq` at the last `take`: rows kept since are new

    def wants(self, name: str, duration_us: int) -> bool:
        """Whether a request this slow would be kept (so its row is worth building)."""
        return self.k > 0 and duration_us > self.floor.get(name, -1)

    def offer(self, r: Row) -> None:
        """Keep a row if it is among its endpoint's K slowest so far."""
        name, duration = r[0], r[3]
        if not self.wants(name, duration):
            return
        heap = self.heaps.setdefault(name, [])
        self.seq += 1
        item = (duration, -self.seq, r)
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)
        if len(heap) == self.k:
            self.floor[name] = heap[0][0]

    def merge(self, rows: Iterable[Row]) -> None:
        for r in rows:
            self.offer(r)

    def rows(self) -> list[Row]:
        """Every kept row, slowest first within each endpoint, endpoints by name."""
        return [item[2] for name in sorted(self.heaps) for item in sorted(self.heaps[name], reverse=True)]

    def take(self) -> list[Row]:
        """The rows kept since the last call and still kept, as `rows()` orders them (each a copy).

        A worker keeps one Slowest for its whole run and sends only these with each delta: its floor stays
        high, so after the first seconds few requests build a row at all (not 55-75 rows a second from a
        Slowest started afresh each delta). The master, which keeps the K slowest of every row it is sent
        (ties: the first sent stays), ends with the same rows either way: a row of a delta's own K slowest
        that is not among the run's K so far is beaten by K rows the master already holds, and the rows sent
        keep their order (tests/unit/test_exemplars_take.py compares both over random runs)."""
        taken, self.taken = self.taken, self.seq
        return [list(item[2]) for name in sorted(self.heaps)
                for item in sorted(self.heaps[name], reverse=True) if -item[1] > taken]

    def of(self, names: Iterable[str] | None = None) -> list[Row]:
        """The kept rows of these endpoints (None: all), slowest first."""
        chosen = list(self.heaps) if names is None else [n for n in names if n in self.heaps]
        return [item[2] for item in sorted((i for n in chosen for i in self.heaps[n]), reverse=True)]

    def clear(self) -> None:
        self.heaps, self.floor, self.taken = {}, {}, self.seq

    def __len__(self) -> int:
        return sum(len(h) for h in self.heaps.values())


def checked(rows: Any, limit: int = 10_000) -> list[Row]:
    """A delta's exemplar rows, each of the row's shape (ValueError if not); at most `limit` rows."""
    if type(rows) not in (list, tuple):
        raise ValueError("exemplars: not a list")
    if len(rows) > limit:
        raise ValueError(f"exemplars: {len(rows)} rows, more than {limit}")
    out = []
    for r in rows:
        if type(r) not in (list, tuple) or len(r) not in (ROW_LEN, ROW_LEN - 1):
            raise ValueError(f"exemplars: a malformed row {r!r:.80}")
        r = list(r) if len(r) == ROW_LEN else [*r, ""]  # a row of before the user was kept (a baseline's)
        if type(r[4]) is int:
            r[4] = float(r[4])
        if tuple(map(type, r)) != _SHAPE:
            raise ValueError(f"exemplars: a malformed row {r!r:.80}")
        for entry in r[11]:
            if not (type(entry) in (list, tuple) and len(entry) == 3 and type(entry[0]) is str
                    and (entry[1] is None or type(entry[1]) in (int, float))
                    and (entry[2] is None or type(entry[2]) is str)):
                raise ValueError(f"exemplars: a malformed Server-Timing entry {entry!r:.80}")
        out.append(row(r[0][:200], r[1][:16], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                       [tuple(e) for e in r[11]], r[12], r[USER]))
    return out
