"""The monitor's memory over time (numbers, not a test): `loadorch monitor` for N minutes, RSS sampled.

Usage: python3 benchmarks/monitor_rss.py [--minutes 30] [--every 10] [--no-browser]
Starts the embedded shop in this process, then `loadorch monitor` on a project of HTTP checks at 2
arrivals per second over 20 request names (and, unless --no-browser, one Chromium page walking the
storefront every 2 s), with a 5-minute rolling window of 10 slices judged every 5 s, /metrics scraped
every 10 s as Prometheus would. Every `--every` seconds it reads the resident memory (VmRSS) of each
process the monitor started, by role (monitor = the controller, master, worker, browser worker,
chromium), and prints them; at the end, a summary: the first and last minute's median per role and
the change. Loopback only; bounded in time; the monitor is stopped with SIGTERM and waited for.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = """
name: checks
users:
  - name: probe
    requests:
{requests}
{browsers}
thresholds:
  "http_req_duration": ["p(95)<500"]
  "http_req_failed": ["rate<0.01"]
"""
BROWSERS = """
browsers:
  - name: shopper
    think_time: 2
    journey:
      - {visit: /shop, name: home}
      - {click: "#add-to-cart"}
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: {host}
load: {{arrival_rate: 2, duration: 1m}}
monitor: {{window: 5m, slices: 10, status_every: 5s}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role_of(pid: int) -> str | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if "chromium" in cmd:
        return "chromium"
    try:  # a process forked by the runtime's fork server keeps its argv but names itself (runtime/forkserver.py)
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if comm == "loadorch-master" or comm.startswith("loadorch-w"):
        return "master" if comm == "loadorch-master" else "worker"
    for marker, role in (("runtime master", "master"), ("runtime worker", "worker"), ("loadorch.browser", "browser"),
                         ("loadorch monitor", "monitor"), ("runtime forkserver", "forkserver")):
        if marker in cmd:
            return role
    return "other"


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def sample(root: int) -> dict[str, float]:
    by_role: dict[str, float] = {}
    for pid in descendants(root):
        role = role_of(pid)
        if role is not None:
            by_role[role] = by_role.get(role, 0.0) + rss_mb(pid)
    return by_role


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from loadorch.target.server import start

    server, thread = start()
    root = Path(tempfile.mkdtemp(prefix="loadorch-monitor-rss-"))
    (root / "scenarios").mkdir()
    (root / "profiles").mkdir()
    requests = "\n".join(f"      - {{name: check {i}, path: \"/products?page={i}\"}}" for i in range(20))
    (root / "scenarios" / "s.yaml").write_text(
        SCENARIO.format(requests=requests, browsers="" if args.no_browser else BROWSERS))
    (root / "profiles" / "p.yaml").write_text(PROFILE.format(host=server.url))
    metrics = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo", "--metrics-port",
                             str(metrics), "--status-port", "0"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=(root / "monitor.log").open("w"))
    rows: list[tuple[float, dict[str, float]]] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    next_scrape = started
    try:
        while time.monotonic() < end and proc.poll() is None:
            now = time.monotonic()
            if now >= next_scrape:
                next_scrape = now + 10
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10).read()
                except OSError:
                    pass
            rows.append((now - started, sample(proc.pid)))
            t, s = rows[-1]
            print(f"{t:7.0f}s  " + "  ".join(f"{k} {v:6.1f} MB" for k, v in sorted(s.items())), flush=True)
            time.sleep(args.every)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    summarize(rows, proc.returncode, root)
    return 0


def summarize(rows: list[tuple[float, dict[str, float]]], code: int | None, root: Path) -> None:
    if len(rows) < 4:
        print(f"too few samples (the monitor exited {code}; its log: {root / 'monitor.log'})")
        return
    total = rows[-1][0]
    # the first minute after start-up (2-3 min: Chromium and the ring warm up) against the last minute
    first = [s for t, s in rows if 120 <= t < 180] or [rows[len(rows) // 4][1]]
    last = [s for t, s in rows if t >= total - 60]
    roles = sorted({k for _, s in rows for k in s})
    print(f"\nsummary: {total / 60:.1f} min, {len(rows)} samples, monitor exit code {code}")
    print("| role | median RSS minute 2-3 (MB) | median RSS last minute (MB) | change |")
    print("| --- | --- | --- | --- |")
    for role in [*roles, "loadorch (all but chromium)"]:
        def pick(s: dict[str, float], role: str = role) -> float:
            if role.startswith("loadorch"):
                return sum(v for k, v in s.items() if k != "chromium")
            return s.get(role, 0.0)
        a, b = statistics.median(pick(s) for s in first), statistics.median(pick(s) for s in last)
        print(f"| {role} | {a:.1f} | {b:.1f} | {b - a:+.1f} MB ({(b - a) / a * 100 if a else 0:+.1f} %) |")


if __name__ == "__main__":
    raise SystemExit(main())
