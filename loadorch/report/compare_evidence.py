"""The evidence of a comparison's regressions, where both runs have it (pure): compare.md and compare.html
name it side by side, the baseline's and the current run's.

- a regressed endpoint (any latency row): each run's slowest requests of it, with trace ids and links;
- a regressed page vital (`lcp p75`, `inp p75`, `cls p75`): the attributed views of that page: the LCP
  element and URL, the INP target and its three parts, the CLS largest shift's first source;
- more failed browser steps on a page (or over all pages): each run's most frequent step failures and why;
- more queries per request on an endpoint: each run's N+1 loops there;
- the slow statements' plans, when the comparison has a regression and both runs logged plans: the
  current run's slow statements with their plan flags, beside the same statement's in the baseline.

Everything comes from the two results.json files (their thresholds' evidence, already redacted with the
rest); bounded here: MAX_ITEMS items, SHOWN lines a side, CHARS characters a line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import NamedTuple

from loadorch.report.text import one_line, web_link
from loadorch.results import BrowserView, NPlusOne, Results, SlowPlan, SlowRequest
from loadorch.verdict.compare import ALL_PAGES, STEP_ERROR_RATE, Row

MAX_ITEMS = 10
SHOWN = 3
CHARS = 240


class Shown(NamedTuple):
    text: str
    link: str | None = None


class Item(NamedTuple):
    """One regressed thing and each run's evidence of it."""

    title: str
    baseline: list[Shown]
    current: list[Shown]


def regressions_evidence(base: Results, cur: Results, rows: Sequence[Row]) -> list[Item]:
    """The items for these comparison rows (only the regressions count), at most MAX_ITEMS."""
    regressed = [r for r in rows if r.verdict == "regression"]
    items: list[Item] = []
    seen: set[str] = set()
    for r in regressed:
        kind = "db" if r.metric == "db_queries_per_request" else r.scope
        make = _MAKERS.get(kind)
        key = f"{kind}|{r.name}|{r.metric.split(' ')[0] if kind == 'page' else ''}"  # an endpoint once
        if make is None or key in seen:
            continue
        seen.add(key)
        item = make(base, cur, r)
        if item is not None:
            items.append(item)
    if regressed:
        items += _plans(base, cur)
    return items[:MAX_ITEMS]


def _cut(text: str) -> str:
    return one_line(text, CHARS)


def _pair(title: str, before: list[Shown], after: list[Shown]) -> Item | None:
    return Item(_cut(title), before[:SHOWN], after[:SHOWN]) if before and after else None


def _slowest(doc: Results, endpoint: str) -> list[Shown]:
    rows: dict[str, SlowRequest] = {}
    for t in doc.thresholds:
        for s in t.evidence.slowest if t.evidence is not None else ():
            if s.endpoint == endpoint:
                rows[s.trace_id or f"{s.at} {s.duration_ms}"] = s
    ordered = sorted(rows.values(), key=lambda s: -s.duration_ms)
    return [Shown(f"{s.duration_ms:.1f} ms {s.method} {s.status} at {s.at}" + (f", trace {s.trace_id}" if s.trace_id
                                                                                else ""), s.trace_url)
            for s in ordered]


def _endpoint(base: Results, cur: Results, r: Row) -> Item | None:
    return _pair(f"endpoint {r.name}: its slowest requests", _slowest(base, r.name), _slowest(cur, r.name))


def _views(doc: Results, page: str) -> Iterable[BrowserView]:
    for t in doc.thresholds:
        browser = t.evidence.browser if t.evidence is not None else None
        yield from (v for v in browser.views if v.page == page) if browser is not None else ()


def _view_text(v: BrowserView, vital: str) -> Shown | None:
    if vital == "lcp" and v.lcp is not None:
        a = v.lcp
        parts = (f"ttfb {a.ttfb:g}, load delay {a.load_delay:g}, load {a.load_duration:g}, "
                 f"render delay {a.render_delay:g} ms")
        return Shown(f"LCP element {a.element}" + (f" ({a.url})" if a.url else "") + f"; {parts}")
    if vital == "inp" and v.inp is not None:
        i = v.inp
        return Shown(f"INP target {i.target} ({i.type} {i.event}); input delay {i.input_delay:g}, processing "
                     f"{i.processing:g}, presentation {i.presentation:g} ms")
    if vital == "cls" and v.cls is not None and v.cls.sources:
        return Shown(f"largest shift {v.cls.value:.4g}: {v.cls.sources[0].element}")
    return None


def _failed_steps(doc: Results, page: str | None) -> list[Shown]:
    failures = doc.browser.failures if doc.browser is not None else []
    shown = [Shown(f"{f.step} ({f.user}, page {f.page}): {f.reason} ({f.count}x)")
             for f in sorted(failures, key=lambda f: -f.count) if page is None or f.page == page]  # fmt: skip
    return shown or [Shown("no step failed")]


def _steps(base: Results, cur: Results, r: Row) -> Item | None:
    page = r.name if r.scope == "page" else None
    where = f"page {r.name}" if page is not None else "all pages"
    return _pair(f"{where}: its failed browser steps", _failed_steps(base, page), _failed_steps(cur, page))


def _page(base: Results, cur: Results, r: Row) -> Item | None:
    if r.metric == STEP_ERROR_RATE:
        return _steps(base, cur, r)
    vital = r.metric.split(" ")[0]

    def shown(doc: Results) -> list[Shown]:
        out = [s for v in _views(doc, r.name) if (s := _view_text(v, vital)) is not None]
        return list(dict.fromkeys(out))

    return _pair(f"page {r.name}: its {vital.upper()}", shown(base), shown(cur))


def _loops(doc: Results, endpoint: str) -> list[Shown]:
    found: list[NPlusOne] = []
    for t in doc.thresholds:
        db = t.evidence.database if t.evidence is not None else None
        found += [n for n in db.n_plus_one if n.endpoint == endpoint] if db is not None else []
    texts = [f"{n.statement} x{n.calls} per request" + (f"; its source: {n.source}" if n.source else "") for n in found]
    return [Shown(t) for t in dict.fromkeys(texts)]


def _queries(base: Results, cur: Results, r: Row) -> Item | None:
    return _pair(f"endpoint {r.name}: its repeated statements (N+1)", _loops(base, r.name), _loops(cur, r.name))


def _slow_plans(doc: Results) -> dict[str, SlowPlan]:
    out: dict[str, SlowPlan] = {}
    for t in doc.thresholds:
        db = t.evidence.database if t.evidence is not None else None
        for p in db.plans if db is not None else ():
            out.setdefault(p.statement, p)
    return out


def _flags(p: SlowPlan | None) -> list[Shown]:
    if p is None:
        return [Shown("not among this run's slow statements")]
    return [Shown(f.text) for f in p.flags] or [Shown(f"{p.count} slow, no plan flag")]


def _plans(base: Results, cur: Results) -> list[Item]:
    before, after = _slow_plans(base), _slow_plans(cur)
    if not before or not after:
        return []
    return [Item(_cut(f"slow statement {s}: its plan"), _flags(before.get(s))[:SHOWN], _flags(p)[:SHOWN])
            for s, p in list(after.items())[:SHOWN]]


_MAKERS: dict[str, Callable[[Results, Results, Row], Item | None]] = {
    "endpoint": _endpoint,
    "page": _page,
    ALL_PAGES[0]: _steps,
    "db": _queries,
}


def markdown_part(items: Sequence[Item]) -> list[str]:
    """compare.md's lines (none without items)."""
    from loadorch.report.markdown import md_cell

    out: list[str] = []
    for item in items:
        out.append(f"- {md_cell(item.title)}")
        for label, side in (("baseline", item.baseline), ("current", item.current)):
            for s in side:
                # an autolink: nothing in it is read as Markdown (evidence.py _slow_md); a longer link is left out
                link = f" (<{url}>)" if (url := web_link(s.link, CHARS)) else ""
                out.append(f"  - {label}: {md_cell(_cut(s.text))}{link}")
    return ["### Evidence of the regressions", "", *out, ""] if out else []


def html_part(items: Sequence[Item]) -> str:
    """compare.html's part (empty without items)."""
    if not items:
        return ""

    def one(label: str, s: Shown) -> str:
        text = escape(_cut(s.text))
        if url := web_link(s.link, CHARS):
            text += f' (<a href="{escape(url, quote=True)}">trace</a>)'
        return f"<li>{label}: {text}</li>"

    body = "".join(
        f"<li>{escape(item.title)}<ul>" + "".join(one("baseline", s) for s in item.baseline)
        + "".join(one("current", s) for s in item.current) + "</ul></li>"
        for item in items
    )
    return f'<h2>Evidence of the regressions</h2><ul id="evidence">{body}</ul>'
