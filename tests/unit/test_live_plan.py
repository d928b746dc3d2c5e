"""The live page's planned load is report.html's: one function draws the plan of every load model."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadorch.config.resolve import build
from loadorch.report.figures import load_chart
from loadorch.report.results import load_timeline, planned_load
from loadorch.run.plan import build_plan
from loadorch.runtime.live import LiveMetrics
from loadorch.stats.tables import Merged
from loadorch.wire import MetricsPlan

from .test_config import BASE_SCENARIO, make
from .test_live_window import _Master

LOADS = {
    "stages": ("load: {stages: [{duration: 3s, users: 20}, {duration: 5s, users: 20}, {duration: 3s, users: 0}]}",
               [[0.0, 0.0], [3.0, 20.0], [3.0, 20.0], [8.0, 20.0], [8.0, 20.0], [11.0, 0.0]]),
    "users": ("load: {users: 4, duration: 10s, spawn_rate: 2}", [[0.0, 0.0], [2.0, 4]]),
    "open": ("load: {arrival_rate: 30, duration: 12s, max_users: 12}", [[0.0, 30.0], [12.0, 30.0]]),
}


@pytest.mark.parametrize("load", sorted(LOADS))
def test_the_live_page_plans_the_load_as_the_report_does(tmp_path: Path, load: str) -> None:
    profile, target = LOADS[load]
    make(tmp_path, BASE_SCENARIO, f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n{profile}\n")
    cfg = build("p", str(tmp_path), {})
    plan = build_plan(cfg, "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    metrics = MetricsPlan(port=None, bind="127.0.0.1", grace_s=0, remote_write=None, dashboard=True,
                          dashboard_port=0, run_id="r", profile="p", scenario="s", edges_us=[], final_path=None)
    samples = [[1.0, 2, 0, 0, 0], [2.0, 4, 0, 0, 0]]
    live = LiveMetrics(plan.model_copy(update={"metrics": metrics}), _Master(Merged(), samples), [])
    live_load = live.live_doc().load
    # what the controller writes into results.json, from the same configuration
    report_load = load_timeline(planned_load(
        cfg.users, cfg.spawn_rate, cfg.open_model.stages if cfg.open_model else None, cfg.user_stages, samples))
    assert live_load is not None and live_load == report_load
    assert [list(p) for p in live_load.target] == target
    assert load_chart(live_load, 12.0) == load_chart(report_load, 12.0)
