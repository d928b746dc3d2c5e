"""compare.md and compare.html name the evidence of each regression both runs have evidence for (pure):
the slowest requests' trace ids and links, a page's LCP element, an endpoint's N+1 loops and the slow
statements' plan flags, each run's side by side, bounded and escaped."""

from __future__ import annotations

import json
from typing import Any

from loadorch.report.compare_evidence import CHARS, MAX_ITEMS, SHOWN, html_part, markdown_part, regressions_evidence
from loadorch.results import Results, results_of
from loadorch.run.artifacts import dumps
from loadorch.verdict.compare import Row
from tests.synthetic import full_results


def _doc(slower: float, element: str, flag: str, calls: int) -> Results:
    doc = full_results()
    ev = doc["thresholds"][-1]["evidence"]
    for s in ev["slowest"]:
        s["duration_ms"] *= slower
        s["trace_id"] = f"{int(slower):x}" + s["trace_id"][1:]
        s["trace_url"] = f"https://tempo.example/trace/{s['trace_id']}"
    lcp = {"element": element, "url": "http://127.0.0.1/hero.jpg", "ttfb": 5, "load_delay": 10, "load_duration": 200,
           "render_delay": 3}
    ev["browser"] = {"metric": "browser_web_vital_lcp", "unit": "ms", "views": [
        {"role": "p(75)", "value": 900, "page": "home", "user": "u", "at_s": 1.0, "lcp": lcp}]}
    ev["database"] = {
        "plans": [{"statement": "SELECT * FROM items WHERE id = $1", "count": 3, "flags": [{"kind": "spill", "text": flag}]}],
        "n_plus_one": [{"endpoint": "order", "statement": "SELECT name FROM c WHERE id = $1", "calls": calls}],
    }
    return results_of(json.loads(dumps(doc)), "r.json")


def _row(scope: str, name: str, metric: str, verdict: str = "regression") -> Row:
    return Row(scope, name, metric, 10.0, 30.0, 20.0, 200.0, 0.1, True, verdict)


BASE = _doc(1, "img#hero", "sort spilled 1200 kB to disk: work_mem 4MB, needs 2MB more", 2)
CUR = _doc(3, "<script>alert(1)</script>", "sort spilled 9800 kB to disk: work_mem 4MB, needs 10MB more", 6)


def test_each_regression_names_the_evidence_of_both_runs() -> None:
    rows = [_row("endpoint", "order", "p95"), _row("endpoint", "order", "p99"), _row("page", "home", "lcp p75"),
            _row("endpoint", "order", "db_queries_per_request"), _row("endpoint", "list", "p95"),
            _row("page", "home", "inp p75"), _row("kind", "read", "p95", "same")]
    items = regressions_evidence(BASE, CUR, rows)
    assert [i.title.split(":")[0] for i in items] == [
        "endpoint order", "page home", "endpoint order", "slow statement SELECT * FROM items WHERE id = $1"]
    md = "\n".join(markdown_part(items))
    before, after = BASE.thresholds[-1].evidence, CUR.thresholds[-1].evidence  # type: ignore[union-attr]
    assert before is not None and after is not None
    for s in (before.slowest[0], after.slowest[0]):
        assert f"trace {s.trace_id}" in md and f"(<{s.trace_url}>)" in md
    assert "LCP element img#hero (http://127.0.0.1/hero.jpg)" in md and "x6 per request" in md and "x2 per" in md
    assert "needs 2MB more" in md and "needs 10MB more" in md
    html = html_part(items)
    assert f'<a href="https://tempo.example/trace/{after.slowest[0].trace_id}">trace</a>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'id="evidence"' in html


def test_nothing_is_named_without_a_regression_or_without_both_runs_evidence() -> None:
    assert regressions_evidence(BASE, CUR, [_row("endpoint", "order", "p95", "same")]) == []
    bare = results_of(json.loads(dumps(full_results() | {"thresholds": []})), "r.json")
    assert regressions_evidence(bare, CUR, [_row("endpoint", "order", "p95")]) == []
    assert markdown_part([]) == [] and html_part([]) == ""


def test_the_part_is_bounded() -> None:
    rows = [_row("endpoint", "order", f"p{n}") for n in range(50)] + [
        _row("page", "home", f"lcp{n} p75") for n in range(50)]
    items = regressions_evidence(BASE, CUR, rows)
    assert len(items) <= MAX_ITEMS and all(len(i.baseline) <= SHOWN and len(i.current) <= SHOWN for i in items)
    long: dict[str, Any] = json.loads(dumps(full_results()))
    for s in long["thresholds"][-1]["evidence"]["slowest"]:
        s["endpoint"] = "order"
        s["method"] = "GET" + "x" * 5000
        s["trace_url"] = "https://t.example/" + "y" * 5000
    huge = results_of(long, "r.json")
    lines = markdown_part(regressions_evidence(huge, huge, [_row("endpoint", "order", "p95")]))
    assert lines and all(len(line) <= 2 * CHARS + 20 for line in lines) and "yyyy" not in "".join(lines)


def test_a_baselines_trace_link_that_is_not_a_web_address_is_not_linked_and_markup_in_one_is_encoded() -> None:
    """A baseline's results.json comes from anywhere: its trace links are linked only when http(s), and what
    could leave the link (`<`, `>`, `"`) is percent-encoded in compare.md and compare.html alike."""
    base: dict[str, Any] = json.loads(dumps(full_results()))
    slowest = base["thresholds"][-1]["evidence"]["slowest"]
    for s in slowest:
        s["endpoint"] = "order"
    slowest[0]["trace_url"], slowest[1]["trace_url"] = "javascript:alert(1)//", 'data:text/html,<script>x</script>'
    slowest[2]["trace_url"] = 'https://t.example/<img/src=x/onerror=alert(2)>"'
    doc = results_of(base, "r.json")
    items = regressions_evidence(doc, doc, [_row("endpoint", "order", "p95")])
    md, html = "\n".join(markdown_part(items)), html_part(items)
    assert items and "javascript:" not in md + html and "data:" not in md + html
    assert "<img" not in md and "<img" not in html and "https://t.example/%3Cimg/src=x/onerror=alert(2)%3E%22" in md
    assert 'href="https://t.example/%3Cimg/src=x/onerror=alert(2)%3E%22"' in html
