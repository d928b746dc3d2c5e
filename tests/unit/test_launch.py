"""loadorch/launch.py: which command lines start the fork server before loadorch.cli is imported (pure: argv in,
yes or no out; that a wrong guess costs nothing but time is tests/test_cli.py's)."""

from __future__ import annotations

import pytest

from loadorch.launch import early, runs_locally

STARTS = [
    ["run", "p"],
    ["run", "profiles/p.yaml", "--users", "4", "--workers", "2"],
    ["--project", "proj", "run", "p"],
    ["--project=proj", "--debug", "run", "p"],
    ["--debug", "run", "p", "--out", "o"],
    ["run"],  # refused by argparse (no profile): started, then killed by cli.main
]
STARTS_NOTHING = [
    [],
    ["validate"],
    ["list"],
    ["report", "run"],  # a folder named run: not the command
    ["--project", "run", "validate"],  # a project folder named run
    ["--help"],
    ["-h", "run", "p"],
    ["run", "p", "--help"],
    ["run", "p", "-h"],
    ["--version", "run", "p"],
    ["run", "p", "--external-workers"],  # one process per pod (Kubernetes)
    ["run", "--", "p"],
    ["runn", "p"],
    ["k8s", "run", "p"],
]


@pytest.mark.parametrize("argv", STARTS, ids=" ".join)
def test_a_local_run_starts_its_fork_server_first(argv: list[str]) -> None:
    assert runs_locally(argv)


@pytest.mark.parametrize("argv", STARTS_NOTHING, ids=lambda a: " ".join(a) or "(none)")
def test_other_commands_help_and_external_workers_start_nothing(argv: list[str]) -> None:
    assert not runs_locally(argv)


def test_cold_start_and_other_commands_start_no_process() -> None:
    # LOADORCH_COLD_START: one cold process per master and worker, no fork server; nothing is started for it here
    assert early(["run", "p"], {"LOADORCH_COLD_START": "1"}) is None
    assert early(["validate"], {}) is None
