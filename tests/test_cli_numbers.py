"""The command line as a newcomer meets it: bad numbers are clear errors (exit 2 or 3, no traceback),
flags are never abbreviated, a wrong flag shows its own command's usage, every config problem at once,
and `init` writes what the README says (installing loadorch from its repository, never from PyPI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadorch.cli import build_parser, main
from loadorch.config.resolve import Overrides, build
from tests.support.project import REPO, SIMPLE_SCENARIO, Project, run_cli

PROFILE = "scenario: ../scenarios/simple.yaml\nhost: {host}\nload: {{users: 2, duration: 5s}}\n{extra}"


def call(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`loadorch ARGV` in this process (fast): exit code, stdout, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exits (usage errors, --help)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clear(code: int, err: str, expected_code: int, text: str) -> None:
    assert code == expected_code, err
    assert text in err, err
    assert "Traceback" not in err and "internal error" not in err, err


@pytest.mark.parametrize("host", ["http://127.0.0.1:99999", "http://", "http://[::1", "http://a b/", "http://h:x/"])
def test_malformed_hosts_are_config_errors_in_files_and_usage_errors_as_flags(
    project: Project, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", PROFILE.format(host=json.dumps(host), extra=""))
    code, _, err = call(capsys, "--project", str(project.root), "validate", "p")
    assert_clear(code, err, 3, "p.yaml:2: host: host ")
    project.write("profiles/p.yaml", PROFILE.format(host="embedded", extra=""))
    for argv in (("run", "p", "--host", host), ("k8s", "render", "p", "--workers", "1", "--image", "i", "--host", host)):
        code, _, err = call(capsys, "--project", str(project.root), *argv)
        assert_clear(code, err, 2, "--host ")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("think_time", "{constant: .inf}", "finite number"),
    ("think_time", "{between: [0, .inf]}", "max <= 3600"),
    ("think_time", "{constant: .nan}", "finite number"),
    ("request timeout", "0", "greater than 0"),
    ("request timeout", "0s", "greater than 0"),
    ("worker_connect_timeout", "0", "greater than 0"),
    ("request's timeout", "0ms", "greater than 0"),
])
def test_bad_numbers_in_files_are_config_errors(
    project: Project, capsys: pytest.CaptureFixture[str], field: str, value: str, message: str
) -> None:
    scenario, extra = SIMPLE_SCENARIO, ""
    if field == "think_time":
        scenario = SIMPLE_SCENARIO.replace("    requests:", f"    think_time: {value}\n    requests:")
    elif field == "request's timeout":
        scenario = SIMPLE_SCENARIO.replace("path: /health}", f"path: /health, timeout: {value}}}")
    else:
        extra = f"{field.replace(' ', '_')}: {value}\n"
    project.write("scenarios/simple.yaml", scenario)
    project.write("profiles/p.yaml", PROFILE.format(host="embedded", extra=extra))
    code, _, err = call(capsys, "--project", str(project.root), "validate", "p")
    assert_clear(code, err, 3, message)


@pytest.mark.parametrize(("argv", "message"), [
    (("target", "serve", "--error-rate", "2"), "between 0 and 1"),
    (("target", "serve", "--error-rate", "nan"), "finite number"),
    (("target", "serve", "--port", "99999"), "0 to 65535"),
    (("target", "serve", "--port", "-1"), "0 to 65535"),
    (("target", "serve", "--latency-ms", "-5"), "zero or more"),
    (("run", "p", "--workers", "5000"), "at most 256"),
    (("k8s", "render", "p", "--workers", "5000", "--image", "i"), "at most 256"),
    (("run", "p", "--spawn-rate", "0"), "more than zero"),
    # a rule group's interval that the rules would write as 0s (Prometheus: its global evaluation_interval)
    (("alerts", "p", "--interval", "0.4ms"), "0.4ms is under a millisecond: the rules would say 0s"),
    (("alerts", "p", "--interval", "0.0001"), "is under a millisecond"),
    (("alerts", "p", "--interval", "1.5ms"), "1.5ms is not a whole number of milliseconds, which Prometheus "
                                               "durations count; write 2ms"),
])
def test_bad_numbers_as_flags_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: tuple, message: str) -> None:
    if argv[0] == "target":  # a subprocess: a server that starts anyway must fail the test, not hang it
        try:
            r = run_cli(*argv, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"loadorch {' '.join(argv)} was accepted (still running after 30 s)")
        code, err = r.code, r.err
    else:
        code, _, err = call(capsys, *argv)
    assert_clear(code, err, 2, message)
    assert f"usage: loadorch {argv[0]}" in err


@pytest.mark.parametrize("argv", [
    ("run", "p", "--user", "50"), ("run", "p", "--dur", "10s"), ("compare", "a", "b", "--max", "5%"),
    ("k8s", "render", "p", "--work", "2", "--image", "i"),
])
def test_flags_are_never_abbreviated(capsys: pytest.CaptureFixture[str], argv: tuple) -> None:
    code, _, err = call(capsys, *argv)
    assert code == 2 and ("unrecognized arguments" in err or "required: --workers" in err), err


@pytest.mark.parametrize(("argv", "usage"), [
    (("validate", "--bogus"), "usage: loadorch validate"),
    (("k8s", "render", "p", "--workers", "1", "--image", "i", "--bogus"), "usage: loadorch k8s render"),
    (("target", "serve", "--bogus"), "usage: loadorch target serve"),
])
def test_unknown_flags_print_the_subcommands_usage(capsys: pytest.CaptureFixture[str], argv: tuple, usage: str) -> None:
    code, _, err = call(capsys, *argv)
    assert code == 2 and err.startswith(usage), err


def test_k8s_help_lists_no_hidden_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "k8s", "--help")
    assert code == 0 and "render" in out and "collect" in out
    assert "SUPPRESS" not in out and "plan" not in out


def test_spawn_rate_flag_overrides_the_profile(simple_project: Project) -> None:
    cfg = build("p", str(simple_project.root), {}, Overrides(spawn_rate=0.5))
    assert cfg.spawn_rate == 0.5 and cfg.sources["spawn_rate"] == "cli"


def test_every_configuration_problem_is_reported_in_one_pass(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO + 'thresholdz: {}\nthresholds:\n  "http_req_failed": ["rate<<0.01"]\n  "http_req_duraton": ["p(95)<300"]\n')
    project.write("profiles/p.yaml", PROFILE.format(host="embedded", extra='thresholds: {"http_reqz": ["count>1"]}\n'))
    code, _, err = call(capsys, "--project", str(project.root), "validate", str(project.root / "scenarios/simple.yaml"))
    assert code == 3
    assert "unknown field 'thresholdz'" in err and "unknown operator '<<'" in err and "unknown metric 'http_req_duraton'" in err
    code, _, err = call(capsys, "--project", str(project.root), "run", "p")
    assert code == 3 and "unknown metric 'http_reqz'" in err and "unknown field 'thresholdz'" in err, err
    project.write("profiles/q.yaml", 'scenario: ../scenarios/simple.yaml\nhost: embedded\nlod: {users: 2}\nthresholds: {"http_req_failed": ["rate<<1"]}\n')
    code, _, err = call(capsys, "--project", str(project.root), "validate", "q")
    assert code == 3 and "did you mean 'load'" in err and "unknown operator '<<'" in err, err


def test_init_installs_loadorch_from_its_repository_never_from_pypi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = call(capsys, "init", str(tmp_path))
    assert code == 0
    texts = {rel: (tmp_path / rel).read_text() for rel in (".github/workflows/loadtest.yml", ".gitlab-ci.loadorch.yml", "README.md")}
    for rel, text in texts.items():
        installs = re.findall(r"pip install[^\n]*", text)
        assert installs and all("git+" in line or "$LOADORCH_PIP_SPEC" in line for line in installs), (rel, installs)
        assert "REPLACE-WITH-LOADORCH-REPOSITORY@REPLACE-WITH-TAG-OR-COMMIT" in text, rel
        assert "not on PyPI" in text, rel
    github = yaml.safe_load(texts[".github/workflows/loadtest.yml"])
    steps = github["jobs"]["loadtest"]["steps"]
    install = next(s for s in steps if s.get("name") == "install loadorch")
    assert "git+" in install["env"]["LOADORCH_PIP_SPEC"] and "exit 1" in install["run"]  # refuses the placeholder
    assert any("results/staging/junit.xml" in json.dumps(s) for s in steps)  # the run folder's junit.xml
    assert any("results/staging/summary.md" in json.dumps(s) for s in steps)
    gitlab = yaml.safe_load(texts[".gitlab-ci.loadorch.yml"])["loadtest"]
    assert gitlab["artifacts"]["reports"]["junit"] == "results/staging/junit.xml"
    for rel in ("scenarios/shop.yaml", "profiles/local.yaml", "profiles/smoke.yaml", "profiles/staging.yaml"):
        assert (tmp_path / rel).is_file() and rel.split("/")[-1] in (REPO / "README.md").read_text()
    code, _, err = call(capsys, "--project", str(tmp_path), "validate")
    assert code == 0, err


@pytest.mark.parametrize(("name", "text", "message"), [
    ("deep.json", '{"openapi": "3.0.0", "a": ' + "[" * 200_000 + "]" * 200_000 + "}", "nested too deeply"),
    ("deep.yaml", "openapi: 3.0.0\n" + "".join(" " * i + f"k{i}:\n" for i in range(300)) + " " * 300 + "x: 1\n",
     "nested too deeply"),
    ("abc.yaml", "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /x/{id}:\n    get:\n      parameters: [{name: id, in: path, required: true, schema: {type: integer, minimum: abc}}]\n      responses: {'200': {description: ok}}\n", "minimum must be a number, not 'abc'"),
    ("bomb.yaml", "openapi: 3.0.0\ninfo: {title: t, version: '1'}\na: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 10)}]\n" for p, c in zip("abcde", "bcdef"))
        + "paths:\n  /x:\n    post:\n      requestBody: {content: {application/json: {example: *f}}}\n      responses: {'200': {description: ok}}\n",
        "alias bomb"),
], ids=["deep.json", "deep.yaml", "minimum-abc", "alias-bomb"])
def test_bad_openapi_documents_are_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str) -> None:
    spec = tmp_path / name
    spec.write_text(text)
    limit = sys.getrecursionlimit()
    code, _, err = call(capsys, "init", str(tmp_path / "out"), "--from-openapi", str(spec))
    assert sys.getrecursionlimit() == limit
    assert_clear(code, err, 3, message)
    assert not (tmp_path / "out" / "scenarios").exists()


def test_requests_is_a_test_dependency_only() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [re.split(r"[<>=!\[ ;]", d)[0] for d in project["dependencies"]]
    test = [re.split(r"[<>=!\[ ;]", d)[0] for d in project["optional-dependencies"]["test"]]
    assert "requests" not in runtime and "requests" in test
    for path in (REPO / "loadorch").rglob("*.py"):
        assert not re.search(r"^\s*(import requests|from requests\b)", path.read_text(), re.M), path


def test_profile_thresholds_replace_add_and_remove_selector_by_selector(project: Project) -> None:
    """What the README says of combining thresholds: same selector replaced, new added, `[]` removes."""
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO + 'thresholds:\n  "http_req_duration": ["p(95)<300", "p(99)<900"]\n'
                  '  "http_req_failed": ["rate<0.01"]\n  "http_reqs{ name : health }": ["count>1"]\n')
    project.write("profiles/p.yaml", PROFILE.format(host="embedded", extra=(
        'thresholds:\n  "http_req_duration": ["p(95)<200"]\n  "http_req_failed": []\n'
        '  "http_reqs{name:health}": ["count>5"]\n  "http_req_duration{name:health}": ["max<2000"]\n')))
    cfg = build("p", str(project.root), {})
    got = sorted(f"{t.selector} {t.expression}" for t in cfg.thresholds)
    assert got == ["http_req_duration p(95)<200", "http_req_duration{name:health} max<2000", "http_reqs{name:health} count>5"]
    readme = (REPO / "README.md").read_text()
    assert "**instead** of the scenario's" in readme and '`"selector": []` in the profile removes' in readme


def test_compare_writes_a_folder_of_its_own_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from loadorch.report.results import RunRecord
    from loadorch.report.results import build as build_results
    from loadorch.run.artifacts import write_json
    from loadorch.stats.histogram import Histogram
    from loadorch.stats.tables import Merged, SeriesKey

    for name in ("before", "after"):
        m = Merged()
        m.series[SeriesKey("u", "ep", "read", "GET", 200, True)] = Histogram.of([1000] * 1000)
        rec = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", f"t0-{name}", "t1", {}, "pass", 0, merged=m,
                        elapsed_s=5.0)  # two runs (one run given twice is inconclusive)
        write_json(str(tmp_path / "results" / name / "results.json"), build_results(rec).to_json())
    code, out, _ = call(capsys, "compare", str(tmp_path / "results/before"), str(tmp_path / "results/after"))
    own = tmp_path / "results" / "compare-before-vs-after"
    assert code == 0 and out.rstrip().endswith(f"to {own}")
    assert (own / "compare.md").is_file() and (own / "compare.json").is_file()
    assert sorted(p.name for p in (tmp_path / "results" / "after").iterdir()) == ["results.json"]  # the run's folder untouched


@pytest.mark.parametrize(("interval", "written"), [("1ms", "1ms"), ("1.1s", "1100ms"), ("15s", "15s"), ("2m", "2m")])
def test_an_alerts_interval_of_whole_milliseconds_is_written_exactly(simple_project: Project, interval: str,
                                                                       written: str) -> None:
    r = simple_project.cli("alerts", "p", "--interval", interval)
    assert r.code == 0, r.err
    assert yaml.safe_load(r.out)["groups"][0]["interval"] == written


@pytest.mark.parametrize("argv", [("run", "p"), ("k8s", "render", "p", "--workers", "1", "--image", "i")])
def test_a_users_flag_past_the_most_a_profile_may_give_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    """`run p --users 1000000000 --spawn-rate 1000000000` went on to plan a billion users: the controller took
    gigabytes and ended in a MemoryError (an internal error), where a profile's `users: 1000000000` is refused (at
    most 100,000). The parser alone is run here: without the bound, a run would plan those users."""
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*argv, "--users", "1000000000"])
    err = capsys.readouterr().err
    assert_clear(int(info.value.code or 0), err, 2, "--users: must be at most 100000 (as in a profile), got 1000000000")
    assert build_parser().parse_args([*argv, "--users", "100000"]).users == 100000
