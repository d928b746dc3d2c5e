"""What a user sees of a real run: k6's summary export on the thresholds' own basis; the live page's plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.project import Project

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
        allow_saturated_generator: true
        """)  # a pass asserted: a generator waiting for a core on a busy machine is not the subject
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


STAGED = """
name: staged
users:
  - name: shopper
    think_time: 0.2
    requests:
      - {name: list, path: "/products?limit=5"}
"""
PLANNED = re.compile(r'data-series="planned" d="([^"]+)"')


def _planned_heights(html: str) -> list[str]:
    """The heights of the load chart's planned line, point by point (`M x,y L x,y ...`: the y of each); the
    x scales differ (the live page's axis ends at the time elapsed), the heights do not."""
    [path] = PLANNED.findall(html)
    return [point.split(",")[1] for point in path.split()]


def test_the_live_page_plans_a_staged_run_as_report_html_does(project: Project) -> None:
    project.write("scenarios/s.yaml", STAGED)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {stages: [{duration: 3s, users: 4}, {duration: 3s, users: 4}, {duration: 2s, users: 0}]}
        seed: 4
        allow_saturated_generator: true
        min_samples: 1
        """)  # the subject is the planned line, not the verdict: 8 s of 4 users made 98 requests beside other tests in
    # a clean-clone CI run, under the default min_samples (100), and the run was inconclusive
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "run", "p", "--dashboard", "--out", "o"],
                            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = _line_after(proc, "live dashboard: ")
        live = _first_update_with(url + "events", 'data-series="planned"')
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    report = (project.root / "o" / "report.html").read_text()
    # three stages: (0,0) (3,4) (3,4) (6,4) (6,4) (8,0) (report.html draws on to the run's end at 0 users),
    # not 0 users, then 4 from 1 s on
    live_heights, report_heights = _planned_heights(live), _planned_heights(report)
    assert len(live_heights) >= 6 and live_heights[:6] == report_heights[:6], (live_heights, report_heights)
    assert live_heights[0] == live_heights[5] != live_heights[1] == live_heights[4]  # 0, 4, 4, 4, 4, 0 users


def test_the_live_page_masks_the_runs_secrets(project: Project) -> None:
    """The live page's title and its updates are output like any other: a declared secret in the scenario's name
    (every artifact masks it) was in the page's title."""
    canary = "Sekr1t-Value-42"
    project.write("scenarios/s.yaml", """
        name: "shop ${SHOP_CANARY}"
        users:
          - name: shopper
            think_time: 0.2
            requests:
              - {name: list, path: "/products?limit=5"}
        """)
    project.write("profiles/p.yaml", """
        scenario: ../scenarios/s.yaml
        host: embedded
        load: {users: 1, duration: 4s}
        secrets: [SHOP_CANARY]
        """)
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", "run", "p", "--dashboard", "--out", "o"],
                            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SHOP_CANARY": canary})
    try:
        url = _line_after(proc, "live dashboard: ")
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        with urllib.request.urlopen(url + "events", timeout=10) as stream:
            update = next(line for line in iter(stream.readline, b"") if line.startswith(b"data: ")).decode()
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 6), out + err
    assert "<title>" in page and "shop ***" in page, page[:500]  # the title is there, masked
    assert "headline" in update, update[:500]
    assert canary not in page + update + out + err


def _line_after(proc: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith(prefix):
            return line[len(prefix):].strip()
        assert line or proc.poll() is None, "the run ended before it said " + prefix
    raise TimeoutError(prefix)


def _first_update_with(url: str, needle: str, timeout: float = 60) -> str:
    """The charts of the first server-sent update of the live page that has `needle` (bounded)."""
    deadline = time.monotonic() + timeout
    with urllib.request.urlopen(url, timeout=10) as stream:
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            if line.startswith("data: "):
                charts = str(json.loads(line[len("data: "):]).get("charts", ""))
                if needle in charts:
                    return charts
            assert line, "the stream ended"
    raise TimeoutError(needle)
