"""The live page (`--dashboard`): report.html's charts and threshold table, redrawn every second from
server-sent events. Loopback only; no external scripts, fonts or network; a strict CSP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from html import escape
from typing import Any

from loadorch.report.html import CSS, live_sections
from loadorch.results import LiveView, LiveWindow

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
MAX_STREAM_S = 24 * 3600.0
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/live.css">
<title>loadorch live: {title}</title></head><body><main>
<h1>{title} <span id="state" class="verdict inconclusive">LIVE</span></h1>
<p class="meta" id="headline">waiting for the first report...</p>
<div id="thresholds"></div><div id="charts"></div>
</main><script src="/live.js"></script></body></html>
"""
SCRIPT = """"use strict";
const source = new EventSource("/events");
function show(data) {
  for (const id of ["headline", "thresholds", "charts"]) {
    const el = document.getElementById(id);
    if (el && typeof data[id] === "string" && el.dataset.shown !== data[id]) {
      el.innerHTML = data[id];
      el.dataset.shown = data[id];
    }
  }
  const state = document.getElementById("state");
  state.textContent = data.finished ? "FINISHED" : "LIVE";
  state.className = "verdict " + (data.finished ? "pass" : "inconclusive");
}
source.onmessage = (event) => show(JSON.parse(event.data));
source.addEventListener("end", () => source.close());
"""


def dashboard_app(
    title: str, live_doc: Callable[[], LiveView], finished: Callable[[], bool], mask: Callable[[Any], Any] = lambda v: v
) -> Callable[..., Any]:
    """A WSGI app: `/` the page, `/live.js`, `/live.css`, `/events` the stream of redrawn sections. `mask`: the
    run's redactor (Redactor.obj), over the title and every update, as over every other output."""
    title = mask(title)

    def headers(content_type: str) -> list[tuple[str, str]]:
        return [
            ("Content-Type", content_type),
            ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:  # WSGI (PEP 3333): the server's
        path = environ.get("PATH_INFO", "/")
        if not _loopback_host(environ.get("HTTP_HOST", "127.0.0.1")):
            # a page elsewhere that rebinds its name to 127.0.0.1 must not read the run
            start_response("403 Forbidden", headers("text/plain; charset=utf-8"))
            return [b"forbidden\n"]
        if path == "/":
            start_response("200 OK", headers("text/html; charset=utf-8"))
            return [PAGE.format(title=escape(title)).encode()]
        if path == "/live.js":
            start_response("200 OK", headers("text/javascript; charset=utf-8"))
            return [SCRIPT.encode()]
        if path == "/live.css":
            start_response("200 OK", headers("text/css; charset=utf-8"))
            return [CSS.encode()]
        if path == "/events":
            start_response("200 OK", [*headers("text/event-stream"), ("X-Accel-Buffering", "no")])
            return _events(live_doc, finished, mask)
        start_response("404 Not Found", headers("text/plain; charset=utf-8"))
        return [b"not found\n"]

    return app


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in ("127.0.0.1", "localhost", "[::1]")


def _events(
    live_doc: Callable[[], LiveView], finished: Callable[[], bool], mask: Callable[[Any], Any]
) -> Iterator[bytes]:
    deadline = time.monotonic() + MAX_STREAM_S
    yield b"retry: 1000\n\n"
    while time.monotonic() < deadline:
        done = finished()
        yield b"data: " + json.dumps(mask(page_update(live_doc(), done))).encode() + b"\n\n"
        if done:
            yield b"event: end\ndata: {}\n\n"
            return
        time.sleep(1.0)


WINDOW_STATES = {
    "before": "not open yet: the thresholds will judge only what follows",
    "open": "open: these samples count for the thresholds",
    "between": "between spans: these samples do not count",
    "after": "closed: later samples do not count",
    "closed": "closed",
}


def window_note(window: LiveWindow | None) -> str:
    """The measurement window's state for the headline ("" without a window)."""
    if not window:
        return ""
    spans = ", ".join(f"{a:g}-{b:g}s" for a, b in window.spans)
    state = WINDOW_STATES.get(window.state, window.state)
    return f"; measurement window {spans} {state} ({window.seconds:g} of {window.of_s:g}s measured)"


def page_update(view: LiveView, finished: bool) -> dict[str, object]:
    """The sections the page replaces: the same table and charts report.html draws."""
    headline = (
        f"{view.elapsed_s:.0f}s elapsed, {view.requests} requests, {view.failures} failed, {view.users} users"
    ) + window_note(view.window)
    return {"headline": escape(headline), **live_sections(view), "finished": finished}
