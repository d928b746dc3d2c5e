"""The roles of a Locust process: `master`, `worker` and `check-users` (`python -m loadorch.runtime ROLE`, or a
child of the fork server, which calls `main` after forking: runtime/forkserver.py)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from loadorch.starttrace import mark
from loadorch.wire import Plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadorch.runtime")
    parser.add_argument("role", choices=("master", "worker", "check-users"))
    parser.add_argument("--plan")
    parser.add_argument("--scenario-dir")
    parser.add_argument("--user", action="append", default=[])
    parser.add_argument("--index", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOADORCH_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format=f"%(asctime)s {args.role} %(levelname)s %(name)s: %(message)s",
    )
    from loadorch.runtime.locust_import import import_locust

    if args.role == "check-users":
        import_locust()
        from loadorch.runtime.pyusers import load_class

        for ref in args.user:
            try:
                load_class(args.scenario_dir, ref)
            except ImportError as exc:
                sys.stdout.write(f"{exc}\n")
                return 3
        return 0
    from loadorch.runtime.common import watch_parent

    watch_parent()  # now, not after importing Locust: that takes seconds on a busy machine, and a controller
    # killed meanwhile would leave this process running until it got there
    import_locust()  # (forked: imported already, by the fork server)
    with open(args.plan, encoding="utf-8") as fh:
        plan = Plan.model_validate_json(fh.read())
    mark(f"{args.role} read its plan")
    if args.role == "master":
        from loadorch.runtime.master import run_master

        return run_master(plan)
    index = args.index
    if index is None:
        raw = os.environ.get("LOADORCH_WORKER_INDEX", os.environ.get("JOB_COMPLETION_INDEX"))
        if raw is None:
            sys.stderr.write(
                "loadorch worker: no worker index (--index, LOADORCH_WORKER_INDEX or JOB_COMPLETION_INDEX)\n"
            )
            return 2
        index = int(raw)
    from loadorch.runtime.worker import run_worker

    return run_worker(plan, index)

