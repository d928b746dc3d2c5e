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


def test_a_request_paths_batch_makes_what_recording_each_request_makes() -> None:
    """A successful kept-alive request the lean client gives to its series' batch (Recorder.lean_batch, in
    place of record, record_timings and record_split) ends in the same delta as the three calls would make:
    its latency in the series, timeline and sparkline, its waiting and connect (0) in the timings and, with
    the evidence on, its time split; exactly once, whether slots change (a fold) or deltas are taken between
    requests, and mixed with requests that go the checked way (a failure, a new connection)."""
    ok, failed = SeriesKey("u", "get", "read", "GET", 200, True), SeriesKey("u", "get", "read", "GET", 500, False)
    for k in (5, 0):  # evidence on (the time split) and off
        batched, plain = Recorder(1.0, 0.0, exemplar_k=k), Recorder(1.0, 0.0, exemplar_k=k)
        merged_batched, merged_plain = Merged(1.0, k), Merged(1.0, k)
        rng = random.Random(7)
        at = 0.0
        for _ in range(4):  # deltas
            for _ in range(rng.randrange(1, 700)):
                at += rng.random() * 0.02  # a new slot every 100 requests or so: folds between deltas
                latency = rng.randrange(100, 90_000)
                waiting, receiving = latency * 3 // 4, latency // 8
                if rng.random() < 0.05:  # the checked way, on both sides
                    for rec in (batched, plain):
                        rec.record(failed, latency, at, "status 500")
                    continue
                plain.record(ok, latency, at)
                plain.record_timings(ok, waiting, 0, at)
                if k:
                    plain.record_split(ok, latency, (0, 0, waiting, receiving), at)
                batch = batched.lean_batch(ok)
                assert batch is not None
                if int((at - batched.t0) / batched.interval_s) != batched.slot:
                    batched.advance(at)
                batch += (latency, waiting, receiving)
            merged_batched.add_delta(0, batched.take_delta())
            merged_plain.add_delta(0, plain.take_delta())
            assert batched.total == plain.total
        got, want = merged_batched.to_json(), merged_plain.to_json()
        assert got["timings"] and len(got["intervals"]) > 5 and bool(got.get("splits")) == bool(k)
        assert json.dumps(got) == json.dumps(want)
    lean_not = Recorder(1.0, 0.0, window=((1.0, 2.0),))
    assert lean_not.lean_batch(ok) is None  # a window: every request the checked way


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("k", [0, 5])
def test_a_virtual_users_batched_requests_make_the_deltas_the_checked_way_makes(
    seed: int, k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VirtualUser.record through the recorder's batches (lean) against the same requests recorded the checked
    way (a recorder that is not lean), delta by delta: failures, new connections, a phase not timed, a query
    count, the open model (a service time: the split's own batch), no timings at all, checks, a python user's
    records on the same recorder, completion times out of order and before t0, names past a cap (OTHER), three
    users sharing their series, held and flushed time splits, and a recorder replaced for some users mid-run."""
    from loadorch.client import vu as vumod
    from loadorch.client.vu import VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.endpoints import EndpointNames
    from loadorch.traffic.request import Outcome, compile_request

    unbatched = [0]
    unbatch = Recorder._unbatch

    def counted(self: Recorder) -> None:
        unbatched[0] += 1
        unbatch(self)

    monkeypatch.setattr(Recorder, "_unbatch", counted)
    now = [0.0]
    monkeypatch.setattr(vumod.time, "time", lambda: now[0])
    reqs = [compile_request(Endpoint.model_validate({"name": f"n{i}", "path": f"/{i}"}), f"n{i}", "read", set(), {})
            for i in range(6)]
    t0, limit = 100.0, random.Random(seed).choice([None, 2, 4])

    def recorder(lean: bool) -> Recorder:
        rec = Recorder(1.0, t0, endpoints=EndpointNames(limit), exemplar_k=k)
        rec._lean = lean
        rec.split_every = 5
        return rec

    out = {}
    for lean in (True, False):
        rng = random.Random(seed * 7 + 1)
        now[0] = t0 - 2.5
        recs = [recorder(lean)]
        shared: dict = {}  # type: ignore[type-arg]
        vus = [VirtualUser(slot=i, slots=3, worker=0, user_name="u", seed=1, requests=reqs, weights=[1.0] * 6,
                           think=(0.0, 0.0), generators={}, runner=None, recorder=recs[0],  # type: ignore[arg-type]
                           keys=shared)
               for i in range(3)]
        merged, totals = Merged(1.0, k), []
        for _ in range(8):  # deltas
            for _ in range(rng.randrange(0, 400)):
                now[0] += rng.random() * 0.03
                if rng.random() < 0.03:
                    now[0] -= rng.random() * 1.5
                req, lat, x = rng.choice(reqs), rng.randrange(50, 200_000), rng.random()
                timed = {"waiting_us": lat // 2, "connecting_us": 0, "tls_us": 0, "receiving_us": lat // 5}
                if x < 0.1:
                    o = Outcome(500, False, "status 500", lat, "/")
                elif x < 0.15:
                    o = Outcome(200, True, None, lat, "/", **{**timed, "connecting_us": 300})
                elif x < 0.18:
                    o = Outcome(200, True, None, lat, "/", **{**timed, "receiving_us": None})
                elif x < 0.2:
                    o = Outcome(200, True, None, lat, "/", db_queries=3, **timed)
                elif x < 0.24:
                    o = Outcome(200, True, None, lat, "/", service_us=lat // 3, **timed)
                elif x < 0.26:
                    o = Outcome(200, True, None, lat, "/")
                elif x < 0.28:  # a python user's record on the same recorder
                    key = SeriesKey("py", rng.choice(["p1", "p2", "p3"]), "read", "GET", 200, True)
                    vus[0].recorder.record(key, lat, now[0])
                    continue
                else:
                    o = Outcome(200, True, None, lat, "/", **timed)
                rng.choice(vus).record(req, o)
            flush = rng.random() < 0.3
            for i, rec in enumerate(recs):
                delta = rec.take_delta(flush=flush)
                totals.append(delta["total"])
                merged.add_delta(i, delta)
            if rng.random() < 0.3:  # a recorder replaced for some users: their shared series change recorders
                recs.append(recorder(lean))
                for user in vus:
                    if rng.random() < 0.5:
                        user.recorder = recs[-1]
        for i, rec in enumerate(recs):
            merged.add_delta(i, rec.take_delta(flush=True))
        out[lean] = (json.dumps(merged.to_json(), sort_keys=True), totals)
    assert unbatched[0] > 0  # the batches were used
    assert out[True][1] == out[False][1]
    assert out[True][0] == out[False][0]
