"""The evaluator: pure verdicts from merged stats."""

from __future__ import annotations

from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged, SeriesKey
from loadorch.verdict.evaluate import Check, evaluate_threshold, overall, should_abort


def t(selector: str, expr: str, **kw) -> Threshold:
    sel = parse_selector(selector)
    return Threshold(sel, parse_expression(expr, sel.metric), **kw)


def merged_with(*series: tuple[str, str, int, bool, list[int]]) -> Merged:
    m = Merged()
    for name, kind, status, ok, values in series:
        key = SeriesKey("u", name, kind, "GET" if kind == "read" else "POST", status, ok)
        m.series[key] = Histogram.of([v * 1000 for v in values])
    return m


def test_pass_and_fail_with_observed_samples_and_bound() -> None:
    m = merged_with(("a", "read", 200, True, [100] * 200))
    r = evaluate_threshold(t("http_req_duration{kind:read}", "p(95)<300"), m, 100, 10)
    assert (r.verdict, r.samples) == ("pass", 200) and abs(r.observed - 100.0) < 0.05
    r = evaluate_threshold(t("http_req_duration{kind:read}", "p(95)<50"), m, 100, 10)
    assert r.verdict == "fail" and "p(95)=100" in r.message and "limit < 50ms" in r.message
    assert "200 samples" in r.message


def test_no_data_fails() -> None:
    m = merged_with(("a", "read", 200, True, [1] * 200))
    r = evaluate_threshold(t("http_req_duration{name:b}", "p(95)<300"), m, 100, 10)
    assert r.verdict == "fail" and r.message.startswith("no data") and r.observed is None
    r = evaluate_threshold(t("http_req_failed{kind:write}", "rate<0.01"), m, 100, 10)
    assert r.verdict == "fail" and "no data" in r.message


def test_all_failed_is_no_data_for_latency() -> None:
    m = merged_with(("a", "read", 503, False, [1] * 200))
    r = evaluate_threshold(t("http_req_duration", "p(95)<300"), m, 100, 10)
    assert r.verdict == "fail" and "all 200 requests" in r.message


def test_too_few_samples_is_inconclusive() -> None:
    m = merged_with(("a", "read", 200, True, [1] * 20))
    r = evaluate_threshold(t("http_req_duration", "p(95)<300"), m, 100, 10)
    assert r.verdict == "inconclusive" and "at least 100 samples, got 20" in r.message
    r = evaluate_threshold(t("http_req_failed", "rate<0.5"), m, 100, 10)
    assert r.verdict == "inconclusive"
    r = evaluate_threshold(t("http_reqs", "count>10"), m, 100, 10)
    assert r.verdict == "pass"  # a count is not a sample-size question


def test_limit_within_error_bound_is_inconclusive() -> None:
    m = Merged()  # p95 near 300 ms lands in a bucket 0.26 ms wide that straddles the limit
    m.series[SeriesKey("u", "a", "read", "GET", 200, True)] = Histogram.of(range(299_000, 300_030, 5))
    r = evaluate_threshold(t("http_req_duration", "p(95)<300"), m, 100, 10)
    assert r.error_bound > 0 and r.verdict == "inconclusive" and "error bound" in r.message
    r = evaluate_threshold(t("http_req_duration", "p(95)<301"), m, 100, 10)
    assert r.verdict == "pass"


def test_failures_excluded_from_latency_and_counted_in_rate() -> None:
    m = merged_with(("w", "write", 201, True, [500] * 140), ("w", "write", 503, False, [2] * 60))
    lat = evaluate_threshold(t("http_req_duration{kind:write}", "p(95)<700"), m, 100, 10)
    assert lat.observed == 500.0 and lat.samples == 140
    rate = evaluate_threshold(t("http_req_failed", "rate<0.01"), m, 100, 10)
    assert rate.verdict == "fail" and abs(rate.observed - 0.3) < 1e-9
    assert "failures by status: 503: 60" in rate.message


def test_http_reqs_rate_and_aggregations() -> None:
    m = merged_with(("a", "read", 200, True, [10, 20, 30, 40] * 50))
    assert evaluate_threshold(t("http_reqs", "rate>=20"), m, 1, 10).observed == 20.0
    assert evaluate_threshold(t("http_req_duration", "avg<26"), m, 1, 10).observed == 25.0
    assert evaluate_threshold(t("http_req_duration", "min==10"), m, 1, 10).verdict == "pass"
    assert evaluate_threshold(t("http_req_duration", "max==40"), m, 1, 10).verdict == "pass"
    assert evaluate_threshold(t("http_req_duration", "med<=21"), m, 1, 10).verdict == "pass"
    assert evaluate_threshold(t("http_req_duration", "med<=20"), m, 1, 10).verdict == "inconclusive"


def test_overall_precedence() -> None:
    m = merged_with(("a", "read", 200, True, [1] * 200))
    ok = evaluate_threshold(t("http_req_duration", "p(95)<300"), m, 100, 10)
    bad = evaluate_threshold(t("http_req_duration", "p(95)<0.5"), m, 100, 10)
    unsure = evaluate_threshold(t("http_req_duration", "p(95)<300"), m, 1000, 10)
    err = Check("workers", "error", "lost")
    assert overall([ok], []) == "pass"
    assert overall([ok, unsure], []) == "inconclusive"
    assert overall([unsure, bad], []) == "fail"
    assert overall([bad], [err]) == "error"
    assert overall([ok], [Check("cpu", "inconclusive", "hot")]) == "inconclusive"
    assert overall([ok], [err], interrupted=True) == "interrupted"


def test_abort_on_fail_waits_for_delay() -> None:
    m = merged_with(("a", "read", 200, True, [500] * 200))
    ths = [t("http_req_duration", "p(95)<300", abort_on_fail=True, delay_abort_eval_s=30)]
    results = [evaluate_threshold(ths[0], m, 100, 10)]
    assert should_abort(results, 10, ths) is None
    assert should_abort(results, 31, ths) is results[0]


def test_latency_breach_by_a_saturated_generator_is_inconclusive_failure_rate_still_counts() -> None:
    from loadorch.verdict.evaluate import discount_generator_limited

    m = merged_with(("a", "read", 200, True, [900] * 200), ("b", "write", 500, False, [5] * 100))
    latency = evaluate_threshold(t("http_req_duration{kind:read}", "p(95)<300"), m, 100, 10)
    failed = evaluate_threshold(t("http_req_failed", "rate<0.01"), m, 100, 10)
    nodata = evaluate_threshold(t("http_req_duration{name:zzz}", "p(95)<300"), m, 100, 10)
    assert (latency.verdict, failed.verdict, nodata.verdict) == ("fail", "fail", "fail")
    hot = Check("generator cpu", "inconclusive", "generator saturated: worker 0 at 100%")
    out = discount_generator_limited([latency, failed, nodata], [Check("workers", "pass", "ok"), hot])
    assert [r.verdict for r in out] == ["inconclusive", "fail", "fail"]
    assert "generator saturated" in out[0].message and "p(95)=900" in out[0].message
    assert overall(out[:1], [hot]) == "inconclusive"  # exit 6, not 1
    assert overall(out, [hot]) == "fail"  # the failure rate still breaches
    short = Check("load", "inconclusive", "only 8103 of 10000 users started")
    assert discount_generator_limited([latency], [short])[0].verdict == "inconclusive"
    assert discount_generator_limited([latency], [Check("generator cpu", "pass", "ok")])[0].verdict == "fail"


def test_latency_breach_while_a_worker_was_paused_is_inconclusive() -> None:
    """A worker whose whole process did not answer for a while (a short SIGSTOP, a frozen VM: the `workers` check
    inconclusive) timed the requests it had in flight across the pause: a latency breach is ours, maybe (exit 6,
    not 1); its failure rate still counts."""
    from loadorch.verdict.evaluate import discount_generator_limited

    m = merged_with(("a", "read", 200, True, [100] * 195 + [5000] * 5), ("b", "write", 500, False, [5] * 100))
    latency = evaluate_threshold(t("http_req_duration", "max<3000"), m, 100, 10)
    failed = evaluate_threshold(t("http_req_failed", "rate<0.01"), m, 100, 10)
    paused = Check("workers", "inconclusive", "workers whose process did not answer for a while: worker 1 (5.2s)")
    out = discount_generator_limited([latency, failed], [paused])
    assert [r.verdict for r in out] == ["inconclusive", "fail"]
    assert "worker 1 (5.2s)" in out[0].message
    assert overall(out[:1], [paused]) == "inconclusive"
    lost = Check("workers", "error", "1 of 2 workers lost")  # an error already: exit 5 whatever the thresholds
    assert discount_generator_limited([latency], [lost])[0].verdict == "fail"


def test_a_page_or_lighthouse_metric_is_never_judged_from_the_http_tables() -> None:
    """Without browsers or Lighthouse results no browser evaluator owns these thresholds: they read no data,
    not the HTTP requests' latency (a 2500 ms LCP budget passed on 0.4 ms requests)."""
    m = merged_with(("a", "read", 200, True, [1] * 200))
    for selector, expr in [("browser_web_vital_lcp", "p(75)<2500"), ("lighthouse_score", "avg>0"),
                           ("browser_resource_bytes", "p(75)<100000"), ("browser_step_failed", "rate<0.01")]:
        r = evaluate_threshold(t(selector, expr), m, 1, 10)
        assert (r.verdict, r.samples, r.observed) == ("fail", 0, None) and r.message.startswith("no data"), r
