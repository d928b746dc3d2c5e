"""The server's duration log (`log_min_duration_statement`), jsonlog or csvlog: statements slower than
`slow_ms` that finished inside a window (pure).

PostgreSQL logs a statement when `duration_ms >= log_min_duration_statement` in whole milliseconds, so the
logged set is "at least"; "slower than slow_ms" is decided here from the logged duration, strictly. With
the extended protocol parse, bind and execute are logged apart: only `statement:` and `execute` lines
are statements. A statement whose text `log_statement` already logged when it started (`all`, or `mod`
for writes) gets a bare `duration: 250.372 ms` line when it ends: it counts too (parse, bind and fastpath
phases, which `log_duration` logs bare, do not), and its text is the one its session logged last.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from loadorch.db.plans import Plan, read_plan

_TIMED = re.compile(r"duration: ([0-9]+(?:\.[0-9]+)?) ms(.*)\Z", re.S)
_INLINE = re.compile(r"\s+(?:statement|execute\b[^:]*): (.*)\Z", re.S)  # "  statement: ..." / "  execute S_1: ..."
_STARTED = re.compile(r"(?:statement|execute\b[^:]*): (.*)\Z", re.S)  # log_statement's line, when it started
_V = TypeVar("_V")
_PLAN = "  plan:\n"  # auto_explain: "duration: 12.5 ms  plan:\n{...}"
NOT_STATEMENTS = frozenset({"PARSE", "BIND", "<FASTPATH>"})  # the ps display of phases logged bare
CSV_SESSION, CSV_PS, CSV_MESSAGE, CSV_APP, CSV_QUERY_ID = 5, 7, 13, 22, 25  # csvlog columns (PostgreSQL 14+)
# the longest csvlog field read: Python's csv module refuses a field over 128 KiB by default (a statement that
# long is an ordinary bulk INSERT), and that refusal ended the read there, every slow statement after it uncounted
CSV_FIELD_LIMIT = 1024 * 1024 * 1024
MAX_SESSIONS = 10_000  # sessions whose last statement text is kept for naming bare lines
MAX_NAMED = 1_000  # distinct slow statements kept by name; the rest counted under "other"
MAX_PLAN_TEXT = 256 * 1024  # an auto_explain plan longer than this is not read (counted in plans_skipped)
# a statement's text kept from the log (a bulk INSERT may log megabytes): the first this many characters, so the
# MAX_SESSIONS started texts and the MAX_NAMED slow ones stay bounded in size, not only in number (two statements
# alike in all of these characters are counted as one)
MAX_STATEMENT_TEXT = 16 * 1024


@dataclass(frozen=True)
class Logged:
    at: str  # "YYYY-MM-DD HH:MM:SS.mmm" in log_timezone
    duration_ms: float
    application_name: str
    statement: str = ""  # its text, inline or logged by its session when it started; "" if not read
    query_id: int = 0  # pg_stat_statements' queryid (0: not computed or not logged)
    session: str = ""
    plan_text: str = ""  # auto_explain's JSON plan, when this line is one (then it is not a statement)


@dataclass(frozen=True)
class _Row:
    at: str
    message: str
    app: str
    session: str
    ps: str
    query_id: int


def parse(text: str) -> Iterator[Logged]:
    """Statement durations in a piece of jsonlog or csvlog (told apart by the first character)."""
    stripped = text.lstrip()
    if not stripped:
        return
    rows = _json(text) if stripped.startswith("{") else _csv(text)
    started: dict[str, str] = {}  # session -> the text it logged last when a statement started
    for row in rows:
        timed = _TIMED.match(row.message)
        if timed is None:
            began = _STARTED.match(row.message)
            if began is not None:
                _remember(started, row.session, began.group(1)[:MAX_STATEMENT_TEXT])
            continue
        rest = timed.group(2)
        if rest.startswith(_PLAN):
            yield Logged(row.at, float(timed.group(1)), row.app, "", row.query_id, row.session, rest[len(_PLAN) :])
            continue
        if rest:
            inline = _INLINE.match(rest)
            if inline is None:
                continue  # parse, bind or fastpath with its text: not a statement
            statement = inline.group(1)[:MAX_STATEMENT_TEXT]
        elif row.ps in NOT_STATEMENTS:
            continue
        else:
            statement = started.pop(row.session, "")
        yield Logged(row.at, float(timed.group(1)), row.app, statement, row.query_id, row.session)


def _remember(started: dict[str, str], session: str, statement: str) -> None:
    started.pop(session, None)
    if len(started) >= MAX_SESSIONS:
        del started[next(iter(started))]
    started[session] = statement


def _json(text: str) -> Iterator[_Row]:
    for line in _lines(text):
        if "duration: " not in line and "statement: " not in line and "execute " not in line:
            continue
        try:
            doc = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line cut at the edge of what was read, or not JSON at all
        if not isinstance(doc, dict):
            continue  # JSON, but not jsonlog's object (an array, a string): not a log entry either
        session = str(doc.get("session_id") or doc.get("pid") or "")
        yield _Row(
            str(doc.get("timestamp", ""))[:23],
            str(doc.get("message", "")),
            str(doc.get("application_name", "")),
            session,
            str(doc.get("ps", "")),
            _int(doc.get("query_id")),
        )


def _lines(text: str) -> Iterator[str]:
    """jsonlog's records: one a line, ended by "\n" only. str.splitlines also splits at U+2028, U+2029 and U+0085,
    which PostgreSQL writes unescaped inside a JSON string (a statement holding one was cut in two and not
    counted); one at a time, so a large read is not held twice."""
    at = 0
    while at < len(text):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        yield text[at:end]
        at = end + 1


def _csv(text: str) -> Iterator[_Row]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:  # process-wide, and only ever raised: what is read is bounded
        csv.field_size_limit(CSV_FIELD_LIMIT)  # by the log read (logfiles.MAX_LOG_READ, livelog.MAX_RECORD)
    try:
        for row in csv.reader(io.StringIO(text)):
            if len(row) <= CSV_MESSAGE:
                continue

            def col(i: int, row: list[str] = row) -> str:
                return row[i] if len(row) > i else ""

            yield _Row(
                row[0][:23], row[CSV_MESSAGE], col(CSV_APP), col(CSV_SESSION), col(CSV_PS), _int(col(CSV_QUERY_ID))
            )
    except csv.Error:
        return


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


@dataclass
class SlowTally:
    """The slow statements of a window: how many, and by statement (query_id, else text) for naming."""

    count: int = 0
    unknown_ids: int = 0  # slow lines without a query_id
    by_statement: dict[str, list[float]] = field(default_factory=dict)  # key -> [count, max_ms]
    texts: dict[str, str] = field(default_factory=dict)  # key -> the log's text, if any
    ids: set[int] = field(default_factory=set)
    slow_ms_total: dict[str, float] = field(default_factory=dict)  # key -> the time its slow lines took
    plans: dict[str, Plan] = field(default_factory=dict)  # key -> the slowest auto_explain plan paired with it
    plan_counts: dict[str, int] = field(default_factory=dict)  # key -> plans paired with its slow lines
    plans_skipped: int = 0  # plan lines too long or unreadable

    def add(self, line: Logged) -> str:
        self.count += 1
        if line.query_id:
            self.ids.add(line.query_id)
        else:
            self.unknown_ids += 1
        key = f"id:{line.query_id}" if line.query_id else f"text:{' '.join(line.statement.split())}"
        if key not in self.by_statement and len(self.by_statement) >= MAX_NAMED:
            key = "other"
        seen = self.by_statement.setdefault(key, [0.0, 0.0])
        seen[0] += 1
        seen[1] = max(seen[1], line.duration_ms)
        self.slow_ms_total[key] = self.slow_ms_total.get(key, 0.0) + line.duration_ms
        if line.statement and key not in self.texts:
            self.texts[key] = line.statement
        return key

    def attach(self, key: str, plan: Plan) -> None:
        self.plan_counts[key] = self.plan_counts.get(key, 0) + 1
        kept = self.plans.get(key)
        if kept is None or plan.duration_ms > kept.duration_ms:
            self.plans[key] = plan


class PlanPairing:
    """Pairs auto_explain's plan lines with slow statement lines of the same session and query_id, in
    either order (the simple protocol logs the plan first; the extended one logs it when the portal
    closes, after the execute line)."""

    def __init__(self, tally: SlowTally) -> None:
        self.tally = tally
        self.plans: dict[tuple[str, int], Plan] = {}  # (session, query_id) -> a plan waiting for its slow line
        self.slow: dict[tuple[str, int], str] = {}  # (session, query_id) -> a slow line's key waiting for its plan

    def plan(self, line: Logged) -> None:
        plan = read_plan(line.plan_text, line.duration_ms) if len(line.plan_text) <= MAX_PLAN_TEXT else None
        if plan is None:
            self.tally.plans_skipped += 1
            return
        at = (line.session, line.query_id)
        key = self.slow.pop(at, None)
        if key is not None:
            self.tally.attach(key, plan)
        else:
            _bounded_put(self.plans, at, plan)

    def statement(self, line: Logged, key: str) -> None:
        at = (line.session, line.query_id)
        plan = self.plans.pop(at, None)
        if plan is not None:
            self.tally.attach(key, plan)
        else:
            _bounded_put(self.slow, at, key)


def _bounded_put(waiting: dict[tuple[str, int], _V], at: tuple[str, int], value: _V) -> None:
    waiting.pop(at, None)
    if len(waiting) >= MAX_SESSIONS:
        del waiting[next(iter(waiting))]
    waiting[at] = value


def slow_in(text: str, start: str, end: str, slow_ms: float, exclude_app: str = "") -> SlowTally:
    """Statements logged in [start, end] (timestamps compared as text, same format) lasting > slow_ms."""
    tally = SlowTally()
    pairing = PlanPairing(tally)
    for line in parse(text):
        if line.at < start or line.application_name == exclude_app:
            continue
        if line.plan_text:
            # a plan logged just after the window may belong to a statement inside it; a plan no slower than
            # slow_ms is a faster run's (auto_explain.log_min_duration may sit below slow_ms): waiting, it was
            # paired with the next slow run of its statement in its session (the extended protocol logs a
            # SELECT's plan after its execute line), which then showed the fast run's plan
            if line.duration_ms > slow_ms:
                pairing.plan(line)
        elif line.at <= end and line.duration_ms > slow_ms:
            pairing.statement(line, tally.add(line))
    return tally


def count_slow(text: str, start: str, end: str, slow_ms: float, exclude_app: str = "") -> int:
    return slow_in(text, start, end, slow_ms, exclude_app).count
