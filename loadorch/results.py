"""results.json as a typed model: one frozen class per section, validated where a file is read.

The controller builds the document once (report/results.py) and validates it into `Results`; `report`,
`compare`, `k8s collect`, `--summary-export` and the live metrics read it through attributes. A file
from elsewhere goes through `read_results`, which turns anything malformed into located problems
(`file: field: message`), never an internal error.

Schema version rule: `schema` names the format (`loadorch.results/v1`). Within v1 a field is only ever
added, with a default here, so a file written by an older loadorch of the same schema still reads; a
reader refuses any other schema string (newer or foreign) with one message saying which it reads.
Regenerate the published JSON Schema (docs/results.schema.json) with `python3 -m loadorch.results`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError
from typing_extensions import NotRequired, TypedDict

from loadorch.config.thresholds import (
    Threshold,
    ThresholdSyntaxError,
    parse_expression,
    parse_selector,
    split_tag_filters,
)
from loadorch.errors import ConfigError, Problem
from loadorch.wire import (
    HistogramJson,
    MergedJson,
    MetricsReport,
    StopReason,
    ThresholdJson,
    VuFailure,
    WorkerDetail,
)

SCHEMA: Final = "loadorch.results/v1"
Verdict = Literal["pass", "fail", "inconclusive", "error", "interrupted"]
Num = int | float  # an int stays an int (a limit of 300 shows as 300), a float a float
ONLY_IF_ANY = ("browser", "window", "live_metrics", "warnings")  # written only where the run has them
MAX_PROBLEMS = 10  # a file wrong everywhere: the first problems, then how many more


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Run(Section):
    profile: str
    scenario: str
    scenario_path: str
    scenario_sha256: str
    seed: int
    workers: int
    users: int
    host: str
    start: str  # ISO 8601, UTC
    end: str
    duration_s: float | None
    iterations: int | None
    elapsed_s: float
    stop_reason: StopReason | None
    interrupted: bool
    versions: dict[str, str]
    tags: dict[str, str] = Field(default_factory=dict)  # --tag


class Totals(Section):
    requests: int
    failures: int
    rps: float


class LatencyStats(Section):
    """Per kind, endpoint or window: counts of all requests, latencies (ms) of the successful ones."""

    count: int
    failures: int
    rps: float
    min_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None


class PerRequest(Section):
    """Queries per request of the responses that carried a count (exact)."""

    samples: int
    avg: float
    min: Num
    p50: Num
    p95: Num
    max: Num


class EndpointStats(LatencyStats):
    kind: str
    method: str
    status_counts: dict[str, int] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)  # the scenario's tags of the request (empty or absent: none)
    db_queries_per_request: PerRequest | None = None


class ServerTimingEntry(Section):
    """One Server-Timing entry of a response (W3C Server Timing): its name, `dur` (ms) and `desc`."""

    name: str
    dur_ms: float | None = None
    desc: str | None = None


class SlowRequest(Section):
    """One of an endpoint's K slowest requests in the window (an exemplar), as a worker timed it. A phase
    that the request path could not time is None (said as "not measured"); connect and TLS are 0 on a
    reused connection."""

    endpoint: str
    method: str
    at: str  # when it was sent, ISO 8601 UTC
    status: int
    duration_ms: float
    connect_ms: float | None = None
    tls_ms: float | None = None
    waiting_ms: float | None = None  # sent to first byte: the server's time and the network's
    receiving_ms: float | None = None
    bytes: int | None = None  # the response body as received
    trace_id: str | None = None  # the W3C trace id loadorch sent in `traceparent`
    trace_url: str | None = None  # the profile's `trace.url` with the trace id in it
    server_timing: list[ServerTimingEntry] = Field(default_factory=list)
    worker: int = 0


class TimeSplit(Section):
    """Where an endpoint's p95 requests spend their time: each phase's share of their summed duration (0 to
    1; None: not measured on this request path). What is left over (sending the request, the client's own
    time, an open model's wait for a free user) is 1 minus their sum. The p95 requests are the `requests` of
    its `of` successful ones in the latency buckets from p95's upward (stats/timesplit.py): every request
    at or above p95 and the few of p95's bucket below it, each within 1.6 % of p95; `from_ms` is where they
    start. `timed`: when a worker's series had 512 requests or more in a second, the split of those seconds
    is a systematic sample (256 to 511 requests a second timed, each counted for those it stands for), and
    `timed` says how many of `of` were timed: `requests` and the shares are then estimates; None: every one."""

    endpoint: str
    requests: int
    of: int | None = None
    from_ms: float | None = None
    connect: float | None = None
    tls: float | None = None
    waiting: float | None = None
    receiving: float | None = None
    timed: int | None = None


class PlanFlag(Section):
    kind: Literal["seq_scan", "filter", "nested_loop", "spill", "hit_ratio"]
    text: str  # the finding, its numbers and what to change


class PlanText(Section):
    duration_ms: float
    estimate: bool = False  # EXPLAIN (GENERIC_PLAN): the planner's estimates, not what ran
    lines: list[str] = Field(default_factory=list)  # the plan drawn as text, constants masked


class SlowPlan(Section):
    """A slow statement's plan (auto_explain's slowest in the window) and what to change."""

    statement: str  # pg_stat_statements' normalized text
    count: int  # its slow lines in the window
    plans: int = 0  # auto_explain plans paired with them
    plan: PlanText | None = None
    flags: list[PlanFlag] = Field(default_factory=list)


class NPlusOne(Section):
    """A statement one probed request ran more than once, and the statement whose rows the loop walked."""

    endpoint: str
    statement: str
    calls: int  # per request
    source: str = ""  # "" when no statement of the request returned exactly `calls` rows


class DbEvidence(Section):
    """The database layer: the slow statements' plans and flags (db_query_slow), why there are none (with
    the settings that log them), the N+1 loops per endpoint (db_queries_per_request), and the statements that
    took the most time in the window (db_queries)."""

    plans: list[SlowPlan] = Field(default_factory=list)
    plans_note: str | None = None
    n_plus_one: list[NPlusOne] = Field(default_factory=list)
    top: list[TopStatement] = Field(default_factory=list)  # db_queries: the statements that took the most time


class ProfileEvidence(Section):
    """A profiler's part of a latency gate's evidence: the target's top functions by own time, or why not."""

    name: str
    target: str
    attached: bool
    top: list[TopFrameRow] = Field(default_factory=list)
    flamegraph: str | None = None  # relative to the run folder
    problem: str | None = None  # not attached: what happened and the fix; attached: why its profile was cut short


class LighthouseNode(Section):
    """An element a Lighthouse result names (its audit details' `node`): selector, label and HTML snippet, cut."""

    selector: str = ""
    label: str = ""
    snippet: str = ""


class LighthousePhase(Section):
    """A part of the LCP (`largest-contentful-paint-element`'s phase table): TTFB, Load Delay, Load Time,
    Render Delay."""

    phase: str
    ms: float
    share: float | None = None  # of the LCP, 0..1


class LighthouseShift(Section):
    """A layout shift (`layout-shifts`) or a shifted element (older results' `layout-shift-elements`)."""

    score: float
    element: LighthouseNode | None = None
    causes: list[str] = Field(default_factory=list)  # its root causes, with their URLs (newer results)


class LighthouseResource(Section):
    url: str
    transfer: int  # bytes over the network
    type: str = ""  # Lighthouse's resourceType (Script, Image ...); "" when the result does not say


class LighthouseLoss(Section):
    """An audit of a category and the points of the category's score it lost: weight x (1 - score), over the
    category's weights, x 100."""

    audit: str
    title: str
    weight: float
    score: float
    points: float
    display: str = ""  # its displayValue


class LighthouseEvidence(Section):
    """A Lighthouse-read gate's evidence, from the result file whose value decided it (the one at the gate's
    value, or the worst)."""

    metric: str
    key: str  # the audit id, category or resource type
    file: str  # the result file's name
    value: float  # that file's value of the gate's metric
    files: int = 1  # result files that gave the metric
    role: str = "at the gate's value"  # or "worst"
    page: str = ""  # the page Lighthouse measured (finalDisplayedUrl), masked
    version: str = ""  # lighthouseVersion
    display: str = ""  # the audit's displayValue
    lcp_element: LighthouseNode | None = None
    lcp_phases: list[LighthousePhase] = Field(default_factory=list)
    shifts: list[LighthouseShift] = Field(default_factory=list)
    resources: list[LighthouseResource] = Field(default_factory=list)
    losses: list[LighthouseLoss] = Field(default_factory=list)
    note: str | None = None  # what the result did not hold


class FailedRequests(Section):
    """Failed requests of an error-rate gate's selector in the window, by endpoint, method and status."""

    endpoint: str
    method: str
    status: int  # 0: no response (refused, reset, timed out)
    count: int
    reason: str | None = None  # the most frequent error reason of these requests over the run, if one was kept


class DescCount(Section):
    """How many of a server_timing_desc gate's responses said each desc of its entry, in the window."""

    entry: str
    desc: str  # "" : the entry had no desc
    count: int


class FailedCheck(Section):
    """An `expect` condition of a `checks` gate's selector that failed in the window, with a response it failed on."""

    endpoint: str
    method: str
    check: str
    fails: int
    of: int  # times it was evaluated
    example: str | None = None  # the first response it failed on (status and the start of the body, masked)


class EndpointLoad(Section):
    """A throughput gate's requests in the window by endpoint and method, the most first: how many, their part of
    the gate's rate (a rate gate), how many failed, and the p95 of the successful ones (a slow endpoint holds a
    closed model's users: the fewer requests a second)."""

    endpoint: str
    method: str
    requests: int
    per_s: float | None = None  # its part of the gate's observed rate (a rate gate; None for a count)
    failed: int = 0
    p95_ms: float | None = None  # of its successful requests (None: none succeeded)


class Evidence(Section):
    """What a failing gate (or an inconclusive one whose limit is inside the error bound) shows as its
    reason: one field per layer, each filled by that layer, empty when it has nothing.

    To add a layer: add ONE field here with a default (an empty list or None, so older files still read),
    fill it in the layer's builder (report/evidence.py `BUILDERS`: `(ThresholdResult, RunRecord) -> dict`
    of this class's fields), and register its renderer (report/evidence.py `LAYERS`: short lines for
    junit.xml, markdown lines for summary.md, HTML for report.html). Every renderer is bounded; every
    string here is redacted with the rest of results.json.
    """

    slowest: list[SlowRequest] = Field(default_factory=list)  # HTTP: the K slowest requests of the selector
    failures: list[FailedRequests] = Field(default_factory=list)  # HTTP: an error-rate gate's failed requests
    throughput: list[EndpointLoad] = Field(default_factory=list)  # HTTP: a throughput gate's requests by endpoint
    descs: list[DescCount] = Field(default_factory=list)  # server_timing_desc: what its entry said instead
    checks: list[FailedCheck] = Field(default_factory=list)  # checks: the expect conditions that failed
    steps: list[StepFailure] = Field(default_factory=list)  # browser_step_failed: the steps that failed, and why
    time_split: list[TimeSplit] = Field(default_factory=list)  # HTTP: where the slowest requests' time goes
    notes: list[str] = Field(default_factory=list)  # what a layer could not collect, and why
    browser: BrowserEvidence | None = None  # browser: the view at the gate's value and the worst, attributed
    database: DbEvidence | None = None  # db_query_slow and db_queries_per_request (report/evidence_db.py)
    profile: list[ProfileEvidence] = Field(default_factory=list)  # profilers: the target's top functions
    lighthouse: LighthouseEvidence | None = None  # a Lighthouse-read gate: the deciding result file's reasons


class ThresholdRow(Section):
    selector: str
    expression: str
    observed: Num | None
    limit: Num
    unit: str = ""
    samples: int
    error_bound: Num
    verdict: str
    message: str
    abort_on_fail: bool = False
    evidence: Evidence | None = None  # failing rows and inconclusive ones within the error bound
    _threshold: Threshold | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        self._threshold = _threshold_of(self.selector, self.expression)

    @property
    def threshold(self) -> Threshold | None:
        """The selector and expression, parsed once as the row is read (None: a row this loadorch cannot
        parse, e.g. a metric it does not know); charts and limits use it, never the strings again."""
        return self._threshold


def _threshold_of(selector: str, expression: str) -> Threshold | None:
    """A written threshold as its type. The scenario's own tags were checked when the run was configured,
    so any tag in the selector is taken as known here."""
    body = selector.partition("{")[2].rpartition("}")[0]
    try:
        own_tags = {name for name, _ in split_tag_filters(body, selector)} if body.strip() else set()
        sel = parse_selector(selector, own_tags)
        return Threshold(sel, parse_expression(expression, sel.metric))
    except ThresholdSyntaxError:
        return None


class TopFrameRow(Section):
    """A function of a profile: its own time (it was running) and total time (it was on the stack)."""

    name: str
    file: str
    line: int | None
    self_s: float
    total_s: float
    self_share: float  # of every sampled second


class ProfileOverhead(Section):
    """py-spy's own CPU over the profiled span, and the target's; the target is never paused (nonblocking)."""

    nonblocking: bool
    profiler_cpu_s: float | None
    profiler_core_share: float | None  # of one core, over the profiled span
    target_cpu_s: float | None


class ProfileSection(Section):
    """One profiler of the run: attached (top frames, files in the run folder) or not (problem and fix)."""

    name: str
    tool: str
    target: str
    pid: int | None
    attached: bool
    rate_hz: int
    problem: str | None = None
    fix: str | None = None
    samples: int = 0
    sampled_s: float = 0.0
    profiled_s: float = 0.0
    dropped_stacks: int = 0
    top: list[TopFrameRow] = Field(default_factory=list)
    overhead: ProfileOverhead | None = None
    speedscope: str | None = None  # relative to the run folder
    flamegraph: str | None = None


class CheckRow(Section):
    """A run-integrity check (workers, setup, preflight, load achieved, generator CPU ...)."""

    name: str
    verdict: str
    message: str


class LostWorker(Section):
    index: int
    pid: int | None
    at_s: float | None


class ArrivalTotals(Section):
    scheduled: int
    dispatched: int
    dropped: int


class Integrity(Section):
    """The workers' account (verdict.integrity); empty when the run ended before the master summed up."""

    workers_expected: int = 0
    workers_seen: int = 0
    workers_lost: list[LostWorker] = Field(default_factory=list)
    generator_cpu_peak: dict[str, float] = Field(default_factory=dict)  # by worker index
    generator_cpu_sustained_peak: dict[str, float] = Field(default_factory=dict)
    dropped_arrivals: int = 0
    arrivals: ArrivalTotals | None = None  # open model
    virtual_users_failed: list[VuFailure] = Field(default_factory=list)
    per_worker: list[WorkerDetail] = Field(default_factory=list)
    rejected_peers: list[str] = Field(default_factory=list)
    stop_reason: StopReason | None = None
    aborted_by: ThresholdJson | None = None


class ServiceTime(Section):
    """Open model: latency from the actual send, beside the headline latency from the due time."""

    kinds: dict[str, LatencyStats]
    endpoints: dict[str, LatencyStats]


class ErrorRow(Section):
    name: str
    kind: str
    status: int
    reason: str
    count: int
    example: str | None = None  # the first response of that error (redacted)


class ExpectCheck(Section):
    user: str
    name: str
    check: str
    passes: int
    fails: int
    rate: float | None
    example: str | None = None


class RepeatedStatement(Section):
    statement: str
    calls: int
    source: str = ""  # the statement whose rows the loop walked (it returned exactly `calls` rows), if found


class ProbeRow(Section):
    name: str
    user: str
    kind: str
    method: str
    queries: int | None
    header: int | None = None
    repeated: list[RepeatedStatement] = Field(default_factory=list)
    note: str = ""


class TopStatement(Section):
    statement: str
    calls: int
    total_ms: float
    mean_ms: float


class SlowStatement(Section):
    """A statement the duration log saw slower than slow_ms in the window: how often, the longest."""

    statement: str
    count: int
    max_ms: float


class StatementsPoint(Section):
    t_s: float
    queries: int


class DbCollector(Section):
    """The postgres collector's measurement (db.measure.DbMeasurement.to_json); a figure that could not be
    measured is null, with the reason in `unmeasured` / `slow_unmeasured`."""

    slow_ms: float
    queries: int | None = None
    slow: int | None = None
    window_s: float = 0.0
    unmeasured: str | None = None
    slow_unmeasured: str | None = None
    probe: list[ProbeRow] = Field(default_factory=list)
    probe_note: str | None = None
    top: list[TopStatement] = Field(default_factory=list)
    timeseries: list[StatementsPoint] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    log_source: str = ""
    slow_top: list[SlowStatement] = Field(default_factory=list)  # by count
    window_start: str = ""  # the window's edges on the server's clock (log_timezone), as the log stamps lines
    window_end: str = ""
    slow_share: float | None = None
    plans: list[SlowPlan] = Field(default_factory=list)
    plans_note: str | None = None  # why the slow statements have no plan (with the settings that log them)


class Database(Section):
    queries_per_request: dict[str, PerRequest | None] = Field(default_factory=dict)
    collector: DbCollector | None = None


class TimeRow(Section):
    """One slot of one kind (a slot is `histograms.interval_s * interval_step` seconds)."""

    t_s: float
    kind: str
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class LoadPoint(Section):
    t_s: float
    users: int
    scheduled_per_s: float | None = None  # open model
    arrivals_per_s: float | None = None
    dropped_per_s: float | None = None


class LoadTimeline(Section):
    model: Literal["closed", "open"]
    users: int
    target: list[tuple[float, Num]]  # (t_s, users or arrivals per second)
    points: list[LoadPoint]


class EndpointTimeseries(Section):
    interval_s: float
    endpoints: dict[str, list[tuple[float, float]]]  # name -> (t_s, p95 ms)


class Vital(Section):
    count: int
    p50: float | None
    p75: float | None
    p95: float | None
    max: float | None


class PageWeightStats(Section):
    """A page's weight of one resource type over its views: bytes transferred, decoded, requests."""

    bytes: Vital
    decoded_bytes: Vital
    requests: Vital


class BrowserPage(Section):
    views: int | None
    cut_short: int = 0  # page views the run's end cut short: counted apart, not samples
    steps: int
    failed_steps: int
    vitals: dict[str, Vital]
    weight: dict[str, PageWeightStats] = Field(default_factory=dict)  # by resource type, types it had


class VitalPoint(Section):
    t_s: float
    page: str
    vital: str
    count: int
    p75: float | None


class StepFailure(Section):
    user: str
    page: str
    step: str
    reason: str
    count: int


class BlockedRequest(Section):
    page: str
    url: str
    count: int


class LcpAttribution(Section):
    """The LCP of a page view: its element (a CSS path), resource URL and the four parts that add up to it (ms)."""

    element: str
    url: str = ""
    ttfb: Num
    load_delay: Num
    load_duration: Num
    render_delay: Num


class FrameScript(Section):
    """A script of a long animation frame that overlapped the interaction (Long Animation Frames)."""

    url: str
    invoker: str
    type: str
    duration: Num


class InpAttribution(Section):
    """The INP of a page view: the interaction's target, type, time (ms since navigation) and its three parts."""

    target: str
    type: str  # pointer or keyboard
    event: str
    time: Num
    input_delay: Num
    processing: Num
    presentation: Num
    scripts: list[FrameScript] = Field(default_factory=list)


class ShiftSource(Section):
    """An element the shift moved, with its rectangle before and after: [x, y, width, height] (CSS px)."""

    element: str
    previous: list[int] | None = None
    current: list[int] | None = None


class ClsAttribution(Section):
    """The largest layout shift of the session window that is the CLS: value, time (ms), sources."""

    value: Num
    time: Num
    sources: list[ShiftSource] = Field(default_factory=list)


class LargeResource(Section):
    transfer: int
    decoded: int
    type: str
    url: str


class PageWeight(Section):
    """A page view's requests and bytes of one resource type, and its largest resources."""

    type: str
    requests: int
    transfer: int
    decoded: int
    largest: list[LargeResource] = Field(default_factory=list)


class BrowserView(Section):
    """One page view a browser gate's evidence names: the one at the gate's value (role `p(75)`, `avg`, ...)
    or the worst (`worst`), with what its page measured about the gate's metric."""

    role: str
    value: Num
    page: str
    user: str
    at_s: Num
    lcp: LcpAttribution | None = None
    inp: InpAttribution | None = None
    cls: ClsAttribution | None = None
    weight: PageWeight | None = None


class BrowserEvidence(Section):
    metric: str
    unit: str = ""
    views: list[BrowserView]


class BrowserTablesJson(TypedDict):
    """browser.stats.BrowserStats as JSON rows."""

    interval_s: float
    views: int
    series: list[tuple[str, list[tuple[str, str]], HistogramJson]]  # (metric, tags, histogram)
    intervals: list[tuple[str, str, int, HistogramJson]]  # (metric, page, slot)
    steps: list[tuple[str, str, str, int, int]]  # (user, page, step, ok, failed)
    failures: list[tuple[str, str, str, str, int]]  # (user, page, step, reason, count)
    blocked: list[tuple[str, str, int]]  # (page, url, count)
    cut_short: NotRequired[dict[str, int]]  # page -> page views cut short by the run's end
    lighthouse: NotRequired[list[tuple[str, list[tuple[str, str]], list[float]]]]  # (metric, tags, values as read)


class Browser(Section):
    views: int
    cut_short: int = 0  # page views the run's end cut short: counted apart, not samples
    steps: int
    failed_steps: int
    pages: dict[str, BrowserPage]
    budgets_p75: dict[str, float]
    timeseries: list[VitalPoint]
    failures: list[StepFailure]
    blocked: list[BlockedRequest] = Field(default_factory=list)
    lighthouse: dict[str, Vital] = Field(default_factory=dict)
    histograms: BrowserTablesJson


class ExcludedKind(Section):
    requests: int
    failures: int
    p95_ms: float | None


class ExcludedPhase(Section):
    requests: int
    failures: int
    kinds: dict[str, ExcludedKind]


class Window(Section):
    """The measurement window: its spans, the judged samples' stats and what was left out, by phase."""

    source: str
    spans: list[tuple[float, float]]
    seconds: float
    requests: int
    failures: int
    kinds: dict[str, LatencyStats]
    excluded: dict[str, ExcludedPhase]


class Results(Section):
    """results.json. Sections added after v1's first release have defaults: older files still read."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["loadorch.results/v1"] = Field(SCHEMA, alias="schema")
    verdict: Verdict
    exit_code: int
    error: str | None
    run: Run
    totals: Totals
    kinds: dict[str, LatencyStats]
    endpoints: dict[str, EndpointStats]
    thresholds: list[ThresholdRow]
    checks: list[CheckRow]
    integrity: Integrity
    service_time: ServiceTime | None = None
    errors: list[ErrorRow] = Field(default_factory=list)
    expect_checks: list[ExpectCheck] = Field(default_factory=list)
    database: Database | None = None
    timeseries: list[TimeRow] = Field(default_factory=list)
    load: LoadTimeline | None = None
    endpoint_timeseries: EndpointTimeseries | None = None
    histograms: MergedJson
    browser: Browser | None = None
    window: Window | None = None
    live_metrics: MetricsReport | None = None
    warnings: list[str] = Field(default_factory=list)
    profiles: list[ProfileSection] = Field(default_factory=list)

    def slot_seconds(self) -> float:
        """Seconds per row of `timeseries` (and slot of `histograms.intervals`)."""
        return slot_seconds(self.histograms)

    @property
    def elapsed_s(self) -> float:
        return self.run.elapsed_s

    def to_json(self) -> dict[str, Any]:  # a JSON document: its values are of every JSON type
        """The document as it was read or built: fields it did not have stay out, and so do the sections
        only some runs have (browser, window, live_metrics, warnings) where this run has none."""
        absent = {name for name in ONLY_IF_ANY if not getattr(self, name)}
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=absent)


def slot_seconds(hist: MergedJson) -> float:
    """Seconds per slot of a timeline drawn from `hist` (histograms.interval_s * interval_step)."""
    return float(hist.get("interval_s", 1.0) or 1.0) * int(hist.get("interval_step", 1) or 1)


class PhaseCount(Section):
    requests: int
    failures: int


class LiveWindow(Section):
    """The measurement window while the run goes on (the live dashboard): where the run is in it."""

    source: str
    state: str  # before, open, between, closed
    spans: list[tuple[float, float]]
    seconds: float
    of_s: float
    requests: int
    failures: int
    excluded: dict[str, PhaseCount]


class LiveView(Section):
    """What the live dashboard draws every second (runtime/live.py): the report's charts, so far."""

    elapsed_s: float
    requests: int
    failures: int
    users: int
    timeseries: list[TimeRow]
    histograms: MergedJson  # the timeline's histograms only
    load: LoadTimeline | None
    thresholds: list[ThresholdRow]
    window: LiveWindow | None = None

    def slot_seconds(self) -> float:
        return slot_seconds(self.histograms)


class ResultsError(ConfigError):
    """A results.json that cannot be read: located problems, `file: field: message` (exit 3, like any
    file of the wrong schema)."""

    title = "unreadable results"


def parse_results(text: str | bytes, name: str) -> Results:
    """The document in `text` (the file `name`) as Results; anything else raises ResultsError."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError([Problem(name, None, "", f"not valid JSON: {exc}")]) from None
    return results_of(doc, name)


def results_of(doc: object, name: str) -> Results:
    """A parsed JSON document (`doc`, from the file `name`) as Results, checked section by section."""
    if not isinstance(doc, dict):
        raise ResultsError([Problem(name, None, "", f"not a {SCHEMA} document (a JSON {_kind(doc)})")])
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise ResultsError([Problem(name, None, "schema", _schema_message(schema))])
    try:
        return Results.model_validate(doc)
    except ValidationError as exc:
        raise ResultsError(problems_of(exc, name)) from None


def _schema_message(schema: object) -> str:
    if schema is None:
        return f"missing: not a {SCHEMA} document"
    if isinstance(schema, str) and schema.startswith("loadorch.results/"):
        return f"{schema} is a version this loadorch cannot read (it reads {SCHEMA}): use the loadorch that wrote it"
    return f"{json.dumps(schema)[:80]} is not {SCHEMA}"


def problems_of(exc: ValidationError, name: str) -> list[Problem]:
    """pydantic's errors as `file: field: message`, the first MAX_PROBLEMS of them."""
    errors = exc.errors(include_url=False)
    out = [Problem(name, None, ".".join(str(p) for p in e["loc"]), _message(e)) for e in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        out.append(Problem(name, None, "", f"and {len(errors) - MAX_PROBLEMS} more problems"))
    return out


def _message(error: Any) -> str:  # pydantic's ErrorDetails, a TypedDict
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown field (not part of " + SCHEMA + ")"
    shown = json.dumps(given, default=str)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {shown}"


def _kind(doc: object) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(doc), "null")


def json_schema() -> str:
    """The published JSON Schema of results.json (docs/results.schema.json), as text."""
    schema = Results.model_json_schema(by_alias=True, mode="validation")
    schema["title"] = SCHEMA
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # python3 -m loadorch.results > docs/results.schema.json
    sys.stdout.write(json_schema())
