"""A run's options (what `loadorch run` and `loadorch monitor` ask for) and its state while it goes: the
controller's (run/controller.py) and, once the load is over, the run's end's (run/finish.py), apart from both so
that neither imports the other."""

from __future__ import annotations

import os
import secrets as pysecrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from loadorch.config.resolve import RunConfig
from loadorch.metrics.options import MetricsOptions
from loadorch.run import forkstart
from loadorch.run.processes import ProcessGroup
from loadorch.run.profiler import Profilers
from loadorch.run.progress import Progress
from loadorch.traffic.redact import Redactor
from loadorch.traffic.trace import TraceIds, run_prefix
from loadorch.verdict.evaluate import Check
from loadorch.wire import MasterSummary

if TYPE_CHECKING:  # results.json's models and the browser's statistics: imported where a run needs them
    from loadorch.browser.sink import BrowserSink
    from loadorch.results import ProfileSection


@dataclass
class RunOptions:
    out_dir: str
    junit_path: str | None = None
    request_log: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    progress: Progress | None = None
    external_workers: bool = False  # Kubernetes: workers run elsewhere and connect to us
    master_bind: str = "127.0.0.1"
    master_port: int | None = None
    token: str | None = None
    print_artifacts: bool = False  # end stdout with the framed artifacts block
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    summary_export: str | None = None  # --summary-export: k6's summary JSON (GitLab's Load Performance widget)
    monitor: Any = None  # loadorch.run.monitor.Monitor: `loadorch monitor`'s rolling windows and status
    forkserver: forkstart.ForkServer | None = None  # started by the caller already (`loadorch run`); else here


@dataclass
class RunState:
    cfg: RunConfig
    opts: RunOptions
    redactor: Redactor
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    checks: list[Check] = field(default_factory=list)
    master_summary: MasterSummary | None = None
    summary_missing: str = ""  # why there is no master_summary (not written, unreadable: the error), "" when there is
    error: str | None = None
    host: str = ""
    addresses: list[str] = field(default_factory=list)  # the target's, as preflight checked them
    scratch: str = ""
    db: Any = None  # the postgres collector (loadorch.run.database.DatabaseCollector), when configured
    sink: BrowserSink | None = None
    live_labels: tuple[str, str, str] | None = None  # live metrics: run_id, profile, scenario
    live_extra_path: str = ""  # live metrics measured here (browser vitals), for the master to serve and push
    keep_all_logs: bool = False
    kept_logs: dict[str, str] = field(default_factory=dict)  # process name -> why its log was kept
    serving: list[str] = field(default_factory=list)  # the live metrics' and dashboard's addresses
    group: ProcessGroup | None = None  # the load's processes, once started (ended in any case at the run's end)
    lingering: ProcessGroup | None = None  # the master serving the final scrape, once the load is over
    grace_s: float = 0.0  # how long it serves it
    embedded_pid: int | None = None  # the embedded shop's process, when it runs in one (a profiler samples it)
    profilers: Profilers | None = None
    profile_sections: list[ProfileSection] = field(default_factory=list)  # results.json's `profiles`
    forkserver: forkstart.ForkServer | None = None  # imports the runtime meanwhile; forks the master and workers
    token: str = field(default_factory=lambda: pysecrets.token_hex(16))  # the run's (opts.token wins); trace_token
    finishing: threading.Thread | None = None  # imports run/finish.py while the load runs (_import_finish)
    # the load workers the master declared lost, as said (`worker 1 lost at 14.1s: its process is gone`): a monitor's
    # status says them (never ok: their users' share of the load is no longer sent); one entry a worker, so bounded
    lost_workers: dict[int, str] = field(default_factory=dict)

    def trace_token(self) -> str:
        """What this run's trace ids derive from (traffic/trace.run_prefix): this run's own random token, even when
        a token was given: the passes of a Kubernetes CronJob, a monitor's restarted pod and the same load Jobs
        applied again all read one Secret's token, and two runs must never share a trace id (a trace backend would
        join their requests into one trace). Workers elsewhere (`k8s plan`) draw their own the same way."""
        return self.token

    def tracer(self, worker: int) -> TraceIds | None:
        """Trace ids of the requests the controller sends itself (setup, the N+1 probe), as a worker's."""
        return TraceIds(run_prefix(self.trace_token()), worker) if self.cfg.profile.trace.propagate else None

    def log_path(self, name: str) -> str:
        """Where a process's log is kept in the run folder (when it is kept)."""
        return os.path.join(self.opts.out_dir, "logs", f"{name}.log")
