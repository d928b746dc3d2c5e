"""--from-openapi draws valid values for every format, range, enum and nullable type (each checked by
validating many drawn values with the generator loadorch itself compiles from the scenario)."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

import pytest

from loadorch.commands.openapi import OpenApiError, example_of, scenario_from_openapi
from loadorch.config.checks import _generator
from loadorch.config.scenario import DataSpec
from loadorch.traffic import data as gen

EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z")


def draws(schema: dict[str, Any], n: int = 300) -> list[Any]:
    """n values from the generator `init --from-openapi` writes for a path parameter with this schema."""
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x/{v}": {"get": {
        "parameters": [{"name": "v", "in": "path", "required": True, "schema": schema}],
        "responses": {"200": {"description": "ok"}}}}}}
    spec_data = scenario_from_openapi(spec)["data"]["v"]
    generator = _generator(DataSpec.model_validate(spec_data), ".")
    rng, state = gen.user_random(7, 0), gen.DrawState(slot=0, slots=1)
    return [generator.draw("v", rng, state) for _ in range(n)]


def _uuid(v: str) -> bool:
    u = uuid.UUID(v)
    return str(u) == v and u.version == 4 and u.variant == uuid.RFC_4122


def _uri(v: str) -> bool:
    parts = urlsplit(v)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in v


def _date_time(v: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", v)) and bool(
        datetime.fromisoformat(v.replace("Z", "+00:00")))


FORMATS: dict[str, Callable[[str], bool]] = {
    "uuid": _uuid,
    "date": lambda v: bool(re.fullmatch(r"\d{4}-\d\d-\d\d", v)) and bool(date.fromisoformat(v)),
    "date-time": _date_time,
    "time": lambda v: bool(time.fromisoformat(v.replace("Z", "+00:00"))),
    "email": lambda v: bool(EMAIL.match(v)),
    "uri": _uri,
    "hostname": lambda v: all(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", p) for p in v.split(".")),
    "ipv4": lambda v: bool(ipaddress.IPv4Address(v)),
    "ipv6": lambda v: bool(ipaddress.IPv6Address(v)),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_drawn_value_is_valid_for_its_format(fmt: str) -> None:
    values = draws({"type": "string", "format": fmt})
    assert all(isinstance(v, str) and FORMATS[fmt](v) for v in values), [v for v in values if not FORMATS[fmt](v)][:3]
    assert len(set(values)) > 5  # not one constant


@pytest.mark.parametrize(("schema", "low", "high"), [
    ({"type": "integer", "minimum": 5, "maximum": 9}, 5, 9),
    ({"type": "integer", "minimum": 5, "maximum": 9, "exclusiveMinimum": True, "exclusiveMaximum": True}, 6, 8),
    ({"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 9}, 6, 8),  # 3.1 numeric form
    ({"type": "integer", "maximum": -10}, -109, -10),
    ({"type": "integer", "minimum": 1000}, 1000, 1099),
    ({"type": "integer", "minimum": 0.5, "maximum": 3.5}, 1, 3),
    ({"type": ["integer", "null"], "minimum": 1, "maximum": 4}, 1, 4),  # 3.1 nullable
    ({"type": "integer", "nullable": True, "minimum": 2, "maximum": 3}, 2, 3),  # 3.0 nullable
])
def test_integer_ranges_are_respected(schema: dict[str, Any], low: int, high: int) -> None:
    values = draws(schema)
    assert all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values)
    assert min(values) == low and max(values) == high


def test_number_ranges_with_exclusive_bounds() -> None:
    values = draws({"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1})
    assert all(isinstance(v, float) and 0 < v <= 1 for v in values)


@pytest.mark.parametrize("schema", [
    {"type": "string", "enum": ["a", "b", None]},
    {"type": ["string", "null"], "enum": ["a", "b"]},
])
def test_enums_draw_only_their_values(schema: dict[str, Any]) -> None:
    assert set(draws(schema)) == {"a", "b"}


def test_nullable_strings_are_strings_within_their_lengths() -> None:
    values = draws({"type": ["string", "null"], "minLength": 3, "maxLength": 5})
    assert all(isinstance(v, str) and 3 <= len(v) <= 5 for v in values)
    assert all(_uuid(v) for v in draws({"type": ["string", "null"], "format": "uuid"}))


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "integer", "minimum": "abc"}, "minimum must be a number, not 'abc'"),
    ({"type": "integer", "minimum": 5, "maximum": 4}, "no integer lies within"),
    ({"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 5}, "no integer lies within"),
    ({"type": "string", "maxLength": "x"}, "maxLength must be a number"),
])
def test_impossible_schemas_are_clear_errors(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(OpenApiError, match=re.escape(message)):
        draws(schema)


def test_body_examples_respect_ranges_and_formats() -> None:
    schema = {"type": "object", "required": ["n", "id", "when"], "properties": {
        "n": {"type": "integer", "exclusiveMinimum": 10}, "id": {"type": "string", "format": "uuid"},
        "when": {"type": ["string", "null"], "format": "date-time"}}}
    body = example_of({}, schema)
    assert body["n"] == 11 and uuid.UUID(body["id"]) and _date_time(body["when"])
