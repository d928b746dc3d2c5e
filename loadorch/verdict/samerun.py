"""A comparison whose two folders hold one run (the folder given twice, a copy of it, or a baseline saved from the
current run): undecided (pure).

Every row of a run compared with itself is "the same" and every change 0, whatever the target did: the pair would
read NO REGRESSION by accident. So every row and goal that would be decided is undecided (SAME_RUN), its would-be
verdict kept in its note, and the reason names the run and the fix: compare with an earlier run.
"""

from __future__ import annotations

from loadorch.results import Results
from loadorch.verdict.compare import SAME_RUN, Comparison
from loadorch.verdict.partial import undecide_all


def same_run(base: Results, cur: Results) -> str:
    """Which run both documents are, in words ("" when they are two runs): the same document, field for field
    (one start and end, every latency to the microsecond: two runs, even started together, differ there)."""
    if base != cur:
        return ""
    return f"the baseline and the current run are one run (profile {base.run.profile}, started {base.run.start})"


def undecide_same(result: Comparison, said: str) -> Comparison:
    """`result` with every gated row and goal that would be decided undecided (SAME_RUN) where `said` (same_run) is
    not empty; rows already undecided keep their reason, rows not gated stay as they are."""
    if not said:
        return result
    result.same = said
    return undecide_all(result, SAME_RUN, "both sides are one run")
