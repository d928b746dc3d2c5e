"""A long run's artifacts and the master's timelines are bounded in time; counts stay exact."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from pathlib import Path

import pytest

from loadorch.db.measure import TIMESERIES_POINTS, DbMeasurement
from loadorch.report.html import render_html
from loadorch.report.results import build
from loadorch.results import Results
from loadorch.run.artifacts import dumps
from loadorch.stats.histogram import Histogram, bounds_of, bucket_of, coarse_bucket
from loadorch.stats.tables import ENDPOINT_SLOTS, INTERVAL_SLOTS, Merged
from tests.synthetic import synthetic_long_run


@pytest.fixture(scope="module")
def runs() -> dict[int, tuple[Merged, Results, int, int]]:
    out = {}
    for seconds in (3600, 7200):
        # 20 endpoints, 2 requests/s, latencies in 10 ms steps: every histogram fills early, so what
        # still grows between 1 h and 2 h grows with time alone
        record = synthetic_long_run(endpoints=20, seconds=seconds, workers=1, per_second=2, step_ms=10.0)
        model = build(record)
        doc = model.to_json()
        out[seconds] = (record.merged, model, len(dumps(doc).encode()), len(render_html(model).encode()))
    return out


def test_two_hours_of_artifacts_are_not_twice_one_hour(runs) -> None:
    (_, _, json_1h, html_1h), (_, _, json_2h, html_2h) = runs[3600], runs[7200]
    assert json_2h < 1.1 * json_1h, (json_1h, json_2h)
    assert html_2h < 1.1 * html_1h, (html_1h, html_2h)


def test_timelines_coarsen_and_keep_exact_counts(runs) -> None:
    for seconds, (merged, doc, _, _) in runs.items():
        assert len({i for i, _, _ in merged.intervals}) <= INTERVAL_SLOTS
        assert len({i for i, _ in merged.endpoint_intervals}) <= ENDPOINT_SLOTS
        assert doc.slot_seconds() == merged.interval_step  # interval_s is 1
        assert doc.totals.requests == seconds * 2
        for kind, stats in doc.kinds.items():  # every request is in exactly one slot
            rows = [r for r in doc.timeseries if r.kind == kind]
            assert sum(r.requests for r in rows) == stats.count
            assert sum(r.failures for r in rows) == stats.failures
            assert rows[-1].t_s < seconds <= rows[-1].t_s + doc.slot_seconds()
    assert runs[3600][0].interval_step == 8 and runs[7200][0].interval_step == 16
    again = Merged.from_json(json.loads(json.dumps(runs[7200][0].to_json())))
    assert again.interval_step == 16 and again.intervals.keys() == runs[7200][0].intervals.keys()
    assert sum(h.count for h in again.intervals.values()) == 7200 * 2


@pytest.mark.parametrize(("sub_bits", "within"), [(6, 0.0085), (4, 0.033)])
def test_coarse_buckets_are_within_their_bound_and_idempotent(sub_bits: int, within: float) -> None:
    rng = random.Random(3)
    for us in [0, 1, 31, 32, 33, 127, 128, 129, 2047, 2048, 2049, 10**6, 10**9] + [
        rng.randrange(1, 10**8) for _ in range(5000)
    ]:
        c = coarse_bucket(bucket_of(us), sub_bits)
        low, high = bounds_of(c)
        assert coarse_bucket(c, sub_bits) == c
        assert abs((low + high) / 2 - us) <= within * us + 0.5, us


def test_coarse_histograms_keep_percentiles_within_a_percent() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(10, 1.5)) for _ in range(20000)]
    exact = Histogram.of(values)
    coarse = exact.coarsened()
    assert (coarse.count, coarse.total, coarse.min, coarse.max) == (exact.count, exact.total, exact.min, exact.max)
    assert len(coarse.buckets) * 8 < len(exact.buckets)
    for pct in (50, 95, 99, 99.9):
        assert coarse.percentile(pct) == pytest.approx(exact.percentile(pct), rel=0.0085)


def test_results_json_writer_is_compact_and_lossless() -> None:
    doc = {"a": [1, [2, 3]], "b": {"buckets": [[2048, 3], [2050, 1]], "rows": [{"x": None}], "e": {}, "l": []},
           "s": "é\n", "f": 1.5, "t": True}  # fmt: skip
    text = dumps(doc)
    assert json.loads(text) == doc
    assert '"buckets": [[2048,3],[2050,1]]' in text and '"rows": [\n' in text
    with pytest.raises(ValueError):
        dumps({"nan": float("nan")})


def test_database_statements_over_time_stay_bounded_with_exact_sums() -> None:
    m = DbMeasurement(slow_ms=100.0)
    for t in range(1, 3 * TIMESERIES_POINTS + 2):
        m.add_sample(float(t), t % 7)
    points = m.timeseries
    assert len(points) <= TIMESERIES_POINTS
    assert sum(p["queries"] for p in points) == sum(t % 7 for t in range(1, 3 * TIMESERIES_POINTS + 2))
    assert points[-1]["t_s"] == 3 * TIMESERIES_POINTS + 1
    assert [p["t_s"] for p in points] == sorted(p["t_s"] for p in points)


def test_error_reasons_per_request_are_bounded_with_exact_counts() -> None:
    """An exception text with an id in it is a new reason per request: past MAX_ERROR_REASONS distinct ones a
    series counts the rest under OTHER_REASONS, on the worker and on the master, and no error is lost."""
    from loadorch.stats.tables import MAX_ERROR_REASONS, OTHER_REASONS, Recorder, SeriesKey

    bad = SeriesKey("u", "get order", "read", "GET", 404, False)
    other = SeriesKey("u", "list", "read", "GET", 500, False)
    merged = Merged(1.0)
    for worker in (0, 1):
        rec = Recorder(1.0, 0.0)
        for second in range(3):
            for n in range(150):
                rec.record(bad, 1000, second + 0.5, f"order {worker}-{second}-{n} not found", example=f"body {n}")
            rec.record(other, 1000, second + 0.5, "HTTP 500")
            delta = rec.take_delta()
            # bounded on the worker too: the delta carries MAX_ERROR_REASONS reasons and the rest, counted exactly
            sent = [(reason, n) for i, reason, n in delta["errors"] if i == rec.registry.id(bad)]
            assert len(sent) == MAX_ERROR_REASONS + 1 and sum(n for _, n in sent) == 150
            assert dict(sent)[OTHER_REASONS] == 150 - MAX_ERROR_REASONS
            assert len([1 for i, _, _ in delta["examples"] if i == rec.registry.id(bad)]) == MAX_ERROR_REASONS
            merged.add_delta(worker, delta)
    reasons = {reason: n for (k, reason), n in merged.errors.items() if k == bad}
    assert len(reasons) == MAX_ERROR_REASONS + 1 and reasons[OTHER_REASONS] == 2 * 3 * 150 - MAX_ERROR_REASONS
    assert sum(reasons.values()) == 2 * 3 * 150
    # the row says where each reason is: requests.jsonl, which only --request-log writes
    assert "--request-log" in OTHER_REASONS and "requests.jsonl" in OTHER_REASONS
    assert merged.errors[(other, "HTTP 500")] == 6  # another series keeps its own reasons
    # a reason seen before keeps counting under its own name; examples only for reasons kept
    merged.add_error(bad, "order 0-0-0 not found", 2)
    assert merged.errors[(bad, "order 0-0-0 not found")] == 3
    assert all(reason != OTHER_REASONS for (_, reason) in merged.examples)
    again = Merged.from_json(json.loads(json.dumps(merged.to_json())))
    assert again.errors == merged.errors


def test_the_timeline_coarsens_once_per_doubling_and_keeps_each_request_in_its_time() -> None:
    """Deltas of several rows (kinds, failures) from two workers: the slot widens at 720, 1,440 and 2,880 s
    and never skips a step, and each request stays in the slot of its second (a step read before the
    coarsening put the rest of that delta twice as late, and targets taken before it were dropped)."""
    from loadorch.stats.tables import Recorder, SeriesKey

    rng = random.Random(5)
    recorders, merged = [Recorder(1.0, 0.0) for _ in range(2)], Merged(1.0)
    want: dict[tuple[int, str, bool], int] = {}  # requests per (second, kind, ok)
    steps = []
    for t in range(3000):
        for worker, rec in enumerate(recorders):
            for _ in range(6):
                kind, ok = rng.choice(("read", "write", "login")), rng.random() > 0.1
                key = SeriesKey("u", kind, kind, "GET", 200 if ok else 503, ok)
                rec.record(key, rng.randrange(1000, 90_000), t + rng.random(), None if ok else "503")
                want[(t, kind, ok)] = want.get((t, kind, ok), 0) + 1
            merged.add_delta(worker, rec.take_delta())
            if not steps or steps[-1][1] != merged.interval_step:
                steps.append((t, merged.interval_step))
    assert steps == [(0, 1), (720, 2), (1440, 4), (2880, 8)]
    got = {key: h.count for key, h in merged.intervals.items()}
    expected: dict[tuple[int, str, bool], int] = {}
    for (t, kind, ok), n in want.items():
        expected[(t // 8, kind, ok)] = expected.get((t // 8, kind, ok), 0) + n
    assert got == expected


def test_the_slot_that_widens_a_timeline_keeps_its_requests() -> None:
    """add_interval / add_endpoint_interval past the last slot: the slot's histogram is taken from the
    widened tables (one taken from the tables before the widening was dropped with them)."""
    merged = Merged(1.0)
    for slot in range(INTERVAL_SLOTS + 1):
        merged.add_interval(slot, "read", True, Histogram.of([1000]))
    for slot in range(ENDPOINT_SLOTS + 1):
        merged.add_endpoint_interval(slot, "a", Histogram.of([1000]))
    assert merged.interval_step == 2 and merged.endpoint_step == 2
    assert {i: h.count for (i, _, _), h in merged.intervals.items()}[INTERVAL_SLOTS // 2] == 1
    assert sum(h.count for h in merged.intervals.values()) == INTERVAL_SLOTS + 1
    assert sum(h.count for h in merged.endpoint_intervals.values()) == ENDPOINT_SLOTS + 1



def test_an_older_unbounded_timeline_read_back_keeps_each_request_in_its_time() -> None:
    """results.json from before the bound: 1 s slots past INTERVAL_SLOTS, no interval_step. Rows after the
    widening are in the document's slots, not the widened ones (read as widened, each row widened the
    timeline again: 80 rows past 720 made 2**80 s slots)."""
    seconds = INTERVAL_SLOTS + 80
    one = Histogram.of([1000]).to_json()
    doc = {
        "interval_s": 1.0,
        "series": [[["u", "a", "read", "GET", 200, True], Histogram.of([1000] * seconds).to_json()]],
        "intervals": [[t, "read", True, one] for t in range(seconds)],
        "endpoint_intervals": [[t, "a", one] for t in range(ENDPOINT_SLOTS + 40)],
    }
    merged = Merged.from_json(doc)  # type: ignore[arg-type]
    assert merged.interval_step == 2 and merged.endpoint_step == 2
    assert {i: h.count for (i, _, _), h in merged.intervals.items()} == {i: 2 for i in range(seconds // 2)}
    assert {i: h.count for (i, _), h in merged.endpoint_intervals.items()} == {
        i: 2 for i in range((ENDPOINT_SLOTS + 40) // 2)
    }


def test_the_load_timeline_of_a_long_run_stays_bounded_and_evenly_spaced(tmp_path: Path) -> None:
    """Two hours of load samples, one a second: at most 2 * MAX_LOAD_SAMPLES points, evenly spaced
    from the start, the latest one the newest (dropping every other point while new ones still came every
    second left the first 27 minutes, the ramp with them, as one line to the next point at 1,624 s)."""
    from loadorch.config.resolve import build as resolve
    from loadorch.run.plan import build_plan
    from loadorch.runtime.masterstate import MAX_LOAD_SAMPLES, MasterState
    from tests.unit.test_config import BASE_SCENARIO, make

    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 2, duration: 2h}\nworkers: 1\n")  # fmt: skip
    plan = build_plan(resolve("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    longest = 0
    for t in range(7201):
        state.sample_load(float(t))
        longest = max(longest, len(state.load))
    times = [s[0] for s in state.load_samples]
    assert longest == 2 * MAX_LOAD_SAMPLES and times[0] == 0.0 and times[-1] == 7200.0
    assert {b - a for a, b in pairwise(times)} == {8.0}
    state.sample_load(7203.5)  # the stop, between two kept points: the newest still ends the timeline
    assert [s[0] for s in state.load_samples[-2:]] == [7200.0, 7203.5]
    state.sample_load(7208.0)
    assert [s[0] for s in state.load_samples[-2:]] == [7200.0, 7208.0]


def test_the_load_timeline_takes_its_memory_once_not_a_point_at_a_time(tmp_path: Path) -> None:
    """#32: a monitor's master sampled its load once a second into a list of Python lists (about 220 bytes a
    point): 0.8 MB an hour for its first 20 minutes, the master's whole growth then. The timeline's memory
    after 20 minutes of samples (its bound reached) is what it was after 10 seconds, and the points are the
    same numbers, the counts integers."""
    import tracemalloc

    from loadorch.config.resolve import build as resolve
    from loadorch.run.plan import build_plan
    from loadorch.runtime.masterstate import MAX_LOAD_SAMPLES, MasterState
    from tests.unit.test_config import BASE_SCENARIO, make

    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 2, duration: 2h}\nworkers: 1\n")  # fmt: skip
    plan = build_plan(resolve("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    tracemalloc.start()
    try:
        for t in range(10):
            state.sample_load(float(t))
        early = tracemalloc.get_traced_memory()[0]
        for t in range(10, 2 * MAX_LOAD_SAMPLES):
            state.sample_load(float(t) + 0.25)
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert late - early < 4096, f"the load timeline grew {late - early} bytes over {2 * MAX_LOAD_SAMPLES} samples"
    points = state.load_samples
    assert len(points) == 2 * MAX_LOAD_SAMPLES and points[-1] == [2 * MAX_LOAD_SAMPLES - 1 + 0.25, 0, 0, 0, 0]
    assert all(type(v) is int for p in points for v in p[1:])


def test_database_statements_over_time_stay_evenly_spaced() -> None:
    """Two hours of 1 s samples: every point spans the same number of samples (merging pairwise while new
    points still came every second made the first point 3,752 s long and the last ones 1 s); the latest
    point ends at the latest sample, and JSON carries only the points."""
    m = DbMeasurement(slow_ms=100.0)
    for t in range(1, 7201):
        m.add_sample(float(t), 1)
    ends = [0.0] + [p["t_s"] for p in m.timeseries]
    assert len(m.timeseries) <= TIMESERIES_POINTS and ends[-1] == 7200.0
    assert {b - a for a, b in pairwise(ends)} == {16.0}
    assert {p["queries"] for p in m.timeseries} == {16}
    m.add_sample(7201.0, 5)  # a new point, of one sample so far
    assert m.timeseries[-1] == {"t_s": 7201.0, "queries": 5}
    assert not [k for k in m.to_collector().model_dump() if k.startswith("_")]
    assert DbMeasurement.from_collector(m.to_collector()).timeseries == m.timeseries


def _names_run(limit: int | None, workers: int = 2) -> tuple[list, Merged, dict[str, int], dict[str, int]]:
    """Two workers whose python users name each request by its URL (`/items/{id}`), 300 ids each, half of them
    shared, plus the scenario's own 'checkout' last and a failure, a check and timings per name. Returns the
    deltas, the master's tables (bound `limit`), and the requests and latency sums per name sent."""
    from loadorch.stats.endpoints import EndpointNames
    from loadorch.stats.tables import Recorder, SeriesKey

    merged = Merged(1.0)
    merged.endpoints = EndpointNames(limit, ["checkout"])
    sent: dict[str, int] = {}
    sums: dict[str, int] = {}
    deltas = []
    for worker in range(workers):
        rec = Recorder(1.0, 0.0, endpoints=EndpointNames(limit, ["checkout"]))
        for second in range(3):
            for i in range(worker * 150, worker * 150 + 300):
                name = f"/items/{i}"
                ok = i % 7 != 0
                key = SeriesKey("shopper", name, "read", "GET", 200 if ok else 404, ok)
                latency = 1000 + 37 * i + second
                rec.record(key, latency, second + 0.5, None if ok else f"HTTPError: 404 for item {i}")
                if ok:
                    rec.record_timings(key, 500, 0)
                rec.record_checks(key, ("status",), (ok,), None if ok else "404")
                sent[name] = sent.get(name, 0) + 1
                sums[name] = sums.get(name, 0) + latency
            rec.record(SeriesKey("shopper", "checkout", "write", "POST", 201, True), 5000, second + 0.6)
            sent["checkout"] = sent.get("checkout", 0) + 1
            sums["checkout"] = sums.get("checkout", 0) + 5000
            delta = rec.take_delta()
            deltas.append(delta)
            merged.add_delta(worker, delta)
    return deltas, merged, sent, sums


def test_request_names_past_the_bound_are_one_exact_row_on_the_workers_and_the_master() -> None:
    """A name per id (Locust's classic mistake): past max_endpoints names, on each worker and on the master,
    the requests of a new name go to '(other endpoints)': every request counted once, its latency in that
    row's histogram, failures, checks and timings with it; the scenario's own names are always kept."""
    from loadorch.stats.delta import decode_keys
    from loadorch.stats.endpoints import OTHER_ENDPOINTS

    deltas, merged, sent, sums = _names_run(limit=50)
    for delta in deltas:  # bounded on the worker: 50 names (checkout among them) and the other row
        names = {row[1] for row in decode_keys(delta["keys"], tuple)}
        assert len(names - {OTHER_ENDPOINTS, ""}) <= 50 and "checkout" in names
    kept = {key.name for key in merged.series} - {OTHER_ENDPOINTS}
    assert len(kept) == 50 and "checkout" in kept and OTHER_ENDPOINTS in {key.name for key in merged.series}
    assert {name for _, name in merged.endpoint_intervals} <= {*kept, OTHER_ENDPOINTS}
    assert {ck[1] for ck in merged.checks} <= {*kept, OTHER_ENDPOINTS}
    assert {key.name for _, key in merged.timings} <= {*kept, OTHER_ENDPOINTS}
    assert {key.name for key, _ in merged.errors} <= {*kept, OTHER_ENDPOINTS}
    # exact: every request once, each name's own row or the other row, the latency sums too
    assert merged.total == sum(sent.values())
    for name in kept:
        assert sum(h.count for k, h in merged.series.items() if k.name == name) == sent[name]
    other = [h for k, h in merged.series.items() if k.name == OTHER_ENDPOINTS]
    assert sum(h.count for h in other) == sum(n for name, n in sent.items() if name not in kept)
    assert sum(h.total for h in other) == sum(s for name, s in sums.items() if name not in kept)
    failed = sum(n for name, n in sent.items() if name not in kept and int(name.rsplit("/", 1)[1]) % 7 == 0)
    assert sum(h.count for k, h in merged.series.items() if k.name == OTHER_ENDPOINTS and not k.ok) == failed
    assert sum(n for (k, _), n in merged.errors.items() if k.name == OTHER_ENDPOINTS) == failed
    passes, fails = merged.checks[("shopper", OTHER_ENDPOINTS, "read", "GET", "status")]
    assert passes + fails == sum(n for name, n in sent.items() if name not in kept) and fails == failed
    # the warning names the first names folded and the fix; results.json carries it and the exact row
    warning = merged.endpoints.warning()
    assert warning is not None and "name=" in warning and "max_endpoints" in warning and "'/items/" in warning
    doc = build(_record(merged)).to_json()
    assert doc["warnings"] == [warning]
    assert doc["endpoints"][OTHER_ENDPOINTS]["count"] == sum(h.count for h in other)
    assert sum(row["count"] for row in doc["endpoints"].values()) == doc["totals"]["requests"] == sum(sent.values())
    # read back (the master's summary, results.json): the same tables, nothing folded again
    again = Merged.from_json(json.loads(json.dumps(merged.to_json())))
    assert again.series.keys() == merged.series.keys() and again.endpoints.warning() == warning


def test_the_master_bounds_the_names_a_worker_sends() -> None:
    """A worker that kept every name (no bound, or another one) cannot grow the master's tables: the master
    keeps max_endpoints names, in the order they came, and counts the rest under '(other endpoints)'."""
    from loadorch.stats.endpoints import MAX_FOLDED_SHOWN, OTHER_ENDPOINTS, EndpointNames

    _, unbounded, sent, _ = _names_run(limit=None)
    assert len({key.name for key in unbounded.series}) == len(sent) == 451
    deltas, _, _, _ = _names_run(limit=None)
    merged = Merged(1.0)
    merged.endpoints = EndpointNames(20, ["checkout"])
    for i, delta in enumerate(deltas):
        merged.add_delta(i // 3, delta)
    names = {key.name for key in merged.series}
    assert len(names) == 21 and "checkout" in names and OTHER_ENDPOINTS in names
    assert {n for _, n in merged.endpoint_intervals} <= names
    assert merged.total == sum(sent.values())
    folded = merged.endpoints.folded  # the first names past the bound, for the warning: bounded too
    assert len(folded) == MAX_FOLDED_SHOWN and not set(folded) & names


def test_results_json_reads_each_series_a_bounded_number_of_times() -> None:
    """results.build is linear in the series: each per-endpoint row reads its own series (grouped once), not
    every series once per endpoint (14,500 names took over 10 minutes). Counted, not timed: the number of
    passes over the series table does not grow with the names."""

    class Counting(dict):  # type: ignore[type-arg]
        passes = 0

        def items(self):  # type: ignore[no-untyped-def]
            Counting.passes += 1
            return super().items()

        def __iter__(self):  # type: ignore[no-untyped-def]
            Counting.passes += 1
            return super().__iter__()

        def keys(self):  # type: ignore[no-untyped-def]
            Counting.passes += 1
            return super().keys()

        def values(self):  # type: ignore[no-untyped-def]
            Counting.passes += 1
            return super().values()

    passes = []
    for names in (50, 400):
        _, merged, _, _ = _names_run(limit=names)
        merged.series = Counting(merged.series)
        Counting.passes = 0
        doc = build(_record(merged))
        assert len(doc.endpoints) == names + 1
        passes.append(Counting.passes)
    assert passes[0] == passes[1] and passes[1] < 20, passes


def _record(merged: Merged):  # type: ignore[no-untyped-def]
    from loadorch.report.results import RunRecord

    return RunRecord(profile="p", scenario_name="s", scenario_path="s.yaml", scenario_sha256="0" * 64, seed=1,
                     workers=2, users=2, host="http://127.0.0.1:1", start="", end="", versions={}, verdict="pass",
                     exit_code=0, merged=merged, elapsed_s=3.0)  # fmt: skip


def test_live_metrics_label_a_bounded_set_of_names_and_count_the_rest_exactly() -> None:
    """The live metrics label at most their bound of request names, the same ones scrape after scrape (the
    first to come); the other names' requests and latencies are in '(other endpoints)' series, exactly."""
    from loadorch.metrics.families import Gauges, flatten
    from loadorch.metrics.families import build as families
    from loadorch.metrics.names import edges_us
    from loadorch.stats.endpoints import OTHER_ENDPOINTS, EndpointNames

    _, merged, sent, _ = _names_run(limit=400)
    names = EndpointNames(20, ["checkout"])
    samples = []
    for _ in range(2):
        samples.append(flatten(families(("r", "p", "s"), merged, edges_us([300.0]), Gauges(), [], names=names)))
    assert samples[0] == samples[1]  # the same names labelled, scrape after scrape
    requests = [(labels, v) for labels, v in samples[0] if labels["__name__"].endswith("_requests_total")]
    labelled = {labels["name"] for labels, _ in requests}
    assert len(labelled) == 21 and {"checkout", OTHER_ENDPOINTS} <= labelled
    assert sum(v for _, v in requests) == sum(sent.values()) == merged.total
    counts = [v for labels, v in samples[0] if labels["__name__"] == "loadorch_http_request_duration_seconds_count"]
    assert sum(counts) == merged.total  # every request's latency in exactly one histogram series
    assert len({labels["name"] for labels, _ in samples[0] if "name" in labels}) == 21
