"""Checks that need the whole scenario (placeholders, thresholds, CSV data) and compiled generators."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Mapping
from typing import Any

from loadorch.config.scenario import METHODS, DataSpec, RequestSpec, Scenario
from loadorch.config.suggest import did_you_mean
from loadorch.config.tags import tag_keys, tag_values
from loadorch.config.thresholds import TAGS, Threshold, ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.config.units import parse_duration
from loadorch.config.yamlsource import Document
from loadorch.errors import Problem
from loadorch.traffic import data as gen
from loadorch.traffic.template import TemplateError, compile_value, value_refs

USER_BUILTINS = ("user", "worker", "iteration")
SETUP_BUILTINS = ("index",)
BROWSER_BUILTINS = ("page", "iteration")


def compile_generators(scenario: Scenario, doc: Document) -> tuple[dict[str, gen.Generator], list[Problem]]:
    out: dict[str, gen.Generator] = {}
    problems: list[Problem] = []
    base = os.path.dirname(os.path.abspath(doc.file))
    for name, spec in scenario.data.items():
        try:
            out[name] = _generator(spec, base)
        except ValueError as exc:
            problems.append(Problem(doc.file, doc.line_of(("data", name)), f"data.{name}", str(exc)))
    return out, problems


def _generator(spec: DataSpec, base: str) -> gen.Generator:
    if spec.int_range is not None:
        return gen.IntGen(*spec.int_range)
    if spec.float_range is not None:
        return gen.FloatGen(*spec.float_range)
    if spec.choice is not None:
        return gen.ChoiceGen(tuple(spec.choice), gen.cumulative(spec.weights))
    if spec.sequence is not None:
        return gen.SequenceGen(spec.sequence.start, spec.sequence.step)
    if spec.pattern is not None:
        return gen.PatternGen(spec.pattern)
    if spec.csv is not None:
        return _rows(spec, base)
    return gen.ConstGen(spec.value)


def _rows(spec: DataSpec, base: str) -> gen.RowsGen:
    assert spec.csv is not None
    path = os.path.abspath(os.path.join(base, spec.csv.file))
    try:
        rows, columns, digest = read_csv_rows(path)
    except OSError as exc:
        raise ValueError(f"cannot read CSV file {spec.csv.file!r} (next to the scenario): {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"CSV file {spec.csv.file!r} is not valid UTF-8 CSV: {exc}") from None
    if not rows:
        raise ValueError(f"CSV file {spec.csv.file!r} has a header but no rows")
    if spec.csv.column is not None and spec.csv.column not in columns:
        raise ValueError(
            f"CSV file {spec.csv.file!r} has no column {spec.csv.column!r}; " + did_you_mean(spec.csv.column, columns)
        )
    return gen.RowsGen(rows, spec.csv.column, spec.csv.order == "sequential", path, digest)


def read_csv_rows(path: str) -> tuple[tuple[dict[str, str], ...], list[str], str]:
    """(rows, column names, sha256 of the file) of a UTF-8 CSV file with a header line."""
    with open(path, "rb") as raw:
        data = raw.read()
    text = data.decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = tuple(dict(r) for r in reader)
    return rows, list(reader.fieldnames or []), hashlib.sha256(data).hexdigest()


def check_templates(scenario: Scenario, doc: Document) -> list[Problem]:
    """Every placeholder must name a data generator, a capture of the same user, or a builtin."""
    problems: list[Problem] = []
    data_names = set(scenario.data)
    for i, step in enumerate(scenario.setup):
        known = data_names | set(SETUP_BUILTINS)
        problems += _check_request(step.request, ("setup", i, "request"), known, doc)
    for u, user in enumerate(scenario.users):
        captures = {c for ep in user.requests for c in ep.capture}
        known = data_names | captures | set(USER_BUILTINS)
        for r, ep in enumerate(user.requests):
            problems += _check_request(ep, ("users", u, "requests", r), known, doc)
    for name, value in scenario.headers.items():
        problems += _check_value(value, ("headers", name), data_names | set(USER_BUILTINS), doc)
    for b, browser in enumerate(scenario.browsers):
        for s, bstep in enumerate(browser.journey):
            path = ("browsers", b, "journey", s)
            for action in ("visit", "click", "wait_for"):
                text = getattr(bstep, action)
                if text is not None:
                    problems += _check_value(text, (*path, action), data_names | set(BROWSER_BUILTINS), doc)
            if bstep.type is not None:
                known = data_names | set(BROWSER_BUILTINS)
                problems += _check_value(bstep.type.selector, (*path, "type", "selector"), known, doc)
                problems += _check_value(bstep.type.text, (*path, "type", "text"), known, doc)
    return problems


def check_python_users(scenario: Scenario, doc: Document) -> list[Problem]:
    """A python user's file must exist next to the scenario (its import is checked before load)."""
    base = os.path.dirname(os.path.abspath(doc.file))
    problems = []
    for u, user in enumerate(scenario.users):
        if user.python is None:
            continue
        rel = user.python.rsplit(":", 1)[0]
        if not os.path.isfile(os.path.join(base, rel)):
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("users", u, "python")),
                    f"users[{u}].python",
                    f"no file {rel!r} next to the scenario",
                )
            )
    return problems


def _check_request(req: RequestSpec, path: tuple[Any, ...], known: set[str], doc: Document) -> list[Problem]:
    problems = _check_value(req.path, (*path, "path"), known, doc)
    for name, value in req.headers.items():
        problems += _check_value(value, (*path, "headers", name), known, doc)
    bodies: tuple[tuple[str, Any], ...] = (("json", req.json_body), ("form", req.form), ("body", req.body))
    for field, body in bodies:
        if body is not None:
            problems += _check_value(body, (*path, field), known, doc)
    for name, jpath in req.capture.items():
        if not jpath.startswith("$"):
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of((*path, "capture", name)),
                    _dot((*path, "capture", name)),
                    f"capture {jpath!r} must be a JSON path starting with '$' (e.g. $.id)",
                )
            )
    return problems


def _check_value(value: Any, path: tuple[Any, ...], known: set[str], doc: Document) -> list[Problem]:
    try:
        compiled = compile_value(value)
    except TemplateError as exc:
        return [Problem(doc.file, doc.line_of(path), _dot(path), str(exc))]
    problems = []
    for ref in value_refs(compiled):
        if ref.name not in known:
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(path),
                    _dot(path),
                    f"unknown placeholder {{{ref.name}}}; {did_you_mean(ref.name, known)}",
                )
            )
    return problems


def _dot(path: Iterable[Any]) -> str:
    from loadorch.config.yamlsource import dotted

    return dotted(tuple(path))


def parse_thresholds(
    raw: dict[str, list[Any]],
    scenario: Scenario | None,
    doc: Document,
    root: tuple[Any, ...] = ("thresholds",),
    run_tags: Mapping[str, str] = {},
) -> tuple[dict[str, list[Threshold]], list[Problem]]:
    """Parse a thresholds mapping into {normalized selector: [Threshold]}, checking names against the scenario."""
    out: dict[str, list[Threshold]] = {}
    problems: list[Problem] = []
    free = tag_keys(scenario, run_tags)
    for key, items in raw.items():
        path = (*root, key)
        try:
            selector = parse_selector(key, free)
            if scenario is not None:
                _check_tags(selector.tags, scenario, run_tags)
        except ThresholdSyntaxError as exc:
            problems.append(Problem(doc.file, doc.line_of(path), _dot(path), str(exc)))
            continue
        parsed: list[Threshold] = []
        for i, item in enumerate(items):
            try:
                parsed.append(_threshold(selector, item))
            except (ThresholdSyntaxError, ValueError) as exc:
                problems.append(Problem(doc.file, doc.line_of((*path, i)), _dot((*path, i)), str(exc)))
        out[str(selector)] = parsed
    return out, problems


def threshold_problems(raw: dict[Any, Any], doc: Document) -> list[Problem]:
    """The problems of a thresholds mapping on its own (syntax, metrics, aggregations), for a file whose
    schema failed: names that need the scenario (endpoints, users) are not checked."""
    items = {str(k): v if isinstance(v, list) else [v] for k, v in raw.items()}
    return parse_thresholds(items, None, doc)[1]


def _threshold(selector: Any, item: Any) -> Threshold:
    if isinstance(item, str):
        return Threshold(selector, parse_expression(item, selector.metric))
    if isinstance(item, dict):
        unknown = set(item) - {"threshold", "abort_on_fail", "delay_abort_eval"}
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise ValueError(
                f"unknown field {name!r}; " + did_you_mean(name, ["threshold", "abort_on_fail", "delay_abort_eval"])
            )
        if not isinstance(item.get("threshold"), str):
            raise ValueError('long form needs threshold: "p(99)<800"')
        abort = item.get("abort_on_fail", False)
        if not isinstance(abort, bool):
            raise ValueError("abort_on_fail must be true or false")
        delay = parse_duration(item.get("delay_abort_eval", 0))
        return Threshold(selector, parse_expression(item["threshold"], selector.metric), abort, delay)
    raise ValueError("a threshold is an expression string or {threshold: ..., abort_on_fail: ...}")


def check_names(ep: RequestSpec) -> list[str]:
    """The `check` tag of each `expect` condition of a request: status, contains, and each JSON path."""
    expect = ep.expect
    names = ["status"] if expect.status else []
    if expect.contains is not None:
        names.append("contains")
    return names + list((expect.json_equals or {}).keys())


def _check_tags(tags: tuple[tuple[str, str], ...], scenario: Scenario, run_tags: Mapping[str, str] = {}) -> None:
    names = {ep.name for u in scenario.users for ep in u.requests}
    free = tag_keys(scenario, run_tags)
    for tag, value in tags:
        if tag in free and tag not in TAGS:
            values = tag_values(scenario, tag, run_tags)
            if value not in values:
                raise ThresholdSyntaxError(f"no request is tagged {tag}:{value}; {did_you_mean(value, values)}")
    users = {str(u.name) for u in scenario.users} | {b.name for b in scenario.browsers}
    pages = {name for b in scenario.browsers for name in b.page_names()}
    for tag, value in tags:
        if tag == "page" and value not in pages and not value.startswith("/"):
            raise ThresholdSyntaxError(f"no visit step names a page {value!r}; {did_you_mean(value, pages)}")
        if tag == "check":
            checks = {c for u in scenario.users for ep in u.requests for c in check_names(ep)}
            if value not in checks:
                raise ThresholdSyntaxError(f"no expect condition is named {value!r}; {did_you_mean(value, checks)}")
        if tag == "name" and value not in names:
            raise ThresholdSyntaxError(f"no endpoint is named {value!r}; {did_you_mean(value, names)}")
        if tag == "user" and value not in users:
            raise ThresholdSyntaxError(f"no user is named {value!r}; {did_you_mean(value, users)}")
        if tag == "method" and value.upper() not in METHODS:
            raise ThresholdSyntaxError(f"unknown method {value!r}; use one of {', '.join(METHODS)}")
        if tag == "status" and not (value.isdigit() and 0 <= int(value) <= 599):
            raise ThresholdSyntaxError(f"status must be an HTTP status code, not {value!r}")
