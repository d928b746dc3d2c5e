"""`loadorch compare`: budgets from flags and profile, the Markdown/JSON/JUnit outputs, the exit code."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from loadorch.browser.compare import browser_rows
from loadorch.commands.report import load_results
from loadorch.config.profile import CompareBudgets
from loadorch.db.compare import queries_rows
from loadorch.errors import ExitCode
from loadorch.report.compare_html import render_compare_html, top_changes
from loadorch.report.evidence import compare_evidence
from loadorch.report.junit import Case, render_cases
from loadorch.report.summary import md_cell, md_table
from loadorch.results import Results
from loadorch.run.artifacts import write_json, write_text
from loadorch.verdict.basis import basis
from loadorch.verdict.compare import Budgets, Comparison, Row, compare

METRICS = ("p50", "p95", "p99", "rps", "error_rate")


def budgets_from(spec: CompareBudgets | None, max_regression: float | None) -> Budgets:
    """Precedence: built-in 10 % < profile max_regression < --max-regression < profile per-metric budgets."""
    overall = Budgets().p95
    if spec is not None and spec.max_regression is not None:
        overall = spec.max_regression
    if max_regression is not None:
        overall = max_regression
    budgets = Budgets(p50=overall, p95=overall, p99=overall, rps=overall)
    if spec is None:
        return budgets
    for metric in (*METRICS, "min_change_ms"):
        value = getattr(spec, metric)
        if value is not None:
            budgets = replace(budgets, **{metric: value})
    return budgets


def compare_runs(base: Results, cur: Results, budgets: Budgets) -> Comparison:
    """The HTTP rows (verdict.compare), then the rows of the domains built on them: queries per request
    (a rise is an N+1 regression) and browser vitals."""
    on = basis(base, cur)
    result = compare(base, cur, budgets, on)
    result.rows += queries_rows(base, cur, on.base, on.cur, Row)
    result.rows += browser_rows(base.browser, cur.browser, budgets)
    return result


def run_compare(base_dir: str, cur_dir: str, budgets: Budgets, out_dir: str | None) -> int:
    base, cur = load_results(base_dir), load_results(cur_dir)
    result = compare_runs(base, cur, budgets)
    text = markdown(result, base_dir, cur_dir, budgets)
    regressed = [r.name for r in result.regressions if r.scope == "endpoint"]
    text += "\n".join(compare_evidence(base, cur, regressed))  # the slowest requests of each, where both have them
    sys.stdout.write(text)
    out = out_dir or default_out(base_dir, cur_dir)
    write_text(os.path.join(out, "compare.md"), text)
    write_json(
        os.path.join(out, "compare.json"),
        {
            "schema": "loadorch.compare/v1",
            "baseline": os.path.abspath(base_dir),
            "current": os.path.abspath(cur_dir),
            "budgets": budgets.__dict__,
            "compared": result.basis,
            "verdict": result.verdict,
            "regressions": len(result.regressions),
            "undecided": len(result.undecided),
            "warnings": result.warnings,
            "rows": [r.to_json() for r in result.rows],
        },
    )
    write_text(os.path.join(out, "compare-junit.xml"), junit(result))
    write_text(
        os.path.join(out, "compare.html"),
        render_compare_html(base, cur, result, base_dir, cur_dir, budgets_line(budgets)),
    )
    if not os.path.exists(os.path.join(out, "results.json")):  # never overwrite a run's own summary.md
        write_text(os.path.join(out, "summary.md"), text)
    sys.stdout.write(f"\nwrote compare.md, compare.json, compare-junit.xml and compare.html to {out}\n")
    if result.regressions:
        return ExitCode.BREACH
    return ExitCode.INCONCLUSIVE if result.undecided else ExitCode.OK


def default_out(base_dir: str, cur_dir: str) -> str:
    """A folder of its own beside the current run's (run folders hold one run's artifacts only):
    `<parent of CURRENT>/compare-<baseline>-vs-<current>/`."""
    cur = os.path.abspath(cur_dir)
    name = f"compare-{os.path.basename(os.path.abspath(base_dir))}-vs-{os.path.basename(cur)}"
    return os.path.join(os.path.dirname(cur), name)


def _fmt(value: Any, metric: str) -> str:
    if value is None:
        return "-"
    if metric == "error_rate":
        return f"{100 * value:.1f} %"
    if metric.startswith("cls"):  # browser users' layout shift: unitless
        return f"{value:.3f}"
    return f"{value:.1f}"


def _change(r: Row) -> str:
    return r.shown_change()


def _verdict(r: Row) -> str:
    return r.shown_verdict()


def budgets_line(budgets: Budgets) -> str:
    return (
        f"budgets p50/p95/p99 {budgets.p50:.0%}/{budgets.p95:.0%}/{budgets.p99:.0%}, rps {budgets.rps:.0%}, "
        f"error rate +{budgets.error_rate:.2%}; changes under {budgets.min_change_ms:g} ms or within the noise "
        "do not count"
    )


def markdown(result: Comparison, base_dir: str, cur_dir: str, budgets: Budgets) -> str:
    lines = [f"## loadorch compare: {result.headline()}", ""]
    if result.reason():
        lines += [f"**Why:** {md_cell(result.reason())}", ""]
    lines += [
        f"baseline `{base_dir}` -> current `{cur_dir}`; {budgets_line(budgets)}",
        "",
        f"compared: {result.basis}",
        "",
    ]
    lines += [f"- warning: {w}" for w in result.warnings]
    top = [
        [_verdict(r), r.scope, r.name, r.metric, _fmt(r.baseline, r.metric), _fmt(r.current, r.metric), _change(r)]
        for r in top_changes(result)
    ]  # fmt: skip
    if top:
        lines += [
            "",
            "### Top changes",
            "",
            md_table(top, ["", "scope", "name", "metric", "baseline", "current", "change"]),
            "",
            "### All rows",
        ]
    rows = [
        [
            r.scope,
            r.name,
            r.metric,
            _fmt(r.baseline, r.metric),
            _fmt(r.current, r.metric),
            _change(r),
            _verdict(r),
        ]
        for r in result.rows
    ]
    lines += [
        "",
        md_table(rows, ["scope", "name", "metric", "baseline", "current", "change", "verdict"]),
        "",
    ]
    return "\n".join(lines)


def junit(result: Comparison) -> str:
    cases = [
        Case(
            f"{r.scope} {r.name} {r.metric}",
            "loadorch.compare",
            0.0,
            "failure" if r.verdict == "regression" else "error" if r.undecided else None,
            "regression" if r.verdict == "regression" else "inconclusive",
            f"{r.metric} {_fmt(r.baseline, r.metric)} -> {_fmt(r.current, r.metric)} ({_change(r)}), "
            f"budget {r.budget:g}: {_verdict(r)}; {r.note}",
        )
        for r in result.rows
        if r.verdict != "missing"
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return render_cases("loadorch.compare", stamp, socket.gethostname() or "localhost", 0.0, cases)
