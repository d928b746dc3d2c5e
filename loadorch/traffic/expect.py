"""`expect.json` comparison: numbers and numeric strings are equal, and a mismatch says what it compared."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from loadorch.traffic.redact import NO_SECRETS, Redactor, sendable

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*\Z")
_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object", type(None): "null"}


def _number(value: Any) -> float | None:
    """The value as a number: an int or float, or a string that is only a decimal number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def equal(got: Any, want: Any) -> bool:
    """`got == want`, except that a number and a numeric string compare by value (`17 == "17"`,
    `"2.50" == 2.5`): servers echo query arguments as strings while generators keep their type.
    Booleans are never numbers; lists and objects compare element by element by the same rule."""
    if got == want and type(got) is type(want):
        return True
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(equal(g, w) for g, w in zip(got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(equal(got[k], want[k]) for k in got)
    if isinstance(got, str) and isinstance(want, str):
        return False
    a, b = _number(got), _number(want)
    if a is not None and b is not None:
        return a == b
    return bool(got == want) and not (isinstance(got, bool) or isinstance(want, bool))


def shown(value: Any, limit: int = 60, redactor: Redactor = NO_SECRETS) -> str:
    """`692367 (int)`, `"692367" (str)`: the value as JSON, its secrets masked, then cut to `limit`
    characters, and its type."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    # a lone surrogate (the response's JSON said `"caf\\ud83d"`: a string cut inside an emoji) as that escape: the
    # text goes into the worker's report, which cannot encode it (the worker's every report after it was lost)
    text = sendable(text)
    return f"{redactor.cut(text, limit)} ({_TYPES.get(type(value), type(value).__name__)})"


def mismatch(want: Any, got: Any, present: bool = True, redactor: Redactor = NO_SECRETS) -> str:
    """What a failed check compared: `expected 692367 (int), got "692367" (str)`."""
    got_text = shown(got, redactor=redactor) if present else "nothing (no value at this path)"
    return f"expected {shown(want, redactor=redactor)}, got {got_text}"
