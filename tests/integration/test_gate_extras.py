"""abort_on_fail, secret redaction across every artifact, and the effective config."""

from __future__ import annotations

import json

import yaml

from tests.support.project import Project

from .helpers import embedded_project


def test_abort_on_fail_stops_the_run_early_and_says_so(project: Project) -> None:
    scenario = """
name: abort
users:
  - name: u
    requests:
      - {name: slow, path: "/health?delay_ms=30"}
thresholds:
  "http_req_duration":
    - {threshold: "p(95)<5", abort_on_fail: true, delay_abort_eval: 2s}
min_samples: 20
"""
    # a starved generator would make the breach inconclusive (no abort): the abort is the subject, not the CPU
    embedded_project(project, scenario, users=4, duration="60s", profile_extra="allow_saturated_generator: true\n")
    r = project.run("run", "p", "--out", "o", timeout=60)
    assert r.code == 1, r.out + r.err
    doc = project.results("o")
    assert doc["run"]["stop_reason"] == "aborted" and doc["run"]["elapsed_s"] < 60  # before the 60 s run would end
    assert doc["integrity"]["aborted_by"]["expression"] == "p(95)<5"
    assert "aborting: threshold http_req_duration p(95)<5 failed" in r.err
    [t] = doc["thresholds"]
    assert t["verdict"] == "fail" and t["abort_on_fail"]


CANARY = "canary-7f3a9c-token"


def test_canary_secret_never_reaches_output_or_artifacts(project: Project) -> None:
    scenario = """
name: secret
headers: {X-Api-Key: "${SHOP_API_KEY}"}
users:
  - name: u
    requests:
      - {name: h, path: "/health?k=${SHOP_API_KEY}"}
"""
    profile_extra = 'headers: {Authorization: "Bearer ${SHOP_TOKEN}", Cookie: "s=${SHOP_TOKEN}"}\n'
    embedded_project(project, scenario, profile_extra=profile_extra, users=2)
    env = {"SHOP_TOKEN": CANARY, "SHOP_API_KEY": CANARY + "-key", "LOADORCH_LOG_LEVEL": "DEBUG"}
    r = project.run("--debug", "run", "p", "--iterations", "5", "--request-log", "--out", "o", env=env)
    assert r.code == 6, r.err
    assert CANARY not in r.out and CANARY not in r.err
    for path in (project.root / "o").iterdir():
        assert CANARY not in path.read_text(), path.name
    config = yaml.safe_load((project.root / "o" / "config.yaml").read_text())
    assert config["headers"]["Authorization"] == "***" and config["headers"]["Cookie"] == "***"
    assert config["headers"]["X-Api-Key"] == "***"
    rows = [json.loads(line) for line in (project.root / "o" / "requests.jsonl").read_text().splitlines()]
    assert rows and all("k=***" in row["path"] for row in rows)


def test_effective_config_records_sources(project: Project) -> None:
    embedded_project(project, "name: c\nusers:\n  - name: u\n    requests: [{name: h, path: /health}]\n", users=2)
    r = project.run("run", "p", "--iterations", "2", "--seed", "99", "--out", "o")
    assert r.code == 6
    config = yaml.safe_load((project.root / "o" / "config.yaml").read_text())
    assert config["seed"] == 99 and config["sources"]["seed"] == "cli" and config["sources"]["users"] == "profile"
    assert config["precedence"] == "defaults < scenario < profile < cli"
