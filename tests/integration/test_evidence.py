"""Verdicts that carry their evidence (#30), against the reference target run in this process: one short
run whose latency gate fails lists its slowest requests with the trace ids the server itself received
(the target's own record, `server.traces`), in results.json, junit.xml, summary.md and report.html."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadorch.target.server import ShopServer, start
from tests.support.project import CliResult, Project

SCENARIO = """
name: evidence
setup:
  - {name: warm, repeat: 2, request: {path: /categories}}
users:
  - name: shopper
    weight: 6
    think_time: 0.02
    requests:
      - {name: slow, path: "/products/1?delay_ms=150", weight: 1}
      - {name: fast, path: /health, weight: 1}
  - {python: "py.py:PyHttp", weight: 1}
  - {python: "py.py:PyFast", weight: 1}
kinds: {"py_*": read}
"""
# python users (#30): their clients' requests carry the run's traceparent too, both of Locust's clients
LOCUSTFILE = """
from locust import FastHttpUser, HttpUser, constant, task


class PyHttp(HttpUser):
    wait_time = constant(0.05)

    @task
    def get(self):
        self.client.get("/products/2?delay_ms=60", name="py_http")


class PyFast(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def get(self):
        self.client.get("/products/3", name="py_fast")
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: {host}
load: {{users: 8, duration: 3s}}
seed: 42
allow_saturated_generator: true
min_samples: 10
trace: {{url: "https://tempo.example/trace/{{trace_id}}"}}
# queries counted from another header: Server-Timing is then read by the lean client's fast path itself
collectors: {{queries_per_request: {{header: X-DB-Queries}}}}
thresholds:
  "http_req_duration{{name:slow}}": ["p(95)<40"]
  "http_req_duration{{name:fast}}": ["p(95)<20000"]
  "http_req_duration{{user:PyHttp}}": ["p(95)<10"]
  "server_timing{{entry:app,name:slow}}": ["p(95)<40"]
  "server_timing_desc{{entry:db,desc:sqlite}}": ["rate>0.99"]
"""


class Run:
    def __init__(self, result: CliResult, out: Path, doc: dict[str, Any], server: ShopServer) -> None:
        self.result, self.out, self.doc, self.server = result, out, doc, server

    def row(self, selector: str) -> dict[str, Any]:
        return next(t for t in self.doc["thresholds"] if t["selector"] == selector)


def run_against_target(folder: Path, scenario: str, profile: str) -> Iterator[Run]:
    server, thread = start("127.0.0.1", 0)
    try:
        project = Project(folder)
        project.write("scenarios/s.yaml", scenario)
        project.write("scenarios/py.py", LOCUSTFILE)
        project.write("profiles/p.yaml", profile.format(host=server.url))
        result = project.run("run", "p", "--out", "o", timeout=120)
        out = project.root / "o"
        yield Run(result, out, json.loads((out / "results.json").read_text()), server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield from run_against_target(tmp_path_factory.mktemp("evidence"), SCENARIO, PROFILE)


def test_a_failing_latency_gate_lists_its_slowest_requests_as_the_server_saw_them(run: Run) -> None:
    assert run.result.code == 1, run.result.out + run.result.err
    slow = run.row("http_req_duration{name:slow}")
    assert slow["verdict"] == "fail"
    shown = slow["evidence"]["slowest"]
    assert len(shown) == 5 and {s["endpoint"] for s in shown} == {"slow"}
    durations = [s["duration_ms"] for s in shown]
    assert durations == sorted(durations, reverse=True)
    ids = [s["trace_id"] for s in shown]
    assert len(set(ids)) == 5 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    for s in shown:  # the server's own record of the same requests: the trace id it was sent, its path and time
        seen = run.server.traces[s["trace_id"]]
        assert seen["path"] == "/products/1" and seen["app_ms"] >= 150
        assert s["duration_ms"] >= seen["app_ms"]
        assert {"name": "app", "dur_ms": seen["app_ms"], "desc": None} in s["server_timing"]
        assert s["waiting_ms"] >= 150 and s["receiving_ms"] is not None and s["bytes"] > 0
        assert s["tls_ms"] == 0 and s["trace_url"] == f"https://tempo.example/trace/{s['trace_id']}"
    [split] = slow["evidence"]["time_split"]  # the server's 150 ms delay: the time goes to waiting
    assert split["endpoint"] == "slow" and split["waiting"] > 0.5 and split["tls"] == 0.0
    assert split["connect"] is not None and split["receiving"] is not None
    # over the p95 requests of every successful `slow` request in the run, not over the five kept
    # (the split is kept per latency bucket: requests in the p95's bucket count, so when every `slow` request
    # lands in that one bucket, as on a quiet machine, all of them do)
    assert split["of"] == run.doc["endpoints"]["slow"]["count"] and 0.05 * split["of"] <= split["requests"] <= split["of"]
    assert split["from_ms"] <= run.doc["endpoints"]["slow"]["p95_ms"]
    assert "evidence" not in run.row("http_req_duration{name:fast}")  # a passing gate carries none


def test_every_request_carried_a_distinct_sampled_traceparent_of_this_run(run: Run) -> None:
    ids = list(run.server.traces)
    assert len(ids) >= run.doc["totals"]["requests"] > 20  # one trace id per request, none shared
    prefixes = {i[:12] for i in ids}
    assert len(prefixes) == 1  # the run's own 12 hex digits
    paths = [t["path"] for t in run.server.traces.values()]
    for name, path in (("py_http", "/products/2"), ("py_fast", "/products/3")):  # python users' too, each
        assert paths.count(path) >= run.doc["endpoints"][name]["count"] > 0
    # the setup section's requests, sent by the controller: the run's ids, worker field ffff
    assert [t["path"] for i, t in run.server.traces.items() if i[12:16] == "ffff"] == ["/categories"] * 2


def test_a_python_users_slowest_requests_carry_the_trace_ids_the_server_saw(run: Run) -> None:
    gate = run.row("http_req_duration{user:PyHttp}")
    assert gate["verdict"] == "fail", gate
    shown = gate["evidence"]["slowest"]
    assert shown and all(s["endpoint"] == "py_http" and s["duration_ms"] >= 60 for s in shown)
    for s in shown:  # the id the shop recorded receiving, on that request's path; phases not measured
        assert run.server.traces[s["trace_id"]]["path"] == "/products/2" and s["waiting_ms"] is None
        assert any(e["name"] == "app" for e in s["server_timing"])


def test_the_reports_show_the_evidence(run: Run) -> None:
    first = run.row("http_req_duration{name:slow}")["evidence"]["slowest"][0]["trace_id"]
    junit = ET.parse(run.out / "junit.xml").getroot()
    [failure] = [c.find("failure") for c in junit.iter("testcase") if c.get("name") == "http_req_duration{name:slow} p(95)<40"]
    assert failure is not None and first in (failure.text or "")  # the text: the short evidence block
    assert first not in (failure.get("message") or "") and "\n" not in (failure.get("message") or "")
    assert len((failure.text or "").splitlines()) <= 10
    summary = (run.out / "summary.md").read_text()
    assert "### Evidence" in summary and first in summary
    html = (run.out / "report.html").read_text()
    assert f'<a href="https://tempo.example/trace/{first}">{first}</a>' in html and "<h2>Evidence</h2>" in html


def test_server_timing_entries_are_gated_with_the_threshold_grammar(run: Run) -> None:
    """The target's own `app;dur=` (at least its 150 ms delay on `slow`) and `db;desc="sqlite"` (every response)."""
    app = run.row("server_timing{entry:app,name:slow}")
    assert app["verdict"] == "fail" and app["unit"] == "ms" and app["observed"] >= 150, app
    assert app["samples"] == run.doc["endpoints"]["slow"]["count"]  # one entry per response of that request
    assert app["evidence"]["slowest"][0]["endpoint"] == "slow"
    db = run.row("server_timing_desc{entry:db,desc:sqlite}")
    # every response of the load, the python users' too (both of Locust's clients: their Server-Timing is read)
    answered = sum(run.doc["endpoints"][n]["count"] for n in ("slow", "fast", "py_http", "py_fast"))
    assert db["verdict"] == "pass" and db["observed"] == 1.0 and db["samples"] == answered, db


def test_the_locust_client_sends_trace_ids_too_and_says_what_it_cannot_time(tmp_path: Path) -> None:
    """`client: locust` (FastHttpSession): the same traceparent and Server-Timing; receiving not measured."""
    scenario = SCENARIO.replace("name: evidence\n", "name: evidence\nclient: locust\n")
    profile = PROFILE.replace("duration: 3s", "duration: 2s").replace("min_samples: 10", "min_samples: 5")
    profile = profile.replace('  "http_req_duration{{user:PyHttp}}": ["p(95)<10"]\n', "")
    for locust in run_against_target(tmp_path, scenario, profile):
        assert locust.result.code == 1, locust.result.out + locust.result.err
        shown = locust.row("http_req_duration{name:slow}")["evidence"]["slowest"]
        assert shown and all(locust.server.traces[s["trace_id"]]["path"] == "/products/1" for s in shown)
        assert all(s["receiving_ms"] is None and s["waiting_ms"] >= 150 for s in shown)
        assert all(any(e["name"] == "app" and e["dur_ms"] >= 150 for e in s["server_timing"]) for s in shown)
        assert "receiving not measured" in (locust.out / "summary.md").read_text()


TWO_LINES_SCENARIO = """
name: two-lines
client: locust
users:
  - name: shopper
    think_time: 0.02
    requests:
      - {name: page, path: /page}
  - {python: "fast.py:PyFast", weight: 1}
kinds: {"py_fast": read}
"""
TWO_LINES_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class PyFast(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def get(self):
        self.client.get("/page", name="py_fast")
"""
TWO_LINES_PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:{port}
load: {{users: 4, duration: 2s}}
seed: 3
allow_saturated_generator: true
min_samples: 5
thresholds:
  "server_timing{{entry:app}}": ["p(95)<1"]
  "server_timing{{entry:app,user:PyFast}}": ["p(95)<1"]
  "db_queries_per_request": ["avg<1"]
"""


def test_a_response_with_two_server_timing_lines_is_measured_by_locusts_client_and_fastusers(tmp_path: Path) -> None:
    """A response may repeat Server-Timing (an origin's line and its CDN's): geventhttpclient then gives a list,
    which the Server-Timing and query-count readers could not take. A FastHttpUser's requests were all lost (the
    run said "the target answered none of the requests"), `client: locust` users stopped on `TypeError:
    unhashable type: 'list'`; both lines are read as one list now, as RFC 9110 combines them. A python user's
    responses' entries are metrics too (a `server_timing` gate had none of them, and said no response sent it)."""
    from tests.support.serving import Target, serving

    class TwoLines(Target):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.answer(200, b"{}", headers={"Server-Timing": "db;count=2"})

        def send_header(self, keyword: str, value: str) -> None:
            super().send_header(keyword, value)
            if keyword == "Server-Timing":  # the second line, as a CDN adds its own
                super().send_header("Server-Timing", 'app;dur=30, cdn;desc="HIT"')

    with serving(TwoLines) as port:
        project = Project(tmp_path)
        project.write("scenarios/s.yaml", TWO_LINES_SCENARIO)
        project.write("scenarios/fast.py", TWO_LINES_LOCUSTFILE)
        project.write("profiles/p.yaml", TWO_LINES_PROFILE.format(port=port))
        result = project.run("run", "p", "--out", "o", timeout=120)
    doc = json.loads((project.root / "o" / "results.json").read_text())
    assert result.code == 1, result.out + result.err  # the gates fail; no user stopped, no request lost
    assert not [c for c in doc["checks"] if c["verdict"] in ("error", "fail")], doc["checks"]
    assert doc["endpoints"]["page"]["count"] > 0 and doc["endpoints"]["py_fast"]["count"] > 0, doc["endpoints"]
    rows = {t["selector"]: t for t in doc["thresholds"]}
    app = rows["server_timing{entry:app}"]
    assert app["verdict"] == "fail" and app["observed"] >= 29, app
    assert app["samples"] == doc["totals"]["requests"], app  # every response, the python user's too
    python = rows["server_timing{entry:app,user:PyFast}"]  # it said no response sent the entry: none was read
    assert python["samples"] == doc["endpoints"]["py_fast"]["count"] and python["observed"] >= 29, python
    assert rows["db_queries_per_request"]["observed"] == 2, rows["db_queries_per_request"]
    shown = app["evidence"]["slowest"]
    assert {s["endpoint"] for s in shown} == {"page", "py_fast"}, shown
    assert all([e["name"] for e in s["server_timing"]] == ["db", "app", "cdn"] for s in shown), shown
