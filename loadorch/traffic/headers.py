"""What an HTTP header can carry (RFC 9110 5.1, 5.5), for the checks at load time and at send time (pure).

A name is a token; a value holds tabs, spaces, visible ASCII and obs-text (0x80-0xFF, sent as that one byte:
both clients write the head in Latin-1). Anything else cannot be sent as written: the lean client would put `?` in
its place and Locust's client refuses the request, and a name with a space or a tab makes the server refuse it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_UNSENDABLE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a header's name, or None."""
    if HEADER_NAME.match(name):
        return None
    bad = next((ch for ch in name if not HEADER_NAME.match(ch)), "")
    what = f"holds {_char(bad)}" if bad else "is empty"
    return (f"header name {name!r} {what}: a header name is letters, digits and !#$%&'*+-.^_`|~ only "
            "(no spaces, no accents)")


def value_problem(value: str, line_breaks: bool = True) -> str | None:
    """Why `value` cannot be sent in a header, or None; the value itself is not in the message (it may be a
    secret). `line_breaks=False`: CR and LF pass (a rendered value's are sent as spaces, request.header_value)."""
    if value.isascii() and value.isprintable():
        return None
    for found in _UNSENDABLE.finditer(value):
        ch = found.group()
        if not line_breaks and ch in "\r\n":
            continue
        if ord(ch) > 0xFF:
            return (f"its value holds {_char(ch)}, which no HTTP header can carry (header values are ASCII, or "
                    f"Latin-1 at most); percent-encode it ({quote(ch)}) or send it in the body")
        return f"its value holds the control character {_char(ch)}; remove it"
    return None


def _char(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"
