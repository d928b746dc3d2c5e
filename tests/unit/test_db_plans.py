"""Plans as evidence for db_query_slow: auto_explain's JSON read and masked, paired with the slow lines of
the duration log, flags with their thresholds, the N+1 loop's source, and the auto_explain settings check."""

from __future__ import annotations

import json

import pytest

from loadorch.db import planflags as pf
from loadorch.db.durationlog import slow_in
from loadorch.db.explain import (
    explain_notes,
    explain_problem,
    generic_plan_sql,
    how_to_explain,
    scanned_relations,
    slow_plans,
)
from loadorch.db.plans import PlanNode, mask_constants, plan_message, read_plan
from loadorch.db.statements import Delta, repeated, slow_named, top_statements

SECRET = "Canary-7f3a"


def _node(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"Parallel Aware": False, "Plan Rows": 1, "Actual Loops": 1, "Shared Hit Blocks": 9}
    return {**base, **kw}


# as PostgreSQL 15's auto_explain logs it (log_format = json, log_analyze on, log_timing off, log_buffers on):
# the extended protocol's query text keeps $1, but the custom plan's Filter shows the bound value
SEQ_SCAN = {
    "Query Text": f"SELECT count(*) FROM audit_log WHERE note = $1 /* {SECRET} */",
    "Plan": _node(**{"Node Type": "Aggregate", "Actual Rows": 1, "Plans": [_node(**{
        "Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "audit_log", "Alias": "audit_log",
        "Actual Rows": 0, "Filter": f"(note = '{SECRET}''s'::text)", "Rows Removed by Filter": 120000,
        "Temp Written Blocks": 0})]}),
}
SORT = {
    "Query Text": "SELECT count(*) FROM (SELECT note FROM audit_log ORDER BY note OFFSET 0) s",
    "Plan": _node(**{"Node Type": "Aggregate", "Actual Rows": 1, "Plans": [_node(**{
        "Node Type": "Sort", "Actual Rows": 100000, "Sort Key": ["audit_log.note"], "Sort Method": "external merge",
        "Sort Space Used": 4224, "Sort Space Type": "Disk", "Temp Written Blocks": 530,
        "Workers": [{"Worker Number": 0, "Sort Space Used": 5000, "Sort Space Type": "Disk"}]})]}),
}


def test_constants_are_masked_and_names_kept() -> None:
    assert mask_constants("(v = 'abc''x'::text)") == "(v = ?::text)"
    assert mask_constants("((id < 50000) AND (b1.id = $1) AND (x > -2.5e3))") == "((id < ?) AND (b1.id = $1) AND (x > ?))"
    assert mask_constants("\"we'ird col\" = 'it''s' /* token=abc */ -- secret\n AND c2 = 7") == (
        "\"we'ird col\" = ? AND c2 = ?"
    )
    assert mask_constants("note = 'cut at the edge") == "note = ?"  # an unterminated literal: masked to the end
    assert mask_constants("'{1,2,3}'::integer[]") == "?::integer[]"


def test_an_escape_string_constant_is_masked_whole_and_those_after_it_too() -> None:
    """In E'...' a backslash escapes the quote (`E'O\\'Brien'` is one constant): read as a plain literal, it ended at
    the escaped quote, and from there every quote was read the other way round, showing what the next literal held
    (the duration log's text is as the client sent it)."""
    sql = "SELECT * FROM u WHERE name = E'O\\'Brien' AND token = 'tok-s3cr3t' AND n = 5"
    assert mask_constants(sql) == "SELECT * FROM u WHERE name = ? AND token = ? AND n = ?"
    assert mask_constants("SELECT e'a\\\\'||'b-s3cr3t'") == "SELECT ?||?"  # an escaped backslash: the quote ends it
    assert mask_constants("x = E'cut \\' at the edge") == "x = ?"  # unterminated: masked to the end
    assert mask_constants("date'2026-01-01', typE'x'") == "date?, typE?"  # a type's name before a literal: kept


def test_a_settings_value_written_as_a_bare_word_is_masked() -> None:
    """A setting's value need not be a literal: PostgreSQL 15.18 stored these three in pg_stat_statements as
    sent (seen with a real cluster), and they were shown with their values. In a statement that starts with SET
    or ALTER the value after TO or = is masked whatever it is; an UPDATE's SET keeps its columns."""
    assert mask_constants("SET app.token TO s3cr3tBareWord") == "SET app.token TO ?"
    assert mask_constants("SET app.other = another_bare_secret") == "SET app.other = ?"
    assert mask_constants("ALTER ROLE postgres SET app.key = role_bare_secret") == "ALTER ROLE postgres SET app.key = ?"
    assert mask_constants("ALTER ROLE app IN DATABASE shop SET app.key TO k1, k2") == (
        "ALTER ROLE app IN DATABASE shop SET app.key TO ?")
    assert mask_constants('select 1; set local "app key" = bare') == 'select ?; set local "app key" = ?'
    assert mask_constants("SET app.token = e'a\\\\'||'b-s3cr3t'") == "SET app.token = ?"
    # what takes no TO or =, and an UPDATE's or an upsert's columns, stay as they are
    assert mask_constants("SET ROLE reporting") == "SET ROLE reporting"
    assert mask_constants("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE") == "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"
    assert mask_constants("UPDATE t SET a = b + 1 WHERE id = 5") == "UPDATE t SET a = b + ? WHERE id = ?"
    assert mask_constants("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a") == (
        "INSERT INTO t VALUES (?) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a")


def test_a_nested_comment_is_dropped_whole() -> None:
    """PostgreSQL's comments nest, and pg_stat_statements keeps a statement's comments: PostgreSQL 15 stored
    this text, and the first `*/` was read as the comment's end, showing the rest of it."""
    stored = "SELECT /* route /* tenant */ Canary-token-1 */ $1 AS fresh_one"
    assert mask_constants(stored) == "SELECT $1 AS fresh_one"
    assert mask_constants("SELECT 1 /* a /* b /* c */ d */ e */, 2 /* f */") == "SELECT ? , ?"
    assert mask_constants("SELECT 1 /* a /* b */ cut at the edge") == "SELECT ?"  # unclosed: dropped to the end


def test_every_form_of_a_number_is_masked() -> None:
    """PostgreSQL 15 keeps a utility statement as sent (`SET app.token = .5` stood in pg_stat_statements and in
    the report); a number was masked only as digits[.digits][e...], so .5, 5., and PostgreSQL 16's 0x1F, 0o17,
    0b101 and 1_000_000 were shown as written."""
    assert mask_constants("SET app.token = .5") == "SET app.token = ?"
    assert mask_constants("CALL f(5., 0x1F, 0o17, 0b101, 1_000_000, -1.5e-3, 1E+5, 12abc)") == "CALL f(?, ?, ?, ?, ?, ?, ?, ?)"
    assert mask_constants("SELECT t1.c2, $12, a.b3 FROM t1 WHERE x[1:2] = 3-1") == (
        "SELECT t1.c2, $12, a.b3 FROM t1 WHERE x[?:?] = ?-?"
    )


def test_a_literal_whose_end_depends_on_standard_conforming_strings_is_masked_to_the_end() -> None:
    """With standard_conforming_strings off a backslash escapes a quote in a plain literal too: PostgreSQL 15 kept
    `SET app.note = 'It\\'s the Canary-pw-9 one'` as sent, read as one literal by the server, and it was named
    `SET app.note = ?s the Canary-pw-? one?`. Where the two readings end a literal apart, the rest is masked."""
    assert mask_constants("SET app.note = 'It\\'s the Canary-pw-9 one'") == "SET app.note = ?"
    # read with it on, 'C:\\' ends at its second quote and what follows is SQL: masked too (over-masking is safe)
    assert mask_constants("SELECT 'C:\\', 'Canary' FROM t") == "SELECT ?"
    # where both readings agree, only the literal is masked
    assert mask_constants("SELECT 'a\\\\b', 'it''s' FROM t") == "SELECT ?, ? FROM t"


def test_auto_explain_plan_is_read_without_query_text_or_values() -> None:
    message = "duration: 39.958 ms  plan:\n" + json.dumps(SEQ_SCAN, indent=2)
    duration, text = plan_message(message) or (0.0, "")
    plan = read_plan(text, duration)
    assert plan is not None and plan.duration_ms == 39.958 and not plan.estimate
    assert plan.lines() == [
        "Aggregate (rows=1, loops=1)",
        "  -> Seq Scan on audit_log (rows=0, loops=1, removed by filter=120000)",
        "       Filter: (note = ?::text)",
    ]
    assert SECRET not in plan.as_text().model_dump_json()
    assert plan_message("duration: 1.0 ms  statement: SELECT 1") is None
    assert read_plan("{cut") is None and read_plan('{"Query Text": "x"}') is None


def test_a_plan_is_bounded_in_nodes() -> None:
    deep: dict[str, object] = _node(**{"Node Type": "Result", "Actual Rows": 1})
    for _ in range(60):
        deep = _node(**{"Node Type": "Append", "Actual Rows": 1, "Plans": [deep]})
    plan = read_plan(json.dumps({"Plan": deep}))
    assert plan is not None and len(plan.nodes) == 40 and plan.left_out == 21
    assert plan.lines()[-1] == "(21 more nodes left out)"


def test_a_plan_of_any_depth_is_read_without_a_recursion_error() -> None:
    """A plan is a log's to say (auto_explain lines, a file the profile points at): 3,000 levels were a
    RecursionError from the recursive walk, and JSON nested past the decoder's depth one from json.loads, each
    a traceback instead of a plan or none."""
    from loadorch.db.plans import plan_of

    deep: dict[str, object] = _node(**{"Node Type": "Result", "Actual Rows": 1})
    for _ in range(3000):
        deep = _node(**{"Node Type": "Append", "Actual Rows": 1, "Plans": [deep]})
    plan = plan_of({"Plan": deep})
    assert plan is not None and len(plan.nodes) == 40 and plan.left_out == 2961
    assert [n.depth for n in plan.nodes] == list(range(40))  # depth first, in order, as the recursive walk read it
    assert read_plan('{"Plan": ' + '{"Plans": [' * 100_000) is None  # cut and too deep for the decoder


def test_a_plan_line_of_another_shape_is_read_without_an_error_and_the_slow_statements_still_count() -> None:
    """Any session may log a message that starts as auto_explain's (PL/pgSQL's `RAISE LOG E'duration: 900 ms  plan:
    \\n{...}'` writes exactly that into the jsonlog, seen on PostgreSQL 15): its "Plans" a number, its figures
    NaN or 1e999 were a TypeError, a ValueError or an OverflowError at the window's end, which ended the run with
    a traceback and no HTTP verdict."""
    odd = [
        {"Plan": {"Node Type": "Result", "Plans": 5}},
        {"Plan": {"Node Type": "Sort", "Workers": 5, "Sort Space Type": "Disk", "Sort Space Used": 1e999}},
        {"Plan": {"Node Type": "Hash", "Hash Batches": float("nan"), "Actual Rows": 1, "Peak Memory Usage": 1e999}},
        {"Plan": {"Node Type": "Hash", "Hash Batches": 1e300, "Actual Rows": 1, "Peak Memory Usage": 1e300}},
        {"Plan": {"Node Type": "Seq Scan", "Actual Rows": float("inf"), "Actual Loops": "x", "Plans": {"a": 1}}},
    ]
    lines = [{"at": f"00.{100 + i}", "session_id": "s9", "query_id": 3,
              "message": "duration: 900 ms  plan:\n" + json.dumps(doc)} for i, doc in enumerate(odd)]
    lines.append({"at": "00.300", "session_id": "s9", "query_id": 3, "message": "duration: 901.0 ms  statement: DO ?"})
    tally = slow_in(_jsonlog(*lines), "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    assert tally.count == 1 and tally.plan_counts == {"id:3": 1}
    for doc in odd:
        plan = read_plan(json.dumps(doc))
        assert plan is not None
        pf.plan_flags(plan, "4MB")  # what the evidence computes from it: finite figures, no error
        plan.lines()


def test_seq_scan_and_filter_flags_take_their_thresholds() -> None:
    def scan(rows: float, removed: float, loops: float = 1) -> list[str]:
        node = PlanNode(1, "Seq Scan", "audit_log", rows=rows, loops=loops, removed=removed, conditions=("Filter: (a = ?)",))
        return [f.kind for f in pf._node_flags(node, "", False)]

    assert scan(0, 120_000) == ["seq_scan", "filter"]
    assert scan(0, pf.LARGE_SCAN_ROWS - 1) == ["filter"]  # not large, but the filter still wastes reads
    assert scan(5_000, 4_000, loops=2) == ["seq_scan"]  # 18,000 read over 2 loops; removed < 10x returned
    assert scan(4_000, 999, loops=2) == []  # 9,998 read: not large
    assert scan(100, 999) == []  # fewer than FILTER_MIN_REMOVED removed
    [seq] = [f for f in pf.plan_flags(read_plan(json.dumps(SEQ_SCAN)) or pytest.fail(), "4MB") if f.kind == "seq_scan"]
    assert seq.text.startswith("sequential scan of audit_log: 120,000 rows read with Filter: (note = ?::text)")


def test_a_nested_loop_with_many_loops_is_flagged() -> None:
    inner = PlanNode(2, "Index Scan", "orders", index="orders_pkey", rows=1, loops=pf.MANY_LOOPS, parent="Nested Loop",
                     inner=True)
    [flag] = pf._node_flags(inner, "", False)
    assert flag.kind == "nested_loop" and "ran 1,000 times" in flag.text and "orders_pkey" in flag.text
    assert pf._node_flags(PlanNode(2, "Index Scan", rows=1, loops=999, parent="Nested Loop", inner=True), "", False) == []


# PostgreSQL 15's plan (EXPLAIN ANALYZE, trimmed to the keys read) of a LATERAL subquery that joins two tables, run
# once per row of na: its join is a nested loop on the inner side of another, so its outer side (the scan of nb)
# runs 2,000 times too, but it is not what a loop repeats per row
LOOP_IN_LOOP = {"Node Type": "Aggregate", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1, "Plans": [{
    "Node Type": "Nested Loop", "Parent Relationship": "Outer", "Join Type": "Inner", "Plan Rows": 8000,
    "Actual Rows": 8000, "Actual Loops": 1, "Plans": [
        {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "na", "Plan Rows": 2000,
         "Actual Rows": 2000, "Actual Loops": 1},
        {"Node Type": "Nested Loop", "Parent Relationship": "Inner", "Join Type": "Inner", "Plan Rows": 4,
         "Actual Rows": 4, "Actual Loops": 2000, "Plans": [
            {"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "nb", "Plan Rows": 4,
             "Actual Rows": 4, "Actual Loops": 2000, "Filter": "(x = na.x)", "Rows Removed by Filter": 196},
            {"Node Type": "Index Only Scan", "Parent Relationship": "Inner", "Index Name": "nc_id",
             "Relation Name": "nc", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 8000,
             "Index Cond": "(id = nb.id)"}]}]}]}


def test_only_a_nested_loops_inner_side_is_named_as_what_it_repeats() -> None:
    plan = read_plan(json.dumps([{"Plan": LOOP_IN_LOOP}])) or pytest.fail()
    loops = [f.text for f in pf.plan_flags(plan) if f.kind == "nested_loop"]
    assert len(loops) == 2, loops
    assert "its inner side (Nested Loop (rows=4, loops=2000)) ran 2,000 times" in loops[0]
    assert "its inner side (Index Only Scan using nc_id on nc (rows=1, loops=8000)) ran 8,000 times" in loops[1]
    # a plan without "Parent Relationship" (hand-written, or trimmed): a join's second child is its inner side
    bare = json.loads(json.dumps(LOOP_IN_LOOP).replace('"Parent Relationship": "Outer", ', "")
                      .replace('"Parent Relationship": "Inner", ', ""))
    plan = read_plan(json.dumps({"Plan": bare})) or pytest.fail()
    assert [f.text for f in pf.plan_flags(plan) if f.kind == "nested_loop"] == loops


def test_a_spilled_sort_says_about_how_much_work_mem_it_needed() -> None:
    plan = read_plan(json.dumps(SORT)) or pytest.fail()
    [sort] = [n for n in plan.nodes if n.node == "Sort"]
    assert sort.sort_disk and sort.sort_kb == 5000  # the worker's larger sort counts
    needed = pf.sort_work_mem_kb(sort)  # 5000 * 1.5 + 100000 * 48 / 1024
    assert needed == pytest.approx(5000 * 1.5 + 100_000 * 48 / 1024)
    [flag] = pf.plan_flags(plan, "4MB")
    assert flag.kind == "spill" and "external merge, 5000 kB written" in flag.text
    assert "work_mem of about 11.9 MB" in flag.text and "(work_mem is 4MB)" in flag.text and "'12MB'" in flag.text
    hashed = PlanNode(1, "Hash", rows=50_000, batches=64, peak_kb=66)
    [spill] = pf._node_flags(hashed, "", False)
    assert "64 batches of up to 66 kB" in spill.text and "about 4.1 MB" in spill.text
    assert pf._node_flags(PlanNode(1, "Hash", rows=5, batches=1, peak_kb=66), "", False) == []


def test_statement_flags_from_pg_stat_statements() -> None:
    figures = pf.StatementFigures(calls=4, rows=4, shared_hit=100, shared_read=900, temp_written=2048)
    kinds = {f.kind: f.text for f in pf.statement_flags(figures, "4MB")}
    assert "4.0 MB per call" in kinds["spill"] and "2,048 temp blocks in 4 calls" in kinds["spill"]
    assert kinds["hit_ratio"].startswith("shared-buffer hit ratio 10% (shared_blks_hit 100, shared_blks_read 900)")
    assert pf.statement_flags(pf.StatementFigures(4, 4, 900, 99)) == []  # too few blocks read to judge
    assert pf.statement_flags(pf.StatementFigures(4, 4, 9000, 900)) == []  # 91%: not low


def _jsonlog(*lines: dict[str, object]) -> str:
    return "\n".join(json.dumps({"timestamp": f"2026-11-25 01:00:{d.pop('at')} UTC", "application_name": "app", **d})
                     for d in lines)


def test_plans_pair_with_slow_lines_in_either_order_and_name_the_normalized_statement() -> None:
    plan = "duration: 250.000 ms  plan:\n" + json.dumps(SEQ_SCAN)
    sort = "duration: 900.000 ms  plan:\n" + json.dumps(SORT)
    text = _jsonlog(
        {"at": "00.100", "session_id": "s1", "query_id": 7, "message": plan},  # simple protocol: plan first
        {"at": "00.101", "session_id": "s1", "query_id": 7,
         "message": f"duration: 250.5 ms  statement: SELECT count(*) FROM audit_log WHERE note = '{SECRET}'"},
        {"at": "00.200", "session_id": "s2", "query_id": 8,
         "message": "duration: 901.0 ms  execute <unnamed>: SELECT count(*) FROM (SELECT note ...) s"},
        {"at": "00.201", "session_id": "s2", "query_id": 8, "message": sort},  # extended: plan when the portal closes
        {"at": "00.300", "session_id": "s3", "query_id": 9, "message": "duration: 300.0 ms  statement: SELECT 1"},
        {"at": "00.400", "session_id": "s1", "query_id": 7, "message": plan.replace("250.000", "260.000")},
        {"at": "00.401", "session_id": "s1", "query_id": 7,
         "message": f"duration: 261.0 ms  statement: SELECT count(*) FROM audit_log WHERE note = '{SECRET}'"},
    )
    tally = slow_in(text, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    assert tally.count == 4 and tally.plan_counts == {"id:7": 2, "id:8": 1}  # plan lines are not statements
    assert tally.plans["id:7"].duration_ms == 260.0  # the slowest of its plans is kept
    deltas = [Delta((1, 5, 7, True), 2, 511.5, "SELECT count(*) FROM audit_log WHERE note = $1", rows=2,
                    shared_hit=10, shared_read=3000)]
    out = slow_plans(tally, deltas, "4MB")
    assert [p.statement for p in out] == [  # the most time first: 901 ms, 2 x 250 ms, 300 ms
        "SELECT count(*) FROM (SELECT note ...) s (constants masked)",  # no pg_stat_statements row: masked log text
        "SELECT count(*) FROM audit_log WHERE note = $1",  # pg_stat_statements' text, never the logged one
        "SELECT ? (constants masked)",
    ]
    assert [f.kind for f in out[1].flags] == ["seq_scan", "filter", "hit_ratio"]
    assert [f.kind for f in out[0].flags] == ["spill"] and out[2].plan is None
    assert SECRET not in json.dumps([p.model_dump(mode="json") for p in out])


def test_a_statement_run_by_two_roles_is_flagged_from_both_roles_figures() -> None:
    """pg_stat_statements has a row per role for one query_id; the slow statement's figures were one row's
    (the last read): the hit ratio of a role that read 3,000 blocks from disk, for a statement that found
    100,000 of its 103,000 blocks in shared buffers, and that role's calls for the temp blocks per call."""
    text = _jsonlog({"at": "00.100", "session_id": "s1", "query_id": 7,
                     "message": "duration: 250.5 ms  statement: SELECT count(*) FROM audit_log"})
    tally = slow_in(text, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    query = "SELECT count(*) FROM audit_log"
    deltas = [Delta((1, 5, 7, True), 90, 900.0, query, shared_hit=100_000, temp_written=0),
              Delta((2, 5, 7, True), 10, 100.0, query, shared_hit=0, shared_read=3_000, temp_written=800)]
    [plan] = slow_plans(tally, deltas)
    assert [f.kind for f in plan.flags] == ["spill"], plan.flags  # 97% hit: no hit-ratio flag
    assert "800 temp blocks in 100 calls" in plan.flags[0].text


def test_generic_plan_stands_in_marked_as_an_estimate() -> None:
    # PostgreSQL 16's EXPLAIN (GENERIC_PLAN, FORMAT JSON) as a real 16.14 server printed it
    # (tests/integration/test_database_newer.py): a list, estimates only, $n kept; Plan Rows is what the scan
    # returns after its filter (1), not what it reads: the relation's size comes from the planner apart
    recorded = json.dumps([{"Plan": {"Node Type": "Seq Scan", "Parallel Aware": False, "Async Capable": False,
                                     "Relation Name": "audit_log", "Alias": "audit_log", "Startup Cost": 0.0,
                                     "Total Cost": 2084.0, "Plan Rows": 1, "Plan Width": 45,
                                     "Filter": "(note = $1)"}}])
    tally = slow_in(_jsonlog({"at": "00.100", "session_id": "s1", "query_id": 7,
                              "message": "duration: 250.5 ms  statement: SELECT 1"}),
                    "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    deltas = [Delta((1, 5, 7, True), 1, 250.5, "SELECT count(*) FROM audit_log WHERE note = $1", rows=1)]
    assert scanned_relations({7: recorded}) == ["audit_log"]
    [out] = slow_plans(tally, deltas, "", {7: recorded}, sizes={"audit_log": 100000.0})
    assert out.plan is not None and out.plan.estimate and out.plans == 0
    assert out.plan.lines == ["Seq Scan on audit_log (est. rows=1)", "     Filter: (note = $1)"]
    assert out.flags[0].text.startswith("sequential scan of audit_log: estimated 100,000 rows read")
    # without the relation's size, the rows it returns say nothing of what it reads: no flag is made up
    [unsized] = slow_plans(tally, deltas, "", {7: recorded})
    assert [f.kind for f in unsized.flags if f.kind == "seq_scan"] == []
    assert generic_plan_sql("SELECT * FROM t WHERE a = $1") == "EXPLAIN (GENERIC_PLAN, FORMAT JSON) SELECT * FROM t WHERE a = $1"
    assert generic_plan_sql("SET work_mem = $1") is None and generic_plan_sql("SELECT 1; DROP TABLE t") is None


def test_auto_explain_settings_are_checked_with_the_fix() -> None:
    good = {"auto_explain.log_min_duration": "200ms", "auto_explain.log_format": "json"}
    assert explain_problem("pg_stat_statements,auto_explain", good, 200.0) is None
    missing = explain_problem("pg_stat_statements,", {}, 250.0) or ""
    assert missing.startswith("auto_explain is not loaded") and how_to_explain(250.0) in missing
    assert "auto_explain.log_min_duration = '250ms'" in missing and "log_format = 'json'" in missing
    off = explain_problem("auto_explain", {**good, "auto_explain.log_min_duration": "-1"}, 200.0) or ""
    assert off.startswith("auto_explain.log_min_duration is -1")
    above = explain_problem("auto_explain", {**good, "auto_explain.log_min_duration": "1s"}, 200.0) or ""
    assert above.startswith("auto_explain.log_min_duration is 1000 ms, above slow_ms (200 ms)")
    text = explain_problem("auto_explain", {**good, "auto_explain.log_format": "text"}, 200.0) or ""
    assert text.startswith("auto_explain.log_format is not json")
    # what the plans lack, or cost: estimates without log_analyze, a clock read per row with log_timing on
    assert explain_notes(good)[0].startswith("auto_explain.log_analyze is off: the plans show the planner's estimates")
    timed = explain_notes({**good, "auto_explain.log_analyze": "on", "auto_explain.log_timing": "on"})
    assert timed[0].startswith("auto_explain.log_timing is on: every sampled statement's nodes are timed")
    assert explain_notes({**good, "auto_explain.log_analyze": "on", "auto_explain.log_timing": "off"}) == []


def test_n_plus_one_names_the_statement_whose_rows_the_loop_walked() -> None:
    deltas = [
        Delta((1, 5, 1, True), 1, 1.0, "SELECT * FROM products WHERE id > $1 ORDER BY id LIMIT $2", rows=5),
        Delta((1, 5, 2, True), 5, 1.0, "SELECT id, name FROM categories WHERE name = $1", rows=5),
        Delta((1, 5, 3, True), 1, 1.0, "SELECT count(*) FROM orders", rows=1),
        Delta((1, 5, 4, True), 3, 1.0, "SELECT id FROM tags WHERE product = $1", rows=9),  # no list of 3 rows
    ]
    found = {r.statement: r.source for r in repeated(deltas)}
    assert found == {
        "SELECT id, name FROM categories WHERE name = $1": "SELECT * FROM products WHERE id > $1 ORDER BY id LIMIT $2",
        "SELECT id FROM tags WHERE product = $1": "",
    }


def test_the_source_of_an_n_plus_one_is_a_statement_of_the_same_role_and_database() -> None:
    """pg_stat_statements is the whole server's: another role's or database's statement that ran once in the
    probe's window and returned as many rows as the loop ran was named as the loop's source."""
    loop = Delta((10, 5, 2, True), 5, 1.0, "SELECT id, name FROM categories WHERE id = $1", rows=5)
    job = Delta((11, 5, 8, True), 1, 1.0, "SELECT * FROM a_job_queue LIMIT $1", rows=5)  # another role
    other_db = Delta((10, 6, 9, True), 1, 1.0, "SELECT * FROM a_report LIMIT $1", rows=5)  # another database
    assert [r.source for r in repeated([loop, job, other_db])] == [""]
    listing = Delta((10, 5, 1, True), 1, 1.0, "SELECT * FROM products ORDER BY id LIMIT $1", rows=5)
    assert [r.source for r in repeated([loop, job, other_db, listing])] == [
        "SELECT * FROM products ORDER BY id LIMIT $1"
    ]


def test_a_statement_text_with_literals_is_masked_wherever_it_is_named() -> None:
    # pg_stat_statements' texts as a real PostgreSQL 15.18 kept them: a utility statement is not normalized
    kept = "SET app.tenant_token = 'tok_LITERALsecret77'"
    do = "DO $$BEGIN PERFORM set_config($x$app.k$x$, $y$tok_DOLLARsecret$y$, true); END$$"
    deltas = [
        Delta((1, 5, 1, True), 1, 1.0, "SELECT id FROM products WHERE id > $1 LIMIT $2", rows=6),
        Delta((1, 5, 2, True), 6, 900.0, kept, rows=0),
        Delta((1, 5, 3, True), 2, 800.0, do, rows=0),
    ]
    [set_loop, do_loop] = repeated(deltas)
    assert set_loop.statement == "SET app.tenant_token = ?" and do_loop.statement == "DO ?"
    assert [t["statement"] for t in top_statements(deltas)][:2] == ["SET app.tenant_token = ?", "DO ?"]
    logged = "SELECT count(*) FROM audit_log WHERE note = 'tok_LOGGEDsecret' AND n > 42"
    text = _jsonlog(
        {"at": "00.100", "session_id": "s1", "query_id": 2, "message": f"duration: 250.5 ms  statement: {kept}"},
        {"at": "00.200", "session_id": "s2", "message": f"duration: 300.0 ms  statement: {logged}"},  # no query_id
    )
    tally = slow_in(text, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    named = [s["statement"] for s in slow_named(tally, deltas)]
    assert named == ["SET app.tenant_token = ?", "SELECT count(*) FROM audit_log WHERE note = ? AND n > ?"]
    assert [p.statement for p in slow_plans(tally, deltas)] == [
        "SELECT count(*) FROM audit_log WHERE note = ? AND n > ? (constants masked)", "SET app.tenant_token = ?"]
    assert mask_constants("SELECT $1, $tag$ a $ b $tag$ || $$x$$, t1.c2") == "SELECT $1, ? || ?, t1.c2"
    everything = json.dumps([named, [p.model_dump(mode="json") for p in slow_plans(tally, deltas)],
                             top_statements(deltas), [r.statement + r.source for r in repeated(deltas)]])
    assert "secret" not in everything and "42" not in everything


def _row(selector: str, expression: str, evidence: object) -> object:
    from loadorch.results import ThresholdRow

    return ThresholdRow.model_validate({"selector": selector, "expression": expression, "observed": 0.5, "limit": 0.001,
                                        "samples": 10, "error_bound": 0.0, "verdict": "fail", "message": "m",
                                        "evidence": evidence})


def test_the_database_evidence_reads_short_in_junit_and_whole_in_the_summary_and_html() -> None:
    from types import SimpleNamespace

    from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
    from loadorch.db.measure import DbMeasurement, ProbeRow, Repeated
    from loadorch.report.evidence import evidence_of, html_evidence, markdown_evidence, short_text
    from loadorch.results import Evidence, PlanFlag, SlowPlan
    from loadorch.verdict.evaluate import ThresholdResult

    plan = read_plan(json.dumps(SORT), 900.0) or pytest.fail()
    db = DbMeasurement(200.0, queries=10, slow=3)
    db.plans = [SlowPlan(statement="SELECT MAX(r) FROM t", count=3, plans=3, plan=plan.as_text(),
                         flags=[PlanFlag(kind=f.kind, text=f.text) for f in pf.plan_flags(plan, "4MB")])]
    db.probe = [ProbeRow("list products", "u", "read", "GET", 6, None, (Repeated("SELECT c FROM cat WHERE n = $1", 5,
                                                                                   "SELECT * FROM products LIMIT $1"),))]
    record = SimpleNamespace(database=db.to_collector(), browser_evidence={}, lighthouse_evidence={})

    def judged(selector: str, expression: str) -> Evidence | None:
        sel = parse_selector(selector)
        t = Threshold(sel, parse_expression(expression, sel.metric))
        result = ThresholdResult(selector, expression, 0.3, 0.001, "", 10, 0.0, "fail", "m", threshold=t)
        return evidence_of(result, record)  # type: ignore[arg-type]

    slow = judged("db_query_slow", "rate<0.001") or pytest.fail()
    loops = judged("db_queries_per_request{name:list products}", "max<=3") or pytest.fail()
    assert judged("db_queries_per_request{name:other}", "max<=3") is None  # no probe row of that endpoint
    short = short_text(Evidence.model_validate(slow))
    assert short.splitlines()[0] == "slow statement: SELECT MAX(r) FROM t (3 slow)"
    assert short.splitlines()[1].startswith("- spill: sort spilled to disk (external merge, 5000 kB written)")
    assert short_text(Evidence.model_validate(loops)) == (
        "N+1: list products: SELECT c FROM cat WHERE n = $1 x5 per request; its source: SELECT * FROM products LIMIT $1"
    )
    rows = [_row("db_query_slow", "rate<0.001", slow), _row("db_queries_per_request{name:list products}", "max<=3", loops)]
    md = "\n".join(markdown_evidence(rows))  # type: ignore[arg-type]
    assert "Slow statement: `SELECT MAX(r) FROM t` (3 slow)" in md and "```text\nAggregate (rows=1, loops=1)" in md
    assert "- spill: sort spilled to disk" in md and "its source: SELECT \\* FROM products" in md.replace("*", "\\*")
    html = html_evidence(rows)  # type: ignore[arg-type]
    assert "<pre>Aggregate (rows=1, loops=1)\n  -&gt; Sort" in html and "<td>5</td>" in html


def test_a_failing_db_queries_gate_names_the_statements_that_took_the_most_time() -> None:
    """A `db_queries` gate (the statements in the window) had no evidence: the top statements by time."""
    from types import SimpleNamespace

    from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
    from loadorch.report.evidence import evidence_of, html_evidence, markdown_evidence, short_text
    from loadorch.results import DbCollector, TopStatement
    from loadorch.verdict.evaluate import ThresholdResult

    top = [TopStatement(statement="SELECT * FROM products WHERE id = $1", calls=900, total_ms=45.0, mean_ms=0.05),
           TopStatement(statement="SELECT id, name FROM categories WHERE name = $1", calls=4500, total_ms=30.0,
                        mean_ms=0.007)]
    record = SimpleNamespace(database=DbCollector(slow_ms=200.0, queries=5400, top=top), browser_evidence={}, lighthouse_evidence={})
    sel = parse_selector("db_queries")
    t = Threshold(sel, parse_expression("count<1000", sel.metric))
    ev = evidence_of(ThresholdResult("db_queries", "count<1000", 5400, 1000, "", 5400, 0.0, "fail", "m", threshold=t),
                     record)  # type: ignore[arg-type]
    assert ev is not None and ev.database is not None and ev.database.top == top
    assert short_text(ev).splitlines()[0] == (
        "top statement: SELECT * FROM products WHERE id = $1: 900 calls, 45 ms in all, 0.05 ms each")
    rows = [_row("db_queries", "count<1000", ev.model_dump())]
    assert "Statements that took the most time:" in "\n".join(markdown_evidence(rows))  # type: ignore[arg-type]
    assert "<h4>Statements that took the most time</h4>" in html_evidence(rows)  # type: ignore[arg-type]


def test_without_auto_explain_the_evidence_says_how_to_turn_it_on() -> None:
    from loadorch.report.evidence import markdown_evidence, short_text
    from loadorch.results import Evidence

    note = explain_problem("", {}, 200.0)
    evidence = {"database": {"plans": [{"statement": "SELECT pg_sleep($1)", "count": 3}], "plans_note": note}}
    short = short_text(Evidence.model_validate(evidence))
    assert short.splitlines()[1].startswith("no plan: auto_explain is not loaded, so the log has no plans: ALTER SYSTEM")
    md = "\n".join(markdown_evidence([_row("db_query_slow", "rate<0.001", evidence)]))  # type: ignore[list-item]
    assert "auto_explain.sample_rate = 0.1; SELECT pg_reload_conf();" in md  # whole in summary.md: it is the fix


def test_the_shops_db_causes_knob_gives_each_request_one_of_each_cause_left() -> None:
    from loadorch.target.knobs import Knobs

    knobs = Knobs()
    knobs.update({"db_causes": {"seq_scan": 2, "sort_spill": 1}})
    assert [knobs.take_causes() for _ in range(3)] == [["seq_scan", "sort_spill"], ["seq_scan"], []]
    with pytest.raises(ValueError, match="db_causes: unknown index_scan"):
        knobs.update({"db_causes": {"index_scan": 1}})
    assert knobs.snapshot()["db_causes"] == {}


def test_the_plan_of_a_faster_run_is_not_paired_with_the_next_slow_run() -> None:
    """auto_explain.log_min_duration below slow_ms logs the plans of faster runs too; over the extended protocol
    a SELECT's plan comes after its execute line (as PostgreSQL 15 logged it: execute 100 ms, plan 100 ms,
    execute 250 ms, plan 250 ms), so the fast run's plan waited and was paired with the slow run's line."""
    select = "SELECT pg_sleep($1), 'x' AS k"

    def plan(ms: str) -> str:
        return f"duration: {ms} ms  plan:\n" + json.dumps({"Query Text": select, "Plan": _node(
            **{"Node Type": "Result", "Actual Rows": 1, "Plan Rows": float(ms)})})

    text = _jsonlog(
        {"at": "00.100", "session_id": "s1", "query_id": 7, "message": f"duration: 100.215 ms  execute <unnamed>: {select}"},
        {"at": "00.101", "session_id": "s1", "query_id": 7, "message": plan("100.198")},
        {"at": "00.400", "session_id": "s1", "query_id": 7, "message": f"duration: 250.369 ms  execute <unnamed>: {select}"},
        {"at": "00.401", "session_id": "s1", "query_id": 7, "message": plan("250.359")},
    )
    tally = slow_in(text, "2026-11-25 01:00:00.000", "2026-11-25 01:00:05.000", 200.0)
    assert tally.count == 1 and tally.plan_counts == {"id:7": 1}
    assert tally.plans["id:7"].duration_ms == 250.359


def test_the_note_of_no_logged_plan_says_what_is_known() -> None:
    from loadorch.db.explain import no_plan_note, sample_rate_of

    assert sample_rate_of("0.1") == 0.1 and sample_rate_of(None) is None and sample_rate_of("x") is None
    low = no_plan_note(0.1, 0, 256)
    assert "auto_explain.sample_rate is 0.1, so it skips the rest: raise it" in low and "pool" not in low
    skipped = no_plan_note(1.0, 3, 256)
    assert "3 plan line(s) were longer than 256 KB" in skipped and "sample_rate" not in skipped
    neither = no_plan_note(1.0, 0, 256)
    assert "(auto_explain.sample_rate is 1)" in neither and "restart the application's connection pool" in neither
