"""Helpers for integration tests: projects against the embedded target, request logs, process scans."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from tests.support.project import Project


def embedded_project(project: Project, scenario: str, profile_extra: str = "", users: int = 4,
                     duration: str = "5s", workers: int = 1) -> Project:
    """`profile_extra`: more lines of the profile, at the left margin."""
    project.write("scenarios/s.yaml", scenario)
    project.write("profiles/p.yaml", textwrap.dedent(f"""
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {{users: {users}, duration: {duration}}}
        workers: {workers}
        seed: 42
        """) + profile_extra)
    return project


def request_log(run_dir: Path) -> list[dict[str, Any]]:
    with open(run_dir / "requests.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def exact_p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = (Decimal(repr(float(pct))) * len(ordered) / 100).to_integral_value(rounding=ROUND_CEILING)
    return ordered[max(1, int(rank)) - 1]  # the exact nearest rank: float products round p(99.9) of 1,000 up


def processes_started_by(pid: int) -> list[int]:
    """PIDs of live processes whose environment says `pid` (a controller) started them."""
    marker = f"LOADORCH_PARENT_PID={pid}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in env and state != b"Z":
            found.append(int(entry))
    return found


def files_of(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_refused_left_nothing(trace: Path, reached: str, root: Path, before: set[str]) -> None:
    """A `loadorch run` refused after its fork server started: the server is gone, nothing new under `root`."""
    lines = [line.split(" ", 2) for line in trace.read_text().splitlines()]
    controller = next(int(pid) for _, pid, phase in lines if phase == "cli imported")
    assert {phase for _, pid, phase in lines if int(pid) == controller} >= {reached, "fork server started"}
    assert processes_started_by(controller) == []  # the fork server and anything it might have started
    after = files_of(root) - {str(trace.relative_to(root))} if trace.is_relative_to(root) else files_of(root)
    assert after == before, after ^ before


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return int(fh.read().rsplit(b")", 1)[1].split()[1])


def _is_fork_server(child: int, pid: int) -> bool:
    try:
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            cmd = fh.read().split(b"\0")
        return b"forkserver" in cmd and parent_of(child) == pid
    except OSError:
        return False


def fork_servers(pid: int) -> list[int]:
    """The fork server a controller started (loadorch/run/forkstart.py), if it did: what it forks shares its
    command line and its environment (as /proc shows them), not its parent."""
    return [child for child in processes_started_by(pid) if _is_fork_server(child, pid)]


def locust_processes(pid: int) -> list[int]:
    """The master and the workers a controller started (cold, or forked by its fork server). One scan of /proc,
    each process judged once: a fork server that finished its exec between two scans was once counted as a
    master (so a test took "the run is launched" for true before the preflight had run)."""
    return [child for child in processes_started_by(pid) if not _is_fork_server(child, pid)]


def master_pid(pid: int) -> int:
    """The master of a run whose workers are all up."""
    workers = worker_pids(pid).values()
    return next(child for child in locust_processes(pid) if child not in workers and not _is_browser_worker(child))


def _is_browser_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"loadorch.browser" in fh.read()
    except OSError:
        return False


def browser_workers(pid: int) -> list[int]:
    """The browser workers a controller started."""
    return [child for child in processes_started_by(pid) if _is_browser_worker(child)]


def thread_arenas(pid: int) -> int:
    """glibc's malloc arenas of a process besides the main one, from /proc/PID/maps: each is an anonymous
    region aligned to and spanning 64 MiB (HEAP_MAX_SIZE), its used part read-write and the rest reserved."""
    rows = []
    with open(f"/proc/{pid}/maps", encoding="ascii") as fh:
        for line in fh:
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            rows.append((start, end, parts[1], parts[5] if len(parts) > 5 else ""))
    found = 0
    for i, (start, end, perms, name) in enumerate(rows):
        if name or not perms.startswith("rw") or start % (64 << 20):
            continue
        if i + 1 < len(rows) and rows[i + 1][0] == end and rows[i + 1][2].startswith("---") and not rows[i + 1][3]:
            end = rows[i + 1][1]
        found += end - start == 64 << 20
    return found


def plan_path_of(process: int) -> str:
    """The run plan of a master or worker: beside its log (its stderr), in the run's scratch folder (a forked
    process's command line is the fork server's, without the plan's path)."""
    return os.path.join(os.path.dirname(os.readlink(f"/proc/{process}/fd/2")), "plan.json")


def worker_pids(pid: int) -> dict[int, int]:
    """worker index -> pid for the workers a controller started: a cold-started worker's environment names its
    index; a forked one (the fork server's environment, which /proc shows for it too) is named `loadorch-wN`."""
    out = {}
    for child in processes_started_by(pid):
        try:
            with open(f"/proc/{child}/environ", "rb") as fh:
                env = dict(kv.split(b"=", 1) for kv in fh.read().split(b"\0") if b"=" in kv)
            with open(f"/proc/{child}/comm", encoding="utf-8") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if b"LOADORCH_WORKER_INDEX" in env:
            out[int(env[b"LOADORCH_WORKER_INDEX"])] = child
        elif comm.startswith("loadorch-w") and comm[len("loadorch-w"):].isdigit():
            out[int(comm[len("loadorch-w"):])] = child
    return out


def start_run(project: Project, *args: str, env: dict[str, str] | None = None,
              profile: str = "p") -> subprocess.Popen[str]:
    """`loadorch run PROFILE ARGS` in the background, for tests that signal or kill parts of a run, or run a few
    at once."""
    return subprocess.Popen([sys.executable, "-m", "loadorch", "run", profile, *args], cwd=project.root,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_workers(proc: subprocess.Popen[str], n: int, timeout: float = 60) -> dict[int, int]:
    """worker index -> pid once all `n` workers of the run are up (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = worker_pids(proc.pid)
        if len(pids) == n:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"{n} workers did not start within {timeout:g}s")


def wait_for_target_writes(url: str, at_least: int = 30, timeout: float = 60, settle: float = 2.5) -> None:
    """Bounded: until the reference target at `url` has applied `at_least` more product writes (it starts
    with seeded products), then `settle` seconds (two report intervals), so every worker has sent the
    master data before the test stops, kills or interrupts anything."""
    import requests

    def products() -> int:
        return int(requests.get(f"{url}/health", timeout=5).json()["products"])

    deadline = time.monotonic() + timeout
    seeded = products()
    while products() < seeded + at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} writes reached the target in {timeout:g}s"
        time.sleep(0.1)
    time.sleep(settle)


def finish(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[str, str]:
    """Its output once the run ends by itself (killed if it outlives `timeout`)."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
    """Signal a process a test started (a monitor runs until one) and wait for it to end, bounded: killed if it
    outlives `timeout`. Its exit code (None where it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def until(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.02) -> bool:
    """Whether `check()` comes true within `timeout` seconds (asked every `every` seconds, and once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return bool(check())


def json_or_none(path: Path) -> dict[str, Any] | None:
    """A JSON object file another process rewrites (a monitor's status.json): None while it is missing or mid-write."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def while_running(what: str, check: Callable[[], Any], proc: subprocess.Popen[str], timeout: float = 60,
                  every: float = 0.3) -> Any:
    """`check()`'s first true value while `proc` (a monitor, a run) still runs; its end, or `timeout` seconds, fail
    the test saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the process ended ({proc.returncode}) while waiting for {what}"
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_gone(pid: int, timeout: float = 10) -> list[int]:
    """The processes `pid` started that are still alive after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while processes_started_by(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return processes_started_by(pid)


def accept_in_threads(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Serve a listening socket in the background: each accepted connection is handled in a thread of its
    own, until the socket is closed."""

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
