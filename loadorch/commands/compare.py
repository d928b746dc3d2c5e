"""`loadorch compare`: budgets, goals and measured noise from flags and profile, the Markdown/JSON/JUnit
outputs, the exit code."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

from typing_extensions import TypedDict

from loadorch.browser.compare import browser_rows
from loadorch.browser.stats import BrowserStats, scale_of, unit_of
from loadorch.commands.report import load_results
from loadorch.config.goals import Goal
from loadorch.config.profile import CompareBudgets
from loadorch.db.compare import queries_rows
from loadorch.errors import ExitCode
from loadorch.report.compare_evidence import markdown_part, regressions_evidence
from loadorch.report.compare_html import render_compare_html
from loadorch.report.compare_md import budgets_line, junit, markdown
from loadorch.results import Results
from loadorch.run.artifacts import write_json, write_text
from loadorch.stats.histogram import Histogram
from loadorch.verdict.basis import Basis, basis
from loadorch.verdict.compare import (
    ALLOWED_PARTIAL,
    GONE,
    MIXED_BASIS,
    Budgets,
    BudgetsJson,
    Comparison,
    GeneratorJson,
    Row,
    RowJson,
    compare,
)
from loadorch.verdict.goals import GoalJson, judge, top_endpoints, undecided
from loadorch.verdict.limited import generator_limits, generator_of, undecide_limited
from loadorch.verdict.noise import Noise, bound_rows
from loadorch.verdict.partial import partial_runs, undecide_partial
from loadorch.verdict.samerun import same_run, undecide_same

__all__ = ["Plan", "budgets_from", "budgets_line", "compare_runs", "junit", "markdown", "run_compare"]
METRICS = ("p50", "p95", "p99", "rps", "error_rate")
TIMINGS = {"http_req_duration": "", "http_req_waiting": "waiting", "http_req_connecting": "connecting"}
# goal metrics recorded inside a measurement window only (stats.tables.Recorder): judged on one basis or not at all
WINDOW_ONLY = ("http_req_waiting", "http_req_connecting", "db_queries_per_request")
NO_TOP_ENDPOINT = (
    "no endpoint of the baseline has a successful request (browser users only, or every request failed), so "
    "there is no p95 to expect an improvement of: use --goal on what the runs measure"
)


@dataclass(frozen=True)
class Plan:
    """What a comparison judges beyond the budgets: goals, the share for the top endpoints, measured noise."""

    goals: tuple[Goal, ...] = ()
    expect_improvement: float | None = None  # --expect-improvement: p95 of the top endpoints
    noise: Noise | None = None
    allow_missing: tuple[str, ...] = ()  # --allow-missing: endpoints of the baseline the current run may lack
    allow_partial: bool = False  # --allow-partial: judge a run that did not run whole (error, interrupted) as is


def budgets_from(spec: CompareBudgets | None, max_regression: float | None) -> Budgets:
    """Precedence: built-in 10 % < profile max_regression < --max-regression < profile per-metric budgets."""
    overall, source = Budgets().p95, "built-in"
    if spec is not None and spec.max_regression is not None:
        overall, source = spec.max_regression, "profile compare.max_regression"
    if max_regression is not None:
        overall, source = max_regression, "--max-regression"
    budgets = Budgets(p50=overall, p95=overall, p99=overall, rps=overall, source=source)
    if spec is None:
        return budgets
    for metric in (*METRICS, "min_change_ms"):
        value = getattr(spec, metric)
        if value is not None:
            budgets = replace(budgets, **{metric: value})
            if metric in ("p50", "p95", "p99"):
                budgets = replace(budgets, source=f"{source}; profile compare.{metric}")
    return budgets


def compare_runs(base: Results, cur: Results, budgets: Budgets, plan: Plan | None = None) -> Comparison:
    """The HTTP rows (verdict.compare), then the rows of the domains built on them: queries per request
    (a rise is an N+1 regression) and browser vitals; each row bounded by its budget or measured noise; then
    the goals; last, HTTP latency rows and goals undecided when either run's generator was limited, and every
    decided row and goal when either run did not run whole (unless --allow-partial)."""
    plan = plan or Plan()
    on = basis(base, cur)
    result = compare(base, cur, budgets, on, plan.allow_missing)
    result.rows += queries_rows(base, cur, on.base, on.cur, Row, on.mixed)
    result.rows += browser_rows(base.browser, cur.browser, budgets, plan.allow_missing)
    result.rows = bound_rows(result.rows, plan.noise, budgets.source)
    goals = list(plan.goals)
    if plan.expect_improvement is not None:
        by_time = {name: (e.count, e.mean_ms or 0.0) for name, e in base.endpoints.items()}
        goals += [Goal("http_req_duration", (("name", n),), 95.0, plan.expect_improvement, "--expect-improvement")
                  for n in top_endpoints(by_time)]  # fmt: skip
        if len(goals) == len(plan.goals):  # else the expectation vanished and the pair could read "no regression"
            whole = Goal("http_req_duration", (), 95.0, plan.expect_improvement, "--expect-improvement")
            result.goals.append(undecided(whole, "ms", NO_TOP_ENDPOINT))
    for goal in goals:
        hists, scale, unit = goal_histograms(goal, base, cur, on)
        if on.mixed and goal.metric in WINDOW_ONLY:  # one run's window against the other's whole run
            result.goals.append(undecided(goal, unit, f"{MIXED_BASIS}: {on.mixed}"))
            continue
        spread = plan.noise.spreads.get(_noise_key(goal)) if plan.noise else None
        result.goals.append(judge(goal, hists, scale, unit, spread, plan.noise.runs if plan.noise else 0))
    result.generator = {"baseline": generator_of(base), "current": generator_of(cur)}
    result = undecide_limited(result, generator_limits(base, cur))  # a latency verdict may be our generator's
    result = undecide_same(result, same_run(base, cur))  # a run compared with itself: no change can show
    result.partial = partial_runs(base, cur)
    if plan.allow_partial:
        result.warnings += [f"{said}: {ALLOWED_PARTIAL}, its numbers judged as if whole" for said in result.partial]
        return result
    return undecide_partial(result, result.partial)


def goal_histograms(goal: Goal, base: Results, cur: Results, on: Basis
                    ) -> tuple[tuple[Histogram, Histogram] | None, float, str]:  # fmt: skip
    """The goal's metric in both runs, its scale and unit: HTTP timings, queries per request, or any metric
    the browser users or Lighthouse recorded (page vitals, resource bytes, audits); None where a run lacks it."""
    if goal.metric in TIMINGS:
        timing = TIMINGS[goal.metric]
        pair = on.base.select(goal.tags, timing=timing), on.cur.select(goal.tags, timing=timing)
        return pair, 1000.0, "ms"
    if goal.metric == "db_queries_per_request":
        return (on.base.select_db(goal.tags), on.cur.select_db(goal.tags)), 1.0, "queries"
    if base.browser is None or cur.browser is None:
        return None, 1.0, ""
    b, c = (BrowserStats.from_json(doc.histograms) for doc in (base.browser, cur.browser))
    unit = "bytes" if "bytes" in goal.metric else unit_of(goal.metric)
    return (b.select(goal.metric, goal.tags), c.select(goal.metric, goal.tags)), float(scale_of(goal.metric)), unit


def _noise_key(goal: Goal) -> str:
    """The compare row a goal's noise is measured on (an endpoint's or kind's p50/p95/p99, a page's vital p75)."""
    if len(goal.tags) == 1 and goal.metric == "http_req_duration":
        tag, value = goal.tags[0]
        return f"{'endpoint' if tag == 'name' else tag}|{value}|p{goal.percentile:g}"
    if len(goal.tags) == 1 and goal.tags[0][0] == "page" and goal.metric.startswith("browser_web_vital_"):
        return f"page|{goal.tags[0][1]}|{goal.metric.rsplit('_', 1)[1]} p{goal.percentile:g}"
    return ""


def run_compare(base_dir: str, cur_dir: str, budgets: Budgets, out_dir: str | None, plan: Plan | None = None) -> int:
    base, cur = load_results(base_dir), load_results(cur_dir)
    result = compare_runs(base, cur, budgets, plan)
    text = markdown(result, base_dir, cur_dir, budgets)
    text += "\n".join(markdown_part(regressions_evidence(base, cur, result.rows)))  # where both runs have it
    sys.stdout.write(text)
    out = out_dir or default_out(base_dir, cur_dir)
    write_text(os.path.join(out, "compare.md"), text)
    write_json(os.path.join(out, "compare.json"), _document(result, base_dir, cur_dir, budgets, plan))
    write_text(os.path.join(out, "compare-junit.xml"), junit(result))
    write_text(
        os.path.join(out, "compare.html"),
        render_compare_html(base, cur, result, base_dir, cur_dir, budgets_line(budgets)),
    )
    if not os.path.exists(os.path.join(out, "results.json")):  # never overwrite a run's own summary.md
        write_text(os.path.join(out, "summary.md"), text)
    _step_summary(text)
    sys.stdout.write(f"\nwrote compare.md, compare.json, compare-junit.xml and compare.html to {out}\n")
    return exit_code(result)


def exit_code(result: Comparison) -> int:
    if result.verdict == "regression":
        return ExitCode.BREACH
    return ExitCode.INCONCLUSIVE if result.verdict == "inconclusive" else ExitCode.OK


class CompareJson(TypedDict):
    """compare.json."""

    schema: str
    baseline: str
    current: str
    budgets: BudgetsJson
    noise_runs: int | None
    compared: str
    verdict: str
    reason: str  # why an inconclusive comparison is one, and what to do ("" otherwise)
    regressions: int
    undecided: int
    generator: dict[str, GeneratorJson]  # "baseline", "current": limited or not, and why (verdict.limited)
    partial: list[str]  # the runs that did not run whole (verdict error or interrupted) and what ended them
    endpoints: EndpointsJson
    goals: list[GoalJson]
    warnings: list[str]
    rows: list[RowJson]


class EndpointsJson(TypedDict):
    """The endpoints in one run only: gone from the current run (those the baseline judged make the comparison
    inconclusive unless --allow-missing names them) and new in it (reported, never gated)."""

    gone: list[str]
    gone_gated: list[str]
    allowed_missing: list[str]
    new: list[str]


def _document(result: Comparison, base_dir: str, cur_dir: str, budgets: Budgets, plan: Plan | None) -> CompareJson:
    noise = plan.noise if plan else None
    return {
        "schema": "loadorch.compare/v1",
        "baseline": os.path.abspath(base_dir),
        "current": os.path.abspath(cur_dir),
        "budgets": budgets.to_json(),
        "noise_runs": noise.runs if noise else None,
        "compared": result.basis,
        "verdict": result.verdict,
        "reason": result.reason(),
        "regressions": len(result.regressions),
        "undecided": len(result.undecided),
        "generator": result.generator,
        "partial": result.partial,
        "endpoints": _endpoints(result, plan),
        "goals": [g.to_json() for g in result.goals],
        "warnings": result.warnings,
        "rows": [r.to_json() for r in result.rows],
    }


def _endpoints(result: Comparison, plan: Plan | None) -> EndpointsJson:
    one_run = [r for r in result.rows if r.scope == "endpoint" and r.metric == "requests" and r.verdict == "missing"]
    gone = [r.name for r in one_run if r.baseline is not None]
    return {
        "gone": gone,
        "gone_gated": [r.name for r in one_run if r.why == GONE],
        "allowed_missing": [n for n in (plan.allow_missing if plan else ()) if n in gone],
        "new": [r.name for r in one_run if r.baseline is None],
    }


def _step_summary(text: str) -> None:
    """GitHub Actions: compare.md joins the job's summary page when `$GITHUB_STEP_SUMMARY` names a file."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        sys.stderr.write(f"warning: cannot append compare.md to $GITHUB_STEP_SUMMARY ({path}): {exc.strerror}\n")


def default_out(base_dir: str, cur_dir: str) -> str:
    """A folder of its own beside the current run's (run folders hold one run's artifacts only):
    `<parent of CURRENT>/compare-<baseline>-vs-<current>/`."""
    cur = os.path.abspath(cur_dir)
    name = f"compare-{os.path.basename(os.path.abspath(base_dir))}-vs-{os.path.basename(cur)}"
    return os.path.join(os.path.dirname(cur), name)
