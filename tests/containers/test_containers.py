"""The Kubernetes path in real containers: the image built from the Dockerfile, the rendered pods played by
podman exactly as rendered (but for kube.as_pods and kube.local_cluster_changes), and `k8s collect` on the
master container's log reproducing a local run.

Run by .ci/run as its own tier: `tests/run --containers` (installs podman and runs `pytest -m containers`).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.project import REPO, SHARED, Project

from ..integration.helpers import request_log
from . import kube
from .podman import ContainerError, Podman

pytestmark = [pytest.mark.containers, pytest.mark.podman]

SCENARIO = """
name: smoke
headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
data:
  product_id: {int: [1, 20]}
  customer: {sequence: {start: 100}}
users:
  - name: shopper
    requests:
      - {name: list, weight: 2, path: "/products?limit=3"}
      - {name: get, weight: 2, path: "/products/{product_id}"}
      - {name: order, method: POST, path: /orders, json: {customer: "c{customer}", product_id: "{product_id}"}}
min_samples: 10
"""
# The test's own podman network: the embedded target runs in a container on it, the master pod has a
# static address (what the workers' hostAliases point the Service name at), and the host reaches both.
NETWORK, SUBNET = "loadorch-ctest", "10.213.77.0/24"
TARGET_IP, MASTER_IP = "10.213.77.5", "10.213.77.10"
TARGET = f"http://{TARGET_IP}:8080"
PROFILE = f"""
scenario: ../scenarios/smoke.yaml
host: ${{SHOP_URL}}
allowed_hosts: ["{TARGET_IP}"]
load: {{users: 4, duration: 20s}}
workers: 2
seed: 2718
worker_connect_timeout: 40s
"""
CANARY = "container-canary-7311-token"


def image_tag() -> str:
    """A tag per content of what the image is built from, so a rerun on unchanged sources reuses it."""
    digest = hashlib.sha256()
    for path in sorted([REPO / "Dockerfile", REPO / "pyproject.toml", *(REPO / "loadorch").rglob("*.py")]):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return f"localhost/loadorch:test-{digest.hexdigest()[:12]}"


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    p = Podman(tmp_path_factory.mktemp("podman"))
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture(autouse=True)
def _remove_pods_after_each_test(podman: Podman) -> Iterator[None]:
    yield
    podman.remove_pods()


def build_and_check(podman: Podman, context: Path, tag: str) -> str:
    """Build the image and run its smoke check as the pods would run it (non-root, read-only root)."""
    podman.build(context, tag, podman.ensure_base())
    version = podman("run", "--rm", "--read-only", "--cap-drop", "ALL", "--user", "10001", tag, "--version",
                     what="the image's smoke check (loadorch --version)")
    if not version.stdout.startswith("loadorch "):
        raise ContainerError(f"the image's smoke check printed {version.stdout!r}")
    return tag


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    tag = image_tag()
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    return build_and_check(podman, REPO, tag)


@pytest.fixture(scope="module")
def target(podman: Podman, image: str) -> str:
    """The embedded reference shop in a container on the test network (a fresh one per module)."""
    podman.network(NETWORK, SUBNET)
    podman("rm", "-f", "-t", "0", "loadorch-ctest-target", check=False)
    podman("run", "-d", "--name", "loadorch-ctest-target", "--network", NETWORK, "--ip", TARGET_IP, image,
           "target", "serve", "--host", "0.0.0.0", "--port", "8080", what="starting the target container")
    podman.containers.append("loadorch-ctest-target")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{TARGET}/health", timeout=2) as answer:
                if answer.status == 200:
                    return TARGET
        except OSError:
            time.sleep(0.5)
    raise ContainerError(f"the target container did not answer on {TARGET}:\n{podman.logs('loadorch-ctest-target')}")


def smoke_project(project: Project) -> Project:
    project.write("scenarios/smoke.yaml", SCENARIO)
    project.write("profiles/smoke.yaml", PROFILE)
    return project


def render(project: Project, image: str, host: str, *args: str) -> list[dict[str, Any]]:
    r = project.run("k8s", "render", "smoke", "--workers", "2", "--image", image, "--host", host, *args,
                    env={"SHOP_TOKEN": CANARY, "SHOP_URL": host})
    assert r.code == 0, r.err
    assert CANARY not in r.out
    return list(yaml.safe_load_all(r.out))


def play_run(podman: Podman, manifests: list[dict[str, Any]], host: str, workdir: Path,
             *, change_worker: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create the secrets, play the master pod, then the worker pods; returns (master pod, worker pods)."""
    for name, data in kube.rendered_secrets(manifests).items():
        podman.create_secret(name, data)
    values = {"SHOP_URL": host, "SHOP_TOKEN": CANARY}
    for name in kube.secret_names(manifests):
        podman.create_secret(name, {k: base64.b64encode(v.encode()).decode() for k, v in values.items()})
    jobs = kube.jobs_by_role(manifests)
    hosts = kube.service_names(manifests)
    shared = [m for m in manifests if m["kind"] == "ConfigMap"]
    master = [kube.local_cluster_changes(p, hosts, MASTER_IP) for p in kube.as_pods(jobs["master"])]
    workers = [kube.local_cluster_changes(p, hosts, MASTER_IP) for p in kube.as_pods(jobs["worker"])]
    if change_worker:
        workers = [change_worker(w) for w in workers]
    podman.play(shared + master, workdir, "master", NETWORK, MASTER_IP)
    podman.play(shared + workers, workdir, "workers", NETWORK)
    return master[0], workers


def master_container(master: dict[str, Any]) -> str:
    return f"{master['metadata']['name']}-{master['spec']['containers'][0]['name']}"


def collect(podman: Podman, project: Project, master: dict[str, Any], out: str, timeout: float = 240) -> tuple[int, Any]:
    name = master_container(master)
    code = podman.wait(name, timeout)
    log = project.root / f"{out}.log"
    log.write_text(podman.logs(name))
    assert CANARY not in log.read_text()
    collected = project.run("k8s", "collect", str(log), "--out", out)
    assert collected.code == code, f"collect exit {collected.code}, master container exit {code}:\n{collected.err}"
    return code, project.results(out)


def test_rendered_pods_in_real_containers_match_a_local_run(podman: Podman, image: str, project: Project,
                                                          target: str, tmp_path: Path) -> None:
    smoke_project(project)
    manifests = render(project, image, target, "--iterations", "5", "--request-log")
    master, _ = play_run(podman, manifests, target, tmp_path)
    code, doc = collect(podman, project, master, "collected")

    assert doc["exit_code"] == code and doc["run"]["workers"] == 2
    assert doc["integrity"]["workers_seen"] == 2 and doc["totals"]["requests"] == 4 * 5
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if xsd.exists():
        import xmlschema

        xmlschema.XMLSchema(str(xsd)).validate(str(project.root / "collected" / "junit.xml"))
    local = project.run("run", "smoke", "--workers", "2", "--iterations", "5", "--request-log", "--out", "local",
                        env={"SHOP_URL": target, "SHOP_TOKEN": CANARY})
    assert local.code == code, local.err
    assert project.results("local")["verdict"] == doc["verdict"]

    # the request log never travels in the log stream: it stays in the master pod's scratch volume
    scratch = next(v for v in master["spec"]["volumes"] if "emptyDir" in v)["name"]
    mountpoint = Path(podman("volume", "inspect", scratch, "--format", "{{.Mountpoint}}").stdout.strip())
    folder = Path(master["spec"]["containers"][0]["args"][master["spec"]["containers"][0]["args"].index("--out") + 1]).name
    shutil.copy(mountpoint / folder / "requests.jsonl", project.root / "collected" / "requests.jsonl")

    def strip(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in rows]

    assert strip(request_log(project.root / "collected")) == strip(request_log(project.root / "local"))


def test_a_killed_worker_container_is_reported_lost(podman: Podman, image: str, project: Project,
                                                   target: str, tmp_path: Path) -> None:
    smoke_project(project)
    manifests = render(project, image, target, "--duration", "40s")
    master, workers = play_run(podman, manifests, target, tmp_path)
    names = [f"{w['metadata']['name']}-{w['spec']['containers'][0]['name']}" for w in workers]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            podman("inspect", n, "--format", "{{.State.Status}}", check=False).stdout.strip() == "running"
            for n in names):
        time.sleep(0.5)
    victim = names[1]
    time.sleep(8)  # both workers connect and report a few intervals of data before one is killed
    podman("kill", victim, what=f"killing {victim}")
    code, doc = collect(podman, project, master, "killed")
    assert code == 5 and doc["verdict"] == "error"
    assert [w["index"] for w in doc["integrity"]["workers_lost"]] == [1]
    workers_check = next(c for c in doc["checks"] if c["name"] == "workers")
    assert workers_check["verdict"] == "error" and "worker 1" in workers_check["message"]
    # what the killed worker reported before it died is kept in the totals
    assert doc["integrity"]["per_worker"][1]["reported"] > 0
    assert doc["totals"]["requests"] >= sum(w["reported"] for w in doc["integrity"]["per_worker"])


def test_a_broken_dockerfile_names_the_step(podman: Podman, image: str, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    shutil.copytree(REPO, context, ignore=shutil.ignore_patterns(".git", "tests", "results", "__pycache__"))
    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY loadorch ./loadorch\n", ""))
    # pip builds an empty wheel from pyproject.toml alone: the build passes, the smoke check must not
    with pytest.raises(ContainerError, match=r"(?s)smoke check \(loadorch --version\) failed.*No module named"):
        build_and_check(podman, context, "localhost/loadorch:broken")
    podman("rmi", "-f", "localhost/loadorch:broken", check=False)


def test_a_wrong_worker_command_names_the_executable(podman: Podman, image: str, project: Project,
                                                     target: str, tmp_path: Path) -> None:
    smoke_project(project)
    manifests = render(project, image, target, "--iterations", "1")

    def wrong(pod: dict[str, Any]) -> dict[str, Any]:
        pod["spec"]["containers"][0]["command"] = ["pyhton3"]
        return pod

    with pytest.raises(ContainerError, match=r"pyhton3.*not found|not found.*pyhton3"):
        play_run(podman, manifests, target, tmp_path, change_worker=wrong)


def test_an_unresolvable_master_address_is_named(podman: Podman, image: str, project: Project,
                                                 target: str, tmp_path: Path) -> None:
    smoke_project(project)
    project.write("profiles/smoke.yaml", PROFILE.replace("40s", "8s"))
    manifests = render(project, image, target, "--iterations", "1")

    def unresolvable(pod: dict[str, Any]) -> dict[str, Any]:
        pod["spec"]["hostAliases"] = []
        return pod

    _, workers = play_run(podman, manifests, target, tmp_path, change_worker=unresolvable)
    name = f"{workers[0]['metadata']['name']}-{workers[0]['spec']['containers'][0]['name']}"
    try:
        code = podman.wait(name, 90)
    except ContainerError:
        code = -1
    log = podman.logs(name) + podman.logs(f"{workers[0]['metadata']['name']}-plan")
    assert code != 0
    assert "master" in log and ("resolve" in log or "did not answer" in log), log[-2000:]


def test_image_has_no_build_tools_and_runs_as_non_root(podman: Podman, image: str) -> None:
    out = podman("run", "--rm", "--entrypoint", "sh", image, "-c",
                 "id -u; for t in gcc cc make; do command -v $t || true; done").stdout.split()
    assert out[0] == "10001" and out[1:] == []
    size = podman("image", "inspect", image, "--format", "{{.Size}}").stdout.strip()
    assert int(size) < 400 * 1024 * 1024, size
