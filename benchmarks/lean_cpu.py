"""CPU time per request of the lean client, A/B between two checkouts (e.g. main and a branch).

Wall-clock throughput is unreliable on a shared machine; the process CPU time the client spends per
request is not: a fixed number of keep-alive GETs to a loopback server running in its own process (its
CPU is not counted), in alternating rounds, medians printed.

    python3 benchmarks/lean_cpu.py --a /work/main --b . --requests 20000 --rounds 5
    python3 benchmarks/lean_cpu.py --a . --b . --mode plain --mode cookie --mode gzip  # feature costs
    python3 benchmarks/lean_cpu.py --a /tmp/main --b . --gevent  # sockets patched, as in a worker
    python3 benchmarks/lean_cpu.py --evidence --mode timing --gevent  # #30: A evidence off, B on (same checkout)
    python3 benchmarks/lean_cpu.py --evidence --gevent --instructions  # the same in instructions (valgrind)

`--instructions` counts the client's user-space instructions per request under valgrind (cachegrind, no
cache simulation): the difference between a run of 2,500 and one of 500 requests, over 2,000. Slow
(minutes) but the same on a busy machine as on a quiet one; it leaves out the kernel's part (the
syscalls), so a ratio of it is larger than the same ratio of CPU time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing import Process

HEADERS = b"Date: Wed, 25 Nov 2026 04:00:00 GMT\r\nServer: bench\r\nContent-Type: application/json\r\n"
BODY = b'{"id": 1, "name": "product"}'
ANSWERS = {
    "plain": b"HTTP/1.1 200 OK\r\n" + HEADERS + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
    "cookie": b"HTTP/1.1 200 OK\r\n" + HEADERS + b"Set-Cookie: sid=abc; Path=/\r\nContent-Length: %d\r\n\r\n"
    % len(BODY) + BODY,
    "gzip": b"HTTP/1.1 200 OK\r\n" + HEADERS + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
    % len(gzip.compress(BODY)) + gzip.compress(BODY),
    "timing": b"HTTP/1.1 200 OK\r\n" + HEADERS + b'Server-Timing: db;count=2;desc="sqlite", app;dur=12.5\r\n'
    b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
}


def serve(sock: socket.socket, answer: bytes) -> None:
    while True:
        conn, _ = sock.accept()
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(answer)
        conn.close()


def client(port: int, requests: int, body_check: bool, patched: bool = False, evidence: str = "") -> float:
    """CPU microseconds per request, in this process (loadorch imported from PYTHONPATH); `patched`:
    gevent's sockets, as inside a Locust worker (the lean client's gevent fast path); `evidence` ("on" or
    "off"): each request recorded through a virtual user, with or without #30's evidence (trace ids,
    Server-Timing read, the K slowest kept)."""
    if evidence:
        return evidence_client(port, requests, patched, evidence == "on")
    if patched:
        from gevent import monkey

        monkey.patch_all()
    from loadorch.client.vu import LeanRunner
    from loadorch.config.scenario import Endpoint
    from loadorch.traffic.request import Origin, compile_request

    expect = {"contains": "product"} if body_check else {}
    spec = Endpoint.model_validate({"name": "get", "path": "/products/1", "expect": expect})
    req = compile_request(spec, "get", "read", set(), {})
    runner = LeanRunner(Origin.parse(f"http://127.0.0.1:{port}"), 5.0)
    captured: dict[str, object] = {}
    for _ in range(500):  # warm-up: connection open, caches filled
        runner.run(req, lambda name: None, captured)
    began = time.process_time()
    for _ in range(requests):
        outcome = runner.run(req, lambda name: None, captured)
    spent = time.process_time() - began
    assert outcome.ok, outcome.error
    runner.close()
    return spent / requests * 1e6


def evidence_client(port: int, requests: int, patched: bool, on: bool) -> float:
    if patched:
        from gevent import monkey

        monkey.patch_all()
    from loadorch.client.vu import LeanRunner, VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.tables import Recorder
    from loadorch.traffic.request import Origin, compile_request
    from loadorch.traffic.trace import TraceIds

    spec = Endpoint.model_validate({"name": "get", "path": "/products/1"})
    req = compile_request(spec, "get", "read", set(), {})
    runner = LeanRunner(Origin.parse(f"http://127.0.0.1:{port}"), 5.0)
    recorder = Recorder(1.0, time.time(), exemplar_k=5 if on else 0)
    if on:
        runner.tracer = TraceIds("0123456789ab", 0)
        runner.conn.server_timing = True
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=runner, recorder=recorder)
    for _ in range(500):  # warm-up: connection open, caches filled
        vu.step()
    began = time.process_time()
    for i in range(requests):
        vu.step()
        if i % 5000 == 0:
            recorder.take_delta()  # as a worker does every second
    spent = time.process_time() - began
    runner.close()
    return spent / requests * 1e6


def measure(checkout: str, port: int, requests: int, body_check: bool, patched: bool = False,
            evidence: str = "") -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout)}
    argv = [sys.executable, __file__, "--client", str(port), "--requests", str(requests)]
    argv += ["--body-check"] if body_check else []
    argv += ["--evidence-side", evidence] if evidence else []
    out = subprocess.run(argv + (["--gevent"] if patched else []), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return float(out.stdout.strip())


def instructions(checkout: str, port: int, body_check: bool, patched: bool, evidence: str) -> float:
    """User-space instructions per request of the client (see the module's docstring)."""
    counts = []
    for n in (500, 2500):
        env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout), "PYTHONHASHSEED": "0"}
        argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                sys.executable, __file__, "--client", str(port), "--requests", str(n)]
        argv += (["--body-check"] if body_check else []) + (["--gevent"] if patched else [])
        argv += ["--evidence-side", evidence] if evidence else []
        out = subprocess.run(argv, env=env, capture_output=True, text=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        if out.returncode != 0 or found is None:
            raise SystemExit(out.stderr[-2000:])
        counts.append(int(found.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / 2000


def ab_medians(rounds: int, a: str, b: str, measure: Callable[[str], float], prefix: str = "") -> tuple[float, float]:
    """`measure(checkout)` for checkouts A and B in alternating order round by round (A B, B A, ...), each
    result printed, then the medians and B/A."""
    results: dict[str, list[float]] = {"A": [], "B": []}
    for r in range(rounds):
        order = (("A", a), ("B", b)) if r % 2 == 0 else (("B", b), ("A", a))
        for label, checkout in order:
            us = measure(checkout)
            results[label].append(us)
            print(f"{prefix}round {r + 1} {label} {us:7.2f} us CPU/request", flush=True)
    med_a, med_b = statistics.median(results["A"]), statistics.median(results["B"])
    print(f"{prefix}median A {med_a:.2f} us, B {med_b:.2f} us, B/A {med_b / med_a:.3f}")
    return med_a, med_b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default=".", help="checkout A (its loadorch is imported)")
    parser.add_argument("--b", default=".", help="checkout B")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", action="append", choices=sorted(ANSWERS), help="response kinds (default plain)")
    parser.add_argument("--body-check", action="store_true", help="the request checks the body (expect.contains)")
    parser.add_argument("--gevent", action="store_true", help="gevent-patched sockets, as in a Locust worker")
    parser.add_argument("--evidence", action="store_true", help="A: evidence off, B: on (#30), both checkout --b")
    parser.add_argument("--instructions", action="store_true", help="instructions per request (valgrind), not CPU time")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--evidence-side", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        print(f"{client(args.client, args.requests, args.body_check, args.gevent, args.evidence_side or ''):.3f}")
        return 0
    for mode in args.mode or ["plain"]:
        sock = socket.create_server(("127.0.0.1", 0))
        server = Process(target=serve, args=(sock, ANSWERS[mode]), daemon=True)
        server.start()
        try:
            check = args.body_check or mode == "gzip"
            port = sock.getsockname()[1]
            if args.instructions:  # deterministic: one count each
                sides = (("A", args.a, ""), ("B", args.b, "")) if not args.evidence else (
                    ("off", args.b, "off"), ("on", args.b, "on"))
                got = {label: instructions(c, port, check, args.gevent, ev) for label, c, ev in sides}
                (la, a), (lb, b) = got.items()
                print(f"{mode}: instructions/request {la} {a:.0f}, {lb} {b:.0f}, {lb}/{la} {b / a:.4f}", flush=True)
                continue
            if args.evidence:  # the same checkout, evidence off (A) and on (B)
                ab_medians(args.rounds, "off", "on",
                           lambda side, port=port: measure(args.b, port, args.requests, False, args.gevent, side),
                           f"{mode}, evidence: ")
                continue
            ab_medians(args.rounds, args.a, args.b,
                       lambda checkout, port=port, check=check: measure(checkout, port, args.requests, check, args.gevent),
                       f"{mode}: ")
        finally:
            server.terminate()
            server.join()
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
