"""Pieces shared by the master and worker processes (no locust import here)."""

from __future__ import annotations

import _thread
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from loadorch.wire import FINAL_WAIT_S as FINAL_WAIT_S  # with the cap it sets (wire.FINAL_WAIT_CAP_S)
from loadorch.wire import LOST_AFTER_S as LOST_AFTER_S  # the master's bound, where the workers' constants are
from loadorch.wire import Event

REPORT_INTERVAL_S = 1.0


def emit(event: Event) -> None:
    """One JSON line on stdout: the master's channel to the controller (read by wire.parse_event)."""
    sys.stdout.write(event.line())
    sys.stdout.flush()


_watching: list[bool] = []  # started once per process (the entry point starts it before Locust is imported)


def watch_parent() -> None:
    """Exit when the controller that started us dies (SIGKILL leaves no chance to clean up). Watched from a
    real OS thread: in a gevent-patched process `threading.Thread` makes a greenlet, which an event loop busy
    with thousands of users on a shared machine ran seconds late (processes outlived their controller by
    more than 10 s at load average 15)."""
    parent = os.environ.get("LOADORCH_PARENT_PID")
    if not parent or _watching:
        return
    _watching.append(True)
    pid = int(parent)
    start_thread, sleep = real_thread()

    def loop() -> None:
        while True:
            sleep(0.5)
            if os.getppid() != pid:
                os._exit(70)

    start_thread(loop, ())


def forget_parent_watch() -> None:
    """In a process forked from one that watched its parent: the watching thread did not survive the fork."""
    _watching.clear()


def real_thread() -> tuple[Callable[..., Any], Callable[[float], None]]:
    """The thread starter and sleep of the interpreter, not gevent's (when it has patched this process)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return monkey.get_original("_thread", "start_new_thread"), monkey.get_original("time", "sleep")
    return _thread.start_new_thread, time.sleep


def write_json_atomic(path: str, doc: Any) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, separators=(",", ":")))  # dumps: the C encoder (dump streams in Python)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
