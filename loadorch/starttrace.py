"""Where a run's start-up time goes: with LOADORCH_TRACE_START=FILE, every process of the run (the controller,
the fork server, the master, the workers) appends one line per phase it reaches to FILE: the monotonic clock
(one clock for every process of the machine), its pid and the phase. benchmarks/startup.py reads them.

Unset (the normal case), `mark` costs one environment lookup. The lines hold phase names only, never a value
of the run (no host, header or variable)."""

from __future__ import annotations

import os
import time

ENV = "LOADORCH_TRACE_START"


def mark(phase: str) -> None:
    """Note that this process reached `phase` now (only with LOADORCH_TRACE_START set)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = f"{time.monotonic():.6f} {os.getpid()} {phase}\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        os.write(fd, line)  # one write of a short line in append mode: lines of several processes never mix
    finally:
        os.close(fd)
