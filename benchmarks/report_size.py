"""Artifacts of a long run: size and build time of results.json, report.html, junit.xml, summary.md and
requests.jsonl (numbers, not assertions).

Usage: python3 benchmarks/report_size.py [--endpoints 200] [--seconds 3600] [--workers 2] [--per-second 50]
       [--log-lines 200000]
The run is synthesized through the real code paths: every second, each worker's Recorder records
`--per-second` requests (the endpoints in turn) and its delta goes through Merged.add_delta, as on the
master; then results.build and the real writers. The request log's size is that of real
request_log_line lines at the run's request rate; its sort (streamed) is timed on `--log-lines` lines.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadorch.report.compare_html import render_compare_html
from loadorch.report.html import render_html
from loadorch.report.junit import render as render_junit
from loadorch.report.results import build
from loadorch.report.summary import markdown, terminal
from loadorch.run.artifacts import write_json, write_text
from loadorch.run.outputs import sort_request_log
from loadorch.traffic.redact import Redactor
from loadorch.traffic.request import Outcome, request_log_line
from loadorch.verdict.compare import Budgets, compare
from tests.synthetic import synthetic_long_run


def timed(what: str, fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    out = fn(*args)
    print(f"  {what:<38} {time.perf_counter() - started:6.2f} s")
    return out


def request_log(path: str, lines: int) -> int:
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as fh:
        for n in range(lines):
            outcome = Outcome(200, True, None, rng.randrange(2000, 90000), f"/products/{rng.randrange(1000)}", b"{}")
            fh.write(request_log_line(rng.randrange(2), rng.randrange(100), "shopper", n, "read", "product", "GET",
                                      outcome))
    return os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-second", type=int, default=50, help="requests per worker per second")
    parser.add_argument("--log-lines", type=int, default=200_000)
    args = parser.parse_args()
    started = time.perf_counter()
    record = synthetic_long_run(args.endpoints, args.seconds, args.workers, args.per_second)
    merged = record.merged
    print(f"{args.endpoints} endpoints, {args.seconds} s, {args.workers} workers x {args.per_second} req/s: "
          f"{merged.total} requests (synthesized in {time.perf_counter() - started:.0f} s)")
    print(f"master timeline: {len({i for i, _, _ in merged.intervals})} slots of {merged.slot_s:g} s, "
          f"{sum(len(h.buckets) for h in merged.intervals.values())} buckets; per-endpoint: "
          f"{len({i for i, _ in merged.endpoint_intervals})} slots of {merged.interval_s * merged.endpoint_step:g} s, "
          f"{sum(len(h.buckets) for h in merged.endpoint_intervals.values())} buckets; series: "
          f"{sum(len(h.buckets) for h in merged.series.values())} buckets")
    with tempfile.TemporaryDirectory(prefix="loadorch-report-size-") as tmp:
        out = Path(tmp)
        print("build times:")
        doc = timed("results.build", build, record)
        timed("results.json (write_json)", lambda: write_json(str(out / "results.json"), doc.to_json()))
        html = timed("report.html (render)", render_html, doc)
        write_text(str(out / "report.html"), html)
        junit = timed("junit.xml (render)", lambda: render_junit(
            "loadorch.long", "2026-01-01T00:00:00", socket.gethostname(), record.elapsed_s, record.thresholds,
            record.checks, properties=[("profile", "long")], system_out=terminal(doc)))
        write_text(str(out / "junit.xml"), junit)
        write_text(str(out / "summary.md"), timed("summary.md (render)", markdown, doc))
        page = timed("compare.html (render, run vs itself)", lambda: render_compare_html(
            doc, doc, compare(doc, doc, Budgets()), "base", "cur", "default budgets"))
        print("sizes:")
        for name in ("results.json", "report.html", "junit.xml", "summary.md"):
            print(f"  {name:<14} {os.path.getsize(out / name) / 1024:8.0f} KiB")
        print(f"  {'compare.html':<14} {len(page.encode()) / 1024:8.0f} KiB")
        size = request_log(str(out / "requests.unsorted.jsonl"), args.log_lines)
        per_line = size / args.log_lines
        rate = merged.total / args.seconds
        print(f"request log (--request-log): {per_line:.0f} bytes per request; at this run's {rate:.0f} req/s "
              f"an hour is {per_line * rate * 3600 / 2**20:.0f} MiB")
        began = time.perf_counter()
        sort_request_log(str(out / "requests.unsorted.jsonl"), str(out / "requests.jsonl"), Redactor())
        took = time.perf_counter() - began
        print(f"  sorted (streamed, 64 MiB runs) {args.log_lines} lines in {took:.2f} s: "
              f"{args.log_lines / took:,.0f} lines/s")


if __name__ == "__main__":
    main()
