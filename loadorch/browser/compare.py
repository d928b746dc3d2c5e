"""Before/after rows for the browser users' web vitals: p75 per page, a change counts beyond the noise."""

from __future__ import annotations

from loadorch.browser.stats import BrowserStats, metric_of, scale_of
from loadorch.results import Browser
from loadorch.verdict.compare import Budgets, Row, quantile_interval

VITALS = ("lcp", "inp", "cls", "fcp", "ttfb")
MIN_CLS_CHANGE = 0.005


def browser_rows(base: Browser | None, cur: Browser | None, budgets: Budgets) -> list[Row]:
    """p75 of each vital per page, judged like latency percentiles (relative budget: the p95 one)."""
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
            scale = float(scale_of(metric))
            bv, cv = bh.percentile(75) / scale, ch.percentile(75) / scale
            (blo, bhi), (clo, chi) = quantile_interval(bh, 75), quantile_interval(ch, 75)
            worse, better = clo > bhi, chi < blo
            change = cv - bv
            floor = MIN_CLS_CHANGE if vital == "cls" else budgets.min_change_ms
            big = abs(change) > budgets.p95 * bv and abs(change) > floor
            verdict = "regression" if worse and big else "improvement" if better and big else "same"
            rows.append(
                Row(
                    "page",
                    page,
                    name,
                    round(bv, 4),
                    round(cv, 4),
                    round(change, 4),
                    round(100.0 * change / bv, 2) if bv else None,
                    budgets.p95,
                    worse or better,
                    verdict,
                    f"95% intervals {blo / scale:.4g}-{bhi / scale:.4g} vs {clo / scale:.4g}-{chi / scale:.4g}",
                )
            )
    return rows
