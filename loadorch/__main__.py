"""`python -m loadorch` and the `loadorch` command: a local `loadorch run` starts its fork server first
(loadorch/launch.py), then the command's own code is imported and run (loadorch/cli.py)."""

from __future__ import annotations

import os
import sys


def console_main() -> None:
    """The command: the early fork server, cli.main, then the exit code at once (fastexit)."""
    from loadorch.launch import early

    argv = sys.argv[1:]
    forks = early(argv, os.environ)
    from loadorch.cli import main
    from loadorch.fastexit import exit_now

    exit_now(main(argv, early=forks))


if __name__ == "__main__":
    console_main()
