"""Improvement goals of a before/after comparison judged beyond the noise (pure; the grammar: config/goals.py).

A goal says a percentile of a selector must fall by at least a share (`p(95) -30%`). It is met only when
the fall is at least the goal, the two runs' 95 % intervals do not overlap (significant), and the fall
is larger than the run-to-run noise `calibrate` measured for that row, when there is one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from typing_extensions import TypedDict

from loadorch.config.goals import Goal
from loadorch.stats.histogram import Histogram
from loadorch.verdict.compare import TOO_FEW, interval_bounded, quantile_interval

MET, MISSED, UNDECIDED = "met", "missed", "inconclusive"
TOP_SHARE = 0.5  # --expect-improvement: the fewest endpoints that take half the baseline's request time
TOP_MAX = 5  # ... and never more than these


class GoalJson(TypedDict):
    """A GoalResult as compare.json writes it (its fields, in order)."""

    selector: str
    goal: str
    source: str
    baseline: float | None
    current: float | None
    unit: str
    change_pct: float | None
    verdict: str
    why: str


@dataclass(frozen=True)
class GoalResult:
    selector: str
    goal: str  # "p(95) -30%"
    source: str
    baseline: float | None
    current: float | None
    unit: str
    change_pct: float | None
    verdict: str  # MET, MISSED or UNDECIDED
    why: str

    def to_json(self) -> GoalJson:
        return GoalJson(selector=self.selector, goal=self.goal, source=self.source, baseline=self.baseline,
                        current=self.current, unit=self.unit, change_pct=self.change_pct, verdict=self.verdict,
                        why=self.why)


def top_endpoints(time_by_name: Mapping[str, tuple[int, float]]) -> list[str]:
    """What `--expect-improvement` means by the top endpoints: the fewest that together take at least half
    of the baseline's total request time (requests x mean latency), largest first, at most TOP_MAX."""
    totals = sorted(((n * mean, name) for name, (n, mean) in time_by_name.items() if n and mean), reverse=True)
    whole, taken, out = sum(t for t, _ in totals), 0.0, []
    for t, name in totals[:TOP_MAX]:
        out.append(name)
        taken += t
        if taken >= TOP_SHARE * whole:
            break
    return out


def judge(goal: Goal, hists: tuple[Histogram, Histogram] | None, scale: float, unit: str,
          noise: float | None = None, noise_runs: int = 0) -> GoalResult:  # fmt: skip
    """Met, missed (by how much) or inconclusive; `hists` None: the metric is not in both runs. A goal on what one
    run lacks (an endpoint renamed or no longer called) is inconclusive, never met."""
    if hists is None or not hists[0].count or not hists[1].count:
        where = "both runs" if hists is None else _lacking(hists[0].count, hists[1].count)
        return _result(goal, None, None, unit, UNDECIDED, f"no samples of {goal.selector} in {where}")
    b, c = hists
    pct = goal.percentile
    bv, cv = b.percentile(pct) / scale, c.percentile(pct) / scale
    (blo, bhi), (clo, chi) = quantile_interval(b, pct), quantile_interval(c, pct)
    fall = (bv - cv) / bv if bv else 0.0
    shown = f"p{pct:g} {_num(bv)} -> {_num(cv)}{' ' + unit if unit else ''} ({-100 * fall:+.1f} %)"
    margin = 100 * (fall - goal.improvement)
    significant = chi < blo
    if not significant and not (interval_bounded(b.count, pct) and interval_bounded(c.count, pct)):
        why = f"{shown}: {TOO_FEW} to bound the change (b {b.count}, c {c.count} samples)"
        return _result(goal, bv, cv, unit, UNDECIDED, why)
    if margin < 0:
        return _result(goal, bv, cv, unit, MISSED, f"{shown}: missed by {-margin:.1f} pts")
    if not significant:
        intervals = f"{_num(blo / scale)}-{_num(bhi / scale)} vs {_num(clo / scale)}-{_num(chi / scale)}"
        return _result(goal, bv, cv, unit, MISSED, f"{shown}: not significant (95 % intervals {intervals} overlap)")
    if noise is not None and fall <= noise:
        why = f"{shown}: within the measured noise ({100 * noise:.1f} % over {noise_runs} runs)"
        return _result(goal, bv, cv, unit, MISSED, why)
    return _result(goal, bv, cv, unit, MET, f"{shown}: met by {margin:.1f} pts")


def undecided(goal: Goal, unit: str, why: str) -> GoalResult:
    """A goal the comparison cannot judge, and why (one side's samples are not the other's)."""
    return _result(goal, None, None, unit, UNDECIDED, why)


def _lacking(base: int, cur: int) -> str:
    return "either run" if not (base or cur) else "the baseline" if not base else "the current run"


def _result(goal: Goal, bv: float | None, cv: float | None, unit: str, verdict: str, why: str) -> GoalResult:
    change = round(100 * (cv - bv) / bv, 1) if bv and cv is not None else None
    return GoalResult(goal.selector, goal.label, goal.source, _round(bv), _round(cv), unit, change, verdict, why)


def verdict_of(results: Sequence[GoalResult]) -> str:
    """MISSED when any goal is missed, else UNDECIDED when one cannot be decided, else MET."""
    verdicts = {r.verdict for r in results}
    return MISSED if MISSED in verdicts else UNDECIDED if UNDECIDED in verdicts else MET


def _num(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
