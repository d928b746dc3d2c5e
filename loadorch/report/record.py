"""What a run produced, as data: the record report/ builds every artifact from (results.json, summaries, evidence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from loadorch.results import Browser, BrowserEvidence, DbCollector, Integrity, LighthouseEvidence, ProfileSection
from loadorch.stats.tables import Merged
from loadorch.verdict.evaluate import Check, ThresholdResult
from loadorch.wire import MetricsReport, StopReason


@dataclass
class RunRecord:
    """Everything a run produced, as data."""

    profile: str
    scenario_name: str
    scenario_path: str
    scenario_sha256: str
    seed: int
    workers: int
    users: int
    host: str
    start: str
    end: str
    versions: dict[str, str]
    verdict: str
    exit_code: int
    merged: Merged = field(default_factory=Merged)
    elapsed_s: float = 0.0
    stop_reason: StopReason | None = None
    thresholds: list[ThresholdResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    integrity: Integrity = field(default_factory=Integrity)
    interrupted: bool = False
    error: str | None = None
    iterations: int | None = None
    duration_s: float | None = None
    database: DbCollector | None = None  # the postgres collector's measurement (DbMeasurement.to_json)
    load: LoadRecord | None = None
    browser: Browser | None = None  # browser users and Lighthouse results (loadorch.browser.results)
    # a browser gate's evidence by "selector expression", from the run (browser/evidence.py)
    browser_evidence: dict[str, BrowserEvidence] = field(default_factory=dict)
    # a Lighthouse-read gate's evidence by "selector expression", from its result files (run/browsers.py)
    lighthouse_evidence: dict[str, LighthouseEvidence] = field(default_factory=dict)
    window: tuple[tuple[float, float], ...] = ()  # the measurement window's spans (s), if the profile has one
    window_source: str = ""
    tags: dict[str, str] = field(default_factory=dict)  # --tag: the whole run's tags
    trace_url: str = ""  # the profile's trace.url: a link per trace id in the evidence ({trace_id} in it)
    live_metrics: MetricsReport | None = None  # the live metrics' account at the end (the master's summary)
    warnings: list[str] = field(default_factory=list)  # e.g. a metrics push that failed
    profiles: list[ProfileSection] = field(default_factory=list)  # the profilers' sections (loadorch.run.profiler)


@dataclass
class LoadRecord:
    """The load the profile asked for and what the master saw: samples of
    (t_s, users, arrivals scheduled, dispatched, dropped), the counters cumulative over all workers."""

    model: Literal["closed", "open"]
    users: int
    spawn_rate: float = 0.0
    stages: tuple[tuple[float, float, float], ...] = ()  # (start, end, seconds): open model rates, closed users
    samples: list[list[float]] = field(default_factory=list)
