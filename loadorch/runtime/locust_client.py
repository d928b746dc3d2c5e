"""`client: locust`: requests through Locust's FastHttpSession, for what the lean path does not do
(cookies kept across requests, redirects followed). Measured, checked and recorded like the lean path.

Redirects are followed here, hop by hop, so every hop's host is checked against `allowed_hosts`; the
target's own name connects only to the addresses preflight checked, other names are re-checked when
they are resolved; the whole request, hops included, is bounded by one deadline.

Timings as the lean path records them, of the response the outcome describes (the last hop, as k6's
`res.timings`): `http_req_connecting` is the TCP connect and TLS handshake of that hop (0 on a reused
connection; name resolution not included), `http_req_waiting` runs from when the connection is ready
to send until the response's headers are parsed (it includes sending the request, microseconds for a
small one; the lean path starts it after the send).
"""

from __future__ import annotations

import socket
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import gevent
from gevent.local import local
from geventhttpclient.connectionpool import ConnectionPool
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment

from loadorch.client.vu import DEFAULT_MAX_BODY, UserCredentials, jar_values, own_redactor, wire_path
from loadorch.db.servertiming import QueryHeader
from loadorch.errors import LoadorchError
from loadorch.hosts import check_allowed, resolve
from loadorch.runtime.headbound import ResponseHeadTooLarge, header_text
from loadorch.traffic.redact import NO_SECRETS, Redactor, masked_reason
from loadorch.traffic.request import (
    READ_TIMEOUT,
    Captured,
    CompiledRequest,
    HeaderValues,
    Origin,
    Outcome,
    check,
    encode_body,
    failed_example,
    quote_path,
    service_us,
    timeout_reason,
)
from loadorch.traffic.template import Lookup
from loadorch.traffic.trace import HEADER, TraceIds

REDIRECTS = frozenset((301, 302, 303, 307, 308))
ALL_STATUSES = frozenset(range(100, 1000))
DECODERS: dict[str, Callable[[], Any]] = {
    "identity": lambda: None,
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),
}
MAX_HOPS = 10


class _Deadline(BaseException):
    """The request's deadline passed (not an Exception: FastHttpSession must not swallow it as gevent's
    Timeout, which it records and then carries on with)."""


class LocustClientRunner:
    """A RequestRunner over geventhttpclient, with cookies and redirects."""

    redactor: Redactor = NO_SECRETS  # the run's secrets, masked in errors and check examples before any cut
    tracer: TraceIds | None = None  # the worker's trace ids: a W3C traceparent on each request (None: none)
    stopped: tuple[CompiledRequest, float] | None = None  # RequestRunner.stopped

    def __init__(
        self,
        origin: Origin,
        timeout: float,
        environment: Environment,
        allowed_hosts: Sequence[str] = (),
        addresses: Sequence[str] = (),
        max_body: int = DEFAULT_MAX_BODY,
        query_header: QueryHeader | None = None,
        max_redirects: int = MAX_HOPS,
    ) -> None:
        self.max_redirects = max_redirects
        self.tokens = UserCredentials()  # the tokens this user captured (client/vu.py)
        self.query_header = query_header or QueryHeader()
        self.headers = HeaderValues()  # each templated header's value checked once (traffic/request.py)
        self.base = f"{origin.scheme}://{origin.host_header}"
        self.origin = origin
        self.prefix = origin.prefix
        self.timeout = timeout
        self.allowed_hosts = tuple(allowed_hosts)
        self.max_body = max_body
        guard_resolution(origin.host, origin.port, tuple(addresses), self.allowed_hosts)
        time_connections()
        self.session = FastHttpSession(
            self.base,
            environment.events.request,
            None,
            insecure=False,
            connection_timeout=min(timeout, 10.0),
            network_timeout=timeout,
        )
        # every status is a response to read here (_read: bounded, decoded, kept for the checks): geventhttpclient's
        # own list made a 4xx or 5xx an error whose body it had read whole (unbounded, as UTF-8) and kept from us,
        # so `expect: {status: [404], contains: ...}` and a capture from a 4xx could never hold
        self.session.client.valid_response_codes = ALL_STATUSES  # type: ignore[misc]  # its ClassVar, for this one

    def close(self) -> None:
        self.session.client.clientpool.close()

    def run(
        self,
        req: CompiledRequest,
        lookup: Lookup,
        captured: Captured,
        intended: float | None = None,
    ) -> Outcome:
        path = wire_path(self.prefix + req.path.render_text(lookup, quote_path))
        headers = dict(req.static_headers)  # Content-Type for json and form bodies included
        # as the lean client sends them: CR and LF as spaces, what no header can carry a RenderError (geventhttpclient
        # would raise a ValueError out of the user)
        checked = self.headers.value
        rendered = [(name, checked(template.render_text(lookup), name)) for name, template in req.dynamic_headers]
        headers.update(rendered)
        # a credential rendered now (a captured token): masked in what this request shows, with the run's secrets
        mine = self.tokens.mask  # the tokens this user captured (None: none), masked wherever they show
        if req.secret_headers:
            mine = own_redactor(rendered, mine or self.redactor)
        redactor = mine or self.redactor
        if not any(k.lower() == "accept-encoding" for k in headers):
            headers["Accept-Encoding"] = "gzip, deflate"  # encodings decoded here within max_response_body
        body = encode_body(req, lookup)
        trace_id = None
        if self.tracer is not None and not req.own_traceparent:
            trace_id, line = self.tracer.next()
            headers[HEADER] = line[len(HEADER) + 2 : -2]
        start = time.perf_counter()
        origin = start if intended is None else min(intended, start)
        error: str | None = None
        resp: Any = None
        try:
            with gevent.Timeout(req.timeout or self.timeout, _Deadline):  # the whole request: every hop, every read
                resp, error = self._follow(req, path, body, headers)
                content = b""
                if error is None:
                    content, error = self._read(resp, req.reads_body)
        except _Deadline:
            self.close()  # connections left mid-response cannot go back to the pool
            resp, error = None, timeout_reason(READ_TIMEOUT, req.timeout or self.timeout, req.timeout is not None)
        except gevent.GreenletExit:  # the run stopped this user while the target had not answered: counted apart
            self.stopped = (req, time.perf_counter() - start)
            raise
        end = time.perf_counter()
        jar = self.session.cookiejar
        if jar:  # the session's cookies (a login's Set-Cookie, a redirect's on the way): masked like a Cookie header
            redactor = mine = redactor.plus(jar_values(jar))
        service = service_us(intended, start, end)
        latency = int((end - origin) * 1e6)
        status = 0 if resp is None else int(resp.status_code or 0)
        if status == 0 or error is not None:  # no response, timed out, or a redirect refused (its 3xx kept)
            failed = getattr(resp, "error", None)
            reason = error or (str(failed) if isinstance(failed, ResponseHeadTooLarge) else f"request failed: {failed}")
            # geventhttpclient's errors name the URL (`URL http://.../callback?token=...: 3, original=timed out`):
            # its credential parameters masked as the lean client's reasons' are
            reason = masked_reason(reason, redactor)
            return Outcome(status, False, reason, latency, path, body, service, trace_id=trace_id, redactor=mine)
        if req.secret_captures:  # a login: the credentials it returns, masked from its own check's example on
            redactor = mine = self.tokens.found(req, content, redactor)
        results: list[bool] | None = [] if req.checks else None
        failure = check(req, status, content, lookup, captured, results, redactor)
        if req.secret_captures:
            self.tokens.keep(req, captured, self.redactor)
        queries = self.query_header.count(header_text(resp.headers, self.query_header.name))
        if failure is None:
            outcome = Outcome(status, True, None, latency, path, body, service, queries)
        else:
            outcome = Outcome(status, False, failure[0], latency, path, body, service, queries, example=failure[1])
        timings = getattr(resp, "lo_timings", None)
        if timings is not None:
            outcome.waiting_us, outcome.connecting_us = timings
            # geventhttpclient times TCP and TLS as one connect: the TLS share is not measured on https
            outcome.tls_us = 0 if self.origin.scheme == "http" else None
        outcome.trace_id, outcome.size, outcome.redactor = trace_id, getattr(resp, "lo_size", None), mine
        outcome.server_timing = header_text(resp.headers, "Server-Timing")
        if results:
            outcome.checks = tuple(results)
            outcome.check_example = None if all(results) else failed_example(status, content, redactor=redactor)
        return outcome

    def _follow(
        self, req: CompiledRequest, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[Any, str | None]:
        """Send, then follow redirects as a browser does, refusing any hop outside allowed_hosts."""
        method, url, current = req.method, path, self.base + path
        for _ in range(self.max_redirects + 1):
            _HOP.connecting_us, _HOP.ready_at = 0, None
            resp: Any = self.session.request(
                method,
                url,
                name=req.name,
                data=body,  # type: ignore[arg-type]
                headers=headers,
                allow_redirects=False,
                stream=True,  # the body is read here, bounded
            )
            self._timed(resp)
            location = header_text(resp.headers, "Location", first=True)
            if int(resp.status_code or 0) not in REDIRECTS or not location or self.max_redirects == 0:
                return resp, None
            _, error = self._read(resp, False)
            if error is not None:
                return resp, error
            try:
                url = current = urljoin(current, location)
            except ValueError:  # an IPv6 host not closed (`http://[::1/x`): the target's answer, a failed request
                return resp, "redirect to an invalid URL"
            refused = self._refused(url)
            if refused:
                return resp, refused
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
        return resp, f"more than {self.max_redirects} redirects (max_redirects)"

    @staticmethod
    def _timed(resp: Any) -> None:
        """Note this hop's connect time and time to first byte on the response (see the module's docstring)."""
        ready = _HOP.ready_at
        resp.lo_timings = None if ready is None else (int((time.perf_counter() - ready) * 1e6), _HOP.connecting_us)

    def _read(self, resp: Any, keep: bool) -> tuple[bytes, str | None]:
        """The response body, decoded, at most max_body bytes (else an error and the connection closed);
        not kept unless a check or capture reads it."""
        raw = getattr(resp, "stream", None)
        if raw is None or resp.headers is None:
            return b"", None  # no response (its error is reported from the status)
        encoding = (header_text(resp.headers, "Content-Encoding") or "identity").strip().lower()
        if encoding not in DECODERS:
            self.close()
            return b"", f"unsupported Content-Encoding {encoding!r}; send an Accept-Encoding header without it"
        decoder = DECODERS[encoding]()
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = raw.read(65536)
            if not chunk:
                break
            data = decoder.decompress(chunk, self.max_body + 1 - size) if decoder is not None else chunk
            size += len(data)
            if size > self.max_body:
                self.close()  # the rest of the body is still on the wire: the connection cannot be reused
                return b"", f"response body over {self.max_body} bytes (max_response_body)"
            if keep:
                parts.append(data)
        resp.release()
        resp.lo_size = size
        return b"".join(parts), None

    def _refused(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"redirect to {parts.scheme}: refused"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of range or not a number (urllib raises it when asked)
            return "redirect to an invalid URL"
        if (parts.hostname, port) == (self.origin.host, self.origin.port):
            return None  # the target itself: checked by preflight, connected by its pinned addresses
        try:
            check_allowed(url, self.allowed_hosts, resolve(parts.hostname or "", port))
        except LoadorchError as exc:
            return f"redirect to {parts.hostname} refused: {exc}"[:200]
        return None


_ORIGINAL_RESOLVE = ConnectionPool._resolve
_ORIGINAL_CREATE = ConnectionPool._create_socket
_ORIGINAL_GET = ConnectionPool.get_socket
_HOP = local()  # per greenlet (one virtual user): the current hop's connect time and when it was ready to send


def _create_socket(self: ConnectionPool) -> Any:
    """A new connection (TCP, and TLS for https): its time, without name resolution, is the hop's connect time."""
    _HOP.resolving_us = 0
    began = time.perf_counter()
    sock = _ORIGINAL_CREATE(self)
    spent = int((time.perf_counter() - began) * 1e6) - getattr(_HOP, "resolving_us", 0)
    _HOP.connecting_us = getattr(_HOP, "connecting_us", 0) + max(0, spent)
    return sock


def _get_socket(self: ConnectionPool) -> Any:
    """The connection the request goes out on (pooled or new): the time to first byte starts here."""
    sock = _ORIGINAL_GET(self)
    _HOP.ready_at = time.perf_counter()
    return sock


def guard_resolution(host: str, port: int, pinned: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """Every connection geventhttpclient opens: the target's name goes to the addresses preflight
    checked; any other name must resolve inside allowed_hosts, checked at connect time (DNS may move).
    Installed once per process (every user of a worker has the same target); calling again replaces it."""
    original = _ORIGINAL_RESOLVE

    def _resolve(self: ConnectionPool) -> Any:
        began = time.perf_counter()
        try:
            return _pinned_or_checked(self)
        finally:
            _HOP.resolving_us = getattr(_HOP, "resolving_us", 0) + int((time.perf_counter() - began) * 1e6)

    def _pinned_or_checked(self: ConnectionPool) -> Any:
        name, number = self._connection_host, self._connection_port
        if pinned and (name, number) == (host, port):
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, number, 0, 0))
                if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, number))
                for ip in pinned
            ]
        infos = original(self)
        try:
            check_allowed(f"http://{name}:{number}", allowed, sorted({str(i[4][0]) for i in infos}))
        except LoadorchError as exc:
            raise OSError(str(exc)) from None  # a failed request (FastHttpSession's error path)
        return infos

    ConnectionPool._resolve = _resolve  # type: ignore[method-assign]


def time_connections() -> None:
    """Time every connection geventhttpclient opens and when each request's connection is ready (per greenlet)."""
    ConnectionPool._create_socket = _create_socket  # type: ignore[method-assign]
    ConnectionPool.get_socket = _get_socket  # type: ignore[method-assign]
