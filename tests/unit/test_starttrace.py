"""LOADORCH_TRACE_START: the start-up phases a process notes (benchmarks/startup.py reads them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadorch.starttrace import ENV, mark


def test_each_phase_is_one_line_of_clock_pid_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace"
    monkeypatch.setenv(ENV, str(trace))
    mark("cli imported")
    mark("master bound")
    lines = [line.split(" ", 2) for line in trace.read_text().splitlines()]
    assert [(pid, phase) for _, pid, phase in lines] == [(str(os.getpid()), "cli imported"),
                                                        (str(os.getpid()), "master bound")]
    assert float(lines[0][0]) <= float(lines[1][0])


def test_unset_it_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    mark("cli imported")
    assert list(tmp_path.iterdir()) == []


def test_a_path_it_cannot_write_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "missing" / "trace"))
    mark("cli imported")  # the run goes on untraced
    assert not (tmp_path / "missing").exists()


def test_the_run_folder_check_knows_the_results_schema_without_importing_it() -> None:
    from loadorch.results import SCHEMA
    from loadorch.run.outdir import RESULTS_SCHEMA

    assert RESULTS_SCHEMA == SCHEMA
