"""Baselines, goals and measured noise (pure, and the store on tmp_path): which bound a compare row is judged
by, how a goal is met or missed, which endpoints are the top ones, and how the store keeps the newest N."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.commands.against_baseline import AgainstBaseline, after_run, combined
from loadorch.commands.baseline import entries, find, save, to_drop
from loadorch.commands.compare import Plan, compare_runs
from loadorch.config.goals import GoalSyntaxError, parse_goal
from loadorch.errors import ConfigError
from loadorch.report.junit import combine
from loadorch.report.results import RunRecord, build
from loadorch.results import Browser, Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import Budgets, Row
from loadorch.verdict.goals import MET, MISSED, UNDECIDED, judge, top_endpoints
from loadorch.verdict.noise import Noise, bound_rows, measure

# each document a run of its own (verdict.samerun: one document given twice is one run, never compared)
STARTS = (f"t0-{n}" for n in itertools.count())


def _row(metric: str = "p95", change_pct: float = 15.0, verdict: str = "regression", budget: float = 0.10) -> Row:
    return Row("endpoint", "list", metric, 100.0, 100.0 + change_pct, change_pct, change_pct, budget, True, verdict)


def test_a_row_says_its_bound_the_budget_or_the_larger_measured_noise() -> None:
    noise = Noise(3, {"endpoint|list|p95": 0.20})
    inside, = bound_rows([_row(change_pct=15.0)], noise, "--max-regression")
    assert inside.verdict == "same" and inside.why.startswith("within noise (measured noise 20.0 % over 3 runs")
    assert inside.bound == "measured noise 20.0 % over 3 runs, larger than the budget 10.0 % (--max-regression)"
    beyond, = bound_rows([_row(change_pct=25.0)], noise, "--max-regression")
    assert beyond.verdict == "regression" and beyond.bound.startswith("measured noise 20.0 %")
    quiet, = bound_rows([_row(change_pct=15.0)], Noise(3, {"endpoint|list|p95": 0.04}), "built-in")
    assert quiet.verdict == "regression" and quiet.bound == "budget 10.0 % (built-in), larger than the measured noise 4.0 % over 3 runs"
    plain, = bound_rows([_row(change_pct=15.0)], None, "built-in")
    assert plain.verdict == "regression" and plain.bound == "budget 10.0 % (built-in)"
    other, = bound_rows([_row(metric="p50")], noise, "built-in")
    assert other.verdict == "regression" and other.bound.endswith("not calibrated for this row")


def test_a_change_from_a_zero_baseline_is_judged_by_the_calibrated_runs_width_not_a_relative_spread() -> None:
    # a stable page's CLS p75 is 0 in the calibrated baseline and 0.02, 0.03 in the other runs: a spread of
    # 150 % (over the median, the smallest being 0); no share of 0 bounds a change from 0, the runs' width does
    def doc(cls: float) -> Results:
        stats = BrowserStats()
        for i in range(40):
            stats.record_view("shopper", "home", 1.0, {"lcp": 400.0 + i, "cls": cls})
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(50, 400)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m,
                           elapsed_s=10.0, browser=Browser.model_validate(browser_results(stats)))
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    base = doc(0.0)
    noise = measure([compare_runs(base, doc(v), Budgets()).rows for v in (0.02, 0.03)])
    assert noise.spreads["page|home|cls p75"] == pytest.approx(1.5)
    shifted = compare_runs(base, doc(0.4), Budgets(), Plan(noise=noise))
    cls, = [r for r in shifted.rows if r.metric == "cls p75"]
    assert cls.verdict == "regression" and shifted.verdict == "regression", cls  # 0 -> 0.4: far past 0 -> 0.03
    seen = compare_runs(base, doc(0.03), Budgets(), Plan(noise=noise))
    cls, = [r for r in seen.rows if r.metric == "cls p75"]
    assert cls.verdict == "same" and cls.why.startswith("within noise"), cls  # as far as calibration saw


def test_error_rate_noise_is_absolute_points() -> None:
    row = Row("run", "total", "error_rate", 0.01, 0.025, 0.015, None, 0.005, True, "regression")
    inside, = bound_rows([row], Noise(2, {"run|total|error_rate": 0.02}), "built-in")
    assert inside.verdict == "same" and "2.00 pts" in inside.bound


def test_noise_is_the_largest_change_between_two_runs_so_any_run_is_within_it_of_another() -> None:
    pairs = [[_row(change_pct=10.0)], [_row(change_pct=-10.0)]]  # values 100, 110, 90
    noise = measure(pairs)
    assert noise.runs == 3 and noise.values == {"endpoint|list|p95": [100.0, 110.0, 90.0]}
    assert noise.spreads == {"endpoint|list|p95": pytest.approx(20 / 90, abs=1e-4)}  # 90 -> 110: +22.2 %
    # a busy machine's case: the baseline at the low end (396 ms), another run far above (985 ms); the median
    # (408 ms) would give a spread of 144 % and the change of +148.7 % would pass it as a regression
    wild = measure([[_row(change_pct=148.7)], [_row(change_pct=3.0)]])
    compared, = bound_rows([replace(_row(change_pct=148.7), budget=0.1)], wild, "built-in")
    assert compared.verdict == "same" and compared.why.startswith("within noise")
    assert Noise.from_json(json.loads(json.dumps(noise.to_json()))) == noise
    with pytest.raises(ValueError, match="runs: expected a whole number of at least 2"):
        Noise.from_json({"schema": "loadorch.noise/v1", "runs": 1, "spreads": {}})


@pytest.mark.parametrize("how", ["generator limited", "too few samples"])
def test_a_calibration_row_its_runs_could_not_decide_gets_no_spread_that_excuses_a_regression(how: str) -> None:
    """A calibration run whose generator was saturated (a busy CI machine) measured 400 ms where the target took 200;
    one with few samples measured a p95 nothing bounds. Their values made a spread of 100 %, and a later run 75 %
    slower on a quiet machine, a regression past the budget and the noise of a decided row, read `within noise`:
    NO REGRESSION. Such a row is not calibrated: the budget judges it."""
    from loadorch.verdict.compare import GENERATOR_LIMITED, TOO_FEW
    from loadorch.verdict.evaluate import Check
    from loadorch.verdict.noise import uncalibrated

    def run(ms: float, checks: tuple[Check, ...] = (), seed: int = 1, hist: Histogram | None = None) -> Results:
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = hist or _hist(ms, 400, seed=seed)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m,
                           elapsed_s=10.0, checks=list(checks))
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    saturated = Check("generator cpu", "inconclusive", "generator saturated: worker 0 at 97%")
    first = run(200)
    # too few: 40 requests, 4 of them slow: a p95 of 800 ms whose interval reaches down to 150 ms and up without end
    few = Histogram.of([150_000] * 36 + [800_000] * 4)
    other = run(400, checks=(saturated,), seed=2) if how == "generator limited" else run(0, hist=few)
    pairs = [compare_runs(first, other, Budgets()).rows]
    noise = measure(pairs)
    assert "endpoint|list|p95" not in noise.spreads, noise.spreads
    assert uncalibrated(pairs)["endpoint|list|p95"] == (GENERATOR_LIMITED if how == "generator limited" else TOO_FEW)
    slower = compare_runs(first, run(350, seed=3), Budgets(), Plan(noise=noise))
    p95, = [r for r in slower.rows if (r.scope, r.metric) == ("endpoint", "p95")]
    assert p95.verdict == "regression" and p95.bound.endswith("not calibrated for this row"), p95
    assert slower.verdict == "regression"


def test_a_noise_file_with_a_spread_no_number_can_be_is_refused_naming_it() -> None:
    """JSON's reader takes Infinity and NaN: a hand-edited spread of Infinity put every change within the noise,
    so a regression of any size passed; a negative spread or `true` was taken as a number too."""
    good = {"schema": "loadorch.noise/v1", "runs": 3, "spreads": {"endpoint|list|p95": 0.2},
            "values": {"endpoint|list|p95": [100.0, 110.0, 90.0]}}
    assert Noise.from_json(good).spreads == {"endpoint|list|p95": 0.2}
    for spread in ("Infinity", "NaN", "-0.5", "true"):
        doc = json.loads(json.dumps(good).replace('p95": 0.2', f'p95": {spread}'))
        with pytest.raises(ValueError, match=r"spreads\.endpoint\|list\|p95: expected a number of 0 or more"):
            Noise.from_json(doc)
    with pytest.raises(ValueError, match=r"values\.endpoint\|list\|p95: expected a list of numbers"):
        Noise.from_json(json.loads(json.dumps(good).replace("110.0", "Infinity")))


def _hist(ms: float, n: int, spread: float = 0.02, seed: int = 1) -> Histogram:
    rng = random.Random(seed)
    return Histogram.of([int(1000 * ms * (1 + rng.uniform(-spread, spread))) for _ in range(n)])


def test_a_goal_is_met_by_a_margin_or_missed_by_one_with_the_figures() -> None:
    before, after = _hist(200, 400), _hist(100, 400, seed=2)
    met = judge(parse_goal("http_req_duration{name:list}", "p(95) -30%", "profile"), (before, after), 1000.0, "ms")
    assert met.verdict == MET and "met by 2" in met.why and "(-50." in met.why and met.change_pct == pytest.approx(-50, abs=2)
    missed = judge(parse_goal("http_req_duration{name:list}", "p(95) -70%", "--goal"), (before, after), 1000.0, "ms")
    assert missed.verdict == MISSED and "(-50.0 %): missed by 20.0 pts" in missed.why
    worse = judge(parse_goal("http_req_duration", "p(95) -30%", "--goal"), (after, before), 1000.0, "ms")
    assert worse.verdict == MISSED and "(+100.0 %): missed by 130.0 pts" in worse.why


def test_a_goal_needs_significance_beyond_the_noise_and_enough_samples() -> None:
    goal = parse_goal("http_req_duration", "p(50) -5%", "profile")
    wide = [50_000 + 100_000 * i // 59 for i in range(60)]  # 50-150 ms evenly: a p50 interval of about +-15 %
    noisy = judge(goal, (Histogram.of(wide), Histogram.of([v * 92 // 100 for v in wide])), 1000.0, "ms")
    assert noisy.verdict == MISSED and "not significant (95 % intervals" in noisy.why
    clear = (_hist(100, 400), _hist(80, 400, seed=2))
    assert judge(goal, clear, 1000.0, "ms").verdict == MET
    within = judge(goal, clear, 1000.0, "ms", noise=0.25, noise_runs=3)
    assert within.verdict == MISSED and "within the measured noise (25.0 % over 3 runs)" in within.why
    few = judge(parse_goal("http_req_duration", "p(99) -30%", "profile"), (_hist(200, 20), _hist(180, 20)), 1000.0, "ms")
    assert few.verdict == UNDECIDED and "too few samples" in few.why
    assert judge(goal, None, 1000.0, "ms").verdict == UNDECIDED


@pytest.mark.parametrize("text", ["p(95) 30%", "p(95) -30", "avg -30%", "p(100) -30%", "p(95) -130%", ""])
def test_a_goal_that_cannot_be_read_says_the_form_expected(text: str) -> None:
    with pytest.raises(GoalSyntaxError, match=r"p\(95\) -30%|within 0-100"):
        parse_goal("http_req_duration{name:list}", text, "profile")
    with pytest.raises(GoalSyntaxError, match="expected tag:value"):
        parse_goal("http_req_duration{name}", "p(95) -30%", "profile")


def test_a_goal_on_a_score_that_rises_as_a_page_improves_is_refused_never_met_by_a_fall(tmp_path: Path) -> None:
    # a goal is a fall: on lighthouse_score a performance score from 0.90 to 0.50 was "met by 24.3 pts", exit 0
    from tests.support.project import assert_no_traceback, cli_in_process

    with pytest.raises(GoalSyntaxError, match=r"lighthouse_score rises as a page gets better.*lighthouse_audit"):
        parse_goal("lighthouse_score{category:performance}", "p(50) -20%", "profile")
    for name, score in (("base", 0.9), ("cur", 0.5)):
        (tmp_path / name).mkdir()
        doc = _doc(100)
        stats = BrowserStats()
        for i in range(8):  # eight Lighthouse results a run: enough to bound a median
            stats.record("lighthouse_score", {"category": "performance"}, score + i / 1000)
        doc = doc.model_copy(update={"browser": Browser.model_validate(browser_results(stats))})
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out",
                          "--goal", "lighthouse_score{category:performance}=p(50) -20%", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 2 and "lighthouse_score rises as a page gets better" in said.err, said
    assert not (tmp_path / "out").exists()


def test_a_goal_on_a_metric_no_comparison_can_judge_is_refused_with_did_you_mean(tmp_path: Path) -> None:
    # a misspelt metric was judged at compare time as "no samples of ... in both runs": inconclusive (6) on every
    # run, a CI job that can never pass, the typo never named
    from tests.support.project import assert_no_traceback, cli_in_process

    with pytest.raises(GoalSyntaxError, match=r"unknown metric 'http_req_duraton'.*did you mean 'http_req_duration'"):
        parse_goal("http_req_duraton{name:list}", "p(95) -30%", "profile")
    with pytest.raises(GoalSyntaxError, match=r"unknown metric 'http_reqs'"):  # a count: no percentile to fall
        parse_goal("http_reqs", "p(95) -30%", "profile")
    for selector in ("http_req_waiting{name:list}", "db_queries_per_request", "browser_web_vital_lcp{page:home}",
                     "browser_resource_bytes{type:script}", "lighthouse_audit{id:total-byte-weight}"):
        assert parse_goal(selector, "p(95) -30%", "profile").metric == selector.split("{")[0]
    for name, ms in (("base", 200), ("cur", 100)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_doc(ms).to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out", "--goal", "http_req_duraton{name:list}=p(95) -30%",
                          cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 2 and "did you mean 'http_req_duration'?" in said.err, said


@pytest.mark.parametrize("share", ["0%", "100%", "150%"])
def test_expect_improvement_is_a_fall_as_a_goal_is_more_than_0_and_less_than_100_percent(tmp_path: Path,
                                                                                         share: str) -> None:
    # 150 % was taken: a fall no run can make, every top endpoint "missed" (exit 1); 0 % was "met" by any
    # significant change of the right sign; --goal's grammar refuses both
    from tests.support.project import assert_no_traceback, cli_in_process

    for name, ms in (("base", 200), ("cur", 100)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_doc(ms).to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out", f"--expect-improvement={share}", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 2 and "more than 0% and less than 100%" in said.err, said
    assert cli_in_process("compare", "base", "cur", "--out", "out", "--expect-improvement=30%", cwd=tmp_path).code == 0


def test_the_top_endpoints_are_the_fewest_taking_half_the_request_time() -> None:
    assert top_endpoints({"slow": (100, 200.0), "a": (300, 5.0), "b": (300, 5.0)}) == ["slow"]
    assert top_endpoints({"a": (100, 10.0), "b": (100, 9.0), "c": (100, 8.0)}) == ["a", "b"]
    many = {f"e{i}": (10, 1.0) for i in range(20)}
    assert len(top_endpoints(many)) == 5


def _doc(ms: float, script_bytes: float | None = None, requests: int = 400) -> Results:
    m = Merged()
    hist = _hist(ms, requests)
    m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = hist
    stats = BrowserStats()
    if script_bytes is not None:
        for _ in range(20):
            stats.record_view("shopper", "home", 1.0, {"lcp": 400.0})
            stats.record("browser_resource_bytes", {"page": "home", "type": "script"}, script_bytes)
    record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       browser=Browser.model_validate(browser_results(stats)) if script_bytes is not None else None)
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


def test_goals_work_on_any_metric_both_runs_recorded_and_expect_improvement_names_the_top() -> None:
    goals = (parse_goal("browser_resource_bytes{type:script}", "p(50) -20%", "profile"),
             parse_goal("browser_resource_bytes{type:image}", "p(50) -20%", "profile"))
    result = compare_runs(_doc(200, 400_000), _doc(100, 300_000), Budgets(), Plan(goals, expect_improvement=0.3))
    by = {(g.selector, g.source): g for g in result.goals}
    script = by[("browser_resource_bytes{type:script}", "profile")]
    assert script.verdict == MET and script.unit == "bytes" and "met by 5" in script.why
    assert by[("browser_resource_bytes{type:image}", "profile")].verdict == UNDECIDED  # not recorded: never a pass
    top = by[("http_req_duration{name:list}", "--expect-improvement")]
    assert top.verdict == MET and top.goal == "p(95) -30%"
    assert result.verdict == "inconclusive" and "1 GOAL(S) UNDECIDED, 2 GOAL(S) MET" in result.headline()
    missed = compare_runs(_doc(200), _doc(100), Budgets(), Plan(expect_improvement=0.7))
    assert missed.verdict == "regression" and missed.headline() == "1 GOAL(S) MISSED"


def test_expect_improvement_with_no_endpoint_to_judge_is_undecided_never_gone() -> None:
    """--expect-improvement judges the p95 of the baseline's top endpoints by request time: with none (browser
    users only, or every request failed) no goal was made, and the pair read "no regression" (exit 0)."""

    def run(ok: bool) -> Results:
        stats = BrowserStats()
        for _ in range(50):
            stats.record_view("shopper", "home", 1.0, {"lcp": 400.0, "cls": 0.0, "fcp": 200.0, "ttfb": 50.0})
        m = Merged()
        if not ok:  # every request failed: no latency of a successful one
            m.series[SeriesKey("u", "list", "read", "GET", 503, False)] = _hist(5, 400)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", next(STARTS), "t1", {}, "pass", 0, merged=m,
                           elapsed_s=10.0, browser=Browser.model_validate(browser_results(stats)))
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    for ok in (True, False):
        # every request failed: the latency rows have nothing to compare (verdict.compare.NO_SUCCESS), never a pass
        assert compare_runs(run(ok), run(ok), Budgets()).verdict == ("no regression" if ok else "inconclusive")
        result = compare_runs(run(ok), run(ok), Budgets(), Plan(expect_improvement=0.3))
        (goal,) = result.goals
        assert (goal.verdict, goal.source, goal.selector) == (UNDECIDED, "--expect-improvement", "http_req_duration")
        assert result.verdict == "inconclusive" and "no endpoint of the baseline has a successful request" in (
            result.reason()), result.reason()


def test_the_store_keeps_the_newest_n_per_name_and_finds_by_profile_and_seed(tmp_path: Path) -> None:
    assert to_drop(["c", "b", "a"], 2) == ["a"] and to_drop(["a"], 0) == []
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(build(RunRecord(
        "p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=Merged(), elapsed_s=1.0)).to_json()))
    store = str(tmp_path / "store")
    saved = [save(str(run), "feature/x", store, keep=2) for _ in range(3)]
    folder = Path(saved[-1]).parent
    assert folder.name == "feature__x" and [str(folder / e) for e in entries(str(folder))] == saved[:0:-1]
    found = find(store, "feature/x", "p", 7)
    assert found is not None and found.path == saved[-1] and found.noise is None
    assert find(store, "feature/x", "p", 8) is None and find(store, "main", "p", 7) is None
    (Path(saved[-1]) / "baseline.json").write_text('{"profile": "p", "seed": "7"}')
    with pytest.raises(ConfigError, match=r"baseline.json: seed: expected a int; the baseline store is damaged: "
                                          r"remove .* and save the baseline again \(loadorch baseline save"):
        find(store, "feature/x", "p", 7)
    (Path(saved[-1]) / "baseline.json").write_text("{")
    with pytest.raises(ConfigError, match=r"baseline\.json: not JSON"):
        find(store, "feature/x", "p", 7)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no half-written entry left


def test_a_branch_name_and_its_folder_spelling_are_two_baselines_never_one_for_the_other(tmp_path: Path) -> None:
    """`feature/x` is kept in the folder `feature__x`, the folder of the name `feature__x` too: `run --baseline
    feature__x` compared with `feature/x`'s run (another branch's: a slower one hides a regression), and saving one
    name rotated the other's entries away."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(build(RunRecord(
        "p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=Merged(), elapsed_s=1.0)).to_json()))
    store = str(tmp_path / "store")
    slash = save(str(run), "feature/x", store, keep=2)
    assert find(store, "feature__x", "p", 7) is None  # nothing saved under that name
    under = [save(str(run), "feature__x", store, keep=2) for _ in range(3)]
    assert Path(slash).parent == Path(under[-1]).parent  # one folder, as before: stores already written still read
    assert Path(slash).is_dir()  # not rotated away by another name's saves
    found = find(store, "feature/x", "p", 7)
    assert found is not None and found.path == slash
    found = find(store, "feature__x", "p", 7)
    assert found is not None and found.path == under[-1]
    folder = str(Path(slash).parent)
    assert [os.path.join(folder, e) for e in entries(folder, "feature__x")] == under[:0:-1]
    assert [os.path.join(folder, e) for e in entries(folder, "feature/x")] == [slash]


def test_one_profiles_saves_never_rotate_another_profiles_baseline_away_and_a_name_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two profiles saved under one name (`main`): the `api` profile's saves rotated the `browser` profile's entry
    away (a name kept its newest N whatever their profile), and `run browser --baseline main` then found none and
    compared with nothing. Each profile keeps its newest N; the name's entries of every profile stay bounded."""
    from loadorch.commands import baseline

    def run_of(profile: str) -> str:
        folder = tmp_path / f"run-{profile}"
        folder.mkdir(exist_ok=True)
        (folder / "results.json").write_text(json.dumps(build(RunRecord(
            profile, "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=Merged(),
            elapsed_s=1.0)).to_json()))
        return str(folder)

    store = str(tmp_path / "store")
    browser = save(run_of("browser"), "main", store, keep=2)
    api = [save(run_of("api"), "main", store, keep=2) for _ in range(3)]
    folder = str(Path(browser).parent)
    assert Path(browser).is_dir()
    found = find(store, "main", "browser", 7)
    assert found is not None and found.path == browser
    assert [os.path.join(folder, e) for e in entries(folder, "main", "api")] == api[:0:-1]  # its own newest 2
    monkeypatch.setattr(baseline, "MAX_KEEP", 3)  # every profile's entries of a name, together: bounded
    for profile in ("a", "b", "c", "d"):
        save(run_of(profile), "main", store, keep=2)
    assert len(entries(folder, "main")) == 3


def test_junit_holds_the_run_and_the_comparison_as_two_testsuites() -> None:
    one = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="a" tests="2" failures="1" errors="0" time="3.0"/>'
    two = '<testsuite name="loadorch.compare" tests="3" failures="0" errors="1" time="0.0"/>'
    root = ET.fromstring(combine(one, two).split("?>", 1)[1])
    assert root.tag == "testsuites" and [s.get("name") for s in root] == ["a", "loadorch.compare"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")


@pytest.mark.parametrize(("run", "compared", "code"), [(0, 0, 0), (0, 1, 1), (6, 1, 1), (1, 6, 1), (0, 6, 6), (6, 0, 6)])
def test_the_exit_code_of_a_run_and_its_comparison(run: int, compared: int, code: int) -> None:
    assert combined(run, compared) == code


def test_no_matching_baseline_is_said_plainly_and_is_inconclusive_only_when_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(build(RunRecord(
        "p", "s", "s.yaml", "abc", 9, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=Merged(), elapsed_s=1.0)).to_json()))
    opts = AgainstBaseline("nothere", str(tmp_path / "store"), False, Budgets(), Plan())
    assert after_run(0, str(run), opts) == 0 and after_run(1, str(run), opts) == 1
    assert "baseline: no baseline 'nothere' of profile p with seed 9" in capsys.readouterr().out
    required = replace(opts, required=True)
    assert after_run(0, str(run), required) == 6 and after_run(1, str(run), required) == 1
    err = capsys.readouterr().err
    assert "inconclusive: no baseline 'nothere'" in err and "loadorch baseline save" in err and "--baseline-required" in err
    assert after_run(5, str(run), required) == 5  # a run that errored is not compared


def test_a_branchs_first_run_is_compared_with_its_fallbacks_baseline_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--baseline feature/x,main`: a new branch has no baseline of its own, and its first run passed uncompared (a
    regression the branch brought went through); it is compared with main's, said so, until the branch has one."""
    from loadorch.commands.baseline import check_names
    from loadorch.errors import UsageError

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(build(RunRecord(
        "p", "s", "s.yaml", "abc", 9, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=Merged(), elapsed_s=1.0)).to_json()))
    (run / "junit.xml").write_text('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="p" tests="0"/>')
    store = str(tmp_path / "store")
    main = save(str(run), "main", store)
    first, *rest = check_names("feature/x,main")
    opts = AgainstBaseline(first, store, True, Budgets(), Plan(), fallbacks=tuple(rest))
    after_run(0, str(run), opts)
    said = capsys.readouterr().out
    assert f"baseline: comparing with no baseline 'feature/x' of this profile and seed yet, so 'main': {main}" in said
    assert (run / "compare.json").exists()
    own = save(str(run), "feature/x", store)
    after_run(0, str(run), opts)
    assert f"baseline: comparing with {own} (saved" in capsys.readouterr().out  # its own, once it has one
    nobody = AgainstBaseline("other", store, True, Budgets(), Plan(), fallbacks=("nor-this",))
    assert after_run(0, str(run), nobody) == 6
    assert "no baseline 'other' (nor 'nor-this') of profile p" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"--baseline 'bad\.\.name': a baseline name is"):
        check_names("main,bad..name")
    with pytest.raises(UsageError, match="at most 5 names"):
        check_names("a,b,c,d,e,f")


def test_compare_html_draws_vitals_and_database_rows_and_a_band_that_reads_as_one() -> None:
    from loadorch.report.bars import Bar as ChangeBar
    from loadorch.report.bars import change_bars
    from loadorch.report.compare_html import render_compare_html

    small = change_bars("t", [ChangeBar("a", 0.2, -0.3, 0.3, "same")])  # ticks of 0.1: a float zero
    assert ">-0<" not in small and 'data-value="0"' in small and 'data-value="-0"' not in small
    chart = change_bars("t", [ChangeBar("a", 1.0, -3.0, 3.0, "same"), ChangeBar("b", -1.0, None, 2.0, "same")])
    widest = max(float(x) for x in re.findall(r'data-value="([-0-9.]+)"', chart))
    assert widest > 3.0  # the widest band (+-3) ends inside the axis, not exactly at its edge
    assert 'class="noise open"' in chart and 'stroke-dasharray' in chart  # an unbounded side is drawn open

    def doc(lcp: float, queries: int) -> Results:
        stats = BrowserStats()
        for i in range(30):
            stats.record_view("shopper", "home", 1.0, {"lcp": lcp + i, "cls": 0.01})
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(50, 400)
        m.db[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of([queries] * 400)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m,
                           elapsed_s=10.0, browser=Browser.model_validate(browser_results(stats)))
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    base, cur = doc(400.0, 2), doc(3000.0, 12)
    result = compare_runs(base, cur, Budgets())
    html = render_compare_html(base, cur, result, "a", "b", "budgets")
    assert 'id="vitals-lcp"' in html and "Browser users: web vitals (p75 per page)" in html
    lcp = re.search(r'<g class="bar regression" data-name="home"[^>]*>', html[html.index('id="vitals-lcp"'):])
    assert lcp is not None, html
    assert 'id="bars-queries"' in html and "Change in queries per request" in html


def test_compare_html_top_changes_show_queries_per_request_as_queries_not_milliseconds() -> None:
    from loadorch.report.compare_html import render_compare_html

    def doc(queries: int) -> Results:
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(50, 400)
        m.db[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of([queries] * 400)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0)
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    base, cur = doc(2), doc(12)
    html = render_compare_html(base, cur, compare_runs(base, cur, Budgets()), "a", "b", "budgets")
    top = html[html.index("<h2>Top changes</h2>"):]
    row = re.search(r"<tr><td>[^\n]*?<td>db_queries_per_request</td>.*?</tr>", top)
    assert row is not None and "2.00 queries/request" in row.group() and "12.00 queries/request" in row.group()
    assert " ms<" not in row.group(), row.group()  # 2 -> 12 queries read "2.0 ms -> 12.0 ms"


def test_queries_per_request_from_a_few_requests_are_undecided_not_a_regression() -> None:
    """The queries-per-request rows had no minimum sample count: one request a side with 2 and then 12 queries
    (a variance of 0 on each side) was a regression, where the latency rows ask 30 requests a side."""
    from loadorch.verdict.compare import MIN_COUNT, TOO_FEW

    def doc(queries: int, requests: int) -> Results:
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(50, 400)
        m.db[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of([queries] * requests)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0)
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    def queries_row(requests: int) -> Row:
        result = compare_runs(doc(2, requests), doc(12, requests), Budgets())
        return next(r for r in result.rows if r.metric == "db_queries_per_request")

    few = queries_row(MIN_COUNT - 1)
    assert few.verdict == "same" and few.why == TOO_FEW and few.undecided, few
    assert compare_runs(doc(2, 1), doc(12, 1), Budgets()).verdict == "inconclusive"
    enough = queries_row(MIN_COUNT)
    assert enough.verdict == "regression", enough


def test_queries_per_request_the_current_run_did_not_measure_are_undecided_not_dropped() -> None:
    """The baseline measured an endpoint's queries per request (the application's Server-Timing db count); the
    current run still called it but measured none (the header gone, the probe off): no row was made, and the pair
    read NO REGRESSION, a 2 -> 12 queries N+1 free to hide there."""
    from loadorch.verdict.compare import NOT_MEASURED

    def doc(queries: int | None, requests: int = 400) -> Results:
        m = Merged()
        m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(50, 400)
        if queries is not None:
            m.db[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of([queries] * requests)
        record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", next(STARTS), "t1", {}, "pass", 0, merged=m, elapsed_s=10.0)
        return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")

    result = compare_runs(doc(2), doc(None), Budgets())
    (row,) = [r for r in result.rows if r.metric == "db_queries_per_request"]
    assert (row.verdict, row.why, row.baseline, row.current) == ("same", NOT_MEASURED, 2.0, None) and row.undecided
    assert result.verdict == "inconclusive" and "1 row(s): not measured in the current run" in result.headline()
    assert "the baseline measured them" in result.reason() and "run again" in result.reason(), result.reason()
    assert compare_runs(doc(None), doc(2), Budgets()).verdict == "no regression"  # new in the current run: shown
    assert compare_runs(doc(2, requests=5), doc(None), Budgets()).verdict == "no regression"  # never judged before
    assert compare_runs(doc(2), doc(2), Budgets()).verdict == "no regression"


def test_a_missed_goal_heads_the_comparison_as_its_exit_code_does() -> None:
    from loadorch.verdict.compare import Comparison
    from loadorch.verdict.goals import GoalResult

    few = Row("endpoint", "list", "p99", 1.0, 1.0, 0.0, 0.0, 0.1, False, "same", why="too few samples")
    missed = GoalResult("s", "p(50) -30%", "--goal", 1.0, 0.8, "ms", -20.0, MISSED, "missed by 10.0 pts")
    result = Comparison(rows=[few], goals=[missed])
    assert result.verdict == "regression" and result.headline() == "1 GOAL(S) MISSED; 1 row(s): too few samples"
    assert Comparison(rows=[few], goals=[replace(missed, verdict=MET)]).headline().startswith("INCONCLUSIVE (")


def test_compare_md_joins_the_github_step_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loadorch.commands.compare import run_compare

    for name, ms in (("base", 200), ("cur", 100)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_doc(ms).to_json()))
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    goal = parse_goal("http_req_duration{name:list}", "p(95) -30%", "--goal")
    run_compare(str(tmp_path / "base"), str(tmp_path / "cur"), Budgets(), str(tmp_path / "out"), Plan((goal,)))
    text = summary.read_text()
    assert text.startswith("earlier step\n## loadorch compare: ") and "GOAL(S) MET" in text.splitlines()[1]
    assert text.count("<details>") == 1 and text.rstrip().endswith("</details>")
