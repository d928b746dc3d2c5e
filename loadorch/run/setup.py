"""The scenario's setup section: run once by the controller before load, deterministically."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from loadorch.client.hops import HttpOptions
from loadorch.client.vu import DEFAULT_MAX_BODY, LeanRunner
from loadorch.config.profile import DEFAULT_MAX_HEAD
from loadorch.config.scenario import READ_METHODS, Scenario
from loadorch.errors import RunError
from loadorch.traffic import data as gen
from loadorch.traffic.redact import target_params
from loadorch.traffic.request import Origin, compile_request
from loadorch.traffic.trace import TraceIds


@dataclass(frozen=True)
class SetupReport:
    steps: int
    requests: int
    seconds: float


def run_setup(
    scenario: Scenario,
    generators: Mapping[str, gen.Generator],
    host: str,
    headers: Mapping[str, str],
    seed: int,
    timeout: float,
    should_stop: Callable[[], bool] = lambda: False,
    max_body: int = DEFAULT_MAX_BODY,
    addresses: Sequence[str] = (),
    options: HttpOptions | None = None,
    max_head: int = DEFAULT_MAX_HEAD,
    tracer: TraceIds | None = None,
) -> SetupReport:
    """Send every setup request in order (each with the run's traceparent from `tracer`; None: none); the
    first failure stops the run (RunError, exit 5)."""
    import time

    started = time.monotonic()
    runner = LeanRunner(Origin.parse(host), timeout, max_body, addresses, options=options, max_head=max_head)
    runner.tracer = tracer
    rng = random.Random(gen.stream_seed(seed, "setup"))
    state = gen.DrawState(slot=0, slots=1)
    sent = 0
    try:
        for step in scenario.setup:
            kind = "read" if step.request.method in READ_METHODS else "write"
            req = compile_request(step.request, step.name, kind, set(), headers)
            captured: dict[str, object] = {}
            for index in range(step.repeat):
                if should_stop():
                    raise InterruptedError
                draws = gen.Draws(generators, rng, state, {"index": index})
                outcome = runner.run(req, draws, captured)
                sent += 1
                if not outcome.ok:
                    raise RunError(
                        f"setup step {step.name!r} failed at repeat {index + 1}/{step.repeat}: "
                        f"{req.method} {target_params(outcome.path)}: {outcome.error}"
                    )
    finally:
        runner.close()
    return SetupReport(len(scenario.setup), sent, time.monotonic() - started)
