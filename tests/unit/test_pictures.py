"""The report's pictures, pure: scales and units, limits and breaches, spectra, load, sparklines, compare bars."""

from __future__ import annotations

import json
import random
import re

import pytest

from loadorch.report import svg
from loadorch.report.bars import Bar, change_bars
from loadorch.report.charts import Limit, Series, line_chart, sparkline
from loadorch.report.compare_html import bars_for, render_compare_html, top_changes
from loadorch.report.figures import breaches, latency_thresholds
from loadorch.report.html import render_html
from loadorch.report.results import LoadRecord, load_timeline
from loadorch.report.spectrum import curve_of, nines, percentiles_ms, spectrum_chart
from loadorch.results import Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import ENDPOINT_SLOTS, Merged, Recorder, SeriesKey
from loadorch.verdict.compare import Budgets, compare

from ..synthetic import SPIKE, synthetic_model


@pytest.fixture(scope="module")
def doc() -> Results:
    return synthetic_model()


def test_units_switch_and_suffixes() -> None:
    assert svg.ms_unit(1500) == ("ms", 1.0) and svg.ms_unit(2000) == ("s", 1000.0)
    assert [svg.fmt_count(v) for v in (0, 2.5, 12.5, 950, 1500, 12000, 2_500_000)] == [
        "0", "2.5", "12.5", "950", "1.5k", "12k", "2.5M"]  # fmt: skip
    assert svg.fmt_ms(0.35) == "0.35 ms" and svg.fmt_ms(250) == "250 ms" and svg.fmt_ms(1500) == "1.5 s"
    assert svg.fmt_time(45) == "45s" and svg.fmt_time(150) == "2:30" and svg.fmt_time(3725) == "1:02:05"
    assert svg.ticks_to(7) == [0, 2, 4, 6] and svg.ticks_to(500) == [0, 100, 200, 300, 400, 500] and svg.nice_max(430) == 500


def _attrs(text: str, tag: str, cls: str) -> list[dict[str, str]]:
    found = re.findall(rf'<{tag} class="{cls}"([^>]*)>', text)
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', a)) for a in found]


def test_limit_line_sits_at_its_value_on_the_axis_scale() -> None:
    out = line_chart("read latency", [Series("p95", [(0, 10.0), (5, 3500.0)])], "ms", limits=[Limit("p95 < 300", 300)])
    head = dict(re.findall(r'([\w-]+)="([^"]*)"', out.split(">", 1)[0]))
    y0, y1 = float(head["data-y0"]), float(head["data-y1"])
    _left, top, _width, height = (float(v) for v in head["data-plot"].split())
    line = re.search(r'<g class="limit" data-limit="300"><line [^>]*y1="([\d.]+)"', out)
    assert line is not None
    assert float(line.group(1)) == pytest.approx(top + height * (1 - (300 - y0) / (y1 - y0)), abs=0.01)
    assert ">p95 &lt; 300</text>" in out
    assert ">s</text>" in out and ">4</text>" in out  # 3.5 s tops the axis at 4: labelled in seconds


def test_breach_spans_follow_the_intervals_over_the_limit(doc: Results) -> None:
    (_sel, expr, _) = next(t for t in latency_thresholds(doc.thresholds) if ("kind", "read") in t[0].tags)
    shown = {float(i) for i in range(40)}
    spans = breaches(doc, "read", expr, shown)
    assert [(b.start, b.end) for b in spans] == [(float(SPIKE[0]), float(SPIKE[1]))]
    html = render_html(doc)
    chart = html[html.index('id="latency-read"') : html.index("</svg>", html.index('id="latency-read"'))]
    assert f'data-start="{SPIKE[0]}" data-end="{SPIKE[1]}"' in chart and 'data-limit="300"' in chart
    assert "p(95) &lt; 300 ms" in chart


def test_spectrum_marks_equal_the_results_percentiles(doc: Results) -> None:
    merged = Merged.from_json(doc.histograms)
    for kind, stats in doc.kinds.items():
        curve = curve_of(merged.select((("kind", kind),)), kind)
        marks = dict(curve.marks)
        assert marks[99.0] == stats.p99_ms and marks[50.0] == stats.p50_ms and marks[90.0] == stats.p90_ms
        xs = [nines(p) for p, _ in curve.points]
        assert xs == sorted(xs) and [v for _, v in curve.points] == sorted(v for _, v in curve.points)
    html = render_html(doc)
    assert f'data-pct="99" data-ms="{doc.kinds["read"].p99_ms:g}"' in html
    assert html.count('class="threshold-point"') >= 3  # read and write p(95), ep-000 p(99)


def test_percentiles_in_one_pass_match_the_histogram() -> None:
    rng = random.Random(3)
    h = Histogram.of(int(rng.lognormvariate(9, 1.2)) for _ in range(5000))
    pcts = [0, 1, 50, 90, 95, 99, 99.9, 99.99, 100]
    assert percentiles_ms(h, pcts) == [round(h.percentile(p) / 1000, 3) for p in pcts]
    assert spectrum_chart("empty", [curve_of(Histogram(), "x")]).count("no data") == 2


def test_load_timeline_closed_and_open() -> None:
    closed = load_timeline(LoadRecord("closed", 6, 2.0, (), [[0.1, 0, 0, 0, 0], [1.1, 2, 0, 0, 0], [3.1, 6, 0, 0, 0]]))
    assert closed.target == [(0.0, 0.0), (3.0, 6)] and [p.users for p in closed.points] == [0, 2, 6]
    assert closed.points[0].model_dump(exclude_unset=True) == {"t_s": 0.1, "users": 0}  # no arrivals in a closed model
    opened = load_timeline(LoadRecord("open", 50, 0.0, ((0.0, 10.0, 5.0), (10.0, 10.0, 5.0)),
                                      [[1.0, 50, 10, 8, 2], [2.0, 50, 30, 26, 4]]))  # fmt: skip
    assert opened.target == [(0.0, 0.0), (5.0, 10.0), (5.0, 10.0), (10.0, 10.0)]
    assert opened.points[1].model_dump() == {"t_s": 2.0, "users": 50, "scheduled_per_s": 20.0, "arrivals_per_s": 18.0,
                                             "dropped_per_s": 2.0}  # fmt: skip


def test_users_chart_and_sparklines_render(doc: Results) -> None:
    html = render_html(doc)
    assert 'id="load"' in html and 'data-series="active users"' in html and 'data-series="planned"' in html
    assert html.count('class="chart spark"') == len(doc.endpoints)
    spark = sparkline("x p95", [(0, 10.0), (1, 30.0)], limit=20.0)
    assert 'data-limit="20"' in spark and "<title" in spark and "<desc" in spark


def test_every_svg_has_a_title_and_a_description(doc: Results) -> None:
    html = render_html(doc)
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) > 10
    for one in svgs:
        assert re.search(r"<title id=[^>]*>[^<]+</title><desc id=[^>]*>[^<]+</desc>", one), one[:200]
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_old_results_json_still_renders(doc: Results) -> None:
    old = {k: v for k, v in doc.to_json().items() if k not in ("load", "endpoint_timeseries")}
    html = render_html(results_of(old, "old/results.json"))
    assert 'id="latency-read"' in html and 'id="spectrum-read"' in html
    assert 'id="load"' not in html and "p95 over time" not in html


def test_endpoint_timelines_are_bounded() -> None:
    rec = Recorder(1.0, 0.0)
    for t in range(ENDPOINT_SLOTS * 3):
        rec.record(SeriesKey("u", "a", "read", "GET", 200, True), 1000 + t, t + 0.5)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    assert merged.endpoint_step == 4 and max(i for i, _ in merged.endpoint_intervals) < ENDPOINT_SLOTS
    assert sum(h.count for h in merged.endpoint_intervals.values()) == ENDPOINT_SLOTS * 3
    again = Merged.from_json(json.loads(json.dumps(merged.to_json())))
    assert again.endpoint_intervals.keys() == merged.endpoint_intervals.keys() and again.endpoint_step == 4


def test_report_for_200_endpoints_stays_small() -> None:
    big = synthetic_model(endpoints=200, seconds=30)
    html = render_html(big)
    assert big.endpoint_timeseries is not None and len(big.endpoint_timeseries.endpoints) == 15
    assert not re.search(r"<script|src=|href=|@import|url\((?!#)", html)
    assert len(html.encode()) < 400_000, len(html.encode())


def test_change_bars_mark_the_noise_and_the_regression() -> None:
    out = change_bars("p95", [Bar("slow", 50.0, -2.0, 2.5, "regression"), Bar("same", 1.0, -2.0, 2.0, "same")])
    assert 'data-name="slow" data-change="50" data-low="-2" data-high="2.5" data-verdict="regression"' in out
    assert "REGRESSION</text>" in out and "within noise</text>" in out and 'url(#p95-hatch)' in out


def test_noise_band_agrees_with_significance() -> None:
    base, cur = synthetic_model(seed=7), synthetic_model(seed=8)
    result = compare(base, cur, Budgets())
    rows = [r for r in result.rows if r.metric in ("p50", "p95", "p99") and r.change is not None]
    assert rows
    for r in rows:
        inside = (r.noise_low is None or r.change >= r.noise_low - 1e-3) and (
            r.noise_high is None or r.change <= r.noise_high + 1e-3)  # fmt: skip
        assert inside != r.significant or abs(r.change - (r.noise_high or 0)) < 0.01, r
    bars = bars_for(result, "endpoint")
    assert [b.change for b in bars] == sorted((b.change for b in bars), reverse=True)
    page = render_compare_html(base, cur, result, "base", "cur", "budgets")
    assert "<script" not in page and 'id="bars-endpoint"' in page and 'id="overlay-read"' in page
    assert top_changes(result)[0].change_pct is not None
