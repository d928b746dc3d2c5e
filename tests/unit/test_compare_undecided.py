"""Comparisons the data cannot decide (pure): browser vitals of a few page views and HTTP rows of a few
requests say `too few samples` and make the comparison inconclusive (exit 6), in the same words in
compare.md, compare.html and on the terminal; a row never says `same`."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from loadorch.browser.compare import browser_rows
from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.commands.compare import compare_runs, run_compare
from loadorch.errors import ExitCode
from loadorch.report.results import RunRecord, build
from loadorch.results import Browser, Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import Budgets

# the case: p75 LCP 444 -> 3,108 ms, INP 32 -> 312 ms, CLS 0 -> 0.29, six page views each
# (the p75 of six values is the fifth)
BEFORE = {"lcp": [420, 430, 436, 440, 444, 460], "inp": [24, 28, 30, 31, 32, 40], "cls": [0.0] * 6}
AFTER = {"lcp": [3000, 3050, 3080, 3100, 3108, 3200], "inp": [296, 300, 305, 310, 312, 330],
         "cls": [0.27, 0.28, 0.285, 0.288, 0.29, 0.31]}


# each document a run of its own (verdict.samerun: one document given twice is one run, never compared)
STARTS = (f"t0-{n}" for n in itertools.count())


def _doc(vitals: dict[str, list[float]], repeat: int = 1, requests: int = 1000) -> dict:
    stats = BrowserStats()
    for _ in range(repeat):
        for i in range(len(vitals["lcp"])):
            stats.record_view("shopper", "home", 1.0, {k: v[i] for k, v in vitals.items()})
    m = Merged()
    if requests:  # 0: browser users only, no HTTP request
        m.series[SeriesKey("u", "api", "read", "GET", 200, True)] = Histogram.of([10_000] * requests)
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", next(STARTS), "t1", {}, "pass", 0, merged=m, elapsed_s=10.0,
                       browser=Browser.model_validate(browser_results(stats)))
    return build(record).to_json()


def _read(doc: dict) -> Results:
    """As compare reads a run's results.json."""
    return results_of(doc, "results.json")


def _rows(base: dict, cur: dict) -> dict:
    return {r.metric: r for r in browser_rows(_read(base).browser, _read(cur).browser, Budgets())}


def test_six_page_views_cannot_bound_a_p75_so_the_rows_say_too_few_samples() -> None:
    rows = _rows(_doc(BEFORE), _doc(AFTER))
    assert {m: (r.verdict, r.why, r.shown_verdict()) for m, r in rows.items() if m != "ttfb p75"} == {
        m: ("same", "too few samples", "too few samples") for m in ("lcp p75", "inp p75", "cls p75")
    }
    assert rows["lcp p75"].baseline == pytest.approx(444, rel=0.01) and rows["lcp p75"].current == pytest.approx(
        3108, rel=0.01)
    assert rows["cls p75"].current == pytest.approx(0.29, abs=0.001) and "inf" in rows["cls p75"].note


def test_enough_page_views_make_the_same_change_a_regression() -> None:
    rows = _rows(_doc(BEFORE, 5), _doc(AFTER, 5))  # 30 views each
    assert {m: rows[m].verdict for m in ("lcp p75", "inp p75", "cls p75")} == dict.fromkeys(
        ("lcp p75", "inp p75", "cls p75"), "regression")
    same = _rows(_doc(BEFORE, 5), _doc(BEFORE, 5))
    words = ("not significant", "within budget", "under min_change_ms")  # README "Comparing runs"
    assert all(r.shown_verdict().startswith(words) for r in same.values()), same


def test_a_comparison_with_rows_it_cannot_bound_is_inconclusive_everywhere(tmp_path: Path) -> None:
    for name, vitals in (("base", BEFORE), ("cur", AFTER)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_doc(vitals)))
    code = run_compare(str(tmp_path / "base"), str(tmp_path / "cur"), Budgets(), str(tmp_path / "out"))
    assert code == ExitCode.INCONCLUSIVE
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert doc["verdict"] == "inconclusive" and doc["regressions"] == 0 and doc["undecided"] >= 3
    md = (tmp_path / "out" / "compare.md").read_text()
    html = (tmp_path / "out" / "compare.html").read_text()
    for text in (md, html):
        assert "INCONCLUSIVE (" in text and "NO REGRESSION" not in text
        assert "row(s) with too few samples to bound the change (page home lcp p75" in text
        assert "(at least, per run: p75 13)" in text
    assert not re.search(r"\|\s*same\s*\|", md) and ">same<" not in html
    junit = (tmp_path / "out" / "compare-junit.xml").read_text()
    assert 'type="inconclusive"' in junit


def test_http_rows_of_a_few_requests_make_compare_inconclusive_and_enough_make_it_decide() -> None:
    few = compare_runs(_read(_doc(BEFORE, 30, requests=100)), _read(_doc(BEFORE, 30, requests=100)), Budgets())
    assert few.verdict == "inconclusive" and {(r.name, r.metric) for r in few.undecided} >= {("api", "p99")}
    assert "p99 368" in few.reason()
    enough = compare_runs(_read(_doc(BEFORE, 30, requests=400)), _read(_doc(BEFORE, 30, requests=400)), Budgets())
    assert enough.verdict == "no regression" and enough.headline() == "NO REGRESSION", enough.reason()
    slower = _read(_doc(AFTER, 30, requests=400))
    assert compare_runs(_read(_doc(BEFORE, 30, requests=400)), slower, Budgets()).verdict == "regression"


def test_browser_users_alone_are_judged_by_their_pages_not_by_http_totals_they_never_had(tmp_path: Path) -> None:
    # no HTTP request in either run: the run's HTTP throughput and error rate said `too few samples`, so a pair
    # of browser-only runs was inconclusive (exit 6) however many page views, and the fix it printed could not help
    same = compare_runs(_read(_doc(BEFORE, 5, requests=0)), _read(_doc(BEFORE, 5, requests=0)), Budgets())
    totals = {r.metric: r for r in same.rows if r.scope == "run"}
    assert {m: (r.verdict, r.note) for m, r in totals.items()} == dict.fromkeys(
        ("rps", "error_rate"), ("missing", "no HTTP requests in either run: browser users only"))
    assert same.verdict == "no regression" and same.headline() == "NO REGRESSION", same.reason()
    for name, vitals in (("base", BEFORE), ("cur", AFTER)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_doc(vitals, 5, requests=0)))
    assert run_compare(str(tmp_path / "base"), str(tmp_path / "cur"), Budgets(), str(tmp_path / "out")) == 1
    # page views in one run only, in neither, or of another page: nothing judges the pair, never a pass
    gone = {"lcp": [], "inp": [], "cls": []}
    renamed = json.loads(json.dumps(_doc(BEFORE, 5, requests=0)).replace('"home"', '"start"'))
    for base, cur in ((_doc(BEFORE, 5, requests=0), _doc(gone, requests=0)), (_doc(gone, requests=0),) * 2,
                      (_doc(BEFORE, 5, requests=0), renamed)):
        assert compare_runs(_read(base), _read(cur), Budgets()).verdict == "inconclusive"


def test_the_interval_is_bounded_from_a_sample_count_on_and_stays_bounded() -> None:
    """The normal approximation's interval was open for p99 of 506-725 samples though 368 bound it exactly."""
    from loadorch.verdict.compare import interval_bounded, samples_to_bound

    for pct in (50.0, 75.0, 95.0, 99.0):
        least = samples_to_bound(pct)
        assert not interval_bounded(least - 1, pct)
        assert all(interval_bounded(n, pct) for n in range(least, 3000)), pct
    assert (samples_to_bound(75.0), samples_to_bound(99.0)) == (13, 368)


def test_compare_md_is_bounded_and_never_leaves_out_a_regression_or_an_undecided_row() -> None:
    """compare.md listed every row: the default 1,000 endpoint names made about 950 KB, near the 1 MiB GitHub
    takes of a step summary. Past MAX_MD_ROWS it lists every regression and undecided row first, then as many
    others as fit, and says how many more compare.json and compare.html hold."""
    from loadorch.report.compare_md import MAX_MD_ROWS, markdown
    from loadorch.verdict.compare import TOO_FEW, Comparison, Row

    def row(i: int, verdict: str = "same", why: str = "not significant") -> Row:
        return Row("endpoint", f"endpoint {i:04d}", "p95", 10.0, 10.1, 0.1, 1.0, 0.1, False, verdict, why=why)

    rows = [row(i) for i in range(3000)]
    rows[2990] = row(2990, "regression", "")
    rows[2995] = row(2995, "same", TOO_FEW)
    rows[2999] = row(2999, "improvement", "")
    budgets = Budgets()
    text = markdown(Comparison(rows=rows), "a", "b", budgets)
    assert len(text.encode()) < 200_000
    listed = re.findall(r"\| endpoint \| (endpoint \d{4}) \|", text.split("rows: every regression")[1])
    assert len(listed) == MAX_MD_ROWS and listed[:3] == ["endpoint 2990", "endpoint 2995", "endpoint 2999"]
    assert listed[3:6] == ["endpoint 0000", "endpoint 0001", "endpoint 0002"]  # then the others, in order
    assert f"and {3000 - MAX_MD_ROWS} more rows" in text and f"{MAX_MD_ROWS} of 3000 rows" in text
    # a comparison under the bound is listed whole, as before
    small = markdown(Comparison(rows=rows[:10]), "a", "b", budgets)
    assert "more rows" not in small and len(re.findall(r"\| endpoint \| endpoint", small.split("### All rows")[1])) == 10


def _failing(ok: dict[str, int], failed: dict[str, int]) -> dict:
    """A run's results.json: per endpoint, `ok` successful and `failed` failed requests (10 ms each)."""
    m = Merged()
    for name, n in ok.items():
        m.series[SeriesKey("u", name, "read", "GET", 200, True)] = Histogram.of([10_000] * n)
    for name, n in failed.items():
        m.series[SeriesKey("u", name, "read", "GET", 503, False)] = Histogram.of([10_000] * n)
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", next(STARTS), "t1", {}, "fail", 0, merged=m, elapsed_s=10.0)
    return build(record).to_json()


def test_runs_whose_every_request_failed_are_inconclusive_never_no_regression(tmp_path: Path) -> None:
    # every request of both runs failed: the latency rows were "missing" (not gated), the error rate 100 % -> 100 %
    # "not significant", and the pair read NO REGRESSION (exit 0) on no latency at all
    for name in ("base", "cur"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(_failing({}, {"api": 1000})))
    code = run_compare(str(tmp_path / "base"), str(tmp_path / "cur"), Budgets(), str(tmp_path / "out"))
    assert code == ExitCode.INCONCLUSIVE
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    rows = {(r["scope"], r["name"], r["metric"]): r for r in doc["rows"]}
    assert doc["verdict"] == "inconclusive" and doc["regressions"] == 0 and doc["undecided"] == 6
    assert rows["endpoint", "api", "p95"]["why"] == "no successful request"
    assert "every one of the current run's 1000 requests failed" in rows["endpoint", "api", "p95"]["note"]
    error_rate = rows["run", "total", "error_rate"]  # 100 % in both: not a regression of the error rate
    assert (error_rate["baseline"], error_rate["current"], error_rate["verdict"]) == (1.0, 1.0, "same")
    fix = "make the target answer them, then run again"
    assert "no successful request in one run or both (kind read p50" in doc["reason"] and fix in doc["reason"]
    md = (tmp_path / "out" / "compare.md").read_text()
    html = (tmp_path / "out" / "compare.html").read_text()
    for text in (md, html):
        assert "INCONCLUSIVE (6 row(s): no successful request)" in text and "NO REGRESSION" not in text
        assert fix in text
    assert 'type="inconclusive"' in (tmp_path / "out" / "compare-junit.xml").read_text()


def test_an_endpoint_whose_every_request_failed_leaves_its_latency_rows_undecided() -> None:
    ok = {"api": 1000, "other": 1000}
    for base, cur, said in (
        (_failing({"other": 1000}, {"api": 1000}), _failing({"other": 1000}, {"api": 1000}), "baseline's"),
        (_failing({"other": 1000}, {"api": 1000}), _failing(ok, {}), "baseline's 1000"),  # fixed: no latency before
    ):
        result = compare_runs(_read(base), _read(cur), Budgets())
        undecided = {(r.scope, r.name, r.metric) for r in result.undecided}
        assert {("endpoint", "api", m) for m in ("p50", "p95", "p99")} <= undecided, result.rows
        assert result.verdict == "inconclusive" and "NO REGRESSION" not in result.headline()
        assert "endpoint api p50" in result.reason() and said in next(
            r.note for r in result.rows if r.name == "api" and r.metric == "p95")
    # a run whose requests now all fail is still a regression of the error rate, said first
    broken = compare_runs(_read(_failing(ok, {})), _read(_failing({"other": 1000}, {"api": 1000})), Budgets())
    assert broken.verdict == "regression" and broken.headline().startswith("3 REGRESSION(S)")
