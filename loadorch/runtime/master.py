"""The master process: a Locust master that starts, watches and stops the workers and merges their stats."""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gevent
import zmq
from locust.env import Environment
from locust.rpc import Message
from pydantic import ValidationError

from loadorch.config.tags import tag_keys, tag_table
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.db.gates import db_judge
from loadorch.runtime.common import FINAL_WAIT_S, LOST_AFTER_S, REPORT_INTERVAL_S, emit, watch_parent, write_json_atomic
from loadorch.runtime.lag import LagMeter
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.delta import merge_packed
from loadorch.verdict.evaluate import evaluate, should_abort
from loadorch.verdict.histogram import Histogram
from loadorch.verdict.stats import Merged
from loadorch.wire import (
    Aborted,
    Arrivals,
    Done,
    Hello,
    Listening,
    MasterSummary,
    MetricsReport,
    Plan,
    ProgressEvent,
    Start,
    Started,
    StatsMessage,
    StopReason,
    ThresholdJson,
    VuFailed,
    VuFailure,
    WorkerDetail,
    WorkerLost,
    WorkersMissing,
    WorkersSummary,
)

if TYPE_CHECKING:
    from loadorch.runtime.live import LiveMetrics

log = logging.getLogger("loadorch.master")
MAX_LOAD_SAMPLES = 600
SUSTAIN_WINDOW = 3  # reports: a worker's CPU is "sustained" over this many (one busy second is not saturation)
FINAL_WAIT_CAP_S = 6 * FINAL_WAIT_S  # a master still merging a backlog of reports waits for it this long at most


@dataclass
class WorkerInfo:
    index: int
    client_id: str
    pid: int | None = None
    last_seen: float = field(default_factory=time.monotonic)
    seq: int = 0
    users: int = 0
    users_peak: int = 0
    cpu_peak: float = 0.0
    cpu_samples: deque[float] = field(default_factory=lambda: deque(maxlen=SUSTAIN_WINDOW))  # the last ones
    cpu_sustained_peak: float = 0.0  # the peak of the moving average over SUSTAIN_WINDOW reports
    done: bool = False
    final_total: int | None = None
    lost_at_s: float | None = None
    silent_s: float = 0.0
    duplicates: int = 0
    arrivals: Arrivals = field(default_factory=Arrivals)
    vu_failures: list[VuFailure] = field(default_factory=list)


class MasterState:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.merged = Merged(plan.interval_s)
        self.merged.tag_table = tag_table(plan.scenario, plan.tags)
        self.workers: dict[int, WorkerInfo] = {}
        self.proven: set[str] = set()  # client ids of the workers above: one lookup per message
        self.lag = LagMeter(REPORT_INTERVAL_S)
        self.last_merge = time.monotonic()
        self.ok_by_kind: dict[str, Histogram] = {}  # successful latencies per kind, kept as reports come
        self.behind: Any = lambda: False  # whether reports are waiting to be read (set by run_master)
        self.rejected: list[str] = []
        self.t0: float | None = None
        self.started_mono: float | None = None
        self.ended_mono: float | None = None  # frozen at the end: the summary and the metrics agree
        self.metrics: LiveMetrics | None = None
        self.metrics_report: MetricsReport | None = None
        self.stop_reason: StopReason | None = None
        self.aborted_by: ThresholdJson | None = None
        self.load_samples: list[list[float]] = []
        log_path = plan.request_log_path
        self.request_log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115

    def elapsed(self) -> float:
        if self.started_mono is None:
            return 0.0
        return (self.ended_mono or time.monotonic()) - self.started_mono

    def on_hello(self, client_id: str, data: Any) -> None:
        try:
            hello = Hello.model_validate(data)
        except ValidationError:
            self.rejected.append(f"{client_id}: not a loadorch worker's hello")
            return
        if hello.token != self.plan.token:
            self.rejected.append(f"{client_id}: wrong run token")
            log.warning("ignored a worker without this run's token (%s)", client_id)
            return
        index = hello.index
        if not 0 <= index < self.plan.workers:
            self.rejected.append(f"{client_id}: worker index {index!r} out of range")
            return
        if index in self.workers and self.workers[index].client_id != client_id:
            self.rejected.append(f"{client_id}: worker index {index} already taken")
            return
        self.workers[index] = WorkerInfo(index, client_id, hello.pid)
        self.proven.add(client_id)

    def on_stats(self, client_id: str, data: Any) -> None:
        try:
            msg = StatsMessage.model_validate(data)
        except ValidationError:
            self.refuse(client_id, "a malformed stats report")
            return
        if msg.token != self.plan.token:
            return
        info = self.workers.get(msg.index)
        if info is None or info.client_id != client_id:
            return
        if msg.seq <= info.seq:
            info.duplicates += 1
            return
        try:  # the whole delta checked before any of it is merged: a bad report leaves no trace
            delta = self.merged.decode(info.index, msg.delta)
        except ValueError as exc:
            self.refuse(client_id, f"stats report {msg.seq} of worker {info.index}: {exc}")
            return
        now = time.monotonic()
        gap = now - info.last_seen
        if info.lost_at_s is not None or gap > LOST_AFTER_S:
            info.silent_s = max(info.silent_s, gap)
            info.lost_at_s = None  # it came back: its late data still counts, once (seq)
        info.seq = msg.seq
        info.last_seen = now
        self.merged.add_decoded(info.index, delta)
        for _, keys, packed in delta.rows("intervals"):  # the progress line's p95 (coarse: 0.8 %)
            by_kind = self.ok_by_kind
            merge_packed([by_kind.setdefault(keys[i][1], Histogram()) if keys[i][2] else Histogram()
                          for i in packed.ids], packed)
        self.last_merge = time.monotonic()
        self.lag.record(msg.sent_at, time.time())
        if self.request_log is not None and msg.log:
            self.request_log.write("".join(msg.log))
        info.users = msg.users
        info.users_peak = max(info.users_peak, msg.spawned)
        if not msg.stopping:  # after the stop a worker's CPU goes to unwinding its users, not to load
            info.cpu_samples.append(msg.cpu)
            info.cpu_peak = max(info.cpu_peak, msg.cpu)
            if len(info.cpu_samples) == SUSTAIN_WINDOW:
                info.cpu_sustained_peak = max(info.cpu_sustained_peak, sum(info.cpu_samples) / SUSTAIN_WINDOW)
        info.done = msg.done
        info.arrivals = msg.arrivals
        for failure in msg.vu_failures:
            log.error("virtual user %d (%s) stopped: %s", failure.slot, failure.user_class, failure.error)
            emit(VuFailed(failure=failure))
        info.vu_failures += msg.vu_failures
        if msg.final:
            info.final_total = msg.total

    def refuse(self, client_id: str, what: str) -> None:
        """A report not merged (malformed): logged, and noted in the summary (bounded)."""
        log.warning("ignored %s from %s", what, client_id)
        note = f"{client_id}: {what}, ignored"
        if len(self.rejected) < MAX_REJECTED:
            self.rejected.append(note)

    def check_lost(self) -> None:
        """Workers silent for LOST_AFTER_S are lost; not while reports wait to be read (the master is behind,
        and their reports may be in the queue)."""
        if self.behind():
            return
        now = time.monotonic()
        for info in self.workers.values():
            if info.final_total is None and info.lost_at_s is None and now - info.last_seen > LOST_AFTER_S:
                info.lost_at_s = round(self.elapsed(), 1)
                log.warning("worker %d stopped reporting", info.index)
                emit(WorkerLost(index=info.index, at_s=info.lost_at_s))

    def sample_load(self, elapsed: float) -> None:
        """One point of the load timeline: live users and the arrival counters summed over all workers."""
        workers = self.workers.values()
        arrivals = [
            sum(w.arrivals.scheduled for w in workers),
            sum(w.arrivals.dispatched for w in workers),
            sum(w.arrivals.dropped for w in workers),
        ]
        self.load_samples.append([round(elapsed, 2), sum(w.users for w in self.live()), *arrivals])
        if len(self.load_samples) > 2 * MAX_LOAD_SAMPLES:  # long runs: keep every other point, bounded
            self.load_samples = self.load_samples[::2]

    def live(self) -> list[WorkerInfo]:
        return [w for w in self.workers.values() if w.lost_at_s is None]

    def summary(self) -> MasterSummary:
        return MasterSummary(
            merged=self.merged.to_json(),
            t0=self.t0,
            elapsed_s=round(self.elapsed(), 3),
            stop_reason=self.stop_reason,
            aborted_by=self.aborted_by,
            load=self.load_samples,
            rejected_peers=self.rejected,
            metrics=self.metrics_report,
            stats_lag=self.lag.summary(),
            workers=WorkersSummary(
                expected=self.plan.workers,
                seen=sorted(self.workers),
                detail=[
                    WorkerDetail(
                        index=w.index,
                        pid=w.pid,
                        users_peak=w.users_peak,
                        cpu_peak=w.cpu_peak,
                        cpu_sustained_peak=_sustained(w),
                        reported=self.merged.per_worker.get(w.index, 0),
                        final_total=w.final_total,
                        lost_at_s=w.lost_at_s,
                        silent_s=round(w.silent_s, 1),
                        duplicates=w.duplicates,
                        arrivals=w.arrivals,
                        vu_failures=w.vu_failures,
                    )
                    for w in sorted(self.workers.values(), key=lambda w: w.index)
                ],
            ),
        )


# how a worker connects, then proves the token: message type -> the data type Locust's / our handler expects
UNPROVEN_ALLOWED: dict[str, type] = {"client_ready": str, "lo_hello": dict}
MAX_REJECTED = 100


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


def _sustained(w: WorkerInfo) -> float:
    """Peak of a moving average over SUSTAIN_WINDOW reports (the average, with fewer reports)."""
    samples = w.cpu_samples
    if len(samples) < SUSTAIN_WINDOW:
        return round(sum(samples) / len(samples), 1) if samples else 0.0
    return round(w.cpu_sustained_peak, 1)


def _parse_thresholds(plan: Plan) -> list[Threshold]:
    out = []
    free = tag_keys(plan.scenario, plan.tags)
    for t in plan.thresholds:
        sel = parse_selector(t.selector, free)
        out.append(Threshold(sel, parse_expression(t.expression, sel.metric), t.abort_on_fail, t.delay_abort_eval_s))
    return out


def run_master(plan: Plan) -> int:
    watch_parent()
    state = MasterState(plan)
    env = Environment(user_classes=[], stop_timeout=0)
    master = plan.master
    runner = env.create_master_runner(master.host, master.port)
    admit_proven_peers_only(runner, state)  # before any greenlet runs: the listener has not received yet
    state.behind = lambda: bool(int(runner.server.socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN)
    runner.register_message("lo_hello", lambda environment, msg, **kw: state.on_hello(msg.node_id, msg.data))

    def on_stats(environment: Environment, msg: Any, **kw: Any) -> None:
        state.on_stats(msg.node_id, msg.data)
        gevent.sleep(0)  # a burst of reports must not starve the run's clock (stop, progress, lost workers)

    runner.register_message("lo_stats", on_stats)
    stop_signal: list[int] = []
    gevent.signal_handler(signal.SIGTERM, lambda: stop_signal.append(signal.SIGTERM))
    gevent.signal_handler(signal.SIGINT, lambda: stop_signal.append(signal.SIGINT))
    emit(Listening(port=master.port))
    if plan.metrics is not None:
        from loadorch.runtime.live import LiveMetrics  # only then: its imports cost every run start time

        state.metrics = LiveMetrics(plan, state, _parse_thresholds(plan))
        state.metrics.start()

    deadline = time.monotonic() + plan.worker_connect_timeout_s
    while len(state.workers) < plan.workers and time.monotonic() < deadline and not stop_signal:
        gevent.sleep(0.05)
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

    state.t0 = time.time()
    state.started_mono = time.monotonic()
    emit(Started(t0=state.t0, workers=sorted(state.workers)))
    runner.send_message("lo_start", Start(t0=state.t0).to_json())
    _watch(state, plan, stop_signal)
    state.sample_load(state.elapsed())
    runner.send_message("lo_stop", {})
    stopped = time.monotonic()
    while any(w.final_total is None for w in state.live()):  # while reports still come, their finals may follow
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


def _watch(state: MasterState, plan: Plan, stop_signal: list[int]) -> None:
    thresholds = _parse_thresholds(plan)
    aborting = [t for t in thresholds if t.abort_on_fail]
    duration = plan.duration_s
    next_report = 0.0
    last_total = 0
    while True:
        gevent.sleep(0.1)
        elapsed = state.elapsed()
        state.check_lost()
        if state.metrics is not None:
            state.metrics.tick(elapsed, plan.min_samples)
        if stop_signal:
            state.stop_reason = "interrupted"
            return
        if duration is not None and elapsed >= duration:
            state.stop_reason = "duration"
            return
        if (
            plan.iterations
            and state.workers
            and all(w.done or w.lost_at_s is not None for w in state.workers.values())
        ):
            state.stop_reason = "iterations"
            return
        if not state.live():
            state.stop_reason = "all workers lost"
            return
        if elapsed >= next_report:
            next_report = elapsed + REPORT_INTERVAL_S
            total = state.merged.total
            _progress(state, elapsed, total - last_total)
            state.sample_load(elapsed)
            last_total = total
            if aborting:
                judged = state.merged.windowed()  # with a measurement window, only its samples count
                seconds = window_seconds(plan.window, elapsed) if plan.window else elapsed
                results = evaluate(thresholds, judged, plan.min_samples, max(seconds, 1e-9),
                                   db_judge(judged, plan.min_samples, max(seconds, 1e-9)))
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
