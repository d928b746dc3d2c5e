"""A credential the files never declare, captured at runtime (a login's token sent as `Authorization: Bearer
{token}`, `X-Api-Key: {token}`, `?sid={token}`, in a path `/files/{token}`, in a failed login's own body; its
session cookie, sent by the cookie jar), echoed back by the target in a body and in Server-Timing:
no form of it in any artifact, the terminal output or the request log. One short run, against a loopback
server started here, shared by the tests below: declarative users (the lean client) and a python user."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.support.project import CliResult, Project, assert_no_traceback
from tests.support.serving import Target, serving

SCENARIO = """
name: captured
users:
  - name: u
    think_time: 0.01
    requests:
      - {name: login, method: POST, path: /login, json: {user: a}, capture: {token: "$.token"}, weight: 1}
      - {name: echo, path: "/echo?sid={token}&page=1", headers: {Authorization: "Bearer {token}"}, weight: 3}
      - {name: checked, path: /echo, headers: {Authorization: "Bearer {token}", X-Api-Key: "{token}"},
         expect: {json: {"$.auth": "nope"}}, weight: 3}
      - {name: files, path: "/files/{token}", weight: 1}
      - {name: hop, path: /hop, expect: {json: {"$.cookie": "nope"}}, weight: 1}
      - {name: relogin, method: POST, path: /login, json: {user: b}, capture: {token: "$.token"},
         expect: {json: {"$.role": "admin"}}, weight: 1}
  - {python: "py.py:PyAuth", weight: 1}
kinds: {"py_*": read}
"""
LOCUSTFILE = """
from locust import HttpUser, constant, task


class PyAuth(HttpUser):
    wait_time = constant(0.01)

    def on_start(self):
        self.token = self.client.post("/login", name="py_login").json()["token"]
        self.client.headers["Authorization"] = "Bearer " + self.token

    @task
    def files(self):
        self.client.get("/files/" + self.token, name="py_files")

    @task
    def echo(self):
        self.client.get("/echo", name="py_echo")

    @task
    def download(self):  # no name: Locust names it by its path and query, the token in it
        self.client.get("/download?token=" + self.token, context={"kind": "read"})

    @task
    def fail(self):
        with self.client.get("/echo", name="py_fail", catch_response=True) as r:
            r.failure("the target said " + r.text)
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: {host}
load: {{users: 3, duration: 2s}}
seed: 7
allow_saturated_generator: true
min_samples: 1
thresholds:
  "http_req_duration{{name:echo}}": ["p(95)<1"]
  "http_req_duration{{user:PyAuth}}": ["p(95)<1"]
  "server_timing{{entry:app,name:echo}}": ["p(95)<1"]
"""


class _Echo(Target):
    """POST /login: a fresh token (with characters every encoding changes); GET /echo: the request's
    Authorization and X-Api-Key in the JSON body and in Server-Timing's desc, after 5 ms."""

    issued: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token, session = f"cap+Tok/{secrets.token_hex(8)}==", f"sess{secrets.token_hex(8)}"
        if len(_Echo.issued) < 1000:
            _Echo.issued += [token, session]
        self.answer(200, json.dumps({"token": token}).encode(), headers={"Set-Cookie": f"sess={session}; Path=/"})

    def do_GET(self) -> None:
        if self.path == "/hop":  # a redirect that sets a session cookie on the way: the next hop sends it
            session = f"hop{secrets.token_hex(8)}"
            if len(_Echo.issued) < 1000:
                _Echo.issued.append(session)
            self.answer(302, headers={"Location": "/echo", "Set-Cookie": f"hop={session}; Path=/"})
            return
        time.sleep(0.005)
        auth, key, cookie = (self.headers.get(h, "") for h in ("Authorization", "X-Api-Key", "Cookie"))
        self.answer(200, json.dumps({"auth": auth, "key": key, "cookie": cookie}).encode(),
                    headers={"Server-Timing": f'app;dur=5;desc="{auth}", jar;desc="{cookie}"'})


class Run:
    def __init__(self, result: CliResult, out: Path, tokens: list[str], probed: bool = False) -> None:
        self.result, self.out, self.tokens, self.probed = result, out, tokens, probed
        self.doc: dict[str, Any] = json.loads((out / "results.json").read_text())

    def texts(self) -> list[tuple[str, str]]:
        files = [p for p in self.out.rglob("*") if p.is_file()]
        return [(self.result.out, "stdout"), (self.result.err, "stderr")] + [
            (p.read_text(errors="replace"), str(p.relative_to(self.out))) for p in files
        ]


@pytest.fixture(scope="module", params=["lean", "locust", "probe"])
def run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Run]:
    """One run with the lean client, one with `client: locust` (Locust's FastHttpSession for the declarative
    users): each masks its users' captured tokens itself. `probe`: the lean client with the postgres collector's
    N+1 probe on (a real PostgreSQL), which sends each request once before the load with its own runner (its
    own credentials: a login's token captured and sent on): nothing of it in any artifact either."""
    _Echo.issued = []
    with serving(_Echo) as port:
        project = Project(tmp_path_factory.mktemp("captured"))
        scenario = SCENARIO if request.param == "lean" else SCENARIO.replace("name: captured\n",
                                                                              "name: captured\nclient: locust\n")
        project.write("scenarios/s.yaml", scenario)
        project.write("scenarios/py.py", LOCUSTFILE)
        profile = PROFILE.format(host=f"http://127.0.0.1:{port}")
        if request.param == "probe":
            dsn = request.getfixturevalue("postgres").dsn()
            profile += f'collectors: {{postgres: {{dsn: "{dsn}", slow_ms: 200, probe: true}}}}\n'
        project.write("profiles/p.yaml", profile)
        result = project.run("run", "p", "--request-log", "--out", "o", timeout=120)
        yield Run(result, project.root / "o", list(_Echo.issued), probed=request.param == "probe")


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="-_.~/"), quote_plus(secret),
            json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()}


def test_the_cases_were_exercised(run: Run) -> None:
    assert_no_traceback(run.result)
    assert run.result.code == 1, run.result.out + run.result.err  # the latency gates fail
    assert len(run.tokens) >= 2, run.tokens  # declarative users and the python user logged in
    rows = {t["selector"]: t for t in run.doc["thresholds"]}
    for selector in ("http_req_duration{name:echo}", "http_req_duration{user:PyAuth}"):
        shown = [s for s in rows[selector]["evidence"]["slowest"] if s["endpoint"] != "py_login"]
        assert shown and all(s["server_timing"] for s in shown), rows[selector]
        descs = [e["desc"] for s in shown for e in s["server_timing"]]
        # the login's session cookie, sent by the jar (with the redirect's once a `hop` went through it)
        assert "Bearer ***" in descs and any("sess=***" in d for d in descs), shown
        assert set(descs) <= {"Bearer ***", "sess=***", "sess=***; hop=***", "hop=***; sess=***"}, shown
    text = json.dumps(run.doc)
    assert 'got \\"Bearer ***\\"' in text, text[:3000]  # the failed check's example: the echoed header, masked
    assert "the target said" in text  # the python user's failure reason, which quotes the echoed body
    log = (run.out / "requests.jsonl").read_text()
    assert "/echo?sid=***&page=1" in log, log[:2000]  # a credential query parameter shows ***
    # the token in a path segment (a request that sends no credential header): the user's captured token, masked
    assert '"path":"/files/***"' in log, log[:2000]
    assert '"name":"py_files"' in log and '"name":"hop"' in log  # the python user's path; the redirect's cookie
    # a python user's request named by Locust after its path and query: its series, names and log, masked
    assert '"/download?token=***"' in text and '"name":"/download?token=***"' in log, text[:3000]
    # a login whose check failed: its example (the body, which holds the token it would have captured), masked
    assert '200 {\\"token\\": \\"***\\"}' in text, text[:3000]
    if run.probed:  # the probe's own requests: their failed checks' examples, masked in the probe's notes
        notes = {p["name"]: p["note"] for p in run.doc["database"]["collector"]["probe"]}
        # every request was sent (none "not probed: needs captured token"): the login's token reached the probe's
        # later requests, whose notes and rows are in the artifacts the next test reads for any form of it
        assert set(notes) == {"login", "echo", "checked", "files", "hop", "relogin"}, notes
        assert notes["checked"] == "the response failed its checks (check $.auth failed)", notes
        assert not any("not probed" in n for n in notes.values()), notes


def test_no_form_of_a_captured_token_appears_anywhere(run: Run) -> None:
    names = {where for _, where in run.texts()}
    assert {"results.json", "summary.md", "report.html", "junit.xml", "requests.jsonl"} <= names, names
    for text, where in run.texts():
        for token in run.tokens:
            tail = token.partition("/")[2]  # what follows the token's `/`: no part of it either
            for form in _forms(token) | (_forms(tail) if tail else set()):
                assert form not in text, (form, where)
