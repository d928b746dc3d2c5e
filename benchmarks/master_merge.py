"""The master's CPU per stats report, in one process: decode (Locust's msgpack) and merge N reports.

The reports are the simulated workers' (tests/simworkers.py: 200 endpoints recorded by the real
Recorder, packed by the simulator exactly as it sends them); the master side is the real one
(`MasterState.on_stats` after Locust's `Message.unserialize`), without sockets. Process CPU time is
far less disturbed by a busy machine than wall time or lag, so this is the figure to compare
changes with. With `--against DIR` (another checkout, e.g. `git archive` of main), rounds alternate
between the two checkouts, each in a fresh process, and the medians are compared.

    python3 benchmarks/master_merge.py [--workers 128] [--reports 4] [--endpoints 200] [--rounds 5]
                                       [--against /tmp/base-checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class _Capture:
    """A stand-in for a simulated worker's socket: keeps what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, raw: bytes, flags: int = 0) -> None:
        self.sent.append(raw)

    def close(self, linger: int = 0) -> None:
        pass


def measure(workers: int, reports: int, endpoints: int) -> dict[str, float]:
    """In this process (loadorch from sys.path): CPU seconds per report decoded and merged."""
    import gc

    from locust.rpc import Message

    from loadorch.run.processes import free_port
    from loadorch.runtime.masterstate import MasterState
    from tests.simworkers import Simulation, make_plan

    with tempfile.TemporaryDirectory(prefix="loadorch-merge-bench-") as tmp:
        plan = make_plan(Path(tmp), workers, endpoints, 60.0, free_port(), os.path.join(tmp, "stats.json"))
        sim = Simulation(plan, endpoints)
        raws: list[bytes] = []
        try:
            for w in sim.workers:
                w.sock.close(linger=0)
                w.sock = _Capture()  # type: ignore[assignment]
            for _ in range(reports + 1):  # the first of each worker warms the master up (its series, its keys)
                for w in sim.workers:
                    sim.report(w, final=False)
            for w in sim.workers:
                raws += w.sock.sent  # type: ignore[attr-defined]
        finally:
            sim.close()
        state = MasterState(plan)
        for w in sim.workers:
            state.on_hello(w.node_id, {"index": w.index, "token": plan.token})
        per = reports + 1
        order = sorted(range(len(raws)), key=lambda i: (i % per, i))  # interval by interval, as they come
        warm, timed = order[: len(sim.workers)], order[len(sim.workers) :]
        for i in warm:
            msg = Message.unserialize(raws[i])
            state.on_stats(msg.node_id, msg.data)
        gc.collect()
        began_cpu, began = time.process_time(), time.perf_counter()
        for i in timed:
            msg = Message.unserialize(raws[i])
            state.on_stats(msg.node_id, msg.data)
        cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
        if state.lag.lags.count != len(raws):
            raise SystemExit(f"only {state.lag.lags.count} of {len(raws)} reports were merged")
        expected = sum(w.total for w in sim.workers)
        if state.merged.total != expected:
            raise SystemExit(f"merged {state.merged.total} requests, sent {expected}")
        return {"cpu_ms": 1000 * cpu / len(timed), "wall_ms": 1000 * wall / len(timed), "bytes": len(raws[-1])}


def _round(checkout: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    argv = [sys.executable, __file__, "--one", "--workers", str(args.workers), "--reports", str(args.reports),
            "--endpoints", str(args.endpoints)]
    out = subprocess.run(argv, env=env, cwd=checkout, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=128)
    parser.add_argument("--reports", type=int, default=4, help="reports per worker timed (after one to warm up)")
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout to alternate rounds with")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, os.getcwd())
        print(json.dumps(measure(args.workers, args.reports, args.endpoints)))
        return 0
    checkouts = {"this": ROOT} if args.against is None else {"this": ROOT, "other": args.against.resolve()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    print(f"{args.workers} workers x {args.reports} reports x {args.endpoints} endpoints, {args.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f}")
    for r in range(args.rounds):
        names = list(checkouts) if r % 2 == 0 else list(reversed(checkouts))
        for name in names:
            res = _round(checkouts[name], args)
            results[name].append(res)
            print(f"round {r + 1} {name:5s}  {res['cpu_ms']:6.3f} ms CPU/report  {res['wall_ms']:6.3f} ms wall/report"
                  f"  {res['bytes'] / 1024:6.1f} KiB/report", flush=True)
    medians: dict[str, Any] = {n: statistics.median(x["cpu_ms"] for x in rs) for n, rs in results.items()}
    for name, cpu in medians.items():
        print(f"median {name:5s}  {cpu:6.3f} ms CPU/report  ({checkouts[name]})")
    if "other" in medians:
        print(f"other / this: {medians['other'] / medians['this']:.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
