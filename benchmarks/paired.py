"""The verdict of a paired cost measure (pure): ratios of B to A measured pair by pair, their mean with a 95 %
confidence interval, and whether a budget holds, fails or cannot be told from this many pairs.

A pair's ratio is two runs started together on one core (proccpu.py): what the machine's neighbours do to one
they do to the other, so the ratios scatter around the true one by what is left, about 2 % a pair on a quiet
2-core VM (benchmarks/README.md, session 13). A median of three such ratios is no verdict: it read 1.005 in one
session and 1.034 in the next for the same code. The interval says how far the mean of n pairs can be from
the true ratio; the verdict is a pass only when all of it is within the budget, a fail only when none is, and
otherwise inconclusive, with the number of pairs that would likely tell.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

# Student's t, two-sided 95 % (the 0.975 quantile), by degrees of freedom; beyond the table, the normal's 1.96
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("a confidence interval needs at least two pairs")
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True)
class Paired:
    n: int
    mean: float
    median: float
    low: float  # the 95 % confidence interval of the mean
    high: float

    def verdict(self, budget: float) -> str:
        """'pass' (the whole interval at or under `budget`), 'fail' (the whole interval over it) or
        'inconclusive: ...' with about how many pairs would tell."""
        if self.high <= budget:
            return "pass"
        if self.low > budget:
            return "fail"
        half = (self.high - self.low) / 2
        gap = abs(self.mean - budget)
        more = f"about {math.ceil(self.n * (half / gap) ** 2)} pairs would tell" if gap else "the mean is at it"
        return f"inconclusive: the interval holds {budget:.3f} ({more})"

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self) -> str:
        return (f"mean {self.mean:.3f} (95 % CI {self.low:.3f}-{self.high:.3f}), median {self.median:.3f}, "
                f"{self.n} pairs")


def paired(ratios: list[float]) -> Paired:
    """The mean of the pairs' ratios with its 95 % confidence interval (Student's t on their scatter)."""
    if len(ratios) < 2:
        raise ValueError("a confidence interval needs at least two pairs")
    mean = statistics.fmean(ratios)
    half = t975(len(ratios) - 1) * statistics.stdev(ratios) / math.sqrt(len(ratios))
    return Paired(len(ratios), mean, statistics.median(ratios), mean - half, mean + half)


def both_verdicts(verdicts: list[str]) -> str:
    """The cost line's verdict over the load shapes measured (Paired.verdict's words): a fail if any
    fails, a pass only if all pass, otherwise inconclusive (a cost that passes saturated but sits on the line
    paced is not shown to be within it: benchmarks/README.md, session 14)."""
    if any(v == "fail" for v in verdicts):
        return "fail"
    if verdicts and all(v == "pass" for v in verdicts):
        return "pass"
    return "inconclusive"
