"""Thresholds on browser vitals, failed browser steps and Lighthouse results (pure)."""

from __future__ import annotations

from loadorch.browser.lighthouse import aggregate_as_read
from loadorch.browser.stats import BrowserStats, scale_of, unit_of
from loadorch.config.thresholds import BROWSER_METRICS, LIGHTHOUSE_METRICS, RESOURCE_METRICS, Threshold
from loadorch.verdict.evaluate import FAIL, ResultOf, ThresholdResult, aggregate, decide

OWN_METRICS = (*BROWSER_METRICS, *LIGHTHOUSE_METRICS, *RESOURCE_METRICS, "browser_step_failed")


def owns(metric: str) -> bool:
    return metric in OWN_METRICS


def evaluate_browser(t: Threshold, stats: BrowserStats, min_samples: int) -> ThresholdResult:
    """One browser or Lighthouse threshold. Lighthouse results are a handful of files, not a sample of
    page views: min_samples does not apply to them."""
    metric, expr, tags = t.selector.metric, t.expression, t.selector.tags
    selector = str(t.selector)
    unit = unit_of(metric) if metric != "browser_step_failed" else ""
    result = ResultOf(t, unit)

    if metric == "browser_step_failed":
        total, failed = stats.step_counts(tags)
        if total == 0:
            return result(None, 0, 0.0, FAIL, f"no data: no browser step matched {selector}")
        detail = f" ({failed} failed of {total} steps)"
        return decide(result, failed / total, total, 0.0, expr, detail, min_samples, "")
    h = stats.select(metric, tags)
    if h.count == 0:
        what = "Lighthouse result" if metric.startswith("lighthouse_") else "page view"
        return result(None, 0, 0.0, FAIL, f"no data: no {what} measured {selector}")
    values = stats.exact(metric, tags) if metric.startswith("lighthouse_") else []
    if values:  # gated as read: rounded to the histogram's thousandths, 0.0996 would fail `max<0.1`
        return decide(
            result, aggregate_as_read(values, expr.aggregation, expr.percentile), len(values), 0.0, expr, "", None, unit
        )
    scale = float(scale_of(metric))
    value, low, high = aggregate(h, expr.aggregation, expr.percentile)
    needed = None if metric.startswith("lighthouse_") else min_samples
    return decide(
        result,
        value / scale,
        h.count,
        (high - low) / 2.0 / scale,
        expr,
        "",
        needed,
        unit,
        (low / scale, high / scale),
    )
