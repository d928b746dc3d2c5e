"""The master's live metrics edge: the /metrics and dashboard servers (gevent) and the remote-write push.

The master calls `tick` about every 100 ms during the run and `finish` with the final stats; the
families are built from the master's merged stats (loadorch.metrics.families), so every series the
workers send, whatever collector recorded it, is exposed and pushed with no extra code.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gevent.pool import Pool
from gevent.pywsgi import WSGIHandler, WSGIServer

from loadorch.config.tags import tag_keys, tag_table
from loadorch.config.thresholds import Threshold
from loadorch.db.gates import db_judge
from loadorch.metrics.families import MAX_METRIC_NAMES, Family, Gauges, build, flatten
from loadorch.metrics.labels import labelled, tag_labels
from loadorch.metrics.remote_write import auth_header, compress, encode_write_request
from loadorch.metrics.tagged import families_from_json
from loadorch.report.record import LoadRecord
from loadorch.report.results import load_timeline, planned_load, timeseries
from loadorch.results import LiveView, LiveWindow, PhaseCount, ThresholdRow
from loadorch.runtime.common import emit
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.tables import Merged
from loadorch.traffic.redact import Redactor
from loadorch.traffic.stages import PHASE_AFTER, PHASE_BEFORE, PHASE_BETWEEN, PHASE_IN, phase_of, window_seconds
from loadorch.verdict.evaluate import ThresholdResult, evaluate
from loadorch.wire import (
    MetricsGrace,
    MetricsPlan,
    MetricsReport,
    Plan,
    Serving,
    SummaryWritten,
)

if TYPE_CHECKING:
    from loadorch.metrics.pusher import RemoteWriter


class MasterView(Protocol):
    """What live metrics read of the master's state (runtime/master.py's MasterState), so the two modules
    do not import each other: the merged stats, the load samples and the workers' arrival counters."""

    merged: Merged
    workers: dict[int, Any]

    @property
    def load_samples(self) -> Sequence[Sequence[float]]: ...

    def live(self) -> list[Any]: ...


log = logging.getLogger("loadorch.master")
PUSH_INTERVAL_S = 5.0
FINAL_PUSH_WAIT_S = 10.0
FINAL_RESULTS_WAIT_S = 15.0
IDLE_S = 10.0  # a /metrics or live-page connection that sends nothing for this long is closed
CONNECTIONS = 32  # served at once; more wait to be accepted


class IdleClosing(WSGIHandler):
    """Closes a connection idle for IDLE_S: a scraper's connection that sent nothing kept its greenlet and file
    descriptor for as long as the run (a monitor: days) went on, so connections from a network could spend the
    master's descriptors (the ones it needs for its workers and files)."""

    def handle(self) -> None:
        self.socket.settimeout(IDLE_S)
        super().handle()


WINDOW_WORDS = {
    "before": "not open yet",
    "open": "open now",
    "between": "between spans",
    "after": "closed",
    "closed": "closed",
}


def window_phase(spans: Sequence[Sequence[float]], elapsed: float) -> str:
    """ "before", "open", "between" (spans) or "after": where `elapsed` falls in the measurement window."""
    phase = phase_of([(float(a), float(b)) for a, b in spans], elapsed)
    return {PHASE_IN: "open", PHASE_BEFORE: "before", PHASE_AFTER: "after", PHASE_BETWEEN: "between"}[phase]


def rate_at(stages: Sequence[Sequence[float]], t: float) -> float:
    """The open model's scheduled arrival rate at `t` seconds (stages: start rate, end rate, seconds)."""
    t0 = 0.0
    for a, b, d in stages:
        if t < t0 + d:
            return a + (b - a) * (t - t0) / d if d > 0 else b
        t0 += d
    return 0.0


class LiveMetrics:
    def __init__(self, plan: Plan, state: MasterView, thresholds: Sequence[Threshold]) -> None:
        assert plan.metrics is not None
        self.cfg: MetricsPlan = plan.metrics
        self.plan = plan
        self.state = state
        self.thresholds = list(thresholds)
        self.run = (self.cfg.run_id, self.cfg.profile, self.cfg.scenario)
        self.edges = tuple(self.cfg.edges_us)
        self.table_edges = {k: list(v) for k, v in self.cfg.table_edges.items()}
        self.results: list[ThresholdResult] = []
        self.gauges = Gauges(workers_expected=plan.workers)
        self.finished = False
        self.servers: list[WSGIServer] = []
        self.writer: RemoteWriter | None = None
        self.last_tick = 0.0
        self.next_push = PUSH_INTERVAL_S
        self.dispatched = (0.0, 0)
        self.extra: tuple[tuple[int, int], list[Family]] = ((0, 0), [])
        # the request names labelled, the same from one scrape to the next (metrics/families.py)
        self.names = EndpointNames(MAX_METRIC_NAMES, plan.endpoint_names[:MAX_METRIC_NAMES])
        self.redactor = Redactor(plan.secrets)
        # free tags as labels: the run's (--tag) on every series, the files' on their requests' series
        self.tag_labels = tag_labels(tag_keys(plan.scenario, plan.tags), first=plan.tags)
        self.tag_table = tag_table(plan.scenario, plan.tags)
        self.run_tags = {**plan.tags, **plan.scenario.tags}
        generations = state.merged.generations
        if generations is not None:  # a monitor's retired tables keep exactly what these families' buckets count
            generations.edges = {"series": self.edges, "timings": self.edges, **self.table_edges}

    def start(self) -> None:
        from loadorch.metrics.dashboard import dashboard_app
        from loadorch.metrics.exposition import metrics_app

        if self.cfg.port is not None:
            port = self._serve(self.cfg.bind or "127.0.0.1", self.cfg.port, metrics_app(self.families))
            emit(Serving(what="metrics", url=f"http://{self.cfg.bind or '127.0.0.1'}:{port}/metrics"))
        if self.cfg.dashboard:
            title = f"{self.run[1]} / {self.run[2]}"
            app = dashboard_app(title, self.live_doc, lambda: self.finished, self.redactor.obj)
            port = self._serve("127.0.0.1", self.cfg.dashboard_port, app)
            emit(Serving(what="dashboard", url=f"http://127.0.0.1:{port}/"))
        if self.cfg.remote_write:
            from loadorch.metrics.pusher import RemoteWriter

            self.writer = RemoteWriter(self.cfg.remote_write, auth_header(os.environ))

    def _serve(self, bind: str, port: int, app: Callable[..., Any]) -> int:
        server = WSGIServer((bind, port), app, log=None, error_log=None, handler_class=IdleClosing,
                            spawn=Pool(CONNECTIONS))
        server.start()
        self.servers.append(server)
        return int(server.server_port)

    def families(self) -> list[Family]:
        """Every family scraped and pushed, the run's secrets masked in its label values (a request name or a
        python user's name can carry one); at most MAX_METRIC_NAMES request names labelled (self.names)."""
        merged = self.state.merged.exported_view()  # a monitor's too: the whole run's counts, never fewer
        # a monitor's verdict is its controller's, over the rolling window, with the browser vitals and database
        # figures it measures (loadorch_monitor_threshold_*): the master's own of its last generations said no_data
        # for an LCP budget its alert fired on, so a monitor's master exports no threshold families of its own
        results = [] if self.plan.snapshot_path else self.results
        own = build(self.run, merged, self.edges, self.gauges, results, self.table_edges, self.names)
        tagged = labelled(own + self._extra_families(), self.tag_labels, self.run_tags, self.tag_table)
        return [masked(f, self.redactor) for f in tagged]

    def _extra_families(self) -> list[Family]:
        """Families the controller measured (browser vitals), re-read when its file changes."""
        path = self.cfg.extra_path
        if not path:
            return []
        try:
            st = os.stat(path)
            if (st.st_mtime_ns, st.st_size) != self.extra[0]:
                with open(path, encoding="utf-8") as fh:
                    self.extra = ((st.st_mtime_ns, st.st_size), families_from_json(json.load(fh)))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not written yet, or being replaced: serve what was read last
        return self.extra[1]

    def live_doc(self) -> LiveView:
        merged = self.state.merged
        total, failures = merged.counts()
        return LiveView(
            elapsed_s=round(self.gauges.elapsed_s, 3),
            requests=total,
            failures=failures,
            users=self.gauges.users,
            timeseries=timeseries(merged),
            histograms={
                "interval_s": merged.interval_s,
                "interval_step": merged.interval_step,
                "intervals": merged.interval_rows(),
                "series": [],
            },
            load=load_timeline(self._load_record()),
            thresholds=[ThresholdRow.model_validate(r.to_json()) for r in self.results],
            window=self.window_doc() if self.plan.window else None,
        )

    def window_doc(self) -> LiveWindow:
        """The measurement window as results.json has it (report.html's window line reads it: what the
        thresholds judge so far, what they leave out), with where the run is: before, open, between, closed."""
        spans = self.plan.window or []
        elapsed = self.gauges.elapsed_s
        phase = "closed" if self.gauges.finished else window_phase(spans, elapsed)
        merged = self.state.merged
        total, failures = merged.windowed().counts() if merged.window is not None else (0, 0)
        excluded: dict[str, list[int]] = {}  # phase -> [requests, failures]
        for (where, _, ok), h in merged.phases.items():
            row = excluded.setdefault(where, [0, 0])
            row[0] += h.count
            row[1] += 0 if ok else h.count
        return LiveWindow(
            source=WINDOW_WORDS[phase],
            state=phase,
            spans=[(round(a, 3), round(b, 3)) for a, b in spans],
            seconds=round(window_seconds(spans, elapsed), 3),
            of_s=round(sum(b - a for a, b in spans), 3),
            requests=total,
            failures=failures,
            excluded={where: PhaseCount(requests=r, failures=f) for where, (r, f) in excluded.items()},
        )

    def _load_record(self) -> LoadRecord:
        """What the report's load chart is drawn from, as the controller builds it at the end."""
        plan = self.plan
        open_stages = plan.open.stages if plan.open else None
        return planned_load(plan.users, plan.spawn_rate, open_stages, plan.stages, self.state.load_samples)

    def tick(self, elapsed: float, min_samples: int) -> None:
        """About once a second: refresh gauges and threshold states; every few seconds, push."""
        if elapsed - self.last_tick < 1.0:
            return
        self._refresh(elapsed, min_samples, finished=False)
        if self.writer is not None and elapsed >= self.next_push:
            self.next_push = elapsed + PUSH_INTERVAL_S
            self.writer.submit(self._payload())

    def _refresh(self, elapsed: float, min_samples: int, finished: bool) -> None:
        state = self.state
        live = state.live()
        dispatched = sum(w.arrivals.dispatched for w in state.workers.values())
        dropped = sum(w.arrivals.dropped for w in state.workers.values())
        prev_t, prev_n = self.dispatched
        open_model = self.plan.open
        achieved = (dispatched - prev_n) / (elapsed - prev_t) if open_model and elapsed > prev_t else None
        self.dispatched = (elapsed, dispatched)
        self.gauges = Gauges(
            users=0 if finished else sum(w.users for w in live),
            workers_connected=len(live),
            workers_expected=self.plan.workers,
            cpu_by_worker={w.index: w.cpu_samples[-1] for w in live if w.cpu_samples},
            # open model only; 0 once the run has ended (a series that vanished would go stale instead)
            arrival_rate_target=(0.0 if finished else rate_at(open_model.stages, elapsed)) if open_model else None,
            arrival_rate_achieved=(0.0 if finished else achieved) if open_model else None,
            arrivals_dropped=dropped if open_model else None,
            elapsed_s=elapsed,
            finished=finished,
            window_open=(not finished and window_phase(self.plan.window, elapsed) == "open")
            if self.plan.window
            else None,
        )
        # the thresholds as the gate will judge them: with a measurement window, only its samples and seconds
        judged = state.merged.judged_view().windowed()  # a monitor's: its window (stats/generations.py)
        seconds = window_seconds(self.plan.window, elapsed) if self.plan.window else elapsed - judged.judged_from_s
        seconds = max(seconds, 1e-9)
        self.results = evaluate(self.thresholds, judged, min_samples, seconds, db_judge(judged, min_samples, seconds))
        self.last_tick = elapsed

    def _payload(self) -> bytes:
        return compress(encode_write_request(flatten(self.families()), int(time.time() * 1000)))

    def finish(self, elapsed: float, min_samples: int, stop_signal: list[int]) -> MetricsReport:
        """The final values (the same stats and elapsed time the verdict uses, and the gate's threshold
        results once the controller has decided them) and the final push."""
        final = self._gate_results(stop_signal)
        # no yield from here on: a scrape sees the final values all at once (run_finished with them)
        self._refresh(elapsed, min_samples, finished=True)
        if final is not None:
            self.results = final
        self.finished = True
        out: MetricsReport = {
            "threshold_states_from": "master" if final is None else "gate",
            "threshold_states": {f"{r.selector} {r.expression}": r.verdict for r in self.results},
        }
        if self.writer is not None:
            report = self.writer.finish(self._payload(), FINAL_PUSH_WAIT_S)
            out["remote_write"] = report.to_json()
        return out

    def _gate_results(self, stop_signal: list[int]) -> list[ThresholdResult] | None:
        path = self.cfg.final_path
        if not path:
            return None
        emit(SummaryWritten(stats_path=self.plan.stats_path, final_path=path))
        deadline = time.monotonic() + FINAL_RESULTS_WAIT_S
        while not os.path.exists(path) and time.monotonic() < deadline and not stop_signal:
            time.sleep(0.05)
        try:
            with open(path, encoding="utf-8") as fh:
                return [ThresholdResult(**r) for r in json.load(fh)]
        except (OSError, ValueError, TypeError) as exc:
            log.warning("final threshold results not available (%s); the metrics show the master's own", exc)
            return None

    def linger(self, stop: Callable[[], bool]) -> None:
        """Keep the endpoint up for the grace period so the final values get scraped."""
        import gevent

        grace = self.cfg.grace_s if self.cfg.port is not None else 0.0
        if self.cfg.dashboard:
            grace = max(grace, 1.5)  # the page's stream sends its last update and `end`
        deadline = time.monotonic() + grace
        next_note = time.monotonic()
        while time.monotonic() < deadline and not stop():
            if time.monotonic() >= next_note:  # also the controller's sign that the master is alive
                emit(MetricsGrace(seconds_left=round(deadline - time.monotonic(), 1)))
                next_note += 5.0
            gevent.sleep(0.1)

    def close(self) -> None:
        for server in self.servers:
            server.stop(timeout=1)


def masked(fam: Family, redactor: Redactor) -> Family:
    """`fam` with the secrets in its label values masked (a copy; `fam` itself may be cached)."""
    if not redactor.secrets:
        return fam
    text = redactor.text
    return dataclasses.replace(
        fam,
        samples=[(tuple(map(text, labels)), v) for labels, v in fam.samples],
        buckets=[(tuple(map(text, labels)), cum, total) for labels, cum, total in fam.buckets],
    )
