"""The HTTP layer of a verdict's evidence: the K slowest requests of a latency gate's selector, with their
trace ids and Server-Timing entries, and where their time went (pure: from the merged tables)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from loadorch.results import Evidence, ServerTimingEntry, SlowRequest, TimeSplit
from loadorch.stats.exemplars import NOT_MEASURED, Row
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.evaluate import ThresholdResult

if TYPE_CHECKING:
    from loadorch.report.record import RunRecord

LATENCY_METRICS = ("http_req_duration", "http_req_waiting", "http_req_connecting", "server_timing")
NOT_REQUEST_TAGS = ("entry", "desc")  # a Server-Timing selector's own: its requests match the rest
TRACE_ID = "{trace_id}"


def http_evidence(result: ThresholdResult, record: RunRecord) -> Evidence:
    """`slowest` (and what could not be shown, in `notes`) for a latency gate; nothing for other metrics."""
    t = result.threshold
    if t is None or t.selector.metric not in LATENCY_METRICS or result.observed is None:
        return Evidence()  # not a latency gate, or no data: nothing to show
    merged = record.merged.windowed()
    rows = matching(merged, tuple((k, v) for k, v in t.selector.tags if k not in NOT_REQUEST_TAGS))
    if not rows:
        why = ("no request of this selector was kept as an exemplar"
               if merged.exemplar_k else "exemplars are off in the profile (evidence.slowest: 0)")
        return Evidence(notes=[why])
    k = merged.exemplar_k or len(rows)
    return Evidence(slowest=[slow_request(r, record.trace_url) for r in rows[:k]], time_split=time_split(rows))


def time_split(rows: list[Row]) -> list[TimeSplit]:
    """Per endpoint, each phase's share of its kept slowest requests' summed duration (None where a
    request path did not measure it)."""
    by_endpoint: dict[str, list[Row]] = {}
    for r in rows:
        by_endpoint.setdefault(r[0], []).append(r)
    out = []
    for name, kept in sorted(by_endpoint.items()):
        total = sum(r[3] for r in kept)
        out.append(TimeSplit(endpoint=name, requests=len(kept), connect=_share(kept, total, 5),  # the row's columns
                             tls=_share(kept, total, 6), waiting=_share(kept, total, 7),
                             receiving=_share(kept, total, 8)))
    return out


def _share(kept: list[Row], total: int, i: int) -> float | None:
    measured = total > 0 and all(r[i] != NOT_MEASURED for r in kept)
    return round(sum(r[i] for r in kept) / total, 4) if measured else None


def matching(merged: Merged, tags: tuple[tuple[str, str], ...]) -> list[Row]:
    """The kept rows (slowest first) whose request matches the selector's tags: a row matches when a
    successful series of its name, method and status does (its user, kind and free tags)."""
    by_name: dict[str, list[SeriesKey]] = {}
    for key in merged.series:
        if key.ok:
            by_name.setdefault(key.name, []).append(key)
    out = []
    for r in merged.exemplars.of():
        keys = [k for k in by_name.get(r[0], ()) if k.method == r[1] and k.status == r[2]]
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
