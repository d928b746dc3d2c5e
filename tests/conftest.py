"""Shared test helpers: temporary projects, the CLI as a subprocess, the reference target on port 0."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# Every subprocess a test starts (the CLI, Locust masters and workers) imports loadorch from this checkout,
# whatever is installed: a second worktree or a non-editable install must not test other code.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

# Tests send load to loopback servers of their own; a proxy set for the machine (a CI runner behind one)
# would carry it elsewhere. Tests of the proxy support set these variables themselves.
for _name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.upper(), None)


@contextlib.contextmanager
def _turn(alone: bool) -> Iterator[None]:
    """Under pytest-xdist: a test marked `alone` runs while no other test of this session runs (it waits
    for the others to finish theirs, and they wait for it); the others run side by side. A writer-preferring
    lock on two files: everyone passes the gate (an `alone` test holds it while it waits and runs), then
    takes the room shared, or exclusive when alone. Without xdist every test is alone anyway: no lock."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    folder = os.path.join(tempfile.gettempdir(), f"loadorch-pytest-{run}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "gate"), "a+") as gate, open(os.path.join(folder, "room"), "a+") as room:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """No test module may import Locust (or anything that does, e.g. loadorch.runtime.master/worker): its
    import patches the whole test process with gevent, and pytest-xdist's worker threads then hang
    ("LoopExit: This operation would block forever"). Tests that need a Locust process start one."""
    if "locust" in sys.modules:
        raise pytest.UsageError(
            "a test module imported locust, which monkey-patches the test process with gevent: import "
            "loadorch.runtime.masterstate (no Locust) or run Locust code in a child process"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """For `--dist loadgroup`: the tests that share an expensive fixture of a wider scope than the test
    (a module's run, the session's PostgreSQL) go to one worker, so it is set up once; the rest spread."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        for name, defs in sorted(getattr(info, "name2fixturedefs", {}).items()):
            own = defs[-1]
            if own.scope == "function" or not getattr(own, "baseid", ""):
                continue  # function scope, or pytest's own (tmp_path_factory...)
            group = name if own.scope == "session" else item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))
            break


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Setup (module fixtures included), call and teardown of a test, alone if it is marked so."""
    with _turn(item.get_closest_marker("alone") is not None):
        yield


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


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # pytest then runs the finalizers: the cluster is stopped, not left behind


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One private PostgreSQL cluster (tests/integration/pgcluster.py) for the whole session, stopped at the
    end (also when pytest gets SIGTERM, e.g. from `timeout`)."""
    from .integration.pgcluster import binaries, start_cluster, stop_cluster

    if binaries() is None:
        pytest.skip("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is in the test extra: pip install '.[test]'")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_cluster(cluster)
