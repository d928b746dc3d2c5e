"""Issue 28, whole runs: a name per id stays bounded (results, live metrics), a huge response head fails its
request and the worker lives, and a worker that stops reporting leaves its log."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from loadorch.metrics.families import MAX_METRIC_NAMES
from loadorch.run.processes import free_port
from tests.support.project import Project, assert_no_traceback

from .helpers import accept_in_threads, finish, start_run, wait_for_workers

pytestmark = pytest.mark.integration

OTHER = "(other endpoints)"
HEAD_ERROR = "response head over 64 KiB (max_response_head)"


class Answers:
    """A loopback HTTP/1.1 server: any request gets `200 ok` on a kept-alive connection, except /huge, whose
    head is one header line of `huge_mb` MB (written until the client hangs up)."""

    def __init__(self, huge_mb: int = 50) -> None:
        self.huge_mb = huge_mb
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.huge_sent: list[int] = []  # bytes of each huge head written before the client hung up
        self.answered = 0
        accept_in_threads(self.sock, self._serve)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                if head.split(b" ", 2)[1] == b"/huge":
                    self._huge(conn)
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                self.answered += 1
        except OSError:
            pass
        finally:
            conn.close()

    def _huge(self, conn: socket.socket) -> None:
        sent = 0
        block = b"h" * (1 << 20)
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: ")
            for _ in range(self.huge_mb):
                conn.sendall(block)
                sent += len(block)
            conn.sendall(b"\r\nContent-Length: 2\r\n\r\nok")
        except OSError:
            pass
        self.huge_sent.append(sent)

    def close(self) -> None:
        self.sock.close()


def _metrics_url(proc: subprocess.Popen[str], err: list[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(err):
            if line.startswith("metrics: "):
                return line[len("metrics: "):].strip()
        assert proc.poll() is None, "".join(err)
        time.sleep(0.1)
    raise TimeoutError("no metrics URL")


def _final_exposition(url: str, timeout: float = 120) -> str:
    """The master's /metrics once the run has finished (the values are final), within --metrics-grace."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        if re.search(r"^loadorch_run_finished\{[^}]*\} 1\.0$", text, re.M):
            return text
        time.sleep(2.0)  # as a scraper would (each scrape takes the master's time from merging)
    raise TimeoutError(f"the run did not finish within {timeout}s")


def _end_the_grace(proc: subprocess.Popen[str], err: list[str], timeout: float = 60) -> None:
    """The final values scraped: Ctrl-C ends --metrics-grace once the run says it serves them (the verdict
    printed, every artifact written), not the whole grace later; the exit code stays the run's."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not any("serving the final metrics" in line for line in err):
        assert time.monotonic() < deadline, "".join(err)
        time.sleep(0.1)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)


IDS_LOCUSTFILE = '''
from locust import FastHttpUser, constant, task


class ItemUser(FastHttpUser):
    wait_time = constant(0)
    seen = 0

    @task
    def item(self):
        self.seen += 1  # Locust's classic mistake: the id in the URL, no name=, so a name per request
        self.client.get(f"/items/{self.loadorch.slot}-{self.seen}")
'''


def test_a_name_per_id_is_bounded_with_an_exact_other_row_a_warning_and_bounded_metrics(project: Project) -> None:
    """3,000 python requests, each with a name of its own, from 2 workers (1,500 each: past the bound on each
    worker and in the master's merge): results.json keeps 1,000 names (the
    profile's default max_endpoints) and one '(other endpoints)' row that counts the other 2,000 exactly; the
    run says so and how to fix it; the live metrics label 200 names and count the rest as one, not a name per
    request (257,776 series after 9 s before)."""
    site = Answers()
    port = free_port()
    project.write("scenarios/locustfiles/items.py", IDS_LOCUSTFILE)
    project.write("scenarios/s.yaml", "name: ids\nusers:\n  - python: locustfiles/items.py:ItemUser\n"
                  'kinds: {"/items/*": read}\nthresholds: {http_req_failed: ["rate<0.01"]}\nmin_samples: 1\n')
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{site.port}\n"
                  "load: {users: 4, spawn_rate: 100, duration: 5m}\nworkers: 2\nseed: 3\n")
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "run", "p", "--iterations", "750", "--out", "o",
                             "--metrics-port", str(port), "--metrics-grace", "20s"], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        exposition = _final_exposition(_metrics_url(proc, err))
        _end_the_grace(proc, err)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
        site.close()
    reader.join(timeout=10)
    text = out + "".join(err)
    assert proc.returncode in (0, 1, 6), text  # the verdict is the run's; what matters here is what it recorded
    doc = project.results("o")
    assert doc["totals"] == {**doc["totals"], "requests": 3_000, "failures": 0}
    endpoints = doc["endpoints"]
    assert len(endpoints) == 1_001 and endpoints[OTHER]["count"] == 3_000 - 1_000
    assert all(row["count"] == 1 for name, row in endpoints.items() if name != OTHER)
    assert sum(row["count"] for row in endpoints.values()) == 3_000
    assert endpoints[OTHER]["kind"] == "read" and endpoints[OTHER]["p50_ms"] is not None  # one merged histogram
    [warning] = [w for w in doc["warnings"] if "max_endpoints" in w]
    assert "more than 1,000 distinct request names" in warning and "name=" in warning and "'/items/" in warning
    assert f"warning: {warning}" in out
    # live metrics: a bounded set of names labelled (MAX_METRIC_NAMES), the rest as the other row
    names = set(re.findall(r'^loadorch_http_requests_total\{[^}]*\bname="([^"]*)"', exposition, re.M))
    assert len(names) == MAX_METRIC_NAMES + 1 and OTHER in names
    series = [line for line in exposition.splitlines() if line and not line.startswith("#")]
    assert len(series) < 30 * (MAX_METRIC_NAMES + 1), len(series)  # per name: counters and a histogram
    total = sum(float(v) for v in re.findall(r"^loadorch_http_requests_total\{[^}]*\} (\S+)$", exposition, re.M))
    assert total == 3_000
    assert "Traceback" not in text


HEAD_SCENARIO = """
name: heads
{client}users:
  - {{name: big, requests: [{{name: huge, path: /huge}}]}}
  - {{name: small, requests: [{{name: fine, path: /fine}}]}}
thresholds: {{http_req_failed: ["rate<1"]}}
min_samples: 1
"""

HEAD_LOCUSTFILE = '''
from locust import FastHttpUser, constant, task


class HeadUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def both(self):
        self.client.get("/huge", name="huge")
        self.client.get("/fine", name="fine")
'''


@pytest.mark.parametrize("client", ["lean", "locust", "python"])
def test_a_50_mb_header_line_fails_its_request_and_the_worker_lives(project: Project, client: str) -> None:
    """A response whose head is one 50 MB header line: the lean client, `client: locust` and a python user's
    FastHttpUser each fail that request, saying so, once 64 KiB of it came (not after reading 50 MB into a
    worker that then died); the worker goes on and reports every request."""
    site = Answers(huge_mb=50)
    try:
        if client == "python":
            project.write("scenarios/locustfiles/heads.py", HEAD_LOCUSTFILE)
            project.write("scenarios/s.yaml", "name: heads\nusers:\n  - python: locustfiles/heads.py:HeadUser\n"
                          'kinds: {"*": read}\nthresholds: {http_req_failed: ["rate<1"]}\nmin_samples: 1\n')
        else:
            project.write("scenarios/s.yaml",
                          HEAD_SCENARIO.format(client="client: locust\n" if client == "locust" else ""))
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{site.port}\n"
                      "load: {users: 2, duration: 60s}\nworkers: 1\nseed: 5\nallow_saturated_generator: true\n")
        r = project.run("run", "p", "--iterations", "3", "--out", "o")
    finally:
        site.close()
    assert r.code == 0, r.out + r.err
    assert_no_traceback(r)
    doc = project.results("o")
    huge = 6 if client == "python" else 3  # python: each of 2 users' 3 tasks asks for both; YAML: a user each
    assert doc["totals"]["requests"] == 2 * huge and doc["totals"]["failures"] == huge, doc["totals"]
    assert doc["endpoints"]["fine"]["failures"] == 0 and doc["endpoints"]["huge"]["failures"] == huge
    reasons = {e["reason"]: e["count"] for e in doc["errors"]}
    want = f"ResponseHeadTooLarge: {HEAD_ERROR}" if client == "python" else HEAD_ERROR
    assert reasons == {want: huge}, reasons
    assert doc["integrity"]["workers_lost"] == [] and not (project.root / "o" / "logs").exists()
    assert len(site.huge_sent) == huge and max(site.huge_sent) < 50 << 20  # the client hung up early, each time


def test_a_worker_that_stops_reporting_leaves_its_log(project: Project) -> None:
    """A worker alive but silent (here: stopped) is lost; the run ends it with the others, so no exit code of
    its own says why: its log is kept in the run folder all the same, and the output names it."""
    site = Answers()
    try:
        project.write("scenarios/s.yaml", "name: quiet\nusers:\n  - {name: u, think_time: 0.05, "
                      "requests: [{name: fine, path: /fine}]}\n")
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{site.port}\n"
                      "load: {users: 4, duration: 14s}\nworkers: 2\nseed: 1\n")
        proc = start_run(project, "--out", "o")
        pids = wait_for_workers(proc, 2)
        deadline = time.monotonic() + 60
        while site.answered < 20 and time.monotonic() < deadline:  # the load started: every worker said hello
            time.sleep(0.1)
        os.kill(pids[1], signal.SIGSTOP)
        try:
            out, err = finish(proc, timeout=120)
        finally:
            try:
                os.kill(pids[1], signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        site.close()
    assert proc.returncode == 5, out + err
    doc = project.results("o")
    assert [w["index"] for w in doc["integrity"]["workers_lost"]] == [1]
    log = project.root / "o" / "logs" / "worker-1.log"
    assert log.is_file(), sorted(str(p) for p in Path(project.root / "o").rglob("*"))
    assert re.search(r"logs: .*worker-1\.log \(stopped reporting at [0-9.]+s\)", out), out
