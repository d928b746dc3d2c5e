"""Python users beside declarative ones: same histograms, same seeds, errors with file and line."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter

import pytest

from tests.support.project import CliResult, Project, assert_no_traceback

from .helpers import (
    accept_in_threads,
    assert_refused_left_nothing,
    embedded_project,
    files_of,
    finish,
    request_log,
    start_run,
)

LOCUSTFILE = '''
from locust import FastHttpUser, between, task


class CheckoutUser(FastHttpUser):
    wait_time = between(0, 0.01)

    @task(3)
    def browse(self):
        product = self.loadorch.random.randint(1, 50)
        self.client.get(f"/products/{product}", name="py get product")

    @task(1)
    def checkout(self):
        customer = self.loadorch.data("customer")
        self.client.post("/orders", json={"customer": f"py-{customer}", "product_id": 1}, name="py checkout",
                         context={"kind": "write"})
'''

SCENARIO = """
name: mixed
data:
  customer: {sequence: {start: 1}}
  product_id: {int: [1, 50]}
kinds:
  "py get*": read
users:
  - name: yaml
    requests:
      - {name: list, path: "/products?limit=3"}
      - {name: order, method: POST, path: /orders, json: {customer: "y{customer}", product_id: "{product_id}"}}
  - python: locustfiles/checkout.py:CheckoutUser
min_samples: 5
"""


def test_yaml_and_python_users_share_histograms_kinds_and_seeds(project: Project) -> None:
    project.write("scenarios/locustfiles/checkout.py", LOCUSTFILE)
    # the subject is what both kinds of user record, not latency nor the generator: no latency budget to miss
    # and no starved generator to make the run inconclusive on a busy machine
    embedded_project(project, SCENARIO, users=4, workers=2, profile_extra="allow_saturated_generator: true\n"
                     'thresholds: {http_req_failed: ["rate<0.01"]}\n')
    # the three runs (a and b of one seed, c of another) go at once: what each sent is compared, not when
    started = {out: start_run(project, "--iterations", "8", "--request-log", *seed, "--out", out)
               for out, seed in (("a", ()), ("b", ()), ("c", ("--seed", "10")))}
    said = {out: finish(proc, timeout=180) for out, proc in started.items()}
    logs = []
    for out in ("a", "b"):
        assert started[out].returncode == 0, "".join(said[out])
        logs.append([{k: v for k, v in row.items() if k != "latency_ms"} for row in request_log(project.root / out)])
    assert logs[0] == logs[1] and len(logs[0]) == 32
    doc = project.results("a")
    assert doc["endpoints"]["py get product"]["kind"] == "read" and doc["endpoints"]["py checkout"]["kind"] == "write"
    assert doc["endpoints"]["list"]["kind"] == "read"
    # queries per request from the shop's Server-Timing header, for python and declarative users alike
    assert doc["endpoints"]["py checkout"]["db_queries_per_request"]["min"] == 2
    assert doc["endpoints"]["list"]["db_queries_per_request"]["max"] == 1
    by_class = Counter(row["user_class"] for row in logs[0])
    assert by_class == {"yaml": 16, "CheckoutUser": 16}
    assert {row["worker"] for row in logs[0] if row["user_class"] == "CheckoutUser"} == {0, 1}
    kinds = next(c for c in doc["checks"] if c["name"] == "request kinds")
    assert kinds["verdict"] == "pass"
    other = [{k: v for k, v in row.items() if k != "latency_ms"} for row in request_log(project.root / "c")]
    assert [r for r in other if r["user_class"] == "CheckoutUser"] != [r for r in logs[0] if r["user_class"] == "CheckoutUser"]


def test_unclassified_requests_are_reported(project: Project) -> None:
    project.write("scenarios/locustfiles/checkout.py", LOCUSTFILE)
    embedded_project(project, SCENARIO.replace('  "py get*": read\n', '  "nothing": read\n'), users=2)
    r = project.run("run", "p", "--iterations", "6", "--out", "o")
    assert r.code == 6, r.out + r.err
    doc = project.results("o")
    check = next(c for c in doc["checks"] if c["name"] == "request kinds")
    assert check["verdict"] == "inconclusive" and "'py get product'" in check["message"]
    assert doc["endpoints"]["py get product"]["kind"] == "unclassified"


def test_import_error_names_file_and_line(project: Project, tmp_path) -> None:
    project.write("scenarios/locustfiles/checkout.py", "import os\n\nx = 1 +\n")
    embedded_project(project, SCENARIO, users=2)
    trace = tmp_path / "trace"  # the run's start-up phases (LOADORCH_TRACE_START)
    before = files_of(project.root)
    r = project.run("run", "p", "--iterations", "2", "--out", "o", env={"LOADORCH_TRACE_START": str(trace)})
    assert r.code == 3, r.out + r.err
    assert "checkout.py:3: SyntaxError" in r.err
    assert not (project.root / "o").exists()
    assert_no_traceback(r)
    # a python user that cannot be imported is a refused configuration: the fork server (started before the
    # configuration was read) is gone, neither it nor the run left a file, when the configuration's check finds it
    # (above) and when importing it does (the controller's check-users, below)
    assert_refused_left_nothing(trace, "cli imported", project.root, before)
    project.write("scenarios/locustfiles/checkout.py", "raise RuntimeError('no checkout today')\n\n\n"
                  "class CheckoutUser:\n    pass\n")
    trace.unlink()
    before = files_of(project.root)
    r = project.run("run", "p", "--iterations", "2", "--out", "o", env={"LOADORCH_TRACE_START": str(trace)})
    assert r.code == 3 and "no checkout today" in r.err, r.out + r.err
    assert not (project.root / "o").exists()
    assert_refused_left_nothing(trace, "target up", project.root, before)


def test_exception_in_a_task_is_a_failure_with_file_and_line(project: Project) -> None:
    broken = LOCUSTFILE.replace('        customer = self.loadorch.data("customer")',
                                '        customer = self.loadorch.data("customer")\n        raise ValueError("boom")')
    project.write("scenarios/locustfiles/checkout.py", broken)
    embedded_project(project, SCENARIO, users=2)
    r = project.run("run", "p", "--iterations", "10", "--out", "o")
    assert r.code == 1, r.out + r.err
    doc = project.results("o")
    errors = [e for e in doc["errors"] if e["reason"].startswith("ValueError: boom")]
    written = (project.root / "scenarios" / "locustfiles" / "checkout.py").read_text().splitlines()
    line = written.index('        raise ValueError("boom")') + 1
    assert errors and f"checkout.py:{line}" in errors[0]["reason"]
    failed = next(t for t in doc["thresholds"] if t["selector"] == "http_req_failed")
    assert failed["verdict"] == "fail"
    assert json.dumps(doc).count("Traceback") == 0


BURNER = '''
import time
from locust import User, constant, task


class Burner(User):
    wait_time = constant(0.001)  # a real wait, so the worker's own timers (stats, heartbeats) still run

    @task
    def burn(self):
        end = time.process_time() + 0.05
        while time.process_time() < end:
            pass
        self.environment.events.request.fire(request_type="GET", name="burn", response_time=1.0,
                                             response_length=0, exception=None, context={"kind": "read"})
'''


@pytest.mark.alone  # the worker must get a whole core to show saturation
def test_saturated_generator_is_inconclusive(project: Project) -> None:
    """A python user that burns its worker's core: the generator is saturated, the run inconclusive (exit 6).
    With `allow_saturated_generator: true` the same check passes, saying so: that rule, read from a real profile
    file, is tests/unit/test_integrity.py::test_load_not_reached_and_saturated_cpu (a second 6 s run here took
    8 s of the suite's `alone` time for it)."""
    project.write("scenarios/burn.py", BURNER)
    scenario = "name: burn\nusers:\n  - python: burn.py:Burner\nmin_samples: 5\n"
    embedded_project(project, scenario, users=1, duration="6s")
    r = project.run("run", "p", "--out", "o")
    assert r.code == 6, r.out + r.err
    doc = project.results("o")
    cpu = next(c for c in doc["checks"] if c["name"] == "generator cpu")
    assert "generator saturated: worker 0" in cpu["message"]
    assert cpu["verdict"] == "inconclusive"
    assert doc["integrity"]["generator_cpu_sustained_peak"]["0"] > 90


@pytest.mark.parametrize("sig,code", [(2, 130), (15, 143)])
def test_interrupt_during_the_python_user_import_check(project: Project, sig: int, code: int) -> None:
    """A signal while the python users are imported (before any load) ends the run as interrupted
    (130/143) with its artifacts, not as a configuration error with a traceback."""
    import os
    import time

    marker = project.root / "importing"
    project.write("scenarios/locustfiles/slow.py", f"""
        import pathlib, time
        pathlib.Path({str(marker)!r}).write_text("x")
        time.sleep(60)
        from locust import HttpUser
        class Slow(HttpUser):
            pass
        """)
    project.write("scenarios/s.yaml", "name: slow\nusers:\n  - python: locustfiles/slow.py:Slow\nkinds: {'*': read}\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, iterations: 1}\n")
    proc = start_run(project, "--out", "o")
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the import check did not start"
        os.kill(proc.pid, sig)
        out, err = finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err
    assert project.results("o")["verdict"] == "interrupted"


SILENT_USERS = """
from locust import FastHttpUser, HttpUser, constant, task


class Plain(HttpUser):
    wait_time = constant(0)

    @task
    def ask(self):
        self.client.get("/never", name="plain")


class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def ask(self):
        self.client.get("/never", name="fast")
"""


def _run_against_silence(project: Project, user: str, profile: str) -> CliResult:
    """A run of SILENT_USERS' `user` class against a target that accepts (the kernel's backlog) and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        project.write("scenarios/locustfiles/silent.py", SILENT_USERS)
        project.write("scenarios/s.yaml", f"name: silent\nusers:\n  - python: locustfiles/silent.py:{user}\n"
                                          "kinds: {'*': read}\n")
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{port}\n{profile}")
        return project.run("run", "p", "--out", "o", timeout=90)


@pytest.mark.parametrize("user", ["Plain", "Fast"])
def test_a_python_users_request_to_a_target_that_never_answers_ends_at_request_timeout(
    project: Project, user: str
) -> None:
    """Locust's HttpUser (requests) waits for ever by default, FastHttpUser 60 s a read: against a target that
    accepts and never answers, an iterations run of an HttpUser never ended (its only bound the controller's
    day). Each request is bounded by the profile's request_timeout, as the declarative users' are."""
    r = _run_against_silence(project, user, "load: {users: 1, iterations: 1}\nrequest_timeout: 2s\n")
    assert_no_traceback(r)
    doc = project.results("o")
    assert r.code in (1, 6) and doc["totals"] == {"requests": 1, "failures": 1, "rps": doc["totals"]["rps"]}, r.err
    [endpoint] = doc["endpoints"].values()
    assert endpoint["count"] == 1 and endpoint["failures"] == 1
    # what ended it is the 2 s bound (not FastHttpUser's own 60 s read timeout, nor the run's end), as the error says
    [error] = doc["errors"]
    said = {"Plain": "(read timeout=2.0)", "Fast": "the whole request took over 2s (request_timeout)"}[user]
    assert said in error["reason"], error["reason"]


@pytest.mark.parametrize("user", ["Plain", "Fast"])
def test_a_python_users_request_still_waiting_at_the_end_is_counted_and_said(project: Project, user: str) -> None:
    """request_timeout (10 s by default) longer than the run, against a target that accepts and never answers: the
    declarative users' waiting requests were counted and said ("the target answered none"), a python user's were
    not: 0 requests, thresholds "no data" with a fix about the selector's tags, and no word of the target."""
    r = _run_against_silence(project, user, "load: {users: 2, duration: 3s}\n")
    assert_no_traceback(r)
    doc = project.results("o")
    assert r.code == 1 and doc["totals"]["requests"] == 0, r.out + r.err
    waiting = [(u["name"], u["kind"], u["method"], u["count"]) for w in doc["integrity"]["per_worker"]
               for u in w["unanswered"]]
    assert waiting == [(user.lower(), "read", "GET", 2)], waiting
    said = {c["name"]: c for c in doc["checks"]}["unanswered requests"]
    assert said["verdict"] == "fail" and said["message"].startswith(
        f"the target answered none of the requests: 2 request(s) were still waiting for the target at the end "
        f"({user.lower()} 2; the longest for "), said
    assert all(t["message"].startswith("no data: no answer: 2 request(s) of ") for t in doc["thresholds"]), (
        doc["thresholds"])


SECRET_TOKEN = "Tok-canary-5e1d0b"  # a variable marked secret
HEADER_TOKEN = "hdr-canary-93c2aa77"  # written literally in the profile's Authorization header
QUERY_TOKEN = "qry-canary-4b8e61f0"  # a URL's credential parameter, declared nowhere
FAILING_IMPORT = '''
import base64, os, urllib.parse
if {when!r} in os.environ:
    token = os.environ["SHOP_TOKEN"]
    raise RuntimeError(f"login failed for {{token}} ({{urllib.parse.quote(token)}}, {{base64.b64encode(token.encode())}})"
                       " with Bearer {header} at https://auth.example/cb?access_token={query}&next=1")
from locust import HttpUser
class Broken(HttpUser):
    pass
'''


def _leaks(text: str) -> list[str]:
    import base64
    from urllib.parse import quote

    forms = [SECRET_TOKEN, quote(SECRET_TOKEN), base64.b64encode(SECRET_TOKEN.encode()).decode(), HEADER_TOKEN,
             QUERY_TOKEN]
    return [form for form in forms if form in text]


def _broken_import_project(project: Project, when: str) -> None:
    project.write("scenarios/locustfiles/broken.py",
                  FAILING_IMPORT.format(when=when, header=HEADER_TOKEN, query=QUERY_TOKEN))
    project.write("scenarios/s.yaml", "name: broken\nusers:\n  - python: locustfiles/broken.py:Broken\n"
                                      "kinds: {'*': read}\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, iterations: 1}\n"
                                     f"headers: {{Authorization: 'Bearer {HEADER_TOKEN}', X-Shop: '${{SHOP_TOKEN}}'}}\n"
                                     "secrets: [SHOP_TOKEN]\n")


def test_a_python_user_that_fails_to_import_never_shows_a_secret(project: Project) -> None:
    """A python user's module whose import fails with a message quoting a secret (a variable marked secret, raw,
    URL-encoded and base64; a profile header's token; a URL's `?access_token=`): the refusal at the import check
    (every process imports it) and a worker's own failure (the module fails only there) say where, and mask them all,
    on the terminal and in every file of the run folder."""
    env = {"SHOP_TOKEN": SECRET_TOKEN}
    _broken_import_project(project, "PATH")  # fails wherever it is imported: at the controller's check
    r = project.run("run", "p", "--out", "o", env=env)
    assert r.code == 3 and "broken.py:4: RuntimeError: login failed for ***" in r.err, r.out + r.err
    assert "access_token=***" in r.err and _leaks(r.out + r.err) == [], r.err
    assert_no_traceback(r)
    _broken_import_project(project, "LOADORCH_PARENT_PID")  # fails only in the run's processes: its worker
    r = project.run("run", "p", "--out", "o", env=env)
    said = r.out + r.err
    assert r.code == 5 and "worker 0 exited with code 3 before the run started" in said, said
    assert "broken.py:4: RuntimeError: login failed for ***" in said
    assert _leaks(r.out + r.err) == [], r.err
    files = [p for p in (project.root / "o").rglob("*") if p.is_file()]
    assert {"results.json", "junit.xml", "summary.md", "report.html", "worker-0.log"} <= {p.name for p in files}
    for path in files:
        assert _leaks(path.read_text()) == [], path
    assert "access_token=***" in (project.root / "o" / "logs" / "worker-0.log").read_text()


def test_a_worker_whose_python_user_fails_to_import_masks_its_own_output(project: Project, tmp_path) -> None:
    """Under Kubernetes a worker's stderr is its pod's log, read with no controller to mask it: a python user's module
    that fails to import there is said masked by the worker itself (file, line, message), not as a raw traceback."""
    import os
    import subprocess
    import sys

    _broken_import_project(project, "JOB_COMPLETION_INDEX")  # a pod's variable: the import fails in the pod only
    env = {"SHOP_TOKEN": SECRET_TOKEN, "LOADORCH_RUN_TOKEN": "t" * 32}
    project.write("profiles/p.yaml", (project.root / "profiles/p.yaml").read_text()
                  .replace("host: embedded", "host: http://127.0.0.1:9\nallowed_hosts: ['127.0.0.0/8']"))
    plan = tmp_path / "plan.json"
    r = project.cli("k8s", "plan", "p", "--workers", "1", "--master-host", "127.0.0.1", "--master-port", "9",
                    "--out", str(plan), env=env)
    assert r.code == 0, r.err
    done = subprocess.run([sys.executable, "-m", "loadorch.runtime", "worker", "--plan", str(plan)],
                          env={**os.environ, **env, "JOB_COMPLETION_INDEX": "0"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr
    assert "broken.py:4: RuntimeError: login failed for ***" in done.stderr and "access_token=***" in done.stderr
    assert _leaks(done.stdout + done.stderr) == [] and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("user", ["Plain", "Fast"])
def test_a_python_users_request_to_a_trickling_target_ends_at_request_timeout(project: Project, user: str) -> None:
    """requests' timeout and FastHttpUser's network_timeout bound each read: a target that sends its head, then a byte
    of its 100,000-byte body every 0.3 s, held one request (and an iterations run) for 8 hours. The profile's
    request_timeout bounds the whole request, as it does the declarative users'."""
    stop = threading.Event()

    def trickle(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
                while not stop.wait(0.3):
                    conn.sendall(b"x")
            except OSError:
                pass

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        accept_in_threads(server, trickle)
        port = server.getsockname()[1]
        project.write("scenarios/locustfiles/silent.py", SILENT_USERS)
        project.write("scenarios/s.yaml", f"name: trickle\nusers:\n  - python: locustfiles/silent.py:{user}\n"
                                          "kinds: {'*': read}\n")
        project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:{port}\n"
                                         "load: {users: 1, iterations: 1}\nrequest_timeout: 2s\n")
        try:
            r = project.run("run", "p", "--out", "o", timeout=90)  # a bound on hanging: the run lasts seconds
        finally:
            stop.set()
    assert_no_traceback(r)
    doc = project.results("o")
    assert r.code in (1, 6) and doc["totals"]["requests"] == 1 and doc["totals"]["failures"] == 1, r.out + r.err
    [endpoint] = doc["endpoints"].values()
    assert endpoint["count"] == 1 and endpoint["failures"] == 1, endpoint
    # ended by the 2 s bound (not 30,000 s of trickle): FastHttpUser's reason names it; requests' is urllib3's own
    [error] = doc["errors"]
    said = {"Fast": "the whole request took over 2s (request_timeout)", "Plain": "Read timed out"}[user]
    assert said in error["reason"], error


WAITER = '''
import gevent
from locust import HttpUser, constant, task


class Waiter(HttpUser):
    wait_time = constant(0)

    @task
    def hang(self):
        self.client.get("/health")
        gevent.sleep(3600)  # waits, yielding: its worker's loop runs, so it is not stuck
'''


def test_a_run_of_iterations_whose_user_never_finishes_ends_at_its_bound_inconclusive(project: Project) -> None:
    """A python user whose task waits without end never makes its iterations; its loop runs, so no worker is stuck.
    Such a run went on for 24 hours, then said the master stopped responding. It ends at the bound of a run of
    iterations without load.duration (600 s; 4 here, LOADORCH_TEST_ITERATIONS_CAP_S), inconclusive, with why."""
    project.write("scenarios/wait.py", WAITER)
    project.write("scenarios/s.yaml", "name: w\nusers:\n  - python: wait.py:Waiter\nkinds: {'*': read}\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 2, iterations: 3}\n"
                  "min_samples: 1\n")
    r = project.run("run", "p", "--out", "o", env={"LOADORCH_TEST_ITERATIONS_CAP_S": "4"}, timeout=90)
    assert r.code == 6, r.out + r.err
    assert_no_traceback(r)
    doc = project.results("o")
    assert doc["run"]["stop_reason"] == "duration" and doc["totals"]["requests"] == 2, doc["run"]
    load = next(c for c in doc["checks"] if c["name"] == "load")
    assert load["verdict"] == "inconclusive" and "reached its bound of 4s (no load.duration)" in load["message"], load
    assert "why: load: the run of 3 iterations per user reached its bound" in r.out
