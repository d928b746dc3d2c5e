"""The pseudo-classes and pseudo-elements Chromium's querySelector takes, and what may follow each pseudo-element.

Read from Chromium 156 itself: every lower-case name in its binary was tried with `document.querySelector` as
`:name`, `::name`, `:name(...)` and `::name(...)`, and every pseudo-element followed by every simple selector;
tests/integration/test_css_selectors.py keeps these lists honest against the Chromium the tests run.
"""

from __future__ import annotations

USER_ACTION = frozenset({"active", "focus", "focus-visible", "focus-within", "hover"})
SCROLLBAR_STATES = frozenset({"active", "corner-present", "decrement", "disabled", "double-button", "enabled",
                              "end", "horizontal", "hover", "increment", "no-button", "single-button", "start",
                              "vertical", "window-inactive"})
# structural pseudo-classes: not after ::part() and the pseudo-elements that stand for an element
STRUCTURAL = frozenset({"empty", "first-child", "first-of-type", "host", "last-child", "last-of-type",
                        "only-child", "only-of-type", "root", "scope", "current"})
LEGACY_ELEMENTS = frozenset({"after", "before", "first-letter", "first-line"})  # also written with one colon
PSEUDO_CLASSES = frozenset({
    "-internal-autofill-previewed", "-internal-autofill-selected", "-internal-dialog-in-top-layer",
    "-internal-menulist-popover-with-menulist-anchor", "-internal-popover-in-top-layer",
    "-internal-relative-anchor", "-internal-select-has-slotted-button", "-internal-text-field",
    "-webkit-any-link", "-webkit-autofill", "-webkit-drag", "-webkit-full-page-media", "-webkit-full-screen",
    "-webkit-full-screen-ancestor", "active-view-transition", "any-link", "autofill", "checked", "default",
    "defined", "disabled", "enabled", "fullscreen", "future", "granted", "in-range", "indeterminate",
    "interest-source", "interest-target", "invalid", "link", "modal", "navigation-source", "open", "optional",
    "out-of-range", "past", "picture-in-picture", "placeholder-shown", "popover-open", "read-only", "read-write",
    "required", "target", "target-after", "target-before", "target-current", "unbounded", "user-invalid",
    "user-valid", "valid", "visited", "xr-overlay", *USER_ACTION, *SCROLLBAR_STATES, *STRUCTURAL,
})
FUNCTIONAL_CLASSES = frozenset({"-webkit-any", "active-view-transition-type", "dir", "has", "host", "host-context",
                                "is", "lang", "not", "nth-child", "nth-last-child", "nth-last-of-type",
                                "nth-of-type", "state", "where"})
SCROLLBAR_PARTS = frozenset({"-webkit-resizer", "-webkit-scrollbar", "-webkit-scrollbar-button",
                             "-webkit-scrollbar-corner", "-webkit-scrollbar-thumb", "-webkit-scrollbar-track",
                             "-webkit-scrollbar-track-piece"})
TRANSITION_PARTS = frozenset({"view-transition-group", "view-transition-group-children",
                              "view-transition-image-pair", "view-transition-new", "view-transition-old"})
PART_LIKE = frozenset({"part", "details-content", "permission-icon", "picker", "select-listbox"})
# the tree-abiding pseudo-elements: what may follow ::slotted()
TREE_ABIDING = frozenset({"after", "before", "backdrop", "checkmark", "details-content", "file-selector-button",
                          "interest-button", "marker", "permission-icon", "picker", "picker-icon", "placeholder",
                          "select-listbox", "view-transition", *TRANSITION_PARTS})
CUSTOM = "-webkit-*"  # a name Chromium takes as one of its own shadow parts: ::-webkit-anything, ::cue
PSEUDO_ELEMENTS = frozenset({
    "backdrop", "checkmark", "column", "cue", "details-content", "file-selector-button", "grammar-error",
    "interest-button", "marker", "permission-icon", "picker-icon", "placeholder", "scroll-marker",
    "scroll-marker-group", "search-text", "select-listbox", "selection", "spelling-error", "target-text",
    "view-transition", "-internal-media-controls-overlay-cast-button", *LEGACY_ELEMENTS, *SCROLLBAR_PARTS,
})
FUNCTIONAL_ELEMENTS = frozenset({"cue", "highlight", "part", "picker", "scroll-button", "slotted",
                                 *TRANSITION_PARTS})
# pseudo-classes allowed after a pseudo-element (its kind: its name, or CUSTOM); :is/:where/:not follow the
# rules of part-like and every other pseudo-element except ::column and ::slotted()
CLASSES_AFTER = {
    **dict.fromkeys(SCROLLBAR_PARTS, SCROLLBAR_STATES),
    CUSTOM: USER_ACTION,
    "file-selector-button": USER_ACTION,
    "selection": frozenset({"window-inactive"}),
    "search-text": frozenset({"current"}),
    "scroll-marker": USER_ACTION | {"target-current", "target-after", "target-before"},
    "scroll-marker-group": frozenset({"focus-within", "hover"}),
    "scroll-button": USER_ACTION | {"disabled", "enabled"},
    **dict.fromkeys(TRANSITION_PARTS, frozenset({"only-child"})),
}
SCROLL_DIRECTIONS = frozenset({"*", "up", "down", "left", "right", "block-start", "block-end", "inline-start",
                               "inline-end"})
NOT_CUSTOM_IDENTS = frozenset({"initial", "inherit", "unset", "revert", "revert-layer", "default"})
# what ::part() and the pseudo-elements that stand for an element (::picker(select) ...) are not followed by
NOT_AFTER_PART = STRUCTURAL | (SCROLLBAR_STATES - USER_ACTION - {"disabled", "enabled", "window-inactive"}) | {
    "has", "host", "host-context", "-webkit-any", "nth-child", "nth-last-child", "nth-of-type", "nth-last-of-type",
    ":part", ":slotted", ":cue()"}


def ascii_lower(name: str) -> str:
    """Lower case for ASCII letters only, as Chromium compares names (`İ` stays `İ`)."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in name)


def known(name: str, colons: str, function: bool) -> bool:
    """Whether Chromium knows `name` (lower case) after `colons` (":" or "::"), as a function or not."""
    if colons == ":":
        return name in (FUNCTIONAL_CLASSES if function else PSEUDO_CLASSES | LEGACY_ELEMENTS)
    if function:
        return name in FUNCTIONAL_ELEMENTS
    return name in PSEUDO_ELEMENTS or (name.startswith("-webkit-") and name not in PSEUDO_CLASSES)


def custom_kind(name: str) -> str:
    """What decides what may follow a pseudo-element: its name, or CUSTOM for Chromium's shadow parts."""
    if name in SCROLLBAR_PARTS or not (name.startswith("-webkit-") or name.startswith("-internal-") or name == "cue"):
        return name
    return CUSTOM


def allowed_after(after: str, kind: str) -> bool:
    """Whether a simple selector of `kind` (`:name`, `::name`, `#`, `.`, `[`, `&`) may follow ::`after`."""
    if after == "column":
        return kind == "::scroll-marker"
    if after == "slotted":
        return kind.startswith("::") and kind[2:] in TREE_ABIDING
    if after in ("before", "after") and kind == "::marker":
        return True
    if after in PART_LIKE and after_part(kind):
        return True
    if not kind.startswith(":") or kind.startswith("::"):
        return False
    name = kind[1:]
    return name in ("is", "where", "not") or name in CLASSES_AFTER.get(after, frozenset())


def after_part(kind: str) -> bool:
    """Whether a pseudo-class or pseudo-element of `kind` may follow ::part() (or a pseudo-element like it)."""
    if not kind.startswith(":"):
        return False
    return kind[1:] not in NOT_AFTER_PART
