"""A page's browser context: its own network rail, and every target in it attached and guarded before it runs.

The context's connections go through the rail (`proxyServer`, loopback included). The connection attaches
to every new top-level target and waits for it (`Connection.attach_every_target`); the page itself (the
first target of the fresh context) is handed to its Page, which lets it run once set up; a popup or a
service worker, and every frame or worker below them (auto-attached the same way), gets Fetch interception
before it runs. At the end every target is taken offline before the context goes, so a beacon sent while
a page closes goes nowhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loadorch.browser.cdp import AUTO_ATTACH, CDPError, CdpObject, Connection, Session

INTERCEPT_ALL = [{"urlPattern": "*", "requestStage": "Request"}]
Paused = Callable[[Session, CdpObject], None]  # a Fetch.requestPaused event and the session it came on


class PageContext:
    def __init__(self, conn: Connection, rail_url: str, paused: Paused, timeout: float = 30.0) -> None:
        self.conn = conn
        self.paused = paused
        self.lock = threading.Lock()
        self.others: dict[str, Session] = {}  # popups, frames, workers: guarded, and taken offline at the end
        self._main: Session | None = None
        self._attached_main = threading.Event()
        reply = conn.call(
            "Target.createBrowserContext",
            {"disposeOnDetach": True, "proxyServer": rail_url, "proxyBypassList": "<-loopback>"},
        )
        self.id = str(reply["browserContextId"])
        conn.contexts[self.id] = self._attached
        try:
            conn.call("Target.createTarget", {"url": "about:blank", "browserContextId": self.id})
            if not self._attached_main.wait(timeout) or self._main is None:
                raise CDPError(f"the new page was not attached within {timeout:g}s")
            self.main: Session = self._main
        except BaseException:
            self.dispose()
            raise

    # -- events (reader thread: never wait for a reply here) --
    def _attached(self, session: Session, params: CdpObject) -> None:
        """A new top-level target of this context: the page (the first one, created by us and waiting for
        its Page), else a popup or a service worker, guarded like a frame."""
        info = session.info
        with self.lock:
            main = self._main is None and info.get("type") == "page" and not info.get("openerId")
            if main:
                self._main = session
        if main:
            self._attached_main.set()
        else:
            self.guard(session)

    def child(self, params: CdpObject) -> None:
        """`Target.attachedToTarget` on one of our sessions: a frame or a worker, waiting for us."""
        self.guard(self.conn.adopt(params))

    def guard(self, target: Session) -> None:
        """Interception on a target that waits for us, then let it run (commands run in the order sent)."""
        self.others[str(target.id)] = target
        target.on("Fetch.requestPaused", lambda p: self.paused(target, p))
        target.on("Target.attachedToTarget", self.child)
        target.on("Target.detachedFromTarget", self.detached)
        target.send("Fetch.enable", patterns=INTERCEPT_ALL)
        target.send("Target.setAutoAttach", **AUTO_ATTACH)
        target.send("Runtime.runIfWaitingForDebugger")

    def detached(self, params: CdpObject) -> None:
        self.conn.sessions.pop(str(params.get("sessionId")), None)
        self.others.pop(str(params.get("sessionId")), None)

    # -- the page's own thread --
    def close_popups(self) -> None:
        """Windows the last document opened are closed (offline first) when the journey moves on."""
        for popup in [s for s in list(self.others.values()) if s.info.get("type") == "page"]:
            self._offline(popup)
            self.conn.root.send("Target.closeTarget", targetId=str(popup.info.get("targetId")))
            self.others.pop(str(popup.id), None)

    def close(self) -> None:
        """Offline first (a beacon sent at pagehide while the page closes goes nowhere), then the context
        goes with every target in it."""
        for session in [self.main, *list(self.others.values())]:
            if session.id in self.conn.sessions:
                self._offline(session)
        self.dispose()

    def dispose(self) -> None:
        try:
            self.conn.call("Target.disposeBrowserContext", {"browserContextId": self.id}, timeout=5)
        except CDPError:
            pass
        self.conn.contexts.pop(self.id, None)

    def _offline(self, session: Session) -> None:
        if self.conn.closed:
            return
        try:
            session.call("Network.enable", timeout=2)  # emulation applies only with the domain enabled
            session.call(
                "Network.emulateNetworkConditions",
                timeout=2,
                offline=True,
                latency=0,
                downloadThroughput=-1,
                uploadThroughput=-1,
            )
        except CDPError:
            pass  # a target already gone: the rail still refuses hosts outside allowed_hosts
