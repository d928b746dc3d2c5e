"""The open model's schedule: when each arrival is due, for a piecewise-linear rate (pure).

Arrival k is due when the expected number of arrivals so far, L(t) = integral of the rate, reaches
k (constant spacing) or the k-th point of a seeded unit-rate Poisson process (poisson spacing): a time
change that handles constant rates and ramps alike. Every worker computes the same global schedule
and takes the arrivals k with k % workers == its index, so the total rate is split deterministically.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from loadorch.traffic.data import stream_seed

Stage = tuple[float, float, float]  # start rate, end rate, seconds


def total_seconds(stages: Sequence[Stage]) -> float:
    return sum(d for _, _, d in stages)


def expected_arrivals(stages: Sequence[Stage], until: float | None = None) -> float:
    """L(until): arrivals expected from 0 to `until` (the whole schedule by default)."""
    total, t0 = 0.0, 0.0
    for a, b, d in stages:
        if until is not None and until <= t0:
            break
        span = d if until is None else min(d, until - t0)
        total += a * span + (b - a) * span * span / (2 * d) if d > 0 else 0.0
        t0 += d
    return total


def _time_of(stages: Sequence[Stage], level: float) -> float | None:
    """The t with L(t) = level, or None past the end of the schedule."""
    t0 = 0.0
    for a, b, d in stages:
        area = (a + b) * d / 2
        if area > 0 and level <= area:  # a stage with no rate holds no arrivals
            if abs(b - a) < 1e-12:
                return t0 + (level / a if a > 0 else 0.0)
            k = (b - a) / d  # rate(t) = a + k t; solve a t + k t^2 / 2 = level
            disc = a * a + 2 * k * level
            return t0 + (-a + math.sqrt(max(disc, 0.0))) / k
        level -= area
        t0 += d
    return None


def schedule(stages: Sequence[Stage], spacing: str, seed: int) -> Iterator[tuple[int, float]]:
    """(arrival index, seconds from the start) for every arrival due before the schedule ends."""
    rng = random.Random(stream_seed(seed, "arrivals"))
    level = 0.0
    end = total_seconds(stages)
    k = 0
    while True:
        t = _time_of(stages, level)
        if t is None or t >= end:
            return
        yield k, t
        k += 1
        level += rng.expovariate(1.0) if spacing == "poisson" else 1.0


def for_worker(
    stages: Sequence[Stage], spacing: str, seed: int, index: int, workers: int
) -> Iterator[tuple[int, float]]:
    return ((k, t) for k, t in schedule(stages, spacing, seed) if k % workers == index)
