"""The run plan: everything the Locust processes need, and the process specs that start them.

The same plan and specs drive local worker processes and the rendered Kubernetes jobs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from loadorch.config.resolve import RunConfig
from loadorch.config.thresholds import SERVER_TIMING_METRICS
from loadorch.db.servertiming import QueryHeader
from loadorch.traffic import data as gen
from loadorch.traffic.trace import run_prefix
from loadorch.wire import ITERATIONS_CAP_S, BrowserPlan, MasterAddress, OpenSpec, Plan, ThresholdSpec

BROWSER_PORT_OFFSET = 2  # the browser sink listens next to the Locust master (5557 -> 5559 in a pod)


@dataclass(frozen=True)
class ProcessSpec:
    role: str  # "master" or "worker"
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    index: int | None = None

    @property
    def name(self) -> str:
        """`master`, `worker-0`, ...: the name of its log file."""
        return self.role if self.index is None else f"{self.role}-{self.index}"


def class_counts(users: int, weights: Sequence[tuple[str, float]]) -> dict[str, int]:
    """Users per class by largest remainder of weights; ties go to the earlier class."""
    total = sum(w for _, w in weights)
    exact = [(name, users * w / total) for name, w in weights]
    counts = {name: int(x) for name, x in exact}
    left = users - sum(counts.values())
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - int(exact[i][1])), i))
    for i in order[:left]:
        counts[exact[i][0]] += 1
    return counts


def allocate(users: int, weights: Sequence[tuple[str, float]], workers: int) -> list[tuple[int, str, int]]:
    """(slot, user class, worker index) for every virtual user.

    Classes are interleaved smoothly by weight; each user goes to the worker with the fewest users of
    its class, then the fewest users, then the lowest index: every worker gets a share of every class
    and of the total. A user's slot (0..users-1) is its identity for seeds and sequences.
    """
    remaining = class_counts(users, weights)
    total = dict(remaining)
    credit = {name: 0.0 for name in remaining}
    per_class = {name: [0] * workers for name in remaining}
    per_worker = [0] * workers
    out: list[tuple[int, str, int]] = []
    for slot in range(users):
        for name in credit:
            if remaining[name]:
                credit[name] += total[name]
        name = max((n for n in credit if remaining[n]), key=lambda n: credit[n])
        credit[name] -= users
        remaining[name] -= 1
        worker = min(range(workers), key=lambda w: (per_class[name][w], per_worker[w], w))
        per_class[name][worker] += 1
        per_worker[worker] += 1
        out.append((slot, name, worker))
    return out


def load_bound_s(cfg: RunConfig) -> float | None:
    """How long the load may last: the run's duration; for a run of iterations without one, ITERATIONS_CAP_S (the
    master stops it there, as a duration; the run is inconclusive then); None for neither (a monitor)."""
    if cfg.duration_s is not None:
        return cfg.duration_s
    return ITERATIONS_CAP_S if cfg.iterations else None


def interval_for(duration_s: float | None) -> float:
    """Time-series resolution: about 100-200 points for any run length."""
    if duration_s is None or duration_s <= 120:
        return 1.0
    if duration_s <= 600:
        return 5.0
    return 10.0 if duration_s <= 1800 else 30.0


def build_plan(
    cfg: RunConfig,
    host: str,
    master_host: str,
    master_port: int,
    token: str,
    stats_path: str,
    request_log_path: str | None,
    addresses: Sequence[str] = (),
    browser_port: int | None = None,
    trace_token: str | None = None,
) -> Plan:
    """The run's plan; its trace ids derive from `trace_token` (RunState.trace_token), else from `token`."""
    weights = [(str(u.name), u.weight) for u in cfg.scenario.model.users]
    return Plan(
        token=token,
        seed=cfg.seed,
        host=host,
        allowed_hosts=list(cfg.profile.allowed_hosts),
        addresses=list(addresses),  # what preflight resolved and checked; workers connect only to these
        headers=dict(cfg.headers),
        secrets=sorted(cfg.secrets),
        users=cfg.users,
        spawn_rate=cfg.spawn_rate,
        duration_s=load_bound_s(cfg),
        iterations=cfg.iterations,
        stages=None if cfg.user_stages is None else [(a, b, c) for a, b, c in cfg.user_stages],
        window=None if cfg.window is None else [(a, b) for a, b in cfg.window.spans],
        tags=dict(cfg.run_tags),
        workers=cfg.workers,
        request_timeout_s=cfg.profile.request_timeout,
        max_response_body=cfg.profile.max_response_body,
        max_response_head=cfg.profile.max_response_head,
        max_endpoints=cfg.profile.max_endpoints,
        endpoint_names=declared_names(cfg),
        tls=None if cfg.tls is None else dict(cfg.tls),
        worker_connect_timeout_s=cfg.profile.worker_connect_timeout,
        interval_s=interval_for(cfg.duration_s),
        master=MasterAddress(host=master_host, port=master_port),
        stats_path=stats_path,
        request_log_path=request_log_path,
        scenario=cfg.scenario.model,
        data={name: gen.generator_to_json(g) for name, g in cfg.scenario.generators.items()},
        allocation=allocate(cfg.users, weights, cfg.workers),
        scenario_dir=os.path.dirname(os.path.abspath(cfg.scenario.path)),
        thresholds=[
            ThresholdSpec(
                selector=str(t.selector),
                expression=str(t.expression),
                abort_on_fail=t.abort_on_fail,
                delay_abort_eval_s=t.delay_abort_eval_s,
            )
            for t in cfg.thresholds
            if not t.selector.metric.startswith(("browser_", "lighthouse_"))  # judged by the controller
        ],
        min_samples=cfg.min_samples,
        query_header=QueryHeader(
            cfg.profile.collectors.queries_per_request.header, cfg.profile.collectors.queries_per_request.entry
        ).to_json(),
        browser=None
        if not cfg.scenario.model.browsers
        else BrowserPlan(
            workers=browser_worker_count(cfg),
            allowed_hosts=list(cfg.profile.allowed_hosts),
            sink_host=master_host,
            sink_port=browser_port if browser_port is not None else master_port + BROWSER_PORT_OFFSET,
        ),
        exemplars=cfg.profile.evidence.slowest,
        trace_prefix=run_prefix(trace_token or token) if cfg.profile.trace.propagate else "",
        server_timing=cfg.profile.evidence.server_timing
        or any(t.selector.metric in SERVER_TIMING_METRICS for t in cfg.thresholds),
        open=None
        if cfg.open_model is None
        else OpenSpec(
            stages=list(cfg.open_model.stages),
            spacing=cfg.open_model.spacing,
            class_weights=[(str(u.name), u.weight) for u in cfg.scenario.model.users],
        ),
    )


def write_plan(plan: Plan, path: str, exclusive: bool = True) -> None:
    """The plan file, readable by its owner only (it holds the run token and the headers)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with open(os.open(path, flags, 0o600), "w", encoding="utf-8") as fh:
        json.dump(plan.to_json(), fh)


def browser_worker_count(cfg: RunConfig) -> int:
    """Browser worker processes: the profile's count, but no more than there are pages to drive."""
    pages = sum(b.pages for b in cfg.scenario.model.browsers)
    return min(cfg.profile.browser_workers, pages)


def process_specs(
    plan_path: str, workers: int, python: str = sys.executable, browser_workers: int = 0
) -> list[ProcessSpec]:
    """Master first, then one spec per worker index, then one per browser worker index."""
    base = (python, "-m", "loadorch.runtime")
    specs = [ProcessSpec("master", (*base, "master", "--plan", plan_path))]
    specs += [
        ProcessSpec("worker", (*base, "worker", "--plan", plan_path), {"LOADORCH_WORKER_INDEX": str(i)}, i)
        for i in range(workers)
    ]
    specs += [
        ProcessSpec(
            "browser", (python, "-m", "loadorch.browser", "--plan", plan_path), {"LOADORCH_BROWSER_INDEX": str(i)}, i
        )
        for i in range(browser_workers)
    ]
    return specs


def declared_names(cfg: RunConfig) -> list[str]:
    """Request names the bound on distinct names always keeps: the scenario's own and those a threshold selects
    (a gate on a name must not lose its requests to "(other endpoints)")."""
    names = [str(ep.name) for user in cfg.scenario.model.users for ep in user.requests]
    names += [value for t in cfg.thresholds for tag, value in t.selector.tags if tag == "name"]
    return list(dict.fromkeys(names))
