"""What the sweep of leftover temporary folders (loadorch/tempdirs.py) costs each folder made: a run's start, each
embedded shop. CPU time of `sweep` over this machine's temporary folder (nothing removed: the removal is skipped)
and over a private folder of N folders it may not remove (a live owner's, another pid namespace's).

    python3 benchmarks/sweep.py                  # --folders 5900 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadorch import tempdirs


def timed(prefix: str, root: str | None = None) -> tuple[float, int]:
    began = time.process_time()
    found = tempdirs.sweep(prefix, root)
    return (time.process_time() - began) * 1000.0, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folders", type=int, default=5900)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    real_rmtree = shutil.rmtree
    tempdirs.shutil.rmtree = lambda *a, **k: None  # type: ignore[assignment]  # this machine's folder: read, not changed
    entries = len(os.listdir(tempfile.gettempdir()))
    for prefix in ("loadorch-run-", "loadorch-shop-"):
        cpu, stale = timed(prefix)
        print(f"{tempfile.gettempdir()} ({entries} entries), {prefix}*: {cpu:.1f} ms CPU ({stale} it would remove)")
    tempdirs.shutil.rmtree = real_rmtree  # type: ignore[assignment]
    root = tempfile.mkdtemp(prefix="loadorch-bench-sweep-")
    try:
        for kind, line in (("a live owner's", tempdirs.owner_line()), ("another pid namespace's", "100 5 pid:[1]\n")):
            for i in range(args.folders):
                folder = os.path.join(root, f"loadorch-shop-{i:06d}")
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, tempdirs.OWNER), "w", encoding="ascii") as fh:
                    fh.write(line)
            cpus = sorted(timed("loadorch-shop-", root)[0] for _ in range(args.rounds))
            print(f"{args.folders} folders, {kind}: median {cpus[len(cpus) // 2]:.1f} ms CPU a sweep")
    finally:
        shutil.rmtree(root)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
