"""benchmarks/paired.py: the evidence cost's verdict on the 95 % interval of its pairs' mean, not a median of three."""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from paired import both_verdicts, paired, t975


def test_the_interval_is_students_t_on_the_pairs_scatter() -> None:
    # 16 pairs of session 13's saturated on/off reading (benchmarks/README.md)
    ratios = [1.001, 1.013, 1.008, 0.997, 1.044, 1.003, 1.038, 1.041, 1.025, 1.046, 1.017, 1.004, 1.023, 1.003,
              1.028, 0.987]
    got = paired(ratios)
    half = 2.131 * statistics.stdev(ratios) / 4
    assert got.n == 16
    assert got.mean == pytest.approx(statistics.fmean(ratios))
    assert got.median == pytest.approx(1.015)
    assert (got.low, got.high) == pytest.approx((got.mean - half, got.mean + half))
    assert got.verdict(1.03) == "pass"  # the whole interval under 3 %
    assert got.holds(1.02) and not got.holds(1.03)


def test_a_median_under_the_budget_is_no_pass_when_the_interval_reaches_over_it() -> None:
    got = paired([1.005, 1.034, 1.039])  # session 12's three pairs: median 1.034, and session 11's 1.005 beside
    assert got.low < 1.03 < got.high
    verdict = got.verdict(1.03)
    assert verdict.startswith("inconclusive: the interval holds 1.030")
    assert "pairs would tell" in verdict
    assert paired([1.02, 1.021, 1.019, 1.022]).verdict(1.03) == "pass"
    assert paired([1.05, 1.051, 1.049, 1.052]).verdict(1.03) == "fail"


def test_more_pairs_narrow_the_interval_as_their_square_root() -> None:
    rng = random.Random(13)
    draws = [rng.gauss(1.015, 0.018) for _ in range(64)]
    widths = {n: paired(draws[:n]).high - paired(draws[:n]).low for n in (4, 16, 64)}
    assert widths[4] > widths[16] > widths[64]
    # t shrinks too, so 16 pairs are a little better than twice as narrow as 4
    assert 1.5 < widths[4] / widths[16] < 6


def test_t_quantiles_and_too_few_pairs() -> None:
    assert t975(1) == pytest.approx(12.706)
    assert t975(15) == pytest.approx(2.131)
    assert t975(30) == pytest.approx(2.042)
    assert t975(200) == pytest.approx(1.96)
    with pytest.raises(ValueError, match="at least two pairs"):
        paired([1.0])


def test_the_cost_line_passes_only_when_every_load_shape_passes() -> None:
    # session 14 (benchmarks/README.md): 76 saturated pairs passed, 26 paced ones sat on the line
    saturated = paired([1.021, 1.031, 1.020, 1.011, 1.030, 1.026, 1.019] * 3).verdict(1.03)
    paced = paired([1.022, 1.040, 1.033, 1.044, 1.013, 1.024, 1.026, 1.018, 1.015, 1.033, 1.046, 1.014]).verdict(1.03)
    assert saturated == "pass" and paced.startswith("inconclusive")
    assert both_verdicts([saturated, paced.split(":")[0]]) == "inconclusive"
    assert both_verdicts(["pass", "pass"]) == "pass"
    assert both_verdicts(["pass", "fail"]) == "fail" and both_verdicts(["inconclusive", "fail"]) == "fail"
    assert both_verdicts(["too few pairs (at least 2)"]) == "inconclusive"
    assert both_verdicts([]) == "inconclusive"  # nothing measured is no pass
