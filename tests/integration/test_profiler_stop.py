"""A py-spy that does not stop when the window ends: loadorch kills it after its wait, and the profiler's warning
says what happened and the fix for that (not the fix for a target that was never running). The py-spy here is a
stand-in on PATH that ignores SIGINT, as a py-spy busy writing a huge profile does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadorch.config.profilers import ProfilerSpec
from loadorch.profiling.attach import GONE_FIX
from loadorch.run import profiler
from tests.support.procs import running, wait_for

DEAF_PY_SPY = """#!/bin/sh
trap '' INT
: > "$(dirname "$0")/ready"
exec sleep 600
"""


def test_a_py_spy_that_does_not_stop_is_killed_and_its_warning_gives_that_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "py-spy").write_text(DEAF_PY_SPY)
    (tools / "py-spy").chmod(0o755)
    monkeypatch.setattr(profiler, "STOP_WAIT_S", 0.5)  # the wait for py-spy to write its file, made short
    p = profiler.Profilers([ProfilerSpec(pid=os.getpid())], str(tmp_path), None, str(tmp_path), str,
                           {"PATH": str(tools)})
    p.start()
    [item] = p.items
    assert item.proc is not None, item.problem
    try:
        wait_for(lambda: (tools / "ready").exists(), "the stand-in py-spy to ignore SIGINT")
        checks, [section] = p.finish(str(tmp_path / "out"))
    finally:
        if item.proc.poll() is None:
            item.proc.kill()
            item.proc.wait()
    assert not running(item.proc.pid)
    assert section.problem == "py-spy did not stop within 0.5s of SIGINT and was killed: its profile is lost"
    assert section.fix is not None and section.fix != GONE_FIX and "profilers[].rate" in section.fix, section.fix
    assert checks[0].verdict == "warning" and "lower profilers[].rate" in checks[0].message, checks[0].message
