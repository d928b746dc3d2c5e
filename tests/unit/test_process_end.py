"""Ending a run's processes (run/processes.py `ProcessGroup.close`, run/signals.py `StopSignals.deferred`,
run/controller.py `_end_processes`): real processes on this machine, stopped with SIGSTOP, some deaf to
SIGTERM; a second signal that comes while they are ended hurries their end and never skips it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from loadorch.run.controller import _end_processes
from loadorch.run.plan import ProcessSpec
from loadorch.run.processes import ProcessGroup
from loadorch.run.signals import HardStop, StopSignals
from tests.support.procs import running, wait_for

# a process that ignores SIGTERM and starts a child in its own process group, then waits; it says "ready"
DEAF = ("import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(sys.argv[1], 'w').write(str(child.pid))\n"
        "time.sleep(600)\n")
# a process that ends on SIGTERM after saying so in a file
HEEDS = ("import signal, sys, time\n"
         "def stop(*_):\n"
         "    open(sys.argv[1] + '.ended', 'w').write('on SIGTERM')\n"
         "    sys.exit(0)\n"
         "signal.signal(signal.SIGTERM, stop)\n"
         "open(sys.argv[1], 'w').write('ready')\n"
         "time.sleep(600)\n")


def _state(pid: int) -> bytes:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return fh.read().rsplit(b")", 1)[1].split()[0]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ProcessGroup]:
    made = ProcessGroup(str(tmp_path))
    yield made
    _kill_left(made, tmp_path)


def _kill_left(group: ProcessGroup, tmp_path: Path) -> None:
    """What a failing test left: not left to the next ones."""
    for _, proc in group.procs:
        for pid in [proc.pid, *_children_named(tmp_path)]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.wait(timeout=5)


def _children_named(tmp_path: Path) -> list[int]:
    found = []
    for ready in tmp_path.glob("ready-*"):
        text = ready.read_text()
        if text.isdigit():
            found.append(int(text))
    return found


def _start_stopped(group: ProcessGroup, tmp_path: Path, code: str, index: int) -> tuple[int, Path]:
    ready = tmp_path / f"ready-{index}"
    proc = group.start(ProcessSpec("worker", (sys.executable, "-c", code, str(ready)), index=index), dict(os.environ))
    wait_for(lambda: ready.exists() and ready.read_text(), "the process to be ready")
    os.kill(proc.pid, signal.SIGSTOP)
    wait_for(lambda: _state(proc.pid) == b"T", "the process to stop")
    return proc.pid, ready


def test_a_stopped_process_is_continued_so_it_heeds_the_sigterm(group: ProcessGroup, tmp_path: Path) -> None:
    """SIGTERM alone is held by a stopped process: it was never acted on, the process killed after the grace."""
    pid, ready = _start_stopped(group, tmp_path, HEEDS, 0)
    group.close(grace_s=60)
    assert not running(pid) and (tmp_path / (ready.name + ".ended")).read_text() == "on SIGTERM"


def test_an_interrupted_grace_still_kills_every_process_of_the_group(group: ProcessGroup, tmp_path: Path) -> None:
    """A stopped process deaf to SIGTERM and its child: the grace wait is cut short by an exception (what a
    second signal raises, HardStop); SIGKILL still ends both (before, the exception skipped it: both stayed)."""
    pid, ready = _start_stopped(group, tmp_path, DEAF, 0)
    child = int(ready.read_text())

    def interrupt(signum: int, frame: object) -> None:
        raise HardStop

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)  # inside the 60 s grace: the moment does not matter
    try:
        with pytest.raises(HardStop):
            group.close(grace_s=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not running(pid) and group.closed  # waited for by close()
    wait_for(lambda: not running(child), "its child to die of the SIGKILL sent to its group")  # not ours to wait for


def test_a_second_signal_inside_a_deferred_block_is_raised_after_it() -> None:
    finished = []
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)  # the first: a graceful stop
        assert signals.received == signal.SIGINT and not signals.hard
        with pytest.raises(HardStop), signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)  # the second: noted, not raised here
            assert signals.hard
            finished.append(True)
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)  # a third: never raised
    assert finished == [True]


class _SignalledWhileClosing(ProcessGroup):
    """The second signal comes the moment the group is being closed (the grace made long: it must be hurried)."""

    def close(self, grace_s: float = 3.0, hurry: Callable[[], bool] = lambda: False) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        super().close(grace_s=600, hurry=hurry)


def test_the_runs_end_kills_a_group_whose_close_was_cut_short_and_a_second_signal_only_hurries_it(
    tmp_path: Path,
) -> None:
    """_end_processes closes the load's group (its close in _load cut short) and keeps the second signal that
    comes meanwhile from cutting it short too: the processes are ended, and no HardStop escapes the run's end."""
    group = _SignalledWhileClosing(str(tmp_path))
    try:
        pid, ready = _start_stopped(group, tmp_path, DEAF, 0)
        child = int(ready.read_text())
        run = SimpleNamespace(group=group, lingering=None, profilers=None, forkserver=None)
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGTERM)  # the first
            _end_processes(run, signals)  # type: ignore[arg-type]
        assert signals.hard and not running(pid) and group.closed
        wait_for(lambda: not running(child), "its child to die of the SIGKILL sent to its group")
    finally:
        _kill_left(group, tmp_path)


def test_a_fork_server_that_does_not_answer_is_waited_for_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real fork server stopped (SIGSTOP) before it answers: the first process asked of it is started cold once
    its answer is late (SPAWN_WAIT_S, 1 s here); the next ones are not asked again (each waited SPAWN_WAIT_S, 300 s:
    a run with 4 workers started 25 minutes late). The 600 s wait the second request would get is bounded by the
    test's thread join: a hang becomes a failure."""
    import threading

    from loadorch.run import forkstart

    monkeypatch.setattr(forkstart, "SPAWN_WAIT_S", 1.0)
    server = forkstart.ForkServer(forkstart.runtime_env(os.environ))
    try:
        os.kill(server.proc.pid, signal.SIGSTOP)
        argv = (sys.executable, "-c", "pass")
        assert server.spawn("master", argv, {}, str(tmp_path / "master.log"), True) is None
        assert server.failure is not None and "did not fork master" in server.failure, server.failure
        monkeypatch.setattr(forkstart, "SPAWN_WAIT_S", 600.0)
        answers: list[object] = []
        asking = threading.Thread(target=lambda: answers.append(
            server.spawn("worker-0", argv, {}, str(tmp_path / "worker-0.log"), False)), daemon=True)
        asking.start()
        asking.join(timeout=30)
        assert answers == [None], "the second request waited for the server that had not answered the first"
    finally:
        server.kill()
    assert not running(server.proc.pid)
