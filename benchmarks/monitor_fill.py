"""How much a monitor's whole-run tables hold as samples come (numbers, not a test): the layout's fill.

Usage: python3 benchmarks/monitor_fill.py [--names 20] [--max 300000]

The master of a monitor keeps, per request name, histograms over the whole run in the monitor's fixed
layout (series, service time, two timings: stats/tables.py, `MONITOR_SUB_BITS`) and the time splits
(stats/timesplit.py: a row of six sums per latency bucket). Each gains a bucket the first time a latency
lands in it, so their memory grows with the samples until the layout's buckets that the latencies reach
are all there: bounded, but the bound is reached after many samples per name. This records log-normal
latencies (median 3 ms, sigma 0.7, 1 % of them 10x slower: a tail) into those tables for `--names`
names and prints, at each count of samples per name, the buckets per histogram and the Python memory
the tables hold (tracemalloc), so the fill can be read against a monitor's rate: at 2 checks a second over
20 names, each name gets 360 samples an hour.
"""

from __future__ import annotations

import argparse
import random
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadorch.monitor.rolling import MONITOR_SUB_BITS
from loadorch.stats.histogram import Histogram
from loadorch.stats.timesplit import TimeSplits


class Key:  # the series key TimeSplits.fold reads
    def __init__(self, name: str) -> None:
        self.name, self.method, self.status = name, "GET", 200


def latency(rng: random.Random) -> int:
    us = rng.lognormvariate(8.0, 0.7)  # e^8 us: about 3 ms
    return int(us * (10 if rng.random() < 0.01 else 1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=20)
    ap.add_argument("--max", type=int, default=300_000, help="samples per name at the end")
    args = ap.parse_args()
    rng = random.Random(1)
    tracemalloc.start()
    keys = [Key(f"check {i}") for i in range(args.names)]
    tables = [[Histogram(MONITOR_SUB_BITS) for _ in range(4)] for _ in keys]
    splits = TimeSplits()
    marks = [m for m in (100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000) if m <= args.max]
    done = 0
    print(f"{args.names} names; samples per name | buckets per histogram | split rows per name | traced MiB")
    for mark in marks:
        for _ in range(mark - done):
            for key, hists in zip(keys, tables):
                us = latency(rng)
                for h in hists:
                    h.record(us)
                splits.add(key, us, 100, 0, us - 200, 100)
        done = mark
        splits.fold()
        buckets = sum(len(h.buckets) for hists in tables for h in hists) / (4 * len(keys))
        rows = len(splits.table) / len(keys)
        print(f"{mark:>9,} | {buckets:7.1f} | {rows:7.1f} | {tracemalloc.get_traced_memory()[0] / 2**20:6.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
