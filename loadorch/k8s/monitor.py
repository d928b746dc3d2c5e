"""Kubernetes manifests for `loadorch monitor` (pure): one Deployment whose pod runs the monitor (its
master, workers and browser workers all inside it, on loopback), the same ConfigMap, token Secret and
env-Secret references as a load run's Jobs, a Service with the `metrics` and `status` ports, and a
NetworkPolicy that admits nothing but those two ports (and, with a database collector, the same egress
policy as the master Job)."""

from __future__ import annotations

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


def monitor_args(inp: RenderInput, status_port: int, metrics_port: int) -> list[str]:
    return [
        "loadorch",
        "monitor",
        "$(LOADORCH_CONFIG_DIR)/profile.yaml",
        "--scenario",
        "$(LOADORCH_CONFIG_DIR)/scenario.yaml",
        *inp.overrides,
        "--out",
        "$(LOADORCH_SCRATCH)/monitor",
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
    data = {} if inp.files_in_image else {_key(p): text for p, text in sorted(inp.files.items())}
    if inp.effective:
        data[EFFECTIVE_KEY] = inp.effective
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{name}-files", inp), "data": data}
    token = {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(f"{name}-token", inp), "type": "Opaque",
             "stringData": {TOKEN_KEY: inp.token}}
    ports = [{"name": "status", "containerPort": status_port}, {"name": "metrics", "containerPort": metrics_port}]
    container = _container("monitor", inp, monitor_args(inp, status_port, metrics_port), {}, ports,
                           REMOTE_WRITE_SECRETS if inp.remote_write else ())
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
