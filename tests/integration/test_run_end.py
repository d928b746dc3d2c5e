"""What a user sees at the end of a real run: k6's summary export on the thresholds' own basis."""

from __future__ import annotations

import json

import pytest

from ..conftest import Project

pytestmark = pytest.mark.integration

SCENARIO = """
name: staged
users:
  - name: shopper
    think_time: 0.05
    requests:
      - {name: list, path: "/products?limit=5"}
thresholds:
  "http_req_duration": ["avg<5000", "max<5000"]
  "http_req_waiting": ["max<5000"]
  "http_reqs": ["count>1"]
min_samples: 5
"""


def test_summary_export_with_a_window_holds_the_windows_values_and_says_so(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {stages: [{duration: 2s, users: 3}, {duration: 3s, users: 3}, {duration: 1s, users: 0}]}
        measure: steady
        seed: 4
        """)
    r = project.run("run", "p", "--summary-export", "k6.json", "--out", "o")
    assert r.code == 0, r.out + r.err
    doc = project.results("o")
    k6 = json.loads((project.root / "k6.json").read_text())
    metrics, window = k6["metrics"], doc["window"]
    # the requests the thresholds judged, not the whole run's (the ramps are left out)
    assert metrics["http_reqs"]["count"] == window["requests"] < doc["totals"]["requests"], (metrics, window)
    assert k6["loadorch"]["measured"] == "the measurement window" and k6["loadorch"]["spans"] == window["spans"]
    assert k6["loadorch"]["source"] == "steady"
    assert metrics["http_reqs"]["rate"] == pytest.approx(window["requests"] / k6["loadorch"]["seconds"], rel=1e-3)
    observed = {(t["selector"], t["expression"]): t["observed"] for t in doc["thresholds"]}
    assert metrics["http_req_duration"]["avg"] == pytest.approx(observed[("http_req_duration", "avg<5000")], rel=1e-3)
    assert metrics["http_req_duration"]["max"] == pytest.approx(observed[("http_req_duration", "max<5000")], rel=1e-3)
    assert metrics["http_req_waiting"]["max"] <= metrics["http_req_duration"]["max"]  # one basis: TTFB within
    assert metrics["http_req_duration"]["thresholds"] == {"avg<5000": False, "max<5000": False}
