"""One virtual user's behaviour, independent of Locust: choose, render, send, check, record.

Requests are compiled once per scenario (templates parsed, constant parts pre-encoded); per request
only the placeholders are rendered. Every random draw comes from the user's own RNG stream.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from bisect import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from loadorch.config.scenario import RequestSpec
from loadorch.db.servertiming import QueryHeader
from loadorch.runtime.http import IDEMPOTENT_METHODS, Connection, HttpError, Response
from loadorch.traffic import data as gen
from loadorch.traffic.expect import equal, mismatch
from loadorch.traffic.jsonpath import compile_path, extract, found
from loadorch.traffic.template import Template, compile_template, compile_value, render_value, value_refs
from loadorch.verdict.stats import Recorder, SeriesKey

DEFAULT_OK = range(200, 400)
DEFAULT_MAX_BODY = 10 * 1024 * 1024  # the profile's max_response_body when not given


class LineSink(Protocol):
    def write(self, line: str, /) -> object: ...


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        return cls(parts.scheme, parts.hostname or "", parts.port or (443 if tls else 80), parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class CompiledRequest:
    name: str
    kind: str
    method: str
    path: Template
    static_headers: tuple[tuple[str, str], ...]  # headers with no placeholders
    static_head: str  # the same, pre-joined ("Name: value\r\n" ...)
    dynamic_headers: tuple[tuple[str, Template], ...]
    body_kind: str | None  # "json", "form", "body" or None
    body: Any
    expect_status: frozenset[int] | None
    expect_contains: bytes | None
    expect_json: tuple[tuple[tuple[str | int, ...], str, Any], ...]
    captures: tuple[tuple[str, tuple[str | int, ...]], ...]
    timeout: float | None
    needs: frozenset[str]  # captures this request uses
    tags: tuple[tuple[str, str], ...] = ()  # free tags (run < scenario < user < request), for the request log
    checks: tuple[str, ...] = ()  # the `check` tag of each expect condition (config.checks.check_names)


def compile_request(
    spec: RequestSpec, name: str, kind: str, captures_known: set[str], common_headers: Mapping[str, str]
) -> CompiledRequest:
    headers = {**common_headers, **spec.headers}
    bodies = (("json", spec.json_body), ("form", spec.form), ("body", spec.body))
    body_kind, raw_body = next(((k, v) for k, v in bodies if v is not None), (None, None))
    path = compile_template(spec.path)
    if body_kind in CONTENT_TYPES and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = CONTENT_TYPES[body_kind]
    compiled_headers = tuple((k, compile_template(v)) for k, v in headers.items())
    static = tuple((k, t.render_text(_no_refs)) for k, t in compiled_headers if t.is_constant)
    dynamic = tuple((k, t) for k, t in compiled_headers if not t.is_constant)
    body = compile_value(raw_body) if body_kind else None
    refs = {r.name for r in path.refs()} | {r.name for _, t in compiled_headers for r in t.refs()}
    refs |= {r.name for r in value_refs(body)}
    expect = spec.expect
    return CompiledRequest(
        name=name,
        kind=kind,
        method=spec.method,
        path=path,
        static_headers=static,
        static_head="".join(f"{k}: {v}\r\n" for k, v in static),
        dynamic_headers=dynamic,
        body_kind=body_kind,
        body=body,
        expect_status=frozenset(expect.status) if expect.status else None,
        expect_contains=expect.contains.encode() if expect.contains else None,
        expect_json=tuple((compile_path(p), p, compile_value(v)) for p, v in (expect.json_equals or {}).items()),
        captures=tuple((k, compile_path(v)) for k, v in spec.capture.items()),
        timeout=spec.timeout,
        needs=frozenset(refs & captures_known),
    )


@dataclass
class Outcome:
    status: int
    ok: bool
    error: str | None
    latency_us: int
    path: str
    body: bytes | None = None
    service_us: int | None = None  # open model: from the actual send (latency_us counts from the due time)
    db_queries: int | None = None  # database queries the response said it made (Server-Timing or a plain header)
    example: str | None = None  # what a failed check compared (one example per error reason is reported)
    checks: tuple[bool, ...] = ()  # each expect condition's outcome, in CompiledRequest.checks order
    check_example: str | None = None  # the response, when a condition failed (status and the start of the body)
    waiting_us: int | None = None  # time to first byte (from the send)
    connecting_us: int | None = None  # connect time, 0 on a reused connection


CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))


def _no_refs(name: str) -> Any:
    raise KeyError(name)


class RequestRunner:
    """Renders, sends and checks one compiled request on a user's connection."""

    def __init__(
        self,
        origin: Origin,
        timeout: float,
        max_body: int = DEFAULT_MAX_BODY,
        addresses: Sequence[str] = (),
        check_addresses: Callable[[list[str]], None] | None = None,
        query_header: QueryHeader | None = None,
    ) -> None:
        self.origin = origin
        self.timeout = timeout
        self.max_body = max_body
        self.query_header = query_header or QueryHeader()
        self.host_line = f" HTTP/1.1\r\nHost: {origin.host_header}\r\n"
        tls = origin.scheme == "https"
        self.conn = Connection(
            origin.host, origin.port, tls, min(timeout, 10.0), addresses=addresses, check_addresses=check_addresses
        )

    def close(self) -> None:
        self.conn.close()

    def run(
        self,
        req: CompiledRequest,
        lookup: Callable[[str], Any],
        captured: dict[str, Any],
        intended: float | None = None,
    ) -> Outcome:
        """Send and check one request. With `intended` (a perf_counter time: the open model's due time),
        the latency counts from then, and the service time from the actual send is kept as well."""
        target = wire_path(self.origin.prefix + req.path.render_text(lookup, _quote_path))
        parts = [req.method, " ", target, self.host_line, req.static_head]
        for name, template in req.dynamic_headers:
            parts += [name, ": ", _header_value(template.render_text(lookup)), "\r\n"]
        body = _encode_body(req, lookup)
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
            return Outcome(0, False, str(exc), int((end - origin) * 1e6), target, body, _service(intended, start, end))
        end = time.perf_counter()
        results: list[bool] | None = [] if req.checks else None
        failure = check(req, resp, lookup, captured, results)
        reason, example = failure if failure is not None else (None, None)
        outcome = Outcome(
            resp.status,
            failure is None,
            reason,
            int((end - origin) * 1e6),
            target,
            body,
            _service(intended, start, end),
            self.query_header.count(resp.wanted) if resp.wanted is not None else None,
            example=example,
        )
        outcome.waiting_us, outcome.connecting_us = self.conn.waiting_us, self.conn.connecting_us
        if results:
            outcome.checks = tuple(results)
            outcome.check_example = None if all(results) else failed_example(resp)
        return outcome


def _service(intended: float | None, start: float, end: float) -> int | None:
    return None if intended is None else int((end - start) * 1e6)


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


def _quote_path(text: str) -> str:
    return text if text.isalnum() and text.isascii() else quote(text, safe="-_.~")


def _header_value(text: str) -> str:
    """A rendered header value cannot add header lines of its own."""
    return text.replace("\r", " ").replace("\n", " ") if "\r" in text or "\n" in text else text


def _encode_body(req: CompiledRequest, lookup: Callable[[str], Any]) -> bytes | None:
    if req.body_kind is None:
        return None
    value = render_value(req.body, lookup)
    if req.body_kind == "json":
        return json.dumps(value, separators=(",", ":")).encode()
    if req.body_kind == "form":
        return urlencode(value).encode()
    return str(value).encode()


Failure = tuple[str, str | None]  # (short, stable reason: an error label; an example of what was compared)


def check(
    req: CompiledRequest,
    resp: Response,
    lookup: Callable[[str], Any],
    captured: dict[str, Any],
    results: list[bool] | None = None,
) -> Failure | None:
    """None if the response is as expected (and captures taken), else (reason, example). With `results`,
    every expect condition is evaluated and its outcome appended, in `req.checks` order (the checks metric)."""
    failure: Failure | None = None
    if req.expect_status is not None:
        if resp.status not in req.expect_status:
            failure = f"unexpected status {resp.status}", f"expected status {_codes(req.expect_status)}"
        if results is not None:
            results.append(failure is None)
    elif resp.status not in DEFAULT_OK:
        failure = f"status {resp.status}", "expected status 2xx or 3xx"
    if failure is not None and results is None:
        return failure
    if req.expect_contains is not None:
        held = req.expect_contains in resp.body
        if results is not None:
            results.append(held)
        if not held and failure is None:
            failure = (
                "body check failed: expected text not found",
                f"expected the body to contain {req.expect_contains!r}",
            )
            if results is None:
                return failure
    if not req.expect_json and not req.captures:
        return failure
    try:
        doc = json.loads(resp.body)
    except ValueError:
        if results is not None:
            results.extend(False for _ in req.expect_json)
        return failure or ("response is not JSON", f"body starts {resp.body[:40]!r}")
    for steps, text, expected in req.expect_json:
        value = extract(doc, steps)
        want = render_value(expected, lookup)
        held = found(value) and equal(value, want)
        if results is not None:
            results.append(held)
        if not held and failure is None:
            failure = f"check {text} failed", mismatch(want, value, found(value))
            if results is None:
                return failure
    if failure is not None:
        return failure
    for name, steps in req.captures:
        value = extract(doc, steps)
        if not found(value):
            return f"capture {name} not found in response", None
        captured[name] = value
    return None


def failed_example(resp: Response, limit: int = 200) -> str:
    """One failing response for the report: its status and the start of its body (redacted later)."""
    body = resp.body[:limit].decode("utf-8", "replace") if resp.body else ""
    more = "..." if resp.body and len(resp.body) > limit else ""
    return f"{resp.status} {body}{more}".strip()


def _codes(codes: Any) -> str:
    return ", ".join(str(c) for c in sorted(codes))


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


def request_log_line(
    worker: int,
    user: int,
    user_name: str,
    sequence: int,
    kind: str,
    name: str,
    method: str,
    outcome: Outcome,
    tags: tuple[tuple[str, str], ...] = (),
) -> str:
    """One requests.jsonl line (the one format for every kind of user); the body appears only as a
    digest (it may hold personal data)."""
    digest = hashlib.sha256(outcome.body).hexdigest()[:16] if outcome.body is not None else None
    doc = {
        "worker": worker,
        "user": user,
        "user_class": user_name,
        "sequence": sequence,
        "kind": kind,
        "name": name,
        "method": method,
        "path": outcome.path,
        "body_sha256": digest,
        "status": outcome.status,
        "ok": outcome.ok,
        "error": outcome.error,
        "latency_ms": round(outcome.latency_us / 1000.0, 3),
    }
    if outcome.service_us is not None:
        doc["service_ms"] = round(outcome.service_us / 1000.0, 3)
    if tags:
        doc["tags"] = dict(tags)
    return json.dumps(doc, separators=(",", ":")) + "\n"
