"""The integration tier: every test of this folder is marked `integration`, and one that uses the session's
PostgreSQL is marked `postgres` (so it skips with the install command where PostgreSQL is missing)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .localruns import LocalRun, run_the_local_profiles
from .pgcluster import Cluster, start_cluster, stop_cluster

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before the tool skips (tests/conftest.py) and the `-m` selection read them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)
            if "postgres" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.postgres)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # pytest then runs the finalizers: the cluster is stopped, not left behind


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One private cluster for the whole session, stopped at the end (also when pytest gets SIGTERM,
    e.g. from `timeout`)."""
    pytest.importorskip("psycopg", reason="psycopg is in the test extra: pip install '.[test]'")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_cluster(cluster)


@pytest.fixture(scope="session")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LocalRun]:
    """The repository's local profile and the two init writes, run once, side by side (localruns.py); the tests
    that read them are `alone`, so the xdist group of this fixture joins theirs."""
    return run_the_local_profiles(tmp_path_factory.mktemp("local-runs"))
