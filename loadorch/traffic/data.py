"""Seeded data generators: every draw comes from the caller's own `random.Random` stream."""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


def stream_seed(seed: int, *parts: object) -> int:
    """A 64-bit seed for one RNG stream, derived from the run seed and the stream's identity."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def user_random(seed: int, slot: int) -> random.Random:
    """The RNG stream of virtual user `slot`: the same for declarative and python users."""
    return random.Random(stream_seed(seed, "user", slot))


@dataclass
class DrawState:
    """Per-stream state: the user's slot among all users, and how many values each sequence gave."""

    slot: int = 0
    slots: int = 1
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IntGen:
    low: int
    high: int

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class FloatGen:
    low: float
    high: float

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class ChoiceGen:
    options: tuple[Any, ...]
    cum_weights: tuple[float, ...] | None = None

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        if self.cum_weights is None:
            return self.options[rng.randrange(len(self.options))]
        return rng.choices(self.options, cum_weights=self.cum_weights, k=1)[0]


@dataclass(frozen=True)
class SequenceGen:
    """Values distinct across every user and worker: user `slot` of `slots` takes every slots-th value."""

    start: int
    step: int

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        k = state.counters.get(name, 0)
        state.counters[name] = k + 1
        return self.start + self.step * (state.slot + k * state.slots)


@dataclass(frozen=True)
class PatternGen:
    """`#` a digit, `?` a lowercase letter, `*` a letter or digit, `\\` escapes; the rest literal."""

    pattern: str

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        out: list[str] = []
        escaped = False
        for ch in self.pattern:
            if escaped:
                out.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "#":
                out.append(string.digits[rng.randrange(10)])
            elif ch == "?":
                out.append(string.ascii_lowercase[rng.randrange(26)])
            elif ch == "*":
                out.append(_ALNUM[rng.randrange(len(_ALNUM))])
            else:
                out.append(ch)
        return "".join(out)


_ALNUM = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class RowsGen:
    """Rows of a CSV file: a whole row (a mapping) or one column, in random or sequential order."""

    rows: tuple[Mapping[str, str], ...]
    column: str | None
    sequential: bool

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        if self.sequential:
            k = state.counters.get(name, 0)
            state.counters[name] = k + 1
            row = self.rows[(state.slot + k * state.slots) % len(self.rows)]
        else:
            row = self.rows[rng.randrange(len(self.rows))]
        return dict(row) if self.column is None else row[self.column]


@dataclass(frozen=True)
class ConstGen:
    value: Any

    def draw(self, name: str, rng: random.Random, state: DrawState) -> Any:
        return self.value


Generator = IntGen | FloatGen | ChoiceGen | SequenceGen | PatternGen | RowsGen | ConstGen


GENERATOR_KINDS: dict[str, type[Generator]] = {
    c.__name__: c for c in (IntGen, FloatGen, ChoiceGen, SequenceGen, PatternGen, RowsGen, ConstGen)
}


def generator_to_json(g: Generator) -> dict[str, Any]:
    """A generator as JSON (`type` names its class), for the run plan."""
    return {"type": type(g).__name__, **asdict(g)}


def generator_from_json(data: Mapping[str, Any]) -> Generator:
    body = {k: v for k, v in data.items() if k != "type"}
    for key in ("options", "cum_weights", "rows"):
        if isinstance(body.get(key), list):
            body[key] = tuple(body[key])
    return GENERATOR_KINDS[str(data["type"])](**body)


def cumulative(weights: Sequence[float] | None) -> tuple[float, ...] | None:
    if weights is None:
        return None
    total, out = 0.0, []
    for w in weights:
        total += float(w)
        out.append(total)
    return tuple(out)


class Draws:
    """Values for one request: each generator is drawn at most once, on first use."""

    __slots__ = ("fixed", "generators", "rng", "state", "values")

    def __init__(
        self, generators: Mapping[str, Generator], rng: random.Random, state: DrawState, fixed: Mapping[str, Any]
    ) -> None:
        self.generators = generators
        self.rng = rng
        self.state = state
        self.fixed = fixed
        self.values: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.fixed:
            return self.fixed[name]
        gen = self.generators[name]
        value = self.values[name] = gen.draw(name, self.rng, self.state)
        return value
