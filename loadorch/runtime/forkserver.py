"""`python -m loadorch.runtime forkserver`: imports Locust, gevent and the runtime once, then forks the master
and the workers of one run on the controller's request (copy-on-write imports instead of one cold start each).

The controller (loadorch/run/forkstart.py) writes one JSON line per process on our stdin: its name, its argv
(`python -m loadorch.runtime ROLE ...`), its environment, its log file, and whether its stdout is the pipe
the controller passed us (`--master-fd`: the master's events) or /dev/null. We answer on our stdout, one JSON line
each: `{"forked": name, "pid": N}` (or `{"refused": name, "why": ...}`: the controller then starts that one
cold), and `{"exited": name, "code": C}` once we have reaped it (negative: the signal that ended it, as
`subprocess.Popen.returncode`). We ignore SIGTERM and SIGINT, reap until every child has ended and our stdin
is closed, then exit; a controller that dies makes us exit (watch_parent), and our children then exit too
(theirs is us).

Forking happens before any gevent hub, greenlet, thread or zmq context exists here (imports create none):
each child is a fresh process from the runtime's point of view. Each child starts its own session (signals
to its process group reach it alone, as with a cold start), gets its environment, its standard streams, its
own random state (the random module reseeds after fork; the worker seeds its streams from the plan), and the
name `loadorch-master` / `loadorch-wN` (ps, /proc/PID/comm): /proc/PID/environ still shows ours.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from loadorch.runtime.common import forget_parent_watch
from loadorch.starttrace import mark

_PR_SET_NAME = 15


def serve(master_fd: int | None) -> int:
    """Warm the imports, then fork on request until the controller closes our stdin and every child ended."""
    cmd_fd, reply_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a stray print must not corrupt the replies
    os.close(null)
    _warm()
    mark("fork server imported")
    orig = _originals()
    orig.signal(signal.SIGTERM, signal.SIG_IGN)
    orig.signal(signal.SIGINT, signal.SIG_IGN)
    master_fd = master_fd if master_fd is not None and _is_open(master_fd) else None
    children: dict[int, str] = {}
    pending = b""
    open_ = True
    while open_ or children:
        ready = orig.select([cmd_fd] if open_ else [], [], [], 0.05)[0]
        if ready:
            chunk = os.read(cmd_fd, 65536)
            open_ = bool(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    master_fd = _spawn(json.loads(line), orig, children, reply_fd, cmd_fd, master_fd)
        _reap(orig.waitpid, children, reply_fd)
    return 0


def _warm() -> None:
    """What the master and the workers import, imported once here (each child then imports only the rest)."""
    gc.disable()  # imports make objects by the hundred thousand and no garbage: collections while they run
    try:  # found nothing and took about 5 % of their CPU (benchmarks/README.md, start-up)
        from loadorch.runtime.locust_import import import_locust

        import_locust()
        import loadorch.runtime.master

        mark("fork server imported the master")
        import loadorch.runtime.worker  # noqa: F401
    finally:
        gc.collect()
        gc.freeze()  # the imported modules: never traversed by a child's collections, never copied by them
        gc.enable()  # (the children collect as any process does)


class Originals(NamedTuple):
    """The interpreter's own fork, waitpid, select, signal and close (see `_originals`)."""

    fork: Callable[[], int]
    close: Callable[[int], None]
    waitpid: Callable[[int, int], tuple[int, int]]
    select: Callable[..., tuple[list[Any], list[Any], list[Any]]]
    signal: Callable[..., Any]


def _originals() -> Originals:
    """fork, waitpid, select, signal and close as the interpreter has them, not gevent's (Locust patched this
    process): gevent's fork would make a hub here and reap our children itself, and gevent's close (25.8.1+)
    of a pipe only asks the hub's loop to close it when the loop next runs, which here is never: the master's
    event pipe stayed open in this process and in every worker forked after the master, so the master's death
    was no end of file to the controller (it noticed 30 s + the connect timeout later, as a silent master)."""
    import select

    from gevent import monkey

    def original(module: str, name: str) -> Any:
        return monkey.get_original(module, name) if monkey.is_module_patched(module) else getattr(
            __import__(module), name
        )

    return Originals(
        fork=original("os", "fork"),
        close=original("os", "close"),
        waitpid=original("os", "waitpid"),
        select=original("select", "select") if monkey.is_module_patched("select") else select.select,
        signal=original("signal", "signal") if monkey.is_module_patched("signal") else signal.signal,
    )


def _spawn(  # req: the controller's request, a JSON line decoded (the pipe between two processes)
    req: dict[str, Any], orig: Originals, children: dict[int, str], reply_fd: int, cmd_fd: int,
    master_fd: int | None,
) -> int | None:
    """Fork one child for `req`; returns the master pipe's fd while it is still ours to hand out."""
    name = str(req["name"])
    argv = [str(a) for a in req["argv"]]
    wants_pipe = bool(req.get("stdout_pipe"))
    if argv[1:3] != ["-m", "loadorch.runtime"] or argv[3:4] not in (["master"], ["worker"]):
        _reply(reply_fd, {"refused": name, "why": "not a runtime process"})
        return master_fd
    if wants_pipe and master_fd is None:
        _reply(reply_fd, {"refused": name, "why": "no pipe for its stdout"})
        return master_fd
    try:
        log = os.open(str(req["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        _reply(reply_fd, {"refused": name, "why": f"its log: {exc}"})
        return master_fd
    sys.stdout.flush()
    sys.stderr.flush()
    pid = orig.fork()
    if pid == 0:  # the child: never returns
        _child(argv, dict(req["env"]), log, master_fd if wants_pipe else None, [cmd_fd, reply_fd, master_fd], orig)
    orig.close(log)
    children[pid] = name
    _reply(reply_fd, {"forked": name, "pid": pid})
    if wants_pipe and master_fd is not None:
        orig.close(master_fd)  # the master holds it now: its exit ends the controller's reading
        return None
    return master_fd


def _child(
    argv: list[str], env: dict[str, str], log: int, stdout: int | None, ours: list[int | None], orig: Originals
) -> None:
    code = 70
    try:
        mark("forked")
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT):
            orig.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(stdout if stdout is not None else null, 1)
        os.dup2(log, 2)
        for fd in {null, log, *ours}:
            if fd is not None and fd > 2:
                orig.close(fd)
        env["LOADORCH_PARENT_PID"] = str(os.getppid())  # watch_parent: we are this process's parent
        os.environ.clear()
        os.environ.update(env)
        forget_parent_watch()
        sys.argv = argv[2:]
        _set_name(argv)
        from loadorch.runtime.entry import main

        code = main(argv[3:])
    except SystemExit as exc:  # as the interpreter ends on it: None is 0, a message is printed and 1
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int) and exc.code is not None:
            sys.stderr.write(f"{exc.code}\n")
    except BaseException:  # the child must never return into the fork server's loop
        import traceback

        traceback.print_exc()
        code = 1  # as the interpreter ends on an uncaught exception (a cold start's code)
    from loadorch.fastexit import exit_now

    exit_now(code)


def _set_name(argv: list[str]) -> None:
    """`loadorch-master`, `loadorch-w3`: what ps and /proc/PID/comm show for a forked process."""
    role = argv[3]
    index = os.environ.get("LOADORCH_WORKER_INDEX", "")
    name = "loadorch-master" if role == "master" else f"loadorch-w{index}"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # a name for people, not needed by anything


def _reap(waitpid: Any, children: dict[int, str], reply_fd: int) -> None:
    while children:
        try:
            pid, status = waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        name = children.pop(pid, None)
        if name is not None:
            _reply(reply_fd, {"exited": name, "code": os.waitstatus_to_exitcode(status)})


def _reply(fd: int, doc: dict[str, Any]) -> None:  # the JSON line the controller reads: crosses the process boundary
    try:
        os.write(fd, (json.dumps(doc) + "\n").encode())
    except OSError:
        pass  # the controller is gone: watch_parent ends us


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
