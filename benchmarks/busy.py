"""A busy machine is not a lost worker (issue 33): the 10,000-user run beside CPU hogs on both cores, and a
worker SIGSTOPped past the lost bound, with what the master and the workers' liveness threads saw.

Usage: python3 benchmarks/busy.py [--hogs 8] [--seconds 40] [--only quiet,busy,stopped]
  quiet    10,000 users, 2 s think time, spawn_rate 2000 (a 5 s ramp), one worker pinned to core 0, nginx on
           core 1: the baseline (exit 0 expected)
  busy     the same beside --hogs busy-loop processes spread over both cores (load average ~10): exit 0 or 6,
           never 5 (a starved worker is slow, not lost)
  stopped  beside the hogs too: 2 workers x 1,000 users, worker 1 SIGSTOPped for LOST_AFTER_S + 5 s, then
           resumed: exit 5, worker 1 lost with its reason
Needs nginx (apt-get install nginx-light). Numbers, not assertions; traffic to 127.0.0.1 only; every hog ends
by itself after --hog-limit seconds even if this script dies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from generators import REPO, SCENARIO, Nginx, cores

sys.path.insert(0, str(REPO))  # this checkout's loadorch, as the runs below use (not an installed copy)
from loadorch.wire import LOST_AFTER_S

SECTIONS = ("quiet", "busy", "stopped")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def say(text: str) -> None:
    print(text, flush=True)


def start_hogs(n: int, limit_s: float) -> list[subprocess.Popen[bytes]]:
    """`n` busy loops at normal priority, alternately pinned to core 0 and core 1."""
    loop = f"import time\nend = time.monotonic() + {limit_s}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen(["taskset", "-c", str(i % 2), sys.executable, "-c", loop]) for i in range(n)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    for hog in hogs:
        hog.kill()
    for hog in hogs:
        hog.wait()


def project(tmp: Path, url: str, users: int, workers: int, seconds: int) -> Path:
    root = tmp / f"project-{time.monotonic_ns()}"
    (root / "scenarios").mkdir(parents=True)
    (root / "profiles").mkdir()
    (root / "scenarios" / "bench.yaml").write_text(SCENARIO.format(wait=2))
    (root / "profiles" / "bench.yaml").write_text(  # the defaults: a saturated or starved generator is inconclusive
        f"scenario: ../scenarios/bench.yaml\nhost: {url}\nload: {{users: {users}, duration: {seconds}s, "
        f"spawn_rate: 2000}}\nworkers: {workers}\nseed: 1\nmin_samples: 1\n")
    return root


def workers_of(pid: int) -> dict[int, int]:
    """worker index -> pid of the workers a controller started (their environment names it)."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = dict(kv.split(b"=", 1) for kv in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        if env.get(b"LOADORCH_PARENT_PID") == str(pid).encode() and b"LOADORCH_WORKER_INDEX" in env:
            found[int(env[b"LOADORCH_WORKER_INDEX"])] = int(entry)
    return found


def run(root: Path, core: str, timeout: float, stop_worker: int | None = None) -> tuple[int, dict[str, Any], str]:
    """`loadorch run bench` pinned to `core`; with `stop_worker`, that worker is SIGSTOPped 10 s into the load
    for LOST_AFTER_S + 5 s. (exit code, results.json, its stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    argv = ["taskset", "-c", core, sys.executable, "-m", "loadorch", "run", "bench", "--out", str(root / "out")]
    with open(root / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            if stop_worker is not None:
                deadline = time.monotonic() + 60
                while stop_worker not in workers_of(proc.pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                pid = workers_of(proc.pid)[stop_worker]
                time.sleep(10)
                os.kill(pid, signal.SIGSTOP)
                say(f"  worker {stop_worker} (pid {pid}) stopped for {LOST_AFTER_S + 5:g} s")
                time.sleep(LOST_AFTER_S + 5)
                os.kill(pid, signal.SIGCONT)
            code = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
        err.seek(0)
        text = err.read()
    return code, json.loads((root / "out" / "results.json").read_text()), text


def report(name: str, code: int, doc: dict[str, Any], stderr: str) -> list[str]:
    integrity = doc.get("integrity", {})
    checks = {c["name"]: c for c in doc.get("checks", [])}
    lost_lines = [line.strip() for line in stderr.splitlines() if " lost at " in line]
    say(f"  exit {code} ({doc.get('verdict')}), {doc['totals']['rps']:.0f} req/s, stop {integrity.get('stop_reason')},"
        f" workers lost {integrity.get('workers_lost')}  load avg {load_average()}")
    for line in lost_lines:
        say(f"  controller: {line}")
    for check in ("workers", "generator cpu"):
        if check in checks:
            say(f"  {check}: {checks[check]['verdict']}: {checks[check]['message']}")
    rows = []
    for w in integrity.get("per_worker", []):
        say(f"  worker {w['index']}: CPU sustained {w['cpu_sustained_peak']} %, event loop up to "
            f"{w.get('loop_late_max_s')} s behind, waited for a CPU {w.get('cpu_wait_peak')} % (sustained), steal "
            f"{w.get('steal_peak')} %, silent {w['silent_s']} s, heartbeats {w.get('heartbeats')} (longest "
            f"silence {w.get('heartbeat_gap_max_s')} s), users {w['users_peak']}")
        rows.append(f"w{w['index']}: loop {w.get('loop_late_max_s')} s late, CPU {w['cpu_sustained_peak']} %, "
                    f"wait {w.get('cpu_wait_peak')} %, silent {w['silent_s']} s")
    return [name, f"{code} ({doc.get('verdict')})", f"{len(integrity.get('workers_lost') or [])}", "; ".join(rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hogs", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--hog-limit", type=float, default=600.0)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if shutil.which("nginx") is None:
        print("nginx is not installed: apt-get install nginx-light (or nginx)", file=sys.stderr)
        return 2
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "loadorch")], check=False,
                   stdout=subprocess.DEVNULL)
    gen_core, target_core = cores()
    tmp = Path(tempfile.mkdtemp(prefix="loadorch-busy-"))
    say(f"machine: {os.cpu_count()} cores; generator on core {gen_core}, nginx on core {target_core}; "
        f"load average at start {load_average()}; lost bound {LOST_AFTER_S:g} s")
    nginx = Nginx(tmp / "nginx", target_core)
    table: list[list[str]] = []
    try:
        if "quiet" in only:
            say(f"\n[quiet] 10,000 users, 2 s think, 5 s ramp, {args.seconds}s, one worker, no hogs")
            table.append(report("10k users, no hogs", *run(project(tmp, nginx.url, 10_000, 1, args.seconds), gen_core,
                                                           args.seconds + 180)))
        for section, users, workers, stop in (("busy", 10_000, 1, None), ("stopped", 1_000, 2, 1)):
            if section not in only:
                continue
            say(f"\n[{section}] {users} users on {workers} worker(s), 2 s think, {args.seconds}s, beside {args.hogs} "
                f"busy loops on both cores" + (f"; worker {stop} SIGSTOPped" if stop is not None else ""))
            hogs = start_hogs(args.hogs, args.hog_limit)
            try:
                time.sleep(5)  # the hogs' share shows in the load average
                say(f"  load average with the hogs {load_average()}")
                name = f"10k users beside {args.hogs} hogs" if stop is None else \
                    f"2 x 500 users beside {args.hogs} hogs, worker 1 stopped {LOST_AFTER_S + 5:g} s"
                table.append(report(name, *run(project(tmp, nginx.url, users, workers, args.seconds), gen_core,
                                               args.seconds + 180, stop)))
            finally:
                stop_hogs(hogs)
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"\nsummary (load average at the end {load_average()})")
    say("| run | exit | lost | per worker |")
    say("| --- | --- | --- | --- |")
    for row in table:
        say("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
