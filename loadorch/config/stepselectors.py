"""The CSS selectors of browser journeys (`click`, `type.selector`, `wait_for`), checked as the page's
`document.querySelector` will read them, for the values their placeholders can take: a selector the
page refuses would fail the step in every iteration of the run."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from loadorch.config.envsubst import unset_marker
from loadorch.config.scenario import Scenario
from loadorch.errors import Problem
from loadorch.traffic import data as gen
from loadorch.traffic.template import Template, TemplateError, compile_template

if TYPE_CHECKING:
    from loadorch.config.yamlsource import Document

MAX_VALUES = 200  # values of one placeholder tried (a choice's options, a CSV column's distinct values)
BUILTIN_VALUES: dict[str, list[Any]] = {"page": [0, 1], "iteration": [0, 1]}
# an unset variable in lenient mode (validate): its value is known at run time, and checked then
_UNSET = re.compile(re.escape(unset_marker("NAME")).replace("NAME", r"[^>]*"))


def selector_problems(
    scenario: Scenario, doc: Document, generators: Mapping[str, gen.Generator] | None = None
) -> list[Problem]:
    """One problem per journey step whose selector querySelector would refuse (for some value of its
    placeholders: each is tried with what its generator can give, the others at their first value)."""
    from loadorch.config.yamlsource import dotted

    values = {name: selector_values(g) for name, g in (generators or {}).items()}
    values.update(BUILTIN_VALUES)
    problems: list[Problem] = []
    for b, browser in enumerate(scenario.browsers):
        for s, step in enumerate(browser.journey):
            where: tuple[Any, ...] = ("browsers", b, "journey", s)
            if step.click is not None:
                path, text = (*where, "click"), step.click
            elif step.wait_for is not None:
                path, text = (*where, "wait_for"), step.wait_for
            elif step.type is not None:
                path, text = (*where, "type", "selector"), step.type.selector
            else:
                continue
            message = selector_message(text, values)
            if message is not None:
                problems.append(Problem(doc.file, doc.line_of(path), dotted(path), message))
    return problems


def selector_message(text: str, values: Mapping[str, list[Any]]) -> str | None:
    """Why `text` (a template) is no selector querySelector accepts, or None. A placeholder with no
    values given (an unknown name: reported apart) leaves the selector unchecked."""
    try:
        template = compile_template(_UNSET.sub("x", text))
    except TemplateError:
        return None  # the template's own problem, reported by check_templates
    from loadorch.config.css import selector_error  # 4 ms of imports: only a scenario with journeys pays them

    for rendered, chosen in _renderings(template, values):
        error = selector_error(rendered)
        if error is None:
            continue
        if not chosen:
            return f"invalid CSS selector {text!r}: {error}"
        shown = ", ".join(f"{{{name}}} is {value!r}" for name, value in chosen.items())
        example = f'[data-id="{{{next(iter(chosen))}}}"]'
        return (f"invalid CSS selector {text!r} when {shown} ({rendered!r}): {error}; a placeholder's value is "
                f"inserted as it is: quote it in an attribute value ({example})")
    return None


def _renderings(template: Template, values: Mapping[str, list[Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The template rendered with each value of each placeholder in turn, the others at their first."""
    names = list(dict.fromkeys(ref.name for ref in template.refs()))
    if any(not values.get(name) for name in names):
        return
    first = {name: values[name][0] for name in names}
    seen: set[str] = set()
    for name in names or [""]:
        for value in values.get(name, [None])[:MAX_VALUES]:
            current = {**first, name: value} if name else first
            try:
                rendered = template.render_text(current.__getitem__)
            except (KeyError, TypeError, ValueError):
                continue  # a `.field` the value has not: reported by check_templates
            if rendered not in seen:
                seen.add(rendered)
                yield rendered, {n: current[n] for n in names}


def selector_values(g: gen.Generator) -> list[Any]:
    """Values a generator can give that may read differently in a selector: every option of a choice, every
    distinct value of a CSV column, a range's ends (and 0 and -1 when inside it), a pattern with letters and
    with digits where it takes either."""
    if isinstance(g, gen.ChoiceGen):
        return list(g.options)
    if isinstance(g, gen.ConstGen):
        return [g.value]
    if isinstance(g, gen.RowsGen):
        if g.column is None:
            return [dict(g.rows[0])]
        distinct: dict[str, None] = {}
        for row in g.rows:  # (a CSV file may have millions of rows: the first MAX_VALUES distinct values)
            distinct.setdefault(row[g.column], None)
            if len(distinct) >= MAX_VALUES:
                break
        return list(distinct)
    if isinstance(g, gen.PatternGen):
        return [_pattern_example(g.pattern, "0", "a", "0"), _pattern_example(g.pattern, "9", "z", "a")]
    if isinstance(g, gen.SequenceGen):
        return [g.start, g.start + g.step]
    if isinstance(g, gen.IntGen):
        return [g.low, g.high, *(v for v in (0, -1) if g.low <= v <= g.high)]
    return [g.low, g.high, (g.low + g.high) / 2]


def _pattern_example(pattern: str, digit: str, letter: str, either: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append({"#": digit, "?": letter, "*": either}.get(ch, ch))
    return "".join(out)
