"""compare.md (a pull-request comment: one-line verdict title, the tables, the details folded) and the
comparison's JUnit cases: data in, text out."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from typing import Any

from loadorch.report.compare_html import top_changes
from loadorch.report.junit import Case, render_cases
from loadorch.report.markdown import md_cell, md_code, md_table
from loadorch.verdict.compare import ERROR_RATES, Budgets, Comparison, Row

SUITE = "loadorch.compare"
UNITS = {"rps": "/s", "db_queries_per_request": " queries/request"}


def fmt(value: Any, metric: str) -> str:
    """A row's value with its unit: ms for latencies and timing vitals, % for error rates."""
    if value is None:
        return "-"
    if metric in ERROR_RATES:
        return f"{100 * value:.1f} %"
    if metric == "requests":  # an endpoint or kind in one run only: its count of requests
        return f"{value:.0f} requests"
    if metric.startswith("cls"):  # browser users' layout shift: unitless
        return f"{value:.3f}"
    if metric in UNITS:
        return f"{value:.2f}{UNITS[metric]}" if metric != "rps" else f"{value:.1f}{UNITS[metric]}"
    return f"{value:.1f} ms"


def budgets_line(budgets: Budgets) -> str:
    return (
        f"budgets p50/p95/p99 {budgets.p50:.0%}/{budgets.p95:.0%}/{budgets.p99:.0%}, rps {budgets.rps:.0%}, "
        f"error rate +{budgets.error_rate:.2%} ({budgets.source}); changes under {budgets.min_change_ms:g} ms "
        "or within the noise do not count"
    )


def markdown(result: Comparison, base_dir: str, cur_dir: str, budgets: Budgets) -> str:
    lines = [f"## loadorch compare: {result.headline()}", ""]
    if result.reason():
        lines += [f"**Why:** {md_cell(result.reason())}", ""]
    lines += _goals(result)
    top = [
        [r.shown_verdict(), r.scope, r.name, r.metric, fmt(r.baseline, r.metric), fmt(r.current, r.metric),
         r.shown_change()]
        for r in top_changes(result)
    ]  # fmt: skip
    if top:
        lines += ["### Top changes", "", md_table(top, ["", "scope", "name", "metric", "baseline", "current",
                                                         "change"]), ""]  # fmt: skip
    shown = listed_rows(result.rows)
    more = len(result.rows) - len(shown)
    title = f"all {len(result.rows)} rows" if not more else f"{len(shown)} of {len(result.rows)} rows"
    lines += [
        f"<details><summary>{title}, the bounds, budgets and warnings</summary>",
        "",
        f"baseline {md_code(base_dir)} -> current {md_code(cur_dir)}; {budgets_line(budgets)}",
        "",
        f"compared: {result.basis}",
        "",
    ]
    lines += [f"- warning: {w}" for w in result.warnings]
    rows = [
        [r.scope, r.name, r.metric, fmt(r.baseline, r.metric), fmt(r.current, r.metric), r.shown_change(),
         r.shown_verdict(), r.bound or "-"]
        for r in shown
    ]  # fmt: skip
    lines += [
        "",
        "### All rows" if not more else f"### {len(shown)} rows: every regression and undecided row first",
        "",
        md_table(rows, ["scope", "name", "metric", "baseline", "current", "change", "verdict", "bound"]),
        "",
        *([f"... and {more} more rows, each a change that does not count: compare.json and compare.html list them "
           "all.", ""] if more else []),
        "</details>",
        "",
    ]
    return "\n".join(lines)


# rows compare.md lists at most: GitHub takes at most 1 MiB of a job's step summary (and of a comment), and a run
# of the default 1,000 endpoint names compared row by row made about 950 KB; compare.json and compare.html keep all
MAX_MD_ROWS = 400
_FIRST = {"regression": 0, "improvement": 2}


def listed_rows(rows: list[Row], limit: int = MAX_MD_ROWS) -> list[Row]:
    """The rows compare.md lists: all of them up to `limit`; past it, every regression and undecided row first
    (never left out for room), then the improvements, then the others, each group in the comparison's order."""
    if len(rows) <= limit:
        return rows
    order = sorted(rows, key=lambda r: _FIRST.get(r.verdict, 1 if r.undecided else 3))  # stable: in its order
    needed = sum(1 for r in rows if r.verdict == "regression" or r.undecided)
    return order[: max(limit, needed)]


def _goals(result: Comparison) -> list[str]:
    if not result.goals:
        return []
    rows = [[g.verdict.upper(), g.selector, g.goal, g.source, g.why] for g in result.goals]
    return ["### Goals", "", md_table(rows, ["", "selector", "goal", "given by", "figures"]), ""]


def junit(result: Comparison) -> str:
    cases = [_case(r) for r in result.rows if r.verdict != "missing" or r.undecided]
    cases += [
        Case(f"goal {g.selector} {g.goal}", f"{SUITE}.goals", 0.0,
             {"missed": "failure", "inconclusive": "error"}.get(g.verdict), f"goal {g.verdict}", g.why)
        for g in result.goals
    ]  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return render_cases(SUITE, stamp, socket.gethostname() or "localhost", 0.0, cases)


def _case(r: Row) -> Case:
    if r.verdict == "missing":  # a judged endpoint gone from the current run: what to do is the comparison's reason
        text = (f"{r.scope} {r.name}: {r.note}. A request is matched by its `name:`: if it was renamed, give it its "
                "old name back; if the change is meant, compare again with --allow-missing NAME")  # fmt: skip
        return Case(f"{r.scope} {r.name} {r.metric}", SUITE, 0.0, "error", "inconclusive", text)
    return Case(
        f"{r.scope} {r.name} {r.metric}",
        SUITE,
        0.0,
        "failure" if r.verdict == "regression" else "error" if r.undecided else None,
        "regression" if r.verdict == "regression" else "inconclusive",
        f"{r.metric} {fmt(r.baseline, r.metric)} -> {fmt(r.current, r.metric)} ({r.shown_change()}), "
        f"budget {r.budget:g}: {r.shown_verdict()}; {r.note}" + (f"; bound: {r.bound}" if r.bound else ""),
    )
