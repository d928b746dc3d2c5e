"""Why a run did not pass: the top errors and, for each failed or inconclusive result, the reason and a fix."""

from __future__ import annotations

import re
from typing import Any

from loadorch.results import Results, ThresholdRow
from loadorch.verdict.unanswered import CHECK, NO_ANSWER

TOP_ERRORS = 10
ERRORS_HEAD = ["endpoint", "status", "reason", "count", "example"]
_SAMPLES = re.compile(r"needs at least (\d+) samples, got (\d+)")


def top_errors(doc: Results, limit: int = TOP_ERRORS) -> list[list[str]]:
    """The most frequent failures by endpoint, status and reason (summed over users), with one example."""
    table: dict[tuple[str, int, str], list[Any]] = {}
    for e in doc.errors:
        row = table.setdefault((e.name, e.status, e.reason), [0, None])
        row[0] += e.count
        if row[1] is None and e.example:
            row[1] = e.example
    ranked = sorted(table.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    rows = [
        [name, str(status) if status else "no response", reason, str(count), example or "-"]
        for (name, status, reason), (count, example) in ranked
    ]
    return rows + [[where, BROWSER_STEP, reason, str(count), "-"] for where, reason, count in failed_steps(doc, limit)]


BROWSER_STEP = "browser step"


def failed_steps(doc: Results, limit: int = TOP_ERRORS) -> list[tuple[str, str, int]]:
    """The browser users' most frequent failed steps: (`user: step N (action selector)`, reason, count).
    Listed beside the HTTP errors whatever the thresholds, so failing steps are never silent."""
    rows = []
    for f in (doc.browser.failures if doc.browser else [])[:limit]:  # most frequent first
        step, reason = f.step, f.reason
        if step and reason.startswith(step + ": "):
            reason = reason[len(step) + 2 :]
        where = f"{f.user}: {step}" if step else f.user
        rows.append((where, reason, f.count))
    return rows


def reasons(doc: Results) -> list[str]:
    """One line per cause of a verdict other than pass: what happened, then what to do about it."""
    if doc.verdict == "pass":
        return []
    out: list[str] = []
    if doc.error:
        out.append(doc.error)
    failed_requests = bool(doc.errors)
    for t in doc.thresholds:
        if t.verdict in ("fail", "inconclusive"):
            out.append(_threshold_reason(t, failed_requests))
    for c in doc.checks:
        if c.verdict in ("fail", "inconclusive", "error"):
            out.append(f"{c.name}: {c.message}")
    steps = failed_steps(doc, 3)
    if steps:
        total = doc.browser.failed_steps if doc.browser else 0
        shown = "; ".join(f"{where}: {reason} ({count}x)" for where, reason, count in steps)
        out.append(f"{total} browser step(s) failed: {shown}: see the top errors and the Browser section")
    if doc.verdict == "interrupted":
        out.append("the run was interrupted: its numbers cover only the time it ran")
    return [" ".join(line.split()) for line in out]  # one line each, whatever a message holds


_DB_EMPTY = (
    "check that collectors.postgres.dsn names the server the application uses (pg_stat_statements counts all of "
    "its databases) and that the load reached the application's database (see the top errors)"
)
_DB_NO_DATA = {
    "db_queries_per_request": (
        "have the application send Server-Timing: db;count=N (or the configured header), or measure it with "
        "collectors.postgres and probe: true"
    ),
}


def _threshold_reason(t: ThresholdRow, failed_requests: bool) -> str:
    where = f"{t.selector} {t.expression}"
    message = t.message
    low = _SAMPLES.search(message)
    if low:
        need, got = low.groups()
        return f"{where}: {got} samples, min_samples is {need}: run longer (or with more users), or lower min_samples"
    if "within error bound" in message:
        return f"{where}: the limit is inside the measurement's error bound: run longer, or move the limit"
    if message.startswith("no data: all"):
        return f"{where}: every matching request failed, so there is no latency to judge: see the top errors"
    if message.startswith(NO_ANSWER):  # the selector is right: its requests were sent, the target did not answer
        return f"{where}: {message[len('no data: ') :]}: see the {CHECK} check"
    if message.startswith("no data") and t.selector.startswith("db_"):
        return f"{where}: {message[len('no data: ') :]}: {_DB_NO_DATA.get(t.selector.split('{')[0], _DB_EMPTY)}"
    if message.startswith("no data") and t.selector.startswith(("browser_", "lighthouse_")):
        # not about request tags: a vital no page view had (INP without a working click, type or press)
        return f"{where}: {message}: see the failed steps and the Browser section, or remove this threshold"
    if message.startswith("no data") and t.selector.startswith("server_timing"):
        # its requests matched; what no response had is the entry (or a readable dur): not the tags' fault
        return (
            f"{where}: {message[len('no data: ') :]}: check the entry's name against the target's Server-Timing "
            "header (a response's entry without a dur gives no duration), or remove this threshold"
        )
    if message.startswith("no data"):
        return (
            f"{where}: no request matched: check the selector's tags against the scenario's endpoint names "
            "and kinds, or remove this threshold"
        )
    if t.verdict == "inconclusive":
        return f"{where}: {message}"
    fix = "see the top errors" if failed_requests and t.selector.startswith("http_req_failed") else ""
    fix = fix or ("the target is slower than the budget" if t.selector.startswith("http_req_duration") else "")
    return f"{where}: {message}" + (f": {fix}" if fix else "")
