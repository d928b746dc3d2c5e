"""Evidence of a verdict: which threshold rows carry it, what each layer puts in it, and how it reads in
junit.xml (the deciding lines, short), summary.md and report.html (whole). Data in, text out.

A layer (HTTP, database, browser, profiles ...) plugs in with two entries, and a field of
`loadorch.results.Evidence`:
- a builder in `BUILDERS`: `(ThresholdResult, RunRecord) -> Evidence` with that layer's fields set (none
  set: nothing to show); builders run only for the rows `wants_evidence` picks;
- a `Layer` in `LAYERS`: its field's name and three renderers (short lines, markdown lines, HTML).
Every renderer is bounded here again (lines, characters), whatever the data holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any, NamedTuple

from loadorch.report import evidence_browser, evidence_http, evidence_lighthouse
from loadorch.report.evidence_db import db_evidence, db_html, db_markdown, db_short
from loadorch.report.text import one_line, web_link
from loadorch.results import Evidence, SlowRequest, ThresholdRow, TimeSplit
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, ThresholdResult

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord

SHORT_LINES = 8  # per threshold in junit.xml's failure text
SHORT_CHARS = 160  # per line there
SHORT_SLOWEST = 3  # slowest requests named in the short block
SHORT_ROWS = 3  # rows of a one-line-a-row layer (failed requests, checks ...) in the short block
WHOLE_ROWS = 20  # rows per layer in summary.md and report.html
CELL_CHARS = 200


def wants_evidence(verdict: str, observed: float | None, limit: float, error_bound: float) -> bool:
    """A failing row, or an inconclusive one whose limit lies inside the observed value's error bound
    (not one that is inconclusive for having no data or too few samples: nothing to show)."""
    if verdict == FAIL:
        return True
    return verdict == INCONCLUSIVE and observed is not None and abs(observed - limit) <= error_bound


Builder = Callable[[ThresholdResult, "RunRecord"], Evidence]  # a partial Evidence: its layer's fields set


def http_builder(result: ThresholdResult, record: RunRecord) -> Evidence:
    from loadorch.report.evidence_http import http_evidence  # the HTTP layer's own module

    return http_evidence(result, record)


def browser_builder(result: ThresholdResult, record: RunRecord) -> Evidence:
    """The browser layer: computed by the run from the kept page views (run/browsers.py `evidence`)."""
    t = result.threshold
    if t is not None and t.selector.metric == "browser_step_failed" and result.observed is not None:
        failures = record.browser.failures if record.browser is not None else []
        return Evidence(steps=evidence_browser.failed_steps(failures, t.selector.tags))
    found = record.browser_evidence.get(f"{result.selector} {result.expression}")
    return Evidence() if found is None else Evidence(browser=found)


def lighthouse_builder(result: ThresholdResult, record: RunRecord) -> Evidence:
    """Lighthouse results: computed by the run from the result file that decided the gate (run/browsers.py)."""
    found = record.lighthouse_evidence.get(f"{result.selector} {result.expression}")
    return Evidence() if found is None else Evidence(lighthouse=found)


def profile_builder(result: ThresholdResult, record: RunRecord) -> Evidence:
    from loadorch.report.evidence_profile import profile_evidence  # the profilers' layer

    return profile_evidence(result, record)


# db_evidence: report/evidence_db.py
BUILDERS: tuple[Builder, ...] = (http_builder, db_evidence, browser_builder, lighthouse_builder, profile_builder)


def evidence_of(result: ThresholdResult, record: RunRecord) -> Evidence | None:
    """The evidence block of one row: every layer's non-empty fields in one Evidence, None when the row gets
    none or no layer had anything to show."""
    if not wants_evidence(result.verdict, result.observed, result.limit, result.error_bound):
        return None
    shown: dict[str, object] = {}
    for build in BUILDERS:
        part = build(result, record)
        shown.update({name: value for name in part.model_fields_set if (value := getattr(part, name))})
    return Evidence.model_validate(shown) if shown else None  # the parts' typed values, kept as they are


# ---- rendering -------------------------------------------------------------------------------------------


def _cut(text: str, limit: int = CELL_CHARS) -> str:
    return one_line(text, limit)


def _ms(v: float | None) -> str:
    return "not measured" if v is None else f"{v:.1f} ms"


def _share(v: float | None) -> str:
    return "not measured" if v is None else f"{v * 100:.0f} %"


def _timing(r: SlowRequest) -> str:
    return ", ".join(f"{e.name}" + (f"={e.dur_ms:g}ms" if e.dur_ms is not None else "") +
                     (f" ({e.desc})" if e.desc else "") for e in r.server_timing)


def _slow_short(rows: Sequence[SlowRequest]) -> list[str]:
    out = []
    for r in rows[:SHORT_SLOWEST]:
        split = f"wait {_ms(r.waiting_ms)}, receive {_ms(r.receiving_ms)}"
        trace = f" trace {r.trace_id}" if r.trace_id else ""
        durs = [f"{e.name}={e.dur_ms:g}ms" for e in r.server_timing if e.dur_ms is not None]
        timing = f"; {' '.join(durs)}" if durs else ""
        when = r.at[11:23] if len(r.at) >= 23 else r.at  # the time of day: the date is the run's
        what = f"{r.duration_ms:.1f} ms {r.method} {r.endpoint} {r.status} at {when}"
        out.append(f"slow: {what}{trace} ({split}{timing})")
    if len(rows) > SHORT_SLOWEST:
        out.append(f"... {len(rows) - SHORT_SLOWEST} more slow requests in summary.md and report.html")
    return out


def _split_line(s: TimeSplit) -> str:
    which = (f"its {s.requests} p95 requests (of {s.of}, from {s.from_ms:g} ms)"
             if s.of is not None and s.from_ms is not None else f"its {s.requests} slowest")
    if s.timed is not None:  # a busy series sampled: the figures are estimates
        which += f", estimated from a sample ({s.timed} of {s.of} timed)"
    return (f"{s.endpoint}, {which}: connect {_share(s.connect)}, TLS {_share(s.tls)}, "
            f"waiting {_share(s.waiting)}, receiving {_share(s.receiving)}")


def _split_short(rows: Sequence[TimeSplit]) -> list[str]:
    return ["time: " + _split_line(s) for s in rows[:2]]


def _notes_short(rows: Sequence[str]) -> list[str]:
    return [f"note: {n}" for n in rows[:2]]


SLOW_HEAD = ("duration", "request", "status", "at", "connect", "TLS", "waiting", "receiving", "bytes", "trace",
             "Server-Timing")


def _slow_cells(r: SlowRequest) -> list[str]:
    return [f"{r.duration_ms:.1f} ms", f"{r.method} {r.endpoint}", str(r.status), r.at, _ms(r.connect_ms),
            _ms(r.tls_ms), _ms(r.waiting_ms), _ms(r.receiving_ms), "-" if r.bytes is None else str(r.bytes),
            r.trace_id or "-", _timing(r) or "-"]


def _slow_md(rows: Sequence[SlowRequest]) -> list[str]:
    from loadorch.report.markdown import md_table

    table = [[_cut(c) for c in _slow_cells(r)] for r in rows[:WHOLE_ROWS]]
    from loadorch.report.markdown import _md

    # an autolink (<...>): nothing in it is read as Markdown (`[x](https://y)` or `![](...)` in a trace link is
    # not a link or an image of its own); web_link encoded `<`, `>` and spaces, which would end it
    links = [f"- trace {_md(_cut(r.trace_id, 64))}: <{link}>" for r in rows[:WHOLE_ROWS]
             if r.trace_id and (link := web_link(r.trace_url))]
    return ["Slowest requests:", "", md_table(table, list(SLOW_HEAD)), "", *links, *([""] if links else [])]


def _slow_html(rows: Sequence[SlowRequest]) -> str:
    body = []
    for r in rows[:WHOLE_ROWS]:
        cells = [escape(_cut(c)) for c in _slow_cells(r)]
        if r.trace_id and (link := web_link(r.trace_url)):
            cells[9] = f'<a href="{escape(link, quote=True)}">{cells[9]}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{escape(h)}</th>" for h in SLOW_HEAD)
    return f"<h3>Slowest requests</h3><table><tr>{head}</tr>{''.join(body)}</table>"


def _split_md(rows: Sequence[TimeSplit]) -> list[str]:
    from loadorch.report.markdown import _md

    return ["Where the time goes:", "", *(f"- {_md(_cut(_split_line(s), 400))}" for s in rows[:WHOLE_ROWS]), ""]


def _split_html(rows: Sequence[TimeSplit]) -> str:
    items = "".join(f"<li>{escape(_cut(_split_line(s), 400))}</li>" for s in rows[:WHOLE_ROWS])
    return f"<h3>Where the time goes</h3><ul>{items}</ul>"


def _notes_md(rows: Sequence[str]) -> list[str]:
    from loadorch.report.markdown import _md

    return [*(f"- {_md(_cut(n, 400))}" for n in rows[:WHOLE_ROWS]), ""]


def _notes_html(rows: Sequence[str]) -> str:
    return '<ul class="note">' + "".join(f"<li>{escape(_cut(n, 400))}</li>" for n in rows[:WHOLE_ROWS]) + "</ul>"


def _profile_renderers() -> tuple[Callable[[Any], list[str]], Callable[[Any], list[str]], Callable[[Any], str]]:
    from loadorch.report.evidence_profile import profile_html, profile_markdown, profile_short

    return profile_short, profile_markdown, profile_html


def _listed(title: str, line: Callable[[Any], str]) -> tuple[
    Callable[[Any], list[str]], Callable[[Any], list[str]], Callable[[Any], str]
]:
    """The renderers of a layer whose rows read one line each (`line`): the first SHORT_ROWS in junit.xml, the
    first WHOLE_ROWS under `title` in summary.md and report.html."""

    def short(rows: Sequence[Any]) -> list[str]:
        return [line(r) for r in rows[:SHORT_ROWS]]

    def markdown(rows: Sequence[Any]) -> list[str]:
        from loadorch.report.markdown import _md

        return [f"{title}:", "", *(f"- {_md(_cut(line(r), 400))}" for r in rows[:WHOLE_ROWS]), ""]

    def html(rows: Sequence[Any]) -> str:
        items = "".join(f"<li>{escape(line(r))}</li>" for r in rows[:WHOLE_ROWS])
        return f"<h3>{escape(title)}</h3><ul>{items}</ul>"

    return short, markdown, html


class Layer(NamedTuple):
    """One field of Evidence and how it reads: short lines (junit.xml), markdown lines, HTML."""

    field: str
    short: Callable[[Any], list[str]]
    markdown: Callable[[Any], list[str]]
    html: Callable[[Any], str]


LAYERS: tuple[Layer, ...] = (
    Layer("slowest", _slow_short, _slow_md, _slow_html),
    Layer("failures", *_listed("Failed requests", evidence_http.failed_line)),
    Layer("throughput", *_listed("Requests by endpoint", evidence_http.load_line)),
    Layer("descs", *_listed("What the entry said", evidence_http.desc_line)),
    Layer("checks", *_listed("Failed checks", evidence_http.check_line)),
    Layer("profile", *_profile_renderers()),  # before the split: junit.xml keeps the first 8 lines
    Layer("time_split", _split_short, _split_md, _split_html),
    Layer("notes", _notes_short, _notes_md, _notes_html),
    Layer("browser", evidence_browser.short, evidence_browser.markdown, evidence_browser.html),
    Layer("lighthouse", evidence_lighthouse.short, evidence_lighthouse.markdown, evidence_lighthouse.html),
    Layer("steps", *_listed("Failed browser steps", evidence_browser.step_line)),
    Layer("database", db_short, db_markdown, db_html),  # report/evidence_db.py
)


def _filled(evidence: Evidence) -> list[tuple[Layer, Any]]:
    return [(layer, value) for layer in LAYERS if (value := getattr(evidence, layer.field, None))]


def short_text(evidence: Evidence | None) -> str:
    """The deciding lines of a row's evidence for junit.xml's failure text: at most SHORT_LINES lines of at
    most SHORT_CHARS characters ("" when there is none)."""
    if evidence is None:
        return ""
    lines = [line for layer, value in _filled(evidence) for line in layer.short(value)]
    if len(lines) > SHORT_LINES:
        lines = [*lines[: SHORT_LINES - 1], f"... {len(lines) - SHORT_LINES + 1} more lines in summary.md"]
    return "\n".join(_cut(line, SHORT_CHARS) for line in lines)


def markdown_evidence(rows: Sequence[ThresholdRow]) -> list[str]:
    """summary.md's Evidence section: per row that has evidence, every layer's part."""
    out: list[str] = []
    for row in rows:
        if row.evidence is None or not (parts := _filled(row.evidence)):
            continue
        from loadorch.report.markdown import _md

        out += [f"#### {_md(row.selector)} {_md(row.expression)}: {_md(row.verdict)}", ""]
        for layer, value in parts:
            out += layer.markdown(value)
    return ["### Evidence", "", *out] if out else []


def html_evidence(rows: Sequence[ThresholdRow]) -> str:
    """report.html's Evidence part: per row that has evidence, every layer's part."""
    out = []
    for row in rows:
        if row.evidence is None or not (parts := _filled(row.evidence)):
            continue
        title = f"{row.selector} {row.expression}: {row.verdict}"
        out.append(f"<section><h3>{escape(title)}</h3>" + "".join(layer.html(v) for layer, v in parts) + "</section>")
    return "<h2>Evidence</h2>" + "".join(out) if out else ""
