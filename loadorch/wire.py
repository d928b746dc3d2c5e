"""What crosses a process boundary: the run plan, the workers' messages, the master's summary.

The controller writes the plan (JSON) for the master and worker processes; a worker sends `lo_hello`
once and `lo_stats` every second; the master writes its summary for the controller. Each has one
declared type here, validated where it is read, so no side reads another's data by string keys.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from loadorch.config.scenario import Scenario
from loadorch.traffic import data as gen

PLAN_SCHEMA: Final = "loadorch.plan/v1"

StopReason = Literal["duration", "iterations", "interrupted", "aborted", "all workers lost", "workers missing"]
STOPPED_EARLY: frozenset[StopReason] = frozenset(("interrupted", "aborted", "all workers lost"))


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
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
    worker_connect_timeout_s: float
    interval_s: float
    master: MasterAddress
    stats_path: str
    request_log_path: str | None
    scenario: Scenario
    data: dict[str, dict[str, Any]]  # generators as traffic.data.generator_to_json writes them
    allocation: list[tuple[int, str, int]]  # (slot, user class, worker index)
    scenario_dir: str
    thresholds: list[ThresholdSpec]
    min_samples: int
    query_header: dict[str, str] | None = None  # loadorch.db.servertiming.QueryHeader: queries per request
    browser: BrowserPlan | None = None
    open: OpenSpec | None = None
    metrics: MetricsPlan | None = None

    def generators(self) -> dict[str, gen.Generator]:
        return {name: gen.generator_from_json(g) for name, g in self.data.items()}


class Hello(Wire):
    """`lo_hello`: a worker introduces itself to the master."""

    index: int
    token: str
    pid: int | None = None


class Start(Wire):
    """`lo_start`: the master's start signal; `t0` is the run's zero for time series."""

    t0: float


class Arrivals(Wire):
    scheduled: int = 0
    dispatched: int = 0
    dropped: int = 0


class VuFailure(Wire):
    """A virtual user whose loop stopped on an exception: its work is missing from the run."""

    worker: int
    slot: int
    user_class: str
    error: str


class StatsMessage(Wire):
    """`lo_stats`: a worker's numbers since its last message (`final`: its last one, after the stop)."""

    index: int
    token: str
    seq: int
    delta: dict[str, Any]  # verdict.stats.Recorder.take_delta: the tables since the last message, packed
    cpu: float
    users: int
    spawned: int
    done: bool
    final: bool
    total: int
    log: list[str] = Field(default_factory=list)
    arrivals: Arrivals = Field(default_factory=Arrivals)
    vu_failures: list[VuFailure] = Field(default_factory=list)
    sent_at: float | None = None  # the worker's wall clock when it sent this: the master measures its lag

    def to_wire(self) -> dict[str, Any]:
        """For msgpack, which carries the delta's packed histograms as bytes (JSON would not)."""
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


class WorkersSummary(Wire):
    expected: int
    seen: list[int]
    detail: list[WorkerDetail]


class MasterSummary(Wire):
    """The master's account of the run, written to the plan's stats_path when it ends."""

    merged: dict[str, Any]  # verdict.stats.Merged.to_json
    t0: float | None
    elapsed_s: float
    stop_reason: StopReason | None
    aborted_by: dict[str, Any] | None  # a ThresholdResult's JSON
    load: list[list[float]] = Field(default_factory=list)  # [elapsed s, users, arrivals...] samples
    rejected_peers: list[str]
    workers: WorkersSummary
    metrics: dict[str, Any] | None = None  # the live metrics' report (runtime/live.py), for results.json
    stats_lag: StatsLag = Field(default_factory=StatsLag)
