"""The run folder (`--out`): one folder holds one run.

A non-empty folder that is not a loadorch run folder is refused (it may be anything: a profiles/ folder,
a home directory); a previous run folder is replaced whole: it is renamed aside in one step, the new run
writes a fresh folder, and the old one is deleted once the new run has written its artifacts (or put
back if the new run wrote nothing), so no file of the old run can sit beside the new results.json.
A run killed with SIGKILL cannot do either: the next run to the same folder finds the hidden folder it
left (`.NAME.previous-PID`, PID no longer running) and restores or removes it (`recover_earlier`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator

from loadorch.errors import UsageError
from loadorch.pids import alive

RESULTS_SCHEMA = "loadorch.results/v1"  # results.SCHEMA (a unit test holds them equal), without importing its models:
# `loadorch run` checks its folder before its fork server starts, and they took 0.3-0.5 s there


def is_run_folder(path: str) -> bool:
    """A folder a loadorch run wrote: its results.json says so."""
    try:
        with open(os.path.join(path, "results.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == RESULTS_SCHEMA


def check_out_dir(out: str, project: str) -> bool:
    """Refuse a folder that cannot hold this run (exit 2); True when it holds an earlier run."""
    real = os.path.realpath(out)
    for folder in ("profiles", "scenarios"):
        inside = os.path.realpath(os.path.join(project, folder))
        if real == inside or real.startswith(inside + os.sep):
            raise UsageError(
                f"--out {out!r} is inside the project's {folder}/ folder: run folders there would be read as "
                f"{folder}; use results/ (the default) or another folder"
            )
    if not os.path.exists(out):
        return False
    if not os.path.isdir(out):
        raise UsageError(f"--out {out!r} is a file; give a folder for the run's artifacts")
    names = sorted(os.listdir(out))
    if not names:
        return False
    if is_run_folder(out) or not _foreign(out):  # a whole run, or what a stopped or killed run wrote of one
        return True
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    raise UsageError(
        f"--out {out!r} is not empty and is not a loadorch run folder (it holds {shown}): a run folder holds "
        "one run; give a new or empty folder"
    )


@contextlib.contextmanager
def replacing(out: str) -> Iterator[None]:
    """Move an earlier run's folder aside for the length of the new run (see the module docstring)."""
    parent, name = os.path.split(os.path.abspath(out))
    aside = os.path.join(parent, f".{name}.previous-{os.getpid()}")
    os.rename(out, aside)
    try:
        yield
    finally:
        if os.path.isdir(out) and os.listdir(out):
            shutil.rmtree(aside, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.rmdir(out)
            os.rename(aside, out)


# what a run writes in its folder: a folder holding only these is a killed run's partial output
RUN_WRITES = frozenset(
    {"results.json", "junit.xml", "report.html", "summary.md", "config.yaml", "requests.jsonl", "logs"}
    | {"browser-steps.jsonl"}
    | {"status.json", "status.html"}  # `loadorch monitor`'s, from its start (a pod's container restarted on them)
    | {"compare.md", "compare.json", "compare.html", "compare-junit.xml"}  # run --baseline
)


def recover_earlier(out: str) -> list[str]:
    """Deal with the earlier run folders that runs killed mid-way (SIGKILL) left hidden beside `out`, and
    say what was done: when `out` holds a whole run (the killed run wrote its results), the hidden one is
    removed; when `out` is missing, empty or only a killed run's partial output, the hidden one is put
    back. A folder of a run still going (its process alive) is left alone."""
    parent, name = os.path.split(os.path.abspath(out))
    pattern = re.compile(rf"\.{re.escape(name)}\.previous-(\d+)\Z")
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    left = sorted(
        (os.path.getmtime(os.path.join(parent, e)), e, int(m.group(1)))
        for e in entries
        if (m := pattern.match(e)) and os.path.isdir(os.path.join(parent, e)) and not _running(int(m.group(1)))
    )
    notes = []
    for _, entry, pid in reversed(left):  # the newest first: it is the one to restore
        aside = os.path.join(parent, entry)
        if is_run_folder(out):
            shutil.rmtree(aside, ignore_errors=True)
            notes.append(f"removed {aside}: an earlier run set aside by run {pid} (killed); {out} holds a newer one")
        elif _foreign(out):
            notes.append(f"{aside} holds an earlier run set aside by run {pid} (killed); {out} holds other files")
        else:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(out)  # nothing but a killed run's partial output
            os.rename(aside, out)
            notes.append(f"restored {out} from {aside}: run {pid} was killed before it wrote its results")
    return notes


def _foreign(out: str) -> bool:
    """`out` holds something other than a run's partial output (the user's files): never removed."""
    try:
        names = os.listdir(out)
    except OSError:
        return False
    # `.results.json.XXXX.tmp`: an atomic write the kill cut short
    return any(n not in RUN_WRITES and not (n.startswith(".") and n.endswith(".tmp")) for n in names)


def _running(pid: int) -> bool:
    """Whether `pid` is a loadorch run still going (a reused pid of another program does not count)."""
    if pid == os.getpid():
        return True
    if not alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"loadorch" in fh.read()
    except OSError:
        return True  # no /proc: alive is all we know
