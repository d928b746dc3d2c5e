"""Credentials in a host URL (`https://user:pass@host`): taken out of the URL and sent as basic auth."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True)
class Credentials:
    header: str  # the Authorization header value
    secrets: frozenset[str]  # every form of them that must never be printed


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """(the URL without its userinfo, the credentials it carried or None)."""
    if "@" not in url:
        return url, None
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None  # not a URL we can take apart: the host checks name the problem
    netloc = parts.netloc
    if "@" not in netloc:
        return url, None
    userinfo, _, hostport = netloc.rpartition("@")
    if not hostport:
        raise ValueError("the host URL has credentials but no host name after '@'")
    user_raw, _, password_raw = userinfo.partition(":")
    user, password = unquote(user_raw), unquote(password_raw)
    pair = f"{user}:{password}"
    token = base64.b64encode(pair.encode()).decode()
    secrets = {s for s in (userinfo, password_raw, password, pair, token) if len(s) > 1}
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, Credentials(f"Basic {token}", frozenset(secrets))
