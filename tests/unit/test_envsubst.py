"""${VAR} interpolation: set, default, escaped, unset (an error naming it), secrets by name or declaration."""

from __future__ import annotations

import pytest

from loadorch.config.envsubst import interpolate, secret_values
from loadorch.config.yamlsource import parse
from loadorch.errors import ConfigError


def sub(text: str, env: dict[str, str], lenient: bool = False):
    doc = parse(text, "p.yaml")
    used, unset = interpolate(doc, env, lenient)
    return doc.data, used, unset


def test_set_default_and_escape() -> None:
    data, used, _ = sub("a: ${X}\nb: '${Y:-fallback}'\nc: '$${X}'\nd: pre-${X}-post\n", {"X": "1"})
    assert data == {"a": "1", "b": "fallback", "c": "${X}", "d": "pre-1-post"}
    assert used == {"X": "1"}


def test_empty_value_is_set_not_defaulted() -> None:
    data, _, _ = sub("a: '${X:-d}'\n", {"X": ""})
    assert data == {"a": ""}


def test_unset_variable_is_an_error_naming_it_and_its_line() -> None:
    with pytest.raises(ConfigError) as info:
        sub("a: 1\nhost: ${STAGING_URL}\n", {})
    [p] = info.value.problems
    assert str(p).startswith("p.yaml:2: host:") and "STAGING_URL is not set" in str(p)


def test_every_unset_variable_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        sub("a: ${A}\nb: ${B}\n", {})
    assert len(info.value.problems) == 2


def test_invalid_reference() -> None:
    with pytest.raises(ConfigError, match="invalid variable reference"):
        sub("a: '${1X}'\n", {})


def test_lenient_mode_keeps_references() -> None:
    data, _, unset = sub("a: ${A}\n", {}, lenient=True)
    assert data == {"a": "<unset:A>"} and unset == {"A"}


def test_secret_values_by_name_and_declaration() -> None:
    used = {"STAGING_TOKEN": "t0k", "PLAIN": "p", "DB_PASSWORD": "pw", "OTHER": "o"}
    assert secret_values(used) == {"t0k", "pw"}
    assert secret_values(used, ["OTHER"]) == {"t0k", "pw", "o"}
