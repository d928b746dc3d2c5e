"""`loadorch k8s render | plan | collect`: the edges around the pure manifest rendering in k8s.py."""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import yaml

from loadorch.config.envsubst import references
from loadorch.config.resolve import Overrides, build, resolve_profile
from loadorch.config.scenario import Scenario
from loadorch.errors import ConfigError, ExitCode, Problem, RunError
from loadorch.k8s.framing import FramingError, unframe
from loadorch.k8s.manifests import RenderInput, render
from loadorch.report.summary import terminal
from loadorch.run.artifacts import write_text
from loadorch.run.plan import build_plan, write_plan


def _data_files(scenario_path: str, scenario: Scenario) -> dict[str, str]:
    """CSV and Python files the scenario reads, by their path relative to it (at or below it)."""
    base = os.path.dirname(os.path.abspath(scenario_path))
    out: dict[str, str] = {}
    files = [(f"data.{name}.csv.file", spec.csv.file) for name, spec in scenario.data.items() if spec.csv]
    files += [(f"users[{i}].python", u.python.rsplit(":", 1)[0]) for i, u in enumerate(scenario.users) if u.python]
    for field, path in files:
        rel = os.path.normpath(path)
        if rel.startswith("..") or os.path.isabs(rel):
            raise ConfigError(
                [
                    Problem(
                        scenario_path, None, field, "for Kubernetes, files must be in the scenario's folder or below it"
                    )
                ]
            )
        with open(os.path.join(base, rel), encoding="utf-8") as fh:
            out[rel] = fh.read()
    return out


def render_command(
    profile_ref: str,
    project: str,
    workers: int,
    image: str,
    namespace: str | None,
    env_secret: str | None,
    flags: Sequence[str],
    overrides: Overrides,
    request_log: bool,
    env: Mapping[str, str],
    metrics_port: int | None = None,
    remote_write: str | None = None,
) -> int:
    _, path = resolve_profile(profile_ref, project)
    cfg = build(path, project, env, overrides, lenient=True)
    if cfg.host == "embedded":
        raise ConfigError(
            [
                Problem(
                    path,
                    None,
                    "host",
                    "host: embedded runs only on this machine; workers in other "
                    "pods cannot reach it: set host to a URL, or pass --host",
                )
            ]
        )
    with open(path, encoding="utf-8") as fh:
        profile_text = fh.read()
    with open(cfg.scenario.path, encoding="utf-8") as fh:
        scenario_text = fh.read()
    files = {
        "profile.yaml": profile_text,
        "scenario.yaml": scenario_text,
        **_data_files(cfg.scenario.path, cfg.scenario.model),
    }
    variables = sorted(set().union(*(references(text) for text in files.values())))
    deadline = int(cfg.profile.worker_connect_timeout + (cfg.duration_s or 3600) + 300)
    inp = RenderInput(
        profile_name=cfg.profile_name,
        files=files,
        variables=variables,
        workers=workers,
        image=image,
        namespace=namespace,
        deadline_s=deadline,
        token=pysecrets.token_hex(16),
        env_secret=env_secret,
        request_log=request_log,
        metrics_port=metrics_port,
        remote_write=remote_write,
        overrides=tuple(flags),
    )
    sys.stdout.write(dump_manifests(render(inp)))
    return ExitCode.OK


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the files in the ConfigMap) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and all(ch == "\n" or ch >= " " for ch in value) and not value.endswith(" \n"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_manifests(manifests: Sequence[object]) -> str:
    return yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, width=120)


def plan_command(
    profile: str,
    project: str,
    overrides: Overrides,
    master_host: str,
    master_port: int,
    out: str,
    request_log: bool,
    env: Mapping[str, str],
) -> int:
    """Write the worker's run plan: the same build_plan the master's controller uses."""
    cfg = build(profile, project, env, overrides)
    token = env.get("LOADORCH_RUN_TOKEN")
    if not token:
        raise RunError("LOADORCH_RUN_TOKEN is not set: the worker cannot prove it belongs to this run")
    plan = build_plan(cfg, cfg.host, master_host, master_port, token, "", "unused" if request_log else None)
    write_plan(plan, out, exclusive=False)
    return ExitCode.OK


def collect_command(log_path: str | None, out: str | None, project: str) -> int:
    """Rebuild the run folder from a master's log; exit with the run's own exit code."""
    if log_path in (None, "-"):
        text = sys.stdin.read()
    else:
        try:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError([Problem(str(log_path), None, "", f"cannot read log: {exc.strerror}")]) from None
    try:
        files = unframe(text)
    except FramingError as exc:
        raise RunError(str(exc)) from None
    if "results.json" not in files:
        raise RunError("the artifacts block has no results.json")
    doc = json.loads(files["results.json"])
    folder = out or os.path.join(
        project, "results", f"{doc['run']['profile']}-k8s-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    )
    for name, data in files.items():
        write_text(os.path.join(folder, name), data.decode("utf-8"))
    sys.stdout.write(terminal(doc))
    sys.stdout.write(f"artifacts: {folder}\n")
    return int(doc["exit_code"])
