"""Browser and Lighthouse samples: tagged, mergeable histograms, step outcomes and blocked requests (pure).

Histograms hold integers, so each metric has a scale: milliseconds are kept as microseconds (like HTTP
latencies), CLS and Lighthouse scores as millionths, Lighthouse audit values as thousandths. Thresholds
and reports divide the scale back out (a CLS of 0.087 is stored as 87000 and shown as 0.087).
"""

from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadorch.browser.exemplars import Attribution, Exemplar, PageEvidence, keep
from loadorch.browser.weight import WeightJson
from loadorch.config.thresholds import RESOURCE_METRICS
from loadorch.results import BrowserTablesJson, LargeResource, PageWeight
from loadorch.stats.histogram import SUB_BITS, Histogram
from loadorch.stats.tables import INTERVAL_SLOTS, widened

VITALS = ("lcp", "fcp", "ttfb", "inp", "cls")
ATTRIBUTED = ("lcp", "inp", "cls")  # the vitals whose page views carry their attribution
# page weight per page view and resource type (weight.py): transfer bytes, decoded bytes, requests
SCALE = {
    "browser_web_vital_cls": 1_000_000,
    "lighthouse_score": 1_000_000,
    "lighthouse_audit": 1000,
    **{m: 1 for m in RESOURCE_METRICS},
}


def _int_env(name: str, default: int) -> int:
    """A positive whole number from the environment (tests shorten a bound so); else `default`."""
    text = os.environ.get(name, "")
    return int(text) if text.isdigit() and int(text) > 0 else default


UNITLESS = ("browser_web_vital_cls", "lighthouse_score", "lighthouse_audit", *RESOURCE_METRICS)
UNITS = {"browser_resource_bytes": "bytes", "browser_resource_decoded_bytes": "bytes"}
MAX_BLOCKED = 50  # distinct blocked URLs kept for the report
# distinct page names a stats table keeps: a page a click opened is named by its path (/item/123), one name a view
# for a journey that clicks through to ever other items; past these, its views count under OTHER_PAGES
MAX_PAGES = _int_env("LOADORCH_TEST_MAX_PAGES", 50)  # tests only: a smaller bound, reached by a short run
OTHER_PAGES = f"(other pages: more than {MAX_PAGES} distinct)"
MAX_STEP_REASONS = 20  # distinct failure reasons kept per step; the rest counted under OTHER_STEP_REASONS
OTHER_STEP_REASONS = f"(other reasons: more than {MAX_STEP_REASONS} distinct for this step)"

Tags = tuple[tuple[str, str], ...]


def metric_of(vital: str) -> str:
    return f"browser_web_vital_{vital}"


def scale_of(metric: str) -> int:
    return SCALE.get(metric, 1000)


def unit_of(metric: str) -> str:
    return UNITS.get(metric, "" if metric in UNITLESS else "ms")


@dataclass
class BrowserStats:
    """Everything the browser workers measured (plus Lighthouse results), merged."""

    interval_s: float = 1.0  # seconds per slot of `intervals`: doubles as a run passes INTERVAL_SLOTS slots
    series: dict[tuple[str, Tags], Histogram] = field(default_factory=dict)
    intervals: dict[tuple[str, str, int], Histogram] = field(default_factory=dict)
    steps: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)  # (user, page, step) -> [ok, failed]
    failures: dict[tuple[str, str, str, str], int] = field(default_factory=dict)  # (user, page, step, reason)
    blocked: dict[tuple[str, str], int] = field(default_factory=dict)  # (page, url) -> times
    views: int = 0
    cut_short: dict[str, int] = field(default_factory=dict)  # page -> views the run's end cut short (no sample)
    # Lighthouse results as read (a handful of files): gated unrounded, the histograms only show them
    lighthouse: dict[tuple[str, Tags], list[float]] = field(default_factory=dict)
    # per series, the attribution of a few page views (exemplars.py): in memory only, for the gates' evidence
    exemplars: dict[tuple[str, Tags], list[Exemplar]] = field(default_factory=dict)
    sub_bits: int = SUB_BITS  # the histograms' layout: a monitor's is coarser (stats/histogram.py: memory flat)
    rolling: bool = False  # a monitor's timeline keeps its latest INTERVAL_SLOTS slots (roll_timeline), not widen
    oldest_slot: int = 0  # rolling: the oldest slot kept
    rolling_slots: int = INTERVAL_SLOTS  # rolling: the slots that span the window (roll_timeline)
    # a metric's live bucket edges (metrics.tagged.edges_for; None: no live metrics, no counts kept) and, per
    # series, the exact count of values in each interval between them (len(edges) + 1, the last past them):
    # the live families' count at a limit is then exact, not the histogram's buckets wholly under it
    edges_of: Callable[[str], Sequence[int]] | None = None
    le: dict[tuple[str, Tags], list[int]] = field(default_factory=dict)
    edges: dict[str, tuple[int, ...]] = field(default_factory=dict)  # edges_of's answers, asked once a metric
    page_names: set[str] = field(default_factory=set)  # the page names recorded here (at most MAX_PAGES: page_of)
    folded: int = 0  # page views recorded here under OTHER_PAGES

    def record(self, metric: str, tags: Mapping[str, str], value: float, at_s: float | None = None) -> None:
        units = max(0, round(value * scale_of(metric)))
        key = (metric, tuple(sorted(tags.items())))
        if metric.startswith("lighthouse_"):
            self.lighthouse.setdefault(key, []).append(float(value))
        self._hist(self.series, key).record(units)
        if self.edges_of is not None:
            self._count_edge(key, units)
        if at_s is not None:
            slot = self._slot(max(0, int(at_s / self.interval_s)))
            self._hist(self.intervals, (metric, tags.get("page", ""), slot)).record(units)

    def _count_edge(self, key: tuple[str, Tags], units: int) -> None:
        edges = self.edges.get(key[0])
        if edges is None:
            edges = self.edges[key[0]] = tuple(self.edges_of(key[0])) if self.edges_of is not None else ()
        counts = self.le.get(key)
        if counts is None:
            counts = self.le[key] = [0] * (len(edges) + 1)
        counts[bisect_left(edges, units)] += 1  # a value equal to an edge is at or below it

    def _slot(self, slot: int) -> int:
        """The vitals over time keep at most INTERVAL_SLOTS slots, like the HTTP timeline: past that,
        neighbouring slots merge pairwise and the slot doubles (each coarse slot the exact sum of its
        seconds), so a long browser run's memory and artifacts stay bounded in time. Rolling (a monitor): the
        slots keep their width and the older ones go, a few at a time."""
        if self.rolling:
            keep = self.rolling_slots
            if slot - self.oldest_slot >= keep + max(1, keep // 8):
                self.oldest_slot = slot - keep + 1
                self.intervals = {k: h for k, h in self.intervals.items() if k[2] >= self.oldest_slot}
            return slot
        while slot >= INTERVAL_SLOTS:
            self._coarsen(2)
            slot //= 2
        return slot

    def roll_timeline(self, span_s: float) -> None:
        """A monitor's timeline: slots wide enough that INTERVAL_SLOTS of them span `span_s`, and as many of
        the latest kept as span it (set before anything is recorded). A slot is never narrower than the
        run's interval (30 s for a monitor), so a short window keeps fewer slots, not 720 (6 hours of them)."""
        self.rolling = True
        self.interval_s = max(self.interval_s, span_s / INTERVAL_SLOTS)
        self.rolling_slots = max(1, math.ceil(span_s / self.interval_s))

    def _coarsen(self, factor: int) -> None:
        self.intervals = widened(self.intervals, 2, factor)  # keys (metric, page, slot)
        self.interval_s *= factor

    def record_view(
        self,
        user: str,
        page: str,
        at_s: float,
        values: Mapping[str, float | None],
        evidence: PageEvidence | None = None,
    ) -> None:
        """One page view's final vitals (`lcp`, `cls`, ...; None when the view had none, e.g. no input: no INP),
        with what its page measured about them (evidence.clean: attribution, weight), when it did."""
        self.views += 1
        page = self.page_of(page)
        if page == OTHER_PAGES:
            self.folded += 1
        tags = {"page": page, "user": user}
        for vital in VITALS:
            value = values.get(vital)
            if value is not None:
                self.record(metric_of(vital), tags, float(value), at_s)
                detail = evidence.of(vital) if evidence is not None and vital in ATTRIBUTED else None
                if detail is not None:
                    self._exemplar(metric_of(vital), tags, float(value), at_s, detail)
        if evidence is not None and evidence.weight is not None:
            self._weight(tags, at_s, evidence.weight)

    def _weight(self, tags: Mapping[str, str], at_s: float, weight: WeightJson) -> None:
        """Every resource type of the view gets a sample (0 when it had none): a budget on fonts is met by a
        page without fonts, not left without data."""
        largest = weight["largest"]
        for kind, (count, transfer, decoded) in weight["types"].items():
            own = {**tags, "type": kind}
            rows = [
                LargeResource(transfer=r[0], decoded=r[1], type=r[2], url=r[3])
                for r in largest
                if r[2] == kind or (kind == "total" and r[2] != "third-party")
            ]
            detail = PageWeight(type=kind, requests=count, transfer=transfer, decoded=decoded, largest=rows)
            for metric, value in zip(RESOURCE_METRICS, (transfer, decoded, count), strict=True):
                self.record(metric, own, float(value), at_s)
                self._exemplar(metric, own, float(value), at_s, detail)

    def _exemplar(self, metric: str, tags: Mapping[str, str], value: float, at_s: float, detail: Attribution) -> None:
        key = (metric, tuple(sorted(tags.items())))
        p75 = self.series[key].percentile(75) / scale_of(metric)
        keep(self.exemplars.setdefault(key, []), Exemplar(value, at_s, tags["page"], tags["user"], detail), p75)

    def kept(self, metric: str, tags: Iterable[tuple[str, str]] = ()) -> list[Exemplar]:
        """The kept page views of the series of `metric` whose tags all match."""
        wanted = tuple(tags)
        return [
            e
            for (name, own), kept in self.exemplars.items()
            if name == metric and all(p in own for p in wanted)
            for e in kept
        ]

    def record_cut(self, page: str) -> None:
        """A page view the run's end cut short (between a visit and the last step on its page): counted
        apart, like a request still in flight when the load stops, never a sample of its vitals."""
        page = self.page_of(page)
        self.cut_short[page] = self.cut_short.get(page, 0) + 1

    def page_of(self, page: str) -> str:
        """`page`, or OTHER_PAGES once MAX_PAGES other names were recorded: a journey that clicks through to a
        new item each time made a page name a view, each its series on /metrics, its slices in a monitor's
        windows and its rows in the report, without bound (thousands an hour)."""
        if page in self.page_names or len(self.page_names) < MAX_PAGES:
            self.page_names.add(page)
            return page
        return OTHER_PAGES

    def record_step(self, user: str, page: str, step: str, error: str | None) -> None:
        page = self.page_of(page)  # the steps' table bounded as the views' is (a step on /item/123)
        counts = self.steps.setdefault((user, page, step), [0, 0])
        counts[1 if error else 0] += 1
        if error:
            self._add_failure((user, page, step, error[:300]), 1)

    def _add_failure(self, key: tuple[str, str, str, str], n: int) -> None:
        """Count a step's failures by reason; past MAX_STEP_REASONS distinct reasons for the step (an error
        text with a URL or an id in it), under OTHER_STEP_REASONS: the count exact, the table bounded."""
        if key not in self.failures and key[3] != OTHER_STEP_REASONS:
            step = key[:3]
            if sum(1 for k in self.failures if k[:3] == step and k[3] != OTHER_STEP_REASONS) >= MAX_STEP_REASONS:
                key = (*step, OTHER_STEP_REASONS)
        self.failures[key] = self.failures.get(key, 0) + n

    def record_blocked(self, page: str, url: str) -> None:
        key = (page, url[:300])
        if key in self.blocked or len(self.blocked) < MAX_BLOCKED:
            self.blocked[key] = self.blocked.get(key, 0) + 1

    def _hist(self, table: dict[Any, Histogram], key: Any) -> Histogram:
        h = table.get(key)
        if h is None:
            h = table[key] = Histogram(self.sub_bits)
        return h

    def select(self, metric: str, tags: Iterable[tuple[str, str]] = ()) -> Histogram:
        """Pooled histogram of `metric` over the series whose tags all match."""
        wanted = tuple(tags)
        out = Histogram()
        for (name, own), h in self.series.items():
            if name == metric and all(pair in own for pair in wanted):
                out.merge(h)
        return out

    def exact(self, metric: str, tags: Iterable[tuple[str, str]] = ()) -> list[float]:
        """The Lighthouse values of `metric` whose tags all match, as read, in order."""
        wanted = tuple(tags)
        pooled = [
            v
            for (name, own), vs in self.lighthouse.items()
            if name == metric and all(p in own for p in wanted)
            for v in vs
        ]
        return sorted(pooled)

    def step_counts(self, tags: Iterable[tuple[str, str]] = ()) -> tuple[int, int]:
        """(steps, failed steps) whose user and page match the tags."""
        wanted = dict(tags)
        total = failed = 0
        for (user, page, _), (ok, bad) in self.steps.items():
            if wanted.get("user", user) == user and wanted.get("page", page) == page:
                total += ok + bad
                failed += bad
        return total, failed

    def pages(self) -> list[str]:
        return sorted({dict(tags).get("page", "") for metric, tags in self.series if metric.startswith("browser_")})

    @property
    def empty(self) -> bool:
        return not (self.series or self.steps or self.blocked or self.cut_short)

    def merge(self, other: BrowserStats) -> BrowserStats:
        if other.rolling and not self.intervals:  # a copy of a monitor's: its latest slots, where they are
            self.rolling, self.oldest_slot, self.rolling_slots = True, other.oldest_slot, other.rolling_slots
        # the exact per-edge counts stay only where every value of both sides was counted (BrowserStats.le)
        counted = ((self.edges_of is not None or not self.series) and (other.edges_of is not None or not other.series)
                   and all(len(c) == len(self.le.get(k, c)) for k, c in other.le.items()))
        if counted and self.edges_of is None:
            self.edges_of, self.edges = other.edges_of, dict(other.edges)  # a copy of a live collector's
        for key, h in other.series.items():
            self._hist(self.series, key).merge(h)
        if not counted:
            self.edges_of, self.edges, self.le = None, {}, {}
        for key, counts in other.le.items() if counted else ():
            have = self.le.get(key)
            self.le[key] = list(counts) if have is None else [a + b for a, b in zip(have, counts)]
        # slots of 2^k seconds: the finer side is brought to the coarser one's slot before adding
        if other.interval_s > self.interval_s:
            self._coarsen(round(other.interval_s / self.interval_s))
        for (metric, page, i), h in other.intervals.items():
            slot = self._slot(i // max(1, round(self.interval_s / other.interval_s)))
            self._hist(self.intervals, (metric, page, slot)).merge(h)
        for step_key, (ok, bad) in other.steps.items():
            counts = self.steps.setdefault(step_key, [0, 0])
            counts[0] += ok
            counts[1] += bad
        for fkey, n in other.failures.items():
            self._add_failure(fkey, n)
        for bkey, n in other.blocked.items():
            self.blocked[bkey] = self.blocked.get(bkey, 0) + n
        self.views += other.views
        for page, n in other.cut_short.items():
            self.cut_short[page] = self.cut_short.get(page, 0) + n
        for lkey, values in other.lighthouse.items():
            self.lighthouse.setdefault(lkey, []).extend(values)
        for ekey, kept in other.exemplars.items():
            p75 = self.series[ekey].percentile(75) / scale_of(ekey[0])
            for e in kept:
                keep(self.exemplars.setdefault(ekey, []), e, p75)
        return self

    def to_json(self) -> BrowserTablesJson:
        return {
            "interval_s": self.interval_s,
            "views": self.views,
            "cut_short": dict(sorted(self.cut_short.items())),
            "series": [(m, list(tags), h.to_json()) for (m, tags), h in sorted(self.series.items())],
            "intervals": [(m, p, i, h.to_json()) for (m, p, i), h in sorted(self.intervals.items())],
            "steps": [(*k, ok, bad) for k, (ok, bad) in sorted(self.steps.items())],
            "failures": [(*k, n) for k, n in sorted(self.failures.items())],
            "blocked": [(p, u, n) for (p, u), n in sorted(self.blocked.items())],
            "lighthouse": [(m, list(tags), vs) for (m, tags), vs in sorted(self.lighthouse.items())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BrowserStats:
        out = cls(float(data.get("interval_s", 1.0)), views=int(data.get("views", 0)))
        out.cut_short = {str(p): int(n) for p, n in (data.get("cut_short") or {}).items()}
        for metric, tags, h in data.get("series", []):
            out.series[(str(metric), tuple((str(k), str(v)) for k, v in tags))] = Histogram.from_json(h)
        for metric, page, i, h in data.get("intervals", []):
            out.intervals[(str(metric), str(page), int(i))] = Histogram.from_json(h)
        for user, page, step, ok, bad in data.get("steps", []):
            out.steps[(str(user), str(page), str(step))] = [int(ok), int(bad)]
        for user, page, step, reason, n in data.get("failures", []):
            out.failures[(str(user), str(page), str(step), str(reason))] = int(n)
        for page, url, n in data.get("blocked", []):
            out.blocked[(str(page), str(url))] = int(n)
        for metric, tags, values in data.get("lighthouse", []):
            out.lighthouse[(str(metric), tuple((str(k), str(v)) for k, v in tags))] = [float(v) for v in values]
        return out
