"""A lean HTTP/1.1 client: one kept-alive connection, pre-encoded requests, httptools for parsing.

Plain stdlib sockets: inside the Locust processes gevent has patched them, so they yield, and a connection
whose socket is a gevent one takes the fast path (`_exchange_gevent`), found by duck typing, not an import.
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httptools
from greenlet import getcurrent

from loadorch.client.framing import Unfolder, stray_after, stray_before, unfold, unfold_heads
from loadorch.client.transport import Stream, Transport
from loadorch.config.units import DEFAULT_MAX_HEAD, size_text
from loadorch.errors import SafetyError
from loadorch.traffic.proxies import Proxy
from loadorch.traffic.request import IDEMPOTENT_METHODS


class HttpError(Exception):
    """A request that got no usable response (reason is short and stable: it becomes an error label)."""


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    keep_alive: bool = True
    wanted: str | None = None  # the value of the one header asked for (repeated headers joined by ", ")
    # Set-Cookie, Location and Content-Encoding (lower-case name, value), None when the response has none:
    # the one thing the fast path tests before cookies, redirects or decoding (client/hops.py) take over
    special: list[tuple[bytes, bytes]] | None = None
    size: int = 0  # body bytes received (before any decoding)
    server_timing: bytes | None = None  # the Server-Timing header's value, when the connection asks for it

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
        "early",
        "framed",
        "head",
        "headers",
        "headers_done",
        "keep_alive",
        "keep_body",
        "keep_headers",
        "max_body",
        "parser",
        "size",
        "special",
        "status",
        "stray",
        "timing",
        "timing_value",
        "want",
        "wanted",
    )

    def __init__(
        self,
        keep_headers: bool,
        keep_body: bool = True,
        max_body: int | None = None,
        want: bytes | None = None,
        timing: bool = False,
    ) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        # the bytes of a response's reads that did not end its head (not reset: `_feed` starts it again with the
        # response's first read): a head with obs-fold is parsed again from them (Connection._refused)
        self.early = b""
        self.reset(keep_headers, keep_body, max_body, want, timing)

    def reset(
        self, keep_headers: bool, keep_body: bool, max_body: int | None, want: bytes | None, timing: bool = False
    ) -> None:
        """Ready for the next response (a kept-alive connection reuses its collector and parser)."""
        self.body: list[bytes] = []
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False
        self.headers_done = False
        self.head = 0  # bytes read before the head ended (interim 1xx heads included): max_head bounds them
        self.keep_headers = keep_headers
        self.keep_body = keep_body
        self.max_body = max_body
        self.size = 0
        self.status = 0
        self.keep_alive = False
        # the head gives the body's length (Content-Length, or chunked as the last transfer coding): a close
        # before its end cuts it, even when the response is not kept alive (RFC 9112 6.3)
        self.framed = False
        self.stray = False  # bytes after the complete response: the connection is not reused
        self.want = want  # lower-case name of one header to keep even when keep_headers is off
        self.wanted: bytes | None = None
        self.special: list[tuple[bytes, bytes]] | None = None
        self.timing = timing  # keep the Server-Timing header's value too (the evidence's exemplars)
        self.timing_value: bytes | None = None

    def _interim(self) -> bool:
        """A 1xx other than 101 (100 Continue, 103 Early Hints): not the answer; the final one follows."""
        status = self.parser.get_status_code() if self.parser is not None else 0
        return 100 <= status < 200 and status != 101

    def on_message_begin(self) -> None:
        if self.complete:
            self.stray = True

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        if self._interim():
            self.headers.clear()
            self.wanted = None
            self.special = None
            self.timing_value = None
            self.framed = False
            return
        self.headers_done = True
        self.status = self.parser.get_status_code() if self.parser is not None else 0
        # llhttp answers keep-alive from the headers; asked after the message it no longer knows
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.size += len(body)
        if self.keep_body and (self.max_body is None or self.size <= self.max_body):
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.complete = True

    @property
    def too_large(self) -> bool:
        return self.max_body is not None and self.size > self.max_body


class _HeaderCollector(_Collector):
    """A collector that looks at every header line: for Set-Cookie, Location, Content-Encoding, the one header
    asked for, or all of them. (httptools calls `on_header` only on a collector that has one: the plain
    collector's responses cost no Python call per header.)

    The lines of a chunked body's trailer section come here too, after the head: they are dropped, kept nowhere
    and acted on never (RFC 9110 6.5: a trailer field is not merged into the header section unless its definition
    says so). A trailing Set-Cookie, Location, Content-Encoding, Content-Length or Transfer-Encoding would set a
    cookie, redirect, decode or reframe on the server's afterthought. Server-Timing's definition allows it as a
    trailer, but it is dropped too: the plain collector never sees a trailer line (no call per header), so taking
    it here would make the value depend on which collector a head happened to pick."""

    __slots__ = ()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:
            return  # a trailer line, or a stray message's after the response
        if self.keep_headers:
            self.headers.append((name, value))
        if len(name) in _SPECIAL_LENGTHS and name.lower() in _SPECIAL:
            if self.special is None:
                self.special = []
            self.special.append((name.lower(), value))
        if self.want is not None and len(name) == len(self.want) and name.lower() == self.want:
            self.wanted = value if self.wanted is None else self.wanted + b", " + value
        if self.timing and len(name) == 13 and name.lower() == SERVER_TIMING:
            self.timing_value = value if self.timing_value is None else self.timing_value + b", " + value
        if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
            self.framed = _frames(name, value, self.framed)


class Connection:
    """One connection to one origin, reopened when the server closes it."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: bool,
        connect_timeout: float,
        addresses: Sequence[str] = (),
        check_addresses: Callable[[list[str]], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
        max_head: int = DEFAULT_MAX_HEAD,
        transport: Transport | None = None,
    ) -> None:
        self.host = host
        # None: the connection opens its own sockets (below); a Transport (transport.py): it opens the stream,
        # e.g. MemoryTransport in tests. Looked at on connect only, never per request
        self.transport = transport
        # the status line and headers of a response, interim ones included (max_response_head): one 50 MB
        # header line grew a worker to 1 GB (the parser joins a header's pieces) and killed it
        self.max_head = max_head
        self.port = port
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.sock: Stream | None = None
        self.address: tuple[Any, ...] | None = None  # resolved once, again only after a failed connect
        self.family = socket.AF_INET
        # the addresses preflight resolved and checked against allowed_hosts: connect only to these, so
        # DNS cannot move the name elsewhere later (TLS still verifies `host`, the Host header names it)
        self.pinned = tuple(addresses)
        self.next_pinned = 0
        # the last request's timings (microseconds): connect (0 on a reused connection, at least 1 on a new one)
        # and time to first byte: from the request's send to the first byte of any response to it, an interim
        # 1xx one (100 Continue, 103 Early Hints) included, as k6's http_req_waiting (Go's GotFirstResponseByte),
        # curl's time_starttransfer and a browser's responseStart count it
        self.connecting_us = 0
        self.waiting_us = 0
        self.tls_us = 0  # the TLS handshake's part of connecting_us
        self.receiving_us = 0  # from the response's first byte (an interim one's, as above) to its last
        self.first_at = 0.0  # perf_counter time of the response's first byte
        self.server_timing = False  # keep each response's Server-Timing value (Response.server_timing)
        self.head_timing: bytes | None = None  # the Server-Timing value _collector_for found in the head
        self.check_addresses = check_addresses  # without pins: each resolution checked (raises HttpError)
        self.ssl_context = ssl_context  # the profile's tls: settings; None: the system's CAs (or SSL_CERT_FILE)
        # through an HTTP proxy: connect to it (plain http: absolute-form targets, see LeanRunner; https:
        # a CONNECT tunnel, then TLS with the target as usual); pins and checks apply to the target's name
        self.proxy = proxy
        # the gevent fast path (plain TCP inside a Locust process): the raw non-blocking socket, gevent's
        # watchers for it, and one parser + collector + receive buffer per connection (see _exchange_gevent)
        self.raw: Any = None
        self.poller: Any = None  # _poller(raw): closed while idle?
        self.collector: _Collector | None = None  # for a head with none of _head_pattern's names (_collector_for)
        self.full: _HeaderCollector | None = None  # for any other response (made when first needed)
        self.buffer: bytearray | None = None  # _RECEIVE_BUFFER, shared
        self.timer: Any = None  # the deadline timer, reused by the exchanges that have the same timeout
        self.timer_after = 0.0
        self.idle_since = 0.0  # monotonic time the last response ended (the connection idle since then)

    def close(self) -> None:
        self.raw = self.collector = self.full = self.poller = None
        if self.timer is not None:
            self.timer.close()
            self.timer = None
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _resolve(self) -> None:
        if self.proxy is not None:
            infos = socket.getaddrinfo(self.proxy.host, self.proxy.port, type=socket.SOCK_STREAM)
            self.family, _, _, _, self.address = infos[0]
            return
        if self.pinned:
            ip = self.pinned[self.next_pinned % len(self.pinned)]
            self.next_pinned += 1  # after a failed connect, the next checked address
            self.family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            self.address = (ip, self.port, 0, 0) if ":" in ip else (ip, self.port)
            return
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if self.check_addresses is not None:
            self.check_addresses(sorted({str(info[4][0]) for info in infos}))
        self.family, _, _, _, self.address = infos[0]

    def _connect(self, deadline: float) -> socket.socket:
        wait = min(self.connect_timeout, deadline - time.monotonic())
        if wait <= 0:
            raise HttpError("read timeout")
        try:
            if self.address is None:
                self._resolve()
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.settimeout(wait)
            try:
                if not self.tls and self.proxy is None and all(hasattr(sock, a) for a in _GEVENT_SOCKET_ATTRS):
                    _connect_gevent(sock, self.address, wait)
                else:
                    sock.connect(self.address)  # type: ignore[arg-type]
            except BaseException:
                sock.close()
                self.address = None
                raise
        except TimeoutError:
            raise HttpError(f"connect timeout after {wait:g}s") from None
        except ConnectionRefusedError:
            raise HttpError("connection refused") from None
        except socket.gaierror as exc:
            raise HttpError(f"cannot resolve host {self.host!r}: {exc.strerror}") from None
        except UnicodeError:
            raise HttpError(f"invalid host name {self.host!r}") from None
        except SafetyError as exc:  # resolved outside allowed_hosts (check_addresses)
            raise HttpError(str(exc)[:200]) from None
        except OSError as exc:
            raise HttpError(f"connect failed: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.proxy is not None and self.tls:
            _tunnel(sock, self.proxy, self.host, self.port, deadline)
        if self.tls:
            ctx = self.ssl_context or ssl.create_default_context()
            try:
                sock.settimeout(max(0.001, min(self.connect_timeout, deadline - time.monotonic())))
                began = time.perf_counter()
                sock = ctx.wrap_socket(sock, server_hostname=self.host)
                self.tls_us = int((time.perf_counter() - began) * 1e6)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise HttpError(f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}") from None
        return sock

    def _open(self, transport: Transport, deadline: float) -> Stream:
        """A stream from the connection's transport, its errors told as `_connect` tells a socket's."""
        wait = min(self.connect_timeout, deadline - time.monotonic())
        if wait <= 0:
            raise HttpError("read timeout")
        try:
            return transport.open(self.host, self.port, self.tls, wait)
        except TimeoutError:
            raise HttpError(f"connect timeout after {wait:g}s") from None
        except ConnectionRefusedError:
            raise HttpError("connection refused") from None
        except OSError as exc:
            raise HttpError(f"connect failed: {exc.strerror or exc}") from None

    def request(
        self,
        data: bytes,
        timeout: float,
        method: str = "GET",
        keep_headers: bool = False,
        *,
        idempotent: bool | None = None,
        keep_body: bool = True,
        max_body: int | None = None,
        want: bytes | None = None,
    ) -> Response:
        """Send one pre-encoded request and read its response within `timeout` seconds in all (connect,
        send and every read). A reused connection the server had closed is re-sent once on a fresh one
        only if the request is idempotent (RFC 9110 9.2.2; `idempotent` defaults from the method): the
        server may have applied a POST before closing. A body over `max_body` bytes is an error; with
        `keep_body` false the body is read and discarded. `want`: the lower-case name of one header whose
        value the response carries in `wanted`."""
        now = time.monotonic()
        deadline = now + timeout
        resendable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if self.sock is not None and (
            ((not resendable or now - self.idle_since > CHECK_AFTER_IDLE_S) and bool(self.poller.poll(0)))
            if self.raw is not None
            else _dropped(self.sock)
        ):
            self.close()  # closed while idle: reconnect before sending, nothing was sent
        reused = self.sock is not None
        try:
            return self._exchange(data, deadline, method, keep_headers, keep_body, max_body, want)
        except _StaleConnection:
            self.close()
            if not reused:
                raise HttpError(_closed_fresh(self.tls)) from None
            if not resendable:
                raise HttpError(
                    f"connection closed by server before a response; {method} not re-sent (not idempotent)"
                ) from None
            try:
                return self._exchange(data, deadline, method, keep_headers, keep_body, max_body, want)
            except _StaleConnection:
                self.close()
                raise HttpError("connection closed by server before a response") from None
        except BaseException:
            self.close()
            raise

    def _exchange(
        self,
        data: bytes,
        deadline: float,
        method: str,
        keep_headers: bool,
        keep_body: bool,
        max_body: int | None,
        want: bytes | None,
    ) -> Response:
        self.connecting_us = self.tls_us = 0
        if self.sock is None:
            began = time.perf_counter()
            self.sock = self._connect(deadline) if self.transport is None else self._open(self.transport, deadline)
            self.connecting_us = max(1, int((time.perf_counter() - began) * 1e6))  # 0 says reused
            if not self.tls and all(hasattr(self.sock, a) for a in _GEVENT_SOCKET_ATTRS):
                self.raw = self.sock._sock  # type: ignore[union-attr]
                self.collector = _Collector(keep_headers, keep_body, max_body, want)
                self.collector.parser = httptools.HttpResponseParser(self.collector)
                self.buffer = _RECEIVE_BUFFER
                self.poller = _poller(self.raw)
        if self.raw is not None:
            return self._exchange_gevent(data, deadline, method, keep_headers, keep_body, max_body, want)
        collector = _HeaderCollector(keep_headers, keep_body, max_body, want, self.server_timing)
        sock = self.sock
        try:
            sock.settimeout(_remaining(deadline))
            sent = sock.send(data)
            if sent < len(data):
                sock.sendall(data[sent:])
        except TimeoutError:
            raise HttpError("read timeout") from None
        except OSError:
            raise _StaleConnection from None
        collector.parser = httptools.HttpResponseParser(collector)
        received = False
        sent_at = time.perf_counter()
        while not collector.complete:
            try:
                sock.settimeout(_remaining(deadline))  # each wait ends at the request's deadline
                chunk = sock.recv(65536)
            except TimeoutError:
                raise HttpError("read timeout") from None
            except ssl.SSLError as exc:  # e.g. the server refused our client certificate (mTLS)
                reason = str(exc.reason or exc)
                if not received and "CERTIFICATE" not in reason.upper():
                    reason += " before a response (does the server require a client certificate? tls.client_cert)"
                raise HttpError(f"TLS error: {reason}") from None
            except ConnectionResetError:
                if not received:
                    raise _StaleConnection from None
                raise HttpError("connection reset by server") from None
            except OSError as exc:
                raise HttpError(f"receive failed: {exc.strerror or exc}") from None
            if self._feed(collector, chunk, not received, sent_at, method):
                break
            received = True
        keep = (collector.complete or method == "HEAD") and collector.keep_alive and not collector.stray
        if not keep:
            self.close()
        self.receiving_us = int((time.perf_counter() - self.first_at) * 1e6)
        wanted = collector.wanted.decode("latin-1") if collector.wanted is not None else None
        body = b"".join(collector.body)
        return Response(collector.status, collector.headers, body, keep, wanted, collector.special, collector.size,
                        collector.timing_value)

    def _feed(self, collector: _Collector, data: bytes | memoryview, first: bool, sent_at: float, method: str) -> bool:
        """One read's bytes into the response parser (empty: the server closed); True when the response
        ends with them. The first bytes of a response stamp its waiting time (time to first byte: an interim
        1xx response's first byte counts, see `waiting_us`)."""
        if not data:
            if first:
                raise _StaleConnection
            if collector.headers_done and not collector.keep_alive and not collector.framed:
                return True  # no length and no chunks: the body ends when the server closes
            raise HttpError("connection closed mid-response")
        if first:
            self.first_at = now = time.perf_counter()
            self.waiting_us = int((now - sent_at) * 1e6)
        in_head = not collector.headers_done
        if in_head:
            room = self.max_head - collector.head
            if len(data) > room:  # the head must end within the bound: parse up to it, then see
                if room:
                    self._parse(collector, data[:room], first)
                if not collector.headers_done:
                    raise HttpError(f"response head over {size_text(self.max_head)} (max_response_head)")
                if not collector.keep_alive:
                    _note_framing(collector, data[:room])
                in_head = first = False
                data = data[room:]
                if not data:
                    return method == "HEAD"
            else:
                collector.head += len(data)
        self._parse(collector, data, first)
        if in_head:
            if not collector.headers_done:  # the head goes on in the next read: kept, for _refused
                collector.early = bytes(data) if first else collector.early + bytes(data)
            elif not collector.keep_alive:  # a kept-alive one has a length
                _note_framing(collector, data)
        if collector.too_large:
            raise HttpError(f"response body over {collector.max_body} bytes (max_response_body)")
        return method == "HEAD" and collector.headers_done  # a HEAD response has headers only

    def _exchange_gevent(
        self,
        data: bytes,
        deadline: float,
        method: str,
        keep_headers: bool,
        keep_body: bool,
        max_body: int | None,
        want: bytes | None,
    ) -> Response:
        """`_exchange` on a plain gevent socket, with the same outcomes and errors, in fewer steps: the
        connection's deadline timer for the whole exchange (instead of a Timeout object per wait), one `send`, and
        `recv_into` a reused buffer only once the socket is readable (no EAGAIN round first); the parser
        and collector live as long as the connection."""
        sock, raw, buffer = self.sock, self.raw, self.buffer
        assert sock is not None and buffer is not None
        collector: _Collector | None = None  # picked by the response's first bytes (see _collector_for)
        left = deadline - time.monotonic()
        if left <= 0:
            raise HttpError("read timeout")
        hub = sock.hub  # type: ignore[attr-defined]
        timer = self.timer
        if timer is None or not 0.0 <= self.timer_after - left < _TIMER_SLACK_S:
            if timer is not None:
                timer.close()
            # a repeating timer: `again` sets it to `repeat` seconds from now each time (a stopped timer's
            # `start` would resume what was left of its previous countdown: libev keeps the remainder)
            timer = self.timer = hub.loop.timer(left, left)
            self.timer_after = left
        timer.again(getcurrent().throw, _Deadline)  # updates the loop's clock first
        try:
            try:
                sent = raw.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                raise _StaleConnection from None
            while sent < len(data):  # a body larger than the socket's send buffer
                hub.wait(sock._write_event)  # type: ignore[attr-defined]
                try:
                    sent += raw.send(memoryview(data)[sent:])
                except BlockingIOError:
                    pass
                except OSError:
                    raise _StaleConnection from None
            received = False
            sent_at = time.perf_counter()
            read_event = sock._read_event  # type: ignore[attr-defined]
            ready = False  # right after a send the answer is not there yet: wait first, then read
            while collector is None or not collector.complete:
                if not ready:
                    hub.wait(read_event)
                try:
                    n = raw.recv_into(buffer)
                except BlockingIOError:
                    ready = False
                    continue
                except ConnectionResetError:
                    if not received:
                        raise _StaleConnection from None
                    raise HttpError("connection reset by server") from None
                except OSError as exc:
                    raise HttpError(f"receive failed: {exc.strerror or exc}") from None
                ready = True  # more may be waiting: read again before waiting
                if collector is None:
                    collector = self._collector_for(buffer, n, want, keep_headers)
                    collector.reset(keep_headers, keep_body, max_body, want, self.server_timing)
                    if collector is self.collector:  # the head's Server-Timing, when asked for (_collector_for)
                        collector.timing_value = self.head_timing
                if self._feed(collector, memoryview(buffer)[:n], not received, sent_at, method):
                    break
                received = True
        except _Deadline:
            raise HttpError("read timeout") from None
        finally:
            timer.stop()
        assert collector is not None
        keep = (collector.complete or method == "HEAD") and collector.keep_alive and not collector.stray
        if not keep:
            self.close()
        else:
            self.idle_since = time.monotonic()
            if method == "HEAD":  # the parser would read the next response's first bytes as this one's body
                collector.parser = httptools.HttpResponseParser(collector)
        self.receiving_us = int((time.perf_counter() - self.first_at) * 1e6)
        wanted = collector.wanted.decode("latin-1") if collector.wanted is not None else None
        body = b"".join(collector.body) if collector.body else b""
        return Response(collector.status, collector.headers, body, keep, wanted, collector.special, collector.size,
                        collector.timing_value)

    def _parse(self, collector: _Collector, data: bytes | memoryview, first: bool) -> None:
        """`data` into the collector's parser; `first`: it holds the response from its first byte."""
        try:
            collector.parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            raise HttpError("unexpected protocol upgrade") from None
        except httptools.HttpParserError as exc:
            self._refused(collector, data, first, exc)

    def _refused(self, collector: _Collector, data: bytes | memoryview, first: bool, exc: Exception) -> None:
        """What follows the parser's refusal of `data`: a head with obs-fold is parsed again, unfolded (it returns);
        anything else raises HttpError, saying what happened where it can (client/framing.py): bytes past the
        response's end (a Content-Length shorter than the body: they fail the request that reads them, whichever
        that is), or the parser's reason."""
        if collector.complete:
            raise HttpError(stray_after(bytes(data) if first else None)) from None
        if not collector.headers_done:
            raw = bytes(data) if first else collector.early + bytes(data)
            if not raw.lstrip(b"\r\n").startswith(b"HTTP/"):
                if first and self.connecting_us == 0:  # a reused connection: the previous response's rest
                    raise HttpError(stray_before(raw)) from None
            elif len(unfold_heads(raw)[0]) < len(raw):
                self._unfold(collector, raw)
                return
        raise HttpError(f"invalid HTTP response: {exc}") from None

    @staticmethod
    def _unfold(collector: _Collector, raw: bytes) -> None:
        """The response parsed again from its first byte (`raw`: what was read of it), each obs-fold in its heads
        replaced by one SP (RFC 9112 5.2), by a new parser (framing.Unfolder) once the head has ended: what the
        values say unfolded is what counts, framing included, and llhttp's checks (one length, not two; not
        both Content-Length and chunked) apply to them."""
        collector.headers.clear()
        collector.special = collector.wanted = collector.timing_value = None
        collector.framed = False
        unfolder = Unfolder(collector, b"", type(collector) is _Collector and collector.timing)
        collector.parser = unfolder  # type: ignore[assignment]  # only fed until the head has ended
        try:
            unfolder.feed_data(raw)
        except httptools.HttpParserUpgrade:
            raise HttpError("unexpected protocol upgrade") from None
        except httptools.HttpParserError as exc:
            if collector.complete:
                raise HttpError(stray_after(raw)) from None
            raise HttpError(f"invalid HTTP response: {exc}") from None

    def _collector_for(self, buffer: bytearray, n: int, want: bytes | None, keep_headers: bool) -> _Collector:
        """The plain collector when the response's first `n` bytes hold its whole head, it is not a 1xx, its
        headers are not kept, and none of Set-Cookie, Location, Content-Encoding or the header asked for
        (`want`: the queries-per-request header) is in it; else the one that looks at every header (made
        once per connection). A connection that asks for Server-Timing finds it in the same one search
        over the head (`head_timing`, kept for the plain collector)."""
        self.head_timing = None
        if not keep_headers and n > 12 and buffer[9] != _ONE:
            end = buffer.find(b"\r\n\r\n", 0, n)
            if end > 0:
                pattern = _head_pattern(want, self.server_timing)
                m = pattern.search(buffer, 0, end)  # the common response: no match, one search either way
                if m is None or (pattern.groups and not self._special_from(buffer, end, pattern, m)):
                    assert self.collector is not None
                    return self.collector
        if self.full is None:
            self.full = _HeaderCollector(False, True, None, None)
            self.full.parser = httptools.HttpResponseParser(self.full)
        return self.full

    def _special_or_timing(self, buffer: bytearray, end: int, want: bytes | None) -> bool:
        """True when the head (`buffer[:end]`) names a header the fast path hands over; else its Server-Timing
        lines' values, joined, are in `head_timing` (None: none). One pass over the head either way."""
        pattern = _head_pattern(want, True)
        m = pattern.search(buffer, 0, end)
        if not pattern.groups:  # Server-Timing is the header asked for (queries per request): the full collector
            return m is not None
        self.head_timing = None
        return m is not None and self._special_from(buffer, end, pattern, m)

    def _special_from(self, buffer: bytearray, end: int, pattern: re.Pattern[bytes], m: re.Match[bytes] | None) -> bool:
        """`_special_or_timing` from the head's first match `m` of `pattern` on."""
        values = []
        while m is not None:
            if m.group(1) is None:
                return True
            pos = buffer.find(b"\r\n", m.end(), end + 2)
            values.append(bytes(buffer[m.end() : pos]).strip())
            m = pattern.search(buffer, pos, end)
        self.head_timing = b", ".join(values)
        return False


def _note_framing(collector: _Collector, data: bytes | memoryview) -> None:
    """The plain collector's `framed`, from the head its response's first read holds whole (_collector_for):
    it sees no header lines. Asked only of a response that is not kept alive (one that is has a length)."""
    if type(collector) is not _Collector:
        return
    head = bytes(data)
    end = head.find(b"\r\n\r\n")
    framed = False
    for line in unfold(head[: max(end, 0)]).split(b"\r\n")[1:]:  # folded lines, one (obs-fold: RFC 9112 5.2)
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in _FRAMING:
            framed = _frames(name, value, framed)
    collector.framed = framed


def _frames(name: bytes, value: bytes, framed: bool) -> bool:
    """`framed` after one more header line: Content-Length gives a length; Transfer-Encoding does when its
    last coding is chunked (a later one decides: the lines are one list); llhttp refuses both in one head."""
    if len(name) == 14:  # content-length
        return True
    return value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"


def _head_pattern(want: bytes | None, timing: bool = False) -> re.Pattern[bytes]:
    """A head line naming a header the fast path hands over (cookies, redirects, decoding: client/hops.py)
    or the one asked for; any whitespace around the name counts too, so that no spelling llhttp accepts
    slips through. With `timing`, a Server-Timing line matches too, as group 1. One pattern per header
    asked for (a run asks for one)."""
    timing = timing and want != SERVER_TIMING  # counted as queries per request: the full collector keeps both
    pattern = _HEAD_PATTERNS.get((want, timing))
    if pattern is None:
        names = [b"set-cookie", b"location", b"content-encoding"] + ([re.escape(want)] if want else [])
        first = b"(" + SERVER_TIMING + b")|" if timing else b""
        pattern = re.compile(rb"\n[ \t]*(?:" + first + b"|".join(names) + rb")[ \t]*:", re.IGNORECASE)
        if len(_HEAD_PATTERNS) < 16:
            _HEAD_PATTERNS[(want, timing)] = pattern
    return pattern


SERVER_TIMING = b"server-timing"
_HEAD_PATTERNS: dict[tuple[bytes | None, bool], re.Pattern[bytes]] = {}
_ONE = ord("1")  # the first digit of a 1xx status ("HTTP/1.1 1..": index 9)

# the fast path's receive buffer, one per process: read into and parsed (httptools copies what it keeps)
# without a switch in between, so the users of one event loop can share it; a buffer per connection
# would cost 64 KiB a user (640 MB at 10,000 users)
_RECEIVE_BUFFER = bytearray(65536)

# what a gevent socket (gevent._socket3.socket) has that the fast path uses
_GEVENT_SOCKET_ATTRS = frozenset(("_sock", "_read_event", "_write_event", "hub"))


# A connection reused within this long of its last response is not polled first when its request may be
# re-sent (a syscall, about 2 % of a request's CPU at full speed): a server that closes a kept-alive
# connection does so after an idle timeout of seconds, or says `Connection: close` (then it is not
# reused); if one closes it sooner anyway, the idempotent request is re-sent on a fresh connection as
# after any stale connection. A request that may not be re-sent (a POST) always polls first.
CHECK_AFTER_IDLE_S = 0.002
_TIMER_SLACK_S = 0.001  # an exchange reuses the connection's deadline timer when it would fire this close


class _Deadline(Exception):
    """Thrown into a waiting user by its request's deadline timer."""


def _connect_gevent(sock: Any, address: Any, wait: float) -> None:
    """gevent's `connect` in fewer steps (a 10,000-user ramp opens 2,000 connections a second): the raw
    socket's non-blocking connect, one wait until it is writable under one timer, its outcome from SO_ERROR.
    Raises what `connect` raises: TimeoutError, or OSError (ConnectionRefusedError ...) with the errno."""
    raw = sock._sock
    err = raw.connect_ex(address)
    if err in _IN_PROGRESS:
        timer = sock.hub.loop.timer(wait)
        timer.start(getcurrent().throw, _Deadline, update=True)
        try:
            sock.hub.wait(sock._write_event)
        except _Deadline:
            raise TimeoutError from None
        finally:
            timer.stop()
            timer.close()
        err = raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, os.strerror(err))  # OSError picks the subclass for the errno


_IN_PROGRESS = frozenset((errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK))


_POLL: Any = None  # the standard library's select.poll, under gevent's patch


def _poller(raw: Any) -> Any:
    """A poll(2) set of the raw socket alone: `poll(0)` says, in one syscall and without raising, whether a
    kept-alive connection was closed (or sent bytes nobody asked for) while idle; either way it is not reused.
    The standard library's poll, not gevent's cooperative one (this must not wait)."""
    global _POLL
    if _POLL is None:  # looked up once (a 10,000-user ramp opens 2,000 connections a second)
        # what the process loaded, not an import (this folder imports no gevent): without gevent.monkey
        # loaded nothing is patched and select.poll is the standard library's
        monkey = sys.modules.get("gevent.monkey")
        _POLL = select.poll if monkey is None else monkey.get_original("select", "poll")
    poller = _POLL()
    poller.register(raw.fileno(), select.POLLIN | select.POLLPRI | getattr(select, "POLLRDHUP", 0))  # Linux's
    return poller


_SPECIAL = frozenset((b"set-cookie", b"location", b"content-encoding"))
_SPECIAL_LENGTHS = frozenset(len(name) for name in _SPECIAL)
_FRAMING = frozenset((b"content-length", b"transfer-encoding"))
_FRAMING_LENGTHS = frozenset(len(name) for name in _FRAMING)


def _tunnel(sock: socket.socket, proxy: Proxy, host: str, port: int, deadline: float) -> None:
    """HTTPS through an HTTP proxy: CONNECT host:port, then the socket is a tunnel to the target."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{proxy.header_line}\r\n"
    reply = b""
    try:
        sock.settimeout(_remaining(deadline))
        sock.sendall(request.encode("latin-1"))
        while b"\r\n\r\n" not in reply:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
            if len(reply) > 65536:
                break
    except TimeoutError:
        sock.close()
        raise HttpError("proxy CONNECT timeout") from None
    except OSError as exc:
        sock.close()
        raise HttpError(f"proxy CONNECT failed: {exc.strerror or exc}") from None
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].startswith("2") or b"\r\n\r\n" not in reply:
        sock.close()
        raise HttpError(f"proxy {proxy.shown} refused CONNECT to {authority}: {status_line[:80] or 'no answer'}")


def _closed_fresh(tls: bool) -> str:
    if tls:  # TLS 1.3: a server refuses a missing client certificate only after the client's handshake is done
        return (
            "connection closed by server right after the TLS handshake "
            "(does it require a client certificate? tls.client_cert)"
        )
    return "connection closed by server before a response"


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _dropped(sock: Stream) -> bool:
    """True if a kept-alive connection is no longer usable: the peer closed it (or sent stray bytes)."""
    try:  # poll(2), not select(2): select refuses a descriptor past 1,023, and a process with many open
        # files (a long controller, a test process) would then drop every kept-alive connection
        if not _poller(sock).poll(0):
            return False
    except (OSError, ValueError):
        return True
    try:
        sock.settimeout(0.0)
        sock.recv(1)  # b"" (closed) or bytes nobody asked for: either way not a connection to reuse
        return True
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False  # TLS housekeeping (session tickets), no application data: still usable
    except OSError:
        return True


class _StaleConnection(Exception):
    """A kept-alive connection the server had already closed: safe to retry once."""
