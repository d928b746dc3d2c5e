"""Thresholds on database metrics: db_queries, db_query_slow and db_queries_per_request (pure).

A metric the collector could not measure is inconclusive with the collector's reason and fix, never
a pass; per-request counts come from the response header under load, else from the probe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from loadorch.config.thresholds import Threshold
from loadorch.db.measure import DbMeasurement, ProbeRow
from loadorch.stats.tables import Merged
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, ResultOf, ThresholdResult, aggregate, decide

if TYPE_CHECKING:
    from loadorch.results import DbCollector

MESSAGE_LOOPS = 3  # N+1 loops named in a gate's message (its evidence has them all: at most 10 per request)
NO_COLLECTOR = "no postgres collector ran in this process (the run's controller measures the database)"


def db_judge(
    merged: Merged, min_samples: int, duration_s: float, db: DbMeasurement | None = None
) -> Callable[[Threshold], ThresholdResult | None]:
    """The database gates as an evaluator for verdict.evaluate.evaluate: it owns the db_ metrics."""

    def judge(t: Threshold) -> ThresholdResult | None:
        return evaluate_db(t, merged, min_samples, duration_s, db) if t.selector.metric.startswith("db_") else None

    return judge


def evaluate_db(
    t: Threshold, merged: Merged, min_samples: int, duration_s: float, db: DbMeasurement | None
) -> ThresholdResult:
    expr = t.expression
    result = ResultOf(t, "")

    metric = t.selector.metric
    if metric == "db_queries_per_request":
        return _per_request(t, merged, min_samples, db, result)
    reason = NO_COLLECTOR if db is None else db.unmeasured
    if metric == "db_query_slow" and reason is None and db is not None:
        reason = db.slow_unmeasured
    if reason is not None or db is None or db.queries is None:
        return result(None, 0, 0.0, INCONCLUSIVE, f"inconclusive: {metric} could not be measured: {reason}")
    if db.queries == 0:  # else `count<N` and `rate<N` passed on 0 samples: the collector saw none of the load
        return result(None, 0, 0.0, FAIL, "no data: no statement finished in the database during the load window")
    if metric == "db_queries":
        if expr.aggregation == "count":
            return decide(result, float(db.queries), db.queries, 0.0, expr, "", None, "")
        rate = db.queries / db.window_s if db.window_s > 0 else 0.0
        return decide(result, rate, db.queries, 0.0, expr, f" ({db.queries} statements)", None, "/s")
    slow = db.slow or 0
    detail = f" ({slow} of {db.queries} statements took longer than {db.slow_ms:g} ms; exact)"
    return decide(result, slow / db.queries, db.queries, 0.0, expr, detail, min_samples, "")


def _per_request(
    t: Threshold, merged: Merged, min_samples: int, db: DbMeasurement | None, result: ResultOf
) -> ThresholdResult:
    expr = t.expression
    tags = t.selector.tags
    h = merged.select_db(tags)
    probed = probed_rows(db, tags)
    findings = _n_plus_one(probed)
    if h.count:
        observed, low, high = aggregate(h, expr.aggregation, expr.percentile)
        extra = " (from the response header)" + findings
        return decide(result, observed, h.count, 0.0, expr, extra, min_samples, "", (low, high))
    if probed:
        values = sorted(float(p.queries or 0) for p in probed)
        observed = _exact(values, expr.aggregation, expr.percentile)
        extra = f" (from the probe: each request definition sent once, alone, {len(values)} probed)" + findings
        return decide(result, observed, len(values), 0.0, expr, extra, None, "")
    if db is not None and db.probe_note:
        return result(None, 0, 0.0, INCONCLUSIVE, f"inconclusive: no response header and no probe: {db.probe_note}")
    return result(
        None,
        0,
        0.0,
        FAIL,
        f"no data: no response matching {t.selector} carried a query count (Server-Timing: db;count=N or the "
        "configured header), and no postgres collector probed it",
    )


def probed_rows(db: DbMeasurement | None, tags: tuple[tuple[str, str], ...]) -> list[ProbeRow]:
    """The probe's measured rows that match a selector's tags."""
    return [p for p in (db.probe if db else []) if p.queries is not None and _matches(p, tags)]


def _matches(p: ProbeRow, tags: tuple[tuple[str, str], ...]) -> bool:
    return all((p.method == v.upper()) if k == "method" else p.tag(k) == v for k, v in tags)


def _n_plus_one(rows: list[ProbeRow]) -> str:
    parts = list(dict.fromkeys(f"{p.name}: {r}{_source(r.source)}" for p in rows for r in p.repeated))  # once each
    more = f"; and {len(parts) - MESSAGE_LOOPS} more in the evidence" if len(parts) > MESSAGE_LOOPS else ""
    shown = "; ".join(parts[:MESSAGE_LOOPS]) + more
    return ("; N+1 (one request ran a statement more than once): " + shown) if parts else ""


def _source(source: str) -> str:
    return f" (once per row of {source})" if source else ""


def _exact(values: list[float], aggregation: str, pct: float | None) -> float:
    if aggregation == "avg":
        return sum(values) / len(values)
    if aggregation == "min":
        return values[0]
    if aggregation == "max":
        return values[-1]
    q = 50.0 if aggregation == "med" else float(pct or 0.0)
    rank = max(1, -(-int(q * len(values)) // 100)) if q > 0 else 1
    return values[min(rank, len(values)) - 1]


def measurement_from(doc: DbCollector | None) -> DbMeasurement | None:
    return DbMeasurement.from_collector(doc) if doc else None
