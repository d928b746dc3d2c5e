"""Which addresses a run may send load to: name resolution and the allowed_hosts check, shared by the
controller's preflight (run/) and the workers' own resolutions (runtime/)."""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
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
    if is_ip(host):
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


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
