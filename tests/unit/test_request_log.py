"""requests.jsonl is sorted by streaming: memory stays bounded however long the log, the order and redaction exact."""

from __future__ import annotations

import json
import os
import random
import tracemalloc
from pathlib import Path

from loadorch.run.outputs import sort_request_log
from loadorch.traffic.redact import Redactor
from loadorch.traffic.request import Outcome, request_log_line

SECRET = "s3cr3t-token-value"


def _log(path: str, lines: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    rows = []
    for n in range(lines):
        worker, user = rng.randrange(4), rng.randrange(50)
        # `q`: no credential name (request_log_line would mask it itself), so the sort's redactor is what is tested
        outcome = Outcome(200, True, None, rng.randrange(1000, 90000), f"/items/{n}?q={SECRET}", b"{}")
        rows.append(request_log_line(worker, user, "u", n, "read", "items", "GET", outcome))
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(rows)
    return rows


def test_a_log_many_times_the_memory_bound_is_sorted_in_bounded_memory(tmp_path) -> None:
    src, out = str(tmp_path / "requests.unsorted.jsonl"), str(tmp_path / "requests.jsonl")
    rows = _log(src, 12_000)
    size, chunk = os.path.getsize(src), 256 << 10
    assert size > 10 * chunk
    tracemalloc.start()
    try:
        sort_request_log(src, out, Redactor(), chunk_bytes=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2, (peak, size)  # the whole log never sits in memory: a chunk and a line per run do
    got = [json.loads(line) for line in Path(out).read_text(encoding="utf-8").splitlines()]
    want = sorted((json.loads(r) for r in rows), key=lambda r: (r["worker"], r["user"], r["sequence"]))
    assert [(r["worker"], r["user"], r["sequence"]) for r in got] == [
        (r["worker"], r["user"], r["sequence"]) for r in want
    ]
    assert sorted(os.listdir(tmp_path)) == ["requests.jsonl", "requests.unsorted.jsonl"]  # no run files left


def test_chunks_are_redacted_and_an_empty_log_is_empty(tmp_path) -> None:
    src, out = str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")
    rows = _log(src, 300)
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("\n")  # a blank line is skipped
    sort_request_log(src, out, Redactor([SECRET]), chunk_bytes=4096)
    text = Path(out).read_text(encoding="utf-8")
    assert SECRET not in text and text.count("q=***") == 300
    assert [json.loads(x)["sequence"] for x in text.splitlines()] == [
        r["sequence"] for r in sorted(map(json.loads, rows), key=lambda r: (r["worker"], r["user"], r["sequence"]))
    ]
    Path(src).write_text("")
    sort_request_log(src, out, Redactor())
    assert Path(out).read_text(encoding="utf-8") == ""
