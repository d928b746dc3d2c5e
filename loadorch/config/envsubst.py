"""`${VAR}` / `${VAR:-default}` interpolation of string values; an unset variable is an error."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from loadorch.config.yamlsource import Document, dotted
from loadorch.errors import ConfigError, Problem
from loadorch.traffic.redact import LONE_SURROGATE

_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|PRIVATE|COOKIE|AUTH", re.IGNORECASE)


TemplatePath = Callable[[tuple[Any, ...]], bool]
SHORT_SECRET = 8  # shorter secrets are a configuration warning: masking them hits ordinary words


def interpolate(
    doc: Document, env: Mapping[str, str], lenient: bool = False, is_template: TemplatePath = lambda path: False
) -> tuple[dict[str, str], set[str]]:
    """Substitute variables in place in `doc.data`; return (variables used, name -> value; unset names).

    A variable's value is data, never a template: where the text is a template (`is_template(path)`),
    braces in the value are escaped (`{` -> `{{`), so a token like `ab{cd` is sent as is.
    Lenient mode (for `validate`) puts a visible marker in place of an unset variable instead of failing.
    """
    used: dict[str, str] = {}
    unset: set[str] = set()
    problems: list[Problem] = []

    def sub(text: str, path: tuple[Any, ...]) -> str:
        template = is_template(path)

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
                if not env[name].isascii() and LONE_SURROGATE.search(env[name]):  # bytes that are not UTF-8
                    problems.append(Problem(doc.file, doc.line_of(path), dotted(path),
                                            f"environment variable {name} is not UTF-8 text (its bytes do not decode "
                                            "as UTF-8): it cannot be sent or written; set it to UTF-8 text"))
                    return ""
                used[name] = env[name]
                return escape_braces(env[name]) if template else env[name]
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


def escape_braces(value: str) -> str:
    """A literal value inside a template: `{` and `}` doubled."""
    return value.replace("{", "{{").replace("}", "}}")


def scenario_template_path(path: tuple[Any, ...]) -> bool:
    """Where a scenario's strings are templates: headers, and each request's path, headers, bodies, checks."""
    fields = ("path", "headers", "json", "form", "body", "expect")
    if path[:1] == ("headers",):
        return True
    if len(path) >= 5 and path[0] == "users" and path[2] == "requests":
        return path[4] in fields
    return len(path) >= 4 and path[0] == "setup" and path[2] == "request" and path[3] in fields


def profile_template_path(path: tuple[Any, ...]) -> bool:
    return path[:1] == ("headers",)


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


def required_references(text: str) -> set[str]:
    """Names a text refers to without a default (`${NAME}`, not `${NAME:-default}`)."""
    names = set()
    for m in _REF.finditer(text):
        if m.group(0) != "$$":
            name, sep, _ = m.group(1).partition(":-")
            if _NAME.match(name) and not sep:
                names.add(name)
    return names


def secret_values(used: Mapping[str, str], declared: list[str] | tuple[str, ...] = ()) -> set[str]:
    """Values of the variables that are secrets: declared ones and those whose names say so."""
    return set(secret_variables(used, declared).values())


def secret_variables(used: Mapping[str, str], declared: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """name -> value of the variables that are secrets."""
    return {k: v for k, v in used.items() if v and (k in declared or SECRET_NAME.search(k))}


def short_secret_warnings(named: Mapping[str, str]) -> list[str]:
    """One warning per secret too short to mask without also masking ordinary words."""
    return [
        f"secret {name} is only {len(value)} characters: every occurrence of it in the output is masked "
        f"(ordinary words too); use a secret of at least {SHORT_SECRET} characters"
        for name, value in sorted(named.items())
        if value and len(value) < SHORT_SECRET
    ]
