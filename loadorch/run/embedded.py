"""`host: embedded`: the reference shop API on a free loopback port, for the length of a run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

from loadorch.errors import RunError

_ANNOUNCED = re.compile(r"reference shop API on (http://[0-9.]+:[0-9]+),")


@contextlib.contextmanager
def embedded_target() -> Iterator[str]:
    from loadorch.target.server import start

    server, thread = start("127.0.0.1", 0)
    try:
        _wait_ready(server.url)
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _wait_ready(url: str, timeout: float = 10.0) -> None:
    host, port = url.rsplit("//", 1)[1].split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RunError(f"the embedded target did not start listening within {timeout:g}s")


@contextlib.contextmanager
def embedded_process(scratch: str, env: Mapping[str, str], timeout: float = 20.0) -> Iterator[tuple[str, int]]:
    """The embedded shop in a process of its own (`loadorch target serve --port 0`), for a profiler to
    sample only the shop's code and measure only its CPU: yields (its URL, its pid); stopped at the end."""
    log = os.path.join(scratch, "embedded-target.log")
    argv = [sys.executable, "-m", "loadorch", "target", "serve", "--port", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env), start_new_session=True
        )
    try:
        url = _announced_url(proc, log, timeout)
        _wait_ready(url)
        yield url, proc.pid
    finally:
        _stop(proc)


def _announced_url(proc: subprocess.Popen[bytes], log: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log, "rb") as fh:
            found = _ANNOUNCED.search(fh.read(4096).decode("utf-8", "replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    with open(log, "rb") as fh:
        tail = fh.read()[-1000:].decode("utf-8", "replace").strip()
    raise RunError(f"the embedded target's process did not start within {timeout:g}s: {tail or 'no output'}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # `target serve` ends its loop on an interrupt
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
