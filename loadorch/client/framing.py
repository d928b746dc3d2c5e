"""Response framing the lean client's parser does not take as it comes: heads with obs-fold (unfolded, then parsed
again) and bytes past a response's end (counted, for a failure reason that says what the server did).

Only a response that fails to parse gets here (client/http.py `Connection._refused`): the common response never
runs a line of this module.
"""

from __future__ import annotations

import re
from typing import Any

import httptools

# obs-fold with the whitespace around it (RFC 9112 5.2: OWS CRLF RWS), replaced by one SP; llhttp refuses a bare
# LF, so a fold always has its CR
_OBS_FOLD = re.compile(rb"[ \t]*\r\n[ \t]+")

BROKEN = "the response framing is broken"


def unfold_heads(raw: bytes) -> tuple[bytes, int, int]:
    """`raw`, a response's bytes from its first, with every obs-fold in its heads (interim 1xx ones, then the final
    one) replaced by one SP, its body as it came; and where its final head starts and ends in the result (the end
    -1 while that head has not ended in `raw`). A user agent must unfold before it interprets a value (RFC 9112
    5.2). A line that starts with whitespace right after the status line continues no field: it is left as it is,
    for the parser to refuse (RFC 9112 2.2)."""
    out = bytearray()
    pos = 0
    while True:
        while raw.startswith(b"\r\n", pos):  # empty lines before a message, skipped by the parser too
            out += b"\r\n"
            pos += 2
        start = len(out)
        line = raw.find(b"\r\n", pos)
        if line < 0:  # the status line has not ended
            return bytes(out + raw[pos:]), start, -1
        end = raw.find(b"\r\n\r\n", pos)
        stop = len(raw) if end < 0 else end + 4
        out += raw[pos : line + 2]
        out += _OBS_FOLD.sub(b" ", raw[line + 2 : stop])
        if end < 0:
            return bytes(out), start, -1
        if not _interim(raw[pos:line]):
            return bytes(out + raw[stop:]), start, len(out)
        pos = stop


def unfold(fields: bytes) -> bytes:
    """A head's field lines (after its status line) with every obs-fold replaced by one SP."""
    return _OBS_FOLD.sub(b" ", fields)


def _interim(status_line: bytes) -> bool:
    """A 1xx status line other than 101's: an interim response, whose head the final one follows."""
    code = status_line.split(b" ", 2)[1:2]
    return bool(code) and code[0].isdigit() and interim_status(int(code[0]))


def interim_status(status: int) -> bool:
    """100 Continue, 103 Early Hints ...: not the answer; the final response follows (101 switches protocols)."""
    return 100 <= status < 200 and status != 101


def field_values(head: bytes, name: bytes) -> bytes | None:
    """The values of the head's `name` lines (lower-case name), joined by ", "; None when it has none."""
    values = []
    for line in head.split(b"\r\n")[1:]:
        key, colon, value = line.partition(b":")
        if colon and key.strip().lower() == name:
            values.append(value.strip(b" \t"))
    return b", ".join(values) if values else None


class Unfolder:
    """Stands in for a collector's parser once a head with obs-fold failed to parse: keeps the response's bytes (from
    its first) until its final head has ended, then gives them unfolded (`unfold_heads`) to a new parser, which takes
    its place for the rest of the response. With `timing`, it sets the collector's Server-Timing value from the
    unfolded head (the fast path's plain collector sees no header line; http.py `_collector_for`)."""

    __slots__ = ("collector", "raw", "timing")

    def __init__(self, collector: Any, raw: bytes, timing: bool) -> None:
        self.collector = collector
        self.raw = raw
        self.timing = timing

    def feed_data(self, data: bytes | memoryview) -> None:
        self.raw += bytes(data)
        unfolded, start, end = unfold_heads(self.raw)
        if end < 0:
            return  # the head's end is yet to come (max_response_head bounds it, as any head)
        parser = httptools.HttpResponseParser(self.collector)
        self.collector.parser = parser
        parser.feed_data(unfolded)
        if self.timing:
            self.collector.timing_value = field_values(unfolded[start:end], b"server-timing")


class _Probe:
    """Parser callbacks that note when the final response ends and the final head's framing lines."""

    __slots__ = ("done", "framing", "parser")

    def __init__(self) -> None:
        self.done = False
        self.framing: list[tuple[bytes, bytes]] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.done and name.lower() in (b"content-length", b"transfer-encoding"):
            self.framing.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if interim_status(self.parser.get_status_code()):
            self.framing = []

    def on_message_complete(self) -> None:
        if not interim_status(self.parser.get_status_code()):
            self.done = True


def _probe(data: bytes) -> _Probe:
    probe = _Probe()
    try:
        probe.parser.feed_data(data)
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        pass  # what the bytes after the end made of it: the end is what is asked
    return probe


def stray_after(data: bytes | None) -> str:
    """The failure reason of a response the parser read to its end and then failed on what followed in the same read:
    the server sent more than the response's head said. With `data`, the read's bytes from the response's first, it
    says how many more, found by parsing ever shorter beginnings of it; None: how many is not known here (the
    response began in an earlier read)."""
    if data is None:
        return f"the server sent more bytes than the response's length said (stray bytes after its end): {BROKEN}"
    data = unfold_heads(data)[0]
    low, high = 0, len(data)  # the response ends within data[:high]; find the shortest such beginning
    while low < high:
        middle = (low + high) // 2
        if _probe(data[:middle]).done:
            high = middle
        else:
            low = middle + 1
    framing = _probe(data[:high]).framing
    more = len(data) - high
    said = "after the response's end"
    if framing and framing[-1][0] == b"transfer-encoding":
        return f"the server sent {more} bytes after its chunked body's end (stray bytes {said}): {BROKEN}"
    if framing:
        return f"the server sent {more} bytes more than its Content-Length said (stray bytes {said}): {BROKEN}"
    return f"the server sent {more} bytes after a response without a body (stray bytes {said}): {BROKEN}"


def stray_before(data: bytes) -> str:
    """The failure reason when the first bytes read for a response on a reused connection are not a response's start
    (`data`: they do not start with "HTTP/"): the rest of the previous response, longer than its length said."""
    more = data.find(b"HTTP/")
    more = len(data) if more < 0 else more
    return (f"the server sent {more} bytes more than the previous response's length said (stray bytes before this "
            f"response): {BROKEN}")
