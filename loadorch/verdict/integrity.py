"""Run-integrity checks from the master's summary: workers, totals, load, CPU, arrivals, kinds (pure)."""

from __future__ import annotations

from loadorch.config.resolve import RunConfig
from loadorch.results import ArrivalTotals, Integrity, LostWorker
from loadorch.stats.tables import Merged
from loadorch.traffic.arrivals import expected_arrivals, total_seconds
from loadorch.verdict.evaluate import ERROR, FAIL, INCONCLUSIVE, PASS, Check
from loadorch.wire import (
    CPU_SATURATED,
    ITERATIONS_CAP_S,
    LOOP_LATE_LIMIT_S,
    LOST_AFTER_S,
    STOPPED_EARLY,
    STOPPED_ON_PURPOSE,
    STUCK_AFTER_S,
    MasterSummary,
    VuFailure,
    WorkerDetail,
    WorkersSummary,
    stuck_words,
)

CLOCK_SKEW_S = 1.0  # a worker clock further than this from the master's is reported
STARVED_WAIT = 20.0  # % of the time a worker's main thread waited for a CPU: other work took its cores
Detail = list[WorkerDetail]


NO_LOAD = "no load was started"  # integrity_checks' `missing` of a run that ended before its load's processes


def integrity_checks(cfg: RunConfig, summary: MasterSummary | None, missing: str = "") -> tuple[list[Check], Integrity]:
    """The checks a run's summary supports, and the `integrity` block of results.json. No summary (the master wrote
    none, or one that cannot be read: `missing` says which) is an error: with no thresholds judged and no check, the
    run would pass on nothing."""
    workers = summary.workers if summary else WorkersSummary(expected=cfg.workers, seen=[], detail=[])
    detail = workers.detail
    lost = [w for w in detail if w.lost_at_s is not None]
    expected, seen = workers.expected, len(workers.seen)
    failures = [f for w in detail for f in w.vu_failures]
    checks: list[Check] = []
    if summary is None and missing == NO_LOAD:  # stopped (a signal, a refusal) before its processes were started
        checks.append(Check("master summary", ERROR, "none: the run ended before its load was started, so nothing "
                            "was measured and no threshold was judged"))
    elif summary is None:
        checks.append(Check("master summary", ERROR, f"none from the master ({missing or 'not written'}): what the "
                            "workers measured is lost, and no threshold was judged; see logs/master.log in the run "
                            "folder"))
    elif expected == 0 and not cfg.scenario.model.users:
        checks.append(Check("http users", PASS, "none: a browser-only scenario (the browser checks judge its pages)"))
    else:
        checks.append(_workers_check(detail, lost, expected, seen))
        checks += _totals_check(detail)
        checks.append(_users_check(failures))
        checks.append(_load_check(cfg, summary, detail))
        checks.append(_cpu_check(cfg, detail))
        clocks = _clock_check(cfg, detail)
        if clocks is not None:
            checks.append(clocks)
        if cfg.open_model is not None:
            checks += _arrival_checks(cfg, summary, detail)
    return checks, Integrity(
        workers_expected=expected,
        workers_seen=seen,
        workers_lost=[LostWorker(index=w.index, pid=w.pid, at_s=w.lost_at_s) for w in lost],
        generator_cpu_peak={str(w.index): w.cpu_peak for w in detail},
        generator_cpu_sustained_peak={str(w.index): w.cpu_sustained_peak for w in detail},
        dropped_arrivals=sum(w.arrivals.dropped for w in detail),
        arrivals=_arrival_totals(detail) if cfg.open_model is not None else None,
        virtual_users_failed=failures,
        per_worker=detail,
        rejected_peers=summary.rejected_peers if summary else [],
        stop_reason=summary.stop_reason if summary else None,
        aborted_by=summary.aborted_by if summary else None,
    )


def _workers_check(detail: Detail, lost: Detail, expected: int, seen: int) -> Check:
    """Lost (nothing from its process for LOST_AFTER_S, or its process gone) is an error, also when it came
    back; a shorter silence of the whole process (stopped, frozen) is inconclusive: its load was missing
    meanwhile. A worker that was only slow (its liveness came, its reports late) is judged by `_cpu_check`."""
    back = [w for w in detail if w.lost_at_s is None and w.silent_s >= LOST_AFTER_S]
    paused = [w for w in detail if w.lost_at_s is None and 0 < w.silent_s < LOST_AFTER_S]
    if lost or seen < expected:
        names = ", ".join(f"worker {w.index} (pid {w.pid}) at {w.lost_at_s}s" for w in lost)
        msg = f"{len(lost)} of {expected} workers lost: {names}" if lost else f"only {seen} of {expected} workers seen"
        return Check("workers", ERROR, msg + "; data they reported before is kept")
    if back:
        names = ", ".join(f"worker {w.index} ({w.silent_s}s)" for w in back)
        return Check(
            "workers",
            ERROR,
            f"workers lost for a while (nothing from their process for {LOST_AFTER_S:g}s "
            f"or more), then back: {names}; their load was missing meanwhile, their late data is counted once",
        )
    if paused:
        names = ", ".join(f"worker {w.index} ({w.silent_s}s)" for w in paused)
        return Check(
            "workers",
            INCONCLUSIVE,
            f"workers whose process did not answer for a while (stopped or frozen, "
            f"under the {LOST_AFTER_S:g}s bound for lost): {names}; their load was missing meanwhile",
        )
    return Check("workers", PASS, f"{seen} of {expected} workers ran to the end")


def _totals_check(detail: Detail) -> list[Check]:
    bad = [w for w in detail if w.final_total is not None and w.final_total != w.reported]
    finished = [w for w in detail if w.final_total is not None]
    # neither lost nor finished: the master's wait for the finals ended (runtime/master.py) before this worker's
    # came, so what it measured after its last merged report is missing, and nothing says how much
    unfinished = [w for w in detail if w.final_total is None and w.lost_at_s is None]
    if bad:
        names = ", ".join(f"worker {w.index}: recorded {w.final_total}, merged {w.reported}" for w in bad)
        return [Check("worker totals", ERROR, f"per-worker totals do not add up: {names}")]
    if unfinished:
        names = ", ".join(f"worker {w.index} ({w.reported} requests merged)" for w in unfinished)
        stuck = [w for w in unfinished if (w.loop_late_max_s or 0.0) >= STUCK_AFTER_S]
        why = "".join(f"; worker {w.index}: {stuck_words(w.loop_late_max_s or 0.0)}" for w in stuck)
        return [
            Check(
                "worker totals",
                INCONCLUSIVE,
                f"no final report came from {names} before the master stopped waiting: what they measured "
                f"after their last merged report is missing{why}",
            )
        ]
    if finished:
        total = sum(w.final_total or 0 for w in finished)
        return [Check("worker totals", PASS, f"{len(finished)} workers' final totals add up to {total}")]
    return []


def _users_check(failures: list[VuFailure]) -> Check:
    """A virtual user that died took its share of the load with it: the run is an error, never a pass."""
    if not failures:
        return Check("virtual users", PASS, "no virtual user failed")
    shown = "; ".join(f"user {f.slot} ({f.user_class}) on worker {f.worker}: {f.error}" for f in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    return Check(
        "virtual users",
        ERROR,
        f"{len(failures)} virtual user{'s' if len(failures) != 1 else ''} stopped on an error: {shown}{more}; "
        "see logs/ in the run folder",
    )


def _load_check(cfg: RunConfig, summary: MasterSummary, detail: Detail) -> Check:
    started = sum(w.users_peak for w in detail)
    if cfg.iterations and cfg.duration_s is None and summary.stop_reason == "duration":
        return Check(
            "load",
            INCONCLUSIVE,
            f"the run of {cfg.iterations} iterations per user reached its bound of {ITERATIONS_CAP_S:g}s (no "
            "load.duration) before every user had made them: a user that does not finish (a python user whose task "
            "waits without end) or a run longer than the bound; set load.duration (or --duration) to allow longer",
        )
    if summary.stop_reason in STOPPED_ON_PURPOSE or started >= cfg.users:
        return Check("load", PASS, f"{started} of {cfg.users} users started{_ramp_note(detail)}")
    return Check(
        "load",
        INCONCLUSIVE,
        f"only {started} of {cfg.users} users started; lower spawn_rate's ramp time or lengthen the run",
    )


def _ramp_note(detail: Detail) -> str:
    """How the ramp kept its schedule, from the slowest worker (closed model: user k due k / rate)."""
    ramps = [w.ramp for w in detail if w.ramp is not None and w.ramp.users > 1]
    if not ramps:
        return ""
    slow = max(ramps, key=lambda r: r.took_s - r.planned_s)
    return (
        f"; ramp: the last user started {slow.took_s:.2f} s after the first (due at {slow.planned_s:.2f} s,"
        f" at most {1000 * max(r.late_max_s for r in ramps):.0f} ms late)"
    )


def _clock_check(cfg: RunConfig, detail: Detail) -> Check | None:
    """Workers on other machines (Kubernetes nodes) place their requests in time by their own clocks: one
    that is off moves its requests in the time series and, with a measurement window, changes which
    requests the thresholds judge. Reported only when a clock is off by more than CLOCK_SKEW_S."""
    off = [w for w in detail if w.clock_offset_s is not None and abs(w.clock_offset_s) > CLOCK_SKEW_S]
    if not off:
        return None
    names = ", ".join(
        f"worker {w.index}'s clock is {abs(w.clock_offset_s or 0.0):.1f} s "
        f"{'ahead of' if (w.clock_offset_s or 0.0) > 0 else 'behind'} the master's"
        for w in off
    )
    fix = "synchronise the clocks of the machines that run workers (NTP, chrony)"
    if cfg.window is not None:
        return Check(
            "worker clocks",
            INCONCLUSIVE,
            f"{names}: that worker decided by its own clock which requests fell in the measurement window; {fix}",
        )
    return Check(
        "worker clocks",
        PASS,
        f"{names}: its requests are that far off in the time series (the "
        f"thresholds judge the whole run and do not depend on it); {fix}",
    )


def _cpu_check(cfg: RunConfig, detail: Detail) -> Check:
    """Saturated (its own CPU over CPU_SATURATED) or starved (its event loop fell more than LOOP_LATE_LIMIT_S
    behind, measured by its liveness thread, with the share of time it waited for a CPU and the machine's
    steal): either way its timings include its own delay, so the run is inconclusive unless allowed."""
    hot = [w for w in detail if w.cpu_sustained_peak > CPU_SATURATED]
    late = [w for w in detail if w not in hot and (w.loop_late_max_s or 0.0) > LOOP_LATE_LIMIT_S]
    if not hot and not late:
        peak = max((w.cpu_sustained_peak for w in detail), default=0.0)
        worst = max((w.loop_late_max_s or 0.0 for w in detail), default=0.0)
        return Check(
            "generator cpu",
            PASS,
            f"sustained peak {peak:.0f}% (limit {CPU_SATURATED:.0f}%); event loop "
            f"at most {worst:.2f}s behind (limit {LOOP_LATE_LIMIT_S:g}s)",
        )
    parts = []
    if hot:
        parts.append(
            "generator saturated: "
            + ", ".join(f"worker {w.index} at {w.cpu_sustained_peak:.0f}%{_behind(w)}" for w in hot)
            + "; add workers"
        )
    if late:
        parts.append("generator " + ", ".join(_starved(w) for w in late))
    verdict = PASS if cfg.profile.allow_saturated_generator else INCONCLUSIVE
    msg = "; ".join(parts) + "; latencies may include generator delay (or set allow_saturated_generator)"
    return Check("generator cpu", verdict, msg)


def _behind(w: WorkerDetail) -> str:
    return "" if w.loop_late_max_s is None else f", its event loop up to {w.loop_late_max_s:.1f}s behind"


def _starved(w: WorkerDetail) -> str:
    """A worker whose event loop fell behind without using a whole core: starved by other work on the machine
    (it waited for a CPU, or the hypervisor stole it) or stalled (a blocking call, a pause)."""
    wait, steal = w.cpu_wait_peak, w.steal_peak
    measured = (
        f"CPU {w.cpu_sustained_peak:.0f}%"
        + ("" if wait is None else f", waiting for a CPU {wait:.0f}% of the time")
        + ("" if steal is None else f", steal {steal:.0f}%")
    )
    if (wait or 0.0) >= STARVED_WAIT or (steal or 0.0) >= STARVED_WAIT:
        return (
            f"starved: worker {w.index}'s event loop fell up to {w.loop_late_max_s:.1f}s behind ({measured}): "
            "other work on the machine took its cores; run on a quieter machine or give the generator its own "
            "cores"
        )
    return (
        f"stalled: worker {w.index}'s event loop fell up to {w.loop_late_max_s:.1f}s behind ({measured}): "
        "something blocked it (a blocking call in a python user, a paused process)"
    )


def _arrival_totals(detail: Detail) -> ArrivalTotals:
    return ArrivalTotals(
        scheduled=sum(w.arrivals.scheduled for w in detail),
        dispatched=sum(w.arrivals.dispatched for w in detail),
        dropped=sum(w.arrivals.dropped for w in detail),
    )


def _arrival_checks(cfg: RunConfig, summary: MasterSummary, detail: Detail) -> list[Check]:
    """Open model: the rate achieved against the schedule, and arrivals dropped for want of a free user."""
    model = cfg.open_model
    assert model is not None
    totals = _arrival_totals(detail)
    elapsed = summary.elapsed_s
    expected = expected_arrivals(model.stages, min(elapsed, total_seconds(model.stages)))
    requested, achieved = (expected / elapsed, totals.dispatched / elapsed) if elapsed else (0.0, 0.0)
    rate_msg = f"achieved {achieved:.1f} of {requested:.1f} arrivals/s ({totals.dispatched} started)"
    stopped_early = summary.stop_reason in STOPPED_EARLY
    ok = stopped_early or totals.dispatched >= 0.98 * expected
    checks = [
        Check(
            "arrival rate",
            PASS if ok else INCONCLUSIVE,
            rate_msg + ("" if ok else "; the generator fell behind its schedule: add workers or lower the rate"),
        )
    ]
    dropped, scheduled = totals.dropped, totals.scheduled
    share = dropped / scheduled if scheduled else 0.0
    msg = f"{dropped} of {scheduled} arrivals dropped ({share:.1%}; allowed {model.max_dropped:.1%})"
    if share > model.max_dropped:
        verdict = FAIL if model.on_dropped == "fail" else INCONCLUSIVE
        checks.append(Check("dropped arrivals", verdict, msg + ": no free virtual user; raise max_users"))
    else:
        checks.append(Check("dropped arrivals", PASS, msg))
    return checks


def requests_check(cfg: RunConfig, merged: Merged, unanswered: int = 0) -> list[Check]:
    """HTTP users that made no request measured nothing: a threshold on them says "no data", but a profile may
    remove every threshold, and then the run passed on nothing (0 requests, exit 0). Requests that were sent and
    still waited for the target at the end (`unanswered`) are the unanswered check's (verdict.unanswered)."""
    if not cfg.scenario.model.users or merged.counts()[0] or unanswered:
        return []
    return [
        Check(
            "requests",
            INCONCLUSIVE,
            "the HTTP users made no request, so nothing was measured: check that their tasks send requests "
            "(a python user through self.client) and that the run lasts longer than their think time",
        )
    ]


MAX_NAMES_LISTED = 10  # request names without a kind named in the check's message


def kinds_checks(cfg: RunConfig, merged: Merged) -> list[Check]:
    """Python users' requests whose kind nobody gave are reported, never guessed."""
    if not any(u.python for u in cfg.scenario.model.users):
        return []
    names: dict[str, int] = {}
    for key, h in merged.series.items():
        if key.kind == "unclassified" and key.method != "TASK":
            names[key.name] = names.get(key.name, 0) + h.count
    if not names:
        return [Check("request kinds", PASS, "every request of the python users has a kind")]
    listed = ", ".join(f"{n!r} ({c})" for n, c in sorted(names.items())[:MAX_NAMES_LISTED])
    if len(names) > MAX_NAMES_LISTED:  # a name per id would make a message per request
        listed += f" and {len(names) - MAX_NAMES_LISTED:,} more names"
    return [
        Check(
            "request kinds",
            INCONCLUSIVE,
            f"requests without a kind: {listed}; add them to the scenario's "
            "kinds: map, or pass context={'kind': 'read'} with the request",
        )
    ]
