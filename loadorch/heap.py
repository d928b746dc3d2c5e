"""glibc's heap in a long-lived process with threads: fewer arenas, and free pages given back (a no-op elsewhere).

glibc gives each thread that meets contention an arena of its own (up to 8 per core), and an arena keeps
the pages of what was freed in it. The browser worker runs a thread per page, the DevTools reader and a
thread per rail connection, each allocating and freeing messages and buffers: its Python objects stay the
same (tracemalloc, #32) while its thread arenas grew about 1 MB an hour, all of it free space that
malloc_trim gave back. `limit_arenas` (before the threads start) keeps those buffers in a few arenas that
reuse their own free space; `Trimmer` gives what is free back to the kernel now and then.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)
ARENAS = 2
TRIM_EVERY_S = 60.0


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.malloc_trim, libc.mallopt  # noqa: B018 (glibc has both; musl and others may not)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most `arenas` malloc arenas for this process (the main one included): True if glibc took it."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Free pages of every arena back to the kernel (malloc_trim(0)): True if some were."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


class Trimmer:
    """`tick(now)` trims once `every` seconds have passed since the last trim (or since it was made)."""

    def __init__(self, now: float, every: float = TRIM_EVERY_S, trim_: Callable[[], bool] = trim) -> None:
        self.every = every
        self.next = now + every
        self.trim = trim_
        self.trims = 0

    def tick(self, now: float) -> None:
        if now >= self.next:
            self.next = now + self.every
            self.trim()
            self.trims += 1
