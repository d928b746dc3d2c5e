"""SIGINT/SIGTERM during a run: the first asks for a graceful stop (in any phase, finishing included), a
second one of either kind for an immediate one, which never skips ending the run's processes (`deferred`)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType
from typing import Any

from loadorch.errors import ExitCode


class HardStop(BaseException):
    """A second signal: stop now (processes are still killed in `finally`)."""


class StopRequested(BaseException):
    """A first signal inside `interruptible()`: the blocking call in it (a setup request) ends now."""


class StopSignals:
    def __init__(self) -> None:
        self.received: int | None = None
        self.hard = False  # a second signal came: the run is stopping at once
        self._saved: dict[int, Any] = {}
        self._deferring = False  # inside `deferred()`: a second signal is raised when the block ends
        self._interruptible = False  # inside `interruptible()`: a first signal is raised at once

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if self._interruptible:
                raise StopRequested
        elif not self.hard:  # once: a third signal must not interrupt the stop itself
            self.hard = True
            if not self._deferring:
                raise HardStop

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block a second signal cannot cut short (ending processes: one interrupted half-way left a worker
        behind, stopped for good): the signal sets `hard` (the block hurries) and HardStop is raised after it."""
        outer, self._deferring = self._deferring, True
        hard_before = self.hard
        try:
            yield
        finally:
            self._deferring = outer
        if self.hard and not hard_before and not outer:
            raise HardStop

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block of blocking calls the controller makes itself (setup requests, the database probe), which
        checks for a signal only between them: a first signal raises StopRequested in it at once. A request to a
        target that hung held a SIGTERM for the whole request_timeout (a minute, as configured), the run unkillable
        but by a second signal that skipped its artifacts."""
        outer, self._interruptible = self._interruptible, True
        try:
            if self.received is not None:
                raise StopRequested
            yield
        finally:
            self._interruptible = outer

    @property
    def exit_code(self) -> int:
        return ExitCode.SIGTERM if self.received == signal.SIGTERM else ExitCode.SIGINT
