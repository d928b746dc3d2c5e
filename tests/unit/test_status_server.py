"""The monitor's status server on loopback: idle connections do not hold its threads for good, and it serves
a bounded number at once (a status port reachable from a network could grow the monitor without bound)."""

from __future__ import annotations

import socket
import time
import urllib.request

from loadorch.run.monitor import StatusServer


def _port(server: StatusServer) -> int:
    return int(server.server.server_address[1])


def test_an_idle_connection_is_closed_not_held_for_as_long_as_the_monitor_runs() -> None:
    server = StatusServer("127.0.0.1", 0, idle_s=0.2)
    try:
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=15) as idle:
            assert idle.recv(1) == b""  # closed by the server (a timeout here: it held the connection)
    finally:
        server.close()


def test_connections_past_the_bound_are_closed_at_once_and_the_page_still_served_after() -> None:
    server = StatusServer("127.0.0.1", 0, idle_s=60, most=2)
    server.pages["/status.json"] = ("application/json", b'{"status": "ok"}\n')
    url = f"http://127.0.0.1:{_port(server)}/status.json"
    try:
        held = [socket.create_connection(("127.0.0.1", _port(server)), timeout=15) for _ in range(2)]
        with socket.create_connection(("127.0.0.1", _port(server)), timeout=15) as extra:
            extra.sendall(b"GET /status.json HTTP/1.0\r\n\r\n")
            assert extra.recv(1) == b""  # no thread for it: closed without an answer
        for s in held:
            s.close()
        deadline = time.monotonic() + 15  # their slots come back once their threads have seen the close
        while True:
            try:
                with urllib.request.urlopen(url, timeout=15) as resp:
                    assert resp.read() == b'{"status": "ok"}\n'
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered again once the held connections closed"
                time.sleep(0.05)
    finally:
        server.close()
