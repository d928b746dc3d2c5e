"""The profile file model: where and how hard to run a scenario."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from loadorch.config.base import Strict
from loadorch.config.collectors import Collectors
from loadorch.config.evidence import EvidenceSettings, TraceSettings
from loadorch.config.goals import GoalSyntaxError, parse_goal
from loadorch.config.monitor import MonitorSettings
from loadorch.config.profilers import MAX_PROFILERS, ProfilerSpec
from loadorch.config.scenario import Headers, ThresholdItem
from loadorch.config.tls import TlsSettings
from loadorch.config.units import DEFAULT_MAX_ENDPOINTS as DEFAULT_MAX_ENDPOINTS  # (here too: the profile's)
from loadorch.config.units import DEFAULT_MAX_HEAD as DEFAULT_MAX_HEAD
from loadorch.config.units import MAX_DURATION_S, Duration, Percent, Size, too_long


class Stage(Strict):
    """An open-model stage (`rate`: arrivals per second) or a closed-model one (`users`)."""

    rate: float | None = Field(None, ge=0, le=1_000_000)
    users: int | None = Field(None, ge=0, le=100_000)
    duration: Duration

    @model_validator(mode="after")
    def _one_level(self) -> Stage:
        if (self.rate is None) == (self.users is None):
            raise ValueError("a stage gives users (closed model) or rate (open model, arrivals per second)")
        if self.duration <= 0:
            raise ValueError("a stage's duration must be greater than zero")
        return self


class MeasureWindow(Strict):
    """The part of the run the thresholds judge: from `from` to `to` seconds after the load starts."""

    start: Duration = Field(alias="from")
    to: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> MeasureWindow:
        if self.to is not None and self.to <= self.start:
            raise ValueError("measure.to must be later than measure.from")
        return self


class Load(Strict):
    """Closed model (`users`) or open model (`arrival_rate` or `stages`, with `max_users`)."""

    users: int | None = Field(None, ge=1, le=100_000)
    spawn_rate: float | None = Field(None, gt=0)
    duration: Duration | None = None
    iterations: int | None = Field(None, ge=1)
    arrival_rate: float | None = Field(None, gt=0, le=1_000_000)
    stages: list[Stage] | None = Field(None, min_length=1)
    start_rate: float = Field(0.0, ge=0, le=1_000_000)  # as a stage's rate (inf ran, then lost results.json)
    max_users: int | None = Field(None, ge=1, le=100_000)
    spacing: Literal["constant", "poisson"] = "constant"
    max_dropped: Percent = 0.0
    on_dropped: Literal["inconclusive", "fail"] = "inconclusive"

    @property
    def is_open(self) -> bool:
        return self.arrival_rate is not None or (self.stages is not None and not self.staged_users)

    @property
    def staged_users(self) -> bool:
        """Closed-model stages: every stage gives a user count."""
        return self.stages is not None and all(s.users is not None for s in self.stages)

    @model_validator(mode="after")
    def _one_model(self) -> Load:
        if self.stages is not None and len({s.users is None for s in self.stages}) > 1:
            raise ValueError("give every stage users (closed model) or every stage a rate (open model), not a mix")
        if self.staged_users:
            self._check_user_stages()
        elif self.is_open:
            self._check_open()
        else:
            if self.users is None and self.duration is None and self.iterations is None:
                raise ValueError(
                    "give users and a duration (closed model), arrival_rate / stages (open model), or, for a "
                    "browser-only scenario, a duration and/or iterations (journeys per page) alone"
                )
            if self.max_users is not None:
                raise ValueError("max_users belongs to the open model (arrival_rate or stages); use users")
            if self.duration is None and self.iterations is None:
                raise ValueError("give a duration (e.g. 1m) or iterations per user (here, or `run --duration` / "
                                 "`--iterations`)")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be greater than zero")
        total = sum(s.duration for s in self.stages or ())
        if total > MAX_DURATION_S:
            raise ValueError(too_long(f"the stages add up to {total:.0f}s, which"))
        return self

    def _check_user_stages(self) -> None:
        for field_name in ("users", "spawn_rate", "arrival_rate", "max_users", "duration"):
            if getattr(self, field_name) is not None:
                raise ValueError(
                    f"give stages or {field_name}, not both: with stages, each stage's users and duration "
                    "set the load (the run lasts the sum of the durations)"
                )
        if max(s.users or 0 for s in self.stages or ()) < 1:
            raise ValueError("at least one stage needs users >= 1")

    def user_stages(self) -> tuple[tuple[float, float, float], ...]:
        """(users at the start, users at the end, seconds) per closed-model stage, from 0 users."""
        out, previous = [], 0.0
        for stage in self.stages or ():
            out.append((previous, float(stage.users or 0), stage.duration))
            previous = float(stage.users or 0)
        return tuple(out)

    def _check_open(self) -> None:
        if self.arrival_rate is not None and self.stages is not None:
            raise ValueError("give arrival_rate or stages, not both")
        if self.users is not None or self.spawn_rate is not None:
            raise ValueError("users and spawn_rate belong to the closed model; the open model uses max_users")
        if self.iterations is not None:
            raise ValueError("iterations belong to the closed model; the open model runs for a duration")
        if self.arrival_rate is not None and self.duration is None:
            raise ValueError("arrival_rate needs a duration")
        if self.stages is not None and self.duration is not None:
            raise ValueError("with stages, the duration is the sum of the stages' durations")

    def rate_stages(self) -> tuple[tuple[float, float, float], ...]:
        """(start rate, end rate, seconds) per stage; the rate ramps linearly within a stage."""
        if self.arrival_rate is not None:
            return ((self.arrival_rate, self.arrival_rate, float(self.duration or 0.0)),)
        out, previous = [], self.start_rate
        for stage in self.stages or ():
            rate = float(stage.rate or 0.0)
            out.append((previous, rate, stage.duration))
            previous = rate
        return tuple(out)


class CompareBudgets(Strict):
    """Budgets for `loadorch compare`: relative for latency and throughput, absolute for error rate."""

    max_regression: Percent | None = None
    p50: Percent | None = None
    p95: Percent | None = None
    p99: Percent | None = None
    rps: Percent | None = None
    error_rate: Percent | None = None
    min_change_ms: float | None = Field(None, ge=0, le=3_600_000)  # an hour at most (inf: every slowdown 'same')
    # improvement goals: {"http_req_duration{name:list}": "p(95) -30%"} (config/goals.py)
    goals: dict[str, str] = Field(default_factory=dict, max_length=100)

    @field_validator("goals")
    @classmethod
    def _goals_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for selector, text in value.items():
            try:
                parse_goal(selector, text, "profile")
            except GoalSyntaxError as exc:
                raise ValueError(str(exc)) from None
        return value


class Profile(Strict):
    scenario: str = Field(min_length=1)
    description: str | None = None
    host: str = Field(min_length=1)
    allowed_hosts: list[str] = Field(default_factory=list)
    headers: Headers = Field(default_factory=dict)
    load: Load
    measure: Literal["steady"] | MeasureWindow | None = None  # the window thresholds judge; ramps reported apart
    workers: int | Literal["auto"] = 1
    seed: int = 1
    thresholds: dict[str, list[ThresholdItem]] = Field(default_factory=dict)
    min_samples: int | None = Field(None, ge=1)
    secrets: list[str] = Field(default_factory=list)
    request_timeout: Duration = Field(10.0, gt=0)
    worker_connect_timeout: Duration = Field(30.0, gt=0)
    max_response_body: Size = 10 * 1024 * 1024
    max_response_head: Size = DEFAULT_MAX_HEAD  # status line and headers; a larger head fails its request
    max_endpoints: int = Field(DEFAULT_MAX_ENDPOINTS, ge=1, le=1_000_000)  # distinct request names per run
    tls: TlsSettings | None = None  # a custom CA bundle and a client certificate (mTLS)
    allow_saturated_generator: bool = False
    compare: CompareBudgets | None = None
    collectors: Collectors = Collectors()
    browser_workers: int = Field(1, ge=1, le=64)  # processes, each with its own Chromium, for `browsers:`
    lighthouse: list[str] = Field(default_factory=list)  # Lighthouse result JSON files, relative to the profile
    monitor: MonitorSettings = Field(default_factory=lambda: MonitorSettings.model_validate({}))
    trace: TraceSettings = TraceSettings()  # W3C traceparent on every request; a link per trace id
    evidence: EvidenceSettings = EvidenceSettings()  # what a failing gate shows (the K slowest requests)
    profilers: list[ProfilerSpec] = Field(default_factory=list, max_length=MAX_PROFILERS)  # py-spy on the target

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: Any) -> Any:
        if isinstance(v, int) and not 1 <= v <= 256:
            raise ValueError("workers must be between 1 and 256, or auto")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if v == "embedded":
            return v
        problem = host_url_problem(v)
        if problem:
            raise ValueError(problem)
        return v.rstrip("/")


def host_url_problem(url: str) -> str | None:
    """Why `url` cannot be a target (scheme, host name, port), or None if it can. Credentials in the URL
    (`user:pass@`) are never repeated in the message."""
    shown = re.sub(r"(?<=//)[^/?#]*@", "***@", url)
    if not (url.startswith("http://") or url.startswith("https://")):
        return f"host {shown!r} needs a scheme: http://... or https://..., or 'embedded'"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return f"host {shown!r} contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Port out of range 0-65535", "Invalid IPv6 URL", a non-numeric port
        return f"host {shown!r} is not a valid URL: {exc}"
    if not parts.hostname:
        return f"host {shown!r} has no host name (e.g. http://api.example.com:8080)"
    if port == 0:
        return f"host {shown!r}: port 0 cannot be connected to; give a port from 1 to 65535"
    return None
