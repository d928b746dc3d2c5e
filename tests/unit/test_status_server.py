"""The monitor's status server and the master's /metrics server on loopback: idle connections do not hold their
threads (greenlets, descriptors) for good, and the status server serves a bounded number at once (a port reachable
from a network could grow the monitor without bound)."""

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


def test_the_masters_metrics_server_closes_an_idle_connection(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The master's /metrics (gevent): an idle connection kept its greenlet and descriptor for as long as the
    run went on (300 idle ones to a real monitor's master: 300 more descriptors 20 s later)."""
    from gevent import socket as gsocket

    from loadorch.config.resolve import build
    from loadorch.run.plan import build_plan
    from loadorch.runtime import live
    from loadorch.stats.tables import Merged
    from loadorch.wire import MetricsPlan

    from .test_config import BASE_SCENARIO, make
    from .test_live_window import _Master

    monkeypatch.setattr(live, "IDLE_S", 0.2)
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\nload: {users: 1, duration: 1s}\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    metrics = MetricsPlan(port=0, bind="127.0.0.1", grace_s=0, remote_write=None, dashboard=False,
                          dashboard_port=0, run_id="r", profile="p", scenario="s", edges_us=[], final_path=None)
    server = live.LiveMetrics(plan.model_copy(update={"metrics": metrics}), _Master(Merged(), []), [])
    server.start()
    try:
        port = int(server.servers[0].server_port)
        idle = gsocket.create_connection(("127.0.0.1", port), timeout=15)
        try:
            assert idle.recv(1) == b""  # closed by the server (a timeout here: it held the connection)
        finally:
            idle.close()
        with gsocket.create_connection(("127.0.0.1", port), timeout=15) as scrape:  # a scrape still answered
            scrape.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert scrape.recv(12).startswith(b"HTTP/1.")
    finally:
        for s in server.servers:
            s.stop()
