"""Text as the reports show it (pure): one line, cut; printable on a terminal; a link only when it is a plain web
address."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from loadorch.config.evidence import LINK_CHARS
from loadorch.traffic.redact import LONE_SURROGATE

# what a link keeps as it is (RFC 3986's unreserved and reserved characters, and `%` of an escape already made,
# without the quote `'`); anything else (`<`, `>`, `"`, spaces, control characters ...) is percent-encoded
_LINK_SAFE = ":/?#[]@!$&()*+,;=%-._~"


# what a terminal or a CI log must not be handed as it is: control characters (C0, DEL, C1: an escape sequence
# recolours, moves the cursor or retitles the terminal) and lone surrogates (no encoding can write them)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` on one line (every run of whitespace one space) with each control character and lone surrogate
    written as its escape (`\\x1b`, `\\ud83d`): a cell or a line of the terminal summary, whatever a server or
    a name put in it."""
    return _UNPRINTABLE.sub(_escaped, " ".join(str(text).split()))


def well_formed(text: str) -> str:
    """`text` with each lone surrogate (a `\\ud83d` escape in the JSON of a page or a server, half of a pair cut in
    two) replaced by U+FFFD: text every encoding can write."""
    return text if text.isascii() else LONE_SURROGATE.sub("\ufffd", text)


def one_line(text: object, limit: int) -> str:
    """`text` on one line (every run of whitespace one space), cut to `limit` characters with `...` marking the
    cut: a cell, an evidence line or a title, whatever the data holds."""
    one = " ".join(str(text).split())
    return one if len(one) <= limit else one[: limit - 3] + "..."


def web_link(url: str | None, limit: int = LINK_CHARS) -> str | None:
    """`url` as a report may link it: an http:// or https:// address with a host, every character that could
    leave the link (markup in Markdown or HTML) percent-encoded; None for anything else (`javascript:`, `data:`,
    a relative or longer one): a trace link comes from results.json, which a report also rebuilds from a file
    it did not write (`loadorch report`, `k8s collect`, a baseline)."""
    if not url or len(url) > limit:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an invalid IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(well_formed(url.strip()), safe=_LINK_SAFE)  # a lone surrogate: no UTF-8 to percent-encode
