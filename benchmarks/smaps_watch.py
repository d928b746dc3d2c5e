"""Where a process's resident memory is, over time: its RSS by kind of mapping, from /proc/PID/smaps.

    python3 benchmarks/smaps_watch.py --comm loadorch-master --every 5 --seconds 1900 > smaps.txt

Beside `monitor_rss.py` (issue 32): every `--every` seconds one line for the first process whose
/proc/PID/comm is `--comm` (found again if it goes): the kB resident in glibc's main heap (`[heap]`), in
anonymous mappings (pymalloc's 1 MiB arenas, glibc's thread arenas, mmap'd large blocks; the arenas' share
apart), in mapped files (code and libraries: pages read on first use), and on stacks. `--changes` prints
only the lines whose figures moved, which shows when a process grows (e.g. against a monitor's windows).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")


def find(comm: str) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == comm:
                        return int(entry)
            except OSError:
                continue
    return None


def kinds(pid: int) -> dict[str, int]:
    """kB resident by kind of mapping (heap, anon, arenas: the anonymous mappings of exactly 1 MiB, file, stack)."""
    with open(f"/proc/{pid}/smaps") as f:
        text = f.read()
    out = {"heap": 0, "anon": 0, "arenas": 0, "file": 0, "stack": 0}
    name, size_kb = "", 0
    for line in text.splitlines():
        m = _MAPPING.match(line)
        if m:
            name, size_kb = m.group(3), (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
            continue
        if line.startswith("Rss:"):
            kb = int(line.split()[1])
            if name == "[heap]":
                out["heap"] += kb
            elif name == "":
                out["anon"] += kb
                if size_kb == 1024:
                    out["arenas"] += kb
            elif name.startswith("[stack"):
                out["stack"] += kb
            else:
                out["file"] += kb
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--comm", default="loadorch-master", help="the process's /proc/PID/comm")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=1900.0)
    ap.add_argument("--changes", action="store_true", help="only the lines whose figures moved")
    args = ap.parse_args()
    t0 = time.monotonic()
    pid, last = None, None
    while time.monotonic() - t0 < args.seconds:
        pid = pid or find(args.comm)
        if pid is None:
            time.sleep(1)
            continue
        try:
            k = kinds(pid)
        except OSError:  # gone: look for it again
            pid = None
            continue
        figures = (k["heap"], k["anon"], k["file"], k["stack"])
        if not args.changes or figures != last:
            print(f"{time.monotonic() - t0:8.1f} s  heap {k['heap']} kB  anon {k['anon']} kB (1 MiB arenas "
                  f"{k['arenas']})  file {k['file']} kB  stack {k['stack']} kB  total {sum(figures)} kB", flush=True)
        last = figures
        time.sleep(args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
