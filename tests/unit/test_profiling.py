"""Profiles (pure): a speedscope file read into weighted stacks, own time, the flame graph's bounds, why a
profiler could not attach, and the `profilers:` section's located errors."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadorch.profiling import flamegraph, speedscope
from loadorch.profiling.attach import GONE_FIX, PERMISSION_FIX, problem_of
from loadorch.profiling.speedscope import OTHER, Frame, ProfileFormatError, Stacks, parse
from loadorch.profiling.top import one_line, top_frames
from tests.unit.test_config import BASE_SCENARIO, errors, make

FRAMES = [
    {"name": "<module>", "file": "app.py", "line": 1, "col": None},
    {"name": "handle", "file": "app.py", "line": 10},
    {"name": "slow_python_function", "file": "knobs.py", "line": 140},
    {"name": "slow_python_function", "file": "knobs.py", "line": 143},
    {"name": "dumps", "file": "json/__init__.py", "line": 231},
]


def pyspy_doc() -> dict:
    """py-spy's shape: one sampled profile per thread, outermost frame first, weights in seconds."""
    thread = {"type": "sampled", "name": "Thread 1", "unit": "seconds", "startValue": 0.0, "endValue": 0.1}
    return {
        "$schema": speedscope.SCHEMA_URL,
        "shared": {"frames": [dict(f) for f in FRAMES]},
        "profiles": [
            {**thread, "samples": [[0, 1, 2], [0, 1, 3], [0, 1, 3], [0, 1]], "weights": [0.01] * 4},
            {**thread, "name": "Thread 2", "samples": [[0, 1, 4], [0, 1, 3]], "weights": [0.01, 0.01]},
        ],
    }


def test_every_threads_samples_are_read_and_the_same_stacks_add_up() -> None:
    stacks = parse(pyspy_doc())
    assert stacks.samples == 6 and stacks.seconds == pytest.approx(0.06)
    hot = (Frame("<module>", "app.py", 1), Frame("handle", "app.py", 10), Frame("slow_python_function", "knobs.py", 143))
    assert stacks.weights[hot] == pytest.approx(0.03)


def test_own_time_is_the_running_frame_and_a_functions_lines_add_up() -> None:
    top = top_frames(parse(pyspy_doc()), 3)
    assert [f.name for f in top] == ["slow_python_function", "dumps", "handle"]
    slow = top[0]
    assert slow.self_s == pytest.approx(0.04) and slow.line == 143  # lines 140 and 143, the hotter shown
    assert slow.self_share == pytest.approx(4 / 6)
    handle = top[2]
    assert handle.self_s == pytest.approx(0.01) and handle.total_s == pytest.approx(0.06)
    assert one_line(top, 1) == "slow_python_function (knobs.py:143) 67%"


def test_a_recursive_function_counts_once_per_stack_in_total_time() -> None:
    stacks = Stacks()
    f, g = Frame("f", "a.py", 1), Frame("g", "a.py", 5)
    stacks.add((f, f, f, g), 1.0)
    stacks.add((f, f), 0.5)
    [g_top, f_top] = top_frames(stacks, 2)
    assert (g_top.name, g_top.self_s, g_top.total_s) == ("g", 1.0, 1.0)
    assert (f_top.name, f_top.self_s, f_top.total_s) == ("f", 0.5, 1.5)


def test_distinct_stacks_past_the_bound_are_counted_as_other() -> None:
    stacks = Stacks(max_stacks=2)
    for i in range(5):
        stacks.add((Frame(f"f{i}", "a.py"),), 1.0)
    assert len(stacks.weights) == 3 and stacks.dropped_stacks == 3
    assert stacks.weights[(Frame(OTHER, ""),)] == 3.0 and stacks.seconds == 5.0


def test_deep_stacks_are_cut() -> None:
    stacks = Stacks()
    stacks.add(tuple(Frame(f"f{i}", "a.py") for i in range(speedscope.MAX_DEPTH + 50)), 1.0)
    assert max(len(s) for s in stacks.weights) == speedscope.MAX_DEPTH


def test_names_and_files_go_through_the_mask() -> None:
    doc = pyspy_doc()
    doc["shared"]["frames"][1] = {"name": "handle_tok-SECRET", "file": "/srv/tok-SECRET/app.py", "line": 3}
    stacks = parse(doc, lambda s: s.replace("tok-SECRET", "***"))
    assert "tok-SECRET" not in json.dumps(speedscope.document(stacks, "x"))
    assert "tok-SECRET" not in flamegraph.render(stacks, "x")


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("shared"), "shared.frames"),
        (lambda d: d["profiles"][0].update(type="evented"), "profiles[0]"),
        (lambda d: d["profiles"][1]["samples"].append([0]), "profiles[1]"),
        (lambda d: d["profiles"][0]["samples"].__setitem__(2, [0, 99]), "profiles[0].samples[2]"),
        (lambda d: d["shared"]["frames"].__setitem__(0, {"file": "x"}), "shared.frames[0]"),
    ],
)
def test_a_malformed_profile_says_where(mutate, where: str) -> None:
    doc = pyspy_doc()
    mutate(doc)
    with pytest.raises(ProfileFormatError, match=r"^" + where.replace("[", r"\[").replace("]", r"\]")):
        parse(doc)


def test_the_written_profile_reads_back_the_same_and_is_heaviest_first() -> None:
    stacks = parse(pyspy_doc())
    doc = json.loads(json.dumps(speedscope.document(stacks, "embedded")))
    again = parse(doc)
    assert again.weights == pytest.approx(stacks.weights)
    weights = doc["profiles"][0]["weights"]
    assert weights == sorted(weights, reverse=True) and doc["exporter"] == "loadorch"


def test_the_flame_graph_is_well_formed_and_escapes_names() -> None:
    doc = pyspy_doc()
    doc["shared"]["frames"][4] = {"name": "<script>alert(1)</script>", "file": "a&b.py", "line": 1}
    svg = flamegraph.render(parse(doc), 'run "x" <y>')
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<script>" not in svg
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("slow_python_function (knobs.py): 0.040 s, 66.7%") for t in texts), texts
    rects = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert float(rects[0].get("width") or 0) == pytest.approx(flamegraph.WIDTH_PX)  # the root: every sample


def test_the_flame_graph_is_bounded_whatever_the_profile() -> None:
    stacks = Stacks()
    for i in range(200):  # 200 distinct stacks, 100 deep, each about 6 px wide: 12,800 boxes to draw past MAX_ROWS
        stacks.add(tuple(Frame(f"f{i}_{d}", "a.py") for d in range(100)), 1.0)
    for i in range(2000):  # and many too narrow to draw
        stacks.add((Frame(f"tiny{i}", "a.py"),), 0.001)
    svg = flamegraph.render(stacks, "big")
    boxes = ET.fromstring(svg).findall(".//{http://www.w3.org/2000/svg}rect")
    assert len(boxes) == flamegraph.MAX_BOXES
    assert "tiny" not in svg and len(svg) < 3_000_000


def test_an_empty_profile_draws_an_empty_graph() -> None:
    root = ET.fromstring(flamegraph.render(Stacks(), "idle"))
    assert root.findall(".//{http://www.w3.org/2000/svg}rect") == []


@pytest.mark.parametrize(
    ("said", "what", "fix"),
    [
        ("Error: Permission denied (os error 13)", "not permitted", PERMISSION_FIX),
        ("Error: Failed to get process executable name. Check that the process is running.", "not running",
         GONE_FIX),
        ("Error: Operation not permitted (os error 1)", "not permitted", PERMISSION_FIX),
    ],
)
def test_py_spys_words_become_the_problem_and_its_fix(said: str, what: str, fix: str) -> None:
    problem, given = problem_of(said, 42)
    assert what in problem and "42" in problem and given == fix
    assert "CAP_SYS_PTRACE" in PERMISSION_FIX and "kubectl debug" in PERMISSION_FIX


PROFILED = "scenario: ../scenarios/s.yaml\nhost: {host}\nload: {{users: 1, duration: 5s}}\nprofilers:\n{entries}"


@pytest.mark.parametrize(
    ("host", "entries", "expected"),
    [
        ("embedded", "  - {target: embedded, pid: 3}\n", ":5: profilers[0]: give exactly one of target: embedded, pid: N or pid_file: PATH (got target, pid)"),
        ("embedded", "  - {rate: 5000, pid: 3}\n", ":5: profilers[0].rate: Input should be less than or equal to 1000"),
        ("embedded", "  - {pid: 3, nmae: x}\n", ":5: profilers[0].nmae: unknown field 'nmae'; did you mean 'name'?"),
        ("http://127.0.0.1:8000", "  - {target: embedded}\n", ":4: profilers: target: embedded profiles the embedded"),
        ("embedded", "  - {pid: 3, name: a}\n  - {pid: 4, name: a}\n", ":4: profilers: two profilers are named a"),
    ],
)
def test_the_profilers_section_is_checked_with_file_line_and_field(
    tmp_path: Path, host: str, entries: str, expected: str
) -> None:
    [msg] = errors(tmp_path, BASE_SCENARIO, PROFILED.format(host=host, entries=entries))
    assert msg.startswith(str(tmp_path / "profiles" / "p.yaml") + expected), msg


def test_a_valid_profilers_section_builds(tmp_path: Path) -> None:
    from loadorch.config.resolve import build

    profile = PROFILED.format(host="embedded", entries="  - {target: embedded}\n  - {pid_file: run/app.pid, rate: 50}\n")
    make(tmp_path, BASE_SCENARIO, profile)
    specs = build("p", str(tmp_path), {}).profile.profilers
    assert [s.label for s in specs] == ["embedded", "app"] and specs[1].rate == 50


def _golden():  # type: ignore[no-untyped-def]
    from loadorch.results import results_of
    from loadorch.run.artifacts import dumps
    from tests.synthetic import full_results

    return results_of(json.loads(dumps(full_results())), "results.json")


def test_a_failing_latency_gate_lists_the_targets_top_frames_in_every_report() -> None:
    from loadorch.report.evidence import html_evidence, markdown_evidence, short_text

    doc = _golden()
    [row] = [t for t in doc.thresholds if t.evidence is not None]
    assert row.selector.startswith("http_req_duration") and row.evidence is not None
    attached, gone = row.evidence.profile
    assert attached.top[0].name == "slow_python_function" and attached.flamegraph == "profiles/embedded.svg"
    assert not gone.attached and gone.problem and "fix: write the target's pid" in gone.problem
    short = short_text(row.evidence)
    assert "profile embedded: own time: slow_python_function (knobs.py:143) 71%" in short, short
    assert "profile api: not attached" in short
    assert "slow_python_function (knobs.py:143)" in "\n".join(markdown_evidence(doc.thresholds))
    assert "Where the target spent its time" in html_evidence(doc.thresholds)


def test_only_latency_gates_get_the_profile() -> None:
    from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
    from loadorch.report.evidence_profile import profile_evidence
    from loadorch.report.results import RunRecord
    from loadorch.results import Evidence, ProfileSection
    from loadorch.verdict.evaluate import ThresholdResult
    from tests.synthetic import PROFILES

    profiles = [ProfileSection.model_validate(p) for p in PROFILES]
    record = RunRecord("p", "s", "s.yaml", "0" * 64, 1, 1, 1, "h", "t0", "t1", {}, "fail", 1, profiles=profiles)

    def result(selector: str, expression: str) -> ThresholdResult:
        sel = parse_selector(selector)
        t = Threshold(sel, parse_expression(expression, sel.metric))
        return ThresholdResult.of(t, 1.0, 100, 0.0, "fail", "failed", "")

    assert profile_evidence(result("http_req_duration", "p(95)<5"), record).profile[0].top
    assert profile_evidence(result("server_timing{entry:app}", "p(95)<5"), record).profile[0].top  # the app's own
    assert profile_evidence(result("http_req_failed", "rate<0.01"), record) == Evidence()
    assert profile_evidence(result("http_req_connecting", "p(95)<5"), record) == Evidence()
    assert profile_evidence(result("http_req_duration", "p(95)<5"), RunRecord(
        "p", "s", "s.yaml", "0" * 64, 1, 1, 1, "h", "t0", "t1", {}, "fail", 1)) == Evidence()


def test_the_cpu_knob_per_route_and_its_bounds() -> None:
    from loadorch.target.knobs import Knobs, slow_python_function

    knobs = Knobs()
    knobs.update({"cpu_ms": {"products.get": 30}})
    assert knobs.cpu_for("products.get") == 0.03 and knobs.cpu_for("health") == 0.0
    knobs.update({"cpu_ms": 5})
    assert knobs.cpu_for("orders.create") == 0.005 and knobs.snapshot()["cpu_ms"] == {"*": 5.0}
    for bad in (-1, 20_000, "x", [1]):
        with pytest.raises(ValueError):
            knobs.update({"cpu_ms": bad})
    assert isinstance(slow_python_function(0.001), int)


def test_a_window_that_starts_later_starts_the_profiler_a_second_before_it_and_stops_it_at_its_end(
    tmp_path: Path,
) -> None:
    """Decisions only: the pid file is missing, so no py-spy is started and the warning says why."""
    from loadorch.config.profilers import ProfilerSpec
    from loadorch.run.profiler import Profilers

    spec = ProfilerSpec(pid_file="missing.pid")
    p = Profilers([spec], str(tmp_path), None, str(tmp_path), str, {}, window=(5.0, 8.0))
    p.tick(None)
    p.tick(3.9)
    assert not p.started
    p.tick(4.0)
    assert p.started and not p.stopped
    p.tick(8.0)
    assert p.stopped
    checks, [section] = p.finish(str(tmp_path / "out"))
    assert checks[0].verdict == "warning" and "missing.pid" in checks[0].message and not section.attached
    assert not (tmp_path / "out").exists()  # nothing to write


def test_a_window_from_the_start_starts_the_profiler_at_the_launch() -> None:
    from loadorch.config.profilers import ProfilerSpec
    from loadorch.run.profiler import Profilers

    p = Profilers([ProfilerSpec(pid_file="/nonexistent/x.pid")], "/", None, "/tmp", str, {})
    p.tick(None)
    assert p.started and p.stop_at is None


def test_a_frame_named_with_markup_and_control_characters_draws_a_well_formed_svg() -> None:
    """A target's own code objects may carry any name and file (`compile(src, "a\\x0bb.py", "exec")`,
    `code.replace(co_name=...)`), and real py-spy reports them as they are: the flame graph escapes the markup
    and replaces what XML does not allow (a \\x01 made the file unreadable: "not well-formed")."""
    stacks = Stacks()
    evil = Frame("slow\x01<script>alert(2)</script>", "/srv/app\x0b<img src=x onerror=alert(1)>.py", 3)
    stacks.add((Frame("<module>", "main.py", 1), evil), 1.0)
    svg = flamegraph.render(stacks, "api: pid 7\x1b[31m")
    root = ET.fromstring(svg)
    assert "<script" not in svg and "<img" not in svg and flamegraph.drawn_here(svg)
    assert any("slow\ufffd<script>" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}title"))


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg onload="alert(1)"></svg>',
    '<svg><rect x="1"onload="alert(1)"/></svg>',
    '<svg><a href="javascript:alert(1)"><text>x</text></a></svg>',
    '<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>',
    '<!DOCTYPE svg [<!ENTITY a "b">]><svg>&a;</svg>',
])
def test_report_html_inlines_only_a_flame_graph_drawn_by_loadorch(svg: str) -> None:
    """`loadorch report DIR` reads profiles/*.svg from a run folder it did not write: a file with anything
    `render` never writes (a script, an event attribute, a link, a declaration) is named, not inlined."""
    from loadorch.report.profile import html_section
    from loadorch.results import results_of
    from loadorch.run.artifacts import dumps
    from tests.synthetic import full_results

    doc = results_of(json.loads(dumps(full_results())), "results.json")
    ours = flamegraph.render(Stacks({(Frame("f", "a.py"),): 1.0}, 1), "embedded")
    assert f'<div class="flame">{ours}</div>' in html_section(doc, {"embedded": ours})
    page = html_section(doc, {"embedded": svg})
    assert '<div class="flame">' not in page and "alert" not in page and "profiles/embedded.svg (beside" in page


def _pyspy_file(path: Path, doc: dict) -> Path:
    """`doc` written as py-spy writes its file: compact, its profiles first, then the shared frames."""
    ordered = {"$schema": doc["$schema"], "profiles": doc["profiles"], "shared": doc["shared"],
               "activeProfileIndex": None, "exporter": "py-spy@0.4.3", "name": "py-spy profile"}
    path.write_text(json.dumps(ordered, separators=(",", ":")))
    return path


def _big_doc(samples: int, threads: int = 3) -> dict:
    """Many samples of many distinct stacks over every thread, weights of two units."""
    frames = [{"name": f"f{i}", "file": f"m{i % 7}.py", "line": i} for i in range(60)]
    profiles = []
    for t in range(threads):
        # 240 distinct stacks, as a profile's samples repeat a few hundred stacks
        shapes = [[0, 1 + k % 20, 21 + k % 23, 44 + k % 16][: 2 + k % 3] for k in range(240)]
        stacks = [list(shapes[(i * 7 + t) % 240]) for i in range(samples)]
        weights = [0.01 + (i % 5) * 0.001 for i in range(samples)]
        profiles.append({"type": "sampled", "name": f'Thread {t} "w"', "unit": "milliseconds" if t == 1 else "seconds",
                         "startValue": 0.0, "endValue": 1.0, "samples": stacks, "weights": weights})
    profiles.append({"type": "sampled", "name": "idle", "unit": "seconds", "startValue": 0.0, "endValue": 0.0,
                     "samples": [], "weights": []})
    return {"$schema": speedscope.SCHEMA_URL, "shared": {"frames": frames}, "profiles": profiles}


def _same(a: Stacks, b: Stacks) -> None:
    assert a.samples == b.samples and a.dropped_stacks == b.dropped_stacks
    assert list(a.weights) == list(b.weights)  # the same stacks, first seen first (the bound keeps those)
    assert all(a.weights[k] == pytest.approx(b.weights[k], rel=1e-9) for k in a.weights)


@pytest.mark.parametrize("max_stacks", [speedscope.MAX_STACKS, 150])
def test_a_large_py_spy_file_read_in_chunks_makes_the_stacks_the_whole_read_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_stacks: int
) -> None:
    """The stacks, their seconds (two units), the samples and the stacks past the bound: those `parse` makes of the
    whole document, chunk boundaries anywhere."""
    monkeypatch.setattr(speedscope, "STREAM_ABOVE", 1 << 10)
    monkeypatch.setattr(speedscope, "CHUNK_BYTES", 4 << 10)
    doc = _big_doc(3_000)
    streamed = speedscope.read(str(_pyspy_file(tmp_path / "p.json", doc)), str.upper, max_stacks=max_stacks)
    _same(streamed, parse(doc, str.upper, max_stacks=max_stacks))
    assert streamed.samples == 9_000 and Frame("F0", "M0.PY", 0) in next(iter(streamed.weights))
    assert (streamed.dropped_stacks > 0) == (max_stacks == 150)


def test_a_large_py_spy_file_is_read_holding_far_less_than_the_file_where_json_load_held_several_times_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """json.load of py-spy's file held about 5.6 times the file (every sample a list of ints): 2.9 GB for a file at
    the accepted 512 MB. Read in chunks, a sample is 4 bytes (its distinct stack's number) and a chunk's lists at
    a time, so what is held stays a small part of the file."""
    import tracemalloc

    monkeypatch.setattr(speedscope, "STREAM_ABOVE", 1 << 10)
    monkeypatch.setattr(speedscope, "CHUNK_BYTES", 4 << 10)
    path = _pyspy_file(tmp_path / "p.json", _big_doc(20_000, threads=1))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        streamed = speedscope.read(str(path))
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        json.loads(path.read_bytes())
        _, whole_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert streamed.samples == 20_000
    # here a sample is about 18 bytes of the file (py-spy's, 40 frames deep, about 160): its 4 bytes held are much
    assert streamed_peak < size / 2 and whole_peak > 10 * streamed_peak, (size, streamed_peak, whole_peak)


def test_a_file_not_laid_out_as_py_spys_or_small_is_read_whole_the_same(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames before the profiles, spaces in the arrays (another exporter), or a small file: `parse` reads it."""
    doc = _big_doc(300)
    spaced = tmp_path / "spaced.json"
    spaced.write_text(json.dumps(doc))  # the shared frames first, `, ` between items
    small = _pyspy_file(tmp_path / "small.json", doc)
    whole = parse(doc)
    _same(speedscope.read(str(small)), whole)
    monkeypatch.setattr(speedscope, "STREAM_ABOVE", 1 << 10)
    _same(speedscope.read(str(spaced)), whole)


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d["profiles"][0]["weights"].pop(), "samples and weights must be lists of one length"),
    (lambda d: d["profiles"][0]["samples"][5].append(999), "a frame index out of range"),
    (lambda d: d["profiles"][0]["samples"][5].append([1]), "profiles[0].samples[5]"),
    (lambda d: d["profiles"][2]["weights"].__setitem__(3, -1), "each weight a number >= 0"),
])
def test_a_malformed_large_file_says_what_is_wrong_as_the_whole_read_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutate, where: str
) -> None:
    monkeypatch.setattr(speedscope, "STREAM_ABOVE", 1 << 10)
    monkeypatch.setattr(speedscope, "CHUNK_BYTES", 4 << 10)
    doc = _big_doc(200)
    mutate(doc)
    with pytest.raises(ProfileFormatError, match=re.escape(where)):
        speedscope.read(str(_pyspy_file(tmp_path / "p.json", doc)))


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", "\u00b2".encode(), "\u0661\u0662".encode(),
                                     b"99999999999999999999999", b"0", b"-5", b"12 34", b""])
def test_a_pid_file_holding_garbage_is_a_warning_naming_the_file_not_an_internal_error(
    tmp_path: Path, content: bytes,
) -> None:
    """The pid file is read as the load starts (validate cannot read it): bytes that are not UTF-8 (a
    UnicodeDecodeError), a digit str.isdigit() accepts but int() does not (`²`), digits of another script or a
    number past the largest pid were an internal error of the run (exit 5) or a pid that is no process."""
    from loadorch.config.profilers import ProfilerSpec
    from loadorch.run.profiler import Profilers

    (tmp_path / "app.pid").write_bytes(content)
    p = Profilers([ProfilerSpec(pid_file="app.pid")], str(tmp_path), None, str(tmp_path), str, {})
    p.tick(None)
    checks, [section] = p.finish(str(tmp_path / "out"))
    assert checks[0].verdict == "warning" and "app.pid" in checks[0].message and "not a pid" in checks[0].message
    assert not section.attached
