"""The evaluator: merged stats + thresholds -> a verdict per threshold and one for the run (pure)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from typing_extensions import TypedDict

from loadorch.config.thresholds import HTTP_MEASURED, SERVER_TIMING_METRICS, Expression, Threshold
from loadorch.errors import ExitCode
from loadorch.stats.histogram import Histogram
from loadorch.stats.servertiming import DESC, DUR
from loadorch.stats.tables import Merged
from loadorch.wire import ThresholdJson

PASS, FAIL, INCONCLUSIVE, ERROR, INTERRUPTED = "pass", "fail", "inconclusive", "error", "interrupted"
# a check's word only: something the run could not do that does not decide it (a profiler that could not attach);
# `overall` never counts it, so the exit code stays the HTTP verdict's
WARNING = "warning"
EXIT_CODES = {PASS: ExitCode.OK, FAIL: ExitCode.BREACH, INCONCLUSIVE: ExitCode.INCONCLUSIVE, ERROR: ExitCode.RUN}


@dataclass(frozen=True)
class ThresholdResult:
    selector: str
    expression: str
    observed: float | None
    limit: float
    unit: str
    samples: int
    error_bound: float
    verdict: str
    message: str
    abort_on_fail: bool = False
    # the threshold judged, as parsed from the configuration: in-process readers (the k6 summary, the live
    # metrics) use it rather than parsing `selector` again; not written (results.json keeps the strings)
    threshold: Threshold | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> ThresholdJson:
        return {
            "selector": self.selector,
            "expression": self.expression,
            "observed": self.observed,
            "limit": self.limit,
            "unit": self.unit,
            "samples": self.samples,
            "error_bound": self.error_bound,
            "verdict": self.verdict,
            "message": self.message,
            "abort_on_fail": self.abort_on_fail,
        }

    @classmethod
    def of(
        cls, t: Threshold, observed: float | None, samples: int, bound: float, verdict: str, message: str, unit: str
    ) -> ThresholdResult:
        """The result of threshold `t`: its selector, expression, limit and abort flag come from `t`."""
        return cls(
            str(t.selector),
            str(t.expression),
            observed,
            t.expression.value,
            unit,
            samples,
            bound,
            verdict,
            message,
            t.abort_on_fail,
            t,
        )


class ResultOf:
    """The results of one threshold, in `unit` unless a result says otherwise: what an evaluator hands `decide`."""

    def __init__(self, t: Threshold, unit: str) -> None:
        self.t = t
        self.unit = unit

    def __call__(
        self, observed: float | None, samples: int, bound: float, verdict: str, message: str, unit: str | None = None
    ) -> ThresholdResult:
        return ThresholdResult.of(
            self.t, observed, samples, bound, verdict, message, self.unit if unit is None else unit
        )


@dataclass(frozen=True)
class Check:
    """A run-integrity check (workers, setup, preflight, load achieved, generator CPU)."""

    name: str
    verdict: str  # pass, fail, error, inconclusive, or warning (never decides the run)
    message: str

    def to_json(self) -> CheckJson:
        return {"name": self.name, "verdict": self.verdict, "message": self.message}


class CheckJson(TypedDict):
    """Check as JSON: a row of results.json's `checks` (loadorch.results.CheckRow)."""

    name: str
    verdict: str
    message: str


def evaluate_threshold(t: Threshold, merged: Merged, min_samples: int, duration_s: float) -> ThresholdResult:
    if t.selector.metric.startswith("db_"):  # judged by loadorch/db's gates (`other`); never a pass by default
        return ThresholdResult.of(
            t,
            None,
            0,
            0.0,
            INCONCLUSIVE,
            "database metrics are judged with the collector's measurement, which this evaluation was not given",
            "",
        )
    if t.selector.metric in SERVER_TIMING_METRICS:
        return server_timing(t, merged, min_samples)
    if t.selector.metric not in HTTP_MEASURED:  # a page's or Lighthouse's: never judged from the HTTP tables
        why = f"no data: no browser page view or Lighthouse result measured {t.selector}"
        return ThresholdResult.of(t, None, 0, 0.0, FAIL, why, "")
    tags = t.selector.tags
    expr = t.expression
    total, failures = merged.counts(tags)
    selector = str(t.selector)
    result = ResultOf(t, "ms")

    metric = t.selector.metric
    if metric == "checks":
        passes, fails = merged.check_counts(tags)
        if passes + fails == 0:
            return result(None, 0, 0.0, FAIL, f"no data: no expect condition matched {selector}", "")
        detail = f" ({fails} failed of {passes + fails})"
        return decide(result, passes / (passes + fails), passes + fails, 0.0, expr, detail, min_samples, "")
    if total == 0:
        return result(None, 0, 0.0, FAIL, f"no data: no request matched {selector}", _unit(t))
    if metric == "http_reqs":
        observed = float(total) if expr.aggregation == "count" else (total / duration_s if duration_s > 0 else 0.0)
        return decide(result, observed, total, 0.0, expr, "", None, "/s" if expr.aggregation == "rate" else "")
    if metric == "http_req_failed":
        rate = failures / total
        note = ", ".join(f"{code or 'no response'}: {n}" for code, n in merged.status_counts(tags, ok=False).items())
        detail = f" ({failures} failed of {total}" + (f"; failures by status: {note})" if note else ")")
        return decide(result, rate, total, 0.0, expr, detail, min_samples, "")
    timing = {"http_req_waiting": "waiting", "http_req_connecting": "connecting"}.get(metric, "")
    ok = merged.select(tags, ok=True, timing=timing)
    if ok.count == 0 and timing:
        why = f"no data: no {metric} recorded for {selector} (python users do not record it)"
        return result(None, 0, 0.0, FAIL, why)
    if ok.count == 0:
        return result(None, 0, 0.0, FAIL, f"no data: all {total} requests matching {selector} failed")
    observed_us, low_us, high_us = aggregate(ok, expr.aggregation, expr.percentile)
    return decide(
        result,
        observed_us / 1000.0,
        ok.count,
        (high_us - low_us) / 2000.0,
        expr,
        "",
        min_samples,
        "ms",
        (low_us / 1000.0, high_us / 1000.0),
    )


def server_timing(t: Threshold, merged: Merged, min_samples: int) -> ThresholdResult:
    """An entry's Server-Timing durations (ms), or the share of the responses with that entry whose desc
    was the one named, over the successful responses whose tags match (stats/servertiming.py)."""
    own = dict(t.selector.tags)
    entry, desc = own["entry"], own.get("desc", "")
    tags = tuple((k, v) for k, v in t.selector.tags if k not in ("entry", "desc"))
    selector, expr = str(t.selector), t.expression
    if t.selector.metric == "server_timing":
        result = ResultOf(t, "ms")
        h = merged.select(tags, ok=True, timing=DUR + entry)
        if h.count == 0:
            return result(None, 0, 0.0, FAIL, f"no data: no successful response matching {selector} sent a "
                          f"Server-Timing entry {entry!r} with a dur")
        value, low, high = aggregate(h, expr.aggregation, expr.percentile)
        return decide(result, value / 1000.0, h.count, (high - low) / 2000.0, expr, "", min_samples, "ms",
                      (low / 1000.0, high / 1000.0))
    result = ResultOf(t, "")
    prefix = f"{DESC}{entry}="
    total = said = 0
    for (tag, key), h in merged.timings.items():
        if tag.startswith(prefix) and key.ok and merged.matches(key, tags):
            total += h.count
            said += h.count if tag == prefix + desc else 0
    if total == 0:
        return result(None, 0, 0.0, FAIL, f"no data: no successful response matching {selector} sent a "
                      f"Server-Timing entry {entry!r}")
    detail = f" ({said} of {total} responses with a {entry} entry said desc={desc})"
    return decide(result, said / total, total, 0.0, expr, detail, min_samples, "")


def _unit(t: Threshold) -> str:
    if t.selector.metric in LATENCY_METRICS:
        return "ms"
    return "/s" if t.expression.aggregation == "rate" and t.selector.metric == "http_reqs" else ""


def aggregate(h: Histogram, aggregation: str, pct: float | None) -> tuple[float, float, float]:
    """One aggregation (`p`, `med`, `avg`, `min`, `max`) of a histogram: (reported value, lowest possible
    true value, highest possible true value), in the histogram's unit. Public: the database and browser
    gates aggregate their own histograms with it."""
    if aggregation == "avg":
        return h.mean, h.mean, h.mean
    if aggregation == "min":
        return float(h.min), float(h.min), float(h.min)
    if aggregation == "max":
        return float(h.max), float(h.max), float(h.max)
    value = h.percentile(50.0 if aggregation == "med" else float(pct or 0.0))
    low, high = h.value_range(value)
    return value, low, high


def decide(
    result: ResultOf,
    observed: float,
    samples: int,
    bound: float,
    expr: Expression,
    extra: str,
    min_samples: int | None,
    unit: str,
    true_range: tuple[float, float] | None = None,
) -> ThresholdResult:
    """A threshold's verdict from its observed value: inconclusive under `min_samples` (None: no minimum)
    or when `true_range` (the value's possible true range) straddles the limit, else pass or fail; the
    message names the value, limit, samples, error bound and `extra`. Public: every evaluator (HTTP,
    database, browser) decides through it, so their verdicts and messages agree."""
    shown = f"{expr.label}={_num(observed)}{unit}, limit {expr.op} {_num(expr.value)}{unit}, {samples} samples"
    if bound:
        shown += f", error bound ±{_num(bound)}{unit}"
    if min_samples is not None and samples < min_samples:
        return result(
            observed,
            samples,
            bound,
            INCONCLUSIVE,
            f"inconclusive: {expr.label} needs at least {min_samples} samples, got {samples}; {shown}{extra}",
            unit,
        )
    holds = expr.holds(observed)
    if true_range is not None and expr.holds(true_range[0]) != expr.holds(true_range[1]):
        return result(
            observed, samples, bound, INCONCLUSIVE, f"inconclusive: limit within error bound; {shown}{extra}", unit
        )
    return result(
        observed, samples, bound, PASS if holds else FAIL, ("passed: " if holds else "failed: ") + shown + extra, unit
    )


def _num(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if abs(x) >= 100:
        return f"{x:.1f}"
    return f"{x:.4g}"


def evaluate(
    thresholds: Iterable[Threshold],
    merged: Merged,
    min_samples: int,
    duration_s: float,
    *others: Callable[[Threshold], ThresholdResult | None],
) -> list[ThresholdResult]:
    """`others` evaluate the thresholds on metrics measured outside the HTTP histograms (database gates,
    browser vitals, Lighthouse), each returning None for the ones it does not own; the first owner wins."""
    out = []
    for t in thresholds:
        owned = next((r for r in (judge(t) for judge in others) if r is not None), None)
        out.append(owned if owned is not None else evaluate_threshold(t, merged, min_samples, duration_s))
    return out


def overall(results: Sequence[ThresholdResult], checks: Sequence[Check], interrupted: bool = False) -> str:
    """Run verdict, most severe first: interrupted, error, fail, inconclusive, pass."""
    if interrupted:
        return INTERRUPTED
    if any(c.verdict == ERROR for c in checks):
        return ERROR
    if any(r.verdict == FAIL for r in results) or any(c.verdict == FAIL for c in checks):
        return FAIL
    if any(r.verdict == INCONCLUSIVE for r in results) or any(c.verdict == INCONCLUSIVE for c in checks):
        return INCONCLUSIVE
    return PASS


# integrity checks that say the delay may be ours; `workers` is inconclusive when a worker's whole process did not
# answer for a while (a short SIGSTOP, a frozen VM): the requests it had in flight were timed across that pause
GENERATOR_LIMITS = ("generator cpu", "load", "arrival rate", "workers")
LATENCY_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting")


def discount_generator_limited(results: Sequence[ThresholdResult], checks: Sequence[Check]) -> list[ThresholdResult]:
    """A latency breach measured while the generator was saturated or paused (or the load was not reached) is
    inconclusive, not a breach of the target: the delay may be ours. Failure rates and "no data" still count."""
    limits = [c for c in checks if c.name in GENERATOR_LIMITS and c.verdict == INCONCLUSIVE]
    if not limits:
        return list(results)
    why = "; ".join(f"{c.name}: {c.message}" for c in limits)
    return [
        replace(r, verdict=INCONCLUSIVE, message=f"inconclusive: measured by a limited generator ({why}); {r.message}")
        if r.verdict == FAIL and r.observed is not None and r.selector.split("{", 1)[0] in LATENCY_METRICS
        else r
        for r in results
    ]


def should_abort(
    results: Sequence[ThresholdResult], elapsed_s: float, thresholds: Sequence[Threshold]
) -> ThresholdResult | None:
    """The first abort_on_fail threshold that has failed on real data after its delay, if any."""
    for t, r in zip(thresholds, results):
        if t.abort_on_fail and elapsed_s >= t.delay_abort_eval_s and r.verdict == FAIL and r.observed is not None:
            return r
    return None
