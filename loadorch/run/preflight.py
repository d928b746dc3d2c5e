"""Before any load: the target's host must be allowed (after DNS resolution) and reachable."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from loadorch.errors import RunError, SafetyError


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RunError(f"preflight: cannot resolve host {host!r} ({exc.strerror}); check the profile's host") from None
    except UnicodeError:
        raise RunError(f"preflight: {host!r} is not a valid host name; check the profile's host") from None
    return sorted({str(info[4][0]) for info in infos})


def check_allowed(url: str, allowed: Sequence[str], addresses: Sequence[str]) -> None:
    """Refuse a host outside `allowed_hosts`: name patterns (`*.staging.example.com`) or CIDRs.

    An empty list allows only loopback. A name pattern admits the host by name; CIDR entries
    must then also contain every address it resolves to, so a name cannot point load elsewhere.
    """
    host = (urlsplit(url).hostname or "").lower()
    networks, patterns = _split(allowed)
    loopback = all(ipaddress.ip_address(a).is_loopback for a in addresses)
    if not allowed:
        if loopback:
            return
        raise SafetyError(
            f"refused: host {host!r} resolves to {', '.join(addresses)}, not loopback, and the "
            "profile has no allowed_hosts; add it to allowed_hosts to load-test it"
        )
    named = any(fnmatch.fnmatchcase(host, p.lower()) for p in patterns)
    in_networks = bool(networks) and all(any(ipaddress.ip_address(a) in n for n in networks) for a in addresses)
    if _is_ip(host):
        if in_networks:  # an address is admitted by the networks alone: name patterns cannot match it
            return
        raise SafetyError(
            f"refused: IP address {host} is not inside allowed_hosts networks "
            f"({', '.join(map(str, networks)) or 'none listed'})"
        )
    if named and (not networks or in_networks):
        return
    if in_networks and not patterns:
        return
    raise SafetyError(
        f"refused: host {host!r} ({', '.join(addresses)}) is not in allowed_hosts "
        f"{list(allowed)}; fix the host or extend allowed_hosts"
    )


def address_guard(url: str, allowed: Sequence[str]) -> Callable[[list[str]], None]:
    """For a worker without pinned addresses (a plan rendered for Kubernetes): each resolution it makes
    is checked against allowed_hosts again (SafetyError), so DNS cannot move the load outside them."""
    return lambda addresses: check_allowed(url, allowed, addresses)


def _split(allowed: Sequence[str]) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]]:
    networks, patterns = [], []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            patterns.append(entry)
    return networks, patterns


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def target_addresses(url: str) -> list[str]:
    parts = urlsplit(url)
    return resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def connect_probe(url: str, timeout: float = 5.0, addresses: Sequence[str] = ()) -> None:
    """A TCP connection to the target (to the first address preflight checked, if given), then for
    https a TLS handshake verified as the workers verify it; then closed, no request sent."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((addresses[0] if addresses else host, port), timeout=timeout) as sock:
            if parts.scheme == "https":
                _tls_probe(sock, host, port)
    except TimeoutError:
        raise RunError(f"preflight: {host}:{port} did not accept a connection within {timeout:g}s") from None
    except OSError as exc:
        raise RunError(
            f"preflight: cannot connect to {host}:{port} ({exc.strerror or exc}); is the target up?"
        ) from None


def _tls_probe(sock: socket.socket, host: str, port: int) -> None:
    """A TLS failure here would fail every request of the run: a run error now, not a threshold breach."""
    context = ssl.create_default_context()  # as the workers: system CAs, or SSL_CERT_FILE
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
