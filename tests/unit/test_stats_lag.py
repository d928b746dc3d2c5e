"""The master's stats lag (loadorch/runtime/lag.py): bounded memory over a monitor's days, figures as exact as
the summary says them."""

from __future__ import annotations

import math
import random

from loadorch.runtime.lag import LagMeter


def _exact_p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def test_a_days_lags_keep_a_few_hundred_buckets_and_the_summary_to_its_tenth_of_a_millisecond() -> None:
    rng = random.Random(7)
    meter = LagMeter(1.0)
    lags = []
    for i in range(2 * 86_400 // 4):  # two workers' reports, one every 4 s of a simulated day: 43,200
        lag = min(2.5, rng.lognormvariate(math.log(0.002), 1.0))  # ~2 ms, a tail to a second and more
        sent = 1_000_000.0 + i
        meter.record(sent, sent + lag)
        lags.append(lag)
    # to the 0.1 ms: 339 buckets; to the microsecond these made 5,426, and a longer run kept adding more
    assert len(meter.lags.buckets) < 500, len(meter.lags.buckets)
    summary = meter.summary()
    assert summary.messages == len(lags) and summary.over_interval == sum(lag > 1.0 for lag in lags)
    assert abs(summary.max_s - max(lags)) <= 0.00005 + 1e-9
    assert abs((summary.p99_s or 0.0) - _exact_p99(lags)) <= 0.0001 + 0.01 * _exact_p99(lags)
