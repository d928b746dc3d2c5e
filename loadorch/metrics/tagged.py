"""Families from tagged histograms measured outside the HTTP stats (browser vitals, Lighthouse), and the
JSON form in which the controller hands such families to the master (pure).

The controller owns these collectors, the master owns /metrics and the push: the controller writes
the families to a file every second (and once more before the final push), the master adds them to
whatever it serves and pushes. A collector that keeps `(metric, tags) -> Histogram` gets its series
exposed by passing that table to `tagged_families`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict

from loadorch.metrics.families import COUNTER, HISTOGRAM, Family, cumulative
from loadorch.metrics.names import PREFIX, RUN_LABELS, SPREAD_MS, with_limits
from loadorch.stats.histogram import Histogram

UNITLESS_SPREAD = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
# page weight (browser_resource_*): bytes per page view and requests per page view
SPREADS = {
    "_bytes": (1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7),
    "_count": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0),
}

Tags = tuple[tuple[str, str], ...]


def tagged_families(
    run: tuple[str, ...],
    series: Mapping[tuple[str, Tags], Histogram],
    scale_of: Callable[[str], int],
    unitless: Iterable[str],
    thresholds: Iterable[tuple[str, float]],
    le: Mapping[tuple[str, Tags], Sequence[int]] | None = None,
) -> list[Family]:
    """One histogram family per metric: `loadorch_<metric>_seconds` for milliseconds (stored as
    microseconds), `loadorch_<metric>` for unitless values; labels are the run's and the series' tags.
    Edges: `edges_for` (the usual spread plus every threshold limit on the metric). `le`: per series, the
    exact count of values in each interval between those edges (BrowserStats.le, counted as recorded), so a
    count at a limit's edge is exact; without it, whole buckets at or below the edge are counted, and a
    bucket that straddles the limit (1/128 of it wide in a monitor's layout) leaves its values under the
    limit out: a quantile read past the limit, an alert on a budget that holds."""
    edges_of = edges_for(thresholds, scale_of, unitless)
    plain = set(unitless)
    by_metric: dict[str, list[tuple[Tags, Histogram]]] = {}
    for (metric, tags), h in series.items():
        by_metric.setdefault(metric, []).append((tags, h))
    out = []
    for metric, rows in sorted(by_metric.items()):
        scale = scale_of(metric)
        unitless_metric = metric in plain
        edges = edges_of(metric)
        divisor = float(scale) if unitless_metric else scale * 1000.0  # ms metrics are shown in seconds
        tag_names = sorted({k for tags, _ in rows for k, _ in tags})
        name = f"{PREFIX}_{metric}" if unitless_metric else f"{PREFIX}_{metric}_seconds"
        fam = Family(name, HISTOGRAM, f"{metric} per {', '.join(tag_names) or 'run'}", (*RUN_LABELS, *tag_names))
        for tags, h in sorted(rows, key=lambda r: r[0]):
            values = dict(tags)
            labels = (*run, *(values.get(k, "") for k in tag_names))
            counts = None if le is None else le.get((metric, tags))
            fam.buckets.append((labels, cumulative(h, counts, edges, divisor), h.total / divisor))
        out.append(fam)
    return out


def edges_for(
    thresholds: Iterable[tuple[str, float]], scale_of: Callable[[str], int], unitless: Iterable[str]
) -> Callable[[str], list[int]]:
    """A metric's bucket edges, in its recorded units: the usual spread for its kind (milliseconds, unitless,
    page weight) plus every threshold limit on it. The one place they are made: the live families' edges and
    the exact per-edge counts a collector keeps (BrowserStats.le) must be the same."""
    plain = set(unitless)
    limits: dict[str, list[float]] = {}
    for metric, limit in thresholds:
        limits.setdefault(metric, []).append(limit)

    def edges_of(metric: str) -> list[int]:
        scale = scale_of(metric)
        own = [v for suffix, v in SPREADS.items() if metric.startswith("browser_resource_") and metric.endswith(suffix)]
        spread = own[0] if own else UNITLESS_SPREAD if metric in plain else SPREAD_MS
        return sorted({round(v * scale) for v in with_limits(spread, limits.get(metric, [])) if v > 0})

    return edges_of


class FamilyJson(TypedDict):
    """A Family as the controller writes it for the master (families_from_json reads it back there)."""

    name: str
    kind: str
    help: str
    labels: list[str]
    samples: list[tuple[list[str], float]]  # (label values, value)
    buckets: list[tuple[list[str], list[tuple[str, float]], float]]  # (label values, cumulative (le, count), sum)


def families_to_json(families: Sequence[Family]) -> list[FamilyJson]:
    return [
        FamilyJson(
            name=f.name,
            kind=f.kind,
            help=f.help,
            labels=list(f.labels),
            samples=[(list(v), x) for v, x in f.samples],
            buckets=[(list(v), list(cum), total) for v, cum, total in f.buckets],
        )
        for f in families
    ]


def families_from_json(data: Sequence[Mapping[str, Any]]) -> list[Family]:
    return [
        Family(
            str(d["name"]),
            str(d["kind"]),
            str(d["help"]),
            tuple(str(x) for x in d["labels"]),
            [(tuple(str(x) for x in v), float(x)) for v, x in d["samples"]],
            [
                (tuple(str(x) for x in v), [(str(le), float(n)) for le, n in cum], float(total))
                for v, cum, total in d["buckets"]
            ],
        )
        for d in data
    ]


def database_families(run: tuple[str, ...], queries: int, slow: int | None) -> list[Family]:
    """The database collector's live counters, from the start of its load window: top-level statements
    finished (pg_stat_statements) and, where the duration log is read, those slower than `slow_ms`. Their
    rates give the live slow share and, over loadorch_http_requests_total's, the queries per request; the
    final values are the verdict's db_queries and db_query_slow counts."""
    out = [Family(f"{PREFIX}_db_queries", COUNTER, "statements finished in the database (load window)", RUN_LABELS)]
    out[0].samples.append((run, float(queries)))
    if slow is not None:
        fam = Family(f"{PREFIX}_db_slow_queries", COUNTER, "of those, slower than slow_ms (duration log)", RUN_LABELS)
        fam.samples.append((run, float(slow)))
        out.append(fam)
    return out
