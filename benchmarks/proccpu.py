"""CPU seconds per process of a run (read from /proc while it runs), and an A/B of two loadorch runs at the
same time on the same core: the measure of a feature's cost that a shared machine disturbs least.

Alternating rounds compare two runs that met different neighbours: on a machine shared with other work, the
throughput of one 10-second round against the next moved by up to 100 % (benchmarks/README.md, #30). Two runs
started together and pinned to the same core meet the same neighbours at the same moments; each gets about
half the core, and the CPU its worker and master spend per request is compared between the two. Both run at
about half their full speed, so what a run spends once a second (its stats deltas) weighs about twice as
much per request as at full speed: the ratio is, if anything, against the feature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from generators import REPO, SCENARIO, Result, write_project
from paired import paired

TICK = os.sysconf("SC_CLK_TCK")
GENERATOR_ROLES = ("loadorch-master", "loadorch-w")  # /proc/PID/comm of a forked master and workers


def _stat(pid: int) -> tuple[str, int, float]:
    """(comm, parent pid, user + system CPU seconds) of a process."""
    with open(f"/proc/{pid}/stat") as fh:
        text = fh.read()
    fields = text[text.rindex(")") + 2 :].split()
    return text[text.index("(") + 1 : text.rindex(")")], int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


class TreeCpu:
    """The last CPU time seen of every descendant of `root`: the tree found every `scan_s`, each known process
    read every `tick_s` (so one that exits loses at most a tick of its CPU)."""

    def __init__(self, root: int, tick_s: float = 0.02, scan_s: float = 0.2) -> None:
        self.root, self.tick_s, self.scan_s = root, tick_s, scan_s
        self.last: dict[int, tuple[str, float]] = {}
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _scan(self) -> None:
        parents = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    parents[int(d)] = _stat(int(d))[1]
                except (OSError, ValueError, IndexError):
                    continue
        for pid in parents:
            p = pid
            while p and p != self.root:
                p = parents.get(p, 0)
            if p == self.root and pid not in self.last:
                self.last[pid] = ("", 0.0)

    def _run(self) -> None:
        scanned = 0.0
        while not self.stop:
            if time.monotonic() - scanned > self.scan_s:
                self._scan()
                scanned = time.monotonic()
            for pid in list(self.last):
                try:
                    comm, _, cpu = _stat(pid)
                except (OSError, ValueError, IndexError):
                    continue
                self.last[pid] = (comm, cpu)
            time.sleep(self.tick_s)

    def done(self) -> dict[str, float]:
        """CPU seconds by role: `generator` (master and workers), `controller` (the rest: the command, its
        fork server), each comm too."""
        self.stop = True
        self.thread.join()
        out: dict[str, float] = {"generator": 0.0, "controller": 0.0}
        for comm, cpu in self.last.values():
            role = "generator" if comm.startswith(GENERATOR_ROLES) else "controller"
            out[role] += cpu
            out[comm] = out.get(comm, 0.0) + cpu
        return out


def run_together(url: str, tmp: Path, users: int, seconds: int, core: str, extras: dict[str, str],
                 repos: dict[str, Path] | None = None, rate: int = 0, wait: float = 0.0) -> dict[str, Result]:
    """One `loadorch run` per profile addition in `extras` (name -> profile lines), all started together and
    pinned to `core`, each with the loadorch of `repos[name]` (default: this checkout); each Result's extra has
    `generator_us` (its master's and workers' CPU per request). `rate` (> 0): each an open model of that many
    arrivals a second (at most `users` in flight) instead of `users` closed-model users as fast as they go: the
    runs then do the same requests a second whatever each one's CPU per request, so a slower one is not also
    made slower per request by the core it shares (fewer requests per event-loop wake-up, its once-a-second
    work over fewer requests). `wait` (s): the closed model's think time (its users then ask at a pace: with
    enough of it neither run is held back by the core, and each does about users / (wait + latency) a second)."""
    started = []
    for name, extra in extras.items():
        repo = str((repos or {}).get(name, REPO))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)}
        load = (f"{{arrival_rate: {rate}, duration: {seconds}s, max_users: {users}}}" if rate
                else f"{{users: {users}, duration: {seconds}s}}")
        project = write_project(tmp, SCENARIO.format(wait=wait), url, load, extra)
        proc = subprocess.Popen(["taskset", "-c", core, sys.executable, "-m", "loadorch", "run", "bench", "--out",
                                 str(project / "out")], cwd=project, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        started.append((name, proc, TreeCpu(proc.pid), project))
    out = {}
    for name, proc, watch, project in started:
        try:
            proc.wait(timeout=seconds + 120)
        finally:
            cpu = watch.done()
        doc = json.loads((project / "out" / "results.json").read_text())
        n = int(doc["totals"]["requests"])
        res = Result(float(doc["totals"]["rps"]), n, cpu["generator"] + cpu["controller"])
        res.extra.update(generator_us=1e6 * cpu["generator"] / n if n else float("nan"), cpu=cpu)
        out[name] = res
    return out


def on_off(a: Path, b: Path, rounds: int, seconds: int, core: str, target: str, rate: int = 0,
           users: int = 16, wait: float = 0.0) -> None:
    """Evidence on against off (the profile's default against EVIDENCE_OFF), a pair per checkout per round, the
    checkouts' order and each pair's order alternating; each pair's on/off master + worker CPU per request."""
    import statistics
    import tempfile

    from generators import EVIDENCE_OFF, Nginx

    ratios: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        nginx = Nginx(tmp / "nginx", target)
        try:
            for r in range(rounds):
                for label, repo in (("A", a), ("B", b)) if r % 2 == 0 else (("B", b), ("A", a)):
                    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                    extras = {"on": "", "off": EVIDENCE_OFF} if r % 2 == 0 else {"off": EVIDENCE_OFF, "on": ""}
                    got = run_together(nginx.url, tmp, users if not rate else 64, seconds, core, extras,
                                       {"on": repo, "off": repo}, rate, wait)
                    ratios[label].append(got["on"].extra["generator_us"] / got["off"].extra["generator_us"])  # type: ignore[operator]
                    print(f"{label} pair {r + 1}: " + ", ".join(f"{k} {v.rps:.0f} req/s {v.extra['generator_us']:.1f} "
                                                              "cpu-us/req" for k, v in got.items())
                          + f"; on/off {ratios[label][-1]:.3f}  load avg {load} .. "
                          + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
        finally:
            nginx.stop()
    for label, got in ratios.items():
        print(f"{label}: evidence on/off generator CPU per request: median {statistics.median(got):.3f} "
              f"({min(got):.3f}-{max(got):.3f}) over {len(got)} pairs")
    both = ratios["A"] + ratios["B"]
    if len(both) > 1:
        got_all = paired(both)
        print(f"A and B pooled (one reading when they are the same code): {got_all.text()}; against 1.03: "
              f"{got_all.verdict(1.03)}")


def main() -> None:
    """Code A against code B (two checkouts), evidence on in both unless --extra says otherwise: pairs
    started together on one core, each pair's B/A master + worker CPU per request and req/s, the load beside."""
    import argparse
    import statistics
    import tempfile

    from generators import Nginx, cores

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--a", type=Path, required=True, help="checkout A (the before), its loadorch on PYTHONPATH")
    ap.add_argument("--b", type=Path, required=True, help="checkout B (the after)")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--extra", default="", help="profile lines added to both (e.g. evidence off)")
    ap.add_argument("--extra-b", default="", help="profile lines added to B's only (B may be A's checkout: a part "
                    "of a feature turned off, e.g. 'trace: {propagate: false}')")
    ap.add_argument("--on-off", action="store_true", help="instead: evidence on against off in each checkout, "
                    "A's pair and B's interleaved (bench.py's evidence_paired for two checkouts)")
    ap.add_argument("--rate", type=int, default=0, help="each run an open model of this many arrivals a second "
                    "(the same for both: CPU per request at one rate), not 16 users flat out")
    ap.add_argument("--users", type=int, default=16, help="the closed model's users (without --rate)")
    ap.add_argument("--wait", type=float, default=0.0, help="the closed model's think time (s): paced users, so "
                    "that both runs do about the same requests a second without the core holding either back")
    args = ap.parse_args()
    core, target = cores()
    if args.on_off:
        return on_off(args.a.resolve(), args.b.resolve(), args.pairs, args.seconds, core, target, args.rate,
                      args.users, args.wait)
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        nginx = Nginx(tmp / "nginx", target)
        try:
            for i in range(args.pairs):
                names = ("a", "b") if i % 2 == 0 else ("b", "a")
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                extras = {"a": args.extra, "b": args.extra + ("\n" if args.extra else "") + args.extra_b}
                got = run_together(nginx.url, tmp, args.users if not args.rate else 64, args.seconds, core,
                                   {k: extras[k] for k in names}, {"a": args.a.resolve(), "b": args.b.resolve()},
                                   args.rate, args.wait)
                a, b = got["a"], got["b"]
                ratios.append(b.extra["generator_us"] / a.extra["generator_us"])  # type: ignore[operator]
                print(f"pair {i + 1}: A {a.rps:.0f} req/s {a.extra['generator_us']:.1f} cpu-us/req "
                      f"(master {1e6 * a.extra['cpu'].get('loadorch-master', 0) / a.requests:.1f}), "  # type: ignore[union-attr]
                      f"B {b.rps:.0f} req/s {b.extra['generator_us']:.1f} "
                      f"(master {1e6 * b.extra['cpu'].get('loadorch-master', 0) / b.requests:.1f}); "  # type: ignore[union-attr]
                      f"B/A CPU/request {ratios[-1]:.3f}  load avg {load} .. "
                      + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
        finally:
            nginx.stop()
    print(f"B/A generator CPU per request: median {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}-{max(ratios):.3f}) over {len(ratios)} pairs")


if __name__ == "__main__":
    main()
