"""The CLI as a subprocess whose reader leaves early (`loadorch compare A B | head`): quiet, its own exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadorch.report.results import RunRecord, build
from loadorch.run.artifacts import write_json
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey

ENDPOINTS = 80  # compare's tables then run past the 8 KiB a pipe's stdout buffers before its first write


def _run_folder(path: Path, latency_ms: float) -> None:
    m = Merged()
    for i in range(ENDPOINTS):
        m.series[SeriesKey("u", f"endpoint number {i}", "read", "GET", 200, True)] = Histogram.of(
            [int(latency_ms * 1000)] * 1000
        )
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", f"t0-{path.name}", "t1", {}, "pass", 0, merged=m,
                       elapsed_s=10.0)  # a run of its own per folder (one run given twice is inconclusive)
    write_json(str(path / "results.json"), build(record).to_json())


def _compare_into_a_closed_pipe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write meets a closed pipe
    try:
        return subprocess.run(
            [sys.executable, "-m", "loadorch", *args], cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE,
            timeout=120, check=False,
        )
    finally:
        os.close(write_end)


def test_a_closed_pipe_ends_compare_quietly_with_the_comparisons_exit_code(tmp_path: Path) -> None:
    _run_folder(tmp_path / "base", 10.0)
    _run_folder(tmp_path / "slow", 30.0)
    slow = _compare_into_a_closed_pipe(tmp_path, "compare", "base", "slow", "--out", "cmp")
    assert slow.stderr.decode() == "" and slow.returncode == 1, (slow.returncode, slow.stderr)  # a regression
    assert (tmp_path / "cmp" / "compare.json").is_file() and (tmp_path / "cmp" / "compare.html").is_file()
    _run_folder(tmp_path / "again", 10.0)
    same = _compare_into_a_closed_pipe(tmp_path, "compare", "base", "again", "--out", "same")
    assert same.stderr.decode() == "" and same.returncode == 0, (same.returncode, same.stderr)


def test_a_closed_pipe_ends_other_commands_quietly_too(tmp_path: Path) -> None:
    listed = _compare_into_a_closed_pipe(tmp_path, "list")  # a command with little output: flushed at exit
    assert listed.stderr.decode() == "" and listed.returncode == 0, listed.stderr
    help_text = _compare_into_a_closed_pipe(tmp_path, "run", "--help")
    assert b"Error" not in help_text.stderr and help_text.returncode == 0, help_text.stderr
