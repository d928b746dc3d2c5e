"""Temporary user projects, the CLI as a subprocess, and the repository's paths, for every test tier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


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


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err
