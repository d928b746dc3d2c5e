"""Temporary folders that say whose they are: a killed process's folder is removed by the next one made, a live
process's, another pid namespace's and another prefix's are not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadorch import tempdirs

pytestmark = pytest.mark.skipif(not Path("/proc/self/ns/pid").exists(), reason="reads /proc (Linux)")


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempdirs.tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _folder(root: Path, name: str, owner: str | None, age_s: float = 0.0) -> Path:
    path = root / name
    path.mkdir()
    (path / "plan.json").write_text("{}")
    if owner is not None:
        (path / tempdirs.OWNER).write_text(owner)
    if age_s:  # made, and last written, that long ago
        then = time.time() - age_s
        for made in (*path.iterdir(), path):
            os.utime(made, (then, then))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_runs_folder_goes_and_a_live_ones_stays(tmp_root: Path) -> None:
    dead = _folder(tmp_root, "loadorch-run-dead", tempdirs.owner_line(_dead_pid()))
    alive = _folder(tmp_root, "loadorch-run-alive", tempdirs.owner_line())
    # the same pid, started at another time: the pid was reused, the owner is gone
    reused = _folder(tmp_root, "loadorch-run-reused", f"{os.getpid()} 1 {tempdirs._where()}\n")
    elsewhere = _folder(tmp_root, "loadorch-run-ns", f"{_dead_pid()} 5 pid:[1]\n")  # another pid namespace
    other = _folder(tmp_root, "loadorch-other-dead", tempdirs.owner_line(_dead_pid()))
    made = Path(tempdirs.make("loadorch-run-"))
    assert not dead.exists() and not reused.exists()
    assert alive.is_dir() and elsewhere.is_dir() and other.is_dir()
    assert made.parent == tmp_root and oct(made.stat().st_mode & 0o777) == "0o700"
    assert (made / tempdirs.OWNER).read_text() == tempdirs.owner_line()


def test_a_folder_without_an_owner_goes_only_after_a_day(tmp_root: Path) -> None:
    young = _folder(tmp_root, "loadorch-shop-young", None, age_s=3600)
    old = _folder(tmp_root, "loadorch-shop-old", None, age_s=2 * tempdirs.UNOWNED_AGE_S)
    garbled = _folder(tmp_root, "loadorch-shop-garbled", "not an owner line")
    assert tempdirs.sweep("loadorch-shop-") == [str(old)]
    assert young.is_dir() and garbled.is_dir()


def test_a_sweep_is_bounded(tmp_root: Path) -> None:
    pid = _dead_pid()
    for i in range(tempdirs.MAX_SWEPT + 5):
        _folder(tmp_root, f"loadorch-run-{i:03d}", tempdirs.owner_line(pid))
    assert len(tempdirs.sweep("loadorch-run-")) == tempdirs.MAX_SWEPT
    assert len(tempdirs.sweep("loadorch-run-")) == 5
    assert list(tmp_root.iterdir()) == []


def _free_pid() -> int:
    """A pid no process of this /proc has (at most pid_max, so a new pid namespace can hand it out)."""
    with open("/proc/sys/kernel/pid_max", encoding="ascii") as fh:
        top = min(int(fh.read()), 30_000)
    return next(p for p in range(top - 1, 300, -1) if not os.path.exists(f"/proc/{p}"))


def test_where_proc_shows_another_pid_namespace_a_live_owners_folder_stays(tmp_path: Path) -> None:
    """`unshare --pid --fork` without --mount-proc (a sandbox that forgot to mount /proc): the processes' pids
    are their namespace's while /proc shows the parent's, where the owner's pid is nobody's. Its folder must not
    be taken for a dead owner's while the owner runs."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    pid = _free_pid()
    root, out = tmp_path / "tmp", tmp_path / "out"
    root.mkdir()
    owner = "import os, time; from loadorch import tempdirs; print(tempdirs.make('loadorch-run-'), os.getpid(), flush=True); time.sleep(30)"
    sweeper = "from loadorch import tempdirs; print(tempdirs.sweep('loadorch-run-'))"
    script = (
        f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid || exit 77\n"  # the owner gets `pid` in its namespace
        f'"$PY" -c "{owner}" > {out} & A=$!\n'
        f"i=0; while [ ! -s {out} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n"
        f'"$PY" -c "{sweeper}"; kill $A\n'
    )
    env = {**os.environ, "TMPDIR": str(root), "PY": sys.executable}
    done = subprocess.run(["unshare", "--pid", "--fork", "sh", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    if done.returncode == 77 or "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot make a pid namespace here: {done.stderr.strip()}")
    made, its_pid = out.read_text().split()
    assert its_pid == str(pid) and Path(made).parent == root, (its_pid, made, done)
    assert done.stdout.strip() == "[]", done  # the sweeper in the same namespace removed nothing
    assert Path(made).is_dir()


def test_a_sweep_reads_a_bounded_sample_of_owner_files(tmp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders a sweep may not remove (another pid namespace's: containers sharing /tmp, one a run) pile up: each
    folder made must not read them all (5,900 took 0.3 s here). A dead owner's among them still goes in time."""
    pid = _dead_pid()
    dead = _folder(tmp_root, "loadorch-run-dead", tempdirs.owner_line(pid), age_s=3600)  # older than the others
    for i in range(tempdirs.MAX_EXAMINED + 60):
        _folder(tmp_root, f"loadorch-run-ns{i:04d}", f"{100 + i} 5 pid:[1]\n")
    read: list[str] = []
    stale = tempdirs._stale
    monkeypatch.setattr(tempdirs, "_stale", lambda path, *rest: read.append(path) or stale(path, *rest))
    for _ in range(40):  # the older ones a random sample (128 of 189): missed 40 times in a row, once in 10^19
        read.clear()
        tempdirs.sweep("loadorch-run-")
        assert len(read) == tempdirs.MAX_EXAMINED
        if not dead.exists():
            break
    assert not dead.exists()
    assert len(list(tmp_root.iterdir())) == tempdirs.MAX_EXAMINED + 60


def test_a_run_killed_a_moment_ago_goes_at_the_next_sweep_however_many_pile_up(tmp_root: Path) -> None:
    """The newest folders are always read (a sample of 256 of 600 would miss it more often than not)."""
    for i in range(600):  # another pid namespace's (an owner file only)
        (tmp_root / f"loadorch-run-ns{i:04d}").mkdir()
        (tmp_root / f"loadorch-run-ns{i:04d}" / tempdirs.OWNER).write_text(f"{100 + i} 5 pid:[1]\n")
    pid = _dead_pid()
    for i in range(4):
        killed = _folder(tmp_root, f"loadorch-run-killed{i}", tempdirs.owner_line(pid))
        assert tempdirs.sweep("loadorch-run-") == [str(killed)]


def test_a_folder_without_an_owner_file_still_written_to_stays(tmp_root: Path) -> None:
    """A folder made before owner files (an older loadorch's run or shop, going for more than a day): its own
    age is its creation's, a file written in it says it is in use."""
    busy = _folder(tmp_root, "loadorch-shop-busy", None)
    (busy / "shop.db-wal").write_text("written just now")
    then = time.time() - 2 * tempdirs.UNOWNED_AGE_S
    os.utime(busy, (then, then))  # its entries made two days ago
    os.utime(busy / "plan.json", (then, then))
    assert tempdirs.sweep("loadorch-shop-") == []
    assert busy.is_dir()


def test_a_folder_another_machine_made_stays(tmp_path: Path) -> None:
    """A temporary folder machines share (TMPDIR on NFS, a cluster's shared scratch): every machine's first pid
    namespace has the same number, so a pid nobody runs here may be a live owner's there. Its boot id (another
    machine's, or this one's before a reboot) says so: the folder is left alone."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    other = tmp_path / "boot_id"
    other.write_text("00000000-1111-2222-3333-444444444444\n")
    root = tmp_path / "tmp"
    root.mkdir()
    script = (  # "another machine": this one, its boot id replaced in a mount namespace of its own
        f"mount --bind {other} /proc/sys/kernel/random/boot_id || exit 77\n"
        "\"$PY\" -c \"from loadorch import tempdirs; print(tempdirs.make('loadorch-run-'))\"\n"
    )
    env = {**os.environ, "TMPDIR": str(root), "PY": sys.executable}
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)
    if done.returncode == 77 or "not permitted" in done.stderr:
        pytest.skip(f"cannot make a mount namespace here: {done.stderr.strip()}")
    made = Path(done.stdout.strip())
    assert done.returncode == 0 and made.parent == root, done
    assert tempdirs.sweep("loadorch-run-", str(root)) == []  # its pid is nobody's here, its machine another
    assert made.is_dir()


def test_a_sweep_leaves_the_global_random_generator_alone(tmp_root: Path) -> None:
    """Past MAX_EXAMINED folders a sweep samples them with a generator of its own: one a process seeded (a
    Python user's random.seed) draws the same after a sweep as without it."""
    import random

    for i in range(tempdirs.MAX_EXAMINED + 10):
        _folder(tmp_root, f"loadorch-run-ns{i:04d}", f"{100 + i} 5 pid:[1]\n")  # another namespace's: kept
    random.seed(7)
    expected = [random.random() for _ in range(3)]
    random.seed(7)
    assert tempdirs.sweep("loadorch-run-") == []
    assert [random.random() for _ in range(3)] == expected
