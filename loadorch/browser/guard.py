"""The browser's network guard: may a page's request go to this URL's host (profile `allowed_hosts`)?"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from loadorch.errors import LoadorchError
from loadorch.hosts import check_allowed, is_ip, resolve


class HostGuard:
    """The same rule as the preflight (names, CIDRs, loopback when the list is empty), decided once per
    host and port. A host that no name pattern admits is refused without a DNS lookup."""

    def __init__(self, allowed: Sequence[str], target: str) -> None:
        self.allowed = list(allowed)
        self.lock = threading.Lock()
        self.cache: dict[tuple[str, int], bool] = {}
        parts = urlsplit(target)
        self.cache[(parts.hostname or "", _port(parts.scheme, parts.port))] = True  # passed the preflight

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss"):
            return parts.scheme in ("data", "blob", "about")
        host = (parts.hostname or "").lower()
        key = (host, _port(parts.scheme, parts.port))
        with self.lock:
            if key in self.cache:
                return self.cache[key]
        decision = self._decide(host, key[1])
        with self.lock:
            self.cache[key] = decision
        return decision

    def _decide(self, host: str, port: int) -> bool:
        if not host:
            return False
        if not self.allowed and not (host == "localhost" or _is_loopback_ip(host)):
            return False
        patterns = [p for p in self.allowed if not _is_network(p)]
        if not is_ip(host) and host != "localhost" and not any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns):
            return False
        try:
            shown = f"[{host}]" if ":" in host else host
            check_allowed(f"http://{shown}:{port}", self.allowed, resolve(host, port))
        except LoadorchError:
            return False
        return True


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
