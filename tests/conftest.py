"""Shared test helpers: temporary projects, the CLI as a subprocess, the reference target on port 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# Every subprocess a test starts (the CLI, Locust masters and workers) imports loadorch from this checkout,
# whatever is installed: a second worktree or a non-editable install must not test other code.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> CliResult:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "loadorch", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


class Project:
    """A temporary user project with profiles/ and scenarios/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "profiles").mkdir(exist_ok=True)
        (root / "scenarios").mkdir(exist_ok=True)

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> CliResult:
        return run_cli(*args, cwd=self.root, env=env, timeout=timeout)

    def results(self, out: str) -> dict:
        return json.loads((self.root / out / "results.json").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


SIMPLE_SCENARIO = """
name: simple
users:
  - name: reader
    requests:
      - {name: health, path: /health}
"""

SIMPLE_PROFILE = """
scenario: ../scenarios/simple.yaml
host: http://127.0.0.1:9
load: {users: 2, duration: 10s}
"""


@pytest.fixture
def simple_project(project: Project) -> Project:
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", SIMPLE_PROFILE)
    return project


@pytest.fixture
def shop_server() -> Iterator[str]:
    from loadorch.target.server import start

    server, thread = start("127.0.0.1", 0)
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err
