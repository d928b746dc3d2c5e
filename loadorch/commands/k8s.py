"""`loadorch k8s render | plan | collect`: the edges around the pure manifest rendering in k8s.py."""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import yaml

from loadorch.config.envsubst import references, required_references
from loadorch.config.hostauth import split_credentials
from loadorch.config.resolve import UNSET_HOST, Overrides, RunConfig, build, resolve_profile
from loadorch.config.scenario import Scenario
from loadorch.errors import ConfigError, ExitCode, Problem, RunError, SafetyError, UsageError
from loadorch.k8s.framing import FramingError, unframe
from loadorch.k8s.hostcheck import configmap_problem, render_host_problem, secret_problem
from loadorch.k8s.manifests import RenderInput, release_name, render
from loadorch.k8s.monitor import CRONJOB_NAME_MAX, render_check, render_monitor, schedule_problem
from loadorch.report import gha
from loadorch.report.html import render_html
from loadorch.report.summary import markdown, terminal
from loadorch.results import ResultsError, parse_results
from loadorch.run.artifacts import write_text
from loadorch.run.outdir import check_out_dir
from loadorch.run.plan import browser_worker_count, build_plan, write_plan


def _data_files(scenario_path: str, scenario: Scenario) -> dict[str, str]:
    """CSV and Python files the scenario reads, by their path relative to it (at or below it, also after
    following symbolic links: a link must not pull an outside file into the ConfigMap)."""
    base = os.path.dirname(os.path.abspath(scenario_path))
    real_base = os.path.realpath(base)
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
        real = os.path.realpath(os.path.join(base, rel))
        if not real.startswith(real_base + os.sep):
            raise ConfigError(
                [
                    Problem(
                        scenario_path,
                        None,
                        field,
                        f"{rel} is a symbolic link to {real}, outside the scenario's folder: refused for "
                        "Kubernetes (copy the file into the scenario's folder)",
                    )
                ]
            )
        with open(real, encoding="utf-8") as fh:
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
    run_id: str | None = None,
    metrics_port: int | None = None,
    remote_write: str | None = None,
    files_in_image: str | None = None,
    browser_image: str | None = None,
    summary_export: str | None = None,
    monitor: bool = False,
    schedule: str | None = None,
) -> int:
    problem = schedule_problem(schedule) if schedule is not None else None
    if problem:
        raise UsageError(problem)
    _, path = resolve_profile(profile_ref, project)
    if overrides.host and split_credentials(overrides.host)[1] is not None:
        raise UsageError(
            "--host carries credentials (user:password@): they would be written into the Job specs; put the URL "
            "with its credentials in the env Secret and refer to it in the profile (host: ${STAGING_URL})"
        )
    cfg = build(path, project, env, overrides, lenient=True)
    if monitor and schedule is None:  # a scheduled pass is a run: the profile's load as it is
        from loadorch.run.monitor import monitor_config

        monitor_config(cfg)  # a load it cannot hold level is refused here, not in the pod
    workers = workers if cfg.scenario.model.users else 0  # browser-only: no HTTP workers Job
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
    problem = None if files_in_image else configmap_problem(files)
    if problem:
        raise ConfigError([Problem(cfg.scenario.path, None, "data", problem)])
    known_host = None if cfg.host == UNSET_HOST else cfg.host
    problem = render_host_problem(known_host, cfg.profile.allowed_hosts)
    if problem:
        raise SafetyError(f"refused for Kubernetes: {problem}")
    variables = sorted(set().union(*(references(text) for text in files.values())))
    egress = _egress_ports(cfg, known_host, remote_write, monitor)
    required = sorted(set().union(*(required_references(text) for text in files.values())))
    deadline = int(cfg.profile.worker_connect_timeout + (cfg.duration_s or 3600) + 300)
    stamp = f"{datetime.now(timezone.utc).strftime('%m%d%H%M%S')}-{pysecrets.token_hex(2)}"
    run_id = run_id or ("live" if monitor else stamp)  # a monitor's Deployment keeps its name from render to render
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
        run_id=run_id,
        required=required,
        effective=effective_settings(cfg, workers, flags, profile_text),
        egress_ports=egress,
        files_in_image=files_in_image,
        browser_workers=browser_worker_count(cfg) if cfg.scenario.model.browsers else 0,
        browser_image=browser_image,
        summary_export=summary_export,
    )
    release = release_name(cfg.profile_name, run_id)
    if egress and known_host is None:
        pod = "monitor" if monitor else "master"
        sys.stderr.write(f"note: the target's port is not known at render time (host from a variable): the egress "
                         f"NetworkPolicy of the {pod} pod allows 80 and 443 to reach it; for another port pass "
                         "--host URL\n")
    if schedule is not None:
        if len(f"{release}-check") > CRONJOB_NAME_MAX:
            raise UsageError(f"the CronJob's name {release}-check is longer than {CRONJOB_NAME_MAX} characters "
                             "(Kubernetes' limit): give a shorter --run-id")
        sys.stdout.write(_dump_safe(render_check(inp, schedule), cfg))
        note = _pass_samples_note(cfg)
        if note:
            sys.stderr.write(f"note: {note}\n")
        sys.stderr.write(f"monitor checks: CronJob {release}-check ({schedule.strip()}), one `loadorch run` a pass; "
                         "a pass that does not pass fails its Job\n")
        return ExitCode.OK
    if monitor:
        sys.stdout.write(_dump_safe(render_monitor(inp), cfg))
        sys.stderr.write(f"monitor: Deployment {release}-monitor, Service {release}-monitor (ports status, metrics)\n")
        return ExitCode.OK
    sys.stdout.write(_dump_safe(render(inp), cfg))
    jobs = f"workers Job {release}-workers" if workers else f"browsers Job {release}-browsers (browsers only)"
    sys.stderr.write(f"run {run_id}: master Job {release}-master, {jobs}\n")
    if files_in_image:
        layout = ", ".join(f"{files_in_image}/{rel}" for rel in sorted(files))
        sys.stderr.write(f"the image must hold these files (as in your project): {layout}\n")
    if summary_export:
        sys.stderr.write(f"k6's summary JSON: `k8s collect` writes it as {summary_export} in the run folder\n")
    if request_log:
        sys.stderr.write(
            f"note: the request log stays in the master pod (/scratch/{run_id}/requests.jsonl); it is never put in "
            "the log stream, so `k8s collect` does not return it\n"
        )
    return ExitCode.OK


def effective_settings(cfg: RunConfig, workers: int, flags: Sequence[str], profile_text: str) -> str:
    """What the pods will run, after the command-line flags (which the ConfigMap's profile.yaml does not show)."""
    raw = yaml.safe_load(profile_text) or {}
    doc = {
        "note": "effective settings of this render: the args of the Jobs override profile.yaml",
        "overridden_by_args": [f for f in ["--workers", *flags] if f.startswith("--")],
        "workers": workers,
        "users": cfg.users,
        "duration_s": cfg.duration_s,
        "iterations": cfg.iterations,
        "seed": cfg.seed,
        "host": next(
            (flags[i + 1] for i, f in enumerate(flags[:-1]) if f == "--host"),
            raw.get("host") if isinstance(raw, dict) else None,
        ),
    }
    return yaml.safe_dump(doc, sort_keys=False)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the files in the ConfigMap) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value and all(ch == "\n" or ch >= " " for ch in value) and not value.endswith(" \n"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_manifests(manifests: Sequence[object]) -> str:
    return yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, width=120)


def _dump_safe(manifests: Sequence[dict[str, object]], cfg: RunConfig) -> str:
    """The manifests as YAML, refused (nothing written) when a secret of the run is in one that is not a Secret."""
    problem = secret_problem(manifests, cfg.secrets)
    if problem:
        raise SafetyError(f"refused for Kubernetes: {problem}")
    return dump_manifests(manifests)


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
    # the token proves the pod belongs to the run (every pod reads it from the render's Secret); its trace ids
    # derive from a token of this pod start's own: the same manifests applied again are a new run, whose
    # requests must not carry the trace ids of the last one (a trace backend would join them into one trace)
    plan = build_plan(cfg, cfg.host, master_host, master_port, token, "", "unused" if request_log else None,
                      trace_token=pysecrets.token_hex(16))
    write_plan(plan, out, exclusive=False)
    return ExitCode.OK


def collect_command(log_path: str | None, out: str | None, project: str) -> int:
    """Rebuild the run folder from a master's log; exit with the run's own exit code.

    All or nothing: every file is checked before the folder appears (written aside, then renamed), so a
    cut log never leaves a partial run folder. report.html and summary.md are rebuilt from results.json.
    """
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
        raise RunError(f"{exc}; nothing was written") from None
    if "results.json" not in files:
        raise RunError("the artifacts block has no results.json; nothing was written")
    try:
        results = parse_results(files["results.json"], f"{log_path or 'stdin'}: results.json")
    except ResultsError as exc:
        lines = "".join(f"\n  {p}" for p in exc.problems)
        raise RunError(f"the artifacts block's results.json cannot be read; nothing was written:{lines}") from None
    profile, exit_code = results.run.profile, results.exit_code
    folder = out or os.path.join(
        project, "results", f"{profile}-k8s-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    )
    earlier = check_out_dir(folder, project)
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(folder))}.collect-", dir=parent)
    try:
        for name, data in files.items():
            write_text(os.path.join(staging, name), data.decode("utf-8"))
        write_text(os.path.join(staging, "report.html"), render_html(results))
        write_text(os.path.join(staging, "summary.md"), markdown(results))
        if earlier:
            shutil.rmtree(folder)
        os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    printed = terminal(results) + f"artifacts: {folder}\n"
    sys.stdout.write(gha.quiet(printed) if gha.enabled(os.environ) else printed)  # what the target said, as text
    return exit_code


WEB_PORTS = (80, 443)


def _pass_samples_note(cfg: RunConfig) -> str | None:
    """A periodic check's pass at an arrival rate sends about rate x duration requests: fewer than
    min_samples, and every pass reads inconclusive (exit 6) and fails its Job."""
    if cfg.open_model is None or not cfg.scenario.model.users:
        return None
    expected = sum((a + b) / 2 * seconds for a, b, seconds in cfg.open_model.stages)
    if expected >= cfg.min_samples:
        return None
    return (f"a pass sends about {expected:.0f} requests, fewer than min_samples ({cfg.min_samples}): its HTTP "
            "thresholds would read inconclusive (exit 6) and fail its Job every time; lower min_samples in the "
            "profile or give a longer --duration")


def _egress_ports(cfg: RunConfig, host: str | None, remote_write: str | None, monitor: bool) -> tuple[int, ...]:
    """With a database collector in the master pod (a monitor's or a check's pod: its load too): the
    database's port (from the DSN, 5432 when it is not known at render time), the target's (80 and 443 when
    it comes from a variable, unknown here) and the remote-write endpoint's; a monitor's pages also fetch
    other origins on the web's ports."""
    from urllib.parse import urlsplit

    from loadorch.config.collectors import dsn_port

    settings = cfg.profile.collectors.postgres
    if settings is None:
        return ()
    ports = [dsn_port(settings.dsn)]
    if host is None or (monitor and cfg.scenario.model.browsers):
        ports += WEB_PORTS
    for url in (host, remote_write):
        if url:
            try:
                parts = urlsplit(url)
                ports.append(parts.port or (443 if parts.scheme == "https" else 80))
            except ValueError:
                continue
    return tuple(sorted(set(ports)))
