"""Requests still waiting for the target at the run's end (pure): counted and named in a check, the reason of the
thresholds they leave without data, and a timeout's reason naming its length and setting."""

from __future__ import annotations

from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.report.results import RunRecord, build
from loadorch.report.why import reasons
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.traffic.request import timeout_reason
from loadorch.verdict.evaluate import evaluate
from loadorch.verdict.unanswered import say_unanswered, unanswered_checks, unanswered_of
from loadorch.wire import MasterSummary, Unanswered, WorkerDetail, WorkersSummary


def _waiting(name: str, count: int, waited: float, user: str = "u") -> Unanswered:
    return Unanswered(user=user, name=name, kind="read", method="GET", count=count, waited_max_s=waited)


def _merged(**ok: int) -> Merged:
    m = Merged()
    for name, n in ok.items():
        m.series[SeriesKey("u", name, "read", "GET", 200, True)] = Histogram.of([10_000] * n)
    return m


def _summary(*per_worker: list[Unanswered]) -> MasterSummary:
    detail = [WorkerDetail(index=i, pid=None, users_peak=1, cpu_peak=0.0, cpu_sustained_peak=0.0, reported=0,
                           final_total=0, lost_at_s=None, silent_s=0.0, duplicates=0, unanswered=rows)
              for i, rows in enumerate(per_worker)]  # fmt: skip
    return MasterSummary.model_validate({
        "merged": Merged().to_json(), "t0": 1.0, "elapsed_s": 4.0, "stop_reason": "duration", "aborted_by": None,
        "rejected_peers": [],
        "workers": WorkersSummary(expected=len(detail), seen=list(range(len(detail))), detail=detail).to_json(),
    })  # fmt: skip


def test_the_workers_rows_are_summed_per_user_class_and_endpoint() -> None:
    rows = unanswered_of(_summary([_waiting("h", 2, 3.9)], [_waiting("h", 1, 4.2), _waiting("h", 1, 0.1, "v")]))
    assert sorted((u.user, u.name, u.count, u.waited_max_s) for u in rows) == [("u", "h", 3, 4.2), ("v", "h", 1, 0.1)]
    assert unanswered_of(None) == [] and unanswered_of(_summary([])) == []


def test_a_target_that_answered_nothing_fails_the_check_with_the_count_the_names_and_the_fix() -> None:
    # the issue: request_timeout 10 s, a 4 s run, a target that takes the connection and never answers: 0 requests,
    # and the only words were "no data" and "the HTTP users made no request: check their tasks"
    (check,) = unanswered_checks([_waiting("health", 2, 4.0), _waiting("list", 1, 3.5)], _merged(), 10.0, 4.0)
    assert (check.name, check.verdict) == ("unanswered requests", "fail")
    assert check.message.startswith("the target answered none of the requests: 3 request(s) were still waiting for "
                                    "the target at the end (health 2, list 1; the longest for 4.0s)"), check.message
    assert "request_timeout is 10s" in check.message and "set request_timeout under the run's duration" in (
        check.message)


def test_an_endpoint_that_finished_nothing_while_one_waited_long_is_inconclusive_else_it_is_counted() -> None:
    (hung,) = unanswered_checks([_waiting("slow", 4, 3.0), _waiting("fast", 1, 0.01)], _merged(fast=500), 10.0, 4.0)
    assert hung.verdict == "inconclusive" and hung.message.startswith("1 endpoint(s) finished no request: slow 4 "), (
        hung.message)
    # a request of a rare endpoint just sent when the run ended is chance, not a hang; nor are requests of
    # endpoints that finished others
    for rows in ([_waiting("rare", 1, 0.2)], [_waiting("fast", 3, 2.5)]):
        (counted,) = unanswered_checks(rows, _merged(fast=500), 10.0, 4.0)
        assert counted.verdict == "pass" and "were still waiting for the target at the end" in counted.message
        assert "in neither the latencies nor the failures" in counted.message
    assert unanswered_checks([], _merged(), 10.0, 4.0) == []  # none waiting: no check (every run's table unchanged)


def test_a_slow_endpoint_picked_once_near_the_end_or_the_summed_rest_is_no_hang() -> None:
    """A rare 1.5 s report picked once in the last seconds of a 10 s run (request_timeout 10 s) finished none: chance,
    not a hang (it waited under half the time it could have); nor is the row summing what the table had no room for."""
    from loadorch.wire import OTHER_ENDPOINTS

    (rare,) = unanswered_checks([_waiting("report", 1, 1.5)], _merged(fast=500), 10.0, 10.0)
    assert rare.verdict == "pass", rare.message
    (hung,) = unanswered_checks([_waiting("report", 1, 6.0)], _merged(fast=500), 10.0, 10.0)
    assert hung.verdict == "inconclusive", hung.message  # most of the run: a hang
    (other,) = unanswered_checks([_waiting(OTHER_ENDPOINTS, 51, 8.0)], _merged(fast=500), 10.0, 10.0)
    assert other.verdict == "pass", other.message


def test_a_threshold_with_no_data_says_its_requests_were_not_answered_not_that_its_selector_is_wrong() -> None:
    merged = _merged(other=200)
    merged.tag_table = {}
    ts = [Threshold(parse_selector(s), parse_expression(e, parse_selector(s).metric))
          for s, e in (("http_req_duration{name:health}", "p(95)<300"), ("http_req_duration{name:nope}", "p(95)<300"),
                       ("http_req_failed{kind:read}", "rate<0.01"))]  # fmt: skip
    results = say_unanswered(evaluate(ts, merged, 1, 4.0), [_waiting("health", 2, 4.0)], merged)
    by = {r.selector: r for r in results}
    assert by["http_req_duration{name:health}"].verdict == "fail"
    assert by["http_req_duration{name:health}"].message == (
        "no data: no answer: 2 request(s) of http_req_duration{name:health} were still waiting for the target at "
        "the end (the longest for 4.0s), none finished")
    assert by["http_req_duration{name:nope}"].message.startswith("no data: no request matched")  # not its requests
    assert not by["http_req_failed{kind:read}"].message.startswith("no data")  # it has data: left as it was
    record = RunRecord("p", "s", "s.yaml", "abc", 1, 1, 1, "h", "t0", "t1", {}, "fail", 1, merged=merged,
                       elapsed_s=4.0, thresholds=results)
    said = reasons(build(record))
    assert any("health} p(95)<300: no answer: 2 request(s)" in line and line.endswith(
        "see the unanswered requests check") for line in said), said
    assert any("nope} p(95)<300: no request matched: check the selector's tags" in line for line in said), said


def test_a_timeout_names_its_length_and_the_setting_that_gave_it() -> None:
    assert timeout_reason("read timeout", 2.0, False) == "read timeout: no answer within 2s (request_timeout)"
    assert timeout_reason("read timeout", 0.5, True) == "read timeout: no answer within 0.5s (its timeout:)"
    assert timeout_reason("connection refused", 2.0, False) == "connection refused"


def test_a_workers_table_of_waiting_requests_is_bounded_and_sums_the_rest() -> None:
    from loadorch.wire import MAX_UNANSWERED, OTHER_ENDPOINTS, UnansweredTable, note_unanswered, unanswered_rows

    table: UnansweredTable = {}
    for i in range(MAX_UNANSWERED * 3):  # a distinct endpoint each: more keys than the bound
        note_unanswered(table, ("u", f"e{i}", "read", "GET"), 0.5 + i / 1000)
    note_unanswered(table, ("u", "e0", "read", "GET"), 9.0)  # a key already kept counts on its own row
    rows = {u.name: u for u in unanswered_rows(table)}
    assert len(rows) == MAX_UNANSWERED
    assert (rows["e0"].count, rows["e0"].waited_max_s) == (2, 9.0)
    other = rows[OTHER_ENDPOINTS]
    assert other.count == MAX_UNANSWERED * 3 - (MAX_UNANSWERED - 1) and other.waited_max_s == 1.099
    assert sum(u.count for u in rows.values()) == MAX_UNANSWERED * 3 + 1  # none lost
