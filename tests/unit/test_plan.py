"""User allocation and plans (pure)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from loadorch.config.resolve import build
from loadorch.run.plan import allocate, build_plan, class_counts, write_plan
from loadorch.wire import Plan

from .test_config import BASE_PROFILE, BASE_SCENARIO, make


def test_class_counts_follow_weights_and_add_up() -> None:
    assert class_counts(10, [("a", 4), ("b", 1)]) == {"a": 8, "b": 2}
    assert class_counts(3, [("a", 1), ("b", 1)]) == {"a": 2, "b": 1}
    assert sum(class_counts(7, [("a", 1), ("b", 2), ("c", 3)]).values()) == 7


def test_every_worker_gets_every_class_and_a_fair_total() -> None:
    plan = allocate(4, [("yaml", 1), ("python", 1)], 2)
    assert [slot for slot, _, _ in plan] == [0, 1, 2, 3]
    assert Counter((name, w) for _, name, w in plan) == {("yaml", 0): 1, ("yaml", 1): 1, ("python", 0): 1,
                                                         ("python", 1): 1}
    big = allocate(100, [("a", 3), ("b", 1)], 3)
    totals = Counter(w for _, _, w in big)
    assert max(totals.values()) - min(totals.values()) <= 1
    for name in ("a", "b"):
        per = Counter(w for _, n, w in big if n == name)
        assert max(per.values()) - min(per.values()) <= 1


def test_allocation_is_deterministic_and_interleaved() -> None:
    assert allocate(9, [("a", 2), ("b", 1)], 2) == allocate(9, [("a", 2), ("b", 1)], 2)
    names = [name for _, name, _ in allocate(6, [("a", 2), ("b", 1)], 1)]
    assert names.count("a") == 4 and names[:3] != ["a", "a", "a"]


def test_the_plan_survives_its_trip_to_the_workers(tmp_path: Path) -> None:
    """What a worker reads back is what the controller built: typed, with the same generators."""
    make(tmp_path, scenario=BASE_SCENARIO.replace("data:\n", "data:\n  sku: {choice: [a, b], weights: [1, 3]}\n"))
    cfg = build("p", str(tmp_path), {})
    plan = build_plan(cfg, "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    path = tmp_path / "plan.json"
    write_plan(plan, str(path))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    back = Plan.model_validate_json(path.read_text())
    assert back.to_json() == plan.to_json() and back.generators() == cfg.scenario.generators
    assert json.loads(path.read_text())["scenario"]["users"][0]["requests"][0]["name"]


def test_the_plan_carries_the_evidence_settings(tmp_path: Path) -> None:
    """#30: a trace prefix of the run's own (none with trace.propagate: false), K, and Server-Timing metrics
    on when a threshold uses them."""
    make(tmp_path)
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    other = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok2", "/s.json", None)
    assert len(plan.trace_prefix) == 12 and plan.trace_prefix != other.trace_prefix and "tok" not in plan.trace_prefix
    assert plan.exemplars == 5 and not plan.server_timing
    extra = "trace: {propagate: false}\nevidence: {slowest: 0}\nthresholds: {'server_timing{entry:app}': [p(95)<9]}\n"
    make(tmp_path, profile=BASE_PROFILE + extra)
    plan = build_plan(build("p", str(tmp_path), {}), "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None)
    assert (plan.trace_prefix, plan.exemplars, plan.server_timing) == ("", 0, True)


def test_two_runs_given_one_token_do_not_share_trace_ids(tmp_path: Path) -> None:
    """#30: the passes of a Kubernetes CronJob all read one Secret's LOADORCH_RUN_TOKEN, their workers on loopback:
    each pass's trace ids are its own (a trace backend would join two passes' requests into one trace). So do the
    masters of the same load Jobs applied twice (workers elsewhere): their trace ids derived from the Secret's token,
    the second run repeated the first's."""
    from loadorch.run.state import RunOptions, RunState
    from loadorch.traffic.redact import Redactor
    from loadorch.traffic.trace import run_prefix

    make(tmp_path)
    cfg = build("p", str(tmp_path), {})

    def prefixes(external: bool) -> tuple[str, str]:
        run = RunState(cfg, RunOptions(str(tmp_path / "out"), token="t" * 32, external_workers=external), Redactor())
        plan = build_plan(cfg, "http://127.0.0.1:1", "127.0.0.1", 5557, "t" * 32, "/s.json", None,
                          trace_token=run.trace_token())
        tracer = run.tracer(0xFFFF)
        assert tracer is not None and plan.token == "t" * 32  # the workers' token is the one given
        return plan.trace_prefix, tracer.next()[0][:12]

    first, second = prefixes(False), prefixes(False)
    assert first[0] == first[1] and second[0] == second[1]  # the controller's own requests: the run's prefix too
    assert first[0] != second[0] and run_prefix("t" * 32) not in (first[0], second[0])
    again = prefixes(True), prefixes(True)
    assert all(p[0] == p[1] and p[0] != run_prefix("t" * 32) for p in again) and again[0] != again[1]
