"""results.json's writer (run/artifacts.dumps) writes exactly the documented layout, byte for byte: the
format spelled out here with json.dumps alone, over random documents of every value kind it meets."""

from __future__ import annotations

import enum
import json
import random
from typing import Any

import pytest

from loadorch.run.artifacts import dumps


def plain(v: Any) -> bool:
    return not isinstance(v, (dict, list, tuple))


def spec(value: Any, indent: str = "") -> str:
    """Maps and lists of anything nested indented by 2; a list of plain values or of lists of plain
    values on one line without spaces; every value and key as json.dumps writes it."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [inner + json.dumps(k if isinstance(k, str) else json.dumps(k)) + ": " + spec(v, inner)
                 for k, v in value.items()]  # fmt: skip
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)) and not all(
        plain(v) or (isinstance(v, (list, tuple)) and all(map(plain, v))) for v in value
    ):
        return "[\n" + ",\n".join(inner + spec(v, inner) for v in value) + "\n" + indent + "]"
    if isinstance(value, (list, tuple)):
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    return json.dumps(value, allow_nan=False)


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


LEAVES = [0, 1, -7, 2**70, 1.5, -0.0, 1e300, 5e-324, 0.1 + 0.2, True, False, None, "", "é\n\"\\\u2028",
          "\x00", Level.HIGH, Name("n"), {}, [], ()]  # fmt: skip
KEYS = ["k", "é", "", 1, 2.5, True, None, Level.HIGH]


def document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(LEAVES)
    if roll < 0.6:
        return {rng.choice(KEYS) if rng.random() < 0.3 else f"k{n}": document(rng, depth + 1)
                for n in range(rng.randrange(5))}  # fmt: skip
    items = [document(rng, depth + 1) for _ in range(rng.randrange(5))]
    return items if roll < 0.8 else tuple(items)


def test_the_writer_writes_the_documented_layout_byte_for_byte() -> None:
    rng = random.Random(20261205)
    docs = [document(rng) for _ in range(3000)]
    assert sum(isinstance(d, dict) and len(d) > 1 for d in docs) > 100  # nested documents, not only leaves
    for doc in docs:
        assert dumps(doc) == spec(doc), doc


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_value_json_cannot_hold_is_refused_wherever_it_is(bad: float) -> None:
    for doc in (bad, [1, bad], [[1, bad]], {"a": bad}, {"a": [{"b": [bad]}]}):
        with pytest.raises(ValueError):
            dumps(doc)
