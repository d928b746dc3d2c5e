"""Starting and always cleaning up the Locust processes of a run."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO

from loadorch.run.forkstart import ForkedProcess, ForkServer
from loadorch.run.plan import ProcessSpec
from loadorch.wire import MasterEvent, MasterExited, parse_event

Process = subprocess.Popen[bytes] | ForkedProcess


class ProcessGroup:
    """The master and worker processes; `close()` leaves none behind, whatever happened. With a fork server
    (loadorch/run/forkstart.py), the master and the workers are forked from it, warm; browsers start cold."""

    def __init__(self, log_dir: str, forkserver: ForkServer | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.log_dir = log_dir
        self.forkserver = forkserver
        self.should_stop = should_stop  # the run is stopping: no more waiting for the fork server's answer
        self.procs: list[tuple[ProcessSpec, Process]] = []
        self.events: queue.Queue[MasterEvent] = queue.Queue()
        self._logs: list[IO[bytes]] = []
        self.exit_codes: dict[str, int] = {}  # processes that ended on their own, by name, before close()
        self.closed = False  # close() went to its end: every process of the group was killed

    def start(self, spec: ProcessSpec, base_env: Mapping[str, str]) -> Process:
        env = {**base_env, **spec.env, "LOADORCH_PARENT_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1"}
        proc: Process | None = None
        if self.forkserver is not None and spec.role in ("master", "worker"):
            proc = self.forkserver.spawn(
                spec.name, spec.argv, env, self.log_path(spec.name), spec.role == "master", self.should_stop
            )
        if proc is None:
            err = open(self.log_path(spec.name), "wb")  # noqa: SIM115
            self._logs.append(err)
            proc = subprocess.Popen(
                list(spec.argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if spec.role == "master" else subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.procs.append((spec, proc))
        if spec.role == "master":
            assert proc.stdout is not None
            threading.Thread(
                target=self._read_events, args=(proc.stdout,), daemon=True, name="loadorch-master-events"
            ).start()
        return proc

    def _read_events(self, stream: IO[bytes]) -> None:
        for raw in stream:
            event = parse_event(raw)
            if event is not None:
                self.events.put(event)
        self.events.put(MasterExited())

    def master(self) -> Process | None:
        return next((p for s, p in self.procs if s.role == "master"), None)

    def log_path(self, name: str) -> str:
        return os.path.join(self.log_dir, f"{name}.log")

    def poll(self) -> dict[str, int]:
        """Exit codes of the processes that have ended so far (by name: master, worker-0, ...)."""
        for spec, proc in self.procs:
            code = proc.poll()
            if code is not None:
                self.exit_codes.setdefault(spec.name, code)
        return self.exit_codes

    def abnormal(self) -> dict[str, int]:
        """Processes that ended on their own with a non-zero code (crashed, killed from outside)."""
        return {name: code for name, code in self.exit_codes.items() if code != 0}

    def signal_role(self, role: str, sig: int) -> None:
        for spec, proc in self.procs:
            if spec.role == role and proc.poll() is None:
                _stop_signal(proc, sig)

    def signal_master(self, sig: int) -> None:
        proc = self.master()
        if proc is not None and proc.poll() is None:
            _stop_signal(proc, sig)

    def close(self, grace_s: float = 3.0, hurry: Callable[[], bool] = lambda: False) -> None:
        """SIGTERM every process (and SIGCONT: a stopped one heeds it), wait up to `grace_s` (less once `hurry()`
        says so), then SIGKILL what is left (whole sessions), even when the wait was interrupted."""
        if self.closed:
            return
        self.poll()
        try:
            for _, proc in self.procs:
                _signal_group(proc, signal.SIGTERM)
                _signal_group(proc, signal.SIGCONT)
            deadline = time.monotonic() + grace_s
            for _, proc in self.procs:
                while proc.poll() is None and time.monotonic() < deadline and not hurry():
                    try:  # short waits: `hurry` is asked again (a second signal), and the handlers run
                        proc.wait(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
                    except subprocess.TimeoutExpired:
                        pass
        finally:
            for _, proc in self.procs:
                _signal_group(proc, signal.SIGKILL)  # a stopped process too: SIGKILL needs no SIGCONT
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            for fh in self._logs:
                fh.close()
            self._logs = []
            if self.forkserver is not None:
                self.forkserver.close()
            self.closed = True


def _signal_group(proc: Process, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _stop_signal(proc: Process, sig: int) -> None:
    """`sig` to one process; a stop (SIGTERM, SIGINT) with SIGCONT after it: a stopped process (a debugger, a frozen
    container) does not act on it until continued, and the run waited out its silence bound, its data lost."""
    try:
        proc.send_signal(sig)
        if sig in (signal.SIGTERM, signal.SIGINT):
            proc.send_signal(signal.SIGCONT)
    except ProcessLookupError:
        pass
