"""Whether a process id names a live process: for the fork server's children, the baseline store's lock and
the run folder's lock. Imports nothing of loadorch."""

from __future__ import annotations

import os


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
