"""Browser-only scenarios (no `users:`) and HTTP checks at a low fixed rate: what they accept and refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadorch.config.resolve import Overrides, build
from loadorch.errors import UsageError
from loadorch.run.plan import build_plan
from loadorch.runtime.masterstate import MasterState
from loadorch.verdict.integrity import integrity_checks

from .test_config import BASE_PROFILE, BASE_SCENARIO, errors, make
from .test_integrity import summary

BROWSERS_ONLY = """
name: s
browsers:
  - name: shopper
    journey:
      - {visit: /shop, name: home}
"""
DURATION_ONLY = BASE_PROFILE.replace("load: {users: 4, duration: 30s}", "load: {duration: 30s}")


def test_a_browser_only_scenario_runs_no_http_user_and_no_http_worker(tmp_path: Path) -> None:
    make(tmp_path, BROWSERS_ONLY, DURATION_ONLY)
    cfg = build("p", str(tmp_path), {})
    assert cfg.users == 0 and cfg.workers == 0 and cfg.duration_s == 30
    # the browser defaults gate it; no HTTP default that could only fail with "no data"
    assert {t.selector.metric for t in cfg.thresholds} == {"browser_web_vital_lcp", "browser_web_vital_cls",
                                                           "browser_step_failed"}


def test_a_scenario_with_neither_users_nor_browsers_is_refused(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, "name: s\n", DURATION_ONLY)
    assert "give users (HTTP virtual users), browsers (headless Chromium pages), or both" in msg


@pytest.mark.parametrize("load", ["{users: 3, duration: 9s}", "{arrival_rate: 1, duration: 9s}",
                                  "{duration: 9s, spawn_rate: 2}"])
def test_a_browser_only_profile_gives_its_duration_alone(tmp_path: Path, load: str) -> None:
    profile = BASE_PROFILE.replace("{users: 4, duration: 30s}", load)
    [msg] = errors(tmp_path, BROWSERS_ONLY, profile)
    assert "p.yaml:3: load." in msg and "give load: {duration: ...} and/or {iterations: N}" in msg, msg


def test_users_flag_is_refused_for_a_browser_only_scenario(tmp_path: Path) -> None:
    make(tmp_path, BROWSERS_ONLY, DURATION_ONLY)
    with pytest.raises(UsageError, match="this scenario has no HTTP users"):
        build("p", str(tmp_path), {}, Overrides(users=3))


@pytest.mark.parametrize("load,flags,duration", [
    ("{iterations: 2}", Overrides(), None),  # journeys per page, no clock: the run ends when they are walked
    ("{duration: 30s, iterations: 2}", Overrides(), 30.0),  # the duration caps them
    ("{duration: 30s}", Overrides(iterations=2), None),  # --iterations alone, as for HTTP users
])
def test_iterations_bound_a_browser_only_run_by_journeys_per_page(
    tmp_path: Path, load: str, flags: Overrides, duration: float | None
) -> None:
    make(tmp_path, BROWSERS_ONLY, BASE_PROFILE.replace("{users: 4, duration: 30s}", load))
    cfg = build("p", str(tmp_path), {}, flags)
    assert (cfg.users, cfg.workers, cfg.iterations, cfg.duration_s) == (0, 0, 2, duration)


def _state(tmp_path: Path, scenario: str, load: str) -> MasterState:
    make(tmp_path, scenario, BASE_PROFILE.replace("{users: 4, duration: 30s}", load) + "workers: 1\n")
    cfg = build("p", str(tmp_path), {})
    return MasterState(build_plan(cfg, "http://127.0.0.1:1", "127.0.0.1", 5557, "tok", "/s.json", None,
                                  browser_port=5558))


def test_the_master_ends_an_iterations_run_only_when_http_users_and_browser_pages_are_done(tmp_path: Path) -> None:
    browsers_only = _state(tmp_path, BROWSERS_ONLY, "{iterations: 2}")
    assert not browsers_only.iterations_done(browsers_done=False)  # no HTTP worker: the browsers decide
    assert browsers_only.iterations_done(browsers_done=True)
    both = _state(tmp_path, BASE_SCENARIO + BROWSERS_ONLY.split("name: s", 1)[1], "{users: 2, iterations: 3}")
    assert both.plan.workers == 1 and both.plan.browser is not None
    assert not both.iterations_done(browsers_done=True)  # its HTTP worker has not even said hello
    both.on_hello("w0", {"index": 0, "token": "tok"})
    both.workers[0].done = True
    assert not both.iterations_done(browsers_done=False) and both.iterations_done(browsers_done=True)
    http_only = _state(tmp_path, BASE_SCENARIO, "{users: 2, iterations: 3}")
    http_only.on_hello("w0", {"index": 0, "token": "tok"})
    assert not http_only.iterations_done(browsers_done=False)
    http_only.workers[0].done = True
    assert http_only.iterations_done(browsers_done=False)  # no browser: its HTTP users alone
    timed = _state(tmp_path, BROWSERS_ONLY, "{duration: 30s}")
    assert not timed.iterations_done(browsers_done=True)  # no iterations: the clock ends it


def test_http_users_still_need_a_user_count(tmp_path: Path) -> None:
    [msg] = errors(tmp_path, BASE_SCENARIO, DURATION_ONLY)
    assert "load.users: give users" in msg


@pytest.mark.parametrize("rate,timeout,users", [(0.2, "10s", 3), (2, "10s", 21), (10, "1s", 11)])
def test_low_rate_checks_get_max_users_from_rate_and_timeout(tmp_path: Path, rate: float, timeout: str,
                                                            users: int) -> None:
    profile = BASE_PROFILE.replace("load: {users: 4, duration: 30s}",
                                   f"load: {{arrival_rate: {rate}, duration: 30s}}\nrequest_timeout: {timeout}")
    make(tmp_path, profile=profile)
    cfg = build("p", str(tmp_path), {})
    assert cfg.users == users and cfg.open_model is not None


def test_browser_only_integrity_is_one_check_not_http_ones(tmp_path: Path) -> None:
    make(tmp_path, BROWSERS_ONLY, DURATION_ONLY)
    cfg = build("p", str(tmp_path), {})
    checks, integrity = integrity_checks(cfg, summary(expected=0))
    assert [(c.name, c.verdict) for c in checks] == [("http users", "pass")]
    assert integrity.workers_expected == 0


def test_http_users_with_no_worker_seen_are_still_an_error(tmp_path: Path) -> None:
    make(tmp_path)
    checks, _ = integrity_checks(build("p", str(tmp_path), {}), summary(expected=1))
    assert ("workers", "error") in [(c.name, c.verdict) for c in checks]


@pytest.mark.parametrize("selector,expr", [
    ("http_req_duration", "p(95)<500"), ("http_req_failed", "rate<0.01"), ("checks", "rate>0.99"),
    ("db_queries_per_request", "p(95)<10"), ('"server_timing{entry:app}"', "p(95)<50"),
])
def test_a_browser_only_scenario_refuses_thresholds_only_http_users_measure(
    tmp_path: Path, selector: str, expr: str
) -> None:
    """validate accepted them and every run failed them with no data (a monitor: failing for good)."""
    scenario = BROWSERS_ONLY + f'thresholds:\n  {selector}: ["{expr}"]\n'
    [msg] = errors(tmp_path, scenario, DURATION_ONLY)
    assert "s.yaml:7: thresholds." in msg and "this scenario has no users (browsers only)" in msg, msg
    # in the profile too, with its line; `[]` (removing a default) measures nothing and is accepted
    [msg] = errors(tmp_path, BROWSERS_ONLY, DURATION_ONLY + f'thresholds:\n  {selector}: ["{expr}"]\n')
    assert "p.yaml:5: thresholds." in msg and "browsers only" in msg, msg
    make(tmp_path, BROWSERS_ONLY, DURATION_ONLY + f"thresholds:\n  {selector}: []\n")
    build("p", str(tmp_path), {})


@pytest.mark.parametrize("selector,why", [
    ("browser_web_vital_lcp", "this scenario has no browsers"), ("browser_step_failed", "this scenario has no browsers"),
    ("lighthouse_score", "the profile gives none"), ("browser_resource_bytes", "the profile gives none"),
])
def test_an_http_only_scenario_refuses_thresholds_only_pages_or_lighthouse_measure(
    tmp_path: Path, selector: str, why: str
) -> None:
    """An LCP budget in a scenario without browsers was judged on the HTTP requests' latency, and passed."""
    expr = "rate<0.01" if selector == "browser_step_failed" else "p(75)<2500"
    [msg] = errors(tmp_path, BASE_SCENARIO + f'thresholds:\n  {selector}: ["{expr}"]\n')
    assert "s.yaml:10: thresholds." in msg and why in msg, msg


def test_an_inp_budget_needs_a_journey_that_interacts(tmp_path: Path) -> None:
    """INP is measured on input (click, type, press): a journey of visits and waits has none, so an INP threshold
    validated and every run failed it with "no data". Refused, as for its user alone; a journey that clicks
    gives it."""
    scenario = BROWSERS_ONLY + '      - {wait_for: "#add-to-cart"}\nthresholds:\n  browser_web_vital_inp: ["p(75)<200"]\n'
    [msg] = errors(tmp_path, scenario, DURATION_ONLY)
    assert "s.yaml:8: thresholds.browser_web_vital_inp: browser_web_vital_inp is measured on input" in msg, msg
    assert "no journey clicks, types or presses a key" in msg, msg
    clicks = scenario.replace("{wait_for:", "{click:")
    make(tmp_path, clicks, DURATION_ONLY)
    build("p", str(tmp_path), {})
    # a user that does not interact, beside one that does
    two = clicks.replace("thresholds:", "  - name: reader\n    journey:\n      - {visit: /shop}\nthresholds:")
    [msg] = errors(tmp_path, two.replace("browser_web_vital_inp:", '"browser_web_vital_inp{user:reader}":'),
                   DURATION_ONLY)
    assert "thresholds.browser_web_vital_inp{user:reader}:" in msg and "no journey of reader clicks" in msg, msg
    make(tmp_path, two.replace("browser_web_vital_inp:", '"browser_web_vital_inp{user:shopper}":'), DURATION_ONLY)
    build("p", str(tmp_path), {})
