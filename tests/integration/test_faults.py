"""Faults with real processes and a real target: each case of docs/reliability.md has its test here."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import requests
import zmq

from loadorch.wire import LOST_AFTER_S, STUCK_AFTER_S
from tests.support.project import Project, assert_no_traceback

from .helpers import (
    embedded_project,
    finish,
    fork_servers,
    locust_processes,
    master_pid,
    plan_path_of,
    processes_started_by,
    start_run,
    until,
    wait_for_workers,
    wait_until_gone,
)

# think 0.1 s: a steady stream these tests stop, kill or cut off, not a CPU load beside the test in CI
STEADY = "name: steady\nusers:\n  - name: u\n    think_time: 0.1\n    requests:\n      - {name: h, path: /health}\n"
# writes, so the test can see load arrive at the target (its product count) before it kills anything
WRITES = ("name: writes\nusers:\n  - name: u\n    think_time: 0.1\n    requests:\n"
          "      - {name: add, method: POST, path: /products, json: {name: p}}\n")


def shop_project(project: Project, url: str, users: int, duration: str, workers: int) -> Project:
    project.write("scenarios/s.yaml", WRITES)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {url}\n"
                  f"load: {{users: {users}, duration: {duration}}}\nworkers: {workers}\nseed: 42\n")
    return project


def products(url: str) -> int:
    return int(requests.get(f"{url}/health", timeout=5).json()["products"])


def wait_for_reported_load(url: str, at_least: int = 30, timeout: float = 60) -> None:
    """Bounded: until the target has applied `at_least` writes of this run (it starts with seeded
    products), then two report intervals, so every worker has sent the master data before the test
    stops or kills one."""
    deadline = time.monotonic() + timeout
    seeded = products(url)
    while products(url) < seeded + at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} writes reached the target in {timeout:g}s"
        time.sleep(0.1)
    time.sleep(2.5)


class Output:
    """Both pipes of a background run, read as they come: a test waits for a line and still gets it all."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(pipe, into), daemon=True)
                        for pipe, into in ((proc.stdout, self.out), (proc.stderr, self.err))]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(pipe: Any, into: list[str]) -> None:
        for line in pipe:
            into.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.err + self.out):
            assert time.monotonic() < deadline and self.proc.poll() is None, f"no {text!r} within {timeout:g}s"
            time.sleep(0.1)

    def finish(self, timeout: float = 90) -> str:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        for reader in self.readers:
            reader.join(timeout=10)
        return "".join(self.out + self.err)


def test_worker_stopped_past_the_bound_is_lost_and_its_late_data_counts_once(
    project: Project, shop_server: str
) -> None:
    """A worker SIGSTOPped until the master declares it lost (nothing from its process, liveness thread
    included, for LOST_AFTER_S), then resumed: the run is an error (exit 5), its late data merged once. 25 s:
    the loss comes about 3 s (the load seen) + LOST_AFTER_S into the load (12.3 s at a load average of 8), the late
    data a second after."""
    shop_project(project, shop_server, users=4, duration="25s", workers=2)  # worker 0 goes on beside it
    proc = start_run(project, "--out", "o")
    output = Output(proc)
    pids = wait_for_workers(proc, 2)
    wait_for_reported_load(shop_server)
    os.kill(pids[1], signal.SIGSTOP)
    try:
        output.wait_for("worker 1 lost at", timeout=LOST_AFTER_S + 20)
    finally:
        os.kill(pids[1], signal.SIGCONT)
    text = output.finish()
    assert proc.returncode == 5, text
    assert "worker 1 lost at" in text and f"nothing from its process for {LOST_AFTER_S:g}s" in text
    doc = project.results("o")
    detail = {w["index"]: w for w in doc["integrity"]["per_worker"]}
    assert detail[1]["silent_s"] >= LOST_AFTER_S and detail[1]["lost_at_s"] is None  # back, and counted
    assert detail[1]["loop_late_max_s"] < LOST_AFTER_S  # the pause is the process's silence, not loop lateness
    assert detail[1]["final_total"] == detail[1]["reported"] > 0 and detail[1]["duplicates"] == 0
    assert doc["totals"]["requests"] == sum(w["final_total"] for w in detail.values())
    workers = next(c for c in doc["checks"] if c["name"] == "workers")
    assert workers["verdict"] == "error" and "worker 1" in workers["message"] and "lost for a while" in workers["message"]
    totals = next(c for c in doc["checks"] if c["name"] == "worker totals")
    assert totals["verdict"] == "pass"


# writes the target answers in 200 ms, back to back: each user nearly always has one in flight
SLOW_WRITES = ("name: slow-writes\nusers:\n  - name: u\n    requests:\n"
               "      - {name: add, method: POST, path: \"/products?delay_ms=200\", json: {name: p}}\n"
               "thresholds:\n  http_req_duration: [\"max<3000\"]\n")


def test_a_latency_breach_made_by_a_short_pause_of_a_worker_is_inconclusive(project: Project, shop_server: str) -> None:
    """A worker whose whole process is stopped for 5 s (under the lost bound: a frozen VM, a short SIGSTOP) times
    the requests it had in flight across the pause: `max<3000` breaks on the generator's delay, not the
    target's (200 ms). The run is inconclusive (exit 6) and says why; before, the `workers` check was
    inconclusive but the breach stood: exit 1, the target blamed."""
    project.write("scenarios/s.yaml", SLOW_WRITES)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 4, duration: 16s}\nworkers: 1\nseed: 42\n")
    proc = start_run(project, "--out", "o")
    output = Output(proc)
    pids = wait_for_workers(proc, 1)
    wait_for_reported_load(shop_server, at_least=20)
    os.kill(pids[0], signal.SIGSTOP)
    try:
        time.sleep(5.0)  # the fault itself: between SILENT_NOTE_S (3 s) and LOST_AFTER_S
    finally:
        os.kill(pids[0], signal.SIGCONT)
    text = output.finish()
    assert proc.returncode == 6, text
    doc = project.results("o")
    assert doc["integrity"]["workers_lost"] == []
    assert 3.0 <= doc["integrity"]["per_worker"][0]["silent_s"] < LOST_AFTER_S
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["workers"]["verdict"] == "inconclusive"
    judged = next(t for t in doc["thresholds"] if t["expression"] == "max<3000")
    assert judged["observed"] >= 4000, judged  # the pause, in the requests it had in flight
    assert judged["verdict"] == "inconclusive" and "measured by a limited generator (workers:" in judged["message"]


BLOCKER = """
import time
from gevent.monkey import get_original
from locust import User, constant, task

blocking_sleep = get_original("time", "sleep")  # not gevent's: the whole event loop waits


class Blocker(User):
    wait_time = constant(0.05)
    first = None

    @task
    def tick(self):
        now = time.monotonic()
        if Blocker.first is None:
            Blocker.first = now
        elif Blocker.first > 0 and now - Blocker.first > 3:
            Blocker.first = -1.0
            blocking_sleep(BLOCK_S)  # once: no report, no heartbeat, no request for BLOCK_S
        self.environment.events.request.fire(request_type="GET", name="tick", response_time=1.0,
                                             response_length=0, exception=None, context={"kind": "read"})
"""


def test_worker_whose_event_loop_is_blocked_past_the_bound_is_slow_not_lost(project: Project) -> None:
    """A worker process alive but its event loop blocked for longer than LOST_AFTER_S (no report, no Locust
    heartbeat): its liveness thread still beats, so it is not lost (before: lost after 5 s, exit 5); the
    run is inconclusive (exit 6) with the lateness its liveness thread measured."""
    block_s = LOST_AFTER_S + 4
    project.write("scenarios/blocker.py", BLOCKER.replace("BLOCK_S", repr(block_s)))
    scenario = "name: blocked\nusers:\n  - python: blocker.py:Blocker\nmin_samples: 5\n"
    embedded_project(project, scenario, users=1, duration=f"{block_s + 10:g}s")
    r = project.run("run", "p", "--out", "o")
    assert r.code == 6, r.out + r.err
    doc = project.results("o")
    assert doc["integrity"]["workers_lost"] == []
    detail = doc["integrity"]["per_worker"][0]
    assert detail["silent_s"] == 0.0 and detail["loop_late_max_s"] > LOST_AFTER_S
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["workers"]["verdict"] == "pass"
    cpu = checks["generator cpu"]
    assert cpu["verdict"] == "inconclusive" and "worker 0's event loop fell up to" in cpu["message"], cpu


STUCK = """
from gevent.monkey import get_original
from locust import User, constant, task

blocking_sleep = get_original("time", "sleep")  # not gevent's: the whole event loop waits


class Stuck(User):
    wait_time = constant(0.05)
    ticks = 0

    @task
    def tick(self):
        Stuck.ticks += 1
        if Stuck.ticks == 40:  # two seconds in: its first requests are reported
            blocking_sleep(3600)  # for ever, as far as the run goes: no report, no request, no heartbeat
        self.environment.events.request.fire(request_type="GET", name="tick", response_time=1.0,
                                             response_length=0, exception=None, context={"kind": "read"})
"""


STUCK_S = 5.0


def test_an_iterations_run_whose_worker_is_stuck_ends_without_it(project: Project) -> None:
    """An iterations run whose python user blocks its worker's event loop for ever (a blocking call gevent does not
    patch; a busy loop is the same): the worker's liveness thread beats, so it is not lost, and its users never
    finish their iterations. The run waited for them for a day (the controller's budget); it ends once the loop
    has not run for STUCK_AFTER_S, says so, and is inconclusive (6) with the reason in the worker totals check."""
    project.write("scenarios/stuck.py", STUCK)
    project.write("scenarios/s.yaml", "name: stuck\nusers:\n  - python: stuck.py:Stuck\nmin_samples: 1\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, iterations: 100}\n")
    # the bound shortened to 5 s for this run (tests only: wire.STUCK_AFTER_S); at 60 s the test waited a minute
    proc = start_run(project, "--out", "o", env={"LOADORCH_TEST_STUCK_AFTER_S": str(STUCK_S)})
    out, err = finish(proc, timeout=3 * STUCK_AFTER_S)  # a bound on hanging: it ends about STUCK_S in
    assert proc.returncode == 6, out + err
    # the shortened bound was the one applied, not the minute: the line says how long the loop had not run
    behind = re.search(r"worker 0 stuck at [\d.]+s: its event loop has not run for (\d+)s", err)
    assert behind is not None and STUCK_S <= int(behind.group(1)) < STUCK_AFTER_S, err
    assert wait_until_gone(proc.pid) == []
    doc = project.results("o")
    assert doc["integrity"]["workers_lost"] == []
    assert 0 < doc["totals"]["requests"] < 100
    checks = {c["name"]: c for c in doc["checks"]}
    totals = checks["worker totals"]
    assert totals["verdict"] == "inconclusive" and "event loop has not run for" in totals["message"], totals
    assert checks["generator cpu"]["verdict"] == "inconclusive", checks["generator cpu"]
    assert doc["integrity"]["per_worker"][0]["loop_late_max_s"] >= STUCK_S
    assert_no_traceback(type("R", (), {"out": out, "err": err})())  # type: ignore[arg-type]


def test_all_workers_killed_ends_the_run_quickly(project: Project, shop_server: str) -> None:
    shop_project(project, shop_server, users=4, duration="120s", workers=2)
    proc = start_run(project, "--out", "o")
    pids = wait_for_workers(proc, 2)
    wait_for_reported_load(shop_server)
    killed_at = time.monotonic()
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    out, err = finish(proc, timeout=60)
    assert time.monotonic() - killed_at < 20
    assert proc.returncode == 5, out + err
    doc = project.results("o")
    assert doc["run"]["stop_reason"] == "all workers lost" and len(doc["integrity"]["workers_lost"]) == 2
    assert doc["totals"]["requests"] > 0
    assert (project.root / "o" / "junit.xml").exists()
    assert_no_traceback(type("R", (), {"out": out, "err": err})())  # type: ignore[arg-type]


def _write_ends(pipe: str, pids: list[int]) -> list[int]:
    """Which of `pids` hold a descriptor open for writing on `pipe` (`pipe:[inode]`)."""
    out = []
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == pipe:
                    with open(f"/proc/{pid}/fdinfo/{fd}", encoding="utf-8") as fh:
                        flags = int(next(line for line in fh if line.startswith("flags:")).split()[1], 8)
                    if flags & os.O_ACCMODE != os.O_RDONLY:
                        out.append(pid)
        except OSError:
            continue
    return sorted(set(out))


def test_killed_master_is_told_at_once_by_its_output_ending(project: Project, shop_server: str) -> None:
    """The master's events come through a pipe only it writes to, so its death is an end of file: the run ends
    at once, saying the master exited (exit 5). gevent's close (25.8.1+) in the fork server only asked a loop
    that never runs to close its copy, which every worker forked after the master inherited too: the run went on
    for 30 s + the connect timeout, then said the master 'stopped responding' (a monitor: the same)."""
    shop_project(project, shop_server, users=2, duration="120s", workers=2)
    proc = start_run(project, "--out", "o")
    try:
        wait_for_workers(proc, 2)
        master = master_pid(proc.pid)
        pipe = os.readlink(f"/proc/{master}/fd/1")
        assert pipe.startswith("pipe:"), pipe
        # the fork server and the workers hold no write end of it: the master is the only writer
        assert _write_ends(pipe, processes_started_by(proc.pid)) == [master]
        os.kill(master, signal.SIGKILL)
    finally:
        out, err = finish(proc, timeout=120)
    assert proc.returncode == 5, out + err
    assert "the Locust master exited unexpectedly (code -9)" in out + err, out + err
    assert "stopped responding" not in out + err


def test_killed_controller_leaves_no_process_and_no_load(project: Project, shop_server: str) -> None:
    project.write("scenarios/s.yaml", STEADY)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 4, duration: 120s}\nworkers: 2\n")
    proc = start_run(project, "--out", "o")
    wait_for_workers(proc, 2)
    time.sleep(2)
    children = locust_processes(proc.pid)
    assert len(children) == 3
    proc.kill()
    proc.wait(timeout=10)
    assert wait_until_gone(proc.pid) == []
    before = requests.get(f"{shop_server}/health", timeout=5).json()
    time.sleep(1.5)
    after = requests.get(f"{shop_server}/health", timeout=5).json()
    assert before == after  # nothing is sending load any more (health is read-only; counts are stable)


def test_killed_controller_leaves_no_hidden_run_folder_behind(project: Project, shop_server: str) -> None:
    """A run to a folder holding an earlier run sets that one aside (`.o.previous-PID`) until it has
    written its own; SIGKILLed in between, it cannot put it back. The next run to the folder restores
    it (or removes it when the folder holds a newer whole run) and says which."""
    project.write("scenarios/s.yaml", STEADY)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 2, duration: 120s}\nworkers: 1\n")
    # an earlier run's folder (its results.json is what makes it one; a real run writes it in another test)
    earlier = '{"schema": "loadorch.results/v1", "verdict": "pass", "run": {"start": "2000-01-01T00:00:00+00:00"}}'
    project.write("o/results.json", earlier)
    project.write("o/summary.md", "the earlier run\n")

    def kill_a_run_mid_way() -> str:
        proc = start_run(project, "--out", "o")
        wait_for_workers(proc, 1)
        # its scratch folder, found while it runs: once it is killed, any other test's run that starts sweeps the
        # folders of dead owners (beside other tests, this one found none after the kill once)
        scratch.extend(p for p in Path(tempfile.gettempdir()).glob("loadorch-run-*")
                       if (p / "owner").is_file() and (p / "owner").read_text().split()[0] == str(proc.pid))
        assert len(scratch) == 1 and (scratch[0] / "plan.json").exists(), scratch
        proc.kill()
        proc.wait(timeout=10)
        wait_until_gone(proc.pid, timeout=30)  # its master and worker follow it (another test's subject)
        hidden = project.root / f".o.previous-{proc.pid}"
        assert hidden.is_dir() and (hidden / "results.json").exists()
        return hidden.name

    scratch: list[Path] = []  # the killed runs' scratch folders (plan.json with the run's token, the logs)
    hidden = kill_a_run_mid_way()
    assert project.cli("validate", "p").code == 0  # only a run to the folder deals with it
    assert (project.root / hidden).is_dir()
    r = project.run("run", "p", "--iterations", "3", "--out", "other")
    assert r.code == 6 and (project.root / hidden).is_dir(), r.err
    assert not scratch[0].exists()  # the next run removed the killed one's scratch folder
    r = project.run("run", "p", "--iterations", "3", "--out", "o")
    assert r.code == 6, r.err
    assert f"note: restored o from {project.root / hidden}: run {hidden.rsplit('-', 1)[1]} was killed" in r.err
    assert [p.name for p in project.root.iterdir() if p.name.startswith(".o.")] == []
    doc = project.results("o")  # the restored earlier run was then replaced whole by this one
    assert doc["run"]["start"] > "2000-01-01T00:00:00+00:00" and doc["totals"]["requests"] == 6
    assert "the earlier run" not in (project.root / "o" / "summary.md").read_text()

    scratch.clear()
    hidden = kill_a_run_mid_way()
    shutil.rmtree(project.root / "o", ignore_errors=True)
    shutil.copytree(project.root / "other", project.root / "o")  # as if the killed run had written its results
    r = project.run("run", "p", "--iterations", "3", "--out", "o")
    assert r.code == 6, r.err
    assert f"note: removed {project.root / hidden}: an earlier run set aside by run" in r.err
    assert [p.name for p in project.root.iterdir() if p.name.startswith(".o.")] == []
    assert_no_traceback(r)


def test_unknown_host_is_caught_by_preflight(simple_project: Project) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -n` (a network namespace with no route, so no DNS query leaves the machine)")
    done = subprocess.run([unshare, "-n", sys.executable, "-m", "loadorch", "run", "p", "--host",
                           "http://no-such-host.invalid:8080", "--out", "o"], cwd=simple_project.root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 5 and "preflight: cannot resolve host 'no-such-host.invalid'" in done.stdout + done.stderr
    assert simple_project.results("o")["totals"]["requests"] == 0


def test_invalid_host_name_is_a_clean_error(simple_project: Project) -> None:
    r = simple_project.run("run", "p", "--host", "http://" + "a" * 64 + ".example", "--out", "o")
    assert r.code == 5 and "is not a valid host name" in r.out + r.err
    assert_no_traceback(r)


class Blackhole:
    """Accepts TCP connections (the kernel does, from the backlog) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def test_target_that_never_answers_times_out_and_ends_on_schedule(project: Project) -> None:
    hole = Blackhole()
    try:
        project.write("scenarios/s.yaml", STEADY)
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {hole.url}\n"
                      "load: {users: 3, duration: 6s}\nrequest_timeout: 1s\nmin_samples: 5\n")
        started = time.monotonic()
        r = project.run("run", "p", "--out", "o")
        assert time.monotonic() - started < 40
    finally:
        hole.close()
    assert r.code == 1, r.out + r.err
    doc = project.results("o")
    assert doc["run"]["stop_reason"] == "duration"
    assert doc["totals"]["failures"] == doc["totals"]["requests"] > 0
    assert {e["reason"] for e in doc["errors"]} == {"read timeout: no answer within 1s (request_timeout)"}


def test_target_that_never_answers_within_the_run_is_said_not_to_answer(project: Project) -> None:
    """request_timeout (10 s by default) longer than the run: no request ends, so 0 requests, thresholds "no data"
    as if their selector were wrong, and a check that the users "made no request" (check their tasks). The requests
    still waiting at the end are counted and named, and the verdict says the target did not answer."""
    hole = Blackhole()
    try:
        project.write("scenarios/s.yaml", STEADY)
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {hole.url}\n"
                      "load: {users: 3, duration: 3s}\n")
        r = project.run("run", "p", "--out", "o")
    finally:
        hole.close()
    assert r.code == 1, r.out + r.err  # a fail, as the thresholds' no data always was
    assert_no_traceback(r)
    doc = project.results("o")
    assert doc["totals"]["requests"] == 0
    checks = {c["name"]: c for c in doc["checks"]}
    assert "requests" not in checks  # not "the HTTP users made no request": they did
    said = checks["unanswered requests"]
    assert said["verdict"] == "fail", said
    assert said["message"].startswith("the target answered none of the requests: 3 request(s) were still waiting "
                                      "for the target at the end (h 3; the longest for "), said
    assert "request_timeout is 10s" in said["message"] and "set request_timeout under the run's duration" in (
        said["message"])
    waiting = [u for w in doc["integrity"]["per_worker"] for u in w["unanswered"]]
    assert [(u["user"], u["name"], u["count"]) for u in waiting] == [("u", "h", 3)]
    for t in doc["thresholds"]:
        assert t["message"].startswith("no data: no answer: 3 request(s) of "), t
    summary = (project.root / "o" / "summary.md").read_text()
    junit = (project.root / "o" / "junit.xml").read_text()
    for text in (summary, junit, r.out):
        assert "the target answered none of the requests: 3 request(s) were still waiting" in text
        assert "check the selector's tags" not in text


def test_5xx_storm_fails_the_gate_and_cannot_make_latency_look_good(project: Project, shop_server: str) -> None:
    requests.put(f"{shop_server}/_knobs", json={"error_rate": 0.3, "latency_ms": {"orders.create": 40}},
                 timeout=5).raise_for_status()
    scenario = """
name: storm
setup: [{name: p, request: {method: POST, path: /products, json: {name: p}}}]
users:
  - name: u
    requests:
      - {name: order, method: POST, path: /orders, json: {customer: c, product_id: 1}}
thresholds:
  "http_req_duration{kind:write}": ["p(95)<30"]
  "http_req_failed": ["rate<0.01"]
min_samples: 20
"""
    project.write("scenarios/s.yaml", scenario)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\nload: {{users: 4, duration: 30s}}\n")
    r = project.run("run", "p", "--iterations", "25", "--out", "o")
    assert r.code == 1, r.out + r.err
    latency, failed = project.results("o")["thresholds"]
    assert failed["verdict"] == "fail" and 0.25 < failed["observed"] < 0.35
    assert "failures by status: 503:" in failed["message"]
    assert latency["verdict"] == "fail" and latency["observed"] > 30  # fast 503s are not in the latency
    assert "failures by status: 503:" in (project.root / "o" / "junit.xml").read_text()


def test_interrupt_during_setup_writes_partial_artifacts_and_sends_no_load(project: Project) -> None:
    scenario = STEADY + "setup:\n  - {name: slow, repeat: 100, request: {path: \"/health?delay_ms=100\"}}\n"
    embedded_project(project, scenario, users=2, duration="30s")
    proc = start_run(project, "--out", "o")
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    line = ""
    while time.monotonic() < deadline and "setup" not in line:
        line = proc.stderr.readline()
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc, timeout=60)
    assert proc.returncode == 130, out + err
    doc = project.results("o")
    assert doc["verdict"] == "interrupted" and doc["totals"]["requests"] == 0
    setup = next(c for c in doc["checks"] if c["name"] == "setup")
    assert "interrupted during setup" in setup["message"]
    # no master was started: not "what the workers measured is lost ... see logs/master.log" (there is none)
    master = next(c for c in doc["checks"] if c["name"] == "master summary")
    assert master["message"] == ("none: the run ended before its load was started, so nothing was measured and no "
                                 "threshold was judged"), master
    assert processes_started_by(proc.pid) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_a_signal_while_the_database_never_answers_ends_the_run_before_its_connect_timeout(
    project: Project, sig: int, code: int
) -> None:
    """The postgres collector connects and checks its DSN before load; a database that accepts the connection and
    never answers (a black-holed address) held a first signal for the whole connect_timeout (60 s here: the run
    ended after it, a Ctrl-C unheeded). The signal ends the wait: the run ends interrupted, with the reason, and
    its artifacts; no load is sent."""
    pytest.importorskip("psycopg")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        silent.settimeout(60)
        port = silent.getsockname()[1]
        collector = (f'collectors: {{postgres: {{dsn: "postgresql://u:Pw-never-shown-1@127.0.0.1:{port}/db", '
                     "connect_timeout: 60}}\n")
        embedded_project(project, STEADY, profile_extra=collector, users=2, duration="30s")
        proc = start_run(project, "--out", "o")
        try:
            held, _ = silent.accept()  # the collector is connecting: accepted, never answered
            with held:
                proc.send_signal(sig)
                try:  # a bound on hanging, not a timing: without the fix the run ends after the 60 s
                    out, err = proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    pytest.fail("the run still waited for the database 20 s after the signal")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err and "Pw-never-shown-1" not in out + err
    assert f"interrupted while connecting to the database 127.0.0.1:{port}/db" in out + err
    doc = project.results("o")
    assert doc["verdict"] == "interrupted" and doc["totals"]["requests"] == 0
    database = next(c for c in doc["checks"] if c["name"] == "database")
    assert database["verdict"] == "error" and "connect_timeout 60s" in database["message"]
    assert processes_started_by(proc.pid) == []


def test_second_interrupt_stops_at_once_without_leftovers(project: Project) -> None:
    embedded_project(project, STEADY, users=4, duration="120s", workers=2)
    proc = start_run(project, "--out", "o")
    wait_for_workers(proc, 2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    finish(proc, timeout=30)
    assert proc.returncode == 130 and time.monotonic() - stopped < 10
    assert wait_until_gone(proc.pid, timeout=5) == []


def _status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict ({} once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return {k: v.strip() for k, v in (line.split(":", 1) for line in fh if ":" in line)}
    except OSError:
        return {}


def _stopped(pid: int) -> bool:
    return _status(pid).get("State", "").startswith("T")


def _sigterm_pending_or_running(pid: int) -> bool:
    """Whether a stopped process holds a SIGTERM it has not acted on (/proc's pending masks), or runs again
    (or is gone): either way the controller has begun ending the processes."""
    fields = _status(pid)
    if not fields.get("State", "").startswith("T"):
        return True
    pending = int(fields["ShdPnd"], 16) | int(fields["SigPnd"], 16)
    return bool(pending & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("cold", [False, True], ids=["forked", "cold"])
def test_a_second_signal_while_the_processes_are_ended_leaves_no_stopped_worker(project: Project, cold: bool) -> None:
    """A worker SIGSTOPped, then SIGTERM to the run: the graceful stop ends in ProcessGroup.close(), which
    SIGTERMs the groups and waits (a stopped worker does not act on it) before SIGKILL. A second SIGTERM in that
    wait raised HardStop out of close(): no SIGKILL, and the stopped worker (its parent watch cannot run) stayed
    behind, stopped, after the controller ended (143). The second signal is sent once the stopped worker holds
    close()'s SIGTERM, so it lands in that wait."""
    embedded_project(project, STEADY, users=4, duration="120s", workers=2)
    proc = start_run(project, "--out", "o", env={"LOADORCH_COLD_START": "1"} if cold else None)
    pids = wait_for_workers(proc, 2)
    try:
        time.sleep(1)  # the load under way (not a wait on luck: any moment of the load will do)
        os.kill(pids[1], signal.SIGSTOP)
        assert until(lambda: _stopped(pids[1]), timeout=10)  # (SIGSTOP takes effect when the worker is scheduled)
        proc.send_signal(signal.SIGTERM)
        assert until(lambda: _sigterm_pending_or_running(pids[1]), timeout=90), "close() never came"
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc, timeout=60)
        assert proc.returncode == 143, out + err
        assert wait_until_gone(proc.pid, timeout=10) == []
    finally:
        for pid in processes_started_by(proc.pid):  # what a failure left behind: not left to the next tests
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_stopped_master_told_to_stop_keeps_what_it_measured(project: Project) -> None:
    """The master SIGSTOPped (a debugger, a frozen container), then SIGTERM to the run: the controller passed the
    SIGTERM on, which a stopped process does not act on, so the run waited out the master's silence bound (about
    90 s) and killed it, its measurements lost (no requests in results.json). The stop is sent with SIGCONT."""
    embedded_project(project, STEADY, users=2, duration="120s", workers=1)
    proc = start_run(project, "--out", "o")
    wait_for_workers(proc, 1)
    try:
        master = next(pid for pid in processes_started_by(proc.pid) if _comm(pid) == "loadorch-master")
        time.sleep(1.5)  # requests merged by the master (any moment of the load will do)
        os.kill(master, signal.SIGSTOP)
        assert until(lambda: _stopped(master), timeout=10)
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc, timeout=60)  # bounded: the silence bound was about 90 s
        assert proc.returncode == 143, out + err
        doc = project.results("o")
        assert doc["verdict"] == "interrupted" and doc["totals"]["requests"] > 0, doc["totals"]
    finally:
        for pid in processes_started_by(proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def test_a_signal_while_the_fork_server_does_not_answer_ends_the_run(project: Project, tmp_path: Path) -> None:
    """The fork server stopped (SIGSTOP) before it answers, then SIGTERM once the controller asks it for the master:
    the controller waited for its answer up to 300 s a process (master, then each worker), the signal unheeded.
    A signal ends the wait, a server that did not answer is not asked again (the rest start cold): the run ends
    interrupted (143) with its artifacts, no process left. (The bound turns a hang into a failure.)"""
    embedded_project(project, STEADY, users=2, duration="60s", workers=2)
    trace = tmp_path / "trace"  # LOADORCH_TRACE_START: the phases the run went through
    proc = start_run(project, "--out", "o", env={"LOADORCH_TRACE_START": str(trace)})
    servers: list[int] = []
    try:
        assert until(lambda: servers.extend(fork_servers(proc.pid)) or servers, timeout=30), "no fork server"
        os.kill(servers[0], signal.SIGSTOP)
        assert until(lambda: trace.exists() and "plan written" in trace.read_text(), timeout=60), "no plan written"
        time.sleep(0.5)  # (the controller is waiting for the fork server's answer now: any moment of that wait will do)
        proc.send_signal(signal.SIGTERM)
        out, err = finish(proc, timeout=120)
        assert proc.returncode == 143, out + err
        assert project.results("o")["verdict"] == "interrupted"
        assert (project.root / "o" / "junit.xml").exists()
        assert wait_until_gone(proc.pid, timeout=10) == []
    finally:
        for pid in [*servers, *processes_started_by(proc.pid)]:  # what a failure left behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_disk_full_is_a_clear_run_error(project: Project, tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-m", "true"], capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("needs `unshare -m` to mount a tiny tmpfs")
    embedded_project(project, STEADY, users=2)
    full = tmp_path / "full"
    full.mkdir()
    script = (f"mount -t tmpfs -o size=16k tmpfs {full} && "
              f"dd if=/dev/zero of={full}/filler bs=1k count=16 2>/dev/null; "
              f"exec {sys.executable} -m loadorch run p --iterations 3 --out {full}/o")
    done = subprocess.run([unshare, "-m", "sh", "-c", script], cwd=project.root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "No space left on device" in done.stderr and "cannot write" in done.stderr
    assert "Traceback" not in done.stderr


def test_killed_writer_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    """SIGKILL while junit.xml is being replaced: readers see the old file or the new one, never a part."""
    target = tmp_path / "junit.xml"
    old = "<testsuite>old</testsuite>\n"
    target.write_text(old)
    code = ("from loadorch.run.artifacts import write_text; "
            f"write_text({str(target)!r}, '<testsuite>' + 'x' * 200_000_000 + '</testsuite>')")
    caught_mid_write = 0
    for attempt in range(20):
        writer = subprocess.Popen([sys.executable, "-c", code])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(tmp_path.glob(".junit.xml.*.tmp")) and writer.poll() is None:
            time.sleep(0.005)
        time.sleep(0.02 * (attempt % 5))
        writer.kill()
        writer.wait()
        temps = list(tmp_path.glob(".junit.xml.*.tmp"))
        content = target.read_text()
        assert content == old or (content.startswith("<testsuite>x") and content.endswith("</testsuite>"))
        if temps and content == old:
            caught_mid_write += 1
        for t in temps:
            t.unlink()
        target.write_text(old)
        if caught_mid_write >= 3:
            break
    assert caught_mid_write >= 3, "the writer was never killed in the middle of a write"


ROGUE = r'''
import json, sys, time
from locust import __version__
from locust.rpc import Message, zmqrpc
port = int(sys.argv[1])
fake = {"series": [[["u", "h", "read", "GET", 200, True], {"count": 1000000, "sum": 1000000, "min": 1, "max": 1,
        "buckets": [[1, 1000000]]}]], "intervals": [], "errors": [], "total": 1000000}
client = zmqrpc.Client("127.0.0.1", port, "rogue_1")
client.send(Message("client_ready", __version__, "rogue_1"))
time.sleep(0.5)
for index in (0, 1):
    client.send(Message("lo_hello", {"index": index, "token": "forged"}, "rogue_1"))
    client.send(Message("lo_stats", {"index": index, "token": "forged", "seq": 10**6, "delta": fake, "cpu": 0,
                                     "users": 0, "final": True, "total": 0, "log": []}, "rogue_1"))
time.sleep(0.5)
client.close()
'''


def test_foreign_peer_on_the_master_port_cannot_alter_results(project: Project, tmp_path: Path) -> None:
    embedded_project(project, STEADY, users=2, duration="10s", workers=2)
    proc = start_run(project, "--out", "o")
    wait_for_workers(proc, 2)
    plan_path = plan_path_of(master_pid(proc.pid))
    import json

    with open(plan_path) as fh:
        plan = json.load(fh)
    assert plan["master"]["host"] == "127.0.0.1"  # local mode listens on loopback only
    port_hex = f"{plan['master']['port']:04X}"
    deadline = time.monotonic() + 30
    listening: list[str] = []
    while time.monotonic() < deadline and f"0100007F:{port_hex}" not in listening:
        with open("/proc/net/tcp") as fh:
            listening = [line.split()[1] for line in fh.readlines()[1:] if line.split()[3] == "0A"]
        time.sleep(0.1)
    assert f"0100007F:{port_hex}" in listening and f"00000000:{port_hex}" not in listening
    script = tmp_path / "rogue.py"
    script.write_text(ROGUE)
    rogue = subprocess.run([sys.executable, str(script), str(plan["master"]["port"])], capture_output=True, text=True,
                           timeout=60)
    assert rogue.returncode == 0, rogue.stderr
    out, err = finish(proc)
    assert proc.returncode in (0, 6), out + err
    doc = project.results("o")
    assert doc["totals"]["requests"] < 100_000
    assert any("rogue_1" in r and "wrong run token" in r for r in doc["integrity"]["rejected_peers"])
    assert next(c for c in doc["checks"] if c["name"] == "worker totals")["verdict"] == "pass"


class SlowMaster:
    """Plays the master for one real worker process over Locust's channel (a plain ZeroMQ ROUTER): it acks,
    starts the load on the worker's hello, answers heartbeats while `answering`, and counts what comes in."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.answering = True
        self.stats: list[tuple[float, int]] = []  # (when, users) per lo_stats
        self.alive = 0

    def serve(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            if not self.sock.poll(100):
                continue
            ident, raw = self.sock.recv_multipart()
            kind, data, node = msgpack.loads(raw, raw=False, strict_map_key=False)
            reply = {"client_ready": ("ack", {"index": 0}), "lo_hello": ("lo_start", {"t0": time.time()}),
                     "heartbeat": ("heartbeat", None)}.get(kind)
            if kind == "lo_stats":
                self.stats.append((time.monotonic(), data["users"]))
            elif kind == "lo_alive":
                self.alive += 1
            if reply is not None and (self.answering or kind != "heartbeat"):
                self.sock.send_multipart([ident, msgpack.dumps((reply[0], reply[1], node))])

    def close(self) -> None:
        self.sock.close(linger=0)
        self.ctx.term()


def _plan_for(project: Project, shop_server: str, tmp_path: Path, master: SlowMaster) -> None:
    """tmp_path/plan.json: a worker's plan of 2 steady users for up to 120 s, its master `master`."""
    from loadorch.config.resolve import build
    from loadorch.run.plan import build_plan

    project.write("scenarios/s.yaml", STEADY)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 2, duration: 120s}\nworkers: 1\n")
    plan = build_plan(build("p", str(project.root), {}), shop_server, "127.0.0.1", master.port, "tok",
                      str(tmp_path / "s.json"), None)
    (tmp_path / "plan.json").write_text(plan.model_dump_json())


def test_worker_goes_on_while_its_master_is_slow_and_stops_when_it_is_gone(
    project: Project, shop_server: str, tmp_path: Path
) -> None:
    """A master alive but silent (busy merging: no heartbeat for longer than MASTER_SLOW_S, its process and
    connection up) does not stop the worker's users (before: 'no heartbeat from the master for 8s: stopping');
    a master gone (its socket closed: connection refused) stops them, exit 5."""
    from loadorch.runtime.alive import MASTER_DOWN_S, MASTER_SLOW_S

    master = SlowMaster()
    _plan_for(project, shop_server, tmp_path, master)
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-m", "loadorch.runtime", "worker", "--plan",
                               str(tmp_path / "plan.json"), "--index", "0"], stdout=log, stderr=log)
    try:
        master.serve(60, until=lambda: len(master.stats) >= 3)  # connected, started, heartbeats answered
        assert len(master.stats) >= 3 and master.stats[-1][1] == 2, (tmp_path / "worker.log").read_text()
        master.answering = False
        silent_from = time.monotonic()
        # past Locust's (and our old) 8 s: slow, not gone; bounded, over once a report comes 4 s past "slow"
        master.serve(MASTER_SLOW_S + 20, until=lambda: any(at > silent_from + MASTER_SLOW_S + 4 for at, _ in master.stats))
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        late = [users for at, users in master.stats if at > silent_from + MASTER_SLOW_S + 2]
        assert late and all(users == 2 for users in late), master.stats  # its users still run
        assert master.alive > 0
        assert "slow, not gone" in (tmp_path / "worker.log").read_text()
        master.close()
        code = worker.wait(timeout=MASTER_DOWN_S + 30)
        assert code == 5, (tmp_path / "worker.log").read_text()
        assert "the connection to the master has been down" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()
        if not master.sock.closed:
            master.close()


# a worker whose wall clock the test steps: `python -c CLOCK_STEPPED STEP_FILE worker --plan ...`; once STEP_FILE
# exists, time.time() is that many seconds ahead (the monotonic clock goes on as it was, as on a real machine)
CLOCK_STEPPED = """
import math, os, sys, time
wall, mono, path, step = time.time, time.monotonic, sys.argv.pop(1), [0.0, 0.0]  # the step, when to look next
def stepped() -> float:
    if mono() >= step[1]:  # (no thread: one started before gevent patches the process deadlocks its imports)
        step[1] = mono() + 0.05
        if os.path.exists(path):
            with open(path) as fh:
                step[0], step[1] = float(fh.read()), math.inf
    return wall() + step[0]
time.time = stepped
from loadorch.fastexit import exit_now
from loadorch.runtime.entry import main
exit_now(main(sys.argv[1:]))
"""


def test_a_worker_whose_wall_clock_steps_forward_does_not_take_its_master_for_gone(
    project: Project, shop_server: str, tmp_path: Path
) -> None:
    """The worker's wall clock steps 10 minutes forward (NTP, a resumed VM) while its master is busy for 3 s (no
    heartbeat answered, its connection up): the users go on. Before, the master's silence was the wall clock less
    Locust's wall-clock stamp of its last heartbeat: 600 s, 'no message from the master for 60s: stopping',
    the worker's users stopped, exit 5."""
    master = SlowMaster()
    _plan_for(project, shop_server, tmp_path, master)
    step = tmp_path / "clock-step"
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    worker = subprocess.Popen([sys.executable, "-c", CLOCK_STEPPED, str(step), "worker", "--plan",
                               str(tmp_path / "plan.json"), "--index", "0"], stdout=log, stderr=log)
    try:
        master.serve(60, until=lambda: len(master.stats) >= 3)  # connected, started, heartbeats answered
        assert len(master.stats) >= 3 and master.stats[-1][1] == 2, (tmp_path / "worker.log").read_text()
        master.answering = False  # busy a moment: the worker's checker looks at the silence meanwhile
        (tmp_path / "clock-step.tmp").write_text("600")
        os.replace(tmp_path / "clock-step.tmp", step)
        stepped = time.monotonic()
        master.serve(3, until=lambda: worker.poll() is not None)
        master.answering = True
        master.serve(4, until=lambda: worker.poll() is not None)
        text = (tmp_path / "worker.log").read_text()
        assert worker.poll() is None, text
        late = [users for at, users in master.stats if at > stepped + 2]
        assert late and all(users == 2 for users in late), master.stats  # its users still run
        assert "stopping" not in text, text
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()
        master.close()
