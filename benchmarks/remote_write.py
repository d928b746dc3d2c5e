"""Does a down or slow remote-write endpoint change a run's throughput? (issue 17; numbers, not a test)

Usage: python3 benchmarks/remote_write.py [--rounds 3] [--seconds 10] [--users 8] [--workers 2]
Runs `loadorch run` against the embedded reference target (or --host URL) in alternating rounds:
(a) no live metrics, (b) --remote-write to a healthy receiver (answers 204), (c) to a closed port
(connection refused), (d) to a black hole that accepts connections and never answers (every push
times out after 5 s). Prints the requests/s of each round, the CPU seconds loadorch's own processes (controller, master, workers; not the
target) spent per 1,000 requests (less sensitive to a busy machine than requests/s), the medians and
the ratios to (b) and (a).
Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = """
name: bench
users:
  - name: u
    requests:
      - {name: health, kind: read, weight: 4, path: /health}
      - {name: products, kind: read, path: "/products?limit=5"}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(project: Path, host: str, users: int, workers: int, seconds: int, extra: list[str]) -> tuple[float, float, str]:
    """(requests/s, CPU seconds of loadorch's processes per 1,000 requests, note)."""
    out = project / f"out-{time.monotonic_ns()}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the controller waits for master and workers
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadorch",
            "run",
            "bench",
            "--host",
            host,
            "--users",
            str(users),
            "--workers",
            str(workers),
            "--duration",
            f"{seconds}s",
            "--out",
            str(out),
            *extra,
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    doc = json.loads((out / "results.json").read_text())
    warn = "; ".join(doc.get("warnings", []))
    requests = max(1, int(doc["totals"]["requests"]))
    return float(doc["totals"]["rps"]), cpu / requests * 1000, warn or done.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--host", help="target URL (default: the embedded reference target, started here)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    server = None
    host = args.host
    if host is None:
        from loadorch.target.server import start

        server, _ = start("127.0.0.1", 0)
        host = server.url

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hole = socket.socket()  # accepts (kernel backlog) and never answers: every push times out
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    modes = {
        "no push": [],
        "push, healthy": ["--remote-write", f"http://127.0.0.1:{receiver.server_port}/api/v1/write"],
        "push, endpoint down": ["--remote-write", f"http://127.0.0.1:{closed_port()}/api/v1/write"],
        "push, endpoint hangs": ["--remote-write", f"http://127.0.0.1:{hole.getsockname()[1]}/api/v1/write"],
    }
    results: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="loadorch-bench-rw-") as tmp:
        project = Path(tmp)
        (project / "scenarios").mkdir()
        (project / "profiles").mkdir()
        (project / "scenarios" / "bench.yaml").write_text(SCENARIO)
        (project / "profiles" / "bench.yaml").write_text(
            "scenario: ../scenarios/bench.yaml\nhost: embedded\nload: {users: 8, duration: 10s}\nseed: 1\n"
            "min_samples: 1\nallow_saturated_generator: true\nallowed_hosts: [127.0.0.1]\n"
        )
        try:
            for r in range(args.rounds):
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                for mode in order:
                    rps, cpu_per_k, note = run(project, host, args.users, args.workers, args.seconds, modes[mode])
                    results[mode].append(rps)
                    cpu[mode].append(cpu_per_k)
                    print(
                        f"round {r + 1} {mode:22s} {rps:8.1f} req/s  {cpu_per_k:5.2f} cpu-s/1k req  {note}", flush=True
                    )
        finally:
            hole.close()
            receiver.shutdown()
            if server is not None:
                server.shutdown()
    base = statistics.median(results["no push"])
    healthy = statistics.median(results["push, healthy"])
    print(
        f"\n{os.cpu_count()} cores; {args.users} users, {args.workers} workers, {args.seconds}s x {args.rounds} "
        f"alternating rounds; target {'embedded' if args.host is None else args.host}"
    )
    for mode, values in results.items():
        spread = (max(values) - min(values)) / statistics.median(values) * 100 if values else 0.0
        m = statistics.median(values)
        print(
            f"median {mode:22s} {m:8.1f} req/s  ({m / healthy:.3f}x healthy push, {m / base:.3f}x no push; "
            f"round-to-round spread {spread:.1f} %); {statistics.median(cpu[mode]):.2f} cpu-s per 1k requests"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
