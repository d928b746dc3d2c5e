"""A synthetic results.json (deterministic): many endpoints, a known latency spike, thresholds, a load ramp."""

from __future__ import annotations

import random
from typing import Any

from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.report.results import LoadRecord, RunRecord, build
from loadorch.results import Browser, Integrity, ProfileSection, Results, SlowPlan, results_of
from loadorch.stats.exemplars import row as exemplar
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import evaluate, overall

THRESHOLDS = (
    ("http_req_duration{kind:read}", "p(95)<300"),
    ("http_req_duration{kind:write}", "p(95)<700"),
    ("http_req_duration{name:ep-000}", "p(99)<400"),
    ("http_req_failed", "rate<0.01"),
)
SPIKE = (20, 25)  # seconds in which read requests are slow (p95 well over 300 ms)


def synthetic_results(endpoints: int = 12, seconds: int = 40, users: int = 20, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    rec = Recorder(1.0, 0.0)
    for e in range(endpoints):
        name, kind = f"ep-{e:03d}", "write" if e % 4 == 3 else "read"
        base_ms = 20.0 + 3.0 * (e % 7) + (80.0 if kind == "write" else 0.0)
        per_second = max(2, 120 // (e + 1))
        for t in range(seconds):
            active = min(users, 2 * (t + 1)) / users  # the ramp: 2 users per second
            for _ in range(max(1, int(per_second * active))):
                ms = base_ms * rng.lognormvariate(0.0, 0.35)
                if kind == "read" and SPIKE[0] <= t < SPIKE[1]:
                    ms += 400.0
                ok = rng.random() > 0.004
                key = SeriesKey("u", name, kind, "POST" if kind == "write" else "GET", 200 if ok else 503, ok)
                rec.record(key, int(ms * 1000), t + rng.random(), None if ok else "503 Service Unavailable")
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    thresholds = [Threshold(parse_selector(s), parse_expression(e, parse_selector(s).metric)) for s, e in THRESHOLDS]
    results = evaluate(thresholds, merged, 20, float(seconds))
    verdict = overall(results, [])
    samples = [[float(t), float(min(users, 2 * t)), 0.0, 0.0, 0.0] for t in range(seconds + 1)]
    record = RunRecord(
        profile="synthetic", scenario_name="synthetic", scenario_path="s.yaml", scenario_sha256="0" * 64,
        seed=seed, workers=2, users=users, host="http://127.0.0.1:1", start="2026-01-01T00:00:00+00:00",
        end="2026-01-01T00:00:40+00:00", versions={"loadorch": "test", "locust": "test"}, verdict=verdict,
        exit_code=0, merged=merged, elapsed_s=float(seconds), stop_reason="duration", thresholds=results,
        duration_s=float(seconds), load=LoadRecord("closed", users, 2.0, (), samples),
    )  # fmt: skip
    return build(record).to_json()


MAX_LOAD_SAMPLES = 600  # as loadorch.runtime.master (not imported here: it imports gevent and locust)


def synthetic_long_run(
    endpoints: int = 200,
    seconds: int = 3600,
    workers: int = 2,
    per_second: int = 20,
    seed: int = 7,
    step_ms: float = 0.0,
) -> RunRecord:
    """A long run fed the way the master is: every second, each worker's Recorder hands its delta to
    Merged.add_delta. Each worker records `per_second` requests a second, the endpoints taken in turn
    (all of them every endpoints/per_second seconds), with slow seconds every 10 minutes and 0.4 % 503s.
    `step_ms`: latencies rounded to that step, so every histogram fills up early (its size then shows
    what grows with time alone)."""
    rng = random.Random(seed)
    recorders = [Recorder(1.0, 0.0) for _ in range(workers)]
    merged = Merged(1.0)
    samples: list[list[float]] = []
    turn = 0
    for t in range(seconds):
        slow = 300.0 if t % 600 < 10 else 0.0
        for w, rec in enumerate(recorders):
            for _ in range(per_second):
                e = turn % endpoints
                turn += 1
                name, kind = f"ep-{e:03d}", "write" if e % 4 == 3 else "read"
                ms = (20.0 + 3.0 * (e % 7) + (80.0 if kind == "write" else 0.0)) * rng.lognormvariate(0.0, 0.35)
                ms += slow
                if step_ms:
                    ms = round(ms / step_ms) * step_ms
                ok = rng.random() > 0.004
                key = SeriesKey("u", name, kind, "POST" if kind == "write" else "GET", 200 if ok else 503, ok)
                rec.record(key, int(ms * 1000), t + rng.random(), None if ok else "503 Service Unavailable")
            merged.add_delta(w, rec.take_delta())
        samples.append([float(t), 20.0, 0.0, 0.0, 0.0])
        if len(samples) > 2 * MAX_LOAD_SAMPLES:
            samples = samples[::2]
    thresholds = [Threshold(parse_selector(s), parse_expression(e, parse_selector(s).metric)) for s, e in THRESHOLDS]
    results = evaluate(thresholds, merged, 20, float(seconds))
    end = f"2026-01-01T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+00:00"
    return RunRecord(
        profile="long", scenario_name="long", scenario_path="s.yaml", scenario_sha256="0" * 64,
        seed=seed, workers=workers, users=20, host="http://127.0.0.1:1", start="2026-01-01T00:00:00+00:00",
        end=end, versions={"loadorch": "test", "locust": "test"},
        verdict=overall(results, []), exit_code=0, merged=merged, elapsed_s=float(seconds), stop_reason="duration",
        thresholds=results, duration_s=float(seconds), load=LoadRecord("closed", 20, 2.0, (), samples),
    )  # fmt: skip


PROFILES: list[dict[str, Any]] = [  # one profiler attached, one that could not (results.json's `profiles`)
    {
        "name": "embedded", "tool": "py-spy", "target": "the embedded shop", "pid": 4242, "attached": True,
        "rate_hz": 100, "samples": 734, "sampled_s": 7.34, "profiled_s": 4.1, "dropped_stacks": 0,
        "top": [
            {"name": "slow_python_function", "file": "loadorch/target/knobs.py", "line": 143, "self_s": 5.22,
             "total_s": 5.22, "self_share": 0.7112},
            {"name": "SocketIO.readinto", "file": "socket.py", "line": 706, "self_s": 0.75, "total_s": 0.75,
             "self_share": 0.1022},
        ],
        "overhead": {"nonblocking": True, "profiler_cpu_s": 0.14, "profiler_core_share": 0.0341, "target_cpu_s": 1.9},
        "speedscope": "profiles/embedded.speedscope.json", "flamegraph": "profiles/embedded.svg",
    },
    {
        "name": "api", "tool": "py-spy", "target": "pid file run/api.pid", "pid": None, "attached": False,
        "rate_hz": 0, "problem": "pid file /srv/run/api.pid: No such file or directory",
        "fix": "write the target's pid (a decimal number) into the pid file before the run",
    },
]  # fmt: skip


def full_results() -> dict[str, Any]:
    """A small results.json with every section filled (deterministic): open model with service time,
    errors and their examples, expect checks, queries per request, a postgres measurement, a measurement
    window, browser users, live metrics and a warning. The golden results.json is this document."""
    from loadorch.browser.results import build as browser_block
    from loadorch.browser.stats import BrowserStats
    from loadorch.db.measure import DbMeasurement, ProbeRow, Repeated
    from loadorch.verdict.evaluate import Check
    from loadorch.wire import Unanswered, WorkerDetail

    rng = random.Random(3)
    rec = Recorder(1.0, 0.0, window=((2.0, 8.0),))
    slowest: list[list[Any]] = []
    for t in range(10):
        for e, (name, kind, method) in enumerate((("list", "read", "GET"), ("order", "write", "POST"))):
            for i in range(6):
                ok = (t + i + e) % 17 != 0
                key = SeriesKey("shopper", name, kind, method, 200 if ok else 503, ok)
                at = t + i / 6
                ms = 10.0 + 40.0 * e + rng.random() * 5
                rec.record(key, int(ms * 1000), at, None if ok else "503 Service Unavailable",
                           service_us=int(ms * 900), db_queries=1 + e, example=None if ok else '{"error": "busy"}')
                rec.record_checks(key, ["status"], [ok], None if ok else "HTTP 503", at)
                if ok:  # where the time goes: every successful request's phases (the window's, by the recorder)
                    rec.record_split(key, int(ms * 1000), (0, 0, int(ms * 900), int(ms * 100)), at)
                if ok and 2.0 <= at < 8.0:  # in the window: the K slowest are kept, with a trace id each
                    us = int(ms * 1000)
                    slowest.append(exemplar(name, method, 200, us, 1767225600.0 + at, 0, 0, us * 9 // 10, us // 10,
                                            512, f"{t * 100 + i * 10 + e:032x}",
                                            [("app", round(ms * 0.8, 1), None), ("cache", None, "miss")]))
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    merged.add_exemplars(slowest)  # as a worker's delta brings them (stats/exemplars.py)
    gates = (*THRESHOLDS, ("http_req_duration{name:order}", "p(95)<20"))  # fails: its evidence is filled
    thresholds = [Threshold(parse_selector(s), parse_expression(e, parse_selector(s).metric)) for s, e in gates]
    results = evaluate(thresholds, merged, 20, 10.0)
    checks = [Check("preflight", "pass", "http://127.0.0.1:1 reachable (127.0.0.1)")]
    db = DbMeasurement(slow_ms=50.0, queries=180, slow=3, window_s=6.0, log_source="csvlog",
                       window_start="2026-01-01 00:00:02.000 UTC", window_end="2026-01-01 00:00:08.000 UTC")
    db.slow_top = [{"statement": "SELECT ... FROM items WHERE id = $1", "count": 3, "max_ms": 61.5}]
    db.probe = [ProbeRow("list", "shopper", "read", "GET", 11, 11, (
        Repeated("SELECT ... FROM items WHERE id = $1", 10, "SELECT * FROM lists WHERE id > $1 LIMIT $2"),))]
    db.plans = [SlowPlan.model_validate({"statement": "SELECT * FROM items WHERE id = $1", "count": 3, "plans": 3,
                 "plan": {"duration_ms": 61.5, "estimate": False,
                          "lines": ["Seq Scan on items (rows=1, loops=1, removed by filter=20000)",
                                    "     Filter: (id = ?)"]},
                 "flags": [{"kind": "seq_scan", "text": "sequential scan of items: 20,001 rows read"}]})]
    db.top = [{"statement": "SELECT ... FROM items WHERE id = $1", "calls": 120, "total_ms": 48.2, "mean_ms": 0.402}]
    for t in range(3):
        db.add_sample(float(t + 1), 60)
    browser = BrowserStats()
    for t in range(3):
        browser.record_view("visitor", "home", float(t), {"lcp": 1.2 + t / 10, "cls": 0.01, "ttfb": 0.1, "fcp": 0.5})
        browser.record_step("visitor", "home", "open /", None if t else "timeout waiting for #cart")
    integrity = {
        "workers_expected": 1, "workers_seen": 1, "workers_lost": [], "generator_cpu_peak": {"0": 12.5},
        "generator_cpu_sustained_peak": {"0": 8.0}, "dropped_arrivals": 1,
        "arrivals": {"scheduled": 121, "dispatched": 120, "dropped": 1}, "virtual_users_failed": [],
        "per_worker": [WorkerDetail(index=0, pid=100, users_peak=4, cpu_peak=12.5, cpu_sustained_peak=8.0,
                                    reported=120, final_total=120, lost_at_s=None, silent_s=0.0, duplicates=0,
                                    heartbeats=10, heartbeat_gap_max_s=1.0, clock_offset_s=0.001,
                                    unanswered=[Unanswered(user="shopper", name="get product", kind="read",
                                                           method="GET", count=1, waited_max_s=0.012)]).to_json()],
        "rejected_peers": [], "stop_reason": "duration", "aborted_by": None,
    }
    record = RunRecord(
        profile="full", scenario_name="shop", scenario_path="s.yaml", scenario_sha256="0" * 64, seed=1, workers=1,
        users=4, host="http://127.0.0.1:1", start="2026-01-01T00:00:00+00:00", end="2026-01-01T00:00:10+00:00",
        versions={"loadorch": "test", "locust": "test"}, verdict=overall(results, checks), exit_code=1,
        merged=merged, elapsed_s=10.0, stop_reason="duration", thresholds=results, checks=checks,
        integrity=Integrity.model_validate(integrity), duration_s=10.0, database=db.to_collector(),
        browser=Browser.model_validate(browser_block(browser)),
        window=((2.0, 8.0),), window_source="profile", tags={"team": "shop"},
        trace_url="https://tempo.example/trace/{trace_id}",
        load=LoadRecord("open", 4, 0.0, ((10.0, 12.0, 10.0),), [[0.0, 0, 0, 0, 0], [5.0, 4, 60, 60, 0], [10.0, 4, 121, 120, 1]]),
        live_metrics={"threshold_states_from": "gate", "threshold_states": {"http_req_failed rate<0.01": "fail"}},
        warnings=["metrics push failed 1 times and dropped 0 pushes (timeout); the final push landed"],
        profiles=[ProfileSection.model_validate(p) for p in PROFILES],
    )  # fmt: skip
    return build(record).to_json()


def synthetic_model(**kwargs: Any) -> Results:
    """synthetic_results as the model every reader takes."""
    return results_of(synthetic_results(**kwargs), "results.json")
