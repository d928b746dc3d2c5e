"""A worker's stats delta on the wire (stats/delta.py): exact, keys by id, and refused whole when malformed."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest

from loadorch.config.resolve import build
from loadorch.run.plan import build_plan
from loadorch.runtime import masterstate
from loadorch.runtime.masterstate import MasterState
from loadorch.stats.delta import decode_keys, merge_packed, pack_table, unpack_table
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.wire import LOST_AFTER_S, SILENT_NOTE_S, STUCK_AFTER_S, StatsMessage, WorkerStuck

from .test_config import BASE_SCENARIO, make

A = SeriesKey("u", "get", "read", "GET", 200, True)
B = SeriesKey("u", "post", "write", "POST", 500, False)
C = SeriesKey("u", "get", "read", "GET", 404, False)


def record(rec: Recorder, keys: list[SeriesKey], at: float = 0.5, n: int = 30) -> Recorder:
    for i in range(n):
        for j, key in enumerate(keys):
            us = 700 + 1_913 * i * (j + 1)
            rec.record(key, us, at, error=None if key.ok else "HTTP 500", example=None if key.ok else "oops")
            if key.ok:
                rec.record_timings(key, us // 2, i % 3, at)
            rec.record_checks(key, ["status"], [key.ok], None if key.ok else "body", at)
    return rec


def locust_wire(data: Any) -> Any:
    """A message's data as Locust's rpc carries it (locust/rpc/protocol.py: msgpack.dumps of (type, data,
    node), loads with raw=False, strict_map_key=False), without importing Locust: that would patch this
    test process with gevent (and hang pytest-xdist's worker threads)."""
    raw = msgpack.dumps(("lo_stats", data, "w0"))
    return msgpack.loads(raw, raw=False, strict_map_key=False)[1]


def through_the_wire(delta: Any) -> Any:
    """As the master gets it: Locust's msgpack, then the declared type."""
    fields = {"index": 0, "token": "t", "seq": 1, "delta": delta, "cpu": 1.0, "users": 1, "spawned": 1,
              "done": False, "final": False, "total": 1}
    return StatsMessage.model_validate(locust_wire(StatsMessage(**fields).to_wire())).delta


def test_a_packed_table_merges_exactly_like_the_histograms_themselves() -> None:
    a = Histogram.of([0, 7, 2047, 2048, 5_000, 5_001, 123_456, 10**9, 5_000])
    b = Histogram.of([3, 90_000, 10**12])
    packed = unpack_table(pack_table([(1, a), (0, b), (1, b)]), 2)
    targets = [Histogram.of([5]), Histogram()]
    expected = [Histogram.of([5]).merge(b), Histogram().merge(a).merge(b)]
    assert merge_packed([targets[i] for i in packed.ids], packed) == a.count + 2 * b.count
    assert [h.to_json() for h in targets] == [h.to_json() for h in expected]
    assert merge_packed([], unpack_table(pack_table([]), 0)) == 0  # an empty table (a second without requests)
    empty = Merged(1.0)
    empty.add_delta(0, through_the_wire(Recorder(1.0, 0.0).take_delta()))
    assert empty.per_worker == {0: 0} and empty.series == {}


def test_series_keys_keep_their_ids_and_the_master_decodes_them_once_per_worker() -> None:
    rec = Recorder(1.0, 0.0)
    first = record(rec, [A]).take_delta()
    second = record(rec, [A, B]).take_delta()  # a new key: the keys grow, A keeps its id
    third = record(rec, [B, A]).take_delta()
    assert json.loads(first["keys"]) == [list(A)] and json.loads(second["keys"])[:1] == [list(A)]
    assert third["keys"] == second["keys"]
    merged, decoded = Merged(1.0), []
    for delta in (first, second, third):
        merged.add_delta(0, through_the_wire(delta))
        decoded.append(merged.worker_keys[0][1])
    assert decoded[1] is decoded[2] and decoded[0] is not decoded[1]  # the same bytes: not decoded again
    direct = Merged(1.0)
    for keys in ([A], [A, B], [B, A]):
        direct._add_rows(record(Recorder(1.0, 0.0), keys).rows(ordered=False), in_steps=False)
    assert merged.to_json()["series"] == direct.to_json()["series"] and merged.per_worker == {0: 150}


def test_workers_and_a_restarted_worker_with_other_ids_merge_into_the_same_series() -> None:
    """Ids are a worker's own: two workers, or one worker restarted (same index, ids in another order), sum
    into the same series by key."""
    merged, direct = Merged(1.0), Merged(1.0)
    for worker, keys in ((0, [A, B, C]), (1, [C, B, A]), (0, [B, C, A])):  # the last: worker 0 started again
        merged.add_delta(worker, through_the_wire(record(Recorder(1.0, 0.0), keys).take_delta()))
        direct._add_rows(record(Recorder(1.0, 0.0), keys).rows(ordered=False), in_steps=False)
    assert json.dumps(merged.to_json()["series"]) == json.dumps(direct.to_json()["series"])
    assert json.dumps(merged.to_json()["timings"]) == json.dumps(direct.to_json()["timings"])
    assert merged.errors == direct.errors and merged.checks == direct.checks
    assert merged.per_worker == {0: 180, 1: 90}


def _histogram(buckets: dict[int, int]) -> Histogram:
    h = Histogram.of(list(buckets))
    h.buckets = dict(buckets)
    return h


def _corrupt(blob: bytes, at: int, value: int, size: int = 4) -> bytes:
    return blob[:at] + value.to_bytes(size, "little", signed=True) + blob[at + size :]


def malformed(good: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Ways a delta can be broken, each in one place (most of them late in the delta: nothing merged before)."""
    series = good["series"]
    n = int.from_bytes(series[:8], "little")
    ids_at, ones_at, mins_at = 8 + 24 * n, 8 + 28 * n, 8 + 8 * n
    waiting = dict(good["timings"])["waiting"]
    return {
        "truncated table": {**good, "timings": [["waiting", waiting[:-4]]]},
        "id beyond the keys": {**good, "series": _corrupt(series, ids_at, 99)},
        "sizes that do not add up": {**good, "series": _corrupt(series, ones_at, 1000)},
        "a row without samples": {**good, "db": pack_table([(0, Histogram())])},
        "a bucket counted 0": {**good, "db": pack_table([(0, _histogram({5: 0, 6: 2}))])},
        "min above max": {**good, "series": _corrupt(series, mins_at, 10**15, 8)},
        "negative min": {**good, "series": _corrupt(series, mins_at, -1, 8)},
        "keys not JSON": {**good, "keys": b"[[\"u\""},
        "a key of five": {**good, "keys": json.dumps([["u", "get", "read", "GET", 200]]).encode()},
        "a key with a string status": {**good, "keys": json.dumps([["u", "get", "read", "GET", "200", True]]).encode()},
        "errors name a missing key": {**good, "errors": [[7, "HTTP 500", 1]]},
        "negative error count": {**good, "errors": [[0, "HTTP 500", -3]]},
        "unknown timing": {**good, "timings": [["dns", waiting]]},
        "negative slot": {**good, "endpoint_intervals": [[-1, good["endpoint_intervals"][0][1]]]},
        "interval key of two": {**good, "intervals": [[[0, "read"]], good["intervals"][1]]},
        "interval rows beyond their keys": {**good, "intervals": [[], good["intervals"][1]]},
        "checks with a negative count": {**good, "checks": [["u", "get", "read", "GET", "status", -1, 0, None]]},
        "le counts not numbers": {**good, "le": [[0, ["many"]]]},
        "not bytes": {**good, "window": "0000"},
    }


def test_a_malformed_delta_is_refused_whole_and_nothing_of_it_is_merged() -> None:
    good = record(Recorder(1.0, 0.0, edges_us=(1000,), window=((0.0, 10.0),)), [A, B]).take_delta()
    good = msgpack.loads(msgpack.dumps(good), raw=False)  # lists, as the master gets them
    merged = Merged(1.0)
    merged.add_delta(0, good)
    before = json.dumps(merged.to_json())
    for what, broken in malformed(good).items():
        with pytest.raises(ValueError):
            merged.add_delta(0, broken)
            pytest.fail(f"{what}: merged")
        assert json.dumps(merged.to_json()) == before, what
    merged.add_delta(0, good)  # and the next good one still merges
    assert merged.per_worker == {0: 120}


def test_the_master_refuses_a_malformed_report_says_so_and_merges_the_next(tmp_path: Path) -> None:
    state = _one_worker_master(tmp_path)
    good = record(Recorder(1.0, 0.0), [A, B]).take_delta()
    _load_report(state, 1, {**good, "errors": [[9, "HTTP 500", 1]]}, total=60)
    _load_report(state, 1, {**good, "series": b"short"}, total=60)
    assert state.merged.total == 0 and state.workers[0].seq == 0 and state.lag.lags.count == 0
    assert [r.split(": ", 1)[1] for r in state.rejected] == [
        "stats report 1 of worker 0: errors: a row names a series key the delta does not have, ignored",
        "stats report 1 of worker 0: series: not a packed table, ignored",
    ]
    _load_report(state, 1, good, total=60)
    assert state.merged.total == 60 and state.merged.per_worker == {0: 60} and state.workers[0].seq == 1
    assert state.ok_by_kind["read"].count == 30 and "write" not in state.ok_by_kind


def test_decode_keys_refuses_what_is_not_a_list_of_series_keys() -> None:
    assert decode_keys(json.dumps([list(A)]).encode(), SeriesKey._make) == [A]
    for bad in (b"{}", b"[1]", b'[["u"]]', b"\xff", "[]", b"[" * 100_000):
        with pytest.raises(ValueError):
            decode_keys(bad, SeriesKey._make)


def _one_worker_master(tmp_path: Path) -> MasterState:
    """The master's state of a 2-user, 1-worker run, its worker said hello."""
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 2, duration: 10s}\nworkers: 1\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    state.on_hello("w0", {"index": 0, "token": "tok"})
    return state


def _load_report(state: MasterState, seq: int, delta: Any, **fields: Any) -> None:
    """Worker 0's stats report `seq` as it travels (`fields` over its defaults: 2 users, CPU 1 %)."""
    wire = {"index": 0, "token": "tok", "seq": seq, "delta": delta, "cpu": 1.0, "users": 2, "spawned": 2,
            "done": False, "final": False, "total": 0, "sent_at": 1.0, **fields}
    state.on_stats("w0", locust_wire(StatsMessage(**wire).to_wire()))


def test_cpu_reported_while_the_users_unwind_is_no_saturation_sample(tmp_path: Path) -> None:
    """After the stop a worker spends its CPU killing users and closing connections (seconds at 10,000 users):
    those reports say `stopping`, and their CPU does not count towards the saturation check."""
    state = _one_worker_master(tmp_path)
    delta = Recorder(1.0, 0.0).take_delta()
    for seq, (cpu, stopping) in enumerate([(40.0, False)] * 4 + [(99.0, True)] * 3, start=1):
        _load_report(state, seq, delta, cpu=cpu, final=seq == 7, stopping=stopping)
    info = state.workers[0]
    assert info.seq == 7 and info.cpu_peak == 40.0 and info.cpu_sustained_peak == 40.0
    assert state.limited_reports == [0, 4]  # a monitor's windows: no load report from a limited worker


def test_the_master_counts_the_load_reports_of_a_saturated_or_starved_worker(tmp_path: Path) -> None:
    """What a monitor's windows judge a breach by (run/monitor.py generator_limited): each load report from a
    worker whose CPU, averaged over its last reports, is over 90 %, or whose event loop fell over 1 s behind."""
    state = _one_worker_master(tmp_path)
    delta = Recorder(1.0, 0.0).take_delta()
    counted = []
    reports = [(99.0, 0.1)] * 4 + [(40.0, 0.1)] * 3 + [(40.0, 2.5), (40.0, 0.2)]  # busy, idle, a late loop once
    for seq, (cpu, late) in enumerate(reports, start=1):
        _load_report(state, seq, delta, cpu=cpu, loop_late_s=late)
        counted.append(state.limited_reports[0])
    # saturated from the third busy report (a sustained average) until the first idle one brings it under 90 %
    assert counted == [0, 0, 1, 2, 2, 2, 2, 3, 3] and state.limited_reports[1] == len(reports)


def test_heartbeats_are_counted_while_the_load_runs_with_the_longest_silence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the master's clock is the test's: the gaps are exact, however long this process waits for a core
    now = [1000.0]
    monkeypatch.setattr(masterstate, "time", SimpleNamespace(monotonic=lambda: now[0], time=time.time))
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 2, duration: 10s}\nworkers: 2\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    state.on_hello("w0", {"index": 0, "token": "tok"})
    state.on_hello("w1", {"index": 1, "token": "tok"})
    state.on_heartbeat("w0")  # before the start: not counted
    state.on_heartbeat("stranger")  # not a worker of this run: ignored
    w0, w1 = state.workers[0], state.workers[1]
    assert w0.heartbeats == 0 and w0.heartbeat_gap_max_s is None and w0.last_heartbeat is None
    now[0] += 5.0
    state.started_mono = now[0]
    now[0] += 0.25
    state.on_heartbeat("w1")  # its first, a quarter of a second after the start (not since the one before)
    now[0] += 0.75
    state.on_heartbeat("w0")  # its first, a second after the start
    now[0] += 3.5
    state.on_heartbeat("w0")  # 3.5 s of silence
    assert w0.heartbeats == 2 and w0.heartbeat_gap_max_s == 3.5
    assert w1.heartbeats == 1 and w1.heartbeat_gap_max_s == 0.25
    now[0] += 1.0
    state.stop_reason = "duration"
    state.on_heartbeat("w0")  # after the stop: not counted
    state.end_heartbeats()  # w1 silent for the last 5.25 s before the stop, w0 for 1 s
    assert w0.heartbeats == 2 and w0.heartbeat_gap_max_s == 3.5
    assert w1.heartbeats == 1 and w1.heartbeat_gap_max_s == 5.25
    detail = {w.index: w for w in state.summary().workers.detail}
    assert detail[0].heartbeats == 2 and detail[0].heartbeat_gap_max_s == 3.5
    assert detail[1].heartbeats == 1 and detail[1].heartbeat_gap_max_s == 5.25


def test_refused_hellos_are_noted_up_to_a_bound(tmp_path: Path) -> None:
    from loadorch.runtime.masterstate import MAX_REJECTED

    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 2, duration: 10s}\nworkers: 1\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    for n in range(3 * MAX_REJECTED):  # a local process saying hello in a loop, each time wrongly
        state.on_hello(f"p{n}", [{"index": 0, "token": "bad"}, {"index": 0, "token": "tok", "x": 1}, "junk"][n % 3])
    state.on_hello("w0", {"index": 0, "token": "tok"})
    state.on_hello("w1", {"index": 5, "token": "tok"})
    assert len(state.rejected) == MAX_REJECTED and state.rejected[0] == "p0: wrong run token"
    assert sorted(state.workers) == [0] and state.workers[0].client_id == "w0"  # the real worker still gets in


def test_the_master_measures_each_workers_clock_offset_at_its_hello(tmp_path: Path) -> None:
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         "load: {users: 3, duration: 10s}\nworkers: 3\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    state.on_hello("w0", {"index": 0, "token": "tok", "clock": time.time() + 3600.0})  # an hour ahead
    state.on_hello("w1", {"index": 1, "token": "tok", "clock": time.time() - 2.5})
    state.on_hello("w2", {"index": 2, "token": "tok"})  # an older worker: no clock said
    offsets = {w.index: w.clock_offset_s for w in state.summary().workers.detail}
    assert offsets[0] == pytest.approx(3600.0, abs=0.5) and offsets[1] == pytest.approx(-2.5, abs=0.5)
    assert offsets[2] is None


def _two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: str = "{users: 2, duration: 60s}"
) -> tuple[MasterState, list[float], list[Any]]:
    """A master state on the test's monotonic clock, two workers said hello and the load started; what it
    emitted (WorkerLost events) collected."""
    now = [1000.0]
    monkeypatch.setattr(masterstate, "time", SimpleNamespace(monotonic=lambda: now[0], time=time.time))
    emitted: list[Any] = []
    monkeypatch.setattr(masterstate, "emit", emitted.append)
    make(tmp_path, BASE_SCENARIO, "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
         f"load: {load}\nworkers: 2\n")
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    state = MasterState(plan)
    state.on_hello("w0", {"index": 0, "token": "tok"})
    state.on_hello("w1", {"index": 1, "token": "tok"})
    state.started_mono = now[0]
    return state, now, emitted


def test_a_worker_whose_reports_stop_but_whose_liveness_beats_is_slow_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lost versus slow: worker 0's event loop is saturated (no report, no Locust heartbeat for 30 s) but its
    liveness thread beats every second: never lost. Worker 1 falls silent altogether (stopped): lost once
    LOST_AFTER_S has passed, not before; a beat from it after that brings it back with the silence recorded."""
    state, now, emitted = _two_workers(tmp_path, monkeypatch)
    for second in range(1, 31):
        now[0] += 1.0
        state.on_alive({"index": 0, "token": "tok", "at": 50.0 + second})
        if second <= 2:
            state.on_alive({"index": 1, "token": "tok", "at": 70.0 + second})
        state.check_lost()
        w1_lost = second - 2 >= LOST_AFTER_S
        assert (state.workers[1].lost_at_s is not None) == w1_lost, second
        assert state.workers[0].lost_at_s is None
    assert [(e.index, e.reason) for e in emitted] == [(1, f"nothing from its process for {LOST_AFTER_S:g}s")]
    assert state.workers[0].silent_s == 0.0  # a beat every second: no silence
    state.on_alive({"index": 1, "token": "tok", "at": 70.0 + 30})  # SIGCONT: it beats again
    assert state.workers[1].lost_at_s is None and state.workers[1].silent_s == 28.0
    state.on_alive({"index": 0, "token": "bad", "at": 0.0})  # not this run's: ignored
    state.on_alive({"index": 7, "token": "tok", "at": 0.0})
    state.on_alive(["junk"])
    assert state.workers[0].alive_at == 80.0


def test_a_worker_whose_event_loop_does_not_run_is_stuck_and_an_iterations_run_does_not_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker 1's liveness thread beats on while its event loop does not run (a task that blocks): the lateness it
    reports reaches the generator's peak with no report from the loop, and past STUCK_AFTER_S the worker is stuck
    (said once): an iterations run whose other workers are done ends. A loop that runs again is not stuck."""
    state, now, emitted = _two_workers(tmp_path, monkeypatch, "{users: 2, iterations: 5}")
    state.workers[0].done = True  # its users made their iterations
    for late in (0.0, 5.0, STUCK_AFTER_S - 1, STUCK_AFTER_S + 0.5, STUCK_AFTER_S + 1.5):
        now[0] += 1.0
        state.on_alive({"index": 1, "token": "tok", "at": now[0], "late": late})
        state.check_lost()
        assert state.iterations_done(False) == (late >= STUCK_AFTER_S), late
    assert state.workers[1].lost_at_s is None and state.workers[1].loop_late_max_s == STUCK_AFTER_S + 1.5
    assert [(e.index, e.behind_s) for e in emitted if isinstance(e, WorkerStuck)] == [(1, STUCK_AFTER_S + 0.5)]
    now[0] += 1.0
    state.on_alive({"index": 1, "token": "tok", "at": now[0], "late": 0.05})  # it runs again
    assert not state.workers[1].stuck and not state.iterations_done(False)
    state.on_alive({"index": 1, "token": "tok", "at": now[0] + 1})  # an older worker's beat: no lateness said
    assert not state.workers[1].stuck


def test_a_short_silence_of_the_whole_process_is_recorded_but_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beats 5 s apart by the worker's own clock (a short SIGSTOP): a silence of 5 s, under the bound; the
    master's delay in reading beats (they arrive together) is no silence of the worker."""
    state, now, _ = _two_workers(tmp_path, monkeypatch)
    state.on_alive({"index": 0, "token": "tok", "at": 10.0})
    now[0] += 6.0
    state.check_lost()
    state.on_alive({"index": 0, "token": "tok", "at": 15.0})
    for at in (16.0, 17.0, 18.0):  # read late, all at once
        state.on_alive({"index": 0, "token": "tok", "at": at})
    state.check_lost()
    info = state.workers[0]
    assert info.lost_at_s is None and info.silent_s == 5.0


def test_the_master_gives_workers_time_again_after_its_own_stall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master's own loop stalled 20 s (its queue unread): no worker is judged on that silence; and while
    reports wait to be read, nobody is lost."""
    state, now, _ = _two_workers(tmp_path, monkeypatch)
    state.check_lost()
    now[0] += 20.0
    state.check_lost()
    assert all(w.lost_at_s is None for w in state.workers.values())
    state.behind = lambda: True
    now[0] += LOST_AFTER_S
    state.check_lost()
    assert all(w.lost_at_s is None for w in state.workers.values())
    state.behind = lambda: False
    for _ in range(int(LOST_AFTER_S * 10) + 1):  # the master keeps up now: 0.1 s ticks, nothing heard
        now[0] += 0.1
        state.check_lost()
    assert all(w.lost_at_s is not None for w in state.workers.values())


def test_a_worker_whose_process_is_gone_from_this_machine_is_lost_sooner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    state, now, emitted = _two_workers(tmp_path, monkeypatch)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: no process has that pid now
    here = socket.gethostname()
    state.workers[0].pid, state.workers[0].host = dead.pid, here
    state.workers[1].pid, state.workers[1].host = os.getpid(), here  # alive (this test)
    now[0] += SILENT_NOTE_S
    state.check_lost()
    assert state.workers[0].lost_at_s is not None and state.workers[1].lost_at_s is None
    assert [(e.index, e.reason) for e in emitted] == [(0, "its process is gone")]
    state.workers[1].pid, state.workers[1].host = dead.pid, "another-machine"  # not ours to look at
    state.check_lost()
    assert state.workers[1].lost_at_s is None


def test_the_worker_takes_its_master_for_gone_only_when_its_connection_is_down_or_after_a_long_silence() -> None:
    from loadorch.runtime.alive import MASTER_DOWN_S, MASTER_SILENT_S, MASTER_SLOW_S, master_verdict

    assert master_verdict(None, 0.0, False) == "ok"
    assert master_verdict(None, MASTER_SLOW_S, False) == "slow"  # busy merging: its connection answers
    assert master_verdict(MASTER_DOWN_S - 0.5, MASTER_SLOW_S + 1, False) == "slow"  # down briefly: a reconnect
    assert master_verdict(None, MASTER_SILENT_S - 1, True) == "ok"  # its messages wait here: we are the slow one
    assert master_verdict(MASTER_DOWN_S, 0.0, False) == "gone"  # closed, refused or not answering pings
    assert master_verdict(None, MASTER_SILENT_S, False) == "gone"  # connected, but its loop silent a minute
