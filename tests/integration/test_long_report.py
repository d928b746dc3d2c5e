"""report.html of a 1-hour, 200-endpoint run (synthesized through the master's merge path) in headless Chromium."""

from __future__ import annotations

import re

import pytest

from loadorch.report.html import render_html
from loadorch.report.results import build
from loadorch.report.summary import TOP_ENDPOINTS
from loadorch.stats.tables import INTERVAL_SLOTS
from tests.synthetic import synthetic_long_run

from .cdp import Browser

# every <svg> on the page: its box, and how many of its marks (lines, areas, points) have drawn geometry
CHARTS_JS = r"""
[...document.querySelectorAll('svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const lines = [...svg.querySelectorAll('path.line, polyline')];
  const marks = [...svg.querySelectorAll('path, polyline, circle, rect')].filter(e => {
    const b = e.getBBox(); return b.width > 0 || b.height > 0; });
  return {id: svg.id, cls: svg.getAttribute('class'), w: box.width, h: box.height, marks: marks.length,
          lines: lines.length, drawn: lines.filter(p => p.getTotalLength() > 1).length,
          points: Math.max(0, ...lines.map(p => (p.getAttribute('d') || p.getAttribute('points') || '')
                                                  .split(/[LM ]/).filter(s => s.includes(',')).length))};
})
"""


@pytest.mark.chromium
def test_an_hour_long_report_opens_with_every_chart_drawn(tmp_path) -> None:
    doc = build(synthetic_long_run(endpoints=200, seconds=3600, workers=2, per_second=2))
    page = tmp_path / "report.html"
    html = render_html(doc)
    page.write_text(html, encoding="utf-8")
    in_source = len(re.findall(r"<svg\b", html))
    browser = Browser()
    try:
        browser.open(page.as_uri())
        charts = browser.evaluate(CHARTS_JS)
        rows = browser.evaluate("document.querySelectorAll('table tr').length")
        errors = browser.console_errors()
        remote = [u for u in browser.requests() if not u.startswith("file://")]
    finally:
        browser.close()
    assert errors == [] and remote == []
    assert len(doc.endpoints) == 200 and rows > TOP_ENDPOINTS
    assert len(charts) == in_source, (len(charts), in_source)
    ids = {c["id"] for c in charts}
    expected = {"latency-read", "latency-write", "load", "throughput", "errors", "spectrum-read", "spectrum-write"}
    assert expected <= ids, ids
    assert not [c for c in charts if "empty" in (c["cls"] or "")]
    sparks = [c for c in charts if "spark" in (c["cls"] or "")]
    assert len(sparks) == TOP_ENDPOINTS
    for c in charts:  # each chart has a size on the page and drawn lines
        assert c["w"] > 50 and c["h"] > 10 and c["marks"] >= 1 and c["drawn"] >= 1, c
    over_time = [c for c in charts if c["id"] in ("latency-read", "throughput", "errors")]
    for c in over_time:  # a line per slot: the hour in at most INTERVAL_SLOTS points, more than a sketch
        assert 100 < c["points"] <= INTERVAL_SLOTS, c
