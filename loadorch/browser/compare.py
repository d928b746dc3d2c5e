"""Before/after rows for the browser users' web vitals: p75 per page, a change counts beyond the noise."""

from __future__ import annotations

from loadorch.browser.stats import BrowserStats, metric_of, scale_of
from loadorch.results import Browser
from loadorch.verdict.compare import Budgets, Row, percentile_row

VITALS = ("lcp", "inp", "cls", "fcp", "ttfb")
MIN_CLS_CHANGE = 0.005


def browser_rows(base: Browser | None, cur: Browser | None, budgets: Budgets) -> list[Row]:
    """p75 of each vital per page, judged like latency percentiles (relative budget: the p95 one); few page
    views cannot bound a p75 (under 13 per run): such a row says `too few samples`, never `same`."""
    if not base and not cur:
        return []
    b = BrowserStats.from_json(base.histograms if base else {})
    c = BrowserStats.from_json(cur.histograms if cur else {})
    rows = []
    for page in sorted(set(b.pages()) | set(c.pages())):
        for vital in VITALS:
            metric = metric_of(vital)
            bh, ch = b.select(metric, (("page", page),)), c.select(metric, (("page", page),))
            name = f"{vital} p75"
            if bh.count == 0 and ch.count == 0:
                continue
            if bh.count == 0 or ch.count == 0:
                where = "baseline" if bh.count == 0 else "current run"
                rows.append(
                    Row(
                        "page",
                        page,
                        name,
                        None,
                        None,
                        None,
                        None,
                        budgets.p95,
                        False,
                        "missing",
                        f"no page views in the {where}",
                    )
                )
                continue
            floor = MIN_CLS_CHANGE if vital == "cls" else budgets.min_change_ms
            unit = "" if vital == "cls" else "ms"
            data = (bh, ch, 75.0)
            rows.append(percentile_row("page", page, name, data, budgets.p95, floor, float(scale_of(metric)), unit))
    return rows
