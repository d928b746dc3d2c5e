"""The database's live counters against a real PostgreSQL and a real Prometheus: a 4 s run against the
shop with its slow-statement knob, scraped every second. The slow-statement counter rises while the run
goes (the duration log read as it grows), its final values are the verdict's counts, and the Grafana
dashboard's database panels (slow share, statements per request) return values in Prometheus. One run,
shared by the tests of this module."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import REPO, Project

from .pgcluster import Cluster
from .prometheus import Prometheus, free_port, prometheus
from .test_database import _profile, serve_shop
from .test_metrics import grafana_query

pytestmark = pytest.mark.prometheus

PASSWORD = "dsn-pw-7c41e9"  # the cluster trusts loopback: the password is ignored there, and must show nowhere
SLOW = 3


@dataclass
class LiveRun:
    project: Project
    prom: Prometheus
    code: int
    out: str
    err: str
    since: float
    live: dict[str, float] = field(default_factory=dict)  # the first scrape with a slow statement, run not over
    final: str = ""  # the last exposition scraped

    @property
    def doc(self) -> dict[str, Any]:
        return dict(json.loads((self.project.root / "dblive" / "results.json").read_text()))


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode())
    except OSError:
        return ""


def _values(text: str) -> dict[str, float]:
    """The run's series without request labels (loadorch_<name> -> value) and the requests sent so far."""
    found = re.findall(r"^(loadorch_(?:db_queries_total|db_slow_queries_total|run_finished))\{[^}]*\} (\S+)$", text, re.M)
    requests = re.findall(r"^loadorch_http_requests_total\{[^}]*\} (\S+)$", text, re.M)
    return {**{name: float(value) for name, value in found}, "requests": sum(map(float, requests))}


@pytest.fixture(scope="module")
def live_run(postgres: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    project = Project(tmp_path_factory.mktemp("dblive"))
    port = free_port()
    with serve_shop(postgres.dsn()) as shop, prometheus(port) as prom:
        shop.knobs(slow_statements=[[0.25, SLOW]], n_plus_one=False)  # the first statements of the run
        collector = f'collectors: {{postgres: {{dsn: "{postgres.dsn(password=PASSWORD)}", slow_ms: 200, probe: false}}}}'
        # 8 s: about 8 of Prometheus's 1 s scrapes while the counters rise (at 4 s a clean-clone CI once had none
        # before their final values, so every rate of the run read 0)
        _profile(project, shop.url, '  db_query_slow: ["rate<0.5"]\n  db_queries: ["count>=1"]',
                 collector + "\nallow_saturated_generator: true", load="{users: 2, duration: 8s}")
        since = time.time()
        with open(project.root / "out.log", "w") as out, open(project.root / "err.log", "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "loadorch", "run", "p", "--out", "dblive", "--metrics-port",
                                     str(port), "--metrics-grace", "3s"], cwd=project.root, env=dict(os.environ),
                                    stdout=out, stderr=err, text=True)
        run = LiveRun(project, prom, 0, "", "", since)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                text = _scrape(port)
                values = _values(text)
                if text:
                    run.final = text
                if not run.live and values.get("loadorch_db_slow_queries_total", 0) > 0 \
                        and values.get("loadorch_run_finished") == 0:
                    run.live = values
                time.sleep(0.2)
            run.code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        run.out, run.err = (project.root / "out.log").read_text(), (project.root / "err.log").read_text()
        # the run is gone: wait (bounded) for the scrape that finds it gone, so the final values' last instant
        # (final_time) is fixed before the tests read it; a staleness marker written after it hid them once
        deadline = time.monotonic() + 30
        while not prom.query("up == 0") and time.monotonic() < deadline:
            time.sleep(0.2)
        yield run


def test_the_slow_statement_counter_rises_while_the_run_goes(live_run: LiveRun) -> None:
    assert live_run.code == 0, live_run.out + live_run.err
    # scraped with the run not over yet: the duration log was read as it grew, not only at the end
    assert live_run.live, f"no scrape showed a slow statement before the run ended: {live_run.final[-3000:]}"
    assert 0 < live_run.live["loadorch_db_slow_queries_total"] <= SLOW
    # while the load went on (more requests came after), not the final counts handed over once it was over
    assert live_run.live["requests"] < _values(live_run.final)["requests"], (live_run.live, _values(live_run.final))
    assert live_run.live["loadorch_db_queries_total"] > 0


def test_the_final_counters_are_the_verdicts_counts(live_run: LiveRun) -> None:
    db = live_run.doc["database"]["collector"]
    assert db["slow"] == SLOW and db["queries"] > 0, db
    final = _values(live_run.final)
    del final["requests"]
    assert final == {"loadorch_db_queries_total": db["queries"], "loadorch_db_slow_queries_total": SLOW,
                     "loadorch_run_finished": 1.0}, final


def test_the_dashboards_database_panels_return_the_runs_values(live_run: LiveRun) -> None:
    prom = live_run.prom
    at = prom.final_time("dblive", live_run.since)
    dashboard = json.loads((REPO / "dashboards" / "loadorch.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"] if "loadorch_db_queries_total" in t["expr"]]
    assert len(exprs) >= 4, exprs
    # the rate panels as the graph a user reads over the run: a rate() needs two of Prometheus's samples with a rise
    # inside its window, so at one instant (the final one, say, a minute after the load, or the first scrape's, at
    # the final value) it may read 0, or 0/0 and x/0 for a ratio; over the run it must show the run's values
    def over_run(expr: str, job: str = ".*") -> list[float]:
        query = grafana_query(expr, "dblive", job)
        series = prom.api("query_range", query=query, start=live_run.since, end=at, step=0.5)["result"]
        assert len(series) <= 1, (query, series)
        values = [float(v) for _, v in series[0]["values"]] if series else []
        return [v for v in values if math.isfinite(v)]

    per_second, per_request, slow_rate = (next(e for e in exprs if e.startswith(f"sum by (run_id) (rate({m}")
                                                   and (e.count("rate(") == 2) == two)
                                          for m, two in (("loadorch_db_queries_total", False),
                                                         ("loadorch_db_queries_total", True),
                                                         ("loadorch_db_slow_queries_total", True)))
    assert "loadorch_http_requests_total" in per_request, per_request
    for job in (".*", ".+"):  # every source, and the scraped one
        context = (job, prom.api("query_range", query='{run_id="dblive", __name__=~"loadorch_(db_.*|http_requests_total|'
                                 'run_finished)"}', start=live_run.since, end=at, step=1))
        assert max(over_run(per_second, job), default=0) > 0, context
        assert any(0.5 < v < 50 for v in over_run(per_request, job)), (over_run(per_request, job), context)
        # the shop's slow statements come with the run's first requests, often within Prometheus's first scrape
        # interval: the slow share's rate may read 0 throughout, never outside 0-1 (the share so far is exact below)
        shares = over_run(slow_rate, job)
        assert shares and all(0 <= v <= 1 for v in shares), (shares, context)
    db = live_run.doc["database"]["collector"]
    share = next(e for e in exprs if "rate" not in e)  # the share so far: what the gate judged, at the end
    assert float(prom.query(grafana_query(share, "dblive"), at)[0]["value"][1]) == SLOW / db["queries"]
    # the budget's limit beside the share
    assert prom.query(grafana_query('loadorch_threshold_limit{run_id=~"$run_id", threshold=~"db_query_slow.*"}',
                                    "dblive"), at)


def test_no_password_or_statement_text_leaves_the_run(live_run: LiveRun) -> None:
    run_dir = live_run.project.root / "dblive"
    texts = [live_run.final, live_run.out, live_run.err]
    texts += [p.read_text(errors="replace") for p in Path(run_dir).rglob("*") if p.is_file()]
    assert PASSWORD not in "".join(texts)
    assert "pg_sleep" not in live_run.final and "SELECT" not in live_run.final  # counts only, no statement
