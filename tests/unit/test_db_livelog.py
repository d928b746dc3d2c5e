"""The duration log read while the run goes (loadorch/db/livelog.py) over real files in a folder, as
`collectors.postgres.log: PATH` reads them: partial last records, rotation, truncation, the per-poll bound
and records too long to keep; the live count equals the verdict's count of the same log (slow_in)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from pathlib import Path

import pytest

from loadorch.db import livelog
from loadorch.db.durationlog import count_slow
from loadorch.db.livelog import LiveSlowCount, record_ends
from loadorch.db.logfiles import LogFiles, whole_utf8

START = "2026-12-05 10:00:01.000"
OWN = "loadorch-collector"


def line(sec: float, ms: float, statement: str = "SELECT 1", app: str = "shop") -> str:
    return json.dumps({"timestamp": f"2026-12-05 10:00:{sec:06.3f} UTC", "session_id": "s1", "ps": "SELECT",
                       "message": f"duration: {ms:.3f} ms  statement: {statement}", "application_name": app}) + "\n"


def csv_line(sec: float, ms: float, statement: str = "SELECT 1") -> str:
    row = [""] * 26
    row[0] = f"2026-12-05 10:00:{sec:06.3f} UTC"
    row[5], row[7], row[13], row[22] = "s1", "SELECT", f"duration: {ms:.3f} ms  statement: {statement}", "shop"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue()


class Folder:
    """The server's log folder: files appended to, rotated and truncated as PostgreSQL does."""

    def __init__(self, root: Path, suffix: str = ".json") -> None:
        self.root, self.suffix, self.clock = root, suffix, 1_000_000_000.0
        self.current = self.rotate()

    def rotate(self) -> Path:
        self.current = self.root / f"postgresql-{len(list(self.root.iterdir()))}{self.suffix}"
        self.write("", "w")
        return self.current

    def write(self, text: str, mode: str = "a", path: Path | None = None) -> None:
        target = path or self.current
        with open(target, mode, encoding="utf-8") as fh:
            fh.write(text)
        self.clock += 1.0  # mtimes that order the files as they were written, whatever the filesystem's clock
        os.utime(target, (self.clock, self.clock))

    def counter(self, slow_ms: float = 200.0) -> LiveSlowCount:
        files = LogFiles(None, str(self.current))  # type: ignore[arg-type]  # a path: no SQL
        return LiveSlowCount(files, files.mark(), START, slow_ms, OWN)


def test_counts_only_the_windows_slow_statements_of_others_by_the_verdicts_rule(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    folder.write(line(0.5, 900))  # before the mark: never read
    live = folder.counter()
    text = (line(0.9, 900) + line(1.0, 250) + line(1.1, 200) + line(1.2, 300, app=OWN) + line(1.3, 201)
            + '{"timestamp": "2026-12-05 10:00:01.4 UTC", "message": "duration: 999 ms  parse <unnamed>: S"}\n')
    folder.write(text)
    assert live.poll() == 2 == count_slow(text, START, "9999", 200.0, OWN)
    assert live.poll() == 2  # nothing new: nothing counted twice


def test_a_partial_last_line_waits_for_its_end(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    live = folder.counter()
    whole = line(2.0, 500)
    folder.write(line(1.5, 300) + whole[:40])
    assert live.poll() == 1 and live.pending == whole[:40]
    folder.write(whole[40:])
    assert live.poll() == 2 and live.pending == ""


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_ones(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    live = folder.counter()
    folder.write(line(1.5, 300))
    assert live.poll() == 1
    old = folder.current
    folder.write(line(1.6, 300))  # written to the old file just before the rotation
    folder.rotate()
    folder.write(line(1.7, 300) + line(1.8, 10))
    folder.rotate()
    folder.write(line(1.9, 300))
    assert live.poll() == 4 and live.offsets[str(old)] == old.stat().st_size


def test_each_files_partial_record_waits_for_that_files_next_read(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    old = folder.current
    current = folder.rotate()
    live = folder.counter()
    record = line(1.5, 300)
    folder.write(record[:30])  # the current file: a record begun
    assert live.poll() == 0 and live.pending == record[:30]
    folder.write(line(1.6, 300), path=old)  # an older file written again, read before the current one
    os.utime(old, (1.0, 1.0))
    folder.write(record[30:], path=current)
    assert live.poll() == 2 and live.pending == "" and live.skipped == 0


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    live = folder.counter()
    folder.write(line(1.5, 300) + line(1.6, 300) + line(1.7, 300))
    assert live.poll() == 3
    folder.write(line(2.0, 400), "w")  # log_truncate_on_rotation reused the name: shorter than what was read
    assert live.poll() == 4 and live.restarts == 1
    folder.write("", "w")  # emptied, then written again past where it was read to
    assert live.poll() == 4 and live.poll() == 4 and live.restarts == 2
    folder.write(line(2.1, 10) * 5 + line(2.2, 400))
    assert live.poll() == 5 and live.restarts == 2


def test_each_poll_reads_at_most_its_budget_and_catches_up_later(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    live = folder.counter()
    text = "".join(line(1.0 + i / 1000, 300 if i % 3 else 100) for i in range(300))
    folder.write(text)
    size = len(text.encode())
    polls, behind = [], []
    for _ in range(size // 4096 + 1):
        polls.append(live.poll(budget=4096))
        behind.append(live.behind)
    assert polls == sorted(polls) and polls[0] < polls[-1]  # rising, a budget's worth at a time
    assert behind == [True] * (len(polls) - 1) + [False]  # the collector polls again at once while behind
    assert max(live.offsets.values()) == size and polls[-1] == count_slow(text, START, "9999", 200.0, OWN) == 200
    assert len(live.pending) < 4096 + len(line(1.0, 1))  # never more than a poll plus one record kept


def test_any_cut_counts_what_the_verdict_counts_jsonlog_and_csvlog(tmp_path: Path) -> None:
    rng = random.Random(5)
    for suffix, make in ((".json", line), (".csv", csv_line)):
        (tmp_path / suffix[1:]).mkdir()
        folder = Folder(tmp_path / suffix[1:], suffix)
        live = folder.counter()
        # statements with newlines and quotes inside (csvlog quotes them; a record spans lines) and non-ASCII text
        parts = [make(1.0 + i / 100, rng.choice([50.0, 250.0, 199.0, 201.0]),
                      rng.choice(['SELECT "a",\n 2', "SELECT 'héllo ✓'", "SELECT 1"])) for i in range(80)]
        text = "".join(parts)
        for i in range(0, len(text), 97):  # the server writes in pieces of any size
            folder.write(text[i:i + 97])
            live.poll(budget=rng.randint(1, 200))
        for _ in range(len(text.encode()) // 64 + 1):
            live.poll(budget=64)
        assert max(live.offsets.values()) == len(text.encode()), "not read to its end"
        assert live.slow == count_slow(text, START, "9999", 200.0, OWN) > 0, suffix
        assert live.skipped == 0 and live.pending == ""


def test_a_record_too_long_to_keep_is_skipped_and_the_next_ones_count(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livelog, "MAX_RECORD", 1000)
    for suffix, make in ((".json", line), (".csv", csv_line)):
        (tmp_path / suffix[1:]).mkdir()
        folder = Folder(tmp_path / suffix[1:], suffix)
        live = folder.counter()
        huge = make(1.5, 900, 'SELECT "x",\n' + "y" * 5000)  # an auto_explain plan, a statement with a big literal
        folder.write(make(1.4, 300) + huge + make(1.6, 300))
        for _ in range(20):
            live.poll(budget=700)
            assert len(live.pending) <= 1000 + 700
        assert live.slow == 2 and live.skipped == 1, suffix


def test_csv_records_end_at_newlines_outside_quotes() -> None:
    one, two = csv_line(1.0, 1, 'SELECT "a",\n"b"'), csv_line(1.1, 1)
    assert record_ends(one + two[:5], csv=True) == (len(one), len(one))
    assert record_ends(one + two, csv=True) == (len(one), len(one + two))
    assert record_ends('b"\nnext\n', csv=True, quotes=1) == (3, 8)  # the rest of a record begun earlier
    assert record_ends('{"a": 1}\n{"b"', csv=False) == (9, 9) and record_ends("{", csv=False) == (-1, 0)


def test_a_read_never_ends_inside_a_utf8_character(tmp_path: Path) -> None:
    data = "a✓é".encode()  # 1 + 3 + 2 bytes
    assert [whole_utf8(data[:n]) for n in range(len(data) + 1)] == [0, 1, 1, 1, 4, 4, 6]
    path = tmp_path / "postgresql.json"
    path.write_bytes(data)
    files = LogFiles(None, str(path))  # type: ignore[arg-type]
    assert files.read_chunk(str(path), 0, 3) == ("a", 1) and files.read_chunk(str(path), 1, 5) == ("✓é", 5)
