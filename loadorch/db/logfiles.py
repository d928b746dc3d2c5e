"""The files of the server's duration log: where the window began, and everything written since, in
order, across rotations (`pg_rotate_logfile()`, log_rotation_age/size). Read over SQL (`log:
pg_read_file`: pg_ls_logdir, pg_stat_file, pg_read_file) or from a folder this machine can read (`log:
PATH`: the files beside PATH with its suffix). What cannot be read whole is a `LogGap`, never a
silently shorter log."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_LOG_READ = 256 * 1024 * 1024
KEEP_FILES = (
    "keep the server's log files for longer than a run (no cleanup while it runs, log_truncate_on_rotation = off "
    "or a log_filename that does not repeat within a run), then run again"
)

Listing = dict[str, tuple[int, float]]  # file -> (size, modified at)
NOT_IN_ENCODING = "22021"  # pg_read_file: "invalid byte sequence for encoding" (character_not_in_repertoire)


class LogGap(Exception):
    """Part of the window's log cannot be read: the slow count would be short (the message has the fix)."""


class Sql(Protocol):
    def value(self, sql: str, params: tuple[Any, ...] = ()) -> Any: ...

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class LogMark:
    path: str  # the file the window began in (as its listing names it)
    offset: int  # its size then
    files: Listing = field(default_factory=dict)  # every log file then


class LogFiles:
    def __init__(self, sql: Sql, source: str) -> None:
        self.sql = sql
        self.source = source  # "jsonlog", "csvlog" or a path

    @property
    def over_sql(self) -> bool:
        return self.source in ("jsonlog", "csvlog")

    def current(self) -> str:
        if self.over_sql:
            return str(self.sql.value("SELECT pg_current_logfile(%s)", (self.source,)))
        return os.path.normpath(self.source)

    def listing(self) -> Listing:
        """The log files of this kind, with their sizes and modification times."""
        if self.over_sql:
            folder = posixpath.dirname(self.current())
            suffix = ".json" if self.source == "jsonlog" else ".csv"
            rows = self.sql.query("SELECT name, size, extract(epoch FROM modification)::float8 FROM pg_ls_logdir()")
            return {
                posixpath.join(folder, str(n)): (int(size), float(at))
                for n, size, at in rows
                if str(n).endswith(suffix)
            }
        path = self.current()
        folder, suffix = os.path.dirname(path) or ".", os.path.splitext(path)[1]
        out: Listing = {}
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(suffix) and entry.is_file():
                    st = entry.stat()
                    out[os.path.normpath(os.path.join(folder, entry.name))] = (st.st_size, st.st_mtime)
        return out

    def mark(self) -> LogMark:
        files = self.listing()
        path = self.current()
        size = files[path][0] if path in files else self._size(path)
        return LogMark(path, size, files)

    def read_since(self, mark: LogMark) -> str:
        """Everything the server logged since `mark`: the rest of that file, then each file written since,
        oldest first."""
        files = self.listing()
        start = files.get(mark.path)
        if start is None:
            raise LogGap(
                f"the log file the window began in ({mark.path}) is gone, so slow statements may be lost: {KEEP_FILES}"
            )
        if start[0] < mark.offset:
            raise LogGap(f"the log file {mark.path} shrank during the window (truncated on rotation?): {KEEP_FILES}")
        later = sorted(
            (n for n, st in files.items() if n != mark.path and mark.files.get(n) != st), key=lambda n: (files[n][1], n)
        )
        plan = [(mark.path, mark.offset, start[0])] + [(n, 0, files[n][0]) for n in later]
        total = sum(end - begin for _, begin, end in plan)
        if total > MAX_LOG_READ:
            raise LogGap(
                f"the server logged {total} bytes in the window, more than the {MAX_LOG_READ} read: raise "
                "log_min_duration_statement towards slow_ms, turn log_statement or log_duration off, or run a "
                "shorter window"
            )
        return "".join(self._read(path, begin, end) for path, begin, end in plan)

    def read_chunk(self, path: str, start: int, length: int) -> tuple[str, int]:
        """`length` bytes of `path` from `start` or a little fewer, never cutting a UTF-8 character: the text
        and the bytes it took (the live count's reads, livelog.py; errors are the caller's)."""
        if length <= 0:
            return "", 0
        if not self.over_sql:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(length)
            whole = whole_utf8(data)
            return data[:whole].decode("utf-8", "replace"), whole
        for cut in range(4):  # pg_read_file refuses a piece that ends inside a character: a byte shorter
            if length - cut <= 0:
                break
            try:
                text = self.sql.value("SELECT pg_read_file(%s, %s, %s)", (path, start, length - cut))
                return str(text or ""), length - cut
            except Exception as exc:
                if getattr(exc, "sqlstate", None) != NOT_IN_ENCODING:
                    raise
        data = self._read_binary(path, start, length)  # a byte that is not UTF-8 at all: read as a file is
        whole = whole_utf8(data)
        return data[:whole].decode("utf-8", "replace"), whole

    def _read_sql(self, path: str, start: int, length: int) -> str:
        """A piece of a log file over SQL. pg_read_file refuses bytes that are not UTF-8 (the server logs each
        statement in its database's encoding: one LATIN1 database on the server is enough), so such a piece
        is read as bytes and decoded with replacement, as a file read here is."""
        try:
            return str(self.sql.value("SELECT pg_read_file(%s, %s, %s)", (path, start, length)) or "")
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != NOT_IN_ENCODING:
                raise
        return self._read_binary(path, start, length).decode("utf-8", "replace")

    def _read_binary(self, path: str, start: int, length: int) -> bytes:
        try:
            data = self.sql.value("SELECT pg_read_binary_file(%s, %s, %s)", (path, start, length))
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LogGap(
                f"the log file {path} holds bytes that are not UTF-8 (a database of another encoding logs in it), "
                f"which pg_read_file refuses, and pg_read_binary_file cannot read it ({reason}): GRANT EXECUTE ON "
                "FUNCTION pg_read_binary_file(text, bigint, bigint) TO the collector's role, or set "
                "collectors.postgres.log to the file's path"
            ) from None
        return bytes(data or b"")

    def _size(self, path: str) -> int:
        if self.over_sql:
            return int(self.sql.value("SELECT (pg_stat_file(%s)).size", (path,)))
        return os.path.getsize(path)

    def _read(self, path: str, start: int, end: int) -> str:
        length = max(0, end - start)
        if length == 0:
            return ""
        try:
            if self.over_sql:
                return self._read_sql(path, start, length)
            with open(path, "rb") as fh:
                fh.seek(start)
                return fh.read(length).decode("utf-8", "replace")
        except LogGap:
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LogGap(
                f"cannot read the log file {path} written during the window ({reason}): {KEEP_FILES}"
            ) from None


def whole_utf8(data: bytes) -> int:
    """The length of the longest prefix of `data` that does not end inside a UTF-8 character (a read cut
    at a byte count can split one: its first bytes wait for the next read)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)  # ASCII: whole
        if byte >= 0xC0:  # the lead byte of a character `back` bytes long so far
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)  # not UTF-8 as expected: decoded with replacement, never stuck
