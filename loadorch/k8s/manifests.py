"""Kubernetes manifests for a distributed run: ConfigMap, master Job + Service, Indexed worker Job, and
for scenarios with browser users an Indexed browser Job on the browser image (Chromium inside).

Pure: files and settings in, manifest dicts out. The worker containers run the very argv a local run
uses (`python -m loadorch.runtime worker --plan ...`); an init container builds that plan from the same
files and flags as the master, so a pod's seeds and users equal a local run with the same worker count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# a Kubernetes object (or part of one) for kubectl: its shape is Kubernetes' own, checked against the
# Kubernetes JSON schemas in the tests (tests/integration/test_k8s.py), so its values are Any here
Manifest = dict[str, Any]
MASTER_PORT = 5557
BROWSER_PORT = MASTER_PORT + 2  # the controller's browser sink (loadorch.run.plan.BROWSER_PORT_OFFSET)
TOKEN_KEY = "LOADORCH_RUN_TOKEN"
EFFECTIVE_KEY = "effective.yaml"  # in the ConfigMap, not mounted: what this render runs, after the flags
CONFIG_DIR = "/config"
SCRATCH_DIR = "/scratch"
UID = 10001


@dataclass(frozen=True)
class RenderInput:
    profile_name: str
    files: Mapping[str, str]  # path under /config -> text: profile.yaml, scenario.yaml, data files
    variables: Sequence[str]  # environment variables the files refer to: all come from a Secret
    workers: int
    image: str
    namespace: str | None
    deadline_s: int
    token: str
    env_secret: str | None = None
    request_log: bool = False
    metrics_port: int | None = None  # live metrics: a named port "metrics" on the master Service
    remote_write: str | None = None  # live metrics: the master pushes here (auth from the env Secret)
    overrides: Sequence[str] = ()  # run flags shared by master and workers (--users, --seed, ...)
    run_id: str = "run"  # names every object of this run: two renders never collide
    required: Sequence[str] = ()  # the variables without a default: the pods do not start without them
    effective: str = ""  # the effective settings (profile + flags), shown in the ConfigMap
    files_in_image: str | None = None  # the files are in the image at this folder (too big for a ConfigMap)
    egress_ports: Sequence[int] = ()  # a database collector: the master may reach these TCP ports (and DNS)
    browser_workers: int = 0  # browser worker pods (scenarios with `browsers:`)
    browser_image: str | None = None  # default: the image's tag + "-browser" (Dockerfile target `browser`)
    summary_export: str | None = None  # k6's summary JSON: a file name in the master's run folder (collected)
    resources: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: {
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        }
    )


def profile_slug(profile: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", profile.lower()).strip("-")[:24].strip("-") or "run"


def release_name(profile: str, run_id: str) -> str:
    """A DNS-1123 name for one run's objects: `loadorch-<profile>-<run id>` (at most 46 characters, so
    `<release>-workers` stays a valid Job name)."""
    return f"loadorch-{profile_slug(profile)}-{run_id}"


def env_secret_name(profile: str) -> str:
    """The default Secret with the profile's variables: one per profile, created by the user once."""
    return f"loadorch-{profile_slug(profile)}-env"


def _release(inp: RenderInput) -> str:
    return release_name(inp.profile_name, inp.run_id)


def _labels(name: str, role: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": "loadorch", "app.kubernetes.io/instance": name}
    if role:
        labels["app.kubernetes.io/component"] = role
    return labels


def _meta(name: str, inp: RenderInput, role: str | None = None) -> Manifest:
    meta: Manifest = {"name": name, "labels": _labels(_release(inp), role)}
    if inp.namespace:
        meta["namespace"] = inp.namespace
    return meta


def _key(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", path)


REMOTE_WRITE_SECRETS = ("LOADORCH_REMOTE_WRITE_BASIC_AUTH", "LOADORCH_REMOTE_WRITE_BEARER_TOKEN")


def _env(inp: RenderInput, extra: Mapping[str, str], secret_vars: Sequence[str] = ()) -> list[Manifest]:
    secret = inp.env_secret or env_secret_name(inp.profile_name)
    env: list[Manifest] = [{"name": k, "value": v} for k, v in extra.items()]
    env.append({"name": TOKEN_KEY, "valueFrom": {"secretKeyRef": {"name": f"{_release(inp)}-token", "key": TOKEN_KEY}}})
    # a variable without a default is required: the pod does not start without it (kubectl describe names
    # the key) instead of starting and failing; one with a default may be absent
    required = set(inp.required)
    env += [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": var, "optional": var not in required}}}
        for var in sorted(set(inp.variables) | set(secret_vars))
    ]
    return env


def _container_security() -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_spec(inp: RenderInput, containers: list[Manifest], init: list[Manifest] | None = None) -> Manifest:
    name = _release(inp)
    spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": [
            {
                "name": "config",
                "configMap": {
                    "name": f"{name}-files",
                    "items": [{"key": _key(p), "path": p} for p in sorted(inp.files)],
                },
            },
            {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
    }
    if inp.files_in_image:
        spec["volumes"] = spec["volumes"][1:]
    if init:
        spec["initContainers"] = init
    return spec


def _container(
    name: str,
    inp: RenderInput,
    args: list[str],
    env: Mapping[str, str],
    ports: list[Manifest] | None = None,
    secret_vars: Sequence[str] = (),
) -> Manifest:
    container: Manifest = {
        "name": name,
        "image": inp.image,
        "imagePullPolicy": "IfNotPresent",
        "command": args[:1],
        "args": args[1:],
        "env": _env(
            inp,
            {
                "LOADORCH_CONFIG_DIR": inp.files_in_image or CONFIG_DIR,
                "LOADORCH_SCRATCH": SCRATCH_DIR,
                "HOME": SCRATCH_DIR,
                "TMPDIR": SCRATCH_DIR,
                **env,
            },
            secret_vars,
        ),
        "resources": {k: dict(v) for k, v in inp.resources.items()},
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "scratch", "mountPath": SCRATCH_DIR},
        ][1 if inp.files_in_image else 0 :],
    }
    if ports:
        container["ports"] = ports
    return container


def _job(inp: RenderInput, name: str, role: str, pod: Manifest, workers: int | None = None) -> Manifest:
    spec: Manifest = {
        "backoffLimit": 0,
        "activeDeadlineSeconds": inp.deadline_s,
        "ttlSecondsAfterFinished": 3600,
        "template": {"metadata": {"labels": _labels(_release(inp), role)}, "spec": pod},
    }
    if workers is not None:
        spec.update({"completionMode": "Indexed", "completions": workers, "parallelism": workers})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, inp, role), "spec": spec}


def _run_args(inp: RenderInput) -> list[str]:
    """What the master and every worker's plan are built from: the same files, worker count and flags."""
    return [
        "$(LOADORCH_CONFIG_DIR)/profile.yaml",
        "--scenario",
        "$(LOADORCH_CONFIG_DIR)/scenario.yaml",
        *(["--workers", str(inp.workers)] if inp.workers else []),  # 0: browser-only, no HTTP worker
        *inp.overrides,
        *(["--request-log"] if inp.request_log else []),
    ]


def run_folder(inp: RenderInput) -> str:
    """The master pod's run folder, named after the render's run id: its name is the live series' `run_id` label
    (run/controller.py), and a fixed name ("results") labelled every Kubernetes run alike, so two runs pushed into
    one Prometheus were one series (their samples interleaved) and a dashboard could not tell runs apart."""
    return f"$(LOADORCH_SCRATCH)/{inp.run_id}"


def master_args(inp: RenderInput) -> list[str]:
    return [
        "loadorch",
        "run",
        *_run_args(inp),
        "--external-workers",
        "--master-bind",
        "0.0.0.0",
        "--master-port",
        str(MASTER_PORT),
        "--print-artifacts",
        # the file is profile.yaml in the pod: without its name results.json's run.profile, the live series'
        # `profile` label and the collected folder said "profile" (k8s/monitor.py passes it likewise)
        "--profile-name",
        inp.profile_name,
        "--out",
        run_folder(inp),
        *(["--summary-export", f"{run_folder(inp)}/{inp.summary_export}"] if inp.summary_export else []),
        *(["--metrics-port", str(inp.metrics_port), "--metrics-bind", "0.0.0.0"] if inp.metrics_port else []),
        *(["--remote-write", inp.remote_write] if inp.remote_write else []),
    ]


def plan_args(inp: RenderInput) -> list[str]:
    return [
        "loadorch",
        "k8s",
        "plan",
        *_run_args(inp),
        "--master-host",
        "$(LOADORCH_MASTER_HOST)",
        "--master-port",
        str(MASTER_PORT),
        "--out",
        "$(LOADORCH_SCRATCH)/plan.json",
    ]


WORKER_ARGS = ["python3", "-m", "loadorch.runtime", "worker", "--plan", "$(LOADORCH_SCRATCH)/plan.json"]
BROWSER_ARGS = ["python3", "-m", "loadorch.browser", "--plan", "$(LOADORCH_SCRATCH)/plan.json"]
BROWSER_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


def browser_image(image: str) -> str:
    """`registry/loadorch:0.1.0` -> `registry/loadorch:0.1.0-browser` (a digest-pinned image is kept)."""
    if "@" in image:
        return image
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag:
        return f"{name}:{tag}-browser"
    return f"{image}:browser"


def _browser_job(inp: RenderInput, name: str, env: Mapping[str, str]) -> Manifest:
    binp = replace(inp, image=inp.browser_image or browser_image(inp.image), resources=BROWSER_RESOURCES)
    pod = _pod_spec(
        binp,
        [_container("browser", binp, list(BROWSER_ARGS), env)],
        init=[_container("plan", binp, plan_args(binp), env)],
    )
    return _job(binp, f"{name}-browsers", "browser", pod, inp.browser_workers)


def render(inp: RenderInput) -> list[Manifest]:
    name = _release(inp)
    master_host = f"{name}-master" + (f".{inp.namespace}.svc" if inp.namespace else "")
    run_env: dict[str, str] = {}
    data = {} if inp.files_in_image else {_key(p): text for p, text in sorted(inp.files.items())}
    if inp.effective:
        data[EFFECTIVE_KEY] = inp.effective
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{name}-files", inp), "data": data}
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"{name}-token", inp),
        "type": "Opaque",
        "stringData": {TOKEN_KEY: inp.token},
    }
    master_ports = [{"name": "locust", "containerPort": MASTER_PORT}]
    service_ports = [{"name": "locust", "port": MASTER_PORT, "targetPort": MASTER_PORT}]
    if inp.browser_workers:
        master_ports.append({"name": "browser", "containerPort": BROWSER_PORT})
        service_ports.append({"name": "browser", "port": BROWSER_PORT, "targetPort": BROWSER_PORT})
    if inp.metrics_port:
        master_ports.append({"name": "metrics", "containerPort": inp.metrics_port})
        service_ports.append({"name": "metrics", "port": inp.metrics_port, "targetPort": inp.metrics_port})
    rw_secrets = REMOTE_WRITE_SECRETS if inp.remote_write else ()
    master_pod = _pod_spec(inp, [_container("master", inp, master_args(inp), run_env, master_ports, rw_secrets)])
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{name}-master", inp, "master"),
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(name, "master"),
            "ports": service_ports,
        },
    }
    worker_env = {**run_env, "LOADORCH_MASTER_HOST": master_host}
    worker_pod = _pod_spec(
        inp,
        [_container("worker", inp, list(WORKER_ARGS), worker_env)],
        init=[_container("plan", inp, plan_args(inp), worker_env)],
    )
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{name}-master", inp),
        "spec": {
            "podSelector": {"matchLabels": _labels(name, "master")},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": _labels(name, "worker")}}],
                    "ports": [{"protocol": "TCP", "port": MASTER_PORT}],
                }
            ]
            + (
                [
                    {
                        "from": [{"podSelector": {"matchLabels": _labels(name, "browser")}}],
                        "ports": [{"protocol": "TCP", "port": BROWSER_PORT}],
                    }
                ]
                if inp.browser_workers
                else []
            )
            # the metrics port is open to any scraper (Prometheus usually runs in another namespace)
            + ([{"ports": [{"protocol": "TCP", "port": inp.metrics_port}]}] if inp.metrics_port else []),
        },
    }
    egress = [_egress_policy(inp, name)] if inp.egress_ports else []
    return [
        configmap,
        token,
        service,
        policy,
        *egress,
        _job(inp, f"{name}-master", "master", master_pod),
        *([_job(inp, f"{name}-workers", "worker", worker_pod, inp.workers)] if inp.workers else []),
        *([_browser_job(inp, name, worker_env)] if inp.browser_workers else []),
    ]


def _egress_policy(inp: RenderInput, name: str) -> Manifest:
    """The master pod's collector reaches the database: its port, the target's, DNS (`egress_ports`); a
    policy that selects a pod for egress denies it everything else, whatever the namespace's default."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{name}-master-egress", inp),
        "spec": {
            "podSelector": {"matchLabels": _labels(name, "master")},
            "policyTypes": ["Egress"],
            "egress": [
                {"ports": [{"protocol": "TCP", "port": p} for p in sorted(set(inp.egress_ports))]},
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    }


def configmap_files(manifests: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """path -> text of the files a pod sees under /config (the inverse of render's ConfigMap)."""
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    job = next(m for m in manifests if m["kind"] == "Job")
    items = job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]
    return {item["path"]: configmap["data"][item["key"]] for item in items}
