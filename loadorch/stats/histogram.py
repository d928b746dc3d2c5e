"""Mergeable latency histograms: exact below 2.048 ms, within 0.05 % above (log-linear buckets).

Values are integer microseconds. A value v >= 2048 goes to bucket (e << 10) + (v >> e) with
e = bit_length(v) - 11, so buckets continue at 2048 where the exact range ends and each spans
1/1024 of its magnitude. A percentile is reported as its bucket's midpoint, off by at most half a
bucket. Merging adds counts, so percentiles of merged histograms are those of the pooled samples,
never averages of percentiles.

A histogram has a layout, `sub_bits`: 2**sub_bits buckets per doubling (SUB_BITS, the default, is the
layout above). A coarser one (`Histogram(6)`, or `coarsened(6)`) keeps every value in the middle bucket of
its group (`coarse_bucket`): recording into it or merging into it coarsens, so its buckets are bounded
by the layout, not by the number of distinct values (the monitor's cumulative tables: memory flat for
days); `value_range` then spans the whole group, so a verdict near a limit is called inconclusive, not
guessed. Values stay within `relative_error(sub_bits)` (1/128 for 64 buckets per doubling).

Between processes (a worker's stats delta) a table of histograms travels packed: stats/delta.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from itertools import repeat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadorch.wire import HistogramJson

EXACT_BELOW = 2048
SUB_BITS = 10


def bucket_of(us: int) -> int:
    if us < EXACT_BELOW:
        return us if us > 0 else 0
    e = us.bit_length() - SUB_BITS - 1
    return (e << SUB_BITS) + (us >> e)


TABLED = 1 << 16  # values (us) whose bucket Histogram.of reads from a table (_bucket_table: 512 KB, made on first use)
_TABLE: list[int] = []


def _bucket_table() -> list[int]:
    """bucket_of every value under TABLED (a process's first long `Histogram.of` makes it, in about 1 ms)."""
    if not _TABLE:
        _TABLE.extend(bucket_table(SUB_BITS + 1, lambda e, top: (e << SUB_BITS) + top))
    return _TABLE


def bucket_table(bits: int, bucket: Callable[[int, int], int]) -> list[int]:
    """The bucket of every value under TABLED, for a layout that keeps a value's `bits` leading bits: exact below
    2**bits, then `bucket(e, top)` (top: the value >> e, its leading bits) for each of the 2**e values it holds.
    Histogram.of's (bucket_of) and the time split's (timesplit.py) are made by it."""
    table = list(range(1 << bits))
    for e in range(1, TABLED.bit_length() - bits):
        for top in range(1 << (bits - 1), 1 << bits):
            table.extend(repeat(bucket(e, top), 1 << e))
    return table


COARSE_SUB_BITS = 6  # pictures over time (timeline histograms): 64 buckets per doubling, values within 0.8 %
SPARK_SUB_BITS = 4  # per-endpoint sparklines: 16 buckets per doubling, values within 3.2 %


def coarse_bucket(bucket: int, sub_bits: int = COARSE_SUB_BITS) -> int:
    """The bucket that stands for `bucket` in a coarse histogram of 2**sub_bits buckets per doubling: the
    middle one of its group of neighbours (2**(SUB_BITS - sub_bits) of them above 2.048 ms; below, groups
    of the same relative width; values under 2**(sub_bits + 1) us stay exact). Idempotent."""
    if bucket < 2 << sub_bits:
        return bucket
    if bucket < EXACT_BELOW:
        shift = bucket.bit_length() - sub_bits - 1
        return ((bucket >> shift) << shift) + (1 << (shift - 1))
    e = (bucket >> SUB_BITS) - 1
    sub = bucket - (e << SUB_BITS)  # 1024 .. 2047
    shift = SUB_BITS - sub_bits
    return (e << SUB_BITS) + ((sub >> shift) << shift) + (1 << (shift - 1))


def relative_error(sub_bits: int = SUB_BITS) -> float:
    """The most a reported percentile can be off, relative to the true value: half a bucket (or a group of
    buckets) of 2**-sub_bits of its magnitude."""
    return 2.0 ** -(sub_bits + 1)


def coarse_bounds(bucket: int, sub_bits: int) -> tuple[int, int]:
    """[low, high] microseconds covered by the group of fine buckets that `coarse_bucket` maps `bucket` to."""
    if sub_bits >= SUB_BITS or bucket < 2 << sub_bits:
        return bounds_of(bucket)
    if bucket < EXACT_BELOW:
        shift = bucket.bit_length() - sub_bits - 1
        first = (bucket >> shift) << shift
        return first, first + (1 << shift) - 1
    e = (bucket >> SUB_BITS) - 1
    shift = SUB_BITS - sub_bits
    first = (e << SUB_BITS) + (((bucket - (e << SUB_BITS)) >> shift) << shift)
    return bounds_of(first)[0], bounds_of(first + (1 << shift) - 1)[1]


def bounds_of(bucket: int) -> tuple[int, int]:
    """[low, high] microseconds covered by a bucket."""
    if bucket < EXACT_BELOW:
        return bucket, bucket
    e = (bucket >> SUB_BITS) - 1
    low = (bucket - (e << SUB_BITS)) << e
    return low, low + (1 << e) - 1


def nearest_rank(pct: float, count: int) -> int:
    """1-based rank of the nearest-rank percentile, exact: ceil(pct/100 * count) in rational arithmetic.

    `pct` is taken as the decimal the user wrote (99.9, not the binary float just above it), so
    p(99.9) of 1,000 samples is the 999th value and p(7) of 100 the 7th; float products round up a rank.
    """
    share = _SHARES.get(pct)
    if share is None:
        fraction = Fraction(repr(float(pct))) if math.isfinite(pct) else Fraction(0)
        share = (fraction.numerator, fraction.denominator * 100)
        if len(_SHARES) < 256:  # a report asks for a handful of percentiles, thousands of times
            _SHARES[pct] = share
    return min(count, max(1, -(-share[0] * count // share[1])))


_SHARES: dict[float, tuple[int, int]] = {}  # pct -> (numerator, denominator * 100) of its decimal


class Histogram:
    """Counts per bucket plus exact count, sum, min and max; `sub_bits`: the layout (see the module)."""

    __slots__ = ("buckets", "count", "max", "min", "sub_bits", "total")

    def __init__(self, sub_bits: int = SUB_BITS) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0
        self.sub_bits = sub_bits

    def record(self, us: int) -> None:
        if us < 0:
            us = 0
        if us < EXACT_BELOW:
            b = us
        else:
            e = us.bit_length() - 11
            b = (e << 10) + (us >> e)
        if self.sub_bits < SUB_BITS:
            b = coarse_bucket(b, self.sub_bits)
        self.buckets[b] = self.buckets.get(b, 0) + 1
        if self.count == 0 or us < self.min:
            self.min = us
        if us > self.max:
            self.max = us
        self.count += 1
        self.total += us

    @classmethod
    def of(cls, values_us: Iterable[int]) -> Histogram:
        """The histogram of `values`, the same as recording each (a worker records a second's samples at once)."""
        h = cls()
        values = values_us if isinstance(values_us, (list, tuple)) else list(values_us)
        if not values:
            return h
        low, high = min(values), max(values)
        if low < 0:
            values = [v if v > 0 else 0 for v in values]
            low, high = 0, max(high, 0)
        if high < EXACT_BELOW:  # every value is its own bucket: counted in C
            h.buckets = dict(Counter(values))
        elif high < TABLED and len(values) >= 64:  # each value's bucket read from a table and counted, in C
            h.buckets = dict(Counter(map((_TABLE or _bucket_table()).__getitem__, values)))
        else:
            buckets: dict[int, int] = {}
            get = buckets.get
            for us in values:
                if us < EXACT_BELOW:
                    b = us
                else:
                    e = us.bit_length() - 11
                    b = (e << 10) + (us >> e)
                buckets[b] = get(b, 0) + 1
            h.buckets = buckets
        h.count, h.total, h.min, h.max = len(values), sum(values), low, high
        return h

    def merge(self, other: Histogram) -> Histogram:
        """Add `other`'s samples; into the coarser layout of the two (a fine histogram merged into a coarse
        one is coarsened; a coarse one merged into an empty fine one makes it coarse)."""
        if other.count == 0:
            return self
        if other.sub_bits < self.sub_bits:
            if self.count:
                self.buckets = self.coarsened(other.sub_bits).buckets
            self.sub_bits = other.sub_bits
        if other.sub_bits > self.sub_bits:
            other = other.coarsened(self.sub_bits)
        if self.count == 0 and other.sub_bits != SUB_BITS and not self.buckets:
            self.buckets = dict(other.buckets)  # a coarse copy: one pass
        else:
            for b, n in other.buckets.items():
                self.buckets[b] = self.buckets.get(b, 0) + n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total
        return self

    def minus(self, earlier: Histogram) -> Histogram:
        """What was recorded since `earlier`, a copy of this histogram taken before (a rolling window from
        two cumulative snapshots). min and max are those of the remaining buckets, clipped to this one's."""
        out = Histogram(self.sub_bits)
        if earlier.sub_bits < self.sub_bits:
            raise ValueError("a histogram cannot be less a coarser copy of itself")
        if earlier.sub_bits > self.sub_bits:
            earlier = earlier.coarsened(self.sub_bits)
        for b, n in self.buckets.items():
            left = n - earlier.buckets.get(b, 0)
            if left > 0:
                out.buckets[b] = left
        out.count = sum(out.buckets.values())
        if out.count:
            out.total = max(0, self.total - earlier.total)
            out.min = max(coarse_bounds(min(out.buckets), self.sub_bits)[0], self.min)
            out.max = min(coarse_bounds(max(out.buckets), self.sub_bits)[1], self.max)
        return out

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile in microseconds: the smallest value with >= pct % of samples at or below."""
        return self.percentiles((pct,))[0]

    def percentiles(self, pcts: Sequence[float]) -> list[float]:
        """`percentile` of each of `pcts`, the buckets sorted once for all of them (a report row asks for five)."""
        if self.count == 0:
            return [math.nan] * len(pcts)
        ranks = sorted((nearest_rank(p, self.count), i) for i, p in enumerate(pcts) if 0 < p < 100)
        out = [float(self.min) if p <= 0 else float(self.max) for p in pcts]
        if not ranks:
            return out
        buckets, seen, k = self.buckets, 0, 0
        for b in sorted(buckets):
            seen += buckets[b]
            while k < len(ranks) and seen >= ranks[k][0]:
                low, high = bounds_of(b)
                out[ranks[k][1]] = min(max((low + high) / 2.0, self.min), self.max)
                k += 1
            if k == len(ranks):
                break
        return out

    def value_range(self, value_us: float) -> tuple[float, float]:
        """[low, high] that the true value behind a reported percentile can lie in (its bucket, clipped)."""
        if math.isnan(value_us):
            return value_us, value_us
        low, high = coarse_bounds(bucket_of(int(value_us)), self.sub_bits)
        return float(max(low, self.min)), float(min(high, self.max))

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def to_json(self) -> HistogramJson:
        return {
            "count": self.count,
            "sum": self.total,
            "min": self.min,
            "max": self.max,
            "buckets": [(b, n) for b, n in sorted(self.buckets.items())],
        }

    @classmethod
    def from_json(cls, data: HistogramJson) -> Histogram:
        h = cls()
        h.count, h.total, h.min, h.max = int(data["count"]), int(data["sum"]), int(data["min"]), int(data["max"])
        h.buckets = {int(b): int(n) for b, n in data["buckets"]}
        if sum(h.buckets.values()) != h.count:
            raise ValueError("histogram counts do not add up")
        return h

    def coarsened(self, sub_bits: int = COARSE_SUB_BITS) -> Histogram:
        """This histogram with 2**sub_bits buckets per doubling (count, sum, min and max exact), a new
        one; never finer than this one's own layout."""
        sub_bits = min(sub_bits, self.sub_bits)
        out = Histogram(sub_bits)
        out.count, out.total, out.min, out.max = self.count, self.total, self.min, self.max
        for b, n in self.buckets.items():
            c = coarse_bucket(b, sub_bits)
            out.buckets[c] = out.buckets.get(c, 0) + n
        return out
