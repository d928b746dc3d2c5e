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
from typing import Any

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


def client(port: int, requests: int, body_check: bool, patched: bool = False, evidence: str = "",
           per_second: int = 0) -> float:
    """CPU microseconds per request, in this process (loadorch imported from PYTHONPATH); `patched`:
    gevent's sockets, as inside a Locust worker (the lean client's gevent fast path); `evidence` ("on" or
    "off"): each request recorded through a virtual user, with or without #30's evidence (trace ids,
    Server-Timing read, the K slowest kept)."""
    if evidence:
        return evidence_client(port, requests, patched, evidence == "on", per_second)
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


def evidence_client(port: int, requests: int, patched: bool, on: bool, per_second: int = 0) -> float:
    """`per_second` (> 0): every that many requests, a worker's whole report as at that rate of requests a
    second (its delta, message, msgpack) and the master's merge of it, in this process, and the virtual user's
    clock (the time it records each request at) a simulated one that moves 1 / per_second a request, so that
    each time slot batches per_second requests as a worker's does at that rate however slow this process
    runs (under valgrind a real second holds a few hundred: the per-slot work, such as the time split's
    sample, would weigh as at a few hundred a second); else only the recorder's delta every 5,000 requests."""
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
    if per_second:
        import loadorch.client.vu as vu_module

        clock = [time.time()]

        class Clock:  # the virtual user's time.time(): per_second requests a simulated second (the rest real)
            perf_counter, monotonic = staticmethod(time.perf_counter), staticmethod(time.monotonic)

            @staticmethod
            def time() -> float:
                clock[0] += 1.0 / per_second
                return clock[0]

        vu_module.time = Clock  # type: ignore[assignment]
    report = recorder.take_delta
    if per_second:
        report = round_trip(recorder, 5 if on else 0)
    without = os.environ.get("LEAN_CPU_WITHOUT", "").split(",")  # evidence on less some parts: where it goes
    if on and "trace" not in without:
        runner.tracer = TraceIds("0123456789ab", 0)
    if on and "timing" not in without:
        runner.conn.server_timing = True
    if on and "slowest" in without:
        recorder.exemplars.floor[req.name] = 1 << 62  # never among the K slowest: no row built
    vu = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=[req], weights=[1.0],
                     think=(0.0, 0.0), generators={}, runner=runner, recorder=recorder)
    from loadorch.stats.histogram import _bucket_table as histogram_table
    from loadorch.stats.timesplit import _bucket_table as split_table

    histogram_table(), split_table()  # made once in a worker's life (its first long batches): not a request's
    for _ in range(500):  # warm-up: connection open, caches filled
        vu.step()
    began = time.process_time()
    every = per_second or 5000
    for i in range(requests):
        vu.step()
        if i % every == 0:
            report()  # as a worker does every second
    spent = time.process_time() - began
    runner.close()
    return spent / requests * 1e6


def round_trip(recorder: Any, k: int) -> Callable[[], None]:
    """A worker's report of `recorder` and the master's merge of it (runtime/worker.py, masterstate.py), in
    one call: the delta as a worker sends it (SPLIT_EVERY), its message, msgpack both ways as Locust's rpc
    does, the master's validation, decode and merge."""
    import msgpack
    from locust.rpc.protocol import decode, encode

    from loadorch.stats.tables import SPLIT_EVERY, Merged
    from loadorch.wire import StatsMessage

    recorder.split_every = SPLIT_EVERY
    merged = Merged(1.0, k)
    seq = [0]

    def report() -> None:
        seq[0] += 1
        msg = StatsMessage(index=0, token="t", seq=seq[0], delta=recorder.take_delta(flush=False), cpu=50.0, users=1,
                           spawned=1, done=False, final=False, total=recorder.total, sent_at=time.time())
        wire = msgpack.dumps(("lo_stats", msg.to_wire(), "w0"), default=encode)
        data = msgpack.loads(wire, raw=False, strict_map_key=False, object_hook=decode)[1]
        got = StatsMessage.model_validate(data)
        merged.add_decoded(0, merged.decode(0, got.delta))

    return report


def measure(checkout: str, port: int, requests: int, body_check: bool, patched: bool = False,
            evidence: str = "", per_second: int = 0) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout)}
    argv = [sys.executable, __file__, "--client", str(port), "--requests", str(requests)]
    argv += ["--body-check"] if body_check else []
    argv += ["--evidence-side", evidence, "--per-second", str(per_second)] if evidence else []
    out = subprocess.run(argv + (["--gevent"] if patched else []), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return float(out.stdout.strip())


def instructions(checkout: str, port: int, body_check: bool, patched: bool, evidence: str, per_second: int = 0,
                 span: int = 2000) -> float:
    """User-space instructions per request of the client (see the module's docstring)."""
    counts = []
    for n in (500, 500 + span):
        env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout), "PYTHONHASHSEED": "0"}
        argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                sys.executable, __file__, "--client", str(port), "--requests", str(n)]
        argv += (["--body-check"] if body_check else []) + (["--gevent"] if patched else [])
        argv += ["--evidence-side", evidence, "--per-second", str(per_second)] if evidence else []
        out = subprocess.run(argv, env=env, capture_output=True, text=True)
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        if out.returncode != 0 or found is None:
            raise SystemExit(out.stderr[-2000:])
        counts.append(int(found.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / span


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
    parser.add_argument("--per-second", type=int, default=0, help="with --evidence: a worker's report and the "
                        "master's merge of it every this many requests, as at this many requests a second (0: none)")
    parser.add_argument("--span", type=int, default=2000, help="--instructions: requests between the two counts")
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--evidence-side", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        side = args.evidence_side or ""
        print(f"{client(args.client, args.requests, args.body_check, args.gevent, side, args.per_second):.3f}")
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
                got = {label: instructions(c, port, check, args.gevent, ev, args.per_second, args.span)
                       for label, c, ev in sides}
                (la, a), (lb, b) = got.items()
                print(f"{mode}: instructions/request {la} {a:.0f}, {lb} {b:.0f}, {lb}/{la} {b / a:.4f}", flush=True)
                continue
            if args.evidence:  # the same checkout, evidence off (A) and on (B)
                ab_medians(args.rounds, "off", "on",
                           lambda side, port=port: measure(args.b, port, args.requests, False, args.gevent, side,
                                                           args.per_second),
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
