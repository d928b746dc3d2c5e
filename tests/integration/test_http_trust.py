"""Trust fixes of the lean client against real servers on loopback (issue 14): duplicate writes, interim
responses, unbounded bodies, whole-request timeouts and non-ASCII paths."""

from __future__ import annotations

import socket
import time
import tracemalloc
from typing import Any

import pytest

from loadorch.client.http import Connection, HttpError
from loadorch.client.vu import LeanRunner
from loadorch.config.scenario import RequestSpec
from loadorch.traffic.request import Origin, compile_request

from .test_http_client import get, server  # noqa: F401  (the RawServer fixture)


def runner_for(port: int, timeout: float = 5.0, max_body: int = 10 * 1024 * 1024) -> LeanRunner:
    return LeanRunner(Origin.parse(f"http://127.0.0.1:{port}"), timeout, max_body)


def compiled(**spec: Any) -> Any:
    return compile_request(RequestSpec.model_validate(spec), "r", "write", set(), {})


def no_draws(name: str) -> Any:
    raise KeyError(name)


class Applied:
    """Counts the writes a server applied; answers GETs, applies a POST and then drops the connection."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, conn: socket.socket, head: bytes) -> bool:
        if head.startswith(b"GET"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        self.count += 1  # the order is created ...
        return False  # ... and the connection dropped before the answer


def test_post_is_never_resent_after_a_reused_connection_fails(server) -> None:  # noqa: F811
    applied = Applied()
    s = server(applied)
    runner = runner_for(s.port)
    try:
        assert runner.run(compiled(path="/health"), no_draws, {}).ok
        outcome = runner.run(compiled(method="POST", path="/orders", json={"qty": 1}), no_draws, {})
    finally:
        runner.close()
    assert applied.count == 1, "a POST the server may have applied was sent again"
    assert not outcome.ok and "not re-sent" in (outcome.error or "") and outcome.status == 0


def test_idempotent_methods_and_idempotency_key_are_resent_once(server) -> None:  # noqa: F811
    applied = Applied()
    s = server(applied)
    runner = runner_for(s.port)
    try:
        for spec in ({"method": "PUT", "path": "/orders/1", "json": {"qty": 2}},
                     {"method": "POST", "path": "/orders", "headers": {"Idempotency-Key": "k-1"}, "json": {}}):
            assert runner.run(compiled(path="/health"), no_draws, {}).ok
            outcome = runner.run(compiled(**spec), no_draws, {})
            assert not outcome.ok and "before a response" in (outcome.error or "")
    finally:
        runner.close()
    assert applied.count == 4  # each sent twice: on the reused connection and once on a fresh one


def test_interim_103_early_hints_is_skipped_and_each_check_sees_its_own_body(server) -> None:  # noqa: F811
    def handler(conn: socket.socket, head: bytes) -> bool:
        item = head.split(b" ")[1].rsplit(b"/", 1)[1]
        body = b"item " + item
        hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        final = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        if int(item) % 2:
            conn.sendall(hints)
            time.sleep(0.02)  # a separate read
            conn.sendall(final)
        else:
            conn.sendall(hints + hints + final)  # in one read
        return True

    s = server(handler)
    runner = runner_for(s.port)
    try:
        outcomes = [runner.run(compiled(path=f"/items/{i}", expect={"contains": f"item {i}"}), no_draws, {})
                    for i in range(6)]
    finally:
        runner.close()
    assert [(o.status, o.ok, o.error) for o in outcomes] == [(200, True, None)] * 6
    assert s.connections == 1


def endless_chunks(conn: socket.socket, head: bytes) -> bool:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
    stop = time.monotonic() + 20  # bounded: the client gives up long before
    while time.monotonic() < stop:
        conn.sendall(chunk)
    return False


def test_endless_chunked_body_is_a_failed_request_and_memory_stays_bounded(server) -> None:  # noqa: F811
    s = server(endless_chunks)
    runner = runner_for(s.port, timeout=15, max_body=2 * 1024 * 1024)
    tracemalloc.start()
    try:
        outcome = runner.run(compiled(path="/feed", expect={"contains": "never"}), no_draws, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        runner.close()
    assert not outcome.ok and outcome.error == "response body over 2097152 bytes (max_response_body)"
    assert peak < 16 * 1024 * 1024


def test_bodies_no_check_needs_are_discarded(server) -> None:  # noqa: F811
    body = b"y" * (3 * 1024 * 1024)
    s = server(lambda conn, head: (conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body),
                                   True)[1])
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get(), 5, keep_body=False, max_body=4 * 1024 * 1024).body == b""
    assert conn.request(get(), 5, max_body=4 * 1024 * 1024).body == body
    with pytest.raises(HttpError, match="over 1048576 bytes"):
        conn.request(get(), 5, max_body=1024 * 1024)
    assert conn.request(get(), 5, keep_body=False).status == 200
    assert s.connections == 2  # the over-size answer's connection was closed, not reused


def test_request_timeout_bounds_the_whole_request_against_a_trickling_server(server) -> None:  # noqa: F811
    def trickle(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(6):  # a byte every 0.3 s for 1.8 s, then silence
            time.sleep(0.3)
            conn.sendall(b"x")
        time.sleep(10)
        return False

    s = server(trickle)
    started = time.monotonic()
    with pytest.raises(HttpError, match="read timeout"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 2.0)
    took = time.monotonic() - started
    assert took < 3.2, f"took {took:.1f}s with request_timeout 2s: a per-read timeout makes it ~3.8s"


def test_non_ascii_literal_path_is_sent_percent_encoded_as_utf8(server) -> None:  # noqa: F811
    s = server(lambda conn, head: (conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"), True)[1])
    runner = runner_for(s.port)
    try:
        assert runner.run(compiled(path="/products/café-😀?q=thé&p=%2F"), no_draws, {}).ok
    finally:
        runner.close()
    assert s.requests[0].split(b"\r\n")[0] == b"GET /products/caf%C3%A9-%F0%9F%98%80?q=th%C3%A9&p=%2F HTTP/1.1"


def test_pinned_addresses_are_used_without_resolving_the_name(server) -> None:  # noqa: F811
    s = server(lambda conn, head: (conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"), True)[1])
    runner = LeanRunner(Origin.parse(f"http://pinned.invalid:{s.port}"), 5, addresses=["127.0.0.1"])
    try:
        assert runner.run(compiled(path="/x"), no_draws, {}).ok  # `.invalid` never resolves: the pin is used
    finally:
        runner.close()
    assert f"Host: pinned.invalid:{s.port}".encode() in s.requests[0]


def test_without_pins_each_resolution_is_checked_against_allowed_hosts(server) -> None:  # noqa: F811
    from loadorch.hosts import address_guard

    s = server(lambda conn, head: (conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"), True)[1])
    url = f"http://localhost:{s.port}"
    outside = LeanRunner(Origin.parse(url), 5, check_addresses=address_guard(url, ["10.0.0.0/8"]))
    inside = LeanRunner(Origin.parse(url), 5, check_addresses=address_guard(url, ["127.0.0.0/8", "::1/128"]))
    try:
        refused = outside.run(compiled(path="/x"), no_draws, {})
        assert not refused.ok and "not in allowed_hosts" in (refused.error or "") and s.requests == []
        assert inside.run(compiled(path="/x"), no_draws, {}).ok
    finally:
        outside.close()
        inside.close()


def test_a_redirected_requests_next_hop_carries_its_traceparent_and_its_trace_id_is_the_one_sent(server) -> None:  # noqa: F811
    """The lean client joins a traceparent's parts into the head (trace.TraceIds.parts): a redirect's next hop
    sends the same line again (one request, one trace), each request its own, and the trace id an exemplar
    would name (trace_id_of the outcome's parts) is the one the server read."""
    from loadorch.traffic.trace import TraceIds, parse_traceparent, trace_id_of

    heads: list[bytes] = []

    def handler(conn: socket.socket, head: bytes) -> bool:
        heads.append(head)
        if head.startswith(b"GET /a "):
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    s = server(handler)
    runner = runner_for(s.port)
    runner.tracer = TraceIds("0123456789ab", 7)
    try:
        outcomes = [runner.run(compiled(path="/a"), no_draws, {}) for _ in range(2)]
    finally:
        runner.close()
    assert [o.ok for o in outcomes] == [True, True] and len(heads) == 4
    values = []
    for head in heads:
        lines = [line for line in head.split(b"\r\n") if line.lower().startswith(b"traceparent:")]
        assert len(lines) == 1, head
        values.append(lines[0].split(b":", 1)[1].strip().decode())
    parsed = [parse_traceparent(v) for v in values]
    assert all(p is not None and p[2] for p in parsed)  # valid, sampled
    assert values[0] == values[1] and values[2] == values[3] and values[0] != values[2]
    assert [trace_id_of(o.trace_parts) for o in outcomes] == [parsed[0][0], parsed[2][0]]  # type: ignore[index]
