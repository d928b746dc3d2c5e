"""A browser worker process: one Chromium, one thread per page, each repeating its user's journey.

Started by the controller (or as a Kubernetes pod) with the run plan; reports to the controller's
browser sink; stops once each page has walked the run's `iterations` journeys (if set), at the end of the
run's duration, on SIGTERM/SIGINT, or when the controller goes,
and always stops its Chromium (which also dies with this process if it is killed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping

from loadorch.browser.cdp import CDPError, Connection
from loadorch.browser.chromium import Chromium, find_chromium, rail_flags
from loadorch.browser.evidence import clean
from loadorch.browser.guard import HostGuard
from loadorch.browser.journey import Action, Journey, PageSlot, StepJson, allocate_pages, page_random
from loadorch.browser.page import Page, StepError, View
from loadorch.browser.rail import Rail, Slots
from loadorch.config.scenario import BrowserSpec
from loadorch.errors import LoadorchError
from loadorch.heap import Trimmer, limit_arenas
from loadorch.traffic import data as gen
from loadorch.traffic.redact import Redactor, credential_params_in
from loadorch.traffic.trace import BROWSER_WORKERS, TraceIds
from loadorch.wire import Plan

MAX_SHOWN = 300  # characters of a blocked URL or a step's error reported (the sink keeps as many)

FINAL_TIMEOUT_S = 5.0


class StepRecord(StepJson):
    """A journey step's outcome as the worker reports it (the sink counts it; browser-steps.jsonl keeps it)."""

    type: str  # "step"
    user: str
    page: int  # the page slot of the browser user
    iteration: int
    page_name: str
    label: str
    error: str | None


class Reporter:
    """JSON lines to the controller's sink; a broken channel stops the worker (nobody is listening)."""

    def __init__(self, host: str, port: int, token: str, index: int, stop: threading.Event) -> None:
        self.stop = stop
        self.lock = threading.Lock()
        self.sock = socket.create_connection((host, port), timeout=30)
        self.send({"type": "hello", "token": token, "index": index})

    def send(self, msg: Mapping[str, object]) -> None:  # one JSON line: hello, view, step, blocked, error, done
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.stop.set()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class PageRunner:
    def __init__(
        self,
        conn: Connection,
        slot: PageSlot,
        spec: BrowserSpec,
        journey: Journey,
        plan: Plan,
        guard: HostGuard,
        reporter: Reporter,
        stop: threading.Event,
        slots: Slots,
        traces: PageTraces | None = None,
    ) -> None:
        self.conn, self.slot, self.spec, self.journey = conn, slot, spec, journey
        self.traces = traces
        self.host = plan.host.rstrip("/")
        self.seed = plan.seed
        self.iterations = plan.iterations  # journeys this page walks, then it closes (None: until the end)
        self.guard, self.reporter, self.stop = guard, reporter, stop
        self.redactor = Redactor(plan.secrets)  # what it reports is masked, then cut: no prefix of a secret
        self.think = random.Random(gen.stream_seed(self.seed, "browser-think", spec.name, slot.page))
        self.page: Page | None = None
        # this page's own rail: what it refuses is listed under the page's current page view
        self.rail = Rail(guard.addresses, self._railed, slots)

    def _page(self) -> Page:
        self.page = Page(self.conn, self.rail.url, self.guard.allows, self._view, self._blocked,
                         traceparent=self.traces)
        return self.page

    def _view(self, view: View) -> None:
        if view.failed:  # an error page's or a load's that never ended: not the page's vitals (the step says why)
            return
        v = view.values
        values = view_values(v)
        msg = {"type": "view", "user": self.spec.name, "page": view.page, "at": view.started, "values": values}
        if view.cut:
            self.reporter.send({**msg, "cut": True})
        else:  # which element, interaction and shift, and the page's weight: typed, masked and bounded here
            self.reporter.send({**msg, "evidence": clean(v.get("attr"), view.weight, self.redactor).to_wire()})

    def _blocked(self, page: str, url: str) -> None:
        self.reporter.send({"type": "blocked", "page": page, "url": self._shown(url)})

    def _railed(self, url: str) -> None:
        page = self.page
        if page is None or page.measuring:
            self._blocked(page.current if page is not None else "", url)

    def run(self, deadline: float | None) -> None:
        rng = page_random(self.seed, self.spec.name, self.slot.page)
        state = gen.DrawState(self.slot.page, self.spec.pages)
        try:
            page = self._page()
        except BaseException:
            self.rail.close()
            raise
        page.warm_up(self.host + self.journey.warm_up_path, self.spec.timeout)
        iteration = 0
        cut_short = False  # the run ended between a visit and the last step on its page
        try:
            while not self._over(deadline) and (self.iterations is None or iteration < self.iterations):
                page_name = ""
                for action in self.journey.iteration(rng, state, iteration):
                    if self._over(deadline):
                        cut_short = action.action != "visit"
                        break
                    page_name = action.page or page_name
                    error = self._do(page, action)
                    if error is not None and self.stop.is_set() and self.conn.closed:
                        # the run ended during the step and stopped the browser: neither done nor failed, so not a
                        # failed step (browser_step_failed would fail on the run's end); its view is cut short too
                        cut_short = True
                        return
                    self.reporter.send(self._step_record(action, iteration, page_name, error))
                    if error is not None:
                        # a crashed page, or one whose script holds it (an endless loop): a new page goes on
                        if page.crashed or self.conn.closed or not page.responsive(min(self.spec.timeout, 5.0)):
                            page.close()
                            if self.conn.closed:
                                return
                            page = self._page()
                        break  # the journey continues with the next iteration
                    low, high = self.spec.think_time.bounds
                    self.stop.wait(self.think.uniform(low, high))
                iteration += 1
        finally:
            if not self.conn.closed:
                page.leave(cut_short)
                page.close()
            self.rail.close()

    def _over(self, deadline: float | None) -> bool:
        return self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    def _do(self, page: Page, action: Action) -> str | None:
        try:
            if action.action == "visit":
                page.visit(self.host + action.target, action.page or action.target, action.timeout_s)
            elif action.action == "click":
                page.click(action.target, action.timeout_s)
            elif action.action == "type":
                page.type(action.target, action.text or "", action.timeout_s)
            elif action.action == "press":
                page.press(action.target, action.timeout_s)
            elif action.action == "wait_for":
                page.wait_for(action.target, action.timeout_s)
        except StepError as exc:
            return f"{action.label}: {exc}"
        return None

    def _step_record(self, action: Action, iteration: int, page_name: str, error: str | None) -> StepRecord:
        return {
            "type": "step",
            "user": self.spec.name,
            "page": self.slot.page,
            "iteration": iteration,
            "page_name": page_name,
            "label": credential_params_in(action.label),  # an unnamed visit's label is its URL
            **action.to_json(),
            "target": credential_params_in(action.target),
            "error": None if error is None else self._shown(error),
        }

    def _shown(self, text: str) -> str:
        """A URL or a step's error (which names its URL) as reported: the run's secrets and the value of every
        credential-named parameter masked (a tracker's `?token=`, a visit's `?session=`, as the page's evidence
        masks them), then cut."""
        return self.redactor.cut(credential_params_in(text), MAX_SHOWN, more="")


def view_values(report: Mapping[str, object]) -> dict[str, float | None]:
    """A page view's vitals from its page's last report, None where the view has none (web-vitals reports none
    there either): no INP without an interaction, and no CLS before the first contentful paint. A view left or
    stopped before it painted showed nothing that could shift: its CLS of 0 was a sample that met any budget."""
    values = {k: vital(report.get(k)) for k in ("lcp", "fcp", "ttfb", "cls")}
    if values["fcp"] is None:
        values["cls"] = None
    values["inp"] = vital(report.get("inp")) if report.get("interactions") else None
    return values


MAX_VITAL = 86_400_000.0  # a vital is read up to this (a day in ms): 1e308 was an OverflowError in the sink


def vital(value: object) -> float | None:
    """A vital of the page's report as a number (ms, or CLS's score), None when it is none: the page can call the
    binding itself, and a value of another shape (`"slow"`, a list, NaN) made the sink close this worker's
    connection (every later view and its `done` lost: "stopped without finishing")."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return min(float(value), MAX_VITAL) if math.isfinite(value) and value >= 0 else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadorch.browser")
    parser.add_argument("--plan", required=True)
    args = parser.parse_args(argv)
    limit_arenas()  # before any thread starts: see loadorch/heap.py
    with open(args.plan, encoding="utf-8") as fh:
        plan = Plan.model_validate_json(fh.read())
    index = int(os.environ.get("LOADORCH_BROWSER_INDEX", os.environ.get("JOB_COMPLETION_INDEX", "0")))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    bplan = plan.browser
    if bplan is None:
        sys.stderr.write("loadorch browser worker: the plan has no browser users\n")
        return 2
    reporter = Reporter(bplan.sink_host, bplan.sink_port, plan.token, index, stop)
    _watch_parent(stop)
    try:
        code = _run(plan, index, reporter, stop)
    except LoadorchError as exc:
        reporter.send({"type": "error", "message": str(exc)})
        code = int(exc.exit_code)
    reporter.send({"type": "done"})
    reporter.close()
    return code


class PageTraces:
    """The traceparent of a page's request to the target (#30: the target's own tracing records the page loads
    too): trace ids of this run, worker field BROWSER_WORKERS + the browser worker's index, one sequence for
    all its pages. Requests to other hosts get none."""

    def __init__(self, prefix: str, index: int, guard: HostGuard) -> None:
        self.ids = TraceIds(prefix, BROWSER_WORKERS + index)
        self.guard = guard
        self.lock = threading.Lock()  # the pages' DevTools events arrive on the connection's reader thread(s)

    def __call__(self, url: str) -> str | None:
        if not self.guard.is_target(url):
            return None
        with self.lock:
            return self.ids.value()


def _run(plan: Plan, index: int, reporter: Reporter, stop: threading.Event) -> int:
    bplan = plan.browser
    assert bplan is not None
    mine = [s for s in allocate_pages(plan.scenario.browsers, bplan.workers) if s.worker == index]
    if not mine:
        return 0
    guard = HostGuard(bplan.allowed_hosts, plan.host, plan.addresses)
    slots = Slots()
    # the browser's own connections (outside the pages' contexts: updates, sign-in) reach allowed hosts only
    browser_rail = Rail(guard.addresses, lambda url: None, slots)
    try:
        chromium = Chromium(find_chromium(os.environ), rail_flags(browser_rail.url))
        try:
            conn = Connection(chromium.ws_url)
            try:
                conn.attach_every_target()
                generators = plan.generators()
                traces = PageTraces(plan.trace_prefix, index, guard) if plan.trace_prefix else None
                runners = []
                for slot in mine:
                    spec = plan.scenario.browsers[slot.browser]
                    journey = Journey(spec, generators)
                    runners.append(PageRunner(conn, slot, spec, journey, plan, guard, reporter, stop, slots, traces))
                _run_pages(runners, plan.duration_s, reporter)
            finally:
                conn.close()
        finally:
            chromium.stop()
    finally:
        browser_rail.close()
    return 0


def _run_pages(runners: list[PageRunner], duration: float | None, reporter: Reporter) -> None:
    deadline = None if duration is None else time.monotonic() + float(duration)
    threads = []
    for runner in runners:
        t = threading.Thread(target=_guarded, args=(runner, deadline, reporter), daemon=True)
        t.start()
        threads.append(t)
    trimmer = Trimmer(time.monotonic())  # the pages' freed buffers go back to the kernel once a minute
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.5)
            trimmer.tick(time.monotonic())


def _guarded(runner: PageRunner, deadline: float | None, reporter: Reporter) -> None:
    try:
        runner.run(deadline)
    except (CDPError, StepError) as exc:
        if not runner.stop.is_set():  # while stopping, a browser going away is expected
            reporter.send({"type": "error", "message": f"page {runner.spec.name}#{runner.slot.page}: {exc}"})


def _watch_parent(stop: threading.Event) -> None:
    parent = os.environ.get("LOADORCH_PARENT_PID")
    if not parent:
        return

    def loop() -> None:
        while not stop.wait(0.5):
            if os.getppid() != int(parent):
                stop.set()

    threading.Thread(target=loop, daemon=True, name="loadorch-parent-watch").start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
