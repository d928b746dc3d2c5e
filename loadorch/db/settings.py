"""Settings the database gates rely on, and the role and database overrides that hide what they measure
(`ALTER ROLE app SET log_min_duration_statement = -1`, `... IN DATABASE`, `ALTER DATABASE ... SET`), read
from `pg_db_role_setting` (pure).

A session takes the most specific override when it starts: role in database, then role, then database,
then `ALTER ROLE ALL`, then the server's value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SLOW_SETTINGS = ("log_min_duration_statement", "log_min_messages")  # what hides slow statements from the log
COUNT_SETTINGS = ("compute_query_id", "pg_stat_statements.track")  # what hides statements from the count
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_NUMBER = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*\Z")


@dataclass(frozen=True)
class Override:
    database_oid: int  # 0: every database
    role_oid: int  # 0: every role (ALTER ROLE ALL)
    database: str
    role: str
    name: str
    value: str

    @property
    def scope(self) -> str:
        if self.role_oid and self.database_oid:
            return f"role {self.role} in database {self.database}"
        if self.role_oid:
            return f"role {self.role}"
        return f"database {self.database}" if self.database_oid else "every role (ALTER ROLE ALL)"

    @property
    def reset(self) -> str:
        """The statement that removes it."""
        if self.role_oid:
            where = f" IN DATABASE {self.database}" if self.database_oid else ""
            return f"ALTER ROLE {self.role}{where} RESET {self.name};"
        if self.database_oid:
            return f"ALTER DATABASE {self.database} RESET {self.name};"
        return f"ALTER ROLE ALL RESET {self.name};"


def overrides(rows: Iterable[tuple[int, int, str, str, str]]) -> list[Override]:
    """(setdatabase, setrole, database name, role name, one `name=value` of setconfig) rows, for the
    settings the gates rely on."""
    out = []
    for db_oid, role_oid, database, role, entry in rows:
        name, _, value = str(entry).partition("=")
        name = name.strip().lower()
        if name in SLOW_SETTINGS or name in COUNT_SETTINGS:
            out.append(Override(int(db_oid), int(role_oid), str(database), str(role), name, value.strip().strip("'\"")))
    return out


def duration_ms(value: str) -> float | None:
    """A duration setting's value in ms (a bare number is ms), None if it cannot be read."""
    m = _NUMBER.match(value.lower())
    if m is None or m.group(2) not in ("", *_UNITS_MS):
        return None
    return float(m.group(1)) * _UNITS_MS.get(m.group(2) or "ms", 1.0)


def hides(name: str, value: str, slow_ms: float) -> bool:
    """Whether this value of a relied-on setting hides what the gate measures."""
    value = value.strip().lower()
    if name == "log_min_duration_statement":
        ms = duration_ms(value)
        return ms is None or ms < 0 or ms > slow_ms
    if name == "log_min_messages":
        return value in ("fatal", "panic")  # LOG ranks between error and fatal for the server log
    if name == "compute_query_id":
        return value in ("off", "false", "no", "0")
    if name == "pg_stat_statements.track":
        return value == "none"
    return False


def _effective(found: list[Override], name: str, role_oid: int, db_oid: int) -> Override | None:
    for want in ((db_oid, role_oid), (0, role_oid), (db_oid, 0), (0, 0)):
        for o in found:
            if o.name == name and (o.database_oid, o.role_oid) == want:
                return o
    return None


def slow_hiding(found: list[Override], ran: Iterable[tuple[int, int]], slow_ms: float) -> list[Override]:
    """The overrides in force for the (role, database) pairs that ran statements that keep their slow
    statements out of the duration log."""
    out: dict[tuple[int, int, str], Override] = {}
    for role_oid, db_oid in sorted(set(ran)):
        for name in SLOW_SETTINGS:
            o = _effective(found, name, role_oid, db_oid)
            if o is not None and hides(o.name, o.value, slow_ms):
                out[(o.database_oid, o.role_oid, o.name)] = o
    return list(out.values())


def count_hiding(found: list[Override]) -> list[Override]:
    """Overrides that keep a role's statements out of pg_stat_statements: such a role's statements never
    show in the snapshots, so every one counts, wherever it applies."""
    return [o for o in found if o.name in COUNT_SETTINGS and hides(o.name, o.value, 0.0)]


def describe(hiding: list[Override], what: str) -> str:
    """One message naming each override and the statement that removes it."""
    parts = [f"{o.name} = {o.value} for {o.scope}" for o in hiding]
    fixes = " ".join(o.reset for o in hiding)
    return (
        f"{'; '.join(parts)} {what}: {fixes} (sessions take it when they connect: restart the application), "
        "then run again"
    )
