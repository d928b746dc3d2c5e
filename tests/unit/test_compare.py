"""Before/after comparison logic on synthetic runs (pure)."""

from __future__ import annotations

import itertools
import random

from loadorch.commands.compare import budgets_from
from loadorch.config.profile import CompareBudgets
from loadorch.report.results import RunRecord, build
from loadorch.results import Results
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import Budgets, compare, quantile_interval

# each document a run of its own (verdict.samerun: one document given twice is one run, never compared)
STARTS = (f"t0-{n}" for n in itertools.count())


def run_doc(latencies_ms: dict[str, list[float]], failures: dict[str, int] | None = None, elapsed: float = 10.0) -> Results:
    m = Merged()
    for name, values in latencies_ms.items():
        m.series[SeriesKey("u", name, "read", "GET", 200, True)] = Histogram.of(int(v * 1000) for v in values)
        for _ in range((failures or {}).get(name, 0)):
            key = SeriesKey("u", name, "read", "GET", 503, False)
            m.series.setdefault(key, Histogram()).record(1000)
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=elapsed)
    return build(record)


def noisy(rng: random.Random, center: float, n: int) -> list[float]:
    return [rng.gauss(center, center * 0.05) for _ in range(n)]


def test_quantile_interval_contains_the_value_and_shrinks_with_samples() -> None:
    rng = random.Random(1)
    small = Histogram.of(int(v * 1000) for v in noisy(rng, 50, 100))
    large = Histogram.of(int(v * 1000) for v in noisy(rng, 50, 10000))
    for h in (small, large):
        lo, hi = quantile_interval(h, 95)
        assert lo <= h.percentile(95) <= hi
    assert quantile_interval(large, 95)[1] - quantile_interval(large, 95)[0] < (
        quantile_interval(small, 95)[1] - quantile_interval(small, 95)[0])


def test_extreme_percentile_of_few_samples_is_unbounded_above() -> None:
    h = Histogram.of(range(1000, 16000, 1000))  # 15 samples: nothing bounds p99 from above
    lo, hi = quantile_interval(h, 99)
    assert hi == float("inf") and 0 < lo <= 15000


def test_same_distribution_is_not_a_regression() -> None:
    rng = random.Random(2)
    base = run_doc({"a": noisy(rng, 50, 2000), "b": noisy(rng, 20, 2000)})
    cur = run_doc({"a": noisy(rng, 50, 2000), "b": noisy(rng, 20, 2000)})
    result = compare(base, cur, Budgets())
    assert result.regressions == [] and result.warnings == []


def test_slower_endpoint_is_the_only_regression() -> None:
    rng = random.Random(3)
    base = run_doc({"a": noisy(rng, 50, 2000), "b": noisy(rng, 20, 2000)})
    cur = run_doc({"a": noisy(rng, 100, 2000), "b": noisy(rng, 20, 2000)})
    result = compare(base, cur, Budgets())
    endpoints = {(r.name, r.metric) for r in result.regressions if r.scope == "endpoint"}
    assert endpoints == {("a", "p50"), ("a", "p95"), ("a", "p99")}
    improved = compare(cur, base, Budgets())
    assert improved.regressions == [] and any(r.verdict == "improvement" for r in improved.rows)


def test_small_samples_and_small_changes_do_not_count() -> None:
    rng = random.Random(4)
    base = run_doc({"a": [rng.gauss(50, 10) for _ in range(15)]})
    cur = run_doc({"a": [rng.gauss(56, 10) for _ in range(15)]})  # +12 %, but 15 noisy samples cannot tell
    assert compare(base, cur, Budgets()).regressions == []
    base = run_doc({"a": [1.0] * 5000})
    cur = run_doc({"a": [1.5] * 5000})  # +50 %, significant, but only 0.5 ms: under min_change_ms
    assert compare(base, cur, Budgets()).regressions == []
    assert compare(base, cur, Budgets(min_change_ms=0.1)).regressions != []


def test_error_rate_and_throughput_regressions() -> None:
    base = run_doc({"a": [10.0] * 1000}, failures={"a": 1})
    cur = run_doc({"a": [10.0] * 1000}, failures={"a": 80})
    rows = {r.metric: r for r in compare(base, cur, Budgets()).rows if r.scope == "endpoint"}
    assert rows["error_rate"].verdict == "regression"
    slow = run_doc({"a": [10.0] * 1000}, elapsed=20.0)
    rows = {(r.scope, r.metric): r for r in compare(base, slow, Budgets()).rows}
    assert rows[("run", "rps")].verdict == "regression"
    assert rows[("endpoint", "rps")].verdict == "same" and "informational" in rows[("endpoint", "rps")].note


def test_mismatched_runs_are_warned_and_missing_endpoints_reported() -> None:
    base = run_doc({"a": [10.0] * 100})
    cur = run_doc({"b": [10.0] * 100})
    cur = cur.model_copy(update={"run": cur.run.model_copy(update={"seed": 2})})
    result = compare(base, cur, Budgets())
    assert any("seed differs" in w for w in result.warnings)
    assert {(r.name, r.verdict) for r in result.rows if r.scope == "endpoint"} == {("a", "missing"), ("b", "missing")}


def test_budget_precedence() -> None:
    assert budgets_from(None, None) == Budgets()
    assert budgets_from(None, 0.2).p95 == 0.2
    spec = CompareBudgets.model_validate({"max_regression": "5%", "p99": "25%", "error_rate": "1%"})
    b = budgets_from(spec, None)
    assert (b.p50, b.p95, b.p99, b.error_rate) == (0.05, 0.05, 0.25, 0.01)
    b = budgets_from(spec, 0.3)
    assert (b.p50, b.p99) == (0.3, 0.25)  # the flag sets the overall budget; per-metric ones stay


def test_a_budget_without_a_percent_sign_of_1_or_more_is_refused_never_read_as_100_times_larger(tmp_path) -> None:
    """`--max-regression 10` was a budget of 1000 % (a plain number is a fraction): a +500 % change read NO
    REGRESSION; a profile's `error_rate: 1`, meant as 1 %, allowed 100 points. Refused: exit 2 on the command line,
    3 in a profile, naming the field and the fix; `10%` and `0.1` are read as before."""
    import pydantic
    import pytest

    from tests.support.project import cli_in_process

    for text in ("10", "1", 10, 1.0):
        with pytest.raises(pydantic.ValidationError, match=r"has no '%': a plain number is a fraction \(0.1 is 10%\)"):
            CompareBudgets.model_validate({"max_regression": text})
    ok = CompareBudgets.model_validate({"max_regression": "10%", "p95": 0.1, "error_rate": "1%", "rps": "150%"})
    assert (ok.max_regression, ok.p95, ok.error_rate, ok.rps) == (0.1, 0.1, 0.01, 1.5)
    r = cli_in_process("compare", "a", "b", "--max-regression", "10", cwd=tmp_path)
    assert r.code == 2 and "--max-regression: percentage '10' has no '%'" in r.err and "write 10% for 10 percent" in r.err
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "profiles").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text("name: s\nusers:\n  - name: u\n    requests:\n      - {name: h, path: /h}\n")
    (tmp_path / "profiles" / "p.yaml").write_text(
        "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, duration: 5s}\n"
        "compare: {max_regression: 10, error_rate: 1}\n"
    )
    r = cli_in_process("validate", "p", cwd=tmp_path)
    assert r.code == 3 and "p.yaml:4: compare.max_regression: percentage 10 has no '%'" in r.err, r.err
    assert "compare.error_rate: percentage 1 has no '%'" in r.err and "write 1% for 1 percent" in r.err
    assert "Traceback" not in r.err


def windowed_doc(
    steady_ms: list[float], ramp_ms: list[float], spans: tuple[tuple[float, float], ...] = ((3.0, 8.0),)
) -> Results:
    """A run with a measurement window: `steady_ms` inside it, `ramp_ms` before it (the ramp up)."""
    m = Merged()
    key = SeriesKey("u", "a", "read", "GET", 200, True)
    m.series[key] = Histogram.of(int(v * 1000) for v in steady_ms + ramp_ms)
    m.window = {key: Histogram.of(int(v * 1000) for v in steady_ms)}
    m.phases = {("ramp_up", "read", True): Histogram.of(int(v * 1000) for v in ramp_ms)}
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       window=spans, window_source="steady")
    return build(record)


def test_compare_judges_both_measurement_windows_and_says_so() -> None:
    rng = random.Random(5)
    base = windowed_doc(noisy(rng, 50, 2000), noisy(rng, 50, 200))
    cur = windowed_doc(noisy(rng, 50, 2000), noisy(rng, 900, 2000))  # a much slower ramp up, the same steady state
    result = compare(base, cur, Budgets())
    assert result.regressions == [], [(r.name, r.metric) for r in result.regressions]
    assert result.basis.startswith("the measurement windows (baseline steady 3-8s: 2000 requests over 5s")
    rows = {(r.scope, r.metric): r for r in result.rows}
    assert rows[("run", "rps")].baseline == 400.0  # 2000 requests in the window's 5 s, not 2200 in 10 s
    whole = compare(base.model_copy(update={"window": None}), cur.model_copy(update={"window": None}), Budgets())  # what it would say on whole runs
    assert {(r.scope, r.metric) for r in whole.regressions} >= {("kind", "p95"), ("endpoint", "p95")}
    assert whole.basis == "the whole runs"
    slower = windowed_doc(noisy(rng, 80, 2000), noisy(rng, 50, 200))  # the steady state itself got slower
    assert ("kind", "p50") in {(r.scope, r.metric) for r in compare(base, slower, Budgets()).regressions}


def test_compare_warns_when_only_one_run_or_different_windows() -> None:
    rng = random.Random(6)
    base = windowed_doc(noisy(rng, 50, 500), noisy(rng, 50, 100))
    one = compare(base, run_doc({"a": noisy(rng, 50, 600)}), Budgets())
    assert one.basis == "the whole runs, ramps included"
    assert any("only the baseline has a measurement window (steady 3-8s)" in w for w in one.warnings)
    moved = compare(base, windowed_doc(noisy(rng, 50, 500), [], spans=((2.0, 9.0),)), Budgets())
    assert any("measurement windows differ (steady 3-8s -> steady 2-9s)" in w for w in moved.warnings)


def test_compare_command_says_what_it_compared(tmp_path) -> None:
    import json

    from loadorch.commands.compare import run_compare

    rng = random.Random(7)
    for name in ("b", "c"):
        (tmp_path / name).mkdir()
        doc = windowed_doc(noisy(rng, 50, 300), noisy(rng, 50, 30))
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))
    # 300 requests in each window cannot bound a p99 (368 can): no regression is not proven, inconclusive
    assert run_compare(str(tmp_path / "b"), str(tmp_path / "c"), Budgets(), str(tmp_path / "out")) == 6
    md = (tmp_path / "out" / "compare.md").read_text()
    assert "compared: the measurement windows (baseline steady 3-8s: 300 requests over 5s" in md
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["compared"].startswith("the measurement windows")
    assert "compared: the measurement windows" in (tmp_path / "out" / "compare.html").read_text()


def timed_doc(windowed: bool) -> Results:
    """The same steady state (100 ms waiting, 2 queries per request) after a ramp (300 ms, 10 queries: a cold
    cache), with a measurement window over the steady state or without one. As a run records them, waiting
    times and queries per request are kept inside the window only when there is one, over the whole run when not."""
    m = Merged()
    key = SeriesKey("u", "a", "read", "GET", 200, True)
    steady, ramp = [100_000] * 2000, [300_000] * 400
    m.series[key] = Histogram.of(steady + ramp)
    m.timings = {("waiting", key): Histogram.of(steady if windowed else steady + ramp)}
    m.db = {key: Histogram.of([2] * 2000 if windowed else [2] * 2000 + [10] * 400)}
    extra = {"window": ((3.0, 8.0),), "window_source": "steady"} if windowed else {}
    if windowed:
        m.window = {key: Histogram.of(steady)}
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", next(STARTS), "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       **extra)  # type: ignore[arg-type]
    return build(record)


def test_with_one_window_only_window_only_tables_are_not_compared_across_bases() -> None:
    """Only the current run has a window: its waiting times and queries per request are its steady state's, the
    baseline's its whole run's (a slow, query-heavy ramp included). A waiting-time goal read "met" (-67 %) and
    the queries per request a regression, with nothing changed; both are undecided now, and the reason says why.
    The whole duration is on one basis (the whole runs) and still judged."""
    from loadorch.commands.compare import Plan, compare_runs
    from loadorch.config.goals import parse_goal
    from loadorch.verdict.goals import MISSED, UNDECIDED

    MIXED_BASIS = "not on one basis"  # verdict.compare.MIXED_BASIS

    goals = tuple(parse_goal(f"{metric}{{name:a}}", "p(95) -30%", "--goal")
                  for metric in ("http_req_waiting", "http_req_duration"))  # fmt: skip
    for base, cur in ((timed_doc(False), timed_doc(True)), (timed_doc(True), timed_doc(False))):
        result = compare_runs(base, cur, Budgets(), Plan(goals))
        waiting, duration = result.goals
        assert waiting.verdict == UNDECIDED and waiting.why.startswith(f"{MIXED_BASIS}: only the "), waiting
        assert duration.verdict == MISSED, duration  # the whole runs on both sides: the same samples
        (queries,) = [r for r in result.rows if r.metric == "db_queries_per_request"]
        assert queries.undecided and queries.why == MIXED_BASIS and queries.note.startswith("would be "), queries
        assert result.verdict == "regression"  # the missed duration goal
        assert "Give both runs the same `measure:`" in waiting.why
    # without the goal that is missed, undecided: never "no regression" on mixed samples
    result = compare_runs(timed_doc(True), timed_doc(False), Budgets(), Plan(goals[:1]))
    assert result.verdict == "inconclusive" and result.regressions == []
    why = result.reason()
    assert "1 row(s) (endpoint a db_queries_per_request) and 1 goal(s) (http_req_waiting{name:a} p(95) -30%)" in why
    assert "only the baseline has a measurement window (steady 3-8s)" in why and "same `measure:`" in why, why
    # both runs windowed: the same samples, judged (no change: no regression, the goal missed)
    both = compare_runs(timed_doc(True), timed_doc(True), Budgets(), Plan(goals[:1]))
    assert both.goals[0].verdict == MISSED and [r.verdict for r in both.rows if r.metric == "db_queries_per_request"
                                                 ] == ["same"]  # fmt: skip
