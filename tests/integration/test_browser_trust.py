"""Browser verdicts a user can trust, with Debian's real headless Chromium against the embedded shop:
failed steps gated and said even when the files set only HTTP thresholds; a web-vitals comparison of
runs with few page views is inconclusive, never "no regression"."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.project import Project, assert_no_traceback

from .helpers import finish, start_run

pytestmark = pytest.mark.chromium

STUCK = """
name: stuck
users:
  - name: api
    think_time: 0.2
    requests:
      - {name: health, path: /health}
browsers:
  - name: stuck
    pages: 1
    think_time: 0.1
    journey:
      - {visit: /shop, name: home, timeout: 10s}
      - {click: "#no-such-button", timeout: 1s}
thresholds:
  "http_req_duration": ["p(95)<2000"]
"""

# one page walking its journey twice: 2 page views per run however fast or busy the machine, under the 13 that
# bound a p75; `{knobs}` turns on the storefront's late hero, late banner and
# slow click handler (LCP ~3 s, CLS > 0.1, INP ~300 ms) through the page's own query
VITALS = """
name: vitals
users:
  - name: api
    think_time: 0.5
    requests:
      - {name: health, path: /health}
browsers:
  - name: shopper
    pages: 1
    think_time: 0.1
    journey:
      - {visit: "/shop?category=books{knobs}", name: home, timeout: 15s}
      - {click: "#add-to-cart"}
thresholds:
  "http_req_failed": ["rate<0.5"]
  "browser_web_vital_lcp": ["max<60000"]
min_samples: 1
"""
KNOBS = "&hero_ms=3000&banner=1&click_ms=300"


@pytest.fixture(scope="module")
def stuck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, int, str]]:
    project = Project(tmp_path_factory.mktemp("stuck"))
    project.write("scenarios/s.yaml", STUCK)
    # three journeys, each ending at its click that fails: 3 failed steps, on a busy machine as on a quiet one
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\n"
                  "load: {users: 2, iterations: 3}\nseed: 3\nmin_samples: 1\n")
    result = project.run("run", "p", "--out", "o", timeout=120)
    assert_no_traceback(result)
    yield project, result.code, result.out


def test_a_journey_failing_every_time_fails_the_run_beside_http_thresholds(stuck: tuple[Project, int, str]) -> None:
    project, code, out = stuck
    doc = project.results("o")
    gated = {t["selector"]: t for t in doc["thresholds"]}
    assert code == 1, out
    assert gated["browser_step_failed"]["verdict"] == "fail", gated  # the browser default stays
    assert gated["http_req_duration"]["verdict"] == "pass", gated  # the file's own threshold, judged too
    assert doc["browser"]["failed_steps"] == 3 and doc["verdict"] == "fail"


def test_failed_steps_are_said_on_the_terminal_and_in_summary_md(stuck: tuple[Project, int, str]) -> None:
    project, _, out = stuck
    failed = project.results("o")["browser"]["failed_steps"]
    why = [line for line in out.splitlines() if line.startswith("  why: ") and "browser step" in line]
    assert len(why) == 1, out
    # step, selector, reason and count, in the why line and the top-errors table
    assert f"{failed} browser step(s) failed: stuck: step 2 (click #no-such-button): no visible element" in why[0]
    assert f"({failed}x)" in why[0], why
    top = out.split("top errors", 1)[1].split("\n\n", 1)[0]
    assert "stuck: step 2 (click #no-such-button)" in top and "browser step" in top and str(failed) in top, top
    summary = (project.root / "o" / "summary.md").read_text()
    assert "stuck: step 2 (click #no-such-button)" in summary.split("### Top errors", 1)[1]


@pytest.fixture(scope="module")
def vitals_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The same scenario and seed, knobs off then on, 2 page views each; then the web vitals compared."""
    project = Project(tmp_path_factory.mktemp("vitals"))
    started = {}
    for name, knobs in (("base", ""), ("slow", KNOBS)):
        project.write(f"scenarios/{name}.yaml", VITALS.replace("{knobs}", knobs))
        project.write(f"profiles/{name}.yaml", f"scenario: ../scenarios/{name}.yaml\nhost: embedded\n"
                      "load: {users: 2, iterations: 2}\nseed: 5\nallow_saturated_generator: true\n")
        # the two runs go at once (each its own embedded shop and Chromium; the knobs are in the page's query): a
        # count of page views each, whatever the machine's load, and the slow one's vitals far past its budgets
        started[name] = start_run(project, "--out", name, profile=name)
    for proc in started.values():
        out, err = finish(proc, timeout=120)
        assert "Traceback" not in out + err, out + err
        assert proc.returncode == 0, out + err
    yield project


def test_few_page_views_make_the_vitals_comparison_inconclusive_not_same(vitals_runs: Project) -> None:
    project = vitals_runs
    views = {name: project.results(name)["browser"]["pages"]["home"]["vitals"]["lcp"]["count"]
             for name in ("base", "slow")}
    assert all(1 <= n < 13 for n in views.values()), views  # under 13 views nothing bounds a p75 from above
    slow = project.results("slow")["browser"]["pages"]["home"]["vitals"]
    assert slow["lcp"]["p75"] >= 3000 and slow["cls"]["p75"] > 0.1, slow
    result = project.cli("compare", "base", "slow", "--out", "cmp")
    assert_no_traceback(result)
    assert result.code == 6, result.out + result.err  # inconclusive: not "no regression", exit 0
    doc = json.loads((project.root / "cmp" / "compare.json").read_text())
    rows = {r["metric"]: r for r in doc["rows"] if r["scope"] == "page" and r["name"] == "home"}
    # LCP and CLS of every view; INP of the views whose click was measured (on a busy machine maybe none)
    decided = [m for m in ("lcp p75", "cls p75", "inp p75") if rows[m]["verdict"] != "missing"]
    assert {"lcp p75", "cls p75"} <= set(decided), rows
    for metric in decided:
        assert rows[metric]["verdict"] == "same" and rows[metric]["why"] == "too few samples", rows[metric]
    assert doc["verdict"] == "inconclusive" and doc["undecided"] >= len(decided), doc
    html = (project.root / "cmp" / "compare.html").read_text()
    md = (project.root / "cmp" / "compare.md").read_text()
    for text in (result.out, md, html):
        assert "INCONCLUSIVE" in text and "too few samples" in text and "no regression" not in text.lower()
        assert ">same<" not in text and "| same |" not in text


# the page calls the measurement's binding itself (it is a global function any script can find), with reports of
# other shapes: JSON that is no object, attribution lists that are not lists, vitals that are no numbers or overflow
FORGED_REPORTS = """<script>addEventListener('load', () => setTimeout(() => {
  const report = window.__loadorchVitals, url = location.href, id = () => 'forged-' + Math.random();
  if (!report) return;
  for (const payload of ['[1, 2]', '"x"', 'null',
      JSON.stringify({url, view: id(), reason: 'pagehide', attr: {inp: {scripts: true}, cls: {sources: 7}}}),
      JSON.stringify({url, view: id(), reason: 'pagehide', lcp: 'slow', fcp: [], ttfb: {}, cls: 'NaN',
                      inp: 1e308, interactions: 'yes'}),
      JSON.stringify({url, view: id(), reason: 'pagehide', lcp: 1e308, cls: -1})]) report(payload);
}, 50));</script>"""


def test_a_page_that_calls_the_binding_with_reports_of_another_shape_keeps_its_worker(tmp_path) -> None:
    """`scripts: true` in a report was a TypeError in the DevTools reader thread, which closed the connection ("the
    browser is gone"); a vital that was no number (`"slow"`, 1e308) made the sink close the worker's connection
    ("browser workers [0] stopped without finishing", exit 5). They are read as none now; the real views go on."""
    from tests.support.serving import Target, serving

    class Forging(Target):
        def do_GET(self) -> None:
            body = f"<!doctype html><html><body><h1>shop</h1><p>text</p>{FORGED_REPORTS}</body></html>"
            self.answer(200, body.encode(), "text/html")

    with serving(Forging) as port:
        project = Project(tmp_path)
        project.write("scenarios/s.yaml", """
name: forged
browsers:
  - name: shopper
    think_time: 0.2
    journey:
      - {visit: /, name: home}
      - {visit: /next, name: next}
thresholds:
  "browser_web_vital_lcp{page:home}": ["p(75)<60000"]
min_samples: 2
""")
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{port}\n"
                                         "load: {iterations: 2}\n")
        result = project.run("run", "p", "--out", "o", timeout=120)
    assert_no_traceback(result)
    doc = project.results("o")
    checks = {c["name"]: (c["verdict"], c["message"]) for c in doc["checks"]}
    assert checks["browser workers"][0] == "pass", checks
    assert "the browser is gone" not in result.out and doc["browser"]["failed_steps"] == 0, result.out
    assert result.code == 0, result.out + result.err
    assert doc["browser"]["pages"]["next"]["views"] >= 2, doc["browser"]
