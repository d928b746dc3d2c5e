"""The profile's `trace:` (W3C trace context sent with every request, and a link per trace id) and
`evidence:` (what a failing gate shows: the K slowest requests per endpoint) settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from loadorch.config.base import Strict

TRACE_ID = "{trace_id}"
LINK_CHARS = 2000  # the longest address a report links (report/text.web_link): a trace url past it is refused


class TraceSettings(Strict):
    """`trace: {propagate: true, url: "https://tempo.example/trace/{trace_id}"}`."""

    # send a W3C `traceparent` (sampled) on every request, so the target's own tracing records the same
    # requests; false: send none (a request whose scenario sets its own traceparent keeps it either way)
    propagate: bool = True
    url: str | None = None  # a trace id's link in report.html and summary.md; {trace_id} is replaced

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.startswith(("http://", "https://")) or TRACE_ID not in v:
            raise ValueError(f"must be an http:// or https:// URL with {TRACE_ID} in it, e.g. "
                             f"https://tempo.example/trace/{TRACE_ID}")
        if any(ch.isspace() or ord(ch) < 32 for ch in v):
            raise ValueError("must not contain spaces or control characters")
        linked = v.replace(TRACE_ID, "0" * 32)  # as the reports link it (report/text.web_link), with a trace id
        try:
            host = urlsplit(linked).hostname
        except ValueError as exc:  # "Invalid IPv6 URL"
            raise ValueError(f"is not a valid URL ({exc}); e.g. https://tempo.example/trace/{TRACE_ID}") from None
        if not host:
            raise ValueError(f"has no host; e.g. https://tempo.example/trace/{TRACE_ID}")
        if len(linked) > LINK_CHARS:
            raise ValueError(f"is longer than the {LINK_CHARS} characters a report links, with its trace id in it")
        return v


class EvidenceSettings(Strict):
    """`evidence: {slowest: 5, server_timing: false}`: the K slowest requests kept per endpoint in the window
    (0: none); `server_timing`: every Server-Timing entry of every response as a metric (server_timing,
    server_timing_desc), which a threshold on them turns on by itself."""

    slowest: int = Field(default=5, ge=0, le=50)
    server_timing: bool = False
