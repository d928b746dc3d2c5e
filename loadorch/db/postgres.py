"""The PostgreSQL edge of the collector (psycopg 3, `loadorch[postgres]`): connect, check what can be
measured, take pg_stat_statements snapshots and read the duration log. Every statement it runs carries
OWN_MARK and its own application_name, so none of them is ever counted."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from loadorch.config.collectors import PostgresCollector, connect_reason, redacted_dsn
from loadorch.db.explain import (
    EXPLAIN_SETTINGS,
    explain_notes,
    explain_problem,
    generic_plan_sql,
    sample_rate_of,
)
from loadorch.db.logfiles import LogFiles
from loadorch.db.settings import Override, hides, overrides
from loadorch.db.statements import FIGURES, OWN_MARK, Snapshot, hidden_rows, own, snapshot_rows
from loadorch.errors import RunError

# every statement of the collector's sessions ends within collectors.postgres.statement_timeout: one waiting for a
# lock another session holds (or a server too busy to answer) ends the measurement with the reason, never the run (it
# waited for ever). A server that answers nothing cancels nothing at that bound (hung in I/O, stopped, a network
# whose far end still acknowledges): the collector stops waiting this much later and shuts the connection itself
UNANSWERED_GRACE_S = 5.0
_NOW = "to_char(clock_timestamp() AT TIME ZONE current_setting('log_timezone'), 'YYYY-MM-DD HH24:MI:SS.MS') AS at"


class CollectorError(RunError):
    """The database cannot be reached: a run error before any load (exit 5)."""


@dataclass
class Readiness:
    """What the collector can measure here, and the fix for what it cannot."""

    unmeasured: str | None = None  # db_queries, db_query_slow and the probe
    slow_unmeasured: str | None = None  # db_query_slow only
    max_entries: str = "?"
    log_source: str = ""  # "jsonlog", "csvlog" or a path
    plans_unlogged: str | None = None  # why the log has no plans of slow statements (auto_explain), with the fix
    plan_notes: list[str] = field(default_factory=list)
    work_mem: str = ""
    sample_rate: float | None = None  # auto_explain.sample_rate as the collector's session sees it (None: not read)
    version: int = 0  # server_version_num
    database_oid: int = 0


class PgSession:
    def __init__(self, settings: PostgresCollector) -> None:
        self.settings = settings
        self.bound = settings.statement_timeout  # seconds a statement may take (the watchdog's bound is 5 s more)
        self.where = redacted_dsn(settings.dsn)
        self.app = settings.collector_app
        try:
            import psycopg
        except ImportError:
            raise CollectorError("collectors.postgres needs psycopg: pip install 'loadorch[postgres]'") from None
        self._psycopg = psycopg
        self.conn = self._connect()
        self.ready = Readiness()
        self.is_superuser = False
        self.role = ""

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(
                self.settings.dsn,
                autocommit=True,
                application_name=self.app,
                connect_timeout=max(1, int(self.settings.connect_timeout)),
            )
        except self._psycopg.Error as exc:
            # a DSN libpq cannot parse is quoted back in pieces: masked before the message is cut (no prefix stays)
            reason = _cut(connect_reason(libpq_reason(exc), self.settings.dsn), MAX_REASON)
            raise CollectorError(
                f"database {self.where} unreachable: {reason}; check collectors.postgres.dsn (host, port, "
                "role and password) and that the database accepts connections from here"
            ) from None
        try:  # SET, not libpq's options parameter: the DSN's own options (search_path, ...) stay as given
            _execute(conn, own(f"SET statement_timeout = {int(self.bound * 1000)}"), None, self.bound)
        except self._psycopg.Error as exc:
            conn.close()
            raise CollectorError(f"database {self.where}: {failure_reason(exc, self.bound)}") from None
        return conn

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            pass

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(_execute(self.conn, own(sql), params, self.bound).fetchall())

    def value(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    # -- what can be measured ---------------------------------------------------------------------
    def check(self) -> Readiness:
        """What can be measured here (CollectorError, exit 5, if the database stops answering meanwhile)."""
        try:
            return self._check()
        except self._psycopg.Error as exc:
            why = failure_reason(exc, self.bound)
            raise CollectorError(f"database {self.where}: cannot check what can be measured: {why}") from None

    def _check(self) -> Readiness:
        ready = self.ready
        role = self.role = str(self.value("SELECT current_user"))
        self.is_superuser = bool(self.value("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        try:
            ready.unmeasured = self._statements_problem(role)
        except self._psycopg.Error as exc:
            ready.unmeasured = f"cannot check pg_stat_statements ({_first_line(exc)}): GRANT pg_monitor TO {role};"
        try:
            ready.slow_unmeasured = self._log_problem(role)
        except self._psycopg.Error as exc:
            ready.slow_unmeasured = f"cannot check the duration log ({_first_line(exc)}): GRANT pg_monitor TO {role};"
        try:
            self._explain_check()
        except self._psycopg.Error as exc:
            ready.plans_unlogged = f"cannot read the auto_explain settings ({_first_line(exc)})"
        return ready

    def _explain_check(self) -> None:
        """Whether auto_explain logs the slow statements' plans in JSON, and what the plans would need."""
        ready = self.ready
        rows = self.query(
            "SELECT name, current_setting(name, true) FROM unnest(%s::text[]) AS name",
            (
                [
                    "shared_preload_libraries",
                    "session_preload_libraries",
                    "work_mem",
                    "server_version_num",
                    *EXPLAIN_SETTINGS,
                ],
            ),
        )
        found = {str(name): (None if value is None else str(value)) for name, value in rows}
        libraries = f"{found.get('shared_preload_libraries') or ''},{found.get('session_preload_libraries') or ''}"
        ready.plans_unlogged = explain_problem(libraries, found, self.settings.slow_ms)
        ready.plan_notes = [] if ready.plans_unlogged else explain_notes(found)
        ready.work_mem = found.get("work_mem") or ""
        ready.sample_rate = sample_rate_of(found.get("auto_explain.sample_rate"))
        ready.version = int(found.get("server_version_num") or 0)
        ready.database_oid = int(self.value("SELECT oid::bigint FROM pg_database WHERE datname = current_database()"))

    def generic_plans(self, queries: dict[int, str]) -> tuple[dict[int, str], list[str]]:
        """EXPLAIN (GENERIC_PLAN) of normalized statements by query_id (PostgreSQL 16+): their JSON plans,
        and what could not be explained."""
        plans: dict[int, str] = {}
        problems = []
        for query_id, text in queries.items():
            sql = generic_plan_sql(text)
            if sql is None:
                continue
            try:  # no parameters: a normalized text may hold a % operator that a placeholder pass would misread
                doc = _execute(self.conn, own(sql), None, self.bound).fetchone()[0]
            except self._psycopg.Error as exc:
                why = failure_reason(exc, self.bound)
                problems.append(f"EXPLAIN (GENERIC_PLAN) failed for query_id {query_id}: {why}")
                if timed_out(exc):
                    break  # the next ones would wait as long for the same lock
                continue
            plans[query_id] = doc if isinstance(doc, str) else json.dumps(doc)
        return plans, problems

    def relation_rows(self, names: list[str]) -> dict[str, float]:
        """The planner's estimate of each relation's rows (what a sequential scan of it reads), by name as
        plans give it (resolved on this session's search_path); a name it cannot resolve is left out."""
        sizes: dict[str, float] = {}
        for name in names:
            try:
                regclass = self.value("SELECT to_regclass(%s)::text", (name,))
                if not regclass:
                    continue  # a regclass's text is quoted by the server: safe to name in a statement
                doc = _execute(self.conn, own(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM ONLY {regclass}"), None,
                               self.bound).fetchone()[0]
            except self._psycopg.Error as exc:
                if timed_out(exc):
                    break  # the next ones would wait as long for the same lock
                continue
            plan = (json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"]
            sizes[name] = float(plan.get("Plan Rows") or 0.0)
        return sizes

    def _statements_problem(self, role: str) -> str | None:
        if not self.is_superuser and not self.value("SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')"):
            return (
                f"role {role} may not see other roles' statements (their queryid is hidden): "
                f"GRANT pg_monitor TO {role}; (or pg_read_all_stats and pg_read_all_settings)"
            )
        preload = str(self.value("SELECT current_setting('shared_preload_libraries')") or "")
        if "pg_stat_statements" not in preload:
            return (
                "pg_stat_statements is not loaded: add shared_preload_libraries = 'pg_stat_statements' to "
                "postgresql.conf, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements; in the database"
            )
        if not self.value("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"):
            return (
                "the pg_stat_statements extension is not created in this database: run "
                "CREATE EXTENSION pg_stat_statements; (as a superuser, in the database the DSN names)"
            )
        track = str(self.value("SELECT current_setting('pg_stat_statements.track')") or "top")
        if track == "none":
            return "pg_stat_statements.track is none: set it to top (the default) and reload"
        if hides("compute_query_id", str(self.value("SELECT current_setting('compute_query_id')")), 0.0):
            return (
                "compute_query_id is off, so pg_stat_statements counts nothing: "
                "ALTER SYSTEM SET compute_query_id = auto; SELECT pg_reload_conf();"
            )
        self.ready.max_entries = str(self.value("SELECT current_setting('pg_stat_statements.max')"))
        return None

    def _log_problem(self, role: str) -> str | None:
        log = self.settings.log
        slow = self.settings.slow_ms
        if log == "none":
            return "collectors.postgres.log is none: db_query_slow needs the server's duration log"
        threshold = int(self.value("SELECT setting::int FROM pg_settings WHERE name = 'log_min_duration_statement'"))
        if threshold < 0 or threshold > slow:
            return (
                f"log_min_duration_statement is {threshold} ms, so statements slower than {slow:g} ms are not all "
                f"logged: ALTER SYSTEM SET log_min_duration_statement = '{int(slow)}ms'; SELECT pg_reload_conf();"
            )
        messages = str(self.value("SELECT current_setting('log_min_messages')"))
        if hides("log_min_messages", messages, slow):
            return (
                f"log_min_messages is {messages}, so the server logs no durations: "
                "ALTER SYSTEM SET log_min_messages = warning; SELECT pg_reload_conf();"
            )
        if log != "pg_read_file":
            if not os.path.isfile(log) or not os.access(log, os.R_OK):
                return (
                    f"the duration log {log} cannot be read here: give collectors.postgres.log a path this "
                    "process can read, or use log: pg_read_file"
                )
            try:
                LogFiles(self, log).mark()
            except OSError as exc:
                return (
                    f"the folder of the duration log {log} cannot be listed here ({_first_line(exc)}): rotated "
                    "files would be missed; give collectors.postgres.log a path in a folder this process can read"
                )
            self.ready.log_source = log
            return None
        return self._pg_read_file_problem(role)

    def _pg_read_file_problem(self, role: str) -> str | None:
        destinations = str(self.value("SELECT current_setting('log_destination')") or "")
        kind = next((k for k in ("jsonlog", "csvlog") if k in destinations), None)
        collector_on = str(self.value("SELECT current_setting('logging_collector')")) == "on"
        if kind is None or not collector_on:
            return (
                "the server writes no jsonlog or csvlog: set logging_collector = on and log_destination = 'jsonlog' "
                "(or 'csvlog') in postgresql.conf, then restart"
            )
        grant = (
            f"GRANT pg_monitor TO {role}; (pg_ls_logdir, to follow rotations) GRANT EXECUTE ON FUNCTION "
            f"pg_current_logfile(text), pg_stat_file(text), "
            f"pg_read_file(text, bigint, bigint) TO {role}; (and GRANT pg_read_server_files TO {role}; if "
            "log_directory is outside the data directory), or set collectors.postgres.log to a path"
        )
        try:
            LogFiles(self, kind).mark()
            self.query("SELECT pg_read_file(pg_current_logfile(%s), 0, 1)", (kind,))
        except self._psycopg.Error as exc:
            return f"cannot read the server's log ({_first_line(exc)}): {grant}"
        self.ready.log_source = kind
        return None

    # -- measuring --------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        rows = self.query(
            "SELECT userid::bigint, dbid::bigint, queryid, toplevel, calls, total_exec_time, max_exec_time, query, "
            f"{FIGURES} FROM pg_stat_statements"
        )
        info = self.query(f"SELECT dealloc, stats_reset::text, {_NOW} FROM pg_stat_statements_info")
        dealloc, reset, at = info[0]
        return Snapshot(snapshot_rows(rows), int(dealloc), str(reset), str(at), hidden_rows(rows))

    def sees_every_role(self) -> bool:
        """Whether this role may see every role's statements (it may lose the privilege mid-run)."""
        sql = (
            "SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') "
            "FROM pg_roles WHERE rolname = current_user"
        )
        return bool(self.value(sql))

    def overrides(self) -> list[Override]:
        """Role and database overrides of the settings the gates rely on (pg_db_role_setting)."""
        rows = self.query(
            "SELECT s.setdatabase::bigint, s.setrole::bigint, coalesce(d.datname, ''), coalesce(r.rolname, ''), c "
            "FROM pg_db_role_setting s CROSS JOIN LATERAL unnest(s.setconfig) AS c "
            "LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole"
        )
        return overrides(rows)

    def top_level_total(self) -> int:
        sql = "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE toplevel AND query NOT LIKE %s"
        return int(self.value(sql, (f"%{OWN_MARK}%",)) or 0)

    def now(self) -> str:
        return str(self.value(f"SELECT {_NOW}"))

    def log_files(self) -> LogFiles:
        return LogFiles(self, self.ready.log_source or "jsonlog")


def _execute(conn: Any, sql: str, params: tuple[Any, ...] | None, bound: float) -> Any:
    """`conn.execute(sql, params)` waited for at most `bound` (the session's statement_timeout) + UNANSWERED_GRACE_S:
    past that the connection is shut, so the wait reads its end and fails (psycopg's OperationalError) instead of
    lasting for ever. The server's own statement_timeout ends the statement sooner whenever the server still runs."""
    watchdog = threading.Timer(bound + UNANSWERED_GRACE_S, _shut, (conn.fileno(),))
    watchdog.daemon = True
    watchdog.start()
    try:
        return conn.execute(sql, params)
    finally:
        watchdog.cancel()


def _shut(fd: int) -> None:
    """Shut the connection's socket through a copy of its descriptor (the descriptor itself stays libpq's)."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    with sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def timed_out(exc: BaseException) -> bool:
    """Whether the server canceled a statement of the collector (SQLSTATE 57014: its statement_timeout)."""
    return getattr(exc, "sqlstate", None) == "57014"


def failure_reason(exc: BaseException, bound: float) -> str:
    """Why a statement of the collector failed, on one line; a statement canceled at its bound says what waits."""
    if timed_out(exc):
        return (
            f"a statement of the collector waited more than {bound:g}s (collectors.postgres.statement_timeout) and "
            "was canceled (a lock "
            "another session holds? see pg_locks and pg_stat_activity)"
        )
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


MAX_REASON = 400  # characters of libpq's connection message shown (it names each address it tried: bounded)


def libpq_reason(exc: BaseException) -> str:
    """libpq's message on one line, each of its lines kept: `... port 1 failed: Connection refused` and the
    hint after it (the last line alone said only "Is the server running on that host ...?")."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
