"""Closed-model stages and the measurement window, with real Locust processes and the reference target."""

from __future__ import annotations

import pytest
import requests

from loadorch.target.server import start as start_target
from tests.support.project import Project

from .helpers import finish, request_log, start_run

STAGES = (
    (0.0, 20.0, 3.0),
    (20.0, 20.0, 3.0),
    (20.0, 0.0, 3.0),
)  # ramp, hold, ramp down (the 10/20/10 s, shortened; a 3 s hold of 20 users thinking 0.2 s: ~300 requests
# judged, for min_samples 50)
SCENARIO = """
name: staged
users:
  - name: shopper
    think_time: {between: [0.15, 0.25]}
    requests:
      - {name: list, path: "/products?limit=5"}
thresholds:
  "http_req_duration": ["max<400"]
"""


def _expected(t: float) -> int:
    from loadorch.traffic.stages import users_at

    return users_at(STAGES, t)


@pytest.mark.alone  # users within one interval of the stages, and a 400 ms budget on the steady state
def test_users_follow_the_stages_and_only_the_steady_window_is_judged(project: Project) -> None:
    """Two runs at once, each to its own target (the suite waits 10 s for both, not 20): one worker judging the
    whole run, and two workers judging the steady state only (`measure: steady`)."""
    project.write("scenarios/s.yaml", SCENARIO)
    servers = [start_target("127.0.0.1", 0) for _ in range(2)]
    try:
        runs = []
        for (server, _), (out, workers, measure) in zip(servers, (("all", 1, ""), ("steady", 2, "measure: steady\n"))):
            # a cold start: the target is slow for its first 2 s, all inside the 3 s ramp up
            knobs = {"warmup": {"seconds": 2.0, "latency_ms": 600}}
            requests.put(f"{server.url}/_knobs", json=knobs, timeout=5).raise_for_status()
            project.write(
                f"profiles/{out}.yaml",
                f"""
                scenario: ../scenarios/s.yaml
                host: {server.url}
                load: {{stages: [{{duration: 3s, users: 20}}, {{duration: 3s, users: 20}}, {{duration: 3s, users: 0}}]}}
                workers: {workers}
                seed: 5
                min_samples: 50
                """
                + measure,
            )
            runs.append((out, start_run(project, "--out", out, profile=out)))
        said = {out: finish(proc, timeout=120) for out, proc in runs}
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    for out, proc in runs:
        doc = project.results(out)
        points = doc["load"]["points"]
        assert max(p["users"] for p in points) == 20 and len(points) >= 8
        for p in points:  # a worker reports its users once per interval: allow one interval of lag (and 0.3 s slack)
            seen = [_expected(p["t_s"] - lag / 10) for lag in range(-3, 14)]
            assert min(seen) <= p["users"] <= max(seen), (out, p, seen)
        [threshold] = doc["thresholds"]
        if out == "all":  # the cold start's 600 ms requests are judged: the budget fails
            assert proc.returncode == 1 and threshold["verdict"] == "fail" and threshold["observed"] >= 600, said[out]
            assert "window" not in doc
            continue
        assert proc.returncode == 0, said[out]  # judged on the hold stage only: passes
        window = doc["window"]
        assert window["source"] == "steady" and window["spans"] == [[3.0, 6.0]]
        assert threshold["samples"] == window["requests"] < doc["totals"]["requests"]
        excluded = window["excluded"]
        assert excluded["ramp_up"]["requests"] > 0 and excluded["ramp_down"]["requests"] > 0
        assert (
            window["requests"] + excluded["ramp_up"]["requests"] + excluded["ramp_down"]["requests"]
            == (doc["totals"]["requests"])
        )
        assert "Measurement window" in (project.root / out / "summary.md").read_text()


DETERMINISM = """
name: det
data:
  product_id: {int: [1, 50]}
  customer: {sequence: {start: 1}, unique_per: user}
users:
  - name: shopper
    think_time: {between: [0, 0.01]}
    requests:
      - {name: list, weight: 2, path: "/products?limit=3&u={user}&i={iteration}"}
      - {name: order, method: POST, path: "/orders?c={customer}", json: {customer: "c{customer}", product_id: "{product_id}"}}
"""


def test_staged_iterations_give_identical_request_logs_on_1_and_3_workers(project: Project) -> None:
    project.write("scenarios/s.yaml", DETERMINISM)
    project.write(
        "profiles/p.yaml",
        """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {stages: [{duration: 1s, users: 6}, {duration: 20s, users: 6}], iterations: 5}
        seed: 11
        """,
    )
    runs = []
    # the two runs go at once: what each sent is compared, not when
    started = [(out, start_run(project, "--workers", workers, "--request-log", "--out", out))
               for out, workers in (("a", "1"), ("c", "3"))]
    for out, proc in started:
        said = finish(proc, timeout=180)
        assert proc.returncode in (0, 6), "".join(said)  # 30 requests: thresholds may lack samples
        assert project.results(out)["run"]["stop_reason"] == "iterations"
        runs.append([{k: v for k, v in row.items() if k != "latency_ms"} for row in request_log(project.root / out)])
    a, c = runs  # (repeat runs on one worker count are compared in test_engine)
    assert len(a) == 30 and {r["user"] for r in a} == set(range(6))
    assert {r["worker"] for r in c} == {0, 1, 2}

    def by_user(rows: list[dict]) -> list[dict]:
        return sorted(
            ({k: v for k, v in r.items() if k != "worker"} for r in rows), key=lambda r: (r["user"], r["sequence"])
        )

    assert by_user(a) == by_user(c), "the same users send the same requests whatever the worker count"
