"""SQL text as the reports show it: every literal, number and dollar-quoted string masked (pure, no imports).

pg_stat_statements' text is normalized (`$1`) only for what PostgreSQL's parser jumbles: on 15 a utility
statement (`SET app.token = '...'`, `CALL f('...')`, `DO $$...$$`) is kept as it was sent, and the
duration log's text is always as sent. So every statement text is masked again before it is shown.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(
    r"\"(?:[^\"]|\"\")*\"?"  # a quoted identifier: kept as it is
    r"|(?<![\w$])[Ee]'(?:[^'\\]|''|\\.)*'?"  # an escape string: a backslash escapes the quote (E'O\'Brien')
    r"|'(?:[^']|'')*'?"  # a quoted literal (unterminated at a cut: masked to the end)
    r"|\$(?P<tag>(?:[A-Za-z_][A-Za-z_0-9]*)?)\$.*?(?:\$(?P=tag)\$|\Z)"  # a dollar-quoted string ($$..$$, $x$..$x$)
    r"|/\*.*?(?:\*/|\Z)"  # a comment: dropped
    r"|--[^\n]*"
    r"|(?<![\w$.])[-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?![\w.])",  # a number, not part of a name or $1
    re.S,
)


def mask_constants(text: str) -> str:
    """The text with every literal and number replaced by `?` and comments dropped (identifiers and $n kept)."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token.startswith('"'):
            return token
        if token.startswith(("/*", "--")):
            return ""
        return "?"

    return " ".join(_TOKENS.sub(one, text).split())
