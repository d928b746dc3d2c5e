"""A day-long run on an accelerated clock: the real master's memory, the live metrics' series count, and
the size of results.json and report.html after 1, 6 and 24 simulated hours (numbers, not assertions).

    python3 benchmarks/soak.py [--hours 1,6,24] [--endpoints 20] [--workers 2] [--keep DIR]

The master is the real one (`python -m loadorch.runtime master`, live metrics on) on a simulated clock:
a small wrapper, installed before loadorch is imported, makes its `time.monotonic` and `time.time` read a
shared file the driver writes. The workers are tests/simworkers.py (the real protocol and the real
Recorder's deltas); while the load runs, each burst of reports (one per worker, one simulated second of
the run at its interval slot) moves the clock one second on, as fast as the master merges them (at most
30 bursts ahead of its progress line's request count), so its duration, progress, load samples and
metrics ticks happen in simulated seconds and 24 hours are 86,400 reports per worker, none dropped.
Heartbeats and Locust's own stats keep their real period (the master's Locust side runs on the real
clock). Along the way: the master's resident memory (VmRSS) about every simulated 10 minutes, and
/metrics scraped near the start, the middle and the end (series = sample lines). After the run, what the
controller does with the master's summary (Merged.from_json, results.build, the JSON writer,
report.html), in a fresh process whose peak memory (VmHWM) is the controller's cost of it.

The simulated deltas repeat 8 recorded seconds (tests/simworkers.py), so the exact histograms stop gaining
buckets within seconds: what this measures is everything kept per unit of time, not the filling of
histograms by new latency values (bounded by the histogram layout, see the README).
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request
from pathlib import Path
from typing import Any

import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tests.simworkers as simworkers  # noqa: E402
from loadorch.metrics.options import MetricsOptions, plan_block  # noqa: E402
from loadorch.run.plan import write_plan  # noqa: E402
from loadorch.run.processes import free_port  # noqa: E402
from tests.simworkers import Simulation, make_plan  # noqa: E402

# the master's clock is the simulation's: its time.monotonic and time.time read a shared file the driver writes
SIM_CLOCK_MASTER = """
import mmap, os, struct, sys, time
with open(os.environ["SOAK_CLOCK"], "r+b") as fh:
    shared = mmap.mmap(fh.fileno(), 16)
time.monotonic = lambda: struct.unpack_from("d", shared, 0)[0]
time.time = lambda: struct.unpack_from("d", shared, 8)[0]
from loadorch.fastexit import exit_now
from loadorch.runtime.__main__ import main
exit_now(main(sys.argv[1:]))
"""
AHEAD = 30  # reports a worker may be ahead of what the master has merged (its progress line says)
NUDGE_S = 0.5  # waited this long (real seconds) for a progress line: the clock moves one second without a report


def status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def series_count(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as resp:
        text = resp.read().decode()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def slope(points: list[tuple[float, float]], since_h: float) -> str:
    """Least-squares slope of the (simulated hours, MB) points from `since_h` on, in MB per hour."""
    pts = [(h, mb) for h, mb in points if h >= since_h]
    if len(pts) < 3:
        return "-"
    mh, mm = sum(h for h, _ in pts) / len(pts), sum(mb for _, mb in pts) / len(pts)
    den = sum((h - mh) ** 2 for h, _ in pts)
    return f"{sum((h - mh) * (mb - mm) for h, mb in pts) / den:+.2f}" if den else "-"


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


class SimClock:
    """Simulated time in a shared file: real time before the load and after the stop, one second a report
    burst while the load runs (so the master's clock never runs ahead of the reports it has been sent)."""

    def __init__(self, path: Path) -> None:
        path.write_bytes(bytes(16))
        self.fh = open(path, "r+b")  # noqa: SIM115
        self.shared = mmap.mmap(self.fh.fileno(), 16)
        self.offset = 0.0  # simulated less real seconds
        self.frozen: float | None = None  # the simulated monotonic time while the load runs
        self.wall0 = time.time() - time.monotonic()
        self.tick()

    def mono(self) -> float:
        return self.frozen if self.frozen is not None else time.monotonic() + self.offset

    def tick(self) -> None:
        now = self.mono()
        struct.pack_into("dd", self.shared, 0, now, self.wall0 + now)

    def freeze(self) -> None:
        self.frozen = self.mono()

    def advance(self, seconds: float) -> None:
        assert self.frozen is not None
        self.frozen += seconds
        self.tick()

    def thaw(self) -> None:
        if self.frozen is not None:
            self.offset = self.frozen - time.monotonic()
            self.frozen = None

    def close(self) -> None:
        self.shared.close()
        self.fh.close()


def drive(sim: Simulation, clock: SimClock, merged: list[int], nudges: list[int], timeout_s: float) -> None:
    """Simulation.run on the simulated clock: each burst one simulated second later, sent once the master
    has merged all but the last AHEAD bursts; heartbeats and Locust's stats on the real clock."""
    simworkers.time = types.SimpleNamespace(time=lambda: clock.wall0 + clock.mono(), monotonic=time.monotonic)
    deadline = time.monotonic() + timeout_s
    poller = zmq.Poller()
    by_sock = {}
    for w in sim.workers:
        poller.register(w.sock, zmq.POLLIN)
        by_sock[w.sock] = w
        sim.send(w, "client_ready", simworkers.LOCUST_VERSION)
    sent_after: list[int] = []  # requests sent up to each burst
    waiting = [time.monotonic()]  # since when the driver waits for the master
    while not all(w.quit for w in sim.workers) and time.monotonic() < deadline:
        for sock, _ in poller.poll(0 if clock.frozen is not None else 20):
            w = by_sock[sock]
            while True:
                try:
                    raw = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                sim.handle(w, raw)
        running = [w for w in sim.workers if w.started and not w.stopped]
        if running and clock.frozen is None and not any(w.stopped for w in sim.workers):
            clock.freeze()
        elif not running:
            clock.thaw()
        clock.tick()
        now = time.monotonic()
        for w in sim.workers:
            if not w.quit and w.acked and now >= w.next_heartbeat:
                w.next_heartbeat = now + simworkers.HEARTBEAT_S
                sim.send(w, "heartbeat", {"state": "running" if w.started else "ready", "current_cpu_usage": 40.0,
                                          "current_memory_usage": 80_000_000})  # fmt: skip
            if not w.quit and w.acked and now >= w.next_locust_stats:
                w.next_locust_stats = now + simworkers.LOCUST_STATS_S
                sim.send(w, "stats", simworkers._locust_stats(2 if w.started else 0))
        if not running:
            continue
        if len(sent_after) > AHEAD and merged[0] < sent_after[-AHEAD - 1]:
            if time.monotonic() - waiting[0] < NUDGE_S:
                time.sleep(0.002)  # the master is behind: wait for it (its clock waits too)
                continue
            # its last progress line may have come before it merged the reports: one more second gets another
            clock.advance(sim.interval)
            nudges[0] += 1
            waiting[0] = time.monotonic()
            continue
        waiting[0] = time.monotonic()
        clock.advance(sim.interval)
        began = time.monotonic()
        for w in running:
            sim.report(w, final=False)
        sim.send_s += time.monotonic() - began
        sim.bursts += 1
        sent_after.append(sum(w.total for w in sim.workers))


def one(hours: float, endpoints: int, workers: int, keep: str | None = None) -> dict[str, Any]:
    seconds = hours * 3600
    with tempfile.TemporaryDirectory(prefix="loadorch-soak-") as tmp:
        root = Path(tmp)
        stats = root / "stats.json"
        plan = make_plan(root, workers, endpoints, seconds, free_port(), str(stats))
        metrics_port = free_port()
        plan = plan.model_copy(update={"metrics": plan_block(MetricsOptions(port=metrics_port, grace_s=0.0),
                                                             "soak", "scale", "scale", [])})  # fmt: skip
        write_plan(plan, str(root / "plan.json"))
        clock = SimClock(root / "clock")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SOAK_CLOCK": str(root / "clock"),
               "LOADORCH_PARENT_PID": str(os.getpid())}  # fmt: skip
        argv = [sys.executable, "-c", SIM_CLOCK_MASTER, "master", "--plan", str(root / "plan.json")]
        rss: list[tuple[float, float]] = []  # (simulated hours, MB)
        scrapes: list[tuple[float, int]] = []
        merged = [0]  # requests merged, from the master's progress lines
        nudges = [0]  # simulated seconds without a report (see drive)
        with open(root / "master.log", "wb") as log:
            master = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
            sim = Simulation(plan, endpoints)

            def progress() -> None:
                assert master.stdout is not None
                for line in master.stdout:
                    event = json.loads(line)
                    if "requests" in event:
                        merged[0] = int(event["requests"])

            def watch() -> None:
                url = f"http://127.0.0.1:{metrics_port}/metrics"
                scrape_at = [60.0, seconds / 2, seconds * 0.97]
                next_rss = 0.0
                while master.poll() is None:
                    try:
                        sim_s = sim.bursts * sim.interval
                        if sim.bursts and sim_s >= next_rss:
                            rss.append((sim_s / 3600, status_mb(master.pid, "VmRSS")))
                            next_rss = sim_s + 600
                        if scrape_at and sim_s >= scrape_at[0]:
                            scrape_at.pop(0)
                            scrapes.append((sim_s / 3600, series_count(url)))
                    except OSError:
                        pass
                    time.sleep(0.05)

            threads = [threading.Thread(target=fn, daemon=True) for fn in (progress, watch)]
            for thread in threads:
                thread.start()
            began = time.monotonic()
            try:
                drive(sim, clock, merged, nudges, timeout_s=3 * 3600)
                master.wait(timeout=300)
            finally:
                sim.close()
                if master.poll() is None:
                    master.kill()
                    master.wait()
                clock.close()
            for thread in threads:
                thread.join(5)
            wall = time.monotonic() - began
        built = subprocess.run([sys.executable, __file__, "--build", str(stats), "--workers", str(workers)],
                               capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        controller = json.loads(built.stdout)
        if keep:
            os.makedirs(keep, exist_ok=True)
            for name in ("stats.json", "results.json", "report.html"):
                shutil.copy(root / name, os.path.join(keep, f"{hours:g}h-{name}"))
        sent = sum(w.total for w in sim.workers)
        return {"hours": hours, "wall_s": wall, "rss": rss, "scrapes": scrapes, "sent": sent, "nudges": nudges[0],
                "peak_master_mb": max(mb for _, mb in rss), **controller}  # fmt: skip


def build_artifacts(stats_path: str, workers: int) -> dict[str, Any]:
    """What the controller does with the master's summary (run/controller.py _decide and outputs), measured."""
    from loadorch.report.html import render_html
    from loadorch.report.record import RunRecord
    from loadorch.report.results import build, planned_load
    from loadorch.run.artifacts import write_json, write_text
    from loadorch.stats.tables import Merged
    from loadorch.wire import MasterSummary

    before = status_mb(os.getpid(), "VmRSS")
    started = time.perf_counter()
    with open(stats_path, encoding="utf-8") as fh:
        summary = MasterSummary.model_validate_json(fh.read())
    merged = Merged.from_json(summary.merged)
    record = RunRecord(profile="scale", scenario_name="scale", scenario_path="scenarios/scale.yaml",
                       scenario_sha256="0" * 64, seed=1, workers=workers, users=2 * workers, host="http://127.0.0.1:9",
                       start="", end="", versions={}, verdict="pass", exit_code=0, merged=merged,
                       elapsed_s=summary.elapsed_s, stop_reason=summary.stop_reason,
                       load=planned_load(2 * workers, 1.0, None, None, summary.load))  # fmt: skip
    doc = build(record)
    out = os.path.dirname(stats_path)
    write_json(os.path.join(out, "results.json"), doc.to_json())
    write_text(os.path.join(out, "report.html"), render_html(doc))
    took = time.perf_counter() - started
    return {
        "requests": merged.total,
        "elapsed_s": summary.elapsed_s,
        "load_points": len(summary.load),
        "timeline_slots": len({i for i, _, _ in merged.intervals}),
        "slot_s": merged.slot_s,
        "lag_p99_s": summary.stats_lag.p99_s,
        "stats_json_kb": os.path.getsize(stats_path) / 1024,
        "results_json_kb": os.path.getsize(os.path.join(out, "results.json")) / 1024,
        "report_html_kb": os.path.getsize(os.path.join(out, "report.html")) / 1024,
        "controller_base_mb": before,
        "controller_peak_mb": status_mb(os.getpid(), "VmHWM"),
        "controller_s": took,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", default="1,6,24")
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", help="copy each run's stats.json, results.json and report.html into this folder")
    parser.add_argument("--build", help=argparse.SUPPRESS)  # the controller's part, in its own process
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build_artifacts(args.build, args.workers)))
        return 0
    print(f"{args.workers} simulated workers x {args.endpoints} endpoints; "
          f"load average {loadavg()}", flush=True)  # fmt: skip
    for hours in (float(h) for h in args.hours.split(",")):
        r = one(hours, args.endpoints, args.workers, args.keep)
        marks = [next((f"{mb:.1f}" for h, mb in r["rss"] if h >= at), "-") for at in (0.1, 1, 6, 12, 18, 23.8)]
        print(f"\n{hours:g} h simulated in {r['wall_s']:.0f} s; load average {loadavg()}")
        print(f"  requests merged {r['requests']:,} of {r['sent']:,} sent; master elapsed {r['elapsed_s']:.0f} s; "
              f"stats lag p99 {r['lag_p99_s']} s (simulated); {r['nudges']} simulated seconds without reports")  # fmt: skip
        print(f"  master RSS MB at 0.1/1/6/12/18/23.8 h: {' / '.join(marks)}; peak {r['peak_master_mb']:.1f}")
        print(f"  master RSS slope (MB per simulated hour, least squares) from 0.5 h: {slope(r['rss'], 0.5)}, "
              f"from 1 h: {slope(r['rss'], 1)}, from 6 h: {slope(r['rss'], 6)}, from 12 h: {slope(r['rss'], 12)}")
        print(
            f"  master RSS samples (h, MB): {' '.join(f'{h:.1f}:{mb:.1f}' for h, mb in r['rss'][::6] + r['rss'][-1:])}"
        )
        print(f"  /metrics series (h, count): {' '.join(f'{h:.2f}:{n}' for h, n in r['scrapes'])}")
        print(f"  load points {r['load_points']}, timeline {r['timeline_slots']} slots of {r['slot_s']:g} s")
        print(f"  stats.json {r['stats_json_kb']:.0f} KiB, results.json {r['results_json_kb']:.0f} KiB, "
              f"report.html {r['report_html_kb']:.0f} KiB")  # fmt: skip
        print(f"  controller (from_json, build, write, render): {r['controller_s']:.1f} s, RSS "
              f"{r['controller_base_mb']:.1f} MB before, peak {r['controller_peak_mb']:.1f} MB", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
