"""report.html in a real browser, summary.md, and `loadorch report` rebuilding both."""

from __future__ import annotations

import json

import pytest

from tests.support.project import Project

from .cdp import Browser
from .pagecheck import assert_accessible, axis_value

# the users chart's lines, read back from the SVG into data units through its own axes
USERS_JS = r"""
(() => {
  const svg = document.getElementById('load');
  const [left, top, width, height] = svg.dataset.plot.split(' ').map(parseFloat);
  const x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, y0 = +svg.dataset.y0, y1 = +svg.dataset.y1;
  const read = name => svg.querySelector(`path[data-series="${name}"]`).getAttribute('d').slice(1).split('L')
    .map(p => p.split(',').map(parseFloat))
    .map(([x, y]) => [Math.round((x0 + (x - left) * (x1 - x0) / width) * 10) / 10,
                      y0 + (top + height - y) * (y1 - y0) / height]);
  return {active: read('active users'), planned: read('planned')};
})()
"""

SCENARIO = """
name: rep
setup:
  - {name: product, request: {method: POST, path: /products, json: {name: p}}}
users:
  - name: u
    think_time: 0.02
    requests:
      - {name: health, weight: 3, path: /health}
      - {name: order, method: POST, path: /orders, json: {customer: a, product_id: 1}, expect: {status: [201]}}
      - {name: bad order, method: POST, path: /orders, json: {customer: a, product_id: 999}, expect: {status: [201]}}
"""


PROFILE = """
scenario: ../scenarios/s.yaml
host: embedded
load: {users: 6, spawn_rate: 2, duration: 6s}
workers: 2
seed: 42
allow_saturated_generator: true
thresholds:
  "http_req_duration{kind:read}": ["p(95)<50", "p(99)<80"]
  "http_req_duration{kind:write}": ["p(95)<0.5"]
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> object:
    project = Project(tmp_path_factory.mktemp("report"))
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    r = project.run("run", "p", "--out", "o")
    assert r.code == 1, r.err  # bad orders fail with 422: a failing run makes the richest report
    return project.root / "o"


@pytest.mark.chromium
def test_report_renders_charts_offline_in_chromium(run_dir, tmp_path) -> None:
    browser = Browser()
    try:
        browser.open((run_dir / "report.html").as_uri())
        charts = browser.evaluate("""
            [...document.querySelectorAll('svg.chart:not(.spark)')].map(svg => {
              const box = svg.getBoundingClientRect();
              const paths = [...svg.querySelectorAll('path.line')];
              return {w: box.width, h: box.height, lines: paths.length,
                      drawn: paths.filter(p => p.getTotalLength() > 10).length};
            })""")
        verdict = browser.evaluate("document.querySelector('.verdict').textContent")
        rows = browser.evaluate("document.querySelectorAll('table tr').length")
        limits = {v: axis_value(browser, "latency-read", f'g.limit[data-limit="{v}"] line') for v in (50, 80)}
        write_limit = axis_value(browser, "latency-write", 'g.limit[data-limit="0.5"] line')
        breach_spans = browser.evaluate("document.querySelectorAll('#latency-write g.breach').length")
        p99 = {k: axis_value(browser, f"spectrum-{k}", 'circle[data-pct="99"]') for k in ("read", "write")}
        p99_attr = browser.evaluate("document.querySelector('#spectrum-read circle[data-pct=\"99\"]').dataset.ms")
        users = browser.evaluate(USERS_JS)
        sparks = browser.evaluate("document.querySelectorAll('svg.spark').length")
        shot = tmp_path / "report.png"
        browser.screenshot(str(shot))
        assert_accessible(browser)
        browser.call("Emulation.setEmulatedMedia", media="print")  # print: white page, charts two abreast
        printed = browser.evaluate("""[getComputedStyle(document.body).backgroundColor,
            getComputedStyle(document.querySelector('.charts')).gridTemplateColumns.split(' ').length]""")
        browser.screenshot(str(tmp_path / "report-print.png"))
        assert browser.console_errors() == []
        assert [u for u in browser.requests() if not u.startswith("file://")] == []
    finally:
        browser.close()
    doc = json.loads((run_dir / "results.json").read_text())
    # read/write latency, active users, throughput, errors; then the spectra (2 kinds, 2 endpoints with successes)
    assert len(charts) == 5 + 2 + 2, charts
    assert all(c["w"] > 300 and c["h"] > 100 and c["lines"] >= 1 for c in charts), charts
    assert sum(c["drawn"] for c in charts) >= 5, charts
    for value, at in [*limits.items(), (0.5, write_limit)]:  # threshold lines sit where the axis puts them
        assert at is not None and abs(at["value"] - value) <= at["per_px"], (value, at)
    assert breach_spans >= 1  # writes take longer than 0.5 ms: the over-the-limit time is marked
    for kind, at in p99.items():  # the spectrum's p99 point is results.json's p99
        assert at is not None and abs(at["value"] - doc["kinds"][kind]["p99_ms"]) <= at["per_px"], (kind, at)
    assert float(p99_attr) == doc["kinds"]["read"]["p99_ms"]
    # the users chart follows the profile: 0 -> 6 users at 2 users/s (two workers, 1 user/s each), then flat
    assert users["planned"][-2:] == [[3.0, 6.0], [pytest.approx(doc["run"]["elapsed_s"], abs=1.01), 6.0]]
    drawn = [round(u) for _, u in users["active"]]
    assert drawn == [p["users"] for p in doc["load"]["points"]]
    assert drawn[0] < 6 and max(drawn) == 6 and drawn == sorted(drawn[: drawn.index(6)]) + drawn[drawn.index(6) :]
    assert len(set(drawn[: drawn.index(6) + 1])) >= 2  # a ramp, not a step to full load
    assert sparks == 2  # bad order never succeeds: no p95 to draw
    assert printed == ["rgb(255, 255, 255)", 2]
    assert verdict == "FAIL" and rows > 8
    assert shot.stat().st_size > 20_000


def test_summary_markdown_and_rebuild(run_dir) -> None:
    summary = (run_dir / "summary.md").read_text()
    assert summary.startswith("## loadorch: FAIL") and "| FAIL" in summary and "### Top endpoints" in summary
    (run_dir / "report.html").unlink()
    (run_dir / "summary.md").write_text("stale")
    r = Project(run_dir.parent).run("report", str(run_dir))
    assert r.code == 0, r.err
    assert (run_dir / "summary.md").read_text() == summary
    assert "<svg" in (run_dir / "report.html").read_text()


def test_report_of_a_missing_run_is_a_clear_error(tmp_path) -> None:
    r = Project(tmp_path).cli("report", str(tmp_path / "nope"))
    assert r.code == 3 and "cannot read results" in r.err
