"""Lighthouse results as browser samples: the parsed audits and scores recorded into the run's browser stats."""

from __future__ import annotations

from loadorch.browser.stats import BrowserStats
from loadorch.config.lighthouse import LighthouseError, Sample, expand, load, parse

__all__ = ["LighthouseError", "Sample", "expand", "load", "parse", "record"]


def record(stats: BrowserStats, samples: tuple[Sample, ...]) -> None:
    for s in samples:
        stats.record(s.metric, {s.tag: s.value_of}, s.value)
