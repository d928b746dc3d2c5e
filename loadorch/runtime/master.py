"""The master process: a Locust master that starts, watches and stops the workers and merges their stats."""

from __future__ import annotations

import logging
import signal
import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
from locust.env import Environment
from locust.rpc import Message

from loadorch.db.gates import db_judge
from loadorch.runtime.alive import messages_waiting
from loadorch.runtime.common import FINAL_WAIT_S, REPORT_INTERVAL_S, emit, watch_parent, write_json_atomic
from loadorch.starttrace import mark
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.evaluate import evaluate, should_abort
from loadorch.wire import (
    FINAL_WAIT_CAP_S,  # a master still merging a backlog of reports waits for it this long at most
    Aborted,
    Done,
    Listening,
    Plan,
    ProgressEvent,
    Start,
    Started,
    WorkersMissing,
)

if TYPE_CHECKING:
    pass


from loadorch.runtime.masterstate import (
    MAX_REJECTED,
    MasterState,
    _parse_thresholds,
)

log = logging.getLogger("loadorch.master")


UNPROVEN_ALLOWED: dict[str, type] = {"client_ready": str, "lo_hello": dict}


def admit_proven_peers_only(runner: Any, state: MasterState) -> None:
    """Drop every message from a peer that has not proven the run's token before Locust's handlers see
    it: one of Locust's own messages (`exception` with bad data, `quit`, ...) from any local process
    would otherwise kill the message listener or the run. A worker may only say `client_ready` (Locust
    needs it to register) and `lo_hello` (checked against the token) until it is known."""
    server = runner.server
    receive = server.recv_from_client

    def recv_from_proven() -> Any:
        while True:
            client_id, msg = receive()
            if msg.type == "lo_alive":  # a worker's liveness thread (runtime/alive.py): checked and noted here
                state.on_alive(msg.data)
                continue
            if client_id in state.proven:
                return client_id, msg
            if isinstance(msg.data, UNPROVEN_ALLOWED.get(msg.type, ())):
                return client_id, msg
            note = f"{client_id}: message {msg.type!r} before proving the run token, dropped"
            if note not in state.rejected and len(state.rejected) < MAX_REJECTED:
                state.rejected.append(note)
                log.warning("dropped a %r message from an unproven peer (%s)", msg.type, client_id)

    server.recv_from_client = recv_from_proven
    handle = runner.handle_message

    def handle_safely(client_id: str, msg: Any) -> None:
        try:
            handle(client_id, msg)
        except Exception as exc:  # a malformed message from a proven peer must not end the listener either
            log.warning("ignored a malformed %r message from %s: %s", msg.type, client_id, exc)

    runner.handle_message = handle_safely


def run_master(plan: Plan) -> int:
    watch_parent()
    state = MasterState(plan)
    env = Environment(user_classes=[], stop_timeout=0)
    master = plan.master
    runner = env.create_master_runner(master.host, master.port)
    mark("master bound")
    admit_proven_peers_only(runner, state)  # before any greenlet runs: the listener has not received yet
    state.behind = lambda: messages_waiting(runner.server.socket)
    every_hello = gevent.event.Event()  # set by the last worker's hello: the run starts then, not at a poll's next turn

    def on_hello(environment: Environment, msg: Any, **kw: Any) -> None:
        state.on_hello(msg.node_id, msg.data)
        if len(state.workers) >= plan.workers:
            every_hello.set()

    runner.register_message("lo_hello", on_hello)

    def on_stats(environment: Environment, msg: Any, **kw: Any) -> None:
        state.on_stats(msg.node_id, msg.data)
        gevent.sleep(0)  # a burst of reports must not starve the run's clock (stop, progress, lost workers)

    runner.register_message("lo_stats", on_stats)
    env.events.heartbeat_sent.add_listener(lambda client_id, timestamp, **kw: state.on_heartbeat(client_id))
    stop_signal: list[int] = []
    gevent.signal_handler(signal.SIGTERM, lambda: stop_signal.append(signal.SIGTERM))
    gevent.signal_handler(signal.SIGINT, lambda: stop_signal.append(signal.SIGINT))
    # the controller's word that every browser page walked its journeys: see MasterState.iterations_done
    browsers_done: list[int] = []
    gevent.signal_handler(signal.SIGUSR1, lambda: browsers_done.append(signal.SIGUSR1))
    emit(Listening(port=master.port))
    if plan.metrics is not None:
        from loadorch.runtime.live import LiveMetrics  # only then: its imports cost every run start time

        state.metrics = LiveMetrics(plan, state, _parse_thresholds(plan))
        state.metrics.start()

    deadline = time.monotonic() + plan.worker_connect_timeout_s
    while len(state.workers) < plan.workers and time.monotonic() < deadline and not stop_signal:
        every_hello.wait(0.05)  # (a signal or the deadline is seen within 0.05 s)
    if len(state.workers) < plan.workers:
        missing = sorted(set(range(plan.workers)) - set(state.workers))
        state.stop_reason = "interrupted" if stop_signal else "workers missing"
        write_json_atomic(plan.stats_path, state.summary().to_json())
        emit(
            WorkersMissing(
                connected=len(state.workers),
                expected=plan.workers,
                missing=missing,
                waited_s=plan.worker_connect_timeout_s,
            )
        )
        if state.metrics is not None:
            state.metrics.close()
        runner.quit()
        return 3

    mark("master heard every hello")
    state.t0 = time.time()
    state.started_mono = time.monotonic()
    emit(Started(t0=state.t0, workers=sorted(state.workers)))
    runner.send_message("lo_start", Start(t0=state.t0).to_json())
    mark("master sent lo_start")
    _watch(state, plan, stop_signal, browsers_done)
    state.end_heartbeats()
    state.sample_load(state.elapsed())
    runner.send_message("lo_stop", {})
    stopped = time.monotonic()
    # while reports still come, their finals may follow; none will from a worker whose event loop is stuck
    while any(w.final_total is None and not w.stuck for w in state.live()):
        now = time.monotonic()
        if now > max(stopped, state.last_merge) + FINAL_WAIT_S or now > stopped + FINAL_WAIT_CAP_S:
            break
        gevent.sleep(0.05)
        state.check_lost()
    state.ended_mono = time.monotonic()
    if state.request_log is not None:
        state.request_log.close()
    write_json_atomic(plan.stats_path, state.summary().to_json())
    if state.metrics is not None:
        state.metrics_report = state.metrics.finish(round(state.elapsed(), 3), plan.min_samples, stop_signal)
        write_json_atomic(plan.stats_path, state.summary().to_json())
        state.metrics.linger(lambda: bool(stop_signal))
        state.metrics.close()
    emit(Done(stop_reason=state.stop_reason, elapsed_s=round(state.elapsed(), 3)))
    _quit(runner)
    return 0


def _quit(runner: Any) -> None:
    """MasterRunner.quit without its fixed half-second wait for final stats (they are in: see
    FINAL_WAIT_S above); the workers' quit messages get a moment to leave, then the master ends."""
    runner.stop(send_stop_to_client=False)
    for client in runner.clients.all:
        runner.server.send_to_client(Message("quit", None, client.id))
    gevent.sleep(0.1)
    runner.greenlet.kill(block=True)


def _watch(state: MasterState, plan: Plan, stop_signal: list[int], browsers_done: list[int]) -> None:
    thresholds = _parse_thresholds(plan)
    aborting = [t for t in thresholds if t.abort_on_fail]
    duration = plan.duration_s
    next_report = 0.0
    next_snapshot = 0.0
    last_total = 0
    while True:
        gevent.sleep(0.1)
        elapsed = state.elapsed()
        state.check_lost()
        if plan.snapshot_path and elapsed >= next_snapshot:  # the monitor's rolling windows read these
            next_snapshot = elapsed + plan.snapshot_every_s
            write_json_atomic(plan.snapshot_path, {"at": time.time(), "merged": state.merged.judged_json(),
                                                   "limited_reports": state.limited_reports})
        if state.metrics is not None:
            state.metrics.tick(elapsed, plan.min_samples)
        if stop_signal:
            state.stop_reason = "interrupted"
            return
        if duration is not None and elapsed >= duration:
            state.stop_reason = "duration"
            return
        if state.iterations_done(bool(browsers_done)):
            state.stop_reason = "iterations"
            return
        if plan.workers and not state.live():  # no HTTP worker at all: a browser-only run, timed here
            state.stop_reason = "all workers lost"
            return
        if elapsed >= next_report:
            next_report = elapsed + REPORT_INTERVAL_S
            total = state.merged.total
            _progress(state, elapsed, total - last_total)
            state.sample_load(elapsed)
            last_total = total
            if aborting:
                judged = state.merged.judged_view().windowed()  # a measurement window's samples, a monitor's window
                seconds = window_seconds(plan.window, elapsed) if plan.window else elapsed - judged.judged_from_s
                results = evaluate(
                    thresholds,
                    judged,
                    plan.min_samples,
                    max(seconds, 1e-9),
                    db_judge(judged, plan.min_samples, max(seconds, 1e-9)),
                )
                hit = should_abort(results, elapsed, thresholds)
                if hit is not None:
                    state.stop_reason = "aborted"
                    state.aborted_by = hit.to_json()
                    emit(Aborted(threshold=f"{hit.selector} {hit.expression}", message=hit.message))
                    return


def _progress(state: MasterState, elapsed: float, recent: int) -> None:
    merged = state.merged
    total, failures = merged.counts()

    def p95(kind: str) -> float | None:
        h = state.ok_by_kind.get(kind)
        return None if h is None or h.count == 0 else round(h.percentile(95) / 1000.0, 1)

    emit(
        ProgressEvent(
            elapsed_s=round(elapsed, 1),
            users=sum(w.users for w in state.live()),
            rps=round(recent / REPORT_INTERVAL_S, 1),
            requests=total,
            failures=failures,
            p95_read_ms=p95("read"),
            p95_write_ms=p95("write"),
            lost=[w.index for w in state.workers.values() if w.lost_at_s is not None],
            lag_s=round(state.lag.take_recent_max(), 3),
        )
    )
