"""The worker's garbage-collector policy while users start (runtime/worker.py ramp_heap), checked in a child
process: importing the worker imports Locust, which patches the process with gevent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import gc, json
from loadorch.runtime.worker import QUICK_RAMP_S, ramp_heap
seen, alive = {}, []
for name, ramp_s in (("quick", 5.0), ("long", QUICK_RAMP_S * 10)):
    frozen = gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # objects made while users start (all kept alive)
    alive.append(kept)
    try:
        with ramp_heap(ramp_s):
            seen[name + "_during"] = gc.isenabled()
            kept += [[i] for i in range(1000)]
            if name == "quick":
                raise RuntimeError("the spawn loop ended by an error")
    except RuntimeError:
        pass
    seen[name + "_after"] = gc.isenabled()
    seen[name + "_frozen"] = gc.get_freeze_count() - frozen >= 2000
print(json.dumps(seen))
"""


def test_a_quick_ramp_runs_without_the_collector_and_leaves_it_on_with_the_users_frozen() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"quick_during": False, "quick_after": True, "quick_frozen": True,
                    "long_during": True, "long_after": True, "long_frozen": True}
