"""The `browser` block of results.json, built from the merged browser stats (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from loadorch.browser.lighthouse import summary
from loadorch.browser.stats import VITALS, BrowserStats, metric_of, scale_of
from loadorch.config.thresholds import DEFAULT_BROWSER_THRESHOLDS, RESOURCE_METRICS, RESOURCE_TYPES, Threshold
from loadorch.results import BlockedRequest, Browser, BrowserPage, PageWeightStats, StepFailure, Vital, VitalPoint
from loadorch.stats.histogram import Histogram

SCHEMA_KEY = "browser"


def _num(h: Histogram, pct: float, scale: int) -> float | None:
    value = h.percentile(pct)
    return None if math.isnan(value) else round(value / scale, 6 if scale > 1000 else 3)


def _vital(h: Histogram, metric: str) -> Vital:
    scale = scale_of(metric)
    return Vital(
        count=h.count,
        p50=_num(h, 50, scale),
        p75=_num(h, 75, scale),
        p95=_num(h, 95, scale),
        max=round(h.max / scale, 6) if h.count else None,
    )


def _weight(stats: BrowserStats, page: str) -> dict[str, PageWeightStats]:
    """The page's weight per resource type it had (a type of 0 requests in every view is left out)."""
    out = {}
    for kind in RESOURCE_TYPES:
        tags = (("page", page), ("type", kind))
        hists = [stats.select(m, tags) for m in RESOURCE_METRICS]
        if hists[2].count and hists[2].max > 0:
            bytes_, decoded, requests = (_vital(h, m) for h, m in zip(hists, RESOURCE_METRICS, strict=True))
            out[kind] = PageWeightStats(bytes=bytes_, decoded_bytes=decoded, requests=requests)
    return out


def budgets(thresholds: Iterable[Threshold] = ()) -> dict[str, float]:
    """The p75 budget of each web vital for the report's "p75 vs budget": the run's own `p(75)<N` (or
    `<=`) threshold on the vital for all pages, else the Core Web Vitals default."""
    out = {}
    for selector, (expr,) in DEFAULT_BROWSER_THRESHOLDS.items():
        if selector.startswith("browser_web_vital_"):
            out[selector.rsplit("_", 1)[1]] = float(expr.split("<")[1])
    for t in thresholds:
        metric, e = t.selector.metric, t.expression
        unpaged = metric.startswith("browser_web_vital_") and not t.selector.tags
        if unpaged and e.aggregation == "p" and e.percentile == 75 and e.op in ("<", "<="):
            out[metric.rsplit("_", 1)[1]] = e.value
    return out


def _page(stats: BrowserStats, page: str) -> BrowserPage:
    vitals = {}
    for vital in VITALS:
        h = stats.select(metric_of(vital), (("page", page),))
        if h.count:
            vitals[vital] = _vital(h, metric_of(vital))
    total, failed = stats.step_counts((("page", page),))
    weight = _weight(stats, page)
    views = stats.select(metric_of("ttfb"), (("page", page),)).count or None
    cut = stats.cut_short.get(page, 0)
    if weight:  # written only where the page had some (results.json shows the fields set)
        return BrowserPage(views=views, cut_short=cut, steps=total, failed_steps=failed, vitals=vitals, weight=weight)
    return BrowserPage(views=views, cut_short=cut, steps=total, failed_steps=failed, vitals=vitals)


def _lighthouse(stats: BrowserStats) -> dict[str, Vital]:
    read = stats.lighthouse
    return {
        f"{m}{{{k}:{v}}}": summary(sorted(read[(m, tags)])) if (m, tags) in read else _vital(h, m)
        for (m, tags), h in sorted(stats.series.items())
        if m.startswith("lighthouse_")
        for k, v in tags
    }


def build(stats: BrowserStats, thresholds: Iterable[Threshold] = ()) -> Browser:
    """results.json's `browser` block."""
    pages = {page: _page(stats, page) for page in sorted(set(stats.pages()) | set(stats.cut_short))}
    series = [
        VitalPoint(t_s=round(i * stats.interval_s, 3), page=page, vital=metric.rsplit("_", 1)[1], count=h.count,
                   p75=_num(h, 75, scale_of(metric)))
        for (metric, page, i), h in sorted(stats.intervals.items(), key=lambda kv: (kv[0][2], kv[0][1], kv[0][0]))
    ]
    total, failed = stats.step_counts()
    return Browser(
        views=stats.views,
        cut_short=sum(stats.cut_short.values()),  # page views the run's end cut short: not samples
        steps=total,
        failed_steps=failed,
        pages=pages,
        budgets_p75=budgets(thresholds),
        timeseries=series,
        failures=[
            StepFailure(user=u, page=p, step=s, reason=r, count=n)
            for (u, p, s, r), n in sorted(stats.failures.items(), key=lambda kv: -kv[1])
        ],
        blocked=[BlockedRequest(page=p, url=u, count=n) for (p, u), n in sorted(stats.blocked.items())],
        lighthouse=_lighthouse(stats),
        histograms=stats.to_json(),
    )
