"""What the database collector measured, as data: the load window's statements, slow statements, the
N+1 probe and the top statements; serialized into results.json's `database` section (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from loadorch.db.sqltext import mask_constants

if TYPE_CHECKING:  # results.json's models, imported where a section is built or read: the master imports this
    # module, and the fork server would build them before forking it (start time: benchmarks/README.md)
    from loadorch.results import DbCollector, SlowPlan
    from loadorch.results import ProbeRow as ProbeRowModel


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
    plans: list[SlowPlan] = field(default_factory=list)
    plans_note: str | None = None
    # the latest reason the collector's live sampling missed statements (the database unreachable, ...) and a
    # poll of the duration log (db_query_slow), with the fix: a monitor's window that spans one is not judged on
    # them (run.monitor.db_window); not in results.json (a run's verdict comes from the window's snapshots)
    lost: str = ""
    slow_lost: str = ""

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

    def to_collector(self) -> DbCollector:
        """results.json's `database.collector`: figures of a window that could not be measured are null."""
        from loadorch.results import DbCollector, SlowStatement, StatementsPoint, TopStatement

        return DbCollector(
            slow_ms=self.slow_ms,
            queries=None if self.unmeasured else self.queries,
            slow=None if self.unmeasured or self.slow_unmeasured else self.slow,
            window_s=self.window_s,
            unmeasured=self.unmeasured,
            slow_unmeasured=self.slow_unmeasured,
            probe=[_probe_model(p) for p in self.probe],
            probe_note=self.probe_note,
            top=[TopStatement(statement=t["statement"], calls=t["calls"], total_ms=t["total_ms"], mean_ms=t["mean_ms"])
                 for t in self.top],
            timeseries=[StatementsPoint(t_s=p["t_s"], queries=p["queries"]) for p in self.timeseries],
            notes=list(self.notes),
            log_source=self.log_source,
            slow_top=[SlowStatement(statement=s["statement"], count=s["count"], max_ms=s["max_ms"])
                      for s in self.slow_top],
            window_start=self.window_start,
            window_end=self.window_end,
            slow_share=self.slow_share,
            plans=list(self.plans),
            plans_note=self.plans_note,
        )  # fmt: skip

    @classmethod
    def from_collector(cls, doc: DbCollector) -> DbMeasurement:
        """A measurement read back from results.json (the gates judge it again: `compare`, the evidence)."""
        return cls(
            slow_ms=doc.slow_ms, queries=doc.queries, slow=doc.slow, window_s=doc.window_s, unmeasured=doc.unmeasured,
            slow_unmeasured=doc.slow_unmeasured, probe=[_probe_row(p) for p in doc.probe], probe_note=doc.probe_note,
            top=[TopJson(statement=t.statement, calls=t.calls, total_ms=t.total_ms, mean_ms=t.mean_ms)
                 for t in doc.top],
            timeseries=[PointJson(t_s=p.t_s, queries=p.queries) for p in doc.timeseries], notes=list(doc.notes),
            log_source=doc.log_source,
            slow_top=[SlowJson(statement=t.statement, count=t.count, max_ms=t.max_ms) for t in doc.slow_top],
            window_start=doc.window_start, window_end=doc.window_end, plans=list(doc.plans), plans_note=doc.plans_note,
        )  # fmt: skip


def _probe_model(p: ProbeRow) -> ProbeRowModel:
    from loadorch.results import ProbeRow as ProbeRowModel
    from loadorch.results import RepeatedStatement

    repeated = [RepeatedStatement(statement=r.statement, calls=r.calls, source=r.source) for r in p.repeated]
    return ProbeRowModel(name=p.name, user=p.user, kind=p.kind, method=p.method, queries=p.queries, header=p.header,
                         repeated=repeated, note=p.note)


def _probe_row(p: ProbeRowModel) -> ProbeRow:
    repeated = tuple(Repeated(r.statement, r.calls, r.source) for r in p.repeated)
    return ProbeRow(p.name, p.user, p.kind, p.method, p.queries, p.header, repeated, p.note)

def short_statement(query: str, limit: int = 80) -> str:
    """A statement made short enough to name in a message: `SELECT ... FROM rest`, every constant masked
    (pg_stat_statements keeps a utility statement's literals; the duration log keeps all of them)."""
    text = mask_constants(query)
    upper = text.upper()
    if upper.startswith("SELECT ") and " FROM " in upper:
        at = upper.index(" FROM ")
        if at > len("SELECT ") + 12:
            text = "SELECT ..." + text[at:]
    return text if len(text) <= limit else text[: limit - 3] + "..."
