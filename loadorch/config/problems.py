"""Turn pydantic validation errors into located `file:line: field: message` problems."""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from loadorch.config.suggest import did_you_mean
from loadorch.config.yamlsource import Document, dotted
from loadorch.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)


def validate_document(model: type[M], doc: Document) -> M:
    """Validate a document against a model, reporting every error at once with its line."""
    if not isinstance(doc.data, dict):
        raise ConfigError([Problem(doc.file, 1, "", f"expected a mapping at the top level, got {_kind(doc.data)}")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, model, doc)) from None


def problems_from(exc: ValidationError, model: type[BaseModel], doc: Document) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _data_path(tuple(err["loc"]), doc.data)
        problems.append(Problem(doc.file, doc.line_of(loc), dotted(loc), _message(err, model, loc)))
    return sorted(set(problems), key=lambda p: (p.line or 0, p.field))


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """The parts of a pydantic location that index the data; pydantic also puts the names of union
    members (`str`, `dict[str,any]`, ...) in locations, and those index nothing."""
    out: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            cur = cur[part]
        elif i == len(loc) - 1 and isinstance(cur, dict) and isinstance(part, str) and not _is_member_name(part):
            pass  # a missing field: named, though it is not in the data
        else:
            continue
        out.append(part)
    return tuple(out)


def _is_member_name(part: str) -> bool:
    return part in ("str", "int", "float", "bool") or "[" in part or part.startswith("function-")


def _message(err: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        known = fields_at(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), known) if known else ""
        return f"unknown field {loc[-1]!r}" + (f"; {hint}" if hint else "")
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if "input" in err and kind not in ("model_type", "dict_type") and not isinstance(err["input"], (dict, list)):
        shown = repr(err["input"])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg += f" (got {shown})"
    return msg


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names (aliases where set) accepted at `loc` below `model`, following lists and dicts."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _model_in(current)
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


def _step(tp: Any, part: Any) -> Any:
    model = _model_in(tp)
    if model is not None and isinstance(part, str) and not isinstance(tp, (list, dict)):
        for name, f in model.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
        return None
    for arg in _args(tp):
        origin = typing.get_origin(arg)
        if origin is list and isinstance(part, int):
            return typing.get_args(arg)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(arg)[1]
    return None


def _args(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [a for sub in typing.get_args(tp) for a in _args(sub)]
    return [tp]


def _model_in(tp: Any) -> type[BaseModel] | None:
    for arg in _args(tp):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {str: "a string", int: "a number", float: "a number", list: "a list", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
