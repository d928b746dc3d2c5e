"""Instructions (valgrind) a worker and its master spend on the evidence (#30), per request, deterministic.

A virtual user records synthetic successful requests (no network: latencies drawn from a fixed seed,
lognormal around 4 ms as at half a core's rate, two endpoints 9:1, connect and TLS 0 but every 200th) at a
simulated clock, and every `--rate` requests (one simulated second) the worker's report and the master's
merge of it (benchmarks/lean_cpu.py's round_trip: delta, message, msgpack both ways, validation, merge).
Each side is counted twice under cachegrind, for `--seconds` and for 2 more simulated seconds; the
difference over 2 x rate requests is what a request costs, its share of the reports included. Nothing in it
depends on the machine's load or speed (the clock is simulated), so two counts of the same code agree to
the instruction.

    python3 benchmarks/evidence_instr.py --a /tmp/main --b .        # evidence off and on, in checkouts A and B
    python3 benchmarks/evidence_instr.py --a . --b . --rate 2000     # the reports' share at another rate
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def simulate(seconds: int, rate: int, on: bool) -> None:
    """`seconds` simulated seconds of `rate` requests each, each second ended by a report and its merge."""
    sys.path.insert(0, str(HERE))
    from lean_cpu import round_trip

    import loadorch.client.vu as vu_module
    from loadorch.client.vu import VirtualUser
    from loadorch.config.scenario import Endpoint
    from loadorch.stats.tables import Recorder
    from loadorch.traffic.request import Outcome, compile_request

    clock = [1_000_000.0]

    class Clock:  # the virtual user's time.time(): the simulated second
        @staticmethod
        def time() -> float:
            return clock[0]

    vu_module.time = Clock  # type: ignore[assignment]
    reqs = [compile_request(Endpoint.model_validate({"name": n, "path": "/p"}), n, "read", set(), {})
            for n in ("get product", "create order")]
    k = 5 if on else 0
    rec = Recorder(1.0, clock[0], exemplar_k=k)
    report = round_trip(rec, k)
    user = VirtualUser(slot=0, slots=1, worker=0, user_name="u", seed=1, requests=reqs, weights=[9.0, 1.0],
                       think=(0.0, 0.0), generators={}, runner=None, recorder=rec)  # type: ignore[arg-type]
    rng = random.Random(7)
    fields = Outcome.__dataclass_fields__
    line = "traceparent: 00-0123456789ab0000000000000000000a-000000000000000a-01\r\n" if on else ""
    parts = ("traceparent: 00-0123456789ab" + "0" * 18, "0a", "-" + "0" * 14)  # the same line, in parts
    for second in range(seconds):
        for i in range(rate):
            clock[0] = 1_000_000.0 + second + i / rate
            d = int(rng.lognormvariate(8.3, 0.6))
            fresh = i % 200 == 0
            out = Outcome(200, True, None, d, "/p", waiting_us=d * 9 // 10, connecting_us=150 if fresh else 0,
                          tls_us=0, receiving_us=d // 20, size=28)
            if on and "trace_parts" in fields:
                out.trace_parts = parts  # the lean client's line, in parts
            elif on and "trace_line" in fields:
                out.trace_line = line  # a checkout before Outcome.trace_parts: the whole line
            elif on:
                out.trace_id = line[29:61]  # a checkout before Outcome.trace_line: the id, cut by the client
            user.record(reqs[0] if rng.random() < 0.9 else reqs[1], out)
        report()


def count(checkout: Path, seconds: int, rate: int, on: bool) -> int:
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve()), "PYTHONHASHSEED": "0"}
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", sys.executable,
            __file__, "--simulate", str(seconds), "--rate", str(rate)] + (["--on"] if on else [])
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(out.stderr[-3000:])
    return int(found.group(1).replace(",", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, default=Path("."), help="checkout A (its loadorch is imported)")
    ap.add_argument("--b", type=Path, default=Path("."), help="checkout B")
    ap.add_argument("--rate", type=int, default=1000, help="requests a simulated second (one report each)")
    ap.add_argument("--seconds", type=int, default=2, help="simulated seconds of the shorter count")
    ap.add_argument("--simulate", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--on", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.simulate is not None:
        simulate(args.simulate, args.rate, args.on)
        return 0
    from concurrent.futures import ThreadPoolExecutor

    jobs: dict[tuple[str, bool, int], Any] = {}
    with ThreadPoolExecutor(2) as pool:
        for label, checkout in (("A", args.a), ("B", args.b)):
            for on in (False, True):
                for seconds in (args.seconds, args.seconds + 2):
                    jobs[(label, on, seconds)] = pool.submit(count, checkout, seconds, args.rate, on)
    per = {(label, on): (jobs[(label, on, args.seconds + 2)].result() - jobs[(label, on, args.seconds)].result())
           / (2 * args.rate) for label, on, _ in jobs}
    for label in ("A", "B"):
        off, on = per[(label, False)], per[(label, True)]
        print(f"{label}: instructions/request, recorded and reported at {args.rate} req/s: off {off:,.0f}  "
              f"on {on:,.0f}  on - off {on - off:,.0f}", flush=True)
    print(f"B - A: off {per[('B', False)] - per[('A', False)]:+,.0f}, on {per[('B', True)] - per[('A', True)]:+,.0f}"
          " instructions/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
