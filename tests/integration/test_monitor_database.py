"""`loadorch monitor` with a database collector against a real PostgreSQL: its database budgets are judged
over the rolling window from the collector's live counts (they read "no postgres collector ran" for good), and
/metrics carries that verdict alone (its master's own said the same budgets were not measured)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.project import Project

from .pgcluster import Cluster
from .prometheus import free_port
from .test_database import _profile, serve_shop


def _status(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return "\n" + resp.read().decode()


def _scraped_states(port: int) -> dict[str, str]:
    """threshold -> its state on /metrics' loadorch_monitor_threshold_state (the one at 1)."""
    out = {}
    for line in _scrape(port).splitlines():
        if line.startswith("loadorch_monitor_threshold_state{") and line.endswith(" 1.0"):
            labels = dict(part.split("=", 1) for part in line[line.index("{") + 1 : line.rindex("}")].split('",'))
            out[labels["threshold"].strip('"')] = labels["state"].strip('"')
    return out


def test_a_monitors_database_budgets_are_judged_from_the_collector(postgres: Cluster, tmp_path: Path) -> None:
    project = Project(tmp_path)
    with serve_shop(postgres.dsn()) as shop:
        shop.knobs(n_plus_one=False)
        collector = (f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false}}}}\n'
                     "min_samples: 5\nallow_saturated_generator: true\n"
                     "monitor: {window: 6s, slices: 3, status_every: 1s}")
        _profile(project, shop.url, '  db_query_slow: ["rate<0.5"]\n  db_queries: ["rate>0"]', collector,
                 load="{arrival_rate: 10, duration: 1m}")
        err = (tmp_path / "err.log").open("w")
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo", "--metrics-port",
                                 str(port)], cwd=project.root, env=dict(os.environ), stdout=subprocess.DEVNULL,
                                stderr=err, text=True)
        try:
            deadline, rows = time.monotonic() + 60, {}
            while time.monotonic() < deadline and proc.poll() is None:
                doc = _status(project.root / "mo" / "status.json")
                rows = {r["threshold"]: r for r in (doc or {}).get("thresholds", [])}
                assert all(r["state"] != "fail" for r in rows.values()), rows  # never before the first sample
                if rows and all(r["state"] == "pass" for r in rows.values()):
                    break
                time.sleep(0.3)
            assert rows and all(r["state"] == "pass" for r in rows.values()), (rows, (tmp_path / "err.log").read_text())
            assert rows["db_query_slow rate<0.5"]["samples"] >= 5 and rows["db_queries rate>0"]["observed"] > 0
            # one verdict on /metrics: the monitor's (the status is served there with its next write)
            states = _scraped_states(port)
            while time.monotonic() < deadline and states.get("db_queries rate>0") != "pass":
                time.sleep(0.3)
                states = _scraped_states(port)
            assert states == {"db_query_slow rate<0.5": "pass", "db_queries rate>0": "pass"}, states
            assert "\nloadorch_threshold_state{" not in _scrape(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
