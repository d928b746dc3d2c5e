"""One real master, 128 simulated workers x 200 endpoints: the merged result is exactly what they sent
(their series keys numbered two ways, switching every other report, as different or restarted workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadorch.run.plan import write_plan
from loadorch.run.processes import free_port
from loadorch.wire import MasterSummary
from tests.simworkers import Simulation, expected_sum, make_plan, merged_as_expected

ROOT = Path(__file__).resolve().parents[2]
WORKERS, ENDPOINTS = 128, 200


def test_one_master_merges_exactly_what_128_workers_with_200_endpoints_sent(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    plan = make_plan(tmp_path, WORKERS, ENDPOINTS, 3.0, free_port(), str(stats))
    write_plan(plan, str(tmp_path / "plan.json"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOADORCH_PARENT_PID", None)
    argv = [sys.executable, "-m", "loadorch.runtime", "master", "--plan", str(tmp_path / "plan.json")]
    with open(tmp_path / "master.log", "wb") as log:
        master = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        sim = Simulation(plan, ENDPOINTS, key_orders=2)  # series key ids differ by worker and change mid-run
        try:
            sim.run(timeout_s=150)  # returns when the master said quit to every worker
            assert master.wait(timeout=60) == 0, (tmp_path / "master.log").read_text()[-3000:]
        finally:
            sim.close()
            if master.poll() is None:
                master.kill()
                master.wait()
    assert all(w.quit for w in sim.workers), "the master did not end the run with quit to every worker"
    summary = MasterSummary.model_validate_json(stats.read_text())
    assert summary.stop_reason == "duration"
    sent = sum(len(w.sent) for w in sim.workers)
    assert sent >= WORKERS * 3  # at least two interval reports and the final one from each worker

    same, other = (sim.expected_merged(), expected_sum(sim.variant_sets[1], {w.index: w.sent for w in sim.workers}))
    assert same == other and sim.variant_sets[0][0]["keys"] != sim.variant_sets[1][0]["keys"]  # same data, other ids
    expected, merged = sim.expected_merged(), merged_as_expected(summary.merged)
    for table in ("series", "intervals", "endpoint_intervals", "timings", "errors", "checks", "per_worker"):
        assert merged[table] == expected[table], f"{table}: the master's sum differs from what the workers sent"
    assert len(expected["series"]) > ENDPOINTS and len(expected["intervals"]) >= 6  # reads, writes, failures

    # every report merged once: none lost, none counted twice, every worker's final total seen
    assert summary.stats_lag.messages == sent
    detail = {w.index: w for w in summary.workers.detail}
    assert sorted(detail) == list(range(WORKERS))
    for w in sim.workers:
        d = detail[w.index]
        assert (d.final_total, d.reported, d.duplicates, d.lost_at_s) == (w.total, w.total, 0, None)
