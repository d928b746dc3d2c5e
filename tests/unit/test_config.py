"""Scenario and profile models, located errors, threshold merging and the precedence of layers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loadorch.config.resolve import Overrides, build, load_scenario
from loadorch.errors import ConfigError, UsageError

BASE_SCENARIO = """
name: s
data:
  id: {int: [1, 10]}
users:
  - name: u
    requests:
      - {name: get, path: "/items/{id}"}
      - {name: post, method: POST, path: /items, json: {id: "{id}"}}
"""
BASE_PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:8000
load: {users: 4, duration: 30s}
"""


def make(tmp_path: Path, scenario: str = BASE_SCENARIO, profile: str = BASE_PROFILE) -> Path:
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "profiles").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "s.yaml").write_text(textwrap.dedent(scenario).lstrip())
    (tmp_path / "profiles" / "p.yaml").write_text(textwrap.dedent(profile).lstrip())
    return tmp_path


def errors(tmp_path: Path, scenario: str = BASE_SCENARIO, profile: str = BASE_PROFILE,
           env: dict[str, str] | None = None) -> list[str]:
    make(tmp_path, scenario, profile)
    with pytest.raises(ConfigError) as info:
        build("p", str(tmp_path), env or {})
    return [str(p) for p in info.value.problems]


def test_valid_project_builds(tmp_path: Path) -> None:
    make(tmp_path)
    cfg = build("p", str(tmp_path), {})
    assert cfg.users == 4 and cfg.duration_s == 30 and cfg.workers == 1 and cfg.seed == 1
    ep = cfg.scenario.model.users[0].requests
    assert [e.effective_kind for e in ep] == ["read", "write"]
    assert len(cfg.scenario.sha256) == 64


def test_misspelt_key_gets_did_you_mean_with_line(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, BASE_SCENARIO + "thresolds: {}\n")
    path = tmp_path / "scenarios" / "s.yaml"
    assert msg == f"{path}:9: thresolds: unknown field 'thresolds'; did you mean 'thresholds'?"


def test_nested_misspelt_key(tmp_path: Path) -> None:
    profile = BASE_PROFILE.replace("users: 4", "usres: 4")
    msgs = errors(tmp_path, profile=profile)
    assert any("load.usres: unknown field 'usres'; did you mean 'users'?" in m for m in msgs)


def test_wrong_type_names_file_line_field(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, profile=BASE_PROFILE.replace("users: 4", "users: ten"))
    assert msg.startswith(str(tmp_path / "profiles" / "p.yaml") + ":3: load.users:")
    assert "'ten'" in msg


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    profile = "scenario: ../scenarios/s.yaml\nhost: ftp://x\nload: {users: 0, duration: 1x}\nworkers: 0\n"
    msgs = errors(tmp_path, profile=profile)
    assert len(msgs) == 4, msgs
    assert any("host" in m and "scheme" in m for m in msgs)
    assert any("load.duration" in m and "invalid duration" in m for m in msgs)
    assert any("workers" in m for m in msgs)


@pytest.mark.parametrize("expr,fragment", [
    ("foo>20", "unknown aggregation 'foo'"),
    ("count>abc", "not a number"),
    ("p(101)<5", "outside 0..100"),
    ("p()<5", "not a number"),
    ("p(NaN)<5", "not a number"),
    ("count!20", "unknown operator"),
])
def test_bad_threshold_expressions_are_config_errors(tmp_path: Path, expr: str, fragment: str) -> None:
    metric = "http_reqs" if expr.startswith("count") else "http_req_duration"
    scenario = BASE_SCENARIO + f'thresholds:\n  "{metric}": ["{expr}"]\n'
    [msg] = errors(tmp_path, scenario)
    assert f"s.yaml:10: thresholds.{metric}[0]:" in msg and fragment in msg


def test_threshold_on_unknown_endpoint_or_user(tmp_path: Path) -> None:
    scenario = BASE_SCENARIO + 'thresholds:\n  "http_req_duration{name:gte}": ["avg<1"]\n  "http_reqs{user:x}": ["count>1"]\n'
    msgs = errors(tmp_path, scenario)
    assert any("no endpoint is named 'gte'; did you mean 'get'?" in m for m in msgs)
    assert any("no user is named 'x'" in m for m in msgs)


def test_long_form_thresholds(tmp_path: Path) -> None:
    scenario = BASE_SCENARIO + ('thresholds:\n  "http_req_duration":\n'
                                '    - {threshold: "p(99)<800", abort_on_fail: true, delay_abort_eval: 30s}\n')
    make(tmp_path, scenario)
    [t] = build("p", str(tmp_path), {}).thresholds
    assert t.abort_on_fail and t.delay_abort_eval_s == 30 and str(t.expression) == "p(99)<800"
    bad = BASE_SCENARIO + 'thresholds:\n  "http_req_duration":\n    - {threshold: "p(99)<800", abort_on_fial: true}\n'
    assert "did you mean 'abort_on_fail'" in errors(tmp_path, bad)[0]


def test_default_thresholds_when_none_set(tmp_path: Path) -> None:
    make(tmp_path)
    cfg = build("p", str(tmp_path), {})
    assert sorted(str(t.selector) + " " + str(t.expression) for t in cfg.thresholds) == [
        "http_req_duration{kind:read} p(95)<300", "http_req_duration{kind:write} p(95)<700",
        "http_req_failed rate<0.01"]
    assert cfg.sources["thresholds"] == "defaults"


def test_default_thresholds_only_for_kinds_the_scenario_sends(tmp_path: Path) -> None:
    make(tmp_path, BASE_SCENARIO.replace('      - {name: post, method: POST, path: /items, json: {id: "{id}"}}\n', ""))
    cfg = build("p", str(tmp_path), {})
    assert sorted(str(t.selector) for t in cfg.thresholds) == ["http_req_duration{kind:read}", "http_req_failed"]


def test_profile_thresholds_merge_over_scenario_key_by_key(tmp_path: Path) -> None:
    scenario = BASE_SCENARIO + 'thresholds:\n  "http_req_duration{kind:read}": ["p(95)<300"]\n  "http_req_failed": ["rate<0.01"]\n'
    profile = BASE_PROFILE + 'thresholds:\n  "http_req_duration{kind: read}": ["p(95)<100"]\n'
    make(tmp_path, scenario, profile)
    cfg = build("p", str(tmp_path), {})
    texts = sorted(f"{t.selector} {t.expression}" for t in cfg.thresholds)
    assert texts == ["http_req_duration{kind:read} p(95)<100", "http_req_failed rate<0.01"]


def test_precedence_cli_over_profile_over_defaults(tmp_path: Path) -> None:
    make(tmp_path, profile=BASE_PROFILE + "seed: 7\nworkers: 2\n")
    cfg = build("p", str(tmp_path), {})
    assert (cfg.seed, cfg.workers, cfg.users, cfg.spawn_rate) == (7, 2, 4, 4.0)
    assert cfg.sources["seed"] == "profile" and cfg.sources["spawn_rate"] == "defaults"
    cfg = build("p", str(tmp_path), {}, Overrides(users=8, seed=9, workers=3, duration_s=5, host="http://127.0.0.2:1"))
    assert (cfg.seed, cfg.workers, cfg.users, cfg.duration_s, cfg.host) == (9, 3, 8, 5, "http://127.0.0.2:1")
    assert all(cfg.sources[k] == "cli" for k in ("seed", "workers", "users", "duration", "host"))


def test_iterations_flag_replaces_duration(tmp_path: Path) -> None:
    make(tmp_path)
    cfg = build("p", str(tmp_path), {}, Overrides(iterations=5))
    assert cfg.iterations == 5 and cfg.duration_s is None


def test_min_samples_precedence(tmp_path: Path) -> None:
    make(tmp_path, BASE_SCENARIO + "min_samples: 50\n")
    assert build("p", str(tmp_path), {}).min_samples == 50
    make(tmp_path, BASE_SCENARIO + "min_samples: 50\n", BASE_PROFILE + "min_samples: 5\n")
    assert build("p", str(tmp_path), {}).min_samples == 5


def test_workers_are_capped_by_users_and_auto(tmp_path: Path) -> None:
    make(tmp_path, profile=BASE_PROFILE + "workers: 16\n")
    assert build("p", str(tmp_path), {}).workers == 4
    make(tmp_path, profile=BASE_PROFILE + "workers: auto\n")
    assert 1 <= build("p", str(tmp_path), {}).workers <= 4


def test_unset_variable_in_profile(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, profile=BASE_PROFILE.replace("http://127.0.0.1:8000", "${TARGET_URL}"))
    assert ":2: host:" in msg and "TARGET_URL is not set" in msg
    make(tmp_path, profile=BASE_PROFILE.replace("http://127.0.0.1:8000", "${TARGET_URL}"))
    assert build("p", str(tmp_path), {"TARGET_URL": "http://127.0.0.1:1"}).host == "http://127.0.0.1:1"


def test_secrets_come_from_declared_and_secret_named_variables(tmp_path: Path) -> None:
    profile = BASE_PROFILE + 'headers: {Authorization: "Bearer ${API_TOKEN}", X-Team: "${TEAM}", X-K: "${K}"}\nsecrets: [K]\n'
    make(tmp_path, profile=profile)
    cfg = build("p", str(tmp_path), {"API_TOKEN": "tok-123", "TEAM": "blue", "K": "kkk"})
    assert cfg.secrets == {"tok-123", "kkk"}
    assert cfg.headers["Authorization"] == "Bearer tok-123"


def test_credentials_written_literally_in_headers_are_secrets_too(tmp_path: Path) -> None:
    """An Authorization or Cookie header written as it is (no secret variable) is a secret as well: an app that
    echoes it (a Server-Timing desc, an error body) put it whole in the evidence."""
    import base64

    basic = base64.b64encode(b"alice:pw-hunter22").decode()
    scenario = BASE_SCENARIO.replace("name: s\n", "name: s\nheaders: {Cookie: \"sid=litCOOKIEqwe789; lang=en\"}\n")
    scenario = scenario.replace('path: "/items/{id}"}', 'path: "/items/{id}", headers: {X-Api-Key: "k3y-k3y-k3y",'
                                ' Authorization: "Bearer {id}"}}')
    profile = BASE_PROFILE + f'headers: {{Authorization: "Basic {basic}", X-Team: "blueblueblue"}}\n'
    make(tmp_path, scenario=scenario, profile=profile)
    cfg = build("p", str(tmp_path), {})
    assert cfg.secrets == {"litCOOKIEqwe789", "k3y-k3y-k3y", basic, "alice:pw-hunter22", "pw-hunter22"}  # not "en"
    make(tmp_path, profile=BASE_PROFILE + 'headers: {Authorization: "Bearer ${API_TOKEN}"}\n')
    assert build("p", str(tmp_path), {"API_TOKEN": "tok-123"}).secrets == {"tok-123"}  # as before


def test_the_credentials_of_a_trace_link_are_secrets(tmp_path: Path) -> None:
    """The profile's trace.url may carry the trace viewer's credentials (`?auth=${VIEW}&api_key=...`, a variable no
    name marks secret, or written literally): every slow request's link in results.json, summary.md and report.html
    showed them. They are secrets of the run; the trace id's placeholder is not."""
    from loadorch.traffic.redact import Redactor

    url = "https://tempo.example/trace/{trace_id}?auth=${VIEW}&api_key=LitTraceKey-1&org=7&token={trace_id}"
    make(tmp_path, profile=BASE_PROFILE + f'trace: {{url: "{url}"}}\n')
    cfg = build("p", str(tmp_path), {"VIEW": "viewer-pass-2"})
    assert cfg.secrets == {"viewer-pass-2", "LitTraceKey-1"}
    link = cfg.profile.trace.url.replace("{trace_id}", "ab" * 16)
    assert Redactor(cfg.secrets).text(link) == f"https://tempo.example/trace/{'ab' * 16}?auth=***&api_key=***&org=7&token={'ab' * 16}"


def test_the_password_in_a_trace_links_userinfo_is_a_secret(tmp_path: Path) -> None:
    """`trace: {url: "https://viewer:password@tempo.example/trace/{trace_id}"}` (written literally, or through a
    variable no name marks secret) showed the password in every slow request's link in results.json, summary.md and
    report.html: only the query's credentials were secrets of the run."""
    from loadorch.traffic.redact import Redactor

    url = "https://viewer:${VIEW}@tempo.example/trace/{trace_id}"
    make(tmp_path, profile=BASE_PROFILE + f'trace: {{url: "{url}"}}\n')
    cfg = build("p", str(tmp_path), {"VIEW": "Lit3ral-Passw0rd"})
    assert "Lit3ral-Passw0rd" in cfg.secrets
    link = cfg.profile.trace.url.replace("{trace_id}", "ab" * 16)
    shown = Redactor(cfg.secrets).text(link)
    assert "Lit3ral-Passw0rd" not in shown and shown.endswith(f"@tempo.example/trace/{'ab' * 16}"), shown


def test_unknown_profile_is_a_usage_error_with_names(tmp_path: Path) -> None:
    make(tmp_path)
    with pytest.raises(UsageError) as info:
        build("pp", str(tmp_path), {})
    assert "did you mean 'p'?" in str(info.value) and "profiles in" in str(info.value)


def test_profile_by_path(tmp_path: Path) -> None:
    make(tmp_path)
    cfg = build(str(tmp_path / "profiles" / "p.yaml"), "/nonexistent", {})
    assert cfg.profile_name == "p"


def test_missing_scenario_file(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, profile=BASE_PROFILE.replace("s.yaml", "nope.yaml"))
    assert ":1: scenario: scenario file not found" in msg


SCENARIO_RULES = [
    ("users: []\n", "users", "at least 1"),
    ("users: ten\n", "users", "valid list"),
]


@pytest.mark.parametrize("patch,field,fragment", [
    ("  id: {int: [10, 1]}", "data.id", "low <= high"),
    ("  id: {int: [1, 2], choice: [a]}", "data.id", "exactly one"),
    ("  id: {choice: [a, b], weights: [1]}", "data.id", "same length"),
    ("  id: {choice: [a, b], weights: [0, 0]}", "data.id", "not all zero"),
    ("  id: {pattern: x, unique_per: user}", "data.id", "sequence generators only"),
    ("  id: {sequence: {start: 1, step: 0}}", "data.id.sequence.step", "greater than or equal to 1"),
    ("  id: {csv: {file: nope.csv}}", "data.id", "cannot read CSV"),
])
def test_data_generator_rules(tmp_path: Path, patch: str, field: str, fragment: str) -> None:
    scenario = BASE_SCENARIO.replace("  id: {int: [1, 10]}", patch)
    msgs = errors(tmp_path, scenario)
    assert any(f": {field}:" in m and fragment in m for m in msgs), msgs


@pytest.mark.parametrize("old,new,field,fragment", [
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: \"items\"}", "users[0].requests[0].path", "start with '/'"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, method: FETCH, path: /x}", "users[0].requests[0].method", "unknown HTTP method"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, kind: fast}", "users[0].requests[0].kind", "'read' or 'write'"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, weight: -1}", "users[0].requests[0].weight", "greater than or equal to 0"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, expect: {status: [700]}}", "users[0].requests[0].expect.status", "not an HTTP status"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, json: {}, body: x}", "users[0].requests[0]", "at most one of json, form, body"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: \"/items/{idd}\"}", "users[0].requests[0].path", "unknown placeholder {idd}; did you mean 'id'?"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: \"/items/{id\"}", "users[0].requests[0].path", "unmatched '{'"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, capture: {a: id}}", "users[0].requests[0].capture.a", "JSON path"),
])
def test_request_rules(tmp_path: Path, old: str, new: str, field: str, fragment: str) -> None:
    msgs = errors(tmp_path, BASE_SCENARIO.replace(old, new))
    assert any(f": {field}:" in m and fragment in m for m in msgs), msgs


@pytest.mark.parametrize("extra,fragment", [
    ("    think_time: {between: [2, 1]}\n", "0 <= min <= max"),
    ("    think_time: {between: [1, 2], constant: 1}\n", "exactly one"),
    ("    weight: 0\n", "greater than 0"),
])
def test_user_rules(tmp_path: Path, extra: str, fragment: str) -> None:
    scenario = BASE_SCENARIO.replace("  - name: u\n", "  - name: u\n" + extra)
    msgs = errors(tmp_path, scenario)
    assert any(fragment in m for m in msgs), msgs


def test_think_time_number_and_duplicate_user_names(tmp_path: Path) -> None:
    make(tmp_path, BASE_SCENARIO.replace("  - name: u\n", "  - name: u\n    think_time: 0.5\n"))
    assert build("p", str(tmp_path), {}).scenario.model.users[0].think_time.bounds == (0.5, 0.5)
    twice = BASE_SCENARIO + "  - name: u\n    requests: [{name: a, path: /a}]\n"
    assert any("user names must be unique" in m for m in errors(tmp_path, twice))


def test_setup_placeholders_and_rules(tmp_path: Path) -> None:
    good = BASE_SCENARIO + "setup:\n  - name: seed\n    repeat: 3\n    request: {method: POST, path: /items, json: {n: \"{index}\", id: \"{id}\"}}\n"
    make(tmp_path, good)
    assert build("p", str(tmp_path), {}).scenario.model.setup[0].repeat == 3
    bad = BASE_SCENARIO + "setup:\n  - name: seed\n    repeat: 0\n    request: {path: /x}\n"
    assert any("setup[0].repeat" in m for m in errors(tmp_path, bad))
    bad = BASE_SCENARIO + "setup:\n  - name: seed\n    request: {path: \"/x/{user}\"}\n"
    assert any("setup[0].request.path" in m and "unknown placeholder {user}" in m for m in errors(tmp_path, bad))


def test_csv_rows(tmp_path: Path) -> None:
    make(tmp_path, BASE_SCENARIO.replace("  id: {int: [1, 10]}", "  id: {csv: {file: ids.csv, column: id}}"))
    (tmp_path / "scenarios" / "ids.csv").write_text("id,name\n7,a\n8,b\n")
    loaded, _ = load_scenario(str(tmp_path / "scenarios" / "s.yaml"), {})
    gen = loaded.generators["id"]
    assert gen.rows[0]["id"] == "7"  # type: ignore[union-attr]
    make(tmp_path, BASE_SCENARIO.replace("  id: {int: [1, 10]}", "  id: {csv: {file: ids.csv, column: idd}}"))
    (tmp_path / "scenarios" / "ids.csv").write_text("id,name\n7,a\n")
    assert any("has no column 'idd'; did you mean 'id'?" in m for m in errors(tmp_path,
               BASE_SCENARIO.replace("  id: {int: [1, 10]}", "  id: {csv: {file: ids.csv, column: idd}}")))


@pytest.mark.parametrize("patch,fragment", [
    ("load: {users: 4}", "give a duration"),
    ("load: {users: 4, duration: 0s}", "greater than zero"),
    ("load: {users: 4, duration: 30s, spawn_rate: 0}", "greater than 0"),
    ("load: {users: 4, duration: 30s, arrival_rate: 5}", "users and spawn_rate belong to the closed model"),
    ("load: {arrival_rate: 11, duration: 30s}", "needs max_users above 10"),
    ("load: {arrival_rate: 5, max_users: 3}", "arrival_rate needs a duration"),
    ("load: {arrival_rate: 5, max_users: 3, duration: 9s, iterations: 2}", "iterations belong to the closed model"),
    ("load: {stages: [{rate: 5, duration: 1s}], max_users: 3, duration: 9s}", "sum of the stages"),
    ("load: {stages: [{rate: 5, duration: 1s}], arrival_rate: 5, max_users: 3}", "not both"),
    ("load: {users: 4, max_users: 9, duration: 1s}", "max_users belongs to the open model"),
    ("load: {arrival_rate: 5, max_users: 3, duration: 9s, spacing: random}", "'constant' or 'poisson'"),
    ("load: {duration: 9s}", "give users (how many HTTP virtual users run)"),
    ("load: {spawn_rate: 2}", "or, for a browser-only scenario, a duration and/or iterations (journeys per page) alone"),
])
def test_load_rules(tmp_path: Path, patch: str, fragment: str) -> None:
    msgs = errors(tmp_path, profile=BASE_PROFILE.replace("load: {users: 4, duration: 30s}", patch))
    assert any(fragment in m for m in msgs), msgs


def test_open_model_builds_stages_and_takes_its_duration(tmp_path: Path) -> None:
    profile = BASE_PROFILE.replace("load: {users: 4, duration: 30s}", "load: {stages: [{rate: 10, duration: 5s}, "
                                   "{rate: 20, duration: 10s}], start_rate: 2, max_users: 6, spacing: poisson}")
    make(tmp_path, profile=profile)
    cfg = build("p", str(tmp_path), {})
    assert cfg.open_model is not None and cfg.open_model.spacing == "poisson"
    assert cfg.open_model.stages == ((2.0, 10.0, 5.0), (10.0, 20.0, 10.0))
    assert cfg.duration_s == 15.0 and cfg.users == 6 and cfg.iterations is None
    with pytest.raises(UsageError, match="--iterations applies to the closed model"):
        build("p", str(tmp_path), {}, Overrides(iterations=3))
    with pytest.raises(UsageError, match="cannot change a profile with stages"):
        build("p", str(tmp_path), {}, Overrides(duration_s=3))


def test_open_model_duration_override(tmp_path: Path) -> None:
    make(tmp_path, profile=BASE_PROFILE.replace("load: {users: 4, duration: 30s}",
                                                "load: {arrival_rate: 50, max_users: 10, duration: 1m}"))
    cfg = build("p", str(tmp_path), {}, Overrides(duration_s=20))
    assert cfg.open_model is not None and cfg.open_model.stages == ((50.0, 50.0, 20.0),) and cfg.duration_s == 20


def test_max_response_body_has_a_default_units_and_bounds(tmp_path: Path) -> None:
    make(tmp_path)
    assert build("p", str(tmp_path), {}).profile.max_response_body == 10 * 1024 * 1024
    make(tmp_path, profile=BASE_PROFILE + "max_response_body: 512KiB\n")
    assert build("p", str(tmp_path), {}).profile.max_response_body == 512 * 1024
    for bad, fragment in (("0", "out of range"), ("2GiB", "out of range"), ("lots", "invalid size"),
                          ("true", "expected a size")):
        [msg] = errors(tmp_path, profile=BASE_PROFILE + f"max_response_body: {bad}\n")
        assert msg.startswith(f"{tmp_path / 'profiles' / 'p.yaml'}:4: max_response_body:") and fragment in msg


@pytest.mark.parametrize("old,new,field", [
    ("  - name: u\n", "  - name: u\n    weight: .inf\n", "users[0].weight"),
    ("  - name: u\n", "  - name: u\n    weight: 1e308\n", "users[0].weight"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, weight: .inf}", "users[0].requests[0].weight"),
    ("{name: get, path: \"/items/{id}\"}", "{name: get, path: /x, weight: 1e308}", "users[0].requests[0].weight"),
    ("  id: {int: [1, 10]}", "  id: {choice: [a, b], weights: [.nan, 1]}", "data.id.weights[0]"),
    ("  id: {int: [1, 10]}", "  id: {choice: [a, b], weights: [.inf, 1]}", "data.id.weights[0]"),
])
def test_a_weight_that_is_not_a_finite_number_of_reasonable_size_is_refused(
    tmp_path: Path, old: str, new: str, field: str,
) -> None:
    """Validate took these, and the run broke on them: a user weight of .inf was an internal error (NaN users per
    class), an endpoint weight of .inf, or two of 1e308 (their sum is inf), sent every request to the other
    endpoint, and a data weight of .nan stopped every virtual user on a TypeError."""
    msgs = errors(tmp_path, BASE_SCENARIO.replace(old, new))
    assert any(f": {field}:" in m for m in msgs), msgs


@pytest.mark.parametrize("extra,field", [
    ("load: {stages: [{rate: 5, duration: 2s}], start_rate: .inf, max_users: 5}\n", "load.start_rate"),
    ("load: {stages: [{rate: 5, duration: 2s}], start_rate: 2000000, max_users: 5}\n", "load.start_rate"),
    ("load: {users: 4, duration: 30s}\ncompare: {min_change_ms: .inf}\n", "compare.min_change_ms"),
])
def test_an_infinite_start_rate_or_min_change_is_refused(tmp_path: Path, extra: str, field: str) -> None:
    """An infinite start_rate ran the load and then lost its results.json (an internal error: inf is no JSON); an
    infinite min_change_ms let `compare` call every slowdown 'same' (under min_change_ms)."""
    profile = BASE_PROFILE.replace("load: {users: 4, duration: 30s}\n", extra)
    msgs = errors(tmp_path, profile=profile)
    assert any(f": {field}:" in m for m in msgs), msgs


def test_a_default_max_users_past_the_most_users_a_run_may_have_is_refused(tmp_path: Path) -> None:
    """Low-rate checks leave max_users out and get rate x request_timeout + 1; a long request_timeout made that
    millions of virtual users (26,784,001 at 10/s and 744h), each spawned at the start of the run, past the
    100,000 an explicit max_users may be."""
    profile = BASE_PROFILE.replace("load: {users: 4, duration: 30s}\n",
                                   "load: {arrival_rate: 10, duration: 30s}\nrequest_timeout: 744h\n")
    msgs = errors(tmp_path, profile=profile)
    assert any(": load.max_users:" in m and "26784001" in m and "100000" in m for m in msgs), msgs
    make(tmp_path, profile=profile.replace("744h", "2h"))  # 72,001: within the bound, as before
    assert build("p", str(tmp_path), {}).users == 72001
