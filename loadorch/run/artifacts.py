"""Atomic artifact writes: a temporary file in the same folder, fsync, rename."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from loadorch.errors import RunError


def write_text(path: str, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never a part."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RunError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_json(path: str, doc: Any) -> None:
    write_text(path, json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n")
