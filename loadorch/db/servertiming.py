"""Queries per request from a response header: W3C Server-Timing (`db;count=N` or N `db` entries) or
a plain integer header such as `X-DB-Queries` (pure)."""

from __future__ import annotations

SERVER_TIMING = "server-timing"
DEFAULT_ENTRY = "db"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside double-quoted strings (a desc may contain commas and semicolons)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def server_timing_count(value: str, entry: str = DEFAULT_ENTRY) -> int | None:
    """Queries counted by the `entry` metrics of a Server-Timing value, None if there is none.

    An entry's `count` parameter counts where present (several entries add up); an entry without one
    counts as one query. Unknown parameters are ignored, as the specification asks.
    """
    total, seen = 0, False
    wanted = entry.lower()
    for metric in _split(value, ","):
        fields = _split(metric, ";")
        if fields[0].strip().lower() != wanted:
            continue
        seen = True
        count = 1
        for param in fields[1:]:
            name, _, raw = param.partition("=")
            if name.strip().lower() == "count":
                parsed = _integer(_unquote(raw))
                if parsed is not None:
                    count = parsed
        total += count
    return total if seen else None


def plain_count(value: str) -> int | None:
    """A header whose whole value is the number of queries (`X-DB-Queries: 7`)."""
    return _integer(value.strip())


def _integer(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if number != number or number < 0 or number > 1_000_000 or not float(number).is_integer():
        return None
    return int(number)


def queries_from_header(header: str, value: str | None, entry: str = DEFAULT_ENTRY) -> int | None:
    """The query count a response's header carries, by the configured header's kind."""
    if value is None:
        return None
    if header.lower() == SERVER_TIMING:
        return server_timing_count(value, entry)
    return plain_count(value)


CACHE_SIZE = 512
# the parse caches of a process, one per (header, entry): every user of a worker has its own QueryHeader, and
# a cache each (20 users x 512 values an app that sends `app;dur=12.5` fills over hours) kept a monitor's
# workers growing for hours (#32); shared, a worker holds CACHE_SIZE values at most, whatever its users
_CACHES: dict[tuple[str, str], dict[str, int | None]] = {}


class QueryHeader:
    """The response header that carries queries per request, as the runtime reads it.

    Parsed values are cached (bounded, one cache per process and configuration: see _CACHES): an app sends
    the same few header values over and over, and this runs once per response on the request path."""

    __slots__ = ("cache", "entry", "lower", "name")

    def __init__(self, name: str = "Server-Timing", entry: str = DEFAULT_ENTRY) -> None:
        self.name = name
        self.entry = entry
        self.lower = name.lower().encode("latin-1")
        self.cache = _CACHES.setdefault((name, entry), {})

    def count(self, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            return self.cache[value]
        except KeyError:
            pass
        found = queries_from_header(self.name, value, self.entry)
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        self.cache[value] = found
        return found

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "entry": self.entry}

    @classmethod
    def from_json(cls, data: dict[str, str] | None) -> QueryHeader:
        data = data or {}
        return cls(data.get("name", "Server-Timing"), data.get("entry", DEFAULT_ENTRY))
