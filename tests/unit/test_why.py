"""Saying why (pure): top errors with compared values, reasons and fixes, all-failed endpoints, colour,
numbers vs numeric strings in expect.json, and compare's words for changes that do not count."""

from __future__ import annotations

import os
import pty
import random

import pytest

from loadorch.commands.compare import markdown as compare_markdown
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.report.results import RunRecord, build
from loadorch.report.summary import markdown, terminal, use_color
from loadorch.report.why import reasons, top_errors
from loadorch.results import Results
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.traffic.expect import equal, mismatch
from loadorch.verdict.compare import Budgets, compare
from loadorch.verdict.evaluate import Check, evaluate

OK = SeriesKey("shopper", "get product", "read", "GET", 200, True)
BAD_CHECK = SeriesKey("shopper", "search", "read", "GET", 200, False)
BAD_STATUS = SeriesKey("shopper", "create order", "write", "POST", 500, False)


def merged_with_errors() -> Merged:
    rec = Recorder(1.0, 0.0)
    for _ in range(120):
        rec.record(OK, 2000, 0.5)
    for i in range(30):
        rec.record(BAD_CHECK, 1500, 0.5, "check $.args.q failed", example=mismatch(692367 + i, str(692367 + i)))
    for _ in range(12):
        rec.record(BAD_STATUS, 900, 0.5, "status 500", example="expected status 2xx or 3xx")
    merged = Merged()
    merged.add_delta(0, rec.take_delta())
    return Merged.from_json(merged.to_json())  # through results.json's serialized form


def doc_of(
    merged: Merged, thresholds: dict[str, str], min_samples: int = 100, checks: list[Check] | None = None
) -> Results:
    ts = [Threshold(parse_selector(s), parse_expression(e, parse_selector(s).metric)) for s, e in thresholds.items()]
    results = evaluate(ts, merged, min_samples, 10.0)
    verdict = "fail" if any(r.verdict == "fail" for r in results) else (
        "inconclusive" if any(r.verdict == "inconclusive" for r in results) else "pass")
    record = RunRecord("local", "shop", "s.yaml", "abc", 1, 2, 4, "h", "t0", "t1", {}, verdict, 1, merged=merged,
                       elapsed_s=10.0, thresholds=results, checks=checks or [])
    return build(record)


def test_top_errors_name_endpoint_status_reason_count_and_the_compared_values() -> None:
    doc = doc_of(merged_with_errors(), {"http_req_failed": "rate<0.01"})
    rows = top_errors(doc)
    assert rows[0] == ["search", "200", "check $.args.q failed", "30", 'expected 692367 (int), got "692367" (str)']
    assert rows[1] == ["create order", "500", "status 500", "12", "expected status 2xx or 3xx"]
    for text in (terminal(doc), markdown(doc)):
        assert "expected 692367 (int), got \"692367\" (str)" in text and "check $.args.q failed" in text
        assert "op errors" in text  # "top errors" / "Top errors"


def test_failed_run_says_why_under_the_verdict_line() -> None:
    doc = doc_of(merged_with_errors(), {"http_req_failed": "rate<0.01"})
    lines = terminal(doc).rstrip("\n").splitlines()
    verdict_at = next(i for i, line in enumerate(lines) if line.startswith("FAIL: local"))
    why = lines[verdict_at + 1:]
    assert why and all(line.startswith("  why: ") for line in why)
    assert "http_req_failed rate<0.01" in why[0] and "see the top errors" in why[0]
    assert "**Why:**" in markdown(doc) and "see the top errors" in markdown(doc)


def test_too_few_samples_says_how_many_and_the_fix() -> None:
    doc = doc_of(merged_with_errors(), {"http_req_duration{kind:write}": "p(95)<700",
                                       "http_req_duration{name:get product}": "p(95)<700"}, min_samples=200)
    text = "\n".join(reasons(doc))
    assert "http_req_duration{name:get product} p(95)<700: 120 samples, min_samples is 200: run longer" in text
    assert "lower min_samples" in text
    assert "every matching request failed" in text  # kind:write: all 12 failed, no latency to judge
    assert terminal(doc).rstrip().splitlines()[-1].startswith("  why: ")


def test_error_run_and_failed_checks_give_their_reason() -> None:
    doc = doc_of(merged_with_errors(), {}, checks=[Check("workers", "error", "1 of 2 workers lost (pid 7 at 3.2s)")])
    doc = doc.model_copy(update={"verdict": "error", "error": "target unreachable: connection refused"})
    assert reasons(doc) == ["target unreachable: connection refused", "workers: 1 of 2 workers lost (pid 7 at 3.2s)"]
    assert reasons(doc.model_copy(update={"verdict": "pass"})) == []


def test_an_endpoint_whose_every_request_failed_says_so() -> None:
    doc = doc_of(merged_with_errors(), {"http_req_failed": "rate<0.01"})
    for text in (terminal(doc), markdown(doc)):
        row = next(line for line in text.splitlines() if line.lstrip("| ").startswith("create order") and "write" in line)
        assert "all failed" in row
        assert "latencies are of successful requests only" in text
    row = next(line for line in terminal(doc).splitlines() if line.startswith("get product"))
    assert "all failed" not in row


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = doc_of(merged_with_errors(), {"http_req_failed": "rate<0.01"})
    assert "\033[" not in terminal(doc) and "\033[1;31mFAIL\033[0m" in terminal(doc, color=True)
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty, open(os.devnull, "w") as not_tty:
            monkeypatch.delenv("NO_COLOR", raising=False)
            monkeypatch.setenv("TERM", "xterm")
            assert use_color(tty) and not use_color(not_tty)
            monkeypatch.setenv("NO_COLOR", "1")
            assert not use_color(tty)
            monkeypatch.delenv("NO_COLOR")
            monkeypatch.setenv("TERM", "dumb")
            assert not use_color(tty)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(("got", "want", "same"), [
    ("692367", 692367, True), (692367, "692367", True), ("2.50", 2.5, True), (17, 17.0, True),
    (" 17", 17, True), ("17a", 17, False), (True, 1, False), ("true", True, False), ("abc", "abc", True),
    ("17", "17.0", False), ([1, "2"], ["1", 2], True), ({"a": "3"}, {"a": 3}, True), (None, "null", False),
    ("nan", float("nan"), False), ("1e3", 1000, True),
])
def test_numbers_and_numeric_strings_compare_equal(got: object, want: object, same: bool) -> None:
    assert equal(got, want) is same


def test_mismatch_shows_values_and_types() -> None:
    assert mismatch(692367, "692367") == 'expected 692367 (int), got "692367" (str)'
    assert mismatch("a", None, present=False) == 'expected "a" (str), got nothing (no value at this path)'
    assert len(mismatch("x" * 500, 1)) < 100


def _doc(latencies: list[float], failures: int, verdict: str = "pass", iterations: int | None = None,
         host: str = "h") -> Results:
    m = Merged()
    m.series[SeriesKey("u", "ep", "read", "GET", 200, True)] = Histogram.of(int(v * 1000) for v in latencies)
    if failures:
        m.series[SeriesKey("u", "ep", "read", "GET", 503, False)] = Histogram.of([1000] * failures)
    rec = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, host, "t0", "t1", {}, verdict, 0, merged=m, elapsed_s=10.0,
                    iterations=iterations, duration_s=None if iterations else 10.0)
    return build(rec)


def test_a_pair_against_two_targets_is_said_not_like_for_like_a_port_alone_is_not() -> None:
    """Staging against production (or one region against another) was compared without a word; two local servers
    on ports of their own are one target, and a URL's credentials are never shown."""
    same = [50.0] * 200
    ports = compare(_doc(same, 0, host="http://127.0.0.1:41234"), _doc(same, 0, host="http://127.0.0.1:39001"), Budgets())
    assert not [w for w in ports.warnings if "target differs" in w], ports.warnings
    moved = compare(_doc(same, 0, host="https://user:hunter2secret@staging.example.com:8443"),
                    _doc(same, 0, host="https://prod.example.com"), Budgets())
    said = [w for w in moved.warnings if "target differs" in w]
    assert said == ["target differs (https://staging.example.com -> https://prod.example.com): not like for like"]
    assert "hunter2secret" not in compare_markdown(moved, "a", "b", Budgets())


def test_compare_table_says_why_a_change_does_not_count() -> None:
    rng = random.Random(3)
    base = _doc([rng.gauss(50, 2) for _ in range(1000)], 750, verdict="inconclusive")
    cur = _doc([rng.gauss(50, 2) for _ in range(1000)], 1000, iterations=20)
    result = compare(base, cur, Budgets())
    text = compare_markdown(result, "a", "b", Budgets())
    assert "None" not in text
    assert "iterations differs (not set -> 20)" in text
    assert "the baseline was inconclusive" in text and "proves little" in text
    cells = [c.strip() for line in text.splitlines() if line.startswith("|") for c in line.split("|")]
    assert "same" not in cells and "-" not in [c for c in cells if c.endswith("pts")]
    row = next(line for line in text.splitlines() if "| run " in line and "error_rate" in line)
    assert "42.9 %" in row and "50.0 %" in row and "+7.1 pts" in row
    p50 = next(line for line in text.splitlines() if "| kind " in line and "| p50 " in line)
    assert "not significant (95% intervals" in p50 or "under min_change_ms" in p50
    few = compare(_doc([10.0] * 5, 0), _doc([10.0] * 5, 0), Budgets())
    assert "too few samples" in compare_markdown(few, "a", "b", Budgets())


def test_a_server_timing_gate_without_its_entry_says_so_not_that_no_request_matched() -> None:
    rec = Recorder(1.0, 0.0)
    for _ in range(120):  # every request matched; their responses said `cache;desc=hit`, no dur
        rec.record(OK, 2000, 0.5)
        rec.record_server_timing(OK, [("cache", None, "hit")])
    merged = Merged()
    merged.add_delta(0, rec.take_delta())
    doc = doc_of(Merged.from_json(merged.to_json()), {"server_timing{entry:cache}": "p(95)<5"})
    said = reasons(doc)
    assert len(said) == 1, said
    assert "no request matched" not in said[0] and "check the selector's tags" not in said[0], said
    assert "sent a Server-Timing entry 'cache' with a dur" in said[0], said
    assert "no request matched" not in markdown(doc) and "no request matched" not in terminal(doc)
