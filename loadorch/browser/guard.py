"""The browser's network guard: may a page's request go to this URL's host (profile `allowed_hosts`), and to
which addresses (the ones checked) does the network rail connect it?"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from loadorch.errors import LoadorchError
from loadorch.hosts import check_allowed, is_ip, resolve

MAX_HOSTS = 4096  # decisions kept; a page inventing host names cannot grow the worker's memory past this


class HostGuard:
    """The same rule as the preflight (names, CIDRs, loopback when the list is empty), decided once per
    host and port. A host that no name pattern admits is refused without a DNS lookup. The target's
    host passed the preflight: its addresses are the ones the preflight checked (`pinned`)."""

    def __init__(self, allowed: Sequence[str], target: str, pinned: Sequence[str] = ()) -> None:
        self.allowed = list(allowed)
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, int], list[str] | None] = {}
        parts = urlsplit(target)
        self.target = ((parts.hostname or "").lower(), _port(parts.scheme, parts.port))
        self.pinned = list(pinned)

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return parts.scheme in ("data", "blob", "about")
        return self.addresses((parts.hostname or "").lower(), _port(parts.scheme, parts.port)) is not None

    def is_target(self, url: str) -> bool:
        """Whether an http(s) URL goes to the run's target (its host and port): the requests a traceparent
        is added to (third parties get none, as OpenTelemetry's browser instrumentation does by default)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return False
        return ((parts.hostname or "").lower(), _port(parts.scheme, parts.port)) == self.target

    def addresses(self, host: str, port: int) -> list[str] | None:
        """The addresses a connection to (host, port) may use, all inside allowed_hosts; None: refused.
        The target's are the ones the preflight checked (the plan pins them), as for the HTTP users."""
        key = (host.lower().strip("[]"), port)
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        decision = self._decide(*key)
        with self.lock:
            if len(self.cache) >= MAX_HOSTS:
                self.cache.clear()
            self.cache[key] = decision
        return decision

    def _decide(self, host: str, port: int) -> list[str] | None:
        if not host:
            return None
        if (host, port) == self.target:  # passed the preflight (no address now: a connection that fails)
            return self.pinned or _resolved(host, port) or []
        if not self.allowed and not (host == "localhost" or _is_loopback_ip(host)):
            return None
        patterns = [p for p in self.allowed if not _is_network(p)]
        if not is_ip(host) and host != "localhost" and not any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns):
            return None
        addresses = _resolved(host, port)
        if addresses is None:
            return None
        try:
            shown = f"[{host}]" if ":" in host else host
            check_allowed(f"http://{shown}:{port}", self.allowed, addresses)
        except LoadorchError:
            return None
        return addresses


def _resolved(host: str, port: int) -> list[str] | None:
    try:
        return resolve(host, port) or None
    except LoadorchError:
        return None


def _port(scheme: str, port: int | None) -> int:
    return port or (443 if scheme in ("https", "wss") else 80)


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
        return True
    except ValueError:
        return False
