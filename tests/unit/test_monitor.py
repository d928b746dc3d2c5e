"""The monitor's pure parts: rolling windows on a simulated clock, histogram differences, the status
document, page and families."""

from __future__ import annotations

import json

import pytest

from loadorch.monitor.rolling import RollingWindow
from loadorch.monitor.status import overall_state, status_doc, status_families, status_page
from loadorch.stats.histogram import Histogram
from loadorch.verdict.evaluate import ThresholdResult


def _h(*ms: int) -> Histogram:
    return Histogram.of([m * 1000 for m in ms])


class Source:
    """A cumulative table that only ever adds, like the master's merged series."""

    def __init__(self) -> None:
        self.h = Histogram()

    def add(self, *ms: int) -> dict[str, dict[str, Histogram]]:
        self.h.merge(_h(*ms))
        return {"series": {"home": self.h}}


def test_a_window_holds_only_the_samples_of_its_last_seconds() -> None:
    src, w = Source(), RollingWindow(60.0, 6, start=0.0)
    for t in range(0, 120, 10):  # one 100 ms sample every 10 s, then slow ones from t=60
        tables = src.add(100 if t < 60 else 3000)
        w.observe(float(t), tables)
    win = w.window(120.0, src.add())
    h = win.tables["series"]["home"]
    assert win.full and win.seconds == 60.0
    # (60, 120]: the samples of 70 .. 110 s, all slow; the fast ones (and the one at 60 s) left the window
    assert h.count == 5 and h.percentile(50) == pytest.approx(3_000_000, rel=0.001)


def test_before_a_whole_window_it_judges_everything_since_the_start() -> None:
    src, w = Source(), RollingWindow(3600.0, 12, start=5.0)
    w.observe(10.0, src.add(100, 200))
    win = w.window(20.0, src.add(300))
    assert not win.full and win.seconds == 15.0 and win.tables["series"]["home"].count == 3


def test_memory_is_a_fixed_ring_whatever_the_time() -> None:
    src, w = Source(), RollingWindow(10.0, 5, start=0.0)
    for t in range(0, 20_000, 1):
        w.observe(float(t), src.add(t % 500) if t % 97 == 0 else {"series": {"home": src.h}})
    assert len(w.ring) == 5  # slices, never more


def test_counts_tables_are_windowed_too() -> None:
    w = RollingWindow(10.0, 2, start=0.0)
    w.observe(5.0, {}, {"checks": {"k": [3, 1]}})
    win = w.window(12.0, {}, {"checks": {"k": [10, 4]}})  # (5, 12]: since the snapshot at 5 s
    assert win.counts["checks"]["k"] == [7, 3]


def test_a_histogram_minus_an_earlier_copy_is_what_came_since() -> None:
    early = _h(10, 20, 30)
    late = Histogram().merge(early).merge(_h(40, 50))
    diff = late.minus(early)
    assert diff.count == 2 and diff.total == 90_000 and 40_000 <= diff.min <= diff.max <= 50_000
    assert late.minus(late).count == 0


def _result(verdict: str, observed: float | None = 1234.5, message: str = "failed") -> ThresholdResult:
    return ThresholdResult("browser_web_vital_lcp{page:home}", "p(75)<1000", observed, 1000.0, "ms", 5, 0.0,
                           verdict, message)


@pytest.mark.parametrize("verdicts,state", [(["pass", "fail"], "failing"), (["pass", "pass"], "ok"),
                                            (["pass", "inconclusive"], "no_data"), ([], "no_data")])
def test_the_overall_state(verdicts: list[str], state: str) -> None:
    assert overall_state([_result(v) for v in verdicts]) == state


def test_the_status_document_page_and_families_say_the_same() -> None:
    doc = status_doc(("mon-1", "p", "s"), [_result("fail"), _result("inconclusive", None, "no data yet")],
                     3600.0, 120.0, False, "2026-01-01T00:02:00+00:00", "2026-01-01T00:00:00+00:00", 120.0)
    json.dumps(doc)  # JSON as it is
    assert doc["status"] == "failing" and not doc["window_full"]
    assert [r["state"] for r in doc["thresholds"]] == ["fail", "no_data"]
    page = status_page(doc, 10.0)
    assert "<meta http-equiv=refresh content=10>" in page and "p(75)&lt;1000" in page and "so far 120s" in page
    fams = {f.name: f for f in status_families(doc)}
    states = {labels[-1]: v for labels, v in fams["loadorch_monitor_status"].samples}
    assert states == {"ok": 0.0, "failing": 1.0, "no_data": 0.0}
    assert fams["loadorch_monitor_threshold_observed"].samples == [
        (("mon-1", "p", "s", "browser_web_vital_lcp{page:home} p(75)<1000", "ms"), 1234.5)]


def test_the_page_escapes_what_it_shows() -> None:
    doc = status_doc(("r", "<p>", "s"), [_result("fail", message="<script>x</script>")], 60.0, 60.0, True,
                     "now", "then", 60.0)
    page = status_page(doc, 1.0)
    assert "<script>x" not in page and "&lt;script&gt;" in page
