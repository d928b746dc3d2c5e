"""`host: embedded`: the reference shop API on a free loopback port, for the length of a run."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from loadorch.errors import RunError


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
