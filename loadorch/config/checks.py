"""Checks that need the whole scenario (placeholders, thresholds, CSV data) and compiled generators."""

from __future__ import annotations

import ast
import csv
import math
import os
import random
import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from loadorch.config.scenario import METHODS, READ_METHODS, DataSpec, RequestSpec, Scenario
from loadorch.config.suggest import closest, did_you_mean
from loadorch.config.tags import tag_keys, tag_values
from loadorch.config.thresholds import (
    RESOURCE_METRICS,
    TAGS,
    Selector,
    Threshold,
    ThresholdSyntaxError,
    parse_expression,
    parse_selector,
    split_tag_filters,
    unmeasured,
)
from loadorch.config.units import parse_duration
from loadorch.errors import Problem
from loadorch.traffic import data as gen
from loadorch.traffic.data import read_csv_rows
from loadorch.traffic.headers import value_problem
from loadorch.traffic.jsonpath import JsonPathError, compile_path
from loadorch.traffic.request import compile_request
from loadorch.traffic.template import (
    Ref,
    RenderError,
    Template,
    TemplateError,
    compile_template,
    compile_value,
    value_refs,
)

if TYPE_CHECKING:  # (the YAML reader: not imported by the workers, which use check_names)
    from loadorch.config.yamlsource import Document

USER_BUILTINS = ("user", "worker", "iteration")
SETUP_BUILTINS = ("index",)
BROWSER_BUILTINS = ("page", "iteration")


def compile_all(scenario: Scenario, headers: Mapping[str, str], file: str) -> list[Problem]:
    """The workers' and the setup phase's own compile step, run here on the same input: whatever the
    checks above missed is refused now, not discovered by a worker."""
    problems: list[Problem] = []
    jobs: list[tuple[str, RequestSpec, str, str, set[str]]] = []
    for i, step in enumerate(scenario.setup):
        kind = "read" if step.request.method in READ_METHODS else "write"
        jobs.append((f"setup[{i}].request", step.request, step.name, kind, set()))
    for u, user in enumerate(scenario.users):
        captures = {c for ep in user.requests for c in ep.capture}
        for r, ep in enumerate(user.requests):
            jobs.append((f"users[{u}].requests[{r}]", ep, ep.name, ep.effective_kind, captures))
    for field, spec, name, kind, captures in jobs:
        try:
            compile_request(spec, name, kind, captures, headers)
        except ValueError as exc:
            problems.append(Problem(file, None, field, str(exc)))
    return problems


def compile_generators(scenario: Scenario, doc: Document) -> tuple[dict[str, gen.Generator], list[Problem]]:
    out: dict[str, gen.Generator] = {}
    problems: list[Problem] = []
    base = os.path.dirname(os.path.abspath(doc.file))
    contexts = (("users' requests", USER_BUILTINS, [dict(scenario.headers), *(u.model_dump() for u in scenario.users)]),
                ("setup", SETUP_BUILTINS, [s.model_dump() for s in scenario.setup]),
                ("browser journeys", BROWSER_BUILTINS, [b.model_dump() for b in scenario.browsers]))
    for name, spec in scenario.data.items():
        # where the scenario reads {name} and a built-in of that name wins there: never this generator
        where = [kind for kind, names, parts in contexts if name in names and _reads(parts, name)]
        if where:
            problems.append(Problem(doc.file, doc.line_of(("data", name)), f"data.{name}",
                                    f"{{{name}}} is a built-in placeholder in {' and '.join(where)}, so this generator "
                                    f"would never be drawn there; give it another name (e.g. {name}_id)"))
            continue
        try:
            out[name] = _generator(spec, base)
        except ValueError as exc:
            problems.append(Problem(doc.file, doc.line_of(("data", name)), f"data.{name}", str(exc)))
            continue
        problems += _check_json_value(generator_samples(out[name]), ("data", name), doc)
    return out, problems


def _reads(parts: list[Any], name: str) -> bool:
    """Whether any text of `parts` (a context's users, setup steps or browsers, as data) has the placeholder {name}
    (`{{` is a literal brace, not a placeholder)."""
    found = re.compile(r"(?<!\{)\{" + re.escape(name) + r"[}.]")
    stack: list[Any] = list(parts)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if found.search(item):
                return True
        elif isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, (list, tuple)):
            stack += item
    return False


def _generator(spec: DataSpec, base: str) -> gen.Generator:
    if spec.int_range is not None:
        return gen.IntGen(*spec.int_range)
    if spec.float_range is not None:
        low, high = spec.float_range
        if math.isfinite(low) and math.isfinite(high) and not math.isfinite(high - low):
            raise ValueError(
                "float range [low, high] is wider than a float can hold (its draws would be inf): narrow it"
            )
        return gen.FloatGen(low, high)
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


Samples = list[Any] | None  # example values of a placeholder (None: unknown shape, e.g. a capture)


def generator_samples(g: gen.Generator) -> list[Any]:
    """Values of the shape a generator draws, to check `{name.field}` placeholders against."""
    if isinstance(g, gen.ChoiceGen):
        return list(g.options)
    if isinstance(g, gen.ConstGen):
        return [g.value]
    if isinstance(g, gen.RowsGen):
        return [dict(g.rows[0]) if g.column is None else ""]
    if isinstance(g, gen.PatternGen):
        return [""]
    if isinstance(g, gen.FloatGen):
        return [g.low, g.high]  # both ends: `.inf` at either is no JSON number
    return [g.low if isinstance(g, gen.IntGen) else g.start]


def check_templates(
    scenario: Scenario, doc: Document, generators: Mapping[str, gen.Generator] | None = None
) -> list[Problem]:
    """Compile every template, JSON path and check the way the workers will, and check each placeholder:
    it must name a data generator, a capture of the same user, or a builtin, and a `.field` must exist."""
    data = _data_samples(scenario, generators)
    problems: list[Problem] = []
    setup_known = {**data, **{name: [0] for name in SETUP_BUILTINS}}
    for i, step in enumerate(scenario.setup):
        problems += _check_request(step.request, ("setup", i, "request"), setup_known, doc)
        problems += _check_header_values(step.request.headers, ("setup", i, "request", "headers"), generators, doc,
                                         set(SETUP_BUILTINS))
    for u, user in enumerate(scenario.users):
        captures: dict[str, Samples] = {c: None for ep in user.requests for c in ep.capture}
        known = {**data, **captures, **{name: [0] for name in USER_BUILTINS}}
        for r, ep in enumerate(user.requests):
            problems += _check_request(ep, ("users", u, "requests", r), known, doc)
            problems += _check_header_values(ep.headers, ("users", u, "requests", r, "headers"), generators, doc,
                                             {*captures, *USER_BUILTINS})
        if user.requests and not any(ep.weight > 0 for ep in user.requests):
            problems.append(
                Problem(
                    doc.file,
                    doc.line_of(("users", u, "requests")),
                    f"users[{u}].requests",
                    "every request has weight 0: give at least one a weight above 0",
                )
            )
    problems += check_common_headers(scenario.headers, scenario, generators, doc)
    browser_known: dict[str, Samples] = {**data, **{name: None for name in BROWSER_BUILTINS}}
    for b, browser in enumerate(scenario.browsers):
        for s, bstep in enumerate(browser.journey):
            path = ("browsers", b, "journey", s)
            for action in ("visit", "click", "wait_for"):
                text = getattr(bstep, action)
                if text is not None:
                    problems += _check_value(text, (*path, action), browser_known, doc)
            if bstep.type is not None:
                problems += _check_value(bstep.type.selector, (*path, "type", "selector"), browser_known, doc)
                problems += _check_value(bstep.type.text, (*path, "type", "text"), browser_known, doc)
    return problems


def check_common_headers(
    headers: Mapping[str, str],
    scenario: Scenario,
    generators: Mapping[str, gen.Generator] | None,
    doc: Document,
    root: tuple[Any, ...] = ("headers",),
) -> list[Problem]:
    """Headers sent with every request (the scenario's or the profile's): setup requests send them too,
    so with a setup section only data generators may fill them."""
    known = _data_samples(scenario, generators)
    if not scenario.setup:
        known |= {name: [0] for name in USER_BUILTINS}
    problems: list[Problem] = []
    for name, value in headers.items():
        problems += _check_value(value, (*root, name), known, doc)
    return problems + _check_header_values(headers, root, generators, doc)


def _check_header_values(
    headers: Mapping[str, str],
    root: tuple[Any, ...],
    generators: Mapping[str, gen.Generator] | None,
    doc: Document,
    shadowed: AbstractSet[str] = frozenset(),
) -> list[Problem]:
    """A header value's placeholders: every value a data generator can put there must be one an HTTP header can
    carry (traffic/headers.py): `X-City: {city}` with a choice of `日本` is refused here, not in a worker. Values
    known only at run time (captures) are checked when rendered: their request fails, saying why."""
    problems: list[Problem] = []
    for name, value in headers.items():
        try:
            refs = compile_template(value).refs()
        except TemplateError:
            continue  # reported by _check_value
        for ref in refs:
            if generators is None or ref.name not in generators or ref.name in shadowed:
                continue
            for text in _header_texts(generators[ref.name], ref):
                why = value_problem(text, line_breaks=False)
                if why is not None:
                    where = (*root, name)
                    shown = ref.name if ref.attr is None else f"{ref.name}.{ref.attr}"
                    problems.append(Problem(doc.file, doc.line_of(where), _dot(where),
                                            f"header {name!r}: when {{{shown}}} is {text!r}, {why}"))
                    break
    return problems


def _constant(value: Any) -> Callable[[str], Any]:
    return lambda _: value


def _header_texts(g: gen.Generator, ref: Ref) -> list[str]:
    """The texts a generator can put in a header through `ref` (numbers and JSON are ASCII: none)."""
    if isinstance(g, gen.PatternGen):  # its literal characters are in every draw; '#', '?' and '*' draw ASCII
        return [g.draw(ref.name, random.Random(0), gen.DrawState())]
    if isinstance(g, gen.ChoiceGen):
        values: list[Any] = list(g.options)
    elif isinstance(g, gen.ConstGen):
        values = [g.value]
    elif isinstance(g, gen.RowsGen):
        values = [row if g.column is None else row[g.column] for row in g.rows]
    else:
        return []
    template = Template((ref,))
    out = []
    for value in values:
        try:
            out.append(template.render_text(_constant(value)))
        except RenderError:
            continue  # a field this value lacks: _field_problem's to report
    return out


def _data_samples(scenario: Scenario, generators: Mapping[str, gen.Generator] | None) -> dict[str, Samples]:
    return {
        name: generator_samples(generators[name]) if generators and name in generators else None
        for name in scenario.data
    }


def check_python_users(scenario: Scenario, doc: Document) -> list[Problem]:
    """A python user's file must exist next to the scenario and define the class (read, not imported:
    the import itself is checked in a throwaway process before a run)."""
    base = os.path.dirname(os.path.abspath(doc.file))
    problems = []
    for u, user in enumerate(scenario.users):
        if user.python is None:
            continue
        rel, _, class_name = user.python.rpartition(":")
        message = _python_class_problem(os.path.join(base, rel), rel, class_name)
        if message:
            problems.append(Problem(doc.file, doc.line_of(("users", u, "python")), f"users[{u}].python", message))
    return problems


def _python_class_problem(path: str, rel: str, class_name: str) -> str | None:
    if not os.path.isfile(path):
        return f"no file {rel!r} next to the scenario"
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), rel)
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {rel!r}: {exc}"
    except SyntaxError as exc:
        return f"{rel}:{exc.lineno}: SyntaxError: {exc.msg}"
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [alias.asname or alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    if class_name in names:
        return None
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    return f"{rel} defines no class {class_name!r}; " + did_you_mean(class_name, classes)


def _check_request(
    req: RequestSpec, path: tuple[Any, ...], known: Mapping[str, Samples], doc: Document
) -> list[Problem]:
    problems = _check_value(req.path, (*path, "path"), known, doc)
    for name, value in req.headers.items():
        problems += _check_value(value, (*path, "headers", name), known, doc)
    bodies: tuple[tuple[str, Any], ...] = (("json", req.json_body), ("form", req.form), ("body", req.body))
    for field, body in bodies:
        if body is not None:
            problems += _check_json_value(body, (*path, field), doc)
            problems += _check_value(body, (*path, field), known, doc)
    for name, jpath in req.capture.items():
        problems += _check_path(jpath, (*path, "capture", name), doc)
    for jpath, expected in (req.expect.json_equals or {}).items():
        where = (*path, "expect", "json", jpath)
        problems += _check_path(jpath, where, doc)
        problems += _check_json_value(expected, where, doc)
        problems += _check_value(expected, where, known, doc)
    return problems


def _check_path(jpath: str, path: tuple[Any, ...], doc: Document) -> list[Problem]:
    try:
        compile_path(jpath)
    except JsonPathError as exc:
        return [Problem(doc.file, doc.line_of(path), _dot(path), f"{exc} (e.g. $.id or $.items[0].id)")]
    return []


def _check_json_value(value: Any, path: tuple[Any, ...], doc: Document) -> list[Problem]:
    """What a worker sends or compares must be plain JSON: YAML can also give dates, sets or binary."""
    bad = _not_json(value)
    if bad is None:
        return []
    return [Problem(doc.file, doc.line_of(path), _dot(path), f"{bad} is not a JSON value; quote it to send it as text")]


def _not_json(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):  # YAML's .nan and .inf: sent as NaN, not JSON
        return f"{value!r} (JSON has no NaN or Infinity)"
    if value is None or isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, list):
        return next((bad for v in value if (bad := _not_json(v)) is not None), None)
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"key {k!r}"
            bad = _not_json(v)
            if bad is not None:
                return bad
        return None
    return f"{value!r} ({type(value).__name__})"


def _check_value(value: Any, path: tuple[Any, ...], known: Mapping[str, Samples], doc: Document) -> list[Problem]:
    try:
        compiled = compile_value(value)
    except TemplateError as exc:
        return [Problem(doc.file, doc.line_of(path), _dot(path), str(exc))]
    problems = []
    for ref in value_refs(compiled):
        if ref.name not in known:
            message = f"unknown placeholder {{{ref.name}}}; {did_you_mean(ref.name, known)}"
        else:
            message = _field_problem(ref, known[ref.name]) or ""
        if message:
            problems.append(Problem(doc.file, doc.line_of(path), _dot(path), message))
    return problems


def _field_problem(ref: Ref, samples: Samples) -> str | None:
    """Why `{name.field...}` cannot be rendered from values of this shape, or None if it can."""
    if ref.attr is None or samples is None:
        return None
    shown = f"{{{ref.name}.{ref.attr}}}"
    for sample in samples:
        value, where = sample, ref.name
        for part in ref.attr.split("."):
            if isinstance(value, dict) and part in value:
                value, where = value[part], f"{where}.{part}"
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value, where = value[int(part)], f"{where}.{part}"
            elif isinstance(value, dict):
                return f"{shown}: {where} has no field {part!r}; {did_you_mean(part, [str(k) for k in value])}"
            elif isinstance(value, list):
                return f"{shown}: {where} is a list of {len(value)}; {part!r} is not an index in it"
            else:
                return f"{shown}: {where} is {_kind(value)} and has no fields; write {{{where}}}"
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else type(value).__name__


def _dot(path: Iterable[Any]) -> str:
    from loadorch.config.yamlsource import dotted

    return dotted(tuple(path))


def parse_thresholds(
    raw: dict[str, list[Any]],
    scenario: Scenario | None,
    doc: Document,
    root: tuple[Any, ...] = ("thresholds",),
    run_tags: Mapping[str, str] = {},
    lighthouse: bool = True,
    lighthouse_held: Mapping[str, AbstractSet[str]] | None = None,
    warnings: list[Problem] | None = None,
) -> tuple[dict[str, list[Threshold]], list[Problem]]:
    """Parse a thresholds mapping into {normalized selector: [Threshold]}, checking names against the scenario
    and that something in it measures each metric (`lighthouse`: the profile gives Lighthouse results;
    `lighthouse_held`: what they hold, config.lighthouse.held, when they have been read). What is accepted
    but may read no data is added to `warnings`, located as problems are."""
    out: dict[str, list[Threshold]] = {}
    problems: list[Problem] = []
    free = tag_keys(scenario, run_tags)
    for key, items in raw.items():
        path = (*root, key)
        try:
            selector = parse_selector(key, free)
            if scenario is not None:
                notes: list[str] = []
                _check_tags(selector.tags, scenario, run_tags, notes)
                if warnings is not None and items:
                    warnings += [Problem(doc.file, doc.line_of(path), _dot(path), note) for note in notes]
                why = unmeasured(selector.metric, bool(scenario.users), bool(scenario.browsers), lighthouse)
                why = (why or _no_input(selector, scenario) or _one_audit(selector)
                       or _not_in_results(selector, scenario, lighthouse_held))
                if why is not None and items:  # `[]` removes a default: nothing to measure
                    raise ThresholdSyntaxError(why)
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


def _no_input(selector: Selector, scenario: Scenario) -> str | None:
    """Why an INP threshold could only read no data: INP is measured on input, and no journey (of the browser
    user it names) has a click, a type or a press."""
    if selector.metric != "browser_web_vital_inp" or not scenario.browsers:
        return None
    user = dict(selector.tags).get("user")
    browsers = [b for b in scenario.browsers if user is None or b.name == user]
    if not browsers or any(b.interacts for b in browsers):
        return None
    return (f"browser_web_vital_inp is measured on input and no journey{f' of {user}' if user else ''} clicks, types "
            "or presses a key: it could only read no data; add such a step (click, type, press) or remove this "
            "threshold")


def _one_audit(selector: Selector) -> str | None:
    """Why a lighthouse_audit threshold without an audit id means nothing: audits have different units (ms, bytes,
    a count, a unitless shift), and one limit over all of them passed or failed by which audit was largest."""
    if selector.metric != "lighthouse_audit" or "id" in dict(selector.tags):
        return None
    return ("lighthouse_audit needs the audit it judges, e.g. lighthouse_audit{id:largest-contentful-paint}: audits "
            "have different units (ms, bytes, a count), so one limit over all of them means nothing")


# the tag naming what a Lighthouse result holds a number for, and what the message calls it
_LIGHTHOUSE_TAG = {"lighthouse_audit": ("id", "audit"), "lighthouse_score": ("category", "category"),
                   **{m: ("type", "resource type") for m in RESOURCE_METRICS}}


def _not_in_results(
    selector: Selector, scenario: Scenario, held: Mapping[str, AbstractSet[str]] | None
) -> str | None:
    """Why a threshold on Lighthouse results could only read no data: the profile's files (read when it is
    loaded, and not again) give no number for the audit, category or resource type it names."""
    if held is None or selector.metric not in _LIGHTHOUSE_TAG:
        return None
    if selector.metric in RESOURCE_METRICS and scenario.browsers:
        return None  # the browser users' page views weigh their resources too
    tag, what = _LIGHTHOUSE_TAG[selector.metric]
    wanted, known = dict(selector.tags).get(tag), held.get(selector.metric, set())
    if wanted is None:
        return None if known else f"no Lighthouse result of the profile gives {selector.metric} a number"
    if wanted in known:
        return None
    return f"no Lighthouse result has {what} {wanted!r} with a number; {did_you_mean(wanted, known)}"


def threshold_problems(raw: dict[Any, Any], doc: Document) -> list[Problem]:
    """The problems of a thresholds mapping on its own (syntax, metrics, aggregations), for a file whose
    schema failed: names that need the scenario (endpoints, users) are not checked."""
    items = {str(k): v if isinstance(v, list) else [v] for k, v in raw.items()}
    # a scenario's free tags are unknown here (it failed): every tag key a selector names may be one of them
    return parse_thresholds(items, None, doc, run_tags=dict.fromkeys(_tag_names(items), ""))[1]


def _tag_names(selectors: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for text in selectors:
        body = text.partition("{")[2].rpartition("}")[0]
        if body.strip():
            try:
                names |= {name for name, _ in split_tag_filters(body, text)}
            except ThresholdSyntaxError:
                continue  # the selector's own problem: parse_thresholds says it
    return names


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


def _check_tags(tags: tuple[tuple[str, str], ...], scenario: Scenario, run_tags: Mapping[str, str] = {},
                notes: list[str] | None = None) -> None:
    """Raises ThresholdSyntaxError for a tag value nothing in the scenario can carry; adds to `notes` what only
    the site itself can tell (a page only a script can open)."""
    names = {ep.name for u in scenario.users for ep in u.requests}
    free = tag_keys(scenario, run_tags)
    for tag, value in tags:
        if tag in free and tag not in TAGS:
            values = tag_values(scenario, tag, run_tags)
            if value not in values:
                raise ThresholdSyntaxError(f"no request is tagged {tag}:{value}; {did_you_mean(value, values)}")
    users = {str(u.name) for u in scenario.users} | {b.name for b in scenario.browsers}
    for tag, value in tags:
        if tag == "page":
            why, note = _page_problem(value, scenario, dict(tags).get("user"))
            if why is not None:
                raise ThresholdSyntaxError(why)
            if note is not None and notes is not None:
                notes.append(note)
        if tag == "check":
            checks = {c for u in scenario.users for ep in u.requests for c in check_names(ep)}
            if value not in checks:
                raise ThresholdSyntaxError(f"no expect condition is named {value!r}; {did_you_mean(value, checks)}")
        if tag == "name" and value not in names:
            commas = any("," in n for n in names)
            quoting = ' (a name holding a comma is quoted: name:"a, b")' if commas else ""
            raise ThresholdSyntaxError(f"no endpoint is named {value!r}; {did_you_mean(value, names, commas)}{quoting}")
        if tag == "user" and value not in users:
            raise ThresholdSyntaxError(f"no user is named {value!r}; {did_you_mean(value, users)}")
        if tag == "method" and value.upper() not in METHODS:
            raise ThresholdSyntaxError(f"unknown method {value!r}; use one of {', '.join(METHODS)}")
        if tag == "status" and not (value.isdigit() and 0 <= int(value) <= 599):
            raise ThresholdSyntaxError(f"status must be an HTTP status code, not {value!r}")


def _page_problem(value: str, scenario: Scenario, user: str | None) -> tuple[str | None, str | None]:
    """(why a `page` filter could only read no data, a warning), each None if there is none. A page view is
    named by the visit step that opened it (its `name`, else its path without the query); a document a click, a
    key or a script opened is named by its path. So a path no visit names is a page only a journey that clicks,
    types or presses, or a page's own script (a redirect), can reach: with neither a click nor a key, a path
    close to a page's name or the path of a named visit is a mistake; any other is accepted with a warning (only
    the site can tell whether a script opens it: if none does, the threshold fails as no data)."""
    browsers = [b for b in scenario.browsers if user is None or b.name == user] or scenario.browsers
    pages = {name for b in browsers for name in b.page_names()}
    if value in pages:
        return None, None
    if value.startswith("/") and any(ch in value for ch in "?#"):
        return (f"page {value!r}: a page is named by its path without the query or fragment; "
                f"write {{page:{value.split('?')[0].split('#')[0]}}}"), None
    if value.startswith("/") and any(b.interacts for b in browsers):
        return None, None  # a click, a key or a form may open it: its view is named by its path
    named = {urlsplit(s.visit).path: s.name for b in browsers for s in b.journey if s.visit is not None and s.name}
    whose = f" of {user}" if user else ""
    if value in named:
        return (f"no page view is named {value!r}: the visit{whose} of {value} is named {named[value]!r}, and a "
                f"view takes its visit's name; write {{page:{named[value]}}}"), None
    if value.startswith("/") and closest(value, pages) is None:
        return None, (f"no visit step{whose} names a page {value!r} and no journey clicks, types or presses: only a "
                      f"page's own script (a redirect) can open it; if none does, this threshold fails as no data")
    reach = " and no journey clicks, types or presses (which could open a page no visit names)" if value.startswith(
        "/") else ""
    return f"no visit step{whose} names a page {value!r}{reach}; {did_you_mean(value, pages)}", None
