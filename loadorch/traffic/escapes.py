"""Text as its reader would read it, for masking (pure): HTML character references (numeric, of any case and any
number of leading zeros, and named), percent-escapes of either case (UTF-8 sequences as one character) and JSON or
JavaScript backslash escapes (`\\uXXXX`, surrogate pairs, `\\/`...) decoded, a few rounds deep (`%252F`), with
where each decoded character came from, so that a secret found in the decoded text is masked in the original.

A secret is looked for in its canonical form: `+` read as a space on both sides (form encoding writes a space as
`+`, and a secret with a `+` still matches its own): what differs from a secret only there (`a%2Bb` for a secret
`a b`) is masked too, the safe side. Bounded: ROUNDS decodings at most, each linear in the text; a text holding no
`&`, `%` or `\\` is never decoded (see Redactor.text).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from html.entities import html5

ROUNDS = 3  # decodings of a decoding looked into: `%25252F` is `/` after three
ESCAPE_CHARS = "&%\\"
_LEGACY = sorted((name for name in html5 if not name.endswith(";")), key=len, reverse=True)  # `&amp` with no `;`
_ESCAPE = re.compile(  # the lookahead first: most positions are rejected at one character (twice as fast)
    r"(?=[&%\\])(?:&\#[xX]0*([0-9a-fA-F]+);?"  # 1: hex character reference
    r"|&\#0*([0-9]+);?"  # 2: decimal
    r"|&([A-Za-z][A-Za-z0-9]{0,31});"  # 3: named
    r"|&(" + "|".join(_LEGACY) + ")"  # 4: a legacy one without `;`, as browsers read them (`&ampx` is `&x`)
    + r"|((?:%[0-9a-fA-F]{2})+)"  # 5: a run of percent-escapes (bytes, read as UTF-8)
    r"|\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"  # 6, 7: a surrogate pair
    r"|\\u([0-9a-fA-F]{4})"  # 8
    r"|\\([\\/\"'bfnrt]))"  # 9
)
_SIMPLE = {"\\": "\\", "/": "/", '"': '"', "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# the start of an escape a cut may have split (`&#x2`, `%2`, `\u00`, a UTF-8 sequence's first bytes, `&#47` that
# `&#471;` would have continued, `&lt` that `&ltimes;` would have): what it becomes is unknown, so it goes
_OPEN = re.compile(
    r"(?=[&%\\])(?:&\#?[xX]?[0-9a-fA-F]*|&[A-Za-z][A-Za-z0-9]*"
    r"|(?:%[89a-fA-F][0-9a-fA-F]){1,3}(?:%[0-9a-fA-F]?)?|%[0-9a-fA-F]?"
    r"|(?:\\u[dD][89abAB][0-9a-fA-F]{2})?\\(?:u[0-9a-fA-F]{0,3})?|\\u[dD][89abAB][0-9a-fA-F]{2})\Z"
)
# what a named reference cut short may be: `&am` may be `&amp;`, `&sort` begins no name and is text
_NAME_STARTS = frozenset(name[:k] for name in html5 for k in range(1, len(name) + 1) if not name[:k].endswith(";"))
Span = tuple[int, int]


def canonical(text: str) -> str:
    return text.replace("+", " ")


class View:
    """One decoding of `source`: the decoded text, and for each escape decoded (in order) the decoded characters'
    span and the escape's span in `source`; the text between escapes is the same on both sides."""

    def __init__(self, text: str, source_len: int, escapes: list[tuple[int, int, int, int]], again: bool) -> None:
        self.text = text
        self.again = again  # an escape decoded into `&`, `%` or `\\`: a second escaping may be under it
        self.source_len = source_len
        self.starts = [e[0] for e in escapes]  # decoded
        self.escapes = escapes  # (decoded start, decoded end, source start, source end)

    def _of(self, k: int) -> Span:
        """The span in `source` that decoded character `k` came from."""
        i = bisect_right(self.starts, k) - 1
        if i < 0:
            return k, k + 1
        _, end, src_start, src_end = self.escapes[i]
        return (src_start, src_end) if k < end else (k - end + src_end, k - end + src_end + 1)

    def span(self, a: int, b: int) -> Span:
        """Decoded `[a, b)` (not empty) as the span of `source` it came from: whole escapes."""
        return self._of(a)[0], self._of(b - 1)[1]

    def at(self, k: int) -> int:
        """Where in `source` decoded position `k` starts (its length at the end)."""
        return self.source_len if k >= len(self.text) else self._of(k)[0]


def _named(name: str) -> tuple[int, str] | None:
    """(length written, characters) of `&name;`: `name;` if it is one, else its longest legacy start (`&ampx;`)."""
    if name + ";" in html5:
        return len(name) + 2, html5[name + ";"]
    for k in range(min(len(name), 6), 1, -1):
        if name[:k] in html5:
            return k + 1, html5[name[:k]]
    return None


def _percent(run: str, at: int) -> list[tuple[int, int, str]]:
    """A run of percent-escapes (starting at `at`) as characters: UTF-8 sequences whole; a byte that is no part of
    one is left as written."""
    data = bytes.fromhex(run.replace("%", ""))
    out = []
    i = 0
    while i < len(data):
        lead = data[i]
        n = 1 if lead < 0x80 else 2 if 0xC2 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 4 if lead < 0xF5 else 0
        try:
            char = data[i : i + n].decode() if n and i + n <= len(data) else ""
        except UnicodeDecodeError:
            char = ""
        if char:
            out.append((at + 3 * i, at + 3 * (i + n), char))
            i += n
        else:
            i += 1
    return out


def _escapes(m: re.Match[str]) -> list[tuple[int, int, str]]:
    """(source start, source end, characters) of each escape decoded in one match."""
    group, start, end = m.lastindex, m.start(), m.end()
    if group == 5:
        return _percent(m.group(5), start)
    if group in (1, 2):
        number = m.group(group)
        value = int(number, 16 if group == 1 else 10) if len(number) <= 7 else 0x110000
        return [(start, end, chr(value))] if value < 0x110000 else []
    if group == 3:
        named = _named(m.group(3))
        return [] if named is None else [(start, start + named[0], named[1])]
    if group == 4:
        char = html5[m.group(4)]
    elif group == 7:
        high, low = int(m.group(6), 16), int(m.group(7), 16)
        char = chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    else:
        char = chr(int(m.group(8), 16)) if group == 8 else _SIMPLE[m.group(9)]
    return [(start, end, char)]


def decode(source: str) -> View | None:
    """`source` with every escape decoded once; None when nothing in it decodes."""
    parts: list[str] = []
    escapes: list[tuple[int, int, int, int]] = []
    done = at = 0  # source read up to; decoded length
    made = []  # what the escapes became
    for m in _ESCAPE.finditer(source):
        for start, end, chars in _escapes(m):
            parts += (source[done:start], chars)
            made.append(chars)
            at += start - done
            escapes.append((at, at + len(chars), start, end))
            at += len(chars)
            done = end
    if not escapes:
        return None
    parts.append(source[done:])
    made_text = "".join(made)
    again = any(c in made_text for c in ESCAPE_CHARS)
    return View("".join(parts), len(source), escapes, again)


def views(text: str) -> list[View]:
    """`text` decoded, then that decoded again..., at most ROUNDS times, while a decoding makes an escape character
    (`%25` a `%`, `&amp;` a `&`: how a text escaped twice reads once decoded)."""
    out: list[View] = []
    while len(out) < ROUNDS and (out[-1].again if out else any(c in text for c in ESCAPE_CHARS)):
        view = decode(out[-1].text if out else text)
        if view is None:
            break
        out.append(view)
    return out


def _back(chain: list[View], a: int, b: int) -> Span:
    """A span of the last view's text as the span of the original text it came from."""
    for view in reversed(chain):
        a, b = view.span(a, b)
    return a, b


def occurrences(text: str, needles: Iterable[str]) -> list[Span]:
    """Every span of `text` that is one of `needles`, overlapping ones too."""
    out = []
    for needle in needles:
        i = text.find(needle)
        while i >= 0:
            out.append((i, i + len(needle)))
            i = text.find(needle, i + 1)
    return out


def found(text: str, targets: Iterable[str]) -> list[Span]:
    """The spans of `text` whose decoding (any round of it) holds one of `targets` (canonical forms)."""
    targets = list(targets)
    chain = views(text)
    out = []
    for r in range(len(chain)):
        out += [_back(chain[: r + 1], a, b) for a, b in occurrences(canonical(chain[r].text), targets)]
    return out


def masked(text: str, spans: list[Span], mask: str) -> str:
    """`text` with each run of overlapping spans replaced by one `mask`."""
    out: list[str] = []
    done = 0
    for a, b in sorted(spans):
        if a >= done:
            out += (text[done:a], mask)
            done = b
        elif b > done:
            done = b
    out.append(text[done:])
    return "".join(out)


def _prefix_end(text: str, targets: Iterable[str]) -> int:
    """Where the longest end of `text` that begins one of `targets` (a proper prefix) starts; len(text) if none."""
    if not text:
        return 0
    last, best = text[-1], 0
    for target in targets:
        k = target.rfind(last, 0, min(len(target) - 1, len(text)))
        while k + 1 > best and not text.endswith(target[: k + 1]):
            k = target.rfind(last, 0, k)
        best = max(best, k + 1)
    return len(text) - best


def _open_start(text: str) -> int:
    """Where an escape that `text` ends inside of starts (len(text) if none)."""
    opened = _OPEN.search(text)
    if opened is None:
        return len(text)
    written = opened.group(0)
    if written[0] == "&" and written[1:2].isalpha() and written[1:] not in _NAME_STARTS:
        return len(text)
    return opened.start()


def open_end(text: str, targets: Iterable[str]) -> int:
    """Where the end of `text` (a text cut short) that may begin one of `targets` starts, in any decoding of it:
    an escape cut short, and the decoded characters before it that begin a target; len(text) if none. Repeated
    while that uncovers another such end, at most four times (bounded): what one strip leaves may end with an
    escape's start (`x%%41b`, a target `Ab...`: `%41b` goes, then the `%` left)."""
    targets = list(targets)
    end = len(text)
    for _ in range(4):
        kept = text[:end]
        chain = views(kept)
        new = end
        for r, decoded in enumerate([kept] + [view.text for view in chain]):
            start = _prefix_end(canonical(decoded[: _open_start(decoded)]), targets)
            for view in reversed(chain[:r]):
                start = view.at(start)
            new = min(new, start)
        if new == end:
            break
        end = new
    return end
