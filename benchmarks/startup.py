"""Time from `loadorch run` to the first request, and from the last request to the exit code (numbers, not a test).

Usage: python3 benchmarks/startup.py [--rounds 5] [--workers 2]
Runs `loadorch run` (2 local workers, 2 users, 2 s, embedded target) in a child process whose embedded
target notes the wall-clock time of every request it answers; the parent notes when it started the
child and when the child's exit code arrived. Prints, per round and as medians: start -> first
request, last request -> exit code. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(os.environ.get("LOADORCH_REPO") or Path(__file__).resolve().parent.parent)
SCENARIO = "name: startup\nusers:\n  - name: u\n    think_time: 0.05\n    requests: [{name: health, path: /health}]\n"
PROFILE = "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {{users: 2, duration: 2s}}\nworkers: {workers}\n"
# the child: loadorch's own entry point, with the embedded target's handler noting each request's time
# (LOADORCH_REPO=path measures another checkout, e.g. an older commit, with the same harness)
CHILD = """
import sys, time
from loadorch.target import server
stamps = []
dispatch = server._Handler._dispatch
def noted(self):
    stamps.append(time.time())
    dispatch(self)
server._Handler._dispatch = noted
from loadorch.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        fh.write(f"{stamps[0] if stamps else 0} {stamps[-1] if stamps else 0}\\n")
try:  # as the `loadorch` command ends (loadorch.cli.console_main), where it does so
    from loadorch.fastexit import exit_now
except ImportError:
    exit_now = sys.exit
exit_now(code)
"""


def one_round(project: Path, stamps: Path) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.time()
    subprocess.run([sys.executable, "-c", CHILD, str(stamps), "run", "p", "--out", str(project / "out")],
                   cwd=project, env=env, capture_output=True, timeout=120, check=False)
    ended = time.time()
    first, last = (float(v) for v in stamps.read_text().split())
    if not first:
        raise SystemExit("no request reached the embedded target")
    return first - started, ended - last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loadorch-startup-") as tmp:
        project = Path(tmp)
        (project / "scenarios").mkdir()
        (project / "profiles").mkdir()
        (project / "scenarios" / "s.yaml").write_text(SCENARIO)
        (project / "profiles" / "p.yaml").write_text(PROFILE.format(workers=args.workers))
        starts, ends = [], []
        for r in range(args.rounds):
            first, tail = one_round(project, project / "stamps")
            starts.append(first)
            ends.append(tail)
            print(f"round {r + 1}: start -> first request {first:.2f}s, last request -> exit code {tail:.2f}s")
    print(f"load average {os.getloadavg()[0]:.1f}; {args.workers} workers, embedded target")
    print(f"median start -> first request   {statistics.median(starts):.2f}s")
    print(f"median last request -> exit code {statistics.median(ends):.2f}s")


if __name__ == "__main__":
    main()
