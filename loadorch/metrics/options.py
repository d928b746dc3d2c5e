"""The run's live-metrics options and the plan block the master reads (pure)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from loadorch.metrics.names import SERIES_TABLES, edges_us, latency_limits_ms, table_edges
from loadorch.traffic.redact import CREDENTIAL_PARAM
from loadorch.wire import MetricsPlan

DEFAULT_GRACE_S = 30.0  # two scrape intervals of the shipped scrape snippet (15 s)


@dataclass(frozen=True)
class MetricsOptions:
    port: int | None = None  # --metrics-port: serve /metrics
    bind: str = "127.0.0.1"  # --metrics-bind
    grace_s: float = DEFAULT_GRACE_S  # --metrics-grace: the endpoint stays up this long after the run
    remote_write: str | None = None  # --remote-write URL
    dashboard: bool = False  # --dashboard
    dashboard_port: int = 0  # --dashboard-port (0: any free port)

    @property
    def enabled(self) -> bool:
        return self.port is not None or self.remote_write is not None or self.dashboard


def remote_write_problem(url: str) -> str | None:
    """Why a --remote-write URL cannot be used, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--remote-write: expected an http(s) URL, got {url!r}"
    # a token in the query (`?api_key=...`) is a credential in the URL as much as `user:password@` is: the URL
    # is printed, logged and written inline into the Kubernetes manifests' arguments, where a Secret is not
    named = [n for n, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if CREDENTIAL_PARAM.search(n)]
    if parts.username or parts.password or named:
        where = f"the query parameter {named[0]!r}" if named else "the URL's user part"
        return (
            f"--remote-write: a credential in the URL ({where}) would end up in logs and manifests; put it in "
            "LOADORCH_REMOTE_WRITE_BASIC_AUTH (user:password) or LOADORCH_REMOTE_WRITE_BEARER_TOKEN"
        )
    return None


def plan_block(
    opts: MetricsOptions,
    run_id: str,
    profile: str,
    scenario: str,
    thresholds: Iterable[tuple[str, float]],
    final_path: str | None = None,
    extra_path: str | None = None,
) -> MetricsPlan:
    """What the master needs: where to serve and push, the run labels, the histogram edges."""
    thresholds = list(thresholds)
    return MetricsPlan(
        port=opts.port,
        bind=opts.bind,
        grace_s=opts.grace_s,
        remote_write=opts.remote_write,
        dashboard=opts.dashboard,
        dashboard_port=opts.dashboard_port,
        run_id=run_id,
        profile=profile,
        scenario=scenario,
        edges_us=list(edges_us(latency_limits_ms(thresholds))),
        table_edges={t.attr: list(table_edges(t, thresholds)) for t in SERIES_TABLES},
        # where the controller writes the gate's final threshold results (integrity checks can turn a
        # breach measured by a saturated generator into inconclusive); the master waits for them
        final_path=final_path,
        extra_path=extra_path,
    )
