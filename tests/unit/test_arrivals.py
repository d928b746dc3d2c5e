"""The open model's schedule (pure)."""

from __future__ import annotations

import itertools

import pytest

from loadorch.traffic.arrivals import expected_arrivals, for_worker, schedule, total_seconds


def test_constant_rate_constant_spacing() -> None:
    arrivals = list(schedule(((50.0, 50.0, 20.0),), "constant", 1))
    assert len(arrivals) == 1000
    assert arrivals[:3] == [(0, 0.0), (1, 0.02), (2, 0.04)]
    assert arrivals[-1][1] == pytest.approx(19.98)


def test_poisson_spacing_is_seeded_and_near_the_rate() -> None:
    a = list(schedule(((100.0, 100.0, 60.0),), "poisson", 7))
    assert a == list(schedule(((100.0, 100.0, 60.0),), "poisson", 7))
    assert a != list(schedule(((100.0, 100.0, 60.0),), "poisson", 8))
    assert 5700 < len(a) < 6300
    gaps = [t2 - t1 for (_, t1), (_, t2) in itertools.pairwise(a)]
    assert min(gaps) < 0.001 < 0.05 < max(gaps)  # exponential gaps, not a metronome


def test_ramp_follows_the_integral_of_the_rate() -> None:
    stages = ((0.0, 100.0, 10.0), (100.0, 100.0, 5.0))
    assert total_seconds(stages) == 15.0 and expected_arrivals(stages) == 1000.0
    arrivals = list(schedule(stages, "constant", 1))
    assert len(arrivals) == 1000
    first_half = sum(1 for _, t in arrivals if t < 5.0)
    assert first_half == pytest.approx(expected_arrivals(stages, 5.0), abs=1) == pytest.approx(125, abs=1)


def test_workers_split_the_schedule_without_overlap() -> None:
    stages = ((30.0, 30.0, 10.0),)
    parts = [list(for_worker(stages, "poisson", 3, i, 3)) for i in range(3)]
    merged = sorted(a for part in parts for a in part)
    assert merged == list(schedule(stages, "poisson", 3))
    assert all(k % 3 == i for i, part in enumerate(parts) for k, _ in part)


def test_zero_rate_stage_has_no_arrivals() -> None:
    assert list(schedule(((0.0, 0.0, 10.0),), "constant", 1)) == []
    assert expected_arrivals(((0.0, 0.0, 10.0),)) == 0.0
    pause_then_load = list(schedule(((0.0, 0.0, 10.0), (10.0, 10.0, 2.0)), "constant", 1))
    assert len(pause_then_load) == 20 and pause_then_load[0] == (0, 10.0)
