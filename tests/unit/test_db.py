"""Database gates, pure parts: Server-Timing parsing, DSN secrets, the db thresholds and their verdicts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from loadorch.config.collectors import dsn_password, dsn_port, dsn_secrets, redacted_dsn
from loadorch.config.thresholds import Threshold, ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.db.gates import evaluate_db
from loadorch.db.measure import DbMeasurement, ProbeRow, Repeated, short_statement
from loadorch.db.servertiming import CACHE_SIZE, QueryHeader, plain_count, server_timing_count
from loadorch.db.statements import MAX_REPEATED, Delta, repeated
from loadorch.results import DbCollector
from loadorch.stats.tables import Merged, Recorder, SeriesKey


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("db;count=7", 7),
        ('db;dur=12.5;count=3;desc="postgres, primary"', 3),
        ("db;dur=1, db;dur=2, db;dur=3", 3),  # one entry per query
        ("db;count=2, db;count=5", 7),
        ('cache;desc="db;count=9", db', 1),  # quoted text is not an entry
        ("DB;Count=4", 4),
        ("app;dur=3, cache;count=2", None),
        ("db;count=abc", 1),  # an unusable parameter is ignored: the entry still counts once
        ("", None),
    ],
)
def test_server_timing_count(value: str, count: int | None) -> None:
    assert server_timing_count(value) == count


def test_plain_header_and_the_configured_header() -> None:
    assert plain_count(" 12 ") == 12 and plain_count("1.5") is None and plain_count("-1") is None
    assert QueryHeader("X-DB-Queries").count("4") == 4
    assert QueryHeader("Server-Timing", "sql").count("db;count=3, sql;count=2") == 2
    assert QueryHeader().count(None) is None


def test_a_workers_users_share_one_bounded_parse_cache_however_many_values_the_app_sends() -> None:
    """#32: each user of a worker has its own QueryHeader; an app whose Server-Timing carries a duration sends
    a new value now and then, and a cache per user held up to 512 of them each (a monitor's workers grew for
    hours). The values cached over all the users stay within one cache's bound, and every count is right."""
    users = [QueryHeader() for _ in range(20)]
    for i in range(600):
        for k, header in enumerate(users):
            value = f'db;count={k % 3};desc="sqlite", app;dur={i}.{k}'
            assert header.count(value) == k % 3
    caches = {id(h.cache): h.cache for h in users}
    assert sum(len(c) for c in caches.values()) <= CACHE_SIZE
    assert QueryHeader("X-DB-Queries").count("5") == 5 and QueryHeader("Server-Timing", "sql").count("sql") == 1


def test_dsn_password_in_every_form_is_secret() -> None:
    dsn = "postgresql://app:p%40ss%2Fw0rd@db.internal:6543/shop"
    assert dsn_password(dsn) == "p%40ss%2Fw0rd"
    assert dsn_secrets(dsn) >= {"p%40ss%2Fw0rd", "p@ss/w0rd"}
    assert dsn_port(dsn) == 6543 and redacted_dsn(dsn) == "db.internal:6543/shop"
    assert dsn_password("host=db user=app password='it''s' dbname=x") is not None
    # libpq's URI takes the password as a query parameter too (the last one given wins, as there)
    assert dsn_password("postgresql://app@db:5432/x?sslmode=require&password=s%2Fcret") == "s/cret"
    assert dsn_secrets("postgresql://app@db/x?password=s%2Fcret") >= {"s/cret", "s%2Fcret"}
    assert dsn_password("postgresql://app@db/x?sslmode=require") is None
    assert dsn_password("host=db password=s3cret dbname=x") == "s3cret" and dsn_port("host=db port=7777") == 7777
    assert dsn_secrets("postgresql://app@db/shop") == set()


def test_server_wide_db_metrics_take_no_tags_and_their_own_aggregations() -> None:
    with pytest.raises(ThresholdSyntaxError, match="takes no tag filter"):
        parse_selector("db_query_slow{name:x}")
    with pytest.raises(ThresholdSyntaxError, match="has no aggregation p"):
        parse_expression("p(95)<1", "db_query_slow")
    assert str(parse_selector("db_queries_per_request{name:list products}")) == "db_queries_per_request{name:list products}"


def _threshold(selector: str, expression: str) -> Threshold:
    sel = parse_selector(selector)
    return Threshold(sel, parse_expression(expression, sel.metric))


def _merged_with_counts(name: str, counts: list[int]) -> Merged:
    rec = Recorder(1.0, 0.0)
    key = SeriesKey("u", name, "read", "GET", 200, True)
    for n in counts:
        rec.record(key, 1000, 0.5, db_queries=n)
    merged = Merged()
    merged.add_delta(0, rec.take_delta())
    return Merged.from_json(merged.to_json())  # and it survives results.json


def test_queries_per_request_from_the_header_are_exact() -> None:
    merged = _merged_with_counts("list products", [1] * 150 + [21] * 50)
    fail = evaluate_db(_threshold("db_queries_per_request{name:list products}", "max<=3"), merged, 100, 10, None)
    assert fail.verdict == "fail" and fail.observed == 21 and fail.samples == 200
    ok = evaluate_db(_threshold("db_queries_per_request{name:list products}", "p(50)<=1"), merged, 100, 10, None)
    assert ok.verdict == "pass" and ok.observed == 1
    none = evaluate_db(_threshold("db_queries_per_request{name:other}", "max<=3"), merged, 100, 10, None)
    assert none.verdict == "fail" and none.message.startswith("no data")


def test_probe_names_the_repeated_statement_when_no_header_was_sent() -> None:
    stmt = short_statement("SELECT id, name, created_at, updated_at FROM categories WHERE id = $1")
    assert stmt == "SELECT ... FROM categories WHERE id = $1"
    db = DbMeasurement(
        200.0,
        probe=[
            ProbeRow("list products", "u", "read", "GET", 21, None, (Repeated(stmt, 20),)),
            ProbeRow("get product", "u", "read", "GET", 1),
        ],
    )
    r = evaluate_db(_threshold("db_queries_per_request{name:list products}", "max<=3"), Merged(), 100, 10, db)
    assert r.verdict == "fail" and r.observed == 21
    assert "SELECT ... FROM categories WHERE id = $1 x20" in r.message and "from the probe" in r.message


def test_n_plus_one_rows_and_the_message_naming_them_are_bounded() -> None:
    # the probe's window is the whole server's: a shared database's other sessions add their statements to it
    deltas = [Delta((1, 5, i, True), 2 + i % 7, 1.0, f"SELECT c{i} FROM t WHERE id = $1") for i in range(300)]
    loops = repeated(deltas)
    assert len(loops) == MAX_REPEATED and all(r.calls == 8 for r in loops)  # the most repeated first
    rows = [ProbeRow(f"endpoint {i}", "u", "read", "GET", 300, None, loops) for i in range(50)]
    r = evaluate_db(_threshold("db_queries_per_request", "max<=3"), Merged(), 1, 10, DbMeasurement(200.0, probe=rows))
    assert r.verdict == "fail" and r.message.count(" x8") == 3 and "and 497 more in the evidence" in r.message
    assert len(r.message) < 600


def test_slow_share_is_exact_and_unmeasurable_is_inconclusive() -> None:
    slow = _threshold("db_query_slow", "rate<0.001")
    db = DbMeasurement(200.0, queries=2008, slow=3, window_s=4.0)
    r = evaluate_db(slow, Merged(), 100, 4.0, db)
    assert r.verdict == "fail" and r.observed == 3 / 2008 and "3 of 2008" in r.message
    assert evaluate_db(slow, Merged(), 100, 4.0, DbMeasurement(200.0, queries=2001, slow=1)).verdict == "pass"
    blind = DbMeasurement(200.0, queries=2008, slow_unmeasured="cannot read the log: GRANT ...")
    r = evaluate_db(slow, Merged(), 100, 4.0, blind)
    assert r.verdict == "inconclusive" and "GRANT" in r.message
    counted = evaluate_db(_threshold("db_queries", "count>1000"), Merged(), 100, 4.0, blind)
    assert counted.verdict == "pass" and counted.observed == 2008
    missing = DbMeasurement(200.0, unmeasured="CREATE EXTENSION pg_stat_statements;")
    assert evaluate_db(_threshold("db_queries", "count>0"), Merged(), 100, 4, missing).verdict == "inconclusive"
    assert evaluate_db(slow, Merged(), 100, 4.0, None).verdict == "inconclusive"


def test_a_window_with_no_statement_is_no_data_never_a_pass_on_nothing() -> None:
    """A collector whose window saw no statement at all (its dsn names another server than the target's) read 0:
    `count<N` and `rate<N` passed on 0 samples. Every db_queries and db_query_slow gate says "no data" instead."""
    none = DbMeasurement(200.0, queries=0, slow=0, window_s=4.0)
    for metric, expression in (("db_queries", "count<1000"), ("db_queries", "rate<500"), ("db_query_slow", "rate<0.01")):
        r = evaluate_db(_threshold(metric, expression), Merged(), 100, 4.0, none)
        assert (r.verdict, r.observed, r.samples) == ("fail", None, 0), (metric, expression, r)
        assert r.message.startswith("no data: no statement finished in the database"), r.message
    busy = evaluate_db(_threshold("db_queries", "count<1000"), Merged(), 100, 4.0, DbMeasurement(200.0, queries=7))
    assert busy.verdict == "pass" and busy.observed == 7


def test_measurement_round_trips_through_json() -> None:
    db = DbMeasurement(200.0, queries=5, slow=1, probe=[ProbeRow("a", "u", "read", "GET", 3, 3, (Repeated("S", 2),))])
    doc = DbCollector.model_validate_json(db.to_collector().model_dump_json())  # as results.json holds it
    again = DbMeasurement.from_collector(doc)
    assert again == db and doc.slow_share == 0.2


def _project(tmp_path, profile_extra: str):  # type: ignore[no-untyped-def]
    (tmp_path / "profiles").mkdir()
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "s.yaml").write_text(
        "name: s\nusers:\n  - name: u\n    requests:\n      - {name: list products, path: /products}\n"
    )
    (tmp_path / "profiles" / "p.yaml").write_text(
        "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {users: 1, duration: 1s}\n" + profile_extra
    )


def test_collector_keys_are_checked_with_line_and_suggestion(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loadorch.config.resolve import build
    from loadorch.errors import ConfigError

    _project(tmp_path, "collectors:\n  postgres:\n    dsn: postgresql://a:b@h/d\n    slow_msec: 200\n")
    with pytest.raises(ConfigError) as err:
        build("p", str(tmp_path), {})
    text = str(err.value)
    assert "p.yaml:7: collectors.postgres.slow_msec" in text and "slow_ms" in text


def test_server_wide_db_thresholds_need_the_collector(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from loadorch.config.resolve import build
    from loadorch.errors import ConfigError

    _project(tmp_path, 'thresholds:\n  db_query_slow: ["rate<0.001"]\n')
    with pytest.raises(ConfigError, match=r"p.yaml:5: thresholds.db_query_slow: db_query_slow is measured in the database"):
        build("p", str(tmp_path), {})
    (tmp_path / "profiles" / "p.yaml").write_text(
        (tmp_path / "profiles" / "p.yaml").read_text() + 'collectors: {postgres: {dsn: "${DATABASE_URL}"}}\n'
    )
    cfg = build("p", str(tmp_path), {"DATABASE_URL": "postgresql://app:Canary-9f3@db:5432/shop"})
    assert {"Canary-9f3"} <= cfg.secrets


def test_kubernetes_master_reaches_the_database_and_the_dsn_stays_in_the_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from tests.support.project import cli_in_process

    _project(tmp_path, 'collectors: {postgres: {dsn: "${DATABASE_URL}"}}\n')
    (tmp_path / "profiles" / "p.yaml").write_text(
        (tmp_path / "profiles" / "p.yaml").read_text().replace("http://127.0.0.1:9", "https://api.example.test")
        + 'allowed_hosts: ["api.example.test"]\n'
    )
    dsn = "postgresql://app:Canary-k8s-41@db.internal:6432/shop"
    r = cli_in_process("k8s", "render", "p", "--workers", "2", "--image", "loadorch:test", cwd=tmp_path,
                env={"DATABASE_URL": dsn})
    assert r.code == 0, r.err
    docs = list(yaml.safe_load_all(r.out))
    egress = next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-egress"))
    ports = {(p["protocol"], p["port"]) for rule in egress["spec"]["egress"] for p in rule["ports"]}
    assert {("TCP", 6432), ("TCP", 443), ("UDP", 53)} <= ports
    assert egress["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "master"
    assert "Canary-k8s-41" not in r.out and "DATABASE_URL" in r.out  # from the Secret, never inlined


def test_budgets_list_the_database_budgets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.support.project import cli_in_process

    _project(tmp_path, 'collectors: {postgres: {dsn: "${DATABASE_URL}", slow_ms: 250}}\n'
             'thresholds:\n  db_query_slow: ["rate<0.001"]\n  "db_queries_per_request{name:list products}": ["max<=3"]\n')
    r = cli_in_process("budgets", cwd=tmp_path)  # DATABASE_URL unset: budgets, like validate, do not need it
    assert r.code == 0, r.err
    assert "| db_query_slow " in r.out and "all statements (slow: over 250 ms)" in r.out
    assert "name:list products" in r.out and "max<=3" in r.out


def test_duration_log_counts_statements_strictly_over_slow_ms_inside_the_window() -> None:
    import json as js

    from loadorch.db.durationlog import count_slow

    def line(at: str, message: str, app: str = "shop") -> str:
        return js.dumps({"timestamp": f"2026-11-25 01:00:{at} UTC", "message": message, "application_name": app})

    jsonlog = "\n".join([
        line("00.500", "duration: 250.100 ms  execute <unnamed>: SELECT pg_sleep($1)"),
        line("01.000", "duration: 200.000 ms  statement: SELECT 1"),  # not strictly over
        line("01.100", "duration: 199.990 ms  execute S_1: SELECT 2"),
        line("01.200", "duration: 900.000 ms  parse <unnamed>: SELECT 3"),  # parse is not a statement
        line("01.300", "duration: 300.000 ms  statement: SELECT 4", app="loadorch-collector"),  # ours
        line("09.000", "duration: 300.000 ms  statement: SELECT 5"),  # after the window
        '{"timestamp": "2026-11-25 01:00:01.4',  # cut at the edge of what was read
    ])
    start, end = "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000"
    assert count_slow(jsonlog, start, end, 200.0, "loadorch-collector") == 1
    csv_line = ('2026-11-25 01:00:02.000 UTC,"app","shop",42,"127.0.0.1:5",abc.1,3,"SELECT",2026-11-25 01:00:00 UTC,'
                '3/4,0,LOG,00000,"duration: 201.5 ms  execute <unnamed>: SELECT ""x"", 1",,,,,,,,,"shop","client backend",,0\n')
    assert count_slow(csv_line, start, end, 200.0) == 1 and count_slow(csv_line, start, end, 250.0) == 0


def test_a_logged_statement_of_megabytes_is_kept_bounded_in_size() -> None:
    """A bulk INSERT logged whole (inline, or when it started and then bare): its text cut at MAX_STATEMENT_TEXT
    wherever it is kept (the parsed line, the sessions' started texts, the slow tally's names), its count exact."""
    import json as js

    from loadorch.db.durationlog import MAX_STATEMENT_TEXT, SlowTally, parse

    big = "INSERT INTO t VALUES " + ", ".join(f"({i}, 'row {i}')" for i in range(60_000))  # about 1 MB

    def line(at: str, message: str, session: str) -> str:
        return js.dumps({"timestamp": f"2026-11-25 01:00:{at} UTC", "message": message, "application_name": "shop",
                         "session_id": session})

    jsonlog = "\n".join([
        line("00.500", f"duration: 250.1 ms  statement: {big}", "s1"),
        line("00.600", f"statement: {big}", "s2"),  # log_statement's line when it started
        line("00.700", "duration: 300.0 ms", "s2"),  # then the bare duration line names it
    ])
    logged = list(parse(jsonlog))
    assert len(big) > 50 * MAX_STATEMENT_TEXT and [round(x.duration_ms, 1) for x in logged] == [250.1, 300.0]
    assert all(x.statement == big[:MAX_STATEMENT_TEXT] for x in logged)
    tally = SlowTally()
    keys = {tally.add(x) for x in logged}
    assert tally.count == 2 and len(keys) == 1  # the same statement both times, counted twice
    assert all(len(k) <= MAX_STATEMENT_TEXT + 5 for k in keys)
    assert all(len(t) <= MAX_STATEMENT_TEXT for t in tally.texts.values())


def test_snapshot_differences_name_the_n_plus_one_and_flag_deallocation() -> None:
    from loadorch.db.statements import (
        OWN_MARK,
        Snapshot,
        diff,
        repeated,
        snapshot_rows,
        top_level_calls,
        window_problem,
    )

    before = Snapshot(snapshot_rows([(10, 5, 1, True, 100, 50.0, 1.0, "SELECT * FROM products WHERE id > $1"),
                                     (10, 5, 2, True, 7, 1.0, 0.2, f"{OWN_MARK} SELECT 1")]), 0, "r", "t0")
    after = Snapshot(snapshot_rows([(10, 5, 1, True, 101, 50.5, 1.0, "SELECT * FROM products WHERE id > $1"),
                                    (10, 5, 2, True, 9, 1.2, 0.2, f"{OWN_MARK} SELECT 1"),
                                    (10, 5, 3, True, 20, 2.0, 0.2, "SELECT id, name, created_at, updated_at FROM categories WHERE id = $1"),
                                    (10, 5, None, True, 99, 9.0, 1.0, "<insufficient privilege>")]), 0, "r", "t1")
    deltas = diff(before, after)
    assert top_level_calls(deltas) == 21  # the collector's own statements and hidden rows are left out
    assert [str(r) for r in repeated(deltas)] == ["SELECT ... FROM categories WHERE id = $1 x20"]
    assert window_problem(before, after) is None
    moved = Snapshot(after.rows, 3, "r", "t1")
    assert "deallocated 3 times" in (window_problem(before, moved, "5000") or "")
    assert "reset" in (window_problem(before, Snapshot(after.rows, 0, "r2", "t1")) or "")


def test_log_files_read_since_a_mark_in_order_and_name_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from loadorch.db import logfiles

    first = tmp_path / "postgresql-1.json"
    first.write_text("a\n")
    (tmp_path / "other.log").write_text("not ours\n")
    files = logfiles.LogFiles(None, str(first))  # type: ignore[arg-type]  (a path: no SQL)
    mark = files.mark()
    first.write_text("a\nb\n")
    second, third = tmp_path / "postgresql-2.json", tmp_path / "postgresql-3.json"
    second.write_text("c\n")
    third.write_text("d\n")
    os.utime(second, (1, 2_000_000_000))
    os.utime(third, (1, 2_000_000_001))
    assert files.read_since(mark) == "b\nc\nd\n"  # the rest of the first, then each rotated file, oldest first
    monkeypatch.setattr(logfiles, "MAX_LOG_READ", 3)
    with pytest.raises(logfiles.LogGap, match="more than the 3 read"):
        files.read_since(mark)
    monkeypatch.setattr(logfiles, "MAX_LOG_READ", 1024)
    first.write_text("")
    with pytest.raises(logfiles.LogGap, match="shrank during the window"):
        files.read_since(mark)
    first.unlink()
    with pytest.raises(logfiles.LogGap, match="is gone"):
        files.read_since(mark)


def test_role_and_database_overrides_that_hide_what_the_gate_measures() -> None:
    from loadorch.db.settings import count_hiding, duration_ms, overrides, slow_hiding

    assert [duration_ms(v) for v in ("250", "250ms", "1s", "1min", "-1", "x")] == [250, 250, 1000, 60000, -1, None]
    found = overrides([
        (5, 10, "shop", "app", "log_min_duration_statement=-1"),
        (5, 0, "shop", "", "log_min_duration_statement=100"),
        (0, 11, "", "ok", "log_min_duration_statement=200ms"),
        (0, 12, "", "other", "work_mem=64MB"),
        (0, 12, "", "other", "pg_stat_statements.track=none"),
    ])
    assert [o.role for o in found] == ["app", "", "ok", "other"]  # only the settings the gates rely on
    [hiding] = slow_hiding(found, {(10, 5), (11, 5), (13, 5)}, 200.0)  # app's own override beats the database's
    assert hiding.reset == "ALTER ROLE app IN DATABASE shop RESET log_min_duration_statement;"
    assert slow_hiding(found, {(11, 5)}, 150.0)[0].reset == "ALTER ROLE ok RESET log_min_duration_statement;"
    assert [o.reset for o in count_hiding(found)] == ["ALTER ROLE other RESET pg_stat_statements.track;"]


def test_bare_duration_lines_count_and_take_their_sessions_statement() -> None:
    import json as js

    from loadorch.db.durationlog import slow_in

    def line(at: str, message: str, session: str = "s1", ps: str = "SELECT", query_id: int = 0) -> str:
        return js.dumps({"timestamp": f"2026-11-25 01:00:{at} UTC", "message": message, "session_id": session,
                         "ps": ps, "query_id": query_id, "application_name": "app"})

    jsonlog = "\n".join([
        line("00.100", "execute <unnamed>: SELECT pg_sleep($1)"),  # log_statement, when it started
        line("00.200", "statement: INSERT INTO t VALUES (1)", session="s2"),
        line("00.400", "duration: 250.372 ms", query_id=7),  # s1's statement ended
        line("00.450", "duration: 300.000 ms", session="s2", ps="INSERT"),
        line("00.500", "duration: 900.000 ms", session="s3", ps="PARSE"),  # log_duration's parse phase
        line("00.600", "duration: 150.000 ms", session="s2"),  # not slow
    ])
    tally = slow_in(jsonlog, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    assert tally.count == 2 and tally.ids == {7} and tally.unknown_ids == 1
    assert tally.texts == {"id:7": "SELECT pg_sleep($1)", "text:INSERT INTO t VALUES (1)": "INSERT INTO t VALUES (1)"}


def test_the_collectors_mark_sits_inside_the_statement_where_postgresql_18_keeps_it() -> None:
    from loadorch.db.statements import OWN_MARK, is_own, own, snapshot_rows

    assert own("SELECT current_user") == f"SELECT {OWN_MARK} current_user"
    assert own("  EXPLAIN (FORMAT JSON) SELECT 1") == f"EXPLAIN {OWN_MARK} (FORMAT JSON) SELECT 1"
    # PostgreSQL 18 stores a statement from its first word: a leading comment is gone, an inner one stays
    stored_by_18 = own("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements").replace("0)", "$1)")
    assert is_own(stored_by_18) and not is_own("SELECT * FROM products WHERE id = $1")
    rows = snapshot_rows([(10, 5, 1, True, 3, 1.0, 0.5, stored_by_18), (10, 5, 2, True, 4, 1.0, 0.5, "SELECT $1")])
    assert [k[2] for k in rows] == [2]


def test_duration_log_lines_that_are_json_but_not_an_object_are_skipped_like_unreadable_ones() -> None:
    """A jsonlog line that parses but is no entry (an array, a string, a number, nested too deep for the parser)
    is skipped as a cut line is, not a traceback: the statements around it still count."""
    import json as js

    from loadorch.db.durationlog import count_slow

    def line(at: str, message: str) -> str:
        return js.dumps({"timestamp": f"2026-11-25 01:00:{at} UTC", "message": message, "application_name": "shop"})

    jsonlog = "\n".join([
        line("00.500", "duration: 250.100 ms  statement: SELECT 1"),
        '["duration: 300.000 ms  statement: SELECT 2"]',
        '"duration: 300.000 ms  statement: SELECT 3"',
        '12 ',  # no marker: never parsed
        "[" * 100_000 + '"duration: 300.000 ms"' + "]" * 100_000,
        line("00.600", "duration: 260.000 ms  statement: SELECT 4"),
    ])
    assert count_slow(jsonlog, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0) == 2


@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 port=1 user=app password=Canary Pw-7f3a9c",  # a space in an unquoted password
        "postgresql://app:Canary%zzPw-7f3a9c@127.0.0.1:1/shop",  # a % that is not an escape
        "postgresql://app:Canary@Pw-7f3a9c@127.0.0.1:1/shop",  # an @ not encoded: libpq's host holds the rest
        "host=127.0.0.1 port=1 password=Canary Pw-7f3a9c=x",  # the rest read as an option's name
    ],
    ids=["space", "percent", "at-sign", "option"],
)
def test_a_dsn_libpq_cannot_parse_is_not_quoted_back_with_its_password(dsn: str) -> None:
    pytest.importorskip("psycopg")
    from loadorch.config.collectors import PostgresCollector
    from loadorch.db.postgres import CollectorError, PgSession

    with pytest.raises(CollectorError) as raised:
        PgSession(PostgresCollector(dsn=dsn, connect_timeout=1))
    message = str(raised.value)
    assert "unreachable" in message and "Canary" not in message and "Pw-7f3a9c" not in message, message
    assert "127.0.0.1:1" in message  # where it tried is still said


def test_a_refused_connection_says_it_was_refused_not_only_libpqs_hint() -> None:
    """libpq's message is two lines, `connection to server at "127.0.0.1", port N failed: Connection refused` and
    `Is the server running on that host and accepting TCP/IP connections?`: only the hint was kept."""
    pytest.importorskip("psycopg")
    from loadorch.config.collectors import PostgresCollector
    from loadorch.db.postgres import MAX_REASON, CollectorError, PgSession

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(CollectorError) as raised:
        PgSession(PostgresCollector(dsn=f"postgresql://app:Canary-Pw-7f3a9c@127.0.0.1:{closed}/shop", connect_timeout=1))
    message = str(raised.value)
    assert "Connection refused" in message and "Is the server running" in message, message
    assert "\n" not in message and "Canary" not in message
    assert len(message) < MAX_REASON + 200


def test_a_connection_failure_keeps_the_host_and_database_it_names() -> None:
    from loadorch.config.collectors import connect_reason

    reason = 'connection to server at "db.internal", port 6543 failed: FATAL:  database "shop" does not exist'
    assert connect_reason(reason, "postgresql://app:s3cret@db.internal:6543/shop") == reason


def test_a_csvlog_statement_longer_than_128_kib_does_not_end_the_count() -> None:
    """A bulk statement's text over Python csv's default field limit (128 KiB) made the reader stop: every
    slow statement logged after it went uncounted (found on PostgreSQL 15's csvlog: 3 slow, 0 counted)."""
    from loadorch.db.durationlog import count_slow

    def csv_line(at: str, ms: float, statement: str) -> str:
        text = statement.replace('"', '""')
        return (f'2026-11-25 01:00:{at} UTC,"app","shop",42,"127.0.0.1:5",abc.1,3,"SELECT",2026-11-25 01:00:00 UTC,'
                f'3/4,0,LOG,00000,"duration: {ms} ms  statement: {text}",,,,,,,,,"shop","client backend",,0\n')

    big = "INSERT INTO t VALUES\n" + ",\n".join(f"('{'x' * 60}')" for _ in range(2_500))  # 160 KB, many lines
    log = csv_line("01.000", 250.5, big) + csv_line("02.000", 250.5, "SELECT pg_sleep(0.25)") * 2
    assert count_slow(log, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0) == 3


def test_a_jsonlog_statement_holding_a_unicode_line_separator_is_counted() -> None:
    """PostgreSQL's jsonlog escapes control characters but writes U+2028, U+2029 and U+0085 as they are; the log
    was split with str.splitlines, which breaks a line there, and the statement was not counted (PostgreSQL 15:
    3 slow statements, 1 counted)."""
    import json as js

    from loadorch.db.durationlog import count_slow

    def line(at: str, statement: str) -> str:
        return js.dumps({"timestamp": f"2026-11-25 01:00:{at} UTC", "application_name": "shop",
                         "message": f"duration: 250.5 ms  statement: {statement}"}, ensure_ascii=False)

    log = "\n".join(line("01.000", f"SELECT pg_sleep(0.25), 'a{ch}b'") for ch in ("\u2028", "\u2029", "\x85", "x"))
    assert count_slow(log + "\n", "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0) == 4


@pytest.mark.parametrize("name,why", [
    ("x" * 54, "at most 53 characters"), ("lödorch", "printable ASCII"), ("load\torch", "printable ASCII"),
])
def test_an_application_name_postgresql_would_not_keep_as_given_is_refused(tmp_path, name: str, why: str) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL keeps 63 bytes of an application_name and turns any other character than printable ASCII into
    `?`: the collector's name (this one + `-collector`) no longer matched its own lines in the duration log, and
    its own slow statements were counted as the application's (db_query_slow; seen with a real cluster)."""
    from loadorch.config.resolve import build
    from loadorch.errors import ConfigError

    _project(tmp_path, f'collectors:\n  postgres:\n    dsn: postgresql://a@h/d\n    application_name: "{name}"\n')
    with pytest.raises(ConfigError) as err:
        build("p", str(tmp_path), {})
    text = str(err.value)
    assert "p.yaml:7: collectors.postgres.application_name:" in text and why in text, text
    profile = tmp_path / "profiles" / "p.yaml"
    profile.write_text(profile.read_text().replace(name, "x" * 53))
    assert build("p", str(tmp_path), {}).profile.collectors.postgres.collector_app == "x" * 53 + "-collector"  # type: ignore[union-attr]
