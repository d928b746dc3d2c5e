"""The boundary types of wire.py: a worker's delta, the master's merged tables and its event lines."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from pydantic import ValidationError

from loadorch.stats.tables import Merged, Recorder, SeriesKey, Tables
from loadorch.wire import (
    MasterSummary,
    ProgressEvent,
    StatsMessage,
    SummaryWritten,
    VuFailed,
    VuFailure,
    WorkersSummary,
    parse_event,
)

OK = SeriesKey("u", "get", "read", "GET", 200, True)
BAD = SeriesKey("u", "post", "write", "POST", 500, False)


def recorded(window: tuple[tuple[float, float], ...] = ()) -> Recorder:
    rec = Recorder(1.0, 100.0, edges_us=(1000, 5000), window=window)
    for i in range(40):
        at = 100.0 + i / 4
        rec.record(OK, 500 + 37 * i, at, service_us=400, db_queries=i % 3)
        rec.record_timings(OK, 200, 50, at)
        rec.record_checks(OK, ["status", "$.id"], [True, i % 5 != 0], "body", at)
        rec.record(BAD, 9000, at, error="HTTP 500", example="oops")
    return rec


def message(delta: Any, **over: Any) -> dict[str, Any]:
    """A `lo_stats` message as the master receives it: msgpack (Locust's transport) turns tuples into lists."""
    fields = {"index": 0, "token": "t", "seq": 1, "delta": delta, "cpu": 1.0, "users": 1, "spawned": 1,
              "done": False, "final": False, "total": 80, **over}
    out: dict[str, Any] = msgpack.loads(msgpack.dumps(fields), raw=False, strict_map_key=False)
    return out


@pytest.mark.parametrize("window", [(), ((2.0, 8.0),)])
def test_a_delta_through_the_wire_merges_like_the_delta_itself(window: tuple[tuple[float, float], ...]) -> None:
    direct, wired = Merged(1.0), Merged(1.0)
    a, b = recorded(window), recorded(window)
    direct.add_delta(0, a.take_delta())
    msg = StatsMessage.model_validate(message(StatsMessage(**message(b.take_delta())).to_wire()["delta"]))
    wired.add_delta(0, msg.delta)
    assert json.dumps(wired.to_json()) == json.dumps(direct.to_json())
    assert wired.le == direct.le and sum(wired.le[OK]) == 40
    assert (wired.window is None) == (not window)


def test_worker_and_master_tables_are_one_shape() -> None:
    """Recorder and Merged declare no table of their own: the delta and the merged JSON share the rows."""
    base = set(vars(Tables(1.0)))
    # beside the tables a Recorder keeps only its settings and a batch of samples not yet folded into them
    batch = {"slot", "_pending", "_pending_timings", "_lean", "batches", "split_batches"}
    names = {"endpoints", "folded_sent"}  # the bound on distinct request names (stats/endpoints.py)
    settings = {"t0", "spans", "edges_us", "server_timing", "sub_bits"}  # sub_bits: the judged tables' layout
    split = {"split_every", "deltas", "_holding"}  # the time split's rows every few deltas (Recorder.take_delta)
    # a monitor's worker: its K slowest restart each generation (Recorder.restart_exemplars)
    slowest = {"exemplar_slots", "exemplar_generation", "askers", "_due_exemplars"}
    assert set(vars(recorded())) - base == {*settings, "total", "registry", *batch, *names, *split, *slowest}
    assert set(vars(Merged(1.0))) - base == {"per_worker", "interval_step", "endpoint_step", "tag_table", "keys",
                                             "worker_keys", "endpoints", "worker_bounded", "sub_bits", "rolling",
                                             "oldest_slots", "rolling_slots", "split_intervals", "split_generation",
                                             "generations", "judged_from_s"}
    # ^ a monitor's layout, its rolling timelines, its time splits' and judged tables' generations
    rec = recorded(((2.0, 8.0),))
    delta = rec.take_delta()
    merged = Merged(1.0)
    merged.add_delta(3, delta)
    rows = set(merged.to_json()) - {"interval_s", "per_worker", "interval_step", "endpoint_step", "exemplar_k"}
    assert rows == set(delta) - {"total", "le", "keys"}
    assert merged.per_worker == {3: 80} and rec.series == {} and rec.window == {}  # the delta emptied the tables


def test_a_malformed_delta_is_refused_at_the_boundary() -> None:
    """The declared type refuses what is not even the shape of a delta (tests/unit/test_delta.py: the rest)."""
    good = recorded().take_delta()
    StatsMessage.model_validate(message(good))
    for broken in (
        {**good, "series": [[["u", "get"], {"count": 1}]]},  # rows of the old format: not a packed table
        {k: v for k, v in good.items() if k != "total"},
        {k: v for k, v in good.items() if k != "keys"},
        {**good, "intervals": [["soon", "read", True]]},
        {**good, "timings": [["waiting", 3]]},
    ):
        with pytest.raises(ValidationError):
            StatsMessage.model_validate(message(broken))


def test_the_summary_carries_the_merged_tables_and_a_typed_stop_reason() -> None:
    merged = Merged(1.0)
    merged.add_delta(0, recorded().take_delta())
    summary = MasterSummary(merged=merged.to_json(), t0=1.0, elapsed_s=2.0, stop_reason="duration", aborted_by=None,
                            rejected_peers=[], workers=WorkersSummary(expected=1, seen=[0], detail=[]))
    back = MasterSummary.model_validate(json.loads(json.dumps(summary.to_json())))
    assert json.dumps(Merged.from_json(back.merged).to_json()) == json.dumps(merged.to_json())
    with pytest.raises(ValidationError):
        MasterSummary.model_validate({**summary.to_json(), "stop_reason": "bored"})


def test_event_lines_round_trip_and_strangers_are_ignored() -> None:
    progress = ProgressEvent(elapsed_s=1.0, users=2, rps=3.5, requests=4, failures=0, p95_read_ms=None,
                             p95_write_ms=12.0, lost=[])
    failed = VuFailed(failure=VuFailure(worker=0, slot=1, user_class="u", error="boom"))
    written = SummaryWritten(stats_path="/s.json", final_path="/f.json")
    for event in (progress, failed, written):
        line = event.line()
        assert line.startswith('{"event":') and line.endswith("\n")
        assert parse_event(line.encode()) == event
    assert parse_event(b"some library printed this\n") is None
    assert parse_event(b'{"event": "progress", "users": 1}') is None  # a known event with fields missing
    assert parse_event(b'{"event": "gossip"}') is None


def test_the_progress_line_says_when_the_master_is_behind_its_workers() -> None:
    import io

    from loadorch.run.progress import Progress

    event = {"elapsed_s": 12, "users": 4, "rps": 100.0, "requests": 1200, "failures": 0, "p95_read_ms": 20.0,
             "p95_write_ms": None, "lost": []}
    progress = Progress(30, stream=io.StringIO())
    assert "behind" not in progress.format(ProgressEvent(**event, lag_s=0.4))
    assert "master 2.5s behind its workers" in progress.format(ProgressEvent(**event, lag_s=2.5))
