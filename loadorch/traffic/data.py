"""Seeded data generators: every draw comes from the caller's own `random.Random` stream."""

from __future__ import annotations

import csv
import hashlib
import io
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
        width = self.high - self.low + 1
        if type(rng) is not random.Random or width <= 0:
            return rng.randint(self.low, self.high)
        # randint's own draw (random.Random._randbelow_with_getrandbits), the same numbers without its three
        # Python calls: rejection sampling over k random bits
        k = width.bit_length()
        r = rng.getrandbits(k)
        while r >= width:
            r = rng.getrandbits(k)
        return self.low + r


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
    # the CSV file the rows come from (absolute path) and its sha256: a run plan names the file instead of
    # carrying its rows, so only the processes that draw from it read it
    source: str = ""
    sha256: str = ""

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


def read_csv_rows(path: str) -> tuple[tuple[dict[str, str], ...], list[str], str]:
    """(rows, column names, sha256 of the file) of a UTF-8 CSV file with a header line."""
    with open(path, "rb") as raw:
        data = raw.read()
    text = data.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = tuple(dict(r) for r in reader)
    return rows, list(reader.fieldnames or []), hashlib.sha256(data).hexdigest()


def generator_to_json(g: Generator) -> dict[str, Any]:  # the plan's wire form: any generator class's fields
    """A generator as plan data (`type` names its class); CSV rows by their file (a 1M-row file must not
    be copied into every plan)."""
    if isinstance(g, RowsGen) and g.source:
        return {"type": "RowsGen", "file": g.source, "sha256": g.sha256, "column": g.column, "sequential": g.sequential}
    return {"type": type(g).__name__, **asdict(g)}


def _rows_from_file(data: Mapping[str, Any]) -> RowsGen:
    """The rows of a plan's CSV file, read where they are drawn (workers), checked against the digest the
    controller validated: a file changed since then is an error, not other data."""
    path = str(data["file"])
    try:
        rows, _, digest = read_csv_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read CSV file {path}: {exc}") from None
    if digest != data.get("sha256"):
        raise ValueError(f"CSV file {path} changed since the run was validated; rerun")
    return RowsGen(rows, data.get("column"), bool(data.get("sequential")), path, digest)


def generator_from_json(data: Mapping[str, Any]) -> Generator:
    if data.get("type") == "RowsGen" and "file" in data:
        return _rows_from_file(data)
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
        self.values: dict[str, Any] = {}  # drawn values: any JSON value a data file or generator gives

    def __call__(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.fixed:
            return self.fixed[name]
        gen = self.generators[name]
        value = self.values[name] = gen.draw(name, self.rng, self.state)
        return value
