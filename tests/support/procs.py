"""Processes on this machine as the tests see them (Linux /proc): alive or not, and a bounded wait for a state."""

from __future__ import annotations

import time
from collections.abc import Callable


def running(pid: int) -> bool:
    """A live process under `pid`: not gone, and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_for(check: Callable[[], object], what: str, bound_s: float = 30.0) -> None:
    """Until `check()` holds; AssertionError naming `what` after `bound_s` (a bound on a wait for a state, not a
    timing under test)."""
    deadline = time.monotonic() + bound_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
