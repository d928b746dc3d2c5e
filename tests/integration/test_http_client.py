"""The lean HTTP/1.1 client against real servers on loopback: framing, connections, TLS, timeouts, errors."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loadorch.client import http
from loadorch.client.http import Connection, HttpError
from tests.support import tools

from .helpers import accept_in_threads

Handler = Callable[[socket.socket, bytes], bool]  # returns False to close the connection


class RawServer:
    """Accepts connections and answers each request with whatever the handler writes."""

    def __init__(self, handler: Handler, context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.context = context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        accept_in_threads(self.sock, self._conn)

    def _conn(self, conn: socket.socket) -> None:
        self.connections += 1
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                if not self.handler(conn, head):
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["stdlib", "gevent"], autouse=True)
def sockets(request, monkeypatch) -> str:
    """Each client test twice: with the standard library's sockets (the controller's setup requests) and
    with gevent's, as inside a Locust worker, where plain HTTP takes the client's gevent fast path."""
    if request.param == "gevent":
        if "locust_client" in request.node.name or "project" in request.fixturenames:
            pytest.skip("a whole run: its workers use gevent anyway (this process's sockets are not its subject)")
        import gevent.socket

        monkeypatch.setattr(http, "socket", gevent.socket)
    return str(request.param)


@pytest.fixture
def server() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def make(handler: Handler, context: ssl.SSLContext | None = None) -> RawServer:
        made.append(RawServer(handler, context))
        return made[-1]

    yield make
    for s in made:
        s.close()


def get(path: str = "/", method: str = "GET", body: bytes = b"") -> bytes:
    length = f"Content-Length: {len(body)}\r\n" if body or method == "POST" else ""
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{length}\r\n".encode() + body


def send_in_parts(conn: socket.socket, parts: list[bytes]) -> None:
    """Each part in its own write, 50 ms apart: the client's first read gets the first part only."""
    for i, part in enumerate(parts):
        if i:
            time.sleep(0.05)
        conn.sendall(part)


def respond(payload: bytes, keep: bool = True) -> Handler:
    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(payload)
        return keep
    return handler


def test_content_length_body_and_keep_alive_reuse(server) -> None:
    s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello"))
    conn = Connection("127.0.0.1", s.port, False, 2)
    for _ in range(5):
        r = conn.request(get(), 2, keep_headers=True)
        assert (r.status, r.body, r.keep_alive, r.header("x-a")) == (200, b"hello", True, "1")
    assert s.connections == 1 and len(s.requests) == 5


def test_chunked_body_split_across_reads(server) -> None:
    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab")
        time.sleep(0.05)
        conn.sendall(b"cd\r\n3\r\nefg\r\n0\r\n\r\n")
        return True
    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get(), 2).body == b"abcdefg"
    assert conn.request(get(), 2).body == b"abcdefg"
    assert s.connections == 1


def test_connection_close_and_body_until_close(server) -> None:
    s = server(respond(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", keep=False))
    conn = Connection("127.0.0.1", s.port, False, 2)
    r1 = conn.request(get(), 2)
    r2 = conn.request(get(), 2)
    assert (r1.body, r1.keep_alive, r2.body) == (b"ok", False, b"ok") and s.connections == 2
    until_close = server(respond(b"HTTP/1.0 200 OK\r\n\r\nstreamed to the end", keep=False))
    r = Connection("127.0.0.1", until_close.port, False, 2).request(get(), 2)
    assert r.body == b"streamed to the end"


def test_stale_kept_alive_connection_is_retried_once(server) -> None:
    calls = {"n": 0}

    def handler(conn: socket.socket, head: bytes) -> bool:
        calls["n"] += 1
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        return False  # closes after answering, without saying so: the next request finds it closed

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get(), 2).status == 204
    time.sleep(0.1)
    assert conn.request(get(), 2).status == 204
    assert s.connections == 2 and calls["n"] == 2


def test_a_post_after_the_server_closed_the_idle_connection_goes_on_a_fresh_one(server) -> None:
    """Idle longer than CHECK_AFTER_IDLE_S: the closed connection is noticed before the POST is sent (a POST
    is never re-sent, so sending it on the dead connection would fail it)."""
    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        return False  # closes after answering, without saying so

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get("/orders", "POST", b"{}"), 2, method="POST").status == 201
    time.sleep(max(0.1, 20 * http.CHECK_AFTER_IDLE_S))
    assert conn.request(get("/orders", "POST", b"{}"), 2, method="POST").status == 201
    assert s.connections == 2 and len(s.requests) == 2


def test_a_post_right_after_a_response_still_checks_the_connection(server, monkeypatch) -> None:
    """Within CHECK_AFTER_IDLE_S of a response an idempotent request skips the closed-while-idle check (it
    would be re-sent anyway); a POST, which never is, checks every time."""
    monkeypatch.setattr(http, "CHECK_AFTER_IDLE_S", 60.0)  # every request below comes "right after"

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        return False  # closes after answering, without saying so

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    for _ in range(3):
        time.sleep(0.02)  # the close has arrived
        assert conn.request(get("/orders", "POST", b"{}"), 2, method="POST").status == 201
    assert s.connections == 3 and len(s.requests) == 3


def test_the_fast_path_works_where_poll_has_no_rdhup(server, monkeypatch) -> None:
    """POLLRDHUP is Linux's: on macOS and the BSDs the closed-while-idle poll makes do with POLLIN."""
    import select

    monkeypatch.delattr(select, "POLLRDHUP", raising=False)
    s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert [conn.request(get(), 2).body for _ in range(2)] == [b"ok", b"ok"] and s.connections == 1


def test_a_kept_alive_connection_is_reused_with_descriptors_past_1023(server) -> None:
    """select(2) refuses a descriptor past 1,023: the idle check must not, or a process with many open files
    (a CI test process read 1,100) would open a fresh connection for every request and could not tell a
    reused connection's failure from a fresh one's (a POST's error then says nothing of not re-sending it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip(f"open files limited to {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    filler = []
    try:
        with open(__file__, "rb") as f:
            while not filler or filler[-1] < 1100:
                filler.append(os.dup(f.fileno()))
        s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        conn = Connection("127.0.0.1", s.port, False, 2)
        assert [conn.request(get(), 2).body for _ in range(3)] == [b"ok"] * 3
        assert conn.sock is not None and conn.sock.fileno() > 1023, conn.sock
        assert s.connections == 1
        conn.close()
    finally:
        for fd in filler:
            os.close(fd)
        if soft < 1200:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_bytes_sent_while_idle_do_not_become_the_next_response(server) -> None:
    """A server that writes to an idle kept-alive connection (an unsolicited 408, say) without closing it:
    the connection is not reused, so the next request's answer is its own."""
    answers = iter([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"])

    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(next(answers, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc"))
        if head.startswith(b"GET /first"):
            threading.Timer(0.03, conn.sendall, [b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n"]).start()
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get("/first"), 2).body == b"a"
    time.sleep(0.2)
    r = conn.request(get("/second"), 2)
    assert (r.status, r.body, s.connections) == (200, b"b", 2)


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\nSET-COOKIE: a=1\r\nContent-Length: 2\r\n\r\nok"],
        [b"HTTP/1.1 302 Found\r\nlocation:/next\r\nContent-Length: 0\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"],
        # the head in two writes: the first read does not hold it whole
        [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"Set-Cookie: a=1\r\n\r\nok"],
        # an interim response first, the cookie in the final one
        [b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\n\r\nok"],
    ],
    ids=["upper-case", "location", "content-encoding", "head-in-two-reads", "after-103"],
)
def test_set_cookie_location_and_encoding_are_seen_however_the_head_arrives(server, parts: list[bytes]) -> None:
    """The fast path reads a head with none of these headers without a call per header: any head that has
    one, in any spelling or split across reads, must still hand it over (cookies, redirects, decoding)."""
    def handler(conn: socket.socket, head: bytes) -> bool:
        send_in_parts(conn, parts)
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    for _ in range(2):  # a fresh connection, then a reused one
        r = conn.request(get(), 2)
        assert r.special is not None and r.special[0][0] in (b"set-cookie", b"location", b"content-encoding")
    plain = server(respond(b"HTTP/1.1 200 OK\r\nX-Set-Cookie-Note: no\r\nContent-Length: 2\r\n\r\nok"))
    assert Connection("127.0.0.1", plain.port, False, 2).request(get(), 2).special is None


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "head-in-two-reads"])
def test_the_header_asked_for_is_read_and_its_absence_too(server, split: bool) -> None:
    """`want` (the queries-per-request header, Server-Timing by default) is read from the heads that have
    it, in any case, whichever collector the fast path picks; a head without it gives None."""
    with_it = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"server-TIMING: db;dur=3, db;dur=4\r\n\r\nok"]
    answers = iter([with_it, [b"HTTP/1.1 200 OK\r\nServer-Timings-Note: x\r\nContent-Length: 2\r\n\r\nok"]] * 2)

    def handler(conn: socket.socket, head: bytes) -> bool:
        parts = next(answers)
        send_in_parts(conn, parts if split else [b"".join(parts)])
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    wanted = [conn.request(get(), 2, want=b"server-timing").wanted for _ in range(4)]
    assert wanted == ["db;dur=3, db;dur=4", None] * 2


def test_head_response_has_no_body(server) -> None:
    s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
    conn = Connection("127.0.0.1", s.port, False, 2)
    r = conn.request(get(method="HEAD"), 2, method="HEAD")
    assert r.status == 200 and r.body == b""


def test_head_then_get_on_one_connection(server) -> None:
    def handler(conn: socket.socket, head: bytes) -> bool:
        if head.startswith(b"HEAD"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        return True
    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert conn.request(get(method="HEAD"), 2, method="HEAD").body == b""
    assert conn.request(get(), 2).body == b"hello"  # not mistaken for the HEAD response's announced body
    assert conn.request(get(method="HEAD"), 2, method="HEAD").status == 200
    assert conn.request(get(), 2).body == b"hello"
    assert s.connections == 1


def test_bytes_after_a_response_do_not_become_the_next_response(server) -> None:
    s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n"))
    conn = Connection("127.0.0.1", s.port, False, 2)
    assert [conn.request(get(), 2).status for _ in range(3)] == [200, 200, 200]


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhello"],
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\n", b"Content-Length: 10\r\n\r\nhello"],
        [b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nhello"],
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"],
        [b"HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n"],
    ],
    ids=["content-length", "head-in-two-reads", "http-1.0", "chunked", "chunked-last-coding"],
)
def test_a_body_cut_short_by_the_close_fails_though_the_response_said_it_would_close(server, parts) -> None:
    """A response that is not kept alive (`Connection: close`, HTTP/1.0) but says how long its body is
    (Content-Length, or chunked as the last transfer coding) does not end at the close (RFC 9112 6.3): a
    close before the announced end is a cut body, not a whole one (it passed as a 200 with 5 bytes)."""
    s = server(lambda conn, _h: send_in_parts(conn, parts) or False)
    conn = Connection("127.0.0.1", s.port, False, 2)
    for _ in range(2):  # and the next request works (on a fresh connection)
        with pytest.raises(HttpError, match=r"^connection closed mid-response$"):
            conn.request(get(), 2)
    assert s.connections == 2
    # a body nothing delimits but the close (no length, chunked absent or not last) is whole when it comes
    for unframed in (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello",
                     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nhello"):  # fmt: skip
        whole = server(respond(unframed, keep=False))
        r = Connection("127.0.0.1", whole.port, False, 2).request(get(), 2)
        assert (r.status, r.body, r.size, r.keep_alive) == (200, b"hello", 5, False)


def test_a_partial_message_after_a_whole_response_does_not_become_the_next_ones_start(server) -> None:
    """Bytes after a response's end in the same read (the start of a message nobody asked for): the
    connection is not reused (RFC 9112 9.3; the fast path closed it, the standard library's kept it), or the
    rest of that message, written later, is read as the head of the next request's response."""
    stray_on: set[socket.socket] = set()

    def handler(conn: socket.socket, head: bytes) -> bool:
        if head.startswith(b"GET /first"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 500 Stray\r\nContent-Le")
            stray_on.add(conn)
        else:
            rest = b"ngth: 0\r\n\r\n" if conn in stray_on else b""
            conn.sendall(rest + b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    first = conn.request(get("/first"), 2)
    assert (first.status, first.body, first.keep_alive) == (200, b"a", False)
    second = conn.request(get("/second"), 2)
    assert (second.status, second.body, s.connections) == (200, b"b", 2)


def test_post_body_is_sent_whole(server) -> None:
    s = server(respond(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"))
    body = b'{"x":"' + b"y" * 200_000 + b'"}'
    r = Connection("127.0.0.1", s.port, False, 2).request(get("/orders", "POST", body), 5, method="POST")
    assert r.status == 201 and s.requests[0].endswith(body)


def test_every_request_on_a_kept_alive_connection_has_its_whole_timeout(server) -> None:
    """The fast path reuses one deadline timer per connection: each request still gets its full timeout
    (not what an earlier request left of it), and a request over it still times out."""
    def handler(conn: socket.socket, head: bytes) -> bool:
        time.sleep(1.5 if b"/slow" in head else 0.12)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    s = server(handler)
    conn = Connection("127.0.0.1", s.port, False, 2)
    statuses = [conn.request(get(), 0.5).status for _ in range(8)]  # 8 x 0.12 s: twice the timeout in all
    assert statuses == [200] * 8 and s.connections == 1
    with pytest.raises(HttpError, match="read timeout"):
        conn.request(get("/slow"), 0.5)
    assert conn.request(get(), 0.5).status == 200  # after a timeout: a fresh connection, a fresh deadline


def test_read_timeout_is_an_error_with_its_reason(server) -> None:
    s = server(lambda conn, head: (time.sleep(3), True)[1])
    started = time.monotonic()
    with pytest.raises(HttpError, match="read timeout"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 0.5)
    assert time.monotonic() - started < 2.5


def test_trickling_server_cannot_stretch_the_deadline(server) -> None:
    def handler(conn: socket.socket, head: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.05)
        return True
    s = server(handler)
    with pytest.raises(HttpError, match="read timeout"):
        Connection("127.0.0.1", s.port, False, 2).request(get(), 1.0)


def test_connect_refused_and_connect_timeout() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with pytest.raises(HttpError, match="connection refused"):
            Connection("127.0.0.1", port, False, 1).request(get(), 1)
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)  # never accepts: once the backlog is full, new handshakes are not answered
    fillers = []
    try:
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(full.getsockname())
            fillers.append(f)
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(HttpError, match="connect timeout"):
            Connection("127.0.0.1", full.getsockname()[1], False, 0.5).request(get(), 1)
        assert time.monotonic() - started < 3
    finally:
        for f in fillers:
            f.close()
        full.close()


def test_malformed_response_and_reset_mid_body(server) -> None:
    bad = server(respond(b"NOT HTTP AT ALL\r\n\r\n", keep=False))
    with pytest.raises(HttpError, match="invalid HTTP response"):
        Connection("127.0.0.1", bad.port, False, 1).request(get(), 1)
    cut = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", keep=False))
    with pytest.raises(HttpError, match="closed mid-response"):
        Connection("127.0.0.1", cut.port, False, 1).request(get(), 1)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    tools.require("openssl")
    openssl = str(shutil.which("openssl"))
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


@pytest.mark.openssl
def test_https_with_a_trusted_certificate_and_refusal_of_an_untrusted_one(server, certificate, monkeypatch) -> None:
    key, cert = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    s = server(respond(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure"), server_ctx)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # how a user trusts a private CA (README)
    conn = Connection("localhost", s.port, True, 2)
    assert conn.request(get(), 2).body == b"secure"
    # the evidence's split (#30): the TLS handshake is its own part of the connect time
    assert 0 < conn.tls_us <= conn.connecting_us
    assert conn.request(get(), 2).body == b"secure"
    assert s.connections == 1 and conn.tls_us == conn.connecting_us == 0  # a reused connection
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(HttpError, match="TLS handshake failed"):
        Connection("localhost", s.port, True, 2).request(get(), 2)  # system CAs do not know this certificate


COOKIE_SCENARIO = """
name: cookies
client: {client}
users:
  - name: u
    requests:
      - {{name: login, path: /login, expect: {{status: [200], contains: "hello c1"}}}}
min_samples: 1
thresholds: {{http_req_failed: ["rate<0.5"]}}
"""


class _CookieServer:
    """/login sets a session cookie and redirects to /me, which greets only a client that kept it."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/login":
                    self.send_response(302)
                    self.send_header("Set-Cookie", "session=c1; Path=/")
                    self.send_header("Location", "/me")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"hello c1" if "session=c1" in (self.headers.get("Cookie") or "") else b"who are you?"
                self.send_response(200 if body == b"hello c1" else 401)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("client,failures", [("locust", 0), ("lean", 0)])
def test_both_clients_keep_cookies_and_follow_redirects(project, client: str, failures: int) -> None:
    target = _CookieServer()
    try:
        project.write("scenarios/s.yaml", COOKIE_SCENARIO.format(client=client))
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {target.url}\n"
                      "load: {users: 2, duration: 30s}\n")
        r = project.run("run", "p", "--iterations", "3", "--out", "o")
    finally:
        target.close()
    doc = project.results("o")
    assert doc["totals"]["requests"] == 6 and doc["totals"]["failures"] == failures, r.out + r.err


def test_a_response_head_over_max_head_fails_its_request_and_one_within_passes(server) -> None:
    """The status line and headers are bounded (max_response_head): a head that ends within the bound is read
    whole, however it arrives; one that has not ended by then fails with the reason, before more of it is
    read (one 50 MB header line grew a worker to 1 GB: the parser joins a header's pieces)."""
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"  # an interim head counts too

    def head(size: int, before: bytes = b"") -> bytes:
        start = before + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: "
        out = start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"
        assert len(out) == size
        return out

    for within in ([head(1024) + b"ok"], [head(1024)[:300], head(1024)[300:700], head(1024)[700:] + b"ok"],
                   [early, head(1024, early)[len(early):] + b"ok"]):  # fmt: skip
        s = server(lambda conn, _h, parts=within: send_in_parts(conn, parts) or True)
        resp = Connection("127.0.0.1", s.port, False, 2, max_head=1024).request(get(), 2)
        assert (resp.status, resp.body) == (200, b"ok")
    for over in ([head(1025) + b"ok"], [head(1025)[:500], head(1025)[500:] + b"ok"],
                 [early, head(1025, early)[len(early):] + b"ok"]):  # fmt: skip
        s = server(lambda conn, _h, parts=over: send_in_parts(conn, parts) or True)
        with pytest.raises(HttpError, match=r"^response head over 1 KiB \(max_response_head\)$"):
            Connection("127.0.0.1", s.port, False, 2, max_head=1024).request(get(), 2)
    # a header line of 8 MB against the default bound: refused once 64 KiB of it came, not read to its end
    huge = server(respond(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * (8 << 20) + b"\r\nContent-Length: 0\r\n\r\n"))
    conn = Connection("127.0.0.1", huge.port, False, 5)
    with pytest.raises(HttpError, match=r"^response head over 64 KiB \(max_response_head\)$"):
        conn.request(get(), 5)
    assert conn.sock is None  # closed: the rest of that head is never read
