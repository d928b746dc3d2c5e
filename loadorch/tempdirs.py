"""Temporary folders that say whose they are, so that one a killed process left behind is removed later.

A run's scratch folder (plan.json with the run's token, the processes' logs) and the embedded shop's database
are removed when their process ends as it should; a process killed with SIGKILL (the OOM killer, `kill -9`, a
CI job's timeout) cannot. Each folder holds an `owner` file: the pid, its start time (a reused pid has another),
its pid namespace and the machine's boot id. The next one made with the same prefix first removes those of the
same user whose owner is gone, in this pid namespace of this machine's boot only (another container's or
machine's processes cannot be seen from here, so their folders are left alone; nor can they where /proc is
another namespace's: then nothing is removed), and those without
an owner file (made before the file existed) in which nothing changed for a day."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import time

OWNER = "owner"
UNOWNED_AGE_S = 86_400.0
MAX_SWEPT = 64  # a sweep's bound: a folder of thousands of leftovers is cleared over the next runs, not at once
# owner files a sweep reads when more folders match (the newest half, a random sample of the others): those it
# may not remove (another pid namespace's, a live owner's) pile up, and reading 5,900 took 0.3 s a folder made
MAX_EXAMINED = 256
_SAMPLER = random.Random()  # its own: a sweep never moves the global generator a process may have seeded


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
    return fields[19].decode() if len(fields) > 19 else None


def _where() -> str:
    """Where this process's pids mean something: its pid namespace and the machine's boot, `pid:[N]@BOOT_ID`.
    Every machine's first pid namespace has the same number: in a temporary folder machines share (TMPDIR on
    NFS) a pid nobody runs here may be a live owner's on another machine (or one of this machine before a
    reboot); the boot id tells them apart. "" where /proc cannot tell whose a pid is: none, or one mounted for
    another namespace (`unshare --pid` without --mount-proc), whose /proc/PID is not our PID."""
    try:
        if os.readlink("/proc/self") != str(os.getpid()):
            return ""
        namespace = os.readlink("/proc/self/ns/pid")
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f"{namespace}@{boot}" if namespace and boot and " " not in boot else ""


def owner_line(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid} {_start_time(pid) or '-'} {_where() or '-'}\n"


def make(prefix: str) -> str:
    """A new folder (mode 0700) in the system's temporary folder, its owner noted, after a sweep of `prefix`."""
    sweep(prefix)
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o700)
    with open(os.path.join(path, OWNER), "w", encoding="ascii") as fh:
        fh.write(owner_line())
    return path


def _stale(path: str, now: float, where: str) -> bool:
    try:
        with open(os.path.join(path, OWNER), encoding="ascii") as fh:
            parts = fh.read(200).split()
    except FileNotFoundError:
        return _unowned_stale(path, now)
    except (OSError, UnicodeDecodeError):
        return False
    if len(parts) != 3 or not parts[0].isdigit() or not where or parts[2] != where:
        return False  # another pid namespace (a container sharing /tmp), machine or boot, or unknown: left alone
    started = _start_time(int(parts[0]))
    return started is None or (parts[1] != "-" and started != parts[1])


def _unowned_stale(path: str, now: float) -> bool:
    """A folder made before owner files: stale when neither it nor an entry in it changed for UNOWNED_AGE_S (an
    older loadorch's shop or run still going writes its database or logs; the folder's own time is its last
    entry made)."""
    try:
        if now - os.stat(path).st_mtime <= UNOWNED_AGE_S:
            return False
        with os.scandir(path) as entries:
            return all(now - e.stat(follow_symlinks=False).st_mtime > UNOWNED_AGE_S for e in entries)
    except OSError:
        return False


def _candidates(prefix: str, root: str) -> list[str]:
    """The folders `prefix*` in `root` of this user. When there are more than MAX_EXAMINED: the newest half of
    that (a run killed a moment ago is among them) and a random sample of the others for the rest."""
    found: list[tuple[float, str]] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if uid is None or st.st_uid == uid:
                found.append((st.st_mtime, entry.path))
    if len(found) <= MAX_EXAMINED:
        return [path for _, path in found]
    found.sort(reverse=True)
    newest, older = found[: MAX_EXAMINED // 2], found[MAX_EXAMINED // 2 :]
    return [path for _, path in newest + _SAMPLER.sample(older, MAX_EXAMINED - len(newest))]


def sweep(prefix: str, root: str | None = None) -> list[str]:
    """Remove the folders `prefix*` of this user whose owner is gone; returns those removed (at most MAX_SWEPT)."""
    removed: list[str] = []
    now = time.time()
    where = _where()
    for path in _candidates(prefix, root or tempfile.gettempdir()):
        if len(removed) >= MAX_SWEPT:
            break
        if _stale(path, now, where):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
