"""pg_stat_statements snapshots and their differences: statements in a window, the N+1 signature and
the top statements (pure). Rows match on (userid, dbid, queryid, toplevel), as the view keys them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loadorch.db.durationlog import SlowTally
from loadorch.db.measure import Repeated, SlowJson, TopJson, short_statement

OWN_MARK = "/* loadorch-collector */"  # in every statement the collector runs (`own`): never counted


def own(sql: str) -> str:
    """`sql` marked as the collector's: the mark after its first word. PostgreSQL 18 keeps no leading comment in
    pg_stat_statements' text (the statement starts at its first word there), so a leading mark was lost and the
    collector's own statements were counted as the application's; a comment inside the statement it keeps."""
    first, _, rest = sql.strip().partition(" ")
    return f"{first} {OWN_MARK} {rest}"


def is_own(text: str) -> bool:
    return OWN_MARK in text

StatKey = tuple[int, int, int, bool]


@dataclass(frozen=True)
class StatRow:
    calls: int
    total_ms: float
    query: str
    max_ms: float = 0.0  # max_exec_time since the entry was created or its min/max reset
    rows: int = 0  # rows retrieved or affected
    shared_hit: int = 0  # shared_blks_hit
    shared_read: int = 0  # shared_blks_read
    temp_written: int = 0  # temp_blks_written


@dataclass(frozen=True)
class Snapshot:
    rows: Mapping[StatKey, StatRow]
    dealloc: int
    stats_reset: str
    at: str  # the server's clock in log_timezone, formatted like the log's timestamps (YYYY-MM-DD HH:MM:SS.mmm)
    hidden: int = 0  # rows whose queryid the collector's role may not see (they cannot be matched)


@dataclass(frozen=True)
class Delta:
    key: StatKey
    calls: int
    total_ms: float
    query: str
    max_ms: float | None = None  # the longest run in the window, when the snapshots tell it
    rows: int = 0
    shared_hit: int = 0
    shared_read: int = 0
    temp_written: int = 0

    @property
    def toplevel(self) -> bool:
        return self.key[3]


Row = tuple[Any, ...]  # (userid, dbid, queryid, toplevel, calls, total, max, query[, rows, hit, read, temp written])
FIGURES = "rows, shared_blks_hit, shared_blks_read, temp_blks_written"  # the optional columns, in order


def snapshot_rows(rows: Iterable[Row]) -> dict[StatKey, StatRow]:
    """Rows of (userid, dbid, queryid, toplevel, calls, total_exec_time, max_exec_time, query, then
    optionally the FIGURES columns), without the collector's own statements; a row without a queryid (no
    privilege to see it) cannot be matched and is left out (`hidden_rows` counts them)."""
    out: dict[StatKey, StatRow] = {}
    for userid, dbid, queryid, toplevel, calls, total_ms, max_ms, query, *figures in rows:
        text = query or ""
        if queryid is None or is_own(text):
            continue
        key = (int(userid), int(dbid), int(queryid), bool(toplevel))
        more = [int(v or 0) for v in figures[:4]]
        out[key] = StatRow(int(calls), float(total_ms), text, float(max_ms or 0.0), *more)
    return out


def hidden_rows(rows: Iterable[Row]) -> int:
    return sum(1 for row in rows if row[2] is None)


def diff(before: Snapshot, after: Snapshot) -> list[Delta]:
    """What ran between two snapshots; an entry new in `after` ran `calls` times since. The window's
    longest run is known when the entry is new or its max_exec_time rose; otherwise it is at most the
    old maximum, and unknown."""
    out = []
    for key, row in after.rows.items():
        old = before.rows.get(key)
        calls = row.calls - (old.calls if old else 0)
        if calls > 0:
            longest = row.max_ms if old is None or row.max_ms > old.max_ms else None
            base = old or StatRow(0, 0.0, "")
            out.append(
                Delta(
                    key,
                    calls,
                    row.total_ms - base.total_ms,
                    row.query,
                    longest,
                    row.rows - base.rows,
                    row.shared_hit - base.shared_hit,
                    row.shared_read - base.shared_read,
                    row.temp_written - base.temp_written,
                )
            )
    return out


def window_problem(before: Snapshot, after: Snapshot, max_entries: str = "?", role: str = "") -> str | None:
    """Why a difference of these snapshots is not exact, if it is not."""
    if after.stats_reset != before.stats_reset:
        return "pg_stat_statements was reset during the window (pg_stat_statements_reset()); run again"
    hidden = max(before.hidden, after.hidden)
    if hidden:
        who = role or "the collector's role"
        return (
            f"{who} could not see {hidden} pg_stat_statements rows of other roles (their queryid is hidden, "
            f"so their calls cannot be matched; was a privilege revoked during the run?): GRANT pg_monitor TO "
            f"{role or '<role>'}; then run again"
        )
    went_down = _went_down(before, after)
    if after.dealloc != before.dealloc:
        return (
            f"pg_stat_statements deallocated {after.dealloc - before.dealloc} times during the window (it keeps "
            f"pg_stat_statements.max = {max_entries} statements), so some statements' counts were lost: raise "
            "pg_stat_statements.max in postgresql.conf (needs a restart) or run a shorter window"
        )
    if went_down:
        return (
            f"pg_stat_statements was partly reset during the window: {went_down} (pg_stat_statements_reset with "
            "a role, database or queryid does not move stats_reset), so the window's calls are unknown: do not "
            "reset pg_stat_statements while a run measures it, then run again"
        )
    return None


def _went_down(before: Snapshot, after: Snapshot) -> str:
    """The rows whose calls went down or that vanished, described (empty: none)."""
    lower = vanished = 0
    for key, row in before.rows.items():
        now = after.rows.get(key)
        if now is None:
            vanished += 1
        elif now.calls < row.calls:
            lower += 1
    parts = [f"{lower} statements' calls went down"] if lower else []
    parts += [f"{vanished} statements vanished"] if vanished else []
    return " and ".join(parts)


def top_level_calls(deltas: Iterable[Delta]) -> int:
    return sum(d.calls for d in deltas if d.toplevel)


MAX_REPEATED = 10  # repeated statements kept per probed request: pg_stat_statements is the whole server's, so a
# shared database's other sessions add theirs to the probe's window (up to pg_stat_statements.max of them)


def repeated(deltas: Iterable[Delta]) -> tuple[Repeated, ...]:
    """Statements run more than once by one request (the probe's window holds exactly one request), each
    with its source when one can be told: the statement of the same role and database, run fewer times, that
    returned exactly as many rows as the loop ran (the list whose rows the loop walked)."""
    top = [d for d in deltas if d.toplevel]
    loops = sorted((d for d in top if d.calls > 1), key=lambda d: (-d.calls, d.query))[:MAX_REPEATED]
    rows = [Repeated(short_statement(d.query), d.calls, _source(d, top)) for d in loops]
    return tuple(sorted(rows, key=lambda r: (-r.calls, r.statement)))


def _source(loop: Delta, others: list[Delta]) -> str:
    # pg_stat_statements is the whole server's: a statement of another role or database (a job, a monitor) that
    # ran in the probe's window is not the request's, whatever its rows
    fits = [
        d
        for d in others
        if d is not loop and d.key[:2] == loop.key[:2] and d.calls < loop.calls and d.rows == loop.calls
    ]
    if not fits:
        return ""
    best = min(fits, key=lambda d: (d.calls, d.query))  # a list run once beats one run per row of another
    return short_statement(best.query, 120)


def top_statements(deltas: Iterable[Delta], n: int = 10) -> list[TopJson]:
    """The statements that took the most time in the window."""
    ranked = sorted((d for d in deltas if d.toplevel), key=lambda d: -d.total_ms)[:n]
    return [
        TopJson(
            statement=short_statement(d.query, 120),
            calls=d.calls,
            total_ms=round(d.total_ms, 3),
            mean_ms=round(d.total_ms / d.calls, 3),
        )
        for d in ranked
    ]


def unlogged_slow(deltas: Iterable[Delta], tally: SlowTally, slow_ms: float) -> list[tuple[Delta, float]]:
    """Statements that surely ran longer than slow_ms in the window (their max_exec_time rose above it, or
    their mean in the window is above it) but have no slow line in the duration log, with that time: a
    session, role or database setting kept them out of it. Slow lines without a query_id may be theirs:
    that many are given the benefit of the doubt."""
    missing = []
    for d in deltas:
        over = d.max_ms if d.max_ms is not None else d.total_ms / d.calls
        if d.toplevel and over > slow_ms and d.key[2] not in tally.ids:
            missing.append((d, over))
    return missing[tally.unknown_ids :]


def slow_named(tally: SlowTally, deltas: Iterable[Delta], n: int = 10) -> list[SlowJson]:
    """The slow statements by count, named by pg_stat_statements' text (by query_id) or the log's."""
    texts = {f"id:{d.key[2]}": d.query for d in deltas}
    ranked = sorted(tally.by_statement.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
    out: list[SlowJson] = []
    for key, (count, longest) in ranked:
        text = texts.get(key) or tally.texts.get(key) or ""
        name = (
            short_statement(text, 120)
            if text
            else "(other statements)"
            if key == "other"
            else "(text not logged in the window)"
        )
        out.append(SlowJson(statement=name, count=int(count), max_ms=round(longest, 3)))
    return out


def unlogged_message(missing: list[tuple[Delta, float]], slow_ms: float) -> str:
    """Why db_query_slow cannot be trusted when unlogged_slow found statements, naming up to three."""
    named = "; ".join(f"{short_statement(d.query)} (up to {over:.0f} ms)" for d, over in missing[:3])
    more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    return (
        f"pg_stat_statements saw statements slower than {slow_ms:g} ms in the window that the duration log does "
        f"not have: {named}{more}; a session, role or database setting kept them out of the log (SET "
        "log_min_duration_statement or log_min_messages in the application's session or connection options, "
        f"ALTER ROLE/DATABASE ... SET): set log_min_duration_statement to at most {slow_ms:g} ms for the "
        "application's sessions, then run again"
    )
