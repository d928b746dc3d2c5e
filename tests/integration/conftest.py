"""Fixtures shared by the integration tests that need a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pgcluster import Cluster, binaries, start_cluster, stop_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """One private cluster for the whole session, stopped at the end."""
    if binaries() is None:
        pytest.skip("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is in the test extra: pip install '.[test]'")
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
