"""The database gate never passes by accident (issue 28), against the real PostgreSQL: statements hidden
from the duration log by log_statement, by role, database or session settings, by log rotation, and
statements dropped from pg_stat_statements by a partial reset or a privilege lost mid-run.

Most cases drive the run's collector directly around a few statements of an application role (a second
each); the CLI runs show the exit codes and artifacts a user gets."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loadorch.config.collectors import PostgresCollector
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.db.gates import evaluate_db
from loadorch.db.measure import DbMeasurement
from loadorch.stats.tables import Merged
from tests.support.project import Project, assert_no_traceback

from .helpers import finish, start_run
from .pgcluster import Cluster
from .test_database import Shop, _profile, _reset, serve_shop

SLOW_MS = 200
GATES = {"db_query_slow": "rate<0.01", "db_queries": "count<60"}


@pytest.fixture
def shop(postgres: Cluster) -> Iterator[Shop]:
    with serve_shop(postgres.dsn()) as started:
        yield started


@pytest.fixture
def app(postgres: Cluster) -> Iterator[str]:
    """A login role `app` that writes to a table of its own; its settings are reset afterwards."""
    postgres.sql("DO $$ BEGIN CREATE ROLE app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    postgres.sql("CREATE TABLE IF NOT EXISTS trust_writes (v text)")
    postgres.sql("GRANT SELECT, INSERT ON trust_writes TO app")
    try:
        yield "app"
    finally:
        postgres.sql("ALTER ROLE app RESET ALL")
        postgres.sql("ALTER ROLE app IN DATABASE shop RESET ALL")


def _collector(postgres: Cluster, role: str = "postgres", log: str = "pg_read_file", interval_s: float = 0.2) -> Any:
    from loadorch.run.database import DatabaseCollector

    settings = PostgresCollector(dsn=postgres.dsn(role), slow_ms=SLOW_MS, probe=False, log=log)
    return DatabaseCollector(settings, interval_s)


def _run(postgres: Cluster, statements: list[tuple[str, tuple[Any, ...]]], role: str = "app",
         options: str = "") -> None:
    """The application's statements, in one session of `role` (application_name app)."""
    import psycopg

    dsn = postgres.dsn(role) + (f"?options={options}" if options else "")
    with psycopg.connect(dsn, autocommit=True, application_name="app") as conn:
        for sql, params in statements:
            conn.execute(sql, params or None)


def _workload(slow: int = 2, fast: int = 20) -> list[tuple[str, tuple[Any, ...]]]:
    """Fast reads and writes, and `slow` 0.25 s statements: a read over the extended protocol, a write over
    the simple one, in turn."""
    out: list[tuple[str, tuple[Any, ...]]] = [("SELECT count(*) FROM trust_writes WHERE v = %s", ("x",))] * fast
    for i in range(slow):
        out.append(("SELECT pg_sleep(%s)", (0.25,)) if i % 2 == 0 else
                   ("INSERT INTO trust_writes SELECT 'slow' FROM pg_sleep(0.25)", ()))
    return out


def _verdict(m: DbMeasurement, metric: str = "db_query_slow") -> tuple[str, str]:
    sel = parse_selector(metric)
    r = evaluate_db(Threshold(sel, parse_expression(GATES[metric], metric)), Merged(), 1, m.window_s, m)
    return r.verdict, r.message


def _measure(postgres: Cluster, during: Callable[..., None], **collector: Any) -> DbMeasurement:
    """The collector's window around `during()` (or `during(collector)` if it takes one argument)."""
    _reset(postgres)
    c = _collector(postgres, **collector)
    try:
        c.begin()
        during(*([c] if during.__code__.co_argcount else []))
        return c.end()
    finally:
        c.close()


# -- 1. log_statement: the slow statement's duration is a bare line -------------------------------------
@pytest.mark.parametrize(("value", "where"), [("all", "server"), ("mod", "server"), ("all", "role"), ("mod", "role")])
def test_log_statement_does_not_hide_slow_statements(postgres: Cluster, app: str, value: str, where: str) -> None:
    if where == "server":
        postgres.system("log_statement", value)
    else:
        postgres.sql(f"ALTER ROLE app SET log_statement = '{value}'")
    try:
        m = _measure(postgres, lambda: _run(postgres, _workload(slow=2)))
    finally:
        if where == "server":
            postgres.system("log_statement", None, "none")
    assert m.unmeasured is None and m.slow_unmeasured is None, (m.unmeasured, m.slow_unmeasured)
    assert m.queries == 22 and m.slow == 2, m
    named = {row["statement"]: row["count"] for row in m.slow_top}
    assert named == {"SELECT pg_sleep($1)": 1, "INSERT INTO trust_writes SELECT $1 FROM pg_sleep($2)": 1}, named
    verdict, message = _verdict(m)
    assert verdict == "fail" and "2 of 22 statements took longer than 200 ms" in message


def test_log_statement_all_fails_the_run_it_used_to_pass(project: Project, postgres: Cluster, shop: Shop) -> None:
    collector = f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false}}}}'
    _profile(project, shop.url, '  db_query_slow: ["rate<0.001"]', collector, load="{users: 2, iterations: 100}")
    postgres.system("log_statement", "all")
    try:
        _reset(postgres)
        shop.knobs(slow_statements=[[0.25, 3]], n_plus_one=False)
        r = project.run("run", "p", "--out", "o", timeout=240)
    finally:
        postgres.system("log_statement", None, "none")
    assert r.code == 1, r.out + r.err
    db = project.results("o")["database"]["collector"]
    assert db["slow"] == 3 and db["queries"] == 203 and db["slow_top"][0]["statement"] == "SELECT pg_sleep($1)", db
    html = (project.root / "o" / "report.html").read_text()
    assert "Statements slower than 200 ms (duration log)" in html and "SELECT pg_sleep($1)" in html
    assert "window (the server&#x27;s clock)" in html and db["window_start"] in html
    assert "**Slow statements**" in (project.root / "o" / "summary.md").read_text()


# -- 2. settings the application runs with ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("alter", "fix"),
    [
        ("ALTER ROLE app SET log_min_duration_statement = -1", "ALTER ROLE app RESET log_min_duration_statement;"),
        ("ALTER ROLE app IN DATABASE shop SET log_min_duration_statement = '1s'",
         "ALTER ROLE app IN DATABASE shop RESET log_min_duration_statement;"),
        ("ALTER ROLE app SET log_min_messages = fatal", "ALTER ROLE app RESET log_min_messages;"),
    ],
    ids=["role", "role-in-database", "log_min_messages"],
)
def test_role_settings_that_hide_slow_statements_are_inconclusive(postgres: Cluster, app: str, alter: str,
                                                                  fix: str) -> None:
    postgres.sql(alter)
    m = _measure(postgres, lambda: _run(postgres, _workload(slow=2)))
    assert m.slow is None and m.queries == 22, m
    verdict, message = _verdict(m)
    assert verdict == "inconclusive" and fix in message, message
    assert _verdict(m, "db_queries")[0] == "pass"  # the statements were still counted


def test_a_session_setting_that_hides_slow_statements_is_caught_at_the_end(postgres: Cluster, app: str) -> None:
    hidden = "-c%20log_min_duration_statement%3D-1"  # the application's own connection options (a SET)
    m = _measure(postgres, lambda: _run(postgres, _workload(slow=2), role="postgres", options=hidden))
    verdict, message = _verdict(m)
    assert verdict == "inconclusive", message
    # the hidden statement named with its slowest time, pg_stat_statements' max (a 0.25 s sleep: 250 ms or more; a
    # busy machine read 300)
    named = re.search(r"SELECT pg_sleep\(\$1\) \(up to (\d+) ms\)", message)
    assert named is not None and int(named.group(1)) >= 250 and "log_min_duration_statement" in message, message


# -- 3. log rotation ---------------------------------------------------------------------------------------
def _rotate(postgres: Cluster) -> None:
    """pg_rotate_logfile(), into a file of a new name (names carry the second), once it is in use."""
    before = postgres.sql("SELECT pg_current_logfile('jsonlog')")[0][0]
    deadline = time.monotonic() + 10
    while True:
        postgres.sql("SELECT pg_rotate_logfile()")
        time.sleep(0.1)
        if postgres.sql("SELECT pg_current_logfile('jsonlog')")[0][0] != before:
            return
        assert time.monotonic() < deadline, "the log never rotated"
        time.sleep(0.3)


def _slow_then_rotate(postgres: Cluster, rotations: int) -> Callable[[], None]:
    def during() -> None:
        for _ in range(rotations):
            _run(postgres, _workload(slow=2, fast=2))
            _rotate(postgres)
        _run(postgres, _workload(slow=2, fast=2))

    return during


def _logfile(postgres: Cluster) -> str:
    return str(postgres.data / postgres.sql("SELECT pg_current_logfile('jsonlog')")[0][0])


@pytest.mark.parametrize(("log", "rotations"), [("path", 1), ("pg_read_file", 2)])
def test_slow_statements_are_read_across_log_rotations(postgres: Cluster, app: str, log: str, rotations: int) -> None:
    source = _logfile(postgres) if log == "path" else log

    def during(collector: Any) -> None:
        _slow_then_rotate(postgres, rotations)()
        # the live count (the log read as it grows, for the live metrics) follows the rotations too
        _until(lambda: collector.live_slow == 2 * (rotations + 1), "the live slow count never got there")
    m = _measure(postgres, during, log=source)
    assert m.slow_unmeasured is None, m.slow_unmeasured
    assert m.slow == 2 * (rotations + 1), m  # the 4 statements of each step (the test's own too: not asserted)
    assert _verdict(m)[0] == "fail"


@pytest.mark.parametrize("loss", ["truncated", "removed"])
def test_a_log_file_lost_during_the_window_is_inconclusive(postgres: Cluster, app: str, loss: str) -> None:
    source = _logfile(postgres)

    collectors = []

    def during(collector: Any) -> None:
        collectors.append(collector)
        _slow_then_rotate(postgres, 1)()
        if loss == "truncated":
            open(source, "w").close()  # log_truncate_on_rotation reusing a name
        else:
            os.remove(source)  # a cleanup job
    m = _measure(postgres, during, log=source)
    verdict, message = _verdict(m)
    assert verdict == "inconclusive" and source in message and "keep the server's log files" in message, message
    # the live metrics then end with no slow counter, not with a count the verdict does not trust
    assert collectors[0].live_counts() == (m.queries, None), collectors[0].live_counts()


def test_a_log_with_bytes_that_are_not_utf8_is_read_and_counted(postgres: Cluster, app: str) -> None:
    """The server logs a statement in its database's encoding: a LATIN1 database's 'é' is one byte that is not
    UTF-8, which pg_read_file refuses; the window's slow statements were then unmeasured with a wrong fix (keep
    the log files longer). Both the verdict's read and the live count read past it."""
    import psycopg

    if not postgres.sql("SELECT 1 FROM pg_database WHERE datname = 'latin'", database="postgres"):
        postgres.sql("CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
                     database="postgres")

    def during(collector: Any) -> None:
        with psycopg.connect(postgres.dsn(database="latin"), autocommit=True, application_name="app") as conn:
            conn.execute("SELECT pg_sleep(0.25), 'café' AS latin")
        _run(postgres, _workload(slow=2, fast=2))
        _until(lambda: collector.live_slow == 3, "the live slow count never read past the LATIN1 line")
    m = _measure(postgres, during)
    assert m.slow_unmeasured is None, m.slow_unmeasured
    assert m.slow == 3, m
    assert _verdict(m)[0] == "fail"


# -- 4. partial resets and hidden rows --------------------------------------------------------------------
def _then(postgres: Cluster, action: str) -> Callable[[Any], None]:
    """140 statements, seen by the collector's timeline, then `action`, seen by it too, then one more."""

    def during(collector: Any) -> None:
        _run(postgres, _workload(slow=0, fast=140))
        _until(lambda: sum(p["queries"] for p in collector.measurement.timeseries) >= 140)
        postgres.sql(action)
        points = len(collector.measurement.timeseries)
        _until(lambda: len(collector.measurement.timeseries) >= points + 2)
        _run(postgres, _workload(slow=0, fast=1))

    return during


def _until(condition: Callable[[], bool], what: str = "the collector's timeline never took the sample") -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_partial_reset_makes_the_window_unmeasured(postgres: Cluster, app: str) -> None:
    reset = "SELECT pg_stat_statements_reset((SELECT oid FROM pg_roles WHERE rolname = 'app'))"
    m = _measure(postgres, _then(postgres, reset))
    verdict, message = _verdict(m, "db_queries")
    assert verdict == "inconclusive" and "partly reset" in message, message
    doc = m.to_collector()
    assert doc.queries is None and doc.slow is None
    assert m.timeseries and all(p["queries"] >= 0 for p in m.timeseries), m.timeseries


def test_a_privilege_lost_mid_run_makes_the_window_unmeasured(postgres: Cluster, app: str) -> None:
    try:
        m = _measure(postgres, _then(postgres, "REVOKE pg_monitor FROM monitor"), role="monitor", log="none")
    finally:
        postgres.sql("GRANT pg_monitor TO monitor")
    verdict, message = _verdict(m, "db_queries")
    assert verdict == "inconclusive" and "GRANT pg_monitor TO monitor;" in message, message
    assert m.to_collector().queries is None


# -- 5. messages with their fix, null figures, the window on the server's clock ----------------------------
def test_the_database_lost_at_the_end_says_what_to_do(postgres: Cluster, app: str) -> None:
    def during() -> None:
        _run(postgres, _workload(slow=0, fast=5))
        postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = 'loadorch-collector' AND pid <> pg_backend_pid()")

    m = _measure(postgres, during)
    verdict, message = _verdict(m, "db_queries")
    assert verdict == "inconclusive" and "lost the database at the end of the window" in message
    assert "is up and reachable from here, then run again" in message, message
    assert m.to_collector().queries is None


def test_no_statements_in_the_window_gives_database_advice(project: Project, postgres: Cluster) -> None:
    collector = f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false}}}}'
    _profile(project, "embedded", '  db_query_slow: ["rate<0.001"]', collector, load="{users: 1, iterations: 20}",
             requests_yaml="      - {name: health, path: /health}")
    before = postgres.sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')")[0][0]
    r = project.run("run", "p", "--out", "o", timeout=240)
    assert r.code == 1, r.out + r.err
    assert_no_traceback(r)
    why = [line for line in r.out.splitlines() if "why:" in line and "db_query_slow" in line]
    assert why and "selector's tags" not in why[0] and "collectors.postgres.dsn" in why[0], r.out
    db = project.results("o")["database"]["collector"]
    assert before <= db["window_start"] <= db["window_end"], db  # the server's clock, as the log stamps it


def test_a_statement_blocked_by_another_sessions_lock_ends_the_run_with_the_database_inconclusive(
    project: Project, postgres: Cluster
) -> None:
    """Another session holds a lock the collector's statements wait for (a DBA's open transaction that dropped or
    altered pg_stat_statements holds its view ACCESS EXCLUSIVE): the run waited for it for ever before any load,
    a SIGTERM included. Each statement of the collector is bounded (statement_timeout): the run ends with its
    database gate inconclusive, saying why, and the HTTP results whole. (The bound turns a hang into a failure.)"""
    import psycopg

    # a bound of 2 s (collectors.postgres.statement_timeout; the default is 30 s), so the test waits 2 s, not 30
    collector = (f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false, '
                 'statement_timeout: 2}}')
    _profile(project, "embedded", '  db_queries: ["count<100000"]', collector, load="{users: 1, iterations: 20}",
             requests_yaml="      - {name: health, path: /health}")
    with psycopg.connect(postgres.dsn(), application_name="loadorch-test") as holder:  # a transaction: held until its end
        holder.execute("LOCK TABLE /* test */ pg_stat_statements IN ACCESS EXCLUSIVE MODE")
        r = project.run("run", "p", "--out", "o", timeout=180)
        holder.rollback()
    assert r.code == 6, r.out + r.err
    assert_no_traceback(r)
    doc = project.results("o")
    assert doc["totals"]["requests"] == 20 and doc["verdict"] == "inconclusive"
    database = next(c for c in doc["checks"] if c["name"] == "database")
    assert database["verdict"] == "inconclusive", database
    assert "waited more than 2s (collectors.postgres.statement_timeout)" in database["message"], database
    assert "pg_locks" in database["message"], database
    assert (project.root / "o" / "junit.xml").exists()


def test_a_database_that_stops_answering_mid_run_ends_the_run_with_the_database_inconclusive(
    project: Project, postgres: Cluster
) -> None:
    """The collector's backends stopped (SIGSTOP) during the load: a server hung in I/O, or a network whose far end
    still acknowledges, answers no statement and cancels none at its statement_timeout. The run waited for ever at
    the end of the window, a SIGTERM included; the collector gives up on a statement a few seconds past that bound:
    the run ends with the database inconclusive, the HTTP results whole. (The bound turns a hang into a failure.)"""
    # a bound of 2 s: the connection is shut 7 s after the statement began, not 35 s (the default bound's)
    collector = (f'collectors: {{postgres: {{dsn: "{postgres.dsn()}", slow_ms: 200, probe: false, '
                 'statement_timeout: 2}}')
    _profile(project, "embedded", '  db_queries: ["count<100000"]', collector, load="{users: 1, duration: 6s}",
             requests_yaml="      - {name: health, path: /health}")
    proc = start_run(project, "--out", "o")
    stopped: list[int] = []
    try:
        assert proc.stderr is not None
        line = ""
        while "/6s" not in line:  # the load's first progress line: the window has begun
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the run ended before its load"
        stopped = [int(pid) for (pid,) in postgres.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'loadorch-collector'")]
        assert stopped, "no collector session"
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        out, err = finish(proc, timeout=180)
    finally:
        for pid in stopped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 6, out + err
    doc = project.results("o")
    assert doc["totals"]["requests"] > 0 and doc["verdict"] == "inconclusive"
    database = next(c for c in doc["checks"] if c["name"] == "database")
    assert database["verdict"] == "inconclusive" and "lost the database at the end of the window" in database["message"]
    assert (project.root / "o" / "junit.xml").exists()


@pytest.mark.parametrize("name", ["loadorch", "x" * 53])
def test_the_collectors_own_slow_statement_is_never_counted_whatever_name_it_is_given(postgres: Cluster,
                                                                                     name: str) -> None:
    """The collector's lines in the duration log are told apart by its application_name: the longest name the
    profile accepts is kept whole by PostgreSQL, so its own slow statement is not the application's (a 60-character
    name, or one with `ö`, was changed by the server and counted: 1 slow statement the application never ran)."""
    from loadorch.run.database import DatabaseCollector

    _reset(postgres)
    settings = PostgresCollector(dsn=postgres.dsn(), slow_ms=SLOW_MS, probe=False, application_name=name)
    c = DatabaseCollector(settings, 0.2)
    try:
        c.begin()
        c.session.query("SELECT pg_sleep(0.25)")
        m = c.end()
    finally:
        c.close()
    assert m.slow_unmeasured is None and m.slow == 0, m


def test_a_duration_log_the_collector_cannot_read_leaves_the_slow_gate_inconclusive_not_a_traceback(
    postgres: Cluster, app: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unforeseen error while reading the window's log (a line of a shape no test met) ended the run at the
    window's end with a traceback and no verdict at all: the slow count is unmeasured instead (its gate
    inconclusive, the error named by its type and place, not its text, which may quote a statement's literals),
    and an error reading the plans alone leaves the count and its verdict standing without them."""
    import loadorch.run.database as database

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a line quoting 'hunter2'")

    with monkeypatch.context() as patch:
        patch.setattr(database, "slow_in", broken)
        m = _measure(postgres, lambda: _run(postgres, _workload(slow=2)))
    assert m.unmeasured is None and m.queries == 22 and m.slow is None, m
    assert m.slow_unmeasured is not None and "ValueError in test_database_trust.py:" in m.slow_unmeasured
    assert "hunter2" not in m.slow_unmeasured
    verdict, message = _verdict(m)
    assert verdict == "inconclusive" and "cannot read the server's duration log" in message, (verdict, message)

    with monkeypatch.context() as patch:
        patch.setattr(database, "slow_plans", broken)
        m = _measure(postgres, lambda: _run(postgres, _workload(slow=2)))
    assert m.slow == 2 and m.slow_unmeasured is None and m.plans == [], m
    assert m.plans_note is not None and "plans could not be read (ValueError in" in m.plans_note
    assert _verdict(m)[0] == "fail"
