"""`k8s render` is safe to apply and `k8s collect` is all or nothing; the README's wait loop returns at once."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from loadorch.k8s.framing import frame
from tests.support.project import REPO, CliResult, Project, assert_no_traceback, run_cli

SCENARIO = """
name: k
data:
  account: {csv: {file: accounts.csv}}
users:
  - name: u
    requests:
      - {name: h, path: "/health?a={account.email}"}
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: ${SHOP_URL}
allowed_hosts: ["*.svc.cluster.local"]
headers: {X-Region: "${REGION:-eu}"}
load: {users: 10, duration: 30s}
workers: 2
"""


def _cli(project: Project, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """The CLI in this process (render and collect start no other process): fast, same code path."""
    import contextlib
    import io
    from unittest import mock

    from loadorch.cli import main

    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        old = os.getcwd()
        os.chdir(project.root)
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            os.chdir(old)
    return CliResult(code, out.getvalue(), err.getvalue())


def _project(project: Project, profile: str = PROFILE) -> Project:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("scenarios/accounts.csv", "email\na@example.com\n")
    project.write("profiles/p.yaml", profile)
    return project


def _render(project: Project, *args: str, env: dict[str, str] | None = None) -> list[dict]:
    r = _cli(project, "k8s", "render", "p", "--workers", "3", "--image", "img", *args, env=env)
    assert r.code == 0, r.err
    return list(yaml.safe_load_all(r.out))


def test_each_render_names_its_objects_with_the_run_id(project: Project) -> None:
    _project(project)
    first, second = _render(project), _render(project)
    names = [{(m["kind"], m["metadata"]["name"]) for m in render} for render in (first, second)]
    assert not names[0] & names[1], "two renders in a row must not share an object (immutable Job templates)"
    again = [_render(project, "--run-id", "r1") for _ in range(2)]
    jobs = [[m for m in render if m["kind"] == "Job"] for render in again]
    assert jobs[0] == jobs[1], "the same run id renders the same Jobs: re-applying changes no pod template"
    assert {m["metadata"]["name"] for m in again[0]} >= {"loadorch-p-r1-master", "loadorch-p-r1-workers"}


def test_token_in_a_secret_required_keys_and_effective_values(project: Project) -> None:
    _project(project)
    manifests = _render(project, "--run-id", "r1", "--users", "5")
    token = next(m for m in manifests if m["kind"] == "Secret")["stringData"]["LOADORCH_RUN_TOKEN"]
    jobs = [m for m in manifests if m["kind"] == "Job"]
    assert token not in json.dumps(jobs)
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
            assert refs["SHOP_URL"]["optional"] is False  # written without a default: required
            assert refs["REGION"]["optional"] is True  # ${REGION:-eu}
            assert refs["SHOP_URL"]["name"] == "loadorch-p-env"
            assert "optional" not in refs["LOADORCH_RUN_TOKEN"]
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    effective = yaml.safe_load(configmap["data"]["effective.yaml"])
    assert "workers: 2" in configmap["data"]["profile.yaml"]
    assert effective["workers"] == 3 and effective["users"] == 5
    assert {"--workers", "--users"} <= set(effective["overridden_by_args"])


def test_summary_export_is_written_by_the_master_and_refused_where_it_cannot_travel(project: Project) -> None:
    _project(project)
    manifests = _render(project, "--run-id", "r1", "--summary-export", "load-performance.json")
    [master] = [m for m in manifests if m["kind"] == "Job" and m["metadata"]["name"].endswith("-master")]
    args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    at = args.index("--summary-export")
    assert args[at + 1] == "$(LOADORCH_SCRATCH)/r1/load-performance.json"  # in the run folder: in the log block
    assert args[args.index("--out") + 1] == "$(LOADORCH_SCRATCH)/r1"  # the live series' run_id: the render's
    workers = [m for m in manifests if m["kind"] == "Job" and not m["metadata"]["name"].endswith("-master")]
    assert "--summary-export" not in json.dumps(workers)  # the plan and the workers have nothing to export
    assert "--summary-export" not in json.dumps(_render(project, "--run-id", "r1"))
    for bad in ("out/k6.json", "../k6.json", ".k6.json", "results.json", "requests.jsonl", "a b.json"):
        r = _cli(project, "k8s", "render", "p", "--workers", "1", "--image", "img", "--summary-export", bad)
        assert r.code == 2 and "--summary-export" in r.err, (bad, r.err)
        assert_no_traceback(r)


def test_env_secret_default_is_one_truth() -> None:
    help_text = run_cli("k8s", "render", "--help").out
    readme = (REPO / "README.md").read_text()
    assert "default loadorch-<profile>-env" in " ".join(help_text.split())
    assert "default `loadorch-<profile>-env`" in readme
    assert "<release>-env" not in help_text + readme


def test_render_checks_the_host_like_the_master_does(project: Project) -> None:
    _project(project, PROFILE.replace('allowed_hosts: ["*.svc.cluster.local"]\n', ""))
    r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i", "--host", "http://shop.ns.svc.cluster.local")
    assert r.code == 4 and "no allowed_hosts" in r.err, r.err
    _project(project)
    for host, code, words in [
        ("http://127.0.0.1:8080", 4, "loopback"),
        ("http://localhost:8080", 4, "loopback"),
        ("http://shop.staging.example.com", 4, "not in allowed_hosts"),
        ("http://shop.ns.svc.cluster.local", 0, ""),
        ("http://admin:hunter2pw@shop.ns.svc.cluster.local", 2, "credentials"),
    ]:
        r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i", "--host", host)
        assert r.code == code and words in r.err, (host, r.err)
        assert "hunter2pw" not in r.out + r.err
        assert_no_traceback(r)
    r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i", env={"SHOP_URL": "http://127.0.0.1:1"})
    assert r.code == 4 and "loopback" in r.err


def test_render_refuses_oversized_and_outside_data_files(project: Project, tmp_path: Path) -> None:
    _project(project)
    rows = "".join(f"user{i:07d}@example.com\n" for i in range(12000))  # ~300 KiB
    project.write("scenarios/accounts.csv", "email\n" + rows)
    r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i")
    assert r.code == 3 and "256 KiB" in r.err and "accounts.csv" in r.err, r.err
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("email\nsecret-person@example.com\n")
    (project.root / "scenarios" / "accounts.csv").unlink()
    os.symlink(outside, project.root / "scenarios" / "accounts.csv")
    r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i")
    assert r.code == 3 and "symbolic link" in r.err and "secret-person" not in r.out, r.err


def test_collect_is_all_or_nothing(project: Project) -> None:
    from loadorch.report.results import RunRecord, build

    doc = build(RunRecord("p", "s", "s.yaml", "0" * 64, 1, 1, 1, "http://x", "2026-01-01T00:00:00",
                          "2026-01-01T00:00:01", {}, "pass", 0)).to_json()
    block = frame({"results.json": json.dumps(doc).encode(), "junit.xml": b"<testsuite/>" * 2000})
    lines = block.splitlines()
    cut_middle = "\n".join(lines[:3] + lines[5:]) + "\n"  # a rotated log dropped lines inside the block
    mangled = block.replace(lines[2], lines[2][:-4] + "!!!!")
    for i, text in enumerate([block[: len(block) // 2], cut_middle, mangled]):
        log = project.root / f"m{i}.log"
        log.write_text("pod started\n" + text)
        r = _cli(project, "k8s", "collect", str(log), "--out", f"c{i}")
        assert r.code == 5 and "nothing was written" in r.err, r.err
        assert not (project.root / f"c{i}").exists()
        assert not [p for p in project.root.iterdir() if p.name.startswith(f".c{i}")]
        assert_no_traceback(r)
    (project.root / "ok.log").write_text(block)
    r = _cli(project, "k8s", "collect", "ok.log", "--out", "ok")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (project.root / "ok").iterdir()) == [
        "junit.xml", "report.html", "results.json", "summary.md"]


def test_block_is_bounded_and_compressed() -> None:
    results = json.dumps({"timeseries": [{"t_s": i, "requests": 100} for i in range(20000)]}).encode()
    block = frame({"results.json": results})
    assert len(block) < len(results) / 5  # results.json compresses well
    try:
        frame({"results.json": os.urandom(3 * 2**20)}, limit=2**20)
    except ValueError as exc:
        assert "MiB" in str(exc)
    else:
        raise AssertionError("an oversized block must be refused")
    assert gzip  # the block is gzip + base64 (see loadorch/k8s/framing.py)


def _readme_wait_loop() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"^for i in \$\(seq \d+\); do.*?^done$", text, re.S | re.M)
    assert match, "the README's wait loop is missing"
    return match.group(0)


def test_readme_wait_returns_as_soon_as_the_job_completes_or_fails(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text()
    for line in text.splitlines():  # kubectl wait honours only the last --for: never two in one command
        assert line.count("--for=") <= 1, line
    loop = _readme_wait_loop()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sleep").write_text("#!/bin/sh\necho slept >> \"$CALLS\"\n")
    for final in ("SuccessCriteriaMet Complete", "FailureTarget Failed"):
        calls = tmp_path / "calls"
        calls.write_text("")
        # a fake kubectl: no condition for two polls, then the final one
        (bin_dir / "kubectl").write_text(
            "#!/bin/sh\necho \"kubectl $*\" >> \"$CALLS\"\n"
            f"n=$(grep -c '^kubectl' \"$CALLS\"); [ \"$n\" -ge 3 ] && printf '%s' '{final}'\nexit 0\n")
        for exe in ("sleep", "kubectl"):
            (bin_dir / exe).chmod(0o755)
        done = subprocess.run(["sh", "-c", loop + "\necho finished"], capture_output=True, text=True, timeout=20,
                              env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls),
                                   "JOB": "job/loadorch-staging-r1-master"})
        assert done.returncode == 0 and "finished" in done.stdout, done.stderr
        log = calls.read_text().splitlines()
        assert [line.split()[0] for line in log] == ["kubectl", "slept", "kubectl", "slept", "kubectl"], log
        assert "get job/loadorch-staging-r1-master" in log[0]


def test_the_same_manifests_applied_twice_send_different_trace_ids(project: Project, tmp_path: Path) -> None:
    """#30, trace ids unique per run: the same rendered Jobs applied again (or a worker pod started again) give every
    pod the Secret's one token, and each worker's plan derived its trace ids from it: worker 0's requests of the
    second run carried the first run's trace ids, one by one. Each pod start (its `k8s plan` init container) now draws
    its own: the manifests are not touched, and the token still proves the pod belongs to the run."""
    from loadorch.traffic.trace import TraceIds, run_prefix

    _project(project)
    env = {"SHOP_URL": "http://127.0.0.1:1", "LOADORCH_RUN_TOKEN": "t" * 32}
    plans = []
    for start in ("first", "second"):
        path = tmp_path / f"{start}.json"
        r = _cli(project, "k8s", "plan", "p", "--workers", "2", "--master-host", "127.0.0.1", "--master-port", "5557",
                 "--out", str(path), env=env)
        assert r.code == 0, r.err
        plans.append(json.loads(path.read_text()))
    assert all(p["token"] == "t" * 32 for p in plans)  # what admits the pod to the run: the render's, unchanged
    prefixes = [p["trace_prefix"] for p in plans]
    assert prefixes[0] != prefixes[1] and run_prefix("t" * 32) not in prefixes
    worker_0 = [TraceIds(prefix, 0) for prefix in prefixes]  # worker 0's first 100 requests, in each run
    first, second = ({ids.next()[0] for _ in range(100)} for ids in worker_0)
    assert len(first) == len(second) == 100 and not first & second


def test_a_large_csv_is_shipped_as_a_file_not_inlined_in_the_plan(project: Project, tmp_path: Path) -> None:
    """A 200,000-row CSV (about 6 MB): the run plan names the file and its digest, it does not carry the rows."""
    _project(project)
    rows = "".join(f"user{i:07d}@example.com\n" for i in range(200_000))
    project.write("scenarios/accounts.csv", "email\n" + rows)
    plan = tmp_path / "plan.json"
    r = _cli(project, "k8s", "plan", "p", "--workers", "1", "--master-host", "127.0.0.1", "--master-port", "5557",
             "--out", str(plan), env={"SHOP_URL": "http://127.0.0.1:1", "LOADORCH_RUN_TOKEN": "t" * 32})
    assert r.code == 0, r.err
    assert plan.stat().st_size < 50_000, plan.stat().st_size
    data = json.loads(plan.read_text())["data"]["account"]
    assert data["file"].endswith("accounts.csv") and len(data["sha256"]) == 64 and "rows" not in data
    from loadorch.traffic.data import generator_from_json

    loaded = generator_from_json(data)  # what a worker does: the rows, read from the file
    assert len(loaded.rows) == 200_000 and loaded.rows[-1] == {"email": "user0199999@example.com"}
    project.write("scenarios/accounts.csv", "email\nchanged@example.com\n")
    try:
        generator_from_json(data)
    except ValueError as exc:
        assert "changed since the run was validated" in str(exc)
    else:
        raise AssertionError("a CSV file changed after validation must not be used")


def test_files_in_image_is_the_way_for_data_too_big_for_a_configmap(project: Project) -> None:
    _project(project)
    project.write("scenarios/accounts.csv", "email\n" + "".join(f"user{i:07d}@example.com\n" for i in range(12000)))
    r = _cli(project, "k8s", "render", "p", "--workers", "2", "--image", "i", "--files-in-image", "/project")
    assert r.code == 0, r.err
    assert "/project/accounts.csv" in r.err and "/project/profile.yaml" in r.err
    manifests = list(yaml.safe_load_all(r.out))
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    assert list(configmap["data"]) == ["effective.yaml"]
    for job in (m for m in manifests if m["kind"] == "Job"):
        pod = job["spec"]["template"]["spec"]
        assert [v["name"] for v in pod["volumes"]] == ["scratch"]
        for c in pod["containers"] + pod.get("initContainers", []):
            assert {"name": "LOADORCH_CONFIG_DIR", "value": "/project"} in c["env"]
            assert [m["name"] for m in c["volumeMounts"]] == ["scratch"]
    try:
        import kubernetes_validate
    except ImportError:
        return
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


def test_a_browser_only_scenario_renders_no_http_workers_job(project: Project) -> None:
    project.write("scenarios/s.yaml", """
        name: k
        browsers:
          - {name: shopper, journey: [{visit: /shop}]}
        """)
    project.write("profiles/p.yaml", PROFILE.replace("load: {users: 10, duration: 30s}\nworkers: 2\n",
                                                     "load: {duration: 30s}\n"))
    manifests = _render(project)
    jobs = {m["metadata"]["name"].rsplit("-", 1)[1]: m for m in manifests if m["kind"] == "Job"}
    assert set(jobs) == {"master", "browsers"}
    args = jobs["master"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--workers" not in args and "--external-workers" in args


def _egress(manifests: list[dict]) -> set[int]:
    [policy] = [m for m in manifests if m["kind"] == "NetworkPolicy" and m["metadata"]["name"].endswith("-egress")]
    return {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"] if p["protocol"] == "TCP"}


def test_an_egress_policy_lets_the_pod_reach_a_target_known_only_in_the_pod(project: Project) -> None:
    """With a database collector the master's pod (a monitor's: its load and pages too) gets an egress
    policy. The target's port was left out when the host came from a variable (the documented form): the
    monitor's requests, and the master's preflight, allowed only the database and DNS."""
    _project(project, PROFILE + 'collectors: {postgres: {dsn: "${DATABASE_URL}"}}\n')
    for args in (("--workers", "3"), ("--monitor",), ("--monitor", "--schedule", "@hourly")):
        r = _cli(project, "k8s", "render", "p", "--image", "img", *args)
        assert r.code == 0 and _egress(list(yaml.safe_load_all(r.out))) == {53, 80, 443, 5432}, (args, r.err)
        assert "the target's port is not known at render time" in r.err and "--host URL" in r.err
    # a host known here: its own port; a monitor's pages fetch other origins on the web's ports too
    host = ("--host", "http://shop.svc.cluster.local:8080")
    assert _egress(_render(project, *host)) == {53, 5432, 8080}
    project.write("scenarios/s.yaml", SCENARIO + "browsers:\n  - {name: shopper, journey: [{visit: /shop}]}\n")
    r = _cli(project, "k8s", "render", "p", "--image", "img", "--monitor", *host)
    assert r.code == 0 and _egress(list(yaml.safe_load_all(r.out))) == {53, 80, 443, 5432, 8080}, r.err


def test_a_check_schedule_whose_passes_cannot_reach_min_samples_says_so(project: Project) -> None:
    """The README's low rate (0.2 a second) and a 2-minute pass: 24 requests against the default min_samples
    of 100, so every pass read inconclusive (exit 6) and failed its Job, unsaid at render."""
    low = PROFILE.replace("load: {users: 10, duration: 30s}\nworkers: 2\n", "load: {arrival_rate: 0.2, duration: 1m}\n")
    _project(project, low)
    args = ("k8s", "render", "p", "--image", "img", "--monitor", "--schedule", "@hourly", "--duration", "2m")
    r = _cli(project, *args)
    assert r.code == 0 and "note: a pass sends about 24 requests, fewer than min_samples (100)" in r.err, r.err
    _project(project, low + "min_samples: 20\n")
    r = _cli(project, *args)
    assert r.code == 0 and "fewer than min_samples" not in r.err, r.err


def test_a_monitor_pods_series_carry_the_profile_name_its_alert_rules_filter_on(project: Project,
                                                                              tmp_path: Path) -> None:
    """The pod runs the profile from the ConfigMap as `/config/profile.yaml`: its series were labelled
    profile="profile", and every rule `loadorch alerts p` writes filters on profile="p": none could fire."""
    from loadorch.cli import _overrides, build_parser
    from loadorch.config.resolve import build
    from loadorch.metrics.alerts import alert_rules

    _project(project)
    env = {"SHOP_URL": "http://shop.svc.cluster.local"}
    for kind, extra in (("Deployment", ()), ("CronJob", ("--schedule", "@hourly"))):
        r = _cli(project, "k8s", "render", "p", "--image", "img", "--monitor", *extra)
        assert r.code == 0, r.err
        manifests = list(yaml.safe_load_all(r.out))
        configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
        owner = next(m for m in manifests if m["kind"] == kind)
        pod = (owner["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else owner["spec"])["template"]["spec"]
        config = tmp_path / kind / "config"
        for item in pod["volumes"][0]["configMap"]["items"]:  # the files as the pod sees them
            (config / item["path"]).parent.mkdir(parents=True, exist_ok=True)
            (config / item["path"]).write_text(configmap["data"][item["key"]])
        argv = [a.replace("$(LOADORCH_CONFIG_DIR)", str(config)).replace("$(LOADORCH_SCRATCH)", str(tmp_path))
                for a in pod["containers"][0]["args"]]
        args = build_parser().parse_args(argv)
        for name in ("users", "spawn_rate", "duration", "workers", "iterations"):  # as _cmd_monitor sets them
            setattr(args, name, getattr(args, name, None))
        cfg = build(args.profile, str(config), env, _overrides(args))
        assert cfg.profile_name == "p", kind  # the live labels' profile (run/controller.py live_labels)
        doc, _ = alert_rules("p", cfg.thresholds, 3600, 0, 1)
        assert all('profile="p"' in rule["expr"] for rule in doc["groups"][0]["rules"])  # type: ignore[index]


def test_two_monitors_of_one_profile_label_their_live_series_apart(project: Project) -> None:
    """Every monitor pod (and every check pass) ran with `--out /scratch/monitor` (`/scratch/check`), and the live
    series' run_id is the run folder's name: two monitors of one profile (another --run-id, or the same render in
    another namespace) pushed series with the same labels into one Prometheus. Now the folder is the render's run
    id and the namespace the pod runs in (the downward API), as Kubernetes expands the args."""
    from loadorch.cli import build_parser

    _project(project)
    namespaces: list[object] = []  # where each pod learns its namespace from

    def label(namespace: str, *extra: str) -> str:
        r = _cli(project, "k8s", "render", "p", "--image", "img", "--monitor", *extra)
        assert r.code == 0, r.err
        owner = next(m for m in yaml.safe_load_all(r.out) if m["kind"] in ("Deployment", "CronJob"))
        pod = (owner["spec"]["jobTemplate"]["spec"] if owner["kind"] == "CronJob" else owner["spec"])["template"]
        [container] = pod["spec"]["containers"]
        namespaces.append(next((e["valueFrom"] for e in container["env"] if e["name"] == "LOADORCH_NAMESPACE"), None))
        # what the kubelet runs: $(VAR) in args expanded from the container's environment
        pod_env = {"LOADORCH_CONFIG_DIR": "/config", "LOADORCH_SCRATCH": "/scratch", "LOADORCH_NAMESPACE": namespace}
        argv = [re.sub(r"\$\((\w+)\)", lambda m: pod_env[m.group(1)], a) for a in container["args"]]
        out = build_parser().parse_args(argv).out
        return os.path.basename(os.path.normpath(out))  # the live labels' run_id (run/controller.py _load)

    labels = [label("perf"), label("staging"), label("perf", "--run-id", "eu"), label("perf", "--schedule", "@hourly")]
    assert labels == ["live.perf", "live.staging", "eu.perf", "live-check.perf"]
    assert label("perf") == label("perf")  # a restarted pod, the same render applied again: the same monitor
    assert namespaces == [{"fieldRef": {"fieldPath": "metadata.namespace"}}] * 6


def test_two_load_runs_label_their_live_series_apart(project: Project) -> None:
    """The master's run folder was /scratch/results for every run, and the live series' run_id is its name: every
    Kubernetes run of a profile pushed the same labels. Now it is the render's run id (a new stamp per render)."""
    from loadorch.cli import build_parser

    _project(project)

    def label(*extra: str) -> str:
        [master] = [m for m in _render(project, *extra) if m["kind"] == "Job" and m["metadata"]["name"].endswith("-master")]
        args = master["spec"]["template"]["spec"]["containers"][0]["args"]
        argv = [a.replace("$(LOADORCH_CONFIG_DIR)", "/config").replace("$(LOADORCH_SCRATCH)", "/scratch") for a in args]
        return os.path.basename(os.path.normpath(build_parser().parse_args(argv).out))  # run/controller.py _load

    assert [label("--run-id", "r1"), label("--run-id", "r2")] == ["r1", "r2"]
    assert re.fullmatch(r"\d{10}-[0-9a-f]{4}", label())  # the stamp of `k8s render` (commands/k8s.py)


def test_a_load_runs_master_pod_runs_under_the_profiles_name(project: Project, tmp_path: Path) -> None:
    """The master's pod ran `/config/profile.yaml` too: results.json's run.profile, the live series' `profile`
    label and `k8s collect`'s folder said "profile", not the profile's name."""
    from loadorch.cli import _overrides, build_parser
    from loadorch.config.resolve import build

    _project(project)
    r = _cli(project, "k8s", "render", "p", "--image", "img", "--workers", "2")
    assert r.code == 0, r.err
    manifests = list(yaml.safe_load_all(r.out))
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    pods = [m["spec"]["template"]["spec"] for m in manifests if m["kind"] == "Job"]
    [master] = [c for pod in pods for c in pod["containers"] if "--external-workers" in c.get("args", [])]
    [pod] = [pod for pod in pods if any(c is master for c in pod["containers"])]
    config = tmp_path / "config"
    for item in next(v for v in pod["volumes"] if "configMap" in v)["configMap"]["items"]:
        (config / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (config / item["path"]).write_text(configmap["data"][item["key"]])
    argv = [a.replace("$(LOADORCH_CONFIG_DIR)", str(config)).replace("$(LOADORCH_SCRATCH)", str(tmp_path))
            for a in master["args"]]
    argv = argv[1:] if argv[0] == "loadorch" else argv  # the container's command may hold the program's name
    args = build_parser().parse_args(argv)
    cfg = build(args.profile, str(config), {"SHOP_URL": "http://shop.svc.cluster.local"}, _overrides(args))
    assert cfg.profile_name == "p"


def test_a_credential_written_literally_is_never_rendered_outside_a_secret(project: Project) -> None:
    """A cookie written in the profile's headers, a password in its host URL, a secret given as --tag: the
    ConfigMap held the files as written (and effective.yaml the host again), the pod's args the tag, in clear
    (the redacted artifacts of a run never show them). Refused, with the fix and without the value; the same
    values from variables render."""
    cookie, password, token = "sid-Canary7731cookie", "Canary7731host", "Canary7731token"
    literal = PROFILE.replace("host: ${SHOP_URL}", f"host: https://app:{password}@shop.svc.cluster.local")
    literal = literal.replace('headers: {X-Region: "${REGION:-eu}"}', f'headers: {{Cookie: "session={cookie}"}}')
    variables = PROFILE.replace('"${REGION:-eu}"', '"${REGION:-eu}", Cookie: "session=${SESSION}", '
                                'Authorization: "Bearer ${API_TOKEN}"')
    variables += "secrets: [API_TOKEN]\n"
    env = {"SHOP_URL": "https://shop.svc.cluster.local", "SESSION": cookie, "API_TOKEN": token}
    modes = [("--workers", "2"), ("--monitor",), ("--monitor", "--schedule", "*/10 * * * *")]
    for profile, tag in ((literal, ()), (variables, ("--tag", f"team={token}"))):
        _project(project, profile)
        for mode in modes:
            r = _cli(project, "k8s", "render", "p", "--image", "img", *mode, *tag, env=env)
            assert_no_traceback(r)
            assert r.code == 4 and r.out == "" and "refused for Kubernetes: a secret's value" in r.err, (mode, tag, r.err)
            assert not any(v in r.err for v in (cookie, password, token)), r.err
    _project(project, variables)
    for mode in modes:
        r = _cli(project, "k8s", "render", "p", "--image", "img", *mode, "--tag", "team=checkout", env=env)
        assert r.code == 0, r.err
        shown = yaml.safe_dump_all([m for m in yaml.safe_load_all(r.out) if m["kind"] != "Secret"])
        assert not any(v in shown for v in (cookie, password, token))


def test_a_credential_query_parameter_written_literally_is_never_rendered_outside_a_secret(project: Project) -> None:
    """A request's `?access_token=...` written literally in the scenario: a run masks it in every output (the
    request log, config.yaml, a target's echo of it), but the ConfigMap carried the scenario as written, in clear.
    Refused like a header's literal credential; the same value from a variable renders, in the Secret only."""
    token = "Canary7731query"
    _project(project)
    literal = SCENARIO.replace("/health?a={account.email}", f"/health?a={{account.email}}&access_token={token}")
    project.write("scenarios/s.yaml", literal)
    env = {"SHOP_URL": "https://shop.svc.cluster.local", "FILES_TOKEN": token}
    for mode in [("--workers", "2"), ("--monitor",)]:
        r = _cli(project, "k8s", "render", "p", "--image", "img", *mode, env=env)
        assert_no_traceback(r)
        assert r.code == 4 and r.out == "" and "ConfigMap" in r.err and "?token=" in r.err, (mode, r.err)
        assert token not in r.err, r.err
    project.write("scenarios/s.yaml", literal.replace(token, "${FILES_TOKEN}"))
    r = _cli(project, "k8s", "render", "p", "--image", "img", "--monitor", env=env)
    assert r.code == 0, r.err
    assert token not in yaml.safe_dump_all([m for m in yaml.safe_load_all(r.out) if m["kind"] != "Secret"])
