"""The monitor's memory over time (numbers, not a test): `loadorch monitor` for N minutes, RSS sampled.

Usage: python3 benchmarks/monitor_rss.py [--minutes 30] [--every 10] [--no-browser] [--rate 2] [--trace DIR]
Starts the embedded shop in this process, then `loadorch monitor` on a project of HTTP checks at 2
arrivals per second (--rate) over 20 request names (and, unless --no-browser, one Chromium page walking the
storefront every 2 s), with a 5-minute rolling window of 10 slices judged every 5 s, /metrics scraped
every 10 s as Prometheus would. Every `--every` seconds it reads the resident memory (VmRSS) of each
process the monitor started, by role (monitor = the controller, master, worker, browser worker,
chromium), and prints them; at the end, a summary: the first and last minute's median per role and
the change, and each role's slope after warm-up (least squares over the samples from minute 3 on, MB per
hour). `--trace DIR`: every Python process of the run answers SIGUSR2 (benchmarks/memtrace.py); the
monitor and the master get one at 2 minutes (tracemalloc starts) and one every `--trace-every` seconds
after (a snapshot each, in DIR); `python3 benchmarks/memtrace.py DIR loadorch-master` shows what grew.
`--trim-every S`: instead, every S seconds those roles give glibc's free pages back (malloc_trim(0)), to
tell the allocator's share of the growth from live objects. Loopback only; bounded in time; the monitor is stopped with SIGTERM and waited for.
"""

from __future__ import annotations

import argparse
import json
import math
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
load: {{arrival_rate: {rate}, duration: 1m, max_users: {max_users}}}
monitor: {{window: {window}, slices: 10, status_every: 5s}}
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


def signal_roles(root: int, roles: tuple[str, ...], sig: signal.Signals) -> None:
    for pid in descendants(root):
        if role_of(pid) in roles:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def slope_mb_per_h(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per hour."""
    return slope_and_error(points)[0]


def slope_and_error(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of (seconds, MB) points and its standard error, both in MB per hour (the error from
    the samples' scatter about the line: a slope within two of them of 0 is not told apart from flat)."""
    n = len(points)
    if n < 3:
        return 0.0, math.inf
    mt, mv = sum(t for t, _ in points) / n, sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if not den:
        return 0.0, math.inf
    slope = sum((t - mt) * (v - mv) for t, v in points) / den
    resid = sum((v - mv - slope * (t - mt)) ** 2 for t, v in points)
    return slope * 3600, math.sqrt(resid / (n - 2) / den) * 3600


def parse_output(path: str) -> list[tuple[float, dict[str, float]]]:
    """The samples a run printed (its `  827s  master   66.1 MB  ...` lines), to summarize them again."""
    rows = []
    for line in Path(path).read_text().splitlines():
        words = line.split()
        if len(words) >= 4 and words[0].endswith("s") and words[0][:-1].isdigit() and words[-1] == "MB":
            rows.append((float(words[0][:-1]), {words[i]: float(words[i + 1]) for i in range(1, len(words) - 2, 3)}))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--rate", type=float, default=2.0, help="HTTP checks per second")
    ap.add_argument("--summarize", metavar="FILE", help="summarize a run's printed samples again, run nothing")
    ap.add_argument("--window", default="5m", help="the monitor's rolling window (its master's generations too)")
    ap.add_argument("--trace", metavar="DIR", help="tracemalloc snapshots of the monitor and the master in DIR")
    ap.add_argument("--trace-every", type=float, default=120.0)
    ap.add_argument("--trace-roles", default="monitor,master", help="the roles signalled, comma-separated")
    ap.add_argument("--pools", action="store_true",
                    help="with --trace: each signal writes pymalloc's pools and the kinds of memory, no tracemalloc")
    ap.add_argument("--collect-every", type=float, default=0.0,
                    help="instead of --trace: every S seconds the --trace-roles run a full gc.collect()")
    ap.add_argument("--trim-every", type=float, default=0.0,
                    help="instead of --trace: every S seconds the --trace-roles call glibc's malloc_trim(0)")
    args = ap.parse_args()
    if args.summarize:
        summarize(parse_output(args.summarize), None, Path(args.summarize))
        return 0
    sys.path.insert(0, str(REPO))
    from loadorch.target.server import start

    server, thread = start()
    root = Path(tempfile.mkdtemp(prefix="loadorch-monitor-rss-"))
    (root / "scenarios").mkdir()
    (root / "profiles").mkdir()
    requests = "\n".join(f"      - {{name: check {i}, path: \"/products?page={i}\"}}" for i in range(20))
    (root / "scenarios" / "s.yaml").write_text(
        SCENARIO.format(requests=requests, browsers="" if args.no_browser else BROWSERS))
    (root / "profiles" / "p.yaml").write_text(
        PROFILE.format(host=server.url, rate=args.rate, max_users=max(20, int(args.rate * 10)), window=args.window))
    metrics = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if args.trace or args.trim_every or args.collect_every:
        trace = Path(args.trace or root / "trace").resolve()
        trace.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(REPO / "benchmarks"))
        from memtrace import sitecustomize
        (root / "site").mkdir()
        (root / "site" / "sitecustomize.py").write_text(sitecustomize(str(trace), trim=bool(args.trim_every), pools=args.pools,
                                                                        collect=bool(args.collect_every)))
        env["PYTHONPATH"] = f"{root / 'site'}{os.pathsep}{REPO}"
    next_trace = args.collect_every or args.trim_every or 120.0
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "monitor", "p", "--out", "mo", "--metrics-port",
                             str(metrics), "--status-port", "0"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=(root / "monitor.log").open("w"))
    rows: list[tuple[float, dict[str, float]]] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    next_scrape = started
    checks = Checks()
    try:
        while time.monotonic() < end and proc.poll() is None:
            now = time.monotonic()
            if now >= next_scrape:
                next_scrape = now + 10
                try:
                    checks.scraped(urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10).read())
                except OSError:
                    pass
                checks.status(root / "mo" / "status.json", args.rate)
            if (args.trace or args.trim_every or args.collect_every) and now - started >= next_trace:
                next_trace += args.collect_every or args.trim_every or args.trace_every
                signal_roles(proc.pid, tuple(args.trace_roles.split(",")), signal.SIGUSR2)
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
    checks.report()
    return 0


class Checks:
    """What the numbers rest on: /metrics' request counter never goes down (a counter, over the whole run,
    while the master keeps its judged tables per window), and the window's HTTP samples stay what the rate
    brings in the seconds judged (the rolling window across the master's generations)."""

    def __init__(self) -> None:
        self.counter: list[float] = []
        self.windows: list[tuple[float, int]] = []  # (samples / (rate x judged seconds), samples)

    def scraped(self, body: bytes) -> None:
        total = sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
                    if line.startswith("loadorch_http_requests_total{"))
        self.counter.append(total)

    def status(self, path: Path, rate: float) -> None:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        rows = [r for r in doc["thresholds"] if r["threshold"].startswith("http_req_failed")]
        if rows and doc["window_full"] and doc["judged_s"] > 0:
            self.windows.append((rows[0]["samples"] / (rate * doc["judged_s"]), rows[0]["samples"]))

    def report(self) -> None:
        down = sum(1 for a, b in zip(self.counter, self.counter[1:]) if b < a)
        print(f"/metrics loadorch_http_requests_total: {len(self.counter)} scrapes, {down} went down, last "
              f"{self.counter[-1] if self.counter else 0:.0f}")
        if self.windows:
            shares = [w for w, _ in self.windows]
            print(f"full windows judged: {len(shares)}; their HTTP samples / (rate x seconds judged): min "
                  f"{min(shares):.3f}, median {statistics.median(shares):.3f}, max {max(shares):.3f}")


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
    marks = [m for m in (10, 20, 30, 60, 120) if m * 60 <= total + 30]
    print("| role | median RSS minute 2-3 (MB) | " + "".join(f"minute {m} | " for m in marks)
          + "median RSS last minute (MB) | change | slope from minute 3 (MB/h) | from 10 (+- 2 SE) | from 15 |")
    print("| --- | --- | " + "--- | " * len(marks) + "--- | --- | --- | --- | --- |")
    for role in [*roles, "loadorch (all but chromium)"]:
        def pick(s: dict[str, float], role: str = role) -> float:
            if role.startswith("loadorch"):
                return sum(v for k, v in s.items() if k != "chromium")
            return s.get(role, 0.0)
        a, b = statistics.median(pick(s) for s in first), statistics.median(pick(s) for s in last)
        at = [statistics.median(pick(s) for t, s in rows if abs(t - m * 60) <= 30) for m in marks]
        slope = slope_mb_per_h([(t, pick(s)) for t, s in rows if t >= 180])
        late, error = slope_and_error([(t, pick(s)) for t, s in rows if t >= 600])
        later, later_error = slope_and_error([(t, pick(s)) for t, s in rows if t >= 900])
        print(f"| {role} | {a:.1f} | " + "".join(f"{v:.1f} | " for v in at)
              + f"{b:.1f} | {b - a:+.1f} MB ({(b - a) / a * 100 if a else 0:+.1f} %) | {slope:+.2f} | "
              + (f"{late:+.2f} +- {2 * error:.2f} | " if math.isfinite(error) else "- | ")
              + (f"{later:+.2f} |" if math.isfinite(later_error) else "- |"))


if __name__ == "__main__":
    raise SystemExit(main())
