"""The suite's fixtures and hooks: the environment of every subprocess, the `alone` lock, xdist groups, the
markers of external tools (a missing tool skips its tests, tests/support/tools.py), and the fixtures every tier
uses (a temporary project, the reference target on port 0). Helpers that are not fixtures: tests/support/."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.support import quiet, tools
from tests.support.project import REPO, SIMPLE_PROFILE, SIMPLE_SCENARIO, Project

# Hypothesis's per-example deadline (200 ms by default) is a timing assertion: on a busy 2-core CI machine an
# example of the histogram's property tests took 312 ms and failed a correct test. Tests here never time.
settings.register_profile("loadorch", deadline=None)
settings.load_profile("loadorch")

# Every subprocess a test starts (the CLI, Locust masters and workers) imports loadorch from this checkout,
# whatever is installed: a second worktree or a non-editable install must not test other code.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

# Tests send load to loopback servers of their own; a proxy set for the machine (a CI runner behind one)
# would carry it elsewhere. Tests of the proxy support set these variables themselves.
for _name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.upper(), None)


_held: list[Any] = []  # the gate and room an `alone` test kept locked for the next test, alone too
# Whether this session has `alone` tests still to start, as this process knows it: true from the collection (if it
# selected one) until this process's first test. The `alone` tests take the machine first, before the others start
# theirs: at the session's start the process with the `alone` group once waited 10 s for the first test another
# process had begun (the PostgreSQL cluster's start and a run), while the third process waited too.
_alone_first: list[bool] = [False]
ALONE_FIRST_WAIT_S = 5.0  # at most: the `alone` group may not be any process's first (then this is the cost, once)


@contextlib.contextmanager
def _turn(alone: bool, next_alone: bool) -> Iterator[None]:
    """Under pytest-xdist: a test marked `alone` runs while no other test of this session runs (it waits
    for the others to finish theirs, and they wait for it); the others run side by side. A writer-preferring
    lock on two files: everyone passes the gate (an `alone` test holds it while it waits and runs), then
    takes the room shared, or exclusive when alone. An `alone` test followed on this process by another one
    (the `alone` xdist group keeps them together) keeps both locked for it: one wait for the other process's
    test, not one per test. Without xdist every test is alone anyway: no lock."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    if _held:  # the test before kept the machine for this one
        if alone:
            quiet.settle()  # what the test before left running (its processes exiting) ends first
        try:
            yield
        finally:
            if not (alone and next_alone):
                _release()
        return
    folder = os.path.join(tempfile.gettempdir(), f"loadorch-pytest-{run}")
    os.makedirs(folder, exist_ok=True)
    begun = os.path.join(folder, "alone-begun")
    if _alone_first[0] and not alone:  # this process's first test, not alone: the `alone` group goes first
        deadline = time.monotonic() + ALONE_FIRST_WAIT_S
        while not os.path.exists(begun) and time.monotonic() < deadline:
            time.sleep(0.05)
    _alone_first[0] = False
    # not `with`: the files (their locks) may outlive this call, kept for the next `alone` test
    gate = open(os.path.join(folder, "gate"), "a+")  # noqa: SIM115
    room = open(os.path.join(folder, "room"), "a+")  # noqa: SIM115
    _held.extend((gate, room))
    fcntl.flock(gate, fcntl.LOCK_EX)
    if alone:  # the gate is held: no other test starts now; the processes waiting for this may take the gate
        Path(begun).touch()
    try:
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    except BaseException:
        _release()
        raise
    if not alone:
        fcntl.flock(gate, fcntl.LOCK_UN)
    else:  # the others' tests have ended; what they left running (a run's processes exiting) ends first
        quiet.settle()
    try:
        yield
    finally:
        if not (alone and next_alone):
            _release()


def _release() -> None:
    """Unlock (closing releases a flock) the gate and the room."""
    while _held:
        _held.pop().close()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """No test module may import Locust (or anything that does, e.g. loadorch.runtime.master/worker): its
    import patches the whole test process with gevent, and pytest-xdist's worker threads then hang
    ("LoopExit: This operation would block forever"). Tests that need a Locust process start one. Also notes
    whether an `alone` test was selected (_alone_first)."""
    _alone_first[0] = any(_alone(item) for item in session.items)
    if "locust" in sys.modules:
        raise pytest.UsageError(
            "a test module imported locust, which monkey-patches the test process with gevent: import "
            "loadorch.runtime.masterstate (no Locust) or run Locust code in a child process"
        )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked with an external tool that is missing skips, the install command as its reason.
    For `--dist loadgroup`: the tests that share an expensive fixture of a wider scope than the test
    (a module's run, the session's PostgreSQL) go to one worker, so it is set up once; the rest spread.
    (xdist's hook, registered after this file on a worker, runs first unless this one is `tryfirst`: the
    groups were once ignored, and each of the two processes set up a module's runs and a PostgreSQL.)"""
    for item in items:
        for name in tools.TOOLS:
            reason = tools.missing(name) if item.get_closest_marker(name) else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
    groups = {item: _fixture_group(item) for item in items}
    # The `alone` tests (and the tests that share a fixture with one) run one after another on one process:
    # it waits once for the other process to end its test, not once per `alone` test (tens of seconds each)
    joined = {groups[item] for item in items if _alone(item) and groups[item]}
    for item in items:
        group = "alone" if _alone(item) or groups[item] in joined else groups[item]
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def _fixture_group(item: pytest.Item) -> str | None:
    """The xdist group of a test that shares an expensive fixture of a wider scope than the test (a
    module's run, the session's PostgreSQL): the session fixture's name if it uses one, else the module. A
    module whose own run uses the session's PostgreSQL joins that group too: grouped by module, it could go
    to the other process, which then started a second cluster for it."""
    info = getattr(item, "_fixtureinfo", None)
    group = None
    for name, defs in sorted(getattr(info, "name2fixturedefs", {}).items()):
        own = defs[-1]
        if own.scope == "function" or not getattr(own, "baseid", ""):
            continue  # function scope, or pytest's own (tmp_path_factory...)
        if own.scope == "session":
            return name
        group = group or item.nodeid.split("::")[0]
    return group


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Setup (module fixtures included), call and teardown of a test, alone if it is marked so."""
    with _turn(_alone(item), nextitem is not None and _alone(nextitem)):
        yield


def _alone(item: pytest.Item) -> bool:
    return item.get_closest_marker("alone") is not None


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
