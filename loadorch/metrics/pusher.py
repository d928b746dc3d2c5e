"""Remote-write push on its own thread (a greenlet in the gevent master): a bounded queue, retries, and
a final check of whether the last push landed. Nothing here can block or slow the caller."""

from __future__ import annotations

import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from loadorch.metrics.remote_write import HEADERS
from loadorch.wire import PushReportJson

QUEUE_SIZE = 8
RETRIES = 3
TIMEOUT_S = 5.0


@dataclass
class PushReport:
    sent: int = 0
    failed: int = 0  # pushes given up after their retries
    dropped: int = 0  # pushes dropped unsent because the queue was full (endpoint slow or down)
    last_error: str = ""
    final_landed: bool = False

    def to_json(self) -> PushReportJson:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "final_landed": self.final_landed,
        }


class RemoteWriter:
    def __init__(self, url: str, authorization: str | None, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self.authorization = authorization
        self.timeout_s = timeout_s
        self.queue: queue.Queue[tuple[bytes, bool] | None] = queue.Queue(QUEUE_SIZE)
        self.report = PushReport()
        self.final_done = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="loadorch-remote-write", daemon=True)
        self.thread.start()

    def submit(self, body: bytes, final: bool = False) -> None:
        """Queue a compressed WriteRequest; when full, the oldest waiting push is dropped (never waits)."""
        while True:
            try:
                self.queue.put_nowait((body, final))
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.report.dropped += 1
                except queue.Empty:
                    pass

    def finish(self, body: bytes, wait_s: float) -> PushReport:
        """Push the final values and wait up to `wait_s` for them to land; then stop. Pushes still
        waiting are dropped: the final one carries every counter's last value."""
        while True:
            try:
                self.queue.get_nowait()  # superseded by the final push, not lost
            except queue.Empty:
                break
        self.submit(body, final=True)
        self.final_done.wait(wait_s)
        self.stopping = True
        self.submit(b"", final=False)  # wake the thread if it waits on an empty queue
        return self.report

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None or self.stopping:
                return
            body, final = item
            ok = self._send(body, retries=RETRIES)
            if final:
                self.report.final_landed = ok
                self.final_done.set()

    def _send(self, body: bytes, retries: int) -> bool:
        for attempt in range(retries):
            if self.stopping:
                return False
            retry, error = self._post(body)
            if not error:
                self.report.sent += 1
                return True
            self.report.last_error = error
            if not retry:
                break
            time.sleep(0.5 * 2**attempt)
        self.report.failed += 1
        return False

    def _post(self, body: bytes) -> tuple[bool, str]:
        """(worth retrying, error or ''). 4xx other than 429 will not get better by retrying."""
        headers = dict(HEADERS)
        if self.authorization:
            headers["Authorization"] = self.authorization
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                resp.read()
            return False, ""
        except urllib.error.HTTPError as exc:
            return exc.code == 429 or exc.code >= 500, f"HTTP {exc.code} {exc.reason}"
        except (OSError, ValueError) as exc:
            return True, type(exc).__name__ + (f": {exc.reason}" if isinstance(exc, urllib.error.URLError) else "")
