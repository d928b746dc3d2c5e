"""The master's stats lag: from a worker sending a report to the master having merged it (bounded memory)."""

from __future__ import annotations

from loadorch.stats.histogram import Histogram
from loadorch.wire import StatsLag

LAG_STEP_US = 100  # lags are kept to the 0.1 ms: the resolution of the summary's max_s and p99_s


class LagMeter:
    """Lags in microseconds, in one histogram: a report's lag is `merged_at - sent_at`, both wall clocks
    (the same clock on one machine; across machines it includes their skew, clipped at zero)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.lags = Histogram()
        self.over = 0
        self.recent_max_s = 0.0  # since the last `take_recent_max`

    def record(self, sent_at: float | None, merged_at: float) -> None:
        if sent_at is None:
            return
        lag = max(0.0, merged_at - sent_at)
        # to the 0.1 ms the summary says (4 decimals of a second): a monitor merges reports for days, and lags to
        # the microsecond made new buckets for weeks (up to 1,024 a doubling); to the 0.1 ms, a few hundred
        self.lags.record(int(lag * 1e4 + 0.5) * LAG_STEP_US)
        if lag > self.interval_s:
            self.over += 1
        self.recent_max_s = max(self.recent_max_s, lag)

    def take_recent_max(self) -> float:
        """The largest lag since the last call (for the progress line), in seconds."""
        lag, self.recent_max_s = self.recent_max_s, 0.0
        return lag

    def summary(self) -> StatsLag:
        h = self.lags
        if h.count == 0:
            return StatsLag()
        return StatsLag(
            messages=h.count,
            max_s=round(h.max / 1e6, 4),
            p99_s=round(h.percentile(99) / 1e6, 4),
            over_interval=self.over,
        )
