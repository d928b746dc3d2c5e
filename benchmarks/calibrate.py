"""The paired measure checked against a known cost: what does `proccpu.py` read for a cost we put in ourselves?

Two runs started together on one core (proccpu.py) do not read a request's extra CPU as it is: the dearer run
falls behind, so it finds fewer answers ready at each wake-up of its event loop and pays more per request for
the loop itself, and the ratio grows (issue 30). This script measures that on this machine, in the same rounds
as the evidence: B is this checkout with a spin of `--spin-ns` of CPU added to every request a virtual user
records (a copy in a temporary folder; loadorch itself has no such hook), A the same checkout without it.
Each round runs A against B (evidence off in both) and the evidence on against off (A's code), pairs started
together on the generator's core, in the shape asked (16 users flat out by default; `--users N --wait S` for
paced users). It prints each pair and the medians, and the evidence's cost read against the spin's: the
evidence costs what the spin costs times (evidence's ratio - 1) / (spin's ratio - 1).

    python3 benchmarks/calibrate.py --pairs 8                          # saturated, the benchmark's shape
    python3 benchmarks/calibrate.py --pairs 8 --users 64 --wait 0.02   # paced users: neither run held back
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

from generators import EVIDENCE_OFF, REPO, Nginx, cores
from proccpu import run_together

ANCHOR = "        cache_key = (id(req), outcome.status, outcome.ok)\n"
SPIN = ("        _until = _spin_ns() + SPIN_NS  # calibration (benchmarks/calibrate.py): a known CPU cost a request\n"
        "        while _spin_ns() < _until:\n            pass\n")


def export(into: Path, spin_ns: int) -> Path:
    """This checkout's HEAD in `into`; with `spin_ns`, VirtualUser.record spins that long first."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    if spin_ns:
        vu = into / "loadorch" / "client" / "vu.py"
        text = vu.read_text()
        if text.count(ANCHOR) != 1:
            raise SystemExit("calibrate.py: VirtualUser.record's first line moved; update ANCHOR")
        text = text.replace(ANCHOR, SPIN + ANCHOR).replace(
            "\nimport random\n", f"\nimport random\nfrom time import perf_counter_ns as _spin_ns\nSPIN_NS = {spin_ns}\n", 1)
        vu.write_text(text)
    return into


def spin_cost_ns(spin_ns: int) -> float:
    """What the spin costs on this machine, its clock reads included (the best of five timings)."""
    from time import perf_counter_ns

    def spin() -> None:
        until = perf_counter_ns() + spin_ns
        while perf_counter_ns() < until:
            pass

    return min(timeit.repeat(spin, number=20_000, repeat=5)) / 20_000 * 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8, help="rounds: each one spin pair and one evidence pair")
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--spin-ns", type=int, default=750)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--wait", type=float, default=0.0, help="the users' think time (s)")
    args = ap.parse_args()
    core, target = cores()
    spin = spin_cost_ns(args.spin_ns)
    spins: list[float] = []
    evidence: list[float] = []
    base: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        a, b = export(tmp / "a", 0), export(tmp / "b", args.spin_ns)
        nginx = Nginx(tmp / "nginx", target)
        try:
            for r in range(args.pairs):
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                names = ("a", "b") if r % 2 == 0 else ("b", "a")
                got = run_together(nginx.url, tmp, args.users, args.seconds, core, {n: EVIDENCE_OFF for n in names},
                                   {"a": a, "b": b}, 0, args.wait)
                us = {n: float(got[n].extra["generator_us"]) for n in names}  # type: ignore[arg-type]
                spins.append(us["b"] / us["a"])
                base.append(us["a"])
                order = ("on", "off") if r % 2 == 0 else ("off", "on")
                extras = {"on": "", "off": EVIDENCE_OFF}
                got = run_together(nginx.url, tmp, args.users, args.seconds, core, {n: extras[n] for n in order},
                                   {"on": a, "off": a}, 0, args.wait)
                evidence.append(float(got["on"].extra["generator_us"]) / float(got["off"].extra["generator_us"]))  # type: ignore[arg-type]
                print(f"round {r + 1}: spin B/A {spins[-1]:.3f} (A {us['a']:.1f} cpu-us/req, "
                      f"{got['off'].rps:.0f} req/s off), evidence on/off {evidence[-1]:.3f}  load avg {load} .. "
                      + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
        finally:
            nginx.stop()
    s, e, us0 = statistics.median(spins), statistics.median(evidence), statistics.median(base)
    print(f"the spin: {spin:.0f} ns a request = {100 * spin / (us0 * 1000):.2f} % of {us0:.1f} cpu-us/req; "
          f"read as B/A median {s:.3f} ({min(spins):.3f}-{max(spins):.3f}) over {len(spins)} pairs")
    print(f"the evidence: on/off median {e:.3f} ({min(evidence):.3f}-{max(evidence):.3f}) over {len(evidence)} pairs")
    if s > 1:
        cost = spin * (e - 1) / (s - 1)
        print(f"the evidence's cost read against the spin's: {cost:.0f} ns a request = "
              f"{100 * cost / (us0 * 1000):.2f} % of the generator's CPU per request")
    else:
        print("the spin read no dearer than without it: no calibration in this run (too few pairs or too noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
