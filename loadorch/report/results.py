"""results.json: the run's verdict, stats, thresholds, integrity and histograms (built purely from a record)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast

from loadorch.config.tags import tags_of
from loadorch.errors import ExitCode
from loadorch.report.evidence import evidence_of
from loadorch.report.record import LoadRecord, RunRecord
from loadorch.report.summary import TOP_ENDPOINTS
from loadorch.results import (
    SCHEMA,
    CheckRow,
    Database,
    DbCollector,
    EndpointStats,
    EndpointTimeseries,
    ErrorRow,
    ExcludedKind,
    ExcludedPhase,
    ExpectCheck,
    LatencyStats,
    LoadPoint,
    LoadTimeline,
    PerRequest,
    Results,
    Run,
    ServiceTime,
    ThresholdRow,
    TimeRow,
    Totals,
    Verdict,
    Window,
)
from loadorch.stats.groups import Rows, counts_of, group_by, pooled, status_counts_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, latency_stats
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.evaluate import EXIT_CODES, INTERRUPTED, ThresholdResult
from loadorch.wire import MergedJson

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
    model: Literal["closed", "open"] = "open" if open_stages is not None else "closed"
    return LoadRecord(model, users, spawn_rate, tuple((float(a), float(b), float(d)) for a, b, d in stages),
                      [list(s) for s in samples])


def build(record: RunRecord) -> Results:
    """results.json as the model, section by section (the controller redacts it and writes it once)."""
    merged = record.merged
    seconds = record.elapsed_s - merged.judged_from_s  # a monitor's tables: its window's (stats/generations.py)
    total, failures = merged.counts()
    folded = merged.endpoints.warning()
    return Results(
        schema=SCHEMA,
        verdict=cast(Verdict, record.verdict),
        exit_code=record.exit_code,
        error=record.error,
        run=_run(record),
        totals=Totals(requests=total, failures=failures, rps=round(total / seconds, 3) if seconds > 0 else 0.0),
        kinds=_per_kind(merged, seconds),
        endpoints=_endpoints(merged, seconds),
        thresholds=[_threshold_row(r, record) for r in record.thresholds],
        checks=[CheckRow(name=c.name, verdict=c.verdict, message=c.message) for c in record.checks],
        integrity=record.integrity,
        service_time=_service_time(merged, seconds),
        errors=_errors(merged),
        expect_checks=expect_checks(merged),
        database=_database(merged, record.database),
        timeseries=timeseries(merged),
        load=load_timeline(record.load) if record.load else None,
        endpoint_timeseries=endpoint_timeseries(merged),
        histograms=_histograms(merged),
        browser=record.browser,
        window=window_block(record) if record.window else None,
        live_metrics=record.live_metrics or None,
        warnings=([folded] if folded else []) + record.warnings,  # the run's own, then the metrics push's
        **({"profiles": list(record.profiles)} if record.profiles else {}),
    )


def _run(record: RunRecord) -> Run:
    return Run(
        profile=record.profile,
        scenario=record.scenario_name,
        scenario_path=record.scenario_path,
        scenario_sha256=record.scenario_sha256,
        seed=record.seed,
        workers=record.workers,
        users=record.users,
        host=record.host,
        start=record.start,
        end=record.end,
        duration_s=record.duration_s,
        iterations=record.iterations,
        elapsed_s=round(record.elapsed_s, 3),
        stop_reason=record.stop_reason,
        interrupted=record.interrupted,
        versions=record.versions,
        tags=record.tags,
    )


def _threshold_row(result: ThresholdResult, record: RunRecord) -> ThresholdRow:
    """A threshold's row, with its evidence block where it gets one (report/evidence.py)."""
    evidence = evidence_of(result, record)
    if evidence is None:
        return ThresholdRow.model_validate(result.to_json())
    return ThresholdRow.model_validate({**result.to_json(), "evidence": evidence})  # the Evidence kept as built


PHASE_NAMES = {"ramp_up": "before the window", "ramp_down": "after the window", "between": "between spans"}


def window_block(record: RunRecord) -> Window:
    """The measurement window: its spans, the judged samples' stats, and what was left out, by phase."""
    merged = record.merged
    judged = merged.windowed()
    seconds = window_seconds(record.window, record.elapsed_s)
    total, failures = judged.counts()
    counts: dict[str, dict[str, list[int]]] = {}  # phase -> kind -> [requests, failures]
    p95: dict[tuple[str, str], float | None] = {}
    for (phase, kind, ok), h in sorted(merged.phases.items()):
        row = counts.setdefault(phase, {}).setdefault(kind, [0, 0])
        row[0] += h.count
        if ok:
            p95[phase, kind] = round(h.percentile(95) / 1000.0, 3) if h.count else None
        else:
            row[1] += h.count
    excluded = {
        phase: ExcludedPhase(
            requests=sum(r for r, _ in kinds.values()),
            failures=sum(f for _, f in kinds.values()),
            kinds={k: ExcludedKind(requests=r, failures=f, p95_ms=p95.get((phase, k))) for k, (r, f) in kinds.items()},
        )
        for phase, kinds in counts.items()
    }
    return Window(
        source=record.window_source,
        spans=[(round(a, 3), round(b, 3)) for a, b in record.window],
        seconds=round(seconds, 3),
        requests=total,
        failures=failures,
        kinds=_per_kind(judged, seconds),
        excluded=excluded,
    )


def _histograms(merged: Merged) -> MergedJson:
    out = merged.to_json(sparklines=False)
    out.pop("endpoint_intervals", None)  # summarized in endpoint_timeseries (top endpoints only)
    out.pop("endpoint_step", None)
    out.pop("exemplars", None)  # shown in the thresholds' evidence
    out.pop("exemplar_k", None)
    out.pop("splits", None)  # read in the thresholds' evidence (time_split)
    return out


def load_timeline(load: LoadRecord) -> LoadTimeline:
    """Planned versus achieved load over time: users (closed model) or arrivals per second (open model)."""
    target: list[tuple[float, float]] = []
    if load.stages:
        t = 0.0
        for start, end, seconds in load.stages:
            target += [(round(t, 3), start), (round(t + seconds, 3), end)]
            t += seconds
    else:
        ramp = load.users / load.spawn_rate if load.spawn_rate > 0 else 0.0
        target = [(0.0, 0.0), (round(ramp, 3), load.users)]
    points, previous = [], [0.0, 0.0, 0.0, 0.0, 0.0]
    for sample in load.samples:
        t, users, scheduled, dispatched, dropped = sample
        dt = t - previous[0]
        if load.model == "open" and dt > 0:
            points.append(
                LoadPoint(
                    t_s=round(t, 3),
                    users=int(users),
                    scheduled_per_s=round((scheduled - previous[2]) / dt, 3),
                    arrivals_per_s=round((dispatched - previous[3]) / dt, 3),
                    dropped_per_s=round((dropped - previous[4]) / dt, 3),
                )
            )
        else:
            points.append(LoadPoint(t_s=round(t, 3), users=int(users)))
        previous = sample
    return LoadTimeline(model=load.model, users=load.users, target=target, points=points)


def endpoint_timeseries(merged: Merged, top: int = TOP_ENDPOINTS) -> EndpointTimeseries:
    """p95 (ms) per slot for the `top` busiest endpoints: bounded in endpoints and in slots."""
    counts: dict[str, int] = {}
    for key, h in merged.series.items():
        counts[key.name] = counts.get(key.name, 0) + h.count
    chosen = set(sorted(counts, key=lambda n: (-counts[n], n))[:top])
    step = merged.interval_s * merged.endpoint_step
    rows: dict[str, list[tuple[float, float]]] = {}
    picked = [(key, h) for key, h in merged.endpoint_intervals.items() if key[1] in chosen and h.count]
    for (slot, name), h in sorted(picked):  # sorted after picking: names x slots rows, the top few drawn
        rows.setdefault(name, []).append((round(slot * step, 3), round(h.percentile(95) / 1000.0, 3)))
    return EndpointTimeseries(interval_s=step, endpoints=rows)


def expect_checks(merged: Merged) -> list[ExpectCheck]:
    """The checks metric per expect condition: passes, fails, rate, and one failing response (redacted later)."""
    rows = []
    for (user, name, kind, method, check), (passes, fails) in merged.checks.items():
        total = passes + fails
        rows.append(
            ExpectCheck(
                user=user,
                name=name,
                check=check,
                passes=passes,
                fails=fails,
                rate=round(passes / total, 6) if total else None,
                example=merged.check_examples.get((user, name, kind, method, check)),
            )
        )
    return sorted(rows, key=lambda r: (-r.fails, r.name, r.check))


def _per_kind(merged: Merged, seconds: float) -> dict[str, LatencyStats]:
    return {kind: _stats(rows, seconds) for kind, rows in sorted(group_by(merged.series, "kind").items())}


def _endpoints(merged: Merged, seconds: float) -> dict[str, EndpointStats]:
    """A row per request name; each reads only its own series (grouped once: linear in the series)."""
    queries = group_by(merged.db, "name")
    out = {}
    for name, rows in sorted(group_by(merged.series, "name").items()):
        first = rows[0][0]  # the first series of that name, in the table's order: its kind, method and user
        tags = tags_of(merged.tag_table, first.user, name)
        out[name] = EndpointStats(
            kind=first.kind,
            method=first.method,
            status_counts={str(k): v for k, v in status_counts_of(rows).items()},
            tags=dict(sorted(tags.items())),
            db_queries_per_request=per_request(pooled(queries.get(name, []), ok=None)),
            **_stats(rows, seconds).model_dump(),
        )
    return out


def _stats(rows: Rows, seconds: float) -> LatencyStats:
    total, failures = counts_of(rows)
    return latency_stats(pooled(rows), total, failures, seconds)


def per_request(h: Histogram) -> PerRequest | None:
    """Queries per request from a pooled histogram of counts (exact), or None without samples."""
    if not h.count:
        return None
    return PerRequest(samples=h.count, avg=round(h.mean, 3), min=h.min, p50=h.percentile(50),
                      p95=h.percentile(95), max=h.max)  # fmt: skip


def _database(merged: Merged, collector: DbCollector | None) -> Database | None:
    """Per-endpoint queries per request (header) and the collector's numbers."""
    by_name: dict[str, Histogram] = {}
    for key, h in merged.db.items():  # one pass (a select per name read every series once per name)
        by_name.setdefault(key.name, Histogram()).merge(h)
    if not by_name and collector is None:
        return None
    return Database(queries_per_request={n: per_request(by_name[n]) for n in sorted(by_name)}, collector=collector)


def _service_time(merged: Merged, seconds: float) -> ServiceTime | None:
    """Open model: latency from the actual send, beside the headline latency from the due time."""
    if not merged.service:
        return None

    def stats(tag: str) -> dict[str, LatencyStats]:
        service = group_by(merged.service, tag)
        return {
            value: latency_stats(pooled(service.get(value, [])), *counts_of(rows), seconds)
            for value, rows in sorted(group_by(merged.series, tag).items())
        }

    return ServiceTime(kinds=stats("kind"), endpoints=stats("name"))


def _errors(merged: Merged) -> list[ErrorRow]:
    rows = [
        ErrorRow(
            name=key.name, kind=key.kind, status=key.status, reason=reason, count=n,
            example=merged.examples.get((key, reason)),
        )
        for (key, reason), n in merged.errors.items()
    ]
    return sorted(rows, key=lambda r: (-r.count, r.name, r.reason))


def timeseries(merged: Merged) -> list[TimeRow]:
    """Per slot and kind: requests, failures and p50/p95/p99 of successful requests (ms); a slot is
    `histograms.interval_s * histograms.interval_step` seconds long (see loadorch.results.slot_seconds)."""
    counts: dict[tuple[int, str], list[int]] = {}  # requests, failures
    latency: dict[tuple[int, str], list[float | None]] = {}
    for (i, kind, ok), h in merged.intervals.items():
        row = counts.setdefault((i, kind), [0, 0])
        row[0] += h.count
        if not ok:
            row[1] += h.count
        else:
            latency[i, kind] = [None if math.isnan(v) else round(v / 1000.0, 3) for v in h.percentiles((50, 95, 99))]
    step = merged.slot_s  # long runs: coarser slots (Merged.add_interval), exact counts
    rows = []
    for (i, kind), (requests, failures) in sorted(counts.items()):
        p50, p95, p99 = latency.get((i, kind), (None, None, None))
        rows.append(TimeRow(t_s=round(i * step, 3), kind=kind, requests=requests, failures=failures,
                            p50_ms=p50, p95_ms=p95, p99_ms=p99))  # fmt: skip
    return rows


def exit_code_for(verdict: str, signal_code: int | None = None) -> int:
    if verdict == INTERRUPTED:
        return signal_code or ExitCode.SIGINT
    return int(EXIT_CODES[verdict])
