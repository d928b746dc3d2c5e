"""Alerting rules from thresholds (pure): the PromQL each threshold becomes, and what is left out and why."""

from __future__ import annotations

import pytest

from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.metrics.alerts import alert_rules, prom_duration, rule_for

SCOPE = [("profile", "staging")]


def _t(selector: str, expression: str) -> Threshold:
    return Threshold(parse_selector(selector), parse_expression(expression))


def test_a_percentile_is_a_quantile_of_the_histogram_past_its_limit_with_enough_samples() -> None:
    rule = rule_for(_t("browser_web_vital_lcp{page:home}", "p(75)<2500"), SCOPE, "1h", 5)
    assert rule.expr == (
        'histogram_quantile(0.75, sum by (le) (rate(loadorch_browser_web_vital_lcp_seconds_bucket'
        '{profile="staging",page="home"}[1h]))) > 2.5\n'
        'and on() sum(max by (run_id) (sum by (run_id, job) (increase('
        'loadorch_browser_web_vital_lcp_seconds_count{profile="staging",page="home"}[1h])))) >= 5'
    )


def test_http_latency_reads_successful_requests_and_maps_the_user_tag() -> None:
    rule = rule_for(_t("http_req_duration{kind:read,user:shopper}", "p(95)<=300"), SCOPE, "30m", 100)
    assert rule.expr is not None
    assert 'loadorch_http_request_duration_seconds_bucket{profile="staging",outcome="ok",kind="read",' \
           'user_class="shopper"}[30m]' in rule.expr
    assert ") > 0.3\n" in rule.expr  # ms -> s


def test_unitless_cls_and_an_average() -> None:
    cls = rule_for(_t("browser_web_vital_cls", "p(75)<0.1"), SCOPE, "1h", 1).expr or ""
    assert "loadorch_browser_web_vital_cls_bucket{" in cls and ") > 0.1\n" in cls
    avg = rule_for(_t("http_req_duration", "avg<200"), SCOPE, "1h", 1).expr or ""
    assert avg.startswith("(sum(rate(loadorch_http_request_duration_seconds_sum{") and " > 0.2\n" in avg


def test_the_failure_rate_is_a_ratio_of_counters_negated_exactly() -> None:
    rule = rule_for(_t("http_req_failed{name:checkout}", "rate<0.01"), SCOPE, "1h", 50)
    assert rule.expr == (
        '(sum(increase(loadorch_http_failures_total{profile="staging",name="checkout"}[1h])) / '
        'sum(increase(loadorch_http_requests_total{profile="staging",name="checkout"}[1h]))) >= 0.01\n'
        'and on() sum(max by (run_id) (sum by (run_id, job) (increase('
        'loadorch_http_requests_total{profile="staging",name="checkout"}[1h])))) >= 50'
    )


def test_the_slow_statement_share_is_a_ratio_of_the_database_counters() -> None:
    rule = rule_for(_t("db_query_slow", "rate<0.01"), SCOPE, "1h", 50)
    assert rule.expr == (
        '(sum(increase(loadorch_db_slow_queries_total{profile="staging"}[1h])) / '
        'sum(increase(loadorch_db_queries_total{profile="staging"}[1h]))) >= 0.01\n'
        'and on() sum(max by (run_id) (sum by (run_id, job) (increase(loadorch_db_queries_total{profile="staging"}[1h])))) >= 50'
    )
    rate = rule_for(_t("db_queries", "rate<=500"), SCOPE, "1h", 50)
    assert rate.expr == 'sum(max by (run_id) (sum by (run_id, job) (rate(loadorch_db_queries_total{profile="staging"}[1h])))) > 500'


@pytest.mark.parametrize("selector,expression,why", [
    ("db_queries", "count<100000", "a whole run's"),
    ("http_req_duration", "max<900", "not kept by a histogram"),
    ("http_req_waiting", "p(95)<100", "not in the live metrics"),
    ("http_req_duration{status:500}", "p(95)<100", "tag 'status' is not a label"),
    ("http_reqs", "count>100", "a whole run's"),
    ("browser_step_failed", "rate<0.01", "not in the live metrics"),
    ("server_timing{entry:app}", "p(95)<50", "cannot judge it exactly"),
])
def test_what_a_rolling_window_cannot_express_is_left_to_the_monitor_with_why(selector: str, expression: str, why: str) -> None:
    rule = rule_for(_t(selector, expression), SCOPE, "1h", 1)
    assert rule.expr is None and why in rule.reason


def test_label_values_are_escaped() -> None:
    rule = rule_for(_t('http_req_duration{name:say "hi"}', "p(95)<100"), SCOPE, "1h", 1)
    assert 'name="say \\"hi\\""' in (rule.expr or "")


def test_the_rules_file_names_each_alert_by_profile_and_threshold() -> None:
    doc, skipped = alert_rules("staging", [_t("http_req_failed", "rate<0.01"), _t("http_req_duration", "max<1")],
                               3600, 300, 20, job="loadorch", interval_s=30)
    [group] = doc["groups"]  # type: ignore[index]
    assert group["name"] == "loadorch-staging" and group["interval"] == "30s"
    rule, by_monitor, cannot_judge, absent = group["rules"]
    assert rule["alert"] == "LoadorchBudgetExceeded" and rule["for"] == "5m"
    assert rule["labels"] == {"severity": "warning", "profile": "staging", "threshold": "http_req_failed rate<0.01"}
    assert 'job="loadorch"' in rule["expr"]
    assert [s.threshold for s in skipped] == ["http_req_duration max<1"]
    # what PromQL cannot express reads the running monitor's verdict on it, over its own window
    assert by_monitor["expr"] == ('max(loadorch_monitor_threshold_state{profile="staging",job="loadorch",'
                                  'threshold="http_req_duration max<1",state="fail"}) == 1')
    assert by_monitor["labels"]["threshold"] == "http_req_duration max<1" and by_monitor["for"] == "5m"
    assert "judged by the running `loadorch monitor`" in by_monitor["annotations"]["description"]
    # and the monitor's own two: no_data over a full window, and no monitor reporting at all (at least 1m)
    assert cannot_judge["alert"] == "LoadorchMonitorCannotJudge" and cannot_judge["for"] == "5m"
    assert cannot_judge["expr"] == ('max(loadorch_monitor_status{profile="staging",job="loadorch",state="no_data"}) == 1\n'
                                    'and on() max(loadorch_monitor_window_full{profile="staging",job="loadorch"}) == 1')
    assert absent["alert"] == "LoadorchMonitorAbsent" and absent["for"] == "5m"
    assert absent["expr"] == 'absent(loadorch_monitor_status{profile="staging",job="loadorch"})'
    assert cannot_judge["labels"] == absent["labels"] == {"severity": "warning", "profile": "staging"}


@pytest.mark.parametrize("seconds,text", [(3600, "1h"), (90, "90s"), (0.25, "250ms"), (0, "0s"), (5400, "90m")])
def test_prometheus_durations(seconds: float, text: str) -> None:
    assert prom_duration(seconds) == text
