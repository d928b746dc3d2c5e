"""Time from `loadorch run` to the first request, where it goes, and the CPU a run spends (numbers, not a test).

Usage: python3 benchmarks/startup.py [--rounds 5] [--workers 2] [--against OTHER_CHECKOUT] [--cold]
Runs `loadorch run` (2 local workers, 2 users, 2 s, embedded target) in a child process whose embedded
target notes the wall-clock time of every request it answers, and which notes when the controller had
imported loadorch, when it wrote the run plan, when it had started the Locust processes and when the
master said every worker had connected (its `started` event). The parent notes when it started the child
and when the child's exit code arrived, and the CPU seconds of the child and everything it started (its
processes are waited for, so their CPU counts in the parent's children's usage). Prints, per round and as
medians: start -> first request and its phases, last request -> exit code, CPU seconds per run.
LOADORCH_REPO=path measures another checkout with the same harness; --against PATH measures this one and PATH
in alternate rounds (a fair ratio on a shared machine); --cold sets LOADORCH_COLD_START=1 (one cold process
per master and worker, not forked from the fork server) on the rounds of this checkout.
Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(os.environ.get("LOADORCH_REPO") or Path(__file__).resolve().parent.parent)
SCENARIO = "name: startup\nusers:\n  - name: u\n    think_time: 0.05\n    requests: [{name: health, path: /health}]\n"
PROFILE = "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {{users: 2, duration: 2s}}\nworkers: {workers}\n"
PHASES = ("imported", "planned", "spawned", "started", "first")
LABELS = {
    "imported": "python started, loadorch.cli imported",
    "planned": "configuration, controller imports, target, preflight, plan",
    "spawned": "master and workers started (forked: once imported)",
    "started": "every worker's hello (the master's `started`)",
    "first": "the first request",
}
# the child: loadorch's own entry point, with the embedded target's handler noting each request's time and
# a few of the controller's steps wrapped to note when they happened (names looked up where they exist)
CHILD = """
import importlib.abc, importlib.util, sys, time
marks = {"imported": 0.0, "planned": 0.0, "spawned": 0.0, "started": 0.0}
from loadorch.target import server
stamps = []
dispatch = server._Handler._dispatch
def noted(self):
    stamps.append(time.time())
    dispatch(self)
server._Handler._dispatch = noted
def wrap_after(module, name, mark, when=lambda out, *a: True):
    inner = getattr(module, name)
    def wrapped(*a, **k):
        out = inner(*a, **k)
        if when(out, *a) and not (mark == "started" and marks[mark]):
            marks[mark] = time.time()
        return out
    setattr(module, name, wrapped)
def patch_controller(m):
    wrap_after(m, "write_plan", "planned")
def patch_processes(m):
    wrap_after(m.ProcessGroup, "start", "spawned")
    wrap_after(m, "parse_event", "started", lambda event, *a: type(event).__name__ == "Started")
PATCHES = {"loadorch.run.controller": patch_controller, "loadorch.run.processes": patch_processes}
class Patcher(importlib.abc.MetaPathFinder):  # wraps the controller's steps as they are imported (not before:
    def find_spec(self, name, path, target=None):  # `loadorch run` imports them when it needs them)
        if name not in PATCHES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            PATCHES[name](module)
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Patcher())
from loadorch.cli import main
marks["imported"] = time.time()
try:
    code = main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        first, last = (stamps[0], stamps[-1]) if stamps else (0, 0)
        fh.write(" ".join(str(v) for v in (*marks.values(), first, last)) + "\\n")
try:  # as the `loadorch` command ends (loadorch.cli.console_main), where it does so
    from loadorch.fastexit import exit_now
except ImportError:
    exit_now = sys.exit
exit_now(code)
"""


def one_round(project: Path, stamps: Path, repo: Path, extra: dict[str, str]) -> tuple[dict[str, float], float, float]:
    """(phase -> seconds since start, cumulative), last request -> exit code, CPU seconds of the run."""
    env = {**os.environ, "PYTHONPATH": str(repo), **extra}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    subprocess.run([sys.executable, "-c", CHILD, str(stamps), "run", "p", "--out", str(project / "out")],
                   cwd=project, env=env, capture_output=True, timeout=120, check=False)
    ended = time.time()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    *marks, first, last = (float(v) for v in stamps.read_text().split())
    if not first:
        raise SystemExit("no request reached the embedded target")
    at = dict(zip(PHASES, (*marks, first)))
    return {k: v - started for k, v in at.items()}, ended - last, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--against", type=Path, default=None, help="another checkout, measured in alternate rounds")
    parser.add_argument("--cold", action="store_true", help="LOADORCH_COLD_START=1 on this checkout's rounds")
    args = parser.parse_args()
    ours = {"LOADORCH_COLD_START": "1"} if args.cold else {}
    runs = [(REPO, ours)] + ([(args.against.resolve(), {})] if args.against else [])
    with tempfile.TemporaryDirectory(prefix="loadorch-startup-") as tmp:
        project = Path(tmp)
        (project / "scenarios").mkdir()
        (project / "profiles").mkdir()
        (project / "scenarios" / "s.yaml").write_text(SCENARIO)
        (project / "profiles" / "p.yaml").write_text(PROFILE.format(workers=args.workers))
        seen: list[list[tuple[dict[str, float], float, float, float]]] = [[] for _ in runs]
        for r in range(args.rounds):
            for i, (repo, extra) in enumerate(runs):
                at, tail, cpu = one_round(project, project / "stamps", repo, extra)
                load = os.getloadavg()[0]
                seen[i].append((at, tail, cpu, load))
                print(f"round {r + 1} {repo}: start -> first request {at['first']:.2f}s, last request -> exit "
                      f"code {tail:.2f}s, CPU {cpu:.2f}s, load average {load:.1f}")
    for (repo, extra), rounds in zip(runs, seen):
        _summary(repo, extra, args.workers, rounds)


def _summary(repo: Path, extra: dict[str, str], workers: int,
             rounds: list[tuple[dict[str, float], float, float, float]]) -> None:
    loads = [r[3] for r in rounds]
    how = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\n{repo} {how}: {workers} workers, embedded target; load average {min(loads):.1f}-{max(loads):.1f}")
    print("median phase (seconds since `loadorch run`, and the step's own):")
    prev = 0.0
    for phase in PHASES:
        at = statistics.median(r[0][phase] for r in rounds)
        print(f"  {LABELS[phase]:<58} at {at:5.2f}s  (+{at - prev:.2f}s)")
        prev = at
    print(f"median start -> first request    {statistics.median(r[0]['first'] for r in rounds):.2f}s")
    print(f"median last request -> exit code {statistics.median(r[1] for r in rounds):.2f}s")
    print(f"median CPU seconds per run       {statistics.median(r[2] for r in rounds):.2f}s "
          "(controller, target, master, workers)")


if __name__ == "__main__":
    main()
