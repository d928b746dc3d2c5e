"""The live view (dashboard and /metrics) with a measurement window: its state, and thresholds judged on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadorch.config.resolve import build
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.metrics.dashboard import page_update
from loadorch.run.plan import build_plan
from loadorch.runtime.live import LiveMetrics, window_phase
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.wire import MetricsPlan

from .test_config import BASE_SCENARIO, make


@dataclass
class _Master:
    """What LiveMetrics reads of the master (runtime/master.py's MasterState): stats, no workers."""

    merged: Merged
    load_samples: list[list[float]] = field(default_factory=list)
    workers: dict[int, Any] = field(default_factory=dict)

    def live(self) -> list[Any]:
        return []


def _live(tmp_path: Path, measure: str) -> LiveMetrics:
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         f"load: {{users: 4, duration: 10s}}\n{measure}")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    metrics = MetricsPlan(port=None, bind="127.0.0.1", grace_s=0, remote_write=None, dashboard=True,
                          dashboard_port=0, run_id="r", profile="p", scenario="s", edges_us=[], final_path=None)
    plan = plan.model_copy(update={"metrics": metrics})
    # 40 slow requests (900 ms) before the window, 40 fast ones (10 ms) inside it, as a worker records them
    recorder = Recorder(1.0, 1000.0, window=plan.window or ())
    key = SeriesKey("u", "get", "read", "GET", 200, True)
    for i in range(40):
        recorder.record(key, 900_000, 1000.0 + 1.0 + i * 0.01)
        recorder.record(key, 10_000, 1000.0 + 3.0 + i * 0.01)
    merged = Merged(1.0)
    merged.add_delta(0, recorder.take_delta())
    selector = parse_selector("http_req_duration", set())
    threshold = Threshold(selector, parse_expression("p(95)<300", selector.metric))
    return LiveMetrics(plan, _Master(merged), [threshold])


def test_live_thresholds_judge_the_window_and_the_view_shows_whether_it_is_open(tmp_path: Path) -> None:
    live = _live(tmp_path, "measure: {from: 2s, to: 6s}\n")
    live._refresh(1.0, 10, finished=False)
    doc = live.live_doc()
    assert doc.window is not None
    assert (doc.window.spans, doc.window.state, doc.window.seconds, doc.window.of_s) == ([(2.0, 6.0)], "before", 0.0, 4.0)
    assert "measurement window 2-6s not open yet" in page_update(doc, False)["headline"]
    gauge = {f.name: f.samples for f in live.families()}["loadorch_measure_window_open"]
    assert [v for _, v in gauge] == [0.0]
    live._refresh(4.0, 10, finished=False)
    doc = live.live_doc()
    assert doc.window is not None and doc.window.state == "open" and doc.window.seconds == 2.0
    page = page_update(doc, False)
    assert "2-6s open: these samples count for the thresholds (2 of 4s measured)" in page["headline"]
    # the threshold table carries report.html's window line: what is judged so far and what is left out
    assert "Measurement window (open now): 2-6s; thresholds judged 40 requests (0 failed); excluded: 40 before it" in (
        page["thresholds"])
    assert [v for _, v in {f.name: f.samples for f in live.families()}["loadorch_measure_window_open"]] == [1.0]
    [result] = doc.thresholds
    assert result.verdict == "pass" and result.samples == 40  # the 900 ms ramp-up requests are left out
    live._refresh(9.0, 10, finished=True)
    closed = live.live_doc().window
    assert closed is not None and closed.state == "closed"
    assert [v for _, v in {f.name: f.samples for f in live.families()}["loadorch_measure_window_open"]] == [0.0]


def test_without_a_window_the_live_view_judges_everything_and_shows_no_window(tmp_path: Path) -> None:
    live = _live(tmp_path, "")
    live._refresh(4.0, 10, finished=False)
    doc = live.live_doc()
    assert doc.window is None and "measurement window" not in str(page_update(doc, False)["headline"])
    assert {f.name: f.samples for f in live.families()}["loadorch_measure_window_open"] == []
    [result] = doc.thresholds
    assert result.verdict == "fail" and result.samples == 80


def test_window_phase_names() -> None:
    spans = [[2.0, 4.0], [6.0, 8.0]]
    assert [window_phase(spans, t) for t in (1, 2, 5, 7, 8)] == ["before", "open", "between", "open", "after"]
