"""A run that fails because of failed requests says why, as a newcomer sees it on a terminal (a pty):
a coloured verdict, the reasons under it, the top errors with what a check compared; summary.md too."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.support.project import Project

SCENARIO = """
name: why
data:
  product_id: {int: [1, 3]}
setup:
  - name: seed
    repeat: 3
    request: {method: POST, path: /products, json: {name: "p-{index}", category: books}}
users:
  - name: u
    requests:
      - {name: get product, path: "/products/{product_id}", expect: {json: {"$.id": "{product_id}"}}}
      - {name: wrong category, path: "/products/{product_id}", expect: {json: {"$.category": 17}}}
      - {name: missing, path: "/nope/{product_id}"}
thresholds:
  "http_req_failed": ["rate<0.01"]
min_samples: 10
"""


def run_on_a_pty(project: Project, *args: str) -> tuple[int, str]:
    """The CLI with its stdout on a terminal (colour allowed: no NO_COLOR, a real TERM)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "loadorch", *args], cwd=project.root, stdout=slave,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed its side
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=30), b"".join(chunks).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_failed_requests_are_explained_on_a_terminal_and_in_summary_md(project: Project) -> None:
    project.write("scenarios/why.yaml", SCENARIO)
    project.write("profiles/why.yaml", "scenario: ../scenarios/why.yaml\nhost: embedded\nload: {users: 2, iterations: 15}\n")
    code, out = run_on_a_pty(project, "run", "why", "--out", "r")
    assert code == 1, out
    lines = [line for line in out.replace("\r", "").splitlines() if line.strip()]
    tail = lines[-6:]
    verdict = next(i for i, line in enumerate(tail) if "FAIL" in line and "why (why)" in line)
    assert "\033[1;31mFAIL\033[0m" in tail[verdict]  # coloured on a terminal
    assert tail[verdict + 1].startswith("  why: http_req_failed rate<0.01") and "see the top errors" in tail[verdict + 1]
    assert re.search(r'expected 17 \(int\), got "\w+" \(str\)', out), out  # what the failed check compared
    assert "all failed" in out and "latencies are of successful requests only" in out
    summary = (project.root / "r" / "summary.md").read_text()
    assert "**Why:**" in summary and "### Top errors" in summary
    assert "check $.category failed" in summary and "status 404" in summary
    assert "\033[" not in summary
