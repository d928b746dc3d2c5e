"""Which proxy a request goes through: HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and NO_PROXY from the
environment, read as Python's requests reads them (lower-case names first; with NO_PROXY unset even
loopback is proxied)."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


class ProxyError(ValueError):
    """A proxy setting that cannot be used (the message never repeats its credentials)."""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # "Basic ..." from user:password@ in the URL

    @property
    def header_line(self) -> str:
        return f"Proxy-Authorization: {self.authorization}\r\n" if self.authorization else ""

    @property
    def shown(self) -> str:
        return f"http://{self.host}:{self.port}"


def _env(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name.lower())
    if value is None:
        value = env.get(name.upper())
    return value.strip() or None if value is not None else None


def proxy_for(scheme: str, host: str, env: Mapping[str, str]) -> Proxy | None:
    """The proxy for `scheme://host`, or None to connect directly. Raises ProxyError for a setting that
    is not a plain http:// proxy URL."""
    url = _env(env, f"{scheme}_proxy") or _env(env, "all_proxy")
    if url is None or bypassed(host, _env(env, "no_proxy") or ""):
        return None
    return parse_proxy(url)


def bypassing(env: Mapping[str, str], host: str) -> dict[str, str]:
    """`env` with `host` added to NO_PROXY (both spellings; the lower-case one wins when both are set):
    the embedded target listens on this machine's loopback, which no proxy in the environment can reach."""
    out = dict(env)
    for name in ("no_proxy", "NO_PROXY"):
        current = (out.get(name) or "").strip()
        out[name] = f"{current},{host}" if current else host
    return out


def parse_proxy(url: str) -> Proxy:
    if "://" not in url:
        url = "http://" + url  # `proxy:3128`, as requests and curl read it
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ProxyError("the proxy URL is not valid (scheme://host:port)") from None
    if parts.scheme != "http":
        raise ProxyError(
            f"proxy scheme {parts.scheme!r} is not supported: give an http:// proxy (HTTPS goes through it by CONNECT)"
        )
    if not parts.hostname:
        raise ProxyError("the proxy URL has no host")
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    return Proxy(parts.hostname, port or 80, auth)


def bypassed(host: str, no_proxy: str) -> bool:
    """NO_PROXY: `*` (everything), names (`example.com` matches it and its subdomains; a leading dot is
    the same), IP addresses and CIDR ranges (`10.0.0.0/8`), comma-separated; ports are ignored."""
    host = host.lower().strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                continue
            continue
        name = entry.lstrip(".").rsplit(":", 1)[0] if entry.count(":") == 1 else entry.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False
