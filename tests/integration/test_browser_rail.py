"""The browser's network rail (loadorch/browser/rail.py) on its own, spoken to as Chromium does (SOCKS5 with
a host name): allowed hosts are relayed both ways, others answered by the rail itself and reported."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from loadorch.browser.rail import Rail, Slots


def socks_connect(rail: Rail, host: str, port: int) -> tuple[socket.socket, int]:
    """A SOCKS5 CONNECT by name, as Chromium sends it; (the socket, the reply code)."""
    s = socket.create_connection(("127.0.0.1", rail.port), timeout=10)
    s.sendall(b"\x05\x01\x00")
    assert s.recv(2) == b"\x05\x00"
    name = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", port))
    reply = s.recv(10)
    return s, reply[1]


def read_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return data


@pytest.fixture
def listeners() -> Iterator[tuple[int, int, list[str]]]:
    """An echo server on 127.0.0.1 and a recording listener on 127.0.0.2: (allowed port, far port, far log)."""
    near = socket.create_server(("127.0.0.1", 0))
    far = socket.create_server(("127.0.0.2", 0))
    reached: list[str] = []

    def echo() -> None:
        conn, _ = near.accept()
        with conn:
            conn.sendall(b"echo:" + conn.recv(100))

    def record() -> None:
        try:
            conn, peer = far.accept()
        except OSError:
            return
        reached.append(str(peer))
        conn.close()

    threads = [threading.Thread(target=echo, daemon=True), threading.Thread(target=record, daemon=True)]
    for t in threads:
        t.start()
    yield near.getsockname()[1], far.getsockname()[1], reached
    near.close()
    far.close()


def test_the_rail_relays_allowed_hosts_and_answers_the_others_itself(listeners: tuple[int, int, list[str]]) -> None:
    near_port, far_port, reached = listeners
    reported: list[str] = []

    def decide(host: str, port: int) -> list[str] | None:
        return ["127.0.0.1"] if host == "shop.test" else None

    rail = Rail(decide, reported.append, Slots())
    try:
        ok, code = socks_connect(rail, "shop.test", near_port)  # a name the rail resolves: to what it checked
        assert code == 0
        ok.sendall(b"ping")
        assert read_all(ok) == b"echo:ping"
        far, code = socks_connect(rail, "127.0.0.2", far_port)
        assert code == 0  # accepted by the rail, so the request can be named
        far.sendall(b"GET /ws?x=1 HTTP/1.1\r\nHost: 127.0.0.2\r\nUpgrade: websocket\r\n\r\n")
        assert read_all(far).startswith(b"HTTP/1.1 403 Forbidden")
        tls, _ = socks_connect(rail, "tracker.example", 443)
        tls.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello
        assert read_all(tls) == b""
    finally:
        rail.close()
    assert reached == []
    assert reported == [f"ws://127.0.0.2:{far_port}/ws?x=1", "https://tracker.example:443 (TLS)"]


def test_connections_past_the_bound_are_refused_not_let_through(listeners: tuple[int, int, list[str]]) -> None:
    near_port, _, _ = listeners
    rail = Rail(lambda host, port: ["127.0.0.1"], lambda url: None, Slots(1))
    try:
        first, code = socks_connect(rail, "127.0.0.1", near_port)
        assert code == 0
        second = socket.create_connection(("127.0.0.1", rail.port), timeout=10)
        try:
            second.sendall(b"\x05\x01\x00")
            answer = read_all(second)
        except ConnectionResetError:  # closed before it read the greeting
            answer = b""
        assert answer == b""  # closed by the rail, no reply: the browser sees a failed request
        first.close()
    finally:
        rail.close()
