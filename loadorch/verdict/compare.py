"""Before/after comparison of two runs: per kind and endpoint, only changes larger than the noise count.

Percentile noise comes from the serialized histograms: a distribution-free confidence interval for a
quantile (the binomial order-statistic interval: ranks p*n +- z*sqrt(n*p*(1-p))). A latency change is
a regression when the current interval lies wholly above the baseline's, the increase exceeds the
budget (relative) and `min_change_ms` (absolute). Throughput and error rate use z-tests on counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from typing_extensions import TypedDict

from loadorch.results import Results
from loadorch.stats.histogram import Histogram, bounds_of, bucket_of
from loadorch.verdict.basis import Basis, basis
from loadorch.verdict.evaluate import ERROR, INTERRUPTED

Z = 1.96
EXACT_UP_TO = 2000  # samples up to which an open normal-approximation interval is recomputed exactly
MIN_COUNT = 30  # fewer requests than this on either side: a count-based test cannot tell
PERCENTILES = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
# why a change does not count (README "Comparing runs"): a row says one of these, never "same"
TOO_FEW, NOT_SIGNIFICANT, WITHIN_BUDGET = "too few samples", "not significant", "within budget"
# a latency change measured while either run's generator was limited (evaluate.GENERATOR_LIMITS): maybe ours
GENERATOR_LIMITED = "generator limited"
BROWSER_ONLY = "no HTTP requests in either run: browser users only"
# a latency row of a kind or endpoint with no successful request in one run or both (every one failed, or none was
# made): there is no latency to compare, so the row is undecided, never "missing" and passed over
NO_SUCCESS = "no successful request"
# queries per request the baseline measured for an endpoint (its response header's counts, or the collector's probe)
# that the current run, which still calls it, did not: an N+1 regression could hide there, so the row is undecided
NOT_MEASURED = "not measured in the current run"
# an endpoint the baseline judged (MIN_COUNT requests or more) that the current run does not have: renamed, or no
# longer called; its change cannot be judged, so the comparison cannot say "no regression" (--allow-missing accepts it)
GONE = "not in the current run"
ALLOWED = "allowed by --allow-missing"
# a row or goal on a table recorded inside the measurement window only (waiting and connecting times, queries per
# request) when only one run has a window: one side's window against the other's whole run (verdict.basis)
MIXED_BASIS = "not on one basis"
# a row or goal of a comparison with a run that did not run whole (its verdict error or interrupted: a worker lost,
# a Ctrl-C half-way): its numbers are partial (verdict.partial); --allow-partial accepts them
PARTIAL = "partial run"
ALLOWED_PARTIAL = "accepted by --allow-partial"
# a row or goal of a comparison whose two folders hold one run (the folder given twice, or a baseline saved from the
# current run): no change can show, whatever the target did (verdict.samerun)
SAME_RUN = "the same run"
STEP_ERROR_RATE = "step_error_rate"  # failed steps of the browser journeys over all their steps (browser/compare.py)
ALL_PAGES = ("browser", "all pages")  # the scope and name of the row over every page's steps
ERROR_RATES = ("error_rate", STEP_ERROR_RATE)  # absolute budgets (budgets.error_rate), shown in points
MAX_NAMED = 5  # endpoints named in a reason, the rest counted


@dataclass(frozen=True)
class Budgets:
    """Allowed worsening per metric: relative for latency and throughput, absolute for error rate."""

    p50: float = 0.10
    p95: float = 0.10
    p99: float = 0.10
    rps: float = 0.10
    error_rate: float = 0.005
    min_change_ms: float = 1.0
    source: str = "built-in"  # where the budgets came from, for each row's bound (verdict.noise)

    def for_metric(self, metric: str) -> float:
        return float(getattr(self, metric))

    def to_json(self) -> BudgetsJson:
        return BudgetsJson(p50=self.p50, p95=self.p95, p99=self.p99, rps=self.rps, error_rate=self.error_rate,
                           min_change_ms=self.min_change_ms, source=self.source)


class BudgetsJson(TypedDict):
    """Budgets as compare.json writes them."""

    p50: float
    p95: float
    p99: float
    rps: float
    error_rate: float
    min_change_ms: float
    source: str


class RowJson(TypedDict):
    """A Row as compare.json writes it (its fields, in order)."""

    scope: str
    name: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None
    change_pct: float | None
    budget: float
    significant: bool
    verdict: str
    note: str
    noise_low: float | None
    noise_high: float | None
    why: str
    bound: str


class GeneratorJson(TypedDict):
    """One run's generator as compare.json writes it (verdict.limited.generator_of): whether it was limited, why
    (each generator-limit check that did not pass), and the checks it recorded (none: an older run, unknown)."""

    limited: bool
    why: list[str]
    checked: list[str]


@dataclass(frozen=True)
class Row:
    scope: str  # "kind", "endpoint" or "run"
    name: str
    metric: str
    baseline: float | None
    current: float | None
    change: float | None  # current - baseline
    change_pct: float | None
    budget: float
    significant: bool
    verdict: str  # "regression", "improvement", "same", "missing"
    note: str = ""
    # latency: the band of changes (ms) that are within the noise, [-(c_hi - c) - (b - b_lo), (c - c_lo) + (b_hi - b)];
    # a change outside it has non-overlapping 95 % intervals. None: that side is unbounded (too few samples).
    noise_low: float | None = None
    noise_high: float | None = None
    why: str = ""  # for "same": "too few samples", "not significant", "within budget", "under min_change_ms"
    bound: str = ""  # the bound the row was judged by and why: the budget or the measured noise (verdict.noise)

    def to_json(self) -> RowJson:
        return RowJson(
            scope=self.scope, name=self.name, metric=self.metric, baseline=self.baseline, current=self.current,
            change=self.change, change_pct=self.change_pct, budget=self.budget, significant=self.significant,
            verdict=self.verdict, note=self.note, noise_low=self.noise_low, noise_high=self.noise_high, why=self.why,
            bound=self.bound,
        )  # fmt: skip

    def shown_change(self) -> str:
        """Latency and throughput change relative to the baseline; error rate in percentage points."""
        if self.metric in ERROR_RATES:
            return "-" if self.change is None else f"{100 * self.change:+.1f} pts"
        return "-" if self.change_pct is None else f"{self.change_pct:+.1f}%"

    def shown_verdict(self) -> str:
        """What the row means: a regression or improvement, or why a change does not count."""
        if self.verdict in ("regression", "improvement"):
            return self.verdict.upper()
        if self.verdict == "missing":
            return f"missing ({self.note})" if self.note else "missing"
        if self.why == NOT_SIGNIFICANT and self.note.startswith("95% intervals"):
            return f"{NOT_SIGNIFICANT} ({self.note})"
        if self.why:
            return self.why
        return WITHIN_BUDGET if self.significant else NOT_SIGNIFICANT  # a "same" row that did not say why

    @property
    def undecided(self) -> bool:
        """A gated row whose data cannot bound the change, whose change may be the generator's, whose two sides
        are not the same samples, or a judged endpoint gone from the current run: the comparison cannot say "no
        regression"."""
        if self.verdict == "missing":
            return self.why == GONE
        return self.verdict == "same" and self.why in (TOO_FEW, GENERATOR_LIMITED, MIXED_BASIS, NO_SUCCESS,
                                                       NOT_MEASURED, PARTIAL, SAME_RUN)


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    basis: str = "the whole runs"  # what was compared: the whole runs or both measurement windows
    goals: list[Any] = field(default_factory=list)  # verdict.goals.GoalResult, judged after the rows
    # why either run's generator was limited ("the baseline's generator cpu check was inconclusive: ..."), set by
    # verdict.limited, which makes the latency rows and goals undecided
    limits: list[str] = field(default_factory=list)
    # per run ("baseline", "current"): whether its generator was limited and why (verdict.limited.generator_of)
    generator: dict[str, GeneratorJson] = field(default_factory=dict)
    mixed: str = ""  # why the window-only tables are not on one basis (verdict.basis), "" when they are
    # which run did not run whole and what ended it ("the current run's verdict is interrupted (...)"), set by
    # verdict.partial, which makes every decided row and goal undecided
    partial: list[str] = field(default_factory=list)
    same: str = ""  # set by verdict.samerun when both folders hold one run: which run, in words

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == "regression"]

    @property
    def undecided(self) -> list[Row]:
        return [r for r in self.rows if r.undecided]

    @property
    def missed(self) -> list[Any]:
        return [g for g in self.goals if g.verdict == "missed"]

    @property
    def undecided_goals(self) -> list[Any]:
        return [g for g in self.goals if g.verdict == "inconclusive"]

    @property
    def verdict(self) -> str:
        """"regression" (a row, or a missed goal), else "inconclusive" when a gated row has too few samples (or
        was measured by a limited generator) or a goal cannot be decided, else "no regression"."""
        if self.regressions or self.missed:
            return "regression"
        return "inconclusive" if self.undecided or self.undecided_goals else "no regression"

    def headline(self) -> str:
        """The comparison's verdict in the words compare.md, compare.html and the terminal all show."""
        met = len(self.goals) - len(self.missed) - len(self.undecided_goals)
        goals = ", ".join(
            f"{n} GOAL(S) {word}"
            for n, word in ((len(self.missed), "MISSED"), (len(self.undecided_goals), "UNDECIDED"), (met, "MET"))
            if n
        )
        gone = [f"{n} {what}(s) {GONE}" for scope, what in (("endpoint", "endpoint"), ("page", "browser page"))
                if (n := sum(r.why == GONE and r.scope == scope for r in self.undecided))]
        undecided = ", ".join(gone + [
            f"{n} row(s): {why}" for why in (SAME_RUN, PARTIAL, NO_SUCCESS, NOT_MEASURED, MIXED_BASIS,
                                             GENERATOR_LIMITED, TOO_FEW)
            if (n := sum(r.why == why for r in self.undecided))
        ])  # fmt: skip
        if self.regressions:
            head = f"{len(self.regressions)} REGRESSION(S)"
        elif self.missed:  # a breach: said first, as the exit code (1) says it
            return goals + (f"; {undecided}" if undecided else "")
        elif self.undecided:
            head = f"INCONCLUSIVE ({undecided})"
        elif self.undecided_goals:
            return goals
        else:
            head = "NO REGRESSION"
        return f"{head}; {goals}" if goals else head

    def reason(self) -> str:
        """Why an inconclusive comparison is one, and what to do ("" otherwise)."""
        if self.regressions or self.missed:
            return ""
        parts = [self._same(), self._partial(), self._gone(), self._no_success(), self._not_measured(), self._mixed(),
                 self._limited(), self._too_few()]
        # an undecided goal _partial, _mixed and _limited do not name (no samples, too few) is said beside the rows'
        # reasons
        said = (MIXED_BASIS, f": {GENERATOR_LIMITED}", f": {PARTIAL}", f": {SAME_RUN}")
        goals = [g for g in self.undecided_goals
                 if not (g.why.startswith(said[0]) or any(words in g.why for words in said[1:]))]
        parts += [f"goal {goals[0].selector} {goals[0].goal}: {goals[0].why}" if goals else ""]
        return "inconclusive: " + "; ".join(part for part in parts if part) if any(parts) else ""

    def _same(self) -> str:
        """The rows and goals a run compared with itself leaves undecided, which run, and the fix."""
        return self._undecided_for(
            SAME_RUN, f"{self.same or 'both folders hold one run'}; a run compared with itself shows no change "
            "whatever the target did", "Compare the current run with an earlier one (a baseline saved before it)")

    def _partial(self) -> str:
        """The rows and goals a run that did not run whole leaves undecided, which run and why, and the fix."""
        return self._undecided_for(
            PARTIAL, f"{'; '.join(self.partial) or 'a run did not run whole'}; its numbers are partial (a lost "
            "worker's share of the load, the rest of an interrupted run)", "Make the run again to its end, or, to "
            "judge the numbers it has, compare again with --allow-partial")

    def _undecided_for(self, why: str, what_run: str, fix: str) -> str:
        """`why: what_run, so N row(s) and M goal(s) cannot be decided. fix` ("" when no row or goal is so)."""
        rows = [r for r in self.rows if r.undecided and r.why == why]
        goals = [g for g in self.undecided_goals if f": {why}" in g.why]
        if not (rows or goals):
            return ""
        what = [f"{len(rows)} row(s)" if rows else "", f"{len(goals)} goal(s)" if goals else ""]
        return f"{why}: {what_run}, so {' and '.join(w for w in what if w)} cannot be decided. {fix}"

    def _gone(self) -> str:
        """The endpoints the baseline judged that the current run does not have, and the two ways on."""
        said = []
        for scope, what, unit, matched in (("endpoint", "endpoint", "requests", "A request is matched by its `name:`"),
                                           ("page", "browser page", "page views", "A page view is named by its visit")):
            rows = [r for r in self.rows if r.undecided and r.why == GONE and r.scope == scope]
            if rows:
                named = ", ".join(f'"{r.name}" ({r.baseline or 0:.0f} {unit})' for r in rows[:MAX_NAMED])
                more = f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
                said.append(
                    f"{len(rows)} {what}(s) in the baseline but {GONE}: {named}{more}: renamed, or no longer "
                    f"{'called' if scope == 'endpoint' else 'visited'}? Their change cannot be judged. {matched}: if "
                    f"it was renamed, give it its old name back; if the change is meant, compare again with "
                    f"--allow-missing NAME (once per {what})"
                )
        return "; ".join(said)

    def _no_success(self) -> str:
        """The latency rows with no successful request on a side, and the fix: make the target answer them."""
        rows = [r for r in self.rows if r.undecided and r.why == NO_SUCCESS]
        if not rows:
            return ""
        return (
            f"{len(rows)} latency row(s) with {NO_SUCCESS} in one run or both ({_named(rows)}): every request of "
            "theirs failed (or none was made), so there is no latency to compare. The error_rate rows and each "
            "run's summary.md say how they failed: make the target answer them, then run again"
        )

    def _not_measured(self) -> str:
        """The queries-per-request rows the current run did not measure, and the fix."""
        rows = [r for r in self.rows if r.undecided and r.why == NOT_MEASURED]
        if not rows:
            return ""
        return (
            f"{len(rows)} queries-per-request row(s) {NOT_MEASURED} ({_named(rows)}): the baseline measured them "
            "(the application's Server-Timing db count, or the collector's probe), the current run did not, so a "
            "rise (an N+1 query) cannot be seen. Measure them again the way the baseline did (the header, or "
            "collectors.postgres with probe: true) and run again, or compare with a baseline that did not"
        )

    def _mixed(self) -> str:
        """The rows and goals on tables recorded inside the window only, when only one run has a window."""
        rows = [r for r in self.rows if r.undecided and r.why == MIXED_BASIS]
        goals = [g for g in self.undecided_goals if g.why.startswith(MIXED_BASIS)]
        if not (rows or goals):
            return ""
        what = [
            f"{len(rows)} row(s) ({_named(rows)})" if rows else "",
            f"{len(goals)} goal(s) ({', '.join(f'{g.selector} {g.goal}' for g in goals[:3])})" if goals else "",
        ]
        return f"{' and '.join(w for w in what if w)} cannot be decided: {self.mixed}"

    def _limited(self) -> str:
        """The latency rows and goals a limited generator leaves undecided, which run's check said so, the fix."""
        rows = [r for r in self.rows if r.undecided and r.why == GENERATOR_LIMITED]
        goals = [g for g in self.undecided_goals if f": {GENERATOR_LIMITED}" in g.why]
        if not (rows or goals):
            return ""
        limits = "; ".join(self.limits) or "a run was measured by a limited generator"
        what = [
            f"{len(rows)} latency row(s) ({_named(rows)})" if rows else "",
            f"{len(goals)} goal(s) ({', '.join(f'{g.selector} {g.goal}' for g in goals[:3])})" if goals else "",
        ]
        return (
            f"{GENERATOR_LIMITED}: {limits}; so {' and '.join(w for w in what if w)} cannot be "
            "decided: the delay (or the lighter load of a generator that fell behind) may be ours, not the "
            "target's. Give the generator more workers (--workers) or a quieter machine, then make both runs again"
        )  # fmt: skip

    def _too_few(self) -> str:
        rows = [r for r in self.rows if r.undecided and r.why == TOO_FEW]
        if not rows:
            return ""
        needs = sorted({(p, samples_to_bound(p)) for p in (_pct_of(r.metric) for r in rows) if p is not None})
        rates = [f"{MIN_COUNT} for a rate"] if any(_pct_of(r.metric) is None for r in rows) else []
        least = ", ".join([f"p{p:g} {n}" for p, n in needs] + rates)
        return (
            f"{len(rows)} row(s) with {TOO_FEW} to bound the change ({_named(rows)}): run both runs "
            f"longer or with more users (browser: pages), so each row has enough samples"
            + (f" (at least, per run: {least})" if least else "")
        )


def _named(rows: list[Row]) -> str:
    return ", ".join(f"{r.scope} {r.name} {r.metric}" for r in rows[:5]) + (" ..." if len(rows) > 5 else "")


def quantile_interval(h: Histogram, pct: float, z: float = Z) -> tuple[float, float]:
    """A ~95 % interval (microseconds) for the pct-th percentile, from the histogram's counts alone.

    Order statistics X(l) <= q <= X(u) with Binomial(n, p) coverage; exact for small n*p*(1-p), a
    normal approximation otherwise. A side with too few samples to bound it is open (0 or infinity).
    """
    lo_rank, hi_rank = _rank_bounds(h.count, pct / 100.0, z)
    lo = float(bounds_of(_bucket_at(h, lo_rank))[0]) if lo_rank >= 1 else 0.0
    hi = float(bounds_of(_bucket_at(h, hi_rank))[1]) if hi_rank <= h.count else math.inf
    return lo, hi


def interval_bounded(n: int, pct: float, z: float = Z) -> bool:
    """Whether n samples bound the pct-th percentile's interval on both sides."""
    lo, hi = _rank_bounds(n, pct / 100.0, z)
    return lo >= 1 and hi <= n


@functools.lru_cache(maxsize=32)
def samples_to_bound(pct: float, z: float = Z) -> int:
    """The fewest samples whose interval for the pct-th percentile is bounded (p50: 6, p75: 13, p95: 72, p99: 368)."""
    n = 1
    while not interval_bounded(n, pct, z) and n < EXACT_UP_TO:
        n += 1
    return n


def _rank_bounds(n: int, p: float, z: float) -> tuple[int, int]:
    if n * p * (1 - p) >= 5:
        half = z * math.sqrt(n * p * (1 - p))
        lo, hi = math.floor(p * n - half), math.ceil(p * n + half) + 1
        if (lo >= 1 and hi <= n) or n > EXACT_UP_TO:
            return lo, hi
        # the normal approximation is open where the exact ranks are not (p99 of 506-725 samples): exact
    tail = (1 - math.erf(z / math.sqrt(2))) / 2  # 0.025 for z = 1.96
    cdf, acc = [], 0.0
    for k in range(n + 1):
        acc += _binomial_pmf(n, k, p)
        cdf.append(acc)
    lo = max((r for r in range(1, n + 1) if cdf[r - 1] <= tail), default=0)
    hi = min((r for r in range(1, n + 1) if 1 - cdf[r - 1] <= tail), default=n + 1)
    return lo, hi


def _binomial_pmf(n: int, k: int, p: float) -> float:
    """P(Binomial(n, p) = k), in logs so that large n neither overflows nor underflows early."""
    if p <= 0.0 or p >= 1.0:
        return float(k == (n if p >= 1.0 else 0))
    log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))


def _bucket_at(h: Histogram, rank: int) -> int:
    seen = 0
    for b in sorted(h.buckets):
        seen += h.buckets[b]
        if seen >= rank:
            return b
    return bucket_of(h.max)


def compare(
    base: Results, cur: Results, budgets: Budgets, on: Basis | None = None, allow_missing: Collection[str] = ()
) -> Comparison:
    """Rows per kind, endpoint and the run, on `on` (default: `basis(base, cur)`, both measurement windows
    when both runs have one). An endpoint of the baseline with MIN_COUNT requests that the current run lacks
    is undecided unless `allow_missing` names it; one new in the current run is reported, never gated."""
    on = on or basis(base, cur)
    out = Comparison(warnings=_like_for_like(base, cur) + on.warnings, basis=on.text, mixed=on.mixed)
    bm, cm, bt, ct = on.base, on.cur, on.base_s, on.cur_s
    sections = (("kind", base.kinds, cur.kinds, "kind"), ("endpoint", base.endpoints, cur.endpoints, "name"))
    for scope, in_base, in_cur, tag in sections:
        for name in sorted(set(in_base) | set(in_cur)):
            if name not in in_base or name not in in_cur:
                side = bm if name in in_base else cm
                out.rows.append(_one_run_only(scope, name, side.counts(((tag, name),))[0], name in in_base,
                                              name in allow_missing))  # fmt: skip
                continue
            tags = ((tag, name),)
            counts = bm.counts(tags)[0], cm.counts(tags)[0]
            out.rows += _latency_rows(scope, name, bm.select(tags), cm.select(tags), budgets, counts)
            # an endpoint's share of throughput follows from weights and everyone's latency (closed model):
            # shown, but only the run's total throughput is gated
            info = _rps_row(scope, name, bm.counts(tags)[0], bt, cm.counts(tags)[0], ct, budgets.rps)
            out.rows.append(
                replace(
                    info,
                    verdict="same" if info.verdict != "missing" else info.verdict,
                    note=f"{info.verdict}; informational: the run's total throughput is gated",
                    why=f"informational ({info.why or info.verdict}); the run's total is gated",
                )
            )
            out.rows.append(error_row(scope, name, bm.counts(tags), cm.counts(tags), budgets.error_rate))
    gone = set(base.endpoints) - set(cur.endpoints)
    out.warnings += [f"--allow-missing {name!r} names no endpoint that is in the baseline and not in the current run"
                     for name in sorted(set(allow_missing) - gone)]  # fmt: skip
    if not (bm.counts()[0] or cm.counts()[0]) and _viewed(base) & _viewed(cur):
        # browser users only: their pages' rows judge the pair; HTTP totals of nothing would say "too few samples"
        # however many page views (a pair with no page viewed in both keeps those rows: nothing else judges it)
        out.rows += [Row("run", "total", metric, None, None, None, None, budget, False, "missing", BROWSER_ONLY)
                     for metric, budget in (("rps", budgets.rps), ("error_rate", budgets.error_rate))]  # fmt: skip
        return out
    out.rows.append(_rps_row("run", "total", bm.counts()[0], bt, cm.counts()[0], ct, budgets.rps))
    out.rows.append(error_row("run", "total", bm.counts(), cm.counts(), budgets.error_rate))
    return out


def _one_run_only(scope: str, name: str, requests: int, in_base: bool, allowed: bool) -> Row:
    """A kind or endpoint in one run only. Gone from the current run: an endpoint the baseline judged (MIN_COUNT
    requests) is undecided (GONE) unless allowed, a kind is shown (its endpoints gate); new: shown, not gated."""
    if not in_base:
        note = f"new in the current run ({requests} requests): reported, not gated"
        return Row(scope, name, "requests", None, float(requests), None, None, 0.0, False, "missing", note)
    said = f"in the baseline ({requests} requests), {GONE}"
    if scope != "endpoint":
        note, why = f"{said}: its endpoints are judged", ""
    elif requests < MIN_COUNT:
        note, why = f"{said}: too few requests to judge (fewer than {MIN_COUNT}), not gated", ""
    elif allowed:
        note, why = f"{said}: {ALLOWED}", ALLOWED
    else:
        note, why = f"{said}: renamed, or no longer called?", GONE
    return Row(scope, name, "requests", float(requests), None, None, None, 0.0, False, "missing", note, why=why)


def _viewed(doc: Results) -> set[str]:
    """The pages a run measured a web vital of."""
    pages = doc.browser.pages if doc.browser is not None else {}
    return {name for name, page in pages.items() if any(v.count for v in page.vitals.values())}


def _like_for_like(base: Results, cur: Results) -> list[str]:
    warnings = []
    for key, label in (
        ("scenario_sha256", "scenario file"),
        ("seed", "seed"),
        ("users", "users"),
        ("workers", "workers"),
        ("iterations", "iterations"),
        ("duration_s", "duration"),
    ):
        if getattr(base.run, key) != getattr(cur.run, key):
            before, after = _setting(key, getattr(base.run, key)), _setting(key, getattr(cur.run, key))
            warnings.append(f"{label} differs ({before} -> {after}): not like for like")
    if _target(base.run.host) != _target(cur.run.host):  # staging against production, one region against another
        warnings.append(f"target differs ({_target(base.run.host)} -> {_target(cur.run.host)}): not like for like")
    for doc, label in ((base, "baseline"), (cur, "current run")):
        if doc.verdict in (ERROR, INTERRUPTED):
            warnings.append(f"the {label}'s verdict is {doc.verdict}: its numbers may be partial")
        elif doc.verdict == "inconclusive":
            warnings.append(
                f"the {label} was inconclusive (see its summary.md: too few samples, a saturated generator, ...): "
                "a comparison with it proves little"
            )
    return warnings


def _target(host: str) -> str:
    """A run's target as a comparison tells two apart: scheme and host name, never a port (each embedded shop or
    local server listens on a port of its own) nor credentials a URL may hold."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(host)
        name = parts.hostname
    except ValueError:
        return "?"
    return f"{parts.scheme}://{name}" if parts.scheme and name else host.split("@")[-1].lower()[:100]


def _setting(key: str, value: object) -> str:
    """A run setting as a person reads it: `not set` rather than Python's None, durations in seconds."""
    if value is None:
        return "not set"
    if key == "scenario_sha256":
        return str(value)[:12]
    if key == "duration_s":
        return f"{value:g}s"
    return str(value)


def _latency_rows(
    scope: str, name: str, b: Histogram, c: Histogram, budgets: Budgets, requests: tuple[int, int]
) -> list[Row]:
    """p50/p95/p99 before and after of the successful requests; a side with none (`requests`: each run's count of
    requests, failed ones too) leaves the row undecided (NO_SUCCESS)."""
    rows = []
    for metric, pct in PERCENTILES:
        budget = budgets.for_metric(metric)
        if b.count == 0 or c.count == 0:
            sides = (("baseline", b, requests[0]), ("current run", c, requests[1]))
            note = "; ".join(_no_success(label, n) for label, h, n in sides if not h.count)
            rows.append(Row(scope, name, metric, None, None, None, None, budget, False, "same", note, why=NO_SUCCESS))
            continue
        rows.append(percentile_row(scope, name, metric, (b, c, pct), budget, budgets.min_change_ms))
    return rows


def _no_success(label: str, requests: int) -> str:
    if requests:
        return f"every one of the {label}'s {requests} requests failed: no latency to compare"
    return f"no request in the {label}: no latency to compare"


def percentile_row(
    scope: str,
    name: str,
    metric: str,
    data: tuple[Histogram, Histogram, float],
    budget: float,
    min_change: float,
    scale: float = 1000.0,
    unit: str = "ms",
) -> Row:
    """One percentile before and after (histograms of baseline and current, the percentile), in `unit`
    (the histograms' values divided by `scale`): a regression (improvement) when the two 95 % intervals do not
    overlap and the change exceeds the relative budget and `min_change`; else the reason it does not count,
    `too few samples` when an interval that overlaps is open (nothing bounds it with these samples)."""
    b, c, pct = data
    bv, cv = b.percentile(pct) / scale, c.percentile(pct) / scale
    (blo, bhi), (clo, chi) = quantile_interval(b, pct), quantile_interval(c, pct)
    change = cv - bv
    worse, better = clo > bhi, chi < blo
    big = abs(change) > budget * bv and abs(change) > min_change
    verdict = "regression" if worse and big else "improvement" if better and big else "same"
    open_ended = not (interval_bounded(b.count, pct) and interval_bounded(c.count, pct))
    why = "" if verdict != "same" else _why_same(worse or better, open_ended and not (worse or better))
    if why == WITHIN_BUDGET and abs(change) <= min_change and unit == "ms":
        why = f"under min_change_ms ({min_change:g} ms)"
    digits, shown = (3, 1) if unit == "ms" else (6, 3)

    def fmt(v: float) -> str:
        return "inf" if math.isinf(v) else f"{v / scale:.{shown}f}"

    return Row(
        scope,
        name,
        metric,
        round(bv, digits),
        round(cv, digits),
        round(change, digits),
        _pct(change, bv),
        budget,
        worse or better,
        verdict,
        f"95% intervals {fmt(blo)}-{fmt(bhi)} vs {fmt(clo)}-{fmt(chi)}{' ' + unit if unit else ''}",
        _finite(-((chi / scale - cv) + (bv - blo / scale)), digits),
        _finite((cv - clo / scale) + (bhi / scale - bv), digits),
        why=why,
    )


def _rps_row(scope: str, name: str, bc: int, bt: float, cc: int, ct: float, budget: float) -> Row:
    br, cr = bc / bt, cc / ct
    se = math.sqrt(bc / bt**2 + cc / ct**2) or 1e-9
    past = (cr < br * (1 - budget), cr > br * (1 + budget))
    return _z_row(scope, name, "rps", (br, cr, se), past, budget, min(bc, cc), 3, _pct(cr - br, br))


def error_row(
    scope: str, name: str, b: tuple[int, int], c: tuple[int, int], budget: float, metric: str = "error_rate",
    what: str = "",
) -> Row:
    """A failure rate before and after, from (tries, failures) of each run: a regression is a significant rise
    (a z-test on the two proportions) past the absolute budget; fewer than MIN_COUNT tries a side: too few.
    HTTP requests' error rate, and the browser users' failed steps (`metric` step_error_rate, `what` "steps")."""
    (bn, bf), (cn, cf) = b, c
    br, cr = (bf / bn if bn else 0.0), (cf / cn if cn else 0.0)
    pooled = (bf + cf) / (bn + cn) if bn + cn else 0.0
    se = math.sqrt(pooled * (1 - pooled) * ((1 / bn if bn else 0) + (1 / cn if cn else 0))) or 1e-9
    note = f"z-test on {bf} of {bn} vs {cf} of {cn}{' ' + what if what else ''} failed"
    return _z_row(
        scope,
        name,
        metric,
        (br, cr, se),
        (cr - br > budget, br - cr > budget),
        budget,
        min(bn, cn),
        5,
        None,
        note,
    )


def _z_row(
    scope: str,
    name: str,
    metric: str,
    rates: tuple[float, float, float],
    past_budget: tuple[bool, bool],
    budget: float,
    fewest: int,
    digits: int,
    change_pct: float | None,
    note: str = "",
) -> Row:
    """A rate compared with a z-test: (baseline, current, standard error); a regression (improvement) is a
    significant change that is also past the budget the worse (better) way."""
    br, cr, se = rates
    significant = abs(cr - br) / se > Z
    worse, better = significant and past_budget[0], significant and past_budget[1]
    verdict = "regression" if worse else "improvement" if better else "same"
    why = "" if verdict != "same" else _why_same(significant, fewest < MIN_COUNT)
    change = round(cr - br, digits)
    return Row(
        scope,
        name,
        metric,
        round(br, digits),
        round(cr, digits),
        change,
        change_pct,
        budget,
        significant,
        verdict,
        note,
        why=why,
    )


def _why_same(significant: bool, too_few: bool) -> str:
    """Why a change does not count: the data cannot bound it, it is within the noise, or within the budget."""
    if too_few:
        return TOO_FEW
    return WITHIN_BUDGET if significant else NOT_SIGNIFICANT


def _pct_of(metric: str) -> float | None:
    """The percentile of a latency or vital row ("p95", "lcp p75"), None for rates."""
    last = metric.rsplit(" ", 1)[-1]
    return float(last[1:]) if last[:1] == "p" and last[1:].replace(".", "", 1).isdigit() else None


def _finite(value: float, digits: int = 3) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _pct(change: float, base: float) -> float | None:
    return round(100.0 * change / base, 1) if base else None
