"""A private PostgreSQL cluster for the database tests: initdb in a temporary folder, started with
pg_ctl as a non-root user (PostgreSQL refuses root; as root the `postgres` system user runs it), on a
loopback port, with pg_stat_statements preloaded and the duration log (jsonlog) on."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.tools import postgres_bin

LOG_MIN_DURATION_MS = 100  # logs the 0.19 s statements too: the collector must leave them out of "> 200 ms"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    port: int
    bin: Path
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, role: str = "postgres", database: str = "shop", password: str | None = None) -> str:
        auth = f"{role}:{password}" if password else role
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "shop", params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (marked after its first word, so the tests can leave their own
        statements out on every PostgreSQL: 18 keeps no leading comment in pg_stat_statements)."""
        import psycopg

        with psycopg.connect(self.dsn(database=database), autocommit=True, application_name="loadorch-test") as conn:
            first, _, rest = statement.strip().partition(" ")  # PostgreSQL 18 drops a leading comment
            cur = conn.execute(f"{first} /* test */ {rest}", params)
            return list(cur.fetchall()) if cur.description else []

    def system(self, setting: str, value: str | None, want: str = "") -> None:
        """ALTER SYSTEM SET (RESET for None), reload, and wait (bounded) until new sessions show `want`
        (default: the value) as current_setting."""
        import time

        self.sql(f"ALTER SYSTEM RESET {setting}" if value is None else f"ALTER SYSTEM SET {setting} = '{value}'")
        self.sql("SELECT pg_reload_conf()")
        want = want or str(value)
        deadline = time.monotonic() + 10
        while self.sql(f"SELECT current_setting('{setting}')")[0][0] != want:
            assert time.monotonic() < deadline, f"{setting} never became {want}"
            time.sleep(0.05)

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted((self.data / "log").glob("*.json")))

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), *args], check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        self._ctl("-l", str(self.root / "server.log"), "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "-t", "30", "stop")


def start_cluster(bin_dir: Path | None = None) -> Cluster:
    """A cluster of the newest Debian PostgreSQL, or of the server in `bin_dir` (initdb, pg_ctl, postgres)."""
    bin_dir = bin_dir or postgres_bin()
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="loadorch-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL will not run as root: the postgres system user runs it
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o700)
    cluster = Cluster(root, _free_port(), bin_dir, as_user)
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync", "--no-instructions"], check=True, capture_output=True, timeout=120)
    with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as fh:
        fh.write(f"""
listen_addresses = '127.0.0.1'
port = {cluster.port}
unix_socket_directories = '{root}'
shared_preload_libraries = 'pg_stat_statements'
logging_collector = on
log_destination = 'jsonlog'
log_directory = 'log'
log_min_duration_statement = {LOG_MIN_DURATION_MS}
log_timezone = 'UTC'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
""")
    try:
        cluster.start()
        cluster.sql("CREATE DATABASE shop", database="postgres")
        cluster.sql("CREATE EXTENSION pg_stat_statements")
        cluster.sql("CREATE ROLE plain LOGIN")  # no pg_monitor: cannot match other roles' statements
        cluster.sql("CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor")  # no log-file grants
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    try:
        cluster.stop()
    except (subprocess.SubprocessError, OSError):
        pass
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
