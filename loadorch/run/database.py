"""The postgres collector in a run: connect and check before load (unreachable: exit 5), the N+1 probe,
pg_stat_statements snapshots and the duration log around the load window, queries/s while it runs.

Whatever goes wrong here after the preflight becomes a reason in the measurement (its thresholds are
inconclusive), never a lost run: the HTTP results do not depend on the database.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from loadorch.config.collectors import PostgresCollector
from loadorch.config.resolve import RunConfig
from loadorch.db.durationlog import count_slow
from loadorch.db.measure import DbMeasurement, ProbeRow
from loadorch.db.postgres import LogPosition, PgSession
from loadorch.db.servertiming import QueryHeader
from loadorch.db.statements import Snapshot, diff, repeated, top_level_calls, top_statements, window_problem
from loadorch.runtime.vu import LeanRunner
from loadorch.traffic import data as gen
from loadorch.traffic.request import Origin, RequestRunner, compile_request

LOG_SETTLE_S = 2.0  # at most this long for the server's logger to write the window's last lines


class DatabaseCollector:
    def __init__(self, settings: PostgresCollector, interval_s: float) -> None:
        self.settings = settings
        self.interval_s = interval_s
        self.session = PgSession(settings)  # CollectorError (exit 5) when unreachable
        self.ready = self.session.check()
        self.measurement = DbMeasurement(settings.slow_ms, log_source=self.ready.log_source)
        self.measurement.unmeasured = self.ready.unmeasured
        self.measurement.slow_unmeasured = self.ready.slow_unmeasured
        self._before: Snapshot | None = None
        self._log_at: LogPosition | None = None
        self._sampler: threading.Thread | None = None
        self._stop = threading.Event()
        self._began = 0.0
        self._ended = False
        self.windowed = False

    @property
    def where(self) -> str:
        return self.session.where

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        self.session.close()

    # -- the probe ----------------------------------------------------------------------------
    def probe(self, cfg: RunConfig, host: str, should_stop: Callable[[], bool]) -> None:
        """Each declarative request definition sent once, alone, between two snapshots."""
        m = self.measurement
        if not self.settings.probe:
            m.probe_note = "the probe is off (collectors.postgres.probe: false)"
            return
        if m.unmeasured:
            m.probe_note = m.unmeasured
            return
        wanted = cfg.profile.collectors.queries_per_request
        header = QueryHeader(wanted.header, wanted.entry)
        runner = LeanRunner(
            Origin.parse(host),
            cfg.profile.request_timeout,
            cfg.profile.max_response_body,
            query_header=header,
            max_head=cfg.profile.max_response_head,
        )
        rng = random.Random(gen.stream_seed(cfg.seed, "probe"))
        try:
            for user in cfg.scenario.model.users:
                captures = {c for ep in user.requests for c in ep.capture}
                captured: dict[str, Any] = {}
                for ep in user.requests:
                    if should_stop():
                        return
                    req = compile_request(ep, ep.name, ep.effective_kind, captures, cfg.headers)
                    m.probe.append(self._probe_one(runner, req, str(user.name), rng, cfg, captured))
        except Exception as exc:  # the database went away: the probe is lost, the run is not
            m.probe_note = f"the probe stopped: {_reason(exc)}"
        finally:
            runner.close()

    def _probe_one(
        self, runner: RequestRunner, req: Any, user: str, rng: random.Random, cfg: RunConfig, captured: dict[str, Any]
    ) -> ProbeRow:
        row = ProbeRow(req.name, user, req.kind, req.method, None)
        missing = sorted(req.needs - captured.keys())
        if missing:
            return _replace(row, note=f"not probed: needs captured {', '.join(missing)}")
        fixed = {"user": 0, "worker": 0, "iteration": 0, **captured}
        draws = gen.Draws(cfg.scenario.generators, rng, gen.DrawState(slot=0, slots=1), fixed)
        before = self.session.snapshot()
        outcome = runner.run(req, draws, captured)
        after = self.session.snapshot()
        problem = window_problem(before, after, self.ready.max_entries)
        if problem:
            return _replace(row, note=problem)
        deltas = diff(before, after)
        note = "" if outcome.ok else f"the response failed its checks ({outcome.error})"
        return ProbeRow(
            req.name, user, req.kind, req.method, top_level_calls(deltas), outcome.db_queries, repeated(deltas), note
        )

    # -- the load window ----------------------------------------------------------------------
    def begin(self) -> None:
        if self.measurement.unmeasured:
            return
        try:
            if not self.measurement.slow_unmeasured:
                self._log_at = self.session.log_position()
            self._before = self.session.snapshot()
        except Exception as exc:
            self.measurement.unmeasured = f"could not start measuring: {_reason(exc)}"
            return
        self._began = time.monotonic()
        self._sampler = threading.Thread(target=self._sample, name="loadorch-db-sampler", daemon=True)
        self._sampler.start()

    def end(self) -> DbMeasurement:
        """Close the window (once: the controller may close it as soon as the load is over)."""
        m = self.measurement
        if self._ended:
            return m
        self._ended = True
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        if self._before is None:
            if not m.unmeasured:
                m.unmeasured = "no load window was measured (the run stopped before load)"
            return m
        try:
            after = self.session.snapshot()
        except Exception as exc:
            m.unmeasured = f"lost the database at the end of the window: {_reason(exc)}"
            return m
        self.windowed = True
        m.window_s = round(time.monotonic() - self._began, 3)
        deltas = diff(self._before, after)
        m.queries = top_level_calls(deltas)
        m.top = top_statements(deltas)
        problem = window_problem(self._before, after, self.ready.max_entries)
        if problem:
            m.unmeasured = problem
        if not m.slow_unmeasured and self._log_at is not None:
            self._count_slow(self._before.at, after.at)
        return m

    def _count_slow(self, start: str, end: str) -> None:
        m = self.measurement
        assert self._log_at is not None
        try:
            self._settle()
            text = self.session.read_log(self._log_at)
            m.slow = count_slow(text, start, end, self.settings.slow_ms, exclude_app=self.session.app)
        except Exception as exc:
            m.slow_unmeasured = f"cannot read the server's duration log: {_reason(exc)}"

    def _settle(self) -> None:
        """Wait (bounded) until the server's logger has written what the window produced."""
        deadline = time.monotonic() + LOG_SETTLE_S
        last = self.session.log_position()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.session.log_position()
            if now == last:
                return
            last = now

    def _sample(self) -> None:
        """queries/s over time, from a connection of its own (the main one is not shared across threads)."""
        try:
            session = PgSession(self.settings)
        except Exception:
            return
        try:
            start = session.top_level_total()
            t0 = time.monotonic()
            previous = start
            while not self._stop.wait(self.interval_s):
                total = session.top_level_total()
                self.measurement.add_sample(round(time.monotonic() - t0, 1), total - previous)
                previous = total
        except Exception:
            return  # the timeline is a picture; the verdict comes from the snapshots
        finally:
            session.close()


def _replace(row: ProbeRow, note: str) -> ProbeRow:
    return ProbeRow(row.name, row.user, row.kind, row.method, None, None, (), note)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect(cfg: RunConfig) -> DatabaseCollector | None:
    """The run's collector, connected and checked (CollectorError, exit 5, if unreachable), or None."""
    settings = cfg.profile.collectors.postgres
    if settings is None:
        return None
    from loadorch.run.plan import interval_for

    return DatabaseCollector(settings, interval_for(cfg.duration_s))


def measurement_of(collector: DatabaseCollector | None) -> DbMeasurement | None:
    if collector is None:
        return None
    m = collector.measurement
    if not collector.windowed and not m.unmeasured:
        m.unmeasured = "no load window was measured (the run stopped before load)"
    return m


def database_check(collector: DatabaseCollector, m: DbMeasurement, gated: set[str]) -> Any:
    """The run-integrity check for the collector: inconclusive only when a gated metric is unmeasured."""
    from loadorch.verdict.evaluate import INCONCLUSIVE, PASS, Check

    parts = [f"PostgreSQL at {collector.where}"]
    if m.queries is not None:
        parts.append(f"{m.queries} statements in {m.window_s:g}s")
    if m.slow is not None and not m.slow_unmeasured:
        parts.append(f"{m.slow} slower than {m.slow_ms:g} ms")
    blocked = []
    if m.unmeasured:
        parts.append(f"not measured: {m.unmeasured}")
        blocked = sorted(gated & {"db_queries", "db_query_slow"})
    elif m.slow_unmeasured:
        parts.append(f"db_query_slow not measured: {m.slow_unmeasured}")
        blocked = sorted(gated & {"db_query_slow"})
    if m.probe_note:
        parts.append(f"probe: {m.probe_note}")
    verdict = INCONCLUSIVE if blocked else PASS
    return Check("database", verdict, "; ".join(parts))
