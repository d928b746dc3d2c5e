"""What one master can take: its CPU, memory and stats lag with 2, 16, 64 and 128 simulated workers.

Each simulated worker (tests/simworkers.py: one ZeroMQ socket per worker, the real worker protocol)
reports every second a delta of 200 endpoints recorded by the real Recorder (about 2,000 requests a
second per worker, log-normal latencies, failures, checks, timings). The master is the real one
(`python -m loadorch.runtime master`), started fresh for each worker count.

    python3 benchmarks/master_scale.py [--workers 2,16,64,128] [--endpoints 200] [--seconds 20]

Stats lag: from a worker sending a report (its clock) to the master having merged it (StatsLag in the
master's summary). Master CPU: the master process's user + system time over the reporting window, as a
share of one core (100 % = one core busy), from /proc, and per report (that time over the reports the
window should hold: workers x seconds); RSS: its peak resident memory (VmHWM). Sim burst: the
simulator's time to build and send one burst of reports (all workers' at once), to show it is not what
delays them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadorch.run.plan import write_plan  # noqa: E402
from loadorch.run.processes import free_port  # noqa: E402
from loadorch.wire import MasterSummary  # noqa: E402
from tests.simworkers import Simulation, make_plan  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def one(workers: int, endpoints: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="loadorch-master-bench-") as tmp:
        root = Path(tmp)
        stats = root / "stats.json"
        plan = make_plan(root, workers, endpoints, seconds, free_port(), str(stats))
        write_plan(plan, str(root / "plan.json"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "loadorch.runtime", "master", "--plan", str(root / "plan.json")]
        with open(root / "master.log", "wb") as log:
            master = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
            sim = Simulation(plan, endpoints)
            marks: dict[str, float] = {}
            peak = [0.0]

            def watch() -> None:  # CPU at the first and at the last report, peak RSS while it runs
                while master.poll() is None:
                    try:
                        if sim.t0_mono is not None and "start" not in marks:
                            marks["start"], marks["start_cpu"] = time.monotonic(), cpu_s(master.pid)
                        if sim.t0_mono is not None and time.monotonic() < sim.t0_mono + seconds:
                            marks["end"], marks["end_cpu"] = time.monotonic(), cpu_s(master.pid)
                        peak[0] = max(peak[0], peak_rss_mb(master.pid))
                    except OSError:
                        return
                    time.sleep(0.2)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            load = loadavg()
            try:
                sim.run(timeout_s=seconds + 180)
                master.wait(timeout=120)
            finally:
                sim.close()
                if master.poll() is None:
                    master.kill()
                    master.wait()
            watcher.join(5)
        summary = MasterSummary.model_validate_json(stats.read_text())
        lag = summary.stats_lag
        wall = marks["end"] - marks["start"]
        return {
            "workers": workers,
            "cpu_pct": 100.0 * (marks["end_cpu"] - marks["start_cpu"]) / wall,
            "cpu_ms_per_report": 1000.0 * (marks["end_cpu"] - marks["start_cpu"]) / (wall * workers / sim.interval),
            "sim_burst_ms": 1000.0 * sim.send_s / max(1, sim.bursts),
            "rss_mb": peak[0],
            "lag_max_s": lag.max_s,
            "lag_p99_s": lag.p99_s or 0.0,
            "late": lag.over_interval,
            "reports": lag.messages,
            "load": max(load, loadavg()),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2,16,64,128")
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, Python {sys.version.split()[0]}; {args.endpoints} endpoints per worker, "
          f"one report a second per worker, {args.seconds:g} s per run")
    print("workers  master CPU  CPU/report  peak RSS   lag p99   lag max  reports late  load avg  sim burst")
    for n in (int(w) for w in args.workers.split(",")):
        r = one(n, args.endpoints, args.seconds)
        contended = "  (contended)" if r["load"] > cores - 0.5 else ""
        print(f"{n:7d}  {r['cpu_pct']:8.0f} %  {r['cpu_ms_per_report']:6.2f} ms  {r['rss_mb']:6.0f} MB  "
              f"{r['lag_p99_s']:7.3f} s  {r['lag_max_s']:6.3f} s  {int(r['reports']):7d} {int(r['late']):4d}  "
              f"{r['load']:8.1f}  {r['sim_burst_ms']:6.1f} ms{contended}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
