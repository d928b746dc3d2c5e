"""`loadorch monitor` whose HTTP target goes away for a while and comes back: the monitor goes on, its budgets
say the target failed while it was away (never pass on requests it could not make), and read ok again once the
window holds none of that time."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.project import Project

from .helpers import json_or_none, stop, while_running

SCENARIO = """
name: s
users:
  - name: api
    requests:
      - {name: health, path: /health}
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:{port}
load: {{arrival_rate: 10, duration: 1m}}
request_timeout: 2s
min_samples: 5
allow_saturated_generator: true
monitor: {{window: 4s, slices: 2, status_every: 1s}}
thresholds:
  http_req_failed: ["rate<0.1"]
  http_req_duration: ["p(95)<2000"]
"""


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serve(port: int) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_monitor_whose_target_goes_away_says_so_goes_on_and_reads_ok_once_it_is_back(project: Project) -> None:
    status = project.root / "mo" / "status.json"

    def state(doc_state: str) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            doc = json_or_none(status)
            return doc if doc is not None and doc["status"] == doc_state else None
        return check

    with _serve(0) as port:
        project.write("scenarios/s.yaml", SCENARIO)
        project.write("profiles/p.yaml", PROFILE.format(port=port))
        err = (project.root / "err.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo"], cwd=project.root,
                                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            while_running("the monitor to read ok", state("ok"), proc)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    try:  # the target is gone: its port refuses
        def all_failed() -> dict[str, dict[str, Any]] | None:  # a window of the outage alone: every request failed
            doc = state("failing")()
            rows = {r["threshold"]: r for r in (doc or {}).get("thresholds", [])}
            failed = rows.get("http_req_failed rate<0.1")
            return rows if failed and failed["state"] == "fail" and failed["observed"] == 1.0 else None

        rows = while_running("a window in which every request failed", all_failed, proc)
        duration = rows["http_req_duration p(95)<2000"]
        assert duration["state"] == "no_data" and duration["samples"] == 0, duration  # not a pass on nothing
        assert duration["fix"].startswith("every matching request failed"), duration
        with _serve(port):  # back on the same port
            while_running("the monitor to read ok again", state("ok"), proc, timeout=90)
            assert proc.poll() is None
    finally:
        stop(proc)
