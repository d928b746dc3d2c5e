"""Whether Chromium's `document.querySelector` accepts a CSS selector, and if not, where and why.

A browser journey's `click`, `type` and `wait_for` steps name their element with a CSS selector, and the
browser worker asks the page's `document.querySelector` for it: one it refuses would fail every journey
at run time. This reads a selector the way Chromium does, written from Selectors Level 4 and CSS Syntax
Level 3 with Chromium's own choices where they differ or the spec leaves room:

- a selector list of complex selectors: compounds joined by descendant (whitespace), `>`, `+` and `~`;
  a compound is an optional type selector (`div`, `*`, `*|div`, `|div`: a namespace prefix other than `*`
  or none is undeclared for querySelector) followed by `#id`, `.class`, `[attribute]`, pseudo-classes,
  pseudo-elements and `&`;
- attribute selectors `[name]`, `[name op value flag]` with `=` `~=` `|=` `^=` `$=` `*=`, an identifier or
  string value and the flag `i` (Chromium does not take `s`);
- pseudo-classes and pseudo-elements by name (ASCII case-insensitive) from Chromium's own lists (names.py),
  `::-webkit-*` names being accepted as Chromium's custom pseudo-elements;
- `:is()` and `:where()` forgive (an argument Chromium cannot read is dropped, so `:is()` is valid),
  `:not()` and `:has()` (relative selectors, no `:has` or pseudo-element inside) do not; `:host()`,
  `:host-context()`, `::slotted()`, `::cue()` and `:-webkit-any()` take compounds; `:nth-child(An+B of S)`;
- after a pseudo-element only what Chromium allows there (`::before::marker`, `::part(x):hover`,
  `::-webkit-scrollbar:horizontal`), and no further compound (`::before > a` is refused).

The lists of names and what may follow each pseudo-element were read from Chromium 156 itself (every name
in its binary tried with `document.querySelector`); tests/integration/test_css_selectors.py compares this
module's verdict with real headless Chromium for a list of valid and invalid selectors.
"""

from loadorch.config.css.parser import SelectorError, selector_error

__all__ = ["SelectorError", "selector_error"]
