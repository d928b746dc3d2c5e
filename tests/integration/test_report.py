"""report.html in a real browser, summary.md, and `loadorch report` rebuilding both."""

from __future__ import annotations

import pytest

from ..conftest import Project
from .cdp import Browser, chromium_path
from .helpers import embedded_project

pytestmark = pytest.mark.integration

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


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> object:
    project = Project(tmp_path_factory.mktemp("report"))
    embedded_project(project, SCENARIO, users=3, duration="6s", workers=2)
    r = project.run("run", "p", "--out", "o")
    assert r.code == 1, r.err  # bad orders fail with 422: a failing run makes the richest report
    return project.root / "o"


def test_report_renders_charts_offline_in_chromium(run_dir, tmp_path) -> None:
    if chromium_path() is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    browser = Browser()
    try:
        browser.open((run_dir / "report.html").as_uri())
        charts = browser.evaluate("""
            [...document.querySelectorAll('svg.chart')].map(svg => {
              const box = svg.getBoundingClientRect();
              const paths = [...svg.querySelectorAll('path.line')];
              return {w: box.width, h: box.height, lines: paths.length,
                      drawn: paths.filter(p => p.getTotalLength() > 10).length};
            })""")
        verdict = browser.evaluate("document.querySelector('.verdict').textContent")
        rows = browser.evaluate("document.querySelectorAll('table tr').length")
        shot = tmp_path / "report.png"
        browser.screenshot(str(shot))
        assert browser.console_errors() == []
        assert [u for u in browser.requests() if not u.startswith("file://")] == []
    finally:
        browser.close()
    assert len(charts) == 4, charts  # read latency, write latency, throughput, errors
    assert all(c["w"] > 300 and c["h"] > 100 and c["lines"] >= 1 for c in charts), charts
    assert sum(c["drawn"] for c in charts) >= 5, charts
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
    r = Project(tmp_path).run("report", str(tmp_path / "nope"))
    assert r.code == 3 and "cannot read results" in r.err
