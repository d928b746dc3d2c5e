"""The client's transport seam: what opens a byte stream to host/port (TLS or not), and an in-memory one.

`http.Connection(transport=...)` sends through a `Transport`; without one it opens its own sockets (pinned
addresses, proxies, TLS, and inside a Locust process the gevent fast path), exactly as before, with no
indirection per request. `MemoryTransport` is the tests' transport, in the manner of httpx's MockTransport:
a function from the request's bytes to the response's bytes, no sockets, the response handed out in pieces
of `piece` bytes so that parsing across reads is exercised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Stream(Protocol):
    """An open connection: the subset of `socket.socket` the client's plain path uses."""

    def settimeout(self, value: float | None) -> None: ...
    def send(self, data: bytes) -> int: ...
    def sendall(self, data: bytes) -> None: ...
    def recv(self, size: int) -> bytes: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


class Transport(Protocol):
    """Opens a stream to `host`:`port` (`tls`: encrypted, the host verified) within `timeout` seconds;
    raises OSError (ConnectionRefusedError, TimeoutError ...) as a socket's connect does."""

    def open(self, host: str, port: int, tls: bool, timeout: float) -> Stream: ...


Handler = Callable[[bytes], bytes]  # the request's bytes (head and body) -> the response's bytes


class MemoryStream:
    """One in-memory connection: the bytes sent are handed to the handler when the client first reads; its
    response is then read back in pieces, and the end of it reads as the server closing the connection.
    It has no descriptor (fileno -1), so the client never reuses it: each request opens a stream."""

    def __init__(self, handler: Handler, piece: int) -> None:
        self.handler = handler
        self.piece = piece
        self.sent = bytearray()
        self.response: bytes | None = None
        self.at = 0
        self.closed = False

    def settimeout(self, value: float | None) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def sendall(self, data: bytes) -> None:
        if self.closed:
            raise BrokenPipeError("stream closed")
        self.sent += data

    def recv(self, size: int) -> bytes:
        if self.response is None:
            self.response = self.handler(bytes(self.sent))
        chunk = self.response[self.at : self.at + min(size, self.piece)]
        self.at += len(chunk)
        return chunk

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True


class MemoryTransport:
    """A transport that opens MemoryStreams on `handler`; `opened` keeps (host, port, tls) and each stream."""

    def __init__(self, handler: Handler, piece: int = 65536) -> None:
        self.handler = handler
        self.piece = piece
        self.opened: list[tuple[str, int, bool, MemoryStream]] = []

    def open(self, host: str, port: int, tls: bool, timeout: float) -> MemoryStream:
        stream = MemoryStream(self.handler, self.piece)
        self.opened.append((host, port, tls, stream))
        return stream
