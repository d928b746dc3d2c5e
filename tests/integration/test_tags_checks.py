"""Tags, k6's expected_response, the checks metric, TTFB, --summary-export and GitHub annotations, in one real run."""

from __future__ import annotations

import json

import pytest

from tests.support.project import Project

from .helpers import request_log

SCENARIO = """
name: tagged
tags: {team: checkout}
users:
  - name: shopper
    tags: {flow: browse}
    think_time: {constant: 0.01}
    requests:
      - {name: list, path: "/products?limit=2", tags: {flow: buy}, expect: {status: [200]}}
      - {name: get product, path: /products/999999, expect: {status: [200]}}
      - {name: cats, path: /categories, expect: {contains: "books"}}
thresholds:
  "http_req_duration{flow:buy}": ["p(95)<2000"]
  "http_req_duration{expected_response:true}": ["p(95)<2000"]
  "http_req_waiting{flow:buy}": ["p(95)<2000"]
  "http_reqs{team:checkout,env:ci}": ["count>20"]
  "checks{name:list}": ["rate>0.99"]
  "checks{name:get product}": ["rate>0.99"]
"""


def _widget(path: str) -> dict[str, float]:
    """Read the export as GitLab's Load Performance widget does: checks %, TTFB p90/p95, RPS."""
    with open(path, encoding="utf-8") as fh:
        metrics = json.load(fh)["metrics"]
    checks = metrics["checks"]
    return {
        "checks": 100.0 * checks["passes"] / (checks["passes"] + checks["fails"]),
        "ttfb_p90": float(metrics["http_req_waiting"]["p(90)"]),
        "ttfb_p95": float(metrics["http_req_waiting"]["p(95)"]),
        "rps": float(metrics["http_reqs"]["rate"]),
    }


def test_tags_checks_and_ci_outputs(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write(
        "profiles/p.yaml",
        """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {users: 2, duration: 3s}
        min_samples: 5
        """,
    )
    env = {"GITHUB_ACTIONS": "true"}
    r = project.run(
        "run", "p", "--tag", "env=ci", "--request-log", "--summary-export", "k6.json", "--out", "o", env=env
    )
    assert r.code == 1, r.out + r.err  # `get product` always answers 404: its check fails, the others pass
    doc = project.results("o")
    verdicts = {t["selector"]: t["verdict"] for t in doc["thresholds"]}
    assert verdicts == {
        "http_req_duration{flow:buy}": "pass",
        "http_req_duration{expected_response:true}": "pass",
        "http_req_waiting{flow:buy}": "pass",
        "http_reqs{team:checkout,env:ci}": "pass",
        "checks{name:list}": "pass",
        "checks{name:get product}": "fail",
    }
    by_sel = {t["selector"]: t for t in doc["thresholds"]}
    assert by_sel["http_req_duration{flow:buy}"]["samples"] == doc["endpoints"]["list"]["count"]
    assert doc["run"]["tags"] == {"env": "ci"}
    assert doc["endpoints"]["list"]["tags"] == {"env": "ci", "flow": "buy", "team": "checkout"}
    failing = [c for c in doc["expect_checks"] if c["fails"]]
    assert [(c["name"], c["check"], c["passes"]) for c in failing] == [("get product", "status", 0)]
    assert failing[0]["example"].startswith("404")
    summary = (project.root / "o" / "summary.md").read_text()
    assert "### Failing checks" in summary and "get product" in summary.split("### Failing checks")[1]
    assert "Failing checks" in (project.root / "o" / "report.html").read_text()
    rows = request_log(project.root / "o")
    assert {r["tags"]["flow"] for r in rows if r["name"] == "list"} == {"buy"}
    widget = _widget(str(project.root / "k6.json"))
    assert 0 < widget["checks"] < 100 and 0 < widget["ttfb_p90"] <= widget["ttfb_p95"] and widget["rps"] > 0
    export = json.loads((project.root / "k6.json").read_text())
    assert export["metrics"]["checks{name:get product}"]["thresholds"] == {"rate>0.99": True}  # k6: true = failed
    assert export["metrics"]["http_req_duration{flow:buy}"]["thresholds"] == {"p(95)<2000": False}
    assert export["metrics"]["http_reqs"]["count"] == doc["totals"]["requests"]
    # GitHub Actions: the breached threshold is annotated at its line in the scenario
    [annotation] = [line for line in r.out.splitlines() if line.startswith("::error ")]
    written = (project.root / "scenarios" / "s.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(written, 1) if "checks{name:get product}" in text)
    assert annotation.startswith(f"::error file=scenarios/s.yaml,line={line},")
    assert "checks{name%3Aget product}" not in annotation.split("::")[1]  # properties escaped, message intact
    assert "threshold checks{name:get product} rate>0.99 breached" in annotation


def test_configuration_errors_are_annotated_in_github_actions(project: Project) -> None:
    bad = SCENARIO.replace('"http_req_duration{flow:buy}"', '"http_req_duration{flwo:buy}"')
    project.write("scenarios/s.yaml", bad.replace(",env:ci}", "}"))
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 1, duration: 1s}\n")
    r = project.cli("validate", env={"GITHUB_ACTIONS": "true"})
    assert r.code == 3
    written = (project.root / "scenarios" / "s.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(written, 1) if "flwo" in text)
    [annotation] = [a for a in r.out.splitlines() if a.startswith("::error ")]
    assert annotation.startswith(f"::error file=scenarios/s.yaml,line={line},") and "did you mean 'flow'" in annotation
    plain = project.cli("validate")
    assert "::error" not in plain.out and "did you mean 'flow'" in plain.err


@pytest.mark.parametrize("client", ["locust", "lean"])
def test_each_client_records_time_to_first_byte_and_connect_time(project: Project, client: str) -> None:
    """Every successful request's time to first byte and connect time, once each: the lean client gives a
    kept-alive success to its recorder's batch (Recorder.lean_batch), which carries them to the timings."""
    project.write(
        "scenarios/s.yaml",
        f"""
        name: s
        client: {client}
        users:
          - name: u
            requests:
              - {{name: list, path: "/products?limit=2"}}
        thresholds:
          "http_req_waiting": ["p(95)<5000"]
          "http_req_connecting": ["max<5000"]
        min_samples: 5
        """,
    )
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: embedded\nload: {users: 2, duration: 30s}\n"
                  "allow_saturated_generator: true\n")  # a pass asserted: the generator's CPU is not the subject
    r = project.run("run", "p", "--iterations", "12", "--summary-export", "k6.json", "--out", "o")
    assert r.code == 0, r.out + r.err
    doc = project.results("o")
    by_sel = {t["selector"]: t for t in doc["thresholds"]}
    ok = doc["totals"]["requests"] - doc["totals"]["failures"]
    assert ok == 24  # 12 iterations for each of the 2 users
    assert by_sel["http_req_waiting"]["verdict"] == by_sel["http_req_connecting"]["verdict"] == "pass"
    assert by_sel["http_req_waiting"]["samples"] == by_sel["http_req_connecting"]["samples"] == ok
    metrics = json.loads((project.root / "k6.json").read_text())["metrics"]
    waiting, connecting, duration = (metrics[m] for m in ("http_req_waiting", "http_req_connecting", "http_req_duration"))
    assert waiting["min"] > 0 and waiting["max"] <= duration["max"]
    assert connecting["max"] > 0  # each user's first request opened a connection
    assert connecting["min"] == 0  # later ones reused it: no connect time
