"""A worker batches the common request's samples and folds them once per slot: the delta it sends must be
exactly what recording every sample into every table one by one gives."""

from __future__ import annotations

import json
import random

import pytest

from loadorch.stats.histogram import EXACT_BELOW, Histogram
from loadorch.stats.tables import Merged, Recorder, SeriesKey


@pytest.mark.parametrize("seed", range(5))
def test_histogram_of_values_is_recording_each(seed: int) -> None:
    rng = random.Random(seed)
    spread = [0, 1, 5, EXACT_BELOW - 1, EXACT_BELOW, 10**6, 2**40]
    values = [rng.choice(spread) + rng.randrange(-3, 3000) for _ in range(rng.randrange(1, 400))]
    one_by_one = Histogram()
    for v in values:
        one_by_one.record(v)
    assert Histogram.of(values).to_json() == one_by_one.to_json()
    small = [rng.randrange(0, EXACT_BELOW) for _ in range(50)]  # the all-exact path (counted in C)
    each = Histogram()
    for v in small:
        each.record(v)
    assert Histogram.of(small).to_json() == each.to_json()
    assert Histogram.of([]).to_json() == Histogram().to_json()


def _unbatched(interval_s: float, t0: float) -> Recorder:
    """A recorder that takes the one-by-one path for every sample (what the batch must equal)."""
    rec = Recorder(interval_s, t0)
    rec._lean = False
    rec.record_timings = _timings_one_by_one(rec)  # type: ignore[method-assign]
    return rec


def _timings_one_by_one(rec: Recorder):  # type: ignore[no-untyped-def]
    def record(key: SeriesKey, waiting_us: int, connecting_us: int, at: float = 0.0) -> None:
        rec.timings.setdefault(("waiting", key), Histogram()).record(waiting_us)
        rec.timings.setdefault(("connecting", key), Histogram()).record(connecting_us)

    return record


@pytest.mark.parametrize("seed", range(4))
def test_batched_deltas_equal_recording_every_sample(seed: int) -> None:
    rng = random.Random(seed)
    keys = [
        SeriesKey("u", name, "read" if name.startswith("get") else "write", method, status, ok)
        for name, method in (("get a", "GET"), ("get b", "GET"), ("post", "POST"))
        for status, ok in ((200, True), (500, False))
    ]
    batched, plain = Recorder(1.0, 50.0), _unbatched(1.0, 50.0)
    merged_batched, merged_plain = Merged(1.0), Merged(1.0)
    at = 49.5  # before t0 too: slot 0, like the first requests of a worker whose clock runs a little ahead
    for _ in range(6):  # reports
        for _sample in range(rng.randrange(0, 600)):
            at += rng.random() * 0.02
            if rng.random() < 0.05:
                at -= rng.random() * 1.5  # completion times out of order, across slots
            key = rng.choice(keys)
            latency = rng.choice([rng.randrange(0, 3000), rng.randrange(0, 10**7)])
            error = None if key.ok or rng.random() < 0.5 else "status 500"
            for rec in (batched, plain):
                rec.record(key, latency, at, error)
                if key.ok:
                    rec.record_timings(key, latency // 2, latency % 7, at)
        for rec, merged in ((batched, merged_batched), (plain, merged_plain)):
            assert rec.total == plain.total
            merged.add_delta(0, rec.take_delta())
    assert json.dumps(merged_batched.to_json()) == json.dumps(merged_plain.to_json())
    assert merged_batched.per_worker == merged_plain.per_worker


@pytest.mark.parametrize("before", [0.5, 1.5, 2.5])
def test_samples_before_t0_go_to_the_first_slot(before: float) -> None:
    """A worker whose clock is a little behind the master's records requests before t0: they belong to
    slot 0 (a negative slot would get the whole report refused by the master)."""
    rec = Recorder(1.0, 100.0)
    key = SeriesKey("u", "get", "read", "GET", 200, True)
    rec.record(key, 500, 100.0 - before)
    rec.record(key, 700, 100.2)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    assert [row[0] for row in merged.to_json()["intervals"]] == [0] and merged.total == 2


def test_a_time_split_batch_gives_its_timings_once_across_slots_and_deltas() -> None:
    """A kept-alive request the lean client adds to its series' time split batch (client/vu.py) is not also
    given to record_timings: the batch carries its waiting (and connect 0) into the timings, exactly once,
    whether slots change (a fold) or a delta is taken in between."""
    key = SeriesKey("u", "get", "read", "GET", 200, True)
    batched, plain = Recorder(1.0, 0.0), Recorder(1.0, 0.0)
    merged_batched, merged_plain = Merged(1.0), Merged(1.0)
    rng = random.Random(7)
    at = 0.0
    for _ in range(3):  # deltas
        for _ in range(500):
            at += 0.01  # a new slot every 100 requests: folds between deltas
            latency = rng.randrange(100, 90_000)
            waiting, receiving = latency * 3 // 4, latency // 8
            for rec in (batched, plain):
                rec.record(key, latency, at)
            batch = batched.split_batch(key)  # its name admitted by record, as in a request path
            assert batch is not None
            batch += (latency, waiting, receiving)
            plain.record_split(key, latency, (0, 0, waiting, receiving), at)
            plain.record_timings(key, waiting, 0, at)
        merged_batched.add_delta(0, batched.take_delta())
        merged_plain.add_delta(0, plain.take_delta())
    got, want = merged_batched.to_json(), merged_plain.to_json()
    assert got["timings"] and got["splits"] and json.dumps(got) == json.dumps(want)
