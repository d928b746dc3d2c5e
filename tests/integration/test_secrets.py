"""Secrets in every form the product produces never reach output; environment values are data."""

from __future__ import annotations

import base64
import http.server
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.support.project import Project, assert_no_traceback
from tests.support.serving import Target, serving

from .helpers import embedded_project

BRACE_TOKEN = "ab{cd-secretvalue"
PATH_TOKEN = "s3cr3t/Tok+en=="
PASSWORD = "hunter2-pw"
SHORT = "pass"


class _Recorder(Target):
    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        _Recorder.seen.append((self.path, dict(self.headers)))
        self.answer(200, b'{"ok": true}')


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    with serving(_Recorder) as port:
        yield f"127.0.0.1:{port}"


def test_secrets_are_data_sent_as_given_and_masked_in_every_encoding(project: Project, recorder: str) -> None:
    project.write("scenarios/s.yaml", """
        name: secrets
        headers: {X-Token: "${SHOP_TOKEN}", X-Short: "${SHOP_PASSWORD}"}
        data:
          tok: {value: "${PATH_SECRET}"}
        users:
          - name: u
            requests:
              - {name: item, path: "/items/{tok}"}
        """)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: ${STAGING_URL}
        secrets: [PATH_SECRET]
        load: {users: 1, iterations: 3}
        """)
    env = {
        "SHOP_TOKEN": BRACE_TOKEN,
        "PATH_SECRET": PATH_TOKEN,
        "SHOP_PASSWORD": SHORT,
        "STAGING_URL": f"http://admin:{PASSWORD}@{recorder}",
    }
    r = project.run("run", "p", "--request-log", "--out", "o", env=env)
    assert_no_traceback(r)
    assert r.code == 6, r.err  # 3 samples: inconclusive, not a configuration error
    assert "secret SHOP_PASSWORD is only 4 characters" in r.err
    # what the target received: the brace token as is, the path secret URL-encoded, basic auth from the URL
    assert len(_Recorder.seen) == 3
    path, headers = _Recorder.seen[0]
    assert headers["X-Token"] == BRACE_TOKEN
    assert path == "/items/" + quote(PATH_TOKEN, safe="-_.~")
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    forms = {BRACE_TOKEN, PATH_TOKEN, quote(PATH_TOKEN, safe=""), PASSWORD, f"admin:{PASSWORD}",
             base64.b64encode(f"admin:{PASSWORD}".encode()).decode(), json.dumps(PATH_TOKEN)[1:-1]}
    names = sorted(p.name for p in (project.root / "o").iterdir())
    assert names == ["config.yaml", "junit.xml", "report.html", "requests.jsonl", "results.json", "summary.md"]
    for text, where in [(r.out, "stdout"), (r.err, "stderr")] + [
        ((project.root / "o" / n).read_text(), n) for n in names
    ]:
        for form in forms:
            assert form not in text, (form, where)
    # a secret equal to a word of the documents (`pass`) masks values, never the structure
    doc = json.loads((project.root / "o" / "results.json").read_text())
    assert doc["verdict"] == "inconclusive" and all(c["verdict"] in ("pass", "inconclusive") for c in doc["checks"])
    assert any(c["verdict"] == "pass" for c in doc["checks"])
    ET.fromstring((project.root / "o" / "junit.xml").read_text())
    assert "admin" not in doc["run"]["host"] and doc["run"]["host"] == f"http://{recorder}"


def test_line_break_in_a_header_value_is_refused_at_load_time(project: Project) -> None:
    project.write("scenarios/s.yaml", """
        name: crlf
        users:
          - name: u
            requests:
              - {name: h, path: /health}
        """)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: http://127.0.0.1:9
        headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
        load: {users: 1, iterations: 1}
        """)
    r = project.cli("run", "p", "--out", "o", env={"SHOP_TOKEN": "tok-from-file-123\n"})
    assert r.code == 3, r.err
    assert "profiles/p.yaml:3: headers" in r.err and "line break" in r.err
    assert "tok-from-file-123" not in r.err + r.out
    assert not (project.root / "o").exists()
    assert_no_traceback(r)


CANARY = "CANARYtok/9f3e+1b7c=2d"  # a declared secret whose name does not say so; '/', '+', '=' encode


def _outputs(project: Project, r: Any, folder: str = "o") -> list[tuple[str, str]]:
    """(text, where) of everything a run showed: its stdout and stderr, and every file of its run folder."""
    names = sorted(p.name for p in (project.root / folder).iterdir() if p.is_file())
    return [(r.out, "stdout"), (r.err, "stderr")] + [((project.root / folder / n).read_text(), n) for n in names]


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="-_.~/"), quote_plus(secret),
            json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()}


def test_a_declared_secret_used_in_the_scenario_is_masked_everywhere(project: Project) -> None:
    """`secrets: [CANARY]` in the profile, `${CANARY}` used in the scenario (a header, a path, a request name,
    a JSON body echoed back by the target and compared by a check): no form of it in stdout, stderr, or any
    file of the run (results.json, junit.xml, report.html, summary.md, config.yaml, requests.jsonl, the k6
    summary export), and a check example cut at 60 characters keeps no prefix of it."""
    pad = "p" * 50  # the echoed name is cut right inside the secret: `"ppp...pCANARY...`
    scenario = f"""
name: declared
headers: {{X-Canary: "${{CANARY}}"}}
users:
  - name: u
    requests:
      - {{name: "add ${{CANARY}}", method: POST, path: "/products?q=${{CANARY}}",
         json: {{name: "{pad}${{CANARY}}"}}, expect: {{status: [201], json: {{"$.name": "other"}}}}}}
"""
    embedded_project(project, scenario, profile_extra="secrets: [CANARY]\n", users=1)
    r = project.run("run", "p", "--iterations", "3", "--request-log", "--summary-export", "o/k6.json",
                    "--out", "o", env={"CANARY": CANARY})
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err  # the check fails every request
    doc = json.loads((project.root / "o" / "results.json").read_text())
    examples = json.dumps(doc)
    assert "expected \\\"other\\\" (str), got \\\"" + pad in examples, examples[:2000]
    names = sorted(p.name for p in (project.root / "o").iterdir())
    assert {"config.yaml", "junit.xml", "report.html", "requests.jsonl", "results.json", "summary.md",
            "k6.json"} <= set(names)
    texts = [(r.out, "stdout"), (r.err, "stderr")]
    texts += [((project.root / "o" / n).read_text(), n) for n in names if n != "logs"]
    for text, where in texts:
        for form in _forms(CANARY):
            assert form not in text, (form, where)
        assert "CANARYtok" not in text and "pCANARY" not in text, where  # no prefix at a cut either


def test_a_declared_secret_in_a_request_name_is_masked_in_the_live_metrics(project: Project) -> None:
    """The final scrape (served after the artifacts are written) labels series by request name: a declared
    secret in a name is masked there too."""
    import signal
    import socket
    import time
    import urllib.request

    from .helpers import start_run

    scenario = 'name: named\nusers:\n  - name: u\n    think_time: 0.05\n    requests:\n' \
               '      - {name: "item ${CANARY}", path: /health}\n'
    embedded_project(project, scenario, profile_extra="secrets: [CANARY]\n", users=1, duration="2s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_run(project, "--out", "o", "--metrics-port", str(port), "--metrics-grace", "120s",
                     env={"CANARY": CANARY})
    try:
        deadline = time.monotonic() + 150
        while not (project.root / "o" / "report.html").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the run wrote no artifacts"
            time.sleep(0.1)
        time.sleep(1)  # the rest of the artifacts
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
                scraped = resp.read().decode()
        except OSError:
            proc.kill()
            raise AssertionError(proc.communicate()) from None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert 'name="item ***"' in scraped, scraped[:3000]
    for form in _forms(CANARY):
        assert form not in scraped and form not in out + err
    assert proc.returncode == project.results("o")["exit_code"]


class _RedirectThenHangUp(Target):
    """`/a/<rest>` redirects to `/b/<rest>`; `/b/...` closes the connection without an answer."""

    def do_GET(self) -> None:
        if self.path.startswith("/a/"):
            self.answer(302, headers={"Location": "/b/" + self.path[3:]})
        else:
            self.hang_up()


def test_a_secret_in_a_failed_redirect_is_masked_before_the_reason_is_cut(project: Project) -> None:
    """A redirect that fails names its URL in the failure reason; that reason is cut at 200 characters. The
    cut falls inside the declared secret (in the path): no prefix of it is left in any artifact."""
    with serving(_RedirectThenHangUp) as port:
        host = f"http://127.0.0.1:{port}"
        pad = "p" * (200 - len(f"redirect to {host}/b/") - 10)  # the cut lands 10 characters into the secret
        project.write("scenarios/s.yaml", f"""
            name: redirected
            users:
              - name: u
                requests:
                  - {{name: item, path: "/a/{pad}${{CANARY}}"}}
            """)
        project.write("profiles/p.yaml", f"""
            scenario: ../scenarios/s.yaml
            host: {host}
            secrets: [CANARY]
            load: {{users: 1, iterations: 3}}
            """)
        r = project.run("run", "p", "--request-log", "--out", "o", env={"CANARY": CANARY})
    assert_no_traceback(r)
    doc = json.loads((project.root / "o" / "results.json").read_text())
    assert f"redirect to {host}/b/{pad}" in json.dumps(doc), json.dumps(doc)[:3000]  # the case was exercised
    for text, where in _outputs(project, r):
        assert "CANARY" not in text and "pCAN" not in text, where


def test_a_secret_that_needs_encoding_in_a_literal_path_is_masked_in_its_wire_form(project: Project) -> None:
    """`${TOK}` written into a path is sent percent-encoded where it must be (non-ASCII) and kept where a
    request target may hold it as is (`!`, `(`, `*`): that wire form is masked too."""
    secret = "opensésame!(é)*now"
    wire = quote(secret, safe="!#$%&'()*+,/:;=?@[]~")  # loadorch.client.vu.wire_path's form
    scenario = 'name: wired\nusers:\n  - name: u\n    requests:\n' \
               '      - {name: h, path: "/health?q=${TOK}", expect: {status: [599]}}\n'
    embedded_project(project, scenario, profile_extra="secrets: [TOK]\n", users=1)
    r = project.run("run", "p", "--iterations", "3", "--request-log", "--out", "o", env={"TOK": secret})
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err  # the check fails every request
    log = (project.root / "o" / "requests.jsonl").read_text()
    assert "/health?q=" in log, log[:2000]  # the request was logged with its target
    for text, where in _outputs(project, r):
        for form in (*_forms(secret), wire):
            assert form not in text, (form, where)
        assert "opens" not in text, where


def test_a_problem_that_quotes_a_path_never_shows_the_secret_in_it(project: Project) -> None:
    """A configuration problem quotes the offending value (`got '/health?q=...'`): a declared secret in it is
    masked, the problem still located and explained, exit 3."""
    scenario = 'name: spaced\nusers:\n  - name: u\n    requests:\n      - {name: h, path: "/health?q=${TOK}"}\n'
    embedded_project(project, scenario, profile_extra="secrets: [TOK]\n", users=1)
    r = project.cli("run", "p", "--iterations", "1", "--out", "o", env={"TOK": "open sesame-7f3a"})
    assert_no_traceback(r)
    assert r.code == 3, r.out + r.err
    assert "scenarios/s.yaml:5: users[0].requests[0].path" in r.err and "/health?q=***" in r.err, r.err
    assert "sesame" not in r.out + r.err


def _run_against(project: Project, handler: type[http.server.BaseHTTPRequestHandler], scenario: str, name: str,
                 secret: str, iterations: int = 3) -> Any:
    """`loadorch run` (`iterations`, a request log, seed 42) of `scenario` against a loopback server answering with
    `handler`, the variable `name` declared secret and set to `secret`; the server stopped after."""
    with serving(handler) as port:
        project.write("scenarios/s.yaml", scenario)
        project.write("profiles/p.yaml", f"""
            scenario: ../scenarios/s.yaml
            host: http://127.0.0.1:{port}
            secrets: [{name}]
            seed: 42
            load: {{users: 1, iterations: {iterations}}}
            """)
        return project.run("run", "p", "--request-log", "--out", "o", env={name: secret})


class _EchoPath(Target):
    """Answers every GET with a text (not JSON) body that quotes the decoded request path, as error pages do."""

    def do_GET(self) -> None:
        from urllib.parse import unquote

        self.answer(200, f"unknown item: {unquote(self.path)}".encode(), "text/plain; charset=utf-8")


def test_a_non_ascii_secret_echoed_in_a_body_that_is_not_json_is_masked_in_the_example(project: Project) -> None:
    """A JSON check on a body that is not JSON shows the body's start as the example: a non-ASCII declared
    secret the target echoed there is masked (the start was shown as bytes, `cl\\xc3\\xa9...`, a form no mask
    knew)."""
    r = _run_against(project, _EchoPath, """
        name: echoed
        users:
          - name: u
            requests:
              - {name: item, path: "/e/${TOK}", expect: {json: {"$.ok": true}}}
        """, "TOK", "clé-sésame-9f3e")
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err
    doc = json.dumps(json.loads((project.root / "o" / "results.json").read_text()))
    assert "body starts" in doc and "unknown item: /e/" in doc, doc[:3000]  # the case was exercised
    for text, where in _outputs(project, r):
        assert "cl\\xc3\\xa9" not in text and "s\\xc3\\xa9same" not in text and "sésame" not in text, where
        assert "cl%C3%A9" not in text, where


class _PhpError(Target):
    """Answers 500 with a JSON error that echoes the request's X-Token as PHP's json_encode writes it (`/` as
    `\\/`)."""

    def do_GET(self) -> None:
        echoed = json.dumps(self.headers.get("X-Token", "")).replace("/", "\\/")
        self.answer(500, f'{{"error": "invalid token {echoed[1:-1]}"}}'.encode())


def test_a_secret_echoed_json_escaped_as_php_does_is_masked_in_the_failed_checks_example(project: Project) -> None:
    """A failed check's example is the start of the response's body: an error body that echoes the declared
    secret with PHP's `\\/` for `/` showed it whole in the terminal and every artifact."""
    r = _run_against(project, _PhpError, """
        name: php
        headers: {X-Token: "${CANARY}"}
        users:
          - name: u
            requests:
              - {name: item, path: /item, expect: {status: [200], json: {"$.ok": true}}}
        """, "CANARY", CANARY)
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err
    doc = json.dumps(json.loads((project.root / "o" / "results.json").read_text()))
    assert 'invalid token ***' in doc, doc[:3000]  # the case was exercised: the example shows the body, masked
    for text, where in _outputs(project, r):
        assert "CANARY" not in text, where


def test_a_secret_in_a_python_users_task_error_is_masked_before_the_reason_is_cut(project: Project) -> None:
    """A python user's task that raises is reported as `<user> task error` with the exception's message, cut at
    200 characters: the cut fell inside the declared secret (the profile sends it in a header; the task reads it
    from the environment) the message quoted, before any mask, and its first characters were left in the
    terminal and every artifact."""
    project.write("scenarios/py.py", """
        import os

        from locust import HttpUser, constant, task


        class Py(HttpUser):
            wait_time = constant(0.05)

            @task
            def fails(self):
                self.client.get("/health", name="health")
                raise RuntimeError("x" * 170 + " token " + os.environ["CANARY"])
        """)
    embedded_project(project, 'name: py\nusers:\n  - {python: "py.py:Py"}\nkinds: {health: read}\n',
                     profile_extra='secrets: [CANARY]\nheaders: {X-Token: "${CANARY}"}\n', users=1, duration="2s")
    r = project.run("run", "p", "--request-log", "--out", "o", env={"CANARY": CANARY})
    assert_no_traceback(r)
    doc = json.dumps(json.loads((project.root / "o" / "results.json").read_text()))
    assert "RuntimeError: " + "x" * 170 + " token " in doc, doc[:3000]  # the case was exercised
    for text, where in _outputs(project, r):
        assert "CANAR" not in text and "token CA" not in text, where


def test_a_declared_secret_no_file_names_is_masked_where_a_python_user_shows_it(project: Project) -> None:
    """`secrets: [CANARY]` with no `${CANARY}` in the profile or the scenario: a python user reads it from the
    environment (os.environ), and its task's error showed it whole in the terminal and every artifact (only the
    declared secrets a file named were masked)."""
    project.write("scenarios/py.py", """
        import os

        from locust import HttpUser, constant, task


        class Py(HttpUser):
            wait_time = constant(0.05)

            @task
            def fails(self):
                self.client.get("/health", name="health", headers={"X-Token": os.environ["CANARY"]})
                raise RuntimeError("refused with " + os.environ["CANARY"])
        """)
    embedded_project(project, 'name: py\nusers:\n  - {python: "py.py:Py"}\nkinds: {health: read}\n',
                     profile_extra="secrets: [CANARY]\n", users=1, duration="2s")
    r = project.run("run", "p", "--request-log", "--out", "o", env={"CANARY": CANARY})
    assert_no_traceback(r)
    doc = json.dumps(json.loads((project.root / "o" / "results.json").read_text()))
    assert "RuntimeError: refused with ***" in doc, doc[:3000]  # the case was exercised, and masked
    for text, where in _outputs(project, r):
        assert CANARY not in text, where


def test_a_secret_in_the_error_a_virtual_user_stopped_on_is_masked_before_it_is_cut(project: Project) -> None:
    """A python user whose on_start raises stops (a virtual user failed: an error check, its reason in every
    artifact), the exception's message cut at 300 characters: the cut fell inside the declared secret the message
    quoted, before any mask, and its first characters were left in the terminal and every artifact."""
    project.write("scenarios/py.py", """
        import os

        from locust import HttpUser, constant, task


        class Py(HttpUser):
            wait_time = constant(0.05)

            def on_start(self):
                self.client.get("/health", name="health")
                raise RuntimeError("x" * 270 + " token " + os.environ["CANARY"])

            @task
            def nothing(self):
                pass
        """)
    embedded_project(project, 'name: py\nusers:\n  - {python: "py.py:Py"}\nkinds: {health: read}\n',
                     profile_extra='secrets: [CANARY]\nheaders: {X-Token: "${CANARY}"}\n', users=1, duration="2s")
    r = project.run("run", "p", "--request-log", "--out", "o", env={"CANARY": CANARY})
    assert_no_traceback(r)
    doc = json.dumps(json.loads((project.root / "o" / "results.json").read_text()))
    assert "RuntimeError: " + "x" * 270 + " token " in doc, doc[:3000]  # the case was exercised
    for text, where in _outputs(project, r):
        assert "CANARYt" not in text and "token CA" not in text, where


class _Page(Target):
    """Answers every GET with the same small HTML page."""

    def do_GET(self) -> None:
        body = b"<html><body><h1>reset your password</h1><p>a paragraph of text</p></body></html>"
        self.answer(200, body, "text/html; charset=utf-8")


@pytest.mark.chromium
def test_a_page_named_by_a_path_that_holds_a_secret_is_masked_in_the_pages_table(project: Project) -> None:
    """A visit step without a name names its page by its path: a path that holds the declared secret (a reset
    link) made a key of results.json's browser pages (keys were masked only in maps of request names), shown
    whole in the pages tables of summary.md and report.html."""
    with serving(_Page) as port:
        project.write("scenarios/s.yaml", """
            name: reset
            browsers:
              - name: visitor
                pages: 1
                think_time: 0.1
                journey:
                  - {visit: "/reset/${CANARY}"}
            """)
        project.write("profiles/p.yaml", f"""
            scenario: ../scenarios/s.yaml
            host: http://127.0.0.1:{port}
            allowed_hosts: [127.0.0.1]
            secrets: [CANARY]
            load: {{iterations: 2}}
            """)
        r = project.run("run", "p", "--out", "o", env={"CANARY": CANARY}, timeout=150)
    assert_no_traceback(r)
    doc = json.loads((project.root / "o" / "results.json").read_text())
    assert list(doc["browser"]["pages"]) == ["/reset/***"], list(doc["browser"]["pages"])  # the case was exercised
    for text, where in _outputs(project, r):
        for form in _forms(CANARY):
            assert form not in text, (form, where)
        assert "CANARY" not in text, where


def test_a_credential_parameter_in_the_url_a_python_users_failure_quotes_is_masked(project: Project) -> None:
    """A python user's request without a name is named by Locust after its path and query, and a failed one's
    reason quotes that URL (`HTTPError: 404 Client Error: Not Found for url: /download?token=...`): the name
    showed `token=***`, the reason the token a login would have captured, in the terminal, every artifact and
    the request log."""
    token = "sessTok9f3e1b7c2dAA"
    project.write("scenarios/py.py", f"""
        from locust import HttpUser, constant, task


        class Py(HttpUser):
            wait_time = constant(0.05)

            def on_start(self):
                self.token = "{token}"  # as a login would have captured it

            @task
            def download(self):
                self.client.get("/download?token=" + self.token)  # the shop has no /download: 404
        """)
    embedded_project(project, 'name: py\nusers:\n  - {python: "py.py:Py"}\nkinds: {"/download*": read}\n',
                     users=1, duration="2s")
    r = project.run("run", "p", "--request-log", "--out", "o")
    assert_no_traceback(r)
    reasons = [e["reason"] for e in project.results("o")["errors"]]
    assert "HTTPError: 404 Client Error: Not Found for url: /download?token=***" in reasons, reasons
    for text, where in _outputs(project, r):
        assert "sessTok" not in text, where


class _OauthRedirect(Target):
    """`/login` redirects to `/callback?code=<a fresh code>&state=s1`; `/callback` closes the connection
    without an answer."""

    codes: list[str] = []

    def do_GET(self) -> None:
        if self.path.startswith("/login"):
            code = f"authCode{len(_OauthRedirect.codes):04d}x9f3e1b7c"
            _OauthRedirect.codes.append(code)
            self.answer(302, headers={"Location": f"/callback?code={code}&state=s1"})
        else:
            self.hang_up()


def test_a_credential_parameter_in_a_failed_redirects_url_is_masked_in_the_reason(project: Project) -> None:
    """A redirect that fails names its URL in the failure reason: an authorization code the target put in the
    Location's query (`/callback?code=...`, never declared) showed in the terminal, every artifact and the request
    log; the request log's path of the same URL reads `code=***`."""
    _OauthRedirect.codes = []
    with serving(_OauthRedirect) as port:
        project.write("scenarios/s.yaml", """
            name: oauth
            users:
              - name: u
                requests:
                  - {name: login, path: /login}
            """)
        project.write("profiles/p.yaml", f"""
            scenario: ../scenarios/s.yaml
            host: http://127.0.0.1:{port}
            load: {{users: 1, iterations: 3}}
            """)
        r = project.run("run", "p", "--request-log", "--out", "o")
    assert_no_traceback(r)
    text = json.dumps(project.results("o"))
    assert "/callback?code=***&state=s1" in text, text[:3000]  # the case was exercised
    assert _OauthRedirect.codes
    for text, where in _outputs(project, r):
        assert "authCode" not in text, where


def _html_refs(secret: str) -> str:
    """`secret` as a server that HTML-escapes more than it must writes it: `/`, `+`, `=` as character references
    (hex lower case, decimal, leading zeros)."""
    return secret.replace("/", "&#x2f;").replace("+", "&#43;").replace("=", "&#0061;")


def _each_char(secret: str) -> str:
    return "".join(f"&#{ord(c)};" for c in secret)


def _each_byte(secret: str) -> str:
    return "".join(f"%{b:02x}" for b in secret.encode())


class _EscapingEcho(Target):
    """Echoes the request's X-Token in a body of its own escaping: `/html` and `/chars` as HTML character
    references (500), `/pct` percent-encoded in lower case (500, every byte; `/` alone in `/pct-some`), `/start`
    a 200 text (not JSON) that begins with it, every character a hex reference, so that the 40 characters a failed
    JSON check shows of it end inside one reference."""

    def do_GET(self) -> None:
        token = self.headers.get("X-Token", "")
        status, body = 500, {
            "/html": f"<p>invalid token {_html_refs(token)}</p>",
            "/chars": f"<p>invalid token {_each_char(token)}</p>",
            "/pct": f"invalid token; <a href='/login?next=%2fitem&amp;t={_each_byte(token)}'>log in</a>",
            "/pct-some": "invalid token " + quote(token, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
        }.get(self.path, "")
        if self.path == "/start":
            status, body = 200, "tk " + "".join(f"&#x{ord(c):x};" for c in token)
        self.answer(status, body.encode(), "text/html; charset=utf-8")


def test_a_secret_echoed_html_escaped_or_percent_encoded_in_lower_case_is_masked_everywhere(project: Project) -> None:
    """A target that escapes what it echoes its own way (HTML character references where the product writes `/`
    as is, `%2f` where it writes `%2F`, every byte percent-encoded): a failed check's example showed the declared
    secret so, readable in the terminal and every artifact; and a JSON check's 40 characters of a body that is no
    JSON ended inside the escaped secret (`tk &#x43;&#x41;&#x4`)."""
    r = _run_against(project, _EscapingEcho, """
        name: escaping
        headers: {X-Token: "${CANARY}"}
        users:
          - name: u
            requests:
              - {name: html, path: /html, expect: {status: [200], contains: welcome}}
              - {name: chars, path: /chars, expect: {status: [200], contains: welcome}}
              - {name: pct, path: /pct, expect: {status: [200], contains: welcome}}
              - {name: pct-some, path: /pct-some, expect: {status: [200], contains: welcome}}
              - {name: start, path: /start, expect: {json: {"$.ok": true}}}
        """, "CANARY", CANARY, iterations=40)  # picked at random (seed 42): every request is sent
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err
    doc = json.dumps(project.results("o"))
    for shown in ("<p>invalid token ***</p>", "&amp;t=***", "invalid token ***", "body starts 'tk "):
        assert shown in doc, (shown, doc[:4000])  # every case was exercised, and masked
    echoed = {_html_refs(CANARY), _each_char(CANARY), _each_byte(CANARY),
              quote(CANARY, safe="").replace("%2F", "%2f").replace("%2B", "%2b")}
    files = sorted(p for p in (project.root / "o").rglob("*") if p.is_file())
    assert {"results.json", "junit.xml", "report.html", "summary.md", "requests.jsonl"} <= {p.name for p in files}
    for text, where in [(r.out, "stdout"), (r.err, "stderr")] + [(p.read_text(), str(p)) for p in files]:
        for form in echoed | _forms(CANARY):
            assert form not in text, (form, where)
        # no part of it either: its first characters, as written or escaped, and the first escape of each form
        for part in ("CANARY", "&#67;&#65;", "%43%41", "&#x43;&#x41;", "9f3e", "&#x2f;9", "%2f9"):
            assert part not in text, (part, where)
