"""The plans of the slow statements as evidence for db_query_slow: whether auto_explain is set up to log
them (and how to set it up), the EXPLAIN (GENERIC_PLAN) stand-in of PostgreSQL 16+, and each slow
statement's plan with its flags, named by pg_stat_statements' normalized text (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from loadorch.db.durationlog import SlowTally
from loadorch.db.planflags import SCANS, StatementFigures, plan_flags, statement_flags
from loadorch.db.plans import mask_constants, read_plan
from loadorch.db.settings import duration_ms
from loadorch.db.statements import Delta
from loadorch.results import PlanFlag, SlowPlan

GENERIC_PLAN_VERSION = 160000  # server_version_num from which EXPLAIN (GENERIC_PLAN) exists
MAX_PLANS = 5  # slow statements given a plan, by count
EXPLAIN_SETTINGS = (
    "auto_explain.log_min_duration",
    "auto_explain.log_format",
    "auto_explain.log_analyze",
    "auto_explain.log_timing",
    "auto_explain.log_buffers",
    "auto_explain.sample_rate",
)
_EXPLAINABLE = re.compile(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE|VALUES|TABLE|MERGE)\b", re.I)


def how_to_explain(slow_ms: float) -> str:
    """The settings that log the plans of statements slower than slow_ms (README: database section)."""
    return (
        "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'; ALTER SYSTEM SET "
        f"auto_explain.log_min_duration = '{int(slow_ms)}ms'; ALTER SYSTEM SET auto_explain.log_format = 'json'; "
        "ALTER SYSTEM SET auto_explain.log_analyze = on; ALTER SYSTEM SET auto_explain.log_timing = off; "
        "ALTER SYSTEM SET auto_explain.log_buffers = on; ALTER SYSTEM SET auto_explain.sample_rate = 0.1; "
        "SELECT pg_reload_conf(); (new sessions load it: restart the application's pool)"
    )


def explain_problem(libraries: str, settings: Mapping[str, str | None], slow_ms: float) -> str | None:
    """Why the server does not log the plans of the slow statements in JSON, with the fix, or None.
    `libraries` is shared_preload_libraries and session_preload_libraries; `settings` the
    auto_explain.* values as the collector's session sees them (None: not defined)."""
    fix = how_to_explain(slow_ms)
    if "auto_explain" not in libraries:
        return f"auto_explain is not loaded, so the log has no plans: {fix}"
    least = duration_ms(str(settings.get("auto_explain.log_min_duration") or "-1"))
    if least is None or least < 0:
        return f"auto_explain.log_min_duration is -1 (off), so no plan is logged: {fix}"
    if least > slow_ms:
        return (
            f"auto_explain.log_min_duration is {least:g} ms, above slow_ms ({slow_ms:g} ms), so the plans of "
            f"the statements in between are not logged: ALTER SYSTEM SET auto_explain.log_min_duration = "
            f"'{int(slow_ms)}ms'; SELECT pg_reload_conf();"
        )
    if str(settings.get("auto_explain.log_format") or "text") != "json":
        return (
            "auto_explain.log_format is not json, so its plans cannot be read: ALTER SYSTEM SET "
            "auto_explain.log_format = 'json'; SELECT pg_reload_conf();"
        )
    return None


def explain_notes(settings: Mapping[str, str | None]) -> list[str]:
    """What the plans will lack, or cost, with these auto_explain settings."""
    notes = []
    if settings.get("auto_explain.log_analyze") != "on":
        notes.append("auto_explain.log_analyze is off: the plans show the planner's estimates, not the rows read")
    elif settings.get("auto_explain.log_timing") != "off":
        notes.append(
            "auto_explain.log_timing is on: every sampled statement's nodes are timed, which can slow statements "
            "noticeably; set it off (the plans keep their row counts)"
        )
    return notes


def sample_rate_of(value: str | None) -> float | None:
    """auto_explain.sample_rate as a number (None: not defined or not one)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def no_plan_note(sample_rate: float | None, skipped: int, max_kb: int) -> str:
    """Why auto_explain, set up as the collector's session sees it, logged no plan of the window's slow statements,
    from what is known (its sample rate, the plan lines skipped), with the fix; the rest is said as the causes left:
    the application's sessions do not see the collector's settings (a pool that connected before auto_explain was
    set loads it never: session_preload_libraries is read when a session starts)."""
    said = []
    if skipped:
        said.append(f"{skipped} plan line(s) were longer than {max_kb} KB or unreadable: see the server's log")
    if sample_rate is not None and sample_rate < 1:
        said.append(f"auto_explain.sample_rate is {sample_rate:g}, so it skips the rest: raise it (1 logs every one)")
    if said:
        return "auto_explain logged no plan of the slow statements in the window: " + "; ".join(said)
    rate = f" (auto_explain.sample_rate is {sample_rate:g})" if sample_rate is not None else ""
    return (
        f"auto_explain logged no plan of the slow statements in the window{rate}, though the collector's session has "
        "it set up: the application's sessions do not, most likely because they started before it was set "
        "(session_preload_libraries is read when a session starts): restart the application's connection pool; "
        "else a setting of the application's role or database overrides it (auto_explain.log_min_duration, "
        "auto_explain.log_level below log_min_messages)"
    )


def generic_plan_sql(query: str) -> str | None:
    """EXPLAIN (GENERIC_PLAN) of a normalized statement ($n parameters), for PostgreSQL 16+; None for a
    statement EXPLAIN cannot take."""
    if not _EXPLAINABLE.match(query) or ";" in query.rstrip().rstrip(";"):
        return None
    return f"EXPLAIN (GENERIC_PLAN, FORMAT JSON) {query.rstrip().rstrip(';')}"


def by_time(tally: SlowTally) -> list[str]:
    """The slow statements' keys, those whose slow runs took the most time first ("other" left out)."""
    keys = [k for k in tally.by_statement if k != "other"]
    return sorted(keys, key=lambda k: (-tally.slow_ms_total.get(k, 0.0), k))


def generic_candidates(
    tally: SlowTally, deltas: Iterable[Delta], database_oid: int, n: int = MAX_PLANS
) -> dict[int, str]:
    """The normalized texts of the slow statements that took the most time, run in the collector's database, by
    query_id: what EXPLAIN (GENERIC_PLAN) can plan from here."""
    texts = {d.key[2]: d.query for d in deltas if d.toplevel and d.key[1] == database_oid}
    ids = [int(k[3:]) for k in by_time(tally) if k.startswith("id:")]
    return {i: texts[i] for i in [i for i in ids if i in texts][:n]}


def scanned_relations(generic: Mapping[int, str]) -> list[str]:
    """The relations the generic plans scan sequentially (whose estimated size the scan flag needs), sorted."""
    found: set[str] = set()
    for text in generic.values():
        plan = read_plan(text, estimate=True)
        found.update(n.relation for n in (plan.nodes if plan else ()) if n.node in SCANS and n.relation)
    return sorted(found)


def slow_plans(
    tally: SlowTally,
    deltas: Iterable[Delta],
    work_mem: str = "",
    generic: Mapping[int, str] | None = None,
    n: int = MAX_PLANS,
    sizes: Mapping[str, float] | None = None,
) -> list[SlowPlan]:
    """The slow statements that took the most time, with their plan (auto_explain's, else a generic one by query_id,
    marked as an estimate, its scans sized by `sizes`) and flags from the plan and from pg_stat_statements."""
    by_id = _by_query_id(deltas)
    out = []
    for key in by_time(tally):
        count = tally.by_statement[key][0]
        delta = by_id.get(key)
        plan = tally.plans.get(key)
        if plan is None and generic and key.startswith("id:"):
            text = generic.get(int(key[3:]))
            plan = read_plan(text, estimate=True) if text else None
        flags = plan_flags(plan, work_mem, sizes) if plan else []
        if delta is not None:
            figures = StatementFigures(delta.calls, delta.rows, delta.shared_hit, delta.shared_read, delta.temp_written)
            flags += statement_flags(figures, work_mem)
        out.append(
            SlowPlan(
                statement=_name(delta, tally.texts.get(key, "")),
                count=int(count),
                plans=tally.plan_counts.get(key, 0),
                plan=plan.as_text() if plan else None,
                flags=[PlanFlag(kind=f.kind, text=f.text) for f in flags],
            )
        )
        if len(out) >= n:
            break
    return out


def _by_query_id(deltas: Iterable[Delta]) -> dict[str, Delta]:
    """The top-level statements by query_id as the slow tally keys them, each the sum of its rows: one query_id
    has a row per role (and database) that ran it, and the figures of one role's row are not the statement's
    (its hit ratio, its temp blocks per call)."""
    out: dict[str, Delta] = {}
    for d in deltas:
        if not d.toplevel:
            continue
        key = f"id:{d.key[2]}"
        seen = out.get(key)
        out[key] = d if seen is None else replace(
            seen,
            calls=seen.calls + d.calls,
            total_ms=seen.total_ms + d.total_ms,
            rows=seen.rows + d.rows,
            shared_hit=seen.shared_hit + d.shared_hit,
            shared_read=seen.shared_read + d.shared_read,
            temp_written=seen.temp_written + d.temp_written,
        )
    return out


def _name(delta: Delta | None, logged: str) -> str:
    """pg_stat_statements' normalized text (masked again: a utility statement keeps its literals there); the
    log's text only with every constant masked."""
    if delta is not None:
        return _cut(mask_constants(delta.query))
    return _cut(mask_constants(logged)) + " (constants masked)" if logged else "(text not logged)"


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
