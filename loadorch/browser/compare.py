"""Before/after rows for the browser users: web vitals (p75 per page, a change counts beyond the noise) and failed
journey steps (per page, and over all pages when there are several: the HTTP error rate's rule)."""

from __future__ import annotations

from collections.abc import Collection

from loadorch.browser.stats import BrowserStats, metric_of, scale_of
from loadorch.results import Browser
from loadorch.verdict.compare import (
    ALL_PAGES,
    ALLOWED,
    GONE,
    STEP_ERROR_RATE,
    Budgets,
    Row,
    error_row,
    percentile_row,
    samples_to_bound,
)

VITALS = ("lcp", "inp", "cls", "fcp", "ttfb")
MIN_CLS_CHANGE = 0.005


def browser_rows(
    base: Browser | None, cur: Browser | None, budgets: Budgets, allow_missing: Collection[str] = ()
) -> list[Row]:
    """p75 of each vital per page, judged like latency percentiles (relative budget: the p95 one); few page
    views cannot bound a p75 (under 13 per run): such a row says `too few samples`, never `same`. A page the
    baseline judged (13 views) that the current run did not view is undecided (GONE, once per page) unless
    `allow_missing` names it, as an endpoint gone from the current run is."""
    if not base and not cur:
        return []
    b = BrowserStats.from_json(base.histograms if base else {})
    c = BrowserStats.from_json(cur.histograms if cur else {})
    rows = []
    judged = samples_to_bound(75.0)
    for page in sorted(set(b.pages()) | set(c.pages())):
        gated = False  # the page's one row that says it is gone
        for vital in VITALS:
            metric = metric_of(vital)
            bh, ch = b.select(metric, (("page", page),)), c.select(metric, (("page", page),))
            name = f"{vital} p75"
            if bh.count == 0 and ch.count == 0:
                continue
            if bh.count == 0 or ch.count == 0:
                where = "baseline" if bh.count == 0 else "current run"
                note, why = f"no page views in the {where}", ""
                if ch.count == 0 and bh.count >= judged and not gated:  # judged before, gone now
                    gated = True
                    allowed = page in allow_missing
                    note = f"{bh.count} page views in the baseline, {GONE}" + (f": {ALLOWED}" if allowed else "")
                    why = ALLOWED if allowed else GONE
                rows.append(Row("page", page, name, float(bh.count) if why else None, None, None, None, budgets.p95,
                                False, "missing", note, why=why))
                continue
            floor = MIN_CLS_CHANGE if vital == "cls" else budgets.min_change_ms
            unit = "" if vital == "cls" else "ms"
            data = (bh, ch, 75.0)
            rows.append(percentile_row("page", page, name, data, budgets.p95, floor, float(scale_of(metric)), unit))
    return rows + step_rows(b, c, budgets.error_rate)


def step_rows(b: BrowserStats, c: BrowserStats, budget: float) -> list[Row]:
    """The share of journey steps that failed, judged as HTTP error rates are (verdict.compare.error_row, the
    error-rate budget): per page with steps in both runs, and over all pages when steps were on more than one
    page or in one run only (a page with steps in one run only counts there; no steps a side: too few)."""
    stepped = {page for _, page, _ in b.steps} | {page for _, page, _ in c.steps}
    rows = [
        error_row("page", page, b.step_counts((("page", page),)), c.step_counts((("page", page),)), budget,
                  STEP_ERROR_RATE, "steps")
        for page in sorted(stepped)
        if b.step_counts((("page", page),))[0] and c.step_counts((("page", page),))[0]
    ]  # fmt: skip
    if len(stepped) > 1 or (stepped and not rows):
        rows.append(error_row(*ALL_PAGES, b.step_counts(), c.step_counts(), budget, STEP_ERROR_RATE, "steps"))
    return rows
