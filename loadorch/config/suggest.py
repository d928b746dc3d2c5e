""" "Did you mean ...?" hints for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` is most likely a misspelling of, or None if none is close."""
    close = difflib.get_close_matches(str(name), sorted(set(known)), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str], quoted: bool = False) -> str:
    """A hint naming the closest known name, or listing the known names if none is close (`quoted`: each in
    quotes, for names that hold commas)."""
    names = sorted(set(known))
    close = closest(name, names)
    if close is not None:
        return f"did you mean {close!r}?"
    if not names:
        return ""
    shown = ", ".join(map(repr, names[:12]) if quoted else names[:12]) + (", ..." if len(names) > 12 else "")
    return f"known: {shown}"
