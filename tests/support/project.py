"""Temporary user projects, the CLI as a subprocess, and the repository's paths, for every test tier."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
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


# Commands that start processes or serve: never in the test process (cli_in_process refuses them).
_PROCESS_COMMANDS = frozenset({"calibrate", "monitor", "target"})


def cli_in_process(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> CliResult:
    """The CLI's own `main(args)` in this process, for tests whose subject is what a command says and
    writes, not the process boundary (a subprocess pays ~1 s of CPU for its imports; the suite makes
    hundreds of such calls). The same exit code, stdout and stderr as run_cli: the working folder, the
    environment and the signal handlers are set for the call and put back. A `run` may only end before
    its controller starts (a usage or configuration error): reaching the controller fails the test, as
    load never starts in the test process. Commands that start processes are refused (use run_cli)."""
    from loadorch import cli
    from loadorch.run import controller, forkstart

    if args and args[0] in _PROCESS_COMMANDS:
        raise AssertionError(f"`loadorch {args[0]}` starts processes: call run_cli")
    out, err = io.StringIO(), io.StringIO()
    gevent_free = "locust" not in sys.modules
    # no fork server (it imports Locust in a process of its own) for a run that must stop before its controller
    env = {**(env or {}), forkstart.COLD_START_ENV: "1"}
    with _call_context(cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        original = controller.execute
        controller.execute = _no_controller  # type: ignore[assignment]
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            controller.execute = original  # type: ignore[assignment]
    assert not gevent_free or "locust" not in sys.modules, f"`loadorch {' '.join(args)}` imported Locust"
    return CliResult(int(code), out.getvalue(), err.getvalue())


class ReachedController(BaseException):
    """Not an Exception, so `main` cannot turn it into an exit code: the test fails with it."""


def _no_controller(*args: object, **kwargs: object) -> int:
    raise ReachedController("in-process `loadorch run` got past its checks to the controller: it would send load "
                         "from the test process (use run_cli for runs)")


@contextlib.contextmanager
def _call_context(cwd: Path | str | None, env: dict[str, str] | None) -> Iterator[None]:
    here, saved_env = os.getcwd(), dict(os.environ)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


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

    def cli(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        """The CLI in this process (cli_in_process): for commands on files, and runs that must stop at a
        usage or configuration error."""
        return cli_in_process(*args, cwd=self.root, env=env)

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
