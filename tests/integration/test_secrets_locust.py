"""Credentials nobody declared, met on Locust's side of a worker: a token a python user captured (from a login) and
then sent, raised by its task in an exception (Locust logs the traceback), quoted by a failure reason, named by a
request exception's URL (`?access_token=...`); and a `client: locust` failure reason naming a redirect's URL with
`?token=...`. No form of them in the terminal, any file of the run folder or the workers' kept logs. Short runs
against a loopback server started here."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import CliResult, Project, assert_no_traceback
from tests.support.serving import Target, serving


class _Login(Target):
    """POST /login: a fresh token; GET /data: 200; GET /items...: 404; GET /sso: a redirect to
    `/callback?token=<fresh>&state=s1`, where the answer never comes (the connection is held 1.5 s, then closed)."""

    issued: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, json.dumps({"token": self._fresh()}).encode())

    def do_GET(self) -> None:
        if self.path.startswith("/sso"):
            self.answer(302, headers={"Location": f"/callback?token={self._fresh()}&state=s1"})
        elif self.path.startswith("/callback"):
            time.sleep(1.5)  # longer than the profile's request_timeout
            self.close_connection = True
        elif self.path.startswith("/items"):
            self.answer(404, b"no such item")
        else:
            self.answer(200, b'{"ok": true}')

    @staticmethod
    def _fresh() -> str:
        token = f"capTok{secrets.token_hex(10)}"
        if len(_Login.issued) < 1000:
            _Login.issued.append(token)
        return token



@pytest.fixture
def target() -> Iterator[str]:
    _Login.issued = []
    with serving(_Login) as port:
        yield f"http://127.0.0.1:{port}"


def _texts(r: CliResult, out: Path) -> list[tuple[str, str]]:
    """(text, where) of everything a run showed: its stdout and stderr, and every file under its run folder (the
    kept worker logs in logs/ included)."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return [(r.out, "stdout"), (r.err, "stderr")] + [(p.read_text(errors="replace"), str(p.relative_to(out)))
                                                     for p in files]


LOCUSTFILE = """
from locust import {base}, constant, task


class Asker({base}):
    wait_time = constant(0.01)

    def on_start(self):
        self.token = self.client.post("/login", name="login").json()["token"]
        self.asked = 0

    @task
    def ask(self):
        self.asked += 1
        # the token only in a credential query parameter: the failure quotes it bare
        with self.client.get("/items?api_key=" + self.token, name="refused", catch_response=True) as r:
            r.failure("the target refused " + self.token)
        if self.asked == 2:  # the 404's exception names the URL, raised out of the task
            self.client.get("/items?access_token=" + self.token, name="items").raise_for_status()
        self.client.get("/data", name="data", headers={{"Authorization": "Bearer " + self.token}})
        raise RuntimeError("bad answer for " + self.token)  # Locust logs the traceback


class Quitter({base}):
    def on_start(self):  # a virtual user that fails: the worker's log is kept in the run folder
        token = self.client.post("/login", name="login").json()["token"]
        self.client.get("/data", name="data", headers={{"Authorization": "Bearer " + token}})
        raise RuntimeError("login refused for " + token)

    @task
    def nothing(self):
        pass
"""


@pytest.mark.parametrize("base", ["HttpUser", "FastHttpUser"])
def test_a_token_a_python_user_captured_is_masked_in_its_errors_tracebacks_and_logs(
    project: Project, target: str, base: str
) -> None:
    """A python user's task raised an exception quoting the token it captured and sent (`Authorization: Bearer`):
    Locust's traceback of it in the worker's log, the task error and the virtual user's failure (on_start) in
    results.json and the terminal showed it whole (only the run's declared secrets were masked); a failure reason
    quoting a token the request carried in a credential query parameter, and a request exception naming the
    request's URL (`?access_token=...`), raised out of the task, did too."""
    project.write("scenarios/py.py", LOCUSTFILE.format(base=base))
    project.write("scenarios/s.yaml", """
        name: py
        users:
          - {python: "py.py:Asker"}
          - {python: "py.py:Quitter"}
        kinds: {"*": read}
        """)
    project.write("profiles/p.yaml", f"""
        scenario: ../scenarios/s.yaml
        host: {target}
        load: {{users: 2, iterations: 3}}
        workers: 1
        """)
    r = project.run("run", "p", "--request-log", "--out", "o")
    assert_no_traceback(r)
    out = project.root / "o"
    reasons = [e["reason"] for e in project.results("o")["errors"]]
    shown = json.dumps(project.results("o"))
    # the cases were exercised, each masked
    assert len(_Login.issued) == 2, _Login.issued
    assert "RuntimeError: bad answer for *** (py.py:20)" in reasons, reasons  # its file and line
    assert "CatchResponseError: the target refused ***" in reasons, reasons
    assert any("items?access_token=***" in reason for reason in reasons), reasons  # raised out of the task
    assert "RuntimeError: login refused for ***" in shown, shown[:3000]  # the virtual user's failure
    log = (out / "logs" / "worker-0.log").read_text()
    assert "bad answer for ***" in log and "login refused for ***" in log, log[-3000:]  # Locust's tracebacks
    assert "Traceback" in log, log[-3000:]
    for text, where in _texts(r, out):
        assert "capTok" not in text, (where, text[:3000])


def test_a_credential_parameter_in_a_client_locust_failure_reason_is_masked(project: Project, target: str) -> None:
    """`client: locust`: a redirect to `/callback?token=...` whose answer never came failed with Locust's client's
    error, which names the URL (`request failed: URL http://.../callback?token=...: 3, original=timed out`): the
    token a redirect handed over showed in the terminal and every artifact (the lean client masks it)."""
    project.write("scenarios/s.yaml", """
        name: sso
        client: locust
        users:
          - name: u
            requests:
              - {name: sso, path: /sso, timeout: 5s}
        """)
    project.write("profiles/p.yaml", f"""
        scenario: ../scenarios/s.yaml
        host: {target}
        request_timeout: 0.2s
        load: {{users: 1, iterations: 1}}
        """)
    r = project.run("run", "p", "--request-log", "--out", "o")
    assert_no_traceback(r)
    reasons = [e["reason"] for e in project.results("o")["errors"]]
    assert _Login.issued, "the redirect was not followed"
    assert any("/callback?token=***&state=s1" in reason for reason in reasons), reasons  # the case was exercised
    for text, where in _texts(r, project.root / "o"):
        assert "capTok" not in text, (where, text[:3000])


PROBE = """
import locust  # noqa: F401  (gevent's patches first)
import gevent
from locust import User, task
from locust.env import Environment
from locust.rpc import Message
from locust.rpc.zmqrpc import Server

from loadorch.runtime.worker import _no_locust_exception_messages

server = Server("127.0.0.1", 0)
seen: list[str] = []


def master() -> None:
    while True:
        addr, msg = server.recv_from_client()
        seen.append(msg.type)
        if msg.type == "client_ready":
            server.send_to_client(Message("ack", {"index": 0}, addr))


class U(User):
    @task
    def t(self) -> None:
        pass


gevent.spawn(master)
env = Environment(user_classes=[U])
runner = env.create_worker_runner("127.0.0.1", server.port)


def fire(text: str) -> int:
    # Locust's user_error event, then a probe message: the socket keeps order, so once the fake master has the
    # probe it has every message sent before it
    before = seen.count("exception")
    try:
        raise RuntimeError(text)
    except RuntimeError as exc:
        env.events.user_error.fire(user_instance=None, exception=exc, tb=exc.__traceback__)
    probes = seen.count("probe")
    runner.send_message("probe", {})
    for _ in range(1000):  # at most 10 s
        if seen.count("probe") > probes:
            break
        gevent.sleep(0.01)
    return seen.count("exception") - before


print(fire("capTok1 as Locust sends it"), end=" ")
_no_locust_exception_messages(env)
print(fire("capTok2 after the listener is removed"))
runner.quit()
"""


def test_a_worker_sends_its_master_no_exception_text_of_its_own(tmp_path: Path) -> None:
    """Locust's worker sends each python user's exception to its master as raised (a token the task quoted, unmasked)
    through a send that retries for 9 s in the user's greenlet when the text cannot be encoded. loadorch records task
    errors itself; the worker removes Locust's listener. A real WorkerRunner against a fake master (Locust's own
    ZeroMQ server): one `exception` message before the removal, none after."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "0"], out.stdout + out.stderr[-2000:]



PRINTER = """
import logging
import sys

from locust import HttpUser, task


class Printer(HttpUser):
    def on_start(self):  # a failing virtual user: the worker's log is kept in the run folder
        token = self.client.post("/login", name="login").json()["token"]
        # written past the worker's log mask (its own stderr), then through Locust's logging
        print("fetching https://bob:pw-" + token + "@api.test/v1?access_token=" + token, file=sys.stderr)
        logging.getLogger("app").error("dsn postgresql://app:pw-" + token + "@db.test/shop")
        raise RuntimeError("gave up")

    @task
    def nothing(self):
        pass
"""


def test_credentials_in_urls_a_python_user_wrote_to_its_stderr_are_masked_in_the_kept_log(
    project: Project, target: str
) -> None:
    """A python user printed a URL with a `user:password@` and a credential parameter to its stderr, and logged a
    DSN with a password: the worker's kept log in the run folder and the terminal's tail of it showed both whole
    (only the run's declared secrets were masked there, and the log mask knew no `user:password@`)."""
    project.write("scenarios/py.py", PRINTER)
    project.write("scenarios/s.yaml", """
        name: py
        users:
          - {python: "py.py:Printer"}
        kinds: {"*": read}
        """)
    project.write("profiles/p.yaml", f"""
        scenario: ../scenarios/s.yaml
        host: {target}
        load: {{users: 1, iterations: 1}}
        workers: 1
        """)
    r = project.run("run", "p", "--out", "o")
    assert_no_traceback(r)
    out = project.root / "o"
    log = (out / "logs" / "worker-0.log").read_text()
    # the cases were exercised, each masked
    assert len(_Login.issued) == 1, _Login.issued
    assert "fetching https://***@api.test/v1?access_token=***" in log, log[-3000:]
    assert "dsn postgresql://***@db.test/shop" in log, log[-3000:]
    for text, where in _texts(r, out):
        assert "capTok" not in text, (where, text[:3000])
