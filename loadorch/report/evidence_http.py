"""The HTTP layer of a verdict's evidence: the K slowest requests of a latency gate's selector, with their
trace ids and Server-Timing entries, and where their time went (pure: from the merged tables)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from loadorch.config.evidence import TRACE_ID  # the profile's trace_url placeholder, as validated
from loadorch.results import (
    DescCount,
    EndpointLoad,
    Evidence,
    FailedCheck,
    FailedRequests,
    ServerTimingEntry,
    SlowRequest,
    TimeSplit,
)
from loadorch.stats.exemplars import NOT_MEASURED, USER, Row
from loadorch.stats.servertiming import DESC
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.evaluate import ThresholdResult

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord

LATENCY_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting", "server_timing")
NOT_REQUEST_TAGS = ("entry", "desc")  # a Server-Timing selector's own: its requests match the rest


MAX_FAILED = 10  # (endpoint, method, status) rows of an error-rate gate's evidence, the most failures first


def http_evidence(result: ThresholdResult, record: RunRecord) -> Evidence:
    """`slowest` (and what could not be shown, in `notes`) for a latency gate, `failures` for an error-rate
    gate; nothing for other metrics."""
    t = result.threshold
    if t is not None and t.selector.metric == "http_req_failed" and result.observed is not None:
        return Evidence(failures=failed(record.merged, t.selector.tags))
    if t is not None and t.selector.metric == "http_reqs" and result.observed is not None:
        rate = result.observed if t.expression.aggregation == "rate" else None
        return Evidence(throughput=throughput(record.merged, t.selector.tags, rate))
    if t is not None and t.selector.metric == "server_timing_desc" and result.observed is not None:
        return Evidence(descs=descs_said(record.merged, t.selector.tags))
    if t is not None and t.selector.metric == "checks" and result.observed is not None:
        return Evidence(checks=checks_failed(record.merged, t.selector.tags))
    if t is None or t.selector.metric not in LATENCY_METRICS or result.observed is None:
        return Evidence()  # not a latency gate, or no data: nothing to show
    merged = record.merged.windowed()
    tags = tuple((k, v) for k, v in t.selector.tags if k not in NOT_REQUEST_TAGS)
    rows = matching(merged, tags)
    if not rows:
        why = ("no request of this selector was kept as an exemplar"
               if merged.exemplar_k else "exemplars are off in the profile (evidence.slowest: 0)")
        return Evidence(notes=[why])
    k = merged.exemplar_k or len(rows)
    shown = rows[:k]
    return Evidence(slowest=[slow_request(r, record.trace_url) for r in shown],
                    time_split=time_split(merged, tags, [r[0] for r in shown]))


MAX_SPLITS = 10  # endpoints of a latency gate's time split


def time_split(merged: Merged, tags: tuple[tuple[str, str], ...], first: Sequence[str] = ()) -> list[TimeSplit]:
    """Per endpoint of the selector, each phase's share of its p95 requests' summed duration
    (stats/timesplit.py; None where a request path did not measure it): at most MAX_SPLITS endpoints, those of
    `first` (the slowest requests shown) first, then the most requested (a gate on every endpoint had one row
    per request name, up to max_endpoints, in each latency gate's evidence)."""
    keys: dict[str, set[tuple[str, str, int]]] = {}
    counts: dict[str, int] = {}
    for key, hist in merged.series.items():
        if key.ok and merged.matches(key, tags):
            keys.setdefault(key.name, set()).add((key.name, key.method, key.status))
            counts[key.name] = counts.get(key.name, 0) + hist.count
    named = [n for n in dict.fromkeys(first) if n in keys]
    rest = sorted((n for n in keys if n not in named), key=lambda n: (-counts[n], n))
    out: list[TimeSplit] = []
    for name in [*named, *rest]:
        split = merged.splits.split(name, keys[name])
        if split is not None:
            out.append(split)
            if len(out) == MAX_SPLITS:
                break
    return out


def matching(merged: Merged, tags: tuple[tuple[str, str], ...]) -> list[Row]:
    """The kept rows (slowest first) whose request matches the selector's tags: a row matches when a
    successful series of its user, name, method and status does (its kind and free tags); two users may
    name a request alike. A row that does not know its user (USER "") matches by the rest."""
    by_name: dict[str, list[SeriesKey]] = {}
    for key in merged.series:
        if key.ok:
            by_name.setdefault(key.name, []).append(key)
    out = []
    for r in merged.exemplars.of():
        keys = [k for k in by_name.get(r[0], ())
                if k.method == r[1] and k.status == r[2] and (not r[USER] or k.user == r[USER])]
        if any(merged.matches(k, tags) for k in keys):
            out.append(r)
    return out


def _ms(us: int) -> float | None:
    return None if us == NOT_MEASURED else round(us / 1000.0, 3)


def slow_request(r: Row, trace_url: str = "") -> SlowRequest:
    """An exemplar row as results.json's SlowRequest."""
    trace_id = r[10] or None
    at = datetime.fromtimestamp(r[4], timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return SlowRequest(
        endpoint=r[0],
        method=r[1],
        at=at,
        status=r[2],
        duration_ms=round(r[3] / 1000.0, 3),
        connect_ms=_ms(r[5]),
        tls_ms=_ms(r[6]),
        waiting_ms=_ms(r[7]),
        receiving_ms=_ms(r[8]),
        bytes=None if r[9] == NOT_MEASURED else r[9],
        trace_id=trace_id,
        trace_url=trace_url.replace(TRACE_ID, trace_id) if trace_url and trace_id else None,
        server_timing=[ServerTimingEntry(name=n, dur_ms=d, desc=s) for n, d, s in r[11]],
        worker=r[12],
    )


def failed(merged: Merged, tags: tuple[tuple[str, str], ...]) -> list[FailedRequests]:
    """The selector's failed requests in the window by endpoint, method and status, the most first, each with
    its most frequent error reason (the errors table counts over the whole run)."""
    counts: dict[tuple[str, str, int], int] = {}
    for key, hist in merged.windowed().series.items():
        if not key.ok and hist.count and merged.matches(key, tags):
            at = (key.name, key.method, key.status)
            counts[at] = counts.get(at, 0) + hist.count
    reasons: dict[tuple[str, str, int], dict[str, int]] = {}
    for (key, reason), n in merged.errors.items():
        if (at := (key.name, key.method, key.status)) in counts and merged.matches(key, tags):
            reasons.setdefault(at, {})[reason] = reasons.get(at, {}).get(reason, 0) + n
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_FAILED]
    return [FailedRequests(endpoint=name, method=method, status=status, count=n,
                           reason=max(reasons[at].items(), key=lambda r: (r[1], r[0]))[0] if at in reasons else None)
            for at, n in ranked for name, method, status in [at]]


def failed_line(f: FailedRequests) -> str:
    status = str(f.status) if f.status else "no response"
    return f"{f.count} failed: {f.method} {f.endpoint} {status}" + (f": {f.reason}" if f.reason else "")


def descs_said(merged: Merged, selector_tags: tuple[tuple[str, str], ...]) -> list[DescCount]:
    """How many of the selector's successful responses in the window said each desc of its entry, the most
    first (bounded: the descs kept per entry, stats/servertiming.MAX_DESCS, and `(other)`)."""
    entry = dict(selector_tags).get("entry", "")
    tags = tuple((k, v) for k, v in selector_tags if k not in NOT_REQUEST_TAGS)
    prefix = f"{DESC}{entry}="
    counts: dict[str, int] = {}
    for (tag, key), h in merged.windowed().timings.items():
        if tag.startswith(prefix) and key.ok and merged.matches(key, tags):
            counts[tag[len(prefix):]] = counts.get(tag[len(prefix):], 0) + h.count
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [DescCount(entry=entry, desc=desc, count=n) for desc, n in ranked]


def desc_line(d: DescCount) -> str:
    return f"{d.entry} said " + (f"desc={d.desc}" if d.desc else "no desc") + f": {d.count} responses"


def checks_failed(merged: Merged, tags: tuple[tuple[str, str], ...]) -> list[FailedCheck]:
    """The selector's expect conditions that failed in the window, the most failures first, at most MAX_FAILED,
    each with the first response it failed on (checks are recorded inside the window only)."""
    rows = []
    for ck, (passes, fails) in merged.checks.items():
        _user, name, _kind, method, check = ck
        if fails and _check_matches(merged, ck, tags):
            rows.append(FailedCheck(endpoint=name, method=method, check=check, fails=fails, of=passes + fails,
                                    example=merged.check_examples.get(ck)))
    return sorted(rows, key=lambda r: (-r.fails, r.endpoint, r.check))[:MAX_FAILED]


def _check_matches(merged: Merged, ck: tuple[str, str, str, str, str], tags: tuple[tuple[str, str], ...]) -> bool:
    one = Merged(merged.interval_s)
    one.checks, one.tag_table = {ck: [0, 1]}, merged.tag_table
    return one.check_counts(tags)[1] == 1


def check_line(c: FailedCheck) -> str:
    example = f"; e.g. {c.example}" if c.example else ""
    return f"{c.method} {c.endpoint}: {c.check} failed {c.fails} of {c.of}{example}"


MAX_ENDPOINTS = 10  # (endpoint, method) rows of a throughput gate's evidence, the most requests first


def throughput(merged: Merged, tags: tuple[tuple[str, str], ...], rate: float | None) -> list[EndpointLoad]:
    """The selector's requests in the window by endpoint and method, the most first: each one's count, its part of
    the gate's observed `rate` (None: a count gate), its failures and its successful requests' p95."""
    from loadorch.stats.histogram import Histogram

    counts: dict[tuple[str, str], list[int]] = {}  # (name, method) -> [requests, failed]
    ok: dict[tuple[str, str], Histogram] = {}
    for key, hist in merged.windowed().series.items():
        if hist.count and merged.matches(key, tags):
            at = (key.name, key.method)
            row = counts.setdefault(at, [0, 0])
            row[0] += hist.count
            if key.ok:
                ok[at] = ok[at].merge(hist) if at in ok else Histogram().merge(hist)
            else:
                row[1] += hist.count
    total = sum(n for n, _ in counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))[:MAX_ENDPOINTS]
    return [EndpointLoad(endpoint=name, method=method, requests=n, failed=bad,
                         per_s=None if rate is None or not total else round(rate * n / total, 3),
                         p95_ms=round(ok[at].percentile(95) / 1000.0, 3) if at in ok else None)
            for at, (n, bad) in ranked for name, method in [at]]


def load_line(e: EndpointLoad) -> str:
    rate = f" ({e.per_s:g}/s)" if e.per_s is not None else ""
    p95 = f", p95 {e.p95_ms:g} ms" if e.p95_ms is not None else ", none succeeded"
    bad = f", {e.failed} failed" if e.failed else ""
    return f"{e.requests} requests{rate}: {e.method} {e.endpoint}{p95}{bad}"
