"""Before a run: can the metrics endpoint and the live page bind where they were asked to?"""

from __future__ import annotations

import socket


def bind_problem(flag: str, host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (in use, not a local address), or None. Port 0 is any port: the
    address is checked all the same."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        return f"{flag} {port}: cannot listen on {host}:{port} ({exc.strerror or exc})"
    return None
