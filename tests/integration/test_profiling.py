"""Profilers on a real run: py-spy samples the embedded shop (in its own process) while a knob burns CPU in a
Python function of its handler, and a second profiler points at a process that is gone. One run, shared."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadorch.profiling.speedscope import parse
from tests.support.procs import running, wait_for
from tests.support.project import REPO, CliResult, Project, assert_no_traceback

pytestmark = pytest.mark.py_spy

SCENARIO = """
name: cpu
setup:
  - {name: knobs, request: {method: PUT, path: /_knobs, json: {cpu_ms: {products.get: 30}}}}
users:
  - name: shopper
    think_time: {constant: 0.05}
    requests:
      - {name: product, path: /products/1}
"""
PROFILE = """
scenario: ../scenarios/cpu.yaml
host: embedded
load: {{users: 4, duration: 3s}}
min_samples: 5
allow_saturated_generator: true
thresholds:
  "http_req_duration": ["p(95)<5"]
profilers:
  - {{target: embedded, rate: 100}}
  - {{pid: {gone}, name: gone}}
"""


def _gone_pid() -> int:
    """A pid that was just a process's and is no more (reaped): nothing runs under it now."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, CliResult]:
    project = Project(tmp_path_factory.mktemp("profiled"))
    project.write("scenarios/cpu.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.format(gone=_gone_pid()))
    return project, project.run("run", "p", "--out", "o", timeout=240)


def test_the_top_frame_by_own_time_is_the_slow_function_and_the_files_are_in_the_run_folder(profiled) -> None:
    project, r = profiled
    assert_no_traceback(r)
    assert r.code == 1, r.out + r.err  # the latency gate fails; the profiler that could not attach changes nothing
    doc = project.results("o")
    embedded = next(p for p in doc["profiles"] if p["name"] == "embedded")
    assert embedded["attached"] and embedded["samples"] > 0, embedded
    assert embedded["top"][0]["name"] == "slow_python_function", embedded["top"]
    assert embedded["top"][0]["file"].endswith("knobs.py")
    overhead = embedded["overhead"]
    assert overhead["nonblocking"] and overhead["profiler_cpu_s"] is not None and overhead["target_cpu_s"] > 0
    out = project.root / "o"
    stacks = parse(json.loads((out / embedded["speedscope"]).read_text()))
    assert stacks.samples > 0
    svg = (out / embedded["flamegraph"]).read_text()
    assert ET.fromstring(svg).tag.endswith("svg") and "slow_python_function" in svg
    check = next(c for c in doc["checks"] if c["name"] == "profiler embedded")
    assert check["verdict"] == "pass" and "slow_python_function" in check["message"] and "py-spy used" in check["message"]


def test_the_failing_latency_gate_lists_the_top_frames_as_its_evidence(profiled) -> None:
    project, _ = profiled
    [row] = [t for t in project.results("o")["thresholds"] if t["selector"] == "http_req_duration"]
    assert row["verdict"] == "fail" and row["evidence"]["profile"][0]["top"][0]["name"] == "slow_python_function"
    junit = ET.parse(project.root / "o" / "junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if (c.get("name") or "").startswith("http_req_duration"))
    failure = case.find("failure")
    assert failure is not None and "profile embedded: own time: slow_python_function" in (failure.text or "")


def test_the_report_and_the_summary_show_the_profile(profiled) -> None:
    project, _ = profiled
    html = (project.root / "o" / "report.html").read_text()
    assert "<h2>Profiles</h2>" in html and '<div class="flame"><svg' in html and "slow_python_function" in html
    md = (project.root / "o" / "summary.md").read_text()
    assert "### Profiles" in md and "slow_python_function" in md and "embedded.speedscope.json" in md


def test_a_profiler_that_cannot_attach_is_a_warning_with_its_fix_not_the_verdict(profiled) -> None:
    project, r = profiled
    doc = project.results("o")
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    gone = next(p for p in doc["profiles"] if p["name"] == "gone")
    assert not gone["attached"] and "is not running" in gone["problem"] and gone["fix"]
    check = next(c for c in doc["checks"] if c["name"] == "profiler gone")
    assert check["verdict"] == "warning" and "fix: start the target" in check["message"]
    assert "profiler gone" in r.out and "not attached" in r.out
    junit = ET.parse(project.root / "o" / "junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "profiler gone")
    assert case.find("skipped") is not None and junit.get("skipped") == "1"


def test_the_embedded_shops_process_is_stopped_after_the_run(profiled) -> None:
    project, _ = profiled
    pid = next(p for p in project.results("o")["profiles"] if p["name"] == "embedded")["pid"]
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


# a stand-in for the controller: starts py-spy on the target (a sleeping process) the way a run does, says py-spy's
# pid, then waits to be killed
HOLDER = """
import sys, time
from loadorch.config.profilers import ProfilerSpec
from loadorch.run.profiler import Profilers
p = Profilers([ProfilerSpec(pid=int(sys.argv[1]), rate=10)], sys.argv[2], None, sys.argv[2], str, {"PATH": sys.argv[3]})
p.start()
[item] = p.items
assert item.proc is not None, item.problem
print(item.proc.pid, flush=True)
time.sleep(600)
"""


def test_py_spy_ends_with_the_run_that_started_it_even_when_that_is_killed(tmp_path: Path) -> None:
    """A run SIGKILLed (no `finally` runs: an OOM kill, a CI job's timeout) left py-spy sampling the target until
    its --duration, up to a day for a run without a window end: it now dies with the process that started it."""
    import os
    import signal
    import sys

    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target.pid), str(tmp_path), os.environ["PATH"]],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout is not None
        spy = int(holder.stdout.readline())
        assert running(spy)  # sampling
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        wait_for(lambda: not running(spy), "py-spy to end with the process that started it")
    finally:
        for proc in (holder, target):
            if proc.poll() is None:
                proc.kill()
                proc.wait()



def test_a_stopped_target_is_said_to_be_stopped_not_idle(tmp_path: Path) -> None:
    """A target held by SIGSTOP (or a debugger) gives py-spy no sample: the check said "the target was idle", which
    sends its reader looking at the load; it says the target was stopped, and how to continue it."""
    import os
    import signal
    import sys
    import time

    from loadorch.config.profilers import ProfilerSpec
    from loadorch.run.profiler import Profilers

    # busy (sampled whenever it runs); stopped once its interpreter is up (before, py-spy does not know it for one)
    target = subprocess.Popen([sys.executable, "-c", "print('up', flush=True)\nwhile True: pass"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdout.readline() == "up\n"
        os.kill(target.pid, signal.SIGSTOP)
        profilers = Profilers([ProfilerSpec(pid=target.pid, rate=20)], str(tmp_path), None, str(tmp_path), str,
                              {"PATH": os.environ["PATH"]})
        profilers.start()
        time.sleep(1.5)
        [check], [section] = profilers.finish(str(tmp_path))
    finally:
        target.kill()
        target.wait(timeout=10)
    assert section.attached and section.samples == 0, section
    assert check.verdict == "warning", check  # measured nothing: not a pass (and not the HTTP verdict's business)
    assert "no samples: the target was stopped (state T: SIGSTOP, or a debugger holds it)" in check.message, check
    assert "idle" not in check.message


def test_a_target_that_exits_during_the_window_is_said_to_have_cut_the_profile_short(tmp_path: Path) -> None:
    """py-spy ends by itself when its target exits: the profile said it sampled for the whole span (the time until
    the run's end) and the check passed, as if the top functions were the window's; it says when py-spy ended and
    why, as a warning (never the HTTP verdict's business), in the check, the section and the gate's evidence."""
    import os
    import sys
    import time

    from loadorch.config.profilers import ProfilerSpec
    from loadorch.report.evidence_profile import profile_short
    from loadorch.report.profile import about
    from loadorch.results import ProfileEvidence
    from loadorch.run.profiler import Profilers

    target = subprocess.Popen([sys.executable, "-c", "import sys\nprint('up', flush=True)\nsys.stdin.read()\n"
                               "while True:\n    sum(range(1000))"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdin is not None and target.stdout.readline() == "up\n"
        profilers = Profilers([ProfilerSpec(pid=target.pid, rate=50, name="busy")], str(tmp_path), None,
                              str(tmp_path), str, {"PATH": os.environ["PATH"]})
        profilers.tick(None)  # the launch: py-spy starts
        [item] = profilers.items
        assert item.proc is not None, item.problem
        target.stdin.close()  # the target burns CPU from now ...
        time.sleep(1.0)
        target.kill()  # ... and exits in the window
        target.wait(timeout=10)
        wait_for(lambda: item.proc is not None and item.proc.poll() is not None, "py-spy to end with its target")
        profilers.tick(1.0)  # the load's next tick sees it ended
        seen = time.monotonic() - item.began
        time.sleep(1.0)  # the load goes on
        [check], [section] = profilers.finish(str(tmp_path))
        whole = time.monotonic() - item.began
    finally:
        if target.poll() is None:
            target.kill()
            target.wait(timeout=10)
    assert section.attached and section.samples > 0, section
    assert section.profiled_s <= seen + 0.001 < whole, (section.profiled_s, seen, whole)  # not until the finish (ms)
    assert section.problem and f"process {target.pid} exited" in section.problem and section.fix, section
    assert check.verdict == "warning" and "cut short" in check.message and "exited" in check.message, check
    assert "Cut short" in about(section)
    evidence = ProfileEvidence(name="busy", target=section.target, attached=True, top=section.top,
                               problem=section.problem)
    assert "cut short" in profile_short([evidence])[0]


def test_the_rate_is_lowered_for_a_long_load_without_a_measurement_window(tmp_path: Path) -> None:
    """Without `measure:` the whole load is the window, and its length is known (`duration: 2h`): py-spy sampled it
    at the profile's rate (100 Hz), twice the 360,000 samples a thread the README bounds it to, a file and a
    py-spy growing with the run; it samples at 50 Hz, as for a window of two hours."""
    import os
    import sys

    from loadorch.config.resolve import build
    from loadorch.run.profiler import for_run

    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        project = Project(tmp_path)
        project.write("scenarios/s.yaml", "name: s\nusers:\n  - name: u\n    requests:\n      - {name: home, path: /}\n")
        for load, rate in (("duration: 2h", 50), ("duration: 30m", 100)):
            project.write("profiles/p.yaml", f"scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:9\n"
                                             f"load: {{users: 1, {load}}}\nprofilers:\n  - {{pid: {target.pid}}}\n")
            cfg = build("p", str(project.root), {"PATH": os.environ["PATH"]})
            assert cfg.window is None
            profilers = for_run(cfg, None, str(tmp_path), str, {"PATH": os.environ["PATH"]})
            assert profilers is not None
            profilers.start()
            [item] = profilers.items
            assert item.proc is not None, item.problem
            assert item.rate == rate, (load, item.rate)
            profilers.stop()
    finally:
        target.kill()
        target.wait(timeout=10)
