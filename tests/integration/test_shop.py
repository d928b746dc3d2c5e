"""The reference shop's own resources (the embedded target of `loadorch run local`, `loadorch target serve`):
each client connection is a thread with a database connection, handed back when the thread ends, and a stopped
shop leaves no connection and no temporary folder behind (a CI machine had 5,900 of them, 3.8 GB, in /tmp)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loadorch.target.server import start
from loadorch.target.store import IDLE_CONNECTIONS

from .helpers import until
from .pgcluster import Cluster


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _get(url: str, path: str = "/products/1", close: bool = True) -> http.client.HTTPConnection:
    host, port = url.rsplit("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers={"Connection": "close"} if close else {})
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    resp.read()
    if close:
        conn.close()
    return conn


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_a_client_connections_database_connection_is_handed_back_when_it_ends() -> None:
    server, thread = start("127.0.0.1", 0)
    try:
        _get(server.url)
        assert until(lambda: server.store.open_connections() <= 2)
        before = _descriptors()
        for _ in range(150):  # 150 client connections one after another: one thread each
            _get(server.url)
        # each ended thread handed its connection back and the next one took it (a next thread that starts before
        # the ones before it handed theirs back opens one more: beside three other tests 5 were open once, so a
        # bound of 10, against the 150 a connection per client connection would leave): no longer 2 descriptors
        # per client connection
        assert until(lambda: server.store.open_connections() <= 10), server.store.open_connections()
        assert _descriptors() <= before + 20, (before, _descriptors())
        # 80 at once, kept open: one database connection each; once they end, the pool keeps IDLE_CONNECTIONS
        held = [_get(server.url, close=False) for _ in range(80)]
        assert server.store.open_connections() >= 80
        for conn in held:
            conn.close()
        assert until(lambda: server.store.open_connections() <= IDLE_CONNECTIONS + 1), server.store.open_connections()
        _get(server.url)  # the pool's connections still serve
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_stopped_shop_closes_its_connections_and_removes_its_folder() -> None:
    """Clients that keep their connections open (idle, kept alive) do not keep the stopped shop's database
    connections: the shop ends their connections (a request under way first gets its answer), then closes the
    store (on PostgreSQL a backend each stayed for as long as the client kept its connection)."""
    server, thread = start("127.0.0.1", 0)
    folder = Path(server.store.path).parent
    assert folder.name.startswith("loadorch-shop-") and folder.is_dir()
    held = [_get(server.url, close=False) for _ in range(5)]
    before = server.store.open_connections()  # the 5 (none idle to take) and the test thread's, which seeded it
    assert before >= 5
    answered: list[int] = []
    slow = threading.Thread(target=lambda: answered.append(_get(server.url, "/products/2?delay_ms=700") and 200))
    slow.start()
    assert until(lambda: server.store.open_connections() > before)  # its query ran: it waits out its delay
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    slow.join(timeout=10)
    assert answered == [200]  # the request under way got its answer
    assert not folder.exists()
    assert server.store.open_connections() == 0
    for conn in held:  # each client connection was ended by the shop: the client reads its end
        assert conn.sock is not None
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""
        conn.close()


@pytest.mark.parametrize("how,at_once,ignored", [
    (signal.SIGTERM, False, False), (signal.SIGTERM, True, False), (signal.SIGINT, False, False),
    (signal.SIGINT, True, False), (signal.SIGINT, False, True),
], ids=["term-after-a-request", "term-at-its-line", "int-after-a-request", "int-at-its-line", "int-ignored-at-start"])
def test_target_serve_stopped_by_a_signal_removes_its_folder(tmp_path: Path, how: signal.Signals, at_once: bool,
                                                             ignored: bool) -> None:
    """Also when the signal comes the moment it says it listens (whoever reads that line may stop it then), and
    when it started with SIGINT ignored: a background job of a script (no job control) or `nohup ... &` does, and
    Python then installs no KeyboardInterrupt handler; the shop sets its own (a suite run launched that way left it
    serving for the 10 s this waits)."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "target", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"on (http://\S+?),", line)
        assert found, line
        if not at_once:
            _get(found.group(1))
            assert [p.name[:14] for p in tmp_path.iterdir()] == ["loadorch-shop-"]
        proc.send_signal(how)
        assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.iterdir()) == []
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


@pytest.mark.postgres
def test_the_shop_on_postgresql_holds_a_bounded_number_of_backends(postgres: Cluster) -> None:
    """On PostgreSQL a connection per client connection, never given back, was a backend each: 100 client
    connections over a run reached max_connections and the shop's requests failed."""
    from loadorch.target.server import open_store
    from loadorch.target.store_pg import APPLICATION_NAME

    def backends() -> int:
        return int(postgres.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                params=(APPLICATION_NAME,))[0][0])

    store = open_store(postgres.dsn())
    server, thread = start("127.0.0.1", 0, store=store)
    try:
        threads = [threading.Thread(target=lambda: [_get(server.url) for _ in range(30)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        # 120 client connections, 4 at a time: a backend per connection in use (a next thread may start before the
        # last one handed its connection back, more so on a busy machine), not per client connection
        assert until(lambda: backends() <= 16), backends()
        held = _get(server.url, close=False)  # a client that keeps its connection open past the shop's stop
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert until(lambda: backends() == 0), backends()  # its backend too (it stayed for as long as the client's)
    held.close()


def test_target_serve_on_a_port_in_use_says_so_and_leaves_no_folder(tmp_path: Path) -> None:
    """A busy port is a usage error with its fix, not an internal error (an AttributeError of the stop that
    tidies the store, or the bare OSError before it), and the store made before the bind is removed."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "loadorch", "target", "serve", "--port", str(port)],
                              env={**os.environ, "TMPDIR": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_request_that_fails_inside_the_shop_is_answered_500_and_said_once_without_a_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A database error inside a request (here SQLite's "database is locked") is a 500 with a JSON error, as an
    app server answers, not a dropped connection with a traceback on the terminal of `loadorch run local`;
    each kind is said once on stderr, in one line."""
    import json
    import sqlite3

    server, thread = start("127.0.0.1", 0)
    try:
        def locked(*_: object) -> None:
            raise sqlite3.OperationalError("database is locked")

        server.store.get_product = locked  # type: ignore[method-assign,assignment]
        host, port = server.url.rsplit("//", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(3):  # one kept-alive connection: it stays usable after each 500
            conn.request("GET", "/products/1")
            resp = conn.getresponse()
            assert resp.status == 500
            assert json.loads(resp.read()) == {"error": "internal error: OperationalError"}
        conn.close()
        _get(server.url, "/products?limit=2")  # the other routes still answer

        def hung_up(*_: object) -> None:
            raise BrokenPipeError(32, "Broken pipe")  # the client went away mid-answer: not the shop's failure

        server.store.list_products = hung_up  # type: ignore[method-assign,assignment]
        gone = http.client.HTTPConnection(host, int(port), timeout=10)
        gone.request("GET", "/products?limit=2")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            gone.getresponse()  # no answer, as when a client hangs up; and nothing said on stderr
        gone.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    lines = [line for line in err.splitlines() if "failed inside the shop" in line]
    assert lines == ["loadorch shop: a request failed inside the shop, answered 500: OperationalError: database is "
                     "locked"], err
    assert server.internal_errors == {"OperationalError: database is locked": 3}


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/products", '{"name": "p", "price_cents": 100000000000000000000}', "price_cents"),
    ("POST", "/orders", '{"customer": "c", "product_id": 1, "qty": 9999999999}', "qty"),
    ("POST", "/orders", '{"customer": "c", "product_id": "99999999999999999999"}', "product_id"),
    ("GET", "/products/99999999999999999999", None, "product id"),
    ("GET", "/products?after=99999999999999999999", None, "after"),
])
def test_a_number_the_store_cannot_hold_is_a_400_naming_it_not_a_500(method: str, path: str, body: str | None,
                                                                     field: str) -> None:
    """The shop's INTEGER columns hold 32 bits: a larger number was SQLite's OverflowError, answered 500 (an
    internal error) where the request is at fault."""
    server, thread = start("127.0.0.1", 0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("POST", "/products", body='{"name": "first"}', headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        assert first.status == 201 and first.read()
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 400 and f"{field}: " in text and "out of range" in text, (resp.status, text)
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("value", ["1e9", "30001", "inf", "nan", "-5", "soon"])
def test_a_delay_the_shop_would_not_finish_or_cannot_read_is_a_400_before_the_request_acts(value: str) -> None:
    """`?delay_ms=1e9` held a handler thread for 11 days, `inf` was a 500 (time.sleep's OverflowError) after the
    request had acted (an order made): a 400 naming the bound, and nothing done."""
    server, thread = start("127.0.0.1", 0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)

        def post(query: str) -> tuple[int, str]:
            conn.request("POST", f"/products{query}", body='{"name": "p"}', headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()

        status, text = post("")
        assert status == 201, text
        first = json.loads(text)["id"]
        status, text = post(f"?delay_ms={value}")
        assert status == 400 and "from 0 to 30000" in text, (status, text)
        status, text = post("?delay_ms=20.5")  # a delay within the bound, fractions too: as before
        assert status == 201 and json.loads(text)["id"] == first + 1, ("the refused request made a product", text)
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
