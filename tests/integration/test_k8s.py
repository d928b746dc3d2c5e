"""Kubernetes: manifests validate offline; the rendered pods, run as local processes, reproduce a local run."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadorch.k8s.manifests import configmap_files
from tests.support.project import SHARED, Project

from .helpers import request_log

SCENARIO = """
name: k8s
headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
data:
  product_id: {int: [1, 20]}
  customer: {sequence: {start: 100}}
setup:
  - {name: products, repeat: 20, request: {method: POST, path: /products, json: {name: p}}}
users:
  - name: shopper
    requests:
      - {name: list, weight: 2, path: "/products?limit=3"}
      - {name: get, weight: 2, path: "/products/{product_id}"}
      - {name: order, path: "/orders?c={customer}", method: POST, json: {customer: "c{customer}", product_id: "{product_id}"}}
min_samples: 10
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: ${SHOP_URL}
allowed_hosts: ["127.0.0.0/8"]
load: {users: 4, duration: 60s}
workers: 1
seed: 314
worker_connect_timeout: 30s
"""
CANARY = "k8s-canary-4242-secret"


def k8s_project(project: Project) -> Project:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    return project


def render(project: Project, *args: str) -> list[dict]:
    r = project.cli("k8s", "render", "p", "--image", "loadorch:test", "--run-id", "t1", *args,
                    env={"SHOP_TOKEN": CANARY})
    assert r.code == 0, r.err
    assert CANARY not in r.out
    return list(yaml.safe_load_all(r.out))


@pytest.mark.parametrize("workers", [1, 20])
def test_manifests_validate_against_kubernetes_schemas(project: Project, workers: int) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    manifests = render(k8s_project(project), "--workers", str(workers), "--namespace", "perf",
                       "--host", "http://shop.perf.svc.cluster.local")
    version = kubernetes_validate.latest_version()
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["ConfigMap", "Job", "Job", "NetworkPolicy", "Secret", "Service"]
    jobs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Job"}
    workers_job = jobs["loadorch-p-t1-workers"]["spec"]
    assert (workers_job["completionMode"], workers_job["completions"], workers_job["parallelism"]) == (
        "Indexed", workers, workers)
    for job in jobs.values():
        spec = job["spec"]
        pod = spec["template"]["spec"]
        assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] > 60 and spec["ttlSecondsAfterFinished"]
        assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]
            secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"] if "valueFrom" in e}
            assert set(secret_refs) == {"SHOP_TOKEN", "SHOP_URL", "LOADORCH_RUN_TOKEN"}
            # required variables are required: no pod starts without them
            assert not any(ref.get("optional") for ref in secret_refs.values())
            assert secret_refs["SHOP_URL"]["name"] == "loadorch-p-env"
            assert secret_refs["LOADORCH_RUN_TOKEN"]["name"] == "loadorch-p-t1-token"
            assert not [e for e in c["env"] if e["name"] == "LOADORCH_RUN_TOKEN" and "value" in e]
    service = next(m for m in manifests if m["kind"] == "Service")
    assert service["spec"]["type"] == "ClusterIP"


def test_embedded_host_cannot_be_rendered(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.replace("${SHOP_URL}", "embedded"))
    r = project.cli("k8s", "render", "p", "--workers", "2", "--image", "x")
    assert r.code == 3 and "host: embedded runs only on this machine" in r.err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PodRunner:
    """Runs a rendered container's exact command and environment as a local process.

    What a cluster would provide is mapped: the Service name and the bind-all address to loopback,
    the Service port to a free port, volumes to folders, Secret references to a dict, and the image's
    `loadorch`/`python3` executables to this interpreter.
    """

    def __init__(self, root: Path, secrets: dict[str, str], port: int) -> None:
        self.root = root
        self.secrets = secrets
        self.port = port

    def command(self, container: dict, mounts: dict[str, Path], extra_env: dict[str, str]) -> tuple[list[str], dict]:
        env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        for item in container["env"]:
            if "value" in item:
                env[item["name"]] = item["value"]
            elif item["valueFrom"]["secretKeyRef"]["key"] in self.secrets:
                env[item["name"]] = self.secrets[item["valueFrom"]["secretKeyRef"]["key"]]
        for mount in container["volumeMounts"]:
            folder = mounts[mount["name"]]
            for key, value in list(env.items()):
                if value == mount["mountPath"]:
                    env[key] = str(folder)
        if "LOADORCH_MASTER_HOST" in env:
            env["LOADORCH_MASTER_HOST"] = "127.0.0.1"
        env.update(extra_env)

        def expand(arg: str) -> str:
            arg = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)
            return {"0.0.0.0": "127.0.0.1", "5557": str(self.port)}.get(arg, arg)

        argv = [expand(a) for a in container["command"] + container["args"]]
        exe = {"loadorch": [sys.executable, "-m", "loadorch"], "python3": [sys.executable]}[argv[0]]
        return exe + argv[1:], env


def test_pod_simulation_matches_a_local_run(project: Project, shop_server: str, tmp_path: Path) -> None:
    k8s_project(project)
    # two runs' exit codes are compared: their verdict must not hang on the machine's load (a busy generator, a
    # latency near a budget), so the test need not run alone: the seeded run's few orders (under min_samples)
    # make it inconclusive (exit 6) whatever their latency, and every request must succeed
    project.write("profiles/p.yaml", PROFILE + "allow_saturated_generator: true\n"
                  'thresholds: {http_req_failed: ["rate<0.01"], "http_req_duration{kind:write}": ["p(95)<60000"]}\n')
    manifests = render(project, "--workers", "2", "--iterations", "6", "--request-log",
                       "--summary-export", "load-performance.json")
    config = tmp_path / "config"
    for rel, text in configmap_files(manifests).items():
        (config / rel).parent.mkdir(parents=True, exist_ok=True)
        (config / rel).write_text(text)
    jobs = {m["metadata"]["name"]: m["spec"]["template"]["spec"] for m in manifests if m["kind"] == "Job"}
    token = next(m for m in manifests if m["kind"] == "Secret")["stringData"]["LOADORCH_RUN_TOKEN"]
    pods = PodRunner(tmp_path, {"SHOP_URL": shop_server, "SHOP_TOKEN": CANARY, "LOADORCH_RUN_TOKEN": token},
                     _free_port())

    master_scratch = tmp_path / "master-scratch"
    master_scratch.mkdir()
    argv, env = pods.command(jobs["loadorch-p-t1-master"]["containers"][0],
                             {"config": config, "scratch": master_scratch}, {})
    log_path = tmp_path / "master.log"
    with open(log_path, "w") as log:
        master = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    workers = []
    try:
        for index in range(2):
            scratch = tmp_path / f"worker-{index}-scratch"
            scratch.mkdir()
            mounts = {"config": config, "scratch": scratch}
            worker_spec = jobs["loadorch-p-t1-workers"]
            init_argv, init_env = pods.command(worker_spec["initContainers"][0], mounts,
                                               {"JOB_COMPLETION_INDEX": str(index)})
            done = subprocess.run(init_argv, env=init_env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert CANARY not in done.stdout + done.stderr
            w_argv, w_env = pods.command(worker_spec["containers"][0], mounts, {"JOB_COMPLETION_INDEX": str(index)})
            workers.append(subprocess.Popen(w_argv, env=w_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        master_err = master.communicate(timeout=120)[1]
        for w in workers:
            w.wait(timeout=30)
    finally:
        for p in [master, *workers]:
            if p.poll() is None:
                p.kill()
    log_text = log_path.read_text()
    assert CANARY not in log_text and CANARY not in master_err
    assert [w.returncode for w in workers] == [0, 0]

    collected = project.run("k8s", "collect", str(log_path), "--out", "collected")
    assert collected.code == master.returncode, collected.err
    doc = project.results("collected")
    assert doc["exit_code"] == master.returncode and doc["run"]["workers"] == 2
    assert doc["integrity"]["workers_seen"] == 2 and doc["totals"]["requests"] == 24
    # --summary-export: written by the master into its run folder, carried in the log, collected beside results.json
    export = json.loads((project.root / "collected" / "load-performance.json").read_text())
    assert export["metrics"]["http_reqs"]["count"] == 24 and export["metrics"]["http_req_waiting"]["p(95)"] > 0
    assert CANARY not in json.dumps(export)
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if xsd.exists():
        import xmlschema

        xmlschema.XMLSchema(str(xsd)).validate(str(project.root / "collected" / "junit.xml"))

    local = project.run("run", "p", "--workers", "2", "--iterations", "6", "--request-log", "--out", "local",
                        env={"SHOP_URL": shop_server, "SHOP_TOKEN": CANARY})
    assert local.code == doc["exit_code"] == 6, local.err
    write = next(t for t in doc["thresholds"] if t["selector"] == "http_req_duration{kind:write}")
    assert write["verdict"] == "inconclusive" and write["samples"] < 10, write

    def strip(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in rows]

    # the request log never travels through the log stream: it stays in the master's scratch folder
    assert not (project.root / "collected" / "requests.jsonl").exists() and "requests.jsonl" not in log_text
    assert (project.root / "collected" / "report.html").exists() and (project.root / "collected" / "summary.md").exists()
    # in the run folder named after the render's run id (t1 here: the live series' run_id)
    assert strip(request_log(master_scratch / "t1")) == strip(request_log(project.root / "local"))


def test_collect_needs_a_complete_block(project: Project, tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    log.write_text("starting\nTraceback: boom\n")
    r = project.cli("k8s", "collect", str(log))
    assert r.code == 5 and "no loadorch artifacts block" in r.err
    from loadorch.k8s.framing import frame

    block = frame({"results.json": json.dumps({"x": 1}).encode()})
    log.write_text(block[: len(block) // 2])
    r = project.cli("k8s", "collect", str(log))
    assert r.code == 5 and "cut short" in r.err


@pytest.mark.parametrize("port", ["closed", "silent"])
def test_worker_without_master_gives_up_within_its_bound(project: Project, tmp_path: Path, port: str) -> None:
    """No master: nothing on the port, or a listener that never answers (a port open, no ZeroMQ behind it).
    The worker gives up once its worker_connect_timeout is spent: the port's wait and Locust's hello share it
    (each once took the whole of it, and Locust asks in steps of 5 s: 12.8 s for a 2 s timeout)."""
    import re
    import socket

    k8s_project(project)
    plan = tmp_path / "plan.json"
    env = {"SHOP_URL": "http://127.0.0.1:9", "SHOP_TOKEN": "x", "LOADORCH_RUN_TOKEN": "t" * 32}
    project.write("profiles/p.yaml", PROFILE.replace("30s", "2s"))  # no master: it gives up however short
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", 0))
        if port == "silent":
            listener.listen(8)  # accepts (the kernel does), never answers
        r = project.cli("k8s", "plan", "p", "--workers", "1", "--master-host", "127.0.0.1",
                        "--master-port", str(listener.getsockname()[1]), "--out", str(plan), env=env)
        assert r.code == 0, r.err
        done = subprocess.run([sys.executable, "-m", "loadorch.runtime", "worker", "--plan", str(plan)],
                              env={**os.environ, "JOB_COMPLETION_INDEX": "0"}, capture_output=True, text=True,
                              timeout=120)
    finally:
        listener.close()
    assert done.returncode == 5 and "did not answer within 2s (waited " in done.stderr, done.stderr
    waited = float(re.search(r"\(waited ([0-9.]+) s\)", done.stderr).group(1))
    assert 1.9 <= waited <= 3.0, done.stderr  # its own clock, from its first try: not its start-up


def test_monitor_renders_a_deployment_with_the_same_secrets_and_policy(project: Project) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    manifests = render(k8s_project(project), "--monitor", "--namespace", "perf", "--metrics-port", "9464",
                       "--host", "http://shop.perf.svc.cluster.local", "--tag", "env=staging")
    version = kubernetes_validate.latest_version()
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert sorted(m["kind"] for m in manifests) == ["ConfigMap", "Deployment", "NetworkPolicy", "Secret", "Service"]
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "loadorch-p-t1-monitor"
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Always" and pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                   if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(secret_refs) == {"SHOP_TOKEN", "SHOP_URL", "LOADORCH_RUN_TOKEN"}
    assert secret_refs["SHOP_URL"]["name"] == "loadorch-p-env"
    # the pod's argv is a command line the real parser takes
    from loadorch.cli import build_parser

    argv = [a.replace("$(LOADORCH_CONFIG_DIR)", "/config").replace("$(LOADORCH_SCRATCH)", "/scratch")
            .replace("$(LOADORCH_NAMESPACE)", "perf") for a in container["args"]]
    args = build_parser().parse_args(argv)
    assert (args.command, args.status_bind, args.metrics_port, args.tag) == ("monitor", "0.0.0.0", 9464,
                                                                             ["env=staging"])
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8089},
                                                    {"protocol": "TCP", "port": 9464}]}]


@pytest.mark.parametrize("flag", [["--workers", "2"], ["--users", "3"], ["--request-log"]])
def test_monitor_render_refuses_run_only_flags(project: Project, flag: list[str]) -> None:
    r = k8s_project(project).cli("k8s", "render", "p", "--image", "img", "--monitor", *flag,
                                 env={"SHOP_TOKEN": CANARY})
    assert r.code == 2 and "does not apply to --monitor" in r.err


def test_monitor_with_a_schedule_renders_a_cronjob_of_checks_with_the_same_secrets(project: Project) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    manifests = render(k8s_project(project), "--monitor", "--schedule", "*/15 * * * *", "--duration", "1m",
                       "--namespace", "perf", "--host", "http://shop.perf.svc.cluster.local", "--tag", "env=staging")
    version = kubernetes_validate.latest_version()
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
    assert sorted(m["kind"] for m in manifests) == ["ConfigMap", "CronJob", "NetworkPolicy", "Secret"]
    cron = next(m for m in manifests if m["kind"] == "CronJob")
    spec = cron["spec"]
    assert cron["metadata"]["name"] == "loadorch-p-t1-check" and spec["schedule"] == "*/15 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and 60 < job["activeDeadlineSeconds"] < 3600  # the pass's length and margins
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret_refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                   if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(secret_refs) == {"SHOP_TOKEN", "SHOP_URL", "LOADORCH_RUN_TOKEN"}
    assert secret_refs["SHOP_URL"]["name"] == "loadorch-p-env" and not any(r.get("optional") for r in secret_refs.values())
    from loadorch.cli import build_parser

    argv = [a.replace("$(LOADORCH_CONFIG_DIR)", "/config").replace("$(LOADORCH_SCRATCH)", "/scratch")
            .replace("$(LOADORCH_NAMESPACE)", "perf") for a in container["args"]]
    args = build_parser().parse_args(argv)  # a pass is a run the real parser takes
    assert (args.command, args.duration, args.tag, args.out) == ("run", 60.0, ["env=staging"], "/scratch/t1-check.perf")
    policy = next(m for m in manifests if m["kind"] == "NetworkPolicy")
    assert policy["spec"]["ingress"] == [] and policy["spec"]["policyTypes"] == ["Ingress"]  # nothing scrapes a pass


def test_a_monitor_schedule_is_checked_before_anything_is_rendered(project: Project) -> None:
    k8s_project(project)
    for flags, message in [(["--monitor", "--schedule", "*/15 * * *"], "is not a cron schedule"),
                           (["--workers", "1", "--schedule", "@hourly"], "--schedule needs --monitor")]:
        r = project.run("k8s", "render", "p", "--image", "img", *flags, env={"SHOP_TOKEN": CANARY})
        assert r.code == 2 and message in r.err and r.out == "" and "Traceback" not in r.err
