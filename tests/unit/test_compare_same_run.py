"""A comparison whose two folders hold one run (the folder given twice, a copy of it, a baseline saved from the current
run), pure and `loadorch compare` on results.json files: every change is 0 whatever the target did, so it read NO
REGRESSION (exit 0) and proved nothing; it is inconclusive (exit 6), the reason naming the run and the fix."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from loadorch.commands.compare import Plan, compare_runs
from loadorch.config.goals import parse_goal
from loadorch.report.results import RunRecord, build
from loadorch.results import Results, results_of
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.compare import Budgets
from loadorch.verdict.goals import UNDECIDED
from tests.support.project import assert_no_traceback, cli_in_process

SAME_RUN = "the same run"  # verdict.compare.SAME_RUN, as every output says it


def _doc(start: str = "2026-12-07T10:00:00+00:00") -> dict:
    rng = random.Random(1)
    m = Merged()
    m.series[SeriesKey("u", "list", "read", "GET", 200, True)] = Histogram.of(
        [int(100_000 * (1 + rng.uniform(-0.02, 0.02))) for _ in range(800)])
    record = RunRecord("p", "s", "s.yaml", "abc", 7, 1, 4, "h", start, "2026-12-07T10:01:00+00:00", {}, "pass", 0,
                       merged=m, elapsed_s=60.0)  # fmt: skip
    return build(record).to_json()


def _read(doc: dict) -> Results:
    return results_of(json.loads(json.dumps(doc)), "results.json")


def test_a_run_compared_with_itself_is_inconclusive_never_no_regression() -> None:
    goal = parse_goal("http_req_duration{name:list}", "p(95) -30%", "--goal")
    result = compare_runs(_read(_doc()), _read(_doc()), Budgets(), Plan((goal,)))
    assert result.regressions == [] and result.verdict == "inconclusive", result.headline()
    decided = [r for r in result.rows if r.why == SAME_RUN]
    assert decided and all(r.undecided and r.verdict == "same" for r in decided)
    assert result.headline().startswith(f"INCONCLUSIVE ({len(decided)} row(s): {SAME_RUN}")
    (g,) = result.goals
    assert g.verdict == UNDECIDED and f": {SAME_RUN}, so undecided (otherwise " in g.why, g.why
    why = result.reason()
    assert f"{SAME_RUN}: the baseline and the current run are one run (profile p, started 2026-12-07T10:00" in why
    assert "Compare the current run with an earlier one" in why, why
    # the same numbers from two runs (another start) are two runs: decided as before
    two = compare_runs(_read(_doc()), _read(_doc(start="2026-12-07T11:00:00+00:00")), Budgets())
    assert two.verdict == "no regression" and not [r for r in two.rows if r.why == SAME_RUN]


def test_compare_of_a_folder_and_its_copy_exits_6_saying_so(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(_doc()))
    shutil.copytree(tmp_path / "run", tmp_path / "saved")  # a baseline saved from this very run
    for base in ("run", "saved"):
        r = cli_in_process("compare", base, "run", "--out", f"out-{base}", cwd=tmp_path)
        assert r.code == 6, r.out + r.err
        assert_no_traceback(r)
        md = (tmp_path / f"out-{base}" / "compare.md").read_text()
        assert md.startswith("## loadorch compare: INCONCLUSIVE (") and SAME_RUN in md.splitlines()[0], md[:300]
        doc = json.loads((tmp_path / f"out-{base}" / "compare.json").read_text())
        assert doc["verdict"] == "inconclusive" and doc["reason"].startswith(f"inconclusive: {SAME_RUN}: ")
