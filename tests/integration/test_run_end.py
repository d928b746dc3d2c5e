"""What a user sees at the end of a run: the verdict and the artifacts come before the metrics grace."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.project import Project

from .helpers import embedded_project, finish, start_run, wait_until_gone

STEADY = "name: steady\nusers:\n  - name: u\n    think_time: 0.05\n    requests:\n      - {name: h, path: /health}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        into.put(line)


def test_metrics_grace_comes_after_the_verdict_and_the_artifacts(project: Project) -> None:
    """`--metrics-port` with a long grace: the verdict is printed and every artifact written while the final
    scrape is still served, with a line saying so; Ctrl-C then ends the grace and the run keeps its exit code."""
    embedded_project(project, STEADY, users=1, duration="3s")
    port = _free_port()
    proc = start_run(project, "--out", "o", "--metrics-port", str(port), "--metrics-grace", "300s")
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    for stream, into in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    seen_out: list[str] = []
    try:
        deadline = time.monotonic() + 150  # start-up on a busy machine, 3 s of load, the verdict
        while not any(line.startswith("artifacts: o") for line in seen_out):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(seen_out)
            try:
                seen_out.append(out.get(timeout=1))
            except queue.Empty:
                pass
        doc = project.results("o")  # written, and the verdict printed, during the grace
        assert any(line.startswith(("PASS:", "INCONCLUSIVE:")) for line in seen_out), "".join(seen_out)
        assert (project.root / "o" / "junit.xml").exists() and (project.root / "o" / "report.html").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            scraped = resp.read().decode()
        assert "loadorch_run_finished" in scraped and proc.poll() is None
        seen_err: list[str] = []
        deadline = time.monotonic() + 30
        while not any("serving the final metrics" in line for line in seen_err):
            assert time.monotonic() < deadline, "".join(seen_err)
            try:
                seen_err.append(err.get(timeout=1))
            except queue.Empty:
                pass
        note = next(line for line in seen_err if "serving the final metrics" in line)
        assert f"http://127.0.0.1:{port}/metrics" in note and "Ctrl-C ends it early" in note
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)  # not the 300 s grace
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == doc["exit_code"] and doc["verdict"] != "interrupted", doc["verdict"]
    assert wait_until_gone(proc.pid) == []
    assert json.loads((project.root / "o" / "results.json").read_text()) == doc  # the grace changed nothing
    time.sleep(0.5)  # the reader threads take the last lines
    assert "Traceback" not in "".join(seen_err) + "".join(drained(err)) + "".join(drained(out))


def drained(lines: queue.Queue[str]) -> list[str]:
    taken = []
    while not lines.empty():
        taken.append(lines.get())
    return taken


def _finishing_run(project: Project) -> tuple[subprocess.Popen[str], Path]:
    """A run held while finishing (after the load, before its artifacts are written) by the controller's
    test gate, so that a signal surely lands in that phase; returns it once it is there."""
    embedded_project(project, STEADY, users=1, duration="2s")
    gate = project.root / "gate"
    gate.write_text("")
    proc = start_run(project, "--out", "o", env={"LOADORCH_TEST_FINISH_GATE": str(gate)})
    deadline = time.monotonic() + 150
    while not (project.root / "gate.reached").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the run never reached its finishing"
        time.sleep(0.05)
    return proc, gate


def test_sigterm_while_finishing_writes_the_artifacts_marked_interrupted(project: Project) -> None:
    proc, gate = _finishing_run(project)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the handler has run: the results being built are now out of date
    gate.unlink()
    out, err = finish(proc, timeout=60)
    assert proc.returncode == 143, out + err
    doc = project.results("o")
    assert doc["verdict"] == "interrupted" and doc["exit_code"] == 143 and doc["run"]["interrupted"] is True
    assert doc["totals"]["requests"] > 0  # what was measured is kept
    junit = (project.root / "o" / "junit.xml").read_text()
    assert 'name="verdict" value="interrupted"' in junit
    assert "writing the artifacts again, marked interrupted" in err and "Traceback" not in out + err
    assert wait_until_gone(proc.pid) == []


def test_a_second_signal_while_finishing_stops_at_once_and_junit_says_so(project: Project) -> None:
    proc, _ = _finishing_run(project)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # the gate is still there: only the second signal ends the wait
    out, err = finish(proc, timeout=30)
    assert proc.returncode == 143, out + err
    assert "Traceback" not in out + err and "stopped at once (a second signal)" in err
    root = ET.fromstring((project.root / "o" / "junit.xml").read_text())
    [error] = root.iter("error")
    assert "stopped at once by a second signal" in (error.get("message") or "")
    assert wait_until_gone(proc.pid) == []
    again = project.run("run", "p", "--iterations", "1", "--out", "o")  # the folder is still a run folder
    assert again.code == 6, again.err
