"""The database layer of a verdict's evidence: a failing db_query_slow's slow statements with their plans
and flags (or why there are no plans, with the settings that log them), and a failing
db_queries_per_request's N+1 loops per endpoint with their source; and how they read (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from loadorch.db.gates import measurement_from, probed_rows
from loadorch.report.text import one_line
from loadorch.results import DbEvidence, Evidence, NPlusOne, SlowPlan, TopStatement
from loadorch.verdict.evaluate import ThresholdResult

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord

SHORT_PLANS = 2  # statements named in junit.xml's short block
SHORT_FLAGS = 2  # flags per statement there
WHOLE_PLANS = 5
WHOLE_N_PLUS_ONE = 20
LINE_CHARS = 400


def db_evidence(result: ThresholdResult, record: RunRecord) -> Evidence:
    """`database` for db_query_slow (plans), db_queries_per_request (N+1 loops) and db_queries (the statements
    that took the most time); nothing for others."""
    t = result.threshold
    doc = record.database
    if t is None or doc is None or result.observed is None:
        return Evidence()
    metric = t.selector.metric
    if metric == "db_query_slow":
        if not doc.plans and not doc.plans_note:
            return Evidence()
        return Evidence(database=DbEvidence(plans=doc.plans, plans_note=doc.plans_note))
    if metric == "db_queries":
        return Evidence(database=DbEvidence(top=doc.top)) if doc.top else Evidence()
    if metric == "db_queries_per_request":
        loops = [
            NPlusOne(endpoint=p.name, statement=r.statement, calls=r.calls, source=r.source)
            for p in probed_rows(measurement_from(doc), t.selector.tags)
            for r in p.repeated
        ]
        return Evidence(database=DbEvidence(n_plus_one=loops)) if loops else Evidence()
    return Evidence()


def _loop_line(n: NPlusOne) -> str:
    source = f"; its source: {n.source}" if n.source else "; source not found (no statement returned that many rows)"
    return f"{n.endpoint}: {n.statement} x{n.calls} per request{source}"


def _what(p: SlowPlan) -> str:
    kind = ", plan estimated by EXPLAIN (GENERIC_PLAN)" if p.plan and p.plan.estimate else ""
    return f"{p.count} slow{kind}"


def _plan_head(p: SlowPlan) -> str:
    return f"{p.statement} ({_what(p)})"


def db_short(ev: DbEvidence) -> list[str]:
    out = []
    for p in ev.plans[:SHORT_PLANS]:
        out.append(f"slow statement: {_plan_head(p)}")
        out += [f"- {f.kind}: {f.text}" for f in p.flags[:SHORT_FLAGS]]
    if ev.plans_note:
        out.append(f"no plan: {ev.plans_note}")
    out += [f"N+1: {_loop_line(n)}" for n in ev.n_plus_one[:3]]
    out += [f"top statement: {_top_line(t)}" for t in ev.top[:3]]
    return out


def _top_line(t: TopStatement) -> str:
    return f"{t.statement}: {t.calls} calls, {t.total_ms:g} ms in all, {t.mean_ms:g} ms each"


def _cut(text: str, limit: int = LINE_CHARS) -> str:
    return one_line(text, limit)


def db_markdown(ev: DbEvidence) -> list[str]:
    from loadorch.report.markdown import _md

    out: list[str] = []
    for p in ev.plans[:WHOLE_PLANS]:
        statement = _cut(p.statement).replace("`", "'")
        out += [f"Slow statement: `{statement}` ({_md(_what(p))})", ""]
        out += [f"- {f.kind}: {_md(_cut(f.text))}" for f in p.flags]
        if p.plan:
            lines = [line.replace("```", "'''") for line in p.plan.lines]
            out += ["", f"Plan ({p.plan.duration_ms:g} ms):", "", "```text", *lines, "```"]
        out.append("")
    if ev.plans_note:
        out += [f"No plan: {_md(ev.plans_note)}", ""]  # whole: it is the fix
    if ev.n_plus_one:
        out += ["N+1 loops (one request ran a statement once per row of another):", ""]
        out += [f"- {_md(_cut(_loop_line(n)))}" for n in ev.n_plus_one[:WHOLE_N_PLUS_ONE]]
        out.append("")
    if ev.top:
        out += ["Statements that took the most time:", "", *(f"- {_md(_cut(_top_line(t)))}" for t in ev.top[:10]), ""]
    return out


def db_html(ev: DbEvidence) -> str:
    parts = []
    for p in ev.plans[:WHOLE_PLANS]:
        flags = "".join(f"<li><b>{escape(f.kind)}</b>: {escape(_cut(f.text))}</li>" for f in p.flags)
        plan = f"<pre>{escape(chr(10).join(p.plan.lines))}</pre>" if p.plan else ""
        parts.append(
            f"<h4>Slow statement: <code>{escape(_cut(p.statement))}</code></h4>"
            f"<p>{escape(_what(p))}</p><ul>{flags}</ul>{plan}"
        )
    if ev.plans_note:
        parts.append(f'<p class="note">No plan: {escape(ev.plans_note)}</p>')
    if ev.n_plus_one:
        rows = "".join(
            f"<tr><td>{escape(n.endpoint)}</td><td><code>{escape(_cut(n.statement))}</code></td><td>{n.calls}</td>"
            f"<td><code>{escape(_cut(n.source)) or '-'}</code></td></tr>"
            for n in _first(ev.n_plus_one)
        )
        parts.append(
            "<h4>N+1 loops</h4><table><tr><th>endpoint</th><th>repeated statement</th>"
            f"<th>per request</th><th>source</th></tr>{rows}</table>"
        )
    if ev.top:
        items = "".join(f"<li><code>{escape(_cut(_top_line(t)))}</code></li>" for t in ev.top[:10])
        parts.append(f"<h4>Statements that took the most time</h4><ul>{items}</ul>")
    return "<h3>Database</h3>" + "".join(parts)


def _first(rows: Sequence[NPlusOne]) -> Sequence[NPlusOne]:
    return rows[:WHOLE_N_PLUS_ONE]
