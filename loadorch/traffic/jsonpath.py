"""A small JSON path subset for captures and checks: `$`, `.key`, `['key']`, `[index]`."""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_MISSING = object()


class JsonPathError(ValueError):
    pass


def compile_path(path: str) -> tuple[str | int, ...]:
    if not path.startswith("$"):
        raise JsonPathError(f"JSON path {path!r} must start with '$'")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise JsonPathError(f"invalid JSON path {path!r} at {path[pos:]!r}; use $.a.b[0] or $['a b']")
        key, index, q1, q2 = m.groups()
        steps.append(int(index) if index is not None else (key or q1 or q2 or ""))
        pos = m.end()
    return tuple(steps)


def extract(doc: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at the path, or a sentinel (see `found`) when it is not there."""
    cur = doc
    for step in steps:
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return _MISSING
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                return _MISSING
            cur = cur[step]
    return cur


def found(value: Any) -> bool:
    return value is not _MISSING
