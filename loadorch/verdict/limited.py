"""A comparison with a run whose generator was limited: its HTTP latency verdicts are undecided (pure).

A run's own gate makes a latency breach inconclusive when its generator was saturated, starved or paused, or
fell short of the load (evaluate.discount_generator_limited): the delay may be ours, not the target's. A
comparison asks the same question of two runs: a latency that our saturated generator inflated in the baseline
makes the current run look faster (a goal "met", an "improvement"), in the current run slower (a "regression"),
and a generator that fell behind also sent less load, so the target looked faster; and a baseline it inflated
hides a regression of the current run as "the same". So when either run has a generator-limit check that did not
pass, every HTTP latency row (a regression, an improvement or the same: not one already undecided) and every goal
on an HTTP latency metric that would be met or missed cannot be decided; the reason names the run, the check and
the fix.

Left as they are: error rates (the gate's rule: a failure is the target's whatever our CPU), throughput (the
gate does not discount a rate of requests either: a count is not inflated by our delay), queries per request
(the target's count), and page vitals (measured by Chromium's own clock in the page, not by the generator).
"""

from __future__ import annotations

from dataclasses import replace

from loadorch.results import Results
from loadorch.verdict.compare import GENERATOR_LIMITED, PERCENTILES, Comparison, GeneratorJson, Row
from loadorch.verdict.evaluate import GENERATOR_LIMITS, LATENCY_METRICS, PASS
from loadorch.verdict.goals import MET, MISSED, UNDECIDED, GoalResult

MAX_MESSAGE = 200  # characters of a check's message quoted in the reason
LATENCY_ROWS = frozenset(metric for metric, _ in PERCENTILES)  # the rows of the http_req_duration histograms
HTTP_SCOPES = ("kind", "endpoint")
_SAID = {"error": "an error", "fail": "a failure"}


def generator_limits(base: Results, cur: Results) -> list[str]:
    """Each generator-limit check (evaluate.GENERATOR_LIMITS) of either run that did not pass, in words:
    "the baseline's generator cpu check was inconclusive: generator saturated: worker 0 at 97% ..."."""
    return [f"the {label}'s {said}" for doc, label in ((base, "baseline"), (cur, "current run"))
            for said in limits_of(doc)]  # fmt: skip


def generator_of(doc: Results) -> GeneratorJson:
    """One run's generator for compare.json: limited or not, why, and which generator-limit checks it recorded
    (a run without them, older than the checks, reads `limited: false` with `checked: []`: not known)."""
    why = limits_of(doc)
    checked = [f"{c.name}: {c.verdict}" for c in doc.checks if c.name in GENERATOR_LIMITS]
    return GeneratorJson(limited=bool(why), why=why, checked=checked)


def limits_of(doc: Results) -> list[str]:
    """One run's generator-limit checks that did not pass ("generator cpu check was inconclusive: ..."): empty
    when its generator kept up (or the run recorded no such check)."""
    out = []
    for check in doc.checks:
        if check.name in GENERATOR_LIMITS and check.verdict != PASS:
            message = check.message if len(check.message) <= MAX_MESSAGE else check.message[:MAX_MESSAGE] + "..."
            out.append(f"{check.name} check was {_SAID.get(check.verdict, check.verdict)}: {message}")
    return out


def undecide_limited(result: Comparison, limits: list[str]) -> Comparison:
    """`result` with its HTTP latency rows and goals undecided where `limits` (generator_limits) is not empty;
    a row or goal already undecided (too few samples) keeps its reason."""
    if not limits:
        return result
    result.limits = list(limits)
    result.rows = [_row(r) for r in result.rows]
    result.goals = [_goal(g) for g in result.goals]
    return result


def _row(r: Row) -> Row:
    if r.scope not in HTTP_SCOPES or r.metric not in LATENCY_ROWS or r.verdict == "missing" or r.undecided:
        return r
    would = {"regression": "a regression", "improvement": "an improvement"}.get(r.verdict, r.why or "the same")
    note = f"would be {would}, but measured with a limited generator; {r.note}"
    return replace(r, verdict="same", why=GENERATOR_LIMITED, note=note)


def _goal(g: GoalResult) -> GoalResult:
    if g.verdict not in (MET, MISSED) or g.selector.split("{", 1)[0] not in LATENCY_METRICS:
        return g
    figures, _, said = g.why.partition(": ")  # judge's "p95 200 -> 130 ms (-35.0 %): met by 5.0 pts"
    # Comparison._limited counts the goals whose why says ": generator limited"
    return replace(g, verdict=UNDECIDED, why=f"{figures}: {GENERATOR_LIMITED}, so undecided (otherwise {said})")
