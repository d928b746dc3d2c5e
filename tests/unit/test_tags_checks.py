"""Free tags, k6's expected_response, the checks metric and TTFB/connect metrics in selectors and evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadorch.config.resolve import Overrides, build
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.errors import UsageError
from loadorch.stats.tables import Merged, Recorder, SeriesKey
from loadorch.verdict.evaluate import evaluate_threshold

from .test_config import errors, make

TAGGED = """
name: s
tags: {team: checkout}
users:
  - name: u
    tags: {flow: browse}
    requests:
      - {name: get, path: "/items/1", tags: {flow: buy}, expect: {status: [200], json: {"$.id": 1}}}
      - {name: list, path: "/items", expect: {contains: "ok"}}
thresholds:
  "http_req_duration{flow:buy}": ["p(95)<300"]
"""


def _threshold(text: str, expr: str, free: tuple[str, ...] = ("flow", "team")) -> Threshold:
    sel = parse_selector(text, free)
    return Threshold(sel, parse_expression(expr, sel.metric))


def _merged() -> Merged:
    import yaml

    from loadorch.config.scenario import Scenario
    from loadorch.config.tags import tag_table

    rec = Recorder(1.0, 0.0)
    get_ok = SeriesKey("u", "get", "read", "GET", 200, True)
    list_ok = SeriesKey("u", "list", "read", "GET", 200, True)
    list_bad = SeriesKey("u", "list", "read", "GET", 500, False)
    for i in range(10):
        rec.record(get_ok, 10_000, 0.5)
        rec.record(list_ok, 200_000, 0.5)
        rec.record_timings(get_ok, 4_000, 1_000 if i == 0 else 0)
        rec.record_checks(get_ok, ("status", "$.id"), (True, i != 0), '200 {"id": 2}' if i == 0 else None)
    rec.record(list_bad, 900_000, 0.5)
    merged = Merged()
    merged.add_delta(0, rec.take_delta())
    merged = Merged.from_json(merged.to_json())
    merged.tag_table = tag_table(Scenario.model_validate(yaml.safe_load(TAGGED)), {"env": "ci"})
    return merged


def test_free_tags_expected_response_and_timings_select_the_right_samples() -> None:
    merged = _merged()
    buy = evaluate_threshold(_threshold("http_req_duration{flow:buy}", "p(95)<50"), merged, 5, 1.0)
    assert buy.verdict == "pass" and buy.samples == 10
    browse = evaluate_threshold(_threshold("http_req_duration{flow:browse}", "p(95)<50"), merged, 5, 1.0)
    assert browse.verdict == "fail" and browse.samples == 10  # the user's tag, for its untagged request
    team = evaluate_threshold(_threshold("http_reqs{team:checkout,expected_response:true}", "count==20"), merged, 5, 1)
    assert team.verdict == "pass", team.message
    ttfb = evaluate_threshold(_threshold("http_req_waiting{flow:buy}", "max<=4.1"), merged, 5, 1.0)
    assert ttfb.verdict == "pass" and ttfb.samples == 10
    conn = evaluate_threshold(_threshold("http_req_connecting", "max<0.5"), merged, 5, 1.0)
    assert conn.verdict == "fail" and conn.observed is not None and conn.observed >= 1.0


def test_checks_rate_passes_and_fails_by_name_and_check() -> None:
    merged = _merged()
    whole = evaluate_threshold(_threshold("checks{name:get}", "rate>0.99"), merged, 5, 1.0)
    assert whole.verdict == "fail" and whole.samples == 20 and whole.observed == 0.95
    status = evaluate_threshold(_threshold("checks{name:get,check:status}", "rate>0.99"), merged, 5, 1.0)
    assert status.verdict == "pass" and status.observed == 1.0
    tagged = evaluate_threshold(_threshold("checks{flow:buy}", "rate>0.9"), merged, 5, 1.0)
    assert tagged.verdict == "pass"
    none = evaluate_threshold(_threshold("checks{name:list}", "rate>0.9"), merged, 5, 1.0)
    assert none.verdict == "fail" and none.message.startswith("no data")
    assert merged.check_examples[("u", "get", "read", "GET", "$.id")] == '200 {"id": 2}'


def test_tags_in_selectors_are_checked_against_the_scenario(tmp_path: Path) -> None:
    make(tmp_path, TAGGED)
    cfg = build("p", str(tmp_path), {}, Overrides(tags=(("env", "ci"),)))
    assert [str(t.selector) for t in cfg.thresholds] == ["http_req_duration{flow:buy}"]
    assert cfg.run_tags == {"env": "ci"}
    for selector, message in (
        ("http_req_duration{flwo:buy}", "unknown tag 'flwo'; did you mean 'flow'?"),
        ("http_req_duration{flow:bye}", "no request is tagged flow:bye; did you mean 'buy'?"),
        ("checks{check:stauts}", "no expect condition is named 'stauts'; did you mean 'status'?"),
        ("http_req_duration{expected_response:false}", "expected_response:false is not supported"),
        ("checks{status:200}", "unknown tag 'status'"),
    ):
        msgs = errors(tmp_path, TAGGED.replace("http_req_duration{flow:buy}", selector))
        assert any(message in m for m in msgs), (selector, msgs)


def test_reserved_and_malformed_tags_are_refused(tmp_path: Path) -> None:
    msgs = errors(tmp_path, TAGGED.replace("{flow: browse}", "{kind: x}"))
    assert any("tag 'kind' is set by loadorch itself" in m for m in msgs), msgs
    msgs = errors(tmp_path, TAGGED.replace("{flow: browse}", "{'a b': x}"))
    assert any("tag 'a b': use letters" in m for m in msgs), msgs
    make(tmp_path, TAGGED)
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        from loadorch.cli import _overrides, build_parser

        _overrides(build_parser().parse_args(["run", "p", "--tag", "novalue"]))


def test_a_tag_value_that_is_empty_or_holds_a_control_character_is_refused_with_its_fix() -> None:
    """`--tag env=` labelled nothing (Prometheus drops an empty label: it and an untagged monitor were one series),
    and a line break in a value reached labels and report lines as it was. A value whose bytes are not UTF-8 (a
    Latin-1 commit subject) was a lone surrogate: the Locust master refused the run's plan (exit 5, load started)."""
    import pytest

    from loadorch.config.tags import parse_cli_tags

    assert parse_cli_tags(["env=staging", "commit=abc 123"]) == {"env": "staging", "commit": "abc 123"}
    for bad, said in (("env=", "give it a value"), ("env=  ", "give it a value"),
                      ("env=a\nb", "control character"), ("env=a\tb", "control character"),
                      ("commit=caf\udce9", "not UTF-8 text")):  # argv's byte 0xe9 (Latin-1 e acute), as Python reads it
        with pytest.raises(ValueError, match=said):
            parse_cli_tags([bad])
