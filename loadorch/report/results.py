"""results.json: the run's verdict, stats, thresholds, integrity and histograms (built purely from a record)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadorch.config.tags import tags_of
from loadorch.db.measure import database_section, query_stats
from loadorch.errors import ExitCode
from loadorch.report.evidence import evidence_json
from loadorch.report.summary import TOP_ENDPOINTS
from loadorch.results import SCHEMA
from loadorch.stats.groups import Rows, counts_of, group_by, pooled, status_counts_of
from loadorch.stats.tables import Merged, latency_stats
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.evaluate import EXIT_CODES, INTERRUPTED, Check, ThresholdResult
from loadorch.wire import StopReason


@dataclass
class RunRecord:
    """Everything a run produced, as data."""

    profile: str
    scenario_name: str
    scenario_path: str
    scenario_sha256: str
    seed: int
    workers: int
    users: int
    host: str
    start: str
    end: str
    versions: dict[str, str]
    verdict: str
    exit_code: int
    merged: Merged = field(default_factory=Merged)
    elapsed_s: float = 0.0
    stop_reason: StopReason | None = None
    thresholds: list[ThresholdResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    integrity: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None
    iterations: int | None = None
    duration_s: float | None = None
    database: dict[str, Any] | None = None  # the postgres collector's measurement (DbMeasurement.to_json)
    load: LoadRecord | None = None
    browser: dict[str, Any] | None = None  # browser users and Lighthouse results (loadorch.browser.results)
    # a browser gate's evidence (results.BrowserEvidence as JSON) by "selector expression", from the run
    browser_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    window: tuple[tuple[float, float], ...] = ()  # the measurement window's spans (s), if the profile has one
    window_source: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # --tag: the whole run's tags
    trace_url: str = ""  # the profile's trace.url: a link per trace id in the evidence ({trace_id} in it)


@dataclass
class LoadRecord:
    """The load the profile asked for and what the master saw: samples of
    (t_s, users, arrivals scheduled, dispatched, dropped), the counters cumulative over all workers."""

    model: str  # "closed" or "open"
    users: int
    spawn_rate: float = 0.0
    stages: tuple[tuple[float, float, float], ...] = ()  # (start, end, seconds): open model rates, closed users
    samples: list[list[float]] = field(default_factory=list)


Stage = tuple[float, float, float]


def planned_load(
    users: int,
    spawn_rate: float,
    open_stages: Sequence[Stage] | None,
    user_stages: Sequence[Stage] | None,
    samples: Sequence[Sequence[float]],
) -> LoadRecord:
    """The load a run planned (an open model's rate stages, a closed model's user stages, or its users at
    the spawn rate) with what it saw: the one place both the live page and report.html take their plan from
    (the live page drew a staged run as a jump to its final users at 1 s)."""
    stages = tuple(open_stages) if open_stages is not None else tuple(user_stages or ())
    model = "open" if open_stages is not None else "closed"
    return LoadRecord(
        model,
        users,
        spawn_rate,
        tuple((float(a), float(b), float(d)) for a, b, d in stages),
        [list(s) for s in samples],
    )


def build(record: RunRecord) -> dict[str, Any]:
    merged = record.merged
    seconds = record.elapsed_s
    total, failures = merged.counts()
    return {
        "schema": SCHEMA,
        "verdict": record.verdict,
        "exit_code": record.exit_code,
        "error": record.error,
        "run": {
            "profile": record.profile,
            "scenario": record.scenario_name,
            "scenario_path": record.scenario_path,
            "scenario_sha256": record.scenario_sha256,
            "seed": record.seed,
            "workers": record.workers,
            "users": record.users,
            "host": record.host,
            "start": record.start,
            "end": record.end,
            "duration_s": record.duration_s,
            "iterations": record.iterations,
            "elapsed_s": round(seconds, 3),
            "stop_reason": record.stop_reason,
            "interrupted": record.interrupted,
            "versions": record.versions,
            "tags": record.tags,
        },
        "totals": {"requests": total, "failures": failures, "rps": round(total / seconds, 3) if seconds > 0 else 0.0},
        "kinds": _per_kind(merged, seconds),
        "endpoints": _endpoints(merged, seconds),
        "thresholds": [_threshold_row(r, record) for r in record.thresholds],
        "checks": [c.to_json() for c in record.checks],
        "integrity": record.integrity,
        "service_time": _service_time(merged, seconds),
        "errors": _errors(merged),
        "expect_checks": expect_checks(merged),
        "database": database_section(merged, record.database),
        "timeseries": timeseries(merged),
        "load": load_timeline(record.load) if record.load else None,
        "endpoint_timeseries": endpoint_timeseries(merged),
        "histograms": _histograms(merged),
        **({"browser": record.browser} if record.browser is not None else {}),
        **({"window": window_block(record)} if record.window else {}),
        **({"warnings": [folded]} if (folded := merged.endpoints.warning()) else {}),
    }


def _threshold_row(result: ThresholdResult, record: RunRecord) -> dict[str, Any]:
    """A threshold's row, with its evidence block where it gets one (report/evidence.py)."""
    row: dict[str, Any] = dict(result.to_json())
    evidence = evidence_json(result, record)
    if evidence is not None:
        row["evidence"] = evidence
    return row


PHASE_NAMES = {"ramp_up": "before the window", "ramp_down": "after the window", "between": "between spans"}


def window_block(record: RunRecord) -> dict[str, Any]:
    """The measurement window: its spans, the judged samples' stats, and what was left out, by phase."""
    merged = record.merged
    judged = merged.windowed()
    seconds = window_seconds(record.window, record.elapsed_s)
    total, failures = judged.counts()
    excluded: dict[str, Any] = {}
    for (phase, kind, ok), h in sorted(merged.phases.items()):
        row = excluded.setdefault(phase, {"requests": 0, "failures": 0, "kinds": {}})
        row["requests"] += h.count
        row["failures"] += 0 if ok else h.count
        k = row["kinds"].setdefault(kind, {"requests": 0, "failures": 0, "p95_ms": None})
        k["requests"] += h.count
        if ok:
            k["p95_ms"] = round(h.percentile(95) / 1000.0, 3) if h.count else None
        else:
            k["failures"] += h.count
    return {
        "source": record.window_source,
        "spans": [[round(a, 3), round(b, 3)] for a, b in record.window],
        "seconds": round(seconds, 3),
        "requests": total,
        "failures": failures,
        "kinds": _per_kind(judged, seconds),
        "excluded": excluded,
    }


def _histograms(merged: Merged) -> dict[str, Any]:
    out: dict[str, Any] = dict(merged.to_json(sparklines=False))
    out.pop("endpoint_intervals", None)  # summarized in endpoint_timeseries (top endpoints only)
    out.pop("endpoint_step", None)
    out.pop("exemplars", None)  # shown in the thresholds' evidence
    out.pop("exemplar_k", None)
    return out


def load_timeline(load: LoadRecord) -> dict[str, Any]:
    """Planned versus achieved load over time: users (closed model) or arrivals per second (open model)."""
    if load.stages:
        target, t = [], 0.0
        for start, end, seconds in load.stages:
            target += [[round(t, 3), start], [round(t + seconds, 3), end]]
            t += seconds
    else:
        ramp = load.users / load.spawn_rate if load.spawn_rate > 0 else 0.0
        target = [[0.0, 0.0], [round(ramp, 3), load.users]]
    points, previous = [], [0.0, 0, 0, 0, 0]
    for sample in load.samples:
        t, users, scheduled, dispatched, dropped = sample
        dt = t - previous[0]
        point: dict[str, Any] = {"t_s": round(t, 3), "users": int(users)}
        if load.model == "open" and dt > 0:
            point["scheduled_per_s"] = round((scheduled - previous[2]) / dt, 3)
            point["arrivals_per_s"] = round((dispatched - previous[3]) / dt, 3)
            point["dropped_per_s"] = round((dropped - previous[4]) / dt, 3)
        points.append(point)
        previous = sample
    return {"model": load.model, "users": load.users, "target": target, "points": points}


def endpoint_timeseries(merged: Merged, top: int = TOP_ENDPOINTS) -> dict[str, Any]:
    """p95 (ms) per slot for the `top` busiest endpoints: bounded in endpoints and in slots."""
    counts: dict[str, int] = {}
    for key, h in merged.series.items():
        counts[key.name] = counts.get(key.name, 0) + h.count
    chosen = set(sorted(counts, key=lambda n: (-counts[n], n))[:top])
    step = merged.interval_s * merged.endpoint_step
    rows: dict[str, list[list[float]]] = {}
    picked = [(key, h) for key, h in merged.endpoint_intervals.items() if key[1] in chosen and h.count]
    for (slot, name), h in sorted(picked):  # sorted after picking: names x slots rows, the top few drawn
        rows.setdefault(name, []).append([round(slot * step, 3), round(h.percentile(95) / 1000.0, 3)])
    return {"interval_s": step, "endpoints": rows}


def expect_checks(merged: Merged) -> list[dict[str, Any]]:
    """The checks metric per expect condition: passes, fails, rate, and one failing response (redacted later)."""
    rows = []
    for (user, name, kind, method, check), (passes, fails) in merged.checks.items():
        total = passes + fails
        rows.append(
            {
                "user": user,
                "name": name,
                "check": check,
                "passes": passes,
                "fails": fails,
                "rate": round(passes / total, 6) if total else None,
                "example": merged.check_examples.get((user, name, kind, method, check)),
            }
        )
    return sorted(rows, key=lambda r: (-r["fails"], r["name"], r["check"]))


def _per_kind(merged: Merged, seconds: float) -> dict[str, Any]:
    return {kind: _stats(rows, seconds) for kind, rows in sorted(group_by(merged.series, "kind").items())}


def _endpoints(merged: Merged, seconds: float) -> dict[str, Any]:
    """A row per request name; each reads only its own series (grouped once: linear in the series)."""
    queries = group_by(merged.db, "name")
    out = {}
    for name, rows in sorted(group_by(merged.series, "name").items()):
        first = rows[0][0]  # the first series of that name, in the table's order: its kind, method and user
        tags = tags_of(merged.tag_table, first.user, name)
        db = pooled(queries.get(name, []), ok=None)
        out[name] = {
            "kind": first.kind,
            "method": first.method,
            **_stats(rows, seconds),
            "status_counts": {str(k): v for k, v in status_counts_of(rows).items()},
            **({"tags": dict(sorted(tags.items()))} if tags else {}),
            "db_queries_per_request": query_stats(db),
        }
    return out


def _stats(rows: Rows, seconds: float) -> dict[str, Any]:
    total, failures = counts_of(rows)
    return latency_stats(pooled(rows), total, failures, seconds)


def _service_time(merged: Merged, seconds: float) -> dict[str, Any] | None:
    """Open model: latency from the actual send, beside the headline latency from the due time."""
    if not merged.service:
        return None

    def stats(tag: str) -> dict[str, Any]:
        service = group_by(merged.service, tag)
        return {
            value: latency_stats(pooled(service.get(value, [])), *counts_of(rows), seconds)
            for value, rows in sorted(group_by(merged.series, tag).items())
        }

    return {"kinds": stats("kind"), "endpoints": stats("name")}


def _errors(merged: Merged) -> list[dict[str, Any]]:
    rows = [
        {
            "name": key.name,
            "kind": key.kind,
            "status": key.status,
            "reason": reason,
            "count": n,
            "example": merged.examples.get((key, reason)),
        }
        for (key, reason), n in merged.errors.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["name"], r["reason"]))


def timeseries(merged: Merged) -> list[dict[str, Any]]:
    """Per slot and kind: requests, failures and p50/p95/p99 of successful requests (ms); a slot is
    `histograms.interval_s * histograms.interval_step` seconds long (see loadorch.results.slot_seconds)."""
    table: dict[tuple[int, str], dict[str, Any]] = {}
    step = merged.slot_s  # long runs: coarser slots (Merged.add_interval), exact counts
    for (i, kind, ok), h in merged.intervals.items():
        row = table.setdefault(
            (i, kind),
            {
                "t_s": round(i * step, 3),
                "kind": kind,
                "requests": 0,
                "failures": 0,
                "p50_ms": None,
                "p95_ms": None,
                "p99_ms": None,
            },
        )
        row["requests"] += h.count
        if not ok:
            row["failures"] += h.count
        else:
            for pct, name in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
                value = h.percentile(pct)
                row[name] = None if math.isnan(value) else round(value / 1000.0, 3)
    return [table[k] for k in sorted(table)]


def exit_code_for(verdict: str, signal_code: int | None = None) -> int:
    if verdict == INTERRUPTED:
        return signal_code or ExitCode.SIGINT
    return int(EXIT_CODES[verdict])
