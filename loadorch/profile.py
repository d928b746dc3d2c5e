"""The profile file model: where and how hard to run a scenario."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from loadorch.scenario import Strict, ThresholdItem
from loadorch.units import Duration, Percent


class Load(Strict):
    """Closed model: a fixed number of virtual users for a duration (or a number of iterations)."""

    users: int = Field(ge=1, le=100_000)
    spawn_rate: float | None = Field(None, gt=0)
    duration: Duration | None = None
    iterations: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _stop_condition(self) -> Load:
        if self.duration is None and self.iterations is None:
            raise ValueError("give a duration (e.g. 1m) or iterations per user")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be greater than zero")
        return self


class CompareBudgets(Strict):
    """Budgets for `loadorch compare`: relative for latency and throughput, absolute for error rate."""

    max_regression: Percent | None = None
    p50: Percent | None = None
    p95: Percent | None = None
    p99: Percent | None = None
    rps: Percent | None = None
    error_rate: Percent | None = None
    min_change_ms: float | None = Field(None, ge=0)


class Profile(Strict):
    scenario: str = Field(min_length=1)
    description: str | None = None
    host: str = Field(min_length=1)
    allowed_hosts: list[str] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    load: Load
    workers: int | Literal["auto"] = 1
    seed: int = 1
    thresholds: dict[str, list[ThresholdItem]] = Field(default_factory=dict)
    min_samples: int | None = Field(None, ge=1)
    secrets: list[str] = Field(default_factory=list)
    request_timeout: Duration = 10.0
    worker_connect_timeout: Duration = 30.0
    allow_saturated_generator: bool = False
    compare: CompareBudgets | None = None

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
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError(f"host {v!r} needs a scheme: http://... or https://..., or 'embedded'")
        return v.rstrip("/")
