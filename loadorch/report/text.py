"""Text as the reports show it (pure): one line, cut."""

from __future__ import annotations


def one_line(text: object, limit: int) -> str:
    """`text` on one line (every run of whitespace one space), cut to `limit` characters with `...` marking the
    cut: a cell, an evidence line or a title, whatever the data holds."""
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 3] + "..."
