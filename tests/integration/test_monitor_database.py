"""`loadorch monitor` with a database collector against a real PostgreSQL: its database budgets are judged
over the rolling window from the collector's live counts (they read "no postgres collector ran" for good), and
/metrics carries that verdict alone (its master's own said the same budgets were not measured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.project import Project

from .helpers import json_or_none, stop, while_running
from .pgcluster import Cluster
from .prometheus import free_port
from .test_database import _profile, serve_shop


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


def _start_monitor(project: Project, postgres: Cluster, shop: Any, tmp_path: Path, window: str,
                   slices: int) -> tuple[subprocess.Popen[str], int]:
    """`loadorch monitor` of the shop at 10 arrivals/s, gating db_query_slow and db_queries from the collector on
    `postgres`, its stderr in tmp_path/err.log: the process and its /metrics port."""
    collector = (f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false}}}}\n'
                 "min_samples: 5\nallow_saturated_generator: true\n"
                 f"monitor: {{window: {window}, slices: {slices}, status_every: 1s}}")
    _profile(project, shop.url, '  db_query_slow: ["rate<0.5"]\n  db_queries: ["rate>0"]', collector,
             load="{arrival_rate: 10, duration: 1m}")
    port = free_port()
    with (tmp_path / "err.log").open("w") as err:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo", "--metrics-port",
                                 str(port)], cwd=project.root, env=dict(os.environ), stdout=subprocess.DEVNULL,
                                stderr=err, text=True)
    return proc, port


def test_a_monitors_database_budgets_are_judged_from_the_collector(postgres: Cluster, tmp_path: Path) -> None:
    project = Project(tmp_path)
    with serve_shop(postgres.dsn()) as shop:
        shop.knobs(n_plus_one=False)
        proc, port = _start_monitor(project, postgres, shop, tmp_path, window="6s", slices=3)
        try:
            deadline, rows = time.monotonic() + 60, {}
            while time.monotonic() < deadline and proc.poll() is None:
                doc = json_or_none(project.root / "mo" / "status.json")
                rows = {r["threshold"]: r for r in (doc or {}).get("thresholds", [])}
                assert all(r["state"] != "fail" for r in rows.values()), rows  # never before the first sample
                if rows and all(r["state"] == "pass" for r in rows.values()):
                    break
                time.sleep(0.3)
            assert rows and all(r["state"] == "pass" for r in rows.values()), (rows, (tmp_path / "err.log").read_text())
            assert rows["db_query_slow rate<0.5"]["samples"] >= 5 and rows["db_queries rate>0"]["observed"] > 0
            # one verdict on /metrics: the monitor's (the status is served there with its next write)
            # (/metrics may still serve an older status, whose db_query_slow had too few samples: wait for both)
            want = {"db_query_slow rate<0.5": "pass", "db_queries rate>0": "pass"}
            states = _scraped_states(port)
            while time.monotonic() < deadline and states != want:
                time.sleep(0.3)
                states = _scraped_states(port)
            assert states == want, states
            assert "\nloadorch_threshold_state{" not in _scrape(port)
        finally:
            stop(proc)


def _db_rows(path: Path) -> dict[str, dict[str, Any]]:
    doc = json_or_none(path)
    return {r["threshold"]: r for r in (doc or {}).get("thresholds", []) if r["threshold"].startswith("db_")}


def test_a_monitor_says_when_it_loses_the_database_and_judges_again_when_it_is_back(
    postgres: Cluster, tmp_path: Path
) -> None:
    """The database stops under a running monitor: its database budgets read inconclusive with the collector's
    reason (on status.json and /metrics), never pass on what it could not count nor fail as if the database ran
    nothing; the monitor goes on; the database back, the budgets are judged again."""
    project = Project(tmp_path)
    with serve_shop(postgres.dsn()) as shop:
        shop.knobs(n_plus_one=False)
        proc, port = _start_monitor(project, postgres, shop, tmp_path, window="4s", slices=2)
        status = project.root / "mo" / "status.json"
        stopped = False
        try:
            def passing() -> bool:
                rows = _db_rows(status)
                return len(rows) == 2 and all(r["state"] == "pass" for r in rows.values())

            while_running("the database budgets to pass", passing, proc)
            postgres.stop()
            stopped = True
            seen: list[dict[str, Any]] = []

            def lost() -> dict[str, dict[str, Any]] | None:
                rows = _db_rows(status)
                seen.append(rows)
                return rows if rows and all(r["state"] == "inconclusive" and "the collector lost the database"
                                            in r["message"] for r in rows.values()) else None

            try:
                rows = while_running("the database budgets to say the collector lost the database", lost, proc)
            finally:
                tail = json.dumps(seen[-2:], indent=1)
            assert all("judged again once the window holds none of that time" in r["message"] for r in rows.values())
            assert not [r for rows_then in seen for r in rows_then.values() if r["state"] == "fail"], tail
            doc = json_or_none(status)
            assert doc is not None and doc["status"] == "no_data" and "the collector lost the database" in doc["reason"]
            while_running("/metrics to say the database budgets are inconclusive",  # served with the status's next write
                   lambda: {_scraped_states(port).get(k) for k in rows} == {"inconclusive"}, proc)
            postgres.start()
            stopped = False
            while_running("the database budgets to pass again", passing, proc, timeout=90)
        finally:
            if stopped:
                postgres.start()
            stop(proc)
