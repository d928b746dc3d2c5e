"""Server-Timing entries as metrics (stats/servertiming.py): recorded per series on workers, carried in
the packed delta, merged with a bound, and gated with the threshold grammar (pure)."""

from __future__ import annotations

import pytest

from loadorch.config.thresholds import Threshold, ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.stats.servertiming import MAX_DESCS, MAX_ENTRIES, OTHER_DESC, OTHER_ENTRY
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import evaluate

LIST = SeriesKey("u", "list", "read", "GET", 200, True)
ORDER = SeriesKey("u", "order", "write", "POST", 201, True)


def judge(merged: Merged, selector: str, expression: str) -> tuple[str, float | None, int]:
    sel = parse_selector(selector)
    [r] = evaluate([Threshold(sel, parse_expression(expression, sel.metric))], merged, 1, 10.0)
    return r.verdict, r.observed, r.samples


def recorded() -> Merged:
    rec = Recorder(1.0, 0.0)
    for i in range(100):
        rec.record(LIST, 10_000, 1.0)
        rec.record_server_timing(LIST, [("app", float(i), None), ("cache", None, "hit" if i < 80 else "miss")], 1.0)
        rec.record(ORDER, 50_000, 1.0)
        rec.record_server_timing(ORDER, [("app", 40.0, None), ("cache", None, "miss")], 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    return merged


def test_an_entrys_durations_are_gated_per_request_selector() -> None:
    merged = recorded()
    verdict, observed, samples = judge(merged, "server_timing{entry:app,name:list}", "p(95)<90")
    assert verdict == "fail" and samples == 100 and observed is not None and 93 <= observed <= 96
    assert judge(merged, "server_timing{entry:app,name:order}", "max<=40")[0] == "pass"
    assert judge(merged, "server_timing{entry:app}", "max<100")[2] == 200  # both endpoints
    verdict, observed, samples = judge(merged, "server_timing{entry:none}", "p(95)<1")
    assert (verdict, observed, samples) == ("fail", None, 0)  # no data is never a pass


def test_a_desc_share_is_a_hit_ratio() -> None:
    merged = recorded()
    assert judge(merged, "server_timing_desc{entry:cache,desc:hit,name:list}", "rate>0.75") == ("pass", 0.8, 100)
    assert judge(merged, "server_timing_desc{entry:cache,desc:hit}", "rate>0.75") == ("fail", 0.4, 200)


@pytest.mark.parametrize(("selector", "message"), [
    ("server_timing", "names no Server-Timing entry"),
    ("server_timing{name:x}", "names no Server-Timing entry"),
    ("server_timing_desc{entry:cache}", "names no desc"),
    ("server_timing{entry:app,page:x}", "unknown tag"),
])
def test_a_server_timing_selector_names_its_entry(selector: str, message: str) -> None:
    with pytest.raises(ThresholdSyntaxError, match=message):
        parse_selector(selector)


def test_entry_names_and_descs_are_bounded_on_the_worker_and_on_the_master() -> None:
    rec = Recorder(1.0, 0.0)
    entries = [(f"e{i}", 1.0, f"d{i}") for i in range(MAX_ENTRIES + 5)]
    rec.record(LIST, 1000, 1.0)
    rec.record_server_timing(LIST, entries, 1.0)
    for i in range(MAX_DESCS + 5):  # a new desc of e0 per response
        rec.record(LIST, 1000, 1.0)
        rec.record_server_timing(LIST, [("e0", None, f"x{i}")], 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    tags = {tag for tag, _ in merged.timings}
    assert f"st:{OTHER_ENTRY}" in tags and f"st:e{MAX_ENTRIES + 1}" not in tags
    assert f"sd:e0={OTHER_DESC}" in tags
    assert len(tags) <= MAX_ENTRIES * (MAX_DESCS + 1) + 2
    # a worker that sends other names in later deltas cannot grow the master's tables past the bound
    for round_ in range(3):
        other = Recorder(1.0, 0.0)
        other.record(LIST, 1000, 1.0)
        other.record_server_timing(LIST, [(f"w{round_}-{i}", 1.0, None) for i in range(MAX_ENTRIES)], 1.0)
        merged.add_delta(1, other.take_delta())
    assert len({tag[3:] for tag, _ in merged.timings if tag.startswith("st:")}) <= MAX_ENTRIES + 1


def test_a_delta_with_an_unknown_timing_is_refused_whole() -> None:
    rec = Recorder(1.0, 0.0)
    rec.record(LIST, 1000, 1.0)
    rec.record_server_timing(LIST, [("app", 1.0, None)], 1.0)
    delta = rec.take_delta()
    delta["timings"] = [("st:app", t) for _, t in delta["timings"]] + [("surprise", delta["timings"][0][1])]
    merged = Merged(1.0)
    with pytest.raises(ValueError, match="unknown timing"):
        merged.add_delta(0, delta)
    assert merged.total == 0


def test_an_absurd_duration_is_recorded_bounded_and_the_delta_still_packs() -> None:
    """A `dur` is any number the app sends: an epoch timestamp in ms (1.7e12) over a busy second, one in us
    (1.7e15 ms), or one so large that it is infinite in us. Recorded as is, the sum of the first or the value of
    the second overflowed the delta's 64-bit sums (the worker's reports stopped), the third raised on the
    request path; each counts as MAX_DUR_MS."""
    from loadorch.stats.servertiming import MAX_DUR_MS

    rec = Recorder(1.0, 0.0)
    for _ in range(6000):
        rec.record_server_timing(LIST, [("ts", 1.7e12, None)], 1.0)
    rec.record_server_timing(ORDER, [("ts", 1.7e15, None), ("big", 1e306, None)], 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    assert judge(merged, "server_timing{entry:ts,name:list}", "max<1")[1] == MAX_DUR_MS
    assert judge(merged, "server_timing{entry:big}", "max<1")[1] == MAX_DUR_MS


def test_a_negative_dur_is_no_duration_so_a_gate_on_it_has_no_data() -> None:
    """`app;dur=-5` says no time the app could spend: it was counted as 0 ms, and a `p(95)<100` gate on an app
    that sent only negative durations passed with nothing measured. Its desc still counts."""
    from loadorch.traffic.servertiming import parse

    assert parse("app;dur=-5;desc=x, db;dur=-0.0, cache;dur=3") == [("app", None, "x"), ("db", 0.0, None),
                                                                    ("cache", 3.0, None)]
    rec = Recorder(1.0, 0.0)
    for _ in range(50):
        rec.record(LIST, 10_000, 1.0)
        rec.record_server_timing(LIST, parse("app;dur=-5;desc=x"), 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    assert judge(merged, "server_timing{entry:app}", "p(95)<100") == ("fail", None, 0)  # no data, never a pass
    assert judge(merged, "server_timing_desc{entry:app,desc:x}", "rate>0.9") == ("pass", 1.0, 50)


def test_an_entry_named_twice_in_one_response_counts_that_response_once_in_its_desc_share() -> None:
    """A desc share is of the responses: `cache;desc=hit` three times in one header is one response that hit
    (its first occurrence's desc counts). Half the responses hit: 0.5 (it was 0.75 "of 200 responses", and
    `rate>0.7` passed); every occurrence's dur is still a duration of its entry."""
    from loadorch.traffic.servertiming import parse

    rec = Recorder(1.0, 0.0)
    for _ in range(50):
        rec.record(LIST, 10_000, 1.0)
        rec.record_server_timing(LIST, parse("cache;desc=hit;dur=1, cache;desc=hit;dur=2, cache;desc=miss"), 1.0)
        rec.record(LIST, 10_000, 1.0)
        rec.record_server_timing(LIST, parse("cache;desc=miss;dur=3"), 1.0)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    assert judge(merged, "server_timing_desc{entry:cache,desc:hit}", "rate>0.7") == ("fail", 0.5, 100)
    assert judge(merged, "server_timing{entry:cache}", "max<=3")[1:] == (3.0, 150)
