"""Human summaries of results.json: the terminal table and summary.md (same verdict, same tables)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, Any

from tabulate import tabulate

from loadorch.report.browser import markdown_section
from loadorch.report.evidence import markdown_evidence
from loadorch.report.markdown import _md, md_table
from loadorch.report.profile import markdown_section as profile_markdown
from loadorch.report.text import printable
from loadorch.report.why import ERRORS_HEAD, reasons, top_errors
from loadorch.results import LiveWindow, Results, ThresholdRow, Window
from loadorch.verdict.evaluate import ERROR, FAIL, INCONCLUSIVE, INTERRUPTED, PASS

ICONS = {v: v.upper() for v in (PASS, FAIL, INCONCLUSIVE, ERROR, INTERRUPTED)}
TOP_ENDPOINTS = 15
COLORS = {"pass": "32", "fail": "31", "inconclusive": "33", "error": "31", "interrupted": "33"}  # ANSI SGR
ALL_FAILED = "all failed"


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def _observed(t: ThresholdRow) -> str:
    if t.observed is None:
        return "no data"
    unit = t.unit
    v = t.observed
    return f"{v:.4g}{unit}" if abs(v) < 100 else f"{v:.1f}{unit}"


def threshold_rows(thresholds: Sequence[ThresholdRow]) -> list[list[str]]:
    return [
        [ICONS.get(t.verdict, t.verdict), t.selector, t.expression, _observed(t), str(t.samples)] for t in thresholds
    ]


def endpoint_rows(doc: Results) -> list[list[str]]:
    eps = sorted(doc.endpoints.items(), key=lambda kv: -kv[1].count)[:TOP_ENDPOINTS]
    return [
        [
            name,
            s.kind,
            str(s.count),
            str(s.failures),
            f"{s.rps:.1f}",
            ALL_FAILED if s.count and s.failures == s.count else _ms(s.p50_ms),
            _ms(s.p95_ms),
            _ms(s.p99_ms),
            _ms(s.max_ms),
        ]
        for name, s in eps
    ]


def check_rows(doc: Results) -> list[list[str]]:
    return [[ICONS.get(c.verdict, c.verdict), c.name, c.message] for c in doc.checks]


def failing_check_rows(doc: Results) -> list[list[str]]:
    return [
        [c.name, c.check, str(c.fails), str(c.passes + c.fails), _example(c.example)]
        for c in doc.expect_checks
        if c.fails
    ][:TOP_ENDPOINTS]


def _example(text: str | None, limit: int = 120) -> str:
    if not text:
        return "-"
    one = " ".join(text.split())
    return one if len(one) <= limit else one[:limit] + "..."


FAILING_CHECK_HEAD = ["request", "check", "failed", "of", "example response"]
THRESHOLD_HEAD = ["", "selector", "threshold", "observed", "samples"]
ENDPOINT_HEAD = ["endpoint", "kind", "requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms"]
CHECK_HEAD = ["", "check", "detail"]


def _all_failed_note(doc: Results) -> str | None:
    names = [n for n, s in doc.endpoints.items() if s.count and s.failures == s.count]
    if not names:
        return None
    return (
        f"{ALL_FAILED}: every request to {', '.join(names[:5])}{' ...' if len(names) > 5 else ''} failed; "
        "latencies are of successful requests only (see the top errors)"
    )


def headline(doc: Results, color: bool = False) -> str:
    run, totals = doc.run, doc.totals
    word = printable(ICONS.get(doc.verdict, doc.verdict))
    profile, scenario = printable(run.profile), printable(run.scenario)  # no escape sequence of a name is printed
    if color and doc.verdict in COLORS:
        word = f"\033[1;{COLORS[doc.verdict]}m{word}\033[0m"
    if run.users == 0 and doc.browser is not None and totals.requests == 0:  # a browser-only scenario
        return f"{word}: {profile} ({scenario}), browsers only, {doc.browser.views} page views, seed {run.seed}"
    return (
        f"{word}: {profile} ({scenario}), "
        f"{totals.requests} requests, {totals.failures} failed, {totals.rps:.1f} req/s, "
        f"{run.workers} workers, seed {run.seed}"
    )


PHASES = (("ramp_up", "before it (ramp-up)"), ("between", "between its spans"), ("ramp_down", "after it (ramp-down)"))


def window_line(w: Window | LiveWindow | None) -> str:
    """One sentence on the measurement window: what the thresholds judged and what they left out."""
    if not w:
        return ""
    spans = ", ".join(f"{a:g}-{b:g}s" for a, b in w.spans)
    left = [
        f"{w.excluded[k].requests} {label} ({w.excluded[k].failures} failed)" for k, label in PHASES if k in w.excluded
    ]
    return (
        f"Measurement window ({w.source}): {spans}; thresholds judged {w.requests} requests "
        f"({w.failures} failed); excluded: {', '.join(left) or 'none'}"
    )


def terminal(doc: Results, color: bool = False) -> str:
    """The run's end on the terminal: tables, then the verdict line and, under it, why and what to do. Every
    cell and line is printable(): a response's text (an error page's lines, an escape sequence, `::` or `##[`
    that a CI runner reads as a command at a line's start) cannot break a table or reach the terminal as is."""
    parts = []
    if doc.endpoints:
        table = _table(endpoint_rows(doc), ENDPOINT_HEAD)
        note = _all_failed_note(doc)
        parts.append(table + (f"\n{printable(note)}" if note else ""))
    errors = top_errors(doc)
    if errors:
        parts.append("top errors\n" + _table(errors, ERRORS_HEAD))
    if doc.thresholds:
        parts.append(_table(threshold_rows(doc.thresholds), THRESHOLD_HEAD))
    if doc.window:
        parts.append(printable(window_line(doc.window)))
    if failing_check_rows(doc):
        parts.append("failing checks:\n" + _table(failing_check_rows(doc), FAILING_CHECK_HEAD))
    failing = [r for r in check_rows(doc) if r[0] != "PASS"]
    if failing:
        parts.append(_table(failing, CHECK_HEAD))
    why = reasons(doc)
    parts.append("\n".join([headline(doc, color), *(f"  why: {printable(line)}" for line in why)]))
    return "\n\n".join(parts) + "\n"


def _table(rows: list[list[str]], head: list[str]) -> str:
    return tabulate([[printable(c) for c in row] for row in rows], head, tablefmt="simple")


def markdown(doc: Results) -> str:
    out = [f"## loadorch: {_md(headline(doc))}", ""]
    if doc.error:
        out += [f"**Error:** {_md(doc.error)}", ""]
    error = " ".join((doc.error or "").split())
    why = [line for line in reasons(doc) if line != error]
    if why:
        out += ["**Why:**", "", *(f"- {_md(line)}" for line in why), ""]
    errors = top_errors(doc)
    if errors:
        out += ["### Top errors", "", md_table(errors, ERRORS_HEAD), ""]
    if doc.thresholds:
        out += ["### Thresholds", "", md_table(threshold_rows(doc.thresholds), THRESHOLD_HEAD), ""]
        out += markdown_evidence(doc.thresholds)
    if doc.window:
        out += [_md(window_line(doc.window)), ""]
    if doc.run.tags:
        out += ["Run tags: " + _md(", ".join(f"{k}={v}" for k, v in doc.run.tags.items())), ""]
    if failing_check_rows(doc):
        out += ["### Failing checks", "", md_table(failing_check_rows(doc), FAILING_CHECK_HEAD), ""]
    if doc.checks:
        out += ["### Run integrity", "", md_table(check_rows(doc), CHECK_HEAD), ""]
    out += markdown_section(doc.browser)
    out += profile_markdown(doc)
    if doc.endpoints:
        out += ["### Top endpoints", "", md_table(endpoint_rows(doc), ENDPOINT_HEAD), ""]
        note = _all_failed_note(doc)
        if note:
            out += [_md(note), ""]
    from loadorch.report.database import markdown_database

    out += markdown_database(doc.database, md_table)
    return "\n".join(out) + "\n"
