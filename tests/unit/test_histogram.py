"""Histogram precision, merging and serialization."""

from __future__ import annotations

import math
import random
from decimal import ROUND_CEILING, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from loadorch.stats.histogram import Histogram, bounds_of, bucket_of, nearest_rank


def exact_percentile(values: list[int], pct: float) -> int:
    """The smallest sample with at least pct % of the samples at or below it, pct read as the decimal written."""
    ordered = sorted(values)
    share = Decimal(repr(float(pct))) * len(ordered)
    rank = next(k for k in range(1, len(ordered) + 1) if k * 100 >= share)
    return ordered[rank - 1]


@given(st.integers(min_value=0, max_value=10**11))
def test_every_value_lies_in_its_bucket_within_a_thousandth(v: int) -> None:
    low, high = bounds_of(bucket_of(v))
    assert low <= v <= high
    assert high - low <= max(v, 1) / 1000


def test_buckets_are_contiguous() -> None:
    for b in range(0, 40_000):
        assert bounds_of(b + 1)[0] == bounds_of(b)[1] + 1


def test_exact_below_2048_us() -> None:
    h = Histogram.of([5, 7, 2047, 9])
    assert h.percentile(50) == 7 and h.percentile(100) == 2047 and h.value_range(7) == (7.0, 7.0)


@settings(max_examples=40)
@given(st.lists(st.integers(min_value=-5, max_value=200_000), min_size=1, max_size=400),
       st.sampled_from([1 << 11, 1 << 16, 10**9]))
def test_of_a_list_is_the_histogram_recording_each_makes(values: list[int], cap: int) -> None:
    """Histogram.of (counted in C: a table's buckets under 65 ms, each value's own under 2.048 ms) against
    `record` one value at a time, for lists within each range and across them."""
    values = [min(v, cap - 1) for v in values] * 70  # long enough for the table (64 values and more)
    one = Histogram()
    for v in values:
        one.record(v)
    made = Histogram.of(values)
    assert (made.buckets, made.count, made.total, made.min, made.max) == (
        one.buckets, one.count, one.total, one.min, one.max)


def test_the_bucket_table_is_bucket_of_for_every_value_it_holds() -> None:
    from loadorch.stats import histogram

    table = histogram._bucket_table()
    assert len(table) == histogram.TABLED
    assert all(table[v] == bucket_of(v) for v in range(histogram.TABLED))


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=400),
       st.floats(min_value=0.1, max_value=99.9))
def test_percentile_within_half_a_bucket_of_exact(values: list[int], pct: float) -> None:
    h = Histogram.of(values)
    exact = exact_percentile(values, pct)
    got = h.percentile(pct)
    low, high = h.value_range(got)
    assert low <= exact <= high + 0.5  # the truth lies in the reported value's bucket
    assert abs(got - exact) <= exact * 0.0005 + 0.5


def test_296_and_304_ms_stay_apart() -> None:
    """Locust's buckets round both to 300 ms; ours keep them on the right side of a 300 ms limit."""
    assert Histogram.of([296_000] * 100).percentile(95) < 300_000
    assert Histogram.of([304_000] * 100).percentile(95) > 300_000


def test_merge_equals_pooled_samples() -> None:
    rng = random.Random(3)
    fast = [rng.randint(9_000, 11_000) for _ in range(1000)]
    slow = [rng.randint(900_000, 1_100_000) for _ in range(10)]
    merged = Histogram.of(fast).merge(Histogram.of(slow))
    pooled = Histogram.of(fast + slow)
    assert merged.buckets == pooled.buckets and merged.count == 1010
    assert (merged.min, merged.max, merged.total) == (pooled.min, pooled.max, pooled.total)
    assert abs(merged.percentile(95) - exact_percentile(fast + slow, 95)) < 20
    averaged = (Histogram.of(fast).percentile(95) + Histogram.of(slow).percentile(95)) / 2
    assert abs(merged.percentile(95) - averaged) > 400_000  # not the average of percentiles


def test_merge_with_empty_and_mean() -> None:
    h = Histogram().merge(Histogram.of([10, 20]))
    assert (h.count, h.min, h.max, h.mean) == (2, 10, 20, 15)
    assert math.isnan(Histogram().percentile(50)) and math.isnan(Histogram().mean)


def test_json_round_trip_and_corruption_check() -> None:
    h = Histogram.of([1, 3000, 3000, 10**7])
    again = Histogram.from_json(h.to_json())
    assert again.buckets == h.buckets and (again.count, again.total, again.min, again.max) == (4, h.total, 1, 10**7)
    bad = h.to_json()
    bad["count"] = 5
    try:
        Histogram.from_json(bad)
    except ValueError:
        pass
    else:
        raise AssertionError("a histogram whose counts do not add up must be rejected")


def test_nearest_rank_is_exact_where_float_products_round_up() -> None:
    """ceil(99.9 / 100 * 1000) is 1000 in floats (the maximum); the 999th value is right. Same for p(7) of 100."""
    assert nearest_rank(99.9, 1000) == 999 and nearest_rank(7, 100) == 7
    assert Histogram.of(range(1, 1001)).percentile(99.9) == 999
    assert Histogram.of(range(1, 101)).percentile(7) == 7


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=200_000), st.integers(min_value=1, max_value=99_999))
def test_nearest_rank_matches_a_sorted_list_for_any_pct_and_n(n: int, thousandths: int) -> None:
    pct = thousandths / 1000  # p(0.001) .. p(99.999), as a user writes them
    values = list(range(1, n + 1)) if n <= 2000 else None
    expected = (Decimal(repr(pct)) * n / 100).to_integral_value(rounding=ROUND_CEILING)
    assert nearest_rank(pct, n) == max(1, int(expected))
    if values is not None:  # exact histogram range: the percentile is the sorted list's element
        assert Histogram.of(values).percentile(pct) == exact_percentile(values, pct)


def test_percentiles_at_once_are_each_percentile() -> None:
    """A report row's five percentiles from one sort of the buckets: the same values as one at a time."""
    import random

    rng = random.Random(11)
    for n in (1, 2, 7, 100, 5000):
        h = Histogram.of([int(rng.lognormvariate(9, 1.2)) for _ in range(n)])
        pcts = (99.9, 0, 50, 90, 95, 99, 100, 7, 50)
        one_by_one = []
        for p in pcts:  # the single-percentile walk as it was: rank by rank over the sorted buckets
            if p <= 0 or p >= 100:
                one_by_one.append(float(h.min if p <= 0 else h.max))
                continue
            rank, seen = nearest_rank(p, h.count), 0
            for b in sorted(h.buckets):
                seen += h.buckets[b]
                if seen >= rank:
                    low, high = bounds_of(b)
                    one_by_one.append(min(max((low + high) / 2.0, h.min), h.max))
                    break
        assert h.percentiles(pcts) == one_by_one
        assert [h.percentile(p) for p in pcts] == one_by_one
    assert all(math.isnan(v) for v in Histogram().percentiles((50, 99)))
