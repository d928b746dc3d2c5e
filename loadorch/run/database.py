"""The postgres collector in a run: connect and check before load (unreachable: exit 5), the N+1 probe,
pg_stat_statements snapshots and the duration log around the load window; while it runs, queries/s and
the live counts of statements and of slow ones (the duration log read as it grows) for the live metrics.

Whatever goes wrong here after the preflight becomes a reason in the measurement (its thresholds are
inconclusive), never a lost run: the HTTP results do not depend on the database.
"""

from __future__ import annotations

import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from loadorch.client.vu import LeanRunner, UserCredentials, runner_mask
from loadorch.config.collectors import PostgresCollector
from loadorch.config.resolve import RunConfig
from loadorch.db.durationlog import MAX_PLAN_TEXT, SlowTally, slow_in
from loadorch.db.explain import (
    GENERIC_PLAN_VERSION,
    generic_candidates,
    no_plan_note,
    scanned_relations,
    slow_plans,
)
from loadorch.db.livelog import LiveSlowCount
from loadorch.db.logfiles import LogFiles, LogGap, LogMark
from loadorch.db.measure import DbMeasurement, ProbeRow
from loadorch.db.postgres import PgSession, failure_reason
from loadorch.db.servertiming import QueryHeader
from loadorch.db.settings import Override, count_hiding, describe, slow_hiding
from loadorch.db.statements import (
    Delta,
    Snapshot,
    diff,
    repeated,
    slow_named,
    top_level_calls,
    top_statements,
    unlogged_message,
    unlogged_slow,
    window_problem,
)
from loadorch.traffic import data as gen
from loadorch.traffic.redact import Redactor
from loadorch.traffic.request import Captured, Origin, RequestRunner, compile_request, credential_captures
from loadorch.traffic.template import RenderError
from loadorch.traffic.trace import TraceIds

LOG_SETTLE_S = 2.0  # at most this long for the server's logger to write the window's last lines


def unread(exc: BaseException) -> str:
    """An unforeseen error of reading the server's log, named by its type alone (its text may quote the log: a
    statement's literals)."""
    return f"{type(exc).__name__} in {_where(exc)}"


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


class DatabaseCollector:
    def __init__(self, settings: PostgresCollector, interval_s: float) -> None:
        self.settings = settings
        self.interval_s = interval_s
        self.session = PgSession(settings)  # CollectorError (exit 5) when unreachable
        try:
            self.ready = self.session.check()
        except BaseException:  # (an interrupt too: StopSignals.interruptible) its connection is not left open
            self.session.close()
            raise
        self.measurement = DbMeasurement(settings.slow_ms, log_source=self.ready.log_source)
        self.measurement.unmeasured = self.ready.unmeasured
        self.measurement.slow_unmeasured = self.ready.slow_unmeasured
        self._before: Snapshot | None = None
        self._log_at: LogMark | None = None
        self._sampler: threading.Thread | None = None
        self._stop = threading.Event()
        self._began = 0.0
        self._ended = False
        self._went_down = False  # the timeline saw the statements' total go down (a partial reset)
        self.windowed = False
        self.live_queries = 0  # statements since the window began, as the sampler sees them (live metrics)
        self.live_slow: int | None = None  # of those slower than slow_ms, once the log is read live
        # samples the sampler could not take (the database unreachable, a statement canceled, pg_stat_statements
        # reset under it): the statements of that time are unknown, so a monitor's window that spans one does not
        # judge db_queries or db_query_slow (run.monitor.db_window); and polls of the duration log that failed,
        # which leave db_query_slow unknown the same way. The latest reason of each, with the fix, is the
        # measurement's (DbMeasurement.lost, .slow_lost)
        self.live_lost = 0
        self.live_slow_lost = 0
        self._live: LiveSlowCount | None = None

    def _why(self, exc: BaseException) -> str:
        """Why a statement of the collector failed (db.postgres.failure_reason, with this collector's bound)."""
        return failure_reason(exc, self.settings.statement_timeout)

    @property
    def where(self) -> str:
        return self.session.where

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        self.session.close()

    # -- the probe ----------------------------------------------------------------------------
    def probe(
        self, cfg: RunConfig, host: str, should_stop: Callable[[], bool], tracer: TraceIds | None = None
    ) -> None:
        """Each declarative request definition sent once, alone, between two snapshots (with the run's
        traceparent from `tracer`; None: none)."""
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
        runner.tracer = tracer
        runner.redactor = Redactor(cfg.secrets)  # the run's secrets, as a worker's runner has them
        rng = random.Random(gen.stream_seed(cfg.seed, "probe"))
        try:
            for user in cfg.scenario.model.users:
                captures = {c for ep in user.requests for c in ep.capture}
                captured: Captured = {}
                # a login's token, sent in a credential header by a later request: masked in the probe's notes too
                compiled = credential_captures(
                    [compile_request(ep, ep.name, ep.effective_kind, captures, cfg.headers) for ep in user.requests])
                runner.tokens, runner.token_mask = UserCredentials(), None  # this user's own
                for req in compiled:
                    if should_stop():
                        return
                    m.probe.append(self._probe_one(runner, req, str(user.name), rng, cfg, captured))
        except Exception as exc:  # the database went away: the probe is lost, the run is not
            m.probe_note = f"the probe stopped: {self._why(exc)}"
        finally:
            runner.close()

    def _probe_one(
        self, runner: RequestRunner, req: Any, user: str, rng: random.Random, cfg: RunConfig, captured: Captured
    ) -> ProbeRow:
        row = ProbeRow(req.name, user, req.kind, req.method, None)
        missing = sorted(req.needs - captured.keys())
        if missing:
            return _replace(row, note=f"not probed: needs captured {', '.join(missing)}")
        fixed = {"user": 0, "worker": 0, "iteration": 0, **captured}
        draws = gen.Draws(cfg.scenario.generators, rng, gen.DrawState(slot=0, slots=1), fixed)
        before = self.session.snapshot()
        try:
            outcome = runner.run(req, draws, captured)
        except RenderError as exc:  # a capture it cannot use ({order.id} of a string): this row's note, as a user's
            # request fails on it; not "the probe stopped" as if the database had gone away
            return _replace(row, note=f"not probed: {runner_mask(runner).text(str(exc))}")
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
        m = self.measurement
        if m.unmeasured:
            return
        try:
            if not m.slow_unmeasured:
                self._log_at = self.session.log_files().mark()
            self._before = self.session.snapshot()
        except Exception as exc:
            m.unmeasured = f"could not start measuring: {self._why(exc)}: {self._reach}"
            return
        m.window_start = self._before.at
        self._began = time.monotonic()
        self._start_sampler()

    @property
    def _reach(self) -> str:
        return f"check that the database at {self.where} is up and reachable from here, then run again"

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
            sees = self.session.sees_every_role()
            found = self.session.overrides()
        except Exception as exc:
            m.unmeasured = f"lost the database at the end of the window: {self._why(exc)}: {self._reach}"
            return m
        self.windowed = True
        m.window_s = round(time.monotonic() - self._began, 3)
        m.window_end = after.at
        deltas = diff(self._before, after)
        m.queries = top_level_calls(deltas)
        m.top = top_statements(deltas)
        m.unmeasured = m.unmeasured or self._window_problem(after, sees, found)
        if not m.slow_unmeasured and self._log_at is not None:
            ran = {(d.key[0], d.key[1]) for d in deltas}
            hiding = slow_hiding(found, ran, self.settings.slow_ms)
            if hiding:
                m.slow_unmeasured = describe(hiding, f"keeps statements slower than {m.slow_ms:g} ms out of the log")
            else:
                self._count_slow(self._before.at, after.at, deltas)
        if m.unmeasured:
            m.queries = m.slow = None
        elif m.slow_unmeasured:
            m.slow = None
        self._final_live_counts()
        return m

    def _final_live_counts(self) -> None:
        """The live counters end at the verdict's counts (never lower: a counter does not go down); what the
        verdict could not measure ends unexported (live_counts), not at a count it does not trust."""
        m = self.measurement
        if m.queries is not None:
            self.live_queries = max(self.live_queries, m.queries)
        if m.slow is not None:
            self.live_slow = max(self.live_slow or 0, m.slow)
        elif m.slow_unmeasured:
            self.live_slow = None

    def live_counts(self) -> tuple[int, int | None] | None:
        """(statements, slow statements or None when the log is not read) for the live metrics; None before
        the window or when the database cannot be measured."""
        if self._before is None or self.measurement.unmeasured:
            return None
        return self.live_queries, self.live_slow

    def _window_problem(self, after: Snapshot, sees: bool, found: list[Override]) -> str | None:
        assert self._before is not None
        role = self.session.role
        problem = window_problem(self._before, after, self.ready.max_entries, role)
        if problem is None and not sees:
            problem = (
                f"role {role} lost the privilege to see other roles' statements during the window: "
                f"GRANT pg_monitor TO {role}; then run again"
            )
        if problem is None and self._went_down:
            problem = (
                "pg_stat_statements was partly reset during the window: the statements' total went down while it "
                "ran (pg_stat_statements_reset with a role, database or queryid does not move stats_reset), so the "
                "window's calls are unknown: do not reset pg_stat_statements while a run measures it, then run again"
            )
        hiding = count_hiding(found)
        if problem is None and hiding:
            problem = describe(hiding, "keeps statements out of pg_stat_statements")
        return problem

    def _count_slow(self, start: str, end: str, deltas: list[Delta]) -> None:
        m = self.measurement
        assert self._log_at is not None
        try:
            self._settle()
            text = self.session.log_files().read_since(self._log_at)
        except LogGap as gap:
            m.slow_unmeasured = str(gap)
            return
        except Exception as exc:
            m.slow_unmeasured = (
                f"cannot read the server's duration log at the end of the window: {self._why(exc)}: {self._reach}"
            )
            return
        try:
            tally = slow_in(text, start, end, self.settings.slow_ms, exclude_app=self.session.app)
            slow_top = slow_named(tally, deltas)
            missing = unlogged_slow(deltas, tally, self.settings.slow_ms)
        except Exception as exc:  # a log line of a shape never met (another session's RAISE LOG, a server's
            # format of another version): the slow count is not measured, the run goes on to its verdicts
            m.slow_unmeasured = (f"cannot read the server's duration log of the window ({unread(exc)}): a loadorch "
                                 "defect, please report it with the log's lines of the window")
            return
        m.slow, m.slow_top = tally.count, slow_top
        try:
            self._plans(tally, deltas)
        except Exception as exc:  # evidence only: the count and its verdict stand without the plans
            m.plans, m.plans_note = [], (f"the slow statements' plans could not be read ({unread(exc)}): a loadorch "
                                         "defect, please report it with the log's plan lines of the window")
        if missing:
            m.slow_unmeasured = unlogged_message(missing, self.settings.slow_ms)

    def _plans(self, tally: SlowTally, deltas: list[Delta]) -> None:
        """The slow statements' plans (auto_explain's, from the same log), or why there are none and how to
        log them; on PostgreSQL 16+ without auto_explain, EXPLAIN (GENERIC_PLAN) stands in (an estimate)."""
        m, ready = self.measurement, self.ready
        m.notes.extend(ready.plan_notes)  # what the plans lack or cost, slow statements or not
        if not tally.count:
            return
        generic: dict[int, str] = {}
        sizes: dict[str, float] = {}
        if not tally.plans and ready.plans_unlogged and ready.version >= GENERIC_PLAN_VERSION:
            wanted = generic_candidates(tally, deltas, ready.database_oid)
            try:
                generic, problems = self.session.generic_plans(wanted)
                sizes = self.session.relation_rows(scanned_relations(generic))
            except Exception as exc:
                generic, problems = {}, [f"EXPLAIN (GENERIC_PLAN) failed: {self._why(exc)}"]
            m.notes.extend(problems[:3])
        m.plans = slow_plans(tally, deltas, ready.work_mem, generic, sizes=sizes)
        if not tally.plans:
            m.plans_note = ready.plans_unlogged or no_plan_note(
                ready.sample_rate, tally.plans_skipped, MAX_PLAN_TEXT // 1024
            )
            if generic:
                m.plans_note += "; the plans shown are EXPLAIN (GENERIC_PLAN) estimates, not what ran"

    def _settle(self) -> None:
        """Wait (bounded) until the server's logger has written what the window produced."""
        deadline = time.monotonic() + LOG_SETTLE_S
        files = self.session.log_files()
        last = files.listing()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = files.listing()
            if now == last:
                return
            last = now

    def _start_sampler(self) -> None:
        """queries/s over time, from a connection of its own (the main one is not shared across threads),
        counted from before the load starts (a thread that connected later missed the first statements). A
        sampler that cannot reach the database goes on: it counts what it missed and connects again."""
        connected = self._connect_sampler()
        self._sampler = threading.Thread(
            target=self._sample, args=connected, name="loadorch-db-sampler", daemon=True
        )
        self._sampler.start()

    def _connect_sampler(self) -> tuple[PgSession | None, int]:
        """The sampler's session and the statements' total now, or (None, 0) with the sample counted as lost;
        the live count of the duration log follows the new session, from where it had read to."""
        session = None
        try:
            session = PgSession(self.settings)
            total = session.top_level_total()
        except Exception as exc:
            if session is not None:
                session.close()
            self._lose(exc)
            return None, 0
        if self._log_at is not None and self._before is not None and not self.measurement.slow_unmeasured:
            files = LogFiles(session, self.ready.log_source or "jsonlog")
            if self._live is None:
                self._live = LiveSlowCount(files, self._log_at, self._before.at, self.settings.slow_ms, session.app)
                self.live_slow = self.live_slow or 0
            else:
                self._live.files = files
        return session, total

    def _lose(self, exc: BaseException) -> None:
        self.live_lost += 1
        self.measurement.lost = f"the collector lost the database ({self._why(exc)}): {self._reach_now}"

    @property
    def _reach_now(self) -> str:
        return f"check that the database at {self.where} is up and reachable from here"

    def _sample(self, session: PgSession | None, previous: int) -> None:
        t0 = time.monotonic()
        try:
            while not self._stop.wait(self.interval_s):
                if session is None:  # lost: connect again; the statements of the time it was away are unknown
                    session, previous = self._connect_sampler()
                    if session is None:
                        continue
                try:
                    total = session.top_level_total()
                except Exception as exc:
                    self._lose(exc)
                    session.close()
                    session = None
                    continue
                # a partial reset lowers the total: that sample is unknown, never negative (the window is
                # then unmeasured)
                self.measurement.add_sample(round(time.monotonic() - t0, 1), max(0, total - previous))
                if not self._ended:
                    self.live_queries += max(0, total - previous)
                if total < previous:
                    self.live_lost += 1
                    self.measurement.lost = (
                        "pg_stat_statements was reset while the collector counted (its statements' total went down), "
                        "so the statements of that time are unknown: do not reset it while a monitor measures")
                self._went_down = self._went_down or total < previous
                previous = total
                self._read_log()
        except Exception as exc:  # a picture and a monitor's counts, never the run: what it missed says why
            self._lose(exc)
        finally:
            if session is not None:
                session.close()

    def _read_log(self) -> None:
        """The duration log's new lines counted for the live metrics, a bounded piece at a time (up to one
        piece per second of the interval, so a long interval does not fall behind); a read that fails is
        counted (live_slow_lost) and tried again at the next sample, from where the count had read to (the
        verdict reads the log whole at the end of the window)."""
        live = self._live
        if live is None or self._ended:
            return
        try:
            for _ in range(max(1, int(self.interval_s))):
                count = live.poll()
                if self._ended:
                    return  # the window closed meanwhile: its counts are the verdict's now
                self.live_slow = count
                if not live.behind:
                    break
        except Exception as exc:
            self.live_slow_lost += 1
            why = self._why(exc)
            self.measurement.slow_lost = f"the collector could not read the duration log ({why}): {self._reach_now}"

    def live_gaps(self) -> tuple[int, int]:
        """(samples of the statements lost, polls of the duration log lost) so far: counters a monitor's windows
        difference, as they do the live counts."""
        return self.live_lost, self.live_slow_lost


def _replace(row: ProbeRow, note: str) -> ProbeRow:
    return ProbeRow(row.name, row.user, row.kind, row.method, None, None, (), note)




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
