"""Safe, bounded YAML loading that remembers the line of every key and rejects duplicates."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from loadorch.errors import ConfigError, Problem
from loadorch.traffic.redact import LONE_SURROGATE

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64

Path_ = tuple[Any, ...]


@dataclass
class Document:
    """A parsed YAML file: plain data plus the line number of each path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest known prefix of `path` (pydantic paths may go below our map)."""
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return line
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema resolution: no python/* tags; we convert nodes ourselves
    to keep lines.

    PyYAML resolves plain scalars by YAML 1.1, where `NO`, `on` and `yes` are booleans, `1:30` is 90
    (base 60), `010` is 8 and `2024-01-01` a date: configuration that silently means something else.
    The core schema knows only null, true/false, base-10/0o/0x integers and decimal floats; every
    other plain scalar is a string.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}


_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_CORE_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
for _tag, _pattern, _first in (
    ("bool", _CORE_BOOL, "tTfF"),
    ("int", _CORE_INT, "-+0123456789"),
    ("float", _CORE_FLOAT, "-+.0123456789"),
    ("null", _CORE_NULL, ["~", "n", "N", ""]),
    ("merge", re.compile(r"^<<$"), "<"),  # recognised only to be refused with a clear message
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", _pattern, list(_first))


def read_text(path: str) -> str:
    """Read a config file as UTF-8 text, refusing huge, binary or empty files."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ConfigError([Problem(path, None, "", f"cannot read file: {exc.strerror}")]) from None
    if size > MAX_FILE_BYTES:
        raise ConfigError(
            [Problem(path, None, "", f"file is {size} bytes; config files are limited to {MAX_FILE_BYTES}")]
        )
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE_BYTES + 1)
    if b"\x00" in raw:
        raise ConfigError([Problem(path, None, "", "binary file (contains NUL bytes); expected YAML text")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(path, line, "", "file is not valid UTF-8 text")]) from None
    if not text.strip():
        raise ConfigError([Problem(path, 1, "", "file is empty; expected a YAML mapping")])
    return text


def parse(text: str, file: str) -> Document:
    """Parse one YAML document into data and a line map; every problem is a ConfigError."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or str(exc)
        if "found character '\\t'" in reason or "\\t" in reason:
            reason += " (YAML does not allow tabs for indentation; use spaces)"
        if exc.context:
            reason = f"{exc.context}: {reason}"
        raise ConfigError([Problem(file, line, "", f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem(file, None, "", f"YAML nested too deeply (limit {MAX_DEPTH} levels)")]) from None
    if node is None:
        raise ConfigError([Problem(file, 1, "", "file is empty; expected a YAML mapping")])
    doc = Document(file=file, data=None)
    builder = _Builder(doc)
    doc.data = builder.build(node, ())
    return doc


def load(path: str) -> Document:
    return parse(read_text(path), path)


class _Builder:
    """Turns a composed node graph into plain data, bounding expansion (alias bombs) and depth."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.nodes = 0

    def fail(self, node: yaml.Node, path: Path_, message: str) -> ConfigError:
        return ConfigError([Problem(self.doc.file, node.start_mark.line + 1, _dotted(path), message)])

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, path, f"document expands to more than {MAX_NODES} values (alias bomb?)")
        if len(path) > MAX_DEPTH:
            raise self.fail(node, path, f"nested too deeply (limit {MAX_DEPTH} levels)")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != "tag:yaml.org,2002:seq":
                raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}; only plain data is allowed")
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        kind = node.tag.rsplit(":", 1)[1] if node.tag.startswith("tag:yaml.org,2002:") else ""
        if kind not in _SCALAR_TAGS or not isinstance(node.value, str):
            raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}; only plain data is allowed")
        if not node.value.isascii() and LONE_SURROGATE.search(node.value):
            raise self.fail(node, path, f"{node.value!r} holds a lone surrogate escape (half of a UTF-16 pair, as "
                            "JSON writes it): it is not text and no message or artifact can carry it; write the "
                            "character itself, or its whole code point (\\U0001F600)")
        value = _core_value(kind, node.value)
        if value is _INVALID:
            raise self.fail(node, path, f"invalid value: {node.value!r} is not a YAML 1.2 {kind}")
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        if node.tag not in ("tag:yaml.org,2002:map",):
            raise self.fail(node, path, f"unsupported YAML tag {node.tag!r}; only plain data is allowed")
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self.fail(key_node, path, "YAML merge keys (<<) are not supported; repeat the keys")
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, path, "mapping keys must be plain scalars")
            key = self._scalar(key_node, path)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise self.fail(
                    key_node,
                    (*path, key),
                    f"duplicate key {key!r} (first at line {first_line[key]}, again at line {line})",
                )
            first_line[key] = line
            key_path = (*path, key)
            self.doc.lines[key_path] = line
            out[key] = self.build(value_node, key_path)
            self.doc.lines[key_path] = line  # the key's line, not its value's
        return out


_SCALAR_TAGS = {"str", "int", "float", "bool", "null"}
_INVALID = object()


def _core_value(kind: str, text: str) -> Any:
    """A scalar's value by the YAML 1.2 core schema (also for explicit tags such as `!!int 7`)."""
    if kind == "str":
        return text
    if kind == "bool":
        return text.lower() == "true" if _CORE_BOOL.match(text) else _INVALID
    if kind == "null":
        return None if _CORE_NULL.match(text) else _INVALID
    if kind == "int" and _CORE_INT.match(text):
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)
    if kind == "float" and _CORE_FLOAT.match(text):
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        return math.nan if lowered == ".nan" else float(text)
    return _INVALID


def _dotted(path: Path_) -> str:
    parts: list[str] = []
    for p in path:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


dotted = _dotted
