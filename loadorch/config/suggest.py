""" "Did you mean ...?" hints for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str], quoted: bool = False) -> str:
    """A hint naming the closest known name, or listing the known names if none is close (`quoted`: each in
    quotes, for names that hold commas)."""
    names = sorted(set(known))
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not names:
        return ""
    shown = ", ".join(map(repr, names[:12]) if quoted else names[:12]) + (", ..." if len(names) > 12 else "")
    return f"known: {shown}"
