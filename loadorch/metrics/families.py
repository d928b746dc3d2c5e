"""The metric families of a running load test, built from the merged stats (pure: data in, data out).

The exposition (prometheus-client), the remote-write push and the tests all read these families, so
a scrape and a push cannot disagree. Latency histograms count successful and failed requests apart
(label `outcome`); thresholds see the successful ones, as the gate does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadorch.metrics.names import (
    PREFIX,
    RUN_LABELS,
    SERIES_LABELS,
    SERIES_TABLES,
    THRESHOLD_STATES,
    SeriesTable,
    domain_of,
    le_label,
)
from loadorch.metrics.names import status_class as status_class_of
from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.histogram import Histogram, bounds_of
from loadorch.stats.servertiming import DESC, DUR
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.evaluate import ThresholdResult

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
# request names labelled in the live metrics (the first to come, the scenario's and the thresholds' first);
# the others' requests in "(other endpoints)" series, exactly. A name is about 18 series (counters and a
# histogram's buckets): 1,000 names made an 18,000-line, 3.4 MB scrape that held the master for seconds
MAX_METRIC_NAMES = 200


@dataclass(frozen=True)
class Gauges:
    """What the master knows besides the request stats."""

    users: int = 0
    workers_connected: int = 0
    workers_expected: int = 0
    cpu_by_worker: dict[int, float] = field(default_factory=dict)
    arrival_rate_target: float | None = None
    arrival_rate_achieved: float | None = None
    arrivals_dropped: int | None = None
    elapsed_s: float = 0.0
    finished: bool = False
    window_open: bool | None = None  # with a measurement window: whether the samples now count for the verdict


@dataclass
class Family:
    name: str  # without the `_total` of a counter
    kind: str  # counter, gauge or histogram
    help: str
    labels: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    # histograms: label values, cumulative (le, count) pairs ending with +Inf, sum in seconds
    buckets: list[tuple[tuple[str, ...], list[tuple[str, float]], float]] = field(default_factory=list)


def _series_labels(key: SeriesKey, names: EndpointNames | None = None) -> tuple[str, ...]:
    name = key.name if names is None else names.admit(key.name)
    return (key.user, name, key.kind, key.method, status_class_of(key.status))


def cumulative(
    h: Histogram, le: Sequence[int] | None, edges: Sequence[int], divisor: float = 1e6
) -> list[tuple[str, float]]:
    """(le, count at or below) per edge, then +Inf. `le` holds exact counts per edge interval when the
    workers counted them; otherwise whole buckets at or below the edge are counted (exact below 2048,
    where the histogram's buckets are single values: counts, small latencies)."""
    out: list[tuple[str, float]] = []
    running = 0
    for i, edge in enumerate(edges):
        if le is not None and len(le) == len(edges) + 1:
            running += le[i]
            out.append((le_label(edge, divisor), float(running)))
        else:
            below = sum(n for b, n in h.buckets.items() if bounds_of(b)[1] <= edge)
            out.append((le_label(edge, divisor), float(below)))
    out.append(("+Inf", float(h.count)))
    return out


def request_families(
    run: tuple[str, ...], merged: Merged, edges: Sequence[int], names: EndpointNames | None = None
) -> list[Family]:
    """Requests, failures and latency per series; `names`: the request names labelled (a name past its bound
    is labelled OTHER_ENDPOINTS, its requests added to that series exactly), kept by the caller from one
    scrape to the next so a series never changes its name."""
    by_domain: dict[str, list[Family]] = {}
    counters: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    hist_rows: dict[tuple[str, tuple[str, ...]], tuple[Histogram, list[int] | None]] = {}
    owned: set[tuple[str, tuple[str, ...]]] = set()  # rows whose histogram is a copy made here
    for key, h in sorted(merged.series.items(), key=lambda kv: kv[0].as_list()):
        domain = domain_of(key.kind)
        labels = run + _series_labels(key, names)
        row = counters.setdefault((domain, labels), [0.0, 0.0])
        row[0] += h.count
        if not key.ok:
            row[1] += h.count
        hkey = (domain, (*labels, "ok" if key.ok else "failed"))
        le = merged.le.get(key)
        if hkey in hist_rows:  # several series under one label set (status classes, names folded)
            prev_h, prev_le = hist_rows[hkey]
            merged_le = [a + b for a, b in zip(prev_le, le)] if prev_le is not None and le is not None else None
            if hkey not in owned:  # the first row's histogram is the table's own: copied once, then added to
                prev_h = Histogram().merge(prev_h)
                owned.add(hkey)
            hist_rows[hkey] = (prev_h.merge(h), merged_le)
        else:
            hist_rows[hkey] = (h, list(le) if le is not None else None)
    label_names = (*RUN_LABELS, *SERIES_LABELS)
    for (domain, labels), (total, failures) in counters.items():
        fams = by_domain.setdefault(domain, _domain_families(domain, label_names))
        fams[0].samples.append((labels, total))
        fams[1].samples.append((labels, failures))
    for (domain, labels), (h, le) in hist_rows.items():
        fams = by_domain.setdefault(domain, _domain_families(domain, label_names))
        fams[2].buckets.append((labels, cumulative(h, le, edges), h.total / 1_000_000.0))
    return [f for domain in sorted(by_domain) for f in by_domain[domain]]


def _domain_families(domain: str, names: tuple[str, ...]) -> list[Family]:
    base = f"{PREFIX}_{domain}"
    return [
        Family(f"{base}_requests", COUNTER, f"{domain} requests sent, per series", names),
        Family(f"{base}_failures", COUNTER, f"{domain} requests that failed, per series", names),
        Family(
            f"{base}_request_duration_seconds",
            HISTOGRAM,
            f"{domain} request latency; bucket edges include every threshold limit",
            (*names, "outcome"),
        ),
    ]


def table_families(
    run: tuple[str, ...],
    merged: Merged,
    table_edges: Mapping[str, Sequence[int]],
    names: EndpointNames | None = None,
) -> list[Family]:
    """One histogram family per per-series table of the merged stats that has data (SERIES_TABLES)."""
    out = []
    for table in SERIES_TABLES:
        data: dict[SeriesKey, Histogram] | None = getattr(merged, table.attr, None)
        if data:
            out.append(_table_family(run, table, data, table_edges.get(table.attr, ()), names))
    return out


def _table_family(
    run: tuple[str, ...],
    table: SeriesTable,
    data: dict[SeriesKey, Histogram],
    edges: Sequence[int],
    names: EndpointNames | None,
) -> Family:
    fam = Family(f"{PREFIX}_{table.family}", HISTOGRAM, table.help, (*RUN_LABELS, *SERIES_LABELS, "outcome"))
    rows: dict[tuple[str, ...], Histogram] = {}
    owned: set[tuple[str, ...]] = set()
    for key, h in data.items():
        labels = (*run, *_series_labels(key, names), "ok" if key.ok else "failed")
        if labels not in rows:
            rows[labels] = h
        else:
            if labels not in owned:  # the table's own histogram: copied once, then added to
                rows[labels] = Histogram().merge(rows[labels])
                owned.add(labels)
            rows[labels].merge(h)
    for labels, h in sorted(rows.items()):
        fam.buckets.append((labels, cumulative(h, None, edges, table.exposed_divisor), h.total / table.exposed_divisor))
    return fam


def server_timing_families(
    run: tuple[str, ...], merged: Merged, edges: Sequence[int], names: EndpointNames | None = None
) -> list[Family]:
    """The target's Server-Timing entries (stats/servertiming.py), when the run records them: each entry's
    durations per series (a histogram, seconds) and each desc's responses (a counter). Bounded as the
    entries are (16 names, 8 descs each) times the series labelled."""
    durations: dict[tuple[str, ...], Histogram] = {}
    descs: dict[tuple[str, ...], float] = {}
    for (tag, key), h in merged.timings.items():
        if not key.ok or not tag.startswith((DUR, DESC)):
            continue
        labels = (*run, *_series_labels(key, names))
        if tag.startswith(DUR):
            row = (*labels, tag[len(DUR):])
            durations[row] = Histogram().merge(durations[row]).merge(h) if row in durations else h
        else:
            entry, _, desc = tag[len(DESC):].partition("=")
            said = (*labels, entry, desc)
            descs[said] = descs.get(said, 0.0) + h.count
    out = []
    if durations:
        fam = Family(f"{PREFIX}_server_timing_seconds", HISTOGRAM, "the target's Server-Timing entry durations (dur)",
                     (*RUN_LABELS, *SERIES_LABELS, "entry"))
        for labels, h in sorted(durations.items()):
            fam.buckets.append((labels, cumulative(h, None, edges), h.total / 1_000_000.0))
        out.append(fam)
    if descs:
        fam = Family(f"{PREFIX}_server_timing_desc", COUNTER, "responses whose Server-Timing entry said this desc",
                     (*RUN_LABELS, *SERIES_LABELS, "entry", "desc"))
        fam.samples = sorted(descs.items())
        out.append(fam)
    return out


def gauge_families(run: tuple[str, ...], g: Gauges) -> list[Family]:
    def gauge(name: str, help_text: str, value: float | None) -> Family:
        fam = Family(f"{PREFIX}_{name}", GAUGE, help_text, RUN_LABELS)
        if value is not None:
            fam.samples.append((run, float(value)))
        return fam

    cpu_labels = (*RUN_LABELS, "worker")
    cpu = Family(f"{PREFIX}_generator_cpu_percent", GAUGE, "CPU of each load generator (worker)", cpu_labels)
    cpu.samples = [((*run, str(w)), float(v)) for w, v in sorted(g.cpu_by_worker.items())]
    dropped = Family(f"{PREFIX}_arrivals_dropped", COUNTER, "open model: arrivals dropped (no idle user)", RUN_LABELS)
    if g.arrivals_dropped is not None:
        dropped.samples.append((run, float(g.arrivals_dropped)))
    return [
        gauge("active_users", "virtual users running", g.users),
        gauge("workers_connected", "workers reporting to the master", g.workers_connected),
        gauge("workers_expected", "workers the run asked for", g.workers_expected),
        gauge("arrival_rate_target", "open model: arrivals per second the schedule asks for", g.arrival_rate_target),
        gauge("arrival_rate_achieved", "open model: arrivals per second dispatched", g.arrival_rate_achieved),
        dropped,
        cpu,
        gauge("run_elapsed_seconds", "seconds since the load started", g.elapsed_s),
        gauge("run_finished", "1 once the run has ended and the values are final", 1.0 if g.finished else 0.0),
        gauge(
            "measure_window_open",
            "measurement window: 1 while samples count for the thresholds, 0 outside it",
            None if g.window_open is None else float(g.window_open),
        ),
    ]


def threshold_families(run: tuple[str, ...], results: Sequence[ThresholdResult]) -> list[Family]:
    from loadorch.metrics.names import threshold_state

    labels = (*RUN_LABELS, "threshold", "unit")
    observed = Family(f"{PREFIX}_threshold_observed", GAUGE, "a threshold's observed value, in its unit", labels)
    limit = Family(f"{PREFIX}_threshold_limit", GAUGE, "a threshold's limit, in its unit", labels)
    state = Family(
        f"{PREFIX}_threshold_state", GAUGE, "1 for a threshold's current state", (*RUN_LABELS, "threshold", "state")
    )
    for r in results:
        name = f"{r.selector} {r.expression}"
        if r.observed is not None:
            observed.samples.append(((*run, name, r.unit), float(r.observed)))
        limit.samples.append(((*run, name, r.unit), float(r.limit)))
        current = threshold_state(r.verdict, r.message)
        for s in THRESHOLD_STATES:
            state.samples.append(((*run, name, s), 1.0 if s == current else 0.0))
    return [observed, limit, state]


def build(
    run: tuple[str, ...],
    merged: Merged,
    edges: Sequence[int],
    gauges: Gauges,
    results: Sequence[ThresholdResult],
    table_edges: Mapping[str, Sequence[int]] | None = None,
    names: EndpointNames | None = None,
) -> list[Family]:
    """Every family of the run: requests per domain, per-series tables, gauges, thresholds (`names`: see
    request_families)."""
    return (
        request_families(run, merged, edges, names)
        + table_families(run, merged, table_edges or {}, names)
        + server_timing_families(run, merged, edges, names)
        + gauge_families(run, gauges)
        + threshold_families(run, results)
    )


def flatten(families: Sequence[Family]) -> list[tuple[dict[str, str], float]]:
    """Every sample as (labels with __name__, value): what remote write sends."""
    out: list[tuple[dict[str, str], float]] = []
    for fam in families:
        if fam.kind == HISTOGRAM:
            for values, cum, total in fam.buckets:
                base = dict(zip(fam.labels, values))
                for le, n in cum:
                    out.append(({"__name__": f"{fam.name}_bucket", **base, "le": le}, n))
                out.append(({"__name__": f"{fam.name}_sum", **base}, total))
                out.append(({"__name__": f"{fam.name}_count", **base}, cum[-1][1]))
            continue
        name = f"{fam.name}_total" if fam.kind == COUNTER else fam.name
        out += [({"__name__": name, **dict(zip(fam.labels, values))}, v) for values, v in fam.samples]
    return out
