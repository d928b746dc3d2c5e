"""Atomic artifact writes: a temporary file in the same folder, fsync, rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from loadorch.errors import RunError


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    write_lines(path, (text,))


def write_lines(path: str, lines: Iterable[str]) -> None:
    """Write `lines` (streamed: memory stays bounded) to `path` atomically, as write_text."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:  # a failing line source too: no temporary file is left behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def write_json(path: str, doc: Any) -> None:
    write_text(path, dumps(doc) + "\n")


def dumps(doc: Any) -> str:
    """JSON indented by 2, except that a list of plain values, or of lists of plain values (a
    histogram's buckets, a sample), takes one line: the document stays readable and about a quarter
    of the size of fully indented JSON."""
    parts: list[str] = []
    _dump(doc, "", parts)
    return "".join(parts)


def _plain(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _dump(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        inner = indent + "  "
        out.append("{")
        for n, (k, v) in enumerate(value.items()):
            key = json.dumps(k if isinstance(k, str) else json.dumps(k))  # as json.dumps writes keys
            out.append(("," if n else "") + "\n" + inner + key + ": ")
            _dump(v, inner, out)
        out.append("\n" + indent + "}")
    elif (
        isinstance(value, (list, tuple))
        and value
        and not all(_plain(v) or (isinstance(v, (list, tuple)) and all(_plain(x) for x in v)) for v in value)
    ):
        inner = indent + "  "
        out.append("[")
        for n, v in enumerate(value):
            out.append(("," if n else "") + "\n" + inner)
            _dump(v, inner, out)
        out.append("\n" + indent + "]")
    else:
        out.append(
            json.dumps(value, separators=(",", ":") if isinstance(value, (list, tuple)) else None, allow_nan=False)
        )
