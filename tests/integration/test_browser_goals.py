"""Issue 31's browser acceptance with real headless Chromium against the embedded shop: a pair of runs one
after the other (two at once starved each other of page views on a busy machine), the second with the
script bundle a quarter smaller and a hero image 1.5 s late. compare meets a -20 % script-bytes goal, misses a
-40 % one, and calls the LCP a regression (exit 1); the unchanged page with too few views to bound its
percentiles makes the comparison inconclusive (exit 6), never "same"."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.project import Project, assert_no_traceback

pytestmark = pytest.mark.chromium

SCENARIO = """
name: weight
browsers:
  - name: shopper
    pages: {pages}
    think_time: {think}
    journey:
      - {{visit: "/shop?bundle_kb={kb}&hero_ms={hero}", name: home}}
min_samples: 1
"""
PROFILE = """
scenario: ../scenarios/{name}.yaml
host: embedded
load: {{iterations: {journeys}}}
seed: 3
thresholds:
  "browser_web_vital_lcp{{page:home}}": ["p(75)<30000"]
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = Project(tmp_path_factory.mktemp("browser-goals"))
    # (name, bundle KiB, hero ms, pages, think s, journeys per page): 30 views before (13 at least bound its LCP
    # p75 from above; 30 steps, one a view, judge its failed steps as 30 requests an error rate), 8 after (enough
    # for its p75's lower bound: every view's hero is 1.5 s late), 2 for "few"; "again" is "before" once more (a run
    # compared with itself is inconclusive, never "no regression": the same pages need a run of their own)
    runs = (("before", 400, 0, 2, 0.2, 15), ("after", 300, 1500, 2, 0.2, 4), ("few", 400, 0, 1, 0.2, 2),
            ("again", 400, 0, 2, 0.2, 15))
    for name, kb, hero, pages, think, journeys in runs:
        project.write(f"scenarios/{name}.yaml", SCENARIO.format(kb=kb, hero=hero, pages=pages, think=think))
        project.write(f"profiles/{name}.yaml", PROFILE.format(name=name, journeys=journeys))
        result = project.run("run", name, "--out", name, timeout=150)
        assert_no_traceback(result)
        assert result.code == 0, result.out + result.err
    return project


def _compare(project: Project, out: str, *goals: str, current: str = "after",
             extra: tuple[str, ...] = ()) -> tuple[int, dict, str]:
    args = ["compare", "before", current, "--out", out, *extra]
    for goal in goals:
        args += ["--goal", goal]
    result = project.run(*args)
    assert_no_traceback(result)
    return result.code, json.loads((project.root / out / "compare.json").read_text()), result.out + result.err


def test_a_quarter_smaller_bundle_meets_a_20_percent_goal_misses_40_and_the_late_hero_regresses(pair: Project) -> None:
    code, doc, out = _compare(pair, "cmp", "browser_resource_bytes{type:script}=p(50) -20%",
                              "browser_resource_decoded_bytes{type:script}=p(50) -40%")
    shown = json.dumps(doc, indent=1)[:6000]
    goals = {g["selector"].split("{")[0]: g for g in doc["goals"]}
    met, missed = goals["browser_resource_bytes"], goals["browser_resource_decoded_bytes"]
    assert met["verdict"] == "met" and -30 < met["change_pct"] <= -20, shown  # 400 KiB -> 300 KiB: -25 %
    assert missed["verdict"] == "missed", shown
    lcp = [r for r in doc["rows"] if "lcp" in json.dumps(r).lower() and r.get("verdict") == "regression"]
    # the hero 1.5 s late: a real LCP regression (600 ms read "not significant" once in CI beside another
    # test: a busy baseline's p75 interval reached 1,076 ms)
    assert lcp, shown
    assert code == 1, out


def test_a_pair_with_too_few_page_views_is_inconclusive(pair: Project) -> None:
    code, doc, out = _compare(pair, "cmp-few", current="few")  # the baseline's page again, 2 views, where a p50 wants 6 to
    # bound an interval on both sides (a real change as large as the late hero's is decided on fewer: one side)
    rows = [r for r in doc["rows"] if "lcp" in json.dumps(r).lower()]
    assert rows and all(r["verdict"] != "regression" and r["why"] == "too few samples" for r in rows), rows
    said = (pair.root / "cmp-few" / "compare.md").read_text()
    assert re.search(r"\| page +\| home +\| lcp p75 .*\| too few samples +\|", said), said  # never "same" (the cell padded to its column)
    assert doc["verdict"] == "inconclusive" and code == 6, out


def test_browser_users_alone_compared_with_the_same_pages_say_no_regression(pair: Project) -> None:
    # no HTTP users: the run's HTTP totals were "too few samples", so such a pair was inconclusive (exit 6) however
    # many page views; its pages' rows judge it (30 views each: every p75 bounded, and 30 steps their failures)
    # two runs of the same pages one after the other on a shared machine: their p75s moved by 2x in one CI (the
    # second run slower on every page); the subject is that the page rows judge the pair, not this machine's noise
    code, doc, out = _compare(pair, "cmp-same", current="again", extra=("--max-regression", "300%"))
    totals = [r for r in doc["rows"] if r["scope"] == "run"]
    assert totals and all(r["verdict"] == "missing" and "browser users only" in r["note"] for r in totals), totals
    pages = [r for r in doc["rows"] if r["scope"] == "page"]
    assert pages and not [r for r in pages if r["why"] == "too few samples" or r["verdict"] != "same"], pages
    assert [r["metric"] for r in pages if r["metric"] == "step_error_rate"] == ["step_error_rate"], pages
    assert doc["verdict"] == "no regression" and code == 0, out
    # the baseline compared with itself: every change 0 whatever the pages did, so inconclusive, not "no regression"
    code, doc, out = _compare(pair, "cmp-itself", current="before")
    assert doc["verdict"] == "inconclusive" and code == 6, out
    assert "the same run" in (pair.root / "cmp-itself" / "compare.md").read_text()
