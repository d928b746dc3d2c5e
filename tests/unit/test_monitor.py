"""The monitor's pure parts: rolling windows on a simulated clock, histogram differences, the status
document, page and families."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loadorch.browser.stats import BrowserStats
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.k8s.monitor import schedule_problem
from loadorch.monitor.rolling import MONITOR_SUB_BITS, PERCENTILE_ERROR, RollingWindow, Snapshot
from loadorch.monitor.status import BROWSER_FIX, overall_state, status_doc, status_families, status_page
from loadorch.stats.histogram import Histogram, nearest_rank
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, PASS, ThresholdResult, evaluate


def _h(*ms: int) -> Histogram:
    return Histogram.of([m * 1000 for m in ms])


class Source:
    """A cumulative table that only ever adds, like the master's merged series."""

    def __init__(self) -> None:
        self.h = Histogram()

    def add(self, *ms: int) -> dict[str, dict[str, Histogram]]:
        self.h.merge(_h(*ms))
        return {"series": {"home": self.h}}


def test_a_window_holds_only_the_samples_of_its_last_seconds() -> None:
    src, w = Source(), RollingWindow(60.0, 6, start=0.0)
    for t in range(0, 120, 10):  # one 100 ms sample every 10 s, then slow ones from t=60
        tables = src.add(100 if t < 60 else 3000)
        w.observe(float(t), tables)
    win = w.window(120.0, src.add())
    h = win.tables["series"]["home"]
    assert win.full and win.seconds == 60.0
    # (60, 120]: the samples of 70 .. 110 s, all slow; the fast ones (and the one at 60 s) left the window
    assert h.count == 5 and h.percentile(50) == pytest.approx(3_000_000, rel=0.001)


def test_before_a_whole_window_it_judges_everything_since_the_start() -> None:
    src, w = Source(), RollingWindow(3600.0, 12, start=5.0)
    w.observe(10.0, src.add(100, 200))
    win = w.window(20.0, src.add(300))
    assert not win.full and win.seconds == 15.0 and win.tables["series"]["home"].count == 3


def test_memory_is_a_fixed_ring_whatever_the_time() -> None:
    src, w = Source(), RollingWindow(10.0, 5, start=0.0)
    for t in range(0, 20_000, 1):
        w.observe(float(t), src.add(t % 500) if t % 97 == 0 else {"series": {"home": src.h}})
    assert len(w.ring) == 5  # slices, never more


def test_counts_tables_are_windowed_too() -> None:
    w = RollingWindow(10.0, 2, start=0.0)
    w.observe(5.0, {}, {"checks": {"k": [3, 1]}})
    win = w.window(12.0, {}, {"checks": {"k": [10, 4]}})  # (5, 12]: since the snapshot at 5 s
    assert win.counts["checks"]["k"] == [7, 3]


def test_a_histogram_minus_an_earlier_copy_is_what_came_since() -> None:
    early = _h(10, 20, 30)
    late = Histogram().merge(early).merge(_h(40, 50))
    diff = late.minus(early)
    assert diff.count == 2 and diff.total == 90_000 and 40_000 <= diff.min <= diff.max <= 50_000
    assert late.minus(late).count == 0


def _result(verdict: str, observed: float | None = 1234.5, message: str = "failed") -> ThresholdResult:
    return ThresholdResult("browser_web_vital_lcp{page:home}", "p(75)<1000", observed, 1000.0, "ms", 5, 0.0,
                           verdict, message)


@pytest.mark.parametrize("verdicts,state", [(["pass", "fail"], "failing"), (["pass", "pass"], "ok"),
                                            (["pass", "inconclusive"], "no_data"), ([], "no_data")])
def test_the_overall_state(verdicts: list[str], state: str) -> None:
    assert overall_state([_result(v) for v in verdicts]) == state


def test_a_selector_with_nothing_in_the_window_yet_is_no_data_not_failing() -> None:
    """A threshold whose selector matched nothing is judged FAIL with "no data" (a run must not pass it): the
    monitor's row said no_data but its overall status said failing, so a monitor that had sent no write yet
    (0.2 checks a second, one write in ten) said failing on /metrics and status.json at every start."""
    write = Threshold(parse_selector("http_req_duration{kind:write}"), parse_expression("p(95)<700"))
    read = Threshold(parse_selector("http_req_duration{kind:read}"), parse_expression("p(95)<300"))
    merged = Merged()
    merged.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _h(*[50] * 100)
    results = evaluate([write, read], merged, 100, 10.0)
    assert [r.verdict for r in results] == [FAIL, PASS] and results[0].message.startswith("no data")
    doc = status_doc(("mon-1", "p", "s"), results, 3600.0, 10.0, False, "t1", "t0", 10.0)
    assert [r["state"] for r in doc["thresholds"]] == ["no_data", "pass"] and doc["status"] == "no_data"
    slow = Threshold(parse_selector("http_req_duration{kind:read}"), parse_expression("p(95)<30"))
    assert overall_state(evaluate([write, slow], merged, 100, 10.0)) == "failing"  # a breach still fails


def test_the_status_document_page_and_families_say_the_same() -> None:
    doc = status_doc(("mon-1", "p", "s"), [_result("fail"), _result("inconclusive", None, "no data yet")],
                     3600.0, 120.0, False, "2026-01-01T00:02:00+00:00", "2026-01-01T00:00:00+00:00", 120.0)
    json.dumps(doc)  # JSON as it is
    assert doc["status"] == "failing" and not doc["window_full"] and doc["percentile_error"] == 1 / 128
    assert [r["state"] for r in doc["thresholds"]] == ["fail", "no_data"]
    page = status_page(doc, 10.0)
    assert "<meta http-equiv=refresh content=10>" in page and "p(75)&lt;1000" in page and "so far 120s" in page
    fams = {f.name: f for f in status_families(doc)}
    states = {labels[-1]: v for labels, v in fams["loadorch_monitor_status"].samples}
    assert states == {"ok": 0.0, "failing": 1.0, "no_data": 0.0}
    assert fams["loadorch_monitor_threshold_observed"].samples == [
        (("mon-1", "p", "s", "browser_web_vital_lcp{page:home} p(75)<1000", "ms"), 1234.5)]
    assert fams["loadorch_monitor_window_full"].samples == [(("mon-1", "p", "s"), 0.0)]  # the alerts' no_data guard
    full = status_doc(("mon-1", "p", "s"), [], 3600.0, 3600.0, True, "t1", "t0", 4000.0)
    assert {f.name: f for f in status_families(full)}["loadorch_monitor_window_full"].samples == [(("mon-1", "p", "s"), 1.0)]


def test_the_page_escapes_what_it_shows() -> None:
    doc = status_doc(("r", "<p>", "s"), [_result("fail", message="<script>x</script>")], 60.0, 60.0, True,
                     "now", "then", 60.0)
    page = status_page(doc, 1.0)
    assert "<script>x" not in page and "&lt;script&gt;" in page


# memory flat for days: what the monitor retains is in a fixed coarse layout (monitor/rolling.py)

def _spread(n: int, low_us: int, high_us: int) -> list[int]:
    """`n` distinct latencies filling [low, high) ever more finely (a van der Corput sequence): every new
    one a new bucket of the default layout, as hours of a real service's latencies are."""
    out = []
    for i in range(1, n + 1):
        x, f, k = 0.0, 0.5, i
        while k:
            x, k, f = x + f * (k & 1), k >> 1, f / 2
        out.append(low_us + int(x * (high_us - low_us)))
    return out


def _buckets(*parts: Snapshot) -> int:
    return sum(len(h.buckets) for s in parts for table in s.tables.values() for h in table.values())


def test_the_retained_state_stays_the_same_size_however_many_distinct_latencies_come() -> None:
    values = iter(_spread(8_000, 5_000, 50_000))  # 8,000 distinct values between 5 and 50 ms
    src, w = Source(), RollingWindow(100.0, 10, start=0.0)
    copy, ring = {}, {}
    for t in range(1, 801):  # 80 windows of 10 slices; 10 new distinct latencies each second
        src.h.merge(Histogram.of([next(values) for _ in range(10)]))
        w.observe(float(t), {"series": {"home": src.h}})
        copy[t], ring[t] = _buckets(w.last), _buckets(*w.ring)
    assert len(w.ring) == 10
    # the copy of the cumulative source: the same size from the 20th window on (the default layout kept one
    # more bucket per new value: 8,000 at the end); the ring: a window's samples, no more as time passes
    assert copy[800] == copy[400] == copy[200] <= 64 * 4
    assert max(ring.values()) <= 1_000
    assert w.window(800.0, {"series": {"home": src.h}}).tables["series"]["home"].count == 1_000


def test_the_master_of_a_monitor_merges_the_workers_reports_in_the_fixed_layout() -> None:
    merged = Merged()
    merged.sub_bits = MONITOR_SUB_BITS
    rec = Recorder(1.0, 0.0, sub_bits=MONITOR_SUB_BITS)
    key = SeriesKey("u", "home", "read", "GET", 200, True)
    sizes = []
    for second, us in enumerate(_spread(8_000, 5_000, 50_000)):
        rec.record(key, us, at=second / 10)
        if second % 200 == 199:  # a report
            merged.add_delta(0, rec.take_delta())
            sizes.append(len(merged.series[key].buckets))
    assert sizes[-1] == sizes[len(sizes) // 4] <= 64 * 4  # bounded by the layout: 64 per doubling
    back = Merged.from_json(json.loads(json.dumps(merged.judged_json())))  # the snapshot the monitor reads
    assert not back.intervals and not back.endpoint_intervals  # the timelines are not read every second
    assert back.sub_bits == MONITOR_SUB_BITS and back.series[key].sub_bits == MONITOR_SUB_BITS
    assert back.select().count == 8_000 and back.select().sub_bits == MONITOR_SUB_BITS


def test_a_window_percentile_is_within_the_stated_error_and_its_range_holds_the_true_value() -> None:
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(10, 1.2)) for _ in range(5_000))
    h = Histogram(MONITOR_SUB_BITS).merge(Histogram.of(values))
    for pct in (50, 75, 90, 95, 99, 99.9):
        true = values[nearest_rank(pct, len(values)) - 1]
        got = h.percentile(pct)
        low, high = h.value_range(got)
        assert abs(got - true) <= PERCENTILE_ERROR * true + 1 and low <= true <= high


@pytest.mark.parametrize("limit_ms,verdict", [(10.05, INCONCLUSIVE), (10.5, PASS), (9.5, FAIL)])
def test_a_limit_inside_a_window_percentiles_range_is_inconclusive_never_a_pass(limit_ms: float, verdict: str) -> None:
    src, w = Source(), RollingWindow(60.0, 6, start=0.0)
    src.h.merge(Histogram.of(list(range(9_000, 10_100))))  # p95 = 10.045 ms; 10.05 is within the layout's error
    w.observe(10.0, {"series": {SeriesKey("u", "home", "read", "GET", 200, True): src.h}})
    merged = Merged()
    merged.series = w.window(20.0, {"series": {SeriesKey("u", "home", "read", "GET", 200, True): src.h}}).tables[
        "series"]
    t = Threshold(parse_selector("http_req_duration"), parse_expression(f"p(95)<{limit_ms}"))
    (result,) = evaluate([t], merged, 100, 20.0)
    assert result.verdict == verdict, result.message
    assert result.error_bound <= PERCENTILE_ERROR * 10.1


def test_a_monitors_timelines_keep_their_latest_slots_not_a_picture_of_days() -> None:
    merged = Merged(1.0)
    merged.roll_timelines(3600.0)  # a 1-hour window: 5 s slots of the timeline, 30 s ones of the sparklines
    rec = Recorder(1.0, 0.0)
    key = SeriesKey("u", "home", "read", "GET", 200, True)
    sizes = []
    for n in range(3 * 24 * 60):  # 3 days, one request a minute
        rec.record(key, 5_000 + n % 997, at=n * 60.0)
        if n % 30 == 29:
            merged.add_delta(0, rec.take_delta())
            sizes.append((len(merged.intervals), len(merged.endpoint_intervals), merged.interval_step))
    assert merged.interval_step == 5 and merged.endpoint_step == 30  # never widened
    assert max(s[0] for s in sizes) <= 720 * 9 // 8 and max(s[1] for s in sizes) <= 120 * 9 // 8
    newest = max(i for i, _, _ in merged.intervals)
    assert newest * 5 > 3 * 24 * 3600 - 1000 and min(i for i, _, _ in merged.intervals) >= newest - 720 * 9 // 8
    assert merged.total == merged.exported_view().select().count == 3 * 24 * 60  # every request counted


@pytest.mark.parametrize("schedule,ok", [("*/15 * * * *", True), ("0 6 * * 1-5", True), ("@hourly", True),
                                         ("*/15 * * *", False), ("every 15 minutes, please", False), ("", False),
                                         ("* * * * * *", False), ("0 6 * * $(reboot)", False)])
def test_a_check_schedule_is_a_cron_schedule_kubernetes_takes(schedule: str, ok: bool) -> None:
    assert (schedule_problem(schedule) is None) == ok


def test_a_monitors_browser_timeline_keeps_its_latest_slots_too() -> None:
    stats = BrowserStats(1.0, sub_bits=MONITOR_SUB_BITS)
    stats.roll_timeline(3600.0)  # 5 s slots
    for n in range(3 * 24 * 60):  # 3 days, a page view a minute
        stats.record("browser_web_vital_lcp", {"page": "home"}, 800.0 + n % 500, at_s=n * 60.0)
    slots = sorted(i for _, _, i in stats.intervals)
    assert stats.interval_s == 5.0 and slots[-1] == (3 * 24 * 60 - 1) * 12 and slots[0] >= slots[-1] - 720 * 9 // 8
    copy = BrowserStats(stats.interval_s).merge(stats)  # what the end of a monitor reports from
    assert sorted(i for _, _, i in copy.intervals) == slots and copy.interval_s == 5.0
    assert copy.select("browser_web_vital_lcp").count == 3 * 24 * 60
    assert len(stats.series[next(iter(stats.series))].buckets) <= 64  # 800 .. 1,300 ms: under a doubling


def test_a_monitors_time_splits_keep_the_last_windows_not_every_bucket_ever_reached() -> None:
    """A service whose latency drifts (each minute in buckets of its own): the master of a monitor keeps the
    time splits of the last one to two windows, so 100 windows hold no more rows than 10 (a run's master
    keeps every bucket ever reached: bounded by the layout alone, reached only after days at a monitor's rate)."""
    merged = Merged(1.0)
    merged.roll_timelines(60.0)  # a 1-minute window
    rec = Recorder(1.0, 0.0)
    key = SeriesKey("u", "home", "read", "GET", 200, True)
    rows = {}
    for n in range(100 * 60):  # one request a second for 100 minutes
        us = 1_000 + 37 * n
        rec.record(key, us, at=float(n))
        rec.record_split(key, us, (100, -1, us - 300, 200), at=float(n))
        if n % 10 == 9:  # a report every 10 s
            merged.add_delta(0, rec.take_delta())
        if n + 1 in (10 * 60, 100 * 60):
            rows[(n + 1) // 60] = len(merged.splits)
    assert 0 < rows[100] <= rows[10]
    split = merged.splits.split("home", {("home", "GET", 200)})
    assert split is not None and 60 <= split.of <= 120  # what the last one to two windows saw
    assert merged.total == merged.exported_view().select().count == 100 * 60  # every request counted


def test_a_short_window_keeps_its_own_slots_not_hours_of_the_runs_30_second_interval() -> None:
    """A monitor's run interval is 30 s (it runs for days), so a 5-minute window's slots are 30 s wide: the
    master's timelines and the browser sink's keep about 10 of them, not 720 (6 hours: they kept growing
    for 6 hours and the sparklines for 1)."""
    merged = Merged(30.0)
    merged.roll_timelines(300.0)
    rec = Recorder(30.0, 0.0)
    stats = BrowserStats(30.0, sub_bits=MONITOR_SUB_BITS)
    stats.roll_timeline(300.0)
    key = SeriesKey("u", "home", "read", "GET", 200, True)
    for n in range(3 * 360):  # 3 hours, a request and a page view every 10 s
        rec.record(key, 5_000 + n % 997, at=n * 10.0)
        stats.record("browser_web_vital_lcp", {"page": "home"}, 800.0 + n % 500, at_s=n * 10.0)
        if n % 6 == 5:  # a report a minute
            merged.add_delta(0, rec.take_delta())
    kept = {i for i, _, _ in merged.intervals}
    assert merged.interval_step == 1 and len(kept) <= 12 and max(kept) == 3 * 3600 // 30 - 1
    assert len({slot for slot, _ in merged.endpoint_intervals}) <= 12
    assert len({i for _, _, i in stats.intervals}) <= 12 and stats.interval_s == 30.0
    assert merged.total == 3 * 360 and stats.select("browser_web_vital_lcp").count == 3 * 360


def _judged_buckets(merged: Merged) -> int:
    """Every bucket the master's judged tables hold, all generations."""
    tables = [merged.series, merged.service, merged.db, merged.timings]
    if merged.generations is not None:
        tables += [*merged.generations.older.values(), *merged.generations.retired.values()]
    return sum(len(h.buckets) for t in tables for h in t.values())


def test_a_monitors_judged_tables_stop_filling_after_a_window_while_its_counters_count_the_whole_run() -> None:
    """A service whose tail keeps reaching latencies never met before (each minute in buckets of its own): the
    master of a monitor keeps its judged tables per window (stats/generations.py), so after 60 windows they
    hold no more buckets than after 3 (a run's master keeps every bucket ever reached: 60 windows held over
    ten times more), while its /metrics families count every request, bucket by bucket, exactly as the
    whole-run tables would, and never fewer than a scrape before."""
    from loadorch.metrics.families import request_families

    edges = [2_000, 5_000, 20_000, 100_000, 1_000_000]
    rolling, whole = Merged(1.0), Merged(1.0)
    rolling.roll_timelines(60.0)  # a 1-minute window
    assert rolling.generations is not None
    rolling.generations.edges = {"series": edges, "timings": edges}
    rolling.sub_bits = whole.sub_bits = MONITOR_SUB_BITS
    rec = Recorder(1.0, 0.0, sub_bits=MONITOR_SUB_BITS)
    keys = [SeriesKey("u", f"e{i}", "read", "GET", 200 if i else 500, i > 0) for i in range(4)]
    buckets, scraped = {}, []
    for n in range(60 * 60):  # 4 requests a second for an hour
        for i, key in enumerate(keys):
            tail = 3_000 + 2_311 * n + 17 * i if n % 3 == 0 else 3_000 + n % 50  # a new tail value every 3 s
            rec.record(key, tail, at=float(n))
            rec.record_timings(key, tail // 2, 100, at=float(n))
        if n % 5 == 4:  # a report every 5 s
            delta = rec.take_delta()
            rolling.add_delta(0, delta)
            whole.add_delta(0, delta)
        if n % 60 == 59:
            buckets[(n + 1) // 60] = _judged_buckets(rolling)
            fams = request_families(("r",), rolling.exported_view(), edges)
            assert fams == request_families(("r",), whole, edges)  # the same counts, every bucket and sum
            scraped.append([v for f in fams for _, v in f.samples] + [c for f in fams for _, b, _ in f.buckets
                                                                      for _, c in b])
    assert 0 < buckets[60] <= buckets[3] and _judged_buckets(whole) > 10 * buckets[60]
    assert all(b >= a for earlier, later in itertools.pairwise(scraped) for a, b in zip(earlier, later))
    assert rolling.total == whole.total == rolling.exported_view().counts()[0] == 4 * 3600
    window = rolling.judged_view()  # what the final artifacts and the live thresholds judge: the last window(s)
    assert window.judged_from_s == 58 * 60.0 and window.counts() == (4 * 120, 120)
    assert Merged.from_json(rolling.to_json()).judged_from_s == 58 * 60.0


def test_a_rolling_window_over_a_master_whose_tables_restart_each_generation_is_the_same_as_over_the_whole_run() -> None:
    """The controller reads the master's snapshot every second; when a generation begins, the master's tables
    start from nothing and the snapshot holds the previous generation's as they ended: the window's samples
    are the same, bucket by bucket, as over a master that kept the whole run."""
    rolling, whole = Merged(1.0), Merged(1.0)
    rolling.roll_timelines(60.0)
    rec = Recorder(1.0, 0.0, sub_bits=MONITOR_SUB_BITS)
    key = SeriesKey("u", "home", "read", "GET", 200, True)
    w_rolling, w_whole = RollingWindow(60.0, 6, start=0.0), RollingWindow(60.0, 6, start=0.0)
    rng = random.Random(3)
    generations = set()
    for n in range(400):
        rec.record(key, int(rng.lognormvariate(8, 1)), at=float(n))
        if n % 2 == 1:
            delta = rec.take_delta()
            rolling.add_delta(0, delta)
            whole.add_delta(0, delta)
        snap = json.loads(json.dumps(rolling.judged_json()))
        older = Merged.from_json({**snap["older"], "sub_bits": MONITOR_SUB_BITS})
        current = Merged.from_json(snap)
        generations.add(snap["generation"])
        source = ({"series": current.series}, {}, snap["generation"], {"series": older.series})
        w_rolling.observe(float(n), *source)
        w_whole.observe(float(n), {"series": Merged.from_json(whole.judged_json()).series})
        if n % 5 == 0:
            got = w_rolling.window(float(n), *source).tables["series"]
            want = w_whole.window(float(n), {"series": Merged.from_json(whole.judged_json()).series}).tables["series"]
            assert {k: (h.count, h.buckets) for k, h in got.items()} == {
                k: (h.count, h.buckets) for k, h in want.items()}, n
    assert len(generations) >= 6


def _database_monitor(tmp_path: Path, counts: Any, gaps: Any) -> tuple[Any, list[float], Any, Any]:
    """A monitor of a profile with two database budgets (db_query_slow rate<0.05, db_queries rate>5; a 10 s
    window of 5 slices), no HTTP tables, on a clock the test moves: (monitor, clock, db, run), the collector's
    live counts and gaps read from `counts()` and `gaps()`."""
    from types import SimpleNamespace

    from loadorch.config.resolve import build
    from loadorch.db.measure import DbMeasurement
    from loadorch.run.monitor import Monitor
    from loadorch.traffic.redact import Redactor

    from .test_config import BASE_PROFILE, make

    make(tmp_path, profile=BASE_PROFILE + (
        'collectors: {postgres: {dsn: "${DATABASE_URL}", slow_ms: 200}}\nmin_samples: 20\n'
        'monitor: {window: 10s, slices: 5, status_every: 1s}\n'
        'thresholds:\n  db_query_slow: ["rate<0.05"]\n  db_queries: ["rate>5"]\n'))
    cfg = build("p", str(tmp_path), {"DATABASE_URL": "postgresql://a:b@db/shop"})
    clock = [0.0]
    monitor = Monitor(cfg, str(tmp_path), None, clock=lambda: clock[0])
    monitor.snapshot_path = str(tmp_path / "no-snapshot.json")  # no HTTP tables: the database's alone
    db = SimpleNamespace(measurement=DbMeasurement(slow_ms=200), live_counts=counts, live_gaps=gaps)
    run = SimpleNamespace(sink=None, db=db, redactor=Redactor([]), live_labels=("mo", "p", "s"), lost_workers={})
    return monitor, clock, db, run


def test_a_monitors_database_budgets_are_judged_over_its_window_from_the_collectors_live_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The monitor judged db_queries and db_query_slow with no collector measurement at all: inconclusive for
    good ("no postgres collector ran"), so a monitor with a database budget never said ok nor failing. Its
    live counts before the collector's first sample (30 s into a monitor) are unknown, not 0 (a fail)."""
    counts: list[tuple[int, int | None] | None] = [None]
    monitor, clock, db, run = _database_monitor(tmp_path, lambda: counts[0], lambda: (0, 0))

    def status_at(t: float, live: tuple[int, int | None] | None) -> dict[str, str]:
        clock[0], counts[0] = t, live
        assert monitor.tick(run)  # type: ignore[arg-type]
        assert monitor.last is not None
        return {row["threshold"]: row["state"] for row in monitor.last["thresholds"]}

    monitor.tick(run)  # type: ignore[arg-type]  # starts the windows at 0
    unsampled = {"db_query_slow rate<0.05": "inconclusive", "db_queries rate>5": "inconclusive"}
    assert status_at(1, None) == unsampled
    assert status_at(2, (0, 0)) == unsampled  # its counts before its first sample: not 0 statements, a fail
    db.measurement.add_sample(1.0, 100)
    assert status_at(3, (100, 1)) == {"db_query_slow rate<0.05": "pass", "db_queries rate>5": "pass"}
    assert status_at(4, (200, 21)) == {"db_query_slow rate<0.05": "fail", "db_queries rate>5": "pass"}  # 21/200
    # the slow ones leave the window; 24-30 statements in its last 8-10 s: under 5 a second
    for t in range(5, 30):
        counts[0] = (200 + (t - 4) * 3, 21)
        clock[0] = t
        monitor.tick(run)  # type: ignore[arg-type]
    assert status_at(30, (200 + 26 * 3, 21)) == {"db_query_slow rate<0.05": "pass", "db_queries rate>5": "fail"}
    assert monitor.last is not None and monitor.last["status"] == "failing"
    db.measurement.slow_unmeasured = "the duration log cannot be read: grant pg_read_server_files"
    assert status_at(31, (200 + 27 * 3, None))["db_query_slow rate<0.05"] == "inconclusive"


def test_a_window_that_spans_what_the_collector_missed_is_not_judged_on_it_and_is_judged_again_after(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """The collector's sampler lost the database (or a read of its duration log failed): it stopped counting for
    good, so the monitor's windows read its frozen counts as the database's, "no statement finished" (a false
    alarm) or a slow share of nothing (a pass), and never judged again once the database was back. A window
    that spans a sample it missed is inconclusive with the collector's reason; once out of the window, judged."""
    live, gaps = [(0, 0)], [(0, 0)]
    monitor, clock, db, run = _database_monitor(tmp_path, lambda: live[0], lambda: gaps[0])
    db.measurement.add_sample(1.0, 0)
    slow, queries = "db_query_slow rate<0.05", "db_queries rate>5"

    def rows_at(t: float, statements: int, lost: tuple[int, int]) -> dict[str, dict[str, object]]:
        clock[0], live[0], gaps[0] = t, (statements, 0), lost
        monitor.tick(run)  # type: ignore[arg-type]
        assert monitor.last is not None
        return {row["threshold"]: dict(row) for row in monitor.last["thresholds"]}

    monitor.tick(run)  # type: ignore[arg-type]
    for t in range(1, 12):  # 100 statements a second, none slow
        rows = rows_at(t, 100 * t, (0, 0))
    assert {k: r["state"] for k, r in rows.items()} == {slow: "pass", queries: "pass"}
    # the database goes away at 12 s: the counts stop, each sample the collector misses is counted
    db.measurement.lost = "the collector lost the database (connection refused): check that the database is up"
    for t in range(12, 16):
        rows = rows_at(t, 1100, (t - 11, 0))
        assert {r["state"] for r in rows.values()} == {"inconclusive"}, rows
    for row in rows.values():
        assert "the collector missed 4 samples of the statements in this window" in str(row["message"])
        assert "connection refused" in str(row["message"]) and "judged again once" in str(row["message"])
    assert monitor.last is not None and monitor.last["status"] == "no_data"
    assert "connection refused" in monitor.last["reason"]
    # back at 16 s: judged again once the window no longer holds the samples it missed (10 s and a slice later)
    states = []
    for t in range(16, 30):
        rows = rows_at(t, 1100 + 100 * (t - 15), (4, 0))
        states.append({k: r["state"] for k, r in rows.items()})
    assert states[0] == {slow: "inconclusive", queries: "inconclusive"}
    assert states[-1] == {slow: "pass", queries: "pass"}, states
    # a read of the duration log that failed leaves db_query_slow unknown in its window, db_queries judged
    db.measurement.slow_lost = "the collector could not read the duration log (permission denied): check ..."
    rows = rows_at(30, 2600, (4, 1))
    assert rows[queries]["state"] == "pass" and rows[slow]["state"] == "inconclusive", rows
    assert "missed 1 read of the duration log" in str(rows[slow]["message"])


def test_a_stopped_monitors_status_says_so_and_keeps_its_last_rows() -> None:
    from loadorch.monitor.status import stopped

    doc = status_doc(("mon-1", "p", "s"), [_result("pass")], 60.0, 60.0, True, "t1", "t0", 60.0)
    ended = stopped(doc, "t2")
    assert (ended["status"], ended["updated"], ended["thresholds"]) == ("stopped", "t2", doc["thresholds"])
    assert "stopped" in status_page(ended, 10.0) and doc["status"] == "ok"


def test_a_monitor_keeps_judging_a_budget_marked_abort_on_fail(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A profile shared with load tests: its abort_on_fail budget stopped the monitor at the first breach
    (stop_reason aborted, exit 1, a second after it started) instead of reporting and alerting on it."""
    from loadorch.config.resolve import build
    from loadorch.run.monitor import monitor_config

    from .test_config import BASE_PROFILE, make

    make(tmp_path, profile=BASE_PROFILE + 'thresholds:\n  http_req_failed: [{threshold: "rate<0.01", '
                                          'abort_on_fail: true}]\n  http_req_duration: ["p(95)<300"]\n')
    cfg = build("p", str(tmp_path), {})
    assert [t.abort_on_fail for t in cfg.thresholds] == [True, False]
    watched = monitor_config(cfg)
    assert [t.abort_on_fail for t in watched.thresholds] == [False, False]
    assert [t.key for t in watched.thresholds] == [t.key for t in cfg.thresholds]
    assert watched.warnings[-1] == ("abort_on_fail does not apply to a monitor (it keeps judging and alerting): "
                                    "http_req_failed rate<0.01")


def test_a_monitor_of_users_without_think_time_says_it_is_a_load_test(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A closed model with no think time runs its users back to back for days: said, with the fix; a user with
    think time, or an open model (a fixed arrival rate), is a check and says nothing."""
    from loadorch.config.resolve import build
    from loadorch.run.monitor import monitor_config

    from .test_config import BASE_PROFILE, BASE_SCENARIO, make

    make(tmp_path)
    said = [w for w in monitor_config(build("p", str(tmp_path), {})).warnings if "think time" in w]
    assert said == ["user u has no think time: in a monitor each of its users sends its next request as soon as the "
                    "last is answered, for as long as the monitor runs (a load test, not a check); give it "
                    "think_time, or the profile load.arrival_rate (a fixed rate of checks)"]
    make(tmp_path, BASE_SCENARIO.replace("  - name: u\n", "  - name: u\n    think_time: 5\n"))
    assert not [w for w in monitor_config(build("p", str(tmp_path), {})).warnings if "think time" in w]
    make(tmp_path, profile=BASE_PROFILE.replace("{users: 4, duration: 30s}",
                                                "{arrival_rate: 1, duration: 30s, max_users: 4}"))
    assert not [w for w in monitor_config(build("p", str(tmp_path), {})).warnings if "think time" in w]


@pytest.mark.parametrize("edges", [(), (50_000, 500_000)])  # lean; with live metrics (each request checked)
def test_a_monitors_evidence_is_its_windows_slowest_not_the_slowest_since_it_started(monkeypatch, edges) -> None:  # type: ignore[no-untyped-def]
    """A monitor's gate judges its window (the last one to two generations), but its K slowest were the run's:
    a spike in its first minute stayed the evidence for days, and the worker's floor (the fifth slowest so far)
    kept every later request from being asked, so a later breach had no slow request of its own to show. Each
    generation now starts its K slowest afresh, on the master and on the worker (with the request paths' cached
    floors), on the same boundaries."""
    from types import SimpleNamespace

    import loadorch.client.vu as vu_module
    from loadorch.client.vu import VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.generations import generation_slots
    from loadorch.traffic.request import Outcome, compile_request

    clock = [0.0]
    monkeypatch.setattr(vu_module, "time", SimpleNamespace(time=lambda: clock[0]))  # a simulated clock
    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec = Recorder(1.0, 0.0, edges, sub_bits=MONITOR_SUB_BITS)
    rec.exemplar_slots = generation_slots(60.0, 1.0)  # as the worker of a monitor with a 1-minute window
    master, whole = Merged(1.0), Merged(1.0)
    master.roll_timelines(60.0)
    master.sub_bits = whole.sub_bits = MONITOR_SUB_BITS
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    for n in range(300):  # one request a second for five minutes
        clock[0] = n + 0.5
        d = 900_000 if n < 5 else 300_000 if n == 200 else 40_000 + (n * 7919) % 20_000  # a spike, then one slow
        vu.record(req, Outcome(200, True, None, d, "/a", waiting_us=d // 2, connecting_us=0, tls_us=0,
                               receiving_us=d // 4))
        if n % 5 == 4:  # a report every 5 s
            delta = rec.take_delta()
            master.add_delta(0, delta)
            whole.add_delta(0, delta)
    window = master.judged_view()  # minutes 3 and 4: what the final artifacts and live thresholds judge
    assert window.judged_from_s == 180.0
    kept = [r[3] for r in window.exemplars.rows()]
    assert len(kept) == 5 and kept[0] == 300_000 and 900_000 not in kept, kept  # minute 3's, not minute 0's
    assert all(d >= 40_000 for d in kept)
    assert [r[3] for r in Merged.from_json(master.to_json()).exemplars.rows()] == kept  # results.json's
    assert [r[3] for r in whole.exemplars.rows()] == [900_000] * 5  # a run's master: its K slowest of the run


def test_a_monitors_latency_breach_measured_by_a_saturated_generator_is_not_failing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A run makes a latency breach measured by a saturated or starved generator inconclusive (exit 6, never 1);
    the monitor judged its window with no regard to the generator: a busy machine's late event loop read as the
    target's latency, `failing` and an alert. The master's snapshot now carries its load reports from a limited
    worker, windowed like the rest: a breach in such a window is inconclusive and the status never ok, and once
    those reports leave the window the breach fails again."""
    rig = _Rig(tmp_path, '  http_req_duration: ["p(95)<300"]\n  http_req_failed: ["rate<0.5"]\n')
    monitor = rig.monitor

    def status_at(t: int, ms: int, limited: list[int]) -> tuple[str, list[str]]:
        return rig.status_at(t, 10, ms, limited)

    assert status_at(1, 50, [0, 4]) == ("ok", ["pass", "pass"])
    assert status_at(2, 900, [1, 8]) == ("no_data", ["inconclusive", "pass"])  # slow, from a starved worker
    assert monitor.last is not None and "1 of the window's 8 load reports" in (monitor.last["generator"] or "")
    assert status_at(3, 50, [1, 12]) == ("no_data", ["inconclusive", "pass"])  # still in the window
    for t in range(4, 13):
        status_at(t, 50, [1, 4 * t])
    assert status_at(13, 900, [1, 52]) == ("failing", ["fail", "pass"])  # the limited reports left the window
    assert monitor.last is not None and monitor.last["generator"] is None


def test_the_status_page_says_why_a_window_is_not_ok_and_the_fix_as_status_json_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A window whose latencies came partly from a starved generator is never ok: status.json said no_data with the
    reason in `generator`, but the page showed `no_data` above rows that all passed, with no word of why; and a row
    inconclusive for too few samples said so without the fix. Both now carry the reason and the fix (`reason`, each
    row's `fix`), and the page shows the same words."""
    import html as html_

    rig = _Rig(tmp_path, '  http_req_duration: ["p(95)<300"]\n  "http_req_duration{name:post}": ["p(95)<300"]\n')
    monitor = rig.monitor
    assert rig.status_at(1, 10, 50, [1, 4]) == ("no_data", ["pass", "no_data"])
    doc = monitor.last
    assert doc is not None and doc["generator"] is not None
    page = status_page(doc, 1.0)
    assert doc["reason"].startswith("generator limited: 1 of the window's 4 load reports came from a saturated or "
                                    "starved worker"), doc["reason"]
    assert "more workers (`workers:`), a quieter machine or a lower rate" in doc["reason"]
    other = doc["thresholds"][1]
    assert other["fix"].startswith("nothing in the window matched it: check the selector's tags")
    assert f"{other['threshold']}: {other['message']}: {other['fix']}" in doc["reason"]
    assert doc["thresholds"][0]["fix"] == ""  # a pass needs none
    for text in (doc["reason"], other["fix"]):
        assert html_.escape(text) in page, text
    assert "<p id=why><strong>Why:</strong> generator limited: " in page
    few = status_doc(("m", "p", "s"), [_result("inconclusive", 1234.5, "inconclusive: p(75) needs at least 100 "
                                               "samples, got 5; p(75)=1234.5ms")], 60.0, 60.0, True, "t1", "t0", 60.0)
    (row,) = few["thresholds"]
    assert row["fix"].startswith("send more of these requests within the window") and "lower min_samples" in row["fix"]
    assert few["status"] == "no_data" and row["fix"] in few["reason"] and "needs at least 100 samples" in few["reason"]
    assert html_.escape(few["reason"]) in status_page(few, 1.0)
    ok = status_doc(("m", "p", "s"), [_result("pass")], 60.0, 60.0, True, "t1", "t0", 60.0)
    assert ok["status"] == "ok" and ok["reason"] == "" and "id=why" not in status_page(ok, 1.0)


def test_a_window_that_lost_its_slices_to_a_stall_is_not_full() -> None:
    """A controller that read nothing for longer than the window (a stalled or paused process): the slice that
    spans the stall began before the window and left it whole, so the window judged a moment, yet said
    window_full (judged_s 0): full now means it spans at least window - slice, as it does when reads come."""
    src, w = Source(), RollingWindow(10.0, 5, start=0.0)
    for t in range(0, 21):
        w.observe(float(t), src.add(100))
    win = w.window(20.5, src.add())
    assert win.full and win.seconds >= 8.0
    w.observe(35.0, src.add(100))  # 15 s later
    win = w.window(35.0, src.add())
    assert win.seconds < 1.0 and not win.full
    for t in range(36, 46):
        w.observe(float(t), src.add(100))
    win = w.window(45.0, src.add())
    assert win.seconds == 10.0 and win.full


def test_a_count_a_window_not_yet_full_falls_short_of_is_inconclusive_not_failing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`http_reqs count>=50` over a 10 s window of 10 checks a second: at the monitor's start its window held a
    second or two, so the count fell short and the status said failing (and the alert fired) at every start, the
    target answering every check. Until the window is full a count's lower limit not met yet is inconclusive;
    once full, a count short of it fails as before, and an upper limit (`count<N`) is judged as always."""
    rig = _Rig(tmp_path, '  http_reqs: ["count>=50"]\n  "http_reqs{name:get}": ["count<200"]\n')
    monitor = rig.monitor

    def status_at(t: int, per_second: int) -> tuple[str, list[str]]:
        return rig.status_at(t, per_second, 50, [0, t])

    assert status_at(1, 10) == ("no_data", ["inconclusive", "pass"])  # 10 of a second: the window is not full
    assert monitor.last is not None and "the window holds 1s of its 10s so far" in monitor.last["thresholds"][0]["message"]
    for t in range(2, 10):
        status_at(t, 10)
    assert status_at(10, 10) == ("ok", ["pass", "pass"])  # a full window: 10 a second for 10 s
    for t in range(11, 21):
        status_at(t, 2)  # the checks slow down to 2 a second
    assert monitor.last is not None and monitor.last["window_full"]
    assert status_at(21, 2) == ("failing", ["fail", "pass"])

class _Rig:
    """A monitor judging a master's snapshot written by hand, on a clock of its own: a 10 s window of 5 slices,
    min_samples 5, the profile's `thresholds` (YAML lines under `thresholds:`); windows start at 0."""

    def __init__(self, tmp_path: Path, thresholds: str) -> None:
        from types import SimpleNamespace

        from loadorch.config.resolve import build
        from loadorch.run.monitor import Monitor
        from loadorch.traffic.redact import Redactor

        from .test_config import BASE_PROFILE, make

        make(tmp_path, profile=BASE_PROFILE + "min_samples: 5\nmonitor: {window: 10s, slices: 5, status_every: 1s}\n"
             + "thresholds:\n" + thresholds)
        self.path = tmp_path / "snapshot.json"
        self.clock = [0.0]
        self.monitor = Monitor(build("p", str(tmp_path), {}), str(tmp_path), None, clock=lambda: self.clock[0])
        self.monitor.snapshot_path = str(self.path)
        self.run = SimpleNamespace(sink=None, db=None, redactor=Redactor([]), live_labels=("mo", "p", "s"),
                                   lost_workers={})
        self.master = Merged(30.0)
        self.master.roll_timelines(10.0)
        self.master.sub_bits = MONITOR_SUB_BITS
        self.rec = Recorder(30.0, 0.0, sub_bits=MONITOR_SUB_BITS)
        self.key = SeriesKey("u", "get", "read", "GET", 200, True)
        self.monitor.tick(self.run)  # type: ignore[arg-type]  # starts the windows at 0

    def status_at(self, t: int, requests: int, ms: int, limited: list[int]) -> tuple[str, list[str]]:
        """`requests` of `ms` each at second `t`, the master's snapshot with `limited` (its limited load reports,
        of all), judged at `t`: the status and each threshold's state."""
        for _ in range(requests):
            self.rec.record(self.key, ms * 1000, at=float(t))
        self.master.add_delta(0, self.rec.take_delta())
        snapshot = {"at": 0.0, "merged": self.master.judged_json(), "limited_reports": limited}
        self.path.write_text(json.dumps(snapshot))
        self.clock[0] = float(t)
        assert self.monitor.tick(self.run)  # type: ignore[arg-type]
        assert self.monitor.last is not None
        return self.monitor.last["status"], [row["state"] for row in self.monitor.last["thresholds"]]


def test_browser_journeys_not_running_keep_the_status_from_ok_and_say_why() -> None:
    """A monitor whose browser workers failed read `ok` on its HTTP budgets alone, and a browser budget's
    no-data row told the user to check its selector's tags."""
    from loadorch.browser.sink import BrowserSink
    from loadorch.run.monitor import browser_down
    from loadorch.traffic.redact import Redactor

    sink = BrowserSink("127.0.0.1", 0, "t", 1.0)
    try:
        redactor = Redactor(["s3cr3t-token"])
        assert browser_down(sink, redactor) is None
        sink.hello |= {0, 1, 2, 3}
        sink.done.add(2)  # said done, its connection still open: the monitor is stopping
        assert browser_down(sink, redactor) is None
        sink.gone.add(1)  # its connection closed without `done`: killed
        sink.gone |= {3}
        sink.done |= {3}  # done and gone before any signal: its Chromium closed, its pages' journeys with it
        sink.errors[0] = "Chromium exited at start (code 1): s3cr3t-token " + "x" * 1000
        why = browser_down(sink, redactor)
    finally:
        sink.close()
    assert why is not None and why.startswith("browser worker 0: Chromium exited at start (code 1): ***")
    assert "s3cr3t" not in why and len(why) < 450, why
    assert why.endswith("; browser worker 1 stopped reporting; browser worker 3 ended (its Chromium gone?)"), why
    http = ThresholdResult.of(Threshold(parse_selector("http_req_failed"), parse_expression("rate<0.1")), 0.0, 50,
                              0.0, PASS, "rate=0", "")
    lcp = ThresholdResult.of(Threshold(parse_selector("browser_web_vital_lcp"), parse_expression("p(75)<2500")),
                             None, 0, 0.0, FAIL, "no data: no page view measured browser_web_vital_lcp", "")
    assert status_doc(("m", "p", "s"), [http], 60.0, 60.0, True, "t1", "t0", 60.0)["status"] == "ok"
    doc = status_doc(("m", "p", "s"), [http], 60.0, 60.0, True, "t1", "t0", 60.0, browser=why)
    assert doc["status"] == "no_data" and doc["browser"] == why
    assert doc["reason"] == f"browser journeys not running: {why}: {BROWSER_FIX}"
    assert "browser journeys not running" in status_page(doc, 1.0)
    doc = status_doc(("m", "p", "s"), [http, lcp], 60.0, 60.0, True, "t1", "t0", 60.0, browser=why)
    assert doc["thresholds"][1]["state"] == "no_data" and doc["thresholds"][1]["fix"] == BROWSER_FIX
    assert doc["thresholds"][0]["fix"] == ""
    failed = replace(http, verdict=FAIL, observed=0.5)  # a budget measured failing still fails
    assert status_doc(("m", "p", "s"), [failed], 60.0, 60.0, True, "t1", "t0", 60.0, browser=why)["status"] == "failing"


def test_load_workers_lost_keep_the_status_from_ok_and_say_which() -> None:
    """A monitor that lost a load worker read `ok` on the rest of its load for good: the lost workers are said
    (bounded), the status is never ok again, and a budget measured failing still fails."""
    from loadorch.monitor.status import WORKERS_FIX
    from loadorch.run.monitor import workers_lost

    assert workers_lost({}) is None
    lost = {i: f"worker {i} lost at {i}.5s: its process is gone" for i in (7, 1, 3, 5, 2)}
    said = workers_lost(lost)
    assert said == ("worker 1 lost at 1.5s: its process is gone; worker 2 lost at 2.5s: its process is gone; "
                    "worker 3 lost at 3.5s: its process is gone; and 2 more worker(s)"), said
    http = ThresholdResult.of(Threshold(parse_selector("http_req_failed"), parse_expression("rate<0.1")), 0.0, 50,
                              0.0, PASS, "rate=0", "")
    doc = status_doc(("m", "p", "s"), [http], 60.0, 60.0, True, "t1", "t0", 60.0, workers=said)
    assert doc["status"] == "no_data" and doc["workers"] == said and doc["browser"] is None
    assert doc["reason"] == f"load workers lost: {said}: {WORKERS_FIX}"
    assert doc["thresholds"][0]["state"] == "pass"  # what the other workers send is judged
    failed = replace(http, verdict=FAIL, observed=0.5)
    assert status_doc(("m", "p", "s"), [failed], 60.0, 60.0, True, "t1", "t0", 60.0, workers=said)["status"] == "failing"
