"""Before any load: the target's host must be allowed (after DNS resolution) and reachable."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from loadorch.config.tls import context_for
from loadorch.errors import RunError
from loadorch.hosts import check_allowed, resolve
from loadorch.traffic.proxies import ProxyError, proxy_for

__all__ = ["check_allowed", "connect_probe", "target_addresses"]


def target_addresses(url: str) -> list[str]:
    parts = urlsplit(url)
    return resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def connect_probe(
    url: str,
    timeout: float = 5.0,
    addresses: Sequence[str] = (),
    tls: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """A TCP connection to the target (to the first address preflight checked, if given), then for
    https a TLS handshake verified as the workers verify it (the profile's tls: CA bundle and client
    certificate); then closed, no request sent. With a proxy in the environment (HTTP_PROXY, ...), the
    proxy is what must accept a connection."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        proxy = proxy_for(parts.scheme, host, env or {})
    except ProxyError as exc:
        raise RunError(f"preflight: {parts.scheme}_proxy: {exc}") from None
    if proxy is not None:
        try:
            socket.create_connection((proxy.host, proxy.port), timeout=timeout).close()
        except OSError as exc:
            raise RunError(
                f"preflight: the proxy {proxy.shown} (from {parts.scheme.upper()}_PROXY) does not accept a "
                f"connection ({exc.strerror or exc}); fix it, or exclude {host} with NO_PROXY"
            ) from None
        return
    context = context_for(tls)
    try:
        with socket.create_connection((addresses[0] if addresses else host, port), timeout=timeout) as sock:
            if parts.scheme == "https":
                _tls_probe(sock, host, port, context)
    except TimeoutError:
        raise RunError(f"preflight: {host}:{port} did not accept a connection within {timeout:g}s") from None
    except OSError as exc:
        raise RunError(
            f"preflight: cannot connect to {host}:{port} ({exc.strerror or exc}); is the target up?"
        ) from None


def _tls_probe(sock: socket.socket, host: str, port: int, context: ssl.SSLContext) -> None:
    """A TLS failure here would fail every request of the run: a run error now, not a threshold breach."""
    try:
        with context.wrap_socket(sock, server_hostname=host):
            pass
    except ssl.SSLCertVerificationError as exc:
        raise RunError(
            f"preflight: TLS handshake with {host}:{port} failed: certificate not trusted "
            f"({exc.verify_message}); every request would fail. Trust its CA with SSL_CERT_FILE=/path/to/ca.pem, "
            "or fix the target's certificate"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise RunError(
            f"preflight: TLS handshake with {host}:{port} failed ({reason}); is it an https server?"
        ) from None
