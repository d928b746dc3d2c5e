"""Loading a project: resolve a profile, load its scenario, merge layers into one RunConfig.

Precedence, lowest first (one ordered list, see LAYERS): built-in defaults, the scenario file,
the profile file, command-line flags.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from loadorch.config.checks import (
    check_common_headers,
    check_python_users,
    check_templates,
    compile_all,
    compile_generators,
    parse_thresholds,
    threshold_problems,
)
from loadorch.config.collectors import dsn_secrets
from loadorch.config.envsubst import (
    TemplatePath,
    interpolate,
    profile_template_path,
    scenario_template_path,
    secret_variables,
    short_secret_warnings,
    unset_marker,
)
from loadorch.config.hostauth import split_credentials
from loadorch.config.measure import Window, resolve_window
from loadorch.config.problems import M, validate_document
from loadorch.config.profile import Load, Profile
from loadorch.config.profilers import check_profilers
from loadorch.config.scenario import Scenario
from loadorch.config.stepselectors import selector_problems
from loadorch.config.suggest import did_you_mean
from loadorch.config.thresholds import (
    BROWSER_GATED,
    DEFAULT_BROWSER_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    SERVER_WIDE,
    Threshold,
)
from loadorch.config.tls import tls_problems
from loadorch.config.units import MAX_DURATION_S, MAX_DURATION_TEXT
from loadorch.config.usercount import default_max_users, load_problems, peak_rate
from loadorch.config.yamlsource import Document, parse, read_text
from loadorch.errors import ConfigError, Problem, UsageError
from loadorch.traffic import data as gen
from loadorch.traffic.arrivals import total_seconds
from loadorch.traffic.redact import (
    Redactor,
    header_secrets,
    header_secrets_in,
    query_credentials,
    query_secrets_in,
)

LAYERS = ("defaults", "scenario", "profile", "cli")
DEFAULT_MIN_SAMPLES = 100
YAML_SUFFIXES = (".yaml", ".yml")
UNSET_HOST = "http://unset.invalid"  # lenient loading: the host comes from a variable not set here


@dataclass(frozen=True)
class Overrides:
    """Command-line flags; None means "not given"."""

    users: int | None = None
    spawn_rate: float | None = None
    duration_s: float | None = None
    workers: int | None = None
    seed: int | None = None
    host: str | None = None
    iterations: int | None = None
    scenario: str | None = None  # a scenario file instead of the profile's
    tags: tuple[tuple[str, str], ...] = ()  # --tag KEY=VALUE: the whole run's tags
    # the profile's name when its file is not named after it (a pod's /config/profile.yaml): the live series'
    # `profile` label, which the rules of `loadorch alerts NAME` filter on
    profile_name: str | None = None


@dataclass(frozen=True)
class LoadedScenario:
    path: str
    sha256: str
    model: Scenario
    generators: Mapping[str, gen.Generator]
    thresholds: dict[str, list[Threshold]]
    warnings: tuple[Problem, ...] = ()  # accepted, but may read no data (checks.parse_thresholds)


@dataclass(frozen=True)
class RunConfig:
    profile_name: str
    profile_path: str
    profile: Profile
    scenario: LoadedScenario
    host: str
    users: int
    spawn_rate: float
    duration_s: float | None
    iterations: int | None
    workers: int
    seed: int
    thresholds: tuple[Threshold, ...]
    min_samples: int
    headers: Mapping[str, str]
    secrets: frozenset[str]
    sources: Mapping[str, str] = field(default_factory=dict)
    open_model: OpenModel | None = None
    lighthouse: tuple[Any, ...] = ()  # loadorch.config.lighthouse.Sample, from the profile's result files
    warnings: tuple[str, ...] = ()  # printed before the run: nothing wrong enough to refuse it
    user_stages: tuple[tuple[float, float, float], ...] | None = None  # closed-model stages: (from, to, seconds)
    window: Window | None = None  # the measurement window the thresholds judge
    run_tags: Mapping[str, str] = field(default_factory=dict)  # --tag: on every request of the run
    tls: Mapping[str, str | None] | None = None  # the profile's tls: with absolute paths (config/tls.py)


def profile_names(project: str) -> dict[str, str]:
    """name -> path of every profile in `project/profiles`."""
    out: dict[str, str] = {}
    for suffix in YAML_SUFFIXES:
        for path in sorted(glob.glob(os.path.join(project, "profiles", "*" + suffix))):
            out.setdefault(os.path.basename(path)[: -len(suffix)], path)
    return out


def scenario_paths(project: str) -> list[str]:
    return sorted(p for s in YAML_SUFFIXES for p in glob.glob(os.path.join(project, "scenarios", "*" + s)))


def resolve_profile(ref: str, project: str) -> tuple[str, str]:
    """(name, path) for a profile name or a path to a YAML file; unknown names are usage errors."""
    if ref.endswith(YAML_SUFFIXES) or os.sep in ref:
        if not os.path.isfile(ref):
            raise UsageError(f"no such profile file: {ref}")
        base = os.path.basename(ref)
        return base.rsplit(".", 1)[0], ref
    names = profile_names(project)
    if ref in names:
        return ref, names[ref]
    where = os.path.join(project, "profiles")
    if not names:
        raise UsageError(f"unknown profile {ref!r}: no profiles found in {where}/ (try `loadorch init`)")
    hint = did_you_mean(ref, names)
    known = f"profiles in {where}/: {', '.join(sorted(names))}"
    raise UsageError(f"unknown profile {ref!r}; " + (f"{hint} ({known})" if hint.startswith("did you mean") else known))


def load_document(
    path: str, env: Mapping[str, str], lenient: bool, is_template: TemplatePath = profile_template_path
) -> tuple[Document, dict[str, str], set[str]]:
    doc = parse(read_text(path), path)
    used, unset = interpolate(doc, env, lenient, is_template)
    return doc, used, unset


def _validated(model: type[M], doc: Document) -> M:
    """The model, or every problem of the file at once: schema problems plus those of its thresholds,
    which are parsed even when the schema fails (a misspelt key must not hide a bad expression)."""
    try:
        return validate_document(model, doc)
    except ConfigError as exc:
        raw = doc.data.get("thresholds") if isinstance(doc.data, dict) else None
        more = threshold_problems(raw, doc) if isinstance(raw, dict) else []
        raise ConfigError(exc.problems + [p for p in more if p not in exc.problems]) from None


def load_scenario(
    path: str,
    env: Mapping[str, str],
    lenient: bool = False,
    run_tags: Mapping[str, str] = {},
    declared: Sequence[str] = (),
    lighthouse: bool = True,
    lighthouse_held: Mapping[str, AbstractSet[str]] | None = None,
) -> tuple[LoadedScenario, dict[str, str]]:
    """The scenario, and name -> value of the secrets it uses: those `declared` (the profile's `secrets:`)
    and those whose names say so. `lighthouse`: the profile gives Lighthouse results (unknown: assumed);
    `lighthouse_held`: what they hold a number for (config.lighthouse.held), once read."""
    doc, used, _ = load_document(path, env, lenient, scenario_template_path)
    model = _validated(Scenario, doc)
    generators, problems = compile_generators(model, doc)
    problems += check_templates(model, doc, generators)
    problems += selector_problems(model, doc, generators)
    problems += check_python_users(model, doc)
    warnings: list[Problem] = []
    thresholds, more = parse_thresholds(model.thresholds, model, doc, run_tags=run_tags, lighthouse=lighthouse,
                                        lighthouse_held=lighthouse_held, warnings=warnings)
    problems += more
    if problems:
        raise ConfigError(problems)
    with open(path, "rb") as fh:
        sha = hashlib.sha256(fh.read()).hexdigest()
    loaded = LoadedScenario(path, sha, model, generators, thresholds, tuple(warnings))
    return loaded, secret_variables(used, tuple(declared))


def load_profile(path: str, env: Mapping[str, str], lenient: bool = False,
                 overrides: Overrides | None = None) -> tuple[Profile, Document, dict[str, str]]:
    doc, used, unset = load_document(path, env, lenient)
    host = doc.data.get("host") if isinstance(doc.data, dict) else None
    if isinstance(host, str) and any(unset_marker(name) in host for name in unset):
        doc.data["host"] = UNSET_HOST  # `validate` and `k8s render` only: the real value is needed at run time
    if overrides is not None:
        _length_from_flags(doc, overrides)
    return _validated(Profile, doc), doc, used


def _length_from_flags(doc: Document, overrides: Overrides) -> None:
    """A closed-model load with neither a duration nor iterations is complete with `--iterations N` or
    `--duration D` (the flags replace the profile's anyway, `merge`): the flag's value stands in while the file is
    validated, so `run --iterations 60` of a profile holding `load: {users: 1}` runs as the README says."""
    load = doc.data.get("load") if isinstance(doc.data, dict) else None
    if not isinstance(load, dict) or any(k in load for k in ("duration", "iterations", "stages", "arrival_rate")):
        return
    if overrides.iterations is not None:
        load["iterations"] = overrides.iterations
    elif overrides.duration_s is not None:
        load["duration"] = overrides.duration_s


def scenario_path_of(profile: Profile, profile_path: str) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(profile_path)), profile.scenario))


def build(
    profile_ref: str, project: str, env: Mapping[str, str], overrides: Overrides = Overrides(), lenient: bool = False
) -> RunConfig:
    """The run's configuration; a problem that quotes a value (`got '/items/...'`) never shows a secret in it."""
    declared: list[str] = []
    try:
        return _build(profile_ref, project, env, overrides, lenient, declared)
    except ConfigError as exc:
        redactor = Redactor(secret_variables(env, tuple(declared)).values())
        raise ConfigError([replace(p, message=redactor.text(p.message)) for p in exc.problems]) from None


def _build(
    profile_ref: str, project: str, env: Mapping[str, str], overrides: Overrides, lenient: bool, declared: list[str]
) -> RunConfig:
    name, path = resolve_profile(profile_ref, project)
    name = overrides.profile_name or name
    profile, pdoc, used = load_profile(path, env, lenient, overrides)
    declared.extend(profile.secrets)
    spath = overrides.scenario or scenario_path_of(profile, path)
    if not os.path.isfile(spath):
        line = None if overrides.scenario else pdoc.line_of(("scenario",))
        raise ConfigError([Problem(path, line, "scenario", f"scenario file not found: {spath}")])
    run_tags = dict(overrides.tags)
    lighthouse_problems: list[Problem] = []
    lighthouse = _lighthouse(profile, path, pdoc, lighthouse_problems)
    held = _held(lighthouse) if lighthouse else None  # what its thresholds may name (a file that failed: unknown)
    try:
        scenario, scenario_secrets = load_scenario(spath, env, lenient, run_tags, profile.secrets,
                                                   bool(profile.lighthouse), held)
    except ConfigError as exc:  # the profile's threshold problems too, in the same report
        raise ConfigError(exc.problems + threshold_problems(profile.thresholds, pdoc)) from None
    noted = list(scenario.warnings)
    overrides_thr, problems = parse_thresholds(profile.thresholds, scenario.model, pdoc, run_tags=run_tags,
                                               lighthouse=bool(profile.lighthouse), lighthouse_held=held,
                                               warnings=noted)
    problems += check_common_headers(profile.headers, scenario.model, scenario.generators, pdoc)
    problems += _collector_problems(profile, pdoc, scenario, overrides_thr)
    problems += load_problems(profile, scenario.model, pdoc)
    problems += lighthouse_problems
    tls = _tls(profile, path, pdoc, problems)
    if problems:
        raise ConfigError(problems)
    named = {**scenario_secrets, **secret_variables(used, profile.secrets)}
    # a declared secret is masked whether or not a file names it: a python user reads it from the environment
    # (os.environ), and its error or its request showed it whole
    named |= {k: env[k] for k in profile.secrets if env.get(k) and k not in named}
    secrets = set(named.values()) | header_secrets(profile.headers)  # literal credentials in headers too
    dumped = scenario.model.model_dump(by_alias=True)
    secrets |= header_secrets_in(dumped) | query_secrets_in(dumped)  # and literal `?token=...` in its targets
    if profile.trace.url:  # a trace link's credentials (`?auth=...`): each slow request's link in the reports shows it
        secrets |= {v for v in query_credentials(profile.trace.url) if "{" not in v and "}" not in v}
        secrets |= _link_userinfo(profile.trace.url)  # and `https://viewer:password@tempo...`
    if profile.collectors.postgres is not None:  # the DSN's password, in every form it may be printed
        secrets |= dsn_secrets(profile.collectors.postgres.dsn)
    if profile.tls is not None and profile.tls.client_key_password:
        secrets.add(profile.tls.client_key_password)
    cfg = merge(name, path, profile, scenario, overrides_thr, overrides, secrets)
    if tls is not None:
        cfg = replace(cfg, tls=tls)
    cfg = _host_credentials(cfg, pdoc)
    problems = compile_all(scenario.model, cfg.headers, scenario.path)
    if problems:
        raise ConfigError(problems)
    _check_ramp(cfg, pdoc)
    _check_profilers(cfg, pdoc)
    cfg = _window(cfg, pdoc)
    cfg = replace(cfg, warnings=(*cfg.warnings, *map(str, dict.fromkeys(noted)), *short_secret_warnings(named)))
    return replace(cfg, lighthouse=lighthouse) if lighthouse else cfg


def _check_ramp(cfg: RunConfig, pdoc: Document) -> None:
    """The closed model's ramp (users / spawn_rate) is a duration too: past the maximum, a run of
    iterations would wait for its last user for years."""
    if cfg.open_model is not None or cfg.user_stages is not None or cfg.users / cfg.spawn_rate <= MAX_DURATION_S:
        return
    what = (
        f"starting {cfg.users} users at {cfg.spawn_rate:g} per second takes {cfg.users / cfg.spawn_rate:.0f}s, "
        f"longer than the maximum of {MAX_DURATION_TEXT} for any duration; raise the spawn rate"
    )
    if cfg.sources.get("spawn_rate") == "cli":
        raise UsageError(f"--spawn-rate: {what}")
    raise ConfigError([Problem(cfg.profile_path, pdoc.line_of(("load", "spawn_rate")), "load.spawn_rate", what)])


def _check_profilers(cfg: RunConfig, pdoc: Document) -> None:
    problem = check_profilers(cfg.profile.profilers, cfg.host)
    if problem:
        raise ConfigError([Problem(cfg.profile_path, pdoc.line_of(("profilers",)), "profilers", problem)])


def _window(cfg: RunConfig, pdoc: Document) -> RunConfig:
    if cfg.user_stages is not None and any(u.python for u in cfg.scenario.model.users):
        message = "closed-model stages drive declarative users only; give Python users `users:` and `duration:`"
        raise ConfigError([Problem(cfg.profile_path, pdoc.line_of(("load", "stages")), "load.stages", message)])
    try:
        window = resolve_window(
            cfg.profile.measure, cfg.profile.load, cfg.user_stages, cfg.duration_s, cfg.users, cfg.spawn_rate
        )
    except ValueError as exc:
        raise ConfigError([Problem(cfg.profile_path, pdoc.line_of(("measure",)), "measure", str(exc))]) from None
    return replace(cfg, window=window)


def _collector_problems(
    profile: Profile, pdoc: Document, scenario: LoadedScenario, profile_thr: dict[str, list[Threshold]]
) -> list[Problem]:
    """Server-wide database metrics need the profile's postgres collector (the database belongs to the
    environment, so the scenario cannot bring it)."""
    if profile.collectors.postgres is not None:
        return []
    problems = []
    layers = (("profile", profile_thr, pdoc.file), ("scenario", scenario.thresholds, scenario.path))
    for layer, thresholds, file in layers:
        for key, items in thresholds.items():
            if items and items[0].selector.metric in SERVER_WIDE and (layer == "profile" or key not in profile_thr):
                line = pdoc.line_of(("thresholds", key)) if layer == "profile" else None
                problems.append(
                    Problem(
                        file,
                        line,
                        f"thresholds.{key}",
                        f"{items[0].selector.metric} is measured in the database: add collectors: {{postgres: "
                        '{dsn: "${DATABASE_URL}"}} to the profile (see README, Database gates)',
                    )
                )
    return problems


def _link_userinfo(url: str) -> set[str]:
    """The credentials of a link's `user:password@` (its password, the pair, as written and decoded), those holding
    a `{placeholder}` left out: a secret of the run, as the host's are, though never sent."""
    try:
        _, creds = split_credentials(url)
    except ValueError:  # no host after '@': the link's own check names it
        return set()
    return {s for s in creds.secrets if "{" not in s and "}" not in s} if creds is not None else set()


def _host_credentials(cfg: RunConfig, pdoc: Document) -> RunConfig:
    """Credentials in the host URL (`https://user:pass@host`) are sent as basic auth and are secrets;
    the host itself is used without them."""
    try:
        host, creds = split_credentials(cfg.host)
    except ValueError as exc:
        raise ConfigError([Problem(cfg.profile_path, pdoc.line_of(("host",)), "host", str(exc))]) from None
    if creds is None:
        return cfg
    if any(k.lower() == "authorization" for k in cfg.headers):
        raise ConfigError(
            [
                Problem(
                    cfg.profile_path,
                    pdoc.line_of(("host",)),
                    "host",
                    "the host URL carries credentials (user:password@) and an Authorization header is set too: "
                    "keep one of them",
                )
            ]
        )
    headers = {**cfg.headers, "Authorization": creds.header}
    return replace(cfg, host=host, headers=headers, secrets=cfg.secrets | creds.secrets)


def _lighthouse(profile: Profile, path: str, pdoc: Document, problems: list[Problem]) -> tuple[Any, ...]:
    """The profile's Lighthouse result files, read now: a bad file is a configuration error before any load."""
    if not profile.lighthouse:
        return ()
    from loadorch.config.lighthouse import LighthouseError, load

    try:
        return load(profile.lighthouse, os.path.dirname(os.path.abspath(path)))
    except LighthouseError as exc:
        problems.append(Problem(path, pdoc.line_of(("lighthouse",)), "lighthouse", str(exc)))
        return ()


def _held(samples: tuple[Any, ...]) -> dict[str, set[str]]:
    from loadorch.config.lighthouse import held

    return held(samples)


def _tls(profile: Profile, path: str, pdoc: Document, problems: list[Problem]) -> dict[str, str | None] | None:
    """The profile's tls: files, found and loaded now (a bad one is a configuration error before any load)."""
    if profile.tls is None:
        return None
    paths, found = tls_problems(profile.tls, os.path.dirname(os.path.abspath(path)))
    for name, message in found:
        problems.append(Problem(path, pdoc.line_of(("tls", name)), f"tls.{name}", message))
    return {**paths, "client_key_password": profile.tls.client_key_password}


def default_thresholds(scenario: Scenario) -> dict[str, list[Threshold]]:
    """The default budgets, for the kinds of request the scenario sends (a read-only scenario gets no
    write budget that could only ever fail with "no data"), plus the failure rate, plus the browser ones."""
    kinds = {ep.effective_kind for user in scenario.users for ep in user.requests if ep.weight > 0}
    kinds |= set(scenario.kinds.values())  # python users' requests, classified by the scenario
    chosen = {k: v for k, v in DEFAULT_THRESHOLDS.items() if "kind:" not in k or k.split("kind:")[1][:-1] in kinds}
    parsed, _ = parse_thresholds(chosen, None, Document("<defaults>", None))
    if not scenario.users:  # browser-only: an HTTP budget could only ever fail with "no data"
        parsed = {}
    return {**parsed, **default_browser_thresholds(scenario)}


def default_browser_thresholds(scenario: Scenario) -> dict[str, list[Threshold]]:
    """Core Web Vitals and failed steps, for a scenario with browser users (INP only if a journey interacts)."""
    if not scenario.browsers:
        return {}
    interacts = any(b.interacts for b in scenario.browsers)
    chosen = {k: v for k, v in DEFAULT_BROWSER_THRESHOLDS.items() if interacts or "_inp" not in k}
    parsed, _ = parse_thresholds(chosen, None, Document("<defaults>", None))
    return parsed


def with_browser_defaults(scenario: Scenario, own: dict[str, list[Threshold]]) -> dict[str, list[Threshold]]:
    """The files' own thresholds plus the browser defaults, unless the files gate a browser metric
    themselves: HTTP thresholds alone must not leave browser users ungated (a journey failing every time
    passed). A browser selector set to `[]` removes just that default."""
    if any(t.selector.metric in BROWSER_GATED for items in own.values() for t in items):
        return own
    return {**default_browser_thresholds(scenario), **own}


def merge(
    name: str,
    path: str,
    profile: Profile,
    scenario: LoadedScenario,
    profile_thresholds: dict[str, list[Threshold]],
    cli: Overrides,
    secrets: set[str],
) -> RunConfig:
    """Apply LAYERS in order; `sources` records which layer set each value."""
    sources: dict[str, str] = {}

    def pick(key: str, *layers: tuple[str, Any]) -> Any:
        value, source = None, "defaults"
        for layer, candidate in layers:
            if candidate is not None:
                value, source = candidate, layer
        sources[key] = source
        return value

    load = profile.load
    if not scenario.model.users and cli.users is not None:
        raise UsageError(
            "--users: this scenario has no HTTP users (browsers only): its browsers' `pages` say how many pages "
            "run; --iterations N walks each page's journey N times"
        )
    open_model = _open_model(load, cli) if load.is_open else None
    user_stages = _user_stages(load, cli) if load.staged_users else None
    profile_users = load.users or 0  # 0: a browser-only scenario
    if open_model is not None:
        profile_users = load.max_users or default_max_users(peak_rate(profile), profile.request_timeout)
    if user_stages is not None:
        profile_users = int(max(b for _, b, _ in user_stages))  # one slot per user at the peak
    users = pick("users", ("profile", profile_users), ("cli", cli.users))
    duration = pick("duration", ("profile", load.duration), ("cli", cli.duration_s))
    if open_model is not None:
        duration = total_seconds(open_model.stages)
    if user_stages is not None:
        duration = total_seconds(user_stages)
        sources["duration"] = "profile"
    iterations = pick("iterations", ("profile", profile.load.iterations), ("cli", cli.iterations))
    if cli.iterations is not None and cli.duration_s is None and user_stages is None:
        duration = None  # --iterations alone runs until every user is done
    workers_raw = pick("workers", ("profile", profile.workers), ("cli", cli.workers))
    workers = (os.cpu_count() or 1) if workers_raw == "auto" else int(workers_raw)
    workers = max(1, min(workers, users)) if users else 0  # browser-only: no HTTP worker process
    seed = pick("seed", ("profile", profile.seed), ("cli", cli.seed))
    host = pick("host", ("profile", profile.host), ("cli", cli.host))
    if open_model is not None and cli.spawn_rate is not None:
        raise UsageError("--spawn-rate applies to the closed model (users); this profile uses an arrival rate")
    spawn_rate = pick(
        "spawn_rate", ("defaults", float(max(users, 1))), ("profile", profile.load.spawn_rate), ("cli", cli.spawn_rate)
    )
    min_samples = pick(
        "min_samples",
        ("defaults", DEFAULT_MIN_SAMPLES),
        ("scenario", scenario.model.min_samples),
        ("profile", profile.min_samples),
    )
    merged_thr = {**scenario.thresholds, **profile_thresholds}
    if not merged_thr:
        merged_thr = default_thresholds(scenario.model)
        sources["thresholds"] = "defaults"
    else:
        sources["thresholds"] = "profile" if profile_thresholds else "scenario"
        merged_thr = with_browser_defaults(scenario.model, merged_thr)
    for selector in merged_thr:
        layer = (
            "profile"
            if selector in profile_thresholds
            else "scenario"
            if selector in scenario.thresholds
            else "defaults"
        )
        sources[f"thresholds.{selector}"] = layer
    return RunConfig(
        profile_name=name,
        profile_path=path,
        profile=profile,
        scenario=scenario,
        host=host,
        users=users,
        spawn_rate=float(spawn_rate),
        duration_s=duration,
        iterations=iterations,
        workers=workers,
        seed=seed,
        thresholds=tuple(t for items in merged_thr.values() for t in items),
        min_samples=min_samples,
        headers={**scenario.model.headers, **profile.headers},
        secrets=frozenset(secrets),
        sources=sources,
        open_model=open_model,
        user_stages=user_stages,
        run_tags=dict(cli.tags),
    )


def _user_stages(load: Load, cli: Overrides) -> tuple[tuple[float, float, float], ...]:
    if cli.users is not None:
        raise UsageError("--users cannot change a profile with stages: each stage gives its own user count")
    if cli.duration_s is not None:
        raise UsageError("--duration cannot change a profile with stages: their durations add up to the run's")
    return load.user_stages()


@dataclass(frozen=True)
class OpenModel:
    """Arrivals on a schedule; `users` (max_users) bounds how many can be in flight at once."""

    stages: tuple[tuple[float, float, float], ...]
    spacing: Literal["constant", "poisson"]
    max_dropped: float
    on_dropped: str


def _open_model(load: Load, cli: Overrides) -> OpenModel:
    if cli.iterations is not None:
        raise UsageError("--iterations applies to the closed model (users); this profile uses an arrival rate")
    stages = load.rate_stages()
    if cli.duration_s is not None:
        if load.arrival_rate is None:
            raise UsageError("--duration cannot change a profile with stages: their durations add up to the run's")
        stages = ((load.arrival_rate, load.arrival_rate, cli.duration_s),)
    return OpenModel(stages, load.spacing, load.max_dropped, load.on_dropped)
