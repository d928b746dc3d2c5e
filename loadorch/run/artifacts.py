"""Atomic artifact writes: a temporary file in the same folder, fsync, rename."""

from __future__ import annotations

import codecs
import json
import math
import os
import tempfile
from collections.abc import Iterable
from typing import Any

from loadorch.errors import RunError
from loadorch.report.text import well_formed


def _unencodable(exc: UnicodeError) -> tuple[bytes, int]:
    """A lone surrogate (a `\\ud83d` escape in a page's or a server's JSON) written as U+FFFD, as junit.xml does:
    an artifact is written whatever text it holds, never lost to a UnicodeEncodeError. (The artifacts are UTF-8,
    whose encoder takes a replacement that is not ASCII as bytes only.)"""
    if isinstance(exc, UnicodeEncodeError):
        return "\ufffd".encode() * (exc.end - exc.start), exc.end
    raise exc


UNENCODABLE = "loadorch.unencodable"
codecs.register_error(UNENCODABLE, _unencodable)


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
        with os.fdopen(fd, "w", encoding="utf-8", errors=UNENCODABLE) as fh:
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
    of the size of fully indented JSON. Linear in the document, with the C encoder for every value and
    one-line list (a new encoder per value, as `json.dumps(value, allow_nan=False)` makes, was most of
    the time at 10,000 request names)."""
    parts: list[str] = []
    _dump(doc, "", parts)
    return "".join(parts)


_ONE_LINE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # a list on one line
_VALUE = json.JSONEncoder(allow_nan=False).encode  # any other plain value (and an empty map)
_KEY = json.JSONEncoder().encode
_NESTED = (dict, list, tuple)
_LIST = (list, tuple)
_ASCII = json.encoder.encode_basestring_ascii


def _text(text: str) -> str:
    """A string as JSON, a lone surrogate as U+FFFD: `\\ud83d` alone is an escape strict parsers refuse."""
    return _ASCII(well_formed(text))


_INFINITE = (math.inf, -math.inf)
# the C encoder behind _ONE_LINE made once, not once per list (a one-line list is two levels deep at most: no
# circle to check); json's own encoder where the C one is missing
_make: Any = getattr(json.encoder, "c_make_encoder", None)
_c_line = None if _make is None else _make(None, json.JSONEncoder().default, _text, None, ":", ",", False, False, False)


def _line(items: list[Any] | tuple[Any, ...]) -> str:
    """A one-line list, as _ONE_LINE writes it."""
    if _c_line is None:
        return _ONE_LINE(_well_formed(items))
    return "".join(_c_line(items, 0))


def _well_formed(items: Any) -> Any:
    """Plain values, or lists of them, with their strings well_formed (json's own encoder, where the C one is
    missing, cannot be given _text)."""
    if isinstance(items, str):
        return well_formed(items)
    return [_well_formed(v) for v in items] if isinstance(items, _LIST) else items


def _value(v: Any) -> str:
    """A plain value, as _VALUE writes it (the common types without making an encoder)."""
    kind = type(v)
    if kind is str:
        return _text(v)
    if kind is int:
        return int.__repr__(v)
    if kind is float and v == v and v not in _INFINITE:
        return float.__repr__(v)
    return _VALUE(v)


def _one_line(items: list[Any] | tuple[Any, ...]) -> bool:
    """Plain values, or lists of plain values only."""
    for v in items:
        if isinstance(v, _NESTED):
            if isinstance(v, dict):
                return False
            for x in v:
                if isinstance(x, _NESTED):
                    return False
    return True


def _dump(value: Any, indent: str, out: list[str]) -> None:
    if isinstance(value, dict) and value:
        inner = indent + "  "
        append = out.append
        append("{")
        sep = "\n"
        for k, v in value.items():
            key = _text(k if isinstance(k, str) else _KEY(k))  # as json.dumps writes keys
            append(sep + inner + key + ": ")
            sep = ",\n"
            if isinstance(v, _NESTED):
                _dump(v, inner, out)
            else:
                append(_value(v))
        append("\n" + indent + "}")
    elif isinstance(value, _LIST):
        if not value or _one_line(value):
            out.append(_line(value))
            return
        inner = indent + "  "
        out.append("[")
        sep = "\n"
        for v in value:
            out.append(sep + inner)
            sep = ",\n"
            _dump(v, inner, out)
        out.append("\n" + indent + "]")
    else:
        out.append(_value(value))
