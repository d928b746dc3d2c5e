"""What the database collector measured, as data: the load window's statements, slow statements, the
N+1 probe and the top statements; serialized into results.json's `database` section (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict


class TopJson(TypedDict):
    """A statement by total time in the window (results.TopStatement)."""

    statement: str
    calls: int
    total_ms: float
    mean_ms: float


class SlowJson(TypedDict):
    """A statement slower than slow_ms, by count (results.SlowStatement)."""

    statement: str
    count: int
    max_ms: float


class PointJson(TypedDict):
    """Statements that finished up to t_s since the previous point (results.StatementsPoint)."""

    t_s: float
    queries: int


@dataclass(frozen=True)
class Repeated:
    """A statement one request ran more than once: the N+1 signature."""

    statement: str  # shortened normalized text, e.g. "SELECT ... FROM categories WHERE id = $1"
    calls: int
    source: str = ""  # the statement whose rows the loop walked (it returned exactly `calls` rows), if found

    def __str__(self) -> str:
        return f"{self.statement} x{self.calls}"


@dataclass(frozen=True)
class ProbeRow:
    """One request definition sent alone, with pg_stat_statements snapshots around it."""

    name: str
    user: str
    kind: str
    method: str
    queries: int | None  # top-level statements it caused; None when it could not be probed
    header: int | None = None  # what its response header said, if anything
    repeated: tuple[Repeated, ...] = ()
    note: str = ""

    def tag(self, tag: str) -> str:
        return str(getattr(self, tag, ""))


TIMESERIES_POINTS = 720  # statements over time: at most this many points (coarser as a run grows)


@dataclass
class DbMeasurement:
    slow_ms: float
    queries: int | None = None  # top-level statements that finished in the load window
    slow: int | None = None  # of those, logged with a duration > slow_ms
    window_s: float = 0.0
    unmeasured: str | None = None  # why db_queries (and so db_query_slow) could not be measured, with the fix
    slow_unmeasured: str | None = None  # why only db_query_slow could not be measured, with the fix
    probe: list[ProbeRow] = field(default_factory=list)
    probe_note: str | None = None
    top: list[TopJson] = field(default_factory=list)  # statements by total time in the window
    timeseries: list[PointJson] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_source: str = ""
    slow_top: list[SlowJson] = field(default_factory=list)  # slow statements by count
    window_start: str = ""  # the window's edges on the server's clock (log_timezone), as the log stamps lines
    window_end: str = ""
    # the slow statements' plans with their flags (db.explain.slow_plans), and why there are none, if so
    plans: list[dict[str, Any]] = field(default_factory=list)
    plans_note: str | None = None

    def __post_init__(self) -> None:
        self._per_point = 1  # samples per point of `timeseries` (doubles as a long run's points merge)
        self._in_latest = 0  # samples in its latest point so far

    def add_sample(self, t_s: float, queries: int) -> None:
        """One sample of statements over time (those that finished since the previous sample, which ends
        at t_s). Past TIMESERIES_POINTS points, neighbouring points merge pairwise (sums, the later
        end) and each point takes twice as many samples from then on: a long run's timeline stays bounded
        and evenly spaced, and its rates stay exact per point."""
        series = self.timeseries
        if series and self._in_latest < self._per_point:  # the latest point takes this sample too
            latest = series[-1]
            latest["t_s"], latest["queries"] = t_s, latest["queries"] + queries
            self._in_latest += 1
            return
        series.append(PointJson(t_s=t_s, queries=queries))
        self._in_latest = 1
        if len(series) > TIMESERIES_POINTS:
            merged = [
                PointJson(t_s=b["t_s"], queries=a["queries"] + b["queries"]) for a, b in zip(series[::2], series[1::2])
            ]
            series[:] = merged + series[len(merged) * 2 :]
            self._per_point *= 2

    @property
    def slow_share(self) -> float | None:
        if self.queries is None or self.slow is None or self.slow_unmeasured or not self.queries:
            return None
        return self.slow / self.queries

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        if self.unmeasured:  # figures of a window that could not be measured are not numbers to read
            doc["queries"] = doc["slow"] = None
        elif self.slow_unmeasured:
            doc["slow"] = None
        doc["slow_share"] = self.slow_share
        doc["probe"] = [{**asdict(p), "repeated": [asdict(r) for r in p.repeated]} for p in self.probe]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DbMeasurement:
        probe = [
            ProbeRow(
                **{k: v for k, v in p.items() if k != "repeated"},
                repeated=tuple(
                    Repeated(r["statement"], int(r["calls"]), str(r.get("source", ""))) for r in p.get("repeated", [])
                ),
            )
            for p in doc.get("probe", [])
        ]
        keep = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__ and k != "probe"}
        return cls(**keep, probe=probe)


def short_statement(query: str, limit: int = 80) -> str:
    """A normalized statement made short enough to name in a message: `SELECT ... FROM rest`."""
    text = " ".join(query.split())
    upper = text.upper()
    if upper.startswith("SELECT ") and " FROM " in upper:
        at = upper.index(" FROM ")
        if at > len("SELECT ") + 12:
            text = "SELECT ..." + text[at:]
    return text if len(text) <= limit else text[: limit - 3] + "..."
