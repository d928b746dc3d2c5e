"""`loadorch monitor` stopped by a signal while its target hangs: the stop does not wait on the target."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading

from tests.support.project import Project

SCENARIO = """
name: s
setup:
  - {name: seed, repeat: 3, request: {method: POST, path: /products, json: {name: p}}}
users:
  - name: api
    think_time: 0.5
    requests:
      - {name: list, path: /products}
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: {host}
load: {{users: 1, duration: 1m}}
request_timeout: 10m
monitor: {{window: 4s, slices: 4, status_every: 1s}}
"""


class _HangingTarget(http.server.ThreadingHTTPServer):
    """Holds every request it gets until `release` is set (the end of the test), counting them."""

    daemon_threads = True

    def __init__(self) -> None:
        self.release, self.arrived, self.requests = threading.Event(), threading.Event(), 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target.requests += 1
                target.arrived.set()
                target.release.wait(120)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_a_signal_stops_a_monitor_whose_setup_request_hangs(project: Project) -> None:
    """The controller checked for a signal between setup requests only: one to a target that hung held a SIGTERM
    for the whole request_timeout (here 10 minutes; the wait below gives up after 60 s), and only a second signal,
    which skips the artifacts, ended it. Now the request is cut short: exit 143, the artifacts say the setup was
    interrupted, the status stopped, and no load was sent."""
    target = _HangingTarget()
    serving = threading.Thread(target=target.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.format(host=f"http://127.0.0.1:{target.server_address[1]}"))
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo"], cwd=project.root,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert target.arrived.wait(60), "the setup request never came"
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("SIGTERM did not stop the monitor while its setup request hung") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        target.release.set()
        target.shutdown()
        target.server_close()
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err, err
    doc = json.loads((project.root / "mo" / "results.json").read_text())
    assert doc["verdict"] == "interrupted" and doc["totals"]["requests"] == 0, doc["verdict"]
    [setup] = [c for c in doc["checks"] if c["name"] == "setup"]
    assert setup["message"] == "interrupted during setup", setup
    assert json.loads((project.root / "mo" / "status.json").read_text())["status"] == "stopped"
    assert target.requests == 1  # the first setup request, and nothing after it
