"""Fuzzing the loaders and the threshold grammar: any input gives a clean error, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadorch.config.problems import validate_document
from loadorch.config.profile import Profile
from loadorch.config.resolve import load_scenario
from loadorch.config.thresholds import ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.config.yamlsource import parse
from loadorch.errors import ConfigError

KEYS = st.sampled_from(["name", "users", "requests", "path", "method", "data", "int", "choice", "weights",
                        "thresholds", "setup", "repeat", "request", "think_time", "between", "weight", "kind",
                        "json", "expect", "status", "capture", "sequence", "pattern", "csv", "file", "load",
                        "host", "scenario", "workers", "duration", "x"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["/p/{id}", "{x}", "p(95)<300", "GET", "30s", "${X}"]))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_threshold_grammar_never_crashes(text: str) -> None:
    for parse_one in (parse_expression, parse_selector):
        try:
            parse_one(text)
        except ThresholdSyntaxError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_yaml_loader_never_crashes(text: str) -> None:
    try:
        parse(text, "f.yaml")
    except ConfigError as exc:
        assert all(str(p).startswith("f.yaml") for p in exc.problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_scenario_loader_never_crashes(data: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(yaml.safe_dump(data) if data else "{}\n")
        try:
            load_scenario(str(path), {"X": "1"})
        except ConfigError as exc:
            assert exc.problems


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_profile_model_never_crashes(data: dict) -> None:
    doc = parse(yaml.safe_dump(data) if data else "{}\n", "p.yaml")
    try:
        validate_document(Profile, doc)
    except ConfigError as exc:
        assert exc.problems
