"""Browser users' default gates beside the files' own thresholds, and failed steps said in the summaries (pure)."""

from __future__ import annotations

from pathlib import Path

from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.config.resolve import build
from loadorch.report.results import RunRecord
from loadorch.report.results import build as build_results
from loadorch.report.summary import markdown, terminal
from loadorch.report.why import reasons, top_errors
from loadorch.results import Browser, Results

from .test_browser import SCENARIO, write


def _gated(tmp_path: Path, scenario_thresholds: str = "", profile: str = "") -> dict[str, str]:
    write(tmp_path, SCENARIO + scenario_thresholds, profile)
    cfg = build("p", str(tmp_path), {})
    return {f"{t.selector} {t.expression}": cfg.sources[f"thresholds.{t.selector}"] for t in cfg.thresholds}


def test_http_thresholds_alone_keep_the_browser_defaults(tmp_path: Path) -> None:
    gated = _gated(tmp_path, 'thresholds:\n  "http_req_duration": ["p(95)<800"]\n')
    assert gated == {
        "http_req_duration p(95)<800": "scenario",
        "browser_web_vital_lcp p(75)<2500": "defaults",
        "browser_web_vital_cls p(75)<0.1": "defaults",
        "browser_web_vital_inp p(75)<200": "defaults",
        "browser_step_failed rate<0.01": "defaults",
    }
    # a profile's HTTP threshold likewise; the HTTP defaults stay replaced, as documented
    gated = _gated(tmp_path, profile='thresholds:\n  "http_req_failed": ["rate<0.05"]\n')
    assert "browser_step_failed rate<0.01" in gated and "http_req_duration{kind:read} p(95)<300" not in gated


def test_a_browser_threshold_of_the_files_replaces_the_browser_defaults(tmp_path: Path) -> None:
    gated = _gated(tmp_path, 'thresholds:\n  "browser_web_vital_lcp{page:home}": ["p(75)<4000"]\n'
                             '  "http_req_failed": ["rate<0.01"]\n')
    assert set(gated) == {"browser_web_vital_lcp{page:home} p(75)<4000", "http_req_failed rate<0.01"}
    # `[]` on one browser selector removes that default only
    gated = _gated(tmp_path, 'thresholds:\n  "http_req_failed": ["rate<0.01"]\n',
                   'thresholds:\n  "browser_web_vital_inp": []\n')
    assert set(gated) == {"http_req_failed rate<0.01", "browser_web_vital_lcp p(75)<2500",
                          "browser_web_vital_cls p(75)<0.1", "browser_step_failed rate<0.01"}


def _doc_with_failed_steps(verdict: str) -> Results:
    stats = BrowserStats()
    for _ in range(7):
        stats.record_step("shopper", "home", "step 1 (home)", None)
        stats.record_step("shopper", "home", "step 2 (click #buy)",
                          "step 2 (click #buy): no visible element matches '#buy' after 1s")
    stats.record_step("shopper", "cart", "step 3 (cart)", "step 3 (cart): navigation to http://h/cart timed out after 4s")
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 2, "h", "t0", "t1", {}, verdict, 0, elapsed_s=10.0,
                       browser=Browser.model_validate(browser_results(stats)))
    return build_results(record)


def test_failed_steps_are_in_the_top_errors_whatever_the_verdict() -> None:
    doc = _doc_with_failed_steps("pass")
    assert top_errors(doc) == [
        ["shopper: step 2 (click #buy)", "browser step", "no visible element matches '#buy' after 1s", "7", "-"],
        ["shopper: step 3 (cart)", "browser step", "navigation to http://h/cart timed out after 4s", "1", "-"],
    ]
    for text in (terminal(doc), markdown(doc)):
        assert "shopper: step 2 (click #buy)" in text and "no visible element matches '#buy' after 1s" in text


def test_failed_steps_are_a_why_line_when_the_run_did_not_pass() -> None:
    doc = _doc_with_failed_steps("fail")
    [line] = [r for r in reasons(doc) if "browser step" in r]
    assert line == (
        "8 browser step(s) failed: shopper: step 2 (click #buy): no visible element matches '#buy' after 1s (7x); "
        "shopper: step 3 (cart): navigation to http://h/cart timed out after 4s (1x): "
        "see the top errors and the Browser section"
    )
    assert f"  why: {line}" in terminal(doc)
