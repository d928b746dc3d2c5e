"""Fixtures shared by the integration tests that need a real PostgreSQL."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from .pgcluster import Cluster, binaries, start_cluster, stop_cluster


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # pytest then runs the finalizers: the cluster is stopped, not left behind


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One private cluster for the whole session, stopped at the end (also when pytest gets SIGTERM,
    e.g. from `timeout`)."""
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
