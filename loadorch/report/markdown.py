"""Markdown that text from users and servers cannot break: prose escaped, table cells escaped and on one line."""

from __future__ import annotations

import re

from tabulate import tabulate


def _md(text: str) -> str:
    """Text safe in Markdown prose: HTML is shown, not interpreted, and a name like `[docs](https://x)`,
    `![](https://x/pixel)` or `[x]: https://x` is shown as written, not made a link, an image or a link's
    definition: every `[` escaped (no link opens without one), and so every backslash, which would escape ours."""
    return (text.replace("\\", "\\\\").replace("[", "\\[")
            .replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def md_cell(text: str) -> str:
    """Text safe in a Markdown table cell: as prose (_md), `|` escaped, one line."""
    return " ".join(_md(text).replace("|", "\\|").split())


def md_code(text: str) -> str:
    """Text as a Markdown code span on one line, shown as written: its delimiter a run of backticks longer than
    any in the text (a path's own backtick closed a one-backtick span, and what followed was Markdown and HTML)."""
    one = " ".join(text.split())
    fence = "`" * (max(map(len, re.findall("`+", one)), default=0) + 1)
    pad = " " if one.startswith("`") or one.endswith("`") else ""
    return f"{fence}{pad}{one}{pad}{fence}"


def md_table(rows: list[list[str]], head: list[str]) -> str:
    """A GitHub table whose cells cannot break it (names and messages come from users and servers)."""
    return tabulate([[md_cell(str(c)) for c in row] for row in rows], head, tablefmt="github", disable_numparse=True)
