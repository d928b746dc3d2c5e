"""Request statistics: per-series histograms recorded on workers, shipped as deltas, merged on the master.

A series is one combination of tags (user, name, kind, method, status) plus success or failure.
Failures keep their own histogram, so latency thresholds see successful requests only. Queries per
request (from a response header) go in a histogram of their own per series: counts are exact there.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from loadorch.config.tags import TagTable, tags_of
from loadorch.config.thresholds import EXPECTED_RESPONSE
from loadorch.stats.delta import Decoded, KeyRegistry, decode, decode_keys, merge_packed, pack_table
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.exemplars import DEFAULT_K, Row, Slowest, checked
from loadorch.stats.generations import JUDGED, Generations, generation_slots, summed
from loadorch.stats.generations import Tables as JudgedTables
from loadorch.stats.histogram import COARSE_SUB_BITS, SPARK_SUB_BITS, SUB_BITS, Histogram
from loadorch.stats.servertiming import DESC, DUR, EntryNames, timing_tags
from loadorch.stats.timesplit import TimeSplits
from loadorch.stats.timesplit import checked as checked_splits
from loadorch.traffic.stages import PHASE_IN, Span, phase_of
from loadorch.wire import HistogramJson, MergedJson, SeriesKeyJson, StatsDelta, TablesJson

if TYPE_CHECKING:
    from loadorch.results import LatencyStats

TAG_NAMES = ("user", "name", "kind", "method", "status")
_NAME = attrgetter("name")
ENDPOINT_SLOTS = 120  # per-endpoint timelines keep at most this many slots (coarser as a run grows)
INTERVAL_SLOTS = 720  # the per-kind timeline too: 1 s resolution up to 12 minutes, then 2 s, 4 s, 8 s ...
# distinct error reasons kept per series (an exception text with an order id in it would otherwise make a
# reason per request); the rest are counted, exactly, under OTHER_REASONS
MAX_ERROR_REASONS = 100
# a worker sends its time-split rows with every this many deltas (and the last ones of its load): they are
# read at the end of a run, and sums add, so the master ends with the same rows for a fifth of the traffic
# and merges (a monitor's master rolls them by window: its workers send them with every delta)
SPLIT_EVERY = 5
OTHER_REASONS = (
    f"(other reasons: more than {MAX_ERROR_REASONS} distinct for this request and status; with --request-log,"
    " requests.jsonl has each)"
)


CheckKey = tuple[str, str, str, str, str]  # user, request name, kind, method, check name
_K = TypeVar("_K")
_V = TypeVar("_V")


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

    def as_list(self) -> SeriesKeyJson:
        return (self.user, self.name, self.kind, self.method, self.status, self.ok)

    @classmethod
    def from_list(cls, v: SeriesKeyJson) -> SeriesKey:
        return cls(str(v[0]), str(v[1]), str(v[2]), str(v[3]), int(v[4]), bool(v[5]))


IntervalKey = tuple[int, str, bool]  # (time slot, kind, ok)
PhaseKey = tuple[str, str, bool]  # (phase outside the window, kind, ok)
ErrorKey = tuple[SeriesKey, str]  # (series, reason)
EndpointKey = tuple[int, str]  # (time slot, request name)
TimingKey = tuple[str, SeriesKey]  # ("waiting" | "connecting" | a Server-Timing tag, stats/servertiming.py; series)


class Tables:
    """The tables of request statistics, declared once: a worker's Recorder fills them and sends them as
    deltas; the master's Merged adds the deltas up. Both travel as wire.TablesJson rows."""

    series: dict[SeriesKey, Histogram]  # latency of every request
    intervals: dict[IntervalKey, Histogram]  # the timeline, per interval_s slot
    errors: dict[ErrorKey, int]
    examples: dict[ErrorKey, str]  # the first example of each error reason
    reasons: dict[SeriesKey, int]  # distinct error reasons per series in `errors` (at most MAX_ERROR_REASONS)
    service: dict[SeriesKey, Histogram]  # open model: service time from the send, not from the due time
    db: dict[SeriesKey, Histogram]  # queries per request (a response header), inside the window only
    endpoint_intervals: dict[EndpointKey, Histogram]  # successful requests' latency per slot and name
    # live metrics: exact counts per (previous edge, edge] interval, so a Prometheus bucket at a
    # threshold's limit counts exactly (the histogram's own buckets straddle the limit)
    le: dict[SeriesKey, list[int]]
    timings: dict[TimingKey, Histogram]  # successful requests, inside the window only
    checks: dict[CheckKey, list[int]]  # [passes, fails] per expect condition, inside the window only
    check_examples: dict[CheckKey, str]  # one failing response each
    phases: dict[PhaseKey, Histogram]  # outside the measurement window

    def __init__(self, interval_s: float, exemplar_k: int = DEFAULT_K) -> None:
        self.interval_s = interval_s
        self.exemplar_k = exemplar_k  # the K slowest requests kept per endpoint (stats/exemplars.py)
        self.entry_names = EntryNames()  # Server-Timing entry names and descs, bounded (stats/servertiming.py)
        self.window: dict[SeriesKey, Histogram] | None = None  # the window's series, in a run that has one
        self.clear()

    def clear(self) -> None:
        """Empty every table (a worker starts each delta afresh); a run with a window keeps having one."""
        self.series, self.intervals, self.errors, self.examples = {}, {}, {}, {}
        self.reasons = {}
        self.service, self.db, self.endpoint_intervals, self.le = {}, {}, {}, {}
        self.timings, self.checks, self.check_examples, self.phases = {}, {}, {}, {}
        self.exemplars = Slowest(self.exemplar_k)  # inside the window only
        self.splits = TimeSplits()  # where the time goes, per latency bucket (stats/timesplit.py): window only
        if self.window is not None:
            self.window = {}

    def rows(self, ordered: bool, sparklines: bool = True) -> TablesJson:
        """The tables as JSON rows (not `le`: the live metrics' counts stay on the master); `ordered`: sorted,
        so the same data always reads the same (results.json); `sparklines`: with `endpoint_intervals` (a
        histogram per endpoint and slot: results.json summarizes them instead, so they are not encoded)."""
        enc = Histogram.to_json

        def series_rows(table: dict[SeriesKey, Histogram]) -> list[tuple[SeriesKeyJson, Any]]:
            items = sorted(table.items(), key=lambda kv: kv[0].as_list()) if ordered else table.items()
            return [(k.as_list(), enc(h)) for k, h in items]

        def in_order(items: Iterable[tuple[_K, _V]]) -> Iterable[tuple[_K, _V]]:
            return sorted(items) if ordered else items

        timings: Iterable[tuple[TimingKey, Histogram]] = self.timings.items()
        if ordered:
            timings = sorted(timings, key=lambda kv: (kv[0][0], kv[0][1].as_list()))
        intervals = sorted(self.intervals.items()) if ordered else self.intervals.items()
        rows: TablesJson = {
            "series": series_rows(self.series),
            "intervals": [(i, kind, ok, enc(h)) for (i, kind, ok), h in intervals],
            "errors": [(k.as_list(), reason, n) for (k, reason), n in self.errors.items()],
            "examples": [(k.as_list(), reason, text) for (k, reason), text in self.examples.items()],
            "service": series_rows(self.service),
            "db": series_rows(self.db),
            "endpoint_intervals": [(i, n, enc(h)) for (i, n), h in in_order(self.endpoint_intervals.items())]
            if sparklines
            else [],
            "checks": [(*k, n[0], n[1], self.check_examples.get(k)) for k, n in in_order(self.checks.items())],
            "timings": [(t, k.as_list(), enc(h)) for (t, k), h in timings],
        }
        if self.exemplars.heaps:
            rows["exemplars"] = self.exemplars.rows()
        if self.splits:
            rows["splits"] = self.splits.rows()
        if self.window is not None:
            rows["window"] = series_rows(self.window)
            rows["phases"] = [(p, kind, ok, enc(h)) for (p, kind, ok), h in in_order(self.phases.items())]
        return rows

    def add_error(self, key: SeriesKey, reason: str, n: int, example: str | None = None) -> None:
        """Count `n` errors of a reason; past MAX_ERROR_REASONS distinct reasons for the series, under
        OTHER_REASONS (the count stays exact, the table bounded)."""
        ek = (key, reason)
        have = self.errors.get(ek)
        if have is None:
            if reason != OTHER_REASONS:
                seen = self.reasons.get(key, 0)
                if seen >= MAX_ERROR_REASONS:
                    ek = (key, OTHER_REASONS)
                    self.errors[ek] = self.errors.get(ek, 0) + n
                    return
                self.reasons[key] = seen + 1
            have = 0
        self.errors[ek] = have + n
        if example is not None and ek not in self.examples:
            self.examples[ek] = example

    def interval_rows(self, ordered: bool = True) -> list[tuple[int, str, bool, HistogramJson]]:
        """The timeline's rows (also the live dashboard's)."""
        items = sorted(self.intervals.items()) if ordered else self.intervals.items()
        return [(i, kind, ok, h.to_json()) for (i, kind, ok), h in items]


class Recorder(Tables):
    """Worker side: records requests and hands out deltas since the last call."""

    def __init__(
        self,
        interval_s: float,
        t0: float,
        edges_us: Sequence[int] = (),
        window: Sequence[Span] = (),
        endpoints: EndpointNames | None = None,
        exemplar_k: int = DEFAULT_K,
        sub_bits: int = SUB_BITS,
    ) -> None:
        super().__init__(interval_s, exemplar_k)
        self.t0 = t0
        # the layout the judged tables (series, service, db, timings) travel in: coarser in a monitor, whose
        # master keeps them for days (histogram.py: bounded buckets, a stated error)
        self.sub_bits = sub_bits
        # distinct request names, bounded (stats/endpoints.py): a request of a name past the bound is
        # recorded under OTHER_ENDPOINTS; the names folded go to the master with the next delta
        self.endpoints = endpoints or EndpointNames()
        self.folded_sent = 0
        # measurement window: each sample is classified by its completion time, so the window's
        # histograms are exact for any selector, whatever the interval length
        self.spans = tuple((float(a), float(b)) for a, b in window)
        if self.spans:
            self.window = {}
        self.edges_us = tuple(edges_us)  # the live metrics' bucket edges (le)
        self.total = 0  # requests recorded: those in `batches` counted when folded (take_delta reads it after)
        self.registry = KeyRegistry()  # the series keys' ids in the deltas, for the whole run
        # the common request (no error, window, live metrics, service time or query count) is batched: its
        # latency appended here, per series, and folded into the series, timeline and sparkline histograms
        # when its time slot ends or a delta is taken: one histogram built per series a second instead of
        # three bucket updates per request
        self.slot = 0  # the time slot being batched (its requests are folded into it when the next one begins)
        self._pending: dict[SeriesKey, list[int]] = {}
        self._pending_timings: dict[SeriesKey, tuple[list[int], list[int]]] = {}
        # per series, the (duration, waiting, receiving) of each successful kept-alive request a request path
        # gave here instead of to record/record_timings/record_split (`lean_batch`); emptied in place by _fold
        self.batches: dict[SeriesKey, list[int]] = {}
        # per series, the same three numbers of such a request that could not be batched whole (the open model's,
        # which has a service time): for the time split only (`split_batch`), added up by _fold
        self.split_batches: dict[SeriesKey, list[int]] = {}
        self._lean = not self.edges_us and self.window is None
        self.server_timing = False  # record responses' Server-Timing entries as metrics (record_server_timing)
        self.split_every = 1  # send the time split's rows with every this many deltas (SPLIT_EVERY: a worker's)
        self.deltas = 0
        self._holding = False  # this delta keeps the time split's sums for a later one (take_delta)
        # a monitor's worker: its K slowest start afresh each generation of this many slots (its master's
        # window: Merged.roll_timelines), as the master's do, so a spike of the first hour does not hold every
        # later request under its floor for days; 0: kept for the whole run
        self.exemplar_slots = 0
        self.exemplar_generation = 0
        # the request paths' cached floors (client/vu.Series: one per request, status and outcome of a user
        # class, bounded as the names are), set back when the K slowest start afresh
        self.askers: list[Any] = []
        self._due_exemplars: list[Row] = []  # a generation's rows not yet sent when the next began

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
        if self._lean and error is None and service_us is None and db_queries is None:
            if int((at - self.t0) / self.interval_s) != self.slot:
                self.advance(at)
            samples = self._pending.get(key)
            if samples is None:
                if key.name not in self.endpoints.names:
                    key = self.bounded(key)
                samples = self._pending.get(key)
                if samples is None:
                    samples = self._pending[key] = []
            samples.append(latency_us)
            self.total += 1
            return
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
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
        window = self.window
        if window is not None:
            phase = phase_of(self.spans, at - self.t0)
            judged = phase == PHASE_IN
            if judged:
                _hist(window, key).record(latency_us)
            else:
                _hist(self.phases, (phase, key.kind, key.ok)).record(latency_us)
        if db_queries is not None and judged:  # a per-request threshold metric: the window's only
            dh = self.db.get(key)
            if dh is None:
                dh = self.db[key] = Histogram()
            dh.record(db_queries)
        slot = (max(0, int((at - self.t0) / self.interval_s)), key.kind, key.ok)
        if self.exemplar_slots and slot[0] // self.exemplar_slots != self.exemplar_generation:  # as `advance`
            self.restart_exemplars(slot[0] // self.exemplar_slots)
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
            self.add_error(key, error[:200], 1, None if example is None else example[:300])
        self.total += 1

    def advance(self, at: float) -> None:
        """A request completed at `at` whose slot may not be the one being batched: if so, the batched samples
        are folded into theirs and its slot begins. A request path checks `int((at - t0) / interval_s) != slot`
        before it calls this (the same check as `record`'s)."""
        n = int((at - self.t0) / self.interval_s)
        if n < 0:  # before t0 (a worker's clock a little behind the master's): the first slot
            n = 0
        if n != self.slot:
            self._fold()
            if self.exemplar_slots and n // self.exemplar_slots != self.exemplar_generation:
                self.restart_exemplars(n // self.exemplar_slots)
            self.slot = n

    def restart_exemplars(self, generation: int) -> None:
        """A new generation's K slowest (a monitor's worker): what the last one kept and has not sent yet
        goes with the next delta; the floors, the K slowest's and the request paths' cached ones, start over."""
        self.exemplar_generation = generation
        self._due_exemplars += self.exemplars.take()
        self.exemplars.clear()
        for asker in self.askers:
            asker.floor = -1

    def lean_batch(self, key: SeriesKey) -> list[int] | None:
        """The series' batch, for a request path (client/vu.py) to extend by `(duration, waiting, receiving)`
        (us) of each successful request on a kept-alive connection whose phases were all timed and that has no
        service time or query count, in place of `record`, `record_timings` and `record_split`: `_fold` makes
        the same tables of them once a slot (the latencies into the series, timeline and sparkline, waiting and
        a connect of 0 into the timings, and with the evidence on the time split). The request path checks the
        slot first (`advance`). None where this recorder is not lean (a window or live metrics): each request
        goes the checked way. Found once per series, not once a request; the list lives as long as the recorder."""
        return self._batch_in(self.batches, key) if self._lean else None

    def split_batch(self, key: SeriesKey) -> list[int] | None:
        """The series' batch for the time split alone, for a request path to extend by `(duration, waiting,
        receiving)` (us) of a successful kept-alive request whose phases were all timed but that goes the checked
        way for the rest (the open model's): as `record_split` of each, added up once a slot. None where the
        evidence is off or a window decides which requests count (`record_split` asks each one's time)."""
        return None if self.spans or not self.exemplar_k else self._batch_in(self.split_batches, key)

    def _batch_in(self, batches: dict[SeriesKey, list[int]], key: SeriesKey) -> list[int]:
        """The series' list in `batches`, under its bounded key (a name past the cap shares OTHER's)."""
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
        batch = batches.get(key)
        if batch is None:
            batch = batches[key] = []
        return batch

    def record_timings(self, key: SeriesKey, waiting_us: int, connecting_us: int, at: float = 0.0) -> None:
        """Time to first byte and connect time of a successful request (inside the window, if any)."""
        if not self.spans:
            pending = self._pending_timings.get(key)
            if pending is None:
                if key.name not in self.endpoints.names:
                    key = self.bounded(key)
                pending = self._pending_timings.get(key)
                if pending is None:
                    pending = self._pending_timings[key] = ([], [])
            pending[0].append(waiting_us)
            pending[1].append(connecting_us)
            return
        if at and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
        _hist(self.timings, ("waiting", key)).record(waiting_us)
        _hist(self.timings, ("connecting", key)).record(connecting_us)

    def record_server_timing(
        self, key: SeriesKey, entries: Iterable[tuple[str, float | None, str | None]], at: float = 0.0
    ) -> None:
        """A successful response's Server-Timing entries (stats/servertiming.py): each `dur` in its entry's
        histogram, each `desc` counted; inside the window only, if there is one; entry names bounded."""
        if self.spans and at and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
        for tag, value in timing_tags(self.entry_names, entries):
            _hist(self.timings, (tag, key)).record(value)

    def keep_exemplar(self, r: Row) -> None:
        """One request's exemplar row (stats/exemplars.row), kept if it is among its endpoint's K slowest
        inside the window; ask `exemplars.wants(name, duration_us)` first, so most requests build no row.
        In the window as the gate's histograms say it: by the request's completion (its `at`, when it was
        sent, plus its duration), not its sending: a slow request sent before the window's end and done after
        it was never judged, and one sent in the ramp-up and done inside was."""
        if self.spans and phase_of(self.spans, r[4] + r[3] / 1e6 - self.t0) != PHASE_IN:
            return
        if r[0] not in self.endpoints.names:
            r[0] = self.endpoints.admit(r[0])
        self.exemplars.offer(r)

    def record_split(self, key: SeriesKey, latency_us: int, phases: tuple[int, int, int, int], at: float) -> None:
        """A successful request's connect, TLS, waiting and receiving (us; NOT_MEASURED where the path could
        not time one), into its latency bucket's sums (stats/timesplit.py); inside the window only."""
        if self.spans and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
        self.splits.add(key, latency_us, *phases)

    def rows(self, ordered: bool, sparklines: bool = True) -> TablesJson:
        self._fold()
        return super().rows(ordered, sparklines)

    def clear(self) -> None:
        """As Tables.clear, but the time split's live tables stay, zeroed (TimeSplits.restart): the next
        requests add into their series' buckets across deltas, each latency bucket made once; a
        delta that does not send them keeps their sums (`split_every`). The K slowest stay too, for the whole
        run: each delta sends only the rows newly among them (Slowest.take)."""
        splits, exemplars = getattr(self, "splits", None), getattr(self, "exemplars", None)
        super().clear()
        if splits is not None:
            if not self._holding:
                splits.restart()
            self.splits = splits
        if exemplars is not None:
            self.exemplars = exemplars

    def bounded(self, key: SeriesKey) -> SeriesKey:
        """The key to record under: its own, or its name past the bound replaced by OTHER_ENDPOINTS."""
        name = self.endpoints.admit(key.name)
        return key if name == key.name else SeriesKey(key.user, name, key.kind, key.method, key.status, key.ok)

    def _fold(self) -> None:
        """The batched samples into their tables (the series, the timeline of their slot, the sparkline), and the
        request paths' batches first (`_unbatch`: their timings and time split as well)."""
        if any(self.batches.values()):
            self._unbatch()
        for key, batch in self.split_batches.items():
            if batch:
                self.splits.add_batch(key, batch)
                batch.clear()  # in place: a request path holds it
        slot = self.slot
        for key, samples in self._pending.items():
            part = Histogram.of(samples)
            _hist(self.series, key).merge(part)
            _hist(self.intervals, (slot, key.kind, key.ok)).merge(part)
            if key.ok:
                _hist(self.endpoint_intervals, (slot, key.name)).merge(part)
        self._pending = {}
        for key, (waiting, connecting) in self._pending_timings.items():
            _hist(self.timings, ("waiting", key)).merge(Histogram.of(waiting))
            _hist(self.timings, ("connecting", key)).merge(Histogram.of(connecting))
        self._pending_timings = {}

    def _unbatch(self) -> None:
        """The request paths' batches (`lean_batch`) into the pending samples and timings, and with the evidence
        on into the time split: what `record`, `record_timings` and `record_split` would have made of each."""
        pending, timings, split = self._pending, self._pending_timings, self.exemplar_k > 0
        for key, batch in self.batches.items():
            if batch:
                n = len(batch) // 3
                samples = pending.get(key)
                if samples is None:
                    pending[key] = batch[0::3]
                else:
                    samples += batch[0::3]
                waits = timings.get(key)
                if waits is None:
                    waits = timings[key] = ([], [])
                waits[0].extend(batch[1::3])
                waits[1].extend(repeat(0, n))  # a kept-alive connection: no connect time
                if split:
                    self.splits.add_batch(key, batch)
                self.total += n
                batch.clear()  # in place: a request path holds it

    def record_checks(
        self, key: SeriesKey, names: Sequence[str], held: Sequence[bool], example: str | None, at: float = 0.0
    ) -> None:
        """Each expect condition of one response (the checks metric); inside the window only, if there is one."""
        if self.spans and at and phase_of(self.spans, at - self.t0) != PHASE_IN:
            return
        if key.name not in self.endpoints.names:
            key = self.bounded(key)
        for name, ok in zip(names, held):
            ck = (key.user, key.name, key.kind, key.method, name)
            counts = self.checks.get(ck)
            if counts is None:
                counts = self.checks[ck] = [0, 0]
            counts[0 if ok else 1] += 1
            if not ok and example is not None and ck not in self.check_examples:
                self.check_examples[ck] = example

    def take_delta(self, flush: bool = True) -> StatsDelta:
        """The tables since the last call (then emptied), as `lo_stats.delta` (stats/delta.py: one bytes
        value per table, series keys by id); the timeline's and sparklines' histograms already coarse as
        the master keeps them (fewer buckets to send and to merge). The time split's rows go with every
        `split_every`-th delta and whenever `flush` (a worker's last reports of its load), else wait."""
        self._fold()
        self.deltas += 1
        self._holding = not flush and self.deltas % self.split_every != 0
        key_id, name_id = self.registry.id, self.registry.name_id

        sub_bits = self.sub_bits
        coarse = sub_bits < SUB_BITS

        def table(t: dict[SeriesKey, Histogram]) -> bytes:
            return pack_table([(key_id(k), h.coarsened(sub_bits) if coarse else h) for k, h in t.items()])

        def grouped(rows: Iterable[tuple[Any, int, Histogram]]) -> list[tuple[Any, bytes]]:
            groups: dict[Any, list[tuple[int, Histogram]]] = {}
            for tag, i, h in rows:
                groups.setdefault(tag, []).append((i, h))
            return [(tag, pack_table(g)) for tag, g in groups.items()]

        delta: dict[str, object] = {"series": table(self.series)}  # a StatsDelta once `keys` and `total` are in
        if self.service:
            delta["service"] = table(self.service)
        if self.db:
            delta["db"] = table(self.db)
        if self.window is not None:
            delta["window"] = table(self.window)
            phases = list(self.phases.items())
            delta["phases"] = ([k for k, _ in phases], pack_table((i, h) for i, (_, h) in enumerate(phases)))
        intervals = [(k, h.coarsened(COARSE_SUB_BITS)) for k, h in self.intervals.items()]
        delta["intervals"] = ([k for k, _ in intervals], pack_table((i, h) for i, (_, h) in enumerate(intervals)))
        spark = SPARK_SUB_BITS
        delta["endpoint_intervals"] = grouped(
            (slot, name_id(name), h.coarsened(spark)) for (slot, name), h in self.endpoint_intervals.items()
        )
        delta["timings"] = grouped(
            (timing, key_id(k), h.coarsened(sub_bits) if coarse else h) for (timing, k), h in self.timings.items()
        )
        delta["errors"] = [(key_id(k), reason, n) for (k, reason), n in self.errors.items()]
        delta["examples"] = [(key_id(k), reason, text) for (k, reason), text in self.examples.items()]
        delta["checks"] = [(*k, n[0], n[1], self.check_examples.get(k)) for k, n in self.checks.items()]
        if self.edges_us:
            delta["le"] = [(key_id(k), counts) for k, counts in self.le.items()]
        if self.exemplars.seq > self.exemplars.taken or self._due_exemplars:
            delta["exemplars"] = self._due_exemplars + self.exemplars.take()
            self._due_exemplars = []
        if self.splits and not self._holding:
            delta["splits"] = self.splits.rows()
        folded = self.endpoints.folded
        if len(folded) > self.folded_sent:  # names folded since the last delta: the master's warning names them
            delta["folded"] = folded[self.folded_sent :]
            self.folded_sent = len(folded)
        delta["keys"] = self.registry.blob()  # last: every key above has its id
        delta["total"] = self.total
        self.clear()
        return cast(StatsDelta, delta)


class Merged(Tables):
    """Master side: the sum of every worker's deltas, and each worker's own count."""

    def __init__(self, interval_s: float = 1.0, exemplar_k: int = DEFAULT_K) -> None:
        super().__init__(interval_s, exemplar_k)
        self.per_worker: dict[int, int] = {}
        self.interval_step = 1  # a slot of intervals spans this many intervals (at most INTERVAL_SLOTS slots)
        self.endpoint_step = 1  # a slot of endpoint_intervals spans this many intervals
        self.tag_table: TagTable = {}  # free tags per (user, request name): set by whoever evaluates
        self.keys: dict[tuple[Any, ...], SeriesKey] = {}  # the series keys seen, by their rows' form
        self.worker_keys: dict[int, tuple[Any, list[SeriesKey]]] = {}  # per worker: its keys' bytes, decoded
        # distinct request names, bounded as on the workers (a worker that kept other names than the master, or
        # none, cannot grow the merged tables): each worker's keys as merged, while its keys stay the same list
        self.endpoints = EndpointNames()
        self.worker_bounded: dict[int, tuple[list[SeriesKey], list[SeriesKey]]] = {}
        # the layout the workers sent the judged tables in (Recorder.sub_bits): what `select` pools is in it,
        # so a percentile's error bound is that layout's
        self.sub_bits = SUB_BITS
        self.oldest_slots = (0, 0)  # rolling timelines: the oldest interval and endpoint slot kept
        self.rolling = False  # timelines keep their latest slots (a monitor: see roll_timelines), not widen
        self.rolling_slots = (INTERVAL_SLOTS, ENDPOINT_SLOTS)  # rolling: the slots that span the window
        self.split_intervals = 0  # rolling: a generation's length, in intervals (see _roll)
        self.split_generation = 0
        self.generations: Generations | None = None  # rolling: the judged tables' previous and retired generations
        self.judged_from_s = 0.0  # the judged tables hold the samples from this second on (a monitor's: its window)

    def roll_timelines(self, span_s: float) -> None:
        """A monitor's timelines: slots wide enough that INTERVAL_SLOTS (ENDPOINT_SLOTS) of them span `span_s`,
        and only the latest that many kept (older ones dropped), so however long it runs the timelines hold
        the samples of the last `span_s`, not a picture of days ever coarser and fuller. Its time splits
        likewise keep the last one to two spans (TimeSplits.roll), not every latency bucket ever reached, and
        so do its judged tables (stats/generations.py: their earlier generations kept as counts only)."""
        self.rolling = True
        self.generations = Generations()
        self.interval_step = max(1, math.ceil(span_s / (self.interval_s * INTERVAL_SLOTS)))
        self.endpoint_step = max(1, math.ceil(span_s / (self.interval_s * ENDPOINT_SLOTS)))
        # a slot is never narrower than the run's interval (30 s for a monitor): a short window keeps fewer
        # slots, not INTERVAL_SLOTS of them (720: 6 hours of a 5-minute window's monitor)
        self.rolling_slots = (max(1, math.ceil(span_s / (self.interval_s * self.interval_step))),
                              max(1, math.ceil(span_s / (self.interval_s * self.endpoint_step))))
        self.split_intervals = generation_slots(span_s, self.interval_s)

    def _roll(self, interval: int) -> None:
        """A rolling master's time splits and judged tables start a new generation each `split_intervals`
        (the reports' latest interval says when); a generation with no report at all leaves nothing recent
        before it."""
        generation = interval // self.split_intervals
        if generation <= self.split_generation:
            return
        rolls = min(2, generation - self.split_generation)
        for n in range(rolls):
            self.splits.roll()
            if self.generations is not None:
                first = (generation - rolls + 1 + n) * self.split_intervals
                self.generations.roll({name: getattr(self, name) for name in JUDGED}, first)
                self.series, self.service, self.db, self.timings = {}, {}, {}, {}
                self.generations.exemplars, self.exemplars = self.exemplars, Slowest(self.exemplar_k)
        self.split_generation = generation

    def judged_view(self) -> Merged:
        """What the thresholds judge: the whole run, or a monitor's window (its previous and current
        generations, from `judged_from_s`), a shallow copy with the generations' tables added up."""
        g = self.generations
        if g is None:
            return self
        out = self._with_tables(g.older)
        out.judged_from_s = g.older_from * self.interval_s
        out.exemplars = Slowest(self.exemplar_k)  # the K slowest of the same two generations
        for kept in (g.exemplars, self.exemplars):
            if kept is not None:
                out.exemplars.merge(kept.rows())
        return out

    def exported_view(self) -> Merged:
        """What the live counters count: the whole run (a monitor's retired generations as counts only, see
        stats/generations.py: never fewer than a scrape before)."""
        g = self.generations
        return self if g is None else self._with_tables(g.retired, g.older)

    def _with_tables(self, *earlier: JudgedTables) -> Merged:
        """A shallow copy whose judged tables are these earlier generations' and this one's added up."""
        out = copy.copy(self)
        out.generations = None
        for name in JUDGED:
            setattr(out, name, summed(*(tables[name] for tables in earlier), getattr(self, name)))
        return out

    def add_delta(self, worker: int, delta: StatsDelta) -> Decoded:
        """A worker's delta (stats/delta.py), checked whole first (ValueError: nothing merged), then merged
        in place: one pass over its buckets, whatever the merged tables already hold. Its requests count
        for that worker. Returns the delta as decoded."""
        decoded = self.decode(worker, delta)
        self.add_decoded(worker, decoded)
        return decoded

    def decode(self, worker: int, delta: StatsDelta | Mapping[str, Any]) -> Decoded:
        """A delta checked (ValueError if malformed); its series keys decoded once per worker while they
        stay the same bytes."""
        if not isinstance(delta, dict):
            raise ValueError("a delta that is not a map")
        blob = delta.get("keys")
        cached = self.worker_keys.get(worker)
        if cached is None or cached[0] != blob:
            cached = self.worker_keys[worker] = (blob, decode_keys(blob, self._key))
        return decode(delta, cached[1])

    def add_decoded(self, worker: int, d: Decoded) -> int:
        """Merge a checked delta (`decode`); the requests it held. Cannot fail half-way."""
        added = 0
        keys = self._bounded_keys(worker, d.keys)
        if self.split_intervals:  # a monitor: a new generation first, so a delta merges into one generation whole
            for name, _, row_keys, p in d.tables:
                if name == "intervals" and p.ids:
                    self._roll(max(row_keys[i][0] for i in p.ids))
        for name in d.folded:
            self.endpoints.note(name)
        for name, tag, row_keys, p in d.tables:
            if row_keys is d.keys:
                row_keys = keys
            names = list(map(row_keys.__getitem__, p.ids))  # the rows' keys, in C
            if name == "series":
                added += merge_packed(_targets(self.series, names), p)
            elif name == "timings":
                merge_packed(_targets(self.timings, list(zip(repeat(self.timing_tag(tag)), names))), p)
            elif name == "endpoint_intervals":
                slot = self.endpoint_room(tag // self.endpoint_step)
                merge_packed(_targets(self.endpoint_intervals, list(zip(repeat(slot), map(_NAME, names)))), p)
            elif name == "intervals":
                # room for the latest slot first: coarsening replaces the slots' histograms, so targets taken
                # before it would be lost, and a step read before it would place later rows in the wrong time
                if names:
                    self.interval_room(max(i for i, _, _ in names) // self.interval_step)
                step = self.interval_step
                merge_packed(_targets(self.intervals, [(i // step, kind, ok) for i, kind, ok in names]), p)
            elif name == "phases":
                merge_packed(_targets(self.phases, names), p)
            else:
                table = {"window": self.window_table, "service": lambda: self.service, "db": lambda: self.db}[name]()
                merge_packed(_targets(table, names), p)
        if d.window:
            self.window_table()
        for i, reason, n in d.small["errors"]:
            self.add_error(keys[i], reason, n)
        for i, reason, text in d.small["examples"]:
            if (keys[i], reason) in self.errors:  # not for a reason folded into OTHER_REASONS
                self.examples.setdefault((keys[i], reason), text)
        for i, counts in d.small["le"]:
            have = self.le.get(keys[i])
            if have is None:
                self.le[keys[i]] = list(counts)
            elif len(have) == len(counts):
                self.le[keys[i]] = [a + b for a, b in zip(have, counts)]
        self._add_checks(d.small["checks"])
        self.add_exemplars(d.small.get("exemplars", ()))
        self.add_splits(d.small.get("splits", ()))
        self.per_worker[worker] = self.per_worker.get(worker, 0) + added
        return added

    def timing_tag(self, tag: str) -> str:
        """A timings tag as merged: a Server-Timing entry or desc past the bound under its OTHER_ name."""
        if tag.startswith(DUR):
            return DUR + self.entry_names.entry(tag[len(DUR):])
        if tag.startswith(DESC):
            entry, _, desc = tag[len(DESC):].partition("=")
            kept = self.entry_names.entry(entry)
            return f"{DESC}{kept}={self.entry_names.desc(kept, desc)}"
        return tag

    def add_exemplars(self, rows: Iterable[Row]) -> None:
        """A worker's slowest requests: the K slowest of every worker's are kept per endpoint."""
        for r in rows:
            r[0] = self.endpoints.admit(r[0])
            self.exemplars.offer(r)

    def add_splits(self, rows: Iterable[list[Any]]) -> None:
        """A worker's time-split sums (stats/timesplit.py), added: exact across workers."""
        for r in rows:
            r[0] = self.endpoints.admit(r[0])
        self.splits.merge(rows)

    def _bounded_keys(self, worker: int, raw: list[SeriesKey]) -> list[SeriesKey]:
        """A worker's series keys as merged: a name past the bound as OTHER_ENDPOINTS (decided once per name)."""
        if self.endpoints.limit is None:
            return raw
        cached = self.worker_bounded.get(worker)
        if cached is None or cached[0] is not raw:
            cached = self.worker_bounded[worker] = (raw, [self.bounded(k) for k in raw])
        return cached[1]

    def bounded(self, key: SeriesKey) -> SeriesKey:
        """The key to merge under: its own, or its name past the bound replaced by OTHER_ENDPOINTS."""
        if key.name in self.endpoints.names:
            return key
        name = self.endpoints.admit(key.name)
        return key if name == key.name else self._key((key.user, name, key.kind, key.method, key.status, key.ok))

    def window_table(self) -> dict[SeriesKey, Histogram]:
        if self.window is None:
            self.window = {}
        return self.window

    def _add_checks(self, rows: Iterable[Sequence[Any]]) -> None:
        for user, name, kind, method, check, passes, fails, example in rows:
            ck = (str(user), self.endpoints.admit(str(name)), str(kind), str(method), str(check))
            counts = self.checks.setdefault(ck, [0, 0])
            counts[0] += int(passes)
            counts[1] += int(fails)
            if example is not None and ck not in self.check_examples:
                self.check_examples[ck] = str(example)[:400]

    def _add_rows(self, rows: Mapping[str, Any], in_steps: bool) -> int:
        """Add JSON rows (TablesJson) to the tables; the number of requests they held. `in_steps`: the rows'
        slots are already interval_step / endpoint_step intervals wide (merged tables), not one interval."""

        def key_of(key_list: Sequence[Any]) -> SeriesKey:
            return self.bounded(self._key(key_list))

        added = 0
        # the rows' slot widths, in intervals: a row past the last slot widens the tables, the rows after it
        # are still in the widths they were written in
        interval_width, endpoint_width = (self.interval_step, self.endpoint_step) if in_steps else (1, 1)
        for key_list, hist in rows["series"]:
            h = Histogram.from_json(hist)
            _hist(self.series, key_of(key_list)).merge(h)
            added += h.count
        for i, kind, ok, hist in rows.get("intervals", []):
            slot = int(i) * interval_width // self.interval_step
            self.add_interval(slot, str(kind), bool(ok), Histogram.from_json(hist))
        for key_list, reason, n in rows.get("errors", []):
            self.add_error(key_of(key_list), str(reason), int(n))
        for key_list, reason, text in rows.get("examples", []):
            ek = (key_of(key_list), str(reason))
            if ek in self.errors:
                self.examples.setdefault(ek, str(text))
        for key_list, hist in rows.get("service", []):
            _hist(self.service, key_of(key_list)).merge(Histogram.from_json(hist))
        for key_list, hist in rows.get("db", []):
            _hist(self.db, key_of(key_list)).merge(Histogram.from_json(hist))
        for i, name, hist in rows.get("endpoint_intervals", []):
            slot = int(i) * endpoint_width // self.endpoint_step
            self.add_endpoint_interval(slot, self.endpoints.admit(str(name)), Histogram.from_json(hist))
        for timing, key_list, hist in rows.get("timings", []):
            _hist(self.timings, (self.timing_tag(str(timing)), key_of(key_list))).merge(Histogram.from_json(hist))
        self._add_checks(rows.get("checks", []))
        self.add_exemplars(checked(rows.get("exemplars", [])))
        self.add_splits(checked_splits(rows.get("splits", [])))
        if "window" in rows:
            window = self.window_table()
            for key_list, hist in rows["window"]:
                _hist(window, key_of(key_list)).merge(Histogram.from_json(hist))
            for phase, kind, ok, hist in rows.get("phases", []):
                _hist(self.phases, (str(phase), str(kind), bool(ok))).merge(Histogram.from_json(hist))
        return added

    def _key(self, key_list: Sequence[Any]) -> SeriesKey:
        raw = tuple(key_list)
        key = self.keys.get(raw)
        if key is None:
            key = self.keys[raw] = SeriesKey.from_list(raw)  # type: ignore[arg-type]
        return key

    def windowed(self) -> Merged:
        """The samples inside the measurement window only (the thresholds' view), or self without one."""
        if self.window is None:
            return self
        out = Merged(self.interval_s, self.exemplar_k)
        out.series = self.window
        out.tag_table = self.tag_table
        out.checks, out.check_examples = self.checks, self.check_examples  # recorded inside the window only
        out.timings, out.db = self.timings, self.db  # also recorded inside the window only
        out.exemplars, out.splits = self.exemplars, self.splits
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
        """Merge one endpoint's slot (a sparkline's picture: 16 buckets per doubling, values within 3.2 %;
        200 endpoints x 120 slots stay small on the master)."""
        self.endpoint_hist(slot, name).merge(h.coarsened(SPARK_SUB_BITS))

    def endpoint_hist(self, slot: int, name: str) -> Histogram:
        """One endpoint's slot to merge into (see endpoint_room)."""
        slot = self.endpoint_room(slot)  # before the table is read: a widening replaces it
        return _hist(self.endpoint_intervals, (slot, name))

    def endpoint_room(self, slot: int) -> int:
        """Room for a slot (in endpoint_step intervals) of the per-endpoint timelines, and the slot it is then:
        past ENDPOINT_SLOTS slots, halve the resolution (memory stays bounded)."""
        if self.rolling:
            oldest, keep = self.oldest_slots[1], self.rolling_slots[1]
            if slot - oldest >= keep + max(1, keep // 8):  # the older ones go, a few slots at a time
                oldest = slot - keep + 1
                self.endpoint_intervals = {k: h for k, h in self.endpoint_intervals.items() if k[0] >= oldest}
                self.oldest_slots = (self.oldest_slots[0], oldest)
            return slot
        while slot >= ENDPOINT_SLOTS:
            self.endpoint_intervals = widened(self.endpoint_intervals, 0, 2)
            self.endpoint_step *= 2
            slot //= 2
        return slot

    def add_interval(self, slot: int, kind: str, ok: bool, h: Histogram) -> None:
        """Merge one slot of the per-kind timeline. Timeline histograms are pictures: their buckets are
        coarse (histogram.COARSE_SUB_BITS, values within 0.8 %; count, sum, min, max exact); the thresholds
        judge the exact per-series histograms."""
        self.interval_hist(slot, kind, ok).merge(h.coarsened())

    def interval_hist(self, slot: int, kind: str, ok: bool) -> Histogram:
        """One slot of the per-kind timeline to merge into (see interval_room)."""
        slot = self.interval_room(slot)  # before the table is read: a widening replaces it
        return _hist(self.intervals, (slot, kind, ok))

    def interval_room(self, slot: int) -> int:
        """Room for a slot (in interval_step intervals) of the per-kind timeline, and the slot it is then:
        past INTERVAL_SLOTS slots, merge neighbouring slots pairwise and double `interval_step`. A coarser
        slot is the exact sum of the finer ones, so memory and artifacts stay bounded in time."""
        if self.rolling:
            oldest, keep = self.oldest_slots[0], self.rolling_slots[0]
            if slot - oldest >= keep + max(1, keep // 8):  # the older ones go, a few slots at a time
                oldest = slot - keep + 1
                self.intervals = {k: h for k, h in self.intervals.items() if k[0] >= oldest}
                self.oldest_slots = (oldest, self.oldest_slots[1])
            return slot
        while slot >= INTERVAL_SLOTS:
            self.intervals = widened(self.intervals, 0, 2)
            self.interval_step *= 2
            slot //= 2
        return slot

    @property
    def slot_s(self) -> float:
        """Seconds per slot of the per-kind timeline (`intervals`)."""
        return self.interval_s * self.interval_step

    def select(
        self, tags: Iterable[tuple[str, str]] = (), ok: bool | None = True, service: bool = False, timing: str = ""
    ) -> Histogram:
        """Pooled histogram of the series whose tags all match (AND) and whose outcome is `ok`
        (`service`: the open model's service times instead of latencies from the due time; `timing`:
        "waiting" or "connecting" instead of the whole duration)."""
        tags = tuple(tags)
        out = Histogram(self.sub_bits)
        if timing:
            table = {key: h for (t, key), h in self.timings.items() if t == timing}
        else:
            table = self.service if service else self.series
        for key, h in table.items():
            if ok is not None and key.ok != ok:
                continue
            if self.matches(key, tags):
                out.merge(h)
        return out

    def select_db(self, tags: Iterable[tuple[str, str]] = ()) -> Histogram:
        """Pooled queries-per-request histogram of the matching series (every response that said)."""
        tags = tuple(tags)
        out = Histogram(self.sub_bits)
        for key, h in self.db.items():
            if all(_tag_matches(key, t, v) for t, v in tags):
                out.merge(h)
        return out

    def counts(self, tags: Iterable[tuple[str, str]] = ()) -> tuple[int, int]:
        """(requests, failures) over the series whose tags match (a monitor's: over the whole run)."""
        if self.generations is not None:
            return self.exported_view().counts(tags)
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
        earlier = self.generations.total() if self.generations is not None else 0
        return earlier + sum(h.count for h in self.series.values())

    def to_json(self, sparklines: bool = True) -> MergedJson:
        """The tables as JSON (`sparklines`: see Tables.rows); a monitor's judged tables are its window's
        (judged_view), from `judged_from_s`."""
        if self.generations is not None:
            return self.judged_view().to_json(sparklines)
        rows = self.rows(ordered=True, sparklines=sparklines)
        out: MergedJson = {
            "interval_s": self.interval_s,
            "series": rows["series"],
            "intervals": rows["intervals"],
            "errors": rows["errors"],
            "examples": rows["examples"],
            "service": rows["service"],
            "db": rows["db"],
            "per_worker": {str(w): n for w, n in sorted(self.per_worker.items())},
            "interval_step": self.interval_step,
            "endpoint_step": self.endpoint_step,
            "endpoint_intervals": rows["endpoint_intervals"],
            "checks": rows["checks"],
            "timings": rows["timings"],
        }
        out["exemplar_k"] = self.exemplar_k
        if self.sub_bits != SUB_BITS:
            out["sub_bits"] = self.sub_bits
        if "exemplars" in rows:
            out["exemplars"] = rows["exemplars"]
        if "splits" in rows:
            out["splits"] = rows["splits"]
        if "window" in rows:
            out["window"], out["phases"] = rows["window"], rows["phases"]
        if self.endpoints.limit is not None:
            out["endpoint_names"] = {"limit": self.endpoints.limit, "folded": list(self.endpoints.folded)}
        if self.judged_from_s:
            out["judged_from_s"] = self.judged_from_s
        return out

    def judged_json(self) -> MergedJson:
        """What a threshold judges, alone: the series, service times, queries per request, timings and checks
        (a monitor's snapshot, read every second: not the timelines, errors or exemplars)."""
        enc = Histogram.to_json

        def series_rows(table: dict[SeriesKey, Histogram]) -> list[tuple[SeriesKeyJson, Any]]:
            return [(k.as_list(), enc(h)) for k, h in table.items()]

        out: MergedJson = {
            "interval_s": self.interval_s,
            "series": series_rows(self.series),
            "service": series_rows(self.service),
            "db": series_rows(self.db),
            "timings": [(t, k.as_list(), enc(h)) for (t, k), h in self.timings.items()],
            "checks": [(*k, n[0], n[1], self.check_examples.get(k)) for k, n in self.checks.items()],
        }
        if self.sub_bits != SUB_BITS:
            out["sub_bits"] = self.sub_bits
        g = self.generations
        if g is not None:  # a monitor's: the previous generation too (monitor/rolling.py: a new one restarts)
            out["generation"] = self.split_generation
            out["older"] = {"series": series_rows(g.older["series"]), "service": series_rows(g.older["service"]),
                            "db": series_rows(g.older["db"]),
                            "timings": [(t, k.as_list(), enc(h)) for (t, k), h in g.older["timings"].items()]}
        return out

    @classmethod
    def from_json(cls, data: MergedJson) -> Merged:
        """What to_json wrote (the master's summary, results.json's `histograms`, older ones too)."""
        m = cls(float(data.get("interval_s", 1.0)), int(data.get("exemplar_k", DEFAULT_K)))
        m.interval_step = int(data.get("interval_step", 1))
        m.endpoint_step = int(data.get("endpoint_step", 1))
        m.sub_bits = int(data.get("sub_bits", SUB_BITS))
        bound = data.get("endpoint_names")
        if bound is not None:
            m.endpoints = EndpointNames(int(bound["limit"]))
            for name in bound.get("folded", []):
                m.endpoints.note(str(name))
        m._add_rows(data, True)
        if m.sub_bits != SUB_BITS:  # the judged tables were sent coarse: their error bounds say so
            for table in (m.series, m.service, m.db, m.timings, m.window or {}):
                for h in table.values():
                    h.sub_bits = min(h.sub_bits, m.sub_bits)
        m.per_worker = {int(w): int(n) for w, n in data.get("per_worker", {}).items()}
        m.judged_from_s = float(data.get("judged_from_s", 0.0))
        return m


def _targets(table: dict[Any, Histogram], names: list[Any]) -> list[Histogram]:
    """The histograms of `table` named `names` (one per row), new ones made: the lookups in C."""
    out: list[Histogram | None] = list(map(table.get, names))
    if None in out:
        for j, h in enumerate(out):
            if h is None:
                out[j] = _hist(table, names[j])  # a name twice in one table: one histogram
    return out  # type: ignore[return-value]


def widened(table: dict[Any, Histogram], at: int, factor: int) -> dict[Any, Histogram]:
    """A timeline table with `factor` neighbouring slots merged into one: the slot number is the key's
    element `at`; each new slot's histogram is the exact sum of the old ones (a new table: histograms
    taken from the old one are not in it)."""
    out: dict[Any, Histogram] = {}
    for key, h in table.items():
        _hist(out, (*key[:at], key[at] // factor, *key[at + 1 :])).merge(h)
    return out


def _hist(table: dict[Any, Histogram], key: Any) -> Histogram:
    h = table.get(key)
    if h is None:
        h = table[key] = Histogram()
    return h


def _tag_matches(key: SeriesKey, tag: str, value: str) -> bool:
    if tag == "method":
        return key.method == value.upper()
    return key.tag(tag) == value


def latency_stats(ok: Histogram, total: int, failures: int, seconds: float) -> LatencyStats:
    """The per-kind / per-endpoint stats block of results.json (latencies in ms, successful requests)."""
    from loadorch.results import LatencyStats  # here: the master and the workers record without results.json's
    # models (the fork server would build them before it forks them: start time, benchmarks/README.md)

    def ms(us: float) -> float | None:
        return None if math.isnan(us) else round(us / 1000.0, 3)

    p50, p90, p95, p99, p999 = ok.percentiles((50, 90, 95, 99, 99.9))
    return LatencyStats(
        count=total,
        failures=failures,
        rps=round(total / seconds, 3) if seconds > 0 else 0.0,
        min_ms=ms(float(ok.min)) if ok.count else None,
        mean_ms=ms(ok.mean),
        p50_ms=ms(p50),
        p90_ms=ms(p90),
        p95_ms=ms(p95),
        p99_ms=ms(p99),
        p999_ms=ms(p999),
        max_ms=ms(float(ok.max)) if ok.count else None,
    )
