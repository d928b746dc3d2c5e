"""The evidence of a gate on Lighthouse results: what the result file that decided it says about why (pure).

From Lighthouse's documented result object (LHR), the same files the run reads its samples from:
- `lighthouse_audit{id:largest-contentful-paint}`: the `largest-contentful-paint-element` audit's details: the
  element (`node`: selector, nodeLabel, snippet) and, in Lighthouse 10 and later (details of type `list`), its
  phase table (`phase`, `timing` in ms): TTFB, Load Delay, Load Time, Render Delay. Older results: a `table`
  with the element only.
- `lighthouse_audit{id:cumulative-layout-shift}`: the `layout-shifts` audit (Lighthouse 11 and later: each
  shift's `score`, its `node` and `subItems` of root causes) or, in older results, `layout-shift-elements`
  (each element's share of the CLS as `score`).
- `browser_resource_bytes/count{type:T}` and `lighthouse_audit{id:total-byte-weight}`: the largest resources
  (`network-requests`' rows of that type: `url`, `transferSize`, `resourceType`; else `total-byte-weight`'s
  `url`, `totalBytes`).
- `lighthouse_score{category:C}`: the audits of `categories.C.auditRefs` that lost the most points,
  weight x (1 - score), with their displayValue.
Anything missing or malformed in a file gives no rows (a note says what was missing), never an error: the
files are the user's. Every string is cut, every URL has its credential parameters masked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loadorch.browser.evidence import _url
from loadorch.config.lighthouse import Sample
from loadorch.config.thresholds import Threshold
from loadorch.results import (
    LighthouseEvidence,
    LighthouseLoss,
    LighthouseNode,
    LighthousePhase,
    LighthouseResource,
    LighthouseShift,
)
from loadorch.traffic.redact import NO_SECRETS, Redactor, credential_params_in

ROWS = 5  # shifts, resources, audits kept per gate (junit.xml shows fewer)
CAUSES = 3  # root causes per shift
MAX_TEXT = 160  # a selector, label or title
MAX_SNIPPET = 200
READ_AS = {  # metric: the tag naming what it reads
    "lighthouse_audit": "id",
    "lighthouse_score": "category",
    "browser_resource_bytes": "type",
    "browser_resource_count": "type",
}
# the resource-summary types and the network-requests resourceType values they count (the rest: other)
NAMED_TYPES = {"document": "Document", "script": "Script", "stylesheet": "Stylesheet", "image": "Image",
               "font": "Font"}
Reader = Callable[[str], Any]  # a result file's path -> its JSON document (None: unreadable)


def for_gate(
    t: Threshold, observed: float | None, samples: Sequence[Sample], read: Reader, redactor: Redactor = NO_SECRETS
) -> LighthouseEvidence | None:
    """The evidence of one gate read from Lighthouse results, or None (not such a gate, no sample, an unreadable
    file). `read` is the only way to the files (the run's shell gives it)."""
    metric = t.selector.metric
    tag = READ_AS.get(metric)
    key = dict(t.selector.tags).get(tag or "")
    if tag is None or key is None or observed is None:
        return None
    values = {s.source: s.value for s in samples if s.metric == metric and s.value_of == key}
    if not values:
        return None
    source, role = _decider(values, observed, t.expression.op)
    try:
        doc = read(source)
        if not isinstance(doc, dict) or not isinstance(doc.get("audits"), dict):
            return None
        return _explain(doc, metric, key, redactor).model_copy(update={
            "file": _cut(os.path.basename(source), redactor), "value": values[source], "files": len(values),
            "role": role,
        })
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError):
        return None  # a file shaped like nothing documented: no evidence rather than a failed run


def _decider(values: Mapping[str, float], observed: float, op: str) -> tuple[str, str]:
    """The file whose value is the gate's value (the first by name), else the worst for the gate's operator."""
    for source in sorted(values):
        v = values[source]
        if abs(v - observed) <= 1e-9 * max(1.0, abs(v)):
            return source, "at the gate's value"
    higher_is_worse = op in ("<", "<=")
    pick = max if higher_is_worse else min
    return pick(sorted(values), key=lambda s: values[s]), "worst"


def _explain(doc: dict[str, Any], metric: str, key: str, r: Redactor) -> LighthouseEvidence:
    audits: dict[str, Any] = doc["audits"]
    page = doc.get("finalDisplayedUrl") or doc.get("finalUrl") or doc.get("requestedUrl") or ""
    base: dict[str, Any] = {
        "metric": metric, "key": _cut(key, r), "file": "", "value": 0.0,
        "page": _url(page, r) if isinstance(page, str) else "",
        "version": _cut(doc.get("lighthouseVersion"), r, 20),
    }
    audit = audits.get(key) if metric == "lighthouse_audit" else None
    if isinstance(audit, dict):
        base["display"] = _cut(audit.get("displayValue"), r)
    if metric == "lighthouse_score":
        losses = _losses(doc.get("categories"), key, audits, r)
        return LighthouseEvidence(**base, losses=losses, note=None if losses else f"no audit of {key} lost points")
    if metric == "lighthouse_audit" and key == "largest-contentful-paint":
        element, phases = _lcp(audits.get("largest-contentful-paint-element"), r)
        note = None if element or phases else "the result has no largest-contentful-paint-element details"
        return LighthouseEvidence(**base, lcp_element=element, lcp_phases=phases, note=note)
    if metric == "lighthouse_audit" and key == "cumulative-layout-shift":
        shifts = _shifts(audits.get("layout-shifts"), r, causes=True) or _shifts(
            audits.get("layout-shift-elements"), r, causes=False)
        return LighthouseEvidence(**base, shifts=shifts,
                                  note=None if shifts else "the result has no layout-shifts details")
    if metric.startswith("browser_resource_") or (metric == "lighthouse_audit" and key == "total-byte-weight"):
        kind = key if metric.startswith("browser_resource_") else "total"
        resources = _resources(audits, kind, r)
        return LighthouseEvidence(**base, resources=resources,
                                  note=None if resources else f"the result lists no {kind} request")
    return LighthouseEvidence(**base)


def _items(audit: Any) -> list[Any]:
    details = audit.get("details") if isinstance(audit, dict) else None
    items = details.get("items") if isinstance(details, dict) else None
    return items if isinstance(items, list) else []


def _lcp(audit: Any, r: Redactor) -> tuple[LighthouseNode | None, list[LighthousePhase]]:
    """Lighthouse 10+: details `list` of two tables (the element, the phases); older: one `table`."""
    element: LighthouseNode | None = None
    phases: list[LighthousePhase] = []
    tables: list[Any] = [i for i in _items(audit) if isinstance(i, dict) and i.get("type") == "table"] or [
        audit.get("details") if isinstance(audit, dict) else None]
    for table in tables:
        for row in _items({"details": table}):
            if not isinstance(row, dict):
                continue
            if element is None and isinstance(row.get("node"), dict):
                element = _node(row["node"], r)
            timing = _num(row.get("timing"))
            if isinstance(row.get("phase"), str) and timing is not None:
                phases.append(LighthousePhase(phase=_cut(row["phase"], r, 40), ms=round(timing, 1)))
    total = sum(p.ms for p in phases)
    if total > 0:
        phases = [p.model_copy(update={"share": round(p.ms / total, 3)}) for p in phases]
    return element, phases[:ROWS]


def _shifts(audit: Any, r: Redactor, causes: bool) -> list[LighthouseShift]:
    out = []
    for row in _items(audit):
        score = _num(row.get("score")) if isinstance(row, dict) else None
        if score is None:
            continue
        node = row.get("node")
        found = []
        if causes:
            for sub in _items({"details": row.get("subItems")})[:CAUSES]:
                if isinstance(sub, dict) and isinstance(sub.get("cause"), str):
                    extra = sub.get("extra")
                    url = extra.get("value") if isinstance(extra, dict) else None
                    found.append(_cut(sub["cause"], r, 80) + (f" ({_url(url, r)})" if isinstance(url, str) else ""))
        out.append(LighthouseShift(score=round(score, 4), element=_node(node, r) if isinstance(node, dict) else None,
                                   causes=found))
    out.sort(key=lambda s: -s.score)
    return out[:ROWS]


def _of_type(row: Mapping[str, Any], kind: str, first_party: Any) -> bool:
    if kind == "total":
        return True
    if kind == "third-party":  # rows of another entity than the page's (Lighthouse 10+ rows name theirs)
        return isinstance(row.get("entity"), str) and row.get("entity") != first_party
    named = str(row.get("resourceType"))
    if kind == "other":  # Lighthouse's media and other, and the types resource-summary counts as other
        return named not in NAMED_TYPES.values()
    return named == NAMED_TYPES.get(kind)


def _resources(audits: Mapping[str, Any], kind: str, r: Redactor) -> list[LighthouseResource]:
    rows = []
    requests = [row for row in _items(audits.get("network-requests")) if isinstance(row, dict)]
    first_party = next((row.get("entity") for row in requests if row.get("resourceType") == "Document"), None)
    for row in requests:
        size = _num(row.get("transferSize"))
        if size is not None and isinstance(row.get("url"), str) and _of_type(row, kind, first_party):
            rows.append((size, row["url"], str(row.get("resourceType") or "")))
    if not rows and kind == "total":  # no network-requests: total-byte-weight's items (the heaviest)
        for row in _items(audits.get("total-byte-weight")):
            size = _num(row.get("totalBytes")) if isinstance(row, dict) else None
            if size is not None and isinstance(row.get("url"), str):
                rows.append((size, row["url"], ""))
    rows.sort(key=lambda x: (-x[0], x[1]))
    return [LighthouseResource(url=_url(url, r), transfer=int(size), type=_cut(t, r, 20))
            for size, url, t in rows[:ROWS]]


def _losses(categories: Any, key: str, audits: Mapping[str, Any], r: Redactor) -> list[LighthouseLoss]:
    category = categories.get(key) if isinstance(categories, dict) else None
    refs = category.get("auditRefs") if isinstance(category, dict) else None
    if not isinstance(refs, list):
        return []
    weighted = [(ref, w) for ref in refs if isinstance(ref, dict) and (w := _num(ref.get("weight")))]
    total = sum(w for _, w in weighted)
    out = []
    for ref, weight in weighted:
        audit = audits.get(str(ref.get("id")))
        score = _num(audit.get("score")) if isinstance(audit, dict) else None
        if not isinstance(audit, dict) or score is None or score >= 1:
            continue
        lost = weight * (1 - min(score, 1.0))
        out.append(LighthouseLoss(audit=_cut(ref.get("id"), r, 80), title=_cut(audit.get("title"), r),
                                  weight=weight, score=score, points=round(lost / total * 100, 1),
                                  display=_cut(audit.get("displayValue"), r, 60)))
    out.sort(key=lambda a: (-a.points, a.audit))
    return out[:ROWS]


def _node(node: Mapping[str, Any], r: Redactor) -> LighthouseNode:
    return LighthouseNode(selector=_cut(node.get("selector"), r), label=_cut(node.get("nodeLabel"), r),
                          snippet=_cut(node.get("snippet"), r, MAX_SNIPPET))


def _cut(value: Any, r: Redactor, limit: int = MAX_TEXT) -> str:
    """A string of the file, on one line, its URLs' `user:password@` and credential parameters and the run's secrets
    masked, cut (not a string: ""): an element's snippet is HTML whose `src` and `href` are URLs."""
    if not isinstance(value, str):
        return ""
    return r.cut(credential_params_in(" ".join(value.split())), limit)


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None
