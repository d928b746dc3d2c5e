"""The README's database worked example, run as written (ports made free) against the session's
PostgreSQL cluster: it fails as the README says (tests/test_readme.py runs the README's other examples)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.project import REPO
from tests.test_readme import README

DATABASE_EXAMPLE = "<!-- readme-test: database -->"


def _example(mark: str) -> str:
    return README.split(mark, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


def _prepare_database(postgres: Any) -> None:
    """The README's "Preparing the database" statements (the postgresql.conf lines are the cluster's own),
    as a superuser; the shop's role owns its tables, so the test makes it a superuser."""
    import psycopg

    block = README.split("**Preparing the database**", 1)[1].split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]
    assert any("log_min_duration_statement" in s for s in statements) and len(statements) >= 5, statements
    for statement in [*statements, "CREATE ROLE shop LOGIN SUPERUSER"]:
        try:
            postgres.sql(statement)
        except psycopg.errors.DuplicateObject:  # already there (the extension; a role of an earlier run)
            pass
    postgres.system("log_min_duration_statement", "200ms")


def test_the_readme_database_example_fails_as_it_promises(tmp_path: Path, postgres: Any) -> None:
    """The worked example, as written (ports made free), against the session's PostgreSQL: exit 1, exactly
    the 45 slow statements queued for the load window, and the N+1 it names."""
    for folder in ("profiles", "scenarios"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = _example(DATABASE_EXAMPLE).replace("5432", str(postgres.port)).replace("8080", str(port))
    script = re.sub(r"(^|\s)loadorch ", lambda m: f"{m.group(1)}{sys.executable} -m loadorch ", script, flags=re.M)
    _prepare_database(postgres)
    try:
        proc = subprocess.run(["bash", "-c", "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    finally:
        postgres.system("log_min_duration_statement", None, "100ms")
    out = proc.stdout
    assert proc.returncode == 1, (proc.returncode, out[-3000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert re.search(r"why: db_query_slow rate<0\.001: failed: .*\(45 of \d+ statements took longer than 200 ms", out), out
    assert re.search(r"why: db_queries_per_request\{name:list products\} max<=3: failed: max=2[12],", out), out
    assert "list products: SELECT id, name FROM categories WHERE name = $1 x20" in out, out
    runs = sorted((tmp_path / "results").glob("shop-pg-*"))
    doc = json.loads((runs[-1] / "results.json").read_text())
    db = doc["database"]["collector"]
    assert db["slow"] == 45 and db["slow_top"][0] == {"statement": "SELECT pg_sleep($1)", "count": 45,
                                                      "max_ms": db["slow_top"][0]["max_ms"]}, db
