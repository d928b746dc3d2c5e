"""`loadorch alerts PROFILE` through the CLI, its rules checked by the real `promtool check rules` and
evaluated over synthetic series by `promtool test rules` (a budget crossed fires, one kept does not,
too few samples do not)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import tools
from tests.support.project import Project, assert_no_traceback

pytestmark = pytest.mark.prometheus

SCENARIO = """
name: s
users:
  - name: api
    requests:
      - {name: list, path: /products}
browsers:
  - name: shopper
    journey:
      - {visit: /shop, name: home}
thresholds:
  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]
  "http_req_failed": ["rate<0.1"]
  "http_req_duration": ["max<5000"]
"""
PROFILE = """
scenario: ../scenarios/s.yaml
host: http://127.0.0.1:8080
load: {users: 2, duration: 1m}
min_samples: 4
monitor: {window: 1m, for: 30s}
"""
LCP = 'loadorch_browser_web_vital_lcp_seconds_{part}{{profile="{profile}",page="home",run_id="r",scenario="s"{le}}}'


def _lcp(profile: str, per_step: dict[str, int]) -> list[dict[str, str]]:
    """Cumulative LCP buckets growing by `per_step` (edge -> samples at or below it) every 15 s."""
    series = [{"series": LCP.format(part="bucket", profile=profile, le=f',le="{le}"'), "values": f"0+{n}x20"}
              for le, n in per_step.items()]
    series.append({"series": LCP.format(part="count", profile=profile, le=""), "values": f"0+{per_step['+Inf']}x20"})
    return series


def _budgets(text: str) -> list[dict[str, Any]]:
    """The rules file's budget rules (LoadorchBudgetExceeded), without the monitor's own two (cannot judge, absent)."""
    return [r for r in yaml.safe_load(text)["groups"][0]["rules"] if r["alert"] == "LoadorchBudgetExceeded"]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(shutil.which("promtool")), *args], capture_output=True, text=True, timeout=60)


def _rule_test(rules: Path, series: list[dict[str, str]], at: str, expected: list[Any], tmp_path: Path
               ) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of `rules` over `series` (a step of 15 s): the alerts expected at `at`."""
    tests = {"rule_files": [str(rules)], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": "LoadorchBudgetExceeded", "exp_alerts": expected}],
    }]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    return _promtool("test", "rules", str(tmp_path / "tests.yml"))


def test_alert_rules_pass_promtool_and_fire_only_on_a_crossed_budget(project: Project, tmp_path: Path) -> None:
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    result = project.run("alerts", "p", "--out", "rules.yml")
    assert_no_traceback(result)
    assert result.code == 0, result.err
    assert "http_req_duration max<5000: not in PromQL (max is not kept by a histogram" in result.err
    rules = project.root / "rules.yml"
    check = _promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "SUCCESS: 5 rules found" in check.stdout, check.stdout + check.stderr
    slow = _lcp("p", {"1.0": 0, "2.5": 1, "5.0": 4, "+Inf": 4})  # 3 of 4 page views over 2.5 s: p75 > 2.5 s
    fast = _lcp("other", {"1.0": 4, "2.5": 4, "5.0": 4, "+Inf": 4})
    http = [
        {"series": 'loadorch_http_requests_total{profile="p",name="list"}', "values": "0+10x20"},
        {"series": 'loadorch_http_failures_total{profile="p",name="list"}', "values": "0+0x10 0+5x10"},
    ]
    threshold_lcp = "browser_web_vital_lcp{page:home} p(75)<2500"
    fired = {"severity": "warning", "profile": "p"}
    generated = {r["labels"]["threshold"]: r["annotations"]
                 for r in _budgets(rules.read_text())}

    def alert(threshold: str, observed: str) -> dict[str, dict[str, str]]:
        notes = {k: re.sub(r"\{\{ \$value[^}]*\}\}", observed, v) for k, v in generated[threshold].items()}
        return {"exp_labels": {**fired, "threshold": threshold}, "exp_annotations": notes}

    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "15s",
        "tests": [{
            "interval": "15s",
            "input_series": slow + fast + http,
            "alert_rule_test": [
                # the LCP window fills (1 m), then the alert waits its `for` (30 s)
                {"eval_time": "30s", "alertname": "LoadorchBudgetExceeded", "exp_alerts": []},
                {"eval_time": "2m", "alertname": "LoadorchBudgetExceeded",
                 "exp_alerts": [alert(threshold_lcp, "4.167s")]},  # seconds shown as a duration, not 4.1666
                # failures start at 2m30s (5 of 10 a step): 50 % over the window, past 10 %
                {"eval_time": "4m30s", "alertname": "LoadorchBudgetExceeded",
                 "exp_alerts": [alert(threshold_lcp, "4.167s"),
                                alert("http_req_failed rate<0.1", "0.5")]},
            ],
        }],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    run = _promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert run.returncode == 0, run.stdout + run.stderr
    # a wrong expectation fails: promtool really evaluated the rules
    tests["tests"][0]["alert_rule_test"][0]["exp_alerts"] = [alert(threshold_lcp, "4.167s")]
    (tmp_path / "wrong.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert _promtool("test", "rules", str(tmp_path / "wrong.yml")).returncode != 0


def _series_of(fam_buckets: list, name: str, per_step: bool = True) -> list[dict[str, str]]:
    """promtool input series from a histogram family's rows: each row's cumulative counts grow by themselves a
    step (15 s), as a monitor's would with the same page views every step."""
    from loadorch.metrics.names import RUN_LABELS

    out = []
    for labels, cum, _total in fam_buckets:
        named = ",".join(f'{k}="{v}"' for k, v in zip((*RUN_LABELS, "page", "user"), labels, strict=True))
        out += [{"series": f'{name}_bucket{{{named},le="{le}"}}', "values": f"0+{int(n)}x20"} for le, n in cum]
        out.append({"series": f"{name}_count{{{named}}}", "values": f"0+{int(cum[-1][1])}x20"})
    return out


@pytest.mark.parametrize("lcp_ms, fires", [(2499.0, False), (2501.0, True)])
def test_a_monitors_vital_alert_fires_on_its_limit_not_a_bucket_before(
    project: Project, tmp_path: Path, lcp_ms: float, fires: bool
) -> None:
    """A monitor keeps browser vitals in a coarse layout (64 buckets per doubling): the bucket holding 2,499 ms
    reaches past 2,500 ms. Its live families count the values at each edge exactly (BrowserStats.le), so
    Prometheus's own histogram_quantile over them puts a p75 of 2,499 ms under a p(75)<2500 budget and one of
    2,501 ms over it; counted by whole buckets (no exact counts) the first fired too."""
    tools.require("prometheus")
    from loadorch.browser.stats import UNITLESS, BrowserStats, scale_of
    from loadorch.metrics.tagged import edges_for, tagged_families
    from loadorch.monitor.rolling import MONITOR_SUB_BITS

    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    assert project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s").code == 0
    limits = [("browser_web_vital_lcp", 2500.0)]
    stats = BrowserStats(sub_bits=MONITOR_SUB_BITS, edges_of=edges_for(limits, scale_of, UNITLESS))
    for i, lcp in enumerate((1000.0, lcp_ms, lcp_ms, lcp_ms)):  # a step's four page views: p75 is lcp_ms
        stats.record_view("shopper", "home", float(i), {"lcp": lcp})
    name = "loadorch_browser_web_vital_lcp_seconds"
    run = ("r", "p", "s")

    def verdict(le: object) -> subprocess.CompletedProcess[str]:
        [fam] = [f for f in tagged_families(run, stats.series, scale_of, UNITLESS, limits, le) if f.name == name]
        threshold = "browser_web_vital_lcp{page:home} p(75)<2500"
        [notes] = [r["annotations"] for r in _budgets((project.root / "rules.yml").read_text())
                   if r["labels"]["threshold"] == threshold]
        notes = {k: re.sub(r"\{\{ \$value[^}]*\}\}", "4.167s", v) for k, v in notes.items()}  # 2.5 + 2.5 * 2/3
        expected = [{"exp_labels": {"severity": "warning", "profile": "p", "threshold": threshold},
                     "exp_annotations": notes}] if fires else []
        return _rule_test(project.root / "rules.yml", _series_of(fam.buckets, name), "3m", expected, tmp_path)

    exact = verdict(stats.le)
    assert exact.returncode == 0, exact.stdout + exact.stderr
    if not fires:  # the same views counted by whole buckets: the alert fired on a budget that holds
        assert verdict(None).returncode != 0


def test_alerts_for_a_tagged_monitor_judge_its_series_alone_and_carry_its_tags(project: Project, tmp_path: Path) -> None:
    """Two monitors of one profile, `--tag env=staging` and `--tag env=prod`, into one Prometheus: rules made with
    `alerts --tag env=staging` fire on staging's failures only, labelled env=staging (without --tag a rule summed
    both: prod's failures fired staging's alert, and staging's were diluted by prod's requests)."""
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    result = project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s", "--tag", "env=staging")
    assert result.code == 0, result.err
    threshold = "http_req_failed rate<0.1"
    [rule] = [r for r in _budgets((project.root / "rules.yml").read_text())
              if r["labels"]["threshold"] == threshold]
    assert rule["labels"]["env"] == "staging" and 'env="staging"' in rule["expr"]

    def series(env: str, failures: str) -> list[dict[str, str]]:
        labels = f'profile="p",name="list",run_id="{env}",env="{env}"'
        return [{"series": f"loadorch_http_requests_total{{{labels}}}", "values": "0+10x20"},
                {"series": f"loadorch_http_failures_total{{{labels}}}", "values": failures}]

    notes = {k: re.sub(r"\{\{ \$value[^}]*\}\}", "0.5", v) for k, v in rule["annotations"].items()}
    fired = [{"exp_labels": {"severity": "warning", "profile": "p", "env": "staging", "threshold": threshold},
              "exp_annotations": notes}]
    cases = [("0+0x20", "0+5x20", []),  # prod fails, staging holds: no alert for staging
             ("0+5x20", "0+0x20", fired)]  # staging fails: its alert, with its tag
    for staging, prod, expected in cases:
        run = _rule_test(project.root / "rules.yml", series("staging", staging) + series("prod", prod), "3m",
                         expected, tmp_path)
        assert run.returncode == 0, (staging, prod, run.stdout + run.stderr)
    bad = project.cli("alerts", "p", "--tag", "9env=x")
    assert bad.code == 2 and "tag '9env': use letters" in bad.err, bad.err  # as a monitor's --tag says it


def test_too_few_samples_in_the_window_never_fire(project: Project, tmp_path: Path) -> None:
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.replace("min_samples: 4", "min_samples: 100"))
    assert project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s").code == 0
    slow = _lcp("p", {"1.0": 0, "2.5": 0, "5.0": 4, "+Inf": 4})  # 16 a minute, all slow
    run = _rule_test(project.root / "rules.yml", slow, "4m", [], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_profile_that_does_not_validate_writes_no_rules(project: Project) -> None:
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.replace("window: 1m", "window: soon"))
    result = project.cli("alerts", "p", "--out", "rules.yml")
    assert result.code == 3 and "monitor.window" in result.err and not (project.root / "rules.yml").exists()



def test_the_slow_statement_share_alert_fires_on_the_live_counters(project: Project, tmp_path: Path) -> None:
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO.split("browsers:")[0] + 'thresholds:\n  db_query_slow: ["rate<0.01"]\n')
    project.write("profiles/p.yaml", PROFILE + 'collectors: {postgres: {dsn: "${DATABASE_URL}", slow_ms: 200}}\n')
    result = project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s")
    assert result.code == 0 and "db_query_slow" not in result.err, result.err
    rules = project.root / "rules.yml"
    check = _promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "SUCCESS: 3 rules found" in check.stdout, check.stdout + check.stderr
    run = 'profile="p",run_id="r",scenario="s"'
    [generated] = _budgets(rules.read_text())
    notes = {k: v.replace("{{ $value }}", "0.02") for k, v in generated["annotations"].items()}
    tests = {"rule_files": [str(rules)], "evaluation_interval": "15s", "tests": [{
        "interval": "15s",
        "input_series": [  # 100 statements a step; 2 of them slow from 2m30s on (2 %, past 1 %)
            {"series": f"loadorch_db_queries_total{{{run}}}", "values": "0+100x20"},
            {"series": f"loadorch_db_slow_queries_total{{{run}}}", "values": "0+0x10 0+2x10"},
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "LoadorchBudgetExceeded", "exp_alerts": []},
            {"eval_time": "4m30s", "alertname": "LoadorchBudgetExceeded", "exp_alerts": [{"exp_labels": {
                "severity": "warning", "profile": "p", "threshold": "db_query_slow rate<0.01"},
                "exp_annotations": notes}]},
        ],
    }]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    run_ = _promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert run_.returncode == 0, run_.stdout + run_.stderr


def test_a_run_both_scraped_and_pushed_is_counted_once(project: Project, tmp_path: Path) -> None:
    """The same series scraped (with the scrape's job) and pushed (without one): a throughput floor still
    fires (its rate summed over both read twice the real one), and one source's too few samples are not
    made enough by the other's copy."""
    tools.require("prometheus")
    thresholds = 'thresholds:\n  http_reqs: ["rate>1.5"]\n  "browser_web_vital_lcp{page:home}": ["p(75)<2500"]\n'
    project.write("scenarios/s.yaml", SCENARIO.split("thresholds:")[0] + thresholds)
    project.write("profiles/p.yaml", PROFILE.replace("min_samples: 4", "min_samples: 6"))
    assert project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s").code == 0
    rules = project.root / "rules.yml"
    assert _promtool("check", "rules", str(rules)).returncode == 0
    series = []
    for source in (',job="loadorch",instance="127.0.0.1:9464"', ""):  # scraped, pushed
        run = f'profile="p",run_id="r",scenario="s"{source}'
        series.append({"series": f'loadorch_http_requests_total{{{run},name="list"}}', "values": "0+15x20"})  # 1/s
        lcp = f'loadorch_browser_web_vital_lcp_seconds_{{part}}{{{{{run},page="home"{{le}}}}}}'
        series += [{"series": lcp.format(part="bucket", le=f',le="{le}"'), "values": f"0+{n}x20"}
                   for le, n in (("2.5", 0), ("5.0", 1), ("+Inf", 1))]  # one slow view a step: 4 a minute
        series.append({"series": lcp.format(part="count", le=""), "values": "0+1x20"})
    generated = {r["labels"]["threshold"]: r["annotations"]
                 for r in _budgets(rules.read_text())}
    floor = "http_reqs rate>1.5"
    notes = {k: v.replace("{{ $value }}", "1") for k, v in generated[floor].items()}
    expected = [{"exp_labels": {"severity": "warning", "profile": "p", "threshold": floor}, "exp_annotations": notes}]
    # 1 request/s (not 2) under its 1.5/s floor; 4 page views in the minute (not 8), under min_samples 6
    run = _rule_test(rules, series, "3m", expected, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_budget_promql_cannot_express_fires_on_the_monitors_own_verdict(project: Project, tmp_path: Path) -> None:
    """A check-only scenario's budgets (the share of checks that held, a max): no rule at all was written for
    them. Their rules read the running monitor's verdict: one alert while it says fail, whatever number of
    sources; none while it says inconclusive or pass."""
    tools.require("prometheus")
    project.write("scenarios/s.yaml", """
        name: s
        users:
          - name: api
            requests:
              - {name: health, path: /health, expect: {status: [200]}}
        thresholds:
          checks: ["rate>0.99"]
          http_req_duration: ["max<5000"]
        """)
    project.write("profiles/p.yaml", PROFILE.replace("{users: 2, duration: 1m}", "{arrival_rate: 0.2, duration: 1m}"))
    result = project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s")
    assert result.code == 0 and "checks rate>0.99: not in PromQL" in result.err, result.err
    rules = project.root / "rules.yml"
    check = _promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "SUCCESS: 4 rules found" in check.stdout, check.stdout + check.stderr
    series = []
    for source in (',job="loadorch",instance="127.0.0.1:9464"', ""):  # scraped and pushed
        for state, values in (("fail", "0x8 1x8"), ("inconclusive", "1x8 0x8"), ("pass", "0x16")):
            run = f'profile="p",run_id="mo",scenario="s"{source}'
            series.append({"series": f'loadorch_monitor_threshold_state{{{run},threshold="checks rate>0.99",'
                                     f'state="{state}"}}', "values": values})
            series.append({"series": f'loadorch_monitor_threshold_state{{{run},threshold="http_req_duration max<5000",'
                                     f'state="{"pass" if state == "fail" else state}"}}', "values": "1x16"})
    generated = {r["labels"]["threshold"]: r["annotations"]
                 for r in _budgets(rules.read_text())}
    failing = [{"exp_labels": {"severity": "warning", "profile": "p", "threshold": "checks rate>0.99"},
                "exp_annotations": generated["checks rate>0.99"]}]
    tests = {"rule_files": [str(rules)], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "1m", "alertname": "LoadorchBudgetExceeded", "exp_alerts": []},  # inconclusive
            {"eval_time": "3m", "alertname": "LoadorchBudgetExceeded", "exp_alerts": failing},
        ],
    }]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    run = _promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_monitor_that_cannot_judge_or_is_gone_fires_its_own_alert(project: Project, tmp_path: Path) -> None:
    """A monitor whose collector lost the database, or with too few samples, says no_data: every budget rule is
    silent then (an inconclusive run is not a fail), which read in Prometheus as every budget holding. Its own rule
    fires once its rolling window is full and it still says no_data (not during its normal start), and another one
    when no monitor of the profile reports at all (stopped, crashed, neither scraped nor pushed)."""
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    result = project.cli("alerts", "p", "--out", "rules.yml", "--tag", "env=staging")
    assert result.code == 0, result.err
    rules = project.root / "rules.yml"
    doc = yaml.safe_load(rules.read_text())["groups"][0]["rules"]
    notes = {r["alert"]: r["annotations"] for r in doc if r["alert"] != "LoadorchBudgetExceeded"}
    assert set(notes) == {"LoadorchMonitorCannotJudge", "LoadorchMonitorAbsent"}
    labels = {"severity": "warning", "profile": "p", "env": "staging"}
    run = 'profile="p",run_id="mo",scenario="s",env="staging"'
    # the monitor starts (no_data, window filling: 0-1m), judges (ok: 1m-3m), then loses its database (no_data
    # with a full window: from 3m), and stops reporting at 6m
    series = [
        {"series": f'loadorch_monitor_status{{{run},state="no_data"}}', "values": "1x3 0x8 1x12 stale"},
        {"series": f'loadorch_monitor_status{{{run},state="ok"}}', "values": "0x3 1x8 0x12 stale"},
        {"series": f'loadorch_monitor_window_full{{{run}}}', "values": "0x3 1x20 stale"},
        # another monitor (another env) saying no_data throughout: not this one's alert
        {"series": 'loadorch_monitor_status{profile="p",run_id="x",scenario="s",env="prod",state="no_data"}',
         "values": "1x40"},
        {"series": 'loadorch_monitor_window_full{profile="p",run_id="x",scenario="s",env="prod"}', "values": "1x40"},
    ]

    def fired(alert: str) -> list[dict[str, Any]]:
        return [{"exp_labels": labels, "exp_annotations": notes[alert]}]

    checks = [("30s", "LoadorchMonitorCannotJudge", []), ("2m", "LoadorchMonitorCannotJudge", []),
              ("4m", "LoadorchMonitorCannotJudge", fired("LoadorchMonitorCannotJudge")),
              ("4m", "LoadorchMonitorAbsent", []),
              ("6m30s", "LoadorchMonitorAbsent", []),  # absent, but for less than its `for` (1m)
              ("8m", "LoadorchMonitorAbsent", fired("LoadorchMonitorAbsent")),
              ("8m", "LoadorchMonitorCannotJudge", [])]
    tests = {"rule_files": [str(rules)], "evaluation_interval": "15s", "tests": [{
        "interval": "15s", "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": exp} for at, name, exp in checks],
    }]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    ran = _promtool("test", "rules", str(tmp_path / "tests.yml"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    tests["tests"][0]["alert_rule_test"][1]["exp_alerts"] = fired("LoadorchMonitorCannotJudge")  # its start: silent
    (tmp_path / "wrong.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert _promtool("test", "rules", str(tmp_path / "wrong.yml")).returncode != 0


def test_alerts_out_makes_its_folder_and_says_what_it_cannot_write(project: Project) -> None:
    """`--out rules/loadorch.yml` in a checkout without rules/ was an internal error (exit 5, a traceback's
    FileNotFoundError); a folder at the path likewise."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE)
    made = project.cli("alerts", "p", "--out", "rules/loadorch.yml")
    assert made.code == 0, made.err
    assert yaml.safe_load((project.root / "rules" / "loadorch.yml").read_text())["groups"][0]["rules"]
    (project.root / "taken").mkdir()
    refused = project.cli("alerts", "p", "--out", "taken")
    assert_no_traceback(refused)
    assert refused.code == 2 and "--out 'taken': cannot write the rules there" in refused.err, refused.err
    assert "internal error" not in refused.err and not (project.root / "taken.tmp").exists()


def _exposed(limits: list[tuple[str, float]], latencies_us: list[int]) -> list[dict[str, str]]:
    """The HTTP latency series a run exposes (metrics/families.py, with the plan's edges for `limits`) after each
    15 s step recorded `latencies_us` again, as promtool input series."""
    from loadorch.metrics.families import flatten, request_families
    from loadorch.metrics.names import edges_us, latency_limits_ms
    from loadorch.stats.tables import Merged, Recorder, SeriesKey

    edges = edges_us(latency_limits_ms(limits))
    recorder = Recorder(1.0, 0.0, edges)
    for us in latencies_us:
        recorder.record(SeriesKey("api", "list", "read", "GET", 200, True), us, 0.0)
    merged = Merged()
    merged.add_delta(0, recorder.take_delta())
    out = []
    for labels, value in flatten(request_families(("r", "p", "s"), merged, edges)):
        name = labels.pop("__name__")
        if name.startswith("loadorch_http_request_duration_seconds_") and not name.endswith("_sum"):
            matchers = ",".join(f'{k}="{v}"' for k, v in labels.items())
            out.append({"series": f"{name}{{{matchers}}}", "values": f"0+{value:g}x20"})
    return out


@pytest.mark.parametrize("latency_s, fires", [(50.0, True), (30.0, True), (15.0, False)])
def test_a_limit_past_every_usual_edge_is_still_crossed_in_promql(project: Project, tmp_path: Path,
                                                                   latency_s: float, fires: bool) -> None:
    """p(99)<20000: 20 s was the largest edge of the exposed histogram, and histogram_quantile reads a quantile
    in the +Inf bucket as the largest edge, 20, never past it: the rule stayed silent with every request at 30 or 50 s."""
    tools.require("prometheus")
    project.write("scenarios/s.yaml", SCENARIO.split("browsers:")[0]
                  + 'thresholds:\n  http_req_duration: ["p(99)<20000"]\n')
    project.write("profiles/p.yaml", PROFILE)
    assert project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s").code == 0
    rules = project.root / "rules.yml"
    series = _exposed([("http_req_duration", 20000.0)], [round(latency_s * 1e6)] * 10)
    [generated] = _budgets(rules.read_text())
    threshold = "http_req_duration p(99)<20000"
    # the quantile read between 20 s and the edge past it (interpolated), or that edge when past every edge
    shown = {50.0: "40s", 30.0: "39.8s"}.get(latency_s, "")
    notes = {k: re.sub(r"\{\{ \$value[^}]*\}\}", shown, v) for k, v in generated["annotations"].items()}
    expected = [{"exp_labels": {"severity": "warning", "profile": "p", "threshold": threshold},
                 "exp_annotations": notes}] if fires else []
    run = _rule_test(rules, series, "3m", expected, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_names_and_tags_that_look_like_templates_are_kept_as_written(project: Project, tmp_path: Path) -> None:
    """Prometheus expands an alert's labels and annotations as Go templates: an endpoint named the Postman way
    (`get {{id}}`) made a rules file promtool rejects (`function "id" not defined`), and a page or a --tag value
    holding a valid action (`{{ .Page }}`) was rewritten when the alert fired. Every name shows as written."""
    tools.require("prometheus")
    project.write("scenarios/s.yaml", """
        name: s
        users:
          - name: api
            requests:
              - {name: "get {{id}}", path: /products/1}
        browsers:
          - name: shopper
            journey:
              - {visit: /shop, name: "{{ .Page }}"}
        thresholds:
          "http_req_failed{name:get {{id}}}": ["rate<0.1"]
          "browser_web_vital_lcp{page:{{ .Page }}}": ["p(75)<2500"]
        """)
    project.write("profiles/p.yaml", PROFILE)
    tag = '{{ "x" }}{{{'
    result = project.cli("alerts", "p", "--out", "rules.yml", "--for", "0s", "--tag", f"env={tag}")
    assert result.code == 0, result.err
    rules = project.root / "rules.yml"
    check = _promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "SUCCESS: 4 rules found" in check.stdout, check.stdout + check.stderr
    threshold = "http_req_failed{name:get {{id}}} rate<0.1"
    labels = f'profile="p",name="get {{{{id}}}}",run_id="r",env="{tag}"'.replace('"x"', '\\"x\\"')
    series = [{"series": f"loadorch_http_requests_total{{{labels}}}", "values": "0+10x20"},
              {"series": f"loadorch_http_failures_total{{{labels}}}", "values": "0+5x20"}]
    fired = [{"exp_labels": {"severity": "warning", "profile": "p", "env": tag, "threshold": threshold},
              "exp_annotations": {
                  "summary": f"p: {threshold} fails over the last 1m",
                  "description": f"loadorch budget {threshold} of profile p, judged over a rolling 1m window (at "
                                 "least 4 samples); observed 0.5"}}]
    run = _rule_test(rules, series, "3m", fired, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("window", ["0.0004", "400ms"])
def test_a_window_under_a_second_is_refused_before_any_rule_is_written(project: Project, window: str) -> None:
    """`monitor: {window: 0.0004}` validated, and its rules read `[0s]`, which promtool rejects ("duration must be
    greater than 0"); a window under the second the monitor judges in is refused with the fix, in the profile
    and as --window."""
    project.write("scenarios/s.yaml", SCENARIO)
    project.write("profiles/p.yaml", PROFILE.replace("window: 1m", f"window: {window}, status_every: 0.0001"))
    for command in ("validate", "alerts"):
        result = project.cli(command, "p", "--out", "rules.yml") if command == "alerts" else project.cli(command)
        assert result.code == 3, result.out + result.err
        assert "profiles/p.yaml:5: monitor.window: must be at least 1s" in result.err, result.err
    assert not (project.root / "rules.yml").exists()
    project.write("profiles/p.yaml", PROFILE)
    flag = project.cli("alerts", "p", "--window", window)
    assert flag.code == 2 and "--window: must be at least 1s" in flag.err, flag.err


def test_a_secret_in_a_tag_or_a_threshold_is_masked_as_the_monitors_series_have_it(project: Project,
                                                                                      tmp_path: Path) -> None:
    """The monitor's master masks the run's secrets in every label value it exports (a `--tag` value, a request name
    in a threshold's selector): the rules wrote them as given, a secret in the rules file (and on its terminal), and
    selected series the monitor never exports, so they never fired. They are masked alike: none is written, and
    the rule fires on the monitor's (masked) series."""
    tools.require("prometheus")
    secret = "Tok-alerts-canary-77"
    project.write("scenarios/s.yaml", f"""
        name: s
        users:
          - name: api
            requests:
              - {{name: "list {secret}", path: /products}}
        thresholds:
          "http_req_failed{{name:list {secret}}}": ["rate<0.1"]
          "http_req_duration{{name:list {secret}}}": ["max<5000"]
        """)
    project.write("profiles/p.yaml", PROFILE + 'headers: {X-Shop-Key: "${SHOP_KEY}"}\nsecrets: [SHOP_KEY]\n')
    result = project.run("alerts", "p", "--tag", f"env={secret}", "--out", "rules.yml", env={"SHOP_KEY": secret})
    assert result.code == 0, result.err
    rules = project.root / "rules.yml"
    text = rules.read_text()
    assert secret not in text + result.out + result.err, text
    assert 'env="***"' in text and 'name="list ***"' in text, text
    check = _promtool("check", "rules", str(rules))
    assert check.returncode == 0, check.stdout + check.stderr
    # the monitor's series as its master exports them (runtime/live.masked): the failure-rate rule fires on them
    labels = 'profile="p",env="***",name="list ***"'
    series = [{"series": f"loadorch_http_requests_total{{{labels}}}", "values": "0+10x20"},
              {"series": f"loadorch_http_failures_total{{{labels}}}", "values": "0+5x20"}]
    threshold = "http_req_failed{name:list ***} rate<0.1"
    [notes] = [r["annotations"] for r in _budgets(text)
               if r["labels"]["threshold"] == threshold]
    notes = {k: v.replace("{{ $value }}", "0.5") for k, v in notes.items()}
    fired = _rule_test(rules, series, "2m", [{"exp_labels": {
        "severity": "warning", "profile": "p", "env": "***", "threshold": threshold}, "exp_annotations": notes}],
        tmp_path)
    assert fired.returncode == 0, fired.stdout + fired.stderr
