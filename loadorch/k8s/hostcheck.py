"""Render-time checks: the target host, checked as the master will check it in the cluster (without DNS:
cluster names often do not resolve on a laptop), the ConfigMap's size, and no secret outside a Secret, so a
refusal happens before any pod starts."""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from loadorch.traffic.redact import MIN_HEADER_SECRET

CONFIGMAP_LIMIT = 256 * 1024  # `kubectl apply` keeps a copy in an annotation limited to 256 KiB


def render_host_problem(url: str | None, allowed: Sequence[str]) -> str | None:
    """Why the master in a pod would refuse (or be unable to reach) `url`; None when it may run.

    `url` is None when it comes from a variable not set at render time: only the allow-list is checked.
    """
    if not allowed:
        return (
            "the profile has no allowed_hosts: the master allows only loopback then, and in a pod loopback "
            "is the pod itself; add the target's name pattern or network to allowed_hosts"
        )
    if url is None:
        return None
    host = (urlsplit(url).hostname or "").lower()
    ip = _ip(host)
    if host == "localhost" or host.endswith(".localhost") or (ip is not None and ip.is_loopback):
        return f"host {host!r} is loopback: in a pod it is the pod itself, not your target; use the target's address"
    networks, patterns = [], []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            patterns.append(entry.lower())
    if ip is not None:
        if any(ip in n for n in networks):
            return None
        return f"IP address {host} is not inside allowed_hosts networks ({', '.join(map(str, networks)) or 'none'})"
    if any(fnmatch.fnmatchcase(host, p) for p in patterns) or (networks and not patterns):
        return None  # the master also checks the addresses the name resolves to against the networks
    return f"host {host!r} is not in allowed_hosts {list(allowed)}; fix the host or extend allowed_hosts"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def configmap_problem(files: dict[str, str]) -> str | None:
    """Files too big for a ConfigMap that `kubectl apply` accepts; None when they fit."""
    size = sum(len(text.encode()) for text in files.values())
    if size <= CONFIGMAP_LIMIT:
        return None
    biggest = max(files, key=lambda p: len(files[p].encode()))
    return (
        f"the files for the ConfigMap total {size / 1024:.0f} KiB "
        f"({biggest}: {len(files[biggest].encode()) / 1024:.0f} "
        f"KiB); `kubectl apply` refuses more than 256 KiB (and no ConfigMap holds more than 1 MiB): put the "
        "files in an image layer of your own (or a volume mounted there) and render with --files-in-image DIR "
        "(see README, Kubernetes, data files)"
    )


def secret_problem(manifests: Sequence[Mapping[str, Any]], secrets: Iterable[str]) -> str | None:
    """Where a secret's value is written in a manifest that is not a Secret (a credential written literally in a
    file of the ConfigMap, a --tag in a pod's args: readable by whoever may read those objects); None when
    nowhere. Values shorter than MIN_HEADER_SECRET are not looked for (they would match ports and names)."""
    wanted = [s for s in secrets if len(s) >= MIN_HEADER_SECRET]
    places: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            if any(s in value for s in wanted) and where not in places:
                places.append(where)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, where)

    for m in manifests:
        if wanted and m.get("kind") != "Secret":
            walk(m, f"{m.get('kind')} {m.get('metadata', {}).get('name', '')}:")
    if not places:
        return None
    return (f"a secret's value would be written in clear in {', '.join(p.replace(':.', ' ') for p in places)}: "
            "a credential written literally in the profile or scenario (a header's value, a request's `?token=...`, "
            "user:password@ in the host, a DSN's password) or given as --tag; refer to a variable instead "
            "(Authorization: \"Bearer ${TOKEN}\", path: \"/files?token=${FILES_TOKEN}\", host: ${STAGING_URL}), "
            "whose value the pods read from the env Secret")
