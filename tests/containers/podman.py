"""podman for the container tier: a Debian base image made without a registry, the project's image built
from its Dockerfile, pods played from Kubernetes YAML, and errors that name their cause.

No base image can be pulled here, so the base is made with debootstrap from the Debian mirror apt uses,
given the host's CA bundle (downloads go through the same TLS setup as the host's), imported, and kept
in a well-known folder so only the first run on a machine pays for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

BASE_IMAGE = "localhost/loadorch-test-base:bookworm"
BASE_CACHE = Path(os.environ.get("LOADORCH_CONTAINER_CACHE", "/var/cache/loadorch-test")) / "base-bookworm.tar"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# crun refuses this machine's hybrid cgroups; containers get rlimits at or below the host's
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class ContainerError(AssertionError):
    """A step of the container tier failed; the message names the step and the cause."""


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Podman:
    def __init__(self, workdir: Path) -> None:
        conf = workdir / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.pods: list[str] = []
        self.secrets: list[str] = []
        self.containers: list[str] = []
        self.networks: list[str] = []

    def __call__(self, *args: str, timeout: float = 120, check: bool = True, input: str | None = None,
                 what: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              input=input)
        if check and done.returncode != 0:
            raise ContainerError(f"{what or 'podman ' + args[0]} failed (exit {done.returncode}):\n"
                                 f"{tail(done.stderr + done.stdout)}")
        return done

    # -- images --------------------------------------------------------------------------------------
    def ensure_base(self) -> str:
        if self("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            return BASE_IMAGE
        if not BASE_CACHE.exists():
            self._debootstrap()
        with open(BASE_CACHE, "rb") as tar:
            done = subprocess.run(
                ["podman", "import", "--change", "ENV PIP_BREAK_SYSTEM_PACKAGES=1",
                 "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "--change", 'CMD ["/bin/bash"]', "-", BASE_IMAGE],
                stdin=tar, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise ContainerError(f"importing the base image failed:\n{tail(done.stderr)}")
        return BASE_IMAGE

    def _debootstrap(self) -> None:
        mirror = debian_mirror()
        rootfs = Path(tempfile.mkdtemp(prefix="loadorch-rootfs-"))
        try:
            done = subprocess.run(
                ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
                 "bookworm", str(rootfs), mirror], capture_output=True, text=True, timeout=1200)
            if done.returncode != 0:
                raise ContainerError(f"debootstrap from {mirror} failed:\n{tail(done.stdout + done.stderr)}")
            shutil.copy(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (rootfs / junk).glob("*"):
                    if p.is_file():
                        p.unlink()
            BASE_CACHE.parent.mkdir(parents=True, exist_ok=True)
            partial = BASE_CACHE.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=600)
            partial.rename(BASE_CACHE)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    def build(self, context: Path, tag: str, base: str) -> None:
        done = self("build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(context),
                    timeout=1200, check=False)
        if done.returncode != 0:
            out = done.stdout + done.stderr
            steps = re.findall(r"^\[\d+/\d+\] STEP \d+/\d+: .*$|^STEP \d+/\d+: .*$", out, re.M)
            step = steps[-1] if steps else "(no step started)"
            raise ContainerError(f"image build failed at {step}:\n{tail(out)}")

    # -- pods ----------------------------------------------------------------------------------------
    def create_secret(self, name: str, data_b64: Mapping[str, str]) -> None:
        """podman 4.3's kube play reads a secretKeyRef from a podman secret holding the Secret's data map."""
        self("secret", "rm", name, check=False)
        self("secret", "create", name, "-", input=json.dumps(dict(data_b64)), what=f"creating secret {name}")
        self.secrets.append(name)

    def play(self, docs: Sequence[Mapping[str, Any]], workdir: Path, label: str, network: str,
             ip: str | None = None) -> None:
        path = workdir / f"{label}.yaml"
        path.write_text(yaml.safe_dump_all(list(docs)))
        # what an aborted earlier run left behind must not be reused: a pod of the same name, or a ConfigMap
        # volume holding the previous render's files
        for d in docs:
            if d["kind"] == "Pod":
                self("pod", "rm", "-f", "-t", "0", d["metadata"]["name"], check=False)
            elif d["kind"] == "ConfigMap" and label == "master":
                self("volume", "rm", "-f", d["metadata"]["name"], check=False)
        done = self("kube", "play", "--network", network, *(["--ip", ip] if ip else []), str(path), timeout=180,
                    check=False)
        self.pods += [d["metadata"]["name"] for d in docs if d["kind"] == "Pod"]
        if done.returncode != 0:
            causes = re.findall(r"(?:exec: |Error: ).*", done.stderr)
            raise ContainerError(f"playing the {label} pods failed: {'; '.join(dict.fromkeys(causes)) or tail(done.stderr)}")

    def wait(self, container: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self("inspect", container, "--format", "{{.State.Status}} {{.State.ExitCode}}", check=False)
            status, _, code = state.stdout.strip().partition(" ")
            if status in ("exited", "stopped"):
                return int(code)
            time.sleep(1)
        raise ContainerError(f"{container} did not exit within {timeout:.0f}s; its log ends:\n{tail(self.logs(container))}")

    def logs(self, container: str) -> str:
        done = self("logs", container, check=False)
        return done.stdout + done.stderr

    def network(self, name: str, subnet: str) -> None:
        """A bridge network of the test's own: its pods and the host talk over it, nothing else does."""
        if self("network", "exists", name, check=False).returncode != 0:
            self("network", "create", "--subnet", subnet, name, what=f"creating network {name}")
        self.networks.append(name)

    def remove_pods(self) -> None:
        """Remove the pods played so far (a test's pods hold the master's static address and the port)."""
        for pod in self.pods:
            self("pod", "rm", "-f", "-t", "0", pod, check=False)
        self.pods.clear()

    def cleanup(self) -> None:
        self.remove_pods()
        for name in self.containers:
            self("rm", "-f", "-t", "0", name, check=False)
        for name in self.networks:
            self("network", "rm", "-f", name, check=False)
        for name in self.secrets:
            self("secret", "rm", name, check=False)
        self("volume", "prune", "-f", check=False)


def debian_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 sources or sources.list)."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"),
                 *sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]:
        if path.exists():
            m = re.search(r"^(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", path.read_text(), re.M)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"
