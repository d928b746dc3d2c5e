"""A comparison with a run that did not run whole (its verdict `error` or `interrupted`): undecided (pure).

A run whose worker was lost, whose Ctrl-C stopped it half-way, or which ended in any other run error kept
numbers that are partial: a lost worker's share of the load is gone (the target looked faster, the throughput
lower), an interrupted run stopped before its ramp or its steady state were over, and its last requests may have
failed at the stop. Judging them as if whole reads a lower throughput as a regression and a lighter load as an
improvement, or says NO REGRESSION on a fraction of the run. So when either run is partial, every row and goal
that would be decided (a regression, an improvement or the same; met or missed) is undecided, its would-be verdict
kept in its note, and the reason names the run, what ended it and the fix: make the run again to its end, or
accept its partial numbers with `--allow-partial`, as `--allow-missing` accepts an endpoint gone.
"""

from __future__ import annotations

from dataclasses import replace

from loadorch.results import Results
from loadorch.verdict.compare import PARTIAL, Comparison, Row
from loadorch.verdict.evaluate import ERROR, INTERRUPTED
from loadorch.verdict.goals import MET, MISSED, UNDECIDED, GoalResult

MAX_MESSAGE = 200  # characters of a check's message quoted in the reason
MAX_CHECKS = 2  # checks named per run


def partial_runs(base: Results, cur: Results) -> list[str]:
    """Each run whose verdict says it did not run whole, in words: "the current run's verdict is interrupted
    (stopped after 12 of 60 s)", "the baseline's verdict is error (workers: worker 1 lost at 8.0 s)"."""
    runs = ((base, "baseline"), (cur, "current run"))
    return [partial_words(doc, label) for doc, label in runs if is_partial(doc)]


def partial_words(doc: Results, label: str) -> str:
    """How a partial run (is_partial) ended: "the run's verdict is fail (stopped after 12 of 60 s by a threshold's
    abort_on_fail)"."""
    return f"the {label}'s verdict is {doc.verdict} ({_what_ended(doc)})"


def is_partial(doc: Results) -> bool:
    """Whether a run did not run whole: a run error, a signal, or a threshold's abort_on_fail (its verdict is fail,
    and it stopped early all the same)."""
    return doc.verdict in (ERROR, INTERRUPTED) or doc.run.stop_reason == ABORTED


ABORTED = "aborted"  # wire.StopReason: a threshold with abort_on_fail stopped the run


def _what_ended(doc: Results) -> str:
    if doc.verdict == INTERRUPTED or doc.run.stop_reason == ABORTED:
        planned = f" of {doc.run.duration_s:g}" if doc.run.duration_s else ""
        how = " by a threshold's abort_on_fail" if doc.run.stop_reason == ABORTED else ""
        return f"stopped after {doc.run.elapsed_s:.0f}{planned} s{how}"
    said: list[str] = []
    for check in doc.checks:
        if check.verdict == ERROR and len(said) < MAX_CHECKS:
            message = check.message if len(check.message) <= MAX_MESSAGE else check.message[:MAX_MESSAGE] + "..."
            said.append(f"{check.name}: {message}")
    return "; ".join(said) or "a run error"


def undecide_partial(result: Comparison, partial: list[str]) -> Comparison:
    """`result` with every gated row and goal that would be decided undecided (PARTIAL) where `partial`
    (partial_runs) is not empty; rows already undecided keep their reason, rows not gated stay as they are."""
    if not partial:
        return result
    result.partial = list(partial)
    return undecide_all(result, PARTIAL, "a run is partial")


def undecide_all(result: Comparison, why: str, because: str) -> Comparison:
    """`result` with every gated row and goal that would be decided undecided for `why` (PARTIAL, SAME_RUN), its
    would-be verdict kept in its note (`because`: why not); rows already undecided keep their reason, rows not gated
    stay as they are."""
    result.rows = [_row(r, why, because) for r in result.rows]
    result.goals = [_goal(g, why) for g in result.goals]
    return result


def _row(r: Row, why: str, because: str) -> Row:
    if r.verdict == "missing" or r.undecided or r.why.startswith("informational"):
        return r
    would = {"regression": "a regression", "improvement": "an improvement"}.get(r.verdict, r.why or "the same")
    return replace(r, verdict="same", why=why, note=f"would be {would}, but {because}; {r.note}")


def _goal(g: GoalResult, why: str) -> GoalResult:
    if g.verdict not in (MET, MISSED):
        return g
    figures, _, said = g.why.partition(": ")
    return replace(g, verdict=UNDECIDED, why=f"{figures}: {why}, so undecided (otherwise {said})")

