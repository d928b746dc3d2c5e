"""CSS tokens (CSS Syntax Level 3, section 4) as a selector parser needs them, with the block structure.

Written from the spec, with what Chromium's tokenizer adds: the attribute matchers `~=` `|=` `^=` `$=` `*=`
and `||` are tokens of their own. Comments are dropped (they separate nothing: `a/**/b` is two names in a
row). A string, a block or an escape left open at the end of the text is closed by the end, as the spec
says (so Chromium accepts `[lang="en`).
"""

from __future__ import annotations

from dataclasses import dataclass

WS = " \t\n"
HEX = "0123456789abcdefABCDEF"
MATCHERS = {"~": "~=", "|": "|=", "^": "^=", "$": "$=", "*": "*="}
SIMPLE = {":": ":", ";": ";", ",": ",", "[": "[", "]": "]", "(": "(", ")": ")", "{": "{", "}": "}"}
CLOSER = {"(": ")", "function": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Token:
    """`kind`: ident, function, at, hash, string, bad-string, url, bad-url, delim, number, percentage,
    dimension, ws, cdo, cdc, one of `: ; , [ ] ( ) { }`, a matcher (`~=` ...), `||`, or eof.
    `value`: the name (unescaped), the string's text, the delimiter, or a dimension's unit."""

    kind: str
    value: str
    start: int  # offset in the text
    end: int
    integer: bool = False  # number, dimension: written without a fraction or an exponent
    signed: str = ""  # number, dimension: "+" or "-" when written with a sign
    number: float = 0.0
    is_id: bool = False  # hash: its name would start an identifier (`#a`, not `#1a`)


def _ident_start(c: str) -> bool:
    return (c.isascii() and (c.isalpha() or c == "_")) or (c != "" and not c.isascii())


def _ident_char(c: str) -> bool:
    return _ident_start(c) or (c != "" and c in "0123456789-")


def preprocess(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n").replace("\0", "\ufffd")


class _Tokenizer:
    def __init__(self, text: str) -> None:
        self.s = preprocess(text)
        self.i = 0
        self.start = 0  # of the token being read

    def at(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < len(self.s) else ""

    def valid_escape(self, k: int = 0) -> bool:
        return self.at(k) == "\\" and self.at(k + 1) != "\n"

    def starts_ident(self, k: int = 0) -> bool:
        c = self.at(k)
        if c == "-":
            return _ident_start(self.at(k + 1)) or self.at(k + 1) == "-" or self.valid_escape(k + 1)
        return _ident_start(c) or self.valid_escape(k)

    def starts_number(self, k: int = 0) -> bool:
        c, d = self.at(k), self.at(k + 1)
        if c in ("+", "-") and c:
            return (d.isdigit() and d.isascii()) or (d == "." and self.at(k + 2).isdigit())
        if c == ".":
            return d.isdigit() and d.isascii()
        return c != "" and c.isascii() and c.isdigit()

    def escape(self) -> str:
        """After the backslash: the escaped code point."""
        c = self.at()
        if c == "":
            return "\ufffd"
        if c in HEX:
            digits = ""
            while len(digits) < 6 and self.at() != "" and self.at() in HEX:
                digits += self.at()
                self.i += 1
            if self.at() != "" and self.at() in WS:
                self.i += 1
            n = int(digits, 16)
            return "\ufffd" if n == 0 or 0xD800 <= n <= 0xDFFF or n > 0x10FFFF else chr(n)
        self.i += 1
        return c

    def name(self) -> str:
        out = []
        while True:
            c = self.at()
            if _ident_char(c):
                out.append(c)
                self.i += 1
            elif self.valid_escape():
                self.i += 1
                out.append(self.escape())
            else:
                return "".join(out)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            self.start = self.i
            tok = self.next_token()
            if tok is None:
                continue
            out.append(tok)
            if tok.kind == "eof":
                return out

    def make(self, kind: str, value: str) -> Token:
        return Token(kind, value, self.start, self.i)

    def next_token(self) -> Token | None:
        c = self.at()
        if c == "":
            return self.make("eof", "")
        if c == "/" and self.at(1) == "*":
            end = self.s.find("*/", self.i + 2)
            self.i = len(self.s) if end < 0 else end + 2
            return None
        if c in WS:
            while self.at() != "" and self.at() in WS:
                self.i += 1
            return self.make("ws", " ")
        if c in ('"', "'"):
            self.i += 1
            return self.string(c)
        if c == "#":
            if _ident_char(self.at(1)) or self.valid_escape(1):
                is_id = self.starts_ident(1)
                self.i += 1
                return Token("hash", self.name(), self.start, self.i, is_id=is_id)
            self.i += 1
            return self.make("delim", c)
        if c in MATCHERS and self.at(1) == "=":
            self.i += 2
            return self.make(MATCHERS[c], MATCHERS[c])
        if c == "|" and self.at(1) == "|":
            self.i += 2
            return self.make("||", "||")
        if c in SIMPLE:
            self.i += 1
            return self.make(c, c)
        if c in "+." and self.starts_number():
            return self.numeric()
        if c == "-":
            if self.starts_number():
                return self.numeric()
            if self.at(1) == "-" and self.at(2) == ">":
                self.i += 3
                return self.make("cdc", "-->")
            if self.starts_ident():
                return self.ident_like()
        if c == "<" and self.s.startswith("!--", self.i + 1):
            self.i += 4
            return self.make("cdo", "<!--")
        if c == "@" and self.starts_ident(1):
            self.i += 1
            return self.make("at", self.name())
        if c == "\\" and self.valid_escape():
            return self.ident_like()
        if c.isascii() and c.isdigit():
            return self.numeric()
        if _ident_start(c):
            return self.ident_like()
        self.i += 1
        return self.make("delim", c)

    def string(self, quote: str) -> Token:
        out: list[str] = []
        while True:
            c = self.at()
            if c == "" or c == quote:
                self.i += 1 if c else 0
                return self.make("string", "".join(out))
            if c == "\n":
                return self.make("bad-string", "".join(out))
            self.i += 1
            if c == "\\":
                if self.at() == "\n":
                    self.i += 1
                elif self.at() != "":
                    out.append(self.escape())
            else:
                out.append(c)

    def numeric(self) -> Token:
        start = self.i
        signed = self.at() if self.at() in ("+", "-") and self.at() else ""
        if signed:
            self.i += 1
        integer = True
        self.digits()
        if self.at() == "." and self.at(1).isascii() and self.at(1).isdigit():
            integer = False
            self.i += 1
            self.digits()
        if self.at() in ("e", "E") and (
            (self.at(1).isascii() and self.at(1).isdigit())
            or (self.at(1) in ("+", "-") and self.at(1) and self.at(2).isascii() and self.at(2).isdigit())
        ):
            integer = False
            self.i += 2
            self.digits()
        text = self.s[start : self.i]
        number = float(text)
        kind, value = "number", text
        if self.starts_ident():
            kind, value = "dimension", self.name()
        elif self.at() == "%":
            self.i += 1
            kind, value = "percentage", "%"
        return Token(kind, value, self.start, self.i, integer=integer, signed=signed, number=number)

    def digits(self) -> None:
        while self.at().isascii() and self.at().isdigit() and self.at():
            self.i += 1

    def ident_like(self) -> Token:
        name = self.name()
        if self.at() != "(":
            return self.make("ident", name)
        self.i += 1
        if name.lower() != "url":
            return self.make("function", name)
        while self.at() != "" and self.at() in WS and self.at(1) != "" and self.at(1) in WS:
            self.i += 1
        ahead = self.at(1) if self.at() != "" and self.at() in WS else self.at()
        if ahead in ('"', "'"):
            return self.make("function", name)
        return self.url()

    def url(self) -> Token:
        while self.at() != "" and self.at() in WS:
            self.i += 1
        out: list[str] = []
        while True:
            c = self.at()
            if c == "" or c == ")":
                self.i += 1 if c else 0
                return self.make("url", "".join(out))
            if c in WS:
                while self.at() != "" and self.at() in WS:
                    self.i += 1
                if self.at() in (")", ""):
                    continue
                return self.bad_url()
            if c in "\"'(" or (ord(c) < 0x20 and c not in WS) or ord(c) == 0x7F:
                return self.bad_url()
            if c == "\\":
                if not self.valid_escape():
                    return self.bad_url()
                self.i += 1
                out.append(self.escape())
                continue
            out.append(c)
            self.i += 1

    def bad_url(self) -> Token:
        while True:
            c = self.at()
            if c == "" or c == ")":
                self.i += 1 if c else 0
                return self.make("bad-url", "")
            if self.valid_escape():
                self.i += 1
                self.escape()
            else:
                self.i += 1


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, comments dropped, ending with one `eof` token."""
    return _Tokenizer(text).tokens()


def block_ends(tokens: list[Token]) -> list[int]:
    """For each token that opens a block (`(`, a function, `[`, `{`), the index of the token that closes it
    (the eof token's index when the text ends first); -1 for every other token. A closing token that does
    not match the innermost open block closes nothing: it is a token like any other."""
    ends = [-1] * len(tokens)
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok.kind in CLOSER:
            stack.append(i)
        elif stack and tok.kind == CLOSER[tokens[stack[-1]].kind]:
            ends[stack.pop()] = i
    for i in stack:
        ends[i] = len(tokens) - 1
    return ends
