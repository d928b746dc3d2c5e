"""One virtual user's behaviour, independent of Locust: choose, render, send, check, record.

Requests are compiled once per scenario (templates parsed, constant parts pre-encoded); per request
only the placeholders are rendered. Every random draw comes from the user's own RNG stream.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from loadorch.db.servertiming import QueryHeader
from loadorch.runtime.hops import Hops, HttpOptions
from loadorch.runtime.http import IDEMPOTENT_METHODS, Connection, HttpError
from loadorch.traffic import data as gen
from loadorch.traffic.redirects import Hop
from loadorch.traffic.request import (
    BODY_METHODS,
    CompiledRequest,
    LineSink,
    Origin,
    Outcome,
    RequestRunner,
    check,
    encode_body,
    failed_example,
    header_value,
    quote_path,
    request_log_line,
    service_us,
)
from loadorch.traffic.template import Lookup
from loadorch.verdict.stats import Recorder, SeriesKey

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # the profile's max_response_body when not given

class LeanRunner:
    """The lean client (a RequestRunner): renders, sends and checks a request on the user's own connection."""

    def __init__(
        self,
        origin: Origin,
        timeout: float,
        max_body: int = DEFAULT_MAX_BODY,
        addresses: Sequence[str] = (),
        check_addresses: Callable[[list[str]], None] | None = None,
        query_header: QueryHeader | None = None,
        options: HttpOptions | None = None,
    ) -> None:
        self.origin = origin
        self.timeout = timeout
        self.max_body = max_body
        self.query_header = query_header or QueryHeader()
        options = options or HttpOptions()
        tls = origin.scheme == "https"
        proxy = options.proxy_for(origin.scheme, origin.host)
        # through a plain-http proxy the request line carries the absolute URL; https tunnels (CONNECT)
        self.absolute = f"{origin.scheme}://{origin.host_header}" if proxy is not None and not tls else ""
        auth = proxy.header_line if proxy is not None and not tls else ""
        self.host_line = f" HTTP/1.1\r\nHost: {origin.host_header}\r\n{auth}"
        self.conn = Connection(
            origin.host,
            origin.port,
            tls,
            min(timeout, 10.0),
            addresses=addresses,
            check_addresses=check_addresses,
            ssl_context=options.ssl_context,
            proxy=proxy,
        )
        first = Hop(origin.scheme, origin.host.lower(), origin.port, "/")
        self.hops = Hops(options, first, self.conn, timeout, max_body)
        self.jar = self.hops.jar  # empty until a response sets a cookie: then the Cookie header is added

    def close(self) -> None:
        self.conn.close()
        self.hops.close()

    def run(
        self,
        req: CompiledRequest,
        lookup: Lookup,
        captured: dict[str, Any],
        intended: float | None = None,
    ) -> Outcome:
        """Send and check one request. With `intended` (a perf_counter time: the open model's due time),
        the latency counts from then, and the service time from the actual send is kept as well."""
        target = wire_path(self.origin.prefix + req.path.render_text(lookup, quote_path))
        parts = [req.method, " ", self.absolute, target, self.host_line, req.static_head]
        for name, template in req.dynamic_headers:
            parts += [name, ": ", header_value(template.render_text(lookup)), "\r\n"]
        if self.jar.cookies and not has_cookie_header(req):
            parts.append(self.hops.cookie_line(self._hop(target)))
        body = encode_body(req, lookup)
        if body is not None or req.method in BODY_METHODS:
            parts += ["Content-Length: ", str(len(body or b"")), "\r\n"]
        parts.append("\r\n")
        data = "".join(parts).encode("latin-1", "replace") + (body or b"")
        start = time.perf_counter()
        origin = start if intended is None else min(intended, start)
        try:
            resp = self.conn.request(
                data,
                req.timeout or self.timeout,
                req.method,
                keep_headers=False,
                idempotent=may_resend(req),
                keep_body=needs_body(req),
                max_body=self.max_body,
                want=self.query_header.lower,
            )
        except HttpError as exc:
            end = time.perf_counter()
            service = service_us(intended, start, end)
            return Outcome(0, False, str(exc), int((end - origin) * 1e6), target, body, service)
        end = time.perf_counter()
        if resp.special is not None:  # Set-Cookie, Location or Content-Encoding: beyond the fast path
            head = "".join(parts[5 : 6 + 4 * len(req.dynamic_headers)])  # the request's own header lines
            deadline = time.monotonic() + (req.timeout or self.timeout) - (end - start)
            resp, end, error = self.hops.finish(
                resp,
                req.method,
                self._hop(target),
                head,
                body,
                deadline,
                may_resend(req),
                needs_body(req),
                self.query_header.lower,
                end,
            )
            if error is not None:
                service = service_us(intended, start, end)
                return Outcome(resp.status, False, error, int((end - origin) * 1e6), target, body, service)
        results: list[bool] | None = [] if req.checks else None
        failure = check(req, resp.status, resp.body, lookup, captured, results)
        reason, example = failure if failure is not None else (None, None)
        outcome = Outcome(
            resp.status,
            failure is None,
            reason,
            int((end - origin) * 1e6),
            target,
            body,
            service_us(intended, start, end),
            self.query_header.count(resp.wanted) if resp.wanted is not None else None,
            example=example,
        )
        outcome.waiting_us, outcome.connecting_us = self.conn.waiting_us, self.conn.connecting_us
        if results:
            outcome.checks = tuple(results)
            outcome.check_example = None if all(results) else failed_example(resp.status, resp.body)
        return outcome

    def _hop(self, target: str) -> Hop:
        return Hop(self.origin.scheme, self.origin.host.lower(), self.origin.port, target)


def has_cookie_header(req: CompiledRequest) -> bool:
    """The scenario sets its own Cookie header on this request: the jar's cookies are not added to it."""
    return any(k.lower() == "cookie" for k, _ in req.static_headers) or any(
        k.lower() == "cookie" for k, _ in req.dynamic_headers
    )


# printable ASCII that may stand in a request target as written; anything else is percent-encoded
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


def wire_path(target: str) -> str:
    """The request target as sent: a literal non-ASCII path (`/products/café-😀`) percent-encoded as
    UTF-8 (RFC 3986), like placeholders; existing %XX escapes and the query's delimiters are kept."""
    if target.isascii() and " " not in target and target.isprintable():
        return target
    return quote(target, safe=_TARGET_SAFE)


def may_resend(req: CompiledRequest) -> bool:
    """Safe to send twice (RFC 9110 9.2.2): an idempotent method or an `Idempotency-Key` header."""
    if req.method in IDEMPOTENT_METHODS:
        return True
    names = [k for k, _ in req.static_headers] + [k for k, _ in req.dynamic_headers]
    return any(k.lower() == "idempotency-key" for k in names)


def needs_body(req: CompiledRequest) -> bool:
    """Whether a check or capture reads the response body; if not, it is read and discarded."""
    return bool(req.expect_contains is not None or req.expect_json or req.captures)


class VirtualUser:
    """A user's loop state: its RNG, draws, captures and sequence number."""

    def __init__(
        self,
        *,
        slot: int,
        slots: int,
        worker: int,
        user_name: str,
        seed: int,
        requests: list[CompiledRequest],
        weights: list[float],
        think: tuple[float, float],
        generators: Mapping[str, gen.Generator],
        runner: RequestRunner,
        recorder: Recorder,
        request_log: LineSink | None = None,
    ) -> None:
        self.slot = slot
        self.worker = worker
        self.user_name = user_name
        self.rng = gen.user_random(seed, slot)
        self.state = gen.DrawState(slot=slot, slots=slots)
        self.requests = requests
        self.cum_weights = gen.cumulative(weights) or ()
        self.total_weight = self.cum_weights[-1] if self.cum_weights else 0.0
        self.last = len(self.requests) - 1
        self.keys: dict[tuple[int, int, bool], SeriesKey] = {}
        self.think = think
        self.generators = generators
        self.runner = runner
        self.recorder = recorder
        self.request_log = request_log
        self.captured: dict[str, Any] = {}
        self.sequence = 0

    def choose(self) -> CompiledRequest | None:
        """The next request by weight; one whose captures are not there yet is skipped (up to 10 tries).

        The same draw as `rng.choices(requests, cum_weights=...)`, without its per-call overhead."""
        cum, total, random_ = self.cum_weights, self.total_weight, self.rng.random
        for _ in range(10):
            req = self.requests[bisect(cum, random_() * total, 0, self.last)]
            if not req.needs or req.needs <= self.captured.keys():
                return req
        return None

    def step(self) -> float:
        """Run one iteration; returns the think time to wait afterwards."""
        req = self.choose()
        if req is not None:
            fixed = {"user": self.slot, "worker": self.worker, "iteration": self.sequence, **self.captured}
            draws = gen.Draws(self.generators, self.rng, self.state, fixed)
            outcome = self.runner.run(req, draws, self.captured)
            self.record(req, outcome)
        self.sequence += 1
        low, high = self.think
        return low if low == high else self.rng.uniform(low, high)

    def serve(self, arrival: int, intended: float, rng: random.Random) -> None:
        """Open model: one request for arrival `arrival`, drawn from the arrival's own RNG stream (so the
        request does not depend on which user happens to be free), timed from its due time."""
        req = rng.choices(self.requests, cum_weights=self.cum_weights, k=1)[0]
        if not req.needs <= self.captured.keys():
            return
        fixed = {"user": arrival, "worker": self.worker, "iteration": 0, **self.captured}
        draws = gen.Draws(self.generators, rng, gen.DrawState(slot=arrival, slots=1), fixed)
        outcome = self.runner.run(req, draws, self.captured, intended)
        self.record(req, outcome, user=arrival, sequence=0)

    def record(
        self, req: CompiledRequest, outcome: Outcome, user: int | None = None, sequence: int | None = None
    ) -> None:
        cache_key = (id(req), outcome.status, outcome.ok)
        key = self.keys.get(cache_key)
        if key is None:
            key = self.keys[cache_key] = SeriesKey(
                self.user_name, req.name, req.kind, req.method, outcome.status, outcome.ok
            )
        now = time.time()
        self.recorder.record(
            key, outcome.latency_us, now, outcome.error, outcome.service_us, outcome.db_queries, example=outcome.example
        )
        if outcome.waiting_us is not None and outcome.ok:
            self.recorder.record_timings(key, outcome.waiting_us, outcome.connecting_us or 0, now)
        if outcome.checks:
            self.recorder.record_checks(key, req.checks, outcome.checks, outcome.check_example, now)
        if self.request_log is not None:
            self.request_log.write(
                request_log_line(
                    self.worker,
                    self.slot if user is None else user,
                    self.user_name,
                    self.sequence if sequence is None else sequence,
                    req.kind,
                    req.name,
                    req.method,
                    outcome,
                    req.tags,
                )
            )
