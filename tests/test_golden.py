"""Golden files for rendered artifacts whose shape matters: Kubernetes manifests and junit.xml.

Regenerate after an intended change (and review the diff):
    LOADORCH_REGEN_GOLDEN=1 python3 -m pytest -q tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from loadorch.report.junit import render
from loadorch.verdict.evaluate import Check, ThresholdResult
from tests.support.project import REPO, run_cli

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LOADORCH_REGEN_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}: regenerate with LOADORCH_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file (see the module docstring)"


def test_k8s_manifests_golden() -> None:
    r = run_cli("k8s", "render", "staging", "--workers", "3", "--image", "registry.example.com/loadorch:0.1.0",
                "--namespace", "perf", "--run-id", "golden", cwd=REPO)
    assert r.code == 0, r.err
    # a fresh token per render, in the run's Secret only
    text = re.sub(r"LOADORCH_RUN_TOKEN: [0-9a-f]{32}\n", "LOADORCH_RUN_TOKEN: <run token>\n", r.out)
    check_golden("k8s-staging.yaml", text)


def test_junit_golden() -> None:
    results = [
        ThresholdResult("http_req_duration{kind:read}", "p(95)<300", 296.4, 300, "ms", 1200, 0.128, "pass",
                        "passed: p(95)=296.4ms, limit < 300ms, 1200 samples, error bound ±0.128ms"),
        ThresholdResult("http_req_failed", "rate<0.01", 0.3, 0.01, "", 1200, 0, "fail",
                        "failed: rate=0.3, limit < 0.01, 1200 samples (360 failed of 1200; failures by status: 503: 360)"),
        ThresholdResult("http_req_duration{name:checkout}", "p(99)<800", None, 800, "ms", 0, 0, "fail",
                        "no data: no request matched http_req_duration{name:checkout}"),
    ]
    checks = [Check("workers", "pass", "3 of 3 workers ran to the end"),
              Check("generator cpu", "inconclusive", "generator saturated: worker 1 at 96%")]
    text = render("loadorch.staging", "2026-11-24T10:00:00", "ci-runner", 600.0, results, checks,
                  properties=[("profile", "staging"), ("seed", "20261124")], system_out="summary")
    check_golden("junit.xml", text)
