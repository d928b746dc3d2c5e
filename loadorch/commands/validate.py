"""`loadorch validate` and `loadorch list`: check and show a project's profiles and scenarios."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence

from loadorch.config.resolve import (
    YAML_SUFFIXES,
    build,
    load_document,
    load_scenario,
    profile_names,
    resolve_profile,
    scenario_path_of,
    scenario_paths,
)
from loadorch.errors import ConfigError, ExitCode, LoadorchError, Problem
from loadorch.report import gha


def validate_project(project: str, refs: Sequence[str], env: Mapping[str, str]) -> int:
    """Validate the named profiles/files (all by default); every problem is printed; exit 3 if any."""
    profiles, scenarios = _targets(project, refs)
    if not profiles and not scenarios:
        sys.stderr.write(f"error: nothing to validate: no profiles/ or scenarios/ YAML files in {project}\n")
        return ExitCode.USAGE
    problems: list[Problem] = []
    checked: set[str] = set()
    for _name, path in profiles:
        try:
            cfg = build(path, project, env, lenient=True)
            checked.add(os.path.abspath(cfg.scenario.path))
            print(f"ok   {path} (scenario {os.path.relpath(cfg.scenario.path)})")
            _note_unset(path, cfg.scenario.path, env)
            _warn(cfg.warnings)
        except ConfigError as exc:
            problems += exc.problems
            _mark_scenario_checked(path, env, checked)
        except LoadorchError as exc:
            problems.append(Problem(path, None, "", str(exc)))
    for path in scenarios:
        if os.path.abspath(path) in checked:
            continue
        try:
            loaded, _ = load_scenario(path, env, lenient=True)
            print(f"ok   {path}")
            _warn(map(str, loaded.warnings))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        unique = list(dict.fromkeys(problems))
        sys.stderr.write(f"error: invalid configuration ({len(unique)} problem{'s' if len(unique) != 1 else ''}):\n")
        for p in unique:
            sys.stderr.write(f"  {p}\n")
        if gha.enabled(os.environ):
            sys.stdout.write(gha.problem_commands(unique))
        return ExitCode.CONFIG
    return ExitCode.OK


def _warn(warnings: Iterable[str]) -> None:
    """What a run would warn of before its load (nothing wrong enough to refuse), said by validate too."""
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")


def _note_unset(profile_path: str, scenario_path: str, env: Mapping[str, str]) -> None:
    unset: set[str] = set()
    for path in (profile_path, scenario_path):
        unset |= load_document(path, env, lenient=True)[2]
    if unset:
        sys.stderr.write(f"note: {profile_path} needs {', '.join(sorted(unset))} set at run time\n")


def _mark_scenario_checked(profile_path: str, env: Mapping[str, str], checked: set[str]) -> None:
    """A profile that failed may have failed on its scenario: do not report the scenario twice."""
    from loadorch.config.resolve import load_profile

    try:
        profile, _, _ = load_profile(profile_path, env, lenient=True)
    except ConfigError:
        return
    checked.add(os.path.abspath(scenario_path_of(profile, profile_path)))


def _targets(project: str, refs: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    if not refs:
        return list(profile_names(project).items()), scenario_paths(project)
    profiles: list[tuple[str, str]] = []
    scenarios: list[str] = []
    for ref in refs:
        if ref.endswith(YAML_SUFFIXES) and os.path.isfile(ref) and _looks_like_scenario(ref):
            scenarios.append(ref)
        else:
            profiles.append(resolve_profile(ref, project))
    return profiles, scenarios


def _looks_like_scenario(path: str) -> bool:
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    if parent == "scenarios":
        return True
    if parent == "profiles":
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    return "\nusers:" in "\n" + head and "\nscenario:" not in "\n" + head


def list_project(project: str) -> int:
    profiles = profile_names(project)
    scenarios = scenario_paths(project)
    if not profiles and not scenarios:
        print(f"no profiles/ or scenarios/ in {os.path.abspath(project)} (try `loadorch init`)")
        return ExitCode.OK
    for name, path in profiles.items():
        print(f"profile   {name:<16} {os.path.relpath(path)}")
    for path in scenarios:
        print(f"scenario  {os.path.splitext(os.path.basename(path))[0]:<16} {os.path.relpath(path)}")
    return ExitCode.OK
