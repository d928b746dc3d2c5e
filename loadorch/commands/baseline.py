"""The baseline store (`loadorch baseline save`, `run --baseline`): a folder a CI cache or artifact can hold.

Layout: `STORE/NAME/<UTC stamp>/` holding the run's `results.json` (all compare needs), `baseline.json`
(name, profile, seed, when, from where) and, from `calibrate`, `noise.json`. An entry is written in a hidden
folder beside its place and renamed into it whole; each name keeps the newest `keep` entries of each profile
(one profile's saves never rotate another's away), and at most MAX_KEEP in all.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from loadorch.commands.report import load_results
from loadorch.errors import ConfigError, ExitCode, Problem, RunError, UsageError
from loadorch.pids import alive
from loadorch.run.artifacts import write_json
from loadorch.verdict.noise import Noise
from loadorch.verdict.partial import is_partial, partial_words

DEFAULT_STORE = os.path.join(".loadorch", "baselines")
DEFAULT_KEEP = 5
MAX_KEEP = 100
META, NOISE, SCHEMA = "baseline.json", "noise.json", "loadorch.baseline/v1"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}\Z")
_ENTRY = re.compile(r"\d{8}T\d{12}Z(-\d+)?\Z")


@dataclass(frozen=True)
class Entry:
    path: str
    profile: str
    seed: int
    saved_at: str
    noise: Noise | None


def store_dir(project: str, store: str | None) -> str:
    return store or os.path.join(project, DEFAULT_STORE)


def check_name(name: str, flag: str = "--name") -> str:
    """A baseline name (a branch name will do: `feature/x`), else a usage error with the form expected."""
    if not _NAME.match(name) or ".." in name or name.endswith("/"):
        raise UsageError(
            f"{flag} {name!r}: a baseline name is 1-100 letters, digits, '.', '_', '-' or '/' (a branch name), "
            "starting with a letter or digit, without '..'"
        )
    return name


MAX_FALLBACKS = 4  # names after the first in `--baseline NAME,FALLBACK,...`


def check_names(text: str) -> tuple[str, ...]:
    """`--baseline NAME[,FALLBACK...]`: the names to look for, in order (a branch's own, then main's)."""
    names = tuple(n.strip() for n in text.split(","))
    if len(names) > 1 + MAX_FALLBACKS:
        raise UsageError(f"--baseline {text[:200]!r}: at most {1 + MAX_FALLBACKS} names, the first that has a "
                         "baseline is used (e.g. --baseline \"$BRANCH,main\")")
    return tuple(check_name(n, "--baseline") for n in names)


def _folder(store: str, name: str) -> str:
    """A name's folder: its '/' written '__' (a branch `feature/x`), so `feature/x` and `feature__x` share one
    folder: each entry's baseline.json says whose it is (_belongs)."""
    return os.path.join(store, check_name(name).replace("/", "__"))


def _saved(entry: str) -> dict[str, str]:
    """The text fields of an entry's baseline.json (`name`, `profile`, ...), read once; {} when unreadable."""
    try:
        with open(os.path.join(entry, META), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, str)} if isinstance(doc, dict) else {}


def _belongs(entry: str, name: str, profile: str | None = None) -> bool:
    """Whether an entry (a folder of `entries`) was saved under `name` (and from `profile`, when given): its
    baseline.json names them, or does not say (unreadable: it is rotated with the name whose folder holds it, and
    with each of its profiles; `find` says it is damaged)."""
    saved = _saved(entry)
    return saved.get("name", name) == name and (profile is None or saved.get("profile", profile) == profile)


def save(run_dir: str, name: str, store: str, keep: int = DEFAULT_KEEP, noise: Noise | None = None) -> str:
    """Keep `run_dir`'s results as the newest baseline of `name`; the oldest beyond `keep` go. Returns the entry."""
    folder = _folder(store, name)  # a bad name first: exit 2
    doc = load_results(run_dir)  # a missing or corrupt results.json: exit 3 naming the file and the field
    if is_partial(doc):  # a run error, a signal, or a threshold's abort_on_fail stopped it early
        path = os.path.join(run_dir, "results.json")
        raise ConfigError([Problem(path, None, "verdict", f"{partial_words(doc, 'run')}: its numbers are partial, "
                                   "not a baseline; save a run that ran to its end")])  # fmt: skip
    tmp = _hidden(store, folder)
    try:
        _copy(os.path.join(run_dir, "results.json"), os.path.join(tmp, "results.json"), store)
        meta = {"schema": SCHEMA, "name": name, "profile": doc.run.profile, "seed": doc.run.seed,
                "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": os.path.abspath(run_dir), "verdict": doc.verdict}  # fmt: skip
        write_json(os.path.join(tmp, META), meta)
        if noise is not None:
            write_json(os.path.join(tmp, NOISE), noise.to_json())
        entry = os.path.join(folder, _new_stamp(folder))
        try:
            os.rename(tmp, entry)
        except OSError as exc:
            raise _unwritable(store, entry, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _rotate(folder, name, keep, doc.run.profile)
    return entry


def writable(store: str, name: str) -> None:
    """Refuse a store `save` could not write (exit 5, naming it and the fix), before `calibrate`'s N runs: the
    nearest folder of the name's that exists must be a folder this user can write (nothing is made here)."""
    path = os.path.abspath(_folder(store, name))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise _unwritable(store, path, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    if not os.access(path, os.W_OK | os.X_OK):
        raise _unwritable(store, path, OSError(errno.EACCES, os.strerror(errno.EACCES)))


def _hidden(store: str, folder: str) -> str:
    """A new hidden folder in `folder` (made if need be) an entry is written in before it is renamed whole."""
    try:
        os.makedirs(folder, exist_ok=True)
        return tempfile.mkdtemp(prefix=f".saving-{os.getpid()}-", dir=folder)
    except OSError as exc:
        raise _unwritable(store, folder, exc) from None


def _copy(src: str, dst: str, store: str) -> None:
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        raise _unwritable(store, dst, exc) from None


def _unwritable(store: str, path: str, exc: OSError) -> RunError:
    return RunError(f"cannot write the baseline store {store}: {path}: {exc.strerror or exc}; give a folder this "
                    "user can write (--store DIR, on `run`: --baseline-store DIR)")


def _new_stamp(folder: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    out, n = stamp, 1
    while os.path.exists(os.path.join(folder, out)):
        n += 1
        out = f"{stamp}-{n}"
    return out


def entries(folder: str, name: str | None = None, profile: str | None = None) -> list[str]:
    """The entries of one name's folder, newest first (stamps sort as time does); with `name`, only those saved
    under it (`feature/x` and `feature__x` share a folder), and with `profile` too, only those saved from it."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = [n for n in names if _ENTRY.match(n) and os.path.isdir(os.path.join(folder, n))
             and (name is None or _belongs(os.path.join(folder, n), name, profile))]  # fmt: skip
    return sorted(found, key=_order, reverse=True)


def _order(entry: str) -> tuple[str, int]:
    stamp, _, n = entry.partition("-")
    return stamp, int(n or 1)


def to_drop(names: list[str], keep: int) -> list[str]:
    """Which entries (newest first) go when a name keeps `keep` (pure)."""
    return names[max(keep, 1):]


def _rotate(folder: str, name: str, keep: int, profile: str) -> None:
    # another name's entries in the folder are not this one's to drop, nor another profile's: the `api` profile's
    # saves under `main` rotated the `browser` profile's baseline away, and `run browser --baseline main` then
    # compared with nothing; a name's entries of every profile are bounded together by MAX_KEEP
    old = set(to_drop(entries(folder, name, profile), keep)) | set(entries(folder, name)[MAX_KEEP:])
    for entry in old:
        shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)
    for name in os.listdir(folder):  # a save a kill interrupted leaves its hidden folder: gone once its process is
        m = re.match(r"\.saving-(\d+)-", name)
        if m and not alive(int(m.group(1))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def find(store: str, name: str, profile: str, seed: int) -> Entry | None:
    """The newest entry of `name` saved from `profile` with `seed`; a corrupt entry is a configuration error
    naming its file and field, and how to fix it."""
    folder = _folder(store, name)
    for entry in entries(folder):
        path = os.path.join(folder, entry)
        meta = _read_json(os.path.join(path, META), name)
        if isinstance(meta.get("name"), str) and meta["name"] != name:  # `feature__x`'s, in `feature/x`'s folder
            continue
        for field, kind in (("profile", str), ("seed", int)):
            if not isinstance(meta.get(field), kind):
                raise _corrupt(os.path.join(path, META), field, f"expected a {kind.__name__}", name)
        if meta["profile"] == profile and meta["seed"] == seed:
            load_results(path)  # a missing or corrupt results.json: exit 3 naming the file and field
            return Entry(path, profile, seed, str(meta.get("saved_at", "")), _noise(path, name))
    return None


def find_first(store: str, names: tuple[str, ...], profile: str, seed: int) -> tuple[str, Entry] | None:
    """The newest entry of the first of `names` that has one for `profile` and `seed`, with that name (a branch's
    own baseline, else main's: `--baseline feature/x,main`); None when none has."""
    for name in names:
        entry = find(store, name, profile, seed)
        if entry is not None:
            return name, entry
    return None


def read_noise(folder: str) -> Noise | None:
    """A baseline folder's measured noise (`calibrate`), None when it has none; damaged: exit 3."""
    return _noise(folder, "NAME")


def _noise(path: str, name: str) -> Noise | None:
    file = os.path.join(path, NOISE)
    if not os.path.exists(file):
        return None
    try:
        return Noise.from_json(_read_json(file, name))
    except ValueError as exc:
        field, _, what = str(exc).partition(": ")
        raise _corrupt(file, field, what, name) from None


def _read_json(path: str, name: str) -> dict[str, Any]:  # a baseline store's JSON file: checked by its reader
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise _corrupt(path, "", f"cannot read it ({exc.strerror})", name) from None
    except ValueError as exc:
        raise _corrupt(path, "", f"not JSON ({exc})", name) from None
    if not isinstance(doc, dict):
        raise _corrupt(path, "", "expected a JSON object", name)
    return doc


def _corrupt(path: str, field: str, what: str, name: str) -> ConfigError:
    fix = (f"{what}; the baseline store is damaged: remove {os.path.dirname(path)} and save the baseline "
           f"again (loadorch baseline save RUN_DIR --name {name})")  # fmt: skip
    return ConfigError([Problem(path, None, field, fix)])


def save_command(run_dir: str, name: str, store: str, keep: int) -> int:
    entry = save(run_dir, name, store, keep)
    profile = _saved(entry).get("profile")
    kept = len(entries(os.path.dirname(entry), name, profile))
    sys.stdout.write(f"saved {run_dir} as baseline {name!r}: {entry} ({kept} of profile {profile} kept of at most "
                     f"{keep})\n")
    return ExitCode.OK
