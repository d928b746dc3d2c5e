"""A virtual user's cookie jar (RFC 6265): Set-Cookie parsed, stored by domain/path/name, sent back by the
matching rules (host-only or domain cookies, path prefix, expiry, Secure only over https).

Deliberately small: no public-suffix list (a Domain attribute must contain a dot or equal the host, so a
cookie for a bare `com` is refused), no SameSite (a load generator has no "site" of its own), HttpOnly
ignored (there is no script). Times are wall-clock seconds (`time.time()`), given by the caller.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_COOKIES = 3000  # per jar (RFC 6265 6.1 asks for at least 3000); the oldest go first beyond it


@dataclass
class Cookie:
    name: str
    value: str
    domain: str  # lower-case, no leading dot
    path: str
    host_only: bool
    secure: bool
    expires: float | None  # None: a session cookie (kept for the user's life)
    created: int  # insertion order, for the Cookie header's order


class CookieJar:
    """Cookies of one virtual user; `cookies` is empty until a response sets one (the fast path tests it)."""

    def __init__(self) -> None:
        self.cookies: dict[tuple[str, str, str], Cookie] = {}
        self.counter = 0

    def store(self, set_cookie: str, scheme: str, host: str, path: str, now: float) -> None:
        """One Set-Cookie header value from a response to `scheme://host` + `path` (RFC 6265 5.2, 5.3)."""
        cookie = parse(set_cookie, scheme, host.lower(), path, now)
        if cookie is None:
            return
        key = (cookie.domain, cookie.path, cookie.name)
        old = self.cookies.pop(key, None)
        if old is not None:
            cookie.created = old.created  # a replaced cookie keeps its place (RFC 6265 5.3 step 11.3)
        else:
            self.counter += 1
            cookie.created = self.counter
        if cookie.expires is not None and cookie.expires <= now:
            return  # Max-Age=0 or an Expires in the past: a deletion
        self.cookies[key] = cookie
        if len(self.cookies) > MAX_COOKIES:
            oldest = min(self.cookies, key=lambda k: self.cookies[k].created)
            del self.cookies[oldest]

    def header(self, scheme: str, host: str, path: str, now: float) -> str | None:
        """The Cookie header value for a request to `scheme://host` + `path`, or None (RFC 6265 5.4)."""
        host = host.lower()
        path = path.split("?", 1)[0] or "/"
        chosen: list[Cookie] = []
        expired: list[tuple[str, str, str]] = []
        for key, c in self.cookies.items():
            if c.expires is not None and c.expires <= now:
                expired.append(key)
                continue
            if c.secure and scheme != "https":
                continue
            if not (host == c.domain if c.host_only else domain_match(host, c.domain)):
                continue
            if path_match(path, c.path):
                chosen.append(c)
        for key in expired:
            del self.cookies[key]
        if not chosen:
            return None
        chosen.sort(key=lambda c: (-len(c.path), c.created))
        return "; ".join(f"{c.name}={c.value}" for c in chosen)


def parse(text: str, scheme: str, host: str, request_path: str, now: float) -> Cookie | None:
    """A Cookie from a Set-Cookie value, or None when the user agent must ignore it."""
    pair, *attributes = text.split(";")
    if "=" not in pair:
        return None
    name, _, value = pair.partition("=")
    name, value = name.strip(), value.strip()
    if not name:
        return None
    domain = ""
    path: str | None = None
    secure = False
    max_age: float | None = None
    expires: float | None = None
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "expires":
            expires = _date(val, expires)
        elif key == "max-age":
            try:
                max_age = float(int(val))
            except ValueError:
                pass  # not an integer: the attribute is ignored (5.2.2)
        elif key == "domain":
            if val:
                domain = val.lstrip(".").lower()
        elif key == "path":
            path = val if val.startswith("/") else None
        elif key == "secure":
            secure = True
    if max_age is not None:  # Max-Age wins over Expires (5.3 step 3)
        expires = now + max_age if max_age > 0 else now - 1
    if secure and scheme != "https":
        return None  # only a secure origin may set a Secure cookie (RFC 6265bis 5.6 step 15)
    if domain:
        if not domain_match(host, domain):
            return None  # a cookie for another host (5.3 step 6): ignored, never stored
        if "." not in domain and domain != host:
            return None  # a bare top-level name: no public suffix list, so refused outright
        host_only = False
    else:
        domain, host_only = host, True
    return Cookie(name, value, domain, path or default_path(request_path), host_only, secure, expires, 0)


def domain_match(host: str, domain: str) -> bool:
    """RFC 6265 5.1.3: identical, or `host` ends with "." + `domain` and is a name (not an IP address)."""
    if host == domain:
        return True
    return host.endswith("." + domain) and not _is_ip(host)


def path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 5.1.4."""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


def default_path(request_path: str) -> str:
    """RFC 6265 5.1.4: the request path up to (not including) its last "/", or "/"."""
    path = request_path.split("?", 1)[0]
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def _date(text: str, previous: float | None) -> float | None:
    """An Expires date (RFC 1123, as servers send it); one that cannot be read is ignored (5.2.1)."""
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return previous


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False
