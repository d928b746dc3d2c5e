"""The CSS selector validator (loadorch/config/css), pure: Chromium's verdicts on a list of selectors (checked
against real Chromium in tests/integration/test_css_selectors.py), and what a refusal says."""

from __future__ import annotations

import pytest

from loadorch.config.css import selector_error
from loadorch.config.css.tokens import block_ends, tokenize
from tests.support.selectors import INVALID, VALID


@pytest.mark.parametrize("selector", VALID)
def test_what_chromium_accepts_is_accepted(selector: str) -> None:
    assert selector_error(selector) is None


@pytest.mark.parametrize("selector", INVALID)
def test_what_chromium_refuses_is_refused(selector: str) -> None:
    assert selector_error(selector) is not None


@pytest.mark.parametrize(("selector", "position", "what", "fix"), [
    ("button[", 7, "'[' must be followed by an attribute name", "[name=value]"),
    ("#", 1, "expected a selector, found '#'", "write a CSS selector"),
    ("div >> p", 6, "'>>' is not a CSS combinator", "'>', '+', '~'"),
    ("::nope(", 3, "unknown pseudo-element ::nope(", "::before"),
    ('a"b', 2, "unexpected '\"b'", "write a CSS selector"),
    ("div)", 4, "unexpected ')'", "write a CSS selector"),
    ("#1a", 1, "not an id selector", '[id="1a"]'),
    (".1a", 1, "not a class selector", ".\\31 a"),
    ("ns|div", 1, "namespace prefix 'ns|' is not declared", "*|"),
    ("[data-x=1]", 9, "the attribute value '1' is neither a name nor a quoted string", '[name="1"]'),
    ("[a=b s]", 6, "unknown attribute flag 's'", "quote a value with spaces"),
    (":hovr", 2, "did you mean ':hover'?", ""),
    (":hover()", 2, ":hover takes no parentheses", ""),
    (":nth-child", 2, "needs an argument in parentheses", ""),
    (":nth-child(x)", 12, "needs An+B", ":nth-child(2n+1)"),
    ("::hover", 3, "hover is a pseudo-class, written :hover", ""),
    ("::before:hover", 9, "':hover' cannot follow the pseudo-element ::before", "a.active::before"),
    ("::before > a", 9, "nothing may follow a pseudo-element's compound", ""),
    (":has(:has(a))", 7, ":has() cannot be nested inside :has()", ""),
    ("a >", 3, "nothing follows the combinator '>'", ""),
    ("div,", 5, "a selector is missing at the end", "trailing ','"),
    ("", 1, "the selector is empty", ""),
    ("text=Login", 5, "unexpected '='", "text=, xpath= and >> of test tools are not CSS"),
])
def test_a_refusal_says_where_what_and_the_fix(selector: str, position: int, what: str, fix: str) -> None:
    error = selector_error(selector)
    assert error is not None
    assert error.position == position and what in error.what and fix in error.fix, error
    assert str(error) == f"{error.what} (at character {position}); {error.fix}"


def test_tokens_follow_css_syntax() -> None:
    kinds = [(t.kind, t.value) for t in tokenize('a#b.c[d~="e\\"f"]:g(+2n-1)/* x */url( y )-->')][:-1]
    assert kinds == [("ident", "a"), ("hash", "b"), ("delim", "."), ("ident", "c"), ("[", "["), ("ident", "d"),
                     ("~=", "~="), ("string", 'e"f'), ("]", "]"), (":", ":"), ("function", "g"),
                     ("dimension", "n-1"), (")", ")"), ("url", "y"), ("cdc", "-->")]
    assert [t.is_id for t in tokenize("#a #1 #-a #-1")[:-1] if t.kind == "hash"] == [True, False, True, False]
    two = tokenize("+2 2.0 -3e1")
    assert [(t.kind, t.integer, t.signed) for t in two if t.kind == "number"] == [
        ("number", True, "+"), ("number", False, ""), ("number", False, "-")]
    assert tokenize("\\31 a")[0].value == "1a" and tokenize("'a\nb'")[0].kind == "bad-string"


def test_blocks_close_at_their_own_closer_or_at_the_end() -> None:
    tokens = tokenize(":is([a)]")  # the `)` inside `[` closes nothing
    ends = block_ends(tokens)
    assert [tokens[i].kind for i, e in enumerate(ends) if e >= 0] == ["function", "["]
    assert tokens[ends[2]].kind == "]" and ends[1] == len(tokens) - 1  # the function: closed by the end
