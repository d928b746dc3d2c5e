"""What a running process holds, on signal (a debugging aid of the benchmarks, never imported by loadorch).

`monitor_rss.py --trace DIR` (and `soak.py --trace DIR`) put a `sitecustomize.py` on the processes'
PYTHONPATH that calls `install(DIR)`: every Python process of the run then answers SIGUSR2. The first
signal starts tracemalloc (after warm-up: what was allocated before is not traced); each later one writes
DIR/<comm>-<pid>-<n>.snap (a tracemalloc snapshot) and DIR/<comm>-<pid>-<n>.json (VmRSS, the traced total,
glibc's arena figures, the count of live objects by type). The handler survives the fork server's fork
(a signal disposition is inherited), so the forked master and workers answer too. `diff(DIR, comm)` prints
what grew between a process's first and last snapshots.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import signal
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

FRAMES = 6
# the per-run containers whose sizes each snapshot lists (len of every sized attribute; buckets of histograms)
WATCHED = {"MasterState", "Merged", "RollingWindow", "Monitor", "BrowserStats", "LiveMetrics", "TimeSplits",
           "Slowest", "EndpointNames", "KeyRegistry", "LagMeter", "EntryNames", "StatusServer", "Snapshot",
           "WorkerInfo", "_Run", "BrowserSink", "Recorder", "WorkerState", "Draws"}


def _size(v: Any) -> Any:
    try:
        n = len(v)
    except TypeError:
        return None
    if isinstance(v, dict) and v:
        first = next(iter(v.values()))
        if hasattr(first, "buckets"):
            return [n, sum(len(h.buckets) for h in v.values())]
        if isinstance(first, (dict, list)):
            return [n, sum(len(x) for x in v.values())]
    return n


def containers() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    seen: Counter[str] = Counter()
    for o in gc.get_objects():
        name = type(o).__name__
        if name not in WATCHED:
            continue
        seen[name] += 1
        attrs = getattr(o, "__dict__", None) or {a: getattr(o, a, None) for a in getattr(type(o), "__slots__", ())}
        sizes = {a: _size(v) for a, v in attrs.items()}
        out[f"{name}#{seen[name]}"] = {a: n for a, n in sizes.items() if n}
    return out


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _mallinfo() -> dict[str, int]:
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    return {"arena": info.arena, "mmap": info.hblkhd, "in_use": info.uordblks, "free": info.fordblks}


def _comm() -> str:
    try:
        return Path("/proc/self/comm").read_text().strip().replace("/", "_") or "python"
    except OSError:
        return "python"


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def install(out: str) -> None:
    state = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
            return
        state["n"] += 1
        stem = os.path.join(out, f"{_comm()}-{os.getpid()}-{state['n']:03d}")
        gc.collect()
        snap = tracemalloc.take_snapshot()
        snap.dump(stem + ".snap")
        types = Counter(type(o).__qualname__ for o in gc.get_objects())
        doc = {"rss_kb": _rss_kb(), "traced": tracemalloc.get_traced_memory()[0], "malloc": _mallinfo(),
               "objects": len(gc.get_objects()), "types": dict(types.most_common(60)), "containers": containers()}
        Path(stem + ".json").write_text(json.dumps(doc))

    signal.signal(signal.SIGUSR2, handler)


def pymalloc_stats() -> str:
    """sys._debugmallocstats()'s text (pymalloc's pools per size class, its arenas), which it writes on fd 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        return f.read().decode(errors="replace")


def pools_summary(text: str) -> dict[str, Any]:
    """The figures of a `pymalloc_stats()` text: pools per size class, arenas, unused pools."""
    classes = {int(m[1]): [int(m[2]), int(m[3]), int(m[4])]
               for m in re.finditer(r"^\s*\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.M)}
    out: dict[str, Any] = {"classes": classes}
    for key, pattern in (("arenas", r"arenas allocated current\s*=\s*([\d,]+)"),
                         ("arenas_total", r"arenas allocated total\s*=\s*([\d,]+)"),
                         ("arenas_high", r"arenas highwater mark\s*=\s*([\d,]+)"),
                         ("unused_pools", r"^([\d,]+) unused pools"),
                         ("in_blocks", r"bytes in allocated blocks\s*=\s*([\d,]+)"),
                         ("avail_blocks", r"bytes in available blocks\s*=\s*([\d,]+)")):
        m = re.search(pattern, text, re.M)
        out[key] = int(m[1].replace(",", "")) if m else None
    return out


def install_pools(out: str) -> None:
    """SIGUSR2 writes DIR/<comm>-<pid>-<n>.pools.json: VmRSS, resident kB by kind of mapping, glibc's figures and
    pymalloc's pools per size class and arenas (no tracemalloc: nothing of the process's own allocation changes)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from smaps_watch import kinds

    state = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        state["n"] += 1
        doc = {"rss_kb": _rss_kb(), "kinds": kinds(os.getpid()), "malloc": _mallinfo(), "gc": gc.get_stats(),
               "gc_count": gc.get_count(), "gc_frozen": gc.get_freeze_count(),
               "pools": pools_summary(pymalloc_stats())}
        Path(os.path.join(out, f"{_comm()}-{os.getpid()}-{state['n']:03d}.pools.json")).write_text(json.dumps(doc))

    signal.signal(signal.SIGUSR2, handler)


def install_trim() -> None:
    """SIGUSR2 gives glibc's free pages back to the kernel (malloc_trim(0), every arena): what RSS keeps of
    memory the process freed (`monitor_rss.py --trim-every`, to tell the allocator's share from objects)."""

    def handler(signum: int, frame: Any) -> None:
        try:
            ctypes.CDLL(None).malloc_trim(0)
        except (OSError, AttributeError):
            pass

    signal.signal(signal.SIGUSR2, handler)


def install_collect() -> None:
    """SIGUSR2 runs a full collection of the cyclic garbage collector (gc.collect()): what RSS keeps of garbage
    in reference cycles that waits in the oldest generation for its next full collection."""

    def handler(signum: int, frame: Any) -> None:
        gc.collect()

    signal.signal(signal.SIGUSR2, handler)


def sitecustomize(out: str, trim: bool = False, pools: bool = False, collect: bool = False) -> str:
    """The text of a sitecustomize.py that installs the handler writing into `out` (`trim`: the trimming one;
    `pools`: pymalloc's pools and the kinds of memory, no tracemalloc)."""
    here = str(Path(__file__).resolve().parent)
    call = ("memtrace.install_collect()" if collect else "memtrace.install_trim()" if trim
            else f"memtrace.install_pools({out!r})" if pools else f"memtrace.install({out!r})")
    return f"import sys\nsys.path.insert(0, {here!r})\nimport memtrace\n{call}\ndel sys.path[0]\n"


def diff(out: str, comm: str, top: int = 25, first: int = 1) -> None:
    snaps = sorted(Path(out).glob(f"{comm}-*.snap"))
    if len(snaps) < 2:
        print(f"{comm}: fewer than 2 snapshots in {out}")
        return
    a_path, b_path = snaps[first - 1], snaps[-1]
    a, b = (tracemalloc.Snapshot.load(str(p)) for p in (a_path, b_path))
    ja, jb = (json.loads(p.with_suffix(".json").read_text()) for p in (a_path, b_path))
    print(f"== {comm}: {a_path.name} -> {b_path.name}")
    print(f"rss {ja['rss_kb'] / 1024:.1f} -> {jb['rss_kb'] / 1024:.1f} MB; traced {ja['traced'] / 2**20:.2f} -> "
          f"{jb['traced'] / 2**20:.2f} MiB; objects {ja['objects']} -> {jb['objects']}; malloc {ja['malloc']} -> "
          f"{jb['malloc']}")
    for name, attrs in jb.get("containers", {}).items():
        before = ja.get("containers", {}).get(name, {})
        changed = {a: f"{before.get(a)} -> {n}" for a, n in attrs.items() if before.get(a) != n}
        print(f"  {name}: {changed or 'unchanged'}")
    grew = {k: v - ja["types"].get(k, 0) for k, v in jb["types"].items()}
    print("types:", sorted(((v, k) for k, v in grew.items() if v), reverse=True)[:15])
    for stat in b.compare_to(a, "traceback")[:top]:
        if stat.size_diff <= 0:
            continue
        print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format()[-2 * FRAMES:]:
            print("     ", line)


if __name__ == "__main__":
    diff(sys.argv[1], sys.argv[2], first=int(sys.argv[3]) if len(sys.argv) > 3 else 1)
