"""`loadorch monitor` of a browser journey that clicks through to a new item each time: the page names it labels
its series with stay bounded (a page a click opens is named by its path: /item/1, /item/2, ...)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.support.project import Project
from tests.support.serving import Target, serving

from .helpers import processes_started_by, stop, wait_until_gone, while_running

pytestmark = pytest.mark.chromium

SCENARIO = """
name: s
browsers:
  - name: shopper
    pages: 2
    journey:
      - {visit: /, name: home}
      - {click: "#go"}
      - {wait_for: h1}
"""
# the bound is the controller's (the views' page names as the browser workers report them)
PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:{port}
load: {{duration: 1m}}
min_samples: 2
monitor: {{window: 4s, slices: 2, status_every: 1s}}
"""
BOUND = 3  # loadorch.browser.stats.MAX_PAGES (50) as LOADORCH_TEST_MAX_PAGES sets it here: a short run reaches it
PAGE = re.compile(r'^loadorch_browser_web_vital_lcp_seconds_count\{[^}]*page="([^"]*)"', re.M)


class _Items(Target):
    """`/`: a page with a link to an item never linked before; `/item/N`: that item."""

    numbers = itertools.count()
    items = 0  # item pages served

    def do_GET(self) -> None:
        if self.path.startswith("/item/"):
            _Items.items += 1
            self.answer(200, b"<!doctype html><html><body><h1>item</h1><p>an item</p></body></html>", "text/html")
            return
        link = f'<a id="go" href="/item/{next(self.numbers)}">an item</a>'
        self.answer(200, f"<!doctype html><html><body><p>home</p>{link}</body></html>".encode(), "text/html")


def test_a_journey_through_ever_new_pages_keeps_its_page_labels_bounded(project: Project) -> None:
    """Each click made a page name of its own: a monitor's /metrics grew by a series per vital and bucket for
    every view (thousands an hour), its windows and its memory with it. Past MAX_PAGES names the views count
    under OTHER_PAGES."""
    with serving(_Items) as port:
        project.write("scenarios/s.yaml", SCENARIO)
        project.write("profiles/p.yaml", PROFILE.format(port=port))
        err = (project.root / "err.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo", "--metrics-port",
                                 "0"], cwd=project.root, env={**os.environ, "LOADORCH_TEST_MAX_PAGES": str(BOUND)},
                                stdout=subprocess.DEVNULL, stderr=err,
                                text=True)
        try:
            log = project.root / "err.log"
            url = while_running("the metrics URL", lambda: re.search(r"metrics: (http://\S+/metrics)",
                                                                    log.read_text()), proc).group(1)

            def pages() -> set[str]:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    return set(PAGE.findall(resp.read().decode()))

            while_running(f"{2 * BOUND} item pages served", lambda: _Items.items >= 2 * BOUND, proc, timeout=300,
                          every=1.0)

            def folded() -> set[str] | None:  # the views of the items served so far have reached /metrics
                found = pages()
                return found if len(found) > BOUND else None

            seen = while_running("the item pages' views on /metrics", folded, proc, every=1.0)
            assert len(seen) == BOUND + 1, sorted(seen)  # without the bound, a page name a view
            assert "home" in seen and f"(other pages: more than {BOUND} distinct)" in seen, sorted(seen)
        finally:
            code = stop(proc, signal.SIGTERM)
            err.close()
    assert code == 143, (project.root / "err.log").read_text()
    checks = {c["name"]: c for c in json.loads((project.root / "mo" / "results.json").read_text())["checks"]}
    assert f"are counted under '(other pages: more than {BOUND} distinct)'" in checks["browser pages"]["message"], checks
    assert wait_until_gone(proc.pid) == [] and processes_started_by(proc.pid) == []
