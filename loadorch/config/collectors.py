"""The profile's `collectors:` section: where queries per request come from, and the PostgreSQL collector."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from pydantic import Field, field_validator

from loadorch.config.base import Strict

LOG_SOURCES = ("pg_read_file", "none")
COLLECTOR_SUFFIX = "-collector"  # the collector's session: application_name + this
MAX_APPLICATION_NAME = 63  # bytes PostgreSQL keeps of an application_name (NAMEDATALEN - 1)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


class QueriesHeader(Strict):
    """The response header that says how many queries a request made."""

    header: str = "Server-Timing"  # W3C Server-Timing, or a plain count such as X-DB-Queries
    entry: str = "db"  # the Server-Timing metric name to count

    @field_validator("header", "entry")
    @classmethod
    def _token(cls, v: str) -> str:
        if not _HEADER_NAME.match(v):
            raise ValueError(f"{v!r} is not a header or metric name (e.g. Server-Timing, X-DB-Queries, db)")
        return v


class PostgresCollector(Strict):
    """Statements, slow statements and the N+1 probe, measured in the database itself."""

    dsn: str = Field(min_length=1)  # postgresql://role:password@host:5432/db; a secret, never printed
    slow_ms: float = Field(200.0, gt=0, le=3_600_000)
    log: str = Field("pg_read_file", min_length=1)  # "pg_read_file", a file path loadorch can read, or "none"
    probe: bool = True
    application_name: str = Field("loadorch", min_length=1)
    connect_timeout: float = Field(5.0, gt=0, le=120)
    # seconds a statement of the collector may take: the server cancels it then (a lock another session holds), and a
    # server that no longer answers at all has the connection shut 5 s later: the database gates inconclusive
    statement_timeout: float = Field(30.0, ge=1, le=600)

    @field_validator("application_name")
    @classmethod
    def _kept_as_given(cls, v: str) -> str:
        """The collector's session is `application_name` + COLLECTOR_SUFFIX, and its own lines in the duration
        log are told apart by that name: PostgreSQL keeps 63 bytes of it and turns other characters than
        printable ASCII into `?`, and a name it changed counted the collector's own slow statements."""
        if any(not " " <= ch <= "~" for ch in v):
            raise ValueError("use printable ASCII only (PostgreSQL turns other characters into '?')")
        most = MAX_APPLICATION_NAME - len(COLLECTOR_SUFFIX)
        if len(v) > most:
            raise ValueError(f"use at most {most} characters (PostgreSQL keeps {MAX_APPLICATION_NAME} of the "
                             f"collector's name, this one + {COLLECTOR_SUFFIX!r})")
        return v

    @property
    def collector_app(self) -> str:
        """The application_name of the collector's own session."""
        return self.application_name + COLLECTOR_SUFFIX

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, v: str) -> str:
        if "://" in v and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("dsn must be a postgresql://user:password@host:port/database URL or a key=value string")
        return v

    @property
    def reads_log(self) -> bool:
        return self.log != "none"


class Collectors(Strict):
    queries_per_request: QueriesHeader = QueriesHeader()
    postgres: PostgresCollector | None = None


def dsn_password(dsn: str) -> str | None:
    """The password in a DSN (URL or key=value form), if it carries one."""
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            password = parts.password
        except ValueError:
            return None
        # libpq takes any connection parameter in the URI's query too: `postgresql://app@db/x?password=...`
        given = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "password"]
        return password or (given[-1] if given else None) or None
    m = _CONNINFO_PASSWORD.search(dsn)
    if not m:
        return None
    raw = m.group(1)
    return raw[1:-1].replace("\\'", "'").replace("\\\\", "\\") if raw.startswith("'") else raw


def dsn_secrets(dsn: str) -> set[str]:
    """The password in every form it may be printed: as written, URL-decoded and URL-encoded."""
    password = dsn_password(dsn)
    if not password:
        return set()
    return {password, unquote(password), quote(password, safe="")} - {""}


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def connect_reason(reason: str, dsn: str) -> str:
    """libpq's reason a connection failed, fit to print: a DSN it cannot parse is quoted back in pieces
    (`missing "=" after "Pw-7f3a9c"` for a password with a space, `invalid percent-encoded token: "p%zz..."`, a
    host of `ss@db` for a password with an unencoded `@`), and a piece is not the password dsn_secrets masks.
    So every quoted piece but the host, port and database the DSN names (and a lone `=`) is masked, and so is
    every piece of the password (as written and split at the characters a malformed DSN is split at) unquoted."""
    where = redacted_dsn(dsn)
    host, _, rest = where.partition(":")
    port, _, database = rest.partition("/")
    password = dsn_password(dsn) or ""
    known = {v for v in (host, port, database) if v and v not in password}

    def quoted(m: re.Match[str]) -> str:
        inner = m.group(0)[1:-1]
        return m.group(0) if inner in known or len(inner) <= 1 else m.group(0)[0] + "..." + m.group(0)[0]

    text = _QUOTED.sub(quoted, reason)
    pieces = {password, *re.split(r"[\s@/:?#&=%]+", password)} | dsn_secrets(dsn)
    for piece in sorted((p for p in pieces if len(p) >= 2), key=len, reverse=True):
        text = re.sub(rf"(?<![\w]){re.escape(piece)}(?![\w])", "...", text)
    return text


def dsn_port(dsn: str, default: int = 5432) -> int:
    """The database port a DSN names (for the Kubernetes NetworkPolicy), 5432 when it names none."""
    try:
        if "://" in dsn:
            return urlsplit(dsn).port or default
        m = re.search(r"(?:^|\s)port\s*=\s*'?(\d+)", dsn)
        return int(m.group(1)) if m else default
    except ValueError:
        return default


def redacted_dsn(dsn: str) -> str:
    """host:port/database of a DSN, for messages: no user name, no password."""
    if "://" in dsn:
        try:
            parts = urlsplit(dsn)
            host = parts.hostname or "localhost"
            return f"{host}:{parts.port or 5432}{parts.path or ''}"
        except ValueError:
            return "the database"
    fields = dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn))
    return f"{fields.get('host', 'localhost')}:{fields.get('port', '5432')}/{fields.get('dbname', '')}".strip("'")
