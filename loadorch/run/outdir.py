"""The run folder (`--out`): one folder holds one run.

A non-empty folder that is not a loadorch run folder is refused (it may be anything: a profiles/ folder,
a home directory); a previous run folder is replaced whole: it is renamed aside in one step, the new run
writes a fresh folder, and the old one is deleted once the new run has written its artifacts (or put
back if the new run wrote nothing), so no file of the old run can sit beside the new results.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator

from loadorch.errors import UsageError
from loadorch.report.results import SCHEMA


def is_run_folder(path: str) -> bool:
    """A folder a loadorch run wrote: its results.json says so."""
    try:
        with open(os.path.join(path, "results.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == SCHEMA


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
    if is_run_folder(out):
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
