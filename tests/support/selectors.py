"""CSS selectors with Chromium's verdict on each (`document.querySelector` accepts it, or throws): what
tests/unit/test_css_selectors.py holds loadorch's validator to, and tests/integration/test_css_selectors.py
checks against real headless Chromium (so these lists are Chromium's word, not ours)."""

from __future__ import annotations

import random

VALID = [
    # type, universal, namespaces (only *| and | are declared for querySelector)
    "div", "DIV", "x-widget", "*", "*|div", "|div", "*|*", "|*", "\\*|*#a", "é", "_a", "-a", "--a",
    # ids, classes, escapes
    "#checkout", "#-a", "#--", "#_", "#\\31 23", "#\\0", "#a\\", "#my\\.id", ".btn.primary", ".--", ".\\31",
    ".a\\:b", "#a.b#c.d", "div\\",
    # attributes: operators, values, the i flag, spaces, the end closing a bracket or a string
    "[href]", "[ href ]", "[data-x=y]", '[data-x="a b"]', "[data-x='a']", '[a=""]', "[a=-b]", "[a=--b]",
    "[a^=b][a$=b][a*=b][a~=b][a|=b]", "[a=b i]", "[a=b I]", '[a="b"i]', "[ a = b ]", "[a=b i ]", "[|a]",
    "[*|a]", "[\\*]", "[-a]", "[a=\\]", 'input[name="q"]', "a[href^='https://']", "div[foo", "a[href",
    '[a="b]', '[lang="en', 'div[a="b"',
    # combinators
    "a b", "a > b", "a>b", "a + b", "a~b", "a  >  b  ~  c + d", "  div  ", "a,b", "a , b", "a\tb", "a\nb",
    "form > input:nth-child(2)", "ul li:first-child a", "#app > div.main ul li:nth-child(2) a",
    # pseudo-classes
    ":hover", ":HOVER", ":h\\over", ":checked", ":focus-visible", ":focus-within", ":any-link", ":-webkit-any-link",
    ":popover-open", ":open", ":modal", ":user-valid", ":user-invalid", ":target-current", ":placeholder-shown",
    ":read-only", ":defined", ":scope", ":root", ":empty", ":first-of-type", ":only-child", ":autofill",
    ":-webkit-autofill", ":fullscreen", ":picture-in-picture", ":state(x)", ":state(--x)", ":dir(ltr)",
    ":lang(en)", ":lang(en-US)", ":host", ":host(.a)", ":host-context(.dark)", ":-webkit-any(a, b)",
    ":active-view-transition-type(a, b)", ":active-view-transition",
    # :not :is :where :has
    ":not(.hidden)", ":not(a, b c)", ":not(:not(a))", "a:not([disabled])", ":is(a, button)", ":is()", ":where()",
    ":is(:nope)", ":is(::before)", ":is(a::before)", ":where(a, ::before)", ":is(a,,b)", ":is(,a)", ":where(,)",
    ":is(})", ":is(])", ":is(;)", ":is(a])", ":is((a)", ":is(a,(b),c)", ":is(a, {b} ,c)", "div:is(p",
    "div:is(p,", ":is(url(x))", ":has(> img)", ":has(+ a, ~ b, > c, d)", "label:has(> input:checked)",
    ":has(:is(a))", ":has(:is(:has(a)))", ":is(:has(a))", ":not(:has(a))",
    # :nth-*
    ":nth-child(2n+1)", ":nth-child(odd)", ":nth-child(EVEN)", ":nth-child(-n+3)", ":nth-child(2n + 1)",
    ":nth-child( 3 )", ":nth-child(n)", ":nth-child(+n)", ":nth-child(-N+1)", ":nth-child(2N+1)",
    ":nth-child(n- 2)", ":nth-child(n +1)", ":nth-child(-n- 3)", ":nth-child(0)",
    ":nth-child(-1)", ":nth-child(n-2147483648)", ":nth-child(2n+1 of .a)", ":nth-child(2n of .x, b)",
    ":nth-child(1 of ::before)", ":nth-last-child(2 of li.item)", ":nth-of-type(3)", ":nth-last-of-type(1)",
    # pseudo-elements, and what may follow them
    "::before", "::after", ":before", "div:before", "p::first-line", "::placeholder", "::selection", "::marker",
    "::backdrop", "::file-selector-button", "::cue", "::cue(b)", "::slotted(a)", "::part(a b)",
    "::highlight(x)", "::picker(select)", "::picker(SELECT)", "::scroll-button(*)", "::scroll-button(up)",
    "::scroll-marker", "::column::scroll-marker", "::view-transition", "::view-transition-group(*)",
    "::view-transition-group(a.b)", "::view-transition-group(.b)", "::view-transition-group(a .b)",
    "::view-transition-group(none)", "::view-transition-old(a)", "::-webkit-scrollbar",
    "::-webkit-scrollbar:horizontal", "::-webkit-scrollbar-thumb:hover", "::-webkit-x", "::-WEBKIT-x",
    "::-webkit-", "::-webkit-x:hover", "::-webkit-scrollbar:not(:hover)", "::before::marker", "::after::marker",
    "::part(a):hover", "::part(a)::before", "::part(a):hover::before", "::slotted(a)::before::marker",
    "::selection:window-inactive", "::search-text:current", "::scroll-marker:target-current",
    "::scroll-button(*):disabled", "::view-transition-new(a):only-child", "::before:is(:hover)",
    "::before:where()", "::before::marker:is(a)", "::file-selector-button:hover", "a ::before", "a > ::after",
    # nesting selector, comments
    "&", "&&", "div &", "div&", "&.a", "*&", "a/**/ b", "/* c */ a", "a /* unclosed",
]

INVALID = [
    # the brief's: a bracket with nothing in it, a bare #, a test tool's combinator, an unknown pseudo-element
    "button[", "#", "div >> p", "div >>> p", "::nope(",
    # unbalanced quotes and parentheses (a quote or a block the end closes is accepted: see VALID)
    'a"b', "'", 'div"', "div)", "(", "div(", ":is(a))", ":not(a])", "[a=b)]", "[a=b]]", "a]", "}", "{a}",
    # empty, lists, combinators
    "", "  ", "div,", ",div", "a,,b", ">a", "a>", "a >", "+ a", "a ~", "a||b", "a | b", "a|", "a/**/b", "a\\\nb",
    # names, namespaces, numbers
    "#1a", "#-1", "#-", ".1a", ".-1", ".-", ". a", "1", "ns|div", "ns|*", "[ns|a]", "ns|a.b", "&div", "<!--",
    "-->", "@a", "a;", "url(x)", "%",
    # attributes
    "[*]", "[1a]", '["a"]', "[a|b]", "[a==b]", "[a!=b]", "[a=1]", "[a=-]", "[a=#b]", "[a=b c]", "[a=b s]",
    "[a=b x]", "[a=b i i]", '[a="b\nc"]', "[a b]", "[]",
    # pseudo-classes
    ":nope", ":hovr", ":visible", ":contains(x)", 'div:contains("x")', ":eq(1)", 'button:has-text("x")',
    ":hover()", ":hover(1)", ":not", ":not()", ":not(,a)", ":not(a,)", ":not(::before)", ":has()", ":has(a,)",
    ":has(a >)", ":has(> > a)", ":has(:has(a))", ":has(:not(:has(a)))", "a:has(::before)", ":lang()",
    ':lang("en")', ":lang(en, fr)", ":lang(*-fr)", ":dir()", ":state()", ":state(a b)", ":host(a,b)",
    ":host(:has(a))", ":-webkit-any(a b)", ":-webkit-any(a,)", ":-webkit-foo", ":marker", "::hover",
    ":active-view-transition-type()", ":active-view-transition-type(a,)", ":is(a {b})", ":",
    # :nth-*
    ":nth-child", ":nth-child()", ":nth-child(x)", ":nth-child(+ 2n)", ":nth-child(n+)", ":nth-child(n-)",
    ":nth-child(n + +1)", ":nth-child(n - -1)", ":nth-child(2n+ -1)", ":nth-child(1.0)", ":nth-child(1e1)", ":nth-child(2.0n)",
    ":nth-child(-odd)", ":nth-child(3 4)", ":nth-child(odd of)", ":nth-child(2n OF a)", ":nth-child(1of a)",
    ":nth-child(n-2147483649)", ":nth-of-type(1 of a)",
    # pseudo-elements, and what may not follow them
    "::befor", "::-internal-foo", "::-webkit-x(a)", "::-webkit-any-link", "::picker(x)", "::scroll-button(x)",
    "::slotted()", "::slotted(a b)", "::slotted(a,b)", "::slotted(:has(a))", "::part()", "::part(a,b)",
    "::highlight(\"x\")", "::view-transition-group(initial)", "::view-transition-group(default)",
    "::view-transition-group(a. b)", "::view-transition-group(a b)", "::view-transition-group(* .b)",
    "::before:hover", ":before:hover", "div::before.x", "::before#a", "::before[a]", "::before&",
    "::before::after", "::before > a", "a::before b", ":before b", "::before a", "::before:not(.a)",
    "::placeholder:hover", "::marker:hover", "::placeholder::marker", "::-webkit-x::before",
    "::-webkit-scrollbar::-webkit-scrollbar", "::part(a).x", "::part(a):has(b)", "::part(a)::before:hover",
    "::part(a):first-child", "::slotted(a):hover", "::column:hover", "::cue(a):hover", ":first-line::marker",
    "::part(a):is(div)div",
]


def fuzz_selectors(seed: int, count: int) -> list[str]:
    """`count` strings of CSS's significant characters and words, from a seeded stream: most are refused,
    some accepted, and between them they reach every corner of the tokenizer and the parser."""
    rng = random.Random(seed)
    alphabet = [*'abn-_1.#[]()=~|^$*:,>+ "\'\\/\n\t{}@%!<eé&?', "is(", "not(", "has(", "nth-child(", ":hover",
                "::before", "url(", "/*", "*/", "<!--", "-->", "e5", ".5", "+.5", "of ", "odd", "div", "where(",
                "lang(", "i]", "::part(", "::slotted(", ":host(", "2n+1", "-n", "::-webkit-x", "::marker"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(count)]
