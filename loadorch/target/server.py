"""The reference shop HTTP API (stdlib server, SQLite or PostgreSQL storage), with test knobs under /_knobs.

Every response says how many database statements it ran and how long the app took:
`Server-Timing: db;count=N;desc="sqlite", app;dur=12.5`. The server keeps its own record of the W3C
trace ids it received (`traceparent`), the last MAX_TRACES of them, with each request's route and app
time: `GET /_traces` (or `?id=<trace id>`, repeated) reads it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypedDict
from urllib.parse import parse_qs, urlsplit

from loadorch.target.knobs import MAX_DELAY_MS, Knobs, slow_python_function
from loadorch.target.store import ApiJson, Store

MAX_BODY = 1024 * 1024
MAX_TRACES = 20_000  # trace ids the server keeps (the oldest dropped first)
MAX_ERROR_KINDS = 20  # kinds of internal error said on stderr (then only counted)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
CLOSE_WAIT_S = 2.0  # a stopping shop's wait for the requests under way (then a thread closes its own connection)
SEED_PRODUCTS = 50  # products 1..50 exist from the start, so reads work before any setup
CATEGORIES = ("books", "games", "toys", "music", "garden")

_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/health"), "health"),
    ("GET", re.compile(r"/products"), "products.list"),
    ("POST", re.compile(r"/products"), "products.create"),
    ("GET", re.compile(r"/products/(\d+)"), "products.get"),
    ("GET", re.compile(r"/categories"), "categories.list"),
    ("POST", re.compile(r"/orders"), "orders.create"),
    ("GET", re.compile(r"/orders/(\d+)"), "orders.get"),
    ("GET", re.compile(r"/_knobs"), "knobs.get"),
    ("GET", re.compile(r"/_traces"), "knobs.traces"),
    ("PUT", re.compile(r"/_knobs"), "knobs.set"),
    ("GET", re.compile(r"/openapi.json"), "openapi"),
    ("GET", re.compile(r"/shop"), "store.shop"),
    ("GET", re.compile(r"/cart"), "store.cart"),
    ("GET", re.compile(r"/static/hero.png"), "store.hero"),
    ("GET", re.compile(r"/static/bundle.js"), "store.bundle"),
    ("GET", re.compile(r"/frame"), "store.frame"),
]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TraceEntry(TypedDict):
    """What the shop noted of a request that carried a trace id (GET /_traces shows them)."""

    method: str
    path: str
    app_ms: float


class ShopServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], store: Store | None = None, knobs: Knobs | None = None) -> None:
        # all set before the bind: a bind that fails (a port in use) calls `server_close`, which closes the store
        self.store = store or Store.seeded(SEED_PRODUCTS)
        self.knobs = knobs or Knobs()
        self.traces: OrderedDict[str, TraceEntry] = OrderedDict()  # trace id -> method, path, app_ms
        self.traces_lock = threading.Lock()
        self.clients: set[Any] = set()  # the client connections' sockets not closed yet
        self.busy = 0  # their threads not ended yet (each holds a database connection until it ends)
        self.clients_done = threading.Condition()
        self.internal_errors: dict[str, int] = {}  # "Type: message" -> times answered 500 (MAX_ERROR_KINDS kinds)
        super().__init__(address, _Handler)

    def internal_error(self, exc: BaseException) -> None:
        """A request that failed inside the shop (its database, a bug) is answered 500, as an app server does,
        and said once per kind on stderr in one line: not a traceback per request under load."""
        what = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        with self.traces_lock:
            n = self.internal_errors.get(what)
            if n is None and len(self.internal_errors) >= MAX_ERROR_KINDS:
                return
            self.internal_errors[what] = (n or 0) + 1
        if n is None:
            print(f"loadorch shop: a request failed inside the shop, answered 500: {what}", file=sys.stderr,
                  flush=True)

    def note_trace(self, trace_id: str, entry: TraceEntry) -> None:
        with self.traces_lock:
            self.traces[trace_id] = entry
            while len(self.traces) > MAX_TRACES:
                self.traces.popitem(last=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.clients_done:  # before its thread starts: `server_close` misses none
            self.clients.add(request)
            self.busy += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._thread_ended()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """One client connection's thread: its database connection goes back to the store when it ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            try:
                self.store.release()
            finally:
                self._thread_ended()

    def _thread_ended(self) -> None:
        with self.clients_done:
            self.busy -= 1
            self.clients_done.notify_all()

    def shutdown_request(self, request: Any) -> None:
        with self.clients_done:  # out of the set before it is closed: `server_close` never shuts a reused fd
            self.clients.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """No new connection; the open ones end once their request under way is answered (a kept-alive idle one
        at once: it reads the end), waited for at most CLOSE_WAIT_S; then the store closes. A client that kept
        its connection open kept its thread and database connection (a PostgreSQL backend) as long."""
        super().server_close()
        deadline = time.monotonic() + CLOSE_WAIT_S
        with self.clients_done:
            for sock in self.clients:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)
            while self.busy > 0 and deadline > time.monotonic():
                self.clients_done.wait(deadline - time.monotonic())
        self.store.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-response are normal under load (a stopped user): stay quiet."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the body follows the headers at once: no delayed-ACK stall on keep-alive
    server: ShopServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: a load test makes many requests
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = self._started = time.monotonic()
        split = urlsplit(self.path)
        method = "GET" if self.command == "HEAD" else self.command
        store = self.server.store
        store.begin_request()
        try:
            body = self._read_body()
            route, args = _match(method, split.path)
            knobs = self.server.knobs
            if not route.startswith("knobs"):
                knobs.wait_out_stall()
                if knobs.should_fail(route, method != "GET"):
                    raise ApiError(knobs.error_status, "injected error")
                burn = knobs.cpu_for(route)
                if burn > 0:
                    slow_python_function(burn)
                slow = knobs.take_slow() if route not in ("health", "openapi") else None
                if slow is not None:
                    store.slow_statement(slow)
                for cause in knobs.take_causes() if route not in ("health", "openapi") else ():
                    store.run_cause(cause)
            query = parse_qs(split.query)
            asked_ms = _delay_ms(query)  # checked before the request does anything
            if route.startswith("store."):  # storefront pages for browser users: HTML and an image
                from loadorch.target.storefront import respond

                self._send_raw(*respond(route, query, knobs.storefront, self.server.server_address[1]))
                self._app = self._app_ms()
                self._note_trace(split.path)  # a browser's page loads carry trace ids too
                return
            status, payload = _handle(self.server, route, args, query, body)
            # ?delay_ms=N adds latency to one request: lets a scenario make some requests slower than others
            added = 0.0 if route.startswith("knobs") else knobs.delay_for(route)  # knob calls start no warm-up
            delay = added + asked_ms / 1000.0 - (time.monotonic() - started)
            if delay > 0 and not route.startswith("knobs"):
                time.sleep(delay)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except (ValueError, KeyError, TypeError) as exc:
            status, payload = 400, {"error": f"bad request: {exc}"}
        except (ConnectionError, TimeoutError):
            raise  # the client hung up (a stopped user, a closed page): nothing to answer (handle_error: quiet)
        except Exception as exc:  # the database (sqlite3.Error, psycopg.Error) or a bug: 500, not a dropped connection
            self.server.internal_error(exc)
            status, payload = 500, {"error": f"internal error: {type(exc).__name__}"}
        self._send(status, payload, store.queries())
        self._note_trace(split.path)

    def _app_ms(self) -> float:
        return round((time.monotonic() - self._started) * 1000.0, 3)

    def _note_trace(self, path: str) -> None:
        """The server's own record of the trace id it was sent (none: nothing noted)."""
        found = _TRACEPARENT.match((self.headers.get("traceparent") or "").strip())
        if found is not None and path != "/_traces":
            self.server.note_trace(found.group(1), TraceEntry(method=self.command, path=path[:200], app_ms=self._app))

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, "body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "body is not JSON") from None

    def _send_raw(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Server-Timing", f'db;count={self.server.store.queries()};desc="{self.server.store.backend}"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send(self, status: int, payload: Any, queries: int) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self._app = self._app_ms()  # the app's time, as Server-Timing says it and the trace record keeps it
        timing = f'db;count={queries};desc="{self.server.store.backend}", app;dur={self._app}'
        self.send_header("Server-Timing", timing)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _match(method: str, path: str) -> tuple[str, tuple[str, ...]]:
    allowed = False
    for m, pattern, route in _ROUTES:
        found = pattern.fullmatch(path)
        if found:
            if m == method:
                return route, found.groups()
            allowed = True
    raise ApiError(405 if allowed else 404, f"no route {method} {path}")


def _handle(
    server: ShopServer, route: str, args: tuple[str, ...], query: dict[str, list[str]], body: Any
) -> tuple[int, Any]:
    store = server.store
    if route == "health":
        return 200, {"status": "ok", **store.counts()}
    if route == "products.list":
        limit = min(max(int(_q(query, "limit", "20")), 1), 100)
        after = _int(_q(query, "after", "0"), "after")
        items = store.list_products(query.get("category", [None])[0], after, limit, server.knobs.n_plus_one)
        return 200, {"items": items, "next": items[-1]["id"] if len(items) == limit else None}
    if route == "products.get":
        return _found(store.get_product(_int(args[0], "product id")), "product")
    if route == "products.create":
        obj = _object(body)
        category = str(obj.get("category", "books"))
        return 201, store.create_product(str(obj["name"]), category, _int(obj.get("price_cents", 0), "price_cents"))
    if route == "categories.list":
        return 200, {"items": store.categories()}
    if route == "orders.create":
        obj = _object(body)
        qty = _int(obj.get("qty", 1), "qty")
        if qty < 1:
            raise ApiError(422, "qty must be at least 1")
        order = store.create_order(str(obj["customer"]), _int(obj["product_id"], "product_id"), qty)
        if order is None:
            raise ApiError(422, "no such product")
        return 201, order
    if route == "orders.get":
        return _found(store.get_order(_int(args[0], "order id")), "order")
    if route == "knobs.get":
        return 200, server.knobs.snapshot()
    if route == "knobs.traces":
        wanted = query.get("id")
        with server.traces_lock:
            traces = {k: server.traces[k] for k in wanted if k in server.traces} if wanted else dict(server.traces)
        return 200, {"kept": MAX_TRACES, "traces": traces}
    if route == "knobs.set":
        server.knobs.update(_object(body))
        if server.knobs.db_causes:
            store.prepare_causes(tuple(server.knobs.db_causes))
        return 200, server.knobs.snapshot()
    if route == "openapi":
        from loadorch.target.openapi import document

        return 200, document()
    raise ApiError(404, "no route")


INT_RANGE = (-(2**31), 2**31 - 1)  # the stores' INTEGER columns (PostgreSQL's int4; SQLite's fits it)


def _int(value: Any, name: str) -> int:
    """A request's integer field or path part; one the stores cannot hold is a 400 naming it (it was a 500: an
    OverflowError of SQLite, an out-of-range error of PostgreSQL), as a value that is not a number is."""
    number = int(value)
    if not INT_RANGE[0] <= number <= INT_RANGE[1]:
        low, high = INT_RANGE
        raise ApiError(400, f"{name}: {str(value)[:40]} is out of range (an integer from {low} to {high})")
    return number


def _q(query: dict[str, list[str]], key: str, default: str) -> str:
    return query.get(key, [default])[0]


def _delay_ms(query: dict[str, list[str]]) -> float:
    """`?delay_ms=N`: a number of milliseconds from 0 to MAX_DELAY_MS (a 400 otherwise: `1e9` held a handler
    thread for 11 days, `inf` was a 500)."""
    text = _q(query, "delay_ms", "0")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_DELAY_MS:  # nan fails both
        raise ApiError(400, f"delay_ms={text[:40]!r}: give a number of milliseconds from 0 to {MAX_DELAY_MS}")
    return value


def _object(body: Any) -> ApiJson:
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    return body


def _found(obj: ApiJson | None, what: str) -> tuple[int, Any]:
    if obj is None:
        raise ApiError(404, f"no such {what}")
    return 200, obj


def open_store(database: str | None) -> Store:
    """SQLite in a temporary folder by default; PostgreSQL for a postgresql:// DSN."""
    if database is None:
        return Store.seeded(SEED_PRODUCTS)
    from loadorch.target.store_pg import PgStore

    return PgStore.seeded(SEED_PRODUCTS, database)


def start(
    host: str = "127.0.0.1", port: int = 0, knobs: Knobs | None = None, store: Store | None = None
) -> tuple[ShopServer, threading.Thread]:
    """Start the server in a background thread; returns once it is listening."""
    server = ShopServer((host, port), store=store, knobs=knobs)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="loadorch-target"
    )
    thread.start()
    return server, thread
