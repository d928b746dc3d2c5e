"""One virtual user's behaviour, independent of Locust: choose, render, send, check, record.

Requests are compiled once per scenario (templates parsed, constant parts pre-encoded); per request
only the placeholders are rendered. Every random draw comes from the user's own RNG stream.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from greenlet import GreenletExit

from loadorch.client.hops import Hops, HttpOptions
from loadorch.client.http import Connection, HttpError
from loadorch.config.units import DEFAULT_MAX_HEAD
from loadorch.db.servertiming import QueryHeader
from loadorch.stats.exemplars import NOT_MEASURED, Row
from loadorch.stats.exemplars import row as exemplar_row
from loadorch.stats.tables import Recorder, SeriesKey
from loadorch.traffic import data as gen
from loadorch.traffic.redact import (
    MIN_HEADER_SECRET,
    NO_SECRETS,
    SECRET_HEADERS,
    TARGET_SAFE,
    Redactor,
    credentials,
    masked_reason,
)
from loadorch.traffic.redirects import Hop
from loadorch.traffic.request import (
    BODY_METHODS,
    Captured,
    CompiledRequest,
    HeaderValues,
    LineSink,
    Origin,
    Outcome,
    RequestRunner,
    check,
    credential_texts,
    credential_values,
    encode_body,
    failed_example,
    quote_path,
    request_log_line,
    service_us,
    timeout_reason,
    unrendered,
)
from loadorch.traffic.servertiming import parse as parse_server_timing
from loadorch.traffic.template import Lookup, RenderError
from loadorch.traffic.trace import NO_TRACE, TraceIds, line_of, trace_id_of
from loadorch.traffic.trace import TAIL as TRACE_TAIL

DEFAULT_MAX_BODY = 10 * 1024 * 1024  # the profile's max_response_body when not given


class LeanRunner:
    """The lean client (a RequestRunner): renders, sends and checks a request on the user's own connection."""

    redactor: Redactor = NO_SECRETS  # the run's secrets, masked in check examples before they are cut
    tracer: TraceIds | None = None  # the worker's trace ids: a W3C traceparent on each request (None: none)
    stopped: tuple[CompiledRequest, float] | None = None  # RequestRunner.stopped

    def __init__(
        self,
        origin: Origin,
        timeout: float,
        max_body: int = DEFAULT_MAX_BODY,
        addresses: Sequence[str] = (),
        check_addresses: Callable[[list[str]], None] | None = None,
        query_header: QueryHeader | None = None,
        options: HttpOptions | None = None,
        max_head: int = DEFAULT_MAX_HEAD,
    ) -> None:
        self.origin = origin
        self.timeout = timeout
        self.max_body = max_body
        self.query_header = query_header or QueryHeader()
        self.headers = HeaderValues()  # each templated header's value checked once (traffic/request.py)
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
            max_head=max_head,
        )
        first = Hop(origin.scheme, origin.host.lower(), origin.port, "/")
        self.hops = Hops(options, first, self.conn, timeout, max_body)
        self.jar = self.hops.jar  # empty until a response sets a cookie: then the Cookie header is added
        self._jar_line, self._jar_base, self._jar_mask = "", NO_SECRETS, NO_SECRETS  # _jar_redactor's one entry
        self.tokens = UserCredentials()  # the tokens this user captured, masked in its requests from then on
        self.token_mask: Redactor | None = None  # self.tokens.mask (read once a request)

    def close(self) -> None:
        self.conn.close()
        self.hops.close()

    def run(
        self,
        req: CompiledRequest,
        lookup: Lookup,
        captured: Captured,
        intended: float | None = None,
    ) -> Outcome:
        """Send and check one request. With `intended` (a perf_counter time: the open model's due time),
        the latency counts from then, and the service time from the actual send is kept as well."""
        target = wire_path(self.origin.prefix + req.path.render_text(lookup, quote_path))
        own = req.static_head  # the request's own header lines (a redirect's next hop sends them again)
        redactor, mine = self.redactor, None
        if self.token_mask is not None:  # a token this user captured: masked wherever it shows (a path ...)
            redactor = mine = self.token_mask
        if req.dynamic_headers:
            checked = self.headers.value
            rendered = [(name, checked(t.render_text(lookup), name)) for name, t in req.dynamic_headers]
            own += "".join(f"{name}: {value}\r\n" for name, value in rendered)
            if req.secret_headers:  # a credential rendered now (a captured token): masked in what this request shows
                redactor = mine = own_redactor(rendered, redactor)
        trace, tail = NO_TRACE, ""  # the traceparent line's parts (TraceIds.parts), joined into the head
        if self.tracer is not None and not req.own_traceparent:
            trace, tail = next(self.tracer.parts), TRACE_TAIL
        prefix, low, mid = trace
        cookie = self.hops.cookie_line(self._hop(target)) if self.jar.cookies and not req.own_cookie else ""
        if cookie:  # the jar's cookies (a login's session): masked like a Cookie header the scenario renders
            redactor = mine = self._jar_redactor(cookie, redactor)
        body = encode_body(req, lookup) if req.body_kind is not None else None
        length = f"Content-Length: {len(body or b'')}\r\n" if body is not None or req.method in BODY_METHODS else ""
        head = (f"{req.method} {self.absolute}{target}{self.host_line}{own}{prefix}{low}{mid}{low}{tail}{cookie}"
                f"{length}\r\n")
        data = head.encode("latin-1", "replace")
        if body:
            data += body
        timeout = req.timeout or self.timeout
        start = time.perf_counter()
        origin = start if intended is None else min(intended, start)
        try:
            resp = self.conn.request(
                data,
                timeout,
                req.method,
                False,
                idempotent=req.resendable,
                keep_body=req.reads_body,
                max_body=self.max_body,
                want=self.query_header.lower,
            )
        except HttpError as exc:
            end = time.perf_counter()
            service = service_us(intended, start, end)
            reason = timeout_reason(str(exc), timeout, req.timeout is not None)
            return Outcome(0, False, masked_reason(reason, redactor), int((end - origin) * 1e6), target, body,
                           service, trace_parts=trace, redactor=mine)
        except GreenletExit:  # the run stopped this user while the target had not answered: counted apart (free
            self.stopped = (req, time.perf_counter() - start)  # on the way of every request that ends)
            raise
        end = time.perf_counter()
        if resp.special is not None:  # Set-Cookie, Location or Content-Encoding: beyond the fast path
            deadline = time.monotonic() + timeout - (end - start)
            resp, end, error = self.hops.finish(
                resp,
                req.method,
                self._hop(target),
                own + line_of(trace),
                body,
                deadline,
                req.resendable,
                req.reads_body,
                self.query_header.lower,
                end,
            )
            if self.jar.cookies and not req.own_cookie:  # cookies a hop set on the way: masked like those sent
                redactor = mine = redactor.plus(jar_values(self.jar.cookies.values()))
            if error is not None:
                service = service_us(intended, start, end)
                error = timeout_reason(error, timeout, req.timeout is not None)
                reason = masked_reason(error, redactor)  # it may name a redirect's URL (an OAuth `?code=`)
                return Outcome(resp.status, False, reason, int((end - origin) * 1e6), target, body, service,
                               trace_parts=trace, redactor=mine)
        if req.secret_captures:  # a login: the credentials it returns, masked from its own check's example on
            redactor = mine = self.tokens.found(req, resp.body, redactor)
        results: list[bool] | None = [] if req.checks else None
        failure = check(req, resp.status, resp.body, lookup, captured, results, redactor)
        if req.secret_captures:
            self.token_mask = self.tokens.keep(req, captured, self.redactor)
        conn = self.conn
        # every field by position, in Outcome's order (LEAN_OUTCOME_ORDER): keyword arguments made this call
        # about half a microsecond dearer, in every request (tests/unit/test_vu_outcome.py holds the order)
        outcome = Outcome(
            resp.status,  # status
            failure is None,  # ok
            None if failure is None else failure[0],  # error
            int((end - origin) * 1e6),  # latency_us
            target,  # path
            body,  # body
            None if intended is None else int((end - start) * 1e6),  # service_us
            self.query_header.count(resp.wanted) if resp.wanted is not None else None,  # db_queries
            None if failure is None else failure[1],  # example
            (),  # checks (set below)
            None,  # check_example
            conn.waiting_us,  # waiting_us
            conn.connecting_us,  # connecting_us
            conn.tls_us,  # tls_us
            conn.receiving_us,  # receiving_us
            resp.size,  # size
            None,  # trace_id
            resp.server_timing,  # server_timing
            trace,  # trace_parts
            mine,  # redactor
        )
        if results:
            outcome.checks = tuple(results)
            example = None if all(results) else failed_example(resp.status, resp.body, redactor=redactor)
            outcome.check_example = example
        return outcome

    def _jar_redactor(self, line: str, redactor: Redactor) -> Redactor:
        """`redactor` and the values of the cookies the jar sends (`Cookie: ...` line), kept for the next request
        with the same line and redactor: one entry, so a session's requests build it once."""
        if line != self._jar_line or redactor is not self._jar_base:
            self._jar_line, self._jar_base = line, redactor
            self._jar_mask = redactor.plus(credentials("cookie", line[8:].strip()))
        return self._jar_mask

    def _hop(self, target: str) -> Hop:
        return Hop(self.origin.scheme, self.origin.host.lower(), self.origin.port, target)


class UserCredentials:
    """The credentials one user captured (CompiledRequest.secret_captures: a login's token that its requests send
    as `Authorization: Bearer {token}`): the texts each such capture holds now, and the run's redactor plus them
    (`mask`, None until one is captured), with which a request runner masks everything its user's requests show
    from then on: a reason, a check's example, a request log's path (`/files/{token}`), Server-Timing. Bounded:
    at most CREDENTIAL_LEAVES texts per capture name of the scenario."""

    __slots__ = ("held", "mask")

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, ...]] = {}
        self.mask: Redactor | None = None

    @staticmethod
    def found(req: CompiledRequest, body: bytes, redactor: Redactor) -> Redactor:
        """`redactor` plus the credentials `body` holds at the request's `secret_captures` paths, for what this
        response shows (whether or not its checks hold: a failed login's example masks the token it returned)."""
        found = credential_values(req, body)
        return redactor.plus(t for texts in found.values() for t in texts) if found else redactor

    def keep(self, req: CompiledRequest, captured: Captured, base: Redactor) -> Redactor | None:
        """After the request's checks: the values its `secret_captures` now hold in the user's captures (a failed
        login took none: the token in use stays masked) become the user's `mask`, made of `base`; returned."""
        held = dict(self.held)
        for name, _ in req.secret_captures:
            texts = credential_texts(captured.get(name))
            if texts:
                held[name] = texts
        if held != self.held:
            self.held = held
            self.mask = base.plus(t for texts in held.values() for t in texts)
        return self.mask


def jar_values(cookies: Iterable[Any]) -> Iterator[str]:
    """The values of a user's cookies (ours: traffic.cookies.Cookie; Locust's: http.cookiejar.Cookie) long enough
    to mask (MIN_HEADER_SECRET: a `lang=en` is not a secret)."""
    return (c.value for c in cookies if c.value and len(c.value) >= MIN_HEADER_SECRET)


def own_redactor(rendered: Iterable[tuple[str, str]], redactor: Redactor) -> Redactor:
    """`redactor` and the credentials of a request's rendered headers (name, value) that carry one (SECRET_HEADERS:
    a captured token's Authorization, a generated API key): the target may echo them in its body or its
    Server-Timing. This request's only (Redactor.plus keeps it for the next request with the same ones)."""
    found: set[str] = set()
    for name, value in rendered:
        if name.lower() in SECRET_HEADERS:
            found |= credentials(name, value)
    return redactor.plus(found)


def exemplar_of(
    req: CompiledRequest, outcome: Outcome, now: float, worker: int, redactor: Redactor = NO_SECRETS, user: str = ""
) -> Row:
    """One of the slowest requests as an exemplar row (stats/exemplars.py): its split where the request
    path measured it, its trace id and Server-Timing entries (parsed here: only for the slowest)."""
    connect, tls, waiting, receiving = phases_of(outcome)
    return exemplar_row(
        req.name, req.method, outcome.status, outcome.latency_us, now - outcome.latency_us / 1e6, connect,
        tls, waiting, receiving, _measured(outcome.size), outcome.trace_id or trace_id_of(outcome.trace_parts),
        server_timing_of(outcome, redactor), worker, user,
    )


def server_timing_of(outcome: Outcome, redactor: Redactor) -> list[tuple[str, float | None, str | None]]:
    """The response's Server-Timing entries, masked with the run's secrets, or wholly with the request's own
    redactor when it sent a credential (the target may echo it: no later mask knows it)."""
    if outcome.redactor is None:
        return parse_server_timing(outcome.server_timing, redactor)
    return parse_server_timing(outcome.server_timing, outcome.redactor, whole=True)


def phases_of(outcome: Outcome) -> tuple[int, int, int, int]:
    """(connect, TLS, waiting, receiving) in us, NOT_MEASURED where the request path could not time one."""
    connecting, tls = outcome.connecting_us, outcome.tls_us
    connect = NOT_MEASURED if connecting is None or tls is None else connecting - tls
    return (connect, NOT_MEASURED if tls is None else tls, _measured(outcome.waiting_us),
            _measured(outcome.receiving_us))


def _measured(value: int | None) -> int:
    return NOT_MEASURED if value is None else value


# printable ASCII that may stand in a request target as written; anything else is percent-encoded
_TARGET_SAFE = TARGET_SAFE


def wire_path(target: str) -> str:
    """The request target as sent: a literal non-ASCII path (`/products/café-😀`) percent-encoded as
    UTF-8 (RFC 3986), like placeholders; existing %XX escapes and the query's delimiters are kept."""
    if target.isascii() and " " not in target and target.isprintable():
        return target
    return quote(target, safe=_TARGET_SAFE)


LEAN_OUTCOME_ORDER = ("status", "ok", "error", "latency_us", "path", "body", "service_us", "db_queries", "example",
                      "checks", "check_example", "waiting_us", "connecting_us", "tls_us", "receiving_us", "size",
                      "trace_id", "server_timing", "trace_parts", "redactor")  # LeanRunner.run's Outcome, by position
NEVER_ASKED = (1 << 30) - 1  # us (18 minutes): a Series' floor with the evidence off (an int of one digit: the
# comparison a request makes stays the interpreter's fast one; a request slower than it is asked, and not kept)


class Series:
    """A virtual user's series (request, status, ok): its key, and its batch in the recorder
    (Recorder.lean_batch; None: its requests go the checked way), found once, not once a request."""

    __slots__ = ("batch", "floor", "key", "recorder", "split")

    def __init__(self, key: SeriesKey) -> None:
        self.key = key
        self.recorder: Recorder | None = None
        self.batch: list[int] | None = None
        self.split: list[int] | None = None  # Recorder.split_batch: a checked request's time split
        # a duration its endpoint's K slowest had already passed (Slowest.floor, which only rises in a worker's
        # recorder): a request not above it is not asked again (#30: one attribute, not a lookup a request)
        self.floor = -1

    def bind(self, recorder: Recorder) -> list[int] | None:
        """Its batches in `recorder` (found once per recorder); the whole request's."""
        self.recorder, self.batch, self.split = recorder, recorder.lean_batch(self.key), recorder.split_batch(self.key)
        self.floor = -1 if recorder.exemplar_k else NEVER_ASKED  # the evidence off: no request is asked
        if recorder.exemplar_k:
            recorder.askers.append(self)  # a monitor's worker sets its floor back each generation
        return self.batch


def runner_mask(runner: Any) -> Redactor:
    """What a runner masks in its requests' failures: the tokens its user captured, else the run's secrets."""
    tokens = getattr(runner, "token_mask", None) or getattr(getattr(runner, "tokens", None), "mask", None)
    mask = tokens or getattr(runner, "redactor", None)
    return mask if isinstance(mask, Redactor) else NO_SECRETS


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
        keys: dict[tuple[int, int, bool], Series] | None = None,
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
        # (request, status, ok) -> its series: `keys` shared by the users of a class (the worker's), so the
        # series a worker holds are its names x statuses, not x its users too (#32: a monitor's pool of users)
        self.keys: dict[tuple[int, int, bool], Series] = {} if keys is None else keys
        self.think = think
        self.generators = generators
        self.runner = runner
        self.redactor: Redactor = getattr(runner, "redactor", NO_SECRETS)  # the run's secrets: Server-Timing cut
        self.recorder = recorder
        self.request_log = request_log
        self.captured: Captured = {}
        self.sequence = 0
        # the user's own numbers, then its captures: any JSON value the target sent (traffic.request.Captured)
        self.fixed: dict[str, Any] = {"user": slot, "worker": worker, "iteration": 0}
        self.draws = gen.Draws(generators, self.rng, self.state, self.fixed)  # one per user, emptied per request

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
            fixed = self.fixed  # the user's own values, then its captures (a capture of the same name wins)
            fixed["iteration"] = self.sequence
            if self.captured:
                fixed.update(self.captured)
            draws = self.draws
            draws.values.clear()  # each generator drawn afresh for each request
            try:
                outcome = self.runner.run(req, draws, self.captured)
            except RenderError as exc:
                outcome = unrendered(req, exc, runner_mask(self.runner))
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
        try:
            outcome = self.runner.run(req, draws, self.captured, intended)
        except RenderError as exc:
            outcome = unrendered(req, exc, runner_mask(self.runner))
        self.record(req, outcome, user=arrival, sequence=0)

    def record(
        self, req: CompiledRequest, outcome: Outcome, user: int | None = None, sequence: int | None = None
    ) -> None:
        cache_key = (id(req), outcome.status, outcome.ok)
        series = self.keys.get(cache_key)
        if series is None:
            series = self.keys[cache_key] = Series(
                SeriesKey(self.user_name, req.name, req.kind, req.method, outcome.status, outcome.ok)
            )
        key = series.key
        now = time.time()
        rec = self.recorder
        ok, latency = outcome.ok, outcome.latency_us
        waiting, receiving = outcome.waiting_us, outcome.receiving_us
        batch = (series.batch if series.recorder is rec else series.bind(rec)) if ok else None
        if (batch is not None and outcome.connecting_us == 0 and outcome.tls_us == 0 and waiting is not None
                and receiving is not None and outcome.service_us is None and outcome.db_queries is None):
            # the common request (a success on a kept-alive connection, closed model): three numbers, its
            # latency, timings and time split made of them once a slot (Recorder.lean_batch)
            if int((now - rec.t0) / rec.interval_s) != rec.slot:
                rec.advance(now)  # the batches so far belong to the slot that ended
            batch += (latency, waiting, receiving)
        else:  # a failure, a new connection, a phase not timed, the open model, a query count, a window or live
            # metrics: the checked way
            rec.record(key, latency, now, outcome.error, outcome.service_us, outcome.db_queries,
                       example=outcome.example)
            if ok and waiting is not None:
                rec.record_timings(key, waiting, outcome.connecting_us or 0, now)
            if ok and rec.exemplar_k:
                split = series.split
                if (split is not None and outcome.connecting_us == 0 and outcome.tls_us == 0 and waiting is not None
                        and receiving is not None):  # kept alive, all timed (the open model): added up once a slot
                    split += (latency, waiting, receiving)
                else:
                    rec.record_split(key, latency, phases_of(outcome), now)
        if ok:
            if outcome.server_timing is not None and rec.server_timing:
                rec.record_server_timing(key, server_timing_of(outcome, self.redactor), now)
            if latency > series.floor:  # perhaps among its endpoint's K slowest: asked
                floor = rec.exemplars.floor
                if latency > floor.get(req.name, -1):
                    rec.keep_exemplar(exemplar_of(req, outcome, now, self.worker, self.redactor, self.user_name))
                series.floor = floor.get(req.name, -1)
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
