"""Request statistics: per-series histograms recorded on workers, shipped as deltas, merged on the master.

A series is one combination of tags (user, name, kind, method, status) plus success or failure.
Failures keep their own histogram, so latency thresholds see successful requests only. Queries per
request (from a response header) go in a histogram of their own per series: counts are exact there.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from typing_extensions import NotRequired, TypedDict

from loadorch.verdict.histogram import Histogram, HistogramJson

TAG_NAMES = ("user", "name", "kind", "method", "status")
SeriesKeyJson = tuple[str, str, str, str, int, bool]
K = TypeVar("K")


class TablesJson(TypedDict):
    """The four tables as JSON: a worker's delta, and (with interval_s, per_worker) the merged stats."""

    series: list[tuple[SeriesKeyJson, HistogramJson]]
    intervals: list[tuple[int, str, bool, HistogramJson]]
    errors: list[tuple[SeriesKeyJson, str, int]]
    examples: NotRequired[list[tuple[SeriesKeyJson, str, str]]]  # the first example of each error reason
    service: list[tuple[SeriesKeyJson, HistogramJson]]
    db: NotRequired[list[tuple[SeriesKeyJson, HistogramJson]]]  # database queries per request
    le: NotRequired[list[tuple[SeriesKeyJson, list[int]]]]  # live metrics only (see Recorder)
    endpoint_intervals: NotRequired[list[tuple[int, str, HistogramJson]]]  # successful latencies per endpoint


class MergedJson(TablesJson):
    interval_s: NotRequired[float]
    per_worker: NotRequired[dict[str, int]]
    endpoint_step: NotRequired[int]

ENDPOINT_SLOTS = 120  # per-endpoint timelines keep at most this many slots (coarser as a run grows)


@dataclass(frozen=True)
class SeriesKey:
    user: str
    name: str
    kind: str
    method: str
    status: int
    ok: bool

    def tag(self, tag: str) -> str:
        return str(getattr(self, tag))

    def as_list(self) -> SeriesKeyJson:
        return (self.user, self.name, self.kind, self.method, self.status, self.ok)

    @classmethod
    def from_list(cls, v: Iterable[Any]) -> SeriesKey:
        user, name, kind, method, status, ok = v
        return cls(str(user), str(name), str(kind), str(method), int(status), bool(ok))


def _hist(table: dict[K, Histogram], key: K) -> Histogram:
    h = table.get(key)
    if h is None:
        h = table[key] = Histogram()
    return h


class Tables:
    """Latencies per series, per time interval (by kind and outcome), error reasons, and the open model's
    service times: the one shape a worker records into and the master merges into."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.series: dict[SeriesKey, Histogram] = {}
        self.intervals: dict[tuple[int, str, bool], Histogram] = {}
        # successful latencies per (slot, endpoint name); on the master a slot spans `endpoint_step` intervals
        self.endpoint_intervals: dict[tuple[int, str], Histogram] = {}
        self.endpoint_step = 1
        self.errors: dict[tuple[SeriesKey, str], int] = {}
        self.examples: dict[tuple[SeriesKey, str], str] = {}  # the first example of each error reason
        self.service: dict[SeriesKey, Histogram] = {}
        self.db: dict[SeriesKey, Histogram] = {}  # database queries per request, where the response said
        self.le: dict[SeriesKey, list[int]] = {}  # exact counts per metrics edge interval (see Recorder)

    def clear(self) -> None:
        self.series, self.intervals, self.errors, self.service, self.db, self.le = {}, {}, {}, {}, {}, {}
        self.endpoint_intervals, self.examples = {}, {}

    def tables_json(self) -> TablesJson:
        out: TablesJson = {
            "series": [(k.as_list(), h.to_json()) for k, h in sorted(self.series.items(), key=_by_key)],
            "intervals": [(i, kind, ok, h.to_json()) for (i, kind, ok), h in sorted(self.intervals.items())],
            "errors": [(k.as_list(), reason, n) for (k, reason), n in self.errors.items()],
            "examples": [(k.as_list(), reason, text) for (k, reason), text in self.examples.items()],
            "service": [(k.as_list(), h.to_json()) for k, h in sorted(self.service.items(), key=_by_key)],
            "db": [(k.as_list(), h.to_json()) for k, h in sorted(self.db.items(), key=_by_key)],
        }
        if self.endpoint_intervals:
            out["endpoint_intervals"] = [(i, n, h.to_json()) for (i, n), h in sorted(self.endpoint_intervals.items())]
        if self.le:
            out["le"] = [(k.as_list(), counts) for k, counts in self.le.items()]
        return out

    def add_tables(self, data: TablesJson) -> int:
        """Merge tables given as JSON; returns how many requests they add."""
        added = 0
        for key_list, hist in data["series"]:
            h = Histogram.from_json(hist)
            added += h.count
            _hist(self.series, SeriesKey.from_list(key_list)).merge(h)
        for i, kind, ok, hist in data["intervals"]:
            _hist(self.intervals, (int(i), str(kind), bool(ok))).merge(Histogram.from_json(hist))
        for key_list, reason, n in data["errors"]:
            ek = (SeriesKey.from_list(key_list), str(reason))
            self.errors[ek] = self.errors.get(ek, 0) + int(n)
        for key_list, reason, text in data.get("examples", []):
            self.examples.setdefault((SeriesKey.from_list(key_list), str(reason)), str(text))
        for key_list, hist in data.get("service", []):
            _hist(self.service, SeriesKey.from_list(key_list)).merge(Histogram.from_json(hist))
        for key_list, hist in data.get("db", []):
            _hist(self.db, SeriesKey.from_list(key_list)).merge(Histogram.from_json(hist))
        for i, name, hist in data.get("endpoint_intervals", []):
            self.add_endpoint_interval(int(i) // self.endpoint_step, str(name), Histogram.from_json(hist))
        for key_list, counts in data.get("le", []):
            key = SeriesKey.from_list(key_list)
            have = self.le.get(key)
            if have is None:
                self.le[key] = [int(n) for n in counts]
            elif len(have) == len(counts):
                self.le[key] = [a + int(b) for a, b in zip(have, counts)]
        return added

    def add_endpoint_interval(self, slot: int, name: str, h: Histogram) -> None:
        """Merge one endpoint's slot; past ENDPOINT_SLOTS slots, halve the resolution (memory stays bounded)."""
        while slot >= ENDPOINT_SLOTS:
            coarse: dict[tuple[int, str], Histogram] = {}
            for (i, n), old in self.endpoint_intervals.items():
                _hist(coarse, (i // 2, n)).merge(old)
            self.endpoint_intervals = coarse
            self.endpoint_step *= 2
            slot //= 2
        _hist(self.endpoint_intervals, (slot, name)).merge(h)


def _by_key(item: tuple[SeriesKey, Histogram]) -> tuple[Any, ...]:
    return item[0].as_list()


class Recorder(Tables):
    """Worker side: records requests and hands out deltas since the last call."""

    def __init__(self, interval_s: float, t0: float, edges_us: Sequence[int] = ()) -> None:
        super().__init__(interval_s)
        self.t0 = t0
        # live metrics: exact counts per (previous edge, edge] interval, so a Prometheus bucket at a
        # threshold's limit counts exactly (the histogram's own buckets straddle the limit)
        self.edges_us = tuple(edges_us)
        self.total = 0

    def record(
        self,
        key: SeriesKey,
        latency_us: int,
        at: float,
        error: str | None = None,
        service_us: int | None = None,
        db_queries: int | None = None,
        example: str | None = None,
    ) -> None:
        h = self.series.get(key)
        if h is None:
            h = self.series[key] = Histogram()
        h.record(latency_us)
        if self.edges_us:
            counts = self.le.get(key)
            if counts is None:
                counts = self.le[key] = [0] * (len(self.edges_us) + 1)
            counts[bisect_left(self.edges_us, latency_us)] += 1
        if service_us is not None:
            _hist(self.service, key).record(service_us)
        if db_queries is not None:
            _hist(self.db, key).record(db_queries)
        slot = (max(0, int((at - self.t0) / self.interval_s)), key.kind, key.ok)
        ih = self.intervals.get(slot)
        if ih is None:
            ih = self.intervals[slot] = Histogram()
        ih.record(latency_us)
        if key.ok:
            eh = self.endpoint_intervals.get((slot[0], key.name))
            if eh is None:
                eh = self.endpoint_intervals[(slot[0], key.name)] = Histogram()
            eh.record(latency_us)
        if error is not None:
            ek = (key, error[:200])
            self.errors[ek] = self.errors.get(ek, 0) + 1
            if example is not None and ek not in self.examples:
                self.examples[ek] = example[:300]
        self.total += 1

    def take_delta(self) -> TablesJson:
        delta = self.tables_json()
        self.clear()
        return delta


class Merged(Tables):
    """Master side: the sum of every worker's deltas, and each worker's own count."""

    def __init__(self, interval_s: float = 1.0) -> None:
        super().__init__(interval_s)
        self.per_worker: dict[int, int] = {}

    def add_delta(self, worker: int, delta: TablesJson) -> None:
        added = self.add_tables(delta)
        self.per_worker[worker] = self.per_worker.get(worker, 0) + added

    def select(self, tags: Iterable[tuple[str, str]] = (), ok: bool | None = True, service: bool = False) -> Histogram:
        """Pooled histogram of the series whose tags all match (AND) and whose outcome is `ok`
        (`service`: the open model's service times instead of latencies from the due time)."""
        tags = tuple(tags)
        out = Histogram()
        for key, h in (self.service if service else self.series).items():
            if ok is not None and key.ok != ok:
                continue
            if all(_tag_matches(key, t, v) for t, v in tags):
                out.merge(h)
        return out

    def select_db(self, tags: Iterable[tuple[str, str]] = ()) -> Histogram:
        """Pooled queries-per-request histogram of the matching series (every response that said)."""
        tags = tuple(tags)
        out = Histogram()
        for key, h in self.db.items():
            if all(_tag_matches(key, t, v) for t, v in tags):
                out.merge(h)
        return out

    def counts(self, tags: Iterable[tuple[str, str]] = ()) -> tuple[int, int]:
        """(requests, failures) over the series whose tags match."""
        tags = tuple(tags)
        total = failures = 0
        for key, h in self.series.items():
            if all(_tag_matches(key, t, v) for t, v in tags):
                total += h.count
                if not key.ok:
                    failures += h.count
        return total, failures

    def status_counts(self, tags: Iterable[tuple[str, str]] = (), ok: bool | None = None) -> dict[int, int]:
        tags = tuple(tags)
        out: dict[int, int] = {}
        for key, h in self.series.items():
            if (ok is None or key.ok == ok) and all(_tag_matches(key, t, v) for t, v in tags):
                out[key.status] = out.get(key.status, 0) + h.count
        return dict(sorted(out.items()))

    @property
    def total(self) -> int:
        return sum(h.count for h in self.series.values())

    def to_json(self) -> MergedJson:
        tables = self.tables_json()
        tables.pop("le", None)  # live metrics only: results.json keeps the histograms
        endpoints = tables.pop("endpoint_intervals", [])
        return {
            "interval_s": self.interval_s,
            **tables,
            "per_worker": {str(w): n for w, n in sorted(self.per_worker.items())},
            "endpoint_step": self.endpoint_step,
            "endpoint_intervals": endpoints,
        }

    @classmethod
    def from_json(cls, data: MergedJson) -> Merged:
        m = cls(float(data.get("interval_s", 1.0)))
        m.add_tables(
            {
                "series": data["series"],
                "intervals": data.get("intervals", []),
                "errors": data.get("errors", []),
                "examples": data.get("examples", []),
                "service": data.get("service", []),
                "db": data.get("db", []),
            }
        )
        m.per_worker = {int(w): int(n) for w, n in data.get("per_worker", {}).items()}
        m.endpoint_step = int(data.get("endpoint_step", 1))
        for i, name, hist in data.get("endpoint_intervals", []):
            m.add_endpoint_interval(int(i), str(name), Histogram.from_json(hist))
        return m


def _tag_matches(key: SeriesKey, tag: str, value: str) -> bool:
    if tag == "method":
        return key.method == value.upper()
    return key.tag(tag) == value


def latency_stats(ok: Histogram, total: int, failures: int, seconds: float) -> dict[str, Any]:
    """The per-kind / per-endpoint stats block of results.json (latencies in ms, successful requests)."""

    def ms(us: float) -> float | None:
        return None if math.isnan(us) else round(us / 1000.0, 3)

    return {
        "count": total,
        "failures": failures,
        "rps": round(total / seconds, 3) if seconds > 0 else 0.0,
        "min_ms": ms(float(ok.min)) if ok.count else None,
        "mean_ms": ms(ok.mean),
        "p50_ms": ms(ok.percentile(50)),
        "p90_ms": ms(ok.percentile(90)),
        "p95_ms": ms(ok.percentile(95)),
        "p99_ms": ms(ok.percentile(99)),
        "p999_ms": ms(ok.percentile(99.9)),
        "max_ms": ms(float(ok.max)) if ok.count else None,
    }
