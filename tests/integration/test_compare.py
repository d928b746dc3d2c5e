"""`loadorch compare` on real runs against a real target whose latency knob changes between runs."""

from __future__ import annotations

import json
import re

import pytest
import requests

from loadorch.target.server import start as start_target
from tests.support.project import SHARED, Project

from .cdp import Browser
from .helpers import finish, start_run
from .pagecheck import assert_accessible, axis_value

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


@pytest.mark.alone  # compares latencies between runs: beside another test (clean-clone CI, session 11) the slow
# run's `list` and `order` read as regressions too, though only `get product` changed
def test_same_seed_no_regression_then_slower_endpoint_regresses(project: Project) -> None:
    """Three runs at once, each to its own target, so a busy machine slows them alike: a baseline, the same
    seed again (no regression), and one whose product page is 400 ms slower (regressed, and nothing else).
    Knobs of 50 ms: the built-in 10 % budget is 5 ms, far above what a neighbour's burst adds to a p95. 400 ms,
    not 200: beside other tests on two cores, a clean-clone CI run at 8afe7b2 found the p50 regression and not
    the p95 one (a neighbour's burst in a tail: a likely reading; the rows were not printed, now they are)."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: ${TARGET_URL}
        load: {users: 24, duration: 30s}
        workers: 2
        seed: 11
        min_samples: 20
        allow_saturated_generator: true
        thresholds: {http_req_failed: ["rate<0.01"]}
        compare: {rps: 50%}
        """)  # three runs at once beside another test: a generator waiting for a core is not this test's subject,
        # nor its throughput (the three share two cores: a clean-clone CI run read the same-seed run's rps 19.8 % lower)
    servers = [start_target("127.0.0.1", 0) for _ in range(3)]
    try:
        runs = []
        for (server, _), (out, knobs) in zip(servers, (("base", {"*": 50}), ("same", {"*": 50}),
                                                       ("slow", {"*": 50, "products.get": 450}))):
            requests.put(f"{server.url}/_knobs", json={"latency_ms": knobs}, timeout=5).raise_for_status()
            runs.append(start_run(project, "--iterations", "20", "--out", out, env={"TARGET_URL": server.url}))
        for proc in runs:
            out, err = finish(proc, timeout=120)
            assert proc.returncode == 0, out + err
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    same = project.run("compare", "base", "same", "--profile", "p")
    assert re.search(r"budgets [^\n]*rps 50", same.out), same.out  # the profile's compare: section
    # 20 iterations of 24 users: about 96 orders, too few to bound their p99 (368 would): not "no regression"
    assert same.code == 6, same.out
    assert "INCONCLUSIVE (" in same.out and "REGRESSION(S)" not in same.out
    assert re.search(r"\| endpoint +\| order +\| p99 +\|[^\n]*\| too few samples +\|", same.out), same.out
    assert "**Why:** inconclusive: " in same.out and "(at least, per run: p99 368)" in same.out
    slow = project.cli("compare", "base", "slow", "--out", "cmp")
    assert slow.code == 1, slow.out
    doc = json.loads((project.root / "cmp" / "compare.json").read_text())
    regressed = {(r["name"], r["metric"]) for r in doc["rows"] if r["verdict"] == "regression" and r["scope"] == "endpoint"}
    assert {name for name, _ in regressed} == {"get product"}
    product = [r for r in doc["rows"] if r["scope"] == "endpoint" and r["name"] == "get product"]
    assert ("get product", "p50") in regressed and ("get product", "p95") in regressed, product
    assert not [r for r in doc["rows"] if r["verdict"] == "regression" and r["scope"] == "endpoint"
                and r["name"] != "get product"]
    junit = (project.root / "cmp" / "compare-junit.xml").read_text()
    assert "<failure" in junit and "get product" in junit
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if xsd.exists():
        import xmlschema

        xmlschema.XMLSchema(str(xsd)).validate(str(project.root / "cmp" / "compare-junit.xml"))


@pytest.mark.alone  # which endpoint changed most is read from latencies: a neighbour's burst can reorder them
@pytest.mark.chromium
def test_compare_page_shows_the_slower_endpoint(project: Project, shop_server: str, tmp_path) -> None:
    """compare.html of a baseline and a run 150 ms slower on one endpoint. The two runs go at once, each to
    its own target, so a busy machine slows both alike; open model: the same arrivals in both, so the slow
    endpoint does not lighten the load on the others (as a closed model's lower throughput would)."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: ${TARGET_URL}
        load: {arrival_rate: 50, duration: 4s, max_users: 150}
        workers: 1
        seed: 5
        min_samples: 20
        allow_saturated_generator: true
        thresholds: {http_req_failed: ["rate<0.01"]}
        """)  # two runs at once beside another test: a generator that waits for a core is not this test's subject;
        # 150 users: a CI machine once slowed the target to 440 ms, and 50/s at 0.44 s needs 22 users (12 dropped 8),
        # a loaded one to 1.7 s (85); failures gated, not latency: the default p(95)<300 failed both runs at 1.7 s
    slow_server, thread = start_target("127.0.0.1", 0)
    try:
        runs = []
        for out, url, knobs in (("base", shop_server, {"*": 20}), ("slow", slow_server.url, {"*": 20, "products.get": 170})):
            requests.put(f"{url}/_knobs", json={"latency_ms": knobs}, timeout=5).raise_for_status()
            runs.append(start_run(project, "--out", out, env={"TARGET_URL": url}))
        for proc in runs:
            out, err = finish(proc, timeout=120)
            assert proc.returncode == 0, out + err
    finally:
        slow_server.shutdown()
        slow_server.server_close()
        thread.join(timeout=5)
    load = project.results("base")["load"]  # the open model's load timeline: target from the profile
    assert load["model"] == "open" and load["target"] == [[0.0, 50.0], [4.0, 50.0]]
    assert any(p.get("arrivals_per_s", 0) > 0 for p in load["points"]) and all("dropped_per_s" in p for p in load["points"][1:])
    page = (project.root / "base" / "report.html").read_text()
    assert all(f'data-series="{s}"' in page for s in ("target", "achieved", "dropped"))
    assert project.cli("compare", "base", "slow", "--out", "cmp").code == 1
    summary = (project.root / "cmp" / "summary.md").read_text()
    top = summary[summary.index("### Top changes") : summary.index("### All rows")]
    assert re.match(r"\| REGRESSION +\| endpoint +\| get product +\|", top.splitlines()[4]), top
    _check_compare_page(project.root / "cmp" / "compare.html", tmp_path)


BARS_JS = """[...document.querySelectorAll('#bars-endpoint g.bar')].map(g => ({name: g.dataset.name,
  change: +g.dataset.change, low: g.dataset.low === '' ? -1e9 : +g.dataset.low,
  high: g.dataset.high === '' ? 1e9 : +g.dataset.high, verdict: g.dataset.verdict,
  said: g.querySelector('text:last-of-type').textContent}))"""


def _check_compare_page(page, tmp_path) -> None:
    browser = Browser()
    try:
        browser.open(page.as_uri())
        verdict = browser.evaluate("document.getElementById('verdict').textContent")
        bars = browser.evaluate(BARS_JS)
        ids = browser.evaluate("[...document.querySelectorAll('svg.spectrum')].map(s => [s.id, s.querySelector('title').textContent])")
        shift = {}
        for svg_id, title in ids:
            if svg_id.startswith("overlay-ep-"):
                at = {who: axis_value(browser, svg_id, f'circle[data-series="{who}"][data-pct="50"]')
                      for who in ("baseline", "current")}
                shift[title.split(":")[0]] = (at["current"]["value"] - at["baseline"]["value"], at["current"]["per_px"])
        browser.screenshot(str(tmp_path / "compare.png"))
        assert_accessible(browser)
        assert browser.console_errors() == []
        assert [u for u in browser.requests() if not u.startswith("file://")] == []
    finally:
        browser.close()
    assert "REGRESSION" in verdict
    assert bars[0]["name"] == "get product" and bars[0]["verdict"] == "regression" and "REGRESSION" in bars[0]["said"]
    assert all(abs(b["change"]) < bars[0]["change"] for b in bars[1:]), bars
    assert bars[0]["change"] > bars[0]["high"]  # outside its noise band
    for b in bars[1:]:  # the unchanged endpoints stay inside theirs
        assert b["low"] <= b["change"] <= b["high"] and b["verdict"] == "same", b
    assert set(shift) == {"list", "get product", "order"}, shift
    for name, (delta, per_px) in shift.items():  # the overlaid spectra: ~150 ms apart on that endpoint only
        if name == "get product":  # (50 ms once read 'same' at p95 in CI: a busy baseline's interval was wider)
            assert 135 <= delta <= 165, shift
        else:
            assert abs(delta) < 5 + per_px, shift
    assert (tmp_path / "compare.png").stat().st_size > 20_000


def test_compare_of_a_folder_without_results_is_a_config_error(project: Project) -> None:
    (project.root / "empty").mkdir()
    r = project.cli("compare", "empty", "empty")
    assert r.code == 3 and "cannot read results" in r.err


def test_budgets_table(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO + 'thresholds:\n  "http_req_duration{name:list}": ["p(99)<100"]\n')
    project.write("profiles/p.yaml", "scenario: ../scenarios/s.yaml\nhost: ${X_URL}\nload: {users: 1, duration: 1s}\n"
                  'thresholds: {"http_req_failed": ["rate<0.02"]}\n')
    r = project.run("budgets")
    assert r.code == 0, r.err
    assert "| p         | cmp        | http_req_duration | name:list    | p(99)<100 |" in r.out
    assert "rate<0.02" in r.out and "profile" in r.out and "scenario" in r.out
