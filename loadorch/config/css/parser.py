"""Whether Chromium's `document.querySelector` accepts a CSS selector, and if not, where and why.

See loadorch/config/css/__init__.py for what is read and how; the names are in names.py, the tokens in
tokens.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from loadorch.config.css.names import (
    FUNCTIONAL_CLASSES,
    FUNCTIONAL_ELEMENTS,
    LEGACY_ELEMENTS,
    NOT_CUSTOM_IDENTS,
    PSEUDO_CLASSES,
    PSEUDO_ELEMENTS,
    SCROLL_DIRECTIONS,
    allowed_after,
    ascii_lower,
    custom_kind,
    known,
)
from loadorch.config.css.tokens import Token, block_ends, tokenize

EXAMPLE = "e.g. #checkout, .btn.primary, button[type=submit], form > input:nth-child(2)"
FIX = f"write a CSS selector ({EXAMPLE}); text=, xpath= and >> of test tools are not CSS"


@dataclass(frozen=True)
class SelectorError:
    """Why querySelector would refuse a selector: what is wrong, at which character (1-based), and the fix."""

    position: int
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what} (at character {self.position}); {self.fix}"


class _Invalid(Exception):
    def __init__(self, token: Token, what: str, fix: str = "") -> None:
        super().__init__(what)
        self.token, self.what, self.fix = token, what, fix


def selector_error(text: str) -> SelectorError | None:
    """None when `document.querySelector(text)` would accept `text`; else what it would refuse."""
    parser = _Parser(text)
    try:
        parser.selector_list_top()
    except _Invalid as exc:
        return SelectorError(exc.token.start + 1, exc.what, exc.fix or FIX)
    return None


def _shown(tok: Token, text: str) -> str:
    return repr(text[tok.start : tok.end]) if tok.kind != "eof" else "the end"


class _Stream:
    """Tokens with blocks: inside a block, the block's closing token (or the end) is the end."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.ends = block_ends(self.tokens)
        self.pos = 0
        self.end = len(self.tokens) - 1  # the eof token

    def peek(self) -> Token:
        return self.tokens[self.pos] if self.pos < self.end else self.tokens[self.end]

    def at_end(self) -> bool:
        return self.pos >= self.end

    def consume(self) -> Token:
        tok = self.peek()
        if self.pos < self.end:
            self.pos = min(self.ends[self.pos], self.end) + 1 if self.ends[self.pos] >= 0 else self.pos + 1
        return tok

    def skip_ws(self) -> None:
        while self.peek().kind == "ws":
            self.consume()

    def is_delim(self, char: str) -> bool:
        tok = self.peek()
        return tok.kind == "delim" and tok.value == char

    @contextmanager
    def block(self) -> Iterator[Token]:
        """Inside the block the next token opens; after it, past its closing token."""
        opener, close, outer = self.tokens[self.pos], self.ends[self.pos], self.end
        self.pos, self.end = self.pos + 1, close
        try:
            yield opener
        finally:
            self.pos, self.end = min(close + 1, len(self.tokens) - 1), outer

    def skip_to_comma(self) -> None:
        while not self.at_end() and self.peek().kind != ",":
            self.consume()


@dataclass
class _Context:
    no_pseudo_elements: bool = False  # inside :is, :where, :not, :has, :host()...
    compound_only: bool = False  # inside :host(), :host-context(), ::slotted(), ::cue(), :-webkit-any()
    in_has: bool = False
    after: str | None = None  # the pseudo-element kind of the compound so far (what may follow it)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.s = _Stream(text)
        self.ctx = _Context()
        self.last_combinator = self.s.peek()

    def fail(self, tok: Token, what: str, fix: str = "") -> _Invalid:
        return _Invalid(tok, what, fix)

    @contextmanager
    def within(self, compound_only: bool = False, in_has: bool = False) -> Iterator[None]:
        """The context of a pseudo-class's argument: no pseudo-element in it (the selectors after `of` in
        :nth-child are no such argument), and what the outer context says besides."""
        saved = self.ctx
        self.ctx = replace(saved, no_pseudo_elements=True, compound_only=compound_only or saved.compound_only,
                           in_has=in_has or saved.in_has)
        try:
            yield
        finally:
            self.ctx = saved

    # -- lists --
    def selector_list_top(self) -> None:
        s = self.s
        s.skip_ws()
        if s.at_end():
            raise self.fail(s.peek(), "the selector is empty", FIX)
        self.complex_list()
        if not s.at_end():
            raise self.unexpected(s.peek())

    def complex_list(self) -> None:
        s = self.s
        self.complex()
        while s.peek().kind == ",":
            s.consume()
            s.skip_ws()
            self.complex()

    def forgiving_list(self) -> None:
        """:is() and :where(): an argument Chromium cannot read is dropped, not an error."""
        s = self.s
        while not s.at_end():
            start = s.pos
            try:
                self.complex()
                if not (s.at_end() or s.peek().kind in (",", "{")):
                    raise self.unexpected(s.peek())
            except _Invalid:
                s.pos = start
                s.skip_to_comma()
            if s.peek().kind != ",":
                break
            s.consume()
            s.skip_ws()

    def forgiving_compound_list(self) -> None:
        """:is() and :where() inside a pseudo-class that takes compounds: compounds, forgiven likewise."""
        s = self.s
        while not s.at_end():
            start = s.pos
            try:
                self.compound_required()
                s.skip_ws()
                if not (s.at_end() or s.peek().kind == ","):
                    raise self.unexpected(s.peek())
            except _Invalid:
                s.pos = start
                s.skip_to_comma()
            if not s.at_end():
                s.consume()
                s.skip_ws()

    def compound_list(self) -> int:
        """Compounds separated by commas: how many."""
        s = self.s
        self.compound_required()
        s.skip_ws()
        count = 1
        while s.peek().kind == ",":
            s.consume()
            s.skip_ws()
            self.compound_required()
            s.skip_ws()
            count += 1
        return count

    def relative_list(self, function: Token) -> None:
        s = self.s
        if self.ctx.compound_only or self.ctx.after is not None:
            where = "after a pseudo-element" if self.ctx.after is not None else "in a pseudo-class taking a compound"
            raise self.fail(function, f":has() is not allowed {where}")
        self.relative()
        while s.peek().kind == ",":
            s.consume()
            s.skip_ws()
            self.relative()

    # -- complex selectors --
    def complex(self) -> None:
        first = self.compound()
        if first is None:
            raise self.expected_selector(self.s.peek())
        self.rest_of_complex(first)

    def relative(self) -> None:
        s = self.s
        tok = s.peek()
        combinator = self.combinator()
        first = self.compound()
        if first is None:
            if combinator in (None, " "):
                raise self.expected_selector(s.peek() if combinator is None else tok)
            raise self.fail(self.last_combinator, f"nothing follows the combinator {combinator!r}",
                            "put a compound selector after it, or remove it")
        self.rest_of_complex(first)

    def rest_of_complex(self, has_pseudo_element: bool) -> None:
        s = self.s
        while True:
            before = s.peek()
            combinator = self.combinator()
            if combinator is None:
                return
            at = s.peek()
            nxt = self.compound()
            if nxt is None:
                if combinator == " ":
                    return
                if at.kind == "delim" and at.value in "+>~":
                    raise self.fail(at, f"{combinator + at.value!r} is not a CSS combinator",
                                    "use one of ' ' (descendant), '>', '+', '~' between two compounds "
                                    "(>> and other extensions of test tools are not CSS)")
                raise self.fail(self.last_combinator, f"nothing follows the combinator {combinator!r}",
                                "put a compound selector after it, or remove it")
            if has_pseudo_element:
                raise self.fail(before, "nothing may follow a pseudo-element's compound (a pseudo-element "
                                "is the end of a selector)", "move the pseudo-element to the last compound")
            has_pseudo_element = nxt

    def combinator(self) -> str | None:
        """' ', '>', '+' or '~' (its token kept as `self.last_combinator`), or None when there is none."""
        s = self.s
        found: str | None = None
        while s.peek().kind == "ws":
            self.last_combinator = s.consume()
            found = " "
        tok = s.peek()
        if tok.kind == "delim" and tok.value in "+>~":
            self.last_combinator = s.consume()
            s.skip_ws()
            return tok.value
        return found

    # -- compounds --
    def compound_required(self) -> None:
        if self.compound() is None:
            raise self.expected_selector(self.s.peek())

    def compound(self) -> bool | None:
        """A compound selector: None when there is none here; else whether it has a pseudo-element."""
        s = self.s
        start = s.peek()
        saved_after = self.ctx.after
        try:
            has_name = self.type_selector()
            if has_name and self.ctx.after is not None:
                raise self.fail(start, f"a type selector cannot follow the pseudo-element ::{self.ctx.after}")
            found, pseudo_element = False, False
            while (kind := self.simple_selector()) is not None:
                found = True
                if kind.startswith("::"):
                    pseudo_element = True
                    self.ctx.after = kind[2:]
            if not found and not has_name:
                return None
            return pseudo_element
        finally:
            self.ctx.after = saved_after

    def type_selector(self) -> bool:
        """`name`, `*`, `ns|name`, `*|name`, `|name` (a declared prefix only: querySelector knows none)."""
        s = self.s
        tok = s.peek()
        if tok.kind == "ident" or (tok.kind == "delim" and tok.value == "*"):
            s.consume()
            prefix = tok
        elif tok.kind == "delim" and tok.value == "|":
            prefix = None
        else:
            return False
        if not s.is_delim("|"):
            return True
        bar = s.pos
        s.consume()
        nxt = s.peek()
        if nxt.kind == "ident" or (nxt.kind == "delim" and nxt.value == "*"):
            s.consume()
            self.check_prefix(prefix)
            return True
        s.pos = bar
        return False

    def check_prefix(self, prefix: Token | None) -> None:
        if prefix is not None and prefix.kind == "ident" and prefix.value != "*":  # `\*|` is `*|`
            raise self.fail(prefix, f"the namespace prefix {prefix.value + '|'!r} is not declared "
                            "(querySelector knows no namespace prefixes)",
                            "drop the prefix, or write *| (any namespace) or | (no namespace)")

    def simple_selector(self) -> str | None:
        """One simple selector after the type selector: its kind (`::name` for a pseudo-element), or None."""
        s = self.s
        tok = s.peek()
        if tok.kind == "hash":
            s.consume()
            if not tok.is_id:
                raise self.fail(tok, f"{_shown(tok, self.text)} is not an id selector: a name cannot start "
                                "with a digit (or a hyphen and a digit)",
                                f"escape its first character ({_escaped_id(tok.value)}) or use [id=\"{tok.value}\"]")
            kind = "#"
        elif tok.kind == "delim" and tok.value == ".":
            s.consume()
            name = s.peek()
            if name.kind != "ident":
                raise self.fail(name if name.kind != "eof" else tok, "'.' must be followed by a class name",
                                "write .name (escape a leading digit: .\\31 23)")
            s.consume()
            kind = "."
        elif tok.kind == "[":
            self.attribute()
            kind = "["
        elif tok.kind == ":":
            kind = self.pseudo()
        elif tok.kind == "delim" and tok.value == "&":
            s.consume()
            kind = "&"
        else:
            return None
        self.check_after_pseudo_element(tok, kind)
        return kind

    def check_after_pseudo_element(self, tok: Token, kind: str) -> None:
        after = self.ctx.after
        if after is None or allowed_after(after, kind):
            return
        written = self.text[tok.start : self.s.peek().start].strip()
        raise self.fail(tok, f"{written!r} cannot follow the pseudo-element ::{after}",
                        "put it before the pseudo-element (e.g. a.active::before)")

    # -- attribute selectors --
    def attribute(self) -> None:
        s = self.s
        with s.block() as opener:
            s.skip_ws()
            name = s.peek()
            if not self.attribute_name():
                raise self.fail(name if name.kind != "eof" else opener, "'[' must be followed by an attribute name",
                                "write [name], [name=value] or [name=\"quoted value\"]")
            s.skip_ws()
            if s.at_end():
                return
            op = s.peek()
            if op.kind not in ("~=", "|=", "^=", "$=", "*=") and not (op.kind == "delim" and op.value == "="):
                raise self.fail(op, f"{_shown(op, self.text)} is not an attribute operator",
                                "use one of = ~= |= ^= $= *= (e.g. [type=submit])")
            s.consume()
            s.skip_ws()
            value = s.peek()
            if value.kind == "bad-string":
                raise self.fail(value, "the attribute value's quote is not closed on its line",
                                "close the quote before the line break (write \\A for a line break in it)")
            if value.kind not in ("ident", "string"):
                shown = _shown(value, self.text)
                raise self.fail(value if value.kind != "eof" else op, f"the attribute value {shown} is neither a "
                                "name nor a quoted string", f"quote it: [name=\"{_raw(value, self.text)}\"]")
            s.consume()
            s.skip_ws()
            flag = s.peek()
            if flag.kind == "ident":
                if ascii_lower(flag.value) != "i":
                    raise self.fail(flag, f"unknown attribute flag {flag.value!r}",
                                    "the only flag Chromium takes is i (ASCII case-insensitive); quote a value "
                                    "with spaces")
                s.consume()
                s.skip_ws()
            if not s.at_end():
                raise self.unexpected(s.peek(), "a ']' after the attribute value (quote a value with spaces)")

    def attribute_name(self) -> bool:
        s = self.s
        tok = s.peek()
        if tok.kind == "ident" or (tok.kind == "delim" and tok.value == "*"):
            s.consume()
            prefix: Token | None = tok
        elif tok.kind == "delim" and tok.value == "|":
            prefix = None
        else:
            return False
        if s.is_delim("|"):
            s.consume()
            name = s.peek()
            if name.kind != "ident" and not (name.kind == "delim" and name.value == "*"):
                return False
            s.consume()
            self.check_prefix(prefix)
            return name.kind == "ident"
        return tok.kind == "ident"

    # -- pseudo-classes and pseudo-elements --
    def pseudo(self) -> str:
        s = self.s
        colon = s.consume()
        colons = ":"
        if s.peek().kind == ":":
            s.consume()
            colons = "::"
        tok = s.peek()
        if tok.kind not in ("ident", "function"):
            raise self.fail(tok if tok.kind != "eof" else colon, f"{colons!r} must be followed by a name",
                            "write e.g. :hover, :nth-child(2) or ::before")
        name = ascii_lower(tok.value)
        element = colons == "::" or (name in LEGACY_ELEMENTS and tok.kind == "ident")
        written = colons + tok.value + ("()" if tok.kind == "function" else "")
        if not known(name, colons, tok.kind == "function"):
            raise self.fail(tok, self.unknown_pseudo(name, colons, tok.kind == "function"),
                            "write one of Chromium's pseudo-classes (:hover, :checked, :nth-child(2), :not(.x), "
                            ":has(> img) ...) or pseudo-elements (::before, ::placeholder ...)")
        if element and self.ctx.no_pseudo_elements:
            raise self.fail(tok, f"the pseudo-element {written} is not allowed inside :is(), :where(), :not(), "
                            ":has() or a pseudo-class taking a compound")
        if self.ctx.in_has and name == "has" and not element:
            raise self.fail(tok, ":has() cannot be nested inside :has()")
        kind = ":" + name
        if element:
            function = tok.kind == "function"
            kind = "::" + ("cue()" if function and name == "cue" else name if function else custom_kind(name))
        if tok.kind == "ident":
            s.consume()
            return kind
        with s.block():
            s.skip_ws()
            self.pseudo_arguments(name, element, tok)
            if not s.at_end():
                raise self.unexpected(s.peek(), f"')' to close {written}")
        return kind

    def unknown_pseudo(self, name: str, colons: str, function: bool) -> str:
        shown = colons + name + ("(" if function else "")
        if function and known(name, colons, False):
            return f"{colons + name} takes no parentheses"
        if not function and known(name, colons, True):
            return f"{colons + name} needs an argument in parentheses, e.g. {colons + name}({_sample_argument(name)})"
        kind = "pseudo-class" if colons == ":" else "pseudo-element"
        names = PSEUDO_CLASSES | FUNCTIONAL_CLASSES if colons == ":" else PSEUDO_ELEMENTS | FUNCTIONAL_ELEMENTS
        if not name.startswith("-"):  # Chromium's own prefixed names are no likely meaning of a plain one
            names = frozenset(n for n in names if not n.startswith("-"))
        close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.7)
        if close:
            return f"unknown {kind} {shown}; did you mean {colons + close[0]!r}?"
        other = "::" if colons == ":" else ":"
        if not name.startswith("-webkit-") and known(name, other, function):
            other_kind = "pseudo-class" if other == ":" else "pseudo-element"
            return f"{shown} is unknown: {name} is a {other_kind}, written {other + name}"
        if colons == "::":
            return f"unknown pseudo-element {shown}: not one Chromium knows"
        return (f"unknown pseudo-class {shown}: not one Chromium knows (:contains(), :visible, :eq() and "
                ":has-text() of jQuery and test tools are not CSS)")

    def pseudo_arguments(self, name: str, element: bool, tok: Token) -> None:
        s = self.s
        if not element and name in ("is", "where"):
            with self.within():
                if self.ctx.compound_only:
                    self.forgiving_compound_list()
                else:
                    self.forgiving_list()
        elif name in ("host", "host-context", "-webkit-any", "cue"):
            with self.within(compound_only=True):
                if self.compound_list() > 1 and name.startswith("host"):
                    raise self.fail(tok, f":{name}() takes one compound selector")
        elif name == "has":
            with self.within(in_has=True):
                self.relative_list(tok)
        elif name == "not":
            with self.within():
                if self.ctx.compound_only:
                    self.compound_list()
                else:
                    self.complex_list()
        elif name == "slotted":
            with self.within(compound_only=True):
                self.compound_required()
                s.skip_ws()
        elif name in ("nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type"):
            self.nth(name)
        elif name in ("dir", "state", "lang", "highlight"):
            self.one_ident(name)
        elif name == "picker":
            arg = s.peek()
            if arg.kind != "ident" or ascii_lower(arg.value) != "select":
                raise self.fail(arg, "::picker() takes select", "write ::picker(select)")
            s.consume()
            s.skip_ws()
        elif name == "scroll-button":
            arg = s.peek()
            value = arg.value if arg.kind == "ident" else "*" if arg.kind == "delim" and arg.value == "*" else ""
            if ascii_lower(value) not in SCROLL_DIRECTIONS:
                raise self.fail(arg, "::scroll-button() takes *, up, down, left, right, block-start, block-end, "
                                "inline-start or inline-end")
            s.consume()
            s.skip_ws()
        elif name == "part":
            self.one_ident(name)
            while not s.at_end():
                self.one_ident(name)
        elif name == "active-view-transition-type":
            self.one_ident(name)
            while s.peek().kind == ",":
                s.consume()
                s.skip_ws()
                self.one_ident(name)
        else:  # the view-transition pseudo-elements
            self.transition_name(name)

    def one_ident(self, name: str) -> None:
        s = self.s
        arg = s.peek()
        if arg.kind != "ident":
            raise self.fail(arg, f"{name}() takes a name here, not {_shown(arg, self.text)}",
                            f"write e.g. {name}({_sample_argument(name)})")
        s.consume()
        s.skip_ws()

    def transition_name(self, name: str) -> None:
        s = self.s
        tok = s.peek()
        if tok.kind == "delim" and tok.value == "*":
            s.consume()
        elif not (tok.kind == "delim" and tok.value == "."):
            self.custom_ident(name)
        while not s.at_end() and s.peek().kind != "ws":  # (a name takes the whitespace after it, `*` not)
            dot = s.consume()
            if not (dot.kind == "delim" and dot.value == "."):
                raise self.fail(dot, f"::{name}() takes a name and .classes, e.g. ::{name}(card.open)")
            self.custom_ident(name)
        s.skip_ws()

    def custom_ident(self, name: str) -> None:
        tok = self.s.peek()
        if tok.kind != "ident" or ascii_lower(tok.value) in NOT_CUSTOM_IDENTS:
            raise self.fail(tok, f"::{name}() takes a name (not a CSS keyword) here, not {_shown(tok, self.text)}")
        self.s.consume()
        self.s.skip_ws()

    # -- An+B --
    def nth(self, name: str) -> None:
        s = self.s
        start = s.peek()
        if not self.an_plus_b():
            raise self.fail(start, f":{name}() needs An+B, e.g. odd, even, 3, 2n+1 or -n+3",
                            f"write e.g. :{name}(2n+1)")
        s.skip_ws()
        if s.at_end():
            return
        word = s.peek()
        if name not in ("nth-child", "nth-last-child") or word.kind != "ident" or word.value != "of":
            raise self.unexpected(word, "')' after An+B (only :nth-child and :nth-last-child take 'of S')")
        s.consume()
        s.skip_ws()
        self.complex_list()
        s.skip_ws()

    def an_plus_b(self) -> bool:
        s = self.s
        if s.at_end() or s.ends[s.pos] >= 0:
            return False
        tok = s.consume()
        if tok.kind == "number" and tok.integer:
            return True
        if tok.kind == "ident" and ascii_lower(tok.value) in ("odd", "even"):
            return True
        n = ""
        if tok.kind == "delim" and tok.value == "+" and s.peek().kind == "ident":
            n = s.consume().value
        elif tok.kind == "dimension" and tok.integer:
            n = tok.value
        elif tok.kind == "ident":
            n = tok.value[1:] if tok.value.startswith("-") else tok.value
        s.skip_ws()
        if not n or n[0] not in "nN" or (len(n) > 1 and n[1] != "-"):
            return False
        if len(n) > 2:
            digits = n[2:]
            return digits.isascii() and digits.isdigit() and int(n[1:]) >= -(2**31)
        sign = "" if len(n) == 1 else "-"
        if not sign and s.peek().kind == "delim":
            sign = s.consume().value
            s.skip_ws()
            if sign not in "+-":
                return False
        if not sign and s.peek().kind != "number":
            return True
        b = s.peek()
        if b.kind != "number" or not b.integer or (not b.signed) == (not sign):
            return False
        s.consume()
        return True

    # -- messages --
    def expected_selector(self, tok: Token) -> _Invalid:
        if tok.kind == "eof":
            return self.fail(tok, "a selector is missing at the end", "remove the trailing ',' or combinator")
        written = self.text[tok.start : tok.end]
        if tok.kind in ("number", "dimension", "percentage") and written.startswith("."):
            return self.fail(tok, f"{written!r} is not a class selector: a class name cannot start with a digit",
                             f"escape the digit: .\\{ord(written[1]):x} {written[2:]}")
        return self.fail(tok, f"expected a selector, found {_shown(tok, self.text)}")

    def unexpected(self, tok: Token, expected: str = "") -> _Invalid:
        shown = _shown(tok, self.text)
        if tok.kind in ("bad-string",):
            return self.fail(tok, "a quoted string is broken by a line break", "close the quote on the same line")
        if tok.kind == "{" or tok.kind == "}":
            return self.fail(tok, f"unexpected {shown}", "a placeholder is written {name}; a literal brace {{ or }}")
        return self.fail(tok, f"unexpected {shown}" + (f" (expected {expected})" if expected else ""))


def _sample_argument(name: str) -> str:
    return {"not": ".hidden", "is": "a, button", "where": "a, button", "has": "> img", "lang": "en", "dir": "ltr",
            "picker": "select", "scroll-button": "up", "part": "label"}.get(name, "2n+1" if name.startswith("nth")
                                                                              else "x")


def _escaped_id(name: str) -> str:
    return "#\\" + format(ord(name[0]), "x") + " " + name[1:] if name else "#name"


def _raw(tok: Token, text: str) -> str:
    return text[tok.start : tok.end].replace('"', '\\"') if tok.kind != "eof" else "value"
