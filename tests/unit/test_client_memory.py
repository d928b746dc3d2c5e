"""The lean client's parsing through the in-memory transport (loadorch/client/transport.py): no sockets."""

from __future__ import annotations

import socket

import pytest

from loadorch.client.http import Connection, HttpError
from loadorch.client.transport import MemoryTransport

GET = b"GET /items HTTP/1.1\r\nHost: shop\r\n\r\n"


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket the client opened would fail the test: the transport alone carries the bytes."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def connection(transport: MemoryTransport, max_head: int = 65536) -> Connection:
    return Connection("shop", 8443, True, connect_timeout=1.0, max_head=max_head, transport=transport)


def test_a_content_length_body_read_across_small_pieces() -> None:
    seen: list[bytes] = []

    def handler(request: bytes) -> bytes:
        seen.append(request)
        return b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Id: 7\r\n\r\nhello world"

    transport = MemoryTransport(handler, piece=3)  # the head and the body split across reads
    response = connection(transport).request(GET, timeout=5.0, keep_headers=True)
    assert (response.status, response.body, response.header("x-id")) == (200, b"hello world", "7")
    assert seen == [GET]
    assert [(host, port, tls) for host, port, tls, _ in transport.opened] == [("shop", 8443, True)]


def test_a_chunked_body_is_joined_and_keeps_the_connection() -> None:
    body = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
    transport = MemoryTransport(
        lambda _: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, piece=5
    )
    conn = connection(transport)
    response = conn.request(GET, timeout=5.0)
    assert (response.body, response.keep_alive) == (b"Wikipedia", True)
    assert conn.sock is transport.opened[0][3]  # kept for the next request


def test_a_body_that_ends_when_the_server_closes() -> None:
    transport = MemoryTransport(lambda _: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", piece=4)
    conn = connection(transport)
    assert conn.request(GET, timeout=5.0).body == b"until the end"
    assert conn.sock is None and transport.opened[0][3].closed


def test_a_head_over_the_bound_is_an_error_not_a_parse() -> None:
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\nContent-Length: 0\r\n\r\n"
    transport = MemoryTransport(lambda _: huge, piece=1024)
    with pytest.raises(HttpError, match="response head over"):
        connection(transport, max_head=4096).request(GET, timeout=5.0)
    assert transport.opened[0][3].closed  # an error closes the connection
    # the same head fits a bound above it
    assert connection(MemoryTransport(lambda _: huge), max_head=8192).request(GET, timeout=5.0).status == 200


def test_an_empty_answer_on_a_fresh_connection_is_told() -> None:
    with pytest.raises(HttpError, match="closed"):
        connection(MemoryTransport(lambda _: b"")).request(GET, timeout=5.0)


def test_server_timing_and_the_body_size_are_kept_when_asked_for() -> None:
    """Evidence (#30): a connection that asks for Server-Timing keeps every line of it, joined, with the
    body's size; one that does not ask keeps none."""
    head = b"HTTP/1.1 200 OK\r\nServer-Timing: app;dur=12.5\r\nContent-Length: 5\r\nserver-timing: cache;desc=hit\r\n\r\n"
    transport = MemoryTransport(lambda _: head + b"hello", piece=7)
    conn = connection(transport)
    conn.server_timing = True
    response = conn.request(GET, timeout=5.0)
    assert (response.server_timing, response.size) == (b"app;dur=12.5, cache;desc=hit", 5)
    assert conn.receiving_us >= 0 and conn.waiting_us >= 0
    conn.server_timing = False
    assert conn.request(GET, timeout=5.0).server_timing is None


@pytest.mark.parametrize(("head", "special", "timing"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False, None),
    (b"HTTP/1.1 200 OK\r\nServer-Timing: app;dur=1\r\nContent-Length: 0\r\n\r\n", False, b"app;dur=1"),
    (b"HTTP/1.1 200 OK\r\nserver-timing: a\r\nX: 1\r\nSERVER-TIMING :  b;desc=\"x, y\" \r\n\r\n", False, b'a, b;desc="x, y"'),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nServer-Timing: last\r\n\r\n", False, b"last"),
    (b"HTTP/1.1 200 OK\r\nServer-Timing: a\r\nSet-Cookie: s=1\r\n\r\n", True, None),  # cookies: the full path
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nServer-Timing: in the body\r\n", False, None),
])
def test_the_fast_path_finds_server_timing_in_its_one_search_over_the_head(
    head: bytes, special: bool, timing: bytes | None
) -> None:
    from loadorch.client.http import _head_pattern

    conn = Connection("shop", 80, False, connect_timeout=1.0)
    buffer = bytearray(head)
    end = buffer.find(b"\r\n\r\n")
    assert conn._special_or_timing(buffer, end, None) is special
    if not special:
        assert conn.head_timing == timing
    # a run that counts queries from Server-Timing hands every such response to the collector that keeps both
    counting = _head_pattern(b"server-timing", True)
    assert counting.groups == 0 and counting.search(b"\r\nServer-Timing: db;count=1\r\n") is not None
    assert conn._special_or_timing(buffer, end, b"server-timing") is (special or timing is not None)
