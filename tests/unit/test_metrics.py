"""Live metrics, pure parts: names and edges, exact counts at threshold limits, families, the remote-write
encoding (decoded here by an independent reader), the pusher against loopback servers, the live page's
WSGI app, and the Kubernetes named port."""

from __future__ import annotations

import http.server
import json
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import cramjam
import pytest

from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.metrics.dashboard import CSP, dashboard_app
from loadorch.metrics.families import Gauges, build, cumulative, flatten
from loadorch.metrics.names import edges_us, le_label, status_class, threshold_state
from loadorch.metrics.options import MetricsOptions, plan_block, remote_write_problem
from loadorch.metrics.pusher import QUEUE_SIZE, RemoteWriter
from loadorch.metrics.remote_write import (
    BASIC_ENV,
    BEARER_ENV,
    auth_header,
    compress,
    encode_write_request,
    secret_values,
)
from loadorch.results import LiveView
from loadorch.stats.histogram import Histogram, bucket_of
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import evaluate

READ = SeriesKey("u", "list", "read", "GET", 200, True)
READ_201 = SeriesKey("u", "list", "read", "GET", 201, True)
READ_FAILED = SeriesKey("u", "list", "read", "GET", 503, False)
RUN = ("r1", "prof", "scen")


def test_edges_hold_every_limit_and_the_spread() -> None:
    edges = edges_us([300.0, 0.001, 250.0])
    assert 300_000 in edges and 1 in edges and list(edges) == sorted(set(edges))
    assert 5_000 in edges and 10_000_000 in edges
    assert [le_label(e) for e in (300_000, 1, 1_000_000)] == ["0.3", "1e-06", "1.0"]
    assert [status_class(s) for s in (200, 201, 404, 503, 0)] == ["2xx", "2xx", "4xx", "5xx", "none"]
    assert threshold_state("fail", "no data: no request matched x") == "no_data"
    assert threshold_state("inconclusive", "inconclusive: ...") == "inconclusive"


def test_counts_at_a_threshold_limit_are_exact_where_histogram_buckets_straddle_it() -> None:
    edge = 300_000
    low, high = bucket_of(edge), bucket_of(edge + 1)
    assert low == high  # the histogram alone cannot tell 300.000 ms from 300.001 ms
    values = [299_999, 300_000, 300_001, 300_020, 5]
    workers = [Recorder(1.0, 0.0, (edge,)), Recorder(1.0, 0.0, (edge,))]
    for i, v in enumerate(values):
        workers[i % 2].record(READ, v, 0.0)
    merged = Merged()
    for i, w in enumerate(workers):
        merged.add_delta(i, w.take_delta())
    assert merged.le[READ] == [3, 2]
    exact = cumulative(merged.series[READ], merged.le[READ], (edge,))
    assert exact == [("0.3", 3.0), ("+Inf", 5.0)]
    fallback = cumulative(merged.series[READ], None, (edge,))
    assert fallback[0][1] != 3.0  # without the workers' exact counts the edge would be wrong


def test_recorder_without_edges_sends_no_counts() -> None:
    r = Recorder(1.0, 0.0)
    r.record(READ, 10, 0.0)
    assert "le" not in r.take_delta()


def _merged() -> Merged:
    rec = Recorder(1.0, 0.0, edges_us([300.0]))
    for v in (1_000, 2_000, 400_000):
        rec.record(READ, v, 0.1)
    rec.record(READ_201, 3_000, 0.2)
    rec.record(READ_FAILED, 50_000, 0.3, error="HTTP 503")
    m = Merged()
    m.add_delta(0, rec.take_delta())
    return m


def _thresholds() -> list[Threshold]:
    out = []
    for sel, expr in (("http_req_duration{kind:read}", "p(50)<300"), ("http_req_duration{kind:write}", "p(95)<1")):
        s = parse_selector(sel)
        out.append(Threshold(s, parse_expression(expr, s.metric)))
    return out


def test_families_count_series_by_status_class_and_outcome() -> None:
    merged = _merged()
    results = evaluate(_thresholds(), merged, 1, 10.0)
    fams = {f.name: f for f in build(RUN, merged, edges_us([300.0]), Gauges(users=3, cpu_by_worker={0: 12.5}), results)}
    requests = fams["loadorch_http_requests"].samples
    assert {labels[-1]: v for labels, v in requests} == {"2xx": 4.0, "5xx": 1.0}  # 200 and 201: one class
    assert sum(v for _, v in fams["loadorch_http_failures"].samples) == 1.0
    buckets = {labels[-1]: cum for labels, cum, _ in fams["loadorch_http_request_duration_seconds"].buckets}
    assert dict(buckets["ok"])["0.3"] == 3.0 and dict(buckets["ok"])["+Inf"] == 4.0
    assert dict(buckets["failed"])["+Inf"] == 1.0
    states = {labels[3]: labels[4] for labels, v in fams["loadorch_threshold_state"].samples if v == 1.0}
    assert states == {"http_req_duration{kind:read} p(50)<300": "pass",
                      "http_req_duration{kind:write} p(95)<1": "no_data"}
    flat = flatten(list(fams.values()))
    names = {labels["__name__"] for labels, _ in flat}
    assert {"loadorch_http_requests_total", "loadorch_http_request_duration_seconds_bucket",
            "loadorch_http_request_duration_seconds_sum", "loadorch_active_users",
            "loadorch_generator_cpu_percent"} <= names
    assert all(labels["run_id"] == "r1" for labels, _ in flat)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """A minimal protobuf reader (independent of the encoder under test)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack("<d", buf[i:i + 8])[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        else:
            raise AssertionError(f"wire type {wire}")
        yield number, value


def decode_write_request(body: bytes) -> list[tuple[list[tuple[str, str]], list[tuple[float, int]]]]:
    out = []
    for number, series in _fields(body):
        assert number == 1
        labels, samples = [], []
        for n, part in _fields(series):
            fields = dict(_fields(part))
            if n == 1:
                labels.append((fields[1].decode(), fields[2].decode()))
            else:
                samples.append((fields[1], fields[2]))
        out.append((labels, samples))
    return out


def test_write_request_decodes_to_the_samples_with_sorted_labels() -> None:
    samples = [({"__name__": "a_total", "z": "1", "b": "é"}, 3.5), ({"__name__": "b", "le": "+Inf"}, 0.0)]
    body = encode_write_request(samples, 1_700_000_000_123)
    decoded = decode_write_request(body)
    assert decoded == [
        ([("__name__", "a_total"), ("b", "é"), ("z", "1")], [(3.5, 1_700_000_000_123)]),
        ([("__name__", "b"), ("le", "+Inf")], [(0.0, 1_700_000_000_123)]),
    ]
    assert bytes(cramjam.snappy.decompress_raw(compress(body))) == body


def test_auth_comes_from_the_environment_and_its_encodings_are_secrets() -> None:
    assert auth_header({}) is None
    assert auth_header({BEARER_ENV: "tok-123"}) == "Bearer tok-123"
    assert auth_header({BASIC_ENV: "me:pw-456"}) == "Basic bWU6cHctNDU2"
    assert set(secret_values({BASIC_ENV: "me:pw-456"})) >= {"me:pw-456", "bWU6cHctNDU2", "pw-456"}
    assert remote_write_problem("http://u:p@host/api/v1/write") is not None
    assert remote_write_problem("ftp://host/x") is not None
    assert remote_write_problem("https://host/api/v1/write") is None
    # a token in the query is a credential in the URL too: printed, logged and inline in the k8s manifests
    said = remote_write_problem("https://host/api/v1/write?api_key=s3cr3t-v4lue")
    assert said is not None and "'api_key'" in said and "s3cr3t" not in said
    assert remote_write_problem("https://host/api/v1/write?X-Auth-Token=") is not None
    assert remote_write_problem("https://host/api/v1/write?extra_label=env%3Dstaging") is None  # not a credential
    block = plan_block(MetricsOptions(port=9464), "r", "p", "s", [("http_req_duration", 300.0), ("http_reqs", 7.0)])
    assert 300_000 in block.edges_us and 7_000 not in block.edges_us


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1/write", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_pusher_sends_remote_write_headers_and_the_final_push_lands(receiver) -> None:
    url, received = receiver
    body = compress(encode_write_request([({"__name__": "x"}, 1.0)], 1))
    writer = RemoteWriter(url, "Bearer s3cret-abc")
    report = writer.finish(body, wait_s=10)
    assert report.final_landed and report.sent == 1 and report.failed == 0
    headers, got = received[-1]
    assert got == body
    assert headers["Content-Encoding"] == "snappy" and headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert headers["Authorization"] == "Bearer s3cret-abc"


def test_pusher_to_a_dead_endpoint_never_queues_without_bound_and_reports_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed again: nothing listens there
    writer = RemoteWriter(f"http://127.0.0.1:{dead}/api/v1/write", None, timeout_s=1)
    for _ in range(50):
        writer.submit(b"x")
        assert writer.queue.qsize() <= QUEUE_SIZE
    report = writer.finish(b"final", wait_s=10)
    assert report.final_landed is False and report.dropped > 0
    assert "Connection" in report.last_error or "URLError" in report.last_error


def _call(app: Any, path: str, host: str = "127.0.0.1:8089") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "HTTP_HOST": host}, start_response))
    return seen["status"], seen["headers"], body


def test_live_page_is_self_contained_and_streams_the_report_sections() -> None:
    merged = _merged()
    doc = LiveView.model_validate({
        "elapsed_s": 3.0, "requests": 5, "failures": 1, "users": 3,
        "timeseries": [{"t_s": float(t), "kind": "read", "requests": 4, "failures": 1, "p50_ms": 1.0,
                        "p95_ms": 2.0, "p99_ms": 3.0} for t in range(3)],
        "histograms": {"interval_s": 1.0, "series": []}, "load": None,
        "thresholds": [r.to_json() for r in evaluate(_thresholds(), merged, 1, 3.0)]})
    app = dashboard_app("prof / scen", lambda: doc, lambda: True)
    status, headers, page = _call(app, "/")
    assert status.startswith("200") and headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe" not in CSP
    assert b"http://" not in page and b"https://" not in page and b"<style" not in page
    assert b'<script src="/live.js">' in page
    status, headers, stream = _call(app, "/events")
    assert headers["Content-Type"] == "text/event-stream"
    events = [json.loads(line[6:]) for line in stream.decode().splitlines() if line.startswith("data: {\"")]
    assert events and events[-1]["finished"] is True
    assert "<svg" in events[-1]["charts"] and "p(50)&lt;300" in events[-1]["thresholds"]
    assert b"event: end" in stream
    assert _call(app, "/nope")[0].startswith("404")
    assert _call(app, "/", "localhost:8089")[0].startswith("200")
    assert _call(app, "/events", "rebound.example:8089")[0].startswith("403")  # DNS rebinding


def test_kubernetes_master_gets_a_named_metrics_port_and_push_credentials() -> None:
    from loadorch.k8s.manifests import RenderInput, render

    inp = RenderInput("p", {"profile.yaml": "x"}, [], 2, "img", None, 600, "tok", metrics_port=9464,
                      remote_write="https://prom.example/api/v1/write", run_id="r1")
    manifests = render(inp)
    service = next(m for m in manifests if m["kind"] == "Service")
    assert {"name": "metrics", "port": 9464, "targetPort": 9464} in service["spec"]["ports"]
    jobs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Job"}
    master = jobs["loadorch-p-r1-master"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9464} in master["ports"]
    args = master["args"]
    assert args[args.index("--metrics-port") + 1] == "9464" and args[args.index("--metrics-bind") + 1] == "0.0.0.0"
    assert "--remote-write" in args
    refs = {e["name"] for e in master["env"] if "valueFrom" in e}
    assert refs == {BEARER_ENV, BASIC_ENV, "LOADORCH_RUN_TOKEN"}  # the run token comes from the run's Secret
    worker = jobs["loadorch-p-r1-workers"]["spec"]["template"]["spec"]["containers"][0]
    assert not {e["name"] for e in worker["env"]} & {BEARER_ENV, BASIC_ENV}
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    assert {"ports": [{"protocol": "TCP", "port": 9464}]} in policy["spec"]["ingress"]
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_histogram_fallback_counts_whole_buckets() -> None:
    h = Histogram.of([100, 200, 5_000])
    assert cumulative(h, None, (150, 5_000)) == [("0.00015", 1.0), ("0.005", 2.0), ("+Inf", 3.0)]


def test_per_series_tables_of_other_collectors_are_exposed_without_extra_code() -> None:
    from loadorch.metrics.names import SERIES_TABLES, table_edges

    merged = _merged()
    merged.db = {READ: Histogram.of([1, 3, 3, 7]), READ_201: Histogram.of([2])}  # as the db collector records
    db = next(t for t in SERIES_TABLES if t.attr == "db")
    edges = {"db": list(table_edges(db, [("db_queries_per_request", 3.0), ("http_req_duration", 300.0)]))}
    assert 3 in edges["db"] and 300 not in edges["db"]
    fams = {f.name: f for f in build(RUN, merged, edges_us([]), Gauges(), [], edges)}
    fam = fams["loadorch_db_queries_per_request"]
    [(_labels, cum, total)] = fam.buckets  # 200 and 201 are one status class
    assert dict(cum)["3.0"] == 4.0 and dict(cum)["+Inf"] == 5.0 and total == 16.0
    assert "loadorch_http_service_time_seconds" not in fams  # no data, no family


def test_browser_vitals_measured_by_the_controller_become_families_the_master_can_serve() -> None:
    from loadorch.browser.stats import UNITLESS, BrowserStats, scale_of
    from loadorch.metrics.exposition import to_client
    from loadorch.metrics.tagged import families_from_json, families_to_json, tagged_families

    stats = BrowserStats()
    stats.record_view("shopper", "home", 1.0, {"lcp": 1200.0, "cls": 0.05, "fcp": 800.0})
    stats.record_view("shopper", "home", 2.0, {"lcp": 2600.0, "cls": 0.2, "fcp": 900.0})
    fams = tagged_families(RUN, stats.series, scale_of, UNITLESS, [("browser_web_vital_lcp", 2500.0)])
    by_name = {f.name: f for f in fams}
    lcp = by_name["loadorch_browser_web_vital_lcp_seconds"]
    [(labels, cum, total)] = lcp.buckets
    assert labels[:3] == RUN and "home" in labels
    assert dict(cum)["2.5"] == 1.0 and dict(cum)["+Inf"] == 2.0 and total == pytest.approx(3.8)
    cls = by_name["loadorch_browser_web_vital_cls"]
    assert dict(cls.buckets[0][1])["0.1"] == 1.0  # unitless: CLS edges in its own unit
    again = families_from_json(json.loads(json.dumps(families_to_json(fams))))
    assert again == fams
    assert all(to_client(f).samples for f in again)  # prometheus-client accepts them as they are


def test_a_runs_browser_sink_counts_each_vital_at_its_live_edges_exactly(tmp_path: Any) -> None:
    """#32: the controller's browser sink (run/browsers.open_sink) counts every vital in each interval between its
    live edges as it is recorded, and the controller's hand-off to the master (live-extra.json) carries those
    counts: a monitor's coarse bucket holding 2,499 ms reaches past 2,500 ms, and counted by whole buckets the
    page view under the limit was left out of `le="2.5"` (an alert on a budget that holds)."""
    from types import SimpleNamespace

    from loadorch.config.resolve import build as build_config
    from loadorch.monitor.rolling import MONITOR_SUB_BITS
    from loadorch.run import browsers
    from loadorch.run.controller import _write_live_extra
    from tests.support.project import Project

    project = Project(tmp_path)
    project.write("scenarios/s.yaml", "name: s\nbrowsers:\n  - name: shopper\n    journey:\n      - {visit: /shop, "
                  'name: home}\nthresholds:\n  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]\n')
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {duration: 10s}\n")
    cfg = build_config("p", str(project.root), {})
    sink = browsers.open_sink(cfg, "127.0.0.1", None, "t", 1.0, False)
    assert sink is not None
    try:
        sink.stats.sub_bits = MONITOR_SUB_BITS
        for lcp in (1000.0, 2499.0, 2501.0):
            sink.stats.record_view("shopper", "home", 1.0, {"lcp": lcp})
        path = tmp_path / "live-extra.json"
        run = SimpleNamespace(live_extra_path=str(path), live_labels=RUN, opts=SimpleNamespace(monitor=None),
                              sink=sink, cfg=cfg, db=None)
        _write_live_extra(run, final=False)  # type: ignore[arg-type]
        [lcp_family] = [f for f in json.loads(path.read_text()) if f["name"] == "loadorch_browser_web_vital_lcp_seconds"]
        [(_, cum, _)] = lcp_family["buckets"]
        assert dict(cum)["2.5"] == 2.0 and dict(cum)["+Inf"] == 3.0, cum
        _write_live_extra(run, final=True)  # the last hand-off: the collected copy keeps the counts
        [lcp_family] = [f for f in json.loads(path.read_text()) if f["name"] == "loadorch_browser_web_vital_lcp_seconds"]
        assert dict(lcp_family["buckets"][0][1])["2.5"] == 2.0
        sink.stats.le.clear()  # without them: whole buckets under the edge, 2,499 ms left out
        _write_live_extra(run, final=False)  # type: ignore[arg-type]
        [lcp_family] = [f for f in json.loads(path.read_text()) if f["name"] == "loadorch_browser_web_vital_lcp_seconds"]
        assert dict(lcp_family["buckets"][0][1])["2.5"] == 1.0
    finally:
        sink.close()


def test_page_weight_families_have_edges_in_bytes_and_requests() -> None:
    from loadorch.browser.evidence import clean
    from loadorch.browser.stats import UNITLESS, BrowserStats, scale_of
    from loadorch.metrics.tagged import tagged_families
    from loadorch.traffic.redact import Redactor

    stats = BrowserStats()
    weight = {"types": {"script": [3, 409_828, 409_600]}, "largest": []}
    stats.record_view("shopper", "home", 1.0, {"lcp": 900.0}, clean(None, weight, Redactor()))
    fams = {f.name: f for f in tagged_families(RUN, stats.series, scale_of, UNITLESS, [])}
    script = next(b for b in fams["loadorch_browser_resource_bytes"].buckets if "script" in b[0])
    assert dict(script[1])["1000000.0"] == 1.0 and dict(script[1])["300000.0"] == 0.0, script  # 300 KB < 400 KB < 1 MB
    count = next(b for b in fams["loadorch_browser_resource_count"].buckets if "script" in b[0])
    assert dict(count[1])["2.0"] == 0.0 and dict(count[1])["5.0"] == 1.0, count


def test_server_timing_entries_become_a_histogram_and_a_desc_counter_per_series() -> None:
    """#30: the target's Server-Timing, live: an entry's durations (seconds) and each desc's responses."""
    from loadorch.stats.tables import Recorder, SeriesKey

    rec = Recorder(1.0, 0.0)
    key = SeriesKey("u", "list", "read", "GET", 200, True)
    for i in range(10):
        rec.record(key, 5000, 1.0)
        rec.record_server_timing(key, [("app", 100.0 + i, None), ("cache", None, "hit" if i < 7 else "miss")], 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    fams = {f.name: f for f in build(RUN, merged, edges_us([300.0]), Gauges(users=1, cpu_by_worker={}), [])}
    [(labels, cum, total)] = fams["loadorch_server_timing_seconds"].buckets
    assert labels[-1] == "app" and dict(cum)["+Inf"] == 10.0 and dict(cum)["0.3"] == 10.0 and dict(cum)["0.05"] == 0.0
    assert abs(total - 1.045) < 0.001
    said = {labels[-2:]: v for labels, v in fams["loadorch_server_timing_desc"].samples}
    assert said == {("app", ""): 10.0, ("cache", "hit"): 7.0, ("cache", "miss"): 3.0}  # "": an entry without desc
    flat = {labels["__name__"] for labels, _ in flatten(list(fams.values()))}
    assert {"loadorch_server_timing_seconds_bucket", "loadorch_server_timing_desc_total"} <= flat


def test_every_histogram_family_has_an_edge_past_its_largest_limit() -> None:
    """histogram_quantile reads a quantile past every edge as the largest edge: a limit that is the largest edge
    (10 s, the spread's last; 20 s, past it) would never be read as crossed, so one edge lies past it."""
    from loadorch.browser.stats import UNITLESS, scale_of
    from loadorch.metrics.names import SERIES_TABLES, table_edges
    from loadorch.metrics.tagged import tagged_families

    for limit_ms in (10_000.0, 20_000.0):
        assert max(edges_us([300.0, limit_ms])) > round(limit_ms * 1000)
    assert max(edges_us([300.0])) == 10_000_000  # a limit under the spread's last edge adds none
    db = next(t for t in SERIES_TABLES if t.attr == "db")
    assert max(table_edges(db, [("db_queries_per_request", 100.0)])) > 100
    h = Histogram()
    h.record(30_000 * scale_of("browser_web_vital_lcp"))
    [lcp] = tagged_families(RUN, {("browser_web_vital_lcp", (("page", "home"),)): h}, scale_of, UNITLESS,
                            [("browser_web_vital_lcp", 20_000.0)])
    edges = [float(le) for le, _ in lcp.buckets[0][1][:-1]]
    assert 20.0 in edges and max(edges) > 20.0
