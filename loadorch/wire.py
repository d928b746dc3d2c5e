"""What crosses a process boundary: the run plan, the workers' messages, the master's summary and events.

The controller writes the plan (JSON) for the master and worker processes; a worker sends `lo_hello`
once and `lo_stats` every second; the master prints one event a line on stdout for the controller and
writes its summary at the end. Each has one declared type here, validated where it is read, so no side
reads another's data by undeclared string keys. The stats tables travel as JSON rows (`TablesJson`):
a worker's delta and the master's merged tables (also results.json's `histograms`) share that shape.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import Required, TypedDict

from loadorch.config.scenario import Scenario
from loadorch.config.units import DEFAULT_MAX_ENDPOINTS, DEFAULT_MAX_HEAD
from loadorch.traffic import data as gen
from loadorch.traffic.redact import sendable

PLAN_SCHEMA: Final = "loadorch.plan/v1"

StopReason = Literal["duration", "iterations", "interrupted", "aborted", "all workers lost", "workers missing"]
STOPPED_EARLY: frozenset[StopReason] = frozenset(("interrupted", "aborted", "all workers lost"))
STOPPED_ON_PURPOSE: frozenset[StopReason] = frozenset(("interrupted", "aborted"))  # by Ctrl-C or a threshold


def _seconds(text: str | None, default: float) -> float:
    """A positive number of seconds from the environment, else `default`."""
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default


# Lost versus slow (docs/reliability.md, README "Lost and slow workers"). Every worker has a liveness thread
# (a real OS thread, not a greenlet) that sends `lo_alive` every ALIVE_INTERVAL_S whatever its event loop is
# doing. The master declares a worker lost when nothing at all (liveness, heartbeat, report) has come from it
# for LOST_AFTER_S while the master itself was reading its queue, or sooner when its process is gone from
# the master's machine. A worker whose reports are late but whose liveness comes is slow, not lost.
ALIVE_INTERVAL_S: Final = 1.0
LOST_AFTER_S: Final = 10.0
SILENT_NOTE_S: Final = 3.0  # a liveness gap this long (3 beats missed) is recorded as a silence
LOOP_LATE_LIMIT_S: Final = 1.0  # a worker's event loop further behind than this: its timings include its delay
# A worker's event loop that has not run for this long (its liveness thread says so) is stuck: a task that blocks
# without yielding (a busy loop, a blocking call gevent does not patch). It sends nothing more until it runs again,
# so an `iterations` run ends without waiting for it (it waited for ever), and the master waits for no final from
# it. The same bound the workers give a silent master's event loop (runtime/alive.py MASTER_SILENT_S). Tests only:
# LOADORCH_TEST_STUCK_AFTER_S (seconds, in the run's environment) shortens it, so that a stuck worker's test does
# not wait a minute.
STUCK_AFTER_S: Final = _seconds(os.environ.get("LOADORCH_TEST_STUCK_AFTER_S"), 60.0)


# A run of `iterations` without `load.duration` ends at this bound, as k6's per-VU iterations end at their
# maxDuration (10 minutes unless set): a user that never makes its N requests (a python user whose task waits
# without end) kept such a run going for a day, until the controller took its master for hung. The run is then
# inconclusive, the load check says why (verdict/integrity.py); `load.duration` (or `--duration`) sets another
# bound. Tests only: LOADORCH_TEST_ITERATIONS_CAP_S (seconds, in the run's environment) shortens it.
ITERATIONS_CAP_S: Final = _seconds(os.environ.get("LOADORCH_TEST_ITERATIONS_CAP_S"), 600.0)


def stuck_words(behind_s: float) -> str:
    """Why a worker is stuck, as the progress line and the worker totals check say it."""
    return (
        f"its event loop has not run for {behind_s:.0f}s, its process alive: a task that blocks without yielding "
        "(a busy loop, a blocking call gevent does not patch, such as gevent.monkey.get_original('time', 'sleep'))"
    )
CPU_SATURATED: Final = 90.0  # % of a core, sustained over a few reports: a worker saturated (its timings include it)
# At the stop the master waits for the workers' final reports until FINAL_WAIT_S pass without a report merged,
# and while reports still come FINAL_WAIT_CAP_S at most (runtime/master.py), saying nothing meanwhile: the
# controller's patience with a silent master covers it.
FINAL_WAIT_S: Final = 10.0
FINAL_WAIT_CAP_S: Final = 6 * FINAL_WAIT_S


class HistogramJson(TypedDict):
    """stats.histogram.Histogram as JSON: buckets are (bucket, count) pairs."""

    count: int
    sum: int
    min: int
    max: int
    buckets: list[tuple[int, int]]


SeriesKeyJson = tuple[str, str, str, str, int, bool]  # user, name, kind, method, status, ok (stats.SeriesKey)
# user, name, kind, method, check name, passes, fails, one failing response
CheckRow = tuple[str, str, str, str, str, int, int, str | None]


class TablesJson(TypedDict, total=False):
    """The stats tables as JSON rows (stats.tables.Tables): what a worker sends, what the master merged."""

    series: Required[list[tuple[SeriesKeyJson, HistogramJson]]]  # latency of every request, per series
    intervals: list[tuple[int, str, bool, HistogramJson]]  # (time slot, kind, ok): the timeline
    errors: list[tuple[SeriesKeyJson, str, int]]  # (series, reason, count)
    examples: list[tuple[SeriesKeyJson, str, str]]  # (series, reason, the first response of that error)
    service: list[tuple[SeriesKeyJson, HistogramJson]]  # open model: service time, from the send
    db: list[tuple[SeriesKeyJson, HistogramJson]]  # queries per request (Server-Timing)
    endpoint_intervals: list[tuple[int, str, HistogramJson]]  # (time slot, request name): successful requests
    le: list[tuple[SeriesKeyJson, list[int]]]  # exact counts per live-metrics bucket edge (deltas only)
    timings: list[tuple[str, SeriesKeyJson, HistogramJson]]  # ("waiting" | "connecting", series)
    checks: list[CheckRow]
    window: list[tuple[SeriesKeyJson, HistogramJson]]  # the measurement window's series (runs with a window)
    phases: list[tuple[str, str, bool, HistogramJson]]  # (phase, kind, ok) outside the window
    exemplars: list[list[Any]]  # the K slowest requests per endpoint in the window (stats/exemplars.py rows)
    splits: list[list[Any]]  # phase sums per request and latency bucket in the window (stats/timesplit.py rows)


PackedTable = bytes  # stats.delta.pack_table: a table's histograms in one bytes value (rows named by id)


class StatsDelta(TypedDict, total=False):
    """`lo_stats.delta`: the tables a worker recorded since its last message (stats/delta.py): per table
    one packed bytes value, series keys by id (an index in `keys`), so the master's cost per report is
    a few objects per table, not several per histogram. Worker and master of one version speak it."""

    keys: Required[bytes]  # JSON: the worker's series keys (SeriesKeyJson rows) so far, in the order first seen
    series: Required[PackedTable]
    intervals: tuple[list[tuple[int, str, bool]], PackedTable]  # key rows (time slot, kind, ok); rows by index
    errors: list[tuple[int, str, int]]  # (series id, reason, count)
    examples: list[tuple[int, str, str]]  # (series id, reason, the first response of that error)
    service: PackedTable
    db: PackedTable
    endpoint_intervals: list[tuple[int, PackedTable]]  # (time slot, rows by the id of a series of that name)
    le: list[tuple[int, list[int]]]  # (series id, counts)
    timings: list[tuple[str, PackedTable]]  # "waiting", "connecting" or a Server-Timing tag (stats/servertiming.py)
    checks: list[CheckRow]
    window: PackedTable
    phases: tuple[list[tuple[str, str, bool]], PackedTable]  # key rows (phase, kind, ok); rows by index
    folded: list[str]  # request names folded into "(other endpoints)" since the last delta (the first ones)
    exemplars: list[list[Any]]  # this delta's K slowest requests per endpoint (stats/exemplars.py rows)
    splits: list[list[Any]]  # this delta's phase sums per request and latency bucket (stats/timesplit.py rows)
    total: Required[int]


class MergedJson(TablesJson, total=False):
    """The master's merged tables (stats.tables.Merged.to_json); results.json keeps them as `histograms`."""

    interval_s: float
    per_worker: dict[str, int]  # requests reported, by worker index
    endpoint_step: int  # a slot of endpoint_intervals spans this many intervals
    interval_step: int  # a slot of intervals spans this many intervals (long runs: coarser, bounded)
    endpoint_names: EndpointNamesJson  # the bound on distinct request names (absent: none, older files)
    exemplar_k: int  # the K slowest requests kept per endpoint (profile evidence.slowest)
    sub_bits: int  # the judged tables' histogram layout when coarser than the default (a monitor's: 6)
    judged_from_s: float  # a monitor's: the judged tables hold the samples from this second on (its window)
    generation: int  # a monitor's snapshot: the judged tables' generation (stats/generations.py)
    older: OlderJson  # a monitor's snapshot: the previous generation's judged tables


class OlderJson(TypedDict):
    """A monitor master's previous generation of judged tables (stats/generations.py), in its snapshot."""

    series: list[tuple[SeriesKeyJson, HistogramJson]]
    service: list[tuple[SeriesKeyJson, HistogramJson]]
    db: list[tuple[SeriesKeyJson, HistogramJson]]
    timings: list[tuple[str, SeriesKeyJson, HistogramJson]]


class EndpointNamesJson(TypedDict):
    """stats.endpoints.EndpointNames: the run's bound on distinct request names, and the first names folded."""

    limit: int
    folded: list[str]


class ThresholdJson(TypedDict):
    """verdict.evaluate.ThresholdResult as JSON: the master's abort reason, the gate's final results (to the master)."""

    selector: str
    expression: str
    observed: int | float | None  # int or float as computed: results.json shows them as they were
    limit: int | float
    unit: str
    samples: int
    error_bound: int | float
    verdict: str
    message: str
    abort_on_fail: bool


class PushReportJson(TypedDict):
    """metrics.pusher.PushReport: how the remote writes went."""

    sent: int
    failed: int  # pushes given up after their retries
    dropped: int  # dropped unsent: the queue was full
    last_error: str
    final_landed: bool


class MetricsReport(TypedDict, total=False):
    """The live metrics' account at the end (runtime/live.py); results.json keeps it as `live_metrics`."""

    threshold_states_from: Required[Literal["master", "gate"]]
    threshold_states: Required[dict[str, str]]  # "selector expression" -> the verdict the metrics showed last
    remote_write: PushReportJson


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:  # the message as the JSON document that crosses the process boundary
        return self.model_dump(mode="json", by_alias=True)


class MasterAddress(Wire):
    host: str
    port: int


class ThresholdSpec(Wire):
    selector: str
    expression: str
    abort_on_fail: bool = False
    delay_abort_eval_s: float = 0.0


class OpenSpec(Wire):
    """The open model's schedule: (start rate, end rate, seconds) stages and the class mix of arrivals."""

    stages: list[tuple[float, float, float]]
    spacing: Literal["constant", "poisson"]
    class_weights: list[tuple[str, float]]


class MetricsPlan(Wire):
    """Live metrics (loadorch.metrics.options.plan_block): where to serve and push, run labels, edges."""

    port: int | None
    bind: str
    grace_s: float
    remote_write: str | None
    dashboard: bool
    dashboard_port: int
    run_id: str
    profile: str
    scenario: str
    edges_us: list[int]
    table_edges: dict[str, list[int]] = Field(default_factory=dict)  # per-series tables' bucket edges
    extra_path: str | None = None  # families the controller measured (browser vitals), as JSON
    final_path: str | None  # where the controller writes the gate's final threshold results


class BrowserPlan(Wire):
    """Browser users: how many browser workers, where they may go, where they report."""

    workers: int
    allowed_hosts: list[str]
    sink_host: str
    sink_port: int


class Plan(Wire):
    """Everything the master and the workers need to run; built once by the controller (run/plan.py)."""

    plan_schema: Literal["loadorch.plan/v1"] = PLAN_SCHEMA
    token: str
    seed: int
    host: str
    allowed_hosts: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)  # what preflight resolved; workers connect only to these
    headers: dict[str, str]
    secrets: list[str] = Field(default_factory=list)  # masked in what the processes report, before any cut
    users: int
    spawn_rate: float
    duration_s: float | None
    iterations: int | None
    stages: list[tuple[float, float, float]] | None = None  # closed-model stages (traffic/stages.py)
    window: list[tuple[float, float]] | None = None  # the measurement window's spans (s from the start)
    tags: dict[str, str] = Field(default_factory=dict)  # run tags (--tag)
    workers: int
    request_timeout_s: float
    max_response_body: int
    max_response_head: int = DEFAULT_MAX_HEAD
    max_endpoints: int = DEFAULT_MAX_ENDPOINTS  # distinct request names kept per run (stats/endpoints.py)
    endpoint_names: list[str] = Field(default_factory=list)  # always kept: the scenario's and the thresholds'
    tls: dict[str, str | None] | None = None  # the profile's tls: files (absolute) and the key's password
    worker_connect_timeout_s: float
    interval_s: float
    master: MasterAddress
    stats_path: str
    request_log_path: str | None
    scenario: Scenario
    # generators as traffic.data.generator_to_json writes them: the plan's wire form of each generator class
    data: dict[str, dict[str, Any]]
    allocation: list[tuple[int, str, int]]  # (slot, user class, worker index)
    scenario_dir: str
    thresholds: list[ThresholdSpec]
    min_samples: int
    query_header: dict[str, str] | None = None  # loadorch.db.servertiming.QueryHeader: queries per request
    browser: BrowserPlan | None = None
    open: OpenSpec | None = None
    exemplars: int = 5  # the K slowest requests kept per endpoint in the window (profile evidence.slowest)
    trace_prefix: str = ""  # the first 12 hex digits of this run's trace ids (traffic/trace.py); "": none sent
    server_timing: bool = False  # record each response's Server-Timing entries as metrics (stats/servertiming.py)
    metrics: MetricsPlan | None = None
    # monitor: the master writes its merged tables here every snapshot_every_s (the rolling windows' source)
    snapshot_path: str | None = None
    snapshot_every_s: float = 1.0
    # the judged tables' histogram layout (stats/histogram.py): a monitor's coarser one keeps memory flat
    stats_sub_bits: int = Field(default=10, ge=4, le=10)
    # monitor: the master's timelines keep the last this many seconds (Merged.roll_timelines), not the whole run
    rolling_timeline_s: float | None = None

    def generators(self) -> dict[str, gen.Generator]:
        return {name: gen.generator_from_json(g) for name, g in self.data.items()}


class Hello(Wire):
    """`lo_hello`: a worker introduces itself to the master."""

    index: int
    token: str
    pid: int | None = None
    clock: float | None = None  # the worker's wall clock as it said hello: the master's measure of its offset
    host: str | None = None  # its machine's host name: on the master's machine, the master can see its process


class Alive(Wire):
    """`lo_alive`: a worker's liveness thread, every ALIVE_INTERVAL_S (`at`: that thread's monotonic clock)."""

    index: int
    token: str
    at: float
    late: float = 0.0  # how far behind the worker's event loop is at this beat (seconds; 0.0 from older workers)


class Start(Wire):
    """`lo_start`: the master's start signal; `t0` is the run's zero for time series."""

    t0: float


class Arrivals(Wire):
    scheduled: int = 0
    dispatched: int = 0
    dropped: int = 0


class Ramp(Wire):
    """How a worker's closed-model ramp kept its schedule (user k due k / rate after the first), measured
    on the worker's own clock once its last user started."""

    users: int
    planned_s: float  # when the last user was due, after the first one's start
    took_s: float  # when the last user started, after the first one's start
    late_max_s: float  # the latest any user started behind its due time


class VuFailure(Wire):
    """A virtual user whose loop stopped on an exception: its work is missing from the run."""

    worker: int
    slot: int
    user_class: str
    error: str


class Unanswered(Wire):
    """Requests of one user class and endpoint that were still waiting for the target's answer when the run stopped
    its users: in no table (neither answered nor failed), so counted apart; how many, and the longest wait."""

    user: str
    name: str
    kind: str
    method: str
    count: int
    waited_max_s: float


MAX_UNANSWERED = 200  # a worker's Unanswered rows (user classes x endpoints); past it one row sums the others
OTHER_ENDPOINTS = "(other endpoints)"
UnansweredTable = dict[tuple[str, str, str, str], list[float]]  # (user, name, kind, method) -> [count, longest wait]


def note_unanswered(table: UnansweredTable, key: tuple[str, str, str, str], waited_s: float) -> None:
    """One more request of `key` still waiting at the stop, in a table of at most MAX_UNANSWERED keys (past it,
    the new keys' requests are summed under OTHER_ENDPOINTS)."""
    if key not in table and len(table) >= MAX_UNANSWERED - 1:
        key = ("", OTHER_ENDPOINTS, "", "")
    row = table.setdefault(key, [0, 0.0])
    row[0] += 1
    row[1] = max(row[1], waited_s)


def unanswered_rows(table: UnansweredTable) -> list[Unanswered]:
    return [Unanswered(user=k[0], name=k[1], kind=k[2], method=k[3], count=int(n), waited_max_s=round(w, 3))
            for k, (n, w) in table.items()]  # fmt: skip


class StatsMessage(Wire):
    """`lo_stats`: a worker's numbers since its last message (`final`: its last one, after the stop)."""

    index: int
    token: str
    seq: int
    delta: StatsDelta  # stats.tables.Recorder.take_delta: the tables since the last message, packed
    cpu: float
    users: int
    spawned: int
    done: bool
    final: bool
    total: int
    log: list[str] = Field(default_factory=list)
    arrivals: Arrivals = Field(default_factory=Arrivals)
    vu_failures: list[VuFailure] = Field(default_factory=list)
    unanswered: list[Unanswered] = Field(default_factory=list, max_length=MAX_UNANSWERED)  # with the final message
    sent_at: float | None = None  # the worker's wall clock when it sent this: the master measures its lag
    # sent after the stop: `cpu` is the users' unwinding (10,000 greenlets killed, their connections closed),
    # not load generation, so it is no saturation sample
    stopping: bool = False
    ramp: Ramp | None = None  # once all of the worker's users have started (closed model without stages)
    # since the last report, measured by the liveness thread: how far the event loop fell behind (s), the share
    # of the time the worker's main thread waited for a CPU (run queue, %) and the machine's CPU steal (%)
    loop_late_s: float | None = None
    cpu_wait: float | None = None
    steal: float | None = None

    def to_wire(self) -> dict[str, Any]:  # the message as msgpack carries it across the process boundary
        """For msgpack, which carries the delta's packed tables as bytes (JSON would not)."""
        return self.model_dump(by_alias=True)


class StatsLag(Wire):
    """How far behind the master merges: seconds from a worker sending a report (its clock) to the master
    having merged it. Over one report interval, the master is falling behind its workers."""

    messages: int = 0
    max_s: float = 0.0
    p99_s: float | None = None
    over_interval: int = 0  # reports merged more than one report interval after they were sent


class WorkerDetail(Wire):
    """What the master saw of one worker."""

    index: int
    pid: int | None
    users_peak: int
    cpu_peak: float
    cpu_sustained_peak: float
    reported: int
    final_total: int | None
    lost_at_s: float | None
    silent_s: float
    duplicates: int
    arrivals: Arrivals = Field(default_factory=Arrivals)
    vu_failures: list[VuFailure] = Field(default_factory=list)
    unanswered: list[Unanswered] = Field(default_factory=list)  # still waiting for the target at the stop
    ramp: Ramp | None = None
    # the worker's heartbeats to the master while the load ran: how many, and the longest silence between
    # two (Locust's master takes a worker for missing after about HEARTBEAT_LIVENESS + 1 s of it)
    heartbeats: int = 0
    heartbeat_gap_max_s: float | None = None
    # the worker's wall clock less the master's, from its hello (plus the hello's transit, milliseconds):
    # the worker places its requests in time slots and the measurement window by its own clock
    clock_offset_s: float | None = None
    # while the load ran (liveness thread): the event loop's largest lateness, the sustained peak of the share
    # of time it waited for a CPU (%, over 3 reports) and the machine's peak CPU steal (%); None: not measured
    loop_late_max_s: float | None = None
    cpu_wait_peak: float | None = None
    steal_peak: float | None = None


class WorkersSummary(Wire):
    expected: int
    seen: list[int]
    detail: list[WorkerDetail]


class MasterSummary(Wire):
    """The master's account of the run, written to the plan's stats_path when it ends."""

    merged: MergedJson  # stats.tables.Merged.to_json
    t0: float | None
    elapsed_s: float
    stop_reason: StopReason | None
    aborted_by: ThresholdJson | None
    load: list[list[float]] = Field(default_factory=list)  # [elapsed s, users, arrivals...] samples
    rejected_peers: list[str]
    workers: WorkersSummary
    metrics: MetricsReport | None = None
    stats_lag: StatsLag = Field(default_factory=StatsLag)


class Event(Wire):
    """One line the master (or a worker) prints on stdout for the controller: `{"event": ..., fields}`."""

    def line(self) -> str:
        return self.model_dump_json(by_alias=True) + "\n"


class Listening(Event):
    """The master's port is open for the workers."""

    event: Literal["listening"] = "listening"
    port: int


class Started(Event):
    """Every worker connected; the load starts at `t0` (epoch seconds)."""

    event: Literal["started"] = "started"
    t0: float
    workers: list[int]


class ProgressEvent(Event):
    """About once a second while the load runs."""

    event: Literal["progress"] = "progress"
    elapsed_s: float
    users: int
    rps: float
    requests: int
    failures: int
    p95_read_ms: float | None
    p95_write_ms: float | None
    lost: list[int]  # indexes of workers that stopped reporting
    lag_s: float = 0.0  # the largest stats lag since the last progress event (StatsLag)


class WorkerLost(Event):
    """A worker stopped reporting (its data so far counts; it may come back)."""

    event: Literal["worker_lost"] = "worker_lost"
    index: int
    at_s: float | None
    reason: str | None = None  # "its process is gone", "nothing from it for 10s"


class WorkerStuck(Event):
    """A worker's event loop has not run for STUCK_AFTER_S (its process alive): it sends nothing until it runs again."""

    event: Literal["worker_stuck"] = "worker_stuck"
    index: int
    at_s: float
    behind_s: float


class WorkerLostMaster(Event):
    """A worker's own line: the master went away before the stop."""

    event: Literal["worker_lost_master"] = "worker_lost_master"
    index: int


class VuFailed(Event):
    """A virtual user's loop ended on an exception (the run will be an error)."""

    event: Literal["vu_failed"] = "vu_failed"
    failure: VuFailure


class Aborted(Event):
    """A threshold with abort_on_fail failed: the load stops."""

    event: Literal["aborted"] = "aborted"
    threshold: str  # selector and expression
    message: str


class WorkersMissing(Event):
    """Not every worker connected within worker_connect_timeout: the run ends before any load."""

    event: Literal["workers_missing"] = "workers_missing"
    connected: int
    expected: int
    missing: list[int]
    waited_s: float


class Serving(Event):
    """The master serves the live metrics (`/metrics`) or the live dashboard at `url`."""

    event: Literal["serving"] = "serving"
    what: Literal["metrics", "dashboard"]
    url: str


class SummaryWritten(Event):
    """The load is over and the summary is at `stats_path`; the master waits for the gate's results at
    `final_path` to show them in the final metrics."""

    event: Literal["summary_written"] = "summary_written"
    stats_path: str
    final_path: str


class MetricsGrace(Event):
    """The master keeps its metrics endpoint up for the last scrape (and says it is alive)."""

    event: Literal["metrics_grace"] = "metrics_grace"
    seconds_left: float


class Done(Event):
    """The load is over and the summary written."""

    event: Literal["done"] = "done"
    stop_reason: StopReason | None
    elapsed_s: float


class MasterExited(Event):
    """Not printed: the controller's own mark that the master's stdout closed."""

    event: Literal["master_exited"] = "master_exited"


MasterEvent = Annotated[
    Listening
    | Started
    | ProgressEvent
    | WorkerLost
    | WorkerStuck
    | WorkerLostMaster
    | VuFailed
    | Aborted
    | WorkersMissing
    | Serving
    | SummaryWritten
    | MetricsGrace
    | Done
    | MasterExited,
    Field(discriminator="event"),
]
_EVENTS: TypeAdapter[MasterEvent] = TypeAdapter(MasterEvent)


def parse_event(line: bytes | str) -> MasterEvent | None:
    """An event line as its type; None for anything else (a stray print, a library's output)."""
    try:
        return _EVENTS.validate_json(line)
    except ValidationError:
        return None


def escaped_surrogates(value: Any) -> Any:
    """A message's data (dicts, lists, strings, bytes, numbers) with each lone surrogate of its strings and keys
    written as its escape (`\\ud83d`), which msgpack can encode: a python user may name a request or raise with
    text a target's JSON cut inside an emoji, and a message that cannot be encoded is not sent (every report of
    the worker after it was lost). Only called once sending the message as it is failed (after Locust's own
    retries): the python users' names and errors are made sendable where they come in (runtime/pyusers.py)."""
    if isinstance(value, str):
        return sendable(value)
    if isinstance(value, dict):
        return {escaped_surrogates(k): escaped_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped_surrogates(v) for v in value]
    return value

