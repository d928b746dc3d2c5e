"""Starting the master and the workers warm: one `python -m loadorch.runtime forkserver` imports Locust, gevent
and the runtime while the controller checks the target, then forks each process of the run on request (its
side: loadorch/runtime/forkserver.py). `LOADORCH_COLD_START=1` (and any platform without fork) starts each
process cold, one `python -m loadorch.runtime` each, as before; so does a process the fork server refuses or
cannot start (it died): that one is started cold, never lost.

A forked process is not our child: the fork server reaps it and tells us its exit code. `ForkedProcess` is
the part of `subprocess.Popen` that ProcessGroup uses (pid, poll, wait, send_signal, stdout); each forked
process leads its own session, so ProcessGroup signals its group as it does a cold one's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from loadorch.pids import alive
from loadorch.starttrace import mark

COLD_START_ENV = "LOADORCH_COLD_START"
SPAWN_WAIT_S = 300.0  # the fork server answers once it has imported; a busy machine can make that slow
ENDED_WITH_SERVER = 70  # the exit code of a forked process that ended with its fork server (watch_parent's)
LOG_KEEP_BYTES = 64 * 1024  # the end of the fork server's own log that a run keeps when the server failed


def wanted(env: Mapping[str, str]) -> bool:
    """Fork-started unless LOADORCH_COLD_START is set (to anything but 0) or the platform cannot fork safely."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and env.get(COLD_START_ENV, "0") in ("", "0")


def early(env: Mapping[str, str], external_workers: bool) -> ForkServer | None:
    """The fork server of a `loadorch run` whose arguments were accepted, importing the runtime now, before
    the configuration is read (the caller kills it if the configuration is refused: it has then forked
    nothing and written nothing); None where the processes start cold (LOADORCH_COLD_START, workers elsewhere:
    one process per pod)."""
    if external_workers or not wanted(env):
        return None
    return start(env)


def start(env: Mapping[str, str]) -> ForkServer | None:
    """A fork server importing the runtime now, or None where one cannot start (the processes start cold)."""
    try:
        return ForkServer(runtime_env(env))
    except OSError:
        return None


class ForkedProcess:
    """A process the fork server started: the part of `subprocess.Popen` that ProcessGroup uses."""

    def __init__(self, pid: int, stdout: IO[bytes] | None, server: ForkServer) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._server = server
        self._ended = threading.Event()

    def poll(self) -> int | None:
        if self.returncode is None and self._server.gone.is_set() and not alive(self.pid):
            self._exited(ENDED_WITH_SERVER)  # the server died first, so nobody reaped it for us
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            self._ended.wait(left)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def _exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()


def whole_lines(tail: bytes, cut: bool) -> str:
    """The end of a log as text, from its first whole line when `cut` (the log began before `tail`): the caller masks
    the run's secrets in it, and a secret cut in two at the start would leave its end unmasked (no mask matches a
    part). A tail that is all one line's end is not kept."""
    if cut:
        start = tail.find(b"\n")
        if start < 0:
            return f"(the log's last {len(tail)} bytes are the end of one line: not kept)\n"
        tail = tail[start + 1 :]
    return tail.decode("utf-8", errors="replace")


class ForkServer:
    """The controller's end of one run's fork server."""

    def __init__(self, env: Mapping[str, str]) -> None:
        read, write = os.pipe()  # the master's stdout: its events, read by ProcessGroup as a cold master's
        self._master_read: int | None = read
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - its own errors (an import failing): kept in the run
        # folder when it failed (failure, log_tail), and each process it could not start is started cold
        self.failure: str | None = None  # why it failed, once it has: its processes were started cold
        self._kept = ""  # the end of its log, read as it closed when it had failed
        self._killed = False
        self._unanswered = False  # a request went unanswered: the server hangs (or is stopped); not asked again
        self.gone = threading.Event()
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Any]] = {}  # the fork server's JSON lines, decoded: a process boundary
        self._answered = threading.Condition(self._lock)
        self._forked: dict[str, ForkedProcess] = {}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "loadorch.runtime", "forkserver", "--master-fd", str(write)],
                env={**env, "LOADORCH_PARENT_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                pass_fds=(write,),
                start_new_session=True,
            )
        finally:
            os.close(write)
        threading.Thread(target=self._read, daemon=True, name="loadorch-forkserver").start()
        mark("fork server started")

    def spawn(self, name: str, argv: tuple[str, ...], env: Mapping[str, str], log_path: str,
              master: bool, should_stop: Callable[[], bool] = lambda: False) -> ForkedProcess | None:
        """The process forked as asked, or None (refused, the server gone or not answering, or `should_stop()`
        while waiting for its answer): start it cold then."""
        if self.gone.is_set() or self.proc.stdin is None or self._unanswered:
            self._cold(name, self._ended())
            return None
        if master and self._master_read is None:
            return None  # a second master: not ours to fork
        req = {"name": name, "argv": list(argv), "env": dict(env), "log": log_path, "stdout_pipe": master}
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self._cold(name, self._ended())
            return None
        answer = self._answer(name, should_stop)
        if answer is None and not self.gone.is_set():
            self._unanswered = True
        if answer is None or "pid" not in answer:
            why = self._ended() if answer is None or "why" not in answer else f"it refused: {answer['why']}"
            self._cold(name, why)
            return None
        stdout = None
        if master and self._master_read is not None:
            stdout = os.fdopen(self._master_read, "rb")
            self._master_read = None
        proc = ForkedProcess(int(answer["pid"]), stdout, self)
        mark(f"{name} forked")
        with self._lock:
            self._forked[name] = proc
            if "code" in self._answers.get(name, {}):  # it ended before we made its record
                proc._exited(int(self._answers[name]["code"]))
        return proc

    def _cold(self, name: str, why: str) -> None:
        """`name` is started cold: the first such reason is the fork server's failure (its log is kept)."""
        if self.failure is None:
            self.failure = f"the fork server did not fork {name} ({why}): started cold"

    def _ended(self) -> str:
        if self._unanswered and not self.gone.is_set():
            return "it did not answer"
        try:
            return f"it exited with code {self.proc.wait(timeout=2)}"
        except subprocess.TimeoutExpired:
            return "it stopped answering" if self.gone.is_set() else f"no answer within {SPAWN_WAIT_S:g}s"

    def log_tail(self) -> str:
        """The last LOG_KEEP_BYTES of the fork server's own log (its stderr: an import that failed, a traceback)."""
        if self._log.closed:
            return self._kept
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - LOG_KEEP_BYTES))
        return whole_lines(self._log.read(LOG_KEEP_BYTES), size > LOG_KEEP_BYTES)

    def _answer(self, name: str, should_stop: Callable[[], bool]) -> dict[str, Any] | None:
        """The fork server's JSON answer (another process); None if it is gone, late, or the run is stopping."""
        deadline = time.monotonic() + SPAWN_WAIT_S
        with self._answered:
            while name not in self._answers and not self.gone.is_set() and not should_stop():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._answered.wait(min(0.2, left))  # short waits: the controller's signal handlers run
            return self._answers.get(name)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            with self._answered:
                if "forked" in msg:
                    self._answers[str(msg["forked"])] = {"pid": msg["pid"]}
                elif "refused" in msg:
                    self._answers[str(msg["refused"])] = {"why": msg.get("why", "")}
                elif "exited" in msg:
                    name = str(msg["exited"])
                    self._answers.setdefault(name, {})["code"] = msg["code"]
                    if name in self._forked:
                        self._forked[name]._exited(int(msg["code"]))
                self._answered.notify_all()
        with self._answered:
            self.gone.set()
            self._answered.notify_all()

    def close(self, grace_s: float = 3.0) -> None:
        """No more processes; the server exits once its children have (ProcessGroup ended them first)."""
        if self._master_read is not None:
            os.close(self._master_read)
            self._master_read = None
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self._killed = True
            _kill_group(self.proc.pid)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        code = self.proc.returncode
        if self.failure is None and code not in (0, None) and not self._killed:
            self.failure = f"the fork server exited with code {code}"
        if not self._log.closed:
            self._kept = self.log_tail() if self.failure is not None else ""
            self._log.close()

    def kill(self) -> None:
        """The run ended before any process was asked for: stop the imports now."""
        self._killed = True
        if self.proc.poll() is None:  # not reaped yet: its pid is still its own (never a recycled one's group)
            _kill_group(self.proc.pid)
        self.close()


def runtime_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of the master and the workers (each worker's index is its own, set by its spec)."""
    return {k: v for k, v in env.items() if not k.startswith("LOADORCH_WORKER")}


def _kill_group(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

