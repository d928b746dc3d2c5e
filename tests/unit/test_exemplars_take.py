"""A worker keeps its K slowest for the whole run and sends only the rows newly among them (Slowest.take);
before, each delta started a new Slowest and sent its own K slowest. The master must end, delta after delta,
with the same rows, ties included (pure)."""

from __future__ import annotations

import itertools
import random

import pytest

from loadorch.stats.endpoints import EndpointNames
from loadorch.stats.exemplars import Slowest, row
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.wire import StatsDelta


class PerDelta(Recorder):
    """The former worker: each delta sends every row of its own Slowest (`rows()`), then starts a new one."""

    def take_delta(self) -> StatsDelta:
        rows = self.exemplars.rows()
        delta = super().take_delta()
        delta.pop("exemplars", None)
        if rows:
            delta["exemplars"] = rows
        return delta

    def clear(self) -> None:
        super().clear()
        self.exemplars = Slowest(self.exemplar_k)


def _run(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.choice((1, 2, 3, 5))
    names = [f"n{i}" for i in range(rng.randint(1, 6))]
    limit = rng.choice((None, 2, 4))
    window = ((1.0, rng.uniform(2.0, 12.0)),) if rng.random() < 0.5 else ()
    workers = rng.randint(1, 3)
    pairs = []
    for _ in range(workers):
        pairs.append(tuple(cls(1.0, 0.0, window=window, endpoints=EndpointNames(limit), exemplar_k=k)
                           for cls in (PerDelta, Recorder)))
    old, new = Merged(1.0, k), Merged(1.0, k)
    ids = itertools.count()  # each row its own: tied durations still tell rows apart
    old.endpoints, new.endpoints = EndpointNames(limit), EndpointNames(limit)
    for second in range(14):
        order = list(range(workers))
        rng.shuffle(order)
        for w in order:
            for _ in range(rng.choice((0, 3, 20, 60))):
                name = rng.choice(names)
                d = rng.choice((rng.randrange(1, 8), rng.randrange(1, 10**4)))  # many ties
                at, trace = second + rng.random(), f"{w}-{next(ids)}"
                key = SeriesKey("u", name, "GET", "GET", 200, True)
                for rec in pairs[w]:
                    rec.record(key, d, at)
                    if rec.exemplars.wants(rec.bounded(key).name, d):
                        rec.keep_exemplar(row(name, "GET", 200, d, at, trace_id=trace, worker=w))
            old.add_delta(w, pairs[w][0].take_delta())
            sent = pairs[w][1].take_delta()
            new.add_delta(w, sent)
            assert old.exemplars.rows() == new.exemplars.rows(), (seed, second, w)
    assert old.exemplars.rows()  # the comparison held rows, not two empty lists


@pytest.mark.parametrize("seed", range(30))
def test_the_master_ends_with_the_same_rows_when_workers_send_only_new_ones(seed: int) -> None:
    _run(seed)


def test_a_worker_sends_each_row_once_and_builds_fewer() -> None:
    rec = Recorder(1.0, 0.0, exemplar_k=2)
    for d in (5, 9, 7):
        rec.keep_exemplar(row("a", "GET", 200, d, 0.5))
    assert [r[3] for r in rec.take_delta()["exemplars"]] == [9, 7]
    assert not rec.exemplars.wants("a", 7)  # the floor stays across deltas: no row built for it
    rec.keep_exemplar(row("a", "GET", 200, 8, 1.5))
    assert [r[3] for r in rec.take_delta()["exemplars"]] == [8]  # 9 was sent already
    assert "exemplars" not in rec.take_delta()


@pytest.mark.parametrize("on", [True, False])
def test_a_virtual_user_keeps_its_endpoints_k_slowest_asking_only_above_a_floor_it_has_seen(on: bool) -> None:
    """A virtual user asks the K slowest only for a request above the floor its series last saw (Series.floor,
    which can only be below the recorder's: its floors only rise); what it keeps is the brute-force K slowest
    per endpoint, two statuses (two series) of one endpoint sharing its K. Evidence off: nothing asked."""
    from loadorch.client.vu import NEVER_ASKED, VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import Outcome, compile_request

    reqs = [compile_request(Endpoint.model_validate({"name": n, "path": "/p"}), n, "read", set(), {})
            for n in ("a", "b")]
    rec = Recorder(1.0, 0.0, exemplar_k=5 if on else 0)
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=reqs, weights=[1.0, 1.0],
                     think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    rng = random.Random(13)
    sent: dict[str, list[int]] = {"a": [], "b": []}
    for i in range(4000):
        req = reqs[rng.random() < 0.3]
        d = rng.randrange(1, 10**6) if i % 2 else rng.randrange(1, 5000) + i * 100  # rising, and scattered
        vu.record(req, Outcome(rng.choice((200, 201)), True, None, d, "/p", waiting_us=d // 2, connecting_us=0,
                               tls_us=0, receiving_us=d // 4))
        sent[req.name].append(d)
    kept = {n: sorted((r[3] for r in rec.exemplars.rows() if r[0] == n), reverse=True) for n in sent}
    if on:
        assert kept == {n: sorted(ds, reverse=True)[:5] for n, ds in sent.items()}
        assert all(-1 < s.floor <= rec.exemplars.floor[s.key.name] for s in vu.keys.values())
    else:
        assert kept == {"a": [], "b": []} and {s.floor for s in vu.keys.values()} == {NEVER_ASKED}
