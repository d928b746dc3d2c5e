"""Pages that behave badly, driven on one real headless Chromium page (browser/page.py) against pages served on
loopback: dialogs (alert, confirm, a beforeunload prompt), a view left before it painted, a page whose script never ends."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support import tools
from tests.support.project import Project, assert_no_traceback
from tests.support.serving import Target, serving

pytestmark = pytest.mark.chromium

PAGES = {
    "/alert": "<p>hello</p><script>alert('hi')</script><p>after the alert</p>",
    "/confirm": "<p>hello</p><script>window.answer = confirm('sure?')</script>",
    "/leaving": (
        "<button id='b'>b</button><script>addEventListener('beforeunload', (e) => "
        "{ e.preventDefault(); e.returnValue = ''; })</script>"
    ),
    "/blank": "",
    "/text": "<p>some text</p>",
}


class Pages(Target):
    def do_GET(self) -> None:
        body = PAGES.get(self.path.split("?", 1)[0], "<p>ok</p>")
        self.answer(200, f"<!doctype html><html><body>{body}</body></html>".encode(), "text/html")


@dataclass
class Browser:
    host: str
    page: Any  # loadorch.browser.page.Page
    views: list[Any] = field(default_factory=list)  # loadorch.browser.page.View, in the order they were final


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    tools.require("chromium")
    from loadorch.browser.cdp import Connection
    from loadorch.browser.chromium import Chromium, find_chromium, rail_flags
    from loadorch.browser.guard import HostGuard
    from loadorch.browser.page import Page
    from loadorch.browser.rail import Rail, Slots

    with serving(Pages) as port:
        host = f"http://127.0.0.1:{port}"
        guard, slots = HostGuard([], host, []), Slots()
        rails = [Rail(guard.addresses, lambda url: None, slots) for _ in range(2)]
        chromium = Chromium(find_chromium(os.environ), rail_flags(rails[0].url))
        conn = Connection(chromium.ws_url)
        try:
            conn.attach_every_target()
            views: list[Any] = []
            page = Page(conn, rails[1].url, guard.allows, views.append, lambda page, url: None)
            page.warm_up(f"{host}/text", 15)
            yield Browser(host, page, views)
            page.leave()
            page.close()
        finally:
            conn.close()
            chromium.stop()
            for rail in rails:
                rail.close()


def test_dialogs_are_answered_and_a_beforeunload_prompt_does_not_hold_the_page(browser: Browser) -> None:
    """An alert() or confirm() left open stopped the page: its visit timed out (no load event). A beforeunload prompt
    (shown once the page had a trusted click) held every later navigation: each step failed until the run's end."""
    from loadorch.browser.page import StepError

    page, host = browser.page, browser.host
    failed: list[str] = []
    for path in ("/alert", "/confirm", "/leaving"):
        try:
            page.visit(host + path, path, 10)
        except StepError as exc:
            failed.append(str(exc))
    page.click("#b", 10)  # the prompt is shown only to a page the user interacted with
    for path in ("/text", "/text"):
        try:
            page.visit(host + path, path, 10)
        except StepError as exc:
            failed.append(str(exc))
    assert failed == []
    answer = page.session.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
    assert answer["result"]["value"] == "some text"


def test_a_view_left_before_it_painted_has_no_cls(browser: Browser) -> None:
    """web-vitals reports CLS only after the first contentful paint: a page that showed nothing had nothing to shift,
    and its CLS of 0 was a sample that met any budget (the page's last report says cls 0, fcp none)."""
    from loadorch.browser.worker import view_values

    page, host = browser.page, browser.host
    page.visit(host + "/blank", "blank", 10)
    page.visit(host + "/text", "text", 10)
    blank = next(v for v in browser.views if v.page == "blank")
    assert blank.values.get("fcp") is None and blank.values.get("cls") == 0, blank.values  # as the page reports it
    assert view_values(blank.values)["cls"] is None


HUNG_SCENARIO = """
name: hung
browsers:
  - name: reader
    pages: 1
    think_time: 0.1
    timeout: 3s
    journey:
      - {visit: /first, name: first}   # the first time only, a script that never ends
      - {visit: /text, name: text}
"""


class Hung(Target):
    lock = threading.Lock()
    firsts = 0

    def do_GET(self) -> None:
        body = "<p>some text</p>"
        if self.path.startswith("/first"):
            with Hung.lock:
                Hung.firsts += 1
                if Hung.firsts == 2:  # the warm-up loads /first once, unmeasured; the first visit hangs
                    body = "<p>stuck</p><script>while (true) {}</script>"
        self.answer(200, f"<!doctype html><html><body>{body}</body></html>".encode(), "text/html")


def test_a_page_held_by_an_endless_script_is_replaced_and_the_journey_goes_on(project: Project) -> None:
    """Chromium navigates a tab whose script never ends in the same stuck renderer: every later step of that browser
    user timed out until the run's end. The page that does not answer is replaced, as a crashed one is."""
    tools.require("chromium")
    with serving(Hung) as port:
        project.write("scenarios/s.yaml", HUNG_SCENARIO)
        project.write(
            "profiles/p.yaml",
            f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{port}\nmin_samples: 1\nload: {{iterations: 2}}\n",
        )
        result = project.run("run", "p", "--out", "o", "--request-log", timeout=240)
    assert_no_traceback(result)
    steps = [json.loads(line) for line in (project.root / "o" / "browser-steps.jsonl").read_text().splitlines()]
    failed = [(s["iteration"], s["step"]) for s in steps if s["error"] is not None]
    assert failed == [(0, 1)], steps  # the hung visit only: the next iteration walks on a new page
    assert [(s["iteration"], s["step"]) for s in steps if s["error"] is None] == [(1, 1), (1, 2)]


ERRORS_SCENARIO = """
name: errors
browsers:
  - name: reader
    pages: 1
    think_time: 0.3
    journey:
      - {visit: /text, name: text}
      - {visit: "/text#more", name: more}   # within the document: no new document, no load event
  - name: visitor
    pages: 1
    think_time: 0.3
    journey:
      - {visit: /gone, name: gone}   # 500
  - name: waiter
    pages: 1
    think_time: 0.3
    timeout: 3s
    journey:
      - {visit: /unloaded, name: unloaded}   # its text paints, its hero never comes: no load event
thresholds:
  "browser_web_vital_lcp{page:gone}": ["p(75)<10000"]
  "browser_web_vital_lcp{page:unloaded}": ["p(75)<10000"]
"""


class Errors(Target):
    def do_GET(self) -> None:
        if self.path.startswith("/hero"):
            time.sleep(4)  # past the step's timeout: the page never fires load while the step waits
        status = 500 if self.path.startswith("/gone") else 200
        hero = '<img src="/hero.png" width="600" height="400">' if self.path.startswith("/unloaded") else ""
        self.answer(status, f"<!doctype html><html><body><p>some text</p>{hero}</body></html>".encode(), "text/html")


def test_a_failed_visit_is_no_sample_and_a_fragment_visit_does_not_wait_for_a_load(project: Project) -> None:
    """A visit whose document answered 500 read as done, and the error page's fast LCP passed the page's budget; a
    visit that timed out before its load (its hero never came) gave the text's LCP as the page's, which passed too; a
    visit within the document (a fragment) waited for a load event that never comes and failed after the timeout."""
    tools.require("chromium")
    with serving(Errors) as port:
        project.write("scenarios/s.yaml", ERRORS_SCENARIO)
        project.write(
            "profiles/p.yaml",
            f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{port}\nmin_samples: 1\nload: {{iterations: 1}}\n",
        )
        result = project.run("run", "p", "--out", "o", "--request-log", timeout=240)
    assert_no_traceback(result)
    steps = [json.loads(line) for line in (project.root / "o" / "browser-steps.jsonl").read_text().splitlines()]
    errors = {(s["user"], s["step"]): s["error"] for s in steps}
    assert errors[("reader", 1)] is None and errors[("reader", 2)] is None, steps
    assert "answered HTTP 500" in (errors[("visitor", 1)] or ""), steps
    doc = project.results("o")
    assert "timed out" in (errors[("waiter", 1)] or ""), steps
    for page in ("gone", "unloaded"):
        lcp = next(t for t in doc["thresholds"] if t["selector"] == f"browser_web_vital_lcp{{page:{page}}}")
        assert lcp["verdict"] != "pass" and lcp["samples"] == 0, lcp
    assert result.code != 0
