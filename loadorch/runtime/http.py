"""A lean HTTP/1.1 client: one kept-alive connection, pre-encoded requests, httptools for parsing.

Plain stdlib sockets: inside the Locust processes gevent has patched them, so they yield.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httptools


class HttpError(Exception):
    """A request that got no usable response (reason is short and stable: it becomes an error label)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    keep_alive: bool = True
    wanted: str | None = None  # the value of the one header asked for (repeated headers joined by ", ")

    def header(self, name: str) -> str | None:
        key = name.lower().encode()
        for k, v in self.headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None


class _Collector:
    __slots__ = (
        "body",
        "complete",
        "headers",
        "headers_done",
        "keep_alive",
        "keep_headers",
        "parser",
        "want",
        "wanted",
    )

    def __init__(self, keep_headers: bool, want: bytes | None = None) -> None:
        self.body: list[bytes] = []
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.headers_done = False
        self.keep_headers = keep_headers
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None
        self.want = want  # lower-case name of one header to keep even when keep_headers is off
        self.wanted: bytes | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.keep_headers:
            self.headers.append((name, value))
        if self.want is not None and len(name) == len(self.want) and name.lower() == self.want:
            self.wanted = value if self.wanted is None else self.wanted + b", " + value

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # llhttp answers keep-alive from the headers; asked after the message it no longer knows
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One connection to one origin, reopened when the server closes it."""

    def __init__(
        self, host: str, port: int, tls: bool, connect_timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context
        self.sock: socket.socket | None = None
        self.address: tuple[Any, ...] | None = None  # resolved once, again only after a failed connect
        self.family = socket.AF_INET

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _resolve(self) -> None:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        self.family, _, _, _, self.address = infos[0]

    def _connect(self) -> socket.socket:
        try:
            if self.address is None:
                self._resolve()
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(self.address)  # type: ignore[arg-type]
            except BaseException:
                sock.close()
                self.address = None
                raise
        except TimeoutError:
            raise HttpError(f"connect timeout after {self.connect_timeout:g}s") from None
        except ConnectionRefusedError:
            raise HttpError("connection refused") from None
        except socket.gaierror as exc:
            raise HttpError(f"cannot resolve host {self.host!r}: {exc.strerror}") from None
        except UnicodeError:
            raise HttpError(f"invalid host name {self.host!r}") from None
        except OSError as exc:
            raise HttpError(f"connect failed: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls:
            ctx = self.ssl_context or ssl.create_default_context()
            try:
                sock = ctx.wrap_socket(sock, server_hostname=self.host)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise HttpError(f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
        return sock

    def request(
        self, data: bytes, timeout: float, method: str = "GET", keep_headers: bool = False, want: bytes | None = None
    ) -> Response:
        """Send one pre-encoded request and read its response within `timeout` seconds in all (`want`: the
        lower-case name of one header whose value the response carries in `wanted`)."""
        deadline = time.monotonic() + timeout
        reused = self.sock is not None
        try:
            return self._exchange(data, deadline, method, keep_headers, want)
        except _StaleConnection:
            self.close()
            if not reused:
                raise HttpError("connection closed by server before a response") from None
            return self._exchange(data, deadline, method, keep_headers, want)  # one retry on a fresh connection
        except BaseException:
            self.close()
            raise

    def _exchange(
        self, data: bytes, deadline: float, method: str, keep_headers: bool, want: bytes | None = None
    ) -> Response:
        if self.sock is None:
            self.sock = self._connect()
        sock = self.sock
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            raise HttpError("read timeout")
        sock.settimeout(timeout)  # once per request: each wait is bounded, the deadline checked between reads
        try:
            sent = sock.send(data)
            if sent < len(data):
                sock.sendall(data[sent:])
        except OSError:
            raise _StaleConnection from None
        collector = _Collector(keep_headers, want)
        parser = collector.parser = httptools.HttpResponseParser(collector)
        received = False
        while not collector.complete:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise HttpError("read timeout") from None
            except ConnectionResetError:
                if not received:
                    raise _StaleConnection from None
                raise HttpError("connection reset by server") from None
            except OSError as exc:
                raise HttpError(f"receive failed: {exc.strerror or exc}") from None
            if not chunk:
                if not received:
                    raise _StaleConnection
                if collector.headers_done and not collector.keep_alive:
                    break  # no length and no chunks: the body ends when the server closes
                raise HttpError("connection closed mid-response")
            received = True
            try:
                parser.feed_data(chunk)
            except httptools.HttpParserUpgrade:
                raise HttpError("unexpected protocol upgrade") from None
            except httptools.HttpParserError as exc:
                raise HttpError(f"invalid HTTP response: {exc}") from None
            if method == "HEAD" and collector.headers_done:
                break  # a HEAD response has headers only, whatever Content-Length says
            if not collector.complete and time.monotonic() > deadline:
                raise HttpError("read timeout")
        keep = (collector.complete or method == "HEAD") and collector.keep_alive
        status = parser.get_status_code()
        if not keep:
            self.close()
        wanted = collector.wanted.decode("latin-1") if collector.wanted is not None else None
        return Response(status, collector.headers, b"".join(collector.body), keep, wanted)


class _StaleConnection(Exception):
    """A kept-alive connection the server had already closed: safe to retry once."""
