"""Turn `loadorch k8s render` output into what `podman kube play` runs: Pods, a ConfigMap and a Secret.

podman runs Pods, not Jobs. Every field of the rendered pod templates is kept as rendered; the only
changes are in `as_pods` (a Job's pod template becomes one Pod per completion index, as the Job
controller would create) and in `local_cluster_changes` (what a cluster gives a pod that podman on one
machine does not).
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

COMPONENT = "app.kubernetes.io/component"


def jobs_by_role(manifests: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["spec"]["template"]["metadata"]["labels"][COMPONENT]: dict(m) for m in manifests if m["kind"] == "Job"}


def service_names(manifests: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every name a pod may use for the master Service: short, namespaced and fully qualified."""
    names = []
    for m in manifests:
        if m["kind"] == "Service":
            name, ns = m["metadata"]["name"], m["metadata"].get("namespace")
            names.append(name)
            if ns:
                names += [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
    return names


def as_pods(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Pods the Job controller would create: one, or one per completion index of an Indexed Job,
    with the index in the annotation and the JOB_COMPLETION_INDEX variable as Kubernetes sets them."""
    spec = job["spec"]
    indexed = spec.get("completionMode") == "Indexed"
    pods = []
    for index in range(spec.get("completions", 1) if indexed else 1):
        template = copy.deepcopy(spec["template"])
        meta = {"name": f"{job['metadata']['name']}-{index}" if indexed else job["metadata"]["name"],
                "labels": dict(template["metadata"].get("labels", {})),
                "annotations": {}}
        pod_spec = template["spec"]
        if indexed:
            meta["annotations"]["batch.kubernetes.io/job-completion-index"] = str(index)
            for container in pod_spec.get("initContainers", []) + pod_spec["containers"]:
                container.setdefault("env", []).insert(0, {"name": "JOB_COMPLETION_INDEX", "value": str(index)})
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec})
    return pods


def local_cluster_changes(pod: dict[str, Any], service_hosts: Sequence[str], master_ip: str) -> dict[str, Any]:
    """Every change made to a rendered pod before podman plays it, each standing in for what a cluster does:

    - hostAliases for the master Service's names: cluster DNS resolves a Service name to its ClusterIP; the
      test's podman network has no DNS, so the names point at the master pod's static address there.
    - `$(VAR)` in command/args expanded from the container's own env: the kubelet does this expansion;
      podman 4.3 passes the text through unchanged.
    - each emptyDir renamed after its pod: podman 4.3 makes an emptyDir a named volume shared by every
      pod that uses the same name; the kubelet gives each pod its own.
    """
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    spec["hostAliases"] = [{"ip": master_ip, "hostnames": list(service_hosts)}]
    renamed = {}
    for volume in spec.get("volumes", []):
        if "emptyDir" in volume:
            renamed[volume["name"]] = volume["name"] = f"{pod['metadata']['name']}-{volume['name']}"
    for container in spec.get("initContainers", []) + spec["containers"]:
        literal = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        for key in ("command", "args"):
            if key in container:
                container[key] = [_expand(a, literal) for a in container[key]]
        for mount in container.get("volumeMounts", []):
            mount["name"] = renamed.get(mount["name"], mount["name"])
    return pod


def _expand(arg: str, env: Mapping[str, str]) -> str:
    """Kubernetes' dependent-variable expansion: $(NAME) from the container's env; unknown names stay."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), arg)


def rendered_secrets(manifests: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """name -> base64 data of the Secrets the render itself creates (stringData encoded as the API server does)."""
    out = {}
    for m in manifests:
        if m["kind"] == "Secret":
            data = dict(m.get("data", {}))
            data.update({k: base64.b64encode(v.encode()).decode() for k, v in m.get("stringData", {}).items()})
            out[m["metadata"]["name"]] = data
    return out


def secret_names(manifests: Sequence[Mapping[str, Any]]) -> set[str]:
    """Secrets the pods reference through secretKeyRef that the render does not create (the user does)."""
    rendered = {m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"}
    refs = set()
    for m in manifests:
        if m["kind"] == "Job":
            pod = m["spec"]["template"]["spec"]
            for c in pod.get("initContainers", []) + pod["containers"]:
                refs |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", [])
                         if "secretKeyRef" in e.get("valueFrom", {})}
    return refs - rendered
