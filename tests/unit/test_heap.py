"""loadorch/heap.py: the arena limit and the trims (glibc; a child process, whose heap the test may change)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadorch.heap import ARENAS, Trimmer

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, threading
from loadorch.heap import limit_arenas, trim
from tests.integration.helpers import thread_arenas
limited = limit_arenas()
go = threading.Barrier(8)
def churn():
    go.wait()  # all at once: glibc gives a thread meeting a locked arena an arena of its own
    for _ in range(300):
        kept = [bytes(70_000) for _ in range(8)]  # buffers above the small-object allocator, as a relay's reads
        del kept
threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"limited": limited, "arenas": thread_arenas(__import__("os").getpid()), "trimmed": trim()}))
"""


def test_a_process_with_the_limit_keeps_its_threads_buffers_in_two_arenas() -> None:
    """Eight threads allocating at once: with the limit one arena besides the main one (without it glibc
    makes one per thread that meets contention, up to 8 per core: the browser worker had 8 or 9)."""
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["limited"] is True and seen["arenas"] <= ARENAS - 1, seen


def test_the_trimmer_trims_once_a_minute_not_at_every_tick() -> None:
    calls: list[int] = []
    trimmer = Trimmer(1000.0, 60.0, lambda: calls.append(1) is None)
    for k in range(2 * 180 + 1):  # three minutes of the browser worker's half-second joins
        trimmer.tick(1000.0 + k / 2)
    assert len(calls) == trimmer.trims == 3
