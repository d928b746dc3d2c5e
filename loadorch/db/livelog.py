"""The duration log read while the run goes, for the live metrics: each poll reads what the server wrote
since the last one (at most MAX_POLL_BYTES, the rest next time), across rotations, and counts the window's
statements slower than `slow_ms` by the same rule as the verdict (durationlog.slow_in).

A picture of the run, not the verdict: the gate's count comes from the complete read at the end of the
window (logfiles.LogFiles.read_since), which refuses a log with gaps. Here a file found shorter than what
was read (truncated on rotation) is read again from its start, a record longer than MAX_RECORD (an
auto_explain plan, a huge statement) is skipped, and only the count is kept: no statement text, no bind
value leaves this module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loadorch.db.durationlog import parse
from loadorch.db.logfiles import Listing, LogMark

MAX_POLL_BYTES = 4 * 1024 * 1024  # read per poll; a server that logs faster is caught up on later polls
MAX_RECORD = 1024 * 1024  # a partial record kept for the next poll; a longer one is skipped (not a statement)
MAX_PENDING_FILES = 4  # files whose partial last record is kept at once


class ChunkSource(Protocol):
    """The server's log files (logfiles.LogFiles): their listing and a piece of one."""

    def listing(self) -> Listing: ...

    def read_chunk(self, path: str, start: int, length: int) -> tuple[str, int]: ...


@dataclass
class _Tail:
    """Where a file was read to, and its partial last record (completed by the next read of it)."""

    offset: int
    pending: str = ""
    skipping: bool = False  # inside a record longer than MAX_RECORD: drop up to its end
    skip_quotes: int = 0  # csvlog: the parity of the quotes dropped of that record so far


class LiveSlowCount:
    """Statements slower than `slow_ms` logged at or after `start` (the window's first timestamp, as the log
    writes it), by other applications than `exclude_app` (the collector's own), read from `mark` on."""

    def __init__(self, files: ChunkSource, mark: LogMark, start: str, slow_ms: float, exclude_app: str) -> None:
        self.files = files
        self.start = start
        self.slow_ms = slow_ms
        self.exclude_app = exclude_app
        self.tails = {name: _Tail(size) for name, (size, _) in mark.files.items()}
        self.tails[mark.path] = _Tail(mark.offset)
        self.csv: bool | None = None  # jsonlog or csvlog, told by the first record read
        self.slow = 0
        self.skipped = 0  # records longer than MAX_RECORD, or left partial by a file that was dropped
        self.restarts = 0  # files found shorter than what was read of them: read again from their start
        self.behind = False  # the last poll spent its budget with more written than it read

    @property
    def pending(self) -> str:
        """The partial records kept for the next reads (at most MAX_PENDING_FILES, each under MAX_RECORD)."""
        return "".join(t.pending for t in self.tails.values())

    @property
    def offsets(self) -> dict[str, int]:
        return {name: t.offset for name, t in self.tails.items()}

    def poll(self, budget: int = MAX_POLL_BYTES) -> int:
        """Read what was written since the last poll (at most `budget` bytes); the count so far."""
        files = self.files.listing()
        self.tails = {name: t for name, t in self.tails.items() if name in files}  # bounded by the folder
        read_to = self.offsets
        waiting = [name for name, (size, _) in files.items() if size != read_to.get(name, 0)]
        self.behind = False
        for name in sorted(waiting, key=lambda n: (files[n][1], n)):
            if budget <= 0:
                self.behind = True
                break
            size = files[name][0]
            tail = self.tails.setdefault(name, _Tail(0))
            if size < tail.offset:  # truncated (log_truncate_on_rotation) or replaced: what it holds now is new
                self.restarts += 1
                self.tails[name] = tail = _Tail(0)
            text, used = self.files.read_chunk(name, tail.offset, min(size - tail.offset, budget))
            if used <= 0:
                continue  # nothing whole to read yet (a character cut at the end): next poll
            tail.offset += used
            budget -= used
            self.behind = self.behind or tail.offset < size
            self._feed(tail, text)
        self._bound_pending()
        return self.slow

    def _bound_pending(self) -> None:
        """Partial records are kept for at most MAX_PENDING_FILES files (a file that ended inside a record and
        was never written again would keep one for ever); the oldest beyond that are dropped."""
        holding = [t for t in self.tails.values() if t.pending or t.skipping]
        for t in holding[: max(0, len(holding) - MAX_PENDING_FILES)]:
            self.skipped += 1
            t.pending, t.skipping = "", False

    def _feed(self, tail: _Tail, text: str) -> None:
        data = tail.pending + text
        if self.csv is None and data.strip():
            self.csv = not data.lstrip().startswith("{")
        first, last = record_ends(data, bool(self.csv), tail.skip_quotes if tail.skipping else 0)
        if tail.skipping:
            if first < 0:  # still inside the overlong record
                tail.pending, tail.skip_quotes = "", (tail.skip_quotes + data.count('"')) % 2
                return
            data, last = data[first:], last - first
            tail.skipping = False
        self._count(data[:last])
        rest = data[last:]
        if len(rest) > MAX_RECORD:
            self.skipped += 1
            tail.pending, tail.skipping, tail.skip_quotes = "", True, rest.count('"') % 2
        else:
            tail.pending = rest

    def _count(self, text: str) -> None:
        if not text:
            return
        for line in parse(text):
            if line.plan_text or line.at < self.start or line.application_name == self.exclude_app:
                continue
            if line.duration_ms > self.slow_ms:
                self.slow += 1


def record_ends(data: str, csv: bool, quotes: int = 0) -> tuple[int, int]:
    """Where the first and the last whole record of `data` end (just past their newline), -1 and 0 when
    there is none. A jsonlog record is one line; a csvlog record ends at a newline outside quotes (a
    message or a statement may hold newlines inside its quoted field; `quotes`: those already seen of a
    record begun before `data`)."""
    if not csv:
        last = data.rfind("\n")
        return (data.find("\n") + 1, last + 1) if last >= 0 else (-1, 0)
    first, last, at = -1, 0, 0
    for piece in data.split("\n")[:-1]:
        quotes += piece.count('"')
        at += len(piece) + 1
        if quotes % 2 == 0:
            last = at
            first = at if first < 0 else first
    return first, last

