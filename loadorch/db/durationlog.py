"""The server's duration log (`log_min_duration_statement`), jsonlog or csvlog: statements slower than
`slow_ms` that finished inside a window (pure).

PostgreSQL logs a statement when `duration_ms >= log_min_duration_statement` in whole milliseconds, so the
logged set is "at least"; "slower than slow_ms" is decided here from the logged duration, strictly. With
the extended protocol parse, bind and execute are logged apart: only `statement:` and `execute` lines
are statements.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

_DURATION = re.compile(r"duration: ([0-9]+(?:\.[0-9]+)?) ms\s+(statement|execute)\b")
CSV_MESSAGE, CSV_APP = 13, 22  # column positions in csvlog (PostgreSQL 13 and later)


@dataclass(frozen=True)
class Logged:
    at: str  # "YYYY-MM-DD HH:MM:SS.mmm" in log_timezone
    duration_ms: float
    application_name: str


def parse(text: str) -> Iterator[Logged]:
    """Statement durations in a piece of jsonlog or csvlog (told apart by the first character)."""
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped.startswith("{"):
        yield from _json(text)
    else:
        yield from _csv(text)


def _json(text: str) -> Iterator[Logged]:
    for line in text.splitlines():
        if "duration: " not in line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line cut at the edge of what was read
        found = _duration(str(doc.get("message", "")))
        if found is not None:
            yield Logged(str(doc.get("timestamp", ""))[:23], found, str(doc.get("application_name", "")))


def _csv(text: str) -> Iterator[Logged]:
    try:
        for row in csv.reader(io.StringIO(text)):
            if len(row) <= CSV_MESSAGE:
                continue
            found = _duration(row[CSV_MESSAGE])
            if found is not None:
                app = row[CSV_APP] if len(row) > CSV_APP else ""
                yield Logged(row[0][:23], found, app)
    except csv.Error:
        return


def _duration(message: str) -> float | None:
    m = _DURATION.match(message)
    return float(m.group(1)) if m else None


def count_slow(text: str, start: str, end: str, slow_ms: float, exclude_app: str = "") -> int:
    """Statements logged in [start, end] (timestamps compared as text, same format) lasting > slow_ms."""
    found = 0
    for line in parse(text):
        if start <= line.at <= end and line.duration_ms > slow_ms and line.application_name != exclude_app:
            found += 1
    return found
