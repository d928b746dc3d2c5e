"""A worker's stats delta on the wire (`lo_stats.delta`): each table of histograms packed in one bytes value.

The master's cost per report was one Python object (and one function call) per histogram and per key
string: a 200-endpoint report holds about 800 histograms. Here a table travels as one bytes value
(`pack_table`), little-endian:

    uint64 n; int64 sums[n], mins[n], maxs[n];
    uint32 ids[n], ones[n], lens[n], singles[s], buckets[m], counts[m]

with s = sum(ones) and m = sum(lens). Histogram i has the ones[i] buckets of `singles` after those of
row i - 1, one sample each (most buckets of a one-second delta: the master adds them in C), and the
lens[i] (bucket, count) pairs after those of row i - 1. Its count is the number of its singles plus
the sum of its counts: not sent, so it cannot disagree with them.

`ids` name the rows: an index in the delta's `keys` (the worker's series keys, JSON, in the order the
worker first saw them: the list only grows, so the master decodes it once per worker and reuses it while
the bytes stay the same; every delta carries it whole, so no report depends on an earlier one), or in
the table's own key rows (`intervals`, `phases`).

The master decodes and checks a whole delta (`decode`) before it merges any of it, so a malformed
report is refused whole and the merged tables stay the exact sum of the accepted ones.
"""

from __future__ import annotations

import collections
import json
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import add, gt
from typing import Any, Literal, NamedTuple

from loadorch.stats.endpoints import MAX_FOLDED_SHOWN
from loadorch.stats.exemplars import checked
from loadorch.stats.histogram import Histogram
from loadorch.stats.servertiming import MAX_TAGS, valid_tag
from loadorch.stats.timesplit import checked as checked_splits

_SWAP = sys.byteorder != "little"


class Packed(NamedTuple):
    """One packed table, decoded and checked: plain lists of ints."""

    ids: list[int]  # per row
    ones: list[int]  # per row: how many of `singles` are its own
    lens: list[int]  # per row: how many of the (bucket, count) pairs are its own
    sums: list[int]
    mins: list[int]
    maxs: list[int]
    singles: list[int]  # buckets with one sample, row after row
    buckets: list[int]  # buckets with more, row after row
    counts: list[int]  # their counts


def pack_table(rows: Iterable[tuple[int, Histogram]]) -> bytes:
    """(id, histogram) rows as one bytes value (see the module's docstring)."""
    ids, ones, lens, sums, mins, maxs = [], [], [], [], [], []
    singles: list[int] = []
    buckets: list[int] = []
    counts: list[int] = []
    for i, h in rows:
        ids.append(i)
        sums.append(h.total)
        mins.append(h.min)
        maxs.append(h.max)
        k, m = len(singles), len(buckets)
        for b, c in h.buckets.items():
            if c == 1:
                singles.append(b)
            else:
                buckets.append(b)
                counts.append(c)
        ones.append(len(singles) - k)
        lens.append(len(buckets) - m)
    heads, rest = array("q", sums + mins + maxs), array("I", ids + ones + lens + singles + buckets + counts)
    if _SWAP:
        heads.byteswap()
        rest.byteswap()
    return len(ids).to_bytes(8, "little") + heads.tobytes() + rest.tobytes()


def _ints(data: bytes, start: int, end: int, code: Literal["q", "I"]) -> list[int]:
    if _SWAP:
        a = array(code, data[start:end])
        a.byteswap()
        return a.tolist()
    out: list[int] = memoryview(data)[start:end].cast(code).tolist()
    return out


def unpack_table(data: Any, id_limit: int, what: str = "a table") -> Packed:
    """A packed table, checked (ValueError if not): its sizes agree, every id is below `id_limit`, every row
    has samples, no count is 0, no value below 0 and no min above its max."""
    if not isinstance(data, bytes) or len(data) < 8:
        raise ValueError(f"{what}: not a packed table")
    n = int.from_bytes(data[:8], "little")
    fixed = 8 + 36 * n
    if len(data) < fixed or (len(data) - fixed) % 4:
        raise ValueError(f"{what}: a packed table of the wrong size")
    heads = _ints(data, 8, 8 + 24 * n, "q")
    rest = _ints(data, 8 + 24 * n, len(data), "I")
    ids, ones, lens, sums, mins, maxs = rest[:n], rest[n : 2 * n], rest[2 * n : 3 * n], *_thirds(heads, n)
    s, m = sum(ones), sum(lens)
    if len(rest) != 3 * n + s + 2 * m:
        raise ValueError(f"{what}: a packed table of the wrong size")
    counts = rest[3 * n + s + m :]
    if 0 in map(add, ones, lens) or 0 in counts:
        raise ValueError(f"{what}: a packed table with an empty histogram or a bucket counted 0")
    if n and (max(ids) >= id_limit or min(mins) < 0 or any(map(gt, mins, maxs))):
        raise ValueError(f"{what}: a packed table naming a row it does not have, or a min below 0 or above its max")
    return Packed(ids, ones, lens, sums, mins, maxs, rest[3 * n : 3 * n + s], rest[3 * n + s : 3 * n + s + m], counts)


def _thirds(heads: list[int], n: int) -> tuple[list[int], list[int], list[int]]:
    return heads[:n], heads[n : 2 * n], heads[2 * n :]


def _count_ones_python(have: dict[int, int], buckets: Iterable[int]) -> None:
    for b in buckets:
        have[b] = have.get(b, 0) + 1


# one more sample in each bucket, the loop in C: what collections.Counter.update runs (CPython and PyPy have it)
_count_ones: Callable[[dict[int, int], Iterable[int]], None] = getattr(
    collections, "_count_elements", _count_ones_python
)


def merge_packed(targets: Sequence[Histogram], p: Packed) -> int:
    """Add each row of `p` to its histogram in `targets` (one per row, in order); the samples added.
    The master's cost per report: single-sample buckets added in C, a short loop for the others."""
    singles, pairs = iter(p.singles), zip(p.buckets, p.counts)
    added = 0
    for h, k, m, total, low, high in zip(targets, p.ones, p.lens, p.sums, p.mins, p.maxs):
        have = h.buckets
        n = k
        if k:
            _count_ones(have, islice(singles, k))
        if m:
            for b, c in islice(pairs, m):
                have[b] = have.get(b, 0) + c
                n += c
        if h.count == 0 or low < h.min:
            h.min = low
        if high > h.max:
            h.max = high
        h.count += n
        h.total += total
        added += n
    return added


def decode_keys(blob: Any, make: Callable[[tuple[Any, ...]], Any]) -> list[Any]:
    """The delta's `keys` (JSON rows of six: user, name, kind, method, status, ok), each made by `make`."""
    if not isinstance(blob, bytes):
        raise ValueError("the series keys are not bytes")
    try:
        rows = json.loads(blob)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the series keys are not JSON: {exc}") from None
    if not isinstance(rows, list):
        raise ValueError("the series keys are not a list")
    out = []
    for row in rows:
        if not (
            isinstance(row, list)
            and len(row) == 6
            and all(isinstance(x, str) for x in row[:4])
            and type(row[4]) is int
            and type(row[5]) is bool
        ):
            raise ValueError(f"a malformed series key: {row!r:.80}")
        out.append(make(tuple(row)))
    return out


class KeyRegistry:
    """A worker's series keys by id, for the whole run (ids never change), and their JSON (`blob`)."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.rows: list[Sequence[Any]] = []
        self.names: dict[str, int] = {}  # request name -> the id of a key with that name
        self._blob: bytes | None = b"[]"

    def id(self, key: Any) -> int:
        """The id of a series key (a stats.SeriesKey), registered the first time."""
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.rows)
            self.rows.append(key.as_list())
            self.names.setdefault(key.name, i)
            self._blob = None
        return i

    def name_id(self, name: str) -> int:
        """The id of a key with this request name (a key of that name alone, if none was recorded)."""
        i = self.names.get(name)
        if i is None:
            i = self.names[name] = len(self.rows)
            self.rows.append(("", name, "", "", 0, True))
            self._blob = None
        return i

    def blob(self) -> bytes:
        if self._blob is None:
            self._blob = json.dumps(self.rows, separators=(",", ":")).encode()
        return self._blob


Shapes = frozenset[tuple[type, ...]]  # the exact types of a row's fields (a bool is not an int here)
_NONE = type(None)
INTERVAL_KEY: Shapes = frozenset({(int, str, bool)})  # (time slot, kind, ok)
PHASE_KEY: Shapes = frozenset({(str, str, bool)})  # (phase, kind, ok)
SMALL_ROWS: dict[str, Shapes] = {
    "errors": frozenset({(int, str, int)}),  # (series id, reason, count)
    "examples": frozenset({(int, str, str)}),  # (series id, reason, the first response of that error)
    "le": frozenset({(int, list), (int, tuple)}),  # (series id, counts per live-metrics bucket edge)
    "checks": frozenset({(str, str, str, str, str, int, int, t) for t in (str, _NONE)}),  # wire.CheckRow
}


def _rows(rows: Any, shapes: Shapes, what: str) -> list[Sequence[Any]]:
    """Small rows of the delta, each of one of these shapes (ValueError if not)."""
    if type(rows) not in (list, tuple):
        raise ValueError(f"{what}: not a list")
    for row in rows:
        if type(row) not in (list, tuple) or tuple(map(type, row)) not in shapes:
            raise ValueError(f"{what}: a malformed row {row!r:.80}")
    return list(rows)


def _keyed_table(data: Any, shapes: Shapes, what: str) -> tuple[list[tuple[Any, ...]], Packed]:
    """A table that carries its own row keys: ([key rows], packed rows naming them by index)."""
    if type(data) not in (list, tuple) or len(data) != 2:
        raise ValueError(f"{what}: a malformed table")
    keys = list(map(tuple, _rows(data[0], shapes, what)))
    if any(type(k[0]) is int and k[0] < 0 for k in keys):
        raise ValueError(f"{what}: a negative time slot")
    return keys, unpack_table(data[1], len(keys), what)


SERIES_TABLES = ("series", "service", "db", "window")


def decode(delta: Any, keys: list[Any]) -> Decoded:
    """Check a whole delta (ValueError, saying what, if anything is malformed); `keys`: its decoded `keys`."""
    if not isinstance(delta, dict) or type(delta.get("total")) is not int:
        raise ValueError("a delta without its total")
    out = Decoded(keys, total=delta["total"], window="window" in delta)
    limit = len(keys)
    for name in SERIES_TABLES:
        if name in delta:
            out.tables.append((name, None, keys, unpack_table(delta[name], limit, name)))
    timings = _rows(delta.get("timings", ()), frozenset({(str, bytes)}), "timings")
    if len(timings) > MAX_TAGS:
        raise ValueError(f"timings: {len(timings)} tables, more than {MAX_TAGS}")
    for timing, data in timings:
        if not valid_tag(timing):
            raise ValueError(f"timings: an unknown timing {timing!r:.40}")
        out.tables.append(("timings", timing, keys, unpack_table(data, limit, f"timings {timing}")))
    for slot, data in _rows(delta.get("endpoint_intervals", ()), frozenset({(int, bytes)}), "endpoint_intervals"):
        if slot < 0:
            raise ValueError("endpoint_intervals: a negative time slot")
        out.tables.append(("endpoint_intervals", slot, keys, unpack_table(data, limit, "endpoint_intervals")))
    if "intervals" in delta:
        out.tables.append(("intervals", None, *_keyed_table(delta["intervals"], INTERVAL_KEY, "intervals")))
    if "phases" in delta:
        out.tables.append(("phases", None, *_keyed_table(delta["phases"], PHASE_KEY, "phases")))
    for name, shapes in SMALL_ROWS.items():
        out.small[name] = _rows(delta.get(name, ()), shapes, name)
    for name in ("errors", "examples", "le"):
        if any(not 0 <= row[0] < limit for row in out.small[name]):
            raise ValueError(f"{name}: a row names a series key the delta does not have")
    if any(row[2] < 0 for row in out.small["errors"]) or any(row[5] < 0 or row[6] < 0 for row in out.small["checks"]):
        raise ValueError("a negative count")
    for _, counts in out.small["le"]:
        if not all(type(n) is int and n >= 0 for n in counts):
            raise ValueError("le: malformed counts")
    out.small["exemplars"] = checked(delta.get("exemplars", ()))
    out.small["splits"] = checked_splits(delta.get("splits", ()))
    folded = delta.get("folded", [])
    if type(folded) not in (list, tuple) or not all(type(n) is str for n in folded):
        raise ValueError("folded: not a list of request names")
    out.folded = [n[:200] for n in folded[:MAX_FOLDED_SHOWN]]  # a worker sends its first ones, once
    return out


@dataclass
class Decoded:
    """A delta checked whole: per table, (table name, row keys, packed rows) and the small rows as they came."""

    keys: list[Any]
    tables: list[tuple[str, Any, Sequence[Any], Packed]] = field(default_factory=list)  # (table, tag, row keys, rows)
    small: dict[str, list[Any]] = field(default_factory=dict)
    total: int = 0
    window: bool = False  # the worker's run has a measurement window
    folded: list[str] = field(default_factory=list)  # request names the worker folded into OTHER_ENDPOINTS

    def rows(self, name: str) -> Iterator[tuple[Any, Sequence[Any], Packed]]:
        """(tag, row keys, packed rows) of one table: the tag is the time slot or the timing's name."""
        for table, tag, keys, p in self.tables:
            if table == name:
                yield tag, keys, p
