"""`${VAR}` / `${VAR:-default}` interpolation of string values; an unset variable is an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from loadorch.config.yamlsource import Document, dotted
from loadorch.errors import ConfigError, Problem

_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE|COOKIE|AUTH", re.IGNORECASE)


def interpolate(doc: Document, env: Mapping[str, str], lenient: bool = False) -> tuple[dict[str, str], set[str]]:
    """Substitute variables in place in `doc.data`; return (variables used, name -> value; unset names).

    Lenient mode (for `validate`) puts a visible marker in place of an unset variable instead of failing.
    """
    used: dict[str, str] = {}
    unset: set[str] = set()
    problems: list[Problem] = []

    def sub(text: str, path: tuple[Any, ...]) -> str:
        def one(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            body = m.group(1)
            name, sep, default = body.partition(":-")
            if not _NAME.match(name):
                problems.append(
                    Problem(
                        doc.file,
                        doc.line_of(path),
                        dotted(path),
                        f"invalid variable reference ${{{body}}}; use ${{NAME}} or ${{NAME:-default}}",
                    )
                )
                return ""
            if name in env:
                used[name] = env[name]
                return env[name]
            if sep:
                return default
            if lenient:
                unset.add(name)
                return unset_marker(name)
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(path),
                    dotted(path),
                    f"environment variable {name} is not set (set it, or write ${{{name}:-default}})",
                )
            )
            return ""

        return _REF.sub(one, text)

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, str):
            return sub(value, path) if "$" in value else value
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    doc.data = walk(doc.data, ())
    if problems:
        raise ConfigError(problems)
    return used, unset


def unset_marker(name: str) -> str:
    """What an unset variable reads as in lenient mode: visible, and no template placeholder."""
    return f"<unset:{name}>"


def references(text: str) -> set[str]:
    """Names of the variables a text refers to (`${NAME}` or `${NAME:-default}`)."""
    names = set()
    for m in _REF.finditer(text):
        if m.group(0) != "$$":
            name = m.group(1).partition(":-")[0]
            if _NAME.match(name):
                names.add(name)
    return names


def secret_values(used: Mapping[str, str], declared: list[str] | tuple[str, ...] = ()) -> set[str]:
    """Values of the variables that are secrets: declared ones and those whose names say so."""
    return {v for k, v in used.items() if v and (k in declared or SECRET_NAME.search(k))}
