"""A comparison with a run whose generator was limited (pure, and `loadorch compare` on results.json files): its
HTTP latency rows and goals cannot be decided, as a run's own latency thresholds are not (verdict.evaluate
`discount_generator_limited`): a saturated or starved generator inflates the latencies it measures, and sends
less load. Never an improvement, a met goal or a latency regression by accident; error rates still count."""

from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

from loadorch.commands.against_baseline import AgainstBaseline, after_run
from loadorch.commands.baseline import save
from loadorch.commands.compare import Plan, compare_runs
from loadorch.config.goals import parse_goal
from loadorch.report.results import RunRecord, build
from loadorch.results import Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import GENERATOR_LIMITED, TOO_FEW, Budgets
from loadorch.verdict.evaluate import Check
from loadorch.verdict.goals import MET, MISSED, UNDECIDED
from tests.support.project import assert_no_traceback, cli_in_process

SATURATED = Check(
    "generator cpu",
    "inconclusive",
    "generator saturated: worker 0 at 97%, its event loop up to 1.2s behind; add workers; latencies may include "
    "generator delay (or set allow_saturated_generator)",
)
CPU_OK = Check("generator cpu", "pass", "sustained peak 41% (limit 90%); event loop at most 0.02s behind (limit 0.5s)")
BEHIND = Check("arrival rate", "inconclusive", "achieved 88.0 of 150.0 arrivals/s (880 started); the generator fell "
               "behind its schedule: add workers or lower the rate")  # fmt: skip
GOAL = "http_req_duration{name:list}=p(95) -30%"
LATENCY = {"p50", "p95", "p99"}


def _hist(ms: float, n: int, seed: int) -> Histogram:
    rng = random.Random(seed)
    return Histogram.of([int(1000 * ms * (1 + rng.uniform(-0.02, 0.02))) for _ in range(n)])


def _doc(ms: float, checks: list[Check], requests: int = 400, failed: int = 0, seed: int = 1) -> Results:
    m = Merged()
    m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = _hist(ms, requests, seed)
    if failed:
        m.series[SeriesKey("u", "list", "read", "GET", 503, False)] = Histogram.of([1000] * failed)
    record = RunRecord(
        "p", "s", "s.yaml", "abc", 7, 1, 1, "h", "t0", "t1", {}, "pass", 0, merged=m, elapsed_s=10.0, checks=checks
    )
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


def _goal() -> Plan:
    selector, goal = GOAL.split("=")
    return Plan((parse_goal(selector, goal, "--goal"),))


def test_a_faster_run_against_a_baseline_our_saturated_generator_slowed_is_inconclusive_not_a_met_goal() -> None:
    # the baseline's 200 ms were measured by a generator at 97 % CPU: the 35 % "improvement" may be ours
    result = compare_runs(_doc(200, [SATURATED]), _doc(130, [CPU_OK], seed=2), Budgets(), _goal())
    latency = [r for r in result.rows if r.metric in LATENCY]
    assert latency and all((r.verdict, r.why) == ("same", GENERATOR_LIMITED) for r in latency), latency
    assert all(r.undecided and r.shown_verdict() == GENERATOR_LIMITED for r in latency)
    assert all(r.change_pct is not None and r.change_pct < -30 for r in latency)  # the change is still shown
    (goal,) = result.goals
    assert goal.verdict == UNDECIDED and GENERATOR_LIMITED in goal.why and "met by" in goal.why, goal
    assert result.verdict == "inconclusive" and result.headline().startswith("INCONCLUSIVE (")
    assert GENERATOR_LIMITED in result.headline() and "MET" not in result.headline().replace("UNDECIDED", "")
    why = result.reason()
    assert "the baseline's generator cpu check was inconclusive: generator saturated: worker 0 at 97%" in why, why
    assert "more workers" in why and "quieter machine" in why and "both runs again" in why


def test_the_same_runs_with_a_generator_that_kept_up_still_say_improvement_and_met() -> None:
    result = compare_runs(_doc(200, [CPU_OK]), _doc(130, [CPU_OK], seed=2), Budgets(), _goal())
    latency = [r for r in result.rows if r.metric in LATENCY]
    assert {r.verdict for r in latency} == {"improvement"}, latency
    assert result.goals[0].verdict == MET and result.verdict == "no regression" and result.reason() == ""
    missed = compare_runs(_doc(200, [CPU_OK]), _doc(190, [CPU_OK], seed=2), Budgets(), _goal())
    assert missed.goals[0].verdict == MISSED and missed.verdict == "regression"


def test_a_goal_missed_while_a_run_was_generator_limited_is_inconclusive_not_missed() -> None:
    result = compare_runs(_doc(200, [SATURATED]), _doc(190, [CPU_OK], seed=2), Budgets(), _goal())
    assert result.goals[0].verdict == UNDECIDED and "missed by" in result.goals[0].why
    assert result.verdict == "inconclusive" and "generator cpu" in result.reason()


def test_a_regression_measured_while_the_current_run_was_generator_limited_is_undecided() -> None:
    result = compare_runs(_doc(100, [CPU_OK]), _doc(180, [BEHIND], seed=2), Budgets())
    latency = [r for r in result.rows if r.metric in LATENCY]
    assert latency and all(r.why == GENERATOR_LIMITED and r.undecided for r in latency), latency
    assert result.regressions == [] and result.verdict == "inconclusive"
    why = result.reason()
    assert "the current run's arrival rate check was inconclusive: achieved 88.0 of 150.0 arrivals/s" in why, why
    # without the limit, the same numbers are a regression: the rule does not fire on every pair
    assert compare_runs(_doc(100, [CPU_OK]), _doc(180, [CPU_OK], seed=2), Budgets()).verdict == "regression"


def test_the_same_latency_against_a_baseline_our_generator_inflated_is_undecided_not_no_regression() -> None:
    """The baseline measured at 200 ms by a saturated generator, the current run at 200 ms too: the rows read "the
    same" and the comparison "no regression" (exit 0), while the target may have slowed by as much as our
    generator inflated the baseline. Those rows are undecided as well; with the generator kept up, no regression."""
    result = compare_runs(_doc(200, [SATURATED]), _doc(200, [CPU_OK], seed=2), Budgets())
    latency = [r for r in result.rows if r.metric in LATENCY]
    assert latency and all(r.why == GENERATOR_LIMITED and r.undecided for r in latency), latency
    assert all("would be " in r.note for r in latency)
    assert result.verdict == "inconclusive" and "generator cpu check" in result.reason()
    assert compare_runs(_doc(200, [CPU_OK]), _doc(200, [CPU_OK], seed=2), Budgets()).verdict == "no regression"


def test_an_error_rate_regression_is_a_regression_whatever_the_generator(tmp_path: Path) -> None:
    base, cur = (
        _doc(100, [SATURATED], requests=1000, failed=1),
        _doc(100, [SATURATED], requests=1000, failed=80, seed=2),
    )
    result = compare_runs(base, cur, Budgets())
    errors = {(r.scope, r.name) for r in result.regressions if r.metric == "error_rate"}
    assert ("run", "total") in errors and result.verdict == "regression"
    for name, doc in (("base", base), ("cur", cur)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 1, said


def test_a_row_or_goal_with_too_few_samples_keeps_its_reason() -> None:
    result = compare_runs(
        _doc(200, [SATURATED], requests=60),
        _doc(100, [CPU_OK], requests=60, seed=2),
        Budgets(),
        Plan((parse_goal("http_req_duration{name:list}", "p(99) -30%", "--goal"),)),
    )
    p99 = [r for r in result.rows if r.metric == "p99"]
    assert p99 and all(r.why == TOO_FEW for r in p99), p99
    assert result.goals[0].verdict == UNDECIDED and TOO_FEW in result.goals[0].why
    assert GENERATOR_LIMITED not in result.goals[0].why
    assert any(r.why == GENERATOR_LIMITED for r in result.rows if r.metric == "p50")
    reason = result.reason()
    assert "generator cpu check" in reason and "too few samples" in reason, reason


def _write(tmp_path: Path, base_checks: list[Check]) -> None:
    for name, doc in (("base", _doc(200, base_checks)), ("cur", _doc(130, [CPU_OK], seed=2))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))


def test_compare_on_results_files_exits_6_and_every_output_says_why(tmp_path: Path) -> None:
    _write(tmp_path, [SATURATED])
    said = cli_in_process("compare", "base", "cur", "--out", "out", "--goal", GOAL, cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 6, said
    out = tmp_path / "out"
    md, html = (out / "compare.md").read_text(), unescape((out / "compare.html").read_text())
    for text in (said.out, md, html):
        assert "INCONCLUSIVE (" in text and "GOAL(S) UNDECIDED" in text and "GOAL(S) MET" not in text
        assert "the baseline's generator cpu check was inconclusive" in text and "more workers" in text
    assert re.search(rf"\|\s*{GENERATOR_LIMITED}\s*\|", md) and "NO REGRESSION" not in md
    doc = json.loads((out / "compare.json").read_text())
    assert doc["verdict"] == "inconclusive" and doc["undecided"] >= 6 and doc["goals"][0]["verdict"] == UNDECIDED
    junit = ET.fromstring((out / "compare-junit.xml").read_text().split("?>", 1)[1])
    p95 = next(c for c in junit.iter("testcase") if c.get("name") == "endpoint list p95")
    error = p95.find("error")
    assert error is not None and error.get("type") == "inconclusive" and GENERATOR_LIMITED in (error.text or "")


def test_compare_on_results_files_of_a_generator_that_kept_up_exits_0(tmp_path: Path) -> None:
    _write(tmp_path, [CPU_OK])
    said = cli_in_process("compare", "base", "cur", "--out", "out", "--goal", GOAL, cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 0 and "1 GOAL(S) MET" in said.out, said


def test_a_run_against_a_baseline_measured_by_a_saturated_generator_is_inconclusive_in_its_junit(
    tmp_path: Path,
) -> None:
    _write(tmp_path, [SATURATED])
    store = str(tmp_path / "store")
    save(str(tmp_path / "base"), "main", store, keep=2)
    run = tmp_path / "cur"
    (run / "junit.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuite name="loadorch" tests="0" failures="0" errors="0" time="1.0"/>'
    )
    opts = AgainstBaseline("main", store, False, Budgets(), _goal())
    assert after_run(0, str(run), opts) == 6
    root = ET.fromstring((run / "junit.xml").read_text().split("?>", 1)[1])
    suite = next(s for s in root if s.get("name") == "loadorch.compare")
    goal = next(c for c in suite.iter("testcase") if c.get("name", "").startswith("goal "))
    assert goal.find("error") is not None and GENERATOR_LIMITED in (goal.find("error").text or "")  # type: ignore[union-attr]


def test_compare_json_records_per_run_whether_its_generator_was_limited_and_why(tmp_path: Path) -> None:
    """compare.json alone tells a reader which run's generator was limited, by which check and why, and which
    checks each run recorded (a run that recorded none: not known, rather than "kept up")."""
    for name, doc in (("base", _doc(200, [SATURATED, CPU_OK])), ("cur", _doc(190, [CPU_OK, BEHIND], seed=2)),
                      ("old", _doc(200, []))):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))
    said = cli_in_process("compare", "base", "cur", "--out", "out", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 6, said
    generator = json.loads((tmp_path / "out" / "compare.json").read_text())["generator"]
    assert generator["baseline"] == {
        "limited": True,
        "why": [f"generator cpu check was inconclusive: {SATURATED.message}"],
        "checked": ["generator cpu: inconclusive", "generator cpu: pass"],
    }
    assert generator["current"] == {
        "limited": True,
        "why": [f"arrival rate check was inconclusive: {BEHIND.message}"],
        "checked": ["generator cpu: pass", "arrival rate: inconclusive"],
    }
    said = cli_in_process("compare", "old", "cur", "--out", "out2", cwd=tmp_path)
    generator = json.loads((tmp_path / "out2" / "compare.json").read_text())["generator"]
    assert generator["baseline"] == {"limited": False, "why": [], "checked": []}
    assert generator["current"]["limited"] is True
