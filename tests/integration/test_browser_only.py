"""A browser-only scenario (no `users:`) with real headless Chromium against the embedded shop: its vitals
gate the run, in both directions, with no HTTP user and no HTTP worker process."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.support.project import Project, assert_no_traceback

pytestmark = pytest.mark.chromium

SCENARIO = """
name: pages
browsers:
  - name: shopper
    think_time: 0.2
    journey:
      - {visit: /shop, name: home}
      - {click: "#add-to-cart"}
      - {visit: "/shop?hero_ms=1500", name: late}
thresholds:
  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]
  "browser_web_vital_cls{page:home}": ["p(75)<0.1"]
  "browser_web_vital_inp{page:home}": ["p(75)<500"]
  "browser_web_vital_lcp{page:late}": ["p(75)<800"]
min_samples: 2
"""


def test_a_browser_only_scenario_runs_and_its_vitals_gate_it(tmp_path: object) -> None:
    project = Project(tmp_path)  # type: ignore[arg-type]
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {iterations: 2}
        """)
    result = project.run("run", "p", "--out", "o", timeout=120)
    assert_no_traceback(result)
    doc = project.results("o")
    verdicts = {t["selector"]: (t["verdict"], t["samples"]) for t in doc["thresholds"]}
    shown = json.dumps([doc["thresholds"], doc["checks"]], indent=1)
    # the late hero (1.5 s) fails its 800 ms LCP budget; the home page's vitals pass theirs
    assert result.code == 1 and verdicts["browser_web_vital_lcp{page:late}"][0] == "fail", shown
    for vital in ("lcp", "cls", "inp"):
        verdict, samples = verdicts[f"browser_web_vital_{vital}{{page:home}}"]
        assert verdict == "pass" and samples == 2, shown  # one page walking its journey twice (min_samples), then the end
    browser = doc["browser"]
    assert {name: page["views"] for name, page in browser["pages"].items()} == {"home": 2, "late": 2}, browser
    assert browser["cut_short"] == 0 and doc["run"]["stop_reason"] == "iterations", doc["run"]
    assert doc["run"]["users"] == 0 and doc["run"]["workers"] == 0 and doc["totals"]["requests"] == 0
    checks = {c["name"]: c["verdict"] for c in doc["checks"]}
    assert checks["http users"] == "pass" and "workers" not in checks and checks["browser workers"] == "pass"
    assert "browsers only" in result.out and "page views" in result.out
    cases = {c.get("name") for c in ET.parse(project.root / "o" / "junit.xml").getroot().iter("testcase")}
    assert "browser_web_vital_lcp{page:late} p(75)<800" in cases
