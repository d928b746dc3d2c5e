"""`loadorch monitor` whose browser journeys cannot start (Chromium exits at once), or that loses a load worker: the
status is never `ok` on the rest of its load alone, and says which worker failed, with what, and what to do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.support.project import Project

from .helpers import (
    browser_workers,
    json_or_none,
    parent_of,
    processes_started_by,
    stop,
    wait_until_gone,
    while_running,
)

SCENARIO = """
name: s
users:
  - name: api
    think_time: 0.5
    requests:
      - {name: health, path: /health}
browsers:
  - name: shopper
    pages: 1
    journey:
      - {visit: /shop, name: home}
"""
# the browser defaults removed: the only budget is the HTTP one, which the target meets
PROFILE = """
scenario: ../scenarios/s.yaml
host: embedded
load: {users: 2, duration: 1m}
min_samples: 3
allow_saturated_generator: true
monitor: {window: 2s, slices: 2, status_every: 1s}
thresholds:
  http_req_failed: ["rate<0.1"]
  browser_web_vital_lcp: []
  browser_web_vital_cls: []
  browser_step_failed: []
"""
# a Chromium that cannot start (a missing library, a sandbox refused): what the browser worker meets
BROKEN_CHROMIUM = "#!/bin/sh\necho 'error while loading shared libraries: libnss3.so' >&2\nexit 1\n"


def _monitor(project: Project, env: dict[str, str]) -> tuple[subprocess.Popen[str], Any]:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    err = (project.root / "err.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo"], cwd=project.root,
                            env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    return proc, err


def _http_passes(project: Project) -> dict[str, Any] | None:
    doc = json_or_none(project.root / "mo" / "status.json")
    rows = {r["threshold"]: r for r in (doc or {}).get("thresholds", [])}
    row = rows.get("http_req_failed rate<0.1")
    return doc if doc and doc["window_full"] and row and row["state"] == "pass" else None


@pytest.mark.chromium
def test_a_monitor_whose_chromium_dies_is_no_longer_ok(project: Project) -> None:
    """Chromium killed under a running monitor (the OOM killer): its browser worker ended its pages and said it was
    done, which the status did not count as down: `ok` went on for good on the HTTP budget alone."""
    proc, err = _monitor(project, dict(os.environ))
    try:
        def ok() -> dict[str, Any] | None:
            doc = _http_passes(project)
            return doc if doc and doc["status"] == "ok" else None

        doc = while_running("the monitor to read ok", ok, proc, timeout=90)
        assert doc["browser"] is None, doc
        [worker] = browser_workers(proc.pid)
        chromium = [p for p in processes_started_by(proc.pid) if parent_of(p) == worker]
        assert chromium, "the browser worker's Chromium"
        for pid in chromium:
            os.kill(pid, signal.SIGKILL)

        def browser_said() -> dict[str, Any] | None:
            doc = json_or_none(project.root / "mo" / "status.json")
            return doc if doc and doc.get("browser") else None

        doc = while_running("the status to say the browser journeys are not running", browser_said, proc)
        # as the kill lands: the worker says the DevTools connection closed (an error), or ends its pages and says done
        said = doc["browser"]
        assert doc["status"] == "no_data" and re.match(r"browser worker 0( ended \(its Chromium gone\?\)|: )", said), doc
        assert doc["reason"].startswith(f"browser journeys not running: {said}"), doc
    finally:
        code = stop(proc, signal.SIGTERM)
        err.close()
    assert code == 143, (project.root / "err.log").read_text()
    assert wait_until_gone(proc.pid) == [] and processes_started_by(proc.pid) == []


def test_a_monitor_whose_browser_journeys_cannot_start_is_never_ok(project: Project) -> None:
    """The status read `ok` for as long as the monitor ran (its HTTP budget passing) while no page was ever
    visited: nothing in status.json, the page or /metrics said the browser worker had failed at its start."""
    chromium = project.root / "chromium"
    chromium.write_text(BROKEN_CHROMIUM)
    chromium.chmod(0o755)
    proc, err = _monitor(project, {**os.environ, "LOADORCH_CHROMIUM": str(chromium)})
    try:
        while_running("the HTTP budget to pass over a full window", lambda: _http_passes(project), proc)

        def browser_said() -> dict[str, Any] | None:
            doc = _http_passes(project)
            return doc if doc and doc.get("browser") else None

        doc = while_running("the status to say the browser journeys are not running", browser_said, proc)
        assert doc["status"] == "no_data", doc
        assert "browser worker 0: Chromium exited at start (code 1)" in doc["browser"], doc
        assert "libnss3.so" in doc["browser"], doc
        assert doc["reason"].startswith("browser journeys not running: browser worker 0:"), doc
        assert "LOADORCH_CHROMIUM" in doc["reason"], doc
        page = (project.root / "mo" / "status.html").read_text()
        assert "browser journeys not running" in page and ">no_data<" in page, page
    finally:
        code = stop(proc, signal.SIGTERM)
        err.close()
    assert code == 143, (project.root / "err.log").read_text()
    assert json_or_none(project.root / "mo" / "status.json")["status"] == "stopped"  # type: ignore[index]
    assert wait_until_gone(proc.pid) == [] and processes_started_by(proc.pid) == []


def test_a_monitor_that_loses_a_load_worker_is_no_longer_ok(project: Project) -> None:
    """One of two load workers killed under a running monitor (the OOM killer): the master declared it lost and the
    monitor went on with the other's users, its status `ok` for good, saying nothing; half the load it was asked to
    send was no longer sent, and a lost worker is not started again."""
    project.write("scenarios/s.yaml", "name: s\nusers:\n  - name: api\n    think_time: 0.2\n    requests:\n"
                  "      - {name: health, path: /health}\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 4, duration: 1m}\n"
                  "workers: 2\nmin_samples: 3\nallow_saturated_generator: true\n"
                  "monitor: {window: 2s, slices: 2, status_every: 1s}\nthresholds:\n  http_req_failed: [\"rate<0.1\"]\n")
    err = (project.root / "err.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo"], cwd=project.root,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        def ok() -> dict[str, Any] | None:
            doc = _http_passes(project)
            return doc if doc and doc["status"] == "ok" else None

        doc = while_running("the monitor to read ok", ok, proc, timeout=90)
        assert doc.get("workers") is None, doc

        def comm(pid: int) -> str:
            try:
                with open(f"/proc/{pid}/comm") as fh:
                    return fh.read().strip()
            except OSError:
                return ""

        [worker] = [p for p in processes_started_by(proc.pid) if comm(p) == "loadorch-w1"]
        os.kill(worker, signal.SIGKILL)

        def lost() -> dict[str, Any] | None:
            doc = json_or_none(project.root / "mo" / "status.json")
            return doc if doc and doc.get("workers") else None

        doc = while_running("the status to say a load worker is lost", lost, proc)
        assert doc["status"] == "no_data" and doc["workers"].startswith("worker 1 lost at "), doc
        assert doc["reason"].startswith("load workers lost: worker 1 lost at "), doc
        assert "restart the monitor" in doc["reason"], doc
        rows = {r["threshold"]: r for r in doc["thresholds"]}
        assert rows["http_req_failed rate<0.1"]["state"] == "pass", rows  # judged on what the other worker sends
    finally:
        code = stop(proc, signal.SIGTERM)
        err.close()
    assert code == 143, (project.root / "err.log").read_text()
    assert wait_until_gone(proc.pid) == [] and processes_started_by(proc.pid) == []
