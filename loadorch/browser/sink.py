"""The controller's end of the browser workers' channel: a loopback (or pod) TCP listener of JSON lines.

Each worker connects, says hello with the run's token and its index, then streams page views (one cut
short by the run's end is counted apart), step outcomes, blocked requests, and `done`. Samples land in
one BrowserStats as they arrive, so whatever was measured before an interruption is kept.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

from pydantic import ValidationError

from loadorch.browser.exemplars import PageEvidence
from loadorch.browser.stats import BrowserStats

MAX_LINE = 1 << 20
HELLO_TIMEOUT_S = 30.0  # a connection that has not said hello by then is closed (a worker says it at once)
# connections at once that have not said hello yet; more are closed as they come. Wide: every browser pod of a large
# run may connect in the same instant, each hello read only after its connection was accepted
MAX_UNGREETED = 256


def _evidence(sent: object) -> PageEvidence | None:
    """A view's evidence as its worker sent it, typed; None when it sent none or one that does not read."""
    if not isinstance(sent, dict):
        return None
    try:
        return PageEvidence.model_validate(sent)
    except ValidationError:
        return None


class BrowserSink:
    def __init__(self, bind: str, port: int, token: str, interval_s: float, keep_steps: bool = False) -> None:
        self.token = token
        self.keep_steps = keep_steps  # every step's line, for browser-steps.jsonl (--request-log) only
        self.stats = BrowserStats(interval_s)
        self.t0 = time.time()
        self.lock = threading.Lock()
        self.hello: set[int] = set()
        self.done: set[int] = set()
        self.gone: set[int] = set()  # workers whose connection closed (done or not: a pod that died is one)
        self.errors: dict[int, str] = {}
        # the workers' step lines as they were decoded (wire JSON), for browser-steps.jsonl as sent, redacted there
        self.steps_log: list[dict[str, Any]] = []
        self.rejected = 0
        self.hello_timeout_s = HELLO_TIMEOUT_S
        self._ungreeted = 0  # connections being served that have not said hello yet (under self.lock)
        self.server = socket.create_server((bind, port))
        self.server.settimeout(0.5)
        self.port = int(self.server.getsockname()[1])
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="loadorch-browser-sink")
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                full = self._ungreeted >= MAX_UNGREETED
                if full:
                    self.rejected += 1
                else:
                    self._ungreeted += 1
            if full:  # a local peer opening connections that say nothing: one thread each, without a bound
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="loadorch-browser-conn").start()

    def _serve(self, conn: socket.socket) -> None:
        index: list[int] = []  # the worker's, once its hello was accepted
        try:
            self._read(conn, index)
        except OSError:
            pass  # a reset connection (a pod that died), or no hello in time, ends it as a close does
        except (ValueError, TypeError, KeyError, AttributeError):
            with self.lock:  # a line of another shape than a worker sends: the connection is closed, never a
                self.rejected += 1  # traceback on the run's terminal
        finally:
            with self.lock:
                if index:
                    self.gone.add(index[0])
                else:
                    self._ungreeted -= 1

    def _read(self, conn: socket.socket, index: list[int]) -> None:
        """A worker's lines until its connection ends (or breaks the rules: then it is closed). A line is read up to
        MAX_LINE bytes (a longer one closes it: never held whole), and the hello within hello_timeout_s."""
        conn.settimeout(self.hello_timeout_s)
        with conn, conn.makefile("rb") as stream:
            while True:
                raw = stream.readline(MAX_LINE + 1)
                if not raw or len(raw) > MAX_LINE:
                    return
                try:
                    msg = json.loads(raw)
                except ValueError:
                    return
                if not isinstance(msg, dict):
                    raise TypeError("not a JSON object")
                if not index:
                    if msg.get("type") != "hello" or msg.get("token") != self.token:
                        with self.lock:
                            self.rejected += 1
                        return
                    index.append(int(msg.get("index", -1)))
                    conn.settimeout(None)  # a worker between page views may say nothing for long
                    with self.lock:
                        self._ungreeted -= 1
                        self.hello.add(index[0])
                    continue
                self._handle(index[0], msg)

    def _handle(self, index: int, msg: dict[str, Any]) -> None:  # a worker's JSON line as decoded: read with .get
        kind = msg.get("type")
        with self.lock:
            if kind == "view":
                # the worker's clock (a pod's may be off): a view cannot end after it arrived here, so a clock
                # ahead is clipped to the arrival, which keeps one stray stamp from widening the whole timeline
                at = min(float(msg.get("at", self.t0)), time.time()) - self.t0
                if msg.get("cut"):
                    self.stats.record_cut(str(msg["page"]))
                else:
                    self.stats.record_view(
                        str(msg["user"]), str(msg["page"]), at, msg.get("values", {}), _evidence(msg.get("evidence"))
                    )
            elif kind == "step":
                self.stats.record_step(
                    str(msg["user"]), str(msg.get("page_name", "")), str(msg["label"]), msg.get("error")
                )
                if self.keep_steps:
                    self.steps_log.append({"worker": index, **{k: v for k, v in msg.items() if k != "type"}})
            elif kind == "blocked":
                self.stats.record_blocked(str(msg.get("page", "")), str(msg.get("url", "")))
            elif kind == "error":
                self.errors[index] = str(msg.get("message", "unknown error"))
            elif kind == "done":
                self.done.add(index)

    def close(self) -> None:
        self._closing.set()
        self.server.close()
        self._thread.join(timeout=2)
