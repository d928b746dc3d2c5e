"""The run engine end to end: real Locust master and worker processes against the real reference target."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.support.project import Project, assert_no_traceback

from .helpers import (
    embedded_project,
    finish,
    fork_servers,
    locust_processes,
    parent_of,
    request_log,
    start_run,
    wait_for_target_writes,
    wait_for_workers,
    wait_until_gone,
)
from .localruns import LocalRun

DETERMINISM_SCENARIO = """
name: det
data:
  product_id: {int: [1, 50]}
  category: {choice: [books, games, toys], weights: [5, 3, 2]}
  customer: {sequence: {start: 1}, unique_per: user}
  sku: {pattern: "SKU-##-??"}
setup:
  - name: products
    repeat: 50
    request: {method: POST, path: /products, json: {name: "p-{index}-{sku}", category: "{category}"}}
users:
  - name: shopper
    weight: 2
    think_time: {between: [0, 0.01]}
    requests:
      - {name: list, weight: 3, path: "/products?category={category}"}
      - {name: get, weight: 2, path: "/products/{product_id}", expect: {json: {"$.id": "{product_id}"}}}
      - {name: order, method: POST, path: "/orders?c={customer}", json: {customer: "c{customer}", product_id: "{product_id}"}}
  - name: browser
    weight: 1
    requests:
      - {name: categories, path: "/categories?u={user}&i={iteration}"}
"""


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "latency_ms"} for r in rows]


@pytest.mark.alone  # the Quickstart's job as shipped, gated p(95)<300 (localruns.py: run beside init's two)
def test_shipped_local_profile_passes_with_two_workers(local_runs: dict[str, LocalRun]) -> None:
    # the shipped profile and scenario as they are, for 15 s of their 30 (the heartbeats below)
    r = local_runs["shipped"]
    assert r.code == 0, r.out + r.err
    [run_dir] = (r.root / "results").glob("local-*")
    doc = json.loads((run_dir / "results.json").read_text())
    assert doc["verdict"] == "pass" and doc["run"]["workers"] == 2
    per_worker = doc["integrity"]["per_worker"]
    assert [w["index"] for w in per_worker] == [0, 1] and all(w["reported"] > 0 for w in per_worker)
    # 20 users at 20/s over 2 workers: each starts 10, the last due 0.9 s after its first; its heartbeats
    # reached the master about once a second for the 15 s (Locust's master calls a worker missing after ~4 s)
    for w in per_worker:
        assert w["ramp"]["users"] == 10 and w["ramp"]["planned_s"] == 0.9, w
        # users due within 2 ms start together, so the last may start up to 2 ms early
        assert 0.89 <= w["ramp"]["took_s"] < 0.9 + 5.0 and 0 <= w["ramp"]["late_max_s"] < 5.0, w
        assert w["heartbeats"] >= 10 and 0.5 < w["heartbeat_gap_max_s"] < 4.0, w
        assert w["clock_offset_s"] is not None and abs(w["clock_offset_s"]) < 1.0, w  # one machine, one clock
    load = next(c for c in doc["checks"] if c["name"] == "load")
    assert "ramp: the last user started" in load["message"] and "(due at 0.90 s" in load["message"], load
    assert all(t["verdict"] == "pass" for t in doc["thresholds"]) and len(doc["thresholds"]) == 3
    # the shop says how many queries each response ran (Server-Timing: db;count=N), on SQLite too
    per_request = doc["database"]["queries_per_request"]
    assert per_request["list products"]["max"] == 1 and per_request["create order"]["min"] == 2
    gets = doc["endpoints"]["get product"]
    assert gets["db_queries_per_request"]["samples"] == gets["count"] > 0
    for name in ("junit.xml", "report.html", "summary.md", "config.yaml"):
        assert (run_dir / name).stat().st_size > 0
    assert "PASS" in r.out


@pytest.mark.parametrize("workers", [1, 3])
def test_same_seed_same_requests_other_seed_differs(project: Project, workers: int) -> None:
    embedded_project(project, DETERMINISM_SCENARIO, users=6, workers=workers)
    runs = []
    # b starts its master and workers cold, a and c fork them from the fork server: the same requests either way.
    # The three go at once (each its own embedded target, processes and folder): what they sent is compared, not when
    started = [(out, start_run(project, "--iterations", "8", "--seed", seed, "--request-log", "--out", out,
                               env={"LOADORCH_COLD_START": cold}))
               for out, seed, cold in (("a", "7", "0"), ("b", "7", "1"), ("c", "8", "0"))]
    for out, proc in started:
        _, err = finish(proc, timeout=180)
        assert proc.returncode in (0, 6), err  # 48 requests: thresholds may lack samples, the run itself is fine
        runs.append(_strip(request_log(project.root / out)))
        # the setup ran once for the run, not once per worker: its 50 requests, seeded like the users'
        setup = next(c for c in project.results(out)["checks"] if c["name"] == "setup")
        assert setup["verdict"] == "pass" and setup["message"].startswith("50 requests"), setup
    a, b, c = runs
    assert len(a) == 48 and a == b
    assert a != c
    assert sorted({r["worker"] for r in a}) == list(range(workers))
    assert {r["user"] for r in a} == set(range(6))
    customers = [r["path"].split("c=")[1] for r in a + c if r["name"] == "order"]
    assert len(customers) > 8
    per_run = [r["path"].split("c=")[1] for r in a if r["name"] == "order"]
    assert len(per_run) == len(set(per_run)), "sequence values must be unique across users and workers"
    assert all(r["ok"] for r in a), [r for r in a if not r["ok"]][:3]


def test_setup_failure_stops_the_run_with_exit_5(project: Project) -> None:
    scenario = DETERMINISM_SCENARIO.replace("path: /products, json", "path: /nope, json")
    embedded_project(project, scenario)
    r = project.run("run", "p", "--out", "o")
    assert r.code == 5 and "setup step 'products' failed at repeat 1/50" in r.out + r.err
    doc = project.results("o")
    assert doc["verdict"] == "error" and doc["totals"]["requests"] == 0
    assert_no_traceback(r)


def test_target_down_is_caught_by_preflight(simple_project: Project) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        r = simple_project.run("run", "p", "--host", f"http://127.0.0.1:{port}", "--out", "o")
    assert r.code == 5 and "preflight: cannot connect" in r.out + r.err
    assert project_results(simple_project, "o")["totals"]["requests"] == 0


def project_results(project: Project, out: str) -> dict:
    return project.results(out)


def test_host_outside_allow_list_is_refused_before_any_request(simple_project: Project) -> None:
    r = simple_project.run("run", "p", "--host", "http://10.255.255.1:8080", "--out", "o")
    assert r.code == 4 and "not loopback" in r.err
    assert not (simple_project.root / "o").exists()
    simple_project.write("profiles/q.yaml", "scenario: ../scenarios/simple.yaml\nhost: http://127.0.0.1:9\n"
                         "allowed_hosts: ['*.staging.example.com']\nload: {users: 1, duration: 1s}\n")
    r = simple_project.run("run", "q")
    assert r.code == 4 and "127.0.0.1 is not inside allowed_hosts" in r.err


def test_workers_that_never_connect_fail_within_the_bound(project: Project, tmp_path_factory) -> None:
    hook = tmp_path_factory.mktemp("hook")
    (hook / "sitecustomize.py").write_text(
        "import os, sys\nif os.environ.get('LOADORCH_WORKER_INDEX') is not None:\n    sys.exit(1)\n")
    embedded_project(project, DETERMINISM_SCENARIO, profile_extra="worker_connect_timeout: 3s\n", workers=2)
    started = time.monotonic()
    # cold-started workers (LOADORCH_COLD_START): sitecustomize runs as an interpreter starts, which a forked one does
    # not (tests/integration/test_crashes.py has a worker failing as it starts, forked)
    pythonpath = os.pathsep.join((str(hook), os.environ["PYTHONPATH"]))
    r = project.run("run", "p", "--out", "o", env={"PYTHONPATH": pythonpath, "LOADORCH_COLD_START": "1"})
    assert r.code == 5 and "exited with code 1 before the run started; its log: o/logs/worker-" in r.out + r.err
    assert time.monotonic() - started < 60
    assert project.results("o")["verdict"] == "error"
    assert (project.root / "o" / "logs" / "worker-0.log").exists()


def test_a_fork_server_that_cannot_start_leaves_the_processes_cold(project: Project, tmp_path_factory) -> None:
    hook = tmp_path_factory.mktemp("hook")  # the fork server dies as it starts: each process is started cold
    (hook / "sitecustomize.py").write_text(  # 100 kB of noise, then why, naming a secret the run must not show
        "import os, sys\nif 'forkserver' in sys.argv:\n    sys.stderr.write('noise\\n' * 20000)\n"
        "    sys.stderr.write('forkserver: cannot start with ' + os.environ['LOADORCH_TEST_KEY'] + '\\n')\n"
        "    sys.stderr.flush()\n    os._exit(3)\n")
    embedded_project(project, DETERMINISM_SCENARIO, users=2, workers=2,
                     profile_extra="secrets: [LOADORCH_TEST_KEY]\nheaders: {X-Key: '${LOADORCH_TEST_KEY}'}\n")
    pythonpath = os.pathsep.join((str(hook), os.environ["PYTHONPATH"]))
    r = project.run("run", "p", "--iterations", "2", "--request-log", "--out", "o",
                    env={"PYTHONPATH": pythonpath, "LOADORCH_TEST_KEY": "k3y-6f1e0a"})
    assert r.code in (0, 6), r.out + r.err  # 4 requests: thresholds may lack samples, the run itself is fine
    assert sorted({row["worker"] for row in request_log(project.root / "o")}) == [0, 1]
    assert project.results("o")["integrity"]["workers_seen"] == 2
    # its log is kept in the run folder, named in the output: its end (bounded), the secret masked
    log = (project.root / "o" / "logs" / "forkserver.log").read_text()
    assert "forkserver: cannot start with ***\n" in log and "k3y-6f1e0a" not in log
    assert len(log.encode()) <= 64 * 1024
    assert "forkserver.log (the fork server did not fork master (it exited with code 3): started cold)" in r.out


@pytest.mark.parametrize("sig,code,cold", [(signal.SIGTERM, 143, "0"), (signal.SIGINT, 130, "1")])
def test_signal_stops_gracefully_and_leaves_no_process(
    project: Project, shop_server: str, sig: int, code: int, cold: str
) -> None:
    project.write("scenarios/s.yaml", "name: w\nusers:\n  - name: u\n    think_time: 0.01\n    requests:\n"
                  "      - {name: add, method: POST, path: /products, json: {name: p}}\n")
    project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: {shop_server}\n"
                  "load: {users: 4, duration: 60s}\nworkers: 2\nseed: 42\n")
    proc = start_run(project, "--out", "o", env={"LOADORCH_COLD_START": cold})
    workers = wait_for_workers(proc, 2)
    assert len(locust_processes(proc.pid)) == 3, "master and two workers should be running"
    servers = fork_servers(proc.pid)
    if cold == "1":  # each started as its own `python -m loadorch.runtime`, by the controller
        assert servers == [] and {parent_of(pid) for pid in workers.values()} == {proc.pid}
    else:  # forked by the one fork server
        assert len(servers) == 1 and {parent_of(pid) for pid in workers.values()} == set(servers)
    wait_for_target_writes(shop_server, at_least=10)  # load reached the target and was reported (not a fixed sleep)
    proc.send_signal(sig)
    out, err = finish(proc, timeout=60)
    assert proc.returncode == code, err
    doc = project.results("o")
    assert doc["verdict"] == "interrupted" and doc["run"]["interrupted"] and doc["totals"]["requests"] > 0
    assert (project.root / "o" / "junit.xml").exists()
    assert wait_until_gone(proc.pid) == []
    assert_no_traceback(type("R", (), {"out": out, "err": err})())  # type: ignore[arg-type]


def test_progress_lines_in_ci(project: Project) -> None:
    embedded_project(project, DETERMINISM_SCENARIO, users=2, duration="6s")
    r = project.run("run", "p", "--out", "o")
    assert r.code in (0, 6)
    assert "users 2" in r.err and "req/s" in r.err and "p95 read" in r.err
    assert "\r" not in r.err  # no TTY: plain lines
    assert os.path.exists(project.root / "o" / "config.yaml")


def test_captured_values_feed_later_requests(project: Project) -> None:
    scenario = """
name: capture
users:
  - name: u
    requests:
      - {name: order, method: POST, path: /orders, json: {customer: c, product_id: 1}, capture: {order_id: "$.id"}}
      - {name: get order, path: "/orders/{order_id}", expect: {status: [200], json: {"$.id": "{order_id}"}}}
"""
    embedded_project(project, scenario, users=2)
    r = project.run("run", "p", "--iterations", "12", "--request-log", "--out", "o")
    assert r.code in (0, 6), r.err
    rows = request_log(project.root / "o")
    gets = [row for row in rows if row["name"] == "get order"]
    assert gets and all(row["ok"] for row in rows)
    assert all(row["path"].split("/")[-1].isdigit() for row in gets)


def test_progress_is_one_updating_line_on_a_terminal(project: Project) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("needs util-linux `script` to give the run a terminal")
    embedded_project(project, DETERMINISM_SCENARIO, users=2, duration="4s")
    command = f"{sys.executable} -m loadorch run p --out o"
    done = subprocess.run([script, "-qec", command, "/dev/null"], cwd=project.root, capture_output=True,
                          timeout=120)  # bytes: text mode would turn the carriage returns into newlines
    assert done.returncode in (0, 6), done.stdout
    assert b"\r\x1b[2K" in done.stdout and b"req/s" in done.stdout  # the status line is rewritten in place
    assert (project.root / "o" / "results.json").exists()


def test_a_profile_without_a_length_runs_with_the_flag_that_gives_one(project: Project) -> None:
    """`--iterations N` alone replaces the profile's duration (README), and completes a profile that has none:
    `load: {users: 2}` was refused ("give a duration or iterations"), so the documented flag could not run it.
    validate, which knows no flag, still refuses it and names the flags."""
    project.write("scenarios/s.yaml", "name: one\nusers:\n  - {name: u, requests: [{name: health, path: /health}]}\n")
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 2}\nmin_samples: 1\n"
                  "thresholds: {'http_req_duration{kind:read}': []}\n")  # its subject is the length, not latency
                  # (beside other tests, a cold first request once took 379 ms of the six)
    checked = project.cli("validate", "p")
    assert checked.code == 3 and "or iterations per user (here, or `run --duration` / `--iterations`)" in checked.err
    r = project.run("run", "p", "--iterations", "3", "--request-log", "--out", "o")
    assert r.code == 0, r.out + r.err
    assert project.results("o")["run"]["stop_reason"] == "iterations" and len(request_log(project.root / "o")) == 6
    assert "iterations: cli" in (project.root / "o" / "config.yaml").read_text()  # the flag's, as config.yaml says
