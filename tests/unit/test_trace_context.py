"""W3C trace context loadorch sends (traffic/trace.py) and the Server-Timing parser (traffic/servertiming.py)."""

from __future__ import annotations

import re

import pytest

from loadorch.traffic.servertiming import DESC_CHARS, MAX_ENTRIES, parse
from loadorch.traffic.trace import (
    HEADER,
    ID,
    NO_TRACE,
    TraceIds,
    line_of,
    parse_traceparent,
    run_prefix,
    trace_client,
    trace_id_of,
)

TRACEPARENT = re.compile(r"^traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-01\r\n$")


def test_traceparent_has_the_w3c_form_sampled_and_parses_back() -> None:
    ids = TraceIds(run_prefix("a" * 32), 3)
    trace_id, line = ids.next()
    assert TRACEPARENT.match(line)
    value = line.split(": ", 1)[1].strip()
    assert parse_traceparent(value) == (trace_id, trace_id[16:], True)
    assert trace_id[12:16] == "0003"  # the worker


def test_trace_ids_are_unique_per_worker_and_run_and_the_same_for_the_same_run() -> None:
    run_a, run_b = run_prefix("token-a"), run_prefix("token-b")
    assert run_a != run_b and re.fullmatch(r"[0-9a-f]{12}", run_a) and run_a == run_prefix("token-a")
    seen = set()
    for prefix in (run_a, run_b):
        for worker in range(3):
            ids = TraceIds(prefix, worker)
            seen.update(ids.next()[0] for _ in range(1000))
    assert len(seen) == 6000
    assert all(i[16:] != "0" * 16 and i != "0" * 32 for i in seen)  # never the invalid all-zero ids


def test_the_span_is_the_sequence_across_the_lines_cached_parts() -> None:
    """The line's constant parts are rebuilt every 256 requests: each id is still its sequence number."""
    ids = TraceIds("0123456789ab", 0xBEEF)
    for n in range(1, 70_000):
        if n % 3:
            line = ids.line()
        else:  # the lean client's parts draw from the same sequence
            parts = next(ids.parts)
            line = line_of(parts)
            assert trace_id_of(parts) == line[ID]
        assert line[ID] == f"0123456789abbeef{n:016x}" and line == f"traceparent: 00-{line[ID]}-{n:016x}-01\r\n"
    assert ids.next()[0] == f"0123456789abbeef{70_000:016x}"
    assert line_of(NO_TRACE) == "" == trace_id_of(NO_TRACE)


@pytest.mark.parametrize("bad", ["", "00-" + "0" * 32 + "-" + "1" * 16 + "-01", "01-" + "a" * 32 + "-" + "1" * 16 + "-01",
                                 "00-" + "A" * 32 + "-" + "1" * 16 + "-01", "00-abc-def-01"])
def test_an_invalid_traceparent_is_refused(bad: str) -> None:
    assert parse_traceparent(bad) is None


def test_a_trace_prefix_must_be_twelve_hex_digits() -> None:
    with pytest.raises(ValueError, match="12 lowercase hex"):
        TraceIds("xyz", 0)


@pytest.mark.parametrize(("value", "entries"), [
    ("app;dur=47.2", [("app", 47.2, None)]),
    ('cache;desc="hit", db;dur=53;desc="users, orders; all"', [("cache", None, "hit"), ("db", 53.0, "users, orders; all")]),
    ("miss, total;dur=12", [("miss", None, None), ("total", 12.0, None)]),
    ('a;DUR=1;dur=2;Desc=x;desc=y', [("a", 1.0, "x")]),  # names are case-insensitive; the first of each counts
    ('q;desc="say \\"hi\\""', [("q", None, 'say "hi"')]),  # a quoted string's escapes
    ("app;dur=fast, ok;dur=1e3, nan;dur=NaN", [("app", None, None), ("ok", 1000.0, None), ("nan", None, None)]),
    ("bad name;dur=1, (x);dur=2, , good", [("good", None, None)]),  # not tokens: dropped
    ("", []),
])
def test_server_timing_entries_are_parsed_as_the_w3c_grammar_says(value: str, entries: list[object]) -> None:
    assert parse(value) == entries
    assert parse(value.encode("latin-1")) == entries


def test_server_timing_is_bounded() -> None:
    many = ", ".join(f"e{i};dur={i};desc={'d' * 150}" for i in range(100))
    out = parse(many)
    assert len(out) == MAX_ENTRIES and all(len(d or "") <= DESC_CHARS for _, _, d in out)
    assert parse(None) == []


@pytest.mark.timeout(30)  # a hang guard, not a measure: quadratic, these splits took about a minute; linear, ms
def test_a_malformed_server_timing_value_costs_time_linear_in_its_length() -> None:
    """An unclosed quoted string ending in a backslash (`"\\` over and over) made the part pattern fail at every
    quote after scanning to the end: quadratic, 0.9 s for the 8 KB parse reads (every response's, with Server-Timing
    metrics on). Split here at 64 KB, beyond the read's bound."""
    from loadorch.traffic.servertiming import _split

    for value in ('"\\' * 32_768, 'a;desc="' + '\\"' * 32_768 + "\\"):
        parts = _split(value, ";")
        assert ";".join(parts) == value  # nothing lost: it runs to the end
    # an unclosed desc runs to the end, as one without the backslash does (`desc="x` reads `"x`)
    assert parse('a;dur=1;desc="x\\') == [("a", 1.0, '"x\\')]


class _Client:
    """Stands in for Locust's HttpSession / FastHttpSession: `request` is what their get, post ... call."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.sent: list[dict[str, str]] = []

    def request(self, method: str, url: str, **kwargs: object) -> None:
        self.sent.append(dict(kwargs.get("headers") or {}))  # type: ignore[call-overload]


def test_a_python_users_client_sends_the_workers_trace_ids_unless_it_sets_its_own() -> None:
    tracer = TraceIds(run_prefix("t"), 2)
    client, own = _Client(), _Client({"Traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    context = type("Ctx", (), {"trace_id": ""})()
    trace_client(client, tracer, context)
    trace_client(own, tracer, context)
    client.request("GET", "/a")
    assert context.trace_id and context.trace_id == parse_traceparent(client.sent[0]["traceparent"])[0]  # type: ignore[index]
    client.request("POST", "/b", headers={"X-A": "1"})
    client.request("GET", "/c", headers={"TRACEPARENT": "mine"})
    own.request("GET", "/d")
    assert context.trace_id == ""  # the session's own traceparent: not ours to name
    first, second, third = client.sent
    ids = [parse_traceparent(h["traceparent"]) for h in (first, second)]
    assert ids[0] and ids[1] and ids[0][0] != ids[1][0] and ids[0][0][12:16] == "0002"
    assert second["X-A"] == "1" and third == {"TRACEPARENT": "mine"} and own.sent == [{}]
    trace_client(object(), tracer)  # a user class without an HTTP client: left as it is


def test_a_browser_page_sends_the_runs_traceparent_to_the_target_only() -> None:
    from loadorch.browser.guard import HostGuard
    from loadorch.browser.page import _with_traceparent
    from loadorch.browser.worker import PageTraces
    from loadorch.traffic.trace import parse_traceparent

    guard = HostGuard([], "http://127.0.0.1:8080", ["127.0.0.1"])
    traces = PageTraces("0123456789ab", 2, guard)
    assert traces("http://127.0.0.1:8081/shop") is None and traces("https://cdn.example/x.js") is None
    assert traces("ws://127.0.0.1:8080/live") is None  # a WebSocket handshake is not a traced request
    first, second = traces("http://127.0.0.1:8080/shop"), traces("http://127.0.0.1:8080/static/hero.png")
    assert first and second
    parsed = parse_traceparent(first)
    assert parsed is not None and parsed[0] == "0123456789abf002" + "0" * 15 + "1" and parsed[2]
    assert parse_traceparent(second) is not None and second.split("-")[1].endswith("2")
    # Fetch.continueRequest replaces every header: the page's own are kept, the traceparent added once
    headers = _with_traceparent({"Accept": "text/html", "User-Agent": "x"}, first)
    assert headers == [{"name": "Accept", "value": "text/html"}, {"name": "User-Agent", "value": "x"},
                       {"name": "traceparent", "value": first}]
    assert _with_traceparent({"TraceParent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}, first) is None  # its own
    assert _with_traceparent({"Accept": "*/*"}, None) is None


def test_a_lean_requests_exemplar_names_the_trace_id_of_the_line_it_was_sent_with() -> None:
    """The lean client keeps each request's traceparent line in parts (Outcome.trace_parts) and its exemplar
    makes the trace id of them; an outcome with its own trace_id (the Locust client) keeps that."""
    from loadorch.client.vu import VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.tables import Recorder
    from loadorch.traffic.request import Outcome, compile_request

    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec = Recorder(1.0, 0.0)
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    ids = TraceIds(run_prefix("t"), 1)
    parts = [next(ids.parts) for _ in range(300)]
    lines = [line_of(p) for p in parts]
    for i, p in enumerate(parts):
        vu.record(req, Outcome(200, True, None, 1000 + i, "/a", waiting_us=500, connecting_us=0, tls_us=0,
                               receiving_us=10, trace_parts=p))
    vu.record(req, Outcome(200, True, None, 5000, "/a", trace_id="f" * 32))
    sent = [parse_traceparent(line[len(HEADER) + 2 : -2]) for line in lines[-4:]]
    assert [r[10] for r in rec.exemplars.rows()] == ["f" * 32] + [t[0] for t in reversed(sent)]  # type: ignore[index]


def test_a_secret_echoed_in_server_timing_is_masked_before_any_cut_keeps_its_first_characters() -> None:
    """An app that echoes a token into a long desc or name: the worker's cuts (120 characters for the evidence,
    40 for a desc as a metric, 64 for a name, 8 KB for the header) came before the run's masking, which then
    could not find the secret: its first characters stayed in results.json and the live metrics."""
    from loadorch.client.vu import VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.tables import Recorder
    from loadorch.traffic.redact import Redactor
    from loadorch.traffic.request import Outcome, compile_request

    secret = "tokAPIs3cr3tVALUE9"
    header = (f'app;dur=120;desc="{"p" * 108} auth {secret}", db;desc="session of {secret}", '
              f'{"n" * 60}{secret};dur=1, x;desc="{"z" * 9000}"')
    runner = type("Runner", (), {"redactor": Redactor([secret])})()
    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec = Recorder(1.0, 0.0)
    rec.server_timing = True
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=runner, recorder=rec)  # type: ignore[arg-type]
    vu.record(req, Outcome(200, True, None, 5000, "/a", waiting_us=500, connecting_us=0, tls_us=0,
                           receiving_us=10, server_timing=header.encode()))
    kept = repr(rec.exemplars.rows()) + repr(sorted(tag for tag, _ in rec.timings))
    assert "p auth ***" in kept and "sd:db=session of ***" in kept, kept  # masked, then cut
    assert not any(secret[:k] in kept for k in range(3, len(secret) + 1)), kept  # not even its first characters
    fillers = ", ".join(f'e{i};desc="{"z" * 250}"' for i in range(30))  # the header's own cut at 8 KB:
    prefix = f'{fillers}, f;desc="{"y" * (8186 - len(fillers) - 24)}", last;desc="'  # the secret straddles it
    assert len(prefix) == 8186
    [*_, last] = parse(f'{prefix}{secret}"', Redactor([secret]))
    assert last[0] == "last" and last[2] == "***", last  # masked before the cut: was "tokAPI"
