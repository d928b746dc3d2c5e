"""Kubernetes manifests for `loadorch monitor` (pure): one Deployment whose pod runs the monitor (its
master, workers and browser workers all inside it, on loopback), the same ConfigMap, token Secret and
env-Secret references as a load run's Jobs, a Service with the `metrics` and `status` ports, and a
NetworkPolicy that admits nothing but those two ports (and, with a database collector, the same egress
policy as the master Job).

Or, with a schedule, a CronJob of periodic checks: each pass is one `loadorch run` of the profile in one
pod (its master and workers on loopback), judged whole; the Job fails when the verdict is not a pass
(exit 1 breach, 6 inconclusive), so the CronJob's history is the check's, and with --remote-write the
pass pushes its metrics (threshold states included) as it runs. Same ConfigMap, token Secret and
env-Secret references; its NetworkPolicy admits no ingress at all (nothing scrapes a pass) but the
metrics port when one is asked for; passes never overlap (concurrencyPolicy Forbid)."""

from __future__ import annotations

import re
from dataclasses import replace

from loadorch.k8s.manifests import (
    BROWSER_RESOURCES,
    EFFECTIVE_KEY,
    REMOTE_WRITE_SECRETS,
    TOKEN_KEY,
    Manifest,
    RenderInput,
    _container,
    _egress_policy,
    _key,
    _labels,
    _meta,
    _pod_spec,
    _release,
    browser_image,
)

STATUS_PORT = 8089
DEFAULT_METRICS_PORT = 9464
CRONJOB_NAME_MAX = 52  # Kubernetes: a CronJob's name leaves 11 characters for its Jobs' suffix
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,-]+$")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def schedule_problem(schedule: str) -> str | None:
    """Why `schedule` is not a CronJob schedule Kubernetes takes (five fields or a macro), or None."""
    text = schedule.strip()
    if text in _CRON_MACROS:
        return None
    fields = text.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        return (f"--schedule {schedule!r} is not a cron schedule: five fields (minute hour day-of-month month "
                f"day-of-week), e.g. \"*/15 * * * *\", or one of {', '.join(_CRON_MACROS)}")
    return None


NAMESPACE_ENV = {"name": "LOADORCH_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}


def live_folder(inp: RenderInput, role: str = "") -> str:
    """The pod's run folder, whose name is its live series' `run_id` (run/controller.py live_labels): the render's
    run id and the namespace the pod runs in. A fixed name ("monitor", "check") labelled every monitor of a profile
    alike, wherever it ran: pushed into one Prometheus, two monitors' series were one (their samples interleaved),
    and the alert rules' once-per-run_id counts read one of them. `role`: the check passes' ("-check"), apart from
    a monitor Deployment of the same render beside them."""
    return f"$(LOADORCH_SCRATCH)/{inp.run_id}{role}.$(LOADORCH_NAMESPACE)"


def monitor_args(inp: RenderInput, status_port: int, metrics_port: int) -> list[str]:
    return [
        "loadorch",
        "monitor",
        "$(LOADORCH_CONFIG_DIR)/profile.yaml",
        "--scenario",
        "$(LOADORCH_CONFIG_DIR)/scenario.yaml",
        # the file is profile.yaml in the pod: without its name the series say profile="profile", and the
        # rules of `loadorch alerts PROFILE` (every one filters on the profile) never fire
        "--profile-name",
        inp.profile_name,
        *inp.overrides,
        "--out",
        live_folder(inp),
        "--status-port",
        str(status_port),
        "--status-bind",
        "0.0.0.0",
        "--metrics-port",
        str(metrics_port),
        "--metrics-bind",
        "0.0.0.0",
        *(["--remote-write", inp.remote_write] if inp.remote_write else []),
    ]


def render_monitor(inp: RenderInput, status_port: int = STATUS_PORT) -> list[Manifest]:
    """The monitor's objects, named `loadorch-<profile>-<run id>-monitor...`; the pod restarts if it ends."""
    metrics_port = inp.metrics_port or DEFAULT_METRICS_PORT
    if inp.browser_workers:  # Chromium is in the browser image only
        inp = replace(inp, image=inp.browser_image or browser_image(inp.image), resources=BROWSER_RESOURCES)
    name = _release(inp)
    configmap, token = _files_and_token(inp, name)
    ports = [{"name": "status", "containerPort": status_port}, {"name": "metrics", "containerPort": metrics_port}]
    container = _container("monitor", inp, monitor_args(inp, status_port, metrics_port), {}, ports,
                           REMOTE_WRITE_SECRETS if inp.remote_write else ())
    container["env"].append(NAMESPACE_ENV)
    container["readinessProbe"] = {"httpGet": {"path": "/status.json", "port": "status"}, "periodSeconds": 10}
    pod = _pod_spec(inp, [container])
    pod["restartPolicy"] = "Always"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(f"{name}-monitor", inp, "monitor"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # never two monitors of one profile at once
            "selector": {"matchLabels": _labels(name, "monitor")},
            "template": {"metadata": {"labels": _labels(name, "monitor")}, "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{name}-monitor", inp, "monitor"),
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(name, "monitor"),
            "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"]} for p in ports],
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{name}-monitor", inp),
        "spec": {
            "podSelector": {"matchLabels": _labels(name, "monitor")},
            "policyTypes": ["Ingress"],
            # the status page and /metrics are open to any scraper (Prometheus usually runs elsewhere)
            "ingress": [{"ports": [{"protocol": "TCP", "port": p["containerPort"]} for p in ports]}],
        },
    }
    egress = [_monitor_egress(inp, name)] if inp.egress_ports else []
    return [configmap, token, service, policy, *egress, deployment]


def _monitor_egress(inp: RenderInput, name: str) -> Manifest:
    policy = _egress_policy(inp, name)
    policy["metadata"] = _meta(f"{name}-monitor-egress", inp)
    policy["spec"]["podSelector"] = {"matchLabels": _labels(name, "monitor")}
    return policy


def check_args(inp: RenderInput, metrics_port: int | None) -> list[str]:
    """One pass: `loadorch run` of the profile in the pod, its master and workers on loopback."""
    return [
        "loadorch",
        "run",
        "$(LOADORCH_CONFIG_DIR)/profile.yaml",
        "--scenario",
        "$(LOADORCH_CONFIG_DIR)/scenario.yaml",
        "--profile-name",  # its pushed series and threshold states under the profile's name (see monitor_args)
        inp.profile_name,
        *inp.overrides,
        "--out",
        live_folder(inp, "-check"),
        *(["--metrics-port", str(metrics_port), "--metrics-bind", "0.0.0.0"] if metrics_port else []),
        *(["--remote-write", inp.remote_write] if inp.remote_write else []),
    ]


def render_check(inp: RenderInput, schedule: str) -> list[Manifest]:
    """The periodic checks' objects: a CronJob `loadorch-<profile>-<run id>-check` and what its pods need."""
    if inp.browser_workers:
        inp = replace(inp, image=inp.browser_image or browser_image(inp.image), resources=BROWSER_RESOURCES)
    name = _release(inp)
    if len(f"{name}-check") > CRONJOB_NAME_MAX:
        raise ValueError(f"the CronJob's name {name}-check is longer than {CRONJOB_NAME_MAX} characters: "
                         "give a shorter --run-id")
    configmap, token = _files_and_token(inp, name)
    ports = [{"name": "metrics", "containerPort": inp.metrics_port}] if inp.metrics_port else []
    container = _container("check", inp, check_args(inp, inp.metrics_port), {}, ports,
                           REMOTE_WRITE_SECRETS if inp.remote_write else ())
    container["env"].append(NAMESPACE_ENV)
    labels = _labels(name, "check")
    job = {
        "backoffLimit": 0,  # a failed pass is the check's answer, not something to retry
        "activeDeadlineSeconds": inp.deadline_s,
        "ttlSecondsAfterFinished": 3600,
        "template": {"metadata": {"labels": labels}, "spec": _pod_spec(inp, [container])},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(f"{name}-check", inp, "check"),
        "spec": {
            "schedule": schedule.strip(),
            "concurrencyPolicy": "Forbid",  # a pass still running when the next is due: the next is skipped
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": job},
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{name}-check", inp),
        "spec": {
            "podSelector": {"matchLabels": labels},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": p["containerPort"]} for p in ports]}] if ports else [],
        },
    }
    egress = []
    if inp.egress_ports:
        egress_policy = _egress_policy(inp, name)
        egress_policy["metadata"] = _meta(f"{name}-check-egress", inp)
        egress_policy["spec"]["podSelector"] = {"matchLabels": labels}
        egress = [egress_policy]
    return [configmap, token, policy, *egress, cronjob]


def _files_and_token(inp: RenderInput, name: str) -> tuple[Manifest, Manifest]:
    """The ConfigMap of the project's files and the Secret of the token, as the load jobs have them."""
    data = {} if inp.files_in_image else {_key(p): text for p, text in sorted(inp.files.items())}
    if inp.effective:
        data[EFFECTIVE_KEY] = inp.effective
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{name}-files", inp), "data": data}
    token = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(f"{name}-token", inp), "type": "Opaque",
             "stringData": {TOKEN_KEY: inp.token}}
    return configmap, token
