"""The master's state without Locust or gevent: the workers it knows, their reports merged, the run's
thresholds judged; runtime/master.py drives it from Locust's message handlers."""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loadorch.config.tags import tag_keys, tag_table
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.runtime.alive import process_state
from loadorch.runtime.common import LOST_AFTER_S, REPORT_INTERVAL_S, emit
from loadorch.runtime.lag import LagMeter
from loadorch.stats.delta import merge_packed
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.histogram import Histogram
from loadorch.stats.loadline import LoadLine
from loadorch.stats.tables import Merged
from loadorch.wire import (
    CPU_SATURATED,
    LOOP_LATE_LIMIT_S,
    MAX_UNANSWERED,
    SILENT_NOTE_S,
    STUCK_AFTER_S,
    Alive,
    Arrivals,
    Hello,
    MasterSummary,
    MetricsReport,
    Plan,
    Ramp,
    StatsMessage,
    StopReason,
    ThresholdJson,
    Unanswered,
    VuFailed,
    VuFailure,
    WorkerDetail,
    WorkerLost,
    WorkersSummary,
    WorkerStuck,
)

if TYPE_CHECKING:
    from loadorch.runtime.live import LiveMetrics

log = logging.getLogger("loadorch.master")
MAX_LOAD_SAMPLES = 600
SUSTAIN_WINDOW = 3  # reports: a worker's CPU is "sustained" over this many (one busy second is not saturation)
MAX_REJECTED = 100  # notes of refused peers and reports kept
SELF_STALL_S = 2.0  # the master's own clock checks this far apart: it was stalled, and gives every worker time again


@dataclass
class WorkerInfo:
    index: int
    client_id: str
    pid: int | None = None
    host: str | None = None
    last_heard: float = 0.0  # when anything came from it (monotonic): liveness, heartbeat, report
    alive_at: float | None = None  # its liveness thread's clock in its latest `lo_alive` during the load
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
    unanswered: list[Unanswered] = field(default_factory=list)  # from its final report (bounded there)
    ramp: Ramp | None = None
    heartbeats: int = 0  # while the load ran
    last_heartbeat: float | None = None
    heartbeat_gap_max_s: float | None = None
    clock_offset_s: float | None = None  # its wall clock less the master's, at its hello
    loop_late_max_s: float | None = None  # measured by its liveness thread, while the load ran
    stuck: bool = False  # its event loop has not run for STUCK_AFTER_S (its latest liveness beat said so)
    cpu_wait: deque[float] = field(default_factory=lambda: deque(maxlen=SUSTAIN_WINDOW))
    cpu_wait_peak: float | None = None  # sustained over SUSTAIN_WINDOW reports
    cpu_wait_full: bool = False
    steal_peak: float | None = None


class MasterState:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.merged = Merged(plan.interval_s, plan.exemplars)
        self.merged.tag_table = tag_table(plan.scenario, plan.tags)
        self.merged.endpoints = EndpointNames(plan.max_endpoints, plan.endpoint_names)
        self.merged.sub_bits = plan.stats_sub_bits  # the workers send the judged tables in this layout
        if plan.rolling_timeline_s:  # a monitor: its timelines hold the latest samples, whatever the time it runs
            self.merged.roll_timelines(plan.rolling_timeline_s)
        self.workers: dict[int, WorkerInfo] = {}
        self.proven: set[str] = set()  # client ids of the workers above: one lookup per message
        self.by_client: dict[str, WorkerInfo] = {}
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
        self.load = LoadLine(MAX_LOAD_SAMPLES)
        # load reports from a saturated or starved worker, and all load reports, since the start: a monitor's
        # snapshot carries them, so its rolling windows know whether their latencies include the generator's delay
        self.limited_reports = [0, 0]
        log_path = plan.request_log_path
        self.request_log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self.last_check: float | None = None  # when check_lost last ran, and when the master last resumed
        self.resumed = 0.0
        self.host = socket.gethostname()

    def elapsed(self) -> float:
        if self.started_mono is None:
            return 0.0
        return (self.ended_mono or time.monotonic()) - self.started_mono

    def on_hello(self, client_id: str, data: Any) -> None:
        try:
            hello = Hello.model_validate(data)
        except ValidationError:
            self.note_rejected(f"{client_id}: not a loadorch worker's hello")
            return
        if hello.token != self.plan.token:
            self.note_rejected(f"{client_id}: wrong run token")
            log.warning("ignored a worker without this run's token (%s)", client_id)
            return
        index = hello.index
        if not 0 <= index < self.plan.workers:
            self.note_rejected(f"{client_id}: worker index {index!r} out of range")
            return
        if index in self.workers and self.workers[index].client_id != client_id:
            self.note_rejected(f"{client_id}: worker index {index} already taken")
            return
        info = self.workers[index] = self.by_client[client_id] = WorkerInfo(
            index, client_id, hello.pid, hello.host, last_heard=time.monotonic()
        )
        if hello.clock is not None:
            info.clock_offset_s = round(hello.clock - time.time(), 3)
        self.proven.add(client_id)

    def on_heartbeat(self, client_id: str) -> None:
        """A worker's heartbeat (Locust's, once a second) reached the master. Counted while the load runs,
        from the start to the stop: a long silence means Locust's master would take the worker for missing
        (its heartbeats queued behind a busy loop on either side)."""
        info = self.by_client.get(client_id)
        if info is None:
            return
        now = time.monotonic()
        self._heard(info, now)
        if self.started_mono is None or self.stop_reason is not None:
            return
        self._heartbeat_silence(info, now)
        info.heartbeats += 1
        info.last_heartbeat = now

    def on_alive(self, data: Any) -> None:
        """A worker's liveness thread (runtime/alive.py): the process lives, however late its reports are.
        A gap between two beats (by the worker's own clock, so not the master's delay in reading them) of
        SILENT_NOTE_S or more while the load ran is a silence: the whole process stopped for that long."""
        try:
            alive = Alive.model_validate(data)
        except ValidationError:
            return
        info = self.workers.get(alive.index)
        if info is None or alive.token != self.plan.token:
            return
        self._heard(info, time.monotonic())
        if self.started_mono is None or self.stop_reason is not None:
            return
        if info.alive_at is not None and alive.at - info.alive_at >= SILENT_NOTE_S:
            info.silent_s = max(info.silent_s, alive.at - info.alive_at)
        info.alive_at = alive.at
        self._loop_behind(info, alive.late)

    def _loop_behind(self, info: WorkerInfo, late: float) -> None:
        """How far behind the worker's event loop is, by its liveness thread: a loop that does not run sends no
        report to say so (its lateness, into the peak the generator check reads), and is stuck past STUCK_AFTER_S."""
        if late > 0:
            info.loop_late_max_s = max(info.loop_late_max_s or 0.0, late)
        if late < STUCK_AFTER_S:
            info.stuck = False
        elif not info.stuck:
            info.stuck = True
            at = round(self.elapsed(), 1)
            log.warning("worker %d stuck at %ss: its event loop has not run for %.0fs", info.index, at, late)
            emit(WorkerStuck(index=info.index, at_s=at, behind_s=round(late, 1)))

    def _heard(self, info: WorkerInfo, now: float) -> None:
        """Something came from the worker; a worker taken for lost came back (its late data still counts, once)."""
        if info.lost_at_s is not None:
            info.silent_s = max(info.silent_s, now - info.last_heard)
            info.lost_at_s = None
            log.warning("worker %d is back after %.1fs of silence", info.index, now - info.last_heard)
        info.last_heard = now

    def end_heartbeats(self) -> None:
        """At the stop: a silence that lasts to the stop counts as a gap too."""
        now = time.monotonic()
        for info in self.workers.values():
            if info.lost_at_s is None:
                self._heartbeat_silence(info, now)

    def _heartbeat_silence(self, info: WorkerInfo, now: float) -> None:
        """The silence since the worker's last heartbeat (or the start), into its longest."""
        since = info.last_heartbeat if info.last_heartbeat is not None else self.started_mono
        if since is not None:
            info.heartbeat_gap_max_s = max(info.heartbeat_gap_max_s or 0.0, now - since)

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
        self._heard(info, time.monotonic())
        info.seq = msg.seq
        folded_before = bool(self.merged.endpoints.folded)
        self.merged.add_decoded(info.index, delta)
        if not folded_before and self.merged.endpoints.folded:
            log.warning("%s", self.merged.endpoints.warning())
        for _, keys, packed in delta.rows("intervals"):  # the progress line's p95 (coarse: 0.8 %)
            by_kind = self.ok_by_kind
            merge_packed(
                [by_kind.setdefault(keys[i][1], Histogram()) if keys[i][2] else Histogram() for i in packed.ids], packed
            )
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
            _starvation(info, msg)
            self.limited_reports[0] += _limited(info, msg)
            self.limited_reports[1] += 1
        info.done = msg.done
        if msg.ramp is not None:
            info.ramp = msg.ramp
        info.arrivals = msg.arrivals
        for failure in msg.vu_failures:
            log.error("virtual user %d (%s) stopped: %s", failure.slot, failure.user_class, failure.error)
            emit(VuFailed(failure=failure))
        info.vu_failures += msg.vu_failures
        if msg.unanswered and len(info.unanswered) < MAX_UNANSWERED:
            info.unanswered += msg.unanswered[: MAX_UNANSWERED - len(info.unanswered)]
        if msg.final:
            info.final_total = msg.total

    def refuse(self, client_id: str, what: str) -> None:
        """A report not merged (malformed): logged, and noted in the summary (bounded)."""
        log.warning("ignored %s from %s", what, client_id)
        self.note_rejected(f"{client_id}: {what}, ignored")

    def note_rejected(self, note: str) -> None:
        """A refused peer or report, for the summary: at most MAX_REJECTED notes (a local process sending
        hellos in a loop must not grow the master's memory and results.json)."""
        if len(self.rejected) < MAX_REJECTED:
            self.rejected.append(note)

    def check_lost(self) -> None:
        """The lost-versus-slow rule (wire.LOST_AFTER_S): a worker is lost when nothing at all has come from it
        for LOST_AFTER_S (its liveness thread beats every second whatever its event loop does, so only a
        stopped or dead process is that silent), or after SILENT_NOTE_S when its process is gone from this
        machine. Silence is counted only while the master keeps up: not while reports wait to be read, and
        from its own resumption when its clock stalled (the queue it did not read may hold their beats)."""
        now = time.monotonic()
        if self.last_check is not None and now - self.last_check > SELF_STALL_S:
            self.resumed = now
        self.last_check = now
        if self.behind():
            return
        for info in self.workers.values():
            if info.final_total is not None or info.lost_at_s is not None:
                continue
            quiet = now - max(info.last_heard, self.resumed)
            gone = quiet >= SILENT_NOTE_S and self._process_gone(info)
            if quiet >= LOST_AFTER_S or gone:
                info.lost_at_s = round(self.elapsed(), 1)
                why = "its process is gone" if gone else f"nothing from its process for {LOST_AFTER_S:g}s"
                log.warning("worker %d lost: %s", info.index, why)
                emit(WorkerLost(index=info.index, at_s=info.lost_at_s, reason=why))

    def _process_gone(self, info: WorkerInfo) -> bool:
        """A worker on this machine whose process no longer exists (or is a zombie)."""
        if info.pid is None or info.host != self.host:
            return False
        return process_state(info.pid) in (None, "Z")

    def sample_load(self, elapsed: float) -> None:
        """One point of the load timeline: live users and the arrival counters summed over all workers
        (bounded and thinned as stats/loadline.py says, in memory taken at the start)."""
        workers = self.workers.values()
        arrivals = [
            sum(w.arrivals.scheduled for w in workers),
            sum(w.arrivals.dispatched for w in workers),
            sum(w.arrivals.dropped for w in workers),
        ]
        self.load.add([round(elapsed, 2), sum(w.users for w in self.live()), *arrivals])

    @property
    def load_samples(self) -> list[list[float]]:
        return self.load.points()

    def iterations_done(self, browsers_done: bool) -> bool:
        """`iterations` end the run once every HTTP worker has sent its users' requests (or was lost, or is stuck:
        its loop will send nothing more) and, with browser users, once the controller said every browser page
        walked its journeys (`browsers_done`: the browsers report to the controller's sink, and it tells the
        master with SIGUSR1)."""
        if not self.plan.iterations:
            return False
        workers = self.workers.values()
        over = all(w.done or w.lost_at_s is not None or w.stuck for w in workers)
        http_done = not self.plan.workers or (bool(workers) and over)
        return http_done and (self.plan.browser is None or browsers_done)

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
                        unanswered=w.unanswered,
                        ramp=w.ramp,
                        heartbeats=w.heartbeats,
                        heartbeat_gap_max_s=None if w.heartbeat_gap_max_s is None else round(w.heartbeat_gap_max_s, 3),
                        clock_offset_s=w.clock_offset_s,
                        loop_late_max_s=w.loop_late_max_s,
                        cpu_wait_peak=w.cpu_wait_peak,
                        steal_peak=w.steal_peak,
                    )
                    for w in sorted(self.workers.values(), key=lambda w: w.index)
                ],
            ),
        )


# how a worker connects, then proves the token: message type -> the data type Locust's / our handler expects
def _sustained(w: WorkerInfo) -> float:
    """Peak of a moving average over SUSTAIN_WINDOW reports (the average, with fewer reports)."""
    samples = w.cpu_samples
    if len(samples) < SUSTAIN_WINDOW:
        return round(sum(samples) / len(samples), 1) if samples else 0.0
    return round(w.cpu_sustained_peak, 1)


def _limited(info: WorkerInfo, msg: StatsMessage) -> bool:
    """This report's worker is saturated now (its CPU over CPU_SATURATED, averaged over its last SUSTAIN_WINDOW
    reports) or its event loop fell more than LOOP_LATE_LIMIT_S behind since its last report."""
    samples = info.cpu_samples
    hot = len(samples) == SUSTAIN_WINDOW and sum(samples) / SUSTAIN_WINDOW > CPU_SATURATED
    return hot or (msg.loop_late_s or 0.0) > LOOP_LATE_LIMIT_S


def _starvation(info: WorkerInfo, msg: StatsMessage) -> None:
    """A load report's measures of the worker's event loop and CPU (runtime/alive.py) into its peaks."""
    if msg.loop_late_s is not None:
        info.loop_late_max_s = max(info.loop_late_max_s or 0.0, msg.loop_late_s)
    if msg.cpu_wait is not None:  # like the CPU: one busy second is no starvation
        info.cpu_wait.append(msg.cpu_wait)
        average = round(sum(info.cpu_wait) / len(info.cpu_wait), 1)
        full = len(info.cpu_wait) == SUSTAIN_WINDOW
        info.cpu_wait_peak = max(info.cpu_wait_peak or 0.0, average) if full and info.cpu_wait_full else average
        info.cpu_wait_full = info.cpu_wait_full or full
    if msg.steal is not None:
        info.steal_peak = max(info.steal_peak or 0.0, msg.steal)


def _parse_thresholds(plan: Plan) -> list[Threshold]:
    out = []
    free = tag_keys(plan.scenario, plan.tags)
    for t in plan.thresholds:
        sel = parse_selector(t.selector, free)
        out.append(Threshold(sel, parse_expression(t.expression, sel.metric), t.abort_on_fail, t.delay_abort_eval_s))
    return out
