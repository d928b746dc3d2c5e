"""Response heads bounded in geventhttpclient (`client: locust`, and python users' FastHttpUser).

geventhttpclient reads a response's head until it ends, joining each header's pieces as they come: one
50 MB header line grew a worker to 1 GB and killed it. Installed once per worker process (like the
connection timing in runtime/locust_client.py), a head that has not ended within max_response_head bytes
fails its request with ResponseHeadTooLarge, the connection closed (the response is incomplete).
"""

from __future__ import annotations

from typing import Any

from geventhttpclient.response import HTTPParseError, HTTPSocketPoolResponse

from loadorch.config.units import DEFAULT_MAX_HEAD, size_text

_ORIGINAL_FEED = HTTPSocketPoolResponse.feed
_LIMIT = [DEFAULT_MAX_HEAD]  # this process's max_response_head


class ResponseHeadTooLarge(HTTPParseError):
    """The response's status line and headers (interim 1xx ones included) went past max_response_head. An
    HTTPParseError: Locust's FastHttpSession turns it into a failed request, and the connection is closed."""


def header_text(headers: Any, name: str, first: bool = False) -> str | None:
    """A response header's value as one string, None if absent. geventhttpclient's `Headers.get` gives a list for a
    header the response repeats (two `Server-Timing` lines: an origin's and its CDN's), which the readers of a value
    could not take (the request was lost from the results, or its user stopped on an error); its lines are joined
    as RFC 9110 combines a list header's, with ", " (`first`: the first line alone, for a header that is no list,
    such as Location). requests' headers are already joined."""
    value = headers.get(name) if headers else None
    if isinstance(value, (list, tuple)):
        return (str(value[0]) if first else ", ".join(str(v) for v in value)) if value else None
    return None if value is None else str(value)


def bound_response_heads(limit: int) -> None:
    """Bound every response head geventhttpclient reads in this process to `limit` bytes."""
    _LIMIT[0] = limit
    HTTPSocketPoolResponse.feed = _bounded_feed  # type: ignore[method-assign,assignment]


def _bounded_feed(self: Any, data: bytes) -> None:
    """Bytes into the parser, counted until the final (non-1xx) head has ended: a head that does not end
    within the bound raises ResponseHeadTooLarge before more of it is parsed."""
    if not data or self.__dict__.get("_lo_head_done"):
        return _ORIGINAL_FEED(self, data)
    limit = _LIMIT[0]
    room = limit - self.__dict__.get("_lo_head", 0)
    if len(data) > room:
        if room:
            _ORIGINAL_FEED(self, data[:room])
        if not _final_head(self):
            raise ResponseHeadTooLarge(f"response head over {size_text(limit)} (max_response_head)")
        self._lo_head_done = True
        return _ORIGINAL_FEED(self, data[room:]) if len(data) > room else None
    self._lo_head = limit - room + len(data)
    _ORIGINAL_FEED(self, data)
    if _final_head(self):
        self._lo_head_done = True
    return None


def _final_head(resp: Any) -> bool:
    return bool(resp.headers_complete) and resp.get_code() >= 200
