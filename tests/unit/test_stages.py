"""Closed-model stages and the measurement window: the stage math, validation and exact window stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadorch.config.resolve import Overrides, build
from loadorch.errors import UsageError
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.traffic.stages import phase_of, steady_spans, users_at, window_seconds

from .test_config import BASE_PROFILE, errors, make

STAGES = ((0.0, 20.0, 10.0), (20.0, 20.0, 20.0), (20.0, 0.0, 10.0))
STAGED = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:8000
load: {stages: [{duration: 10s, users: 20}, {duration: 20s, users: 20}, {duration: 10s, users: 0}]}
"""


def test_users_follow_the_stages_linearly_and_stay_at_the_last_level() -> None:
    assert [users_at(STAGES, t) for t in (0, 0.1, 2.5, 5, 9.99, 10, 29.9)] == [0, 0, 5, 10, 20, 20, 20]
    assert [users_at(STAGES, t) for t in (30, 35, 39.99, 40, 99)] == [20, 10, 0, 0, 0]
    up = [users_at(STAGES, i / 100) for i in range(1000)]
    assert up == sorted(up), "a ramp up never removes users"


def test_steady_spans_join_flat_stages_and_skip_ramps_and_zero() -> None:
    assert steady_spans(STAGES) == ((10.0, 30.0),)
    steps = ((0, 5, 1), (5, 5, 2), (5, 5, 3), (5, 10, 1), (10, 10, 4), (10, 0, 1), (0, 0, 5))
    assert steady_spans(steps) == ((1.0, 6.0), (7.0, 11.0))
    assert [phase_of(((1.0, 6.0), (7.0, 11.0)), t) for t in (0.5, 1.0, 6.0, 6.5, 7, 11, 20)] == [
        "ramp_up",
        "in",
        "between",
        "between",
        "in",
        "ramp_down",
        "ramp_down",
    ]
    assert window_seconds(((1.0, 6.0), (7.0, 11.0)), 9.0) == 7.0


def test_window_histograms_are_exact_whatever_the_interval() -> None:
    rec = Recorder(interval_s=5.0, t0=100.0, window=((10.0, 30.0),))
    ok = SeriesKey("u", "get", "read", "GET", 200, True)
    bad = SeriesKey("u", "get", "read", "GET", 500, False)
    for at, key, us in ((105, ok, 900_000), (110, ok, 1_000), (129.9, bad, 2_000), (130, ok, 800_000)):
        rec.record(key, us, at)
    merged = Merged(5.0)
    merged.add_delta(0, rec.take_delta())
    merged = Merged.from_json(merged.to_json())  # what `loadorch report` and compare see
    judged = merged.windowed()
    assert judged.counts() == (2, 1) and judged.select(ok=True).max < 2_000
    assert merged.counts() == (4, 1)
    phases = {p: h.count for (p, _, _), h in merged.phases.items()}
    assert phases == {"ramp_up": 1, "ramp_down": 1}


def test_staged_profile_builds_with_peak_slots_and_summed_duration(tmp_path: Path) -> None:
    make(tmp_path, profile=STAGED + "measure: steady\n")
    cfg = build("p", str(tmp_path), {})
    assert cfg.users == 20 and cfg.duration_s == 40 and cfg.user_stages == STAGES
    assert cfg.open_model is None and cfg.window is not None and cfg.window.spans == ((10.0, 30.0),)
    with pytest.raises(UsageError, match="--users cannot change a profile with stages"):
        build("p", str(tmp_path), {}, Overrides(users=3))
    make(tmp_path, profile=BASE_PROFILE + "measure: {from: 5s, to: 20s}\n")
    window = build("p", str(tmp_path), {}).window
    assert window is not None and window.spans == ((5.0, 20.0),) and window.source == "from/to"
    make(tmp_path, profile=BASE_PROFILE.replace("duration", "spawn_rate: 2, duration") + "measure: steady\n")
    window = build("p", str(tmp_path), {}).window
    assert window is not None and window.spans == ((2.0, 30.0),)


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("{stages: [{duration: 5s, users: 5}], users: 5}", "give stages or users, not both"),
        ("{stages: [{duration: 5s, users: 5}], arrival_rate: 5}", "give stages or arrival_rate, not both"),
        ("{stages: [{duration: 5s, users: -1}]}", "greater than or equal to 0"),
        ("{stages: [{duration: 0s, users: 3}]}", "duration must be greater than zero"),
        ("{stages: [{duration: 5s, users: 0}]}", "at least one stage needs users >= 1"),
        ("{stages: [{duration: 5s, users: 5}, {duration: 5s, rate: 3}], max_users: 4}", "not a mix"),
        ("{stages: [{duration: 5s}]}", "a stage gives users (closed model) or rate"),
    ],
)
def test_bad_stages_are_located_configuration_errors(tmp_path: Path, load: str, message: str) -> None:
    msgs = errors(tmp_path, profile=BASE_PROFILE.replace("{users: 4, duration: 30s}", load))
    assert any(message in m and ":3: load" in m for m in msgs), msgs


@pytest.mark.parametrize(
    ("measure", "message"),
    [
        ("{from: 10s, to: 5s}", "measure.to must be later than measure.from"),
        ("{from: 10s, to: 50s}", "measure.to (50s) is after the end of the load (30s)"),
        ("steady", "steady: the users are still starting until 40s, the end of the load (30s)"),
        ("stable", "Input should be 'steady'"),
    ],
)
def test_bad_windows_are_configuration_errors(tmp_path: Path, measure: str, message: str) -> None:
    profile = BASE_PROFILE.replace("duration: 30s", "spawn_rate: 0.1, duration: 30s")
    msgs = errors(tmp_path, profile=profile + f"measure: {measure}\n")
    assert any(message in m and "measure" in m for m in msgs), msgs
