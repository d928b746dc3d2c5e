"""The lean client against servers whose framing is old or broken, on loopback, with both kinds of sockets (the
standard library's and gevent's fast path): obs-fold in a head, bytes past a response's end, trailer fields, and
where the time to first byte ends when an interim response comes first."""

from __future__ import annotations

import socket
import time
import types
from collections.abc import Callable

import pytest

from loadorch.client import http
from loadorch.client.http import Connection, HttpError

from .test_http_client import get, send_in_parts, server, sockets  # noqa: F401  (fixtures: both socket kinds)
from .test_http_trust import compiled, no_draws, runner_for


def answering(*answers: list[bytes]) -> Callable[[socket.socket, bytes], bool]:
    """A handler that answers the server's n-th request with the n-th list of parts (each its own write; the last
    list answers the rest)."""
    count = [0]

    def handler(conn: socket.socket, head: bytes) -> bool:
        n, count[0] = count[0], count[0] + 1
        send_in_parts(conn, answers[min(n, len(answers) - 1)])
        return True

    return handler


# ---- obs-fold (RFC 9112 5.2: a user agent replaces each obs-fold with SP before interpreting the value)

FOLDED = b"HTTP/1.1 200 OK\r\nX-Note: first\r\n  \tsecond\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize(
    "parts",
    [
        [FOLDED],
        [FOLDED[:32], FOLDED[32:]],  # the fold's line break ends the first read, its whitespace starts the next
        [FOLDED[:33], FOLDED[33:]],  # the fold's whitespace split between two reads
        [b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>;\r\n rel=preload\r\n\r\n" + FOLDED],  # in the interim head too
    ],
    ids=["one-read", "split-at-the-fold", "split-in-the-fold", "after-a-folded-103"],
)
def test_a_folded_header_is_one_value_joined_by_a_space_on_both_paths(server, parts: list[bytes]) -> None:  # noqa: F811
    s = server(answering(parts))
    conn = Connection("127.0.0.1", s.port, False, 2)
    plain = conn.request(get(), 2)  # the fast path's plain collector where the head allows it
    kept = conn.request(get(), 2, keep_headers=True)  # the collector that sees every header line
    wanted = conn.request(get(), 2, want=b"x-note")
    assert (plain.status, plain.body, kept.status, kept.body) == (200, b"ok", 200, b"ok")
    assert kept.header("x-note") == wanted.wanted == "first second"
    assert [name for name, _ in kept.headers] == [b"X-Note", b"Content-Length"]  # the folded line is no header
    assert s.connections == 1  # and the connection stays in use


def test_folded_set_cookie_and_server_timing_are_read_unfolded(server) -> None:  # noqa: F811
    timed = b"HTTP/1.1 200 OK\r\nServer-Timing: db;dur=3,\r\n app;dur=4\r\nContent-Length: 2\r\n\r\nok"
    s = server(answering([b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=abc;\r\n Path=/\r\nServer-Timing: db;dur=1,\r\n"
                          b"\tapp;dur=2\r\nContent-Length: 2\r\n\r\nok"], [timed]))
    runner = runner_for(s.port)
    runner.conn.server_timing = True
    try:
        first = runner.run(compiled(path="/login"), no_draws, {})
        second = runner.run(compiled(path="/a"), no_draws, {})
    finally:
        runner.close()
    assert (first.status, first.ok, first.error, second.status, second.ok) == (200, True, None, 200, True)
    assert [(c.name, c.value, c.path) for c in runner.jar.cookies.values()] == [("sid", "abc", "/")]
    assert (first.server_timing, second.server_timing) == (b"db;dur=1, app;dur=2", b"db;dur=3, app;dur=4")
    assert (first.db_queries, second.db_queries) == (1, 1)  # Server-Timing is also the queries header: one db entry
    assert b"Cookie: sid=abc\r\n" in s.requests[1]
    # a connection that asks for Server-Timing alone reads it on the fast path's plain collector (_collector_for)
    conn = Connection("127.0.0.1", s.port, False, 2)
    conn.server_timing = True
    assert conn.request(get(), 2).server_timing == b"db;dur=3, app;dur=4"


def test_a_folded_framing_header_counts_unfolded_and_cannot_smuggle_a_length(server) -> None:  # noqa: F811
    answers = [
        # a naive reader sees a second Content-Length (100) on the folded line: it is part of X-Pad's value
        [b"HTTP/1.1 200 OK\r\nX-Pad: a\r\n Content-Length: 100\r\nContent-Length: 2\r\n\r\nok"],
        [b"HTTP/1.1 200 OK\r\nContent-Length:\r\n 3\r\n\r\nabc"],  # the length on the folded line: 3
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
    ]
    s = server(answering(*answers))
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert [(r.status, r.body) for r in (conn.request(get(), 2) for _ in range(3))] == [(200, b"ok"), (200, b"abc"),
                                                                                       (200, b"ok")]
    assert s.connections == 1  # each response ended where its unfolded head said: the next one was read whole
    # a response that closes but is chunked (folded): a close before the last chunk cuts it (RFC 9112 6.3)
    cut = b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding:\r\n chunked\r\n\r\n2\r\nok\r\n"
    closing = server(lambda conn, _head: send_in_parts(conn, [cut]) or False)
    with pytest.raises(HttpError, match=r"^connection closed mid-response$"):
        Connection("127.0.0.1", closing.port, False, 2).request(get(), 2)


@pytest.mark.parametrize(
    "head, reason",
    [
        (b"Content-Length: 2\r\n 0", "Invalid character in Content-Length"),  # unfolded "2 0": no length
        (b"Content-Length: 2\r\nTransfer-Encoding:\r\n chunked", "Transfer-Encoding can't be present with Content"),
        (b"Content-Length: 2\r\nContent-Length:\r\n 3", "Duplicate Content-Length"),
    ],
    ids=["two-numbers", "length-and-chunked", "two-lengths"],
)
def test_an_ambiguous_unfolded_length_is_refused(server, head: bytes, reason: str) -> None:  # noqa: F811
    s = server(answering([b"HTTP/1.1 200 OK\r\n" + head + b"\r\n\r\nokok"]))
    with pytest.raises(HttpError, match=f"^invalid HTTP response: {reason}"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 2)


def test_whitespace_before_the_first_header_line_is_no_fold_and_is_refused(server) -> None:  # noqa: F811
    """RFC 9112 2.2: a line that starts with whitespace right after the status line continues no field."""
    s = server(answering([b"HTTP/1.1 200 OK\r\n X-A: 1\r\nContent-Length: 2\r\n\r\nok"]))
    with pytest.raises(HttpError, match=r"^invalid HTTP response: Unexpected space after start line"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 2)


# ---- bytes past a response's end (a Content-Length shorter than the body)

BROKEN = "the response framing is broken"


SAID_3 = f"the server sent 3 bytes more than its Content-Length said (stray bytes after the response's end): {BROKEN}"


@pytest.mark.parametrize(
    "parts, reason",
    [
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello"], SAID_3),
        ([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhello"], SAID_3),
        ([b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
          b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nhello"], SAID_3),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n0\r\n\r\nllo!"],
         f"the server sent 4 bytes after its chunked body's end (stray bytes after the response's end): {BROKEN}"),
        # the body's end and the extra bytes in a later read than the head: how many is not known there
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhe", b"llo!"],
         f"the server sent more bytes than the response's length said (stray bytes after its end): {BROKEN}"),
    ],
    ids=["content-length", "connection-close", "after-103-and-a-fold", "chunked", "in-a-later-read"],
)
def test_bytes_after_the_end_in_the_responses_own_read_fail_it(server, parts: list[bytes], reason: str) -> None:  # noqa: F811
    s = server(answering(parts, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]))
    runner = runner_for(s.port)
    try:
        broken = runner.run(compiled(path="/a"), no_draws, {})
        after = runner.run(compiled(path="/b", expect={"contains": "ok"}), no_draws, {})
    finally:
        runner.close()
    assert (broken.status, broken.ok, broken.error) == (0, False, reason)
    assert (after.status, after.ok, after.error, s.connections) == (200, True, None, 2)  # on a fresh connection


def test_stray_bytes_read_by_the_next_request_fail_that_one_plainly_not_as_a_timeout(server) -> None:  # noqa: F811
    """The extra bytes come after the response's end in a later write: the request that reads them, the next one on
    the connection, is the one that fails, with what happened, and the connection is not used again."""
    s = server(answering([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhe"],
                         [b"llo", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"],
                         [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"]))
    runner = runner_for(s.port)
    try:
        outcomes = [runner.run(compiled(path=f"/{i}"), no_draws, {}) for i in range(3)]
    finally:
        runner.close()
    reason = ("the server sent 3 bytes more than the previous response's length said (stray bytes before this "
              f"response): {BROKEN}")
    assert [(o.status, o.ok, o.error) for o in outcomes] == [(200, True, None), (0, False, reason), (200, True, None)]
    assert s.connections == 2


def test_a_fresh_connection_that_does_not_answer_http_is_still_an_invalid_response(server) -> None:  # noqa: F811
    s = server(answering([b"SSH-2.0-OpenSSH_9.6\r\n"]))
    with pytest.raises(HttpError, match=r"^invalid HTTP response: Expected HTTP/"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 2)


# ---- trailers (RFC 9110 6.5: not merged into the header section; none acted on)

TRAILED = (b"HTTP/1.1 %s\r\nSet-Cookie: a=1; Path=/\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
           b"Set-Cookie: b=2; Path=/\r\nLocation: /elsewhere\r\nContent-Encoding: gzip\r\nServer-Timing: db;dur=5\r\n"
           b"X-Count: 7\r\n\r\n")


def test_trailer_fields_set_no_cookie_redirect_decoding_or_header(server) -> None:  # noqa: F811
    s = server(answering([TRAILED % b"200 OK"], [TRAILED % b"302 Found"]))
    runner = runner_for(s.port)
    runner.conn.server_timing = True
    try:
        ok = runner.run(compiled(path="/a", expect={"contains": "ok"}), no_draws, {})
        found = runner.run(compiled(path="/b"), no_draws, {})
    finally:
        runner.close()
    assert (ok.status, ok.ok, ok.error, ok.server_timing, ok.db_queries) == (200, True, None, None, None)
    assert (found.status, found.ok, found.error) == (302, True, None)  # not followed: the head had no Location
    assert [(c.name, c.value) for c in runner.jar.cookies.values()] == [("a", "1")]
    assert len(s.requests) == 2 and b"/elsewhere" not in b"".join(s.requests)
    s2 = server(answering([TRAILED % b"200 OK"]))
    r = Connection("127.0.0.1", s2.port, False, 2).request(get(), 2, keep_headers=True, want=b"x-count")
    assert ([name for name, _ in r.headers], r.special, r.wanted) == ([b"Set-Cookie", b"Transfer-Encoding"],
                                                                    [(b"set-cookie", b"a=1; Path=/")], None)


# ---- time to first byte with an interim response first

def test_waiting_ends_at_an_interim_responses_first_byte_as_k6_and_curl_count_it(server, monkeypatch) -> None:  # noqa: F811
    """k6's http_req_waiting (Go's GotFirstResponseByte), curl's time_starttransfer and a browser's responseStart
    end at the first byte of any response, a 103 Early Hints included; receiving runs from there to the end. A test
    clock (the client's perf_counter) jumps 1,000 s once the client has read the 103, before the final response is
    sent: the jump lands in receiving, not in waiting."""
    clock = [1000.0]
    monkeypatch.setattr(http, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], monotonic=time.monotonic))
    holder: list[Connection] = []

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
        stop = time.monotonic() + 5  # bounded: until the client's first read (the 103's) stamped its first byte
        while holder[0].first_at == 0.0 and time.monotonic() < stop:
            time.sleep(0.001)
        clock[0] += 1000.0
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 10)
    holder.append(conn)
    r = conn.request(get(), 10)
    assert (r.status, r.body) == (200, b"ok")
    assert conn.waiting_us < 1_000_000_000 <= conn.receiving_us

