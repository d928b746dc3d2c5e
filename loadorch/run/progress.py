"""Live progress: one updating status line on a terminal, a plain line every few seconds in CI."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from loadorch.wire import ProgressEvent


class Progress:
    def __init__(self, total_s: float | None, stream: TextIO = sys.stderr, every_s: float = 5.0) -> None:
        self.total_s = total_s
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self.last_plain = 0.0
        self.dirty = False

    def note(self, text: str) -> None:
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, event: ProgressEvent) -> None:
        line = self.format(event)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.dirty = True
        elif time.monotonic() - self.last_plain >= self.every_s:
            self.last_plain = time.monotonic()
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        if self.tty and self.dirty:
            self.stream.write("\r\x1b[2K")
            self.dirty = False

    def format(self, e: ProgressEvent) -> str:
        total = f"/{self.total_s:.0f}s" if self.total_s else "s"

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}ms"

        lost = f"  LOST workers {e.lost}" if e.lost else ""
        behind = f"  master {e.lag_s:.1f}s behind its workers" if e.lag_s > 1.0 else ""
        return (
            f"{e.elapsed_s:.0f}{total}  users {e.users}  {e.rps:.0f} req/s  "
            f"p95 read {ms(e.p95_read_ms)} write {ms(e.p95_write_ms)}  "
            f"errors {e.failures}/{e.requests}{lost}{behind}"
        )
