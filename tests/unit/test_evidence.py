"""Evidence of a verdict (pure): the K slowest requests per endpoint kept on workers and merged by the
master, which rows carry evidence, and how it reads in junit.xml, summary.md and report.html."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from loadorch.report.evidence import (
    SHORT_CHARS,
    SHORT_LINES,
    html_evidence,
    markdown_evidence,
    short_text,
    wants_evidence,
)
from loadorch.report.junit import render
from loadorch.results import Evidence, results_of
from loadorch.run.artifacts import dumps
from loadorch.stats.exemplars import MAX_K, SERVER_TIMING_KEPT, Slowest, checked, row
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import ThresholdResult
from tests.support.project import SHARED
from tests.synthetic import full_results

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord


def test_the_heap_keeps_the_k_slowest_of_each_endpoint() -> None:
    rng = random.Random(1)
    durations = {name: [rng.randrange(1, 10**6) for _ in range(500)] for name in ("a", "b")}
    slowest = Slowest(5)
    for name, values in durations.items():
        for d in values:
            if slowest.wants(name, d):
                slowest.offer(row(name, "GET", 200, d, 0.0))
    for name, values in durations.items():
        assert [r[3] for r in slowest.of([name])] == sorted(values, reverse=True)[:5]
    assert len(slowest) == 10 and Slowest(10**6).k == MAX_K and not Slowest(0).wants("a", 1)


def test_the_master_keeps_the_k_slowest_over_every_worker_and_every_delta() -> None:
    """Each worker's delta carries its slowest since the last one; the master's merge is the K slowest of all."""
    rng = random.Random(2)
    merged, every = Merged(1.0), []
    workers = [Recorder(1.0, 0.0) for _ in range(3)]
    for second in range(4):
        for w, rec in enumerate(workers):
            for _ in range(200):
                d = rng.randrange(1, 10**7)
                every.append(d)
                if rec.exemplars.wants("list", d):
                    rec.keep_exemplar(row("list", "GET", 200, d, second + 0.5, worker=w))
            merged.add_delta(w, rec.take_delta())
    assert [r[3] for r in merged.exemplars.of()] == sorted(every, reverse=True)[:5]
    again = Merged.from_json(merged.to_json())  # the master's summary, read back by the controller
    assert again.exemplars.of() == merged.exemplars.of()


def test_a_worker_keeps_exemplars_inside_the_window_only() -> None:
    rec = Recorder(1.0, 100.0, window=((2.0, 8.0),))
    rec.keep_exemplar(row("a", "GET", 200, 9_000_000, 101.0))  # ramp-up: left out
    rec.keep_exemplar(row("a", "GET", 200, 1_000, 103.0))
    assert [r[3] for r in rec.exemplars.of()] == [1_000]


def test_an_exemplar_is_in_the_window_by_its_completion_as_the_gates_histograms_count_it() -> None:
    """A row's `at` is when the request was sent; the window's histograms count a request when it completes.
    A slow request sent before the window's end and done after it was never judged: it is not among the
    window's slowest; one sent in the ramp-up and done inside the window was judged: it is."""
    rec = Recorder(1.0, 100.0, window=((2.0, 8.0),))
    rec.keep_exemplar(row("a", "GET", 200, 3_000_000, 107.0))  # done at 110 s: after the window (108 s)
    rec.keep_exemplar(row("a", "GET", 200, 1_500_000, 101.0))  # sent in the ramp-up, done at 102.5 s: inside
    rec.record(SeriesKey("u", "a", "http", "GET", 200, True), 3_000_000, 110.0)
    rec.record(SeriesKey("u", "a", "http", "GET", 200, True), 1_500_000, 102.5)
    judged = [h.max for h in rec.window.values()]
    assert judged == [1_500_000] and [r[3] for r in rec.exemplars.of()] == [1_500_000]


@pytest.mark.parametrize("bad", [
    "x", [["a", "GET", 200]], [["a", "GET", "200", 1, 0.0, -1, -1, -1, -1, -1, "", [], 0]],
    [["a", "GET", 200, 1, 0.0, -1, -1, -1, -1, -1, "", [["app", "fast", None]], 0]],
])
def test_a_malformed_exemplar_row_refuses_the_whole_delta(bad: object) -> None:
    rec = Recorder(1.0, 0.0)
    delta = rec.take_delta()
    delta["exemplars"] = bad  # type: ignore[typeddict-item]
    merged = Merged(1.0)
    with pytest.raises(ValueError, match="exemplars"):
        merged.add_delta(0, delta)
    assert not merged.exemplars.heaps


def test_an_exemplar_row_is_bounded() -> None:
    r = row("a", "GET", 200, 1, 0.0, trace_id="f" * 100,
            server_timing=[(f"n{i}" * 50, 1.0, "d" * 500) for i in range(SERVER_TIMING_KEPT + 5)])
    assert len(r[10]) == 32 and len(r[11]) == SERVER_TIMING_KEPT
    assert all(len(n) <= 64 and len(d) <= 120 for n, _, d in r[11])
    assert checked([r]) == [r]


@pytest.mark.parametrize(("verdict", "observed", "bound", "wanted"), [
    ("fail", 500.0, 0.0, True), ("fail", None, 0.0, True), ("pass", 10.0, 0.0, False),
    ("inconclusive", 300.2, 0.5, True),  # the limit inside the error bound
    ("inconclusive", 250.0, 0.5, False), ("inconclusive", None, 0.0, False),  # too few samples, no data
])
def test_which_rows_carry_evidence(verdict: str, observed: float | None, bound: float, wanted: bool) -> None:
    assert wants_evidence(verdict, observed, 300.0, bound) is wanted


def _full():  # type: ignore[no-untyped-def]
    return results_of(json.loads(dumps(full_results())), "results.json")


def test_the_golden_run_names_its_slowest_requests_in_every_report() -> None:
    doc = _full()
    failing = [t for t in doc.thresholds if t.evidence is not None]
    assert [t.selector for t in failing] == ["http_req_duration{name:order}"]
    ev = failing[0].evidence
    assert ev is not None and len(ev.slowest) == 5
    assert [s.duration_ms for s in ev.slowest] == sorted((s.duration_ms for s in ev.slowest), reverse=True)
    assert {s.endpoint for s in ev.slowest} == {"order"}  # the selector's own requests only
    first = ev.slowest[0]
    short = short_text(ev)
    assert first.trace_id and first.trace_id in short and "54.992 ms" not in short and "55.0 ms" in short
    md = "\n".join(markdown_evidence(doc.thresholds))
    assert "### Evidence" in md and all(s.trace_id in md for s in ev.slowest if s.trace_id)
    assert "app=44ms" in md and f"https://tempo.example/trace/{first.trace_id}" in md
    html = html_evidence(doc.thresholds)
    assert f'<a href="https://tempo.example/trace/{first.trace_id}">{first.trace_id}</a>' in html


def test_the_short_block_is_bounded_and_the_html_escaped() -> None:
    slow = [{"endpoint": "<script>" + "x" * 500, "method": "GET", "at": "t", "status": 200, "duration_ms": 1.0,
             "trace_id": "a" * 32, "trace_url": 'https://t.example/"><script>'} for _ in range(40)]
    ev = Evidence.model_validate({"slowest": slow, "notes": ["n"] * 40})
    lines = short_text(ev).splitlines()
    assert len(lines) <= SHORT_LINES and all(len(line) <= SHORT_CHARS for line in lines)
    row_doc = full_results()["thresholds"][-1] | {"evidence": ev.model_dump()}
    doc = _full().model_copy(update={"thresholds": [results_of_row(row_doc)]})
    html = html_evidence(doc.thresholds)
    assert "<script>" not in html and html.count("<tr>") <= 21


def test_a_trace_link_is_linked_only_when_it_is_a_web_address_and_markup_in_it_is_encoded(tmp_path) -> None:
    """`loadorch report DIR` rebuilds report.html and summary.md from a results.json it did not write: a trace
    link that is not http(s) (`javascript:`, `data:`) is not linked (it was, in report.html), and one with
    markup in it (which the profile's `trace.url` allows too) is percent-encoded (it was raw HTML in summary.md)."""
    from loadorch.commands.report import rebuild

    doc = full_results()
    slowest = doc["thresholds"][-1]["evidence"]["slowest"]
    slowest[0]["trace_url"] = "javascript:alert(document.domain)//"
    slowest[1]["trace_url"] = "data:text/html,<script>alert(1)</script>"
    slowest[2]["trace_url"] = "https://tempo.example/trace/<img/src=x/onerror=alert(2)>"
    slowest[3]["trace_id"] = "<b>not hex</b>"
    (tmp_path / "results.json").write_text(json.dumps(doc))
    rebuild(str(tmp_path))
    html, md = (tmp_path / "report.html").read_text(), (tmp_path / "summary.md").read_text()
    for text in (html, md):
        assert "javascript:" not in text and "data:text" not in text and "<img" not in text and "<b>" not in text
    assert 'href="https://tempo.example/trace/%3Cimg/src=x/onerror=alert(2)%3E"' in html
    assert f"- trace {slowest[2]['trace_id']}: <https://tempo.example/trace/%3Cimg/src=x/onerror=alert(2)%3E>" in md
    assert f'<a href="{slowest[4]["trace_url"]}">{slowest[4]["trace_id"]}</a>' in html  # a plain one as before


def test_summary_md_shows_names_from_the_target_as_text_each_on_its_line() -> None:
    """An endpoint name, a Server-Timing desc, a profiled frame's file and py-spy's (or a pid file's) words come
    from the target: in summary.md they are shown, never HTML (the time split, the notes and the profilers'
    section were raw), and a newline in one does not end its list item (a frame's file opened a heading)."""
    from loadorch.report.summary import markdown

    evil = "<img src=x onerror=alert(1)>"
    doc = full_results()
    ev = doc["thresholds"][-1]["evidence"]
    ev["time_split"][0]["endpoint"] = evil
    ev["notes"] = [f"note {evil}"]
    ev["descs"] = [{"entry": "cache", "desc": f"hit\n## {evil}", "count": 3}]
    ev["profile"][0]["top"][0]["file"] = f"/srv/app\n# {evil}.py"
    doc["profiles"][1]["problem"] = f"pid file run/api.pid: '{evil}' is not a pid"
    md = markdown(results_of(json.loads(dumps(doc)), "results.json"))
    assert "<img" not in md and md.count("&lt;img src=x onerror=alert(1)&gt;") >= 5
    assert not [line for line in md.splitlines() if line.startswith("#") and "img" in line]


def results_of_row(doc: dict) -> object:  # type: ignore[type-arg]
    from loadorch.results import ThresholdRow

    return ThresholdRow.model_validate(doc)


def test_junit_failure_text_holds_the_short_block() -> None:
    doc = _full()
    ev = doc.thresholds[-1].evidence
    result = ThresholdResult("http_req_duration{name:order}", "p(95)<20", 54.9, 20.0, "ms", 60, 0.01, "fail",
                             "failed: p(95)=54.9ms")
    short = short_text(ev)
    xml = render("s", "2026-01-01T00:00:00", "h", 1.0, [result], [], evidence=[short])
    failure = ET.fromstring(xml).find("testcase/failure")
    assert failure is not None and ev is not None and ev.slowest[0].trace_id in short
    # each said once: the message attribute the one-line verdict, the text the lines that decide it
    assert failure.get("message") == "failed: p(95)=54.9ms" and failure.text == short
    assert ev.slowest[0].trace_id not in (failure.get("message") or "")


def test_junit_with_evidence_is_valid_against_the_strict_schema(tmp_path) -> None:
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if not xsd.exists():
        pytest.skip("the strict JUnit schema (../shared/data/junit/JUnit.xsd) is not beside this checkout")
    xmlschema = pytest.importorskip("xmlschema")
    ev = _full().thresholds[-1].evidence
    fail = ThresholdResult("http_req_duration{name:order}", "p(95)<20", 54.9, 20.0, "ms", 60, 0.01, "fail",
                           "failed: p(95)=54.9ms")
    near = ThresholdResult("http_req_duration{name:order}", "p(95)<55", 54.9, 55.0, "ms", 60, 0.5, "inconclusive",
                           "inconclusive: within the error bound")
    path = tmp_path / "junit.xml"
    path.write_text(render("s", "2026-01-01T00:00:00", "h", 1.0, [fail, near], [],
                           evidence=[short_text(ev)] * 2), encoding="utf-8")
    xmlschema.XMLSchema(str(xsd)).validate(str(path))
    cases = ET.parse(path).getroot().findall("testcase")
    assert [(c[0].tag, "\n" in (c[0].get("message") or "")) for c in cases] == [("failure", False), ("error", False)]


def test_a_secret_in_a_server_timing_desc_or_name_never_reaches_the_evidence() -> None:
    """The evidence goes through the run's redaction with the rest of results.json (run/controller.py)."""
    from loadorch.traffic.redact import Redactor

    doc = full_results()
    doc["thresholds"][-1]["evidence"]["slowest"][0]["server_timing"].append(
        {"name": "auth", "dur_ms": 1.0, "desc": "token=CANARY-s3cr3t-77"})
    doc["thresholds"][-1]["evidence"]["notes"] = ["seen CANARY-s3cr3t-77"]
    masked = Redactor(["CANARY-s3cr3t-77"]).obj(doc)
    text = dumps(masked)
    assert "CANARY-s3cr3t-77" not in text and "s3cr3t" not in text
    results = results_of(json.loads(text), "r.json")
    rendered = short_text(results.thresholds[-1].evidence) + "\n".join(markdown_evidence(results.thresholds))
    assert "token=***" in rendered and "CANARY" not in rendered + html_evidence(results.thresholds)


def _recorded(rec: Recorder) -> RunRecord:
    """A failed run's record of what `rec` recorded (one worker's delta, merged)."""
    from loadorch.report.record import RunRecord

    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    return RunRecord("p", "s", "s.yaml", "0" * 64, 1, 1, 1, "h", "t0", "t1", {}, "fail", 1, merged=merged)


def _evidence_of(record: RunRecord, selector: str, expression: str, observed: float, samples: int,
                 unit: str = "") -> Evidence | None:
    """The evidence block of a failing gate `selector` `expression` that observed `observed` over `samples`."""
    from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
    from loadorch.report.evidence import evidence_of

    sel = parse_selector(selector)
    t = Threshold(sel, parse_expression(expression, sel.metric))
    return evidence_of(ThresholdResult.of(t, observed, samples, 0.0, "fail", "failed", unit), record)


def _rendered(ev: Evidence) -> tuple[str, str]:
    """summary.md's and report.html's evidence parts of a results.json row that carries `ev`."""
    row_doc = full_results()["thresholds"][-1] | {"evidence": ev.model_dump()}
    doc = _full().model_copy(update={"thresholds": [results_of_row(row_doc)]})
    return "\n".join(markdown_evidence(doc.thresholds)), html_evidence(doc.thresholds)


def test_a_failing_error_rate_gate_names_its_failed_requests_by_endpoint_status_and_reason() -> None:
    """An error-rate gate had no evidence at all: its failed requests, the most first, with their reason."""
    from loadorch.stats.tables import SeriesKey

    rec = Recorder(1.0, 0.0)
    for i in range(100):
        rec.record(SeriesKey("u", "checkout", "write", "POST", 200, True), 1000, 0.5)
        if i % 4 == 0:
            rec.record(SeriesKey("u", "checkout", "write", "POST", 503, False), 1000, 0.5, error="HTTP 503")
        if i % 10 == 0:
            rec.record(SeriesKey("u", "checkout", "write", "POST", 0, False), 1000, 0.5, error="connection reset")
        if i % 5 == 0:
            rec.record(SeriesKey("u", "home", "read", "GET", 500, False), 1000, 0.5, error="HTTP 500")
    record = _recorded(rec)
    ev = _evidence_of(record, "http_req_failed{name:checkout}", "rate<0.01", 35 / 135, 135)
    assert ev is not None
    assert [(f.endpoint, f.status, f.count, f.reason) for f in ev.failures] == [
        ("checkout", 503, 25, "HTTP 503"), ("checkout", 0, 10, "connection reset")]  # not home's: another endpoint
    short = short_text(ev)
    assert "25 failed: POST checkout 503: HTTP 503" in short and "10 failed: POST checkout no response" in short
    markdown, html = _rendered(ev)
    assert "25 failed: POST checkout 503" in markdown
    assert "<h3>Failed requests</h3>" in html


def test_a_failing_server_timing_desc_gate_says_what_its_entry_said_instead() -> None:
    """A `server_timing_desc` gate (a cache's hit ratio) had no evidence: the descs its entry said, the most first."""
    from loadorch.stats.tables import SeriesKey

    rec = Recorder(1.0, 0.0)
    rec.server_timing = True
    key, other = SeriesKey("u", "list", "read", "GET", 200, True), SeriesKey("u", "home", "read", "GET", 200, True)
    for i in range(100):
        rec.record(key, 1000, 0.5)
        rec.record_server_timing(key, [("cache", None, "hit" if i % 5 == 0 else "miss"), ("db", 3.0, None)], 0.5)
        rec.record_server_timing(other, [("cache", None, "hit")], 0.5)  # another endpoint: not the selector's
    record = _recorded(rec)
    ev = _evidence_of(record, "server_timing_desc{entry:cache,desc:hit,name:list}", "rate>0.9", 0.2, 100)
    assert ev is not None and [(d.desc, d.count) for d in ev.descs] == [("miss", 80), ("hit", 20)]
    assert short_text(ev).splitlines()[0] == "cache said desc=miss: 80 responses"


def test_a_failing_checks_gate_names_the_conditions_that_failed_with_a_response() -> None:
    """A `checks` gate (expect conditions) had no evidence: which conditions failed, how often, on what response."""
    from loadorch.stats.tables import SeriesKey

    rec = Recorder(1.0, 0.0)
    key, other = SeriesKey("u", "search", "read", "GET", 200, True), SeriesKey("u", "home", "read", "GET", 200, True)
    for i in range(40):
        bad = i % 4 == 0
        rec.record_checks(key, ["status 200", "$.items non-empty"], [True, not bad],
                          '200 {"items": []}' if bad else None, 0.5)
        rec.record_checks(other, ["status 200"], [False], "500 oops", 0.5)  # another endpoint: not the selector's
    record = _recorded(rec)
    ev = _evidence_of(record, "checks{name:search}", "rate>0.99", 70 / 80, 80)
    assert ev is not None and [(c.endpoint, c.check, c.fails, c.of, c.example) for c in ev.checks] == [
        ("search", "$.items non-empty", 10, 40, '200 {"items": []}')]
    assert short_text(ev) == 'GET search: $.items non-empty failed 10 of 40; e.g. 200 {"items": []}'


def test_a_failing_browser_step_gate_names_the_steps_that_failed_and_why() -> None:
    """`browser_step_failed` had no evidence: the gate's page's failed steps, the most frequent first."""
    from loadorch.report.record import RunRecord
    from loadorch.results import Browser, StepFailure

    failures = [StepFailure(user="shopper", page="cart", step="click #pay", reason="no element #pay in 5 s", count=7),
                StepFailure(user="shopper", page="home", step="visit /", reason="net::ERR_CONNECTION_REFUSED", count=3),
                StepFailure(user="shopper", page="cart", step="wait_for #total", reason="timed out", count=1)]
    record = RunRecord("p", "s", "s.yaml", "0" * 64, 1, 1, 1, "h", "t0", "t1", {}, "fail", 1,
                       browser=Browser.model_construct(failures=failures))
    ev = _evidence_of(record, "browser_step_failed{page:cart}", "rate<0.01", 0.2, 40)
    assert ev is not None and [f.step for f in ev.steps] == ["click #pay", "wait_for #total"]
    assert short_text(ev).splitlines()[0] == "step click #pay on page cart (shopper) failed 7x: no element #pay in 5 s"
    assert "<h3>Failed browser steps</h3>" in _rendered(ev)[1]


def test_a_failing_throughput_gate_names_its_requests_by_endpoint_with_their_rate_and_p95() -> None:
    """A throughput gate (http_reqs) had no evidence: the selector's requests by endpoint and method, the most first,
    each one's part of the observed rate, its failures and its successful requests' p95 (nearest rank)."""
    from loadorch.stats.tables import SeriesKey

    rec = Recorder(1.0, 0.0)
    for i in range(1, 101):  # search: 100 successful, 1..100 ms (p95 = 95 ms); 20 of them failed beside
        rec.record(SeriesKey("u", "search", "read", "GET", 200, True), i * 1000, 0.5)
        if i % 5 == 0:
            rec.record(SeriesKey("u", "search", "read", "GET", 500, False), 1000, 0.5, error="HTTP 500")
    for _ in range(30):  # home: 30 at 2 ms
        rec.record(SeriesKey("u", "home", "read", "GET", 200, True), 2000, 0.5)
    rec.record(SeriesKey("admin", "stats", "read", "GET", 200, True), 2000, 0.5)  # another user's: not selected
    record = _recorded(rec)
    ev = _evidence_of(record, "http_reqs{user:u}", "rate>100", 15.0, 150, "/s")
    assert ev is not None
    assert [(e.endpoint, e.method, e.requests, e.per_s, e.failed) for e in ev.throughput] == [
        ("search", "GET", 120, 12.0, 20), ("home", "GET", 30, 3.0, 0)]
    # nearest rank over the histogram: within its bucket's width (1/128) of the exact 95 ms and 2 ms
    assert [e.p95_ms for e in ev.throughput] == [pytest.approx(95.0, rel=1 / 128), pytest.approx(2.0, rel=1 / 128)]
    p95 = ev.throughput[0].p95_ms
    assert short_text(ev).splitlines()[0] == f"120 requests (12/s): GET search, p95 {p95:g} ms, 20 failed"
    ev = _evidence_of(record, "http_reqs{user:u}", "count>1000", 150.0, 150)
    assert ev is not None and [e.per_s for e in ev.throughput] == [None, None]
    markdown, html = _rendered(ev)
    assert f"- 30 requests: GET home, p95 {ev.throughput[1].p95_ms:g} ms" in markdown
    assert "<h3>Requests by endpoint</h3>" in html


def test_a_users_latency_gate_lists_that_users_slow_requests_not_another_users_of_the_same_name() -> None:
    """Two users may name a request alike (request names are unique per user, not per scenario): a gate on one
    user lists its own slow requests, not the other user's that share the name, method and status."""
    from loadorch.stats.tables import SeriesKey

    rec = Recorder(1.0, 0.0)
    for user, durations in (("shopper", (50_000, 40_000)), ("admin", (900_000, 800_000, 700_000))):
        for d in durations:
            rec.record(SeriesKey(user, "products", "read", "GET", 200, True), d, 0.5)
            rec.keep_exemplar(row("products", "GET", 200, d, 0.5, user=user))
    record = _recorded(rec)
    ev = _evidence_of(record, "http_req_duration{user:shopper}", "p(95)<10", 50.0, 2)
    assert ev is not None and [s.duration_ms for s in ev.slowest] == [50.0, 40.0]
    ev = _evidence_of(record, "http_req_duration{name:products}", "p(95)<10", 900.0, 5)
    assert ev is not None and [s.duration_ms for s in ev.slowest] == [900.0, 800.0, 700.0, 50.0, 40.0]
    old = ["products", "GET", 200, 1, 0.0, -1, -1, -1, -1, -1, "", [], 0]  # a row of before (a baseline's): no user
    assert checked([old]) == [[*old, ""]]
