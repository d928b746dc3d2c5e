"""The lean client against servers whose framing is old or broken, on loopback, with both kinds of sockets (the
standard library's and gevent's fast path)."""

from __future__ import annotations

import socket
from collections.abc import Callable

from loadorch.client.http import Connection

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
