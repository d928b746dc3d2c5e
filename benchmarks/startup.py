"""Time from `loadorch run` to the first request, where it goes, and the CPU a run spends (numbers, not a test).

Usage: python3 benchmarks/startup.py [--rounds 5] [--workers 2] [--against OTHER_CHECKOUT] [--cold]
Runs `loadorch run` (2 local workers, 2 users, 2 s, embedded target) in a child process whose embedded
target notes the monotonic time of every request it answers and, at the first one, the CPU seconds spent so
far by the controller and every process under it (the fork server, master, workers: /proc). Every process of
the run notes the phases it reaches (LOADORCH_TRACE_START=FILE, loadorch/starttrace.py: the controller's
imports, configuration, target, preflight and plan; the fork server's imports; each forked process's plan,
bind, connect, hello and start). Prints, per round and as medians: each phase's time since `loadorch run`
(a worker's phase: the later of the workers, which the master waits for), start -> first request, CPU
seconds before the first request and per run (every process is waited for, so its CPU counts in the
harness's children's usage), last request -> exit code.
LOADORCH_REPO=path measures another checkout with the same harness (an older one without the trace: its
first request and CPU only); --against PATH measures this one and PATH in alternate rounds (a fair ratio on
a shared machine); --cold sets LOADORCH_COLD_START=1 (one cold process per master and worker, not forked
from the fork server) on the rounds of this checkout. The harness byte-compiles each checkout first.
Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import compileall
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
FIRST = "target: first request"
# the child: loadorch's own entry point, with the embedded target's handler noting each request's time, and
# at the first one the CPU seconds of the controller and every process under it
CHILD = """
import os, sys, time
try:  # as `loadorch run` starts: its fork server first, where this checkout does so (loadorch/launch.py)
    from loadorch.launch import early
except ImportError:
    early = None
forks = early(sys.argv[2:], os.environ) if early is not None else None
stamps = []
cpu = [0.0, 0.0]
TICK = os.sysconf("SC_CLK_TCK")
def tree_cpu():
    me, parents, used = os.getpid(), {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        used[int(name)] = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    def under(pid):
        while pid > 1:
            if pid == me:
                return True
            pid = parents.get(pid, 0)
        return False
    return sum(v for pid, v in used.items() if under(pid))
def noted(self):
    if not stamps:
        stamps.append(time.monotonic())
        cpu[0] = tree_cpu()
        own = os.times()
        cpu[1] = own.user + own.system  # the controller's own (with its embedded target)
    else:
        stamps.append(time.monotonic())
    dispatch[0](self)
dispatch = []
import importlib.abc, importlib.util
class NoteRequests(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # the embedded target's handler notes each request, patched as the controller imports it (not before:
    # the run's own imports stay where they are)
    def find_spec(self, name, path=None, target=None):
        if name != "loadorch.target.server":
            return None
        sys.meta_path.remove(self)
        self.spec = importlib.util.find_spec(name)
        return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.__spec__ = self.spec
        module.__file__ = self.spec.origin
        self.spec.loader.exec_module(module)
        dispatch.append(module._Handler._dispatch)
        module._Handler._dispatch = noted
sys.meta_path.insert(0, NoteRequests())
from loadorch.cli import main
try:
    code = main(sys.argv[2:], early=forks) if forks is not None else main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        first, last = (stamps[0], stamps[-1]) if stamps else (0, 0)
        fh.write(f"{os.getpid()} {first} {last} {cpu[0]} {cpu[1]}\\n")
try:  # as the `loadorch` command ends (loadorch.cli.console_main), where it does so
    from loadorch.fastexit import exit_now
except ImportError:
    exit_now = sys.exit
exit_now(code)
"""


class Round:
    def __init__(self, at: dict[str, float], tail: float, cpu_first: tuple[float, float], cpu: float,
                 load: float) -> None:
        self.at, self.tail, self.cpu, self.load = at, tail, cpu, load
        self.cpu_first, self.cpu_controller = cpu_first


def one_round(project: Path, repo: Path, extra: dict[str, str]) -> Round:
    """The phases (seconds since `loadorch run`), last request -> exit code, CPU before the first request and
    per run."""
    stamps, trace = project / "stamps", project / "trace"
    trace.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(repo), "LOADORCH_TRACE_START": str(trace), **extra}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", CHILD, str(stamps), "run", "p", "--out", str(project / "out")],
                   cwd=project, env=env, capture_output=True, timeout=120, check=False)
    ended = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    pid, first, last, cpu_first, cpu_controller = stamps.read_text().split()
    if not float(first):
        raise SystemExit("no request reached the embedded target")
    at = {k: v - started for k, v in _phases(trace, int(pid)).items()}
    at[FIRST] = float(first) - started
    return Round(at, ended - float(last), (float(cpu_first), float(cpu_controller)), cpu, os.getloadavg()[0])


def _phases(trace: Path, controller: int) -> dict[str, float]:
    """`role: phase` -> monotonic time; a worker's phase is the later of the workers' (the master waits for all)."""
    try:
        lines = [line.split(" ", 2) for line in trace.read_text().splitlines()]
    except OSError:
        return {}  # a checkout without the trace
    roles: dict[str, str] = {}
    for _, pid, phase in lines:
        if pid == str(controller):
            roles[pid] = "controller"
        elif phase.startswith(("master ", "worker ", "fork server ")):
            roles.setdefault(pid, phase.split(" ")[0] if not phase.startswith("fork") else "fork server")
    at: dict[str, float] = {}
    for stamp, pid, phase in lines:
        role = roles.get(pid, "?")
        key = phase if phase.startswith(role) else f"{role}: {phase}"
        at[key] = max(at.get(key, 0.0), float(stamp))
    return at


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--against", type=Path, default=None, help="another checkout, measured in alternate rounds")
    parser.add_argument("--cold", action="store_true", help="LOADORCH_COLD_START=1 on this checkout's rounds")
    args = parser.parse_args()
    ours = {"LOADORCH_COLD_START": "1"} if args.cold else {}
    runs = [(REPO, ours)] + ([(args.against.resolve(), {})] if args.against else [])
    for repo, _ in runs:
        compileall.compile_dir(str(repo / "loadorch"), quiet=1)  # as an installed package is: no compile in the run
    with tempfile.TemporaryDirectory(prefix="loadorch-startup-") as tmp:
        project = Path(tmp)
        (project / "scenarios").mkdir()
        (project / "profiles").mkdir()
        (project / "scenarios" / "s.yaml").write_text(SCENARIO)
        (project / "profiles" / "p.yaml").write_text(PROFILE.format(workers=args.workers))
        seen: list[list[Round]] = [[] for _ in runs]
        for r in range(args.rounds):
            for i, (repo, extra) in enumerate(runs):
                one = one_round(project, repo, extra)
                seen[i].append(one)
                print(f"round {r + 1} {repo}: start -> first request {one.at[FIRST]:.2f}s, CPU before it "
                      f"{one.cpu_first:.2f}s, last request -> exit code {one.tail:.2f}s, CPU {one.cpu:.2f}s, "
                      f"load average {one.load:.1f}", flush=True)
    for (repo, extra), rounds in zip(runs, seen):
        _summary(repo, extra, args.workers, rounds)


def _summary(repo: Path, extra: dict[str, str], workers: int, rounds: list[Round]) -> None:
    loads = [r.load for r in rounds]
    how = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\n{repo} {how}: {workers} workers, embedded target, {len(rounds)} rounds; "
          f"load average {min(loads):.1f}-{max(loads):.1f}")
    print("median phase: seconds since `loadorch run` (the step since the phase above)")
    phases = {k for r in rounds for k in r.at}
    medians = {k: statistics.median(r.at[k] for r in rounds if k in r.at) for k in phases}
    prev = 0.0
    for phase in sorted(phases, key=medians.__getitem__):
        print(f"  | {phase:<42} | {medians[phase]:5.2f} s | +{medians[phase] - prev:.2f} s |")
        prev = medians[phase]
    print(f"median start -> first request        {medians[FIRST]:.2f}s")
    print(f"median CPU seconds before it         {statistics.median(r.cpu_first for r in rounds):.2f}s "
          "(controller, fork server, master, workers); the controller's own "
          f"{statistics.median(r.cpu_controller for r in rounds):.2f}s")
    print(f"median CPU seconds per run           {statistics.median(r.cpu for r in rounds):.2f}s")
    print(f"median last request -> exit code     {statistics.median(r.tail for r in rounds):.2f}s")


if __name__ == "__main__":
    main()
