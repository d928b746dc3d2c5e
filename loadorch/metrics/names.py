"""Metric names, labels and histogram bucket edges (pure): one place that says what a metric is called.

Every family carries the run labels (run_id, profile, scenario). Request series add the labels of a
stats series (user_class, name, kind, method, status_class). Histogram edges are the usual spread plus
every latency limit of the run's thresholds, so the count at a threshold's limit is an exact count.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def domain_of(kind: str) -> str:
    return DOMAIN_OF_KIND.get(kind, DEFAULT_DOMAIN)


def status_class(status: int) -> str:
    """2xx, 3xx, 4xx, 5xx; 'none' when no HTTP status came back (connection error, timeout)."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "none"


def edges_us(limits_ms: Iterable[float]) -> tuple[int, ...]:
    """Bucket edges in whole microseconds: the spread plus every limit, sorted, without duplicates."""
    edges = {round(ms * 1000.0) for ms in (*SPREAD_MS, *limits_ms) if ms > 0}
    return tuple(sorted(edges))


def latency_limits_ms(thresholds: Iterable[tuple[str, float]]) -> list[float]:
    """The limits (ms) of the thresholds on a latency metric, from (metric, limit) pairs."""
    return [limit for metric, limit in thresholds if metric in LATENCY_METRICS]


def le_label(edge_us: int) -> str:
    """The `le` label of an edge, in seconds, as Prometheus writes floats (0.3, 1.0, ...)."""
    return repr(edge_us / 1_000_000.0)


def threshold_state(verdict: str, message: str) -> str:
    """pass / fail / inconclusive, or no_data when nothing matched the threshold yet."""
    if message.startswith("no data"):
        return "no_data"
    return verdict if verdict in THRESHOLD_STATES else "fail"
