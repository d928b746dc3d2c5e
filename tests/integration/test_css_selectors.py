"""The CSS selector validator against real headless Chromium: for every selector listed in tests/support/selectors.py,
every name the validator knows, every pseudo-element followed by every simple selector, and a seeded stream of
random ones, our verdict is `document.querySelector`'s (it throws, or not). `validate` must never refuse a selector
Chromium accepts, nor accept one it refuses (the browser worker would fail the step in every iteration)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from loadorch.config.css import names, selector_error
from tests.support.selectors import INVALID, VALID, fuzz_selectors

from .cdp import Browser

pytestmark = pytest.mark.chromium

ARGUMENTS = {"not": "a", "is": "a", "where": "a", "has": "a", "dir": "ltr", "lang": "en", "state": "a", "host": "a",
             "host-context": "a", "-webkit-any": "a", "active-view-transition-type": "a", "nth-child": "1",
             "nth-last-child": "1", "nth-of-type": "1", "nth-last-of-type": "1", "cue": "a", "highlight": "a",
             "part": "a", "picker": "select", "scroll-button": "*", "slotted": "a"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        b.open("data:text/html,<!doctype html><title>selectors</title><p class=a>x</p>")
        yield b
    finally:
        b.close()


def chromium_accepts(browser: Browser, selectors: list[str]) -> list[bool]:
    """Whether `document.querySelector` accepts each selector (does not throw)."""
    out: list[bool] = []
    for i in range(0, len(selectors), 5000):
        chunk = json.dumps(selectors[i : i + 5000])
        verdicts = browser.evaluate(f"{chunk}.map(s => {{ try {{ document.querySelector(s); return true; }} "
                                    "catch (e) { return false; } })")
        out += verdicts
    assert len(out) == len(selectors)
    return out


def disagreements(browser: Browser, selectors: list[str]) -> list[tuple[str, bool]]:
    """(selector, Chromium's verdict) wherever ours differs."""
    return [(s, ok) for s, ok in zip(selectors, chromium_accepts(browser, selectors), strict=True)
            if (selector_error(s) is None) != ok]


def test_the_listed_verdicts_are_chromiums_and_ours(browser: Browser) -> None:
    assert chromium_accepts(browser, VALID) == [True] * len(VALID)
    assert chromium_accepts(browser, INVALID) == [False] * len(INVALID)
    assert disagreements(browser, VALID + INVALID) == []


def test_every_name_the_validator_knows_chromium_knows(browser: Browser) -> None:
    known = ([f":{n}" for n in sorted(names.PSEUDO_CLASSES | names.LEGACY_ELEMENTS)]
             + [f":{n}({ARGUMENTS[n]})" for n in sorted(names.FUNCTIONAL_CLASSES)]
             + [f"::{n}" for n in sorted(names.PSEUDO_ELEMENTS)]
             + [f"::{n}({ARGUMENTS.get(n, 'a')})" for n in sorted(names.FUNCTIONAL_ELEMENTS)])
    assert chromium_accepts(browser, known) == [True] * len(known)
    # and the other way round, names next to them that neither knows
    unknown = [f":{n}x" for n in sorted(names.PSEUDO_CLASSES)] + [f"::{n}x" for n in sorted(names.PSEUDO_ELEMENTS)
                                                                    if not n.startswith("-webkit-")]
    assert disagreements(browser, unknown) == []


def test_what_may_follow_each_pseudo_element_is_chromiums(browser: Browser) -> None:
    elements = ([f"::{n}" for n in sorted(names.PSEUDO_ELEMENTS)] + ["::-webkit-slider-thumb", ":before"]
                + [f"::{n}({ARGUMENTS.get(n, 'a')})" for n in sorted(names.FUNCTIONAL_ELEMENTS)])
    following = ([f":{n}" for n in sorted(names.PSEUDO_CLASSES)]
                 + [f":{n}({ARGUMENTS[n]})" for n in sorted(names.FUNCTIONAL_CLASSES)]
                 + [":not(:hover)", ":is(:hover)", ":where()"] + [e for e in elements if e != ":before"]
                 + [".a", "#a", "[a]", "&", "*", " a", " > a"])
    pairs = [e + f for e in elements for f in following]
    assert disagreements(browser, pairs) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_selectors_get_chromiums_verdict(browser: Browser, seed: int) -> None:
    selectors = fuzz_selectors(seed, 4000)
    accepted = chromium_accepts(browser, selectors)
    assert 0 < sum(accepted) < len(selectors)  # both verdicts are exercised
    assert disagreements(browser, selectors) == []
