"""Verdicts on real runs: exact merged percentiles, no data, inconclusive, lost workers, JUnit."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.project import SHARED, Project

from .helpers import (
    embedded_project,
    exact_p,
    finish,
    processes_started_by,
    request_log,
    start_run,
    wait_for_target_writes,
    wait_for_workers,
)


def latency_scenario(delay_ms: float) -> str:
    return f"""
name: latency
users:
  - name: u
    requests:
      - {{name: slow read, path: "/health?delay_ms={delay_ms}"}}
thresholds:
  "http_req_duration{{kind:read}}": ["p(95)<300"]
"""


@pytest.mark.alone  # 295.5 ms must measure under 300: another run beside it could push it over
@pytest.mark.parametrize("delay_ms,verdict,code", [(295.5, "pass", 0), (303.5, "fail", 1)])
def test_p95_of_296_passes_and_304_fails(project: Project, delay_ms: float, verdict: str, code: int) -> None:
    """Locust would report 300 ms for both; the gate must see 296 and 304."""
    embedded_project(project, latency_scenario(delay_ms), users=10, workers=2)
    r = project.run("run", "p", "--iterations", "12", "--request-log", "--out", "o")
    assert r.code == code, r.out + r.err
    exact = exact_p([row["latency_ms"] for row in request_log(project.root / "o")], 95)
    # the knob's delay plus loopback: the pass side has 4.5 ms to spare (hence `alone`); above, a busy moment
    # only adds, and 309.8 ms was once read beside other tests (the subject is the line below: exact vs observed)
    assert (295 < exact < 300) if verdict == "pass" else (300 < exact < 320), exact
    [t] = project.results("o")["thresholds"]
    assert t["verdict"] == verdict and t["samples"] == 120
    assert abs(t["observed"] - exact) <= max(exact * 0.001, 0.001)


MIX = """
name: mix
data:
  product_id: {int: [1, 40]}
setup:
  - {name: products, repeat: 40, request: {method: POST, path: /products, json: {name: "p{index}"}}}
users:
  - name: u
    requests:
      - {name: fast list, weight: 4, path: "/products?limit=5"}
      - {name: get, weight: 3, path: "/products/{product_id}?delay_ms=20"}
      - {name: order, weight: 2, method: POST, path: /orders, json: {customer: "c{user}", product_id: "{product_id}"}}
      - {name: slow order, weight: 1, method: POST, path: "/orders?delay_ms=60", json: {customer: x, product_id: 1}}
"""


def test_results_percentiles_match_the_request_log(project: Project) -> None:
    embedded_project(project, MIX, users=6, workers=2)
    r = project.run("run", "p", "--iterations", "60", "--request-log", "--out", "o")
    assert r.code in (0, 6), r.err
    doc = project.results("o")
    rows = [row for row in request_log(project.root / "o") if row["ok"]]
    groups = {("kinds", k): [x["latency_ms"] for x in rows if x["kind"] == k] for k in ("read", "write")}
    groups |= {("endpoints", n): [x["latency_ms"] for x in rows if x["name"] == n] for n in doc["endpoints"]}
    assert len(groups) == 6
    for (section, name), values in groups.items():
        stats = doc[section][name]
        assert stats["count"] == len(values)
        for pct, field in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
            exact = exact_p(values, pct)
            tolerance = min(exact * 0.001, 1.0) if exact < 1000 else exact * 0.001
            assert abs(stats[field] - exact) <= max(tolerance, 0.001), (section, name, field, stats[field], exact)
        assert stats["max_ms"] == max(values) and stats["min_ms"] == min(values)


def test_two_workers_fast_and_slow_pool_their_samples(project: Project) -> None:
    # worker 1's requests take 1 s, worker 0's none: a fast one stays far under 1 s beside another test's run
    # too (with 100 ms it had to run alone)
    scenario = """
name: pool
users:
  - name: u
    requests:
      - {name: ping, path: "/health?delay_ms={worker}000"}
"""
    embedded_project(project, scenario, users=4, duration="6s", workers=2)
    r = project.run("run", "p", "--request-log", "--out", "o")
    assert r.code in (0, 1, 6), r.err
    rows = request_log(project.root / "o")
    fast = [x["latency_ms"] for x in rows if x["worker"] == 0 and x["ok"]]
    slow = [x["latency_ms"] for x in rows if x["worker"] == 1 and x["ok"]]
    assert len(fast) > 10 * len(slow) > 0 and max(fast) < 1000 <= min(slow)
    pooled = exact_p(fast + slow, 95)
    averaged = (exact_p(fast, 95) + exact_p(slow, 95)) / 2
    p95 = project.results("o")["endpoints"]["ping"]["p95_ms"]
    assert abs(p95 - pooled) <= max(pooled * 0.001, 0.002)
    assert abs(p95 - averaged) > 10  # merged counts, not averaged percentiles
    per_worker = {w["index"]: w for w in project.results("o")["integrity"]["per_worker"]}
    assert per_worker[0]["reported"] == len([x for x in rows if x["worker"] == 0])
    assert per_worker[1]["final_total"] == per_worker[1]["reported"]


def test_threshold_without_data_fails(project: Project) -> None:
    scenario = """
name: nodata
users:
  - name: u
    requests:
      - {name: used, path: /health}
      - {name: unused, weight: 0, path: /categories}
thresholds:
  "http_req_duration{name:unused}": ["p(95)<300"]
  "http_req_duration{name:used}": ["p(95)<5000"]
min_samples: 10
"""
    # `used` is the control (the run fails on the threshold with no data alone): a limit no busy machine reaches
    # (beside other tests, clean-clone CI at f1826a1, its 20 requests' p95 read over 300 ms)
    embedded_project(project, scenario, users=2)
    r = project.run("run", "p", "--iterations", "10", "--out", "o")
    assert r.code == 1, r.out + r.err
    unused, used = project.results("o")["thresholds"]
    assert unused["verdict"] == "fail" and unused["message"].startswith("no data") and unused["observed"] is None
    assert used["verdict"] == "pass"
    assert "no data" in (project.root / "o" / "junit.xml").read_text()


def test_no_request_and_no_threshold_left_is_inconclusive_not_a_pass_on_nothing(project: Project) -> None:
    """The profile removed every default threshold and the python users' task sent nothing: no threshold said
    "no data" and every check passed, so the run passed on 0 requests (exit 0)."""
    scenario = """
name: idle
users:
  - {name: idle, python: "idle.py:Idle"}
thresholds:
  "http_req_duration{kind:read}": []
  http_req_failed: []
"""
    project.write("scenarios/idle.py", """
        from locust import HttpUser, constant, task

        class Idle(HttpUser):
            wait_time = constant(0.2)

            @task
            def nothing(self) -> None:
                pass
        """)
    embedded_project(project, scenario, users=2, duration="2s")
    r = project.run("run", "p", "--out", "o")
    assert r.code == 6, r.out + r.err
    doc = project.results("o")
    assert doc["verdict"] == "inconclusive" and doc["totals"]["requests"] == 0 and doc["thresholds"] == []
    check = next(c for c in doc["checks"] if c["name"] == "requests")
    assert check["verdict"] == "inconclusive" and "made no request" in check["message"], check
    assert "why: requests: the HTTP users made no request" in r.out


def test_twenty_samples_are_inconclusive(project: Project) -> None:
    scenario = "name: few\nusers:\n  - name: u\n    requests:\n      - {name: h, path: /health}\n"
    embedded_project(project, scenario, users=2)
    r = project.run("run", "p", "--iterations", "10", "--out", "o")
    assert r.code == 6, r.out + r.err
    doc = project.results("o")
    assert doc["verdict"] == "inconclusive" and doc["totals"]["requests"] == 20
    read = next(t for t in doc["thresholds"] if t["selector"] == "http_req_duration{kind:read}")
    assert read["verdict"] == "inconclusive" and "needs at least 100 samples, got 20" in read["message"]
    assert [t["selector"] for t in doc["thresholds"]] == ["http_req_duration{kind:read}", "http_req_failed"]


def test_killed_worker_is_reported_and_its_data_kept(project: Project, shop_server: str) -> None:
    project.write("scenarios/s.yaml", "name: k\nusers:\n  - name: u\n    think_time: 0.1\n    requests:\n"
                  "      - {name: add, method: POST, path: /products, json: {name: p}}\n")
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 6, duration: 12s}\nworkers: 3\nseed: 42\n")
    proc = start_run(project, "--out", "o")
    pids = wait_for_workers(proc, 3)
    assert sorted(pids) == [0, 1, 2]
    wait_for_target_writes(shop_server, at_least=30)  # every worker's load reached the target and was reported
    victim = pids[1]
    os.kill(victim, signal.SIGKILL)
    out, err = finish(proc)
    assert proc.returncode == 5, out + err
    doc = project.results("o")
    assert doc["verdict"] == "error"
    lost = doc["integrity"]["workers_lost"]
    assert [w["index"] for w in lost] == [1] and lost[0]["pid"] == victim
    workers = next(c for c in doc["checks"] if c["name"] == "workers")
    assert workers["verdict"] == "error" and f"worker 1 (pid {victim})" in workers["message"]
    detail = {w["index"]: w for w in doc["integrity"]["per_worker"]}
    assert detail[1]["reported"] > 0 and detail[1]["final_total"] is None
    assert doc["totals"]["requests"] == sum(w["reported"] for w in detail.values())
    assert "worker 1" in (project.root / "o" / "junit.xml").read_text()
    assert processes_started_by(proc.pid) == []


def test_junit_of_a_real_run_is_schema_valid(project: Project) -> None:
    scenario = latency_scenario(1).replace("name: slow read", "name: 'a<b & \"c\" \\x1b[31m'")
    embedded_project(project, scenario, users=2)
    r = project.run("run", "p", "--iterations", "5", "--out", "o")
    assert r.code == 6, r.err
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if not xsd.exists():
        pytest.skip("strict JUnit schema not beside this checkout")
    import xmlschema

    xmlschema.XMLSchema(str(xsd)).validate(str(project.root / "o" / "junit.xml"))
