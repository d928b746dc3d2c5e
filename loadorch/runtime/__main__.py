"""`python -m loadorch.runtime master|worker|check-users --plan PLAN`: the entry point of the Locust processes
(runtime/entry.py), and of the fork server that starts them warm (`forkserver [--master-fd FD]`)."""

from __future__ import annotations

import sys

from loadorch.fastexit import exit_now
from loadorch.starttrace import mark


def main(argv: list[str] | None = None) -> int:
    mark("python started")
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["forkserver"]:  # before logging is set up: each child sets up its own
        import argparse

        from loadorch.runtime.common import watch_parent
        from loadorch.runtime.forkserver import serve

        parser = argparse.ArgumentParser(prog="loadorch.runtime forkserver")
        parser.add_argument("--master-fd", type=int, default=None)  # the pipe for the master's stdout
        opts = parser.parse_args(args[1:])
        watch_parent()
        return serve(opts.master_fd)
    from loadorch.runtime.entry import main as run_role

    return run_role(args)


if __name__ == "__main__":
    exit_now(main())
