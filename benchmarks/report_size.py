"""Size of report.html and compare.html for a synthetic 200-endpoint run (numbers, not assertions).

Usage: python3 benchmarks/report_size.py [--endpoints 200] [--seconds 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadorch.report.compare_html import render_compare_html
from loadorch.report.html import render_html
from loadorch.verdict.compare import Budgets, compare
from tests.synthetic import synthetic_results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=300)
    args = parser.parse_args()
    base = synthetic_results(args.endpoints, args.seconds, seed=7)
    cur = synthetic_results(args.endpoints, args.seconds, seed=8)
    started = time.perf_counter()
    report = render_html(cur).encode()
    rendered = time.perf_counter() - started
    page = render_compare_html(base, cur, compare(base, cur, Budgets()), "base", "cur", "default budgets").encode()
    print(f"{args.endpoints} endpoints, {args.seconds} s, {cur['totals']['requests']} requests")
    print(f"results.json {len(json.dumps(cur).encode()) / 1024:.0f} KiB")
    print(f"report.html  {len(report) / 1024:.0f} KiB (rendered in {rendered:.2f} s)")
    print(f"compare.html {len(page) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
