"""The measurement window: which part of the run the thresholds judge (`measure:` in a profile)."""

from __future__ import annotations

from dataclasses import dataclass

from loadorch.config.profile import Load, MeasureWindow
from loadorch.traffic.stages import Span, Stage, steady_spans


@dataclass(frozen=True)
class Window:
    """Spans in seconds since the load started; `source` is "steady" or "from/to"."""

    spans: tuple[Span, ...]
    source: str

    def to_json(self) -> dict[str, object]:
        return {"spans": [list(s) for s in self.spans], "source": self.source}


def resolve_window(
    measure: str | MeasureWindow | None,
    load: Load,
    user_stages: tuple[Stage, ...] | None,
    duration_s: float | None,
    users: int,
    spawn_rate: float,
) -> Window | None:
    """The window for a run, or ValueError with the fix."""
    if measure is None:
        return None
    if isinstance(measure, MeasureWindow):
        end = measure.to if measure.to is not None else duration_s
        if end is None:
            raise ValueError("measure.to is needed when the run has no duration (iterations only)")
        if duration_s is not None and end > duration_s + 1e-9:
            raise ValueError(f"measure.to ({end:g}s) is after the end of the load ({duration_s:g}s)")
        if end <= measure.start:
            raise ValueError(f"measure.from ({measure.start:g}s) must be before the end of the load ({end:g}s)")
        return Window(((measure.start, end),), "from/to")
    stages = user_stages if user_stages is not None else (load.rate_stages() if load.is_open else None)
    if stages is None:
        if duration_s is None:
            raise ValueError("measure: steady needs a duration (or stages); give measure: {from: .., to: ..}")
        ramp = users / spawn_rate if spawn_rate > 0 else 0.0
        if ramp >= duration_s:
            raise ValueError(
                f"steady: the users are still starting until {ramp:g}s, the end of the load ({duration_s:g}s)"
            )
        return Window(((ramp, duration_s),), "steady")
    spans = steady_spans(stages)
    if not spans:
        raise ValueError("measure: steady needs a stage whose level is flat (the same users or rate as before it)")
    return Window(spans, "steady")
