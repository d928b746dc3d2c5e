"""Where the time goes (pure): the phase sums per latency bucket recorded on workers, merged exactly by the
master, and read over an endpoint's p95 requests (stats/timesplit.py), not over its K slowest."""

from __future__ import annotations

import random

import pytest

from loadorch.report.evidence_http import time_split
from loadorch.stats.exemplars import USER
from loadorch.stats.histogram import nearest_rank
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.stats.timesplit import NOT_MEASURED, TimeSplits, checked, low_us

GET = SeriesKey("u", "a", "read", "GET", 200, True)


def _requests(rng: random.Random, n: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """n requests: most fast; the top 5 % server-bound (waiting); the very slowest 3 stuck connecting."""
    out = []
    for i in range(n):
        if i < 3:
            d = rng.randrange(900_000, 1_000_000)
            out.append((d, (d - 2_000, 0, 1_000, 1_000)))
        elif i < n // 20 + 3:
            d = rng.randrange(200_000, 400_000)
            out.append((d, (0, 0, d - 3_000, 3_000)))
        else:
            d = rng.randrange(1_000, 50_000)
            out.append((d, (100, 0, d // 2, d // 2 - 100)))
    rng.shuffle(out)
    return out


def test_the_split_is_over_the_p95_requests_merged_exactly_across_workers() -> None:
    rng = random.Random(7)
    reqs = _requests(rng, 4000)
    workers = [Recorder(1.0, 0.0) for _ in range(3)]
    merged = Merged(1.0)
    for i, (d, phases) in enumerate(reqs):
        rec = workers[i % 3]
        rec.record(GET, d, 0.5)
        rec.record_split(GET, d, phases, 0.5)
        if i % 997 == 0:  # several deltas per worker
            merged.add_delta(i % 3, rec.take_delta())
    for w, rec in enumerate(workers):
        merged.add_delta(w, rec.take_delta())
    [split] = time_split(merged, ())
    # brute force: every request at or above the exact p95 is in, the others in are within 1.6 % of it
    ordered = sorted(d for d, _ in reqs)
    p95 = ordered[nearest_rank(95, len(ordered)) - 1]
    assert split.from_ms is not None
    inside = [(d, ph) for d, ph in reqs if d >= split.from_ms * 1000]
    assert split.of == 4000 and split.requests == len(inside) >= sum(d >= p95 for d in ordered)
    assert all(d >= p95 * (1 - 1 / 64) for d, _ in inside)
    total = sum(d for d, _ in inside)
    for i, phase in enumerate(("connect", "tls", "waiting", "receiving")):
        assert getattr(split, phase) == round(sum(ph[i] for _, ph in inside) / total, 4)
    # the p95 requests wait on the server, though the three slowest were stuck connecting
    assert (split.waiting or 0) > 0.5 and (split.connect or 0) < 0.5


def test_a_phase_a_request_path_could_not_time_is_not_measured_and_stays_so_when_merged() -> None:
    a, b = TimeSplits(), TimeSplits()
    x = SeriesKey("u", "x", "read", "GET", 200, True)
    a.add(x, 1000, 100, 0, 800, 100)
    b.add(x, 1000, NOT_MEASURED, NOT_MEASURED, 900, NOT_MEASURED)
    b.add(x, 1000, 100, 0, 800, 100)  # measured again: the phase stays not measured
    a.merge(checked(b.rows()))
    split = a.split("x", {("x", "GET", 200)})
    assert split is not None and (split.requests, split.of) == (3, 3)
    assert (split.connect, split.tls, split.waiting, split.receiving) == (None, None, 0.8333, None)
    assert a.split("y", {("y", "GET", 200)}) is None


def test_a_worker_records_the_split_inside_the_window_only() -> None:
    rec = Recorder(1.0, 100.0, window=((2.0, 8.0),))
    rec.record_split(GET, 5000, (0, 0, 5000, 0), 101.0)  # warm-up
    rec.record_split(GET, 7000, (0, 0, 7000, 0), 105.0)
    [row] = rec.take_delta()["splits"]
    assert row[4:6] == [1, 7000]


@pytest.mark.parametrize("bad", [[["x", "GET", 200, 5, 0, 1, 1, 1, 1, 1]], [["x", "GET", 200, 5, 1, 1, -2, 1, 1, 1]],
                                 [["x", "GET", "200", 5, 1, 1, 1, 1, 1, 1]], [["x", "GET", 200, -2, 1, 0, 0, 0, 0, 0]],
                                 "rows"])
def test_a_malformed_split_row_refuses_the_whole_delta(bad: object) -> None:
    delta = Recorder(1.0, 0.0).take_delta()
    delta["splits"] = bad  # type: ignore[typeddict-item]
    with pytest.raises(ValueError):
        Merged(1.0).add_delta(0, delta)


def test_the_buckets_are_ordered_and_at_most_a_64th_of_their_values_wide() -> None:
    def bucket(us: int) -> int:
        one = TimeSplits()
        one.add(GET, us, 0, 0, 0, 0)
        [b] = one.live[GET]
        return b

    values = (*range(0, 3000), *range(3000, 10**9, 99991), 2**40 + 12345)
    buckets = [bucket(us) for us in values]
    assert buckets == sorted(buckets)  # a longer request never in a lower bucket
    for us, b in zip(values, buckets):
        assert low_us(b) <= us and (us - low_us(b)) * 64 < max(low_us(b), 64), (us, b, low_us(b))
    assert len(set(buckets)) < 128 + 64 * 34  # 64 a doubling above 128 us


def test_a_live_table_stays_the_live_one_across_folds() -> None:
    """What is added into a series' live table (table_of: `add` and `add_batch` do) is folded in place when the
    rows are read, so what is added after still counts, once."""
    splits = TimeSplits()
    held = splits.table_of(GET)
    held[1000] = [1, 1000, 0, 0, 900, 100]
    assert splits and splits.rows() == [["a", "GET", 200, 1000, 1, 1000, 0, 0, 900, 100]]
    assert held == {1000: [0, 0, 0, 0, 0, 0]}  # zeroed in place: counted once
    held[1000] = [1, 1000, 0, 0, 800, 200]
    assert splits.rows() == [["a", "GET", 200, 1000, 2, 2000, 0, 0, 1700, 300]]
    splits.clear()
    assert not splits and splits.table_of(GET) is held


def test_a_virtual_users_requests_are_split_as_record_split_does() -> None:
    """The lean path's split (client/vu.py: kept-alive requests through the recorder's batch, the others the
    checked way) gives the rows record_split gives, and keeps the K slowest."""
    from loadorch.client.vu import VirtualUser, phases_of
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import Outcome, compile_request

    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec, ref = Recorder(1.0, 0.0), Recorder(1.0, 0.0)
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    rng = random.Random(5)
    durations = []
    for i in range(3000):
        d = rng.randrange(100, 200_000)
        fresh = i % 50 == 0  # a new connection now and then: its connect and TLS time
        none = i % 97 == 0  # a request path that could not time receiving
        out = Outcome(200, True, None, d, "/a", waiting_us=d // 2, connecting_us=300 if fresh else 0,
                      tls_us=100 if fresh else 0, receiving_us=None if none else d // 4)
        vu.record(req, out)
        ref.record_split(GET, d, phases_of(out), 0.5)
        durations.append(d)
        if i % 400 == 399:  # a delta (fewer requests than a sample starts at): the user's table is the new TimeSplits' from the next request on
            # its K slowest of the run so far (kept across deltas: Slowest.take)
            assert [r[3] for r in rec.exemplars.rows()] == sorted(durations, reverse=True)[:5]
            assert {r[USER] for r in rec.exemplars.rows()} == {"u"}  # its user's: a gate on a user lists its own
            assert rec.take_delta()["splits"] == ref.take_delta()["splits"]


def test_the_users_of_a_class_share_their_series_so_a_worker_holds_names_not_users_times_names() -> None:
    """#32: each user kept its own (request, status) -> series map, so a worker's pool of users toward max_users
    grew the worker (200 users x 20 names at 20 checks/s); the worker's users share one: 20 series for 20
    names whatever the users, and every request is counted under its series."""
    from loadorch.client.vu import Series, VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import Outcome, compile_request

    reqs = [compile_request(Endpoint.model_validate({"name": f"n{i}", "path": f"/{i}"}), f"n{i}", "read", set(), {})
            for i in range(20)]
    rec = Recorder(1.0, 0.0)
    shared: dict[tuple[int, int, bool], Series] = {}
    users = [VirtualUser(slot=k, slots=50, worker=0, user_name="u", seed=1, requests=reqs, weights=[1.0] * 20,
                         think=(0.0, 0.0), generators={}, runner=None, recorder=rec, keys=shared)  # type: ignore[arg-type]
             for k in range(50)]
    for k, vu in enumerate(users):
        for req in reqs:
            vu.record(req, Outcome(200, True, None, 1000 + k, f"/{req.name}"))
    assert len(shared) == 20 and all(vu.keys is shared for vu in users)
    assert rec.total == 50 * 20


def test_a_recorders_split_tables_outlive_its_deltas(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a delta a series' requests add into the buckets it had (zeroed), not into buckets made anew every
    second for a run's every latency; the rows stay those of
    record_split, a phase not timed does not stick past its delta, and buckets left empty go at a sweep."""
    from loadorch.client.vu import VirtualUser, phases_of
    from loadorch.config.scenario import Endpoint
    from loadorch.stats import timesplit
    from loadorch.traffic.request import Outcome, compile_request

    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec, ref = Recorder(1.0, 0.0), Recorder(1.0, 0.0)
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]

    def both(d: int, receiving: int | None) -> None:
        out = Outcome(200, True, None, d, "/a", waiting_us=d // 2, connecting_us=0, tls_us=0, receiving_us=receiving)
        vu.record(req, out)
        ref.record_split(GET, d, phases_of(out), 0.5)

    for d in (1000, 5000, 9000):
        both(d, None)  # receiving not timed: NOT_MEASURED in this delta's rows
    assert rec.take_delta()["splits"] == ref.take_delta()["splits"]
    added = []
    real_add = TimeSplits.add
    monkeypatch.setattr(TimeSplits, "add", lambda self, *a: (added.append(a), real_add(self, *a)))
    for d in (1000, 5000):
        both(d, d // 4)
    rows = rec.take_delta()["splits"]
    assert rows == ref.take_delta()["splits"] and all(r[9] == 1250 or r[9] == 250 for r in rows)
    assert len(added) == 2  # the reference's record_split: none from the virtual user
    monkeypatch.setattr(timesplit, "SWEEP_DELTAS", 1)
    both(1000, 250)
    assert rec.take_delta()["splits"] == ref.take_delta()["splits"]  # after it, the next fold sweeps
    both(1000, 250)
    assert len(rec.splits.live[GET]) == 3  # 1000's, 5000's (zeroed) and 9000's (zeroed since two deltas)
    assert rec.take_delta()["splits"] == ref.take_delta()["splits"]
    assert list(rec.splits.live[GET].values()) == [[0, 0, 0, 0, 0, 0]]  # the one used in the sweep's delta


def test_merged_rows_add_up_with_not_measured_sticking_and_the_rows_untouched() -> None:
    """TimeSplits.merge adds in place where it can: the sums are those of adding each row, a NOT_MEASURED
    phase on either side stays NOT_MEASURED, and the rows merged (a delta's) are not changed."""
    rng = random.Random(7)
    rows = [["a", "GET", 200, rng.randrange(3), rng.randrange(1, 4), rng.randrange(10**6),
             *(NOT_MEASURED if rng.random() < 0.1 else rng.randrange(10**5) for _ in range(4))] for _ in range(400)]
    kept = [list(r) for r in rows]
    splits = TimeSplits()
    splits.merge(rows[:200])
    splits.merge(tuple(r) for r in rows[200:])
    want: dict[int, list[int]] = {}
    for r in kept:
        acc = want.setdefault(r[3], [0, 0, 0, 0, 0, 0])
        acc[:2] = [acc[0] + r[4], acc[1] + r[5]]
        acc[2:] = [NOT_MEASURED if a < 0 or b < 0 else a + b for a, b in zip(acc[2:], r[6:])]
    assert splits.rows() == [["a", "GET", 200, b, *want[b]] for b in sorted(want)]
    assert rows == kept


def test_a_worker_sending_its_split_every_few_deltas_ends_with_every_row() -> None:
    """Recorder.split_every (a worker's SPLIT_EVERY): the deltas between hold the sums, the next one sending
    them and a flush (the load's last reports) sending what is left: the master ends with the rows of a
    worker that sends them every second, none lost, none twice; deltas that hold them carry none."""
    rng = random.Random(11)
    every, batched = Recorder(1.0, 0.0), Recorder(1.0, 0.0)
    batched.split_every = 5
    a, b = Merged(1.0), Merged(1.0)
    sent = []
    for second in range(23):
        for _ in range(rng.choice((0, 40))):
            key = SeriesKey("u", rng.choice("ab"), "read", "GET", rng.choice((200, 200, 404)), True)
            d = rng.randrange(50, 50_000)
            phases = (rng.choice((0, 300)), 0, d // 2, rng.choice((d // 4, NOT_MEASURED)))
            for rec in (every, batched):
                rec.record_split(key, d, phases, second + 0.5)
        a.add_delta(0, every.take_delta())
        delta = batched.take_delta(flush=second in (12, 22))  # 12: a flush between two sends
        sent.append("splits" in delta)
        b.add_delta(0, delta)
    assert b.splits.rows() == a.splits.rows() and a.splits.rows()
    assert sent.count(True) < 10 and not sent[0] and sent[4] and sent[12] and sent[22]


def _durations(rng: random.Random) -> int:
    """A request's duration (us), often on a bucket's edge: exact ones under 128, a bucket's first and last
    value above, zero, and the odd very long one."""
    shift = rng.randrange(1, 30)
    high = rng.randrange(64, 128)
    return rng.choice((rng.randrange(0, 130), high << shift, ((high + 1) << shift) - 1, rng.randrange(1, 10**9),
                       rng.randrange(100, 3000)))


def test_a_batch_adds_up_as_add_does_request_by_request() -> None:
    """TimeSplits.add_batch gives the rows `add` gives request by request, whatever the batch's length, with
    NOT_MEASURED phases and connects added the checked way in between."""
    rng = random.Random(3)
    new, old = TimeSplits(), TimeSplits()
    batch: list[int] = []
    assert not new
    batch += (1000, 500, 400)
    old.add(GET, 1000, 0, 0, 500, 400)
    for i in range(3000):
        d = _durations(rng)
        w, r = rng.randrange(0, d + 1), rng.randrange(0, 1000)
        if rng.random() < 0.05:  # a new connection or a phase not timed: `add` on both sides
            phases = (rng.choice((300, NOT_MEASURED)), rng.choice((0, 100)), w, rng.choice((r, NOT_MEASURED)))
            new.add_batch(GET, batch)  # what came before it first, as a recorder's fold keeps the order
            batch.clear()
            new.add(GET, d, *phases)
            old.add(GET, d, *phases)
        else:
            batch += (d, w, r)
            old.add(GET, d, 0, 0, w, r)
        if i < 50 or rng.random() < 0.02:  # after each of the first requests, then every 50 or so
            new.add_batch(GET, batch)
            batch.clear()
            assert new.rows() == old.rows(), i
        if rng.random() < 0.005:  # a worker's delta
            new.add_batch(GET, batch)
            batch.clear()
            new.restart()
            old.restart()
    new.add_batch(GET, batch)
    assert new.rows() == old.rows() and len(new.rows()) > 30


def test_the_longest_exact_batch_and_a_sampled_one_bucket_as_add_does() -> None:
    """The longest batch timed request by request (SAMPLED_FROM - 1) gives the rows `add` gives, into buckets
    that already hold sums, one whose phases are NOT_MEASURED among them; the shortest sampled one (every
    second request timed and counted twice: the table's buckets under 65 ms, the computed ones above) gives
    the rows of `add` called twice for each of those."""
    from loadorch.stats import timesplit

    rng = random.Random(11)

    def batch_of(length: int) -> list[int]:
        batch: list[int] = []
        for _ in range(length):
            d = rng.choice((_durations(rng), rng.randrange(0, 1 << 16), 1000, (1 << 16) - 1, 1 << 16))
            batch += (d, rng.randrange(0, d + 1), rng.randrange(0, 1000))
        return batch

    new, old = TimeSplits(), TimeSplits()
    for d in (5, 1000, 70_000, 4_000_000):  # buckets already there: one not measured
        new.add(GET, d, 0, 0, d // 2, NOT_MEASURED if d == 1000 else 1)
        old.add(GET, d, 0, 0, d // 2, NOT_MEASURED if d == 1000 else 1)
    batch = batch_of(timesplit.SAMPLED_FROM - 1)
    new.add_batch(GET, batch)
    it = iter(batch)
    for d, w, r in zip(it, it, it):
        old.add(GET, d, 0, 0, w, r)
    assert new.rows() == old.rows()
    assert len(new.rows()) > 100 and all(r[3] != timesplit.UNTIMED for r in new.rows())  # every request timed
    of_1000 = [r for r in new.rows() if r[3] == (3 << 8) | (1000 >> 3)]  # 1 ms's bucket: 10 bits, shifted by 3
    assert of_1000[0][4] > 5 and of_1000[0][9] == NOT_MEASURED  # the batch added into it; not measured stays

    sampled, twice = TimeSplits(), TimeSplits()
    batch = batch_of(timesplit.SAMPLED_FROM)  # k = 2: requests 0, 2, 4, ... timed, each counted twice
    sampled.add_batch(GET, batch)
    for i in range(0, len(batch), 6):
        d, w, r = batch[i : i + 3]
        twice.add(GET, d, 0, 0, w, r)
        twice.add(GET, d, 0, 0, w, r)
    rows = sampled.rows()
    assert [r for r in rows if r[3] != timesplit.UNTIMED] == twice.rows()
    assert [r[4] for r in rows if r[3] == timesplit.UNTIMED] == [timesplit.SAMPLED_FROM // 2]
    timed = batch[0::6]  # both of the sampled loop's ways to a bucket were taken
    assert any(d >= timesplit.TABLED for d in timed) and any(128 <= d < timesplit.TABLED for d in timed)


def test_the_bucket_table_is_adds_bucket_for_every_duration_it_holds() -> None:
    from loadorch.stats import timesplit

    table = timesplit._bucket_table()
    assert len(table) == timesplit.TABLED
    for d in range(timesplit.TABLED):
        shift = d.bit_length() - timesplit.SUB_BITS
        assert table[d] == (d if shift <= 0 else (shift << 8) | (d >> shift)), d


@pytest.mark.parametrize("open_model", [False, True])
def test_a_virtual_users_batched_split_gives_every_delta_the_rows_of_record_split(open_model: bool) -> None:
    """The lean path's batch (client/vu.py) against record_split request by request, over deltas of random
    lengths (one request to hundreds), deltas that hold the split (a worker's split_every) and flushes; in
    the open model (a service time: the request goes the checked way) through the split's own batch."""
    from loadorch.client.vu import VirtualUser, phases_of
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import Outcome, compile_request

    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec, ref = Recorder(1.0, 0.0), Recorder(1.0, 0.0)
    rec.split_every = ref.split_every = 3
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    rng = random.Random(9)
    sent = 0
    for delta in range(40):
        for _ in range(rng.choice((0, 1, 2, 7, 300))):
            d = _durations(rng)
            fresh, none = rng.random() < 0.03, rng.random() < 0.02
            out = Outcome(200, True, None, d, "/a", waiting_us=rng.randrange(0, d + 1),
                          connecting_us=300 if fresh else 0, tls_us=100 if fresh else 0,
                          receiving_us=None if none else rng.randrange(0, 5000),
                          service_us=d // 2 if open_model else None)
            vu.record(req, out)
            ref.record_split(GET, d, phases_of(out), 0.5)
        flush = delta % 11 == 10
        got, want = rec.take_delta(flush).get("splits"), ref.take_delta(flush).get("splits")
        assert got == want, delta
        sent += got is not None
    assert sent > 10


def _busy_second(rng: random.Random, n: int) -> list[int]:
    """One busy series' slot of kept-alive requests (duration, waiting, receiving): log-normal around 4 ms, the
    slowest twentieth waiting on the server, the rest half receiving."""
    batch: list[int] = []
    for _ in range(n):
        d = int(rng.lognormvariate(8.3, 0.6))
        if d > 12_000:
            batch += (d, d * 9 // 10, d // 50)
        else:
            batch += (d, d // 3, d // 2)
    return batch


@pytest.mark.parametrize("n", [512, 767, 7200, 50_000])
def test_a_busy_series_second_is_a_sample_whose_counts_add_up_to_every_request(n: int) -> None:
    """From SAMPLED_FROM requests in one slot, every k-th is timed and counted k times (the last fewer): the rows'
    counts add up to n exactly, and the UNTIMED row counts the requests the sample did not time."""
    from loadorch.stats import timesplit

    k = n // timesplit.SAMPLED
    timed = -(-n // k)  # every k-th of n, from the first
    splits = TimeSplits()
    splits.add_batch(GET, _busy_second(random.Random(n), n))
    rows = splits.rows()
    [untimed] = [r for r in rows if r[3] == timesplit.UNTIMED]
    assert untimed[4:] == [n - timed, 0, 0, 0, 0, 0]
    assert sum(r[4] for r in rows if r[3] != timesplit.UNTIMED) == n
    assert timesplit.SAMPLED <= timed < 2 * timesplit.SAMPLED
    split = splits.split("a", {("a", "GET", 200)})
    assert split is not None and (split.of, split.timed) == (n, timed)
    merged = TimeSplits()  # the rows cross the wire and add up on the master like the others
    merged.merge(checked(rows))
    merged.merge(checked(rows))
    again = merged.split("a", {("a", "GET", 200)})
    assert again is not None and (again.of, again.timed) == (2 * n, 2 * timed)


@pytest.mark.parametrize("parts", [(2400, 300), (300, 2400), (5000, 5), (5000, 5, 1)])
def test_a_busy_slot_in_parts_is_sampled_at_its_rate_and_still_adds_up(parts: tuple[int, ...]) -> None:
    """A report inside a slot hands the split its requests in two batches: a busy slot's short part is sampled
    too (at the larger part's rate: every k-th, k = larger // SAMPLED; a part shorter than k has one request timed,
    counted for the whole part), and the counts still add up to every request; a quiet slot's parts stay exact,
    and so does a series' first part when it is short (no larger one before it)."""
    from loadorch.stats import timesplit

    rng = random.Random(sum(parts))
    busy, quiet, master = TimeSplits(), TimeSplits(), TimeSplits()
    for n in parts:
        busy.add_batch(GET, _busy_second(rng, n))
        master.merge(checked(busy.rows()))  # the report that took the part, as the master adds it up
        busy.restart()
    for n in (300, 200, 300):
        quiet.add_batch(GET, _busy_second(rng, n))
    got = master.split("a", {("a", "GET", 200)})
    assert got is not None and got.of == sum(parts)
    timed, last = 0, 0
    for n in parts:  # every k-th of each part from its first, k from the larger of it and the part before
        size, last = max(n, last), n
        timed += -(-n // (size // timesplit.SAMPLED)) if size >= timesplit.SAMPLED_FROM else n
    assert got.timed == timed < sum(parts)
    if parts == (5000, 5, 1):  # a 5-request part behind a busy one: one timed; a 1 behind the 5: exact
        assert timed == -(-5000 // 19) + 1 + 1
    exact = quiet.split("a", {("a", "GET", 200)})
    assert exact is not None and exact.of == 800 and exact.timed is None


def test_a_sampled_split_estimates_the_exact_one_and_says_it_is_an_estimate() -> None:
    """A minute's window of busy seconds sampled against the same requests added one by one: the p95 requests'
    count within 5 % and each phase's share within 0.04 of the exact ones (over seeds 0-23 at most 3.8 % and
    0.031, benchmarks/README.md), `timed` set; a quiet series is exact (`timed` None)."""
    from loadorch.report.evidence import _split_line
    from loadorch.stats import timesplit

    rng = random.Random(5)
    sampled, exact = TimeSplits(), TimeSplits()
    for _ in range(60):
        batch = _busy_second(rng, 7200)
        sampled.add_batch(GET, batch)
        it = iter(batch)
        for d, w, r in zip(it, it, it):
            exact.add(GET, d, 0, 0, w, r)
    got, want = sampled.split("a", {("a", "GET", 200)}), exact.split("a", {("a", "GET", 200)})
    assert got is not None and want is not None
    assert want.timed is None and got.timed is not None and 60 * timesplit.SAMPLED <= got.timed < 60 * 2 * timesplit.SAMPLED
    assert got.of == want.of == 60 * 7200
    assert abs(got.requests - want.requests) <= 0.05 * want.requests
    assert want.waiting is not None and want.waiting > 0.6  # the slowest wait on the server
    for phase in ("waiting", "receiving"):
        assert abs((getattr(got, phase) or 0) - (getattr(want, phase) or 0)) < 0.04, phase
    assert "estimated from a sample" in _split_line(got) and "estimated" not in _split_line(want)
    quiet = TimeSplits()
    quiet.add_batch(GET, _busy_second(rng, timesplit.SAMPLED_FROM - 1))
    one = quiet.split("a", {("a", "GET", 200)})
    assert one is not None and one.timed is None and one.of == timesplit.SAMPLED_FROM - 1


def test_a_virtual_users_busy_second_reaches_the_masters_split_as_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's virtual user with 5,000 kept-alive requests in one slot (the lean path's batch): its delta's
    rows carry the sample and its UNTIMED row, and the master's split of them says how many were timed."""
    import loadorch.client.vu as vu_module
    from loadorch.client.vu import VirtualUser

    class Clock:  # every request inside one slot, however long the loop takes
        @staticmethod
        def time() -> float:
            return 100.5

    monkeypatch.setattr(vu_module, "time", Clock)
    from loadorch.config.scenario import Endpoint
    from loadorch.stats import timesplit
    from loadorch.traffic.request import Outcome, compile_request

    req = compile_request(Endpoint.model_validate({"name": "a", "path": "/a"}), "a", "read", set(), {})
    rec = Recorder(1.0, 100.0)
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    rng = random.Random(4)
    for _ in range(5000):
        d = int(rng.lognormvariate(8.3, 0.6))
        vu.record(req, Outcome(200, True, None, d, "/a", waiting_us=d // 2, connecting_us=0, tls_us=0,
                               receiving_us=d // 4))
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta(flush=True))
    [split] = time_split(merged, ())
    assert (split.of, split.timed) == (5000, -(-5000 // (5000 // timesplit.SAMPLED)))
    assert (split.waiting, split.receiving) == (pytest.approx(0.5, abs=0.001), pytest.approx(0.25, abs=0.001))


def test_a_gates_time_split_is_bounded_and_names_the_endpoints_of_its_slowest_requests_first() -> None:
    """A gate on every endpoint of a run with many request names had one time-split row per name (up to
    max_endpoints, in every latency gate's evidence): at most MAX_SPLITS, those of the slowest requests shown
    first, then the most requested."""
    from loadorch.report.evidence_http import MAX_SPLITS

    rec = Recorder(1.0, 0.0)
    for e in range(300):
        key = SeriesKey("u", f"/items/{e:03d}", "read", "GET", 200, True)
        for i in range(3 if e != 150 else 9):
            rec.record(key, 1000 + i, 1.0)
            rec.record_split(key, 1000 + i, (0, 0, 900, 100), 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    splits = time_split(merged, (), ["/items/299", "/items/299", "/items/007"])
    assert len(splits) == MAX_SPLITS
    assert [s.endpoint for s in splits[:4]] == ["/items/299", "/items/007", "/items/150", "/items/000"]
