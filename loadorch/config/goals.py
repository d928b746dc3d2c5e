"""Improvement goals of a before/after comparison (`compare: {goals: ...}`, `--goal`): the grammar (pure).

`SELECTOR: "p(95) -30%"`: the percentile of the selector must fall by at least that share, on a metric a
comparison has percentiles of (GOAL_METRICS) and whose fall is not a worsening (RISING); which of them a run
has (HTTP, database, browser) is known only when two runs are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loadorch.config.suggest import did_you_mean
from loadorch.config.thresholds import (
    BROWSER_METRICS,
    RESOURCE_METRICS,
    ThresholdSyntaxError,
    selector_text,
    split_tag_filters,
)

_SELECTOR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(.*)\})?\s*\Z", re.DOTALL)
_GOAL = re.compile(r"\s*(?:p\s*\(\s*(\d+(?:\.\d+)?)\s*\)|(med))\s+-\s*(\d+(?:\.\d+)?)\s*%\s*\Z")
# a goal is a fall; on these metrics a fall is a worse page: a goal on one would be met by a worsening
RISING = {"lighthouse_score": "set the goal on an audit that falls as the page improves, lighthouse_audit{id:...}"}
# the metrics a comparison has percentiles of (commands/compare.goal_histograms); a goal on another is never judged
GOAL_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting", "db_queries_per_request",
                *BROWSER_METRICS, *RESOURCE_METRICS, "lighthouse_audit")


class GoalSyntaxError(ValueError):
    """A goal that cannot be parsed; the message names the text and the form expected."""


@dataclass(frozen=True)
class Goal:
    metric: str
    tags: tuple[tuple[str, str], ...]
    percentile: float
    improvement: float  # the least fall, a fraction of the baseline (0.3: 30 %)
    source: str  # where the goal was given: "profile", "--goal", "--expect-improvement"

    @property
    def selector(self) -> str:
        return selector_text(self.metric, self.tags)

    @property
    def label(self) -> str:
        return f"p({self.percentile:g}) -{100 * self.improvement:g}%"


def parse_selector(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """`metric{tag:value,...}` of any metric name: which metrics a run has is known only at compare time."""
    m = _SELECTOR.match(text)
    if not m:
        raise GoalSyntaxError(f"invalid goal selector {text!r}; expected metric or metric{{tag:value}}")
    try:
        tags = split_tag_filters(m.group(2), text) if m.group(2) is not None else []
    except ThresholdSyntaxError as exc:
        raise GoalSyntaxError(f"goal selector: {exc}") from None
    return m.group(1), tuple(tags)


def parse_goal(selector: str, text: str, source: str) -> Goal:
    """A goal from its selector and its text, `p(95) -30%` or `med -20%` (a fall: the sign is required)."""
    metric, tags = parse_selector(selector)
    if metric in RISING:
        raise GoalSyntaxError(
            f"goal {text!r} for {selector!r}: {metric} rises as a page gets better, and a goal is a fall; "
            f"{RISING[metric]}"
        )
    if metric not in GOAL_METRICS:
        raise GoalSyntaxError(f"goal {text!r} for {selector!r}: unknown metric {metric!r}; "
                              f"{did_you_mean(metric, GOAL_METRICS)}")  # fmt: skip
    m = _GOAL.match(str(text))
    if not m:
        raise GoalSyntaxError(
            f"invalid goal {text!r} for {selector!r}; expected a percentile and the least fall, e.g. 'p(95) -30%'"
        )
    pct = 50.0 if m.group(2) else float(m.group(1))
    share = float(m.group(3)) / 100.0
    if not 0 < pct < 100 or not 0 < share < 1:
        raise GoalSyntaxError(f"goal {text!r} for {selector!r}: the percentile and the fall must be within 0-100")
    return Goal(metric, tags, pct, share, source)
