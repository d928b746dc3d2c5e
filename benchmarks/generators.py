"""The benchmark's pieces: the nginx target, and one run of each generator (Locust, loadorch, k6, wrk) with its
requests/s, request count, CPU seconds (its whole process tree, from the kernel's accounting of waited-for
children), latency percentiles and, on request, the peak resident memory of its load process."""

from __future__ import annotations

import csv
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = """
worker_processes 1;
worker_cpu_affinity {affinity};
worker_rlimit_nofile 20000;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
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
        listen 127.0.0.1:{port} reuseport backlog=4096;
        default_type application/json;
        location ~ ^/products/(\\d+)$ {{ access_log off; return 200 '{{"id":$1,"name":"p","price_cents":100}}'; }}
        location = /products {{
            access_log off;
            if ($request_method = POST) {{ return 201 '{{"id":1}}'; }}
            return 200 '[{{"id":1,"name":"p"}},{{"id":2,"name":"q"}}]';
        }}
        location = /categories {{ access_log off; return 200 '["books","games","toys"]'; }}
        location = /orders {{ access_log off; return 201 '{{"id":7,"status":"placed"}}'; }}
        location /first {{ return 200 '{{}}'; }}
    }}
}}
"""
LOCUSTFILE = """
import random
from locust import FastHttpUser, constant, task

class Shopper(FastHttpUser):
    wait_time = constant({wait})

    @task(9)
    def get_product(self):
        self.client.get(f"/products/{{random.randint(1, 500)}}", name="get product")

    @task(1)
    def create_order(self):
        self.client.post("/orders", json={{"customer": "c1", "product_id": random.randint(1, 500), "qty": 1}},
                         name="create order")
"""
# the same 90 % GET / 10 % POST JSON mix as the locustfile and the k6 script
SCENARIO = """
name: bench
data:
  product_id: {{int: [1, 500]}}
users:
  - name: shopper
    think_time: {wait}
    requests:
      - {{name: get product, weight: 9, path: "/products/{{product_id}}"}}
      - {{name: create order, weight: 1, method: POST, path: /orders, json: {{customer: c1, product_id: "{{product_id}}", qty: 1}}}}
thresholds: {{http_req_failed: ["rate<1"]}}
"""
K6_SCRIPT = """
import http from 'k6/http';
import { sleep } from 'k6';
const wait = Number(__ENV.WAIT || 0);
export default function () {
  const id = Math.floor(Math.random() * 500) + 1;
  if (Math.random() < 0.9) {
    http.get(`${__ENV.TARGET}/products/${id}`);
  } else {
    http.post(`${__ENV.TARGET}/orders`, JSON.stringify({customer: 'c1', product_id: id, qty: 1}),
              {headers: {'Content-Type': 'application/json'}});
  }
  if (wait > 0) { sleep(wait); }
}
"""
# scenarios/shop.yaml's users, weights, checks and captures, without think time (the throughput case)
K6_SHOP = """
import http from 'k6/http';
import { check } from 'k6';
const T = __ENV.TARGET;
const cats = ['books', 'games', 'toys'];
const catW = [5, 8, 10];
let customer = 0;
let orderId = null;
function category() { const r = Math.random() * 10; for (let i = 0; i < 3; i++) { if (r < catW[i]) return cats[i]; } }
function pick(weights) { let t = 0; for (const w of weights) t += w; let r = Math.random() * t;
  for (let i = 0; i < weights.length; i++) { r -= weights[i]; if (r < 0) return i; } return weights.length - 1; }
export default function () {
  if ((__VU - 1) % 5 < 4) {  // shopper (weight 4) or browser (weight 1)
    const i = pick([5, 3, 2]);
    if (i === 0) {
      const r = http.get(`${T}/products?category=${category()}&limit=20`);
      check(r, {'status 2xx/3xx': (x) => x.status >= 200 && x.status < 400});
    } else if (i === 1) {
      const id = Math.floor(Math.random() * 200) + 1;
      const r = http.get(`${T}/products/${id}`);
      check(r, {'status 200': (x) => x.status === 200, '$.id': (x) => x.json('id') === id});
    } else {
      customer += 1;
      const id = Math.floor(Math.random() * 200) + 1;
      const r = http.post(`${T}/orders`, JSON.stringify({customer: `c-${__VU}-${customer}`, product_id: id, qty: 1}),
                          {headers: {'Content-Type': 'application/json'}});
      check(r, {'status 201': (x) => x.status === 201});
      orderId = r.json('id');
    }
  } else {
    const i = pick([1, 2]);
    const r = i === 0 ? http.get(`${T}/categories`) : http.get(`${T}/products?category=${category()}`);
    check(r, {'status 2xx/3xx': (x) => x.status >= 200 && x.status < 400});
  }
}
"""

# wrk's Lua hooks: the same 90 % GET / 10 % POST mix on one connection per user. wrk is the ceiling: a C
# event loop that records nothing per request but its latency, with no think time, data or checks.
WRK_SCRIPT = """
math.randomseed(1)
local body = '{"customer":"c1","product_id":%d,"qty":1}'
request = function()
  local id = math.random(1, 500)
  if math.random() < 0.9 then
    return wrk.format("GET", "/products/" .. id)
  end
  return wrk.format("POST", "/orders", {["Content-Type"] = "application/json"}, string.format(body, id))
end
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
        tmp.mkdir(parents=True, exist_ok=True)
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


@dataclass
class Result:
    rps: float
    requests: int
    cpu_s: float  # CPU seconds of the tool's processes, start-up included
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    rss_mb: float = 0.0  # peak resident memory of the load process (when asked for)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu_s / self.requests if self.requests else float("nan")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _RssWatch:
    """Samples the summed resident memory of the descendants of `root` whose command line has `match`."""

    def __init__(self, root: int, match: str) -> None:
        self.root, self.match, self.peak, self.stop = root, match, 0.0, False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            self.peak = max(self.peak, _tree_rss_mb(self.root, self.match))
            time.sleep(0.25)

    def done(self) -> float:
        self.stop = True
        self.thread.join()
        return self.peak


def _tree_rss_mb(root: int, match: str) -> float:
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                parents[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    total = 0.0
    for pid in parents:
        p = pid
        while p and p != root:
            p = parents.get(p, 0)
        if p != root:
            continue
        try:
            if match not in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None,
         rss_match: str | None = None) -> tuple[float, float]:
    """Run to the end; (CPU seconds of it and its children, peak RSS MB of the matching descendants)."""
    before = _children_cpu()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watch = _RssWatch(proc.pid, rss_match) if rss_match else None
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    peak = watch.done() if watch else 0.0
    if proc.returncode not in (0, 1) and err:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
    return _children_cpu() - before, peak


def run_locust(url: str, tmp: Path, users: int, seconds: int, core: str, wait: float = 0.0,
               spawn_rate: float | None = None, rss: bool = False) -> Result:
    (tmp / "locustfile.py").write_text(LOCUSTFILE.format(wait=wait))
    prefix = tmp / f"locust-{time.monotonic_ns()}"
    cpu, peak = _run(["taskset", "-c", core, sys.executable, "-m", "locust", "-f", str(tmp / "locustfile.py"),
                      "--headless", "-u", str(users), "-r", str(spawn_rate or users), "-t", f"{seconds}s",
                      "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR"],
                     tmp, seconds + 90, rss_match="locustfile" if rss else None)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        row = {r["Name"]: r for r in csv.DictReader(fh)}["Aggregated"]
    return Result(float(row["Requests/s"]), int(row["Request Count"]), cpu, float(row["50%"] or "nan"),
                  float(row["99%"] or "nan"), peak)


def write_project(tmp: Path, scenario: str, url: str, load: str, extra: str = "") -> Path:
    project = tmp / f"project-{time.monotonic_ns()}"
    (project / "scenarios").mkdir(parents=True)
    (project / "profiles").mkdir()
    (project / "scenarios" / "bench.yaml").write_text(scenario)
    (project / "profiles" / "bench.yaml").write_text(
        f"scenario: ../scenarios/bench.yaml\nhost: {url}\nload: {load}\nworkers: 1\nseed: 1\n"
        f"allow_saturated_generator: true\nmin_samples: 1\n{extra}")
    return project


# the evidence of #30 off: no traceparent sent, no slowest requests kept (on is the default profile)
EVIDENCE_OFF = "trace: {propagate: false}\nevidence: {slowest: 0}\n"


def shop_scenario() -> str:
    """scenarios/shop.yaml as shipped (data, setup, checks, captures), without its think time."""
    doc = yaml.safe_load((REPO / "scenarios" / "shop.yaml").read_text())
    for user in doc["users"]:
        user["think_time"] = 0
    doc["thresholds"] = {"http_req_failed": ["rate<1"]}
    return yaml.safe_dump(doc, sort_keys=False)


def run_loadorch(url: str, tmp: Path, users: int, seconds: int, core: str, wait: float = 0.0,
                 spawn_rate: float | None = None, rss: bool = False, scenario: str | None = None,
                 extra: str = "") -> Result:
    """`extra`: profile lines added (e.g. EVIDENCE_OFF)."""
    rate = f", spawn_rate: {spawn_rate}" if spawn_rate else ""
    project = write_project(tmp, scenario or SCENARIO.format(wait=wait), url,
                            f"{{users: {users}, duration: {seconds}s{rate}}}", extra)
    out = project / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    cpu, peak = _run(["taskset", "-c", core, sys.executable, "-m", "loadorch", "run", "bench", "--out", str(out)],
                     project, seconds + 120, env=env, rss_match="loadorch.runtime worker" if rss else None)
    doc = json.loads((out / "results.json").read_text())
    kinds = doc.get("kinds") or {}
    read = kinds.get("read") or {}
    return Result(float(doc["totals"]["rps"]), int(doc["totals"]["requests"]), cpu,
                  float(read.get("p50_ms", "nan")), float(read.get("p99_ms", "nan")), peak,
                  {"doc": doc, "failures": doc["totals"]["failures"]})


def run_k6(url: str, tmp: Path, users: int, seconds: int, core: str, wait: float = 0.0,
           script: str = K6_SCRIPT) -> Result | None:
    k6 = shutil.which("k6")
    if k6 is None:
        return None
    path = tmp / f"k6-{time.monotonic_ns()}.js"
    path.write_text(script)
    summary = tmp / "k6-summary.json"
    cpu, _ = _run(["taskset", "-c", core, k6, "run", "--quiet", "--vus", str(users), "--duration", f"{seconds}s",
                   "--summary-trend-stats", "p(50),p(99)", "--summary-export", str(summary),
                   "-e", f"TARGET={url}", "-e", f"WAIT={wait}", str(path)],
                  tmp, seconds + 60, env={**os.environ, "GOMAXPROCS": "1", "K6_NO_USAGE_REPORT": "true"})
    metrics = json.loads(summary.read_text())["metrics"]
    reqs = metrics["http_reqs"]
    duration = metrics.get("http_req_duration", {})
    result = Result(float(reqs["rate"]), int(reqs["count"]), cpu, float(duration.get("p(50)", "nan")),
                    float(duration.get("p(99)", "nan")))
    if "checks" in metrics:
        result.extra["checks_failed"] = metrics["checks"].get("fails")
    return result


def _wrk_ms(text: str) -> float:
    """wrk's latency figure ('512.00us', '1.20ms', '2.00s') in milliseconds."""
    for suffix, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float("nan")


def run_wrk(url: str, tmp: Path, users: int, seconds: int, core: str) -> Result | None:
    """wrk on one thread pinned to `core`, one connection per user, the plain mix (WRK_SCRIPT)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = tmp / "mix.lua"
    script.write_text(WRK_SCRIPT)
    before = _children_cpu()
    done = subprocess.run(["taskset", "-c", core, wrk, "-t1", f"-c{users}", f"-d{seconds}s", "--latency",
                           "-s", str(script), url], cwd=tmp, capture_output=True, text=True,
                          timeout=seconds + 60, check=False)
    cpu = _children_cpu() - before
    rps, requests, pct = float("nan"), 0, {}
    for line in done.stdout.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif "requests in" in line:
            requests = int(words[0])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            pct[words[0]] = _wrk_ms(words[1])
    if not requests:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
        return None
    return Result(rps, requests, cpu, pct.get("50%", float("nan")), pct.get("99%", float("nan")))
