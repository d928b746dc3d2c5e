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
from typing import Any

from loadorch.verdict.histogram import Histogram

TAG_NAMES = ("user", "name", "kind", "method", "status")
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

    def as_list(self) -> list[Any]:
        return [self.user, self.name, self.kind, self.method, self.status, self.ok]

    @classmethod
    def from_list(cls, v: list[Any]) -> SeriesKey:
        return cls(str(v[0]), str(v[1]), str(v[2]), str(v[3]), int(v[4]), bool(v[5]))


class Recorder:
    """Worker side: records requests and hands out deltas since the last call."""

    def __init__(self, interval_s: float, t0: float, edges_us: Sequence[int] = ()) -> None:
        self.interval_s = interval_s
        self.t0 = t0
        # live metrics: exact counts per (previous edge, edge] interval, so a Prometheus bucket at a
        # threshold's limit counts exactly (the histogram's own buckets straddle the limit)
        self.edges_us = tuple(edges_us)
        self.le: dict[SeriesKey, list[int]] = {}
        self.series: dict[SeriesKey, Histogram] = {}
        self.intervals: dict[tuple[int, str, bool], Histogram] = {}
        self.endpoint_intervals: dict[tuple[int, str], Histogram] = {}
        self.errors: dict[tuple[SeriesKey, str], int] = {}
        self.examples: dict[tuple[SeriesKey, str], str] = {}  # the first example of each error reason
        self.service: dict[SeriesKey, Histogram] = {}
        self.db: dict[SeriesKey, Histogram] = {}
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
            sh = self.service.get(key)
            if sh is None:
                sh = self.service[key] = Histogram()
            sh.record(service_us)
        if db_queries is not None:
            dh = self.db.get(key)
            if dh is None:
                dh = self.db[key] = Histogram()
            dh.record(db_queries)
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

    def take_delta(self) -> dict[str, Any]:
        delta: dict[str, Any] = {
            "series": [[k.as_list(), h.to_json()] for k, h in self.series.items()],
            "intervals": [[i, kind, ok, h.to_json()] for (i, kind, ok), h in self.intervals.items()],
            "errors": [[k.as_list(), reason, n] for (k, reason), n in self.errors.items()],
            "examples": [[k.as_list(), reason, text] for (k, reason), text in self.examples.items()],
            "service": [[k.as_list(), h.to_json()] for k, h in self.service.items()],
            "db": [[k.as_list(), h.to_json()] for k, h in self.db.items()],
            "endpoint_intervals": [[i, name, h.to_json()] for (i, name), h in self.endpoint_intervals.items()],
            "total": self.total,
        }
        if self.edges_us:
            delta["le"] = [[k.as_list(), counts] for k, counts in self.le.items()]
            self.le = {}
        self.series, self.intervals, self.errors, self.service, self.db = {}, {}, {}, {}, {}
        self.examples = {}
        self.endpoint_intervals = {}
        return delta


class Merged:
    """Master side: the sum of every worker's deltas, and each worker's own count."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.series: dict[SeriesKey, Histogram] = {}
        self.intervals: dict[tuple[int, str, bool], Histogram] = {}
        self.errors: dict[tuple[SeriesKey, str], int] = {}
        self.examples: dict[tuple[SeriesKey, str], str] = {}
        self.service: dict[SeriesKey, Histogram] = {}
        self.db: dict[SeriesKey, Histogram] = {}
        self.le: dict[SeriesKey, list[int]] = {}  # exact counts per metrics edge interval (see Recorder)
        self.per_worker: dict[int, int] = {}
        # successful latencies per (slot, endpoint name); a slot spans `endpoint_step` intervals
        self.endpoint_intervals: dict[tuple[int, str], Histogram] = {}
        self.endpoint_step = 1

    def add_delta(self, worker: int, delta: dict[str, Any]) -> None:
        added = 0
        for key_list, hist in delta["series"]:
            h = Histogram.from_json(hist)
            added += h.count
            self._hist(self.series, SeriesKey.from_list(key_list)).merge(h)
        for i, kind, ok, hist in delta["intervals"]:
            self._hist(self.intervals, (int(i), str(kind), bool(ok))).merge(Histogram.from_json(hist))
        for key_list, reason, n in delta["errors"]:
            ek = (SeriesKey.from_list(key_list), str(reason))
            self.errors[ek] = self.errors.get(ek, 0) + int(n)
        for key_list, reason, text in delta.get("examples", []):
            self.examples.setdefault((SeriesKey.from_list(key_list), str(reason)), str(text))
        for key_list, hist in delta.get("service", []):
            self._hist(self.service, SeriesKey.from_list(key_list)).merge(Histogram.from_json(hist))
        for key_list, hist in delta.get("db", []):
            self._hist(self.db, SeriesKey.from_list(key_list)).merge(Histogram.from_json(hist))
        for i, name, hist in delta.get("endpoint_intervals", []):
            self.add_endpoint_interval(int(i) // self.endpoint_step, str(name), Histogram.from_json(hist))
        for key_list, counts in delta.get("le", []):
            key = SeriesKey.from_list(key_list)
            have = self.le.get(key)
            if have is None:
                self.le[key] = [int(n) for n in counts]
            elif len(have) == len(counts):
                self.le[key] = [a + int(b) for a, b in zip(have, counts)]
        self.per_worker[worker] = self.per_worker.get(worker, 0) + added

    def add_endpoint_interval(self, slot: int, name: str, h: Histogram) -> None:
        """Merge one endpoint's slot; past ENDPOINT_SLOTS slots, halve the resolution (memory stays bounded)."""
        while slot >= ENDPOINT_SLOTS:
            coarse: dict[tuple[int, str], Histogram] = {}
            for (i, n), old in self.endpoint_intervals.items():
                self._hist(coarse, (i // 2, n)).merge(old)
            self.endpoint_intervals = coarse
            self.endpoint_step *= 2
            slot //= 2
        self._hist(self.endpoint_intervals, (slot, name)).merge(h)

    @staticmethod
    def _hist(table: dict[Any, Histogram], key: Any) -> Histogram:
        h = table.get(key)
        if h is None:
            h = table[key] = Histogram()
        return h

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

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "series": [
                [k.as_list(), h.to_json()] for k, h in sorted(self.series.items(), key=lambda kv: kv[0].as_list())
            ],
            "intervals": [[i, kind, ok, h.to_json()] for (i, kind, ok), h in sorted(self.intervals.items())],
            "errors": [[k.as_list(), reason, n] for (k, reason), n in self.errors.items()],
            "examples": [[k.as_list(), reason, text] for (k, reason), text in self.examples.items()],
            "service": [
                [k.as_list(), h.to_json()] for k, h in sorted(self.service.items(), key=lambda kv: kv[0].as_list())
            ],
            "db": [[k.as_list(), h.to_json()] for k, h in sorted(self.db.items(), key=lambda kv: kv[0].as_list())],
            "per_worker": {str(w): n for w, n in sorted(self.per_worker.items())},
            "endpoint_step": self.endpoint_step,
            "endpoint_intervals": [[i, n, h.to_json()] for (i, n), h in sorted(self.endpoint_intervals.items())],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Merged:
        m = cls(float(data.get("interval_s", 1.0)))
        m.add_delta(
            -1,
            {
                "series": data["series"],
                "intervals": data.get("intervals", []),
                "errors": data.get("errors", []),
                "examples": data.get("examples", []),
                "service": data.get("service", []),
                "db": data.get("db", []),
            },
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
