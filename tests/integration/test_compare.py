"""`loadorch compare` on real runs against a real target whose latency knob changes between runs."""

from __future__ import annotations

import json

import pytest
import requests

from ..conftest import SHARED, Project

pytestmark = pytest.mark.integration

SCENARIO = """
name: cmp
setup:
  - {name: products, repeat: 20, request: {method: POST, path: /products, json: {name: p}}}
data:
  product_id: {int: [1, 20]}
users:
  - name: u
    requests:
      - {name: list, weight: 2, path: "/products?limit=5"}
      - {name: get product, weight: 2, path: "/products/{product_id}"}
      - {name: order, method: POST, path: /orders, json: {customer: c, product_id: "{product_id}"}}
"""


def test_same_seed_no_regression_then_slower_endpoint_regresses(project: Project, shop_server: str) -> None:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", f"""
        scenario: ../scenarios/s.yaml
        host: {shop_server}
        load: {{users: 8, duration: 30s}}
        workers: 2
        seed: 11
        min_samples: 20
        """)
    requests.put(f"{shop_server}/_knobs", json={"latency_ms": 5}, timeout=5).raise_for_status()
    for out in ("base", "same"):
        assert project.run("run", "p", "--iterations", "60", "--out", out).code == 0
    requests.put(f"{shop_server}/_knobs", json={"latency_ms": {"*": 5, "products.get": 55}},
                 timeout=5).raise_for_status()
    assert project.run("run", "p", "--iterations", "60", "--out", "slow").code == 0

    same = project.run("compare", "base", "same")
    assert same.code == 0, same.out
    assert "no regression" in same.out
    slow = project.run("compare", "base", "slow", "--out", "cmp")
    assert slow.code == 1, slow.out
    doc = json.loads((project.root / "cmp" / "compare.json").read_text())
    regressed = {(r["name"], r["metric"]) for r in doc["rows"] if r["verdict"] == "regression" and r["scope"] == "endpoint"}
    assert {name for name, _ in regressed} == {"get product"}
    assert ("get product", "p50") in regressed and ("get product", "p95") in regressed
    assert not [r for r in doc["rows"] if r["verdict"] == "regression" and r["scope"] == "endpoint"
                and r["name"] != "get product"]
    junit = (project.root / "cmp" / "compare-junit.xml").read_text()
    assert "<failure" in junit and "get product" in junit
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if xsd.exists():
        import xmlschema

        xmlschema.XMLSchema(str(xsd)).validate(str(project.root / "cmp" / "compare-junit.xml"))


def test_compare_of_a_folder_without_results_is_a_config_error(project: Project) -> None:
    (project.root / "empty").mkdir()
    r = project.run("compare", "empty", "empty")
    assert r.code == 3 and "cannot read results" in r.err


def test_budgets_table(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO + 'thresholds:\n  "http_req_duration{name:list}": ["p(99)<100"]\n')
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: ${X_URL}\nload: {users: 1, duration: 1s}\n"
                  'thresholds: {"http_req_failed": ["rate<0.02"]}\n')
    r = project.run("budgets")
    assert r.code == 0, r.err
    assert "| p         | cmp        | http_req_duration | name:list    | p(99)<100 |" in r.out
    assert "rate<0.02" in r.out and "profile" in r.out and "scenario" in r.out
