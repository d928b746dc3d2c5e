"""SIGINT/SIGTERM during a run: the first asks for a graceful stop (in any phase, finishing included), a
second one of either kind for an immediate one."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from loadorch.errors import ExitCode


class HardStop(BaseException):
    """A second signal: stop now (processes are still killed in `finally`)."""


class StopSignals:
    def __init__(self) -> None:
        self.received: int | None = None
        self.hard = False  # a second signal came: the run is stopping at once
        self._saved: dict[int, Any] = {}

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
        elif not self.hard:  # once: a third signal must not interrupt the stop itself
            self.hard = True
            raise HardStop

    @property
    def exit_code(self) -> int:
        return ExitCode.SIGTERM if self.received == signal.SIGTERM else ExitCode.SIGINT
