"""Metric names, labels and histogram bucket edges (pure): one place that says what a metric is called.

Every family carries the run labels (run_id, profile, scenario). Request series add the labels of a
stats series (user_class, name, kind, method, status_class). Histogram edges are the usual spread plus
every latency limit of the run's thresholds, so the count at a threshold's limit is an exact count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PREFIX = "loadorch"
# The usual spread of latency edges (ms); each threshold limit is added to these.
SPREAD_MS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
# Threshold metrics whose limits are latencies in ms (another collector adds its own here).
LATENCY_METRICS = {"http_req_duration"}
RUN_LABELS = ("run_id", "profile", "scenario")
SERIES_LABELS = ("user_class", "name", "kind", "method", "status_class")

# A series' kind decides its domain, which names its families (loadorch_<domain>_requests_total ...).
# Kinds that are not listed are HTTP. A collector whose series use other kinds registers them here
# (e.g. "db" -> loadorch_db_*), and its series then flow through the same merged stats unchanged.
DOMAIN_OF_KIND: dict[str, str] = {}
DEFAULT_DOMAIN = "http"

THRESHOLD_STATES = ("pass", "fail", "inconclusive", "no_data")


@dataclass(frozen=True)
class SeriesTable:
    """A per-series histogram table of the merged stats (`Merged.<attr>: dict[SeriesKey, Histogram]`)
    exposed as one histogram family. A collector that records into such a table (queries per request,
    service times, ...) is exposed and pushed by adding a row to SERIES_TABLES; nothing else."""

    attr: str  # the Merged attribute
    family: str  # loadorch_<family>
    threshold_metric: str  # the threshold metric whose limits become bucket edges
    recorded_per_limit: float  # a limit's unit in recorded units (ms -> us: 1000)
    exposed_divisor: float  # recorded units per exposed unit (us -> s: 1e6)
    spread: tuple[float, ...]  # usual edges, in the threshold's unit
    help: str


SERIES_TABLES = (
    SeriesTable(
        "service",
        "http_service_time_seconds",
        "http_service_time",
        1000.0,
        1e6,
        SPREAD_MS,
        "open model: service time (from send, not from the due time) of successful and failed requests",
    ),
    SeriesTable(
        "db",
        "db_queries_per_request",
        "db_queries_per_request",
        1.0,
        1.0,
        (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
        "database queries per request (Server-Timing)",
    ),
)


def domain_of(kind: str) -> str:
    return DOMAIN_OF_KIND.get(kind, DEFAULT_DOMAIN)


def status_class(status: int) -> str:
    """2xx, 3xx, 4xx, 5xx; 'none' when no HTTP status came back (connection error, timeout)."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "none"


def with_limits(spread: Sequence[float], limits: Iterable[float]) -> list[float]:
    """A family's edges (in the limits' unit, unsorted): the spread, every limit, and one edge past the largest
    limit when no edge of the spread lies past it. Prometheus's histogram_quantile reads a quantile that falls in
    the +Inf bucket as the largest finite edge: were that the limit, `> limit` would never hold and an alert on
    p(99)<20000 would stay silent with every request at 30 s."""
    limits = [v for v in limits if v > 0]
    top = max(limits, default=0.0)
    past = [2 * top] if top and top >= max(spread) else []
    return [*spread, *limits, *past]


def edges_us(limits_ms: Iterable[float]) -> tuple[int, ...]:
    """Bucket edges in whole microseconds: the spread plus every limit (and one past them: with_limits), sorted,
    without duplicates."""
    edges = {round(ms * 1000.0) for ms in with_limits(SPREAD_MS, limits_ms) if ms > 0}
    return tuple(sorted(edges))


def table_edges(table: SeriesTable, thresholds: Iterable[tuple[str, float]]) -> tuple[int, ...]:
    """A table's edges in recorded units: its spread plus the limits of thresholds on its metric (with_limits)."""
    limits = [limit for metric, limit in thresholds if metric == table.threshold_metric]
    return tuple(sorted({round(v * table.recorded_per_limit) for v in with_limits(table.spread, limits) if v > 0}))


def latency_limits_ms(thresholds: Iterable[tuple[str, float]]) -> list[float]:
    """The limits (ms) of the thresholds on a latency metric, from (metric, limit) pairs."""
    return [limit for metric, limit in thresholds if metric in LATENCY_METRICS]


def le_label(edge: int, divisor: float = 1_000_000.0) -> str:
    """The `le` label of an edge (microseconds by default, shown in seconds), as Prometheus writes
    floats (0.3, 1.0, ...)."""
    return repr(edge / divisor)


def threshold_state(verdict: str, message: str) -> str:
    """pass / fail / inconclusive, or no_data when nothing matched the threshold yet."""
    if message.startswith("no data"):
        return "no_data"
    return verdict if verdict in THRESHOLD_STATES else "fail"
