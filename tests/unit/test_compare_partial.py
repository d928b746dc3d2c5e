"""A comparison with a run that did not run whole (its verdict `error`: a worker lost; or `interrupted`: a Ctrl-C
half-way), pure and `loadorch compare` on results.json files: its numbers are partial, so no row or goal is decided
on them (exit 6, the reason naming the run, what ended it and the fix) unless `--allow-partial` accepts them; never
a regression made of the load we lost, nor NO REGRESSION on a fraction of a run. `baseline save` refuses such a
run."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from loadorch.commands.compare import Plan, compare_runs
from loadorch.config.goals import parse_goal
from loadorch.report.results import RunRecord, build
from loadorch.results import Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import Budgets
from loadorch.verdict.evaluate import Check
from loadorch.verdict.goals import UNDECIDED
from tests.support.project import assert_no_traceback, cli_in_process

PARTIAL = "partial run"  # verdict.compare.PARTIAL, as every output says it
LOST = Check("workers", "error", "worker 1 lost at 4.0s (its process ended with exit -9); 1 of 2 workers finished")
WHOLE = Check("workers", "pass", "2 of 2 workers reported")


def _doc(ms: float, requests: int, verdict: str = "pass", checks: tuple[Check, ...] = (WHOLE,), seed: int = 1,
         elapsed: float = 10.0, stop_reason: str | None = None) -> Results:  # fmt: skip
    rng = random.Random(seed)
    m = Merged()
    m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of(
        [int(1000 * ms * (1 + rng.uniform(-0.02, 0.02))) for _ in range(requests)])
    record = RunRecord("p", "s", "s.yaml", "abc", 7, 2, 2, "h", "t0", "t1", {}, verdict, 0, merged=m,
                       elapsed_s=elapsed, checks=list(checks), interrupted=verdict == "interrupted",
                       duration_s=60.0, stop_reason=stop_reason)  # fmt: skip
    return results_of(json.loads(json.dumps(build(record).to_json())), "results.json")


def _lost_worker() -> Results:
    """The current run lost one of its two workers: half the requests over the same seconds, nothing slower."""
    return _doc(100, 400, "error", (LOST,), seed=2)


def test_a_lost_worker_is_not_a_throughput_regression_but_an_inconclusive_comparison() -> None:
    # the throughput halved because our worker died, not because the target slowed: it read "1 REGRESSION(S)", exit 1
    result = compare_runs(_doc(100, 800), _lost_worker(), Budgets())
    rps = next(r for r in result.rows if (r.scope, r.name, r.metric) == ("run", "total", "rps"))
    assert (rps.verdict, rps.why) == ("same", PARTIAL) and rps.undecided, rps
    assert rps.note.startswith("would be a regression, but a run is partial"), rps.note
    assert rps.change_pct == -50.0  # the change is still shown
    assert result.regressions == [] and result.verdict == "inconclusive"
    assert result.headline().startswith("INCONCLUSIVE (") and f"row(s): {PARTIAL}" in result.headline()
    why = result.reason()
    assert "the current run's verdict is error (workers: worker 1 lost at 4.0s" in why, why
    assert "Make the run again to its end" in why and "--allow-partial" in why


def test_an_interrupted_run_is_never_no_regression_and_its_goal_never_met() -> None:
    # stopped by Ctrl-C 10 s into a 60 s run, its numbers like the baseline's: it read NO REGRESSION (exit 0)
    goal = parse_goal("http_req_duration{name:list}", "p(95) -30%", "--goal")
    result = compare_runs(_doc(200, 800), _doc(130, 800, "interrupted", (), seed=2), Budgets(), Plan((goal,)))
    decided = [r for r in result.rows if r.verdict in ("regression", "improvement") or (
        r.verdict == "same" and not r.undecided and not r.why.startswith("informational"))]
    assert decided == [], decided
    assert any(r.note.startswith("would be an improvement") for r in result.rows)
    (judged,) = result.goals
    assert judged.verdict == UNDECIDED and f": {PARTIAL}, so undecided (otherwise met" in judged.why, judged
    assert result.verdict == "inconclusive" and "MET" not in result.headline().replace("UNDECIDED", "")
    assert "the current run's verdict is interrupted (stopped after 10 of 60 s)" in result.reason()
    assert result.reason().count("goal") == 1, result.reason()  # the goal is counted once, not said again


def test_a_partial_baseline_is_undecided_the_same_way() -> None:
    result = compare_runs(_doc(100, 400, "interrupted", ()), _doc(100, 800, seed=2), Budgets())
    # the baseline's throughput was half the current run's because it was stopped: not an improvement
    assert result.verdict == "inconclusive" and not [r for r in result.rows if r.verdict == "improvement"]
    assert "the baseline's verdict is interrupted" in result.reason()


def test_allow_partial_judges_the_numbers_as_they_are_and_says_so() -> None:
    result = compare_runs(_doc(100, 800), _lost_worker(), Budgets(), Plan(allow_partial=True))
    assert result.verdict == "regression" and [r.metric for r in result.regressions] == ["rps"]
    assert any("accepted by --allow-partial" in w for w in result.warnings), result.warnings
    assert result.partial and result.reason() == ""
    whole = compare_runs(_doc(100, 800), _doc(100, 800, seed=2), Budgets())
    assert whole.verdict == "no regression" and whole.partial == []


def _write(tmp_path: Path, cur: Results) -> None:
    for name, doc in (("base", _doc(100, 800)), ("cur", cur)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc.to_json()))


def test_compare_of_a_partial_run_exits_6_with_the_reason_everywhere_and_allow_partial_exits_as_judged(
    tmp_path: Path,
) -> None:
    _write(tmp_path, _lost_worker())
    said = cli_in_process("compare", "base", "cur", "--out", "out", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 6, said
    out = tmp_path / "out"
    doc = json.loads((out / "compare.json").read_text())
    assert doc["verdict"] == "inconclusive" and doc["regressions"] == 0 and "--allow-partial" in doc["reason"]
    assert doc["partial"] == ["the current run's verdict is error (workers: worker 1 lost at 4.0s (its process "
                              "ended with exit -9); 1 of 2 workers finished)"]
    for text in (said.out, (out / "compare.md").read_text()):
        assert "INCONCLUSIVE (" in text and PARTIAL in text and "--allow-partial" in text
    junit = ET.fromstring((out / "compare-junit.xml").read_text().split("?>", 1)[1])
    case = next(c for c in junit.iter("testcase") if c.get("name") == "run total rps")
    assert case.find("failure") is None and case.find("error") is not None, ET.tostring(case)
    accepted = cli_in_process("compare", "base", "cur", "--out", "out2", "--allow-partial", cwd=tmp_path)
    assert_no_traceback(accepted)
    assert accepted.code == 1, accepted
    assert "accepted by --allow-partial" in accepted.out


def test_a_run_a_thresholds_abort_on_fail_stopped_is_partial_too() -> None:
    """abort_on_fail stops a run early on purpose; its verdict is fail, not error, so it read as whole: its 12 s of
    60 compared as a run (here a throughput half the baseline's read as a regression)."""
    aborted = _doc(100, 400, "fail", (), seed=2, elapsed=12.0, stop_reason="aborted")
    result = compare_runs(_doc(100, 800), aborted, Budgets())
    assert result.regressions == [] and result.verdict == "inconclusive", result.headline()
    assert "the current run's verdict is fail (stopped after 12 of 60 s by a threshold's abort_on_fail)" in (
        result.reason()), result.reason()


@pytest.mark.parametrize("verdict", ["error", "interrupted", "aborted"])
def test_baseline_save_refuses_a_run_that_did_not_run_whole(tmp_path: Path, verdict: str) -> None:
    (tmp_path / "run").mkdir()
    doc = _doc(100, 400, "fail", (), stop_reason="aborted") if verdict == "aborted" else _doc(100, 400, verdict, (LOST,))
    (tmp_path / "run" / "results.json").write_text(json.dumps(doc.to_json()))
    verdict = "fail (stopped after 10 of 60 s by a threshold's abort_on_fail)" if verdict == "aborted" else verdict
    said = cli_in_process("baseline", "save", "run", "--name", "main", "--store", "store", cwd=tmp_path)
    assert_no_traceback(said)
    assert said.code == 3 and f"the run's verdict is {verdict}" in said.err and "ran to its end" in said.err, said
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("results.json"))
