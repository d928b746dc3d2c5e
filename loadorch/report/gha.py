"""GitHub Actions workflow commands: `::error file=...,line=...::message` for problems and breached thresholds.

Printed on stdout only when GITHUB_ACTIONS=true, so a run in Actions marks the YAML line in the pull
request; elsewhere nothing changes. Escaping follows the workflow-command rules (data: % CR LF;
properties also : and ,), so a message cannot end the command or start another one; what else a run prints
there (its summary, which holds what the target answered) is printed with commands stopped (quiet).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping, Sequence

from loadorch.errors import Problem
from loadorch.results import ThresholdRow


def enabled(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def error_command(message: str, file: str | None = None, line: int | None = None, title: str = "") -> str:
    props = []
    if file:
        props.append(f"file={_prop(os.path.relpath(file) if os.path.isabs(file) else file)}")
    if line:
        props.append(f"line={line}")
    if title:
        props.append(f"title={_prop(title)}")
    return f"::error {','.join(props)}::{_data(message)}\n" if props else f"::error::{_data(message)}\n"


def problem_commands(problems: Iterable[Problem]) -> str:
    return "".join(
        error_command(f"{p.field}: {p.message}" if p.field else p.message, p.file, p.line, "loadorch configuration")
        for p in problems
    )


def quiet(text: str) -> str:
    """`text` printed so that the runner reads no workflow command in it: between `::stop-commands::TOKEN` and
    `::TOKEN::`, TOKEN random (GitHub's way to print untrusted output). A run's summary holds what the target
    answered, and the runner takes a line starting with `::` (after spaces) as a command, and `##[` anywhere in
    a line too (its legacy form): `::add-mask::`, `##[error]` or `##[stop-commands]` in an error page would act."""
    if not text:
        return text
    token = secrets.token_hex(16)
    end = "" if text.endswith("\n") else "\n"
    return f"::stop-commands::{token}\n{text}{end}::{token}::\n"


def line_of_selector(text: str, selector: str) -> int | None:
    """The line of a threshold's key in a YAML file (its selector, or its metric and first tag)."""
    lines = text.splitlines()
    probes = [selector, selector.replace(",", ", "), selector.split("{", 1)[0]]
    for probe in probes:
        for i, line in enumerate(lines, 1):
            if probe in line and "thresholds" not in line.split(probe, 1)[1]:
                return i
    return None


def threshold_commands(results: Sequence[ThresholdRow], sources: Mapping[str, str], files: Mapping[str, str]) -> str:
    """One error per breached threshold, at the line that set it (profile or scenario file)."""
    out = []
    for r in results:
        if r.verdict != "fail":
            continue
        selector = r.selector
        layer = sources.get(f"thresholds.{selector}", "defaults")
        file = files.get(layer)
        line = None
        if file:
            try:
                with open(file, encoding="utf-8") as fh:
                    line = line_of_selector(fh.read(), selector)
            except OSError:
                file = None
        message = f"threshold {selector} {r.expression} breached: {r.message}"
        out.append(error_command(message, file, line, "loadorch threshold"))
    return "".join(out)
