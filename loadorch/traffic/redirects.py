"""Following a redirect: which statuses redirect, where to (Location against the current URL), and with
which method and body (RFC 9110 15.4, as browsers and curl do it)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

REDIRECTS = frozenset((301, 302, 303, 307, 308))
DEFAULT_MAX_REDIRECTS = 10
# dropped from a hop to another host (as curl and requests do): credentials meant for the first host
CROSS_HOST_DROPPED = frozenset(("authorization", "cookie", "proxy-authorization"))
# dropped when the method becomes GET: they describe the body that is no longer sent
BODY_HEADERS = frozenset(("content-type", "content-length", "content-encoding", "transfer-encoding"))


@dataclass(frozen=True)
class Hop:
    """Where a redirect goes: an absolute URL split into what a connection and a request line need."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.scheme == "https" else 80) else f"{host}:{self.port}"

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0] or "/"


class RedirectError(ValueError):
    """A Location that cannot be followed (short, stable: it becomes an error label)."""


def next_hop(current: Hop, location: str) -> Hop:
    """The hop a Location header points to, resolved against the current URL (RFC 3986 5)."""
    try:  # an IPv6 host not closed (`http://[::1/x`), a port out of range: the target's answer, not ours to raise
        parts = urlsplit(urljoin(current.url, location.strip()))
        port = parts.port
    except ValueError:
        raise RedirectError("redirect to an invalid URL") from None
    if parts.scheme not in ("http", "https"):
        raise RedirectError(f"redirect to {parts.scheme or 'a relative'}: URL refused (http and https only)")
    if not parts.hostname:
        raise RedirectError("redirect to a URL without a host")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Hop(parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80), target)


def next_method(status: int, method: str) -> tuple[str, bool]:
    """(method, keep the body) for the request that follows a `status` redirect: 303 turns anything but
    HEAD into GET; 301 and 302 turn POST into GET (what browsers and curl do, RFC 9110 15.4.2/3 note);
    307 and 308 repeat the method and body."""
    if status == 303 and method != "HEAD":
        return "GET", False
    if status in (301, 302) and method == "POST":
        return "GET", False
    return method, True


def header_lines(head: str, cross_host: bool, drop_body: bool) -> str:
    """The request's own header lines ("Name: value\\r\\n"...) for the next hop, without credentials when
    the hop leaves the host, and without the body's headers when the body is dropped."""
    if not (cross_host or drop_body):
        return head
    kept = []
    for line in head.split("\r\n"):
        if not line:
            continue
        name = line.split(":", 1)[0].strip().lower()
        if (cross_host and name in CROSS_HOST_DROPPED) or (drop_body and name in BODY_HEADERS):
            continue
        kept.append(line + "\r\n")
    return "".join(kept)
