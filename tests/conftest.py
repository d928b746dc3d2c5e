"""The suite's fixtures and hooks: the environment of every subprocess, the `alone` lock, xdist groups, the
markers of external tools (a missing tool skips its tests, tests/support/tools.py), and the fixtures every tier
uses (a temporary project, the reference target on port 0). Helpers that are not fixtures: tests/support/."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tools
from tests.support.project import REPO, SIMPLE_PROFILE, SIMPLE_SCENARIO, Project

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
    """A test marked with an external tool that is missing skips, the install command as its reason.
    For `--dist loadgroup`: the tests that share an expensive fixture of a wider scope than the test
    (a module's run, the session's PostgreSQL) go to one worker, so it is set up once; the rest spread."""
    for item in items:
        for name in tools.TOOLS:
            reason = tools.missing(name) if item.get_closest_marker(name) else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
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


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


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
