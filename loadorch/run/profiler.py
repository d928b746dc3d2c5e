"""The profilers of a run: py-spy attached to each target process for the measurement window, then its
speedscope profile read, bounded and written with a flame graph into the run folder's `profiles/`.

py-spy samples with `--nonblocking`: it reads the target's memory without stopping it. It starts as the
load is launched (attaching takes up to about a second, while the workers connect) or, when the window
starts later, a second before the window; it is stopped with SIGINT (it then writes its file) when the
window ends or the load is over, and `--duration` bounds it should loadorch itself die. A profiler that
cannot attach is a warning check with its fix: the HTTP verdict never depends on a profiler.

Overhead, as measured: py-spy's own CPU time (from /proc/PID/stat just before it is stopped) against the
profiled span and the target's CPU time over the same span. The target is never paused, so what it costs
the target is CPU taken from the same machine.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadorch.config.profilers import MAX_PID, ProfilerSpec
from loadorch.config.resolve import RunConfig
from loadorch.pids import dies_with_parent
from loadorch.profiling import flamegraph, speedscope
from loadorch.profiling.attach import GONE_FIX, INSTALL_FIX, STOP_FIX, pid_file_problem, problem_of
from loadorch.profiling.top import TopFrame, one_line, top_frames
from loadorch.run.artifacts import write_json, write_text
from loadorch.verdict.evaluate import PASS, WARNING, Check

if TYPE_CHECKING:  # results.json's models: imported where a profile's section is built, after the load
    from loadorch.results import ProfileOverhead, ProfileSection, Results

ATTACH_LEAD_S = 1.0  # py-spy starts this long before a window that starts after the load does
STOP_WAIT_S = 15.0  # for py-spy to write its file after SIGINT
MAX_SAMPLES_PER_THREAD = 360_000  # an hour at 100 Hz: the rate is lowered for longer windows
MAX_RAW_BYTES = 512 << 20  # py-spy's file, read in chunks (speedscope.read); larger is refused with its fix


@dataclass
class _Attached:
    spec: ProfilerSpec
    label: str
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    raw: str = ""
    log: str = ""
    rate: int = 0
    began: float = 0.0
    seconds: float = 0.0
    target_cpu0: float | None = None
    target_cpu_s: float | None = None
    own_cpu_s: float | None = None
    problem: tuple[str, str] | None = None  # (what, fix)
    ended: float | None = None  # when py-spy was seen to have ended by itself (monotonic), before it was stopped


class Profilers:
    def __init__(
        self,
        specs: Sequence[ProfilerSpec],
        profile_dir: str,
        embedded_pid: int | None,
        scratch: str,
        mask: Callable[[str], str],
        env: Mapping[str, str],
        window: tuple[float, float | None] = (0.0, None),
        planned_s: float | None = None,
    ) -> None:
        self.items = [_Attached(s, s.label) for s in specs]
        self.profile_dir, self.embedded_pid, self.scratch = profile_dir, embedded_pid, scratch
        self.mask, self.env = mask, env
        self.start_at = max(0.0, window[0] - ATTACH_LEAD_S) if window[0] > 0 else 0.0
        self.stop_at = window[1]
        # how long the load is to last, when no window ends it (no `measure:`): the span the rate is lowered for
        self.planned_s = planned_s
        self.started = self.stopped = False

    def tick(self, elapsed_s: float | None) -> None:
        """At the launch (None) and about once a second of the load: start, or stop at the window's end."""
        if not self.started and (elapsed_s or 0.0) >= self.start_at and (elapsed_s is not None or not self.start_at):
            self.start()
        if self.started and self.stop_at is not None and elapsed_s is not None and elapsed_s >= self.stop_at:
            self.stop()
        elif self.started and not self.stopped:
            self._seen_ended()

    def _seen_ended(self) -> None:
        """Note when a py-spy ended by itself (its target exited, or --duration): its profile covers up to then,
        not the window (within a tick: the load ticks about once a second)."""
        for item in self.items:
            if item.proc is not None and item.ended is None and item.proc.poll() is not None:
                item.ended = time.monotonic()

    def start(self) -> None:
        self.started = True
        span = (self.stop_at or 0.0) - self.start_at
        for item in self.items:
            self._start_one(item, span, span if span > 0 else (self.planned_s or 0.0))

    def _start_one(self, item: _Attached, span: float, sampled: float = 0.0) -> None:
        """`span`: the window's, known when it ends before the load does (py-spy's --duration bounds it); `sampled`:
        what py-spy is to sample, that or the load's planned length (the rate is lowered for a long one)."""
        item.pid, problem = self._pid_of(item.spec)
        if problem is not None or item.pid is None:
            item.problem = problem
            return
        exe = py_spy_path(self.env)
        if exe is None:
            item.problem = ("py-spy is not installed", INSTALL_FIX)
            return
        if not os.path.exists(f"/proc/{item.pid}"):
            item.problem = (f"process {item.pid} is not running", GONE_FIX)
            return
        most = item.spec.rate if sampled <= 0 else max(1, int(MAX_SAMPLES_PER_THREAD / sampled))
        item.rate = min(item.spec.rate, most)
        item.raw = os.path.join(self.scratch, f"py-spy-{item.label}.json")
        item.log = os.path.join(self.scratch, f"py-spy-{item.label}.log")
        bound = 24 * 3600 if span <= 0 else math.ceil(span + 60)
        argv = [exe, "record", "--nonblocking", "--format", "speedscope", "--rate", str(item.rate),
                "--duration", str(bound), "--pid", str(item.pid), "--output", item.raw]  # fmt: skip
        item.target_cpu0 = cpu_seconds(item.pid)
        item.began = time.monotonic()
        with open(item.log, "wb") as log:
            # dies with this process even when it is SIGKILLed (no `finally` runs then): py-spy would otherwise
            # go on sampling the target until its --duration, up to a day for a run without a window end
            item.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=dies_with_parent())

    def _pid_of(self, spec: ProfilerSpec) -> tuple[int | None, tuple[str, str] | None]:
        if spec.target == "embedded":
            return self.embedded_pid, None if self.embedded_pid else ("the embedded target has no process", GONE_FIX)
        if spec.pid is not None:
            return spec.pid, None
        path = os.path.join(self.profile_dir, spec.pid_file or "")
        try:
            with open(path, "rb") as fh:
                # bytes, ASCII digits only: a file that is not UTF-8, or a digit str.isdigit() takes and int() does
                # not ("²"), was an internal error of the run; a number past the largest pid is no process either
                text = fh.read(64).decode("ascii", errors="replace").strip()
        except OSError as exc:
            return None, pid_file_problem(path, exc.strerror or str(exc))
        if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= MAX_PID:
            return None, pid_file_problem(path, f"{text[:20]!r} is not a pid")
        return int(text), None

    def stop(self) -> None:
        """SIGINT to every py-spy still sampling, then a bounded wait for its file (idempotent)."""
        if self.stopped or not self.started:
            self.stopped = True
            return
        self.stopped = True
        self._seen_ended()
        for item in self.items:
            if item.proc is not None and item.ended is None:
                item.own_cpu_s = cpu_seconds(item.proc.pid)
                item.target_cpu_s = _delta(cpu_seconds(item.pid or 0), item.target_cpu0)
                item.seconds = time.monotonic() - item.began
                item.proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_WAIT_S
        for item in self.items:
            if item.proc is None:
                continue
            try:
                item.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                item.proc.kill()
                item.proc.wait(timeout=5)
                item.problem = item.problem or (
                    f"py-spy did not stop within {STOP_WAIT_S:g}s of SIGINT and was killed: its profile is lost",
                    STOP_FIX,
                )

    def finish(self, out_dir: str) -> tuple[list[Check], list[ProfileSection]]:
        """One check and one results.json section per profiler; the files into `out_dir`/profiles/."""
        self.stop()
        checks, sections = [], []
        for item in self.items:
            section = self._read(item, out_dir)
            sections.append(section)
            checks.append(_check(item, section))
        return checks, sections

    def _read(self, item: _Attached, out_dir: str) -> ProfileSection:
        from loadorch.results import ProfileSection

        if item.problem is None and item.proc is not None:
            parsed = self._parse(item, out_dir)
            if isinstance(parsed, ProfileSection):
                return parsed
            item.problem = parsed
        if item.problem is None:
            return _unattached(item)
        return _unattached(item, (self.mask(item.problem[0]), item.problem[1]))

    def _parse(self, item: _Attached, out_dir: str) -> ProfileSection | tuple[str, str]:
        """The attached profiler's section, its files written; or why its profile could not be read."""
        said = _read_text(item.log)
        try:
            if os.path.getsize(item.raw) > MAX_RAW_BYTES:
                return f"py-spy's profile is over {MAX_RAW_BYTES >> 20} MB", "lower profilers[].rate"
            stacks = speedscope.read(item.raw, self.mask)
        except OSError:
            return problem_of(said, item.pid or 0)
        except (ValueError, speedscope.ProfileFormatError) as exc:
            return f"py-spy's profile could not be read: {exc}", "see py-spy's version (0.3 or later writes speedscope)"
        cut_short = None
        if item.ended is not None:  # it ended by itself before it was stopped (the target exited, or --duration)
            item.seconds = item.ended - item.began
            cut_short = _cut_short(item, said)
        top = top_frames(stacks, item.spec.top)
        files = {"speedscope": f"profiles/{item.label}.speedscope.json", "flamegraph": f"profiles/{item.label}.svg"}
        title = f"{item.label}: {_target_text(item.spec)} (pid {item.pid}), {item.rate} Hz"
        write_json(os.path.join(out_dir, files["speedscope"]), speedscope.document(stacks, title))
        write_text(os.path.join(out_dir, files["flamegraph"]), flamegraph.render(stacks, title))
        from loadorch.results import ProfileSection, TopFrameRow

        return ProfileSection(
            name=item.label, tool=item.spec.tool, target=_target_text(item.spec), pid=item.pid, attached=True,
            rate_hz=item.rate, samples=stacks.samples, sampled_s=round(stacks.seconds, 3),
            profiled_s=round(item.seconds, 3), dropped_stacks=stacks.dropped_stacks,
            top=[TopFrameRow.model_validate(f.to_json()) for f in top], overhead=_overhead(item),
            speedscope=files["speedscope"], flamegraph=files["flamegraph"],
            **({"problem": self.mask(cut_short[0]), "fix": cut_short[1]} if cut_short else {}),
        )  # fmt: skip


def _cut_short(item: _Attached, said: str) -> tuple[str, str]:
    """(what happened, the fix) for a py-spy that ended by itself before the window's end: its profile is of the
    time before, and is said to be."""
    head = f"py-spy ended {item.seconds:.1f} s after it started, before the window's end"
    if item.pid and not os.path.exists(f"/proc/{item.pid}"):
        return (f"{head}: process {item.pid} exited; the profile covers only the time before",
                "keep the target running through the measurement window (a pid_file is read again by the next run)")
    last = next((line.strip() for line in reversed(said.splitlines()) if line.strip()), "")
    return (f"{head}{': ' + last[:300] if last else ''}; the profile covers only the time before",
            "see py-spy's message; lower profilers[].rate or profile a shorter window (measure:) if it ran out of time")


def _unattached(item: _Attached, problem: tuple[str, str] | None = None) -> ProfileSection:
    """A profiler that did not attach: with what happened and its fix (None only if it never started)."""
    from loadorch.results import ProfileSection

    if problem is None:
        return ProfileSection(name=item.label, tool=item.spec.tool, target=_target_text(item.spec), pid=item.pid,
                              attached=False, rate_hz=item.rate)
    return ProfileSection(name=item.label, tool=item.spec.tool, target=_target_text(item.spec), pid=item.pid,
                          attached=False, rate_hz=item.rate, problem=problem[0], fix=problem[1])


def _overhead(item: _Attached) -> ProfileOverhead:
    from loadorch.results import ProfileOverhead

    share = item.own_cpu_s / item.seconds if item.own_cpu_s is not None and item.seconds > 0 else None
    return ProfileOverhead(
        nonblocking=True,
        profiler_cpu_s=None if item.own_cpu_s is None else round(item.own_cpu_s, 3),
        profiler_core_share=None if share is None else round(share, 4),
        target_cpu_s=None if item.target_cpu_s is None else round(item.target_cpu_s, 3),
    )


def overhead_text(o: ProfileOverhead, rate: int, seconds: float) -> str:
    if o.profiler_cpu_s is None:
        return f"{rate} Hz, the target never paused (--nonblocking); py-spy's CPU was not measured (it ended first)"
    target = f" beside the target's {o.target_cpu_s:.2f} s" if o.target_cpu_s is not None else ""
    return (
        f"py-spy used {o.profiler_cpu_s:.2f} s of CPU over {seconds:.1f} s ({o.profiler_core_share or 0.0:.1%} of "
        f"one core){target}, sampling at {rate} Hz without pausing the target (--nonblocking)"
    )


def _check(item: _Attached, section: ProfileSection) -> Check:
    name = f"profiler {item.label}"
    if not section.attached:
        why = f"not attached: {section.problem}; fix: {section.fix}"
        return Check(name, WARNING, why + "; the HTTP verdict does not depend on it")
    frames = one_line(top_frames_of(section), 3) or _no_samples(item.pid)
    overhead = overhead_text(section.overhead, item.rate, item.seconds) if section.overhead else ""
    said = f"{section.samples} samples of pid {item.pid}; top: {frames}; overhead: {overhead}"
    if section.problem:  # attached, and cut short: what it sampled is not the window's
        return Check(name, WARNING, f"{said}; cut short: {section.problem}; fix: {section.fix}; the HTTP verdict "
                     "does not depend on it")
    if not section.top:  # attached, and measured nothing: said as a warning, as a profiler that did not attach
        return Check(name, WARNING, said + "; the HTTP verdict does not depend on it")
    return Check(name, PASS, said)


def _no_samples(pid: int | None) -> str:
    """Why a profile holds no sample: a stopped target (SIGSTOP, a debugger: /proc's state T or t) runs no code to
    sample; else it was idle (py-spy leaves out threads that wait)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        state = ""
    if state in ("T", "t"):
        return (f"no samples: the target was stopped (state {state}: SIGSTOP, or a debugger holds it), so it ran no "
                "code; continue it (kill -CONT) and run again")
    return "no samples (the target was idle)"


def top_frames_of(section: ProfileSection) -> list[TopFrame]:
    return [TopFrame(f.name, f.file, f.line, f.self_s, f.total_s, f.self_share) for f in section.top]


def _target_text(spec: ProfilerSpec) -> str:
    if spec.target:
        return "the embedded shop"
    return f"pid {spec.pid}" if spec.pid is not None else f"pid file {spec.pid_file}"


def py_spy_path(env: Mapping[str, str]) -> str | None:
    """py-spy on PATH, else beside this Python (a virtualenv's bin/ that is not on PATH)."""
    found = shutil.which("py-spy", path=env.get("PATH"))
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return found or (beside if os.access(beside, os.X_OK) else None)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (/proc/PID/stat), or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _delta(end: float | None, start: float | None) -> float | None:
    return None if end is None or start is None else max(0.0, end - start)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(20000)
    except OSError:
        return ""


def for_run(
    cfg: RunConfig, embedded_pid: int | None, scratch: str, mask: Callable[[str], str], env: Mapping[str, str]
) -> Profilers | None:
    """The run's profilers (None without a `profilers:` section), sampling the measurement window."""
    specs = cfg.profile.profilers
    if not specs:
        return None
    spans = cfg.window.spans if cfg.window is not None else ()
    end = max((b for _, b in spans), default=math.inf)
    window = (min((a for a, _ in spans), default=0.0), end if math.isfinite(end) else None)
    profile_dir = os.path.dirname(os.path.abspath(cfg.profile_path))
    return Profilers(specs, profile_dir, embedded_pid, scratch, mask, env, window, cfg.duration_s)


def wants_embedded_process(cfg: RunConfig) -> bool:
    """A profiler of the embedded shop needs the shop in a process of its own."""
    return cfg.host == "embedded" and any(s.target == "embedded" for s in cfg.profile.profilers)


MAX_FLAMEGRAPH_BYTES = 4 << 20


def read_flamegraphs(run_dir: str, doc: Results) -> dict[str, str]:
    """Each profiler's flame graph SVG from the run folder's profiles/ (only there; at most 4 MB each), for
    report.html to show inline; one that is missing or too large is left out (the page names the file)."""
    out = {}
    for p in doc.profiles:
        if not p.flamegraph:
            continue
        path = os.path.join(run_dir, "profiles", os.path.basename(p.flamegraph))
        try:
            if os.path.getsize(path) <= MAX_FLAMEGRAPH_BYTES:
                with open(path, encoding="utf-8") as fh:
                    out[p.name] = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
    return out
