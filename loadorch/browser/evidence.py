"""A browser gate's evidence (pure): what a page said about its views, checked and bounded by the worker,
and for a failing gate the attribution of the view at its value and of the worst view.

The page is not trusted: its report arrives through a binding any script of it could call, so every field
is typed, every string masked with the run's secrets, put on one line (an id may hold a line break: in
summary.md the next line would read as the report's own) and cut, every list bounded, before it leaves the worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from loadorch.browser.attribution import MAX_SELECTOR, MAX_URL
from loadorch.browser.exemplars import Exemplar, PageEvidence, pick
from loadorch.browser.stats import BrowserStats, unit_of
from loadorch.browser.weight import TOP, TYPES, WeightJson
from loadorch.config.thresholds import Threshold
from loadorch.results import (
    BrowserEvidence,
    BrowserView,
    ClsAttribution,
    FrameScript,
    InpAttribution,
    LcpAttribution,
    ShiftSource,
)
from loadorch.traffic.redact import MASK, Redactor, credential_params, credential_params_in

MAX_SOURCES = 5
MAX_SCRIPTS = 5
LCP_PARTS = ("ttfb", "load_delay", "load_duration", "render_delay")
INP_PARTS = ("input_delay", "processing", "presentation")


def _num(value: Any, digits: int = 3) -> float:
    """A number of the page's (0 when it is not one), rounded: ms and px to 3 decimals, a shift's value to 6 (the CLS
    histograms' millionths: a shift of 0.0004, one of many in its session window, is not 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return round(float(value), digits) if ok else 0.0


def _line(value: Any, redactor: Redactor) -> str:
    """A string of the page's, its secrets masked (as sent), then on one line: every run of whitespace one space."""
    return " ".join(redactor.text(str(value or "")).split())


def _url(value: Any, redactor: Redactor) -> str:
    """A URL as evidence shows it: no user or password, no credential parameter's value, the run's secrets
    masked, on one line, then cut. So is text that holds URLs (a frame script's invoker, and its url when it has
    no source: `IMG[src=https://u:p@cdn.test/a.png?sig=x].onerror`): a `user:password@` and credential parameters
    masked wherever they are."""
    text = _line(value, redactor)
    try:
        parts = urlsplit(text)
        if parts.username is not None or parts.password is not None:
            host = parts.hostname or ""
            parts = parts._replace(netloc=f"{MASK}@{host}" + (f":{parts.port}" if parts.port else ""))
        query, fragment = credential_params(parts.query), credential_params(parts.fragment)
        text = urlunsplit(parts._replace(query=query, fragment=fragment))
    except ValueError:
        pass
    return redactor.cut(credential_params_in(text), MAX_URL, more="")


def _text(value: Any, redactor: Redactor, limit: int = MAX_SELECTOR) -> str:
    return redactor.cut(_line(value, redactor), limit, more="")


def _listed(value: Any) -> list[Any]:
    """A list of the page's, or none: the page can call the binding itself with any shape (`scripts: true` was a
    TypeError in the DevTools reader thread, which closed the connection: every page of the worker gone)."""
    return value if isinstance(value, list) else []


def _rect(value: Any) -> list[int] | None:
    if isinstance(value, list) and len(value) == 4:
        return [int(_num(v)) for v in value]
    return None


def _lcp(a: Mapping[str, Any], r: Redactor) -> LcpAttribution:  # a: the page's JSON (PageReport), untrusted
    parts = [_num(a.get(k)) for k in LCP_PARTS]
    return LcpAttribution(element=_text(a.get("element"), r), url=_url(a.get("url"), r), ttfb=parts[0],
                          load_delay=parts[1], load_duration=parts[2], render_delay=parts[3])


def _script(s: Mapping[str, Any], r: Redactor) -> FrameScript:  # s: the page's JSON, untrusted
    return FrameScript(url=_url(s.get("url"), r), invoker=_url(s.get("invoker"), r),
                       type=_text(s.get("type"), r, 40), duration=_num(s.get("duration")))


def _inp(a: Mapping[str, Any], r: Redactor) -> InpAttribution:  # a: the page's JSON (PageReport), untrusted
    scripts = [s for s in _listed(a.get("scripts")) if isinstance(s, dict)][:MAX_SCRIPTS]
    parts = [_num(a.get(k)) for k in INP_PARTS]
    return InpAttribution(
        target=_text(a.get("target"), r),
        type="keyboard" if a.get("type") == "keyboard" else "pointer",
        event=_text(a.get("event"), r, 40),
        time=_num(a.get("time")),
        input_delay=parts[0],
        processing=parts[1],
        presentation=parts[2],
        scripts=[_script(s, r) for s in scripts],
    )


def _cls(a: Mapping[str, Any], r: Redactor) -> ClsAttribution:  # a: the page's JSON (PageReport), untrusted
    sources = [s for s in _listed(a.get("sources")) if isinstance(s, dict)][:MAX_SOURCES]
    return ClsAttribution(
        value=_num(a.get("value"), 6),
        time=_num(a.get("time")),
        sources=[
            ShiftSource(element=_text(s.get("element"), r), previous=_rect(s.get("previous")),
                        current=_rect(s.get("current")))
            for s in sources
        ],
    )


def _weight(w: WeightJson, r: Redactor) -> WeightJson | None:
    types = w.get("types")
    if not isinstance(types, dict):
        return None
    rows = {t: [int(_num(x)) for x in types.get(t, [0, 0, 0])[:3]] for t in TYPES}
    largest = [
        (int(_num(x[0])), int(_num(x[1])), str(x[2]) if x[2] in TYPES else "other", _url(x[3], r))
        for x in (w.get("largest") or [])[: TOP * len(TYPES)]
        if isinstance(x, (list, tuple)) and len(x) == 4
    ]
    return {"types": {t: v if len(v) == 3 else [0, 0, 0] for t, v in rows.items()}, "largest": largest}


def clean(attr: object, weight: WeightJson | None, redactor: Redactor) -> PageEvidence:
    """A page view's evidence as the worker sends it: lcp, inp, cls (from the page's report `attr`, untrusted
    JSON) and weight (the DevTools network events' tally, checked again), each present when measured."""
    lcp = inp = cls = None
    if isinstance(attr, dict):
        lcp = _lcp(attr["lcp"], redactor) if isinstance(attr.get("lcp"), dict) else None
        inp = _inp(attr["inp"], redactor) if isinstance(attr.get("inp"), dict) else None
        cls = _cls(attr["cls"], redactor) if isinstance(attr.get("cls"), dict) else None
    w = _weight(weight, redactor) if isinstance(weight, dict) else None
    return PageEvidence(lcp=lcp, inp=inp, cls=cls, weight=w)


def _view(role: str, e: Exemplar) -> BrowserView:
    view = BrowserView(role=role, value=e.value, page=e.page, user=e.user, at_s=round(e.at_s, 3))
    d = e.detail
    part = "lcp" if isinstance(d, LcpAttribution) else "inp" if isinstance(d, InpAttribution) else (
        "cls" if isinstance(d, ClsAttribution) else "weight")
    return view.model_copy(update={part: d})  # the one part it has, as set (results.json shows set fields)


def for_gate(t: Threshold, stats: BrowserStats, observed: float | None) -> BrowserEvidence | None:
    """The evidence of a browser gate: the kept view nearest the gate's value (`at`, the p75 view of a
    p(75) gate) and the worst view (`worst`, left out when it is the same view), with what each page
    measured. None when no view of the gate's series was kept (Lighthouse results, no attribution)."""
    metric = t.selector.metric
    at, worst = pick(stats.kept(metric, t.selector.tags), observed if observed is not None else 0.0)
    if at is None or worst is None:
        return None
    views = [_view(t.expression.label if t.expression.aggregation != "max" else "max", at)]
    if worst is not at:
        views.append(_view("worst", worst))
    return BrowserEvidence(metric=metric, unit=unit_of(metric), views=views)
