"""The k6-compatible threshold grammar: `metric{tag:value}` selectors and `agg op value` expressions."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from loadorch.config.suggest import did_you_mean

METRICS: dict[str, tuple[str, ...]] = {
    "http_req_duration": ("avg", "min", "max", "med", "p"),
    "http_req_waiting": ("avg", "min", "max", "med", "p"),  # time to first byte
    "http_req_connecting": ("avg", "min", "max", "med", "p"),  # TCP (and TLS) connect; 0 on a reused connection
    "http_req_failed": ("rate",),
    "http_reqs": ("count", "rate"),
    "checks": ("rate",),  # the share of `expect` conditions that held (k6's checks)
    # database (loadorch/db): per request from a response header or the probe; server-wide from the collector
    "db_queries_per_request": ("avg", "min", "max", "med", "p"),
    "db_queries": ("count", "rate"),
    "db_query_slow": ("rate",),
}
HTTP_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting", "http_req_failed", "http_reqs")
SERVER_WIDE = ("db_queries", "db_query_slow")  # measured in the database, not per request: no tag filters
# Browser users' web vitals (one sample per page view) and Lighthouse results (one sample per result file).
BROWSER_METRICS = (
    "browser_web_vital_lcp",
    "browser_web_vital_fcp",
    "browser_web_vital_ttfb",
    "browser_web_vital_inp",
    "browser_web_vital_cls",
)
LIGHTHOUSE_METRICS = ("lighthouse_audit", "lighthouse_score")
# page weight per page view and resource type (document, script, stylesheet, image, font, other, third-party,
# total): transfer bytes, decoded bytes, requests; a Lighthouse result's resource-summary is read into the same
RESOURCE_METRICS = ("browser_resource_bytes", "browser_resource_decoded_bytes", "browser_resource_count")
RESOURCE_TYPES = ("document", "script", "stylesheet", "image", "font", "other", "third-party", "total")
METRICS.update(
    {m: ("avg", "min", "max", "med", "p") for m in (*BROWSER_METRICS, *LIGHTHOUSE_METRICS, *RESOURCE_METRICS)}
)
METRICS["browser_step_failed"] = ("rate",)
# the target's own Server-Timing entries (`app;dur=47`, `cache;desc=hit`): an entry's durations (ms), and the
# share of responses with that entry whose desc was the one named (a cache hit ratio)
SERVER_TIMING_METRICS = ("server_timing", "server_timing_desc")
METRICS["server_timing"] = ("avg", "min", "max", "med", "p")
METRICS["server_timing_desc"] = ("rate",)
# Tags a metric family can be filtered by; other metrics use TAGS.
METRIC_TAGS: dict[str, tuple[str, ...]] = {
    **{m: ("page", "user") for m in (*BROWSER_METRICS, "browser_step_failed")},
    **{m: ("page", "user", "type") for m in RESOURCE_METRICS},
    "lighthouse_audit": ("id",),
    "lighthouse_score": ("category",),
}
AGGREGATIONS = ("avg", "min", "max", "med", "count", "rate", "p")
OPERATORS = ("===", "==", "!=", "<=", ">=", "<", ">")
TAGS = ("kind", "name", "method", "status", "user")
METRIC_TAGS["checks"] = ("kind", "name", "method", "user", "check")
METRIC_TAGS["server_timing"] = ("entry", *TAGS)
METRIC_TAGS["server_timing_desc"] = ("entry", "desc", *TAGS)
EXPECTED_RESPONSE = "expected_response"  # k6's; our HTTP latencies already count successful requests only

_SELECTOR = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(.*)\})?\s*\Z", re.DOTALL)
_AGG = re.compile(r"\s*(p\s*\(([^)]*)\)|[A-Za-z_][A-Za-z0-9_]*)\s*")
_OP = re.compile(r"([<>=!]+)\s*")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


class ThresholdSyntaxError(ValueError):
    """A threshold that cannot be parsed; the message names the text and what is wrong."""


@dataclass(frozen=True)
class Selector:
    metric: str
    tags: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return selector_text(self.metric, self.tags)


def selector_text(metric: str, tags: Iterable[tuple[str, str]]) -> str:
    """`metric{tag:value,...}`, each value as parse_selector reads it back (quoted when it must be)."""
    body = ",".join(f"{k}:{tag_value_text(v)}" for k, v in tags)
    return f"{metric}{{{body}}}" if body else metric


def tag_value_text(value: str) -> str:
    """A tag filter's value as written in a selector: as it is, or in double quotes (`\\` and `\"` escaped
    inside) when it holds a comma, starts with a quote or has spaces at its ends."""
    if value and value == value.strip() and "," not in value and value[0] not in "\"'":
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_tag_filters(body: str, text: str) -> list[tuple[str, str]]:
    """The `tag:value` pairs of a selector's braces, joined by commas. A value is taken as written (its ends
    trimmed), or in double or single quotes, where it may hold commas, braces and quotes (`\\"`, `\\\\`)."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(body)
    while True:
        colon, comma = body.find(":", i), body.find(",", i)
        if colon < 0 or (0 <= comma < colon):
            part = body[i : comma if comma >= 0 else n].strip()
            raise ThresholdSyntaxError(f"invalid tag filter {part!r} in {text!r}; expected tag:value "
                                       '(a value holding a comma is quoted: name:"list, products")')
        name, j = body[i:colon].strip(), colon + 1
        while j < n and body[j].isspace():
            j += 1
        if j < n and body[j] in "\"'":
            value, j = _quoted(body, j, text)
            while j < n and body[j].isspace():
                j += 1
            if j < n and body[j] != ",":
                raise ThresholdSyntaxError(f"{body[j:].split(',')[0]!r} after the quoted value of {name!r} in "
                                           f"{text!r}; end the quotes after the whole value, or separate filters "
                                           "with commas")
        else:
            end = body.find(",", j)
            end = n if end < 0 else end
            value, j = body[j:end].strip(), end
        if not name or not value:
            raise ThresholdSyntaxError(f"invalid tag filter {body[i:j].strip()!r} in {text!r}; expected tag:value")
        pairs.append((name, value))
        if j >= n:
            return pairs
        i = j + 1


def _quoted(body: str, start: int, text: str) -> tuple[str, int]:
    """The value of the quoted string at `start` and the index after its closing quote."""
    quote, j = body[start], start + 1
    out: list[str] = []
    while j < len(body) and body[j] != quote:
        if body[j] == "\\" and j + 1 < len(body):
            j += 1
        out.append(body[j])
        j += 1
    if j >= len(body):
        raise ThresholdSyntaxError(f"the quote {quote} opened at {body[start:start + 20]!r} in {text!r} is not "
                                   f"closed; close it with {quote}")
    return "".join(out), j + 1


@dataclass(frozen=True)
class Expression:
    aggregation: str  # one of AGGREGATIONS; "p" carries `percentile`
    op: str
    value: float
    percentile: float | None = None

    @property
    def label(self) -> str:
        if self.aggregation == "p":
            return f"p({_fmt(self.percentile or 0.0)})"
        return self.aggregation

    def __str__(self) -> str:
        return f"{self.label}{self.op}{_fmt(self.value)}"

    def holds(self, observed: float) -> bool:
        """Whether `observed op value` is true (the threshold passes)."""
        return {
            "<": observed < self.value,
            "<=": observed <= self.value,
            ">": observed > self.value,
            ">=": observed >= self.value,
            "==": observed == self.value,
            "===": observed == self.value,
            "!=": observed != self.value,
        }[self.op]


@dataclass(frozen=True)
class Threshold:
    selector: Selector
    expression: Expression
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.selector} {self.expression}"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def allowed_tags(metric: str, free_tags: Iterable[str] = ()) -> tuple[str, ...]:
    """The tags a selector on `metric` may filter by: the metric's own, k6's expected_response on HTTP
    metrics, and the scenario's free tags on HTTP metrics and checks."""
    own = METRIC_TAGS.get(metric, TAGS)
    if metric in HTTP_METRICS:
        own = (*own, EXPECTED_RESPONSE)
    if metric in HTTP_METRICS or metric == "checks":
        own = (*own, *sorted(set(free_tags) - set(own)))
    return own


def parse_selector(text: str, free_tags: Iterable[str] = ()) -> Selector:
    m = _SELECTOR.match(text)
    if not m:
        raise ThresholdSyntaxError(f"invalid metric selector {text!r}; expected metric or metric{{tag:value}}")
    metric, body = m.group(1), m.group(2)
    if metric not in METRICS:
        raise ThresholdSyntaxError(_unknown("metric", metric, METRICS))
    tags: list[tuple[str, str]] = []
    if body is not None and metric in SERVER_WIDE:
        raise ThresholdSyntaxError(
            f"{metric} counts every statement in the database during the load window: it takes no tag filter; "
            f"write {metric} alone (per endpoint: db_queries_per_request{{name:...}})"
        )
    if body is not None:
        if not body.strip():
            raise ThresholdSyntaxError(f"empty tag filter in {text!r}; write {metric}{{tag:value}} or just {metric}")
        for name, value in split_tag_filters(body, text):
            allowed = allowed_tags(metric, free_tags)
            if name not in allowed:
                hint = f" ({metric} has tags {', '.join(allowed)})"
                raise ThresholdSyntaxError(_unknown("tag", name, allowed) + hint)
            if name == "kind" and value not in ("read", "write"):
                raise ThresholdSyntaxError(f"kind must be read or write, not {value!r}")
            if name == "type" and metric in RESOURCE_METRICS and value not in RESOURCE_TYPES:
                raise ThresholdSyntaxError(_unknown("resource type", value, RESOURCE_TYPES))
            if name == EXPECTED_RESPONSE and value != "true":
                raise ThresholdSyntaxError(
                    f"{EXPECTED_RESPONSE}:{value} is not supported; {EXPECTED_RESPONSE}:true (successful requests) "
                    "is what latency metrics measure already, and http_req_failed counts the others"
                )
            tags.append((name, value))
    if metric in SERVER_TIMING_METRICS:
        _server_timing_tags(text, metric, dict(tags))
    return Selector(metric, tuple(tags))


def _server_timing_tags(text: str, metric: str, tags: dict[str, str]) -> None:
    """server_timing names its entry; server_timing_desc its entry and desc."""
    desc_example = "server_timing_desc{entry:cache,desc:hit}"
    if "entry" not in tags:
        example = "server_timing{entry:app}" if metric == "server_timing" else desc_example
        raise ThresholdSyntaxError(f"{text!r} names no Server-Timing entry; write e.g. {example}")
    if metric == "server_timing_desc" and "desc" not in tags:
        raise ThresholdSyntaxError(f"{text!r} names no desc to count; write e.g. {desc_example}")


def parse_expression(text: str, metric: str | None = None) -> Expression:
    if not isinstance(text, str) or not text.strip():
        raise ThresholdSyntaxError("empty threshold expression; expected e.g. p(95)<300")
    m = _AGG.match(text)
    if not m:
        raise ThresholdSyntaxError(f"{text!r}: expected an aggregation such as p(95), avg or rate first")
    token, pct_text = m.group(1), m.group(2)
    percentile: float | None = None
    if pct_text is not None:
        aggregation = "p"
        percentile = _percentile(pct_text, text)
    else:
        aggregation = token
        if aggregation not in AGGREGATIONS or aggregation == "p":
            raise ThresholdSyntaxError(f"{text!r}: " + _unknown("aggregation", aggregation, _AGG_NAMES))
    rest = text[m.end() :]
    om = _OP.match(rest)
    if not om or om.group(1) not in OPERATORS:
        found = om.group(1) if om else rest[:1] or "nothing"
        raise ThresholdSyntaxError(f"{text!r}: unknown operator {found!r}; use one of {', '.join(OPERATORS)}")
    op = om.group(1)
    value_text = rest[om.end() :].strip()
    if not _NUMBER.match(value_text):
        raise ThresholdSyntaxError(f"{text!r}: limit {value_text or 'is missing'!r} is not a number"
                                   + _in_unit(value_text, metric))
    value = float(value_text)
    if not math.isfinite(value):
        raise ThresholdSyntaxError(f"{text!r}: limit must be a finite number")
    if metric is not None and aggregation not in METRICS[metric]:
        allowed = ", ".join("p(N)" if a == "p" else a for a in METRICS[metric])
        raise ThresholdSyntaxError(f"{text!r}: {metric} has no aggregation {_label(aggregation)}; use {allowed}")
    return Expression(aggregation, op, value, percentile)


_AGG_NAMES = ("avg", "min", "max", "med", "count", "rate", "p(N)")


# metrics whose limits are milliseconds (a latency, a Server-Timing dur, a timed web vital)
MS_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting", "server_timing",
              "browser_web_vital_lcp", "browser_web_vital_fcp", "browser_web_vital_ttfb", "browser_web_vital_inp")


def _in_unit(value_text: str, metric: str | None) -> str:
    """The fix for a limit written with a unit: a time on a milliseconds metric (`300ms`, `1.5s`) or a size on a
    bytes metric (`400KiB`): the bare number it means."""
    if metric in MS_METRICS:
        from loadorch.config.units import parse_duration

        try:
            ms = parse_duration(value_text.replace(" ", "")) * 1000.0
        except ValueError:
            return "; the limit is a number of milliseconds"
        return f"; the limit is a number of milliseconds: write {f'{ms:.6f}'.rstrip('0').rstrip('.')}"
    if metric not in ("browser_resource_bytes", "browser_resource_decoded_bytes"):
        return ""
    from loadorch.config.units import parse_size  # pydantic's import: on this error's path only

    try:
        n = parse_size(value_text.replace(" ", ""))
    except ValueError:
        return "; the limit is a number of bytes"
    return f"; the limit is a number of bytes: write {n}"


def _label(aggregation: str) -> str:
    return "p(N)" if aggregation == "p" else aggregation


def _percentile(pct_text: str, text: str) -> float:
    pct_text = pct_text.strip()
    if not _NUMBER.match(pct_text):
        raise ThresholdSyntaxError(f"{text!r}: percentile {pct_text!r} is not a number; write e.g. p(95) or p(99.9)")
    pct = float(pct_text)
    if not 0.0 <= pct <= 100.0:
        raise ThresholdSyntaxError(f"{text!r}: percentile {pct_text} is outside 0..100")
    return pct


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    return f"unknown {what} {name!r}; {did_you_mean(name, known)}"


DEFAULT_THRESHOLDS: dict[str, list[str]] = {
    "http_req_duration{kind:read}": ["p(95)<300"],
    "http_req_duration{kind:write}": ["p(95)<700"],
    "http_req_failed": ["rate<0.01"],
}
# Core Web Vitals budgets at p75 (web.dev "good"), for scenarios with browser users; INP only when a journey
# interacts (a page view without input has no INP).
DEFAULT_BROWSER_THRESHOLDS: dict[str, list[str]] = {
    "browser_web_vital_lcp": ["p(75)<2500"],
    "browser_web_vital_cls": ["p(75)<0.1"],
    "browser_web_vital_inp": ["p(75)<200"],
    "browser_step_failed": ["rate<0.01"],
}
# the metrics of the browser users' own gates: one of them set in the files replaces the browser defaults
BROWSER_GATED = (*BROWSER_METRICS, "browser_step_failed")
# what measures each metric: HTTP users' requests, browser users' page views, Lighthouse result files
HTTP_MEASURED = (*HTTP_METRICS, "checks", "db_queries_per_request", *SERVER_TIMING_METRICS)
LIGHTHOUSE_MEASURED = (*LIGHTHOUSE_METRICS, *RESOURCE_METRICS)  # resource weight: page views or Lighthouse


def unmeasured(metric: str, http_users: bool, browsers: bool, lighthouse: bool = True) -> str | None:
    """Why a threshold on `metric` could only ever read "no data" in this scenario (None: it can be
    measured): HTTP metrics need users, browser metrics browsers, Lighthouse metrics the profile's results
    (`lighthouse`: unknown until the profile is read, so assumed)."""
    if metric in HTTP_MEASURED and not http_users:
        return (
            f"{metric} measures HTTP requests and this scenario has no users (browsers only): it could only "
            "read no data; gate its pages with browser_web_vital_* thresholds, or add users"
        )
    if metric in BROWSER_GATED and not browsers:
        return (
            f"{metric} is measured by browser users and this scenario has no browsers: it could only read "
            "no data; add browsers: (headless Chromium pages) or remove this threshold"
        )
    if metric in LIGHTHOUSE_MEASURED and not lighthouse and not (browsers and metric in RESOURCE_METRICS):
        return (
            f"{metric} is read from Lighthouse results and the profile gives none: it could only read no "
            "data; add lighthouse: [FILE.json] to the profile" + (" or browsers: to the scenario"
                                                                   if metric in RESOURCE_METRICS else "")
        )
    return None
