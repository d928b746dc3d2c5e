"""A request as compiled once per scenario, its outcome, and what every request runner shares.

Compiling parses templates and JSON paths and pre-joins constant headers; it runs when the scenario
is loaded (so a bad template is a configuration error there) and again, on the same input, in the
workers. `RequestRunner` is the role the lean client (client/vu.py) and the Locust client
(runtime/locust_client.py) both play; the encoding and checking helpers here are theirs to share.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from loadorch.traffic.expect import equal, mismatch
from loadorch.traffic.headers import value_problem
from loadorch.traffic.jsonpath import compile_path, extract, found
from loadorch.traffic.redact import MIN_HEADER_SECRET, NO_SECRETS, SECRET_HEADERS, Redactor, target_params
from loadorch.traffic.template import (
    Lookup,
    RenderError,
    Template,
    compile_template,
    compile_value,
    render_value,
    value_refs,
)
from loadorch.traffic.trace import NO_TRACE

DEFAULT_OK = range(200, 400)

# A virtual user's captures by name: what `capture` took from the target's responses (JSON path extracts,
# headers), so any JSON value the target sent; templates read them as they came.
Captured = dict[str, Any]


class Expectation(Protocol):
    """What a request expects of its response (config.scenario.Expect)."""

    @property
    def status(self) -> Any: ...
    @property
    def contains(self) -> str | None: ...
    @property
    def json_equals(self) -> Mapping[str, Any] | None: ...


class RequestSpec(Protocol):
    """A request definition as the scenario model gives it (config.scenario.RequestSpec): the traffic
    layer reads these fields and does not depend on the model's validation."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def json_body(self) -> Any: ...
    @property
    def form(self) -> Mapping[str, str] | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def capture(self) -> Mapping[str, str]: ...
    @property
    def timeout(self) -> float | None: ...

    @property
    def expect(self) -> Expectation: ...


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
    # the dynamic headers that carry a credential (redact.SECRET_HEADERS: a captured token's Authorization...):
    # rendered again for the request's own redactor (client/vu.py), found here so other requests pay nothing
    secret_headers: tuple[tuple[str, Template], ...] = ()
    # the captures of this request that a request of its user sends in a credential header (a login's token):
    # their values are the user's secrets from the response on (`credential_captures`; client/vu.py masks them)
    secret_captures: tuple[tuple[str, tuple[str | int, ...]], ...] = ()

    # what the client asks of a request on every send, worked out on first use (the dataclass is frozen:
    # cached_property stores in the instance's __dict__ directly)
    @functools.cached_property
    def resendable(self) -> bool:
        """Safe to send twice (RFC 9110 9.2.2): an idempotent method or an `Idempotency-Key` header."""
        if self.method in IDEMPOTENT_METHODS:
            return True
        names = [k for k, _ in self.static_headers] + [k for k, _ in self.dynamic_headers]
        return any(k.lower() == "idempotency-key" for k in names)

    @functools.cached_property
    def reads_body(self) -> bool:
        """Whether a check or capture reads the response body; if not, it is read and discarded."""
        return bool(self.expect_contains is not None or self.expect_json or self.captures)

    @functools.cached_property
    def own_traceparent(self) -> bool:
        """The scenario sets its own traceparent header on this request: loadorch's is not added."""
        names = [k for k, _ in self.static_headers] + [k for k, _ in self.dynamic_headers]
        return any(k.lower() == "traceparent" for k in names)

    @functools.cached_property
    def own_cookie(self) -> bool:
        """The scenario sets its own Cookie header on this request: a cookie jar's cookies are not added."""
        return any(k.lower() == "cookie" for k, _ in self.static_headers) or any(
            k.lower() == "cookie" for k, _ in self.dynamic_headers
        )


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
    expect_json = tuple((compile_path(p), p, compile_value(v)) for p, v in (expect.json_equals or {}).items())
    refs |= {r.name for _, _, v in expect_json for r in value_refs(v)}  # a check of a capture waits for it too
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
        expect_json=expect_json,
        captures=tuple((k, compile_path(v)) for k, v in spec.capture.items()),
        timeout=spec.timeout,
        needs=frozenset(refs & captures_known),
        secret_headers=tuple((k, t) for k, t in dynamic if k.lower() in SECRET_HEADERS),
    )


def credential_captures(requests: list[CompiledRequest]) -> list[CompiledRequest]:
    """One user's compiled requests, each capture that some request of theirs sends in a credential header
    (SECRET_HEADERS: `Authorization: Bearer {token}`) marked in `secret_captures`: the value it takes is a
    secret of that user wherever it shows up next (a path, a body, a check's example), not only in that header."""
    names = {ref.name for req in requests for _, template in req.secret_headers for ref in template.refs()}
    return [
        dataclasses.replace(req, secret_captures=tuple((n, steps) for n, steps in req.captures if n in names))
        if any(n in names for n, _ in req.captures) else req
        for req in requests
    ]


def credential_values(req: CompiledRequest, body: bytes) -> dict[str, tuple[str, ...]]:
    """The values a response holds at a request's `secret_captures` paths (whether or not its checks held, so a
    failed login's example masks its token too), as texts (`credential_texts`)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    out = {}
    for name, steps in req.secret_captures:
        value = extract(doc, steps)
        texts = credential_texts(value) if found(value) else ()
        if texts:
            out[name] = texts
    return out


CREDENTIAL_LEAVES = 16  # the strings and numbers of a captured object masked (`{auth.access_token}` sends one)


def credential_texts(value: Any) -> tuple[str, ...]:
    """A captured value as the texts a credential header may send of it: a string or a number as text, an object
    or a list its first CREDENTIAL_LEAVES strings and numbers at any depth (a header may send `{auth.token}`);
    those shorter than MIN_HEADER_SECRET left out (a mask of `1` would hide every 1 in what is shown)."""
    out: list[str] = []
    stack, visits = [value], 0
    while stack and len(out) < CREDENTIAL_LEAVES and visits < 16 * CREDENTIAL_LEAVES:  # a deep or wide one: bounded
        item = stack.pop()
        visits += 1
        if isinstance(item, Mapping):
            stack.extend(reversed(list(islice(item.values(), CREDENTIAL_LEAVES))))
        elif isinstance(item, list):
            stack.extend(reversed(item[:CREDENTIAL_LEAVES]))
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = str(item)
            if len(text) >= MIN_HEADER_SECRET:
                out.append(text)
    return tuple(out)


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
    waiting_us: int | None = None  # time to first byte (from the send; an interim 1xx response's first byte counts)
    connecting_us: int | None = None  # connect time, 0 on a reused connection
    # the evidence's split of a request (None: not measured on this request path), its body's size, the
    # W3C trace id it was sent with and its Server-Timing value (read only for the slowest requests)
    tls_us: int | None = None  # the TLS handshake's part of connecting_us
    receiving_us: int | None = None  # the response's first byte to its last
    size: int | None = None
    trace_id: str | None = None
    server_timing: bytes | str | None = None
    # the lean client's traceparent line in parts (trace.TraceIds.parts; NO_TRACE: none): its trace id
    # (trace.trace_id_of) made only if read
    trace_parts: tuple[str, str, str] = NO_TRACE
    redactor: Redactor | None = None  # the run's secrets and this request's own rendered credentials (None: the run's)


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps(..., separators=...) builds one a call

CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))  # RFC 9110 9.2.2


def _no_refs(name: str) -> Any:
    raise KeyError(name)


class RequestRunner(Protocol):
    """Renders, sends and checks one compiled request; one per virtual user (it may keep a connection).
    `stopped`: the request the user was stopped in (the run's end) while it waited for the answer, and how long it
    had waited (s); None until then."""

    stopped: tuple[CompiledRequest, float] | None

    def run(
        self, req: CompiledRequest, lookup: Lookup, captured: Captured, intended: float | None = None
    ) -> Outcome: ...

    def close(self) -> None: ...


READ_TIMEOUT = "read timeout"  # the request's deadline passed before the whole answer came (client/http.py)


def timeout_reason(error: str, timeout: float, own: bool) -> str:
    """A failed request's reason; a timeout's names its length and the setting that gave it (`own`: the request's
    own `timeout:`, else the profile's request_timeout), so a hanging target reads as one."""
    if error != READ_TIMEOUT:
        return error
    return f"{READ_TIMEOUT}: no answer within {timeout:g}s ({'its timeout:' if own else 'request_timeout'})"


def service_us(intended: float | None, start: float, end: float) -> int | None:
    return None if intended is None else int((end - start) * 1e6)


def quote_path(text: str) -> str:
    return text if text.isalnum() and text.isascii() else quote(text, safe="-_.~")


def header_value(text: str, name: str = "") -> str:
    """A rendered header value cannot add header lines of its own (CR and LF are sent as spaces); one holding
    what no header can carry (a capture's `日本`, a control character) is a RenderError naming `name`: its request
    fails saying so, never sent with `?` in its place (traffic/headers.py)."""
    if text.isascii() and text.isprintable():
        return text
    why = value_problem(text, line_breaks=False)
    if why is not None:
        raise RenderError(f"header {name!r}: {why}")
    return text.replace("\r", " ").replace("\n", " ") if "\r" in text or "\n" in text else text


class HeaderValues:
    """header_value for one virtual user's requests, each distinct value checked once: a templated header's value
    is most often the same from request to request (`Bearer {token}` of a token captured once), and its check walks
    every character (about 4 us for a 1 KB token), where telling it is the value already checked is a compare. One
    value kept per header name (the scenario's names: bounded)."""

    __slots__ = ("checked",)

    def __init__(self) -> None:
        self.checked: dict[str, str] = {}

    def value(self, text: str, name: str) -> str:
        if self.checked.get(name) == text:
            return text
        sent = header_value(text, name)
        self.checked[name] = sent
        return sent


def encode_body(req: CompiledRequest, lookup: Callable[[str], Any]) -> bytes | None:
    if req.body_kind is None:
        return None
    if req.body_kind == "json":
        return _COMPACT.encode(render_value(req.body, lookup)).encode()
    # text, as a path or a header renders a value (`true`, JSON for an object, "" for null), never Python's str()
    if req.body_kind == "form":
        return urlencode([(k.render_text(lookup), v.render_text(lookup)) for k, v in req.body.items()]).encode()
    text: str = req.body.render_text(lookup)
    return text.encode()


def unrendered(req: CompiledRequest, exc: RenderError, redactor: Redactor = NO_SECRETS) -> Outcome:
    """The outcome of a request that could not be rendered (never sent): a failure saying why (the run's secrets and
    this user's tokens masked, as every failure's reason), its path as written."""
    return Outcome(0, False, redactor.text(str(exc)), 0, req.path.source)


Failure = tuple[str, str | None]  # (short, stable reason: an error label; an example of what was compared)


def check(
    req: CompiledRequest,
    status: int,
    body: bytes,
    lookup: Lookup,
    captured: Captured,
    results: list[bool] | None = None,
    redactor: Redactor = NO_SECRETS,
) -> Failure | None:
    """None if the response is as expected (and captures taken), else (reason, example). With `results`,
    every expect condition is evaluated and its outcome appended, in `req.checks` order (the checks metric).
    The example is masked by `redactor` before it is cut."""
    failure: Failure | None = None
    if req.expect_status is not None:
        if status not in req.expect_status:
            failure = f"unexpected status {status}", f"expected status {_codes(req.expect_status)}"
        if results is not None:
            results.append(failure is None)
    elif status not in DEFAULT_OK:
        failure = f"status {status}", "expected status 2xx or 3xx"
    if failure is not None and results is None:
        return failure
    if req.expect_contains is not None:
        held = req.expect_contains in body
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
        doc = json.loads(body)
    except ValueError:
        if results is not None:
            results.extend(False for _ in req.expect_json)
        # masked as text, then shown: the bytes' repr (`cl\xc3\xa9...`) is a form of a secret no mask knows
        start = repr(redactor.cut(body[: 40 + redactor.longest].decode("utf-8", "replace"), 40, more=""))
        return failure or ("response is not JSON", f"body starts {start}")
    for steps, text, expected in req.expect_json:
        value = extract(doc, steps)
        try:
            want = render_value(expected, lookup)
        except RenderError as exc:  # `{order.id}` of a capture that took a string: the check cannot hold
            if results is not None:
                results.append(False)
            if failure is None:
                failure = f"check {text} failed", str(exc)
                if results is None:
                    return failure
            continue
        held = found(value) and equal(value, want)
        if results is not None:
            results.append(held)
        if not held and failure is None:
            failure = f"check {text} failed", mismatch(want, value, found(value), redactor)
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


def failed_example(status: int, body: bytes, limit: int = 200, redactor: Redactor = NO_SECRETS) -> str:
    """One failing response for the report: its status and the start of its body, its secrets masked
    before the cut (the body is read no further than the cut and the longest secret need)."""
    text = body[: limit + redactor.longest].decode("utf-8", "replace") if body else ""
    return f"{status} {redactor.cut(text, limit + 3)}".strip()


def _codes(codes: Any) -> str:
    return ", ".join(str(c) for c in sorted(codes))


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
        "path": target_params(outcome.path if outcome.redactor is None else outcome.redactor.text(outcome.path)),
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
    return _COMPACT.encode(doc) + "\n"
