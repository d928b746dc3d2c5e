"""The lean client at full HTTP, in real runs against real loopback servers written here: cookies, redirects
(allowed_hosts on every hop), gzip decoded for a check, HTTP_PROXY/NO_PROXY, and mTLS with certificates
made by openssl."""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import tools
from tests.support.project import CliResult, Project

from .helpers import accept_in_threads, finish, request_log, start_run


class Server:
    """A ThreadingHTTPServer on `address` whose handler is `answer(handler) -> (status, headers, body)`;
    every request is recorded as (path, Cookie header, Accept-Encoding header, peer certificate subject)."""

    def __init__(self, address: str, answer: Any, context: ssl.SSLContext | None = None) -> None:
        seen: list[tuple[str, str | None, str | None, Any]] = []
        self.seen = seen
        calls: list[tuple[str, str, bytes]] = []  # (method, path, body)
        self.calls = calls

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                length = int(self.headers.get("Content-Length") or 0)
                calls.append((self.command, self.path, self.rfile.read(length) if length else b""))
                seen.append((self.path, self.headers.get("Cookie"), self.headers.get("Accept-Encoding"), peer))
                status, headers, body = answer(self)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = do_GET

        self.server = ThreadingHTTPServer((address, 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if context else 'http'}://{address}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Proxy:
    """A forward proxy: records each request line (absolute-form, or CONNECT) and relays one request per
    client connection, or tunnels a CONNECT, to 127.0.0.x only."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        accept_in_threads(self.sock, self._relay)

    def _relay(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            line, _, rest = head.partition(b"\r\n")
            method, url, version = line.decode().split(" ")
            self.lines.append(f"{method} {url}")
            if method == "CONNECT":
                self._tunnel(conn, url)
                return
            hostport, _, path = url.removeprefix("http://").partition("/")
            host, _, port = hostport.partition(":")
            assert host.startswith("127.0.0."), host  # loopback only, whatever the request says
            with socket.create_connection((host, int(port or 80)), timeout=10) as up:
                up.sendall(f"{method} /{path} {version}\r\n".encode() + rest.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
                while True:
                    data = up.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)

    def _tunnel(self, conn: socket.socket, authority: str) -> None:
        host, _, port = authority.rpartition(":")
        assert host.startswith("127.0.0."), host
        with socket.create_connection((host, int(port)), timeout=10) as up:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

            def pump(src: socket.socket, dst: socket.socket) -> None:
                try:
                    while data := src.recv(65536):
                        dst.sendall(data)
                except OSError:
                    pass
                finally:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

            back = threading.Thread(target=pump, args=(up, conn), daemon=True)
            back.start()
            pump(conn, up)
            back.join(10)

    def close(self) -> None:
        self.sock.close()


SCENARIO = """
name: full-http
users:
  - name: shopper
    requests:
      - {name: login, path: /login, expect: {contains: welcome}}
      - {name: me, path: /me}
      - {name: chain, path: /chain, expect: {status: [200], contains: final}}
      - {name: away, path: /away, weight: 0.5}
      - {name: gz, path: /gz, headers: {Accept-Encoding: gzip}, expect: {contains: compressed hello}}
min_samples: 1
thresholds: {http_req_failed: ["rate<0.9"]}
"""


def test_cookies_redirects_allowed_hosts_gzip_and_proxy_in_one_run(project: Project) -> None:
    other = Server("127.0.0.2", lambda h: (200, [("Set-Cookie", "b=1")], b"final stop"))
    never = Server("127.0.0.3", lambda h: (200, [], b"must not be reached"))

    def answer(h: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        if h.path == "/login":
            return 200, [("Set-Cookie", "sid=s1; Path=/; HttpOnly")], b"welcome"
        if h.path == "/chain":
            return 302, [("Location", "/chain2")], b""
        if h.path == "/chain2":
            return 302, [("Location", f"{other.url}/final")], b""
        if h.path == "/away":
            return 302, [("Location", f"{never.url}/")], b""
        if h.path == "/gz":
            return 200, [("Content-Encoding", "gzip")], gzip.compress(b"compressed hello")
        return 200, [], b"me"

    target = Server("127.0.0.1", answer)
    proxy = Proxy()
    try:
        project.write("scenarios/s.yaml", SCENARIO)
        project.write("profiles/p.yaml", f"""
            scenario: ../scenarios/s.yaml
            host: {target.url}
            allowed_hosts: ["127.0.0.1", "127.0.0.2"]
            load: {{users: 1, duration: 60s}}
            seed: 3
            """)
        # the lower-case names win when set (as in requests): given the same values, whatever the machine has
        env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "127.0.0.2"}
        env |= {k.lower(): v for k, v in env.items()}
        r = project.run("run", "p", "--iterations", "40", "--out", "o", "--request-log", env=env)
    finally:
        for s in (target, other, never):
            s.close()
        proxy.close()
    assert "Traceback" not in r.out + r.err
    log = request_log(project.root / "o")
    names = [e["name"] for e in log]
    assert len(log) == 40 and set(names) == {"login", "me", "chain", "away", "gz"}, names
    # every failure is a refused redirect to the host outside allowed_hosts, and nothing else failed
    failed = [e for e in log if not e["ok"]]
    assert [e["name"] for e in failed] == [n for n in names if n == "away"]
    assert all(e["status"] == 302 and "redirect to http://127.0.0.3" in e["error"] and "refused" in e["error"]
               and "allowed_hosts" in e["error"] for e in failed)
    assert never.seen == []  # refused before any connection
    doc = project.results("o")
    assert doc["totals"]["failures"] == len(failed)
    # cookies: none before the first login, the session cookie on every later request to the same host
    first_login = next(i for i, (path, *_rest) in enumerate(target.seen) if path == "/login")
    assert all(cookie is None for _, cookie, _, _ in target.seen[: first_login + 1])
    assert all(cookie == "sid=s1" for _, cookie, _, _ in target.seen[first_login + 1 :])
    # the 302 chain ends on the other host: followed (check passed on the final body), no cookie of ours
    # went there, and its own cookie never came back to the target
    assert len(other.seen) == names.count("chain") and all(c in (None, "b=1") for _, c, _, _ in other.seen)
    assert [p for p, *_ in other.seen] == ["/final"] * names.count("chain")
    assert all("b=1" not in (c or "") for _, c, _, _ in target.seen)
    # gzip: asked for by the scenario's header only, decoded for the check
    assert [ae for p, _, ae, _ in target.seen if p == "/gz"] == ["gzip"] * names.count("gz")
    assert all(ae is None for p, _, ae, _ in target.seen if p != "/gz")
    # the proxy carried every request to the target (absolute-form), none to 127.0.0.2 (NO_PROXY)
    assert len(proxy.lines) == len(target.seen)
    assert all(line.startswith(f"GET {target.url}/") for line in proxy.lines), proxy.lines[:3]


def test_the_embedded_target_is_never_sent_through_a_proxy_of_the_environment(project: Project) -> None:
    """A proxy set for the whole machine (common behind a corporate proxy) cannot reach this machine's
    loopback: `host: embedded` bypasses it, whatever NO_PROXY says, in preflight, setup and the workers."""
    proxy = Proxy()
    try:
        project.write("scenarios/s.yaml", """
            name: embedded-behind-a-proxy
            users:
              - name: u
                requests:
                  - {name: product, path: /products/1, expect: {status: [200]}}
            min_samples: 1
            thresholds: {http_req_failed: ["rate==0"]}
            """)
        project.write("profiles/p.yaml", """
            scenario: ../scenarios/s.yaml
            host: embedded
            load: {users: 1, duration: 30s}
            seed: 1
            allow_saturated_generator: true
            """)
        env = {"HTTP_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "", "ALL_PROXY": ""}
        env |= {k.lower(): v for k, v in env.items()}
        r = project.run("run", "p", "--iterations", "10", "--out", "o", env=env)
    finally:
        proxy.close()
    assert r.code == 0, r.out + r.err
    assert project.results("o")["totals"]["requests"] == 10
    assert proxy.lines == []


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate whose key is encrypted."""
    tools.require("openssl")
    openssl = str(shutil.which("openssl"))
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=loadorch test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")
    run("pkey", "-in", "client.key", "-out", "client-enc.key", "-aes256", "-passout", "pass:" + PASSPHRASE)
    yield d


PASSPHRASE = "correct-horse-battery-staple-42"
TLS_SCENARIO = """
name: mtls
users:
  - name: u
    requests:
      - {name: hello, path: /hello, expect: {contains: hello client}}
thresholds: {http_req_failed: ["rate<0.01"]}
min_samples: 1
"""  # no latency budget: three TLS handshakes with a client certificate on a busy machine are not the subject


@pytest.mark.openssl
def test_mtls_with_a_client_certificate_and_a_clean_failure_without(project: Project, pki: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.load_verify_locations(pki / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED

    def answer(h: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [], b"hello client"

    server = Server("127.0.0.1", answer, context)
    try:
        project.write("scenarios/s.yaml", TLS_SCENARIO)
        for name, tls in (
            ("with", f"{{ca_bundle: {pki}/ca.pem, client_cert: {pki}/client.pem, client_key: {pki}/client-enc.key, "
                     "client_key_password: '${CLIENT_KEY_PASSWORD}'}"),
            ("without", f"{{ca_bundle: {pki}/ca.pem}}"),
        ):
            project.write(f"profiles/{name}.yaml", f"""
                scenario: ../scenarios/s.yaml
                host: {server.url}
                load: {{users: 1, duration: 30s}}
                tls: {tls}
                allow_saturated_generator: true
                """)
        env = {"CLIENT_KEY_PASSWORD": PASSPHRASE, "SSL_CERT_FILE": "", "HTTPS_PROXY": "", "https_proxy": ""}
        # the two runs go at once (each its own connections; only the one with the certificate gets past the handshake)
        started = [start_run(project, "--iterations", "3", "--out", out, env=env, profile=profile)
                   for profile, out in (("with", "good"), ("without", "bad"))]
        said = [finish(proc) for proc in started]
        good, bad = (CliResult(proc.returncode, out, err) for proc, (out, err) in zip(started, said))
        missing = project.cli("validate", "with", env={**env, "CLIENT_KEY_PASSWORD": "wrong-passphrase-123"})
    finally:
        server.close()
    assert good.code == 0, good.out + good.err
    assert project.results("good")["totals"]["requests"] == 3
    assert [peer["subject"] for _, _, _, peer in server.seen] == [((("commonName", "client"),),)] * 3
    for out in (good.out + good.err, *(p.read_text(errors="replace") for p in (project.root / "good").rglob("*")
                                       if p.is_file())):
        assert PASSPHRASE not in out
    # without the client certificate: every request failed with a TLS error in the results, no traceback
    assert bad.code != 0 and "Traceback" not in bad.out + bad.err
    doc = project.results("bad")
    assert doc["totals"]["failures"] == doc["totals"]["requests"] == 3
    reasons = {e["reason"] for e in doc["errors"]}
    assert reasons and all("certificate" in r.lower() for r in reasons), reasons  # the TLS alert, or a close
    # a wrong passphrase is a configuration error at load time (exit 3, file:line), the passphrase unsaid
    assert missing.code == 3, missing.out + missing.err
    assert "with.yaml:4: tls.client_key: cannot load the client certificate and key" in missing.out + missing.err
    assert "wrong-passphrase-123" not in missing.out + missing.err


def _runner(url: str, **options: Any) -> Any:
    from loadorch.client.hops import HttpOptions
    from loadorch.client.vu import LeanRunner
    from loadorch.traffic.request import Origin

    return LeanRunner(Origin.parse(url), 5.0, options=HttpOptions(**options))


def _request(method: str, path: str, **spec: Any) -> Any:
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import compile_request

    ep = Endpoint.model_validate({"name": path, "method": method, "path": path, **spec})
    return compile_request(ep, path, "write", set(), {})


def test_redirect_methods_bodies_and_the_limit_on_the_lean_client() -> None:
    def answer(h: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        hops = {"/307": (307, "/kept"), "/308": (308, "/kept"), "/303": (303, "/got"), "/302": (302, "/got"),
                "/loop": (302, "/loop")}
        if h.path in hops:
            status, where = hops[h.path]
            return status, [("Location", where)], b""
        return 200, [], b"done"

    server = Server("127.0.0.1", answer)
    runner = _runner(server.url, max_redirects=3)
    try:
        for path in ("/307", "/308", "/303", "/302"):
            out = runner.run(_request("POST", path, json={"n": 1}, expect={"contains": "done"}), lambda n: None, {})
            assert out.ok and out.status == 200 and out.path == path, out
        looped = runner.run(_request("GET", "/loop"), lambda n: None, {})
    finally:
        runner.close()
        server.close()
    followed = [c for c in server.calls if c[1] in ("/kept", "/got")]
    assert followed == [("POST", "/kept", b'{"n":1}'), ("POST", "/kept", b'{"n":1}'), ("GET", "/got", b""),
                        ("GET", "/got", b"")]  # 307/308 keep method and body; 303 and a POST's 302 -> GET
    assert (looped.ok, looped.status, looped.error) == (False, 302, "more than 3 redirects (max_redirects)")
    assert [c[1] for c in server.calls].count("/loop") == 4  # the first request and 3 hops, then it stops


@pytest.mark.openssl
def test_https_through_a_connect_proxy_with_a_client_certificate(pki: Path) -> None:
    from loadorch.config.tls import context_for
    from loadorch.traffic.proxies import proxy_for

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.load_verify_locations(pki / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    server = Server("127.0.0.1", lambda h: (200, [], b"tunnelled"), context)
    proxy = Proxy()
    tls = {"ca_bundle": str(pki / "ca.pem"), "client_cert": str(pki / "client.pem"),
           "client_key": str(pki / "client.key"), "client_key_password": None}
    env = {"HTTPS_PROXY": f"127.0.0.1:{proxy.port}"}
    runner = _runner(server.url, ssl_context=context_for(tls), proxy_for=lambda s, h: proxy_for(s, h, env))
    try:
        outs = [runner.run(_request("GET", "/t", expect={"contains": "tunnelled"}), lambda n: None, {})
                for _ in range(2)]
    finally:
        runner.close()
        server.close()
        proxy.close()
    assert all(o.ok for o in outs), outs
    assert proxy.lines == [f"CONNECT 127.0.0.1:{server.port}"]  # one tunnel, kept alive for both requests
    assert [peer["subject"] for *_, peer in server.seen] == [((("commonName", "client"),),)] * 2
