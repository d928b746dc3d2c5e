"""Templates with `{name}` / `{name.field}` placeholders, compiled once and rendered per request."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\Z")

Lookup = Callable[[str], Any]


class TemplateError(ValueError):
    pass


class RenderError(ValueError):
    """A placeholder that cannot be rendered from the value it is given: `{order.id}` when the capture `order`
    took a string, or a header value no HTTP header can carry. The request fails with this as its reason; the
    virtual user goes on (a capture's shape is the target's to decide: `validate` cannot know it)."""


@dataclass(frozen=True)
class Ref:
    name: str
    attr: str | None = None


@dataclass(frozen=True)
class Template:
    parts: tuple[str | Ref, ...]

    @property
    def is_constant(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    @property
    def whole(self) -> Ref | None:
        """The single placeholder when the template is nothing else (its value keeps its type)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Ref):
            return self.parts[0]
        return None

    @property
    def source(self) -> str:
        """The template as written (a request log's path when it could not be rendered)."""
        return "".join(p.replace("{", "{{").replace("}", "}}") if isinstance(p, str)
                       else f"{{{p.name}}}" if p.attr is None else f"{{{p.name}.{p.attr}}}" for p in self.parts)

    def refs(self) -> list[Ref]:
        return [p for p in self.parts if isinstance(p, Ref)]

    def render(self, lookup: Lookup) -> Any:
        parts = self.parts
        if len(parts) == 1:  # a constant, or the whole value one placeholder (keeping its type)
            p = parts[0]
            return p if isinstance(p, str) else _resolve(p, lookup)
        out: list[str] = []
        for p in parts:  # a loop, not a generator: JSON bodies render one template per string in them
            out.append(p if isinstance(p, str) else _text(_resolve(p, lookup)))
        return "".join(out)

    def render_text(self, lookup: Lookup, encode: Callable[[str], str] | None = None) -> str:
        """Render as text; `encode` (e.g. URL quoting) applies to placeholder values only."""
        if encode is None:
            value = self.render(lookup)
            return value if isinstance(value, str) else _text(value)
        out: list[str] = []
        for p in self.parts:  # a loop, not a generator: this runs for every request's path
            if isinstance(p, str):
                out.append(p)
            else:
                value = lookup(p.name) if p.attr is None else _resolve(p, lookup)
                out.append(encode(value if value.__class__ is str else _text(value)))
        return "".join(out)


def _resolve(ref: Ref, lookup: Lookup) -> Any:
    value = lookup(ref.name)
    if ref.attr is None:
        return value
    for part in ref.attr.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise RenderError(f"placeholder {{{ref.name}.{ref.attr}}}: no {part!r} in {_shape(value)}")
    return value


_PLAIN_FIELD = re.compile(r"[A-Za-z_][A-Za-z_-]*[0-9]{0,3}[A-Za-z_-]*")


def _shape(value: Any) -> str:
    """What a value is, for a message (not the value: it may be a captured token). An object's field names are
    shown when they read as names (up to 24 characters, at most 3 digits together): a key may be a token itself
    (`{"sess_4f9a8b7c6d5e": ...}`), and those are only counted."""
    if isinstance(value, dict):
        plain = sorted(k for k in value if isinstance(k, str) and len(k) <= 24 and _PLAIN_FIELD.fullmatch(k))
        more = len(value) - len(plain[:8])
        shown = ", ".join(plain[:8]) + (f"{', ' if plain else ''}{more} more" if more else "")
        return "an object" + (f" (its fields: {shown})" if value else "")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, bool) or value is None:
        return "true/false" if value is not None else "null"
    return "a number" if isinstance(value, (int, float)) else "a string"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def compile_template(text: str) -> Template:
    parts: list[str | Ref] = []
    buf: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        buf.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            buf.append(token[0])
            continue
        if token in ("{", "}"):
            raise TemplateError(f"unmatched {token!r} in {text!r}; write {token * 2} for a literal brace")
        body = m.group(1).strip()
        if not _REF.match(body):
            raise TemplateError(
                f"invalid placeholder {{{m.group(1)}}} in {text!r}; expected {{name}} or {{name.field}}"
            )
        literal = "".join(buf)
        if literal:
            parts.append(literal)
        buf = []
        name, _, attr = body.partition(".")
        parts.append(Ref(name, attr or None))
    buf.append(text[pos:])
    tail = "".join(buf)
    if tail or not parts:
        parts.append(tail)
    return Template(tuple(parts))


def compile_value(value: Any) -> Any:
    """Compile every string inside a JSON-like value into a Template."""
    if isinstance(value, str):
        return compile_template(value)
    if isinstance(value, dict):
        return {compile_template(str(k)): compile_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [compile_value(v) for v in value]
    return value


def render_value(compiled: Any, lookup: Lookup) -> Any:
    if isinstance(compiled, Template):
        return compiled.render(lookup)
    if isinstance(compiled, dict):
        out = {}
        for k, v in compiled.items():
            key = k.render(lookup)
            out[key if isinstance(key, str) else _text(key)] = render_value(v, lookup)
        return out
    if isinstance(compiled, list):
        return [render_value(v, lookup) for v in compiled]
    return compiled


def value_refs(compiled: Any) -> list[Ref]:
    if isinstance(compiled, Template):
        return compiled.refs()
    if isinstance(compiled, dict):
        return [r for k, v in compiled.items() for r in (*k.refs(), *value_refs(v))]
    if isinstance(compiled, list):
        return [r for v in compiled for r in value_refs(v)]
    return []
