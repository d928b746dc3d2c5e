"""Requests still waiting for the target when the run stopped its users (pure): counted, named, and said.

Such a request is neither answered nor failed, so it is in no table: a target that takes connections and never
answers within a run shorter than request_timeout leaves 0 requests and thresholds reading "no data" (as if the
selector were wrong), and an endpoint that hangs leaves no trace at all. The workers count them (wire.Unanswered);
here they become a check and the reason of the thresholds they leave without data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, PASS, Check, ThresholdResult
from loadorch.wire import OTHER_ENDPOINTS, MasterSummary, Unanswered

CHECK = "unanswered requests"
NO_ANSWER = "no data: no answer"  # the start of a no-data threshold's message whose requests were all unanswered
# an endpoint with no finished request whose request waited at least HUNG_S, and half the time its requests could
# wait (request_timeout, or the run's length if shorter): a hang, not a slow endpoint picked once near the end
HUNG_S = 1.0
MAX_NAMED = 5


def unanswered_of(summary: MasterSummary | None) -> list[Unanswered]:
    """Every worker's rows, those of one user class and endpoint summed (their longest wait kept)."""
    rows: dict[tuple[str, str, str, str], Unanswered] = {}
    for w in summary.workers.detail if summary else []:
        for u in w.unanswered:
            key = (u.user, u.name, u.kind, u.method)
            seen = rows.get(key)
            rows[key] = u if seen is None else seen.model_copy(
                update={"count": seen.count + u.count, "waited_max_s": max(seen.waited_max_s, u.waited_max_s)})
    return list(rows.values())


def unanswered_checks(rows: Sequence[Unanswered], merged: Merged, timeout: float, elapsed_s: float) -> list[Check]:
    """None when no request was left waiting. A target that finished no request while some waited: FAIL (it did not
    answer: what the thresholds' "no data" means here); an endpoint that finished none while one waited long
    (hung_after): INCONCLUSIVE (its latency and errors are not measured); else a PASS that counts and names them.
    `timeout`: the profile's request_timeout (s); `elapsed_s`: the run's length."""
    total = sum(u.count for u in rows)
    if not total:
        return []
    by_name: dict[str, tuple[int, float]] = {}
    for u in rows:
        n, w = by_name.get(u.name, (0, 0.0))
        by_name[u.name] = (n + u.count, max(w, u.waited_max_s))
    longest = max(w for _, w in by_name.values())
    said = f"{total} request(s) were still waiting for the target at the end ({_named(by_name)}; the longest for " \
           f"{longest:.1f}s)"  # fmt: skip
    fix = (
        f"none could time out first: request_timeout is {timeout:g}s. Check the target (its logs; a stuck worker "
        "pool, a lock, a full queue); set request_timeout under the run's duration so that requests it does not "
        "answer count as failed (timeouts), or run longer"
    )
    if not merged.counts()[0]:
        return [Check(CHECK, FAIL, f"the target answered none of the requests: {said}: it took the connections and "
                                   f"sent no response; {fix}")]  # fmt: skip
    bound = hung_after(timeout, elapsed_s)
    hung = {name: nw for name, nw in by_name.items()
            if name != OTHER_ENDPOINTS and nw[1] >= bound and not merged.counts((("name", name),))[0]}
    if hung:
        return [Check(CHECK, INCONCLUSIVE, f"{len(hung)} endpoint(s) finished no request: {_named(hung)} still waited "
                                           f"at the end, so their latency and errors are not measured ({said}); "
                                           f"{fix}")]  # fmt: skip
    return [Check(CHECK, PASS, f"{said}: they are in neither the latencies nor the failures")]


def hung_after(timeout: float, elapsed_s: float) -> float:
    """How long a request of an endpoint that finished none must have waited at the end to call it a hang."""
    return max(HUNG_S, min(timeout, elapsed_s or timeout) / 2)


def say_unanswered(results: Sequence[ThresholdResult], rows: Sequence[Unanswered], merged: Merged
                   ) -> list[ThresholdResult]:  # fmt: skip
    """A threshold with no data (no request matched) whose selector matches requests still waiting at the end says
    so: the selector is right, the target did not answer."""
    out = []
    for r in results:
        t = r.threshold
        if t is None or r.verdict != FAIL or not r.message.startswith("no data: no request matched"):
            out.append(r)
            continue
        waiting = [u for u in rows if merged.matches(SeriesKey(u.user, u.name, u.kind, u.method, 0, False),
                                                     t.selector.tags)]  # fmt: skip
        if not waiting:
            out.append(r)
            continue
        n, longest = sum(u.count for u in waiting), max(u.waited_max_s for u in waiting)
        message = (f"{NO_ANSWER}: {n} request(s) of {t.selector} were still waiting for the target at the end (the "
                   f"longest for {longest:.1f}s), none finished")  # fmt: skip
        out.append(replace(r, message=message))
    return out


def _named(by_name: dict[str, tuple[int, float]]) -> str:
    ranked = sorted(by_name.items(), key=lambda kv: (-kv[1][0], kv[0]))
    shown = ", ".join(f"{name} {n}" for name, (n, _) in ranked[:MAX_NAMED])
    return shown + (f" and {len(ranked) - MAX_NAMED} more endpoint(s)" if len(ranked) > MAX_NAMED else "")
