"""The k6-compatible threshold grammar."""

from __future__ import annotations

import re

import pytest

from loadorch.config.thresholds import ThresholdSyntaxError, parse_expression, parse_selector


@pytest.mark.parametrize("text,agg,pct,op,value", [
    ("p(95)<300", "p", 95.0, "<", 300.0),
    ("p(99.9) <= 800", "p", 99.9, "<=", 800.0),
    ("p(0)>=0", "p", 0.0, ">=", 0.0),
    ("p(100)<1e3", "p", 100.0, "<", 1000.0),
    ("avg<200", "avg", None, "<", 200.0),
    ("med!=5", "med", None, "!=", 5.0),
    ("min>-1", "min", None, ">", -1.0),
    ("max===10", "max", None, "===", 10.0),
    ("count==3", "count", None, "==", 3.0),
    ("rate<0.01", "rate", None, "<", 0.01),
])
def test_valid_expressions(text, agg, pct, op, value) -> None:
    e = parse_expression(text)
    assert (e.aggregation, e.percentile, e.op, e.value) == (agg, pct, op, value)


@pytest.mark.parametrize("text,fragment", [
    ("foo>20", "unknown aggregation 'foo'"),
    ("count>abc", "not a number"),
    ("p(101)<5", "outside 0..100"),
    ("p()<5", "not a number"),
    ("p(NaN)<5", "not a number"),
    ("p(-1)<5", "outside 0..100"),
    ("count!20", "unknown operator '!'"),
    ("avg=>3", "unknown operator '=>'"),
    ("avg<", "is missing"),
    ("avg<inf", "not a number"),
    ("", "empty"),
    ("p95<300", "unknown aggregation 'p95'"),
    ("<300", "aggregation"),
])
def test_invalid_expressions_name_the_problem(text, fragment) -> None:
    with pytest.raises(ThresholdSyntaxError) as info:
        parse_expression(text)
    assert fragment in str(info.value)


def test_a_page_weight_limit_with_a_size_unit_says_the_number_of_bytes_to_write() -> None:
    with pytest.raises(ThresholdSyntaxError, match="a number of bytes: write 409600"):
        parse_expression("max<400KiB", "browser_resource_bytes")
    with pytest.raises(ThresholdSyntaxError, match=r"'lots' is not a number; the limit is a number of bytes$"):
        parse_expression("p(75)<lots", "browser_resource_decoded_bytes")


def test_a_time_limit_with_a_unit_says_the_number_of_milliseconds_to_write() -> None:
    """A latency, a Server-Timing dur or a timed web vital with its unit written (`300ms`, `2.5s`): the number of
    milliseconds to write instead; a unitless metric (CLS) and a word get no such fix."""
    with pytest.raises(ThresholdSyntaxError, match=r"'300ms' is not a number; the limit is a number of milliseconds: "
                                                   r"write 300$"):
        parse_expression("p(95)<300ms", "http_req_duration")
    with pytest.raises(ThresholdSyntaxError, match=r"milliseconds: write 2500$"):
        parse_expression("p(75)<2.5s", "browser_web_vital_lcp")
    with pytest.raises(ThresholdSyntaxError, match=r"milliseconds: write 47\.5$"):
        parse_expression("p(95) < 47.5 ms", "server_timing")
    for written, ms in (("1234567ms", "1234567"), ("3.5h", "12600000"), ("1.2345678s", "1234.5678"), ("1m30s", "90000")):
        with pytest.raises(ThresholdSyntaxError, match=f"milliseconds: write {re.escape(ms)}$"):  # never 1.2e+06
            parse_expression(f"p(95)<{written}", "http_req_duration")
    with pytest.raises(ThresholdSyntaxError, match=r"'fast' is not a number; the limit is a number of milliseconds$"):
        parse_expression("p(95)<fast", "http_req_waiting")
    with pytest.raises(ThresholdSyntaxError, match=r"'0.1s' is not a number$"):
        parse_expression("max<0.1s", "browser_web_vital_cls")


def test_aggregation_must_fit_the_metric() -> None:
    with pytest.raises(ThresholdSyntaxError, match="http_req_failed has no aggregation p"):
        parse_expression("p(95)<1", "http_req_failed")
    with pytest.raises(ThresholdSyntaxError, match="http_req_duration has no aggregation rate"):
        parse_expression("rate<1", "http_req_duration")
    assert parse_expression("count>10", "http_reqs").aggregation == "count"


def test_holds_for_each_operator() -> None:
    assert parse_expression("avg<3").holds(2.9) and not parse_expression("avg<3").holds(3)
    assert parse_expression("avg<=3").holds(3)
    assert parse_expression("avg>3").holds(3.1) and not parse_expression("avg>3").holds(3)
    assert parse_expression("avg>=3").holds(3)
    assert parse_expression("avg==3").holds(3) and parse_expression("avg===3").holds(3)
    assert parse_expression("avg!=3").holds(2) and not parse_expression("avg!=3").holds(3)


def test_selectors() -> None:
    s = parse_selector("http_req_duration{kind:read, name:get product}")
    assert s.metric == "http_req_duration"
    assert s.tags == (("kind", "read"), ("name", "get product"))
    assert str(s) == "http_req_duration{kind:read,name:get product}"
    assert parse_selector("http_reqs").tags == ()


@pytest.mark.parametrize("text,fragment", [
    ("http_req_durations", "did you mean 'http_req_duration'"),
    ("http_req_duration{}", "empty tag filter"),
    ("http_req_duration{kind}", "expected tag:value"),
    ("http_req_duration{knd:read}", "did you mean 'kind'"),
    ("http_req_duration{kind:fast}", "kind must be read or write"),
    ("http_req_duration{kind:read", "invalid metric selector"),
])
def test_invalid_selectors(text, fragment) -> None:
    with pytest.raises(ThresholdSyntaxError) as info:
        parse_selector(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["list, products", "a}b", "{id}", ' "quoted" ', "'x'", "back\\slash, \"q\""])
def test_any_endpoint_name_is_selected_and_its_selector_reads_back(name: str) -> None:
    """An endpoint name with a comma could not be selected (`{name:list, products}` is two filters): a quoted
    value selects it, and the selector as results.json and the master write it (str) reads back the same."""
    from loadorch.config.thresholds import Threshold, tag_value_text
    from loadorch.stats.tables import Merged, Recorder, SeriesKey
    from loadorch.verdict.evaluate import evaluate

    written = "http_req_duration{kind:read,name:" + tag_value_text(name) + "}"
    selector = parse_selector(written)
    assert selector.tags == (("kind", "read"), ("name", name)) and str(selector) == written
    assert parse_selector(str(selector)) == selector
    rec = Recorder(1.0, 0.0)
    for ms in (10, 20, 30):
        rec.record(SeriesKey("u", name, "read", "GET", 200, True), ms * 1000, 0.5, None)
    rec.record(SeriesKey("u", "other", "read", "GET", 200, True), 900_000, 0.5, None)
    merged = Merged(1.0)
    merged.add_delta(0, rec.take_delta())
    [result] = evaluate([Threshold(parse_selector(str(selector)), parse_expression("max<100"))], merged, 1, 1.0)
    assert result.samples == 3 and result.verdict == "pass", result


def test_a_quoted_value_in_a_selector() -> None:
    assert parse_selector("http_req_duration{name:'a, b' , kind:read}").tags == (("name", "a, b"), ("kind", "read"))
    assert parse_selector('http_req_duration{name:"say \\"hi\\""}').tags == (("name", 'say "hi"'),)
    assert parse_selector("http_req_duration{name:get product}").tags == (("name", "get product"),)
    for text, fragment in (('http_req_duration{name:"a}', "is not closed"),
                           ('http_req_duration{name:"a"b}', "'b' after the quoted value of 'name'"),
                           ('http_req_duration{name:""}', "expected tag:value"),
                           ("http_req_duration{name:a, b}", 'a value holding a comma is quoted: name:"list, products"')):
        with pytest.raises(ThresholdSyntaxError, match=re.escape(fragment)):
            parse_selector(text)
