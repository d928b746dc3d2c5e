"""The profile's `monitor:` section: the rolling window the thresholds judge between releases."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from loadorch.config.base import Strict
from loadorch.config.units import Duration

DEFAULT_WINDOW_S = 3600.0  # the last hour's p75, p95 ...
DEFAULT_SLICES = 12
# the shortest window: the master snapshots its tables ten times a second, and the alerts' PromQL ranges are whole
# milliseconds (a window of 0.0004 s was the range `[0s]`, which Prometheus rejects)
MIN_WINDOW_S = 1.0
TOO_SHORT = (f"must be at least {MIN_WINDOW_S:g}s: the monitor judges its window from tables snapshotted ten times a "
             "second; give e.g. 5m or 1h")


class MonitorSettings(Strict):
    """`loadorch monitor` and `loadorch alerts`: thresholds over the last `window`, kept as `slices`
    fixed-size histograms per series (memory does not grow with time); an alert fires once a budget has
    been crossed for `for`; `status_every` is how often the monitor judges and rewrites its status."""

    window: Duration = Field(DEFAULT_WINDOW_S, gt=0)
    slices: int = Field(DEFAULT_SLICES, ge=2, le=360)
    for_s: Duration = Field(0.0, alias="for", ge=0)
    status_every: Duration = Field(10.0, gt=0)

    @field_validator("window")
    @classmethod
    def _long_enough(cls, v: float) -> float:
        if v < MIN_WINDOW_S:
            raise ValueError(TOO_SHORT)  # (the problem's text adds the value given)
        return v

    @model_validator(mode="after")
    def _fits(self) -> MonitorSettings:
        if self.status_every > self.window:
            raise ValueError("status_every must not be longer than the window")
        return self

    @property
    def slice_s(self) -> float:
        return self.window / self.slices
