"""Whether a pid is alive: the one helper the fork server, the baseline store and the run folder use."""

from __future__ import annotations

import os
import subprocess
import sys

from loadorch.pids import alive


def test_a_running_process_is_alive_and_a_reaped_one_is_not() -> None:
    assert alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive(child.pid)  # reaped: the pid names nothing (pids are not reused this fast)


def test_someone_elses_process_is_alive() -> None:
    assert alive(1)  # init: as a non-root user not ours to signal (EPERM), yet alive


def test_zero_and_negative_pids_are_never_alive() -> None:
    # os.kill(0, 0) signals our own process group and succeeds: a lock file holding 0 read as held forever
    assert not alive(0)
    assert not alive(-1)
