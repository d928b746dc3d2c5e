"""Whether a process id names a live process: for the fork server's children, the baseline store's lock and
the run folder's lock; and a child that dies with its parent. Imports nothing of loadorch."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable


def alive(pid: int) -> bool:
    """Signal 0 reaches `pid` (or would, but we may not signal it). 0 and negatives are never a process: `kill`
    would address a process group instead, and a lock file holding 0 must not read as held forever."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def dies_with_parent() -> Callable[[], None]:
    """A `preexec_fn` that makes the child SIGKILLed when the process that started it dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG; the starting thread must live as long as the child is wanted: the main thread). libc is
    loaded here, in the parent: a dlopen between fork and exec could wait for a loader lock another thread held at
    the fork, and the Popen with it. ctypes is imported here, not with the module (the run's start imports it)."""
    import ctypes

    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except OSError:
        return lambda: None

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return preexec
