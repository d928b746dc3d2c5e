"""The browser's network rail: a loopback SOCKS5 relay that only hosts in `allowed_hosts` pass.

Chromium is started with every connection going through a rail (`--proxy-server=socks5://...` with
`<-loopback>`, so loopback targets too) and each page's browser context has a rail of its own (named by
the page). Whatever DevTools interception cannot see (WebSocket handshakes, a popup before it is
attached, a beacon sent while a page closes, service workers) still needs a connection, and a connection
to a host outside the list never leaves: the rail answers it itself. A plain-text request (`http://`,
`ws://`) gets a 403 and is reported with its URL; a TLS one is reported by host and port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import struct
import threading
from collections.abc import Callable

Decide = Callable[[str, int], list[str] | None]  # (host, port) -> the addresses to connect to, None: refused
Report = Callable[[str], None]  # a blocked attempt's URL (or scheme://host:port for TLS)

MAX_CONNECTIONS = 512  # per worker: Chromium keeps at most 256 sockets per profile; more is refused, not queued
FIRST_BYTES_S = 10.0  # a blocked connection: how long to wait for the request it carries
CONNECT_TIMEOUT_S = 10.0
REFUSED = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 58\r\n\r\n"
    b"loadorch: this host is not in the profile's allowed_hosts\n"
)
SOCKS_OK, SOCKS_FAILED, SOCKS_REFUSED, SOCKS_UNSUPPORTED = 0, 1, 5, 7


class Slots:
    """The connections all rails of a worker may hold at once (each is a thread)."""

    def __init__(self, limit: int = MAX_CONNECTIONS) -> None:
        self.sem = threading.BoundedSemaphore(limit)


class Rail:
    """One listening SOCKS5 port on 127.0.0.1; `decide` says where an allowed connection goes."""

    def __init__(self, decide: Decide, report: Report, slots: Slots) -> None:
        self.decide, self.report, self.slots = decide, report, slots
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        self.port = int(self.server.getsockname()[1])
        self.url = f"socks5://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.live: set[socket.socket] = set()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True, name="loadorch-rail")
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.slots.sem.acquire(blocking=False):
                conn.close()  # Chromium sees a proxy failure: a failed request, never one that went around
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="loadorch-rail-conn").start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        self._track(client)
        try:
            client.settimeout(CONNECT_TIMEOUT_S)
            host, port = _handshake(client)
            addresses = self.decide(host, port)
            if addresses is None:
                _reply(client, SOCKS_OK)  # accepted here, so the request it carries can be named and refused
                self._refuse(client, host, port)
                return
            upstream = _connect(addresses, port)
            if upstream is None:
                _reply(client, SOCKS_REFUSED)
                return
            self._track(upstream)
            _reply(client, SOCKS_OK)
            _relay(client, upstream)
        except (OSError, ValueError):
            pass
        finally:
            for s in (client, upstream):
                if s is not None:
                    self._untrack(s)
                    with contextlib.suppress(OSError):
                        s.close()
            self.slots.sem.release()

    def _refuse(self, client: socket.socket, host: str, port: int) -> None:
        client.settimeout(FIRST_BYTES_S)
        try:
            head = _read_head(client)
        except OSError:
            return  # a connection opened ahead of need and never used: no request went anywhere
        if not head:
            return
        shown = f"[{host}]" if ":" in host else host
        if head[:1] == b"\x16":  # a TLS ClientHello: the URL is inside the encryption
            self.report(f"https://{shown}:{port} (TLS)")
            return
        line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace").split(" ")
        target = line[1] if len(line) >= 3 else "/"
        scheme = "ws" if b"\r\nupgrade: websocket" in head.lower() else "http"
        path = target if target.startswith("/") else "/"
        self.report(f"{scheme}://{shown}:{port}{path}")  # cut by the page's runner, its secrets masked first
        with contextlib.suppress(OSError):
            client.sendall(REFUSED)

    def _track(self, s: socket.socket) -> None:
        with self.lock:
            self.live.add(s)

    def _untrack(self, s: socket.socket) -> None:
        with self.lock:
            self.live.discard(s)

    def close(self) -> None:
        self.closing.set()
        with contextlib.suppress(OSError):
            self.server.close()
        with self.lock:
            live = list(self.live)
        for s in live:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=2)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ValueError("the client closed the connection during the SOCKS handshake")
        data += chunk
    return data


def _handshake(s: socket.socket) -> tuple[str, int]:
    """RFC 1928: no authentication, CONNECT only. The destination host as the client named it."""
    version, methods = _recv_exact(s, 2)
    _recv_exact(s, methods)
    if version != 5:
        raise ValueError("not SOCKS5")
    s.sendall(b"\x05\x00")
    version, command, _, kind = _recv_exact(s, 4)
    if kind == 1:
        host = str(ipaddress.IPv4Address(_recv_exact(s, 4)))
    elif kind == 4:
        host = str(ipaddress.IPv6Address(_recv_exact(s, 16)))
    elif kind == 3:
        host = _recv_exact(s, _recv_exact(s, 1)[0]).decode("idna").lower()
    else:
        raise ValueError("unknown SOCKS address type")
    (port,) = struct.unpack("!H", _recv_exact(s, 2))
    if version != 5 or command != 1:
        _reply(s, SOCKS_UNSUPPORTED)
        raise ValueError("only SOCKS5 CONNECT is supported")
    return host, port


def _reply(s: socket.socket, code: int) -> None:
    s.sendall(bytes((5, code, 0, 1, 0, 0, 0, 0, 0, 0)))


def _connect(addresses: list[str], port: int) -> socket.socket | None:
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            continue
    return None


def _read_head(s: socket.socket, limit: int = 16384) -> bytes:
    """The start of what the client sends: up to the end of an HTTP request's headers, or its first bytes."""
    head = b""
    while len(head) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
        if head[:1] == b"\x16" or b"\r\n\r\n" in head:
            break
    return head


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Bytes both ways until both sides have finished sending (a half-close is passed on)."""
    a.settimeout(None)
    b.settimeout(None)
    peer = {a: b, b: a}
    open_reads = {a, b}
    with selectors.DefaultSelector() as sel:
        for s in open_reads:
            sel.register(s, selectors.EVENT_READ)
        while open_reads:
            for key, _ in sel.select():
                src = key.fileobj
                assert isinstance(src, socket.socket)
                data = src.recv(65536)
                if data:
                    peer[src].sendall(data)
                    continue
                sel.unregister(src)
                open_reads.discard(src)
                with contextlib.suppress(OSError):
                    peer[src].shutdown(socket.SHUT_WR)
