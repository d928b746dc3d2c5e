"""Result building against the number of request names (numbers, not assertions).

Usage: python3 benchmarks/names.py [--names 1000,2000,5000,10000] [--seconds 10] [--workers 2]

A python user that names each request by its URL makes a name per id. Each size is synthesized through the
real code paths with the bound on distinct names (profile max_endpoints) raised above it: every second each
worker's Recorder records one request per name (1 in 100 a 404) and its delta goes through Merged.add_delta;
then what the controller does with the master's summary: Merged.from_json, results.build, the JSON writer,
summary.md and report.html, each in wall seconds (and `build` and the JSON writer in this process's CPU
seconds too: on a shared machine the wall time mostly measures the wait for a core). `build` is results.build alone (the per-endpoint rows: O(names x series) before
issue 28, 14,500 names over 10 minutes); the others are printed beside it for the whole picture.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadorch.report.html import render_html
from loadorch.report.results import RunRecord, build
from loadorch.report.summary import markdown
from loadorch.run.artifacts import dumps
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.tables import Merged, Recorder, SeriesKey


def master_tables(names: int, seconds: int, workers: int) -> Merged:
    rng = random.Random(names)
    merged = Merged(1.0)
    merged.endpoints = EndpointNames(names + 1)
    recorders = [Recorder(1.0, 0.0, endpoints=EndpointNames(names + 1)) for _ in range(workers)]
    for t in range(seconds):
        for w, rec in enumerate(recorders):
            for i in range(w, names, workers):
                ok = rng.random() > 0.01
                key = SeriesKey("shopper", f"/items/{i}", "read", "GET", 200 if ok else 404, ok)
                rec.record(key, rng.randrange(2_000, 90_000), t + 0.5, None if ok else "HTTPError: 404")
            merged.add_delta(w, rec.take_delta())
    return merged


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """The result, the wall seconds and the CPU seconds of this process (less disturbed by a shared machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--names", default="1000,2000,5000,10000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'names':>6} {'series':>7} | {'from_json':>9} {'build':>7} {'build cpu':>9} {'cpu/name':>8} | "
          f"{'write json':>10} {'json cpu':>8} {'cpu/name':>8} {'MiB':>5} | {'summary.md':>10} {'report.html':>11}")  # fmt: skip
    for names in [int(n) for n in args.names.split(",")]:
        merged = master_tables(names, args.seconds, args.workers)
        summary = json.loads(json.dumps(merged.to_json()))  # the master's summary, as the controller reads it
        again, read_s, _ = timed(Merged.from_json, summary)
        record = RunRecord(profile="names", scenario_name="names", scenario_path="s.yaml", scenario_sha256="0" * 64,
                           seed=1, workers=args.workers, users=names, host="http://127.0.0.1:1", start="", end="",
                           versions={}, verdict="pass", exit_code=0, merged=again,
                           elapsed_s=float(args.seconds))  # fmt: skip
        doc, build_s, build_cpu = timed(build, record)
        text, json_s, json_cpu = timed(lambda d=doc: dumps(d.to_json()))
        _, md_s, _ = timed(markdown, doc)
        _, html_s, _ = timed(render_html, doc)
        assert doc.totals.requests == names * args.seconds and len(doc.endpoints) == names
        print(f"{names:>6} {len(again.series):>7} | {read_s:>8.2f}s {build_s:>6.2f}s {build_cpu:>8.2f}s "
              f"{build_cpu / names * 1e6:>6.0f}us | {json_s:>9.2f}s {json_cpu:>7.2f}s {json_cpu / names * 1e6:>6.0f}us "
              f"{len(text) / 2**20:>5.1f} | {md_s:>9.2f}s {html_s:>10.2f}s", flush=True)  # fmt: skip
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
