"""pg_stat_statements snapshots and their differences: statements in a window, the N+1 signature and
the top statements (pure). Rows match on (userid, dbid, queryid, toplevel), as the view keys them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loadorch.db.measure import Repeated, short_statement

OWN_MARK = "/* loadorch-collector */"  # every statement the collector runs starts with it: never counted

StatKey = tuple[int, int, int, bool]


@dataclass(frozen=True)
class StatRow:
    calls: int
    total_ms: float
    query: str


@dataclass(frozen=True)
class Snapshot:
    rows: Mapping[StatKey, StatRow]
    dealloc: int
    stats_reset: str
    at: str  # the server's clock in log_timezone, formatted like the log's timestamps (YYYY-MM-DD HH:MM:SS.mmm)


@dataclass(frozen=True)
class Delta:
    key: StatKey
    calls: int
    total_ms: float
    query: str

    @property
    def toplevel(self) -> bool:
        return self.key[3]


def snapshot_rows(rows: Iterable[tuple[int, int, int | None, bool, int, float, str | None]]) -> dict[StatKey, StatRow]:
    """Rows of (userid, dbid, queryid, toplevel, calls, total_exec_time, query), without the collector's
    own statements; a row without a queryid (no privilege to see it) cannot be matched and is left out."""
    out: dict[StatKey, StatRow] = {}
    for userid, dbid, queryid, toplevel, calls, total_ms, query in rows:
        text = query or ""
        if queryid is None or text.lstrip().startswith(OWN_MARK):
            continue
        out[(int(userid), int(dbid), int(queryid), bool(toplevel))] = StatRow(int(calls), float(total_ms), text)
    return out


def diff(before: Snapshot, after: Snapshot) -> list[Delta]:
    """What ran between two snapshots; an entry new in `after` ran `calls` times since."""
    out = []
    for key, row in after.rows.items():
        old = before.rows.get(key)
        calls = row.calls - (old.calls if old else 0)
        if calls > 0:
            out.append(Delta(key, calls, row.total_ms - (old.total_ms if old else 0.0), row.query))
    return out


def window_problem(before: Snapshot, after: Snapshot, max_entries: str = "?") -> str | None:
    """Why a difference of these snapshots is not exact, if it is not."""
    if after.stats_reset != before.stats_reset:
        return "pg_stat_statements was reset during the window (pg_stat_statements_reset()); run again"
    if after.dealloc != before.dealloc:
        return (
            f"pg_stat_statements deallocated {after.dealloc - before.dealloc} times during the window (it keeps "
            f"pg_stat_statements.max = {max_entries} statements), so some statements' counts were lost: raise "
            "pg_stat_statements.max in postgresql.conf (needs a restart) or run a shorter window"
        )
    return None


def top_level_calls(deltas: Iterable[Delta]) -> int:
    return sum(d.calls for d in deltas if d.toplevel)


def repeated(deltas: Iterable[Delta]) -> tuple[Repeated, ...]:
    """Statements run more than once by one request (the probe's window holds exactly one request)."""
    rows = [Repeated(short_statement(d.query), d.calls) for d in deltas if d.toplevel and d.calls > 1]
    return tuple(sorted(rows, key=lambda r: (-r.calls, r.statement)))


def top_statements(deltas: Iterable[Delta], n: int = 10) -> list[dict[str, object]]:
    """The statements that took the most time in the window."""
    ranked = sorted((d for d in deltas if d.toplevel), key=lambda d: -d.total_ms)[:n]
    return [
        {
            "statement": short_statement(d.query, 120),
            "calls": d.calls,
            "total_ms": round(d.total_ms, 3),
            "mean_ms": round(d.total_ms / d.calls, 3),
        }
        for d in ranked
    ]
