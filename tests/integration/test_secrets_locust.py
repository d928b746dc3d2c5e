"""Credentials nobody declared, met on Locust's side of a worker: a `client: locust` failure reason naming a
redirect's URL with `?token=...`. No form of them in the terminal, any file of the run folder or the workers' kept
logs. Short runs against a loopback server started here."""

from __future__ import annotations

import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import CliResult, Project, assert_no_traceback


class _Login(http.server.BaseHTTPRequestHandler):
    """POST /login: a fresh token; GET /data: 200; GET /items...: 404; GET /sso: a redirect to
    `/callback?token=<fresh>&state=s1`, where the answer never comes (the connection is held 1.5 s, then closed)."""

    issued: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, json.dumps({"token": self._fresh()}).encode())

    def do_GET(self) -> None:
        if self.path.startswith("/sso"):
            self._send(302, b"", location=f"/callback?token={self._fresh()}&state=s1")
        elif self.path.startswith("/callback"):
            time.sleep(1.5)  # longer than the profile's request_timeout
            self.close_connection = True
        elif self.path.startswith("/items"):
            self._send(404, b"no such item")
        else:
            self._send(200, b'{"ok": true}')

    @staticmethod
    def _fresh() -> str:
        token = f"capTok{secrets.token_hex(10)}"
        if len(_Login.issued) < 1000:
            _Login.issued.append(token)
        return token

    def _send(self, status: int, body: bytes, location: str = "") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if location:
                self.send_header("Location", location)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the run ended while this answer was under way
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    _Login.issued = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Login)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _texts(r: CliResult, out: Path) -> list[tuple[str, str]]:
    """(text, where) of everything a run showed: its stdout and stderr, and every file under its run folder (the
    kept worker logs in logs/ included)."""
    files = sorted(p for p in out.rglob("*") if p.is_file())
    return [(r.out, "stdout"), (r.err, "stderr")] + [(p.read_text(errors="replace"), str(p.relative_to(out)))
                                                     for p in files]


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
