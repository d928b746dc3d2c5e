"""Endpoints in one run only (pure, and `loadorch compare` on results.json files): an endpoint the baseline judged
(MIN_COUNT requests or more) that the current run lacks, renamed or no longer called, makes the comparison
inconclusive (exit 6) with the reason and the fix in every output, unless `--allow-missing NAME` accepts it; one
new in the current run is reported and never gated; a goal naming a missing endpoint is never met."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

from loadorch.commands.compare import Plan, compare_runs
from loadorch.config.goals import parse_goal
from loadorch.report.results import RunRecord, build
from loadorch.results import Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import MIN_COUNT, Budgets
from loadorch.verdict.goals import UNDECIDED
from tests.support.project import Project, assert_no_traceback, cli_in_process


def _doc(endpoints: dict[str, int], seed: int) -> Results:
    """A run of 100 ms requests (2 % spread), `endpoints` name -> requests, all of kind `read`, over 10 s."""
    rng = random.Random(seed)
    m = Merged()
    for name, n in endpoints.items():
        hist = Histogram.of([int(100_000 * (1 + rng.uniform(-0.02, 0.02))) for _ in range(n)])
        m.series[SeriesKey("u", name, "read", "GET", 200, True)] = hist
    record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0)
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


GONE = "not in the current run"  # verdict.compare.GONE, as every output says it
# the endpoint `old` renamed `new` in the current run: the same requests, the same latency, under another name
BASE = {"list": 400, "old": 400}
RENAMED = {"list": 400, "new": 400}


def test_an_endpoint_renamed_in_the_current_run_makes_the_comparison_inconclusive_not_clean() -> None:
    result = compare_runs(_doc(BASE, 1), _doc(RENAMED, 2), Budgets())
    one_run = {r.name: r for r in result.rows if r.scope == "endpoint" and r.verdict == "missing"}
    assert set(one_run) == {"old", "new"}, one_run
    gone, new = one_run["old"], one_run["new"]
    assert gone.undecided and gone.why == GONE and gone.baseline == 400 and gone.current is None
    assert not new.undecided and new.current == 400 and "reported, not gated" in new.note
    assert result.regressions == [] and result.verdict == "inconclusive"
    assert result.headline() == f"INCONCLUSIVE (1 endpoint(s) {GONE})"
    why = result.reason()
    assert why.startswith(f'inconclusive: 1 endpoint(s) in the baseline but {GONE}: "old" (400 requests): renamed'), why
    assert "--allow-missing NAME" in why and "`name:`" in why


def test_an_endpoint_the_baseline_had_too_few_requests_of_does_not_gate() -> None:
    few = compare_runs(_doc({"list": 400, "old": MIN_COUNT - 1}, 1), _doc({"list": 400}, 2), Budgets())
    (gone,) = [r for r in few.rows if r.scope == "endpoint" and r.verdict == "missing"]
    assert not gone.undecided and "too few requests to judge" in gone.note, gone
    assert few.verdict == "no regression", few.rows
    judged = compare_runs(_doc({"list": 400, "old": MIN_COUNT}, 1), _doc({"list": 400}, 2), Budgets())
    assert judged.verdict == "inconclusive" and judged.undecided[0].name == "old"


def test_allow_missing_accepts_the_gone_endpoint_and_the_new_one_never_gates() -> None:
    result = compare_runs(_doc(BASE, 1), _doc(RENAMED, 2), Budgets(), Plan(allow_missing=("old",)))
    assert result.verdict == "no regression" and result.reason() == "", result.reason()
    gone = next(r for r in result.rows if r.name == "old")
    assert gone.verdict == "missing" and "allowed by --allow-missing" in gone.shown_verdict()
    typo = compare_runs(_doc(BASE, 1), _doc(RENAMED, 2), Budgets(), Plan(allow_missing=("old", "olde")))
    assert any("--allow-missing 'olde' names no endpoint" in w for w in typo.warnings), typo.warnings


def test_a_goal_naming_a_missing_endpoint_is_never_met_even_when_allowed() -> None:
    goal = parse_goal("http_req_duration{name:old}", "p(95) -30%", "--goal")
    for allowed in ((), ("old",)):
        result = compare_runs(_doc(BASE, 1), _doc(RENAMED, 2), Budgets(), Plan((goal,), allow_missing=allowed))
        (judged,) = result.goals
        assert judged.verdict == UNDECIDED and "no samples of http_req_duration{name:old} in the current run" in (
            judged.why), judged
        assert result.verdict == "inconclusive"


def _write(tmp_path: Path) -> None:
    for name, doc in (("base", _doc(BASE, 1)), ("cur", _doc(RENAMED, 2))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))


def test_compare_on_results_files_exits_6_and_junit_md_html_and_json_say_why(tmp_path: Path) -> None:
    _write(tmp_path)
    said = cli_in_process("compare", "base", "cur", "--out", "out", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 6, said
    out = tmp_path / "out"
    junit = ET.fromstring((out / "compare-junit.xml").read_text().split("?>", 1)[1])
    case = next(c for c in junit.iter("testcase") if c.get("name") == "endpoint old requests")
    error = case.find("error")
    assert error is not None and error.get("type") == "inconclusive", ET.tostring(case)
    assert "in the baseline (400 requests), not in the current run" in (error.text or "")
    assert "--allow-missing" in (error.text or "")
    assert not [c for c in junit.iter("testcase") if c.get("name", "").startswith("endpoint new ")]  # not gated
    md, html = (out / "compare.md").read_text(), unescape((out / "compare.html").read_text())
    for text in (said.out, md, html):
        assert f"INCONCLUSIVE (1 endpoint(s) {GONE})" in text and '"old" (400 requests)' in text
        assert "--allow-missing NAME" in text
    assert 'id="one-run-only"' in html and "new in the current run (400 requests)" in html
    doc = json.loads((out / "compare.json").read_text())
    assert doc["verdict"] == "inconclusive" and doc["undecided"] == 1 and "--allow-missing" in doc["reason"]
    assert doc["endpoints"] == {"gone": ["old"], "gone_gated": ["old"], "allowed_missing": [], "new": ["new"]}


def test_compare_with_allow_missing_exits_0(tmp_path: Path) -> None:
    _write(tmp_path)
    said = cli_in_process("compare", "base", "cur", "--out", "out", "--allow-missing", "old", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 0, said
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert doc["endpoints"]["allowed_missing"] == ["old"] and doc["endpoints"]["gone_gated"] == []
    junit = (tmp_path / "out" / "compare-junit.xml").read_text()
    assert "<error" not in junit and "<failure" not in junit


def test_allow_missing_on_run_needs_a_baseline(simple_project: Project) -> None:
    said = simple_project.cli("run", "p", "--allow-missing", "old")
    assert said.code == 2 and "--allow-missing needs --baseline NAME" in said.err, said


def _pages(pages: dict[str, int]) -> Results:
    """HTTP requests that do not change, and browser page views: `pages` name -> views (the same vitals each)."""
    from loadorch.browser.results import build as browser_results
    from loadorch.browser.stats import BrowserStats
    from loadorch.results import Browser

    stats = BrowserStats()
    for page, views in pages.items():
        for _ in range(views):
            stats.record_view("shopper", page, 1.0, {"lcp": 400.0, "inp": 30.0, "cls": 0.0, "fcp": 200.0, "ttfb": 50.0})
    m = Merged()
    m.series[SeriesKey("u", "api", "read", "GET", 200, True)] = Histogram.of([10_000] * 1000)
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       browser=Browser.model_validate(browser_results(stats)))
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


def test_a_browser_page_the_current_run_never_viewed_makes_the_comparison_inconclusive_once() -> None:
    """A page the baseline judged (13 views bound its p75) that the current run did not view (its visit renamed):
    its vitals' rows were `missing` and never gated, so the pair looked clean."""
    result = compare_runs(_pages({"home": 50, "cart": 50}), _pages({"home": 50, "basket": 50}), Budgets())
    gone = [r for r in result.rows if r.undecided and r.why == GONE]
    assert [(r.scope, r.name) for r in gone] == [("page", "cart")], gone  # once per page, not once per vital
    assert result.verdict == "inconclusive", result.headline()
    assert '1 browser page(s) in the baseline but not in the current run: "cart" (50 page views)' in result.reason()
    allowed = compare_runs(_pages({"home": 50, "cart": 50}), _pages({"home": 50, "basket": 50}), Budgets(),
                           Plan(allow_missing=("cart",)))
    assert allowed.verdict == "no regression" and not allowed.undecided, allowed.reason()
    few = compare_runs(_pages({"home": 50, "cart": 5}), _pages({"home": 50}), Budgets())  # too few to judge before
    assert few.verdict == "no regression" and not few.undecided, few.reason()
