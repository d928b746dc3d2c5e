"""One headless page over the DevTools protocol: navigation, trusted input, the network guard, vitals reports."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadorch.browser.cdp import AUTO_ATTACH, CDPError, CdpObject, Connection, Session
from loadorch.browser.script import BINDING, MEASURE_JS
from loadorch.browser.targets import INTERCEPT_ALL, PageContext
from loadorch.browser.weight import Weigher, WeightJson
from loadorch.traffic.trace import HEADER, sets_traceparent

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
FINAL_REASONS = ("hidden", "pagehide")
MAX_FINISHED = 64  # ids of finished documents whose late reports are ignored
MAX_STATUSES = 16  # main-frame documents whose HTTP status is kept (a visit reads its own at once)


class StepError(Exception):
    """A step that could not be done (no such element, navigation failed or timed out, page crashed)."""


# The measurement script's report (script.py's MEASURE_JS through the binding): JSON from the page, which
# can call the binding itself, so untrusted; read with .get, then typed, masked and cut (browser/evidence.py).
PageReport = dict[str, Any]


@dataclass
class View:
    """One document's measurements, named by the visit that opened it."""

    page: str
    started: float
    values: PageReport = field(default_factory=dict)
    final: bool = False
    cut: bool = False  # the run ended before the journey's steps on this document were done: not a sample
    loader: str | None = None  # the DevTools loaderId of its navigation (its requests carry it)
    weight: WeightJson | None = None  # weight.Tally.to_json() of the document, once it is final
    # its visit failed (its document answered HTTP 400 or more, or never fired load): no sample of the page
    failed: bool = False


ViewSink = Callable[[View], None]
BlockedSink = Callable[[str, str], None]


class Page:
    """One page in a browser context of its own (targets.PageContext): its connections go through the
    network rail `rail_url`, and every request of it, its frames, workers and popups is checked against
    `allows` (Fetch interception) before it goes; the rail refuses whatever interception cannot see."""

    def __init__(
        self,
        conn: Connection,
        rail_url: str,
        allows: Callable[[str], bool],
        on_view: ViewSink,
        on_blocked: BlockedSink,
        timeout: float = 30.0,
        traceparent: Callable[[str], str | None] | None = None,
    ) -> None:
        self.conn = conn
        self.allows = allows
        self.traceparent = traceparent  # the traceparent value a request to this URL gets, None: none
        self.on_view = on_view
        self.on_blocked = on_blocked
        self.lock = threading.Lock()
        self.views: dict[str, View] = {}  # documents not finished yet
        self.finished: dict[str, None] = {}  # the latest finished documents' ids, oldest first
        self.latest: str | None = None  # the view id of the newest document
        self.claim: str | None = None  # the page name the next new document takes
        self.current = ""
        self.crashed = False
        self.measuring = True
        self.loader: str | None = None  # the main frame's latest navigation
        self.statuses: dict[str, int] = {}  # loaderId -> the HTTP status of that main-frame document
        self.failed_loads: dict[str, None] = {}  # loaderIds of the latest visits that timed out before their load
        self.weigher = Weigher()
        self.targets = PageContext(conn, rail_url, self._paused, timeout)
        self.session: Session = self.targets.main
        try:
            self._set_up(self.session)
        except BaseException:
            self.targets.dispose()
            raise

    def _set_up(self, s: Session) -> None:
        """The page waits for us (waitForDebuggerOnStart): measuring script, interception, then it runs."""
        s.on("Runtime.bindingCalled", self._binding)
        s.on("Fetch.requestPaused", lambda params: self._paused(s, params))
        s.on("Inspector.targetCrashed", self._crashed)
        s.on("Page.javascriptDialogOpening", lambda params: self._dialog(s, params))
        s.on("Target.attachedToTarget", self.targets.child)
        s.on("Target.detachedFromTarget", self.targets.detached)
        s.on("Page.frameNavigated", self._navigated)
        s.on("Network.requestWillBeSent", self.weigher.request)
        s.on("Network.responseReceived", self._response)
        s.on("Network.dataReceived", self.weigher.data)
        s.on("Network.loadingFinished", self.weigher.finished)
        s.on("Network.loadingFailed", self.weigher.failed)
        s.call("Page.enable")
        self.weigher.main_frame = str(s.call("Page.getFrameTree").get("frameTree", {}).get("frame", {}).get("id", ""))
        s.call("Network.enable", maxTotalBufferSize=0, maxResourceBufferSize=0)
        s.call("Runtime.enable")
        s.call("Runtime.addBinding", name=BINDING)
        s.call("Page.addScriptToEvaluateOnNewDocument", source=MEASURE_JS)
        s.call("Fetch.enable", patterns=INTERCEPT_ALL)
        # out-of-process frames and workers are targets of their own: guard their requests too
        s.call("Target.setAutoAttach", **AUTO_ATTACH)
        s.call("Runtime.runIfWaitingForDebugger")

    # -- events (reader thread: never wait for a reply here) --
    def _binding(self, params: CdpObject) -> None:
        if params.get("name") != BINDING:
            return
        try:
            data = json.loads(params.get("payload", ""))
        except (ValueError, RecursionError):
            return
        if not isinstance(data, dict):  # the page may call the binding itself: JSON of another shape is no report
            return
        url, view_id = str(data.get("url", "")), str(data.get("view"))
        if not url.startswith(("http://", "https://")):
            return
        done: View | None = None
        with self.lock:
            if not self.measuring:
                self._finished(view_id)  # the warm-up's document: its late reports are not a page view
                return
            if view_id in self.finished:
                return
            view = self.views.get(view_id)
            if view is None:
                name = self.claim if self.claim is not None else (urlsplit(url).path or "/")
                self.claim = None
                view = self.views[view_id] = View(name, time.time(), loader=self.loader)
                self.latest = view_id
            view.values = data
            if data.get("reason") in FINAL_REASONS:
                done = self._finished(view_id)
        if done is not None:
            self.on_view(done)

    def _paused(self, session: Session, params: CdpObject) -> None:
        request = params.get("request", {})
        url = str(request.get("url", ""))
        if self.allows(url):
            headers = _with_traceparent(request.get("headers"), self.traceparent(url) if self.traceparent else None)
            if headers is None:
                session.send("Fetch.continueRequest", requestId=params["requestId"])
            else:
                session.send("Fetch.continueRequest", requestId=params["requestId"], headers=headers)
        else:
            session.send("Fetch.failRequest", requestId=params["requestId"], errorReason="BlockedByClient")
            if self.measuring:
                self.on_blocked(self.current, url)

    def _response(self, params: CdpObject) -> None:
        """The HTTP status of each main-frame document, by its loaderId (the latest few)."""
        loader = str(params.get("loaderId", ""))
        if params.get("type") != "Document" or params.get("requestId") != loader or not loader:
            return
        if self.weigher.main_frame and params.get("frameId") != self.weigher.main_frame:
            return
        status = params.get("response", {}).get("status")
        with self.lock:
            _keep_latest(self.statuses, loader, int(status) if isinstance(status, (int, float)) else 0)

    def _navigated(self, params: CdpObject) -> None:
        frame = params.get("frame", {})
        if not frame.get("parentId"):
            self.loader = str(frame.get("loaderId", "")) or None

    def _dialog(self, session: Session, params: CdpObject) -> None:
        """A dialog is answered at once, as a user would: an alert() or a confirm() left open stopped the page (its
        visit timed out, its LCP was the dialog's wait), and a beforeunload prompt left open kept every later
        navigation of the page waiting, so each step failed until the run's end. Leaving is confirmed (the journey
        goes on), an alert acknowledged, a confirm() or prompt() cancelled (no action the journey did not ask for)."""
        accept = params.get("type") in ("alert", "beforeunload")
        session.send("Page.handleJavaScriptDialog", accept=accept)

    def _crashed(self, params: CdpObject) -> None:
        self.crashed = True

    # -- steps (the page's own thread) --
    def visit(self, url: str, page: str, timeout: float) -> None:
        """Navigate and wait for the load event. The document left keeps reporting until the new one
        commits (it is still on screen while the next response is slow, and may shift), so its last
        report is taken as final only once the new document has loaded, or the navigation failed."""
        with self.lock:
            self.claim = page
            left = list(self.views)
        self.current = page
        self.targets.close_popups()
        self.session.clear()
        try:
            reply = self._call("Page.navigate", timeout, url=url)
            if reply.get("errorText"):
                raise StepError(f"navigation to {url} failed: {reply['errorText']}")
            loader = reply.get("loaderId")
            if not loader:  # within the document (a fragment): no new document, no load event; the view goes on
                with self.lock:
                    self.claim = None
                left = []
                return
            if self.session.wait_for("Page.loadEventFired", timeout) is None:
                with self.lock:  # what it showed so far (a paragraph, not the hero that never came) is no LCP
                    _keep_latest(self.failed_loads, str(loader), None)
                self._check_alive()
                raise StepError(f"navigation to {url} timed out after {timeout:g}s (no load event)")
            with self.lock:
                status = self.statuses.get(str(loader), 0)
            if status >= 400:
                raise StepError(f"navigation to {url} answered HTTP {status}")
        finally:
            self._finish(left)

    def warm_up(self, url: str, timeout: float) -> None:
        """One unmeasured load of the site: Chromium starts the page's renderer process now, so its start-up
        is not counted as the site's first LCP. Failures are left to the measured steps to report."""
        with self.lock:
            self.measuring = False
        try:
            self.visit(url, "", timeout)
            self.session.clear()
            self.session.call("Page.navigate", timeout=timeout, url="about:blank")
            self.session.wait_for("Page.loadEventFired", timeout)
        except (StepError, CDPError):
            pass
        finally:
            with self.lock:
                for view_id in list(self.views):
                    self._finished(view_id)
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
        down: CdpObject = {"type": "keyDown", "key": " " if key == "Space" else key, "code": code}
        down["windowsVirtualKeyCode"] = down["nativeVirtualKeyCode"] = vk
        if text:
            down.update(text=text, unmodifiedText=text)
        self._call("Input.dispatchKeyEvent", timeout, **down)
        self._call("Input.dispatchKeyEvent", timeout, **{**down, "type": "keyUp", "text": "", "unmodifiedText": ""})

    def wait_for(self, selector: str, timeout: float) -> None:
        self._locate(selector, timeout, scroll=False)

    def leave(self, cut_short: bool = False, timeout: float = 5.0) -> None:
        """Navigate to about:blank: the last document's last report is its final values. `cut_short`: the
        run ended before the journey's steps on it were done, so it is no sample (View.cut)."""
        with self.lock:
            self.claim = None
            if cut_short and self.latest in self.views:
                self.views[self.latest].cut = True
            left = list(self.views)
        try:
            self.session.clear()
            self._call("Page.navigate", timeout, url="about:blank")
            self.session.wait_for("Page.loadEventFired", timeout)
        except StepError:
            pass
        self._finish(left)

    def responsive(self, timeout: float = 5.0) -> bool:
        """The page's main thread answers within `timeout`. A script in an endless loop holds it, and Chromium
        navigates that tab in the same stuck renderer: every later step of the page timed out until the run's end."""
        if self.crashed or self.conn.closed:
            return False
        try:
            self.session.call("Runtime.evaluate", timeout=timeout, expression="0", returnByValue=True)
        except CDPError:
            return False
        return True

    def close(self) -> None:
        self.targets.close()

    # -- helpers --
    def _finish(self, view_ids: list[str]) -> None:
        """The views of documents that are gone: their last report is final (a view never reported has none)."""
        with self.lock:
            done = [v for v in (self._finished(i) for i in view_ids) if v is not None and v.values]
        for view in done:
            self.on_view(view)

    def _finished(self, view_id: str) -> View | None:
        """Under the lock: the view leaves `views`; its id is remembered (bounded) so late reports are ignored."""
        self.finished[view_id] = None
        while len(self.finished) > MAX_FINISHED:
            del self.finished[next(iter(self.finished))]
        view = self.views.pop(view_id, None)
        if view is not None:
            view.final = True
            view.weight = self.weigher.take(view.loader)
            loader = view.loader or ""
            view.failed = loader in self.failed_loads or self.statuses.get(loader, 0) >= 400
        return view

    def _call(self, method: str, timeout: float, **params: Any) -> CdpObject:
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
        params: CdpObject = {"type": kind, "x": x, "y": y}
        if kind != "mouseMoved":
            params.update(button="left", clickCount=1, buttons=1 if kind == "mousePressed" else 0)
        self._call("Input.dispatchMouseEvent", timeout, **params)


def _with_traceparent(headers: object, value: str | None) -> list[dict[str, str]] | None:
    """The request's headers with a `traceparent` added (Fetch.continueRequest replaces them all), or None to
    send it as it is: no value for it, or the page set its own (it keeps its own, as the HTTP users do)."""
    if value is None or not isinstance(headers, dict) or sets_traceparent(headers):
        return None
    return [{"name": str(k), "value": str(v)} for k, v in headers.items()] + [{"name": HEADER, "value": value}]


def _keep_latest(kept: dict[str, Any], key: str, value: Any) -> None:
    """`kept[key] = value`, the oldest entries dropped past MAX_STATUSES (a page's latest documents)."""
    kept[key] = value
    while len(kept) > MAX_STATUSES:
        del kept[next(iter(kept))]
