"""A small Chrome DevTools Protocol client: one websocket to the browser, flat sessions for its pages.

A reader thread routes replies to their callers and events to their session; event handlers run on that
thread and must not block on a reply (use `send`, which does not wait).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

# A JSON object of the DevTools protocol, from or to Chromium: a message, an event's params, a command's
# params or result. Its shape is the protocol's (chromedevtools.github.io/devtools-protocol), per method:
# readers take the fields they use, with .get, and treat a missing one as the browser not saying.
CdpObject = dict[str, Any]
Handler = Callable[[CdpObject], None]
Route = Callable[["Session", CdpObject], None]  # a target attached to us, with its attachedToTarget params
AUTO_ATTACH = {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}
# the browser's own windows (omnibox, tabs as such) are not the pages' business
TOP_LEVEL = [*({"type": t, "exclude": True} for t in ("browser", "tab", "browser_ui")), {}]


class CDPError(Exception):
    """A protocol error reply, a closed connection or a reply that did not come in time."""


class Connection:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.ws: ClientConnection = connect(url, max_size=None, open_timeout=timeout, ping_interval=None)
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._next_id = 0
        self._replies: dict[int, CdpObject] = {}
        self._waiting: set[int] = set()
        self.sessions: dict[str, Session] = {}
        self.contexts: dict[str, Route] = {}  # browser context id -> who guards the targets created in it
        self.root = Session(self, None)
        self.closed: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True, name="loadorch-cdp-reader")
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        if msg["id"] in self._waiting:
                            self._replies[msg["id"]] = msg
                            self._cond.notify_all()
                    continue
                session = self.sessions.get(msg.get("sessionId") or "") if msg.get("sessionId") else self.root
                if session is not None:
                    session.dispatch(msg.get("method", ""), msg.get("params", {}))
        except ConnectionClosed:
            pass
        except Exception as exc:  # a malformed message: the connection is unusable, say why
            self.closed = f"DevTools connection failed: {exc}"
        with self._cond:
            self.closed = self.closed or "the browser closed the DevTools connection"
            self._cond.notify_all()
        for session in [*list(self.sessions.values()), self.root]:
            session.wake()

    def send(self, method: str, params: CdpObject | None = None, session_id: str | None = None) -> int:
        with self._cond:
            if self.closed:
                raise CDPError(self.closed)
            self._next_id += 1
            msg_id = self._next_id
            self._waiting.add(msg_id)
        msg: CdpObject = {"id": msg_id, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        try:
            with self._send_lock:
                self.ws.send(json.dumps(msg))
        except ConnectionClosed:
            raise CDPError("the browser closed the DevTools connection") from None
        return msg_id

    def call(
        self, method: str, params: CdpObject | None = None, session_id: str | None = None, timeout: float = 30.0
    ) -> CdpObject:
        msg_id = self.send(method, params, session_id)
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._replies:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    self._waiting.discard(msg_id)
                    raise CDPError(self.closed or f"{method}: no reply within {timeout:g}s")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id)
            self._waiting.discard(msg_id)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return dict(reply.get("result", {}))

    def forget(self, msg_id: int) -> None:
        """Drop the reply of a `send` nobody waits for."""
        with self._cond:
            self._waiting.discard(msg_id)
            self._replies.pop(msg_id, None)

    def adopt(self, params: CdpObject) -> Session:
        """The session of an `attachedToTarget` event, registered before any of its own events is read."""
        session = Session(self, str(params["sessionId"]), dict(params.get("targetInfo") or {}))
        self.sessions[str(params["sessionId"])] = session
        return session

    def attach_every_target(self) -> None:
        """Every new top-level target (our pages, their popups, service workers) is attached before it runs:
        one created in a browser context of `contexts` goes to its owner, which lets it run once guarded;
        any other is let run and left alone."""
        self.root.on("Target.attachedToTarget", self._attached)
        self.root.on("Target.detachedFromTarget", self._detached)
        self.call("Target.setAutoAttach", {**AUTO_ATTACH, "filter": TOP_LEVEL})

    def _detached(self, params: CdpObject) -> None:
        self.sessions.pop(str(params.get("sessionId")), None)

    def _attached(self, params: CdpObject) -> None:
        session = self.adopt(params)
        route = self.contexts.get(str(session.info.get("browserContextId")))
        if route is not None:
            route(session, params)
            return
        session.send("Runtime.runIfWaitingForDebugger")
        self.root.send("Target.detachFromTarget", sessionId=session.id)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self._reader.join(timeout=5)


class Session:
    """One attached target: calls, event handlers, and waits for events."""

    def __init__(self, conn: Connection, session_id: str | None, info: CdpObject | None = None) -> None:
        self.conn = conn
        self.id = session_id
        self.info = info or {}  # the target's targetInfo when it was attached
        self.handlers: dict[str, list[Handler]] = {}
        self._events: list[tuple[str, CdpObject]] = []
        self._cond = threading.Condition()

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> CdpObject:
        return self.conn.call(method, params, self.id, timeout)

    def send(self, method: str, **params: Any) -> None:
        self.conn.forget(self.conn.send(method, params, self.id))

    def on(self, method: str, handler: Handler) -> None:
        self.handlers.setdefault(method, []).append(handler)

    def dispatch(self, method: str, params: CdpObject) -> None:
        for handler in self.handlers.get(method, []):
            handler(params)
        with self._cond:
            self._events.append((method, params))
            del self._events[:-200]  # only recent events are waited for
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._events.clear()

    def wait_for(
        self, method: str, timeout: float, predicate: Callable[[CdpObject], bool] | None = None
    ) -> CdpObject | None:
        """The first event `method` (matching `predicate`) received since the last `clear`, or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, params in self._events:
                    if name == method and (predicate is None or predicate(params)):
                        return params
                left = deadline - time.monotonic()
                if left <= 0 or self.conn.closed:
                    return None
                self._cond.wait(min(left, 0.5))
