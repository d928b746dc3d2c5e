"""Pieces shared by the master and worker processes (no locust import here)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from loadorch.wire import LOST_AFTER_S, Event

REPORT_INTERVAL_S = 1.0
FINAL_WAIT_S = 10.0
__all__ = ["FINAL_WAIT_S", "LOST_AFTER_S", "REPORT_INTERVAL_S", "emit", "watch_parent", "write_json_atomic"]


def emit(event: Event) -> None:
    """One JSON line on stdout: the master's channel to the controller (read by wire.parse_event)."""
    sys.stdout.write(event.line())
    sys.stdout.flush()


def watch_parent() -> None:
    """Exit when the controller that started us dies (SIGKILL leaves no chance to clean up)."""
    parent = os.environ.get("LOADORCH_PARENT_PID")
    if not parent:
        return
    pid = int(parent)

    def loop() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != pid:
                os._exit(70)

    threading.Thread(target=loop, name="loadorch-parent-watch", daemon=True).start()


def write_json_atomic(path: str, doc: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, separators=(",", ":")))  # dumps: the C encoder (dump streams in Python)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
