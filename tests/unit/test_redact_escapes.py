"""A secret a target echoes in an escaping the product does not write itself (HTML character references, percent-
escapes of any case or of every byte, `+` for a space, `\\u` escapes, mixed, escaped twice) is masked, as a whole
span of the original text; a cut that splits such an escape leaves no part of the secret; a text with no `&`, `%`
or `\\` is never decoded."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from urllib.parse import quote, unquote_plus

import pytest

from loadorch.traffic import escapes
from loadorch.traffic.redact import MASK, Redactor, encodings

SECRET = "CANARYtok/9f3e+1b7c=2d"  # '/', '+', '=' are escaped by some and not by others
SPACED = "open sesame/é"  # a space (`+` in forms) and a character UTF-8 writes in two bytes


def hex_refs(s: str, case: str = "x{:X}") -> str:
    return "".join(f"&#{case.format(ord(c))};" for c in s)


def each_byte(s: str) -> str:
    return "".join(f"%{b:02x}" for b in s.encode())


# (name, the secret as a target echoed it): none of these is one of `encodings`
ECHOED = [
    ("hex reference, upper", SECRET.replace("/", "&#x2F;")),
    ("hex reference, lower", SECRET.replace("/", "&#x2f;").replace("+", "&#X2b;")),
    ("decimal reference", SECRET.replace("/", "&#47;").replace("=", "&#61;")),
    ("leading zeros", SECRET.replace("/", "&#0047;").replace("+", "&#x00002B;")),
    ("no semicolon", SECRET.replace("k", "&#107").replace("Y", "&#x59")),  # what follows is no digit
    ("every character, decimal", "".join(f"&#{ord(c)};" for c in SECRET)),
    ("every character, hex", hex_refs(SECRET, "x{:x}")),
    ("named: sol", SECRET.replace("/", "&sol;")),
    ("named: equals and plus", SECRET.replace("=", "&equals;").replace("+", "&plus;")),
    ("percent, lower case", quote(SECRET, safe="").replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d")),
    ("percent, every byte", each_byte(SECRET)),
    ("percent, only some", SECRET.replace("C", "%43").replace("/", "%2f")),
    ("json, every character", "".join(f"\\u{ord(c):04x}" for c in SECRET)),
    ("json, upper hex, slash", SECRET.replace("/", "\\/").replace("+", "\\u002B")),
    ("mixed in one", "CANARY%74ok&#x2f;9f3e\\u002b1b7c&#61;2d"),
    ("percent-encoded twice", SECRET.replace("/", "%252f").replace("+", "%252B")),
    ("percent of a reference", SECRET.replace("/", "%26%2347%3b")),
]


@pytest.mark.parametrize(("name", "echoed"), ECHOED, ids=[n for n, _ in ECHOED])
def test_a_secret_echoed_in_an_escaping_of_its_own_is_masked_whole(name: str, echoed: str) -> None:
    r = Redactor([SECRET])
    assert echoed not in encodings(SECRET) and echoed != SECRET
    assert r.text(f"<p>bad token {echoed}.</p>") == f"<p>bad token {MASK}.</p>", name
    assert r.text(echoed) == MASK  # at the start and the end of the text
    assert r.text(f"{echoed} then {echoed}") == f"{MASK} then {MASK}"


@pytest.mark.parametrize("named", ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&apos;", "&sol;", "&AMP", "&lt"])
def test_named_references_of_the_characters_that_have_them(named: str) -> None:
    secret = "tok-9f3e" + html.unescape(named) + "1b7c"
    r = Redactor([secret])
    assert r.text(f"x tok-9f3e{named}1b7c y") == f"x {MASK} y"


def test_form_encoding_of_a_secret_with_a_space_and_non_ascii() -> None:
    r = Redactor([SPACED])
    for echoed in ("open+sesame/é",  # `+` alone: a written form (no other escape in the text)
                   "open+sesame%2f%c3%a9", "open%20sesame%2F%C3%A9", each_byte(SPACED), "open+sesame&#x2F;&eacute;",
                   "open\\u0020sesame\\/\\u00e9", "open+sesame/%C3%A9"):
        assert r.text(f"q={echoed}&page=2") == f"q={MASK}&page=2", echoed
    plus = Redactor(["a+b=c/dd"])  # a `+` of the secret's own still matches itself, escaped or not
    for echoed in ("a+b=c%2fdd", "a%2bb%3dc%2Fdd", "a&#43;b&#61;c&#47;dd"):
        assert plus.text(f"[{echoed}]") == f"[{MASK}]", echoed


def test_a_secret_outside_the_basic_plane_in_json_surrogates() -> None:
    secret = "key-\U0001f511-9f3e1b7c"
    r = Redactor([secret])
    assert r.text(json.dumps({"k": secret})) == '{"k": "***"}'
    assert r.text("x key-\\uD83D\\uDD11-9f3e1b7c") == "x ***"
    assert r.text("x key-%f0%9f%94%91-9f3e1b7c") == "x ***"
    assert r.text("x key-&#128273;-9f3e1b7c") == "x ***"


def test_what_only_looks_like_an_escape_or_part_of_a_secret_is_kept() -> None:
    r = Redactor([SECRET])
    for text in ("100% sure & done \\ ok", "a=1&amp;b=2 %zz &#xZZ; &nosuchname; \\q", "CANARYtok&#x2F;9f3e",
                 "CANARYtok%2f9f3e+1b7c=2e", "&#99999999999; &#x110000; %ff%fe", "tok&#47;9f3e+1b7c=2d"):
        assert r.text(text) == text, text


def test_overlapping_secrets_and_a_secret_inside_anothers_escaped_form() -> None:
    """`ab/cd-1234567` and `cd-1234567` (the second a part of the first): the first echoed escaped is masked
    whole, not broken up by the second's own mask first (which would leave `ab/` shown)."""
    long, short = "ab/cd-1234567", "cd-1234567"
    r = Redactor([short, long])
    assert r.text("x ab%2fcd-1234567 y") == "x *** y"
    assert r.text("x ab&#47;cd-1234567 y cd-1234567") == "x *** y ***"
    r = Redactor(["aXa-9f3e1b7c", "9f3e1b7c-zz"])  # two secrets that overlap in the text: one mask over both
    assert r.text("[aXa-9f3e1b7c&#45;zz]") == "[***]"
    assert Redactor(["abab-abab"]).text("ab&#97;b-abab-abab") == "***"
    # a secret holding an escape as written (`%41`) overlapped by another's escaped form: masked as written too,
    # not only what is left of it once the other is masked (`%41ss-word1` would be shown)
    r = Redactor(["p%41ss-word1", "xy/p"])
    assert r.text("[xy%2fp%41ss-word1]") == "[***]"


def test_the_result_never_shows_what_the_written_forms_would_have_masked() -> None:
    """The text holds escapes (the decoded masking runs) and the written forms too: none of those is left."""
    r = Redactor([SECRET, SPACED])
    for form in encodings(SECRET) | encodings(SPACED):
        for text in (f"%41 {form} &#65;", f"{form}&amp;{form}", f"\\u0041{form}{hex_refs(SECRET)}"):
            out = r.text(text)
            assert all(f not in out for f in encodings(SECRET) | encodings(SPACED)), (text, out)


def test_a_text_with_no_escape_character_is_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common path (a failure reason, a name) stays the plain search for the written forms."""

    def refuse(*_: object) -> list[tuple[int, int]]:
        raise AssertionError("decoded")

    monkeypatch.setattr(escapes, "found", refuse)
    monkeypatch.setattr(escapes, "open_end", refuse)
    r = Redactor([SECRET])
    assert r.text(f"status 500: bad token {SECRET} (x)") == "status 500: bad token *** (x)"
    assert r.cut("y" * 50 + SECRET[:12], 55, more="") == "y" * 50
    assert Redactor().text("a%2fb&amp;") == "a%2fb&amp;"  # no secrets: nothing to decode for


def test_a_requests_own_redactor_decodes_its_credentials_too() -> None:
    run = Redactor(["run-secret-123"])
    mine = run.plus({"cap+Tok/abc123=="})
    assert mine.text("a cap%2btok%2fabc123%3d%3d b") == "a cap%2btok%2fabc123%3d%3d b"  # not it: case of `Tok`
    assert mine.text("a cap%2bTok%2fabc123%3d%3d run&#45;secret-123") == "a *** ***"


def _unicode_escapes(text: str) -> str:
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


# (name, the secret escaped every character, a decoder that owes nothing to escapes.py)
STYLES: list[tuple[str, Callable[[str], str], Callable[[str], str]]] = [
    ("hex references", hex_refs, html.unescape),
    ("decimal, leading zeros", lambda s: "".join(f"&#000{ord(c)};" for c in s), html.unescape),
    ("named and numeric", lambda s: s.replace("/", "&sol;").replace(" ", "&#32;").replace("é", "&eacute;"),
     html.unescape),
    ("percent, every byte", each_byte, unquote_plus),
    ("percent, lower case, plus", lambda s: quote(s, safe="").replace("%2F", "%2f").replace("%20", "+"), unquote_plus),
    ("json", lambda s: "".join(f"\\u{ord(c):04x}" for c in s), _unicode_escapes),
    ("mixed", lambda s: s[:4] + "%2f&#101;\\u0074" + s[7:].replace(" ", "+").replace("é", "%C3%A9"),
     lambda t: _unicode_escapes(html.unescape(unquote_plus(t)))),
]


@pytest.mark.parametrize(("name", "encode", "decode"), STYLES, ids=[s[0] for s in STYLES])
def test_a_cut_that_splits_an_escaped_secret_leaves_no_part_of_it(
    name: str, encode: Callable[[str], str], decode: Callable[[str], str]
) -> None:
    """A body read up to a bound (the text ends anywhere inside the escaped secret, even inside one escape:
    `&#x2`, `%c`, `\\u00`), then cut shorter: whatever the two bounds, the decoded result holds no character of
    the secret (the text around it holds none either), and a whole secret shows as the mask."""
    secret = "s3cr/et+Tok én"
    r = Redactor([secret])
    text = "zz-" + encode(secret) + "-zz"
    assert r.text(text) == "zz-***-zz"
    for read in range(len(text) + 1):
        for limit in range(read):
            out = r.cut(text[:read], limit, more="")
            assert not set(decode(out)) & set(secret), (read, limit, out)
            assert len(out) <= limit


def test_a_cut_keeps_what_precedes_an_escape_that_begins_no_secret() -> None:
    r = Redactor([SECRET])
    assert r.cut("status: a&#x2F;b and more " + "x" * 40, 20, more="...") == "status: a&#x2F;b ..."
    assert r.cut("see CANARY&#x74;o" + "x" * 40, 17, more="") == "see "  # `CANARYto` decoded: a start
    assert r.cut("p" * 20 + "&#x4", 22, more="") == "p" * 20  # what the split escape was is unknown: it goes
    assert r.cut("p" * 20 + "&am" + "x" * 9, 23, more="") == "p" * 20  # `&amp;` cut short
    assert r.cut("see ?page=1&sort=asc", 16, more="") == "see ?page=1&sort"  # `&sort` begins no reference
    assert Redactor(["Ab-zz-123456"]).cut("x%%41b" + "q" * 9, 6, more="") == "x"  # `%41b` is `Ab`, then `%` left
