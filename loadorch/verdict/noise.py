"""Run-to-run noise measured by `calibrate`, and the bound each compare row is judged with (pure).

N runs of the same profile and seed give, per row (endpoint and percentile, page and vital, database
figure), a spread: the range of the N values relative to the smallest, the largest change seen between two
of the runs (absolute for rates of failure and queries per request, whose budgets are absolute). A row's
bound is the larger of its budget and its measured spread; a change inside the bound is not a regression,
and every row says which bound applied.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from typing_extensions import TypedDict

from loadorch.verdict.compare import ERROR_RATES, Row

ABSOLUTE = (*ERROR_RATES, "db_queries_per_request")  # budgets in points or queries, not shares
SCHEMA = "loadorch.noise/v1"
WITHIN_NOISE = "within noise"


class NoiseJson(TypedDict):
    """noise.json: the spreads of N runs of the same scenario (Noise.to_json)."""

    schema: str
    runs: int
    spreads: dict[str, float]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class Noise:
    runs: int
    spreads: dict[str, float] = field(default_factory=dict)  # row key -> spread (relative, or absolute: ABSOLUTE)
    values: dict[str, list[float]] = field(default_factory=dict)  # row key -> the N values it came from

    def to_json(self) -> NoiseJson:
        return {"schema": SCHEMA, "runs": self.runs, "spreads": self.spreads, "values": self.values}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Noise:
        """Raises ValueError naming the field that is wrong."""
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"schema: expected {SCHEMA!r}, found {doc.get('schema')!r}")
        runs, spreads = doc.get("runs"), doc.get("spreads")
        if not isinstance(runs, int) or runs < 2:
            raise ValueError(f"runs: expected a whole number of at least 2, found {runs!r}")
        if not isinstance(spreads, dict):
            raise ValueError("spreads: expected an object of numbers")
        # JSON's reader takes Infinity and NaN: a spread of Infinity put every change within the noise, and so
        # passed every regression; a negative one made every change count
        for key, v in spreads.items():
            if not _number(v) or v < 0:
                raise ValueError(f"spreads.{key}: expected a number of 0 or more, found {v!r}")
        values = doc.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values: expected an object of lists of numbers")
        for key, v in values.items():
            if not isinstance(v, list) or not all(_number(x) for x in v):
                raise ValueError(f"values.{key}: expected a list of numbers, found {v!r:.80}")
        return cls(runs, {str(k): float(v) for k, v in spreads.items()},
                   {str(k): [float(x) for x in v] for k, v in values.items()})  # fmt: skip


def _number(v: object) -> bool:
    """A finite number, not a boolean (JSON's true is a Python int)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def key_of(row: Row) -> str:
    return f"{row.scope}|{row.name}|{row.metric}"


def measure(pairs: Sequence[Sequence[Row]]) -> Noise:
    """The noise of N runs from the N-1 comparisons of the first run with each other one. A row one of them left
    undecided (too few samples, a limited generator, a partial run: `uncalibrated`) has no spread: its values are
    not the target's run-to-run noise, and a spread made of them would excuse a real regression as within it."""
    values: dict[str, list[float]] = {}
    for i, rows in enumerate(pairs):
        for r in rows:
            if r.baseline is None or r.current is None or r.verdict == "missing" or r.undecided:
                continue
            seen = values.setdefault(key_of(r), [])
            if i == 0:
                seen.append(float(r.baseline))
            if len(seen) == i + 1:  # a row every comparison had, in order
                seen.append(float(r.current))
    runs = len(pairs) + 1
    whole = {k: v for k, v in values.items() if len(v) == runs}
    return Noise(runs, {k: spread(k, v) for k, v in whole.items()}, whole)  # unrounded: compared exactly


def uncalibrated(pairs: Sequence[Sequence[Row]]) -> dict[str, str]:
    """The rows `measure` gives no spread because a calibration comparison left them undecided, and why (the first
    reason seen): judged by their budget alone."""
    out: dict[str, str] = {}
    for rows in pairs:
        for r in rows:
            if r.undecided and r.verdict != "missing":
                out.setdefault(key_of(r), r.why)
    return out


def spread(key: str, values: Sequence[float]) -> float:
    """The largest change seen between two of the runs: relative to the smaller value (max/min - 1), so
    any calibrated run compared with any other is within it; absolute for ABSOLUTE metrics."""
    width = max(values) - min(values)
    if key.rsplit("|", 1)[-1] in ABSOLUTE:
        return width
    if min(values) > 0:
        return width / min(values)
    middle = statistics.median(values)
    return width / middle if middle else 0.0


def bound_rows(rows: Sequence[Row], noise: Noise | None, source: str) -> list[Row]:
    """Each row with the bound it was judged by (`bound`); a regression or improvement whose change is
    inside a measured noise larger than the budget becomes `same`, `within noise`."""
    return [_bound(r, noise, source) for r in rows]


def _bound(r: Row, noise: Noise | None, source: str) -> Row:
    if r.verdict == "missing" or r.why.startswith("informational"):
        return r
    absolute = r.metric in ABSOLUTE
    budget = _shown(r.budget, absolute, r.metric)
    spread_ = noise.spreads.get(key_of(r)) if noise else None
    if spread_ is None:
        said = f"budget {budget} ({source})" + ("; not calibrated for this row" if noise else "")
        return replace(r, bound=said)
    measured = f"measured noise {_shown(spread_, absolute, r.metric)} over {noise.runs if noise else 0} runs"
    if spread_ <= r.budget:
        return replace(r, bound=f"budget {budget} ({source}), larger than the {measured}")
    said = f"{measured}, larger than the budget {budget} ({source})"
    change, limit = abs(r.change or 0.0) if absolute else _relative(r), spread_
    if not absolute and not r.baseline:  # no share of 0 bounds a change from 0: the calibrated runs' own width does
        values = noise.values.get(key_of(r)) if noise else None
        change, limit = abs(r.change or 0.0), (max(values) - min(values) if values else 0.0)
    if r.verdict in ("regression", "improvement") and change <= limit:
        return replace(r, verdict="same", bound=said, why=f"{WITHIN_NOISE} ({measured})")
    return replace(r, bound=said)


def _relative(r: Row) -> float:
    """The change relative to the baseline, from the row's values (as calibration's), not its rounded percent."""
    if r.baseline and r.current is not None:
        return abs(r.current - r.baseline) / r.baseline
    return abs(r.change_pct or 0.0) / 100.0


def _shown(value: float, absolute: bool, metric: str) -> str:
    if not absolute:
        return f"{100 * value:.1f} %"
    return f"{100 * value:.2f} pts" if metric in ERROR_RATES else f"{value:g} queries"
