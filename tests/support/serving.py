"""A loopback HTTP server for a test: a handler class served by a thread, stopped and closed after; and the base of
such handlers (`Target`: an answer written whole in one call, nothing logged)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class Target(http.server.BaseHTTPRequestHandler):
    """A test target's handler: `answer` writes a whole response, `hang_up` closes without one; nothing is logged."""

    def answer(self, status: int, body: bytes = b"", content_type: str = "application/json",
               headers: Mapping[str, str] | None = None) -> None:
        """`status` with `body` (its Content-Type and Content-Length) and `headers`; a client that went meanwhile
        (the run ended while this answer was under way) is no error of the target's."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def hang_up(self) -> None:
        """Close the connection without an answer."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(2)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """`handler` answering on 127.0.0.1 (a thread per connection) while the block runs: its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
