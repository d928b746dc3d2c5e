"""Lighthouse results as browser samples: the parsed audits and scores recorded into the run's browser stats,
and gated as read: a CLS of 0.0996 is below 0.1 (the histograms, in thousandths, would show 0.1)."""

from __future__ import annotations

from collections.abc import Sequence

from loadorch.browser.stats import BrowserStats
from loadorch.config.lighthouse import LighthouseError, Sample, expand, load, parse
from loadorch.results import Vital
from loadorch.stats.histogram import nearest_rank

__all__ = ["LighthouseError", "Sample", "aggregate_as_read", "expand", "load", "parse", "record", "summary"]


def record(stats: BrowserStats, samples: tuple[Sample, ...]) -> None:
    for s in samples:
        stats.record(s.metric, {s.tag: s.value_of}, s.value)


def aggregate_as_read(values: Sequence[float], aggregation: str, pct: float | None) -> float:
    """`avg`, `min`, `max`, `med` or `p(N)` (nearest rank, as for every other metric) of sorted values."""
    if aggregation == "avg":
        return sum(values) / len(values)
    if aggregation == "min":
        return values[0]
    if aggregation == "max":
        return values[-1]
    return values[nearest_rank(50.0 if aggregation == "med" else float(pct or 0.0), len(values)) - 1]


def summary(values: Sequence[float]) -> Vital:
    """results.json's row of one Lighthouse series: the values gated, unrounded."""
    return Vital(
        count=len(values),
        p50=aggregate_as_read(values, "p", 50),
        p75=aggregate_as_read(values, "p", 75),
        p95=aggregate_as_read(values, "p", 95),
        max=values[-1],
    )
