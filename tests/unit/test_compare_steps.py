"""Failed browser journey steps in a comparison (pure, and `loadorch compare` on results.json files): a current run
whose steps fail more than the baseline's is a regression by the rule HTTP error rates are judged by (a z-test
on the two shares, past the error-rate budget), per page and over all pages; too few steps a side cannot say."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.commands.compare import compare_runs
from loadorch.report.results import RunRecord, build
from loadorch.results import Browser, Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import TOO_FEW, Budgets, Comparison, Row
from tests.support.project import assert_no_traceback, cli_in_process

# each document a run of its own (verdict.samerun: one document given twice is one run, never compared)
STARTS = (f"t0-{n}" for n in itertools.count())


VIEW = {"lcp": 400.0, "inp": 30.0, "cls": 0.0, "fcp": 200.0, "ttfb": 50.0}


def _doc(steps: int, failed: dict[str, int]) -> Results:
    """A run of HTTP requests that do not change and browser journeys over the pages `home` and `cart`: `steps`
    steps a page, of which `failed[page]` failed; the same 100 page views (and web vitals) in every run."""
    stats = BrowserStats()
    for page in ("home", "cart"):
        for _ in range(100):
            stats.record_view("shopper", page, 1.0, VIEW)
        for i in range(steps):
            error = "timeout: #pay not found" if i < failed.get(page, 0) else None
            stats.record_step("shopper", page, f"step {i % 3}", error)
    m = Merged()
    m.series[SeriesKey("u", "api", "read", "GET", 200, True)] = Histogram.of([10_000] * 1000)
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", next(STARTS), "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       browser=Browser.model_validate(browser_results(stats)))
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


def _steps(result: Comparison) -> dict[tuple[str, str], Row]:
    return {(r.scope, r.name): r for r in result.rows if r.metric == "step_error_rate"}


def test_more_failed_steps_in_the_current_run_are_a_regression_as_http_errors_are() -> None:
    result = compare_runs(_doc(200, {"cart": 1}), _doc(200, {"cart": 30}), Budgets())
    rows = _steps(result)
    assert set(rows) == {("page", "home"), ("page", "cart"), ("browser", "all pages")}, rows
    cart, every, home = rows[("page", "cart")], rows[("browser", "all pages")], rows[("page", "home")]
    assert cart.verdict == "regression" and (cart.baseline, cart.current) == (0.005, 0.15), cart
    assert cart.note == "z-test on 1 of 200 vs 30 of 200 steps failed" and cart.shown_change() == "+14.5 pts"
    assert every.verdict == "regression" and every.current == 0.075
    assert home.verdict == "same" and home.why == "not significant"
    assert result.verdict == "regression" and result.headline().startswith("2 REGRESSION(S)"), result.headline()
    # the rows of the HTTP requests and the vitals alone: no regression (what the comparison said before)
    others = [r for r in result.rows if r.metric != "step_error_rate"]
    assert others and not [r for r in others if r.verdict == "regression"]


def test_the_same_share_of_failed_steps_is_no_regression_and_fewer_is_an_improvement() -> None:
    same = compare_runs(_doc(200, {"cart": 10}), _doc(200, {"cart": 10}), Budgets())
    assert same.verdict == "no regression" and {r.verdict for r in _steps(same).values()} == {"same"}
    better = compare_runs(_doc(200, {"cart": 30}), _doc(200, {"cart": 1}), Budgets())
    assert _steps(better)[("page", "cart")].verdict == "improvement" and better.verdict == "no regression"


def test_a_rise_within_the_error_rate_budget_is_not_a_regression() -> None:
    wide = Budgets(error_rate=0.2)  # 0.5 % -> 15 % is 14.5 points: within a budget of 20
    result = compare_runs(_doc(200, {"cart": 1}), _doc(200, {"cart": 30}), wide)
    assert _steps(result)[("page", "cart")].why == "within budget" and result.verdict == "no regression"


def test_too_few_steps_a_side_cannot_say_no_regression() -> None:
    result = compare_runs(_doc(10, {}), _doc(10, {"cart": 2}), Budgets())
    rows = _steps(result)
    assert len(rows) == 3 and all(r.why == TOO_FEW and r.undecided for r in rows.values()), rows
    assert result.undecided == list(rows.values()) and result.verdict == "inconclusive"
    assert "(page cart step_error_rate, page home step_error_rate, browser all pages step_error_rate)" in (
        result.reason()), result.reason()
    assert result.reason().endswith("(at least, per run: 30 for a rate)"), result.reason()


def test_compare_on_results_files_exits_1_and_shows_the_failed_steps(tmp_path: Path) -> None:
    for name, doc in (("base", _doc(200, {"cart": 1})), ("cur", _doc(200, {"cart": 30}))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 1, said
    out = tmp_path / "out"
    md, html = (out / "compare.md").read_text(), (out / "compare.html").read_text()
    assert "| REGRESSION " in md and "| cart " in md and "step_error_rate" in md and "15.0 %" in md
    assert "current: step 0 (shopper, page cart): timeout: #pay not found (10x)" in md  # the evidence
    assert "step_error_rate" in html and "15.00%" in html
    junit = (out / "compare-junit.xml").read_text()
    assert 'name="page cart step_error_rate"' in junit and "<failure" in junit
