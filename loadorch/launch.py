"""The `loadorch` command's first step (`__main__.console_main`): a local `loadorch run` starts its fork server
before the command's own code is imported (argparse, loadorch.cli), so the fork server's imports of Locust and
the runtime begin sooner (benchmarks/README.md, start-up). Everything else is cli.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadorch.run.forkstart import ForkServer

# the top-level options (cli.build_parser): their values are not the command's name
_TOP_WITH_VALUE = ("--project",)  # also as --project=DIR
_TOP_FLAGS = ("--debug",)
_NOTHING_STARTS = frozenset(("-h", "--help", "--version", "--external-workers", "--"))


def runs_locally(argv: Sequence[str]) -> bool:
    """Whether `argv` reads as a `loadorch run` whose master and workers run here: its command is `run`, and
    nothing asks for help, the version, external workers (one process per pod) or plain arguments (`--`).
    Read without argparse; a mistake either way costs nothing but time: cli.main kills a fork server that its
    own parsing does not hand to a local run, and starts one in `_cmd_run` where this said no."""
    if _NOTHING_STARTS.intersection(argv):
        return False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _TOP_WITH_VALUE:
            i += 2
        elif arg in _TOP_FLAGS or arg.startswith("--project="):
            i += 1
        else:
            return arg == "run"
    return False


def early(argv: Sequence[str], env: Mapping[str, str]) -> ForkServer | None:
    """The fork server of a local `loadorch run`, importing now (None otherwise: LOADORCH_COLD_START, not
    Linux, not a local run). The caller owns it: cli.main kills it on every way out but the run's own."""
    if not runs_locally(argv):
        return None
    from loadorch.run import forkstart

    return forkstart.early(env, external_workers=False)

