"""One headless page over the DevTools protocol: navigation, trusted input, the network guard, vitals reports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadorch.browser.cdp import CDPError, Connection, Session
from loadorch.browser.script import BINDING, MEASURE_JS

KEYS: dict[str, tuple[str, int, str]] = {  # key -> (code, windows key code, text)
    "Enter": ("Enter", 13, "\r"),
    "Tab": ("Tab", 9, ""),
    "Escape": ("Escape", 27, ""),
    "Backspace": ("Backspace", 8, ""),
    "ArrowLeft": ("ArrowLeft", 37, ""),
    "ArrowUp": ("ArrowUp", 38, ""),
    "ArrowRight": ("ArrowRight", 39, ""),
    "ArrowDown": ("ArrowDown", 40, ""),
    "Space": ("Space", 32, " "),
}
FINAL_REASONS = ("hidden", "pagehide", "left")
INTERCEPT_ALL = [{"urlPattern": "*", "requestStage": "Request"}]


class StepError(Exception):
    """A step that could not be done (no such element, navigation failed or timed out, page crashed)."""


@dataclass
class View:
    """One document's measurements, named by the visit that opened it."""

    page: str
    started: float
    values: dict[str, Any] = field(default_factory=dict)
    final: bool = False


ViewSink = Callable[[View], None]
BlockedSink = Callable[[str, str], None]


class Page:
    def __init__(
        self, conn: Connection, allows: Callable[[str], bool], on_view: ViewSink, on_blocked: BlockedSink
    ) -> None:
        self.conn = conn
        self.allows = allows
        self.on_view = on_view
        self.on_blocked = on_blocked
        self.lock = threading.Lock()
        self.views: dict[str, View] = {}
        self.claim: str | None = None  # the page name the next new document takes
        self.current = ""
        self.crashed = False
        self.measuring = True
        context = conn.call("Target.createBrowserContext", {"disposeOnDetach": True})["browserContextId"]
        target = conn.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        self.target_id = str(target)
        self.session: Session = conn.attach(self.target_id)
        s = self.session
        s.on("Runtime.bindingCalled", self._binding)
        s.on("Fetch.requestPaused", lambda params: self._paused(s, params))
        s.on("Inspector.targetCrashed", self._crashed)
        s.on("Target.attachedToTarget", self._child)
        s.on("Target.detachedFromTarget", self._detached)
        s.call("Page.enable")
        s.call("Runtime.enable")
        s.call("Runtime.addBinding", name=BINDING)
        s.call("Page.addScriptToEvaluateOnNewDocument", source=MEASURE_JS)
        s.call("Fetch.enable", patterns=INTERCEPT_ALL)
        # out-of-process frames and workers are targets of their own: guard their requests too (they wait
        # for us before they run)
        s.call("Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True)

    # -- events (reader thread: never wait for a reply here) --
    def _binding(self, params: dict[str, Any]) -> None:
        if params.get("name") != BINDING or not self.measuring:
            return
        try:
            data = json.loads(params.get("payload", ""))
        except ValueError:
            return
        url = str(data.get("url", ""))
        if not url.startswith(("http://", "https://")):
            return
        done: View | None = None
        with self.lock:
            view = self.views.get(str(data.get("view")))
            if view is None:
                name = self.claim if self.claim is not None else (urlsplit(url).path or "/")
                self.claim = None
                view = self.views[str(data.get("view"))] = View(name, time.time())
            if view.final:
                return
            view.values = data
            if data.get("reason") in FINAL_REASONS:
                view.final = True
                done = view
        if done is not None:
            self.on_view(done)

    def _child(self, params: dict[str, Any]) -> None:
        child = Session(self.conn, str(params["sessionId"]))
        self.conn.sessions[str(params["sessionId"])] = child
        child.on("Fetch.requestPaused", lambda p: self._paused(child, p))
        child.on("Target.attachedToTarget", self._child)
        child.on("Target.detachedFromTarget", self._detached)
        child.send("Fetch.enable", patterns=INTERCEPT_ALL)
        child.send("Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True)
        child.send("Runtime.runIfWaitingForDebugger")

    def _detached(self, params: dict[str, Any]) -> None:
        self.conn.sessions.pop(str(params.get("sessionId")), None)

    def _paused(self, session: Session, params: dict[str, Any]) -> None:
        url = str(params.get("request", {}).get("url", ""))
        if self.allows(url):
            session.send("Fetch.continueRequest", requestId=params["requestId"])
        else:
            session.send("Fetch.failRequest", requestId=params["requestId"], errorReason="BlockedByClient")
            if self.measuring:
                self.on_blocked(self.current, url)

    def _crashed(self, params: dict[str, Any]) -> None:
        self.crashed = True

    # -- steps (the page's own thread) --
    def visit(self, url: str, page: str, timeout: float) -> None:
        self._leave_document(timeout)
        with self.lock:
            self.claim = page
        self.current = page
        self.session.clear()
        reply = self._call("Page.navigate", timeout, url=url)
        if reply.get("errorText"):
            raise StepError(f"navigation to {url} failed: {reply['errorText']}")
        if self.session.wait_for("Page.loadEventFired", timeout) is None:
            self._check_alive()
            raise StepError(f"navigation to {url} timed out after {timeout:g}s (no load event)")

    def warm_up(self, url: str, timeout: float) -> None:
        """One unmeasured load of the site: Chromium starts the page's renderer process now, so its start-up
        is not counted as the site's first LCP. Failures are left to the measured steps to report."""
        self.measuring = False
        try:
            self.visit(url, "", timeout)
            self.session.call("Page.navigate", timeout=timeout, url="about:blank")
        except (StepError, CDPError):
            pass
        finally:
            with self.lock:
                self.views.clear()
                self.claim = None
            self.measuring = True

    def click(self, selector: str, timeout: float) -> None:
        x, y = self._locate(selector, timeout)
        self._mouse("mouseMoved", x, y, timeout)
        self._mouse("mousePressed", x, y, timeout)
        self._mouse("mouseReleased", x, y, timeout)

    def type(self, selector: str, text: str, timeout: float) -> None:
        self.click(selector, timeout)
        for ch in text:
            self._call("Input.dispatchKeyEvent", timeout, type="keyDown", key=ch, text=ch, unmodifiedText=ch)
            self._call("Input.dispatchKeyEvent", timeout, type="keyUp", key=ch)

    def press(self, key: str, timeout: float) -> None:
        code, vk, text = KEYS.get(key, (key, ord(key.upper()[0]), key))
        down: dict[str, Any] = {"type": "keyDown", "key": " " if key == "Space" else key, "code": code}
        down["windowsVirtualKeyCode"] = down["nativeVirtualKeyCode"] = vk
        if text:
            down.update(text=text, unmodifiedText=text)
        self._call("Input.dispatchKeyEvent", timeout, **down)
        self._call("Input.dispatchKeyEvent", timeout, **{**down, "type": "keyUp", "text": "", "unmodifiedText": ""})

    def wait_for(self, selector: str, timeout: float) -> None:
        self._locate(selector, timeout, scroll=False)

    def leave(self, timeout: float = 5.0) -> None:
        """Navigate to about:blank: the last document is hidden and sends its final values."""
        with self.lock:
            self.claim = None
        try:
            self._leave_document(timeout)
            self._call("Page.navigate", timeout, url="about:blank")
        except StepError:
            pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with self.lock:
                if all(v.final for v in self.views.values()):
                    break
            time.sleep(0.05)
        with self.lock:
            pending = [v for v in self.views.values() if not v.final and v.values]
            for v in pending:
                v.final = True
        for v in pending:
            self.on_view(v)

    def close(self) -> None:
        try:
            self.conn.call("Target.closeTarget", {"targetId": self.target_id}, timeout=5)
        except CDPError:
            pass

    # -- helpers --
    def _leave_document(self, timeout: float) -> None:
        """Ask the current document for its final values before navigating away from it."""
        if not self.views or self.crashed or self.conn.closed:
            return
        try:
            self.session.call(
                "Runtime.evaluate", timeout=min(timeout, 5.0), expression="window.__loadorchLeave && __loadorchLeave()"
            )
        except CDPError:
            pass  # a busy or broken page: its last update stands in for the final values

    def _call(self, method: str, timeout: float, **params: Any) -> dict[str, Any]:
        self._check_alive()
        try:
            return self.session.call(method, timeout=timeout, **params)
        except CDPError as exc:
            self._check_alive()
            raise StepError(str(exc)) from None

    def _check_alive(self) -> None:
        if self.crashed:
            raise StepError("the page crashed")
        if self.conn.closed:
            raise StepError(f"the browser is gone ({self.conn.closed})")

    def _locate(self, selector: str, timeout: float, scroll: bool = True) -> tuple[float, float]:
        """The centre of the first visible element matching `selector`, waiting up to `timeout` for it."""
        expr = (
            "(() => { const e = document.querySelector("
            + json.dumps(selector)
            + "); if (!e) return null;"
            + (" e.scrollIntoView({block: 'center', inline: 'center'});" if scroll else "")
            + " const r = e.getBoundingClientRect(); if (!r.width || !r.height) return null;"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        deadline = time.monotonic() + timeout
        while True:
            reply = self._call("Runtime.evaluate", timeout, expression=expr, returnByValue=True)
            if "exceptionDetails" in reply:
                raise StepError(f"invalid selector {selector!r}")
            value = reply.get("result", {}).get("value")
            if isinstance(value, list) and len(value) == 2:
                return float(value[0]), float(value[1])
            if time.monotonic() > deadline:
                raise StepError(f"no visible element matches {selector!r} after {timeout:g}s")
            time.sleep(0.1)

    def _mouse(self, kind: str, x: float, y: float, timeout: float) -> None:
        params: dict[str, Any] = {"type": kind, "x": x, "y": y}
        if kind != "mouseMoved":
            params.update(button="left", clickCount=1, buttons=1 if kind == "mousePressed" else 0)
        self._call("Input.dispatchMouseEvent", timeout, **params)
