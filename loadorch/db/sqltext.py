"""SQL text as the reports show it: every literal, number and dollar-quoted string masked (pure, no imports).

pg_stat_statements' text is normalized (`$1`) only for what PostgreSQL's parser jumbles: on 15 a utility
statement (`SET app.token = '...'`, `CALL f('...')`, `DO $$...$$`) is kept as it was sent, and the
duration log's text is always as sent. So every statement text is masked again before it is shown. A
setting's value may be a bare word, not a literal (`SET app.token TO s3cr3t`, `ALTER ROLE app SET
app.key = s3cr3t`): in a SET or ALTER statement the value after `TO` or `=` is masked whatever it is.
"""

from __future__ import annotations

import re

_TOKENS = re.compile(
    r"\"(?:[^\"]|\"\")*\"?"  # a quoted identifier: kept as it is
    r"|(?<![\w$])[Ee]'(?:[^'\\]|''|\\.)*'?"  # an escape string: a backslash escapes the quote (E'O\'Brien')
    r"|'(?:[^']|'')*'?"  # a quoted literal (unterminated at a cut: masked to the end)
    r"|\$(?P<tag>(?:[A-Za-z_][A-Za-z_0-9]*)?)\$.*?(?:\$(?P=tag)\$|\Z)"  # a dollar-quoted string ($$..$$, $x$..$x$)
    r"|/\*"  # a comment: dropped to its end (_comment_end: comments nest)
    r"|--[^\n]*"
    # a number: a token that starts with a digit (or a point and a digit) is one, never a name or $1; the rest of
    # it is taken whole (.5, 5., 1e-3, and on PostgreSQL 16+ 0x1F, 0o17, 0b101, 1_000_000)
    r"|(?<![\w$.])[-+]?(?:[0-9]\w*(?:\.(?!\.)\w*)*|\.[0-9]\w*)(?:(?<=[eE])[-+][0-9]\w*)?",
    re.S,
)
_COMMENT_MARKS = re.compile(r"/\*|\*/")
# a quoted literal read as the server reads it with standard_conforming_strings off: a backslash escapes the next
# character (the quote too), as in E'...'; the collector cannot know how the application's session had it set
_BACKSLASHED = re.compile(r"'(?:[^'\\]|''|\\.)*'?", re.S)


def mask_constants(text: str) -> str:
    """The text with every literal and number replaced by `?` and comments dropped (identifiers and $n kept)."""
    out: list[str] = []
    at = 0
    while (m := _TOKENS.search(text, at)) is not None:
        out.append(text[at : m.start()])
        token, at = m.group(0), m.end()
        if token == "/*":
            at = _comment_end(text, at)
        elif token.startswith('"'):
            out.append(token)
        elif token.startswith("'") and _backslashed_end(text, m.start()) != at:
            out.append("?")  # it ends elsewhere if a backslash escapes a quote: masked to the end either way
            at = len(text)
        elif not token.startswith("--"):
            out.append("?")
    out.append(text[at:])
    masked = " ".join("".join(out).split())
    return _SETTING.sub(r"\1 ?", masked) if _SETS.search(masked) else masked


# a statement that sets a setting (SET, or ALTER ROLE/DATABASE/SYSTEM/FUNCTION ... SET): its start
_SETS = re.compile(r"(?i)(?:^|;)\s*(?:SET|ALTER)\b")
# in such a statement, `SET [SESSION|LOCAL] name TO|= value[, ...]` up to the statement's end (not SET ROLE,
# SESSION AUTHORIZATION, TRANSACTION or CONSTRAINTS, which take no TO or =); an UPDATE's or an ON CONFLICT's
# `SET column = expression` is not in a statement that starts with SET or ALTER, so it stays as it is
_SETTING = re.compile(
    r"(?i)((?:^|;)\s*(?:SET|ALTER\b[^;]*?\bSET)\s+(?:(?:SESSION|LOCAL)\s+)?"
    r"(?:\"(?:[^\"]|\"\")*\"|[\w$.]+)\s*(?:\bTO\b|=))\s*[^;]+"
)


def _backslashed_end(text: str, at: int) -> int:
    m = _BACKSLASHED.match(text, at)
    return m.end() if m else at


def _comment_end(text: str, at: int) -> int:
    """Where a comment opened just before `at` ends: PostgreSQL's comments nest (`/* a /* b */ c */` is one),
    so the first `*/` may close an inner one; an unclosed comment (a text cut short) runs to the end."""
    depth = 1
    for mark in _COMMENT_MARKS.finditer(text, at):
        depth += 1 if mark.group(0) == "/*" else -1
        if depth == 0:
            return mark.end()
    return len(text)
