"""Request statistics: per-series histograms recorded on workers, shipped as deltas, merged on the master.

A series is one combination of tags (user, name, kind, method, status) plus success or failure.
Failures keep their own histogram, so latency thresholds see successful requests only. Queries per
request (from a response header) go in a histogram of their own per series: counts are exact there.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from loadorch.config.tags import TagTable, tags_of
from loadorch.config.thresholds import EXPECTED_RESPONSE
from loadorch.traffic.stages import PHASE_IN, Span, phase_of
from loadorch.verdict.histogram import Histogram

TAG_NAMES = ("user", "name", "kind", "method", "status")
ENDPOINT_SLOTS = 120  # per-endpoint timelines keep at most this many slots (coarser as a run grows)


CheckKey = tuple[str, str, str, str, str]  # user, request name, kind, method, check name


class SeriesKey(NamedTuple):
    """A tuple, so hashing and comparing it (a table lookup per histogram merged or request recorded)
    run in C."""

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

    def __init__(self, interval_s: float, t0: float, edges_us: Sequence[int] = (), window: Sequence[Span] = ()) -> None:
        self.interval_s = interval_s
        self.t0 = t0
        # measurement window: each sample is classified by its completion time, so the window's
        # histograms are exact for any selector, whatever the interval length
        self.spans = tuple((float(a), float(b)) for a, b in window)
        self.window: dict[SeriesKey, Histogram] = {}
        self.phases: dict[tuple[str, str, bool], Histogram] = {}  # outside the window: (phase, kind, ok)
        self.checks: dict[CheckKey, list[int]] = {}  # [passes, fails] per expect condition
        self.timings: dict[tuple[str, SeriesKey], Histogram] = {}  # ("waiting" | "connecting", series)
        self.check_examples: dict[CheckKey, str] = {}  # one failing response each
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
        judged = True  # inside the measurement window, or no window
        if self.spans:
            phase = phase_of(self.spans, at - self.t0)
            judged = phase == PHASE_IN
            if judged:
                _hist(self.window, key).record(latency_us)
            else:
                _hist(self.phases, (phase, key.kind, key.ok)).record(latency_us)
        if db_queries is not None and judged:  # a per-request threshold metric: the window's only
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

    def record_timings(self, key: SeriesKey, waiting_us: int, connecting_us: int, at: float = 0.0) -> None:
        """Time to first byte and connect time of a successful request (inside the window, if any)."""
        if self.spans and at and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        _hist(self.timings, ("waiting", key)).record(waiting_us)
        _hist(self.timings, ("connecting", key)).record(connecting_us)

    def record_checks(
        self, key: SeriesKey, names: Sequence[str], held: Sequence[bool], example: str | None, at: float = 0.0
    ) -> None:
        """Each expect condition of one response (the checks metric); inside the window only, if there is one."""
        if self.spans and at and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        for name, ok in zip(names, held):
            ck = (key.user, key.name, key.kind, key.method, name)
            counts = self.checks.get(ck)
            if counts is None:
                counts = self.checks[ck] = [0, 0]
            counts[0 if ok else 1] += 1
            if not ok and example is not None and ck not in self.check_examples:
                self.check_examples[ck] = example

    def take_delta(self) -> dict[str, Any]:
        """The tables since the last call (then emptied), histograms packed (Histogram.to_wire)."""
        delta: dict[str, Any] = {
            "series": [[k.as_list(), h.to_wire()] for k, h in self.series.items()],
            "intervals": [[i, kind, ok, h.to_wire()] for (i, kind, ok), h in self.intervals.items()],
            "errors": [[k.as_list(), reason, n] for (k, reason), n in self.errors.items()],
            "examples": [[k.as_list(), reason, text] for (k, reason), text in self.examples.items()],
            "service": [[k.as_list(), h.to_wire()] for k, h in self.service.items()],
            "db": [[k.as_list(), h.to_wire()] for k, h in self.db.items()],
            "endpoint_intervals": [[i, name, h.to_wire()] for (i, name), h in self.endpoint_intervals.items()],
            "total": self.total,
        }
        if self.edges_us:
            delta["le"] = [[k.as_list(), counts] for k, counts in self.le.items()]
            self.le = {}
        if self.timings:
            delta["timings"] = [[t, k.as_list(), h.to_wire()] for (t, k), h in self.timings.items()]
            self.timings = {}
        if self.checks:
            delta["checks"] = [[*k, n[0], n[1], self.check_examples.get(k)] for k, n in self.checks.items()]
            self.checks, self.check_examples = {}, {}
        if self.spans:
            delta["window"] = [[k.as_list(), h.to_wire()] for k, h in self.window.items()]
            delta["phases"] = [[p, kind, ok, h.to_wire()] for (p, kind, ok), h in self.phases.items()]
            self.window, self.phases = {}, {}
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
        self.keys: dict[tuple[Any, ...], SeriesKey] = {}  # the series keys seen, by their JSON form
        # successful latencies per (slot, endpoint name); a slot spans `endpoint_step` intervals
        self.endpoint_intervals: dict[tuple[int, str], Histogram] = {}
        self.endpoint_step = 1
        self.window: dict[SeriesKey, Histogram] | None = None  # set when the run has a measurement window
        self.phases: dict[tuple[str, str, bool], Histogram] = {}
        self.tag_table: TagTable = {}  # free tags per (user, request name): set by whoever evaluates
        self.checks: dict[CheckKey, list[int]] = {}
        self.check_examples: dict[CheckKey, str] = {}
        self.timings: dict[str, dict[SeriesKey, Histogram]] = {"waiting": {}, "connecting": {}}

    def add_delta(self, worker: int, delta: dict[str, Any]) -> None:
        """A worker's delta (Recorder.take_delta: packed histograms), merged in place: the cost is one pass
        over the delta's buckets, whatever the merged tables already hold."""
        self.per_worker[worker] = self.per_worker.get(worker, 0) + self._add_rows(delta, Histogram.merge_wire)

    def _add_rows(self, rows: dict[str, Any], merge: Callable[[Histogram, Any], Any]) -> int:
        """Add rows whose histograms `merge` adds into a table's histogram; the number of requests they held."""
        added = 0
        for key_list, hist in rows["series"]:
            h = self._hist(self.series, self._key(key_list))
            before = h.count
            merge(h, hist)
            added += h.count - before
        for i, kind, ok, hist in rows["intervals"]:
            merge(self._hist(self.intervals, (int(i), str(kind), bool(ok))), hist)
        for key_list, reason, n in rows["errors"]:
            ek = (self._key(key_list), str(reason))
            self.errors[ek] = self.errors.get(ek, 0) + int(n)
        for key_list, reason, text in rows.get("examples", []):
            self.examples.setdefault((self._key(key_list), str(reason)), str(text))
        for key_list, hist in rows.get("service", []):
            merge(self._hist(self.service, self._key(key_list)), hist)
        for key_list, hist in rows.get("db", []):
            merge(self._hist(self.db, self._key(key_list)), hist)
        for i, name, hist in rows.get("endpoint_intervals", []):
            merge(self.endpoint_hist(int(i) // self.endpoint_step, str(name)), hist)
        for key_list, counts in rows.get("le", []):
            key = self._key(key_list)
            have = self.le.get(key)
            if have is None:
                self.le[key] = [int(n) for n in counts]
            elif len(have) == len(counts):
                self.le[key] = [a + int(b) for a, b in zip(have, counts)]
        for timing, key_list, hist in rows.get("timings", []):
            table = self.timings.setdefault(str(timing), {})
            merge(self._hist(table, self._key(key_list)), hist)
        for user, name, kind, method, check, passes, fails, example in rows.get("checks", []):
            ck = (str(user), str(name), str(kind), str(method), str(check))
            counts = self.checks.setdefault(ck, [0, 0])
            counts[0] += int(passes)
            counts[1] += int(fails)
            if example is not None and ck not in self.check_examples:
                self.check_examples[ck] = str(example)[:400]
        if "window" in rows:
            window = self.window if self.window is not None else {}
            self.window = window
            for key_list, hist in rows["window"]:
                merge(self._hist(window, self._key(key_list)), hist)
            for phase, kind, ok, hist in rows.get("phases", []):
                merge(self._hist(self.phases, (str(phase), str(kind), bool(ok))), hist)
        return added

    def _key(self, key_list: Any) -> SeriesKey:
        raw = tuple(key_list)
        key = self.keys.get(raw)
        if key is None:
            key = self.keys[raw] = SeriesKey.from_list(key_list)
        return key

    def windowed(self) -> Merged:
        """The samples inside the measurement window only (the thresholds' view), or self without one."""
        if self.window is None:
            return self
        out = Merged(self.interval_s)
        out.series = self.window
        out.tag_table = self.tag_table
        out.checks, out.check_examples = self.checks, self.check_examples  # recorded inside the window only
        out.timings, out.db = self.timings, self.db  # also recorded inside the window only
        return out

    def check_counts(self, tags: Iterable[tuple[str, str]] = ()) -> tuple[int, int]:
        """(passed, failed) expect conditions whose tags all match (AND)."""
        tags = tuple(tags)
        passes = fails = 0
        for (user, name, kind, method, check), (p, f) in self.checks.items():
            own = {"user": user, "name": name, "kind": kind, "method": method, "check": check}
            free = tags_of(self.tag_table, user, name)
            if all(
                (own[t] == v.upper() if t == "method" else own[t] == v) if t in own else free.get(t) == v
                for t, v in tags
            ):
                passes += p
                fails += f
        return passes, fails

    def matches(self, key: SeriesKey, tags: tuple[tuple[str, str], ...]) -> bool:
        """Whether a series has every tag (AND): its own, k6's expected_response, or a free tag."""
        for tag, value in tags:
            if tag in TAG_NAMES:
                if not _tag_matches(key, tag, value):
                    return False
            elif tag == EXPECTED_RESPONSE:
                if key.ok != (value == "true"):
                    return False
            elif tags_of(self.tag_table, key.user, key.name).get(tag) != value:
                return False
        return True

    def add_endpoint_interval(self, slot: int, name: str, h: Histogram) -> None:
        self.endpoint_hist(slot, name).merge(h)

    def endpoint_hist(self, slot: int, name: str) -> Histogram:
        """One endpoint's slot to merge into; past ENDPOINT_SLOTS slots, halve the resolution (memory stays
        bounded; each halving is one pass over the table, at most log2 of the run's intervals of them)."""
        while slot >= ENDPOINT_SLOTS:
            coarse: dict[tuple[int, str], Histogram] = {}
            for (i, n), old in self.endpoint_intervals.items():
                self._hist(coarse, (i // 2, n)).merge(old)
            self.endpoint_intervals = coarse
            self.endpoint_step *= 2
            slot //= 2
        return self._hist(self.endpoint_intervals, (slot, name))

    @staticmethod
    def _hist(table: dict[Any, Histogram], key: Any) -> Histogram:
        h = table.get(key)
        if h is None:
            h = table[key] = Histogram()
        return h

    def select(
        self, tags: Iterable[tuple[str, str]] = (), ok: bool | None = True, service: bool = False, timing: str = ""
    ) -> Histogram:
        """Pooled histogram of the series whose tags all match (AND) and whose outcome is `ok`
        (`service`: the open model's service times instead of latencies from the due time; `timing`:
        "waiting" or "connecting" instead of the whole duration)."""
        tags = tuple(tags)
        out = Histogram()
        table = self.timings.get(timing, {}) if timing else (self.service if service else self.series)
        for key, h in table.items():
            if ok is not None and key.ok != ok:
                continue
            if self.matches(key, tags):
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
            if self.matches(key, tags):
                total += h.count
                if not key.ok:
                    failures += h.count
        return total, failures

    def status_counts(self, tags: Iterable[tuple[str, str]] = (), ok: bool | None = None) -> dict[int, int]:
        tags = tuple(tags)
        out: dict[int, int] = {}
        for key, h in self.series.items():
            if (ok is None or key.ok == ok) and self.matches(key, tags):
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
            "checks": [[*k, n[0], n[1], self.check_examples.get(k)] for k, n in sorted(self.checks.items())],
            "timings": [
                [t, k.as_list(), h.to_json()]
                for t, table in sorted(self.timings.items())
                for k, h in sorted(table.items(), key=lambda kv: kv[0].as_list())
            ],
            **(
                {}
                if self.window is None
                else {
                    "window": [
                        [k.as_list(), h.to_json()]
                        for k, h in sorted(self.window.items(), key=lambda kv: kv[0].as_list())
                    ],
                    "phases": [[p, kind, ok, h.to_json()] for (p, kind, ok), h in sorted(self.phases.items())],
                }
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Merged:
        m = cls(float(data.get("interval_s", 1.0)))
        rows = {k: v for k, v in data.items() if k not in ("le", "endpoint_intervals")}
        m._add_rows({"intervals": [], "errors": [], **rows}, lambda h, j: h.merge(Histogram.from_json(j)))
        m.per_worker = {int(w): int(n) for w, n in data.get("per_worker", {}).items()}
        m.endpoint_step = int(data.get("endpoint_step", 1))
        for i, name, hist in data.get("endpoint_intervals", []):
            m.add_endpoint_interval(int(i), str(name), Histogram.from_json(hist))
        return m


def _hist(table: dict[Any, Histogram], key: Any) -> Histogram:
    h = table.get(key)
    if h is None:
        h = table[key] = Histogram()
    return h


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
