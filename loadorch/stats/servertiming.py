"""Server-Timing entries as metrics (pure): each entry's `dur` in a histogram per series, and a count per
`desc` (a cache's hit ratio), both in the stats tables' `timings` table under tags of their own:

    st:<entry>            the entry's durations (microseconds), e.g. `st:app`
    sd:<entry>=<desc>     responses whose entry said that desc ("" for none), e.g. `sd:cache=hit`

so they travel in the packed delta, merge, and select by the request's tags like the waiting and
connecting times. Bounded per worker and on the master: at most MAX_ENTRIES entry names (later ones
are counted under OTHER_ENTRY) and MAX_DESCS descs per entry (later ones under OTHER_DESC), names and
descs cut.
"""

from __future__ import annotations

from collections.abc import Iterable

DUR = "st:"
DESC = "sd:"
MAX_ENTRIES = 16
MAX_DESCS = 8
ENTRY_CHARS = 64
DESC_CHARS = 40
OTHER_ENTRY = "(other entries)"
OTHER_DESC = "(other)"
MAX_TAGS = 2 + MAX_ENTRIES * (MAX_DESCS + 2) + 2  # waiting, connecting, and every st: and sd: tag (others too)
# a longer `dur` (ms) counts as this: the app may send any number (an epoch timestamp), and a worker's delta packs
# each histogram's sum in 64 bits (stats/delta.pack_table: 1.7e12 ms in us over 5,500 responses overflowed it)
MAX_DUR_MS = 86_400_000.0  # a day


class EntryNames:
    """The entry names and descs kept so far (in the order they came)."""

    __slots__ = ("descs", "entries")

    def __init__(self) -> None:
        self.entries: dict[str, None] = {}
        self.descs: dict[str, dict[str, None]] = {}

    def entry(self, name: str) -> str:
        name = name[:ENTRY_CHARS]
        if name in self.entries:
            return name
        if len(self.entries) >= MAX_ENTRIES:
            return OTHER_ENTRY
        self.entries[name] = None
        return name

    def desc(self, entry: str, desc: str) -> str:
        desc = desc[:DESC_CHARS]
        kept = self.descs.setdefault(entry, {})
        if desc in kept:
            return desc
        if len(kept) >= MAX_DESCS:
            return OTHER_DESC
        kept[desc] = None
        return desc


def timing_tags(names: EntryNames, entries: Iterable[tuple[str, float | None, str | None]]) -> list[tuple[str, int]]:
    """(timings tag, value) of one response's entries: its durations (µs), and one desc count (value 0) per entry
    name, its first occurrence's: a desc share is of the responses (`cache;desc=hit, cache;desc=hit` is one
    response that hit, not two), while every occurrence's `dur` is a duration of its entry."""
    out = []
    counted: set[str] = set()
    for name, dur, desc in entries:
        entry = names.entry(name)
        if dur is not None:
            out.append((DUR + entry, max(0, int(min(dur, MAX_DUR_MS) * 1000))))
        if entry not in counted:
            counted.add(entry)
            out.append((f"{DESC}{entry}={names.desc(entry, desc or '')}", 0))
    return out


def valid_tag(tag: str) -> bool:
    """A timings tag a delta may carry."""
    if tag in ("waiting", "connecting"):
        return True
    if tag.startswith(DUR):
        return 0 < len(tag) - len(DUR) <= max(ENTRY_CHARS, len(OTHER_ENTRY))
    if tag.startswith(DESC):
        entry, eq, _ = tag[len(DESC):].partition("=")
        return bool(entry and eq) and len(tag) <= len(DESC) + ENTRY_CHARS + 1 + DESC_CHARS + len(OTHER_ENTRY)
    return False
