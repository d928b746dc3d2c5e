"""One real master, 128 simulated workers x 200 endpoints: the merged result is exactly what they sent
(their series keys numbered two ways, switching every other report, as different or restarted workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

from loadorch.config.resolve import build
from loadorch.run.plan import build_plan, write_plan
from loadorch.run.processes import free_port
from loadorch.wire import FINAL_WAIT_CAP_S, MasterSummary, Plan
from tests.simworkers import Simulation, SimWorker, expected_sum, make_plan, merged_as_expected
from tests.simworkers import project as scale_project
from tests.support.project import Project

from .helpers import finish, start_run

ROOT = Path(__file__).resolve().parents[2]
WORKERS, ENDPOINTS = 128, 200


def test_one_master_merges_exactly_what_128_workers_with_200_endpoints_sent(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    plan = make_plan(tmp_path, WORKERS, ENDPOINTS, 3.0, free_port(), str(stats))
    write_plan(plan, str(tmp_path / "plan.json"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOADORCH_PARENT_PID", None)
    argv = [sys.executable, "-m", "loadorch.runtime", "master", "--plan", str(tmp_path / "plan.json")]
    with open(tmp_path / "master.log", "wb") as log:
        master = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        sim = Simulation(plan, ENDPOINTS, key_orders=2)  # series key ids differ by worker and change mid-run
        try:
            sim.run(timeout_s=150)  # returns when the master said quit to every worker
            assert master.wait(timeout=60) == 0, (tmp_path / "master.log").read_text()[-3000:]
        finally:
            sim.close()
            if master.poll() is None:
                master.kill()
                master.wait()
    assert all(w.quit for w in sim.workers), "the master did not end the run with quit to every worker"
    summary = MasterSummary.model_validate_json(stats.read_text())
    assert summary.stop_reason == "duration"
    sent = sum(len(w.sent) for w in sim.workers)
    assert sent >= WORKERS * 3  # at least two interval reports and the final one from each worker

    same, other = (sim.expected_merged(), expected_sum(sim.variant_sets[1], {w.index: w.sent for w in sim.workers}))
    assert same == other and sim.variant_sets[0][0]["keys"] != sim.variant_sets[1][0]["keys"]  # same data, other ids
    expected, merged = sim.expected_merged(), merged_as_expected(summary.merged)
    for table in ("series", "intervals", "endpoint_intervals", "timings", "errors", "checks", "per_worker"):
        assert merged[table] == expected[table], f"{table}: the master's sum differs from what the workers sent"
    assert len(expected["series"]) > ENDPOINTS and len(expected["intervals"]) >= 6  # reads, writes, failures

    # every report merged once: none lost, none counted twice, every worker's final total seen
    assert summary.stats_lag.messages == sent
    detail = {w.index: w for w in summary.workers.detail}
    assert sorted(detail) == list(range(WORKERS))
    for w in sim.workers:
        d = detail[w.index]
        assert (d.final_total, d.reported, d.duplicates, d.lost_at_s) == (w.total, w.total, 0, None)


# Locust's master socket (a green ROUTER) read by a greenlet as Locust's listener reads it, while another asks
# messages_waiting as often as it can (the master asks before each lost check, the worker each second), and
# a real thread sends N messages as workers do: prints how long the longest one waited to be read
WAITING_RACE = """
import sys
from loadorch.runtime.locust_import import import_locust

import_locust()  # gevent's patching, as in a master or worker process
import gevent, zmq
from locust.rpc.zmqrpc import Server
from loadorch.runtime.alive import messages_waiting
from loadorch.runtime.common import real_thread

N = 50
start_thread, sleep = real_thread()
server = Server("127.0.0.1", 0)
clock = __import__("time").monotonic
sent, read = [], []

def listen():
    while True:
        server.socket.recv_multipart()
        read.append(clock())

def ask():
    while True:
        messages_waiting(server.socket)
        gevent.sleep(0)

def send():  # a plain socket in a real thread: messages arrive whatever the event loop does
    sock = zmq.Context().socket(zmq.DEALER)
    sock.connect(f"tcp://127.0.0.1:{server.port}")
    for _ in range(N):
        sleep(0.05)
        sent.append(clock())
        sock.send(b"report")

gevent.spawn(listen)
gevent.spawn(ask)
start_thread(send, ())
deadline = clock() + N * 0.05 + 20
while len(read) < N and clock() < deadline:
    gevent.sleep(0.05)
print(len(read), max(r - s for s, r in zip(sent, read)))
"""


def test_asking_whether_messages_wait_never_stalls_the_socket_s_reader() -> None:
    """The master asks whether reports wait unread before each lost check (and the worker whether the master's
    messages do): asked with `getsockopt(zmq.EVENTS)` on Locust's green socket, libzmq's notice of a new message
    was taken off the socket's descriptor and the greenlet that reads it slept on, 11.6 s (pyzmq's safety
    timeout) or until the socket next sent: a worker's final report, read after the master's 10 s wait for it,
    was lost. Every message is now read as it comes."""
    done = subprocess.run([sys.executable, "-c", WAITING_RACE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    count, longest = done.stdout.split()
    # a stall is pyzmq's 11.6 s safety timeout: any wait near it is the defect, not a slow machine (11.5 s before)
    assert int(count) == 50 and float(longest) < 5.0, done.stdout


class HeedsStop(Simulation):
    """Simulated workers that note when `lo_stop` came (`stop_heard`) and do not stop at it, their heartbeats
    going on: alive, as a worker whose loop is slow to unwind its users is."""

    def __init__(self, plan: Plan, endpoints: int) -> None:
        super().__init__(plan, endpoints)
        self.stop_heard: float | None = None

    def handle(self, w: SimWorker, raw: bytes) -> None:
        if msgpack.loads(raw, raw=False, strict_map_key=False)[0] == "lo_stop":
            self.stop_heard = self.stop_heard or time.monotonic()
            return
        super().handle(w, raw)


class SlowToUnwind(HeedsStop):
    """Workers that go on reporting for `unwind_s` after `lo_stop`, then send their final: thousands of users
    unwinding on a starved machine (or a master reading a backlog) look so to the master, which waits."""

    def __init__(self, plan: Plan, endpoints: int, unwind_s: float) -> None:
        super().__init__(plan, endpoints)
        self.unwind_s = unwind_s

    def report(self, w: SimWorker, final: bool) -> None:
        final = final or (self.stop_heard is not None and time.monotonic() - self.stop_heard >= self.unwind_s)
        super().report(w, final)
        w.stopped = w.stopped or final


class NeverFinal(HeedsStop):
    """Workers that stop reporting at `lo_stop` and never send their final (a loop blocked while its users
    unwind, a master too far behind to read the final in time): alive, not lost."""

    def report(self, w: SimWorker, final: bool) -> None:
        if self.stop_heard is None:
            super().report(w, final)


def _against_simulated_workers(project: Project, shop_server: str, tmp_path: Path, profile_extra: str,
                               make: Callable[[Plan], HeedsStop], timeout_s: float) -> tuple[HeedsStop, int, str]:
    """A 3-second run of 5 endpoints with `--external-workers`, its one worker simulated by `make(plan)`:
    (the simulation, the run's exit code, its output)."""
    scale_project(project.root, workers=1, endpoints=5, duration_s=3.0)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/scale.yaml\nhost: {shop_server}\n"
                  "load: {users: 2, duration: 3s}\nworkers: 1\n" + profile_extra)
    port, token = free_port(), os.urandom(16).hex()
    plan = build_plan(build("p", str(project.root), {}), shop_server, "127.0.0.1", port, token,
                      str(tmp_path / "unused.json"), None)
    proc = start_run(project, "--out", "o", "--external-workers", "--master-port", str(port),
                     env={"LOADORCH_RUN_TOKEN": token})
    sim = make(plan)
    try:
        sim.run(timeout_s=timeout_s)  # returns when the master said quit, or bounded
        out, err = finish(proc, timeout=60)
    finally:
        sim.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return sim, proc.returncode, out + err


def test_the_controller_waits_for_a_master_that_waits_for_slow_finals(
    project: Project, shop_server: str, tmp_path: Path
) -> None:
    """After the stop the master waits (silent, up to FINAL_WAIT_CAP_S) for finals while reports still come. The
    controller's patience with a silent master was 30 s + the connect timeout: with a 2 s one it said 'the
    Locust master stopped responding' 32 s into that wait and killed the master before it wrote its summary
    (exit 5, nothing measured kept). Now it waits, and the run ends with every report merged."""
    unwind_s = 36.0  # past the old patience (32 s), under FINAL_WAIT_CAP_S
    assert unwind_s + 10 < FINAL_WAIT_CAP_S
    sim, code, said = _against_simulated_workers(project, shop_server, tmp_path, "worker_connect_timeout: 2s\n",
                                                 lambda plan: SlowToUnwind(plan, 5, unwind_s), unwind_s + 40)
    assert "stopped responding" not in said, said
    assert sim.stop_heard is not None and all(w.quit for w in sim.workers), said
    assert code == 0, said
    detail = project.results("o")["integrity"]["per_worker"][0]
    assert detail["final_total"] == detail["reported"] == sim.workers[0].total > 0
    assert detail["lost_at_s"] is None


def test_a_worker_whose_final_never_came_makes_the_run_inconclusive_not_a_pass(
    project: Project, shop_server: str, tmp_path: Path
) -> None:
    """The master stops waiting for a final report (10 s without a report after the stop) from a worker that
    answers but never sends it: its last stretch is missing. Before, nothing said so: '1 of 1 workers ran to
    the end', the thresholds judged on what was merged, exit 0. Now the `worker totals` check is inconclusive."""
    # min_samples 5: a few seconds of simulated reports decide every threshold
    sim, code, said = _against_simulated_workers(project, shop_server, tmp_path, "min_samples: 5\n",
                                                 lambda plan: NeverFinal(plan, 5), 90)
    assert sim.stop_heard is not None, said
    assert code == 6, said
    doc = project.results("o")
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["workers"]["verdict"] == "pass", checks["workers"]  # answering: not lost
    assert checks["worker totals"]["verdict"] == "inconclusive", checks["worker totals"]
    assert "no final report came from worker 0" in checks["worker totals"]["message"]
    assert all(t["verdict"] == "pass" for t in doc["thresholds"]), doc["thresholds"]
