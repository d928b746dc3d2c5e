"""The worker's CPU per request, in one process, A/B between two checkouts (e.g. main and a branch).

The real worker code (the user classes a worker builds from a plan, the lean client, the recorder) runs N
users for a fixed number of iterations each against nginx on the other core; the process's own CPU time
per request is printed (nginx's is not counted). No Locust master or runner, no reports: the request path
alone, which wall-clock req/s on a shared machine cannot show to a few percent. Alternating rounds, medians.

    python3 benchmarks/worker_cpu.py --a /path/to/main --b . [--users 16] [--iterations 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = """
import sys, time
from pathlib import Path
from gevent import monkey
monkey.patch_all()
import gevent
from locust.env import Environment
from loadorch.config.resolve import build
from loadorch.run.plan import build_plan
from loadorch.runtime import worker

project, url, users, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan = build_plan(build("bench", project, {}), url, "127.0.0.1", 1, "token", "/dev/null", None, ["127.0.0.1"])
plan = plan.model_copy(update={"iterations": iterations})
state = worker.WorkerState(plan, 0)
classes = worker.build_user_classes(state)
env = Environment(user_classes=classes)
team = [classes[0](env) for _ in range(users)]
gevent.joinall([gevent.spawn(lambda u=u: [u.vu.step() for _ in range(50)]) for u in team])  # warm-up
for u in team:
    u.vu.sequence = 0
began = time.process_time()
gevent.joinall([gevent.spawn(u.run) for u in team])
spent = time.process_time() - began
assert not state.vu_failures, state.vu_failures
assert worker.__file__.startswith(sys.argv[5]), worker.__file__  # the checkout asked for
print(f"{1e6 * spent / (users * iterations):.2f}")
"""


def measure(checkout: str, project: Path, url: str, users: int, iterations: int, core: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout)}
    # -P and a neutral cwd: `python -c` would put the current directory first on sys.path, and a run from a
    # checkout would import that checkout's loadorch instead of the one asked for
    argv = ["taskset", "-c", core, sys.executable, "-P", "-c", CHILD, str(project), url, str(users), str(iterations),
            os.path.abspath(checkout)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=project)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--a", default=".", help="checkout A (its loadorch is imported)")
    parser.add_argument("--b", default=".", help="checkout B")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=3000, help="requests per user")
    parser.add_argument("--think", type=float, default=0.0, help="think time (s)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from generators import SCENARIO, Nginx, cores, write_project
    from lean_cpu import ab_medians

    gen_core, target_core = cores()
    with tempfile.TemporaryDirectory(prefix="loadorch-worker-cpu-") as tmp:
        nginx = Nginx(Path(tmp) / "nginx", target_core)
        try:
            project = write_project(Path(tmp), SCENARIO.format(wait=args.think), nginx.url,
                                    f"{{users: {args.users}, iterations: {args.iterations}}}")
            ab_medians(args.rounds, args.a, args.b,
                       lambda checkout: measure(checkout, project, nginx.url, args.users, args.iterations, gen_core))
        finally:
            nginx.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
