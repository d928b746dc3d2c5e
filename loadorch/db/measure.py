"""What the database collector measured, as data: the load window's statements, slow statements, the
N+1 probe and the top statements; serialized into results.json's `database` section (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loadorch.stats.histogram import Histogram


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
    top: list[dict[str, Any]] = field(default_factory=list)  # statements by total time in the window
    timeseries: list[dict[str, Any]] = field(default_factory=list)  # {"t_s", "queries"} per sample
    notes: list[str] = field(default_factory=list)
    log_source: str = ""
    slow_top: list[dict[str, Any]] = field(default_factory=list)  # slow statements by count: statement, count, max_ms
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
        series.append({"t_s": t_s, "queries": queries})
        self._in_latest = 1
        if len(series) > TIMESERIES_POINTS:
            merged = [
                {"t_s": b["t_s"], "queries": a["queries"] + b["queries"]} for a, b in zip(series[::2], series[1::2])
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


def per_request_stats(merged: Any, tags: tuple[tuple[str, str], ...]) -> dict[str, Any] | None:
    """Queries per request of the matching responses that carried a count (exact), or None."""
    return query_stats(merged.select_db(tags))


def query_stats(h: Any) -> dict[str, Any] | None:
    """Queries per request from a pooled histogram of counts (exact), or None without samples."""
    if not h.count:
        return None
    return {
        "samples": h.count,
        "avg": round(h.mean, 3),
        "min": h.min,
        "p50": h.percentile(50),
        "p95": h.percentile(95),
        "max": h.max,
    }


def database_section(merged: Any, measurement: dict[str, Any] | None) -> dict[str, Any] | None:
    """results.json's `database`: per-endpoint queries per request (header) and the collector's numbers."""
    by_name: dict[str, Histogram] = {}
    for key, h in merged.db.items():  # one pass (a select per name read every series once per name)
        pooled = by_name.get(key.name)
        if pooled is None:
            pooled = by_name[key.name] = Histogram()
        pooled.merge(h)
    if not by_name and measurement is None:
        return None
    return {
        "queries_per_request": {n: query_stats(by_name[n]) for n in sorted(by_name)},
        "collector": measurement,
    }
