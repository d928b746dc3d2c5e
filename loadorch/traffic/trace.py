"""W3C trace context (https://www.w3.org/TR/trace-context/) for the requests loadorch sends: a
`traceparent` header per request, its trace id unique per run and deterministic (pure).

    traceparent: 00-<trace id: 32 hex>-<parent id: 16 hex>-01     (version 00, flags 01: sampled)

The trace id is the run's 12 hex digits (a one-way hash of the run's own random token: two runs never
share it, and it says nothing of the token), the worker's index (4 hex) and the worker's request
sequence (16 hex, from 1); the parent (span) id is that sequence again, so neither is ever all zeros.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from itertools import chain, count, repeat
from typing import Any

HEADER = "traceparent"
SETUP_WORKER = 0xFFFF  # the worker field of the setup section's requests (the controller sends them)
PROBE_WORKER = 0xFFFE  # ... and of the database collector's N+1 probe
BROWSER_WORKERS = 0xF000  # browser worker i's page requests use the worker field 0xF000 + i
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def run_prefix(token: str) -> str:
    """The run's 12 hex digits of every trace id, from its random token (one-way)."""
    return hashlib.sha256(b"loadorch trace ids\0" + token.encode()).hexdigest()[:12]


class TraceIds:
    """One worker's trace ids, in sequence (every virtual user of the worker draws from the same one).

    `next(ids.parts)` is the next request's header line in three parts, `(prefix, low, mid)`: the line is
    `{prefix}{low}{mid}{low}-01\r\n` (`line_of`; `TAIL` is its end) and the trace id `trace_id_of(parts)`.
    The prefix and mid are made once per 256 sequences and the lows are constants, so a request costs one
    C call and no new string: the lean client joins the parts into its request's head, which it builds
    anyway (#30: the evidence's cost; a whole line a request, made 256 at a time by f-strings, cost about
    1,000 instructions a request, benchmarks/README.md). `line`, `value` and `next` draw from the same
    sequence."""

    __slots__ = ("head", "parts")

    def __init__(self, prefix: str, worker: int) -> None:
        if not re.fullmatch(r"[0-9a-f]{12}", prefix):
            raise ValueError(f"a run's trace prefix is 12 lowercase hex digits, not {prefix!r:.40}")
        self.head = f"{prefix}{worker & 0xFFFF:04x}"
        # the parts of sequences 1, 2, ...
        self.parts: Iterator[tuple[str, str, str]] = chain.from_iterable(map(self._batch, count()))

    def _batch(self, i: int) -> Iterator[tuple[str, str, str]]:
        """The parts of sequences 256 i to 256 i + 255 (from 1: a span is never all zeros), as they are asked."""
        high = f"{i & 0xFFFFFFFFFFFFFF:014x}"
        return zip(repeat(f"{HEADER}: 00-{self.head}{high}"), _HEX2[1:] if i == 0 else _HEX2, repeat(f"-{high}"))

    def line(self) -> str:
        """The next request's header line `traceparent: 00-<trace id>-<span>-01\r\n`."""
        return line_of(next(self.parts))

    def value(self) -> str:
        """The next request's traceparent value, `00-<trace id>-<span>-01` (no header name, no line end)."""
        return self.line()[len(HEADER) + 2 : -2]

    def next(self) -> tuple[str, str]:
        """(trace id, the header line `traceparent: ...\r\n`) of the next request."""
        parts = next(self.parts)
        return trace_id_of(parts), line_of(parts)


TAIL = "-01\r\n"  # a line's end after its parts (flags 01: sampled)
NO_TRACE = ("", "", "")  # the parts of no line (a request that sends none)


def line_of(parts: tuple[str, str, str]) -> str:
    """The header line of a request's parts (TraceIds.parts); "" for NO_TRACE."""
    prefix, low, mid = parts
    return f"{prefix}{low}{mid}{low}{TAIL}" if prefix else ""


def trace_id_of(parts: tuple[str, str, str]) -> str:
    """The trace id of a request's parts (TraceIds.parts); "" for NO_TRACE."""
    return parts[0][ID.start :] + parts[1]


ID = slice(len(HEADER) + 5, len(HEADER) + 37)  # a traceparent line's trace id (trace_id_of reads its start)
_HEX2 = tuple(f"{i:02x}" for i in range(256))


def parse_traceparent(value: str) -> tuple[str, str, bool] | None:
    """(trace id, parent id, sampled) of a traceparent value, None if it is not a valid version-00 one."""
    m = _TRACEPARENT.match(value.strip())
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1), m.group(2), bool(int(m.group(3), 16) & 1)


def sets_traceparent(header_names: object) -> bool:
    """Whether a request's own headers (names) already carry a traceparent (then it keeps its own)."""
    return any(str(n).lower() == HEADER for n in header_names)  # type: ignore[attr-defined]


def trace_client(client: Any, tracer: TraceIds, context: Any = None) -> None:
    """Every request of a python user's client (Locust's HttpSession or FastHttpSession: their get, post
    ... all go through `request`) carries the worker's next W3C traceparent, unless the task or the
    session's own headers set one; its trace id on `context.trace_id` while it runs (its exemplar's). A
    user class without such a client is left as it is."""
    request = getattr(client, "request", None)
    if not callable(request):
        return

    def traced(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or {}
        trace_id = ""
        if not (sets_traceparent(headers) or sets_traceparent(getattr(client, "headers", None) or {})):
            trace_id, line = tracer.next()
            kwargs["headers"] = {**dict(headers), HEADER: line[len(HEADER) + 2 : -2]}
        if context is not None:
            context.trace_id = trace_id  # read by PythonRequests.on_request, in this greenlet, as it ends
        return request(method, url, *args, **kwargs)

    client.request = traced
