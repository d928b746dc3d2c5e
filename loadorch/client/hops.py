"""The lean client beyond its fast path: cookies kept, redirects followed hop by hop (allowed_hosts checked
on every hop), bodies decoded. LeanRunner hands a response over only when it carries Set-Cookie, Location
or Content-Encoding, so a target that uses none of them never runs a line of this module.

A followed redirect is one request in the results: its latency runs from the first send to the final
response, its status and checks are the final response's, its name is the request's.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadorch.client.http import IDEMPOTENT_METHODS, Connection, HttpError, Response
from loadorch.config.tls import context_for
from loadorch.errors import LoadorchError
from loadorch.hosts import check_allowed, resolve
from loadorch.traffic.cookies import CookieJar
from loadorch.traffic.encodings import DecodeError, decode
from loadorch.traffic.proxies import Proxy, ProxyError, proxy_for
from loadorch.traffic.redirects import (
    DEFAULT_MAX_REDIRECTS,
    REDIRECTS,
    Hop,
    RedirectError,
    header_lines,
    next_hop,
    next_method,
)


@dataclass(frozen=True)
class HttpOptions:
    """What a scenario and profile ask of the lean client beyond the fast path (shared by its users)."""

    max_redirects: int = DEFAULT_MAX_REDIRECTS
    cookies: bool = True
    allowed_hosts: tuple[str, ...] = ()
    ssl_context: Any = None  # ssl.SSLContext from the profile's tls: settings, or None
    proxy_for: Callable[[str, str], Proxy | None] = field(default=lambda scheme, host: None)


def http_options(
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    cookies: bool = True,
    allowed_hosts: Sequence[str] = (),
    tls: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> HttpOptions:
    """The options from a plan's fields: the SSL context built once (config/tls.py caches it per process),
    proxies read from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) as it is now."""
    context = None if tls is None else context_for(tls)
    environ = dict(os.environ if env is None else env)

    @functools.lru_cache(maxsize=256)  # per (scheme, host): the environment read once, not per user or hop
    def proxy(scheme: str, host: str) -> Proxy | None:
        return proxy_for(scheme, host, environ)

    return HttpOptions(max_redirects, cookies, tuple(allowed_hosts), context, proxy)


class Hops:
    """One virtual user's cookie jar and its connections to hosts other than the target."""

    def __init__(self, options: HttpOptions, origin: Hop, conn: Connection, timeout: float, max_body: int) -> None:
        self.options = options
        self.origin = origin
        self.conn = conn
        self.timeout = timeout
        self.max_body = max_body
        self.jar = CookieJar()
        self.others: dict[tuple[str, str, int], Connection] = {}

    def close(self) -> None:
        for conn in self.others.values():
            conn.close()
        self.others.clear()

    def cookie_line(self, hop: Hop) -> str:
        value = self.jar.header(hop.scheme, hop.host, hop.path, time.time())
        return f"Cookie: {value}\r\n" if value else ""

    def finish(
        self,
        resp: Response,
        method: str,
        first: Hop,
        head: str,
        body: bytes | None,
        deadline: float,
        idempotent: bool,
        keep_body: bool,
        want: bytes | None,
        end: float,
    ) -> tuple[Response, float, str | None]:
        """Cookies stored, redirects followed, the final body decoded if a check or capture reads it:
        (the final response, when it arrived, an error or None). `head` holds the request's own header
        lines; `deadline` bounds every hop."""
        hop, hops = first, 0
        while True:
            location = self._take(resp, hop)
            if location is None or resp.status not in REDIRECTS or self.options.max_redirects == 0:
                break
            if hops >= self.options.max_redirects:
                return resp, end, f"more than {self.options.max_redirects} redirects (max_redirects)"
            try:
                nxt = next_hop(hop, location)
            except RedirectError as exc:
                return resp, end, str(exc)
            conn, refused = self._connection(nxt)
            if conn is None:
                return resp, end, refused
            method, keep = next_method(resp.status, method)
            cross = nxt.host != hop.host
            lines = header_lines(head, cross, not keep)
            head = lines
            body = body if keep else None
            data = self._encode(method, nxt, lines, body, conn)
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HttpError("read timeout")
                resp = conn.request(
                    data,
                    left,
                    method,
                    idempotent=idempotent or method in IDEMPOTENT_METHODS,
                    keep_body=keep_body,
                    max_body=self.max_body,
                    want=want,
                )
            except HttpError as exc:
                return resp, time.perf_counter(), f"redirect to {nxt.url}: {exc}"  # cut by the VU, masked first
            end = time.perf_counter()
            hop, hops = nxt, hops + 1
        if keep_body and resp.body:
            encoding = _joined(resp, b"content-encoding")
            if encoding:
                try:
                    resp.body = decode(encoding, resp.body, self.max_body)
                except DecodeError as exc:
                    return resp, end, str(exc)[:200]
        return resp, end, None

    def _take(self, resp: Response, hop: Hop) -> str | None:
        """Store the response's cookies; its Location, if any."""
        location = None
        now = time.time()
        for name, value in resp.special or ():
            if name == b"set-cookie":
                if self.options.cookies:
                    self.jar.store(value.decode("latin-1"), hop.scheme, hop.host, hop.path, now)
            elif name == b"location":
                location = value.decode("latin-1")
        return location

    def _connection(self, hop: Hop) -> tuple[Connection | None, str | None]:
        """The connection for a hop: the target's own, or one per other origin, opened only after its host
        passed allowed_hosts (the addresses checked are the ones it connects to)."""
        key = (hop.scheme, hop.host, hop.port)
        if key == (self.origin.scheme, self.origin.host, self.origin.port):
            return self.conn, None
        conn = self.others.get(key)
        if conn is not None:
            return conn, None
        try:
            addresses = resolve(hop.host, hop.port)
            check_allowed(hop.url, self.options.allowed_hosts, addresses)
            proxy = self.options.proxy_for(hop.scheme, hop.host)
        except (LoadorchError, ProxyError) as exc:
            return None, f"redirect to {hop.scheme}://{hop.host_header} refused: {exc}"
        conn = Connection(
            hop.host,
            hop.port,
            hop.scheme == "https",
            self.conn.connect_timeout,
            addresses=addresses,
            ssl_context=self.options.ssl_context,
            proxy=proxy,
            max_head=self.conn.max_head,
        )
        self.others[key] = conn
        return conn, None

    def _encode(self, method: str, hop: Hop, lines: str, body: bytes | None, conn: Connection) -> bytes:
        absolute = conn.proxy is not None and not conn.tls
        target = f"{hop.scheme}://{hop.host_header}{hop.target}" if absolute else hop.target
        proxy_line = conn.proxy.header_line if absolute and conn.proxy is not None else ""
        parts = [method, " ", target, " HTTP/1.1\r\nHost: ", hop.host_header, "\r\n", proxy_line, lines]
        if self.jar.cookies and "\ncookie:" not in "\n" + lines.lower():  # the scenario's own Cookie wins
            parts.append(self.cookie_line(hop))
        if body is not None or method in ("POST", "PUT", "PATCH"):
            parts += ["Content-Length: ", str(len(body or b"")), "\r\n"]
        parts.append("\r\n")
        return "".join(parts).encode("latin-1", "replace") + (body or b"")


def _joined(resp: Response, name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in resp.special or () if k == name]
    return ", ".join(values) if values else None
