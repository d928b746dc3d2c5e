"""The installed command as users meet it: validate, list, run's resolution, exit codes, no tracebacks. The
process boundary is tested with real subprocesses (run_cli, Project.run); what a command says about bad input
is tested through `main` in this process (Project.cli), which a subprocess only makes a second slower."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import assert_refused_left_nothing, files_of
from tests.support.project import REPO, SIMPLE_PROFILE, SIMPLE_SCENARIO, Project, assert_no_traceback, run_cli


def test_shipped_examples_validate() -> None:
    r = run_cli("validate", cwd=REPO)
    assert r.code == 0, r.err
    assert "profiles/local.yaml" in r.out and "profiles/staging.yaml" in r.out
    assert "STAGING_URL" in r.err  # told what it needs at run time


def test_list(simple_project: Project) -> None:
    r = simple_project.run("list")
    assert r.code == 0
    assert "profile   p" in r.out and "scenario  simple" in r.out


def test_import_of_cli_leaves_gevent_and_locust_out() -> None:
    code = "import sys, loadorch.cli, loadorch.run.controller; print(sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


BAD_SCENARIOS = {
    "misspelt key": (SIMPLE_SCENARIO + "thresolds: {}\n", "simple.yaml:6: thresolds: unknown field 'thresolds'; did you mean 'thresholds'?"),
    "duplicate key": ("name: a\n" + SIMPLE_SCENARIO, "simple.yaml:3: name: duplicate key 'name' (first at line 1, again at line 3)"),
    "tab": (SIMPLE_SCENARIO.replace("  - name: reader", "\t- name: reader"), "simple.yaml:3: invalid YAML"),
    "unclosed": (SIMPLE_SCENARIO.replace("path: /health}", "path: /health"), "simple.yaml:"),
    "aggregation": (SIMPLE_SCENARIO + 'thresholds: {"http_req_duration": ["foo>20"]}\n', "simple.yaml:6: thresholds.http_req_duration[0]: 'foo>20': unknown aggregation 'foo'"),
    "non-numeric": (SIMPLE_SCENARIO + 'thresholds: {"http_reqs": ["count>abc"]}\n', "limit 'abc' is not a number"),
    "latency unit": (SIMPLE_SCENARIO + 'thresholds: {"http_req_duration": ["p(95)<1.5s"]}\n',
                     "simple.yaml:6: thresholds.http_req_duration[0]: 'p(95)<1.5s': limit '1.5s' is not a number; the "
                     "limit is a number of milliseconds: write 1500"),
    "p101": (SIMPLE_SCENARIO + 'thresholds: {"http_req_duration": ["p(101)<5"]}\n', "percentile 101 is outside 0..100"),
    "p()": (SIMPLE_SCENARIO + 'thresholds: {"http_req_duration": ["p()<5"]}\n', "percentile '' is not a number"),
    "pNaN": (SIMPLE_SCENARIO + 'thresholds: {"http_req_duration": ["p(NaN)<5"]}\n', "percentile 'NaN' is not a number"),
    "operator": (SIMPLE_SCENARIO + 'thresholds: {"http_reqs": ["count!20"]}\n', "unknown operator '!'"),
    # JSON's way to write half of an emoji: no message to a worker or artifact can carry it (the worker's reports were lost)
    "lone surrogate": (SIMPLE_SCENARIO.replace("{name: health,", '{name: "caf\\ud83d",'),
                       "simple.yaml:5: users[0].requests[0].name: 'caf\\ud83d' holds a lone surrogate escape"),
    "python tag": (SIMPLE_SCENARIO + "x: !!python/object/apply:os.system ['touch PWNED']\n", "simple.yaml:6: x: unsupported YAML tag"),
    "alias bomb": ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + SIMPLE_SCENARIO,
        "alias bomb"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenarios_exit_3_with_location(project: Project, case: str) -> None:
    text, expected = BAD_SCENARIOS[case]
    project.write("scenarios/simple.yaml", text)
    project.write("profiles/p.yaml", SIMPLE_PROFILE)
    for args in (("validate",), ("run", "p")):
        r = project.cli(*args)
        assert r.code == 3, (args, r.out, r.err)
        assert expected in r.err, r.err
        assert_no_traceback(r)
    assert not (project.root / "PWNED").exists()
    assert not (project.root / "results").exists()


def test_a_variable_whose_bytes_are_not_utf8_is_refused_by_name_not_shown(project: Project) -> None:
    """`${VAR}` set to bytes that are not UTF-8 (Python reads them as lone surrogates): exit 3 naming the variable,
    its value not printed (it may be a secret), no load sent."""
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO + 'headers: {X-Key: "${RAW_KEY}"}\n')
    project.write("profiles/p.yaml", SIMPLE_PROFILE)
    for args in (("validate",), ("run", "p")):
        r = project.cli(*args, env={"RAW_KEY": "k\udcffey-secret"})
        assert r.code == 3, (args, r.out, r.err)
        assert "simple.yaml:6: headers.X-Key: environment variable RAW_KEY is not UTF-8 text" in r.err, r.err
        assert "secret" not in r.out + r.err
        assert_no_traceback(r)
    assert not (project.root / "results").exists()


def test_wrong_type_in_profile(simple_project: Project, tmp_path: Path) -> None:
    simple_project.write("profiles/p.yaml", SIMPLE_PROFILE.replace("users: 2", "users: ten"))
    trace = tmp_path / "trace"  # LOADORCH_TRACE_START: the phases `loadorch run` went through
    before = files_of(simple_project.root)
    r = simple_project.run("run", "p", env={"LOADORCH_TRACE_START": str(trace)})
    assert r.code == 3 and "p.yaml:3: load.users: Input should be a valid integer" in r.err
    assert_no_traceback(r)
    # the fork server starts before the configuration is read (it imports Locust meanwhile): a refused one leaves
    # no process and no file of it
    assert_refused_left_nothing(trace, "cli imported", simple_project.root, before)
    simple_project.write("profiles/p.yaml", SIMPLE_PROFILE)  # accepted, but an argument refused after reading it
    trace.unlink()
    before = files_of(simple_project.root)
    r = simple_project.run("run", "p", "--max-regression", "10%", env={"LOADORCH_TRACE_START": str(trace)})
    assert r.code == 2 and "--max-regression needs --baseline NAME" in r.err
    assert_refused_left_nothing(trace, "config built", simple_project.root, before)


def test_a_run_refused_by_its_arguments_leaves_its_early_fork_server_nothing(simple_project: Project,
                                                                           tmp_path: Path) -> None:
    # `loadorch run` starts its fork server before its arguments are parsed (loadorch/launch.py): an argument
    # refused by argparse or by the run's own checks kills it, and leaves no process and no file
    trace = tmp_path / "trace"
    for args, says in ((("--users", "0"), "--users: must be at least 1"),
                       (("--out", "profiles/p.yaml"), "is a file; give a folder")):
        trace.unlink(missing_ok=True)
        before = files_of(simple_project.root)
        r = simple_project.run("run", "p", *args, env={"LOADORCH_TRACE_START": str(trace)})
        assert r.code == 2 and says in r.err, (args, r.err)
        assert_no_traceback(r)
        phases = [line.split(" ", 2)[2] for line in trace.read_text().splitlines()]
        assert phases.index("fork server started") < phases.index("cli imported"), phases  # the early start
        assert_refused_left_nothing(trace, "cli imported", simple_project.root, before)


@pytest.mark.parametrize("args", [("--help",), ("run", "p", "--help"), ("validate",)])
def test_help_and_other_commands_start_no_fork_server(simple_project: Project, tmp_path: Path,
                                                      args: tuple[str, ...]) -> None:
    trace = tmp_path / "trace"
    r = simple_project.run(*args, env={"LOADORCH_TRACE_START": str(trace)})
    assert r.code == 0, r.err
    phases = [line.split(" ", 2)[2] for line in trace.read_text().splitlines()]
    assert phases == ["cli imported"], phases  # neither early (launch.py) nor in `_cmd_run`


def test_unset_variable_exits_3_on_run(simple_project: Project) -> None:
    simple_project.write("profiles/p.yaml", SIMPLE_PROFILE.replace("http://127.0.0.1:9", "${LOADORCH_TEST_UNSET}"))
    r = simple_project.cli("run", "p")
    assert r.code == 3 and "p.yaml:2: host: environment variable LOADORCH_TEST_UNSET is not set" in r.err
    assert_no_traceback(r)


def test_unknown_profile_exits_2_with_known_names(simple_project: Project) -> None:
    r = simple_project.cli("run", "nosuchprofile")
    assert r.code == 2 and "unknown profile 'nosuchprofile'" in r.err and "p" in r.err.split("profiles/:")[-1]
    r = simple_project.cli("run", "pp")
    assert r.code == 2 and "did you mean 'p'?" in r.err


@pytest.mark.parametrize("args", [
    ("runn", "p"), ("run",), ("run", "p", "--users", "0"), ("run", "p", "--duration", "soon"),
    ("run", "p", "--bogus"), ("run", "p", "--host", "example.com"), ("validate", "nosuch"),
    ("run", "p", "--workers", "3", "--users", "2"), ("run", "p", "--out", "profiles/p.yaml"),
    ("run", "p", "--junit", "profiles"), ("run", "p", "--iterations", "-1"),
])
def test_usage_errors_exit_2(simple_project: Project, args: tuple[str, ...]) -> None:
    r = simple_project.cli(*args)
    assert r.code == 2, (args, r.err)
    assert_no_traceback(r)


def test_many_problems_reported_at_once(project: Project) -> None:
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", "scenario: ../scenarios/simple.yaml\nhost: nope\nload: {users: -1, duration: x}\nwrokers: 2\n")
    r = project.cli("validate")
    assert r.code == 3
    assert "4 problems" in r.err or "5 problems" in r.err
    assert "did you mean 'workers'?" in r.err


def test_validate_named_files_and_scenarios(simple_project: Project) -> None:
    assert simple_project.cli("validate", "p").code == 0
    assert simple_project.cli("validate", "scenarios/simple.yaml").code == 0


def test_out_folder_holds_one_run(simple_project: Project) -> None:
    """--out: a non-empty folder that is not a run folder is refused; an earlier run's folder is replaced
    whole (no requests.jsonl of the old run beside the new results.json); --out under profiles/ is refused."""
    root = simple_project.root
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("keep me")
    r = simple_project.cli("run", "p", "--out", "mine")
    assert r.code == 2 and "not empty and is not a loadorch run folder" in r.err, r.err
    assert (root / "mine" / "notes.txt").read_text() == "keep me" and len(list((root / "mine").iterdir())) == 1
    old = root / "old"
    old.mkdir()
    (old / "results.json").write_text('{"schema": "loadorch.results/v1", "verdict": "pass"}')
    (old / "requests.jsonl").write_text('{"old": true}\n')
    r = simple_project.run("run", "p", "--out", "old")  # target down: exit 5, artifacts written
    assert r.code == 5, r.err
    assert not (old / "requests.jsonl").exists()
    assert json.loads((old / "results.json").read_text())["verdict"] == "error"
    assert not [p for p in root.iterdir() if p.name.startswith(".old")]
    for out in ("profiles", "profiles/run1"):
        r = simple_project.cli("run", "p", "--out", out)
        assert r.code == 2 and "inside the project's profiles/ folder" in r.err, r.err
    listing = simple_project.run("list")
    assert "config" not in listing.out and "run1" not in listing.out


@pytest.mark.parametrize(("load", "where"), [
    ("{users: 1, duration: 1000000000000}", "p.yaml:3: load.duration: duration 1000000000000"),
    ("{stages: [{users: 2, duration: 100000000h}]}", "p.yaml:3: load.stages[0].duration: duration '100000000h'"),
    ("{stages: [{users: 2, duration: 700h}, {users: 1, duration: 700h}]}", "p.yaml:3: load: the stages add up to"),
    ("{max_users: 2, arrival_rate: 1, duration: 800h}", "p.yaml:3: load.duration"),
    ("{users: 2, spawn_rate: 0.0000000000001, iterations: 1}", "p.yaml:3: load.spawn_rate: starting 2 users at"),
])
def test_absurd_durations_are_refused_with_the_maximum_at_validate_and_run(
    project: Project, load: str, where: str
) -> None:
    """A duration past 31 days (a stage of 100,000,000 hours, 10**12 seconds) is a configuration error
    naming the maximum, at validate and at run (exit 3), before any load; as a flag, a usage error (exit 2)."""
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", f"scenario: ../scenarios/simple.yaml\nhost: embedded\nload: {load}\n")
    for command in (("validate", "p"), ("run", "p", "--out", "o")):
        r = project.cli(*command)
        assert r.code == 3, (command, r.err)
        assert where in r.err and "maximum of 31 days" in r.err, r.err
        assert_no_traceback(r)
    assert not (project.root / "o").exists()


@pytest.mark.parametrize("flag", [("--duration", "99999999h"), ("--duration", "745h"), ("--metrics-grace", "1000000000000")])
def test_absurd_duration_flags_are_usage_errors(simple_project: Project, flag: tuple[str, str]) -> None:
    r = simple_project.cli("run", "p", *flag, "--out", "o")
    assert r.code == 2, r.err
    assert f"argument {flag[0]}" in r.err and "maximum of 31 days" in r.err, r.err
    assert_no_traceback(r)
    assert not (simple_project.root / "o").exists()


def test_a_ramp_longer_than_the_maximum_is_a_usage_error_as_a_flag(simple_project: Project) -> None:
    r = simple_project.cli("run", "p", "--spawn-rate", "0.0000001", "--iterations", "2", "--out", "o")
    assert r.code == 2 and "--spawn-rate: starting 2 users at 1e-07 per second" in r.err, r.err
    assert "maximum of 31 days" in r.err and not (simple_project.root / "o").exists()
    assert_no_traceback(r)


def test_a_trace_url_without_its_trace_id_is_a_located_configuration_error(project: Project) -> None:
    """#30: trace.url must hold {trace_id}; a server_timing threshold must name its entry. Exit 3, the file
    and the field named, no traceback, no load sent."""
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", "scenario: ../scenarios/simple.yaml\nhost: http://127.0.0.1:9\n"
                  "load: {users: 1, duration: 1s}\ntrace: {url: https://tempo.example/trace/}\n"
                  "evidence: {slowest: 51}\nthresholds: {server_timing: [p(95)<10]}\n")
    r = project.cli("validate", "p")
    assert r.code == 3, r.err
    assert "p.yaml" in r.err and "trace.url" in r.err and "{trace_id}" in r.err and "evidence.slowest" in r.err
    assert "names no Server-Timing entry" in r.err
    assert_no_traceback(r)


@pytest.mark.parametrize("url,why", [
    ("https:///trace/{trace_id}", "has no host"),
    ("https://[tempo/trace/{trace_id}", "is not a valid URL"),
    ("https://tempo.example/trace/{trace_id}?q=" + "x" * 2000, "longer than"),
], ids=["no-host", "invalid", "too-long"])
def test_a_trace_url_the_reports_could_not_link_is_refused(project: Project, url: str, why: str) -> None:
    """A trace.url with no host, an invalid one or one past a link's length validated, and every trace id of the
    evidence was then shown without its link (the reports link plain web addresses only)."""
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", "scenario: ../scenarios/simple.yaml\nhost: http://127.0.0.1:9\n"
                  f"load: {{users: 1, duration: 1s}}\ntrace: {{url: '{url}'}}\n")
    r = project.cli("validate", "p")
    assert r.code == 3 and "p.yaml:4: trace.url: " in r.err and why in r.err, r.err
    assert_no_traceback(r)


def test_run_reaches_its_fork_server_without_the_results_report_or_wire_models() -> None:
    # what `loadorch run` imports before it starts its fork server (not pydantic) and before the controller's own
    # code, and what the fork server imports before it forks the master and the workers, are start time on the
    # path to the first request (benchmarks/README.md, start-up): not results.json's models, which only the
    # controller's report needs, nor the profile's models, the YAML reader or Locust's web UI, which no Locust
    # process of loadorch uses (the fork server's imports are `_warm`'s)
    controller = ("import sys\nfrom loadorch.cli import build_parser\nimport loadorch.run.forkstart\n"
                  "build_parser().parse_known_args(['run', 'p'])\nprint('pydantic' in sys.modules)\n"  # at its Popen
                  "import loadorch.config.resolve, loadorch.run.outdir\nprint([m for m in ('loadorch.results', "
                  "'loadorch.wire', 'loadorch.report', 'loadorch.run.controller', 'tabulate', 'locust', 'gevent') "
                  "if m in sys.modules])")
    fork_server = ("import sys\nfrom loadorch.runtime.forkserver import _warm\n_warm()\nprint([m for m in ("
                   "'loadorch.results', 'loadorch.config.profile', 'yaml', 'flask', 'charset_normalizer', "
                   "'locust.runners') if m in sys.modules])")
    # the `loadorch` command (loadorch/__main__.py) starts a local run's fork server before argparse and the CLI
    command = ("import os, sys\nfrom loadorch.launch import early\nforks = early(['run', 'p'], os.environ)\n"
               "print(forks is not None, [m for m in ('argparse', 'loadorch.cli', 'pydantic') if m in sys.modules])\n"
               "forks.kill()")
    out = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          check=True, env={**os.environ, "LOADORCH_COLD_START": ""}).stdout
           for code in (controller, fork_server, command)]
    assert out == ["False\n[]\n", "['locust.runners']\n", "True []\n"]


def test_the_controller_writes_the_plan_without_results_models_report_or_browser_statistics(project: Project) -> None:
    # the controller's way to the first request (benchmarks/README.md, start-up): up to the moment the plan is
    # written (a real `loadorch run` on the embedded target, stopped there as a run error: no load is sent),
    # neither results.json's models nor the report nor the browser's statistics were imported; they are
    # run/finish.py's, after the load. The run then ends as any failed run does (results.json written).
    project.write("scenarios/simple.yaml", SIMPLE_SCENARIO)
    project.write("profiles/p.yaml", SIMPLE_PROFILE.replace("http://127.0.0.1:9", "embedded"))
    code = (
        "import sys\nfrom loadorch.errors import RunError\nfrom loadorch.run import plan\nwrite = plan.write_plan\n"
        "def stop(*args, **kwargs):\n    write(*args, **kwargs)\n    print('at the plan:', [m for m in ("
        "'loadorch.results', 'loadorch.report.results', 'loadorch.report.summary', 'loadorch.run.outputs', "
        "'loadorch.browser.stats', 'loadorch.run.finish') if m in sys.modules], flush=True)\n"
        "    raise RunError('stopped where the plan is written')\nplan.write_plan = stop\n"
        "from loadorch.cli import main\nsys.exit(main(['run', 'p', '--out', 'out']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project.root, timeout=120)
    assert "at the plan: []\n" in r.stdout, (r.stdout, r.stderr)
    assert r.returncode == 5 and project.results("out")["error"] == "stopped where the plan is written", r.stderr


def test_a_refused_run_leaves_the_garbage_collector_on(simple_project: Project) -> None:
    import gc

    # `loadorch run` reads its configuration with the collector off (start time), and puts it back whatever happens
    simple_project.write("profiles/p.yaml", SIMPLE_PROFILE.replace("users: 2", "users: ten"))
    assert gc.isenabled()
    r = simple_project.cli("run", "p")
    assert r.code == 3 and gc.isenabled()
