"""The local profiles a user runs first, run at once: the repository's own (the Quickstart's job) and the two
that `loadorch init` writes (plain, and from the embedded target's OpenAPI document).

Each is gated by p(95)<300 on its reads, which beside three other tests read 320-333 ms (clean-clone CI at
9842517 and 8d43298, four xdist processes): the tests that use these runs are `alone`. The three runs are light
(10-20 users with think times, 2 ms p95 on a quiet machine), so they go side by side, each to its own embedded
target: the suite waits one run's length (20 s), not three (about 60 s)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.project import REPO, Project, cli_in_process, run_cli

from .helpers import finish, start_run


@dataclass
class LocalRun:
    root: Path  # the project
    code: int | None
    out: str
    err: str

    def results(self) -> dict:
        [run_dir] = (self.root / "results").glob("local-*")
        return json.loads((run_dir / "results.json").read_text())


def run_the_local_profiles(base: Path) -> dict[str, LocalRun]:
    """`shipped`: the repository's profiles/ and scenarios/ as they are, for 15 s of their 30 (min_samples 100
    writes need about 11 s); `init` and `openapi`: init's local profile as written (20 s, min_samples 50)."""
    from loadorch.target.server import start

    shipped, plain, openapi = base / "shipped", base / "init", base / "openapi"
    shutil.copytree(REPO / "profiles", shipped / "profiles")
    shutil.copytree(REPO / "scenarios", shipped / "scenarios")
    plain.mkdir()
    openapi.mkdir()
    made = run_cli("init", cwd=plain)
    assert made.code == 0, made.err
    assert cli_in_process("validate", cwd=plain).code == 0
    server, thread = start("127.0.0.1", 0)
    try:  # the embedded target's own OpenAPI document
        spec = requests.get(f"{server.url}/openapi.json", timeout=5).json()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    (openapi / "shop.json").write_text(json.dumps(spec))
    made = cli_in_process("init", "--from-openapi", "shop.json", cwd=openapi)
    assert made.code == 0, made.err
    assert cli_in_process("validate", cwd=openapi).code == 0
    started: dict[str, tuple[Path, subprocess.Popen[str]]] = {
        "shipped": (shipped, start_run(Project(shipped), "--duration", "15s", profile="local")),
        "init": (plain, start_run(Project(plain), profile="local")),
        "openapi": (openapi, start_run(Project(openapi), "--host", "embedded", profile="local")),
    }
    runs = {}
    for name, (root, proc) in started.items():
        out, err = finish(proc, timeout=120)
        runs[name] = LocalRun(root, proc.returncode, out, err)
    return runs
