"""The "Database" section of report.html and summary.md: queries/s over time, the slow share, queries
per request per endpoint, the N+1 probe, the slow statements and the top statements (pure, from results.json)."""

from __future__ import annotations

from html import escape
from typing import Any

from loadorch.report.charts import Series, line_chart
from loadorch.results import Database

PER_REQUEST_HEAD = ["endpoint", "responses", "avg", "p50", "p95", "max"]
PROBE_HEAD = ["user", "request", "queries", "header said", "repeated statements (N+1)", "note"]
TOP_HEAD = ["statement", "calls", "total ms", "mean ms"]
SLOW_HEAD = ["statement", "slow runs", "longest ms"]


def _num(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def headline_rows(db: Database) -> list[list[str]]:
    c = db.collector
    if not c:
        return []
    rows = [["statements in the window", _num(c.queries) if not c.unmeasured else "not measured"]]
    if c.slow_unmeasured or c.unmeasured:
        rows.append([f"slower than {c.slow_ms:g} ms", "not measured"])
    else:
        share = c.slow_share
        shown = "-" if share is None else f"{c.slow} ({100 * share:.4g} %)"
        rows.append([f"slower than {c.slow_ms:g} ms", shown])
    if c.window_start:
        rows.append(["window (the server's clock)", f"{c.window_start} to {c.window_end or '-'}"])
    notes = (("unmeasured", c.unmeasured), ("slow_unmeasured", c.slow_unmeasured), ("probe_note", c.probe_note))
    for key, value in notes:
        if value:
            rows.append([key.replace("_", " "), value])
    return rows


def per_request_rows(db: Database) -> list[list[str]]:
    return [
        [name, _num(s.samples), _num(s.avg), _num(s.p50), _num(s.p95), _num(s.max)]
        for name, s in sorted(db.queries_per_request.items())
        if s
    ]


def probe_rows(db: Database) -> list[list[str]]:
    rows = []
    for p in db.collector.probe if db.collector else []:
        repeated = ", ".join(f"{r.statement} x{r.calls}" for r in p.repeated)
        rows.append([p.user, p.name, _num(p.queries), _num(p.header), repeated, p.note])
    return rows


def top_rows(db: Database) -> list[list[str]]:
    return [
        [t.statement, _num(t.calls), _num(t.total_ms), _num(t.mean_ms)]
        for t in (db.collector.top if db.collector else [])
    ]


def slow_rows(db: Database) -> list[list[str]]:
    """The slow statements of the window by count, from the duration log (named by pg_stat_statements)."""
    c = db.collector
    if c is None or c.slow is None:
        return []
    return [[t.statement, _num(t.count), _num(t.max_ms)] for t in c.slow_top]


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def html_database(db: Database | None) -> str:
    if not db:
        return ""
    parts = ["<h2>Database</h2>"]
    if db.collector:
        parts.append(_table(["", ""], headline_rows(db)))
        series = db.collector.timeseries
        if len(series) > 1:
            points, previous = [], 0.0
            for r in series:
                step = max(r.t_s - previous, 1e-9)
                points.append((r.t_s, r.queries / step))
                previous = r.t_s
            chart = line_chart("database statements", [Series("top-level statements", points)], "statements/s")
            parts.append(f'<div class="charts" style="grid-template-columns:repeat(2,minmax(0,1fr))">{chart}</div>')
    if per_request_rows(db):
        parts += ["<h3>Queries per request (response header)</h3>", _table(PER_REQUEST_HEAD, per_request_rows(db))]
    if probe_rows(db):
        parts += ["<h3>N+1 probe (each request alone)</h3>", _table(PROBE_HEAD, probe_rows(db))]
    if db.collector and slow_rows(db):
        slow_ms = _num(db.collector.slow_ms)
        parts += [f"<h3>Statements slower than {slow_ms} ms (duration log)</h3>", _table(SLOW_HEAD, slow_rows(db))]
    if top_rows(db):
        parts += ["<h3>Top statements by total time</h3>", _table(TOP_HEAD, top_rows(db))]
    return "\n".join(parts)


def markdown_database(db: Database | None, table: Any) -> list[str]:
    """Markdown lines; `table(rows, head)` renders a safe table (summary.md_table)."""
    if not db:
        return []
    out = ["### Database", ""]
    if db.collector:
        out += [table(headline_rows(db), ["", ""]), ""]
    for title, head, rows in (
        ("Queries per request", PER_REQUEST_HEAD, per_request_rows(db)),
        ("N+1 probe", PROBE_HEAD, probe_rows(db)),
        ("Slow statements", SLOW_HEAD, slow_rows(db)[:5]),
        ("Top statements", TOP_HEAD, top_rows(db)[:5]),
    ):
        if rows:
            out += [f"**{title}**", "", table(rows, head), ""]
    return out
