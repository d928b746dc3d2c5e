"""Browser users, pure parts: the scenario model, thresholds and defaults, journeys and their seeds, the
vitals' histograms and verdicts, Lighthouse results, the network guard, the report and the manifests."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from loadorch.browser.guard import HostGuard
from loadorch.browser.journey import Journey, allocate_pages, page_random
from loadorch.browser.lighthouse import LighthouseError, expand, parse
from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.browser.verdict import evaluate_browser
from loadorch.config.resolve import build, default_thresholds, load_scenario
from loadorch.config.thresholds import Threshold, ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.errors import ConfigError
from loadorch.report.browser import markdown_section
from loadorch.report.summary import threshold_rows
from loadorch.results import Browser, ThresholdRow
from loadorch.traffic import data as gen

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "lighthouse" / "lhr-shop.json"

SCENARIO = """
name: shop
data:
  category: {choice: [books, games, toys]}
  sku: {pattern: "SKU-####"}
users:
  - name: api
    requests:
      - {name: list, path: /products}
browsers:
  - name: shopper
    pages: 3
    journey:
      - {visit: "/shop?category={category}", name: home}
      - {click: "#add-to-cart"}
      - {type: {selector: "#q", text: "{sku}"}}
      - {press: Enter}
      - {wait_for: "#echo"}
      - {visit: /cart, name: cart}
"""


def write(tmp_path: Path, scenario: str, profile: str = "") -> Path:
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "profiles").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "s.yaml").write_text(textwrap.dedent(scenario).lstrip())
    (tmp_path / "profiles" / "p.yaml").write_text(
        "scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\nload: {users: 2, duration: 5s}\n"
        + textwrap.dedent(profile)
    )
    return tmp_path / "scenarios" / "s.yaml"


def problems(tmp_path: Path, scenario: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_scenario(str(write(tmp_path, scenario)), {})
    return [str(p) for p in info.value.problems]


def test_a_browser_scenario_loads(tmp_path: Path) -> None:
    loaded, _ = load_scenario(str(write(tmp_path, SCENARIO)), {})
    spec = loaded.model.browsers[0]
    assert spec.pages == 3 and spec.interacts and spec.page_names() == ["cart", "home"]


@pytest.mark.parametrize(
    ("journey", "line", "field", "message"),
    [
        ('      - {visit: /a, click: "#b"}\n', 13, "browsers[0].journey[0]", "exactly one of visit, click"),
        ('      - {click: "#b"}\n', 10, "browsers[0]", "starts with a visit"),
        ('      - {visit: "/p/{nope}"}\n', 13, "browsers[0].journey[0].visit", "unknown placeholder {nope}"),
        ("      - {visit: shop}\n", 13, "browsers[0].journey[0]", "starting with '/'"),
        ("      - {visit: /a, wait: 2s}\n", 13, "browsers[0].journey[0].wait", "did you mean 'wait_for'"),
        ("      - {visit: /a}\n      - {press: Enterr}\n", 14, "browsers[0].journey[1]", "key name"),
    ],
)
def test_journey_errors_point_at_file_line_and_field(
    tmp_path: Path, journey: str, line: int, field: str, message: str
) -> None:
    scenario = SCENARIO.split("    journey:\n")[0] + "    journey:\n" + journey
    found = problems(tmp_path, scenario)
    assert any(f"s.yaml:{line}: {field}" in p and message in p for p in found), found


def test_threshold_tags_depend_on_the_metric() -> None:
    assert parse_selector("browser_web_vital_lcp{page:home}").tags == (("page", "home"),)
    assert parse_selector("lighthouse_audit{id:largest-contentful-paint}").metric == "lighthouse_audit"
    with pytest.raises(ThresholdSyntaxError, match=r"unknown tag 'kind'.*has tags page, user"):
        parse_selector("browser_web_vital_cls{kind:read}")
    with pytest.raises(ThresholdSyntaxError, match="did you mean 'browser_web_vital_inp'"):
        parse_selector("browser_web_vital_inpp")
    with pytest.raises(ThresholdSyntaxError, match="has no aggregation rate"):
        parse_expression("rate<0.1", "browser_web_vital_cls")


def test_an_unknown_page_in_a_threshold_is_a_config_error_with_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, SCENARIO + 'thresholds:\n  "browser_web_vital_lcp{page:hom}": ["p(75)<2500"]\n')
    assert any("did you mean 'home'" in p for p in found), found


def test_web_vital_defaults_apply_only_with_browser_users(tmp_path: Path) -> None:
    loaded, _ = load_scenario(str(write(tmp_path, SCENARIO)), {})
    chosen = {str(t.selector): str(t.expression) for items in default_thresholds(loaded.model).values() for t in items}
    assert chosen["browser_web_vital_lcp"] == "p(75)<2500"
    assert chosen["browser_web_vital_cls"] == "p(75)<0.1"
    assert chosen["browser_web_vital_inp"] == "p(75)<200"
    passive = SCENARIO.split("      - {click")[0] + "      - {visit: /cart, name: cart}\n"
    loaded, _ = load_scenario(str(write(tmp_path, passive)), {})
    chosen = {str(t.selector) for items in default_thresholds(loaded.model).values() for t in items}
    assert "browser_web_vital_lcp" in chosen and "browser_web_vital_inp" not in chosen  # no input: no INP
    http_only = SCENARIO.split("browsers:")[0]
    loaded, _ = load_scenario(str(write(tmp_path, http_only)), {})
    assert not any(k.startswith("browser_") for k in default_thresholds(loaded.model))


def _actions(tmp_path: Path, seed: int, page: int, iterations: int = 3) -> list[tuple[str, str, str | None]]:
    loaded, _ = load_scenario(str(write(tmp_path, SCENARIO)), {})
    spec = loaded.model.browsers[0]
    journey = Journey(spec, loaded.generators)
    rng, state = page_random(seed, spec.name, page), gen.DrawState(page, spec.pages)
    return [(a.action, a.target, a.text) for i in range(iterations) for a in journey.iteration(rng, state, i)]


def test_the_same_seed_gives_the_same_journey(tmp_path: Path) -> None:
    first = _actions(tmp_path, 7, 0)
    assert first == _actions(tmp_path, 7, 0)
    assert first != _actions(tmp_path, 8, 0) and first != _actions(tmp_path, 7, 1)
    assert first[0][0] == "visit" and first[0][1].startswith("/shop?category=")
    assert first[2][0] == "type" and first[2][2] is not None and first[2][2].startswith("SKU-")


def test_pages_spread_over_browser_workers(tmp_path: Path) -> None:
    loaded, _ = load_scenario(str(write(tmp_path, SCENARIO)), {})
    slots = allocate_pages(loaded.model.browsers, 2)
    assert [(s.page, s.worker) for s in slots] == [(0, 0), (1, 1), (2, 0)]


def _threshold(selector: str, expression: str) -> Threshold:
    sel = parse_selector(selector)
    return Threshold(sel, parse_expression(expression, sel.metric))


def test_cls_is_kept_in_millionths_and_shown_unitless() -> None:
    stats = BrowserStats()
    for cls in (0.0, 0.05, 0.087, 0.087):
        stats.record_view("shopper", "home", 1.0, {"lcp": 900.0, "cls": cls, "ttfb": 20.0, "fcp": 300.0})
    result = evaluate_browser(_threshold("browser_web_vital_cls{page:home}", "p(75)<0.1"), stats, 4)
    assert result.verdict == "pass" and result.observed == pytest.approx(0.087, abs=1e-4) and result.unit == ""
    assert threshold_rows([ThresholdRow.model_validate(result.to_json())])[0][3] == "0.087"
    doc = browser_results(stats)
    assert doc.pages["home"].vitals["cls"].p75 == pytest.approx(0.087, abs=1e-4)
    assert "0.087" in "\n".join(markdown_section(Browser.model_validate(doc)))


def test_too_few_page_views_is_inconclusive_and_none_is_a_failure() -> None:
    stats = BrowserStats()
    stats.record_view("shopper", "home", 1.0, {"lcp": 900.0, "cls": 0.0})
    few = evaluate_browser(_threshold("browser_web_vital_lcp", "p(75)<2500"), stats, 5)
    assert few.verdict == "inconclusive" and "needs at least 5 samples, got 1" in few.message
    none = evaluate_browser(_threshold("browser_web_vital_inp", "p(75)<200"), stats, 1)
    assert none.verdict == "fail" and none.observed is None and "no data" in none.message


def test_a_view_without_a_paint_or_an_interaction_has_no_cls_or_inp() -> None:
    """As web-vitals: CLS only once the page painted, INP only with an interaction; 0 there is a sample, not none."""
    from loadorch.browser.worker import view_values

    never_painted = view_values({"ttfb": 12.0, "lcp": None, "fcp": None, "cls": 0, "inp": None, "interactions": 0})
    assert never_painted == {"ttfb": 12.0, "lcp": None, "fcp": None, "cls": None, "inp": None}
    painted = view_values({"ttfb": 12.0, "lcp": 90, "fcp": 80, "cls": 0, "inp": 0, "interactions": 0})
    assert painted == {"ttfb": 12.0, "lcp": 90.0, "fcp": 80.0, "cls": 0.0, "inp": None}
    assert view_values({"fcp": 80, "cls": 0.2, "inp": 24, "interactions": 1})["inp"] == 24.0


def test_failed_steps_are_a_rate_and_are_named() -> None:
    stats = BrowserStats()
    for _ in range(9):
        stats.record_step("shopper", "home", "step 2 (click #add-to-cart)", None)
    stats.record_step("shopper", "home", "step 2 (click #add-to-cart)", "step 2 (click #add-to-cart): no element")
    result = evaluate_browser(_threshold("browser_step_failed{page:home}", "rate<0.05"), stats, 5)
    assert result.verdict == "fail" and result.observed == pytest.approx(0.1)
    assert browser_results(stats).failures[0].step == "step 2 (click #add-to-cart)"


def test_browser_stats_merge_and_round_trip() -> None:
    a, b = BrowserStats(), BrowserStats()
    a.record_view("s", "home", 0.5, {"lcp": 1000.0})
    b.record_view("s", "home", 1.5, {"lcp": 3000.0})
    b.record_blocked("home", "http://tracker.invalid/p.gif")
    merged = BrowserStats.from_json(json.loads(json.dumps(a.merge(b).to_json())))
    assert merged.select("browser_web_vital_lcp").count == 2 and merged.views == 2
    assert merged.blocked == {("home", "http://tracker.invalid/p.gif"): 1}
    assert sorted(i for _, _, i in merged.intervals) == [0, 1]


def test_vitals_over_time_stay_bounded_in_a_long_run_with_exact_counts() -> None:
    # two hours of one view a second per page: the per-second timeline would hold 7,200 slots a vital
    stats = BrowserStats()
    for second in range(7200):
        for page in ("home", "cart"):
            stats.record_view("s", page, second + 0.5, {"lcp": 1000.0 + second % 97, "cls": 0.01})
    slots = {i for _, _, i in stats.intervals}
    assert stats.interval_s == 16.0 and max(slots) < 720 and len(slots) == 450
    lcp_home = [h for (m, p, _), h in stats.intervals.items() if m == "browser_web_vital_lcp" and p == "home"]
    assert sum(h.count for h in lcp_home) == 7200 and all(h.count == 16 for h in lcp_home)
    # the run's own histograms are untouched: every view is in them
    assert stats.select("browser_web_vital_lcp").count == 14400
    doc = browser_results(stats)
    assert {row.t_s for row in doc.timeseries} == {16.0 * i for i in range(450)}


def test_merging_vitals_timelines_of_different_slot_lengths_keeps_every_view_in_its_time() -> None:
    long_run, short_run = BrowserStats(), BrowserStats()
    for second in range(1500):  # past 720 s: 2 s slots
        long_run.record_view("s", "home", float(second), {"lcp": 1000.0})
    short_run.record_view("s", "home", 1001.0, {"lcp": 2000.0})
    for a, b in ((long_run, short_run), (short_run, long_run)):
        merged = BrowserStats.from_json(json.loads(json.dumps(a.to_json()))).merge(BrowserStats.from_json(b.to_json()))
        assert merged.interval_s == 4.0
        lcp = {i: h for (m, _, i), h in merged.intervals.items() if m == "browser_web_vital_lcp"}
        assert sum(h.count for h in lcp.values()) == 1501
        assert lcp[1001 // 4].count == 5 and lcp[1001 // 4].max == 2_000_000


def test_lighthouse_result_from_the_documented_format() -> None:
    samples = parse(json.loads(FIXTURE.read_text()), str(FIXTURE))
    values = {(s.metric, s.value_of): s.value for s in samples}
    assert values[("lighthouse_audit", "largest-contentful-paint")] == 2310.8
    assert values[("lighthouse_audit", "cumulative-layout-shift")] == 0.062
    assert values[("lighthouse_score", "performance")] == 0.82
    assert ("lighthouse_audit", "diagnostics") not in values  # informative: no numericValue
    stats = BrowserStats()
    for s in samples:
        stats.record(s.metric, {s.tag: s.value_of}, s.value)
    lcp = evaluate_browser(_threshold("lighthouse_audit{id:largest-contentful-paint}", "max<2500"), stats, 100)
    score = evaluate_browser(_threshold("lighthouse_score{category:performance}", "min>=0.9"), stats, 100)
    assert (lcp.verdict, score.verdict) == ("pass", "fail")  # min_samples does not apply to Lighthouse files


@pytest.mark.parametrize(
    ("cls", "expression", "verdict"),
    [
        (0.0996, "max<0.1", "pass"),  # rounded to thousandths it was 0.1: failed
        (0.1004, "max<=0.1", "fail"),  # rounded, 0.1: passed
        (0.0996, "med<0.1", "pass"),
        (0.1004, "p(75)<=0.1", "fail"),
        (0.1, "max<0.1", "fail"),
    ],
)
def test_lighthouse_values_are_gated_unrounded(tmp_path: Path, cls: float, expression: str, verdict: str) -> None:
    from loadorch.browser.lighthouse import load, record

    doc = json.loads(FIXTURE.read_text())
    doc["audits"]["cumulative-layout-shift"]["numericValue"] = cls
    doc["audits"]["largest-contentful-paint"]["numericValue"] = 2499.9996
    (tmp_path / "lhr.json").write_text(json.dumps(doc))
    stats = BrowserStats()
    record(stats, load(["lhr.json"], str(tmp_path)))
    result = evaluate_browser(_threshold("lighthouse_audit{id:cumulative-layout-shift}", expression), stats, 100)
    assert (result.verdict, result.observed) == (verdict, cls), result.message
    lcp = evaluate_browser(_threshold("lighthouse_audit{id:largest-contentful-paint}", "max<2500"), stats, 100)
    assert (lcp.verdict, lcp.observed) == ("pass", 2499.9996), lcp.message
    # what results.json shows is the value gated, and it survives the trip through results.json
    shown = browser_results(stats).lighthouse["lighthouse_audit{id:cumulative-layout-shift}"]
    assert shown.max == shown.p75 == cls
    again = BrowserStats.from_json(json.loads(json.dumps(stats.to_json())))
    assert evaluate_browser(_threshold("lighthouse_audit{id:cumulative-layout-shift}", expression), again, 1).observed == cls


def test_bad_lighthouse_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(LighthouseError, match="not a Lighthouse result"):
        parse({"categories": {}}, "x.json")
    with pytest.raises(LighthouseError, match="could not measure the page: timed out"):
        parse({"audits": {}, "runtimeError": {"code": "PAGE_HUNG", "message": "timed out"}}, "x.json")
    with pytest.raises(LighthouseError, match="matches no file"):
        expand([".lighthouseci/lhr-*.json"], str(tmp_path))
    write(tmp_path, SCENARIO, "lighthouse: [missing.json]\n")
    with pytest.raises(ConfigError, match=r"p.yaml:4: lighthouse: no Lighthouse result file 'missing.json'"):
        build("p", str(tmp_path), {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"audits": {"resource-summary": {"details": [1]}}, "categories": {}}', None),  # no rows, no error
        ('{"audits": {}, "categories": [{"id": "performance", "score": 0.5}]}', "`categories` is not an object"),
        ('{"lighthouseVersion": "2.9.4", "audits": {}, "reportCategories": [{"id": "performance", "score": 80}]}',
         "a Lighthouse 2.9.4 result .* run Lighthouse 3 or later"),
        ('{"audits": ' + "[" * 100_000 + "]" * 100_000 + "}", "cannot read lhr.json as JSON: nested too deeply"),
    ],
)
def test_malformed_or_old_lighthouse_files_are_configuration_errors(
    tmp_path: Path, text: str, message: str | None
) -> None:
    """A file shaped like no Lighthouse result read (malformed, or of Lighthouse 2) is named with the fix, as a
    configuration error before any load: it was an internal error (AttributeError, RecursionError) or, for
    Lighthouse 2, no sample at all."""
    write(tmp_path, SCENARIO, "lighthouse: [lhr.json]\n")
    (tmp_path / "profiles" / "lhr.json").write_text(text)
    if message is None:
        build("p", str(tmp_path), {})
        return
    with pytest.raises(ConfigError, match=r"p.yaml:4: lighthouse: .*" + message):
        build("p", str(tmp_path), {})


def test_network_guard_follows_allowed_hosts() -> None:
    loopback = HostGuard([], "http://127.0.0.1:8000")
    assert loopback.allows("http://127.0.0.1:8000/shop") and loopback.allows("http://localhost:9/x")
    assert not loopback.allows("http://tracker.invalid/pixel.gif")  # refused without a DNS lookup
    assert loopback.allows("data:image/png;base64,AAAA") and not loopback.allows("ftp://127.0.0.1/x")
    named = HostGuard(["*.staging.example.com", "127.0.0.0/8"], "https://shop.staging.example.com")
    assert named.allows("https://shop.staging.example.com/cart")  # the target passed the preflight
    assert not named.allows("https://cdn.other.example/app.js")


def test_browser_workers_get_their_own_indexed_job() -> None:
    from loadorch.k8s.manifests import BROWSER_PORT, RenderInput, browser_image, render

    inp = RenderInput("shop", {"profile.yaml": "x", "scenario.yaml": "y"}, [], 2, "reg/loadorch:0.1.0", None, 600,
                      "t", browser_workers=3)
    manifests = render(inp)
    jobs = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Job"}
    browsers = jobs["loadorch-shop-run-browsers"]
    assert browsers["spec"]["completionMode"] == "Indexed" and browsers["spec"]["completions"] == 3
    container = browsers["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reg/loadorch:0.1.0-browser" and container["args"][:2] == ["-m", "loadorch.browser"]
    assert container["command"] == ["python3"]
    assert jobs["loadorch-shop-run-workers"]["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/loadorch:0.1.0"
    service = next(m for m in manifests if m["kind"] == "Service")
    assert {"name": "browser", "port": BROWSER_PORT, "targetPort": BROWSER_PORT} in service["spec"]["ports"]
    assert browser_image("loadorch") == "loadorch:browser"
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for manifest in manifests:
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    assert not any(m["metadata"]["name"].endswith("-browsers") for m in render(RenderInput(
        "shop", {"profile.yaml": "x"}, [], 1, "loadorch:1", None, 600, "t")))


def test_compare_flags_a_web_vital_regression_per_page() -> None:
    from loadorch.browser.compare import browser_rows
    from loadorch.verdict.compare import Budgets

    def doc(lcp: float, cls: float) -> Browser:
        stats = BrowserStats()
        for i in range(40):
            stats.record_view("s", "home", 1.0, {"lcp": lcp + i, "cls": cls})
        return Browser.model_validate(browser_results(stats))

    rows = {r.metric: r for r in browser_rows(doc(1000.0, 0.02), doc(3000.0, 0.02), Budgets())}
    assert rows["lcp p75"].verdict == "regression" and rows["lcp p75"].name == "home"
    assert rows["cls p75"].verdict == "same" and rows["cls p75"].current == pytest.approx(0.02, abs=1e-4)
    assert browser_rows(None, None, Budgets()) == []


def test_the_report_compares_p75_with_the_runs_own_budget() -> None:
    stats = BrowserStats()
    stats.record_view("s", "home", 1.0, {"lcp": 1800.0, "cls": 0.02})
    assert browser_results(stats).budgets_p75["lcp"] == 2500.0
    doc = browser_results(stats, [_threshold("browser_web_vital_lcp", "p(75)<1500")])
    assert doc.budgets_p75 == {"lcp": 1500.0, "cls": 0.1, "inp": 200.0}
    rows = markdown_section(Browser.model_validate(doc))
    assert any("1800 ms ✗" in line for line in rows) and any("1500 ms" in line for line in rows)


@pytest.mark.parametrize("keep_steps", [False, True])
def test_the_sink_holds_step_lines_only_for_the_steps_log(keep_steps: bool) -> None:
    import socket
    import time

    from loadorch.browser.sink import BrowserSink

    sink = BrowserSink("127.0.0.1", 0, "tok", 1.0, keep_steps=keep_steps)
    try:
        with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as conn:
            lines = [{"type": "hello", "token": "tok", "index": 0},
                     {"type": "step", "user": "s", "page_name": "home", "label": "step 1", "error": None},
                     # a worker clock a day ahead: the view is placed when it arrived, not a day later
                     {"type": "view", "user": "s", "page": "home", "at": time.time() + 86400, "values": {"lcp": 900}},
                     {"type": "done"}]
            conn.sendall("".join(json.dumps(x) + "\n" for x in lines).encode())
            assert _until(lambda: 0 in sink.done)
        # the step's outcome is counted either way; its line is kept only for browser-steps.jsonl
        assert sink.stats.steps == {("s", "home", "step 1"): [1, 0]}
        assert len(sink.steps_log) == (1 if keep_steps else 0)
        assert sink.stats.interval_s == 1.0 and [i for _, _, i in sink.stats.intervals] == [0]
    finally:
        sink.close()


def test_step_failure_reasons_are_bounded_per_step_with_exact_counts() -> None:
    from loadorch.browser.stats import MAX_STEP_REASONS, OTHER_STEP_REASONS

    a, b = BrowserStats(), BrowserStats()
    for n in range(50):  # a reason with an id in it: a new one per failure
        a.record_step("s", "home", "step 1", f"step 1: timeout waiting for /orders/{n}")
        b.record_step("s", "home", "step 1", f"step 1: timeout waiting for /orders/b{n}")
    b.record_step("s", "cart", "step 2", "no element")  # another step keeps its own reasons
    home = {reason: n for (_, page, _, reason), n in a.failures.items() if page == "home"}
    assert len(home) == MAX_STEP_REASONS + 1 and home[OTHER_STEP_REASONS] == 50 - MAX_STEP_REASONS
    a.merge(b)
    home = {reason: n for (_, page, _, reason), n in a.failures.items() if page == "home"}
    assert len(home) == MAX_STEP_REASONS + 1 and home[OTHER_STEP_REASONS] == 100 - MAX_STEP_REASONS
    assert sum(home.values()) == 100 and a.step_counts((("page", "home"),)) == (100, 100)
    assert a.failures[("s", "cart", "step 2", "no element")] == 1
    assert BrowserStats.from_json(json.loads(json.dumps(a.to_json()))).failures == a.failures


def _say(port: int, *lines: dict[str, object], reset: bool = False) -> None:
    import socket
    import struct

    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall("".join(json.dumps(x) + "\n" for x in lines).encode())
    if reset:  # a pod that died: the connection is reset, not closed
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _until(condition: Callable[[], bool]) -> bool:
    import time

    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def test_browser_pods_that_died_or_never_said_hello_do_not_keep_an_iterations_run_waiting(tmp_path: Path) -> None:
    """Kubernetes browser pods are not processes of ours: an iterations run ends once each pod said it is done,
    its connection ended (done or not: a crash), or, its connect timeout past, it never said hello."""
    from loadorch.browser.sink import BrowserSink
    from loadorch.run.browsers import all_finished
    from loadorch.run.processes import ProcessGroup

    group = ProcessGroup(str(tmp_path))  # no browser process of ours: pods
    sink = BrowserSink("127.0.0.1", 0, "tok", 1.0)
    try:
        hello = {"type": "hello", "token": "tok"}
        _say(sink.port, {**hello, "index": 0}, {"type": "done"})  # walked its journeys
        _say(sink.port, {**hello, "index": 1}, reset=True)  # died mid-run: reset, no done
        _say(sink.port, {"type": "hello", "token": "nope", "index": 2})  # not ours: refused, counts for no pod
        assert _until(lambda: sink.gone == {0, 1} and sink.rejected == 1), (sink.gone, sink.rejected)
        assert sink.done == {0} and not all_finished(group, sink, 4)  # pods 2 and 3: no word yet
        _say(sink.port, {**hello, "index": 3}, {"type": "view", "user": "s", "page": "home", "values": {}})
        assert _until(lambda: 3 in sink.gone)  # closed without done: it will walk nothing more
        assert not all_finished(group, sink, 4)  # pod 2 may still be starting, within its connect timeout
        assert all_finished(group, sink, 4, hello_due=True)  # past it: a pod that never said hello is not waited for
    finally:
        sink.close()


def test_stopping_waits_for_a_worker_whose_page_failed_until_its_other_pages_report(tmp_path: Path) -> None:
    """A page's error line is not the worker's end: its other pages walk on and send their last views at the
    stop. The stop waits for `done` (or the connection's end), so those views are counted."""
    import threading

    from loadorch.browser.sink import BrowserSink
    from loadorch.run.browsers import stop_workers
    from loadorch.run.processes import ProcessGroup

    group = ProcessGroup(str(tmp_path))  # a pod: not a process of ours
    sink = BrowserSink("127.0.0.1", 0, "tok", 1.0)
    import socket

    conn = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
    try:
        send = lambda *xs: conn.sendall("".join(json.dumps(x) + "\n" for x in xs).encode())  # noqa: E731
        send({"type": "hello", "token": "tok", "index": 0}, {"type": "error", "message": "page cart#1: no element"})
        assert _until(lambda: 0 in sink.errors)
        last = {"type": "view", "user": "s", "page": "home", "values": {"lcp": 900}}
        later = threading.Timer(0.5, send, args=(last, {"type": "done"}))
        later.start()
        stop_workers(group, sink, 1)
        with sink.lock:  # as the stop returned: the last view already counted
            done, views = set(sink.done), sink.stats.views
        later.join()
        assert done == {0} and views == 1
    finally:
        conn.close()
        sink.close()


def test_a_lighthouse_audit_threshold_without_its_audit_id_is_refused(tmp_path: Path) -> None:
    """`lighthouse_audit: ["max<1"]` took one maximum over every audit of the results, whatever their units (ms,
    bytes, a unitless shift): it passed or failed by which audit was largest. Refused with the fix."""
    http_only = SCENARIO.split("browsers:")[0]
    write(tmp_path, http_only + 'thresholds:\n  "lighthouse_audit": ["max<2500"]\n', "lighthouse: [lhr-shop.json]\n")
    shutil.copy(FIXTURE, tmp_path / "profiles" / "lhr-shop.json")
    with pytest.raises(ConfigError) as info:
        build("p", str(tmp_path), {})
    [problem] = info.value.problems
    assert str(problem).endswith("s.yaml:10: thresholds.lighthouse_audit: lighthouse_audit needs the audit it judges, "
                                 "e.g. lighthouse_audit{id:largest-contentful-paint}: audits have different units "
                                 "(ms, bytes, a count), so one limit over all of them means nothing"), problem
    write(tmp_path, http_only + 'thresholds:\n  "lighthouse_audit{id:largest-contentful-paint}": ["max<2500"]\n',
          "lighthouse: [lhr-shop.json]\n")
    build("p", str(tmp_path), {})  # with its audit: judged


def test_a_lighthouse_threshold_names_an_audit_or_category_the_results_hold(tmp_path: Path) -> None:
    """The profile's Lighthouse files are read when it is validated: a misspelt audit id or category made a
    threshold that validated and read no data in every run. Refused with the did-you-mean, in the scenario and in
    the profile; an informative audit (no numericValue) has no value to gate either."""
    http_only = SCENARIO.split("browsers:")[0]
    scenario = http_only + 'thresholds:\n  "lighthouse_audit{id:largest-contentfull-paint}": ["max<2500"]\n'
    write(tmp_path, scenario, "lighthouse: [lhr-shop.json]\n")
    shutil.copy(FIXTURE, tmp_path / "profiles" / "lhr-shop.json")
    with pytest.raises(ConfigError) as info:
        build("p", str(tmp_path), {})
    [problem] = info.value.problems
    assert str(problem).endswith("s.yaml:10: thresholds.lighthouse_audit{id:largest-contentfull-paint}: no Lighthouse "
                                 "result has audit 'largest-contentfull-paint' with a number; did you mean "
                                 "'largest-contentful-paint'?"), problem
    (tmp_path / "profiles" / "p.yaml").write_text((tmp_path / "profiles" / "p.yaml").read_text() + (
        'thresholds:\n  "lighthouse_score{category:perf}": ["min>0.9"]\n'
        '  "lighthouse_audit{id:diagnostics}": ["max<1"]\n'))
    (tmp_path / "scenarios" / "s.yaml").write_text(http_only)
    with pytest.raises(ConfigError) as info:
        build("p", str(tmp_path), {})
    shown = [str(p).split("/profiles/")[-1] for p in info.value.problems]
    assert shown == ["p.yaml:6: thresholds.lighthouse_score{category:perf}: no Lighthouse result has category 'perf' "
                     "with a number; known: performance",
                     "p.yaml:7: thresholds.lighthouse_audit{id:diagnostics}: no Lighthouse result has audit "
                     "'diagnostics' with a number; known: cumulative-layout-shift, first-contentful-paint, "
                     "largest-contentful-paint, server-response-time, total-blocking-time"], shown
    (tmp_path / "profiles" / "p.yaml").write_text("scenario: ../scenarios/s.yaml\nhost: http://127.0.0.1:8000\n"
        "load: {users: 2, duration: 5s}\nlighthouse: [lhr-shop.json]\nthresholds:\n"
        '  "lighthouse_score{category:performance}": ["min>0.9"]\n  "browser_resource_bytes{type:font}": ["max<1e6"]\n')
    build("p", str(tmp_path), {})  # what the results hold


def test_a_steps_timeout_of_zero_is_refused_not_read_as_the_browsers(tmp_path: Path) -> None:
    """`timeout: 0` on a step validated and meant the browser user's timeout (30 s by default): refused, as a
    browser user's and a request's timeout of 0 are."""
    write(tmp_path, SCENARIO.replace('{click: "#add-to-cart"}', '{click: "#add-to-cart", timeout: 0}'))
    with pytest.raises(ConfigError) as info:
        build("p", str(tmp_path), {})
    [problem] = info.value.problems
    assert "s.yaml:14: browsers[0].journey[1].timeout:" in str(problem) and "greater than 0" in str(problem), problem


@pytest.mark.parametrize(("stopping", "gone", "sent"), [
    (True, True, []),  # the run's end stopped the browser during the step: no step sent, failed or done
    (False, True, ["step 1 (wait_for #total): the browser is gone (the browser closed the DevTools connection)"]),
    (True, False, ["step 1 (wait_for #total): no visible element matches '#total' after 5s"]),
])
def test_a_step_the_runs_end_cut_short_is_not_a_failed_step(stopping: bool, gone: bool, sent: list[str]) -> None:
    """The run's end stops the browser workers' Chromium; a step still waiting then failed ("the browser is gone")
    and counted in browser_step_failed, so a gate on it could fail because the run ended. Such a step is now not
    sent at all (its page view is cut short, as views are). A browser that goes while the run goes on, or a step
    that fails while the run stops with its browser still there, are failed steps as before."""
    import random
    import threading
    from types import SimpleNamespace

    from loadorch.browser.journey import Action
    from loadorch.browser.page import StepError
    from loadorch.browser.worker import PageRunner
    from loadorch.traffic.redact import Redactor

    closed = "the browser closed the DevTools connection" if gone else None
    records: list[dict] = []

    class Page:
        crashed = False

        def warm_up(self, url: str, timeout: float) -> None:
            pass

        def wait_for(self, selector: str, timeout: float) -> None:
            if closed:
                raise StepError(f"the browser is gone ({closed})")
            raise StepError(f"no visible element matches {selector!r} after {timeout:g}s")

        def leave(self, cut: bool) -> None:
            pass

        def responsive(self, timeout: float) -> bool:
            return True

        def close(self) -> None:
            pass

    action = Action(1, "wait_for", "#total", None, None, 5.0, "step 1 (wait_for #total)")
    runner = PageRunner.__new__(PageRunner)  # what run() reads
    runner.conn = SimpleNamespace(closed=closed)  # type: ignore[assignment]
    runner.stop = threading.Event()
    if stopping:
        runner.stop.set()
    runner._over = lambda deadline: False  # type: ignore[method-assign]  # the step is under way when it stops
    runner._page = Page  # type: ignore[method-assign, assignment]
    runner.seed, runner.host, runner.iterations = 1, "http://127.0.0.1:1", 1
    runner.spec = SimpleNamespace(name="shopper", pages=1, timeout=5.0,
                                  think_time=SimpleNamespace(bounds=(0.0, 0.0)))  # type: ignore[assignment]
    runner.slot = SimpleNamespace(page=0)  # type: ignore[assignment]
    runner.journey = SimpleNamespace(warm_up_path="/", iteration=lambda rng, state, n: iter([action]))  # type: ignore[assignment]
    runner.reporter = SimpleNamespace(send=records.append)  # type: ignore[assignment]
    runner.rail = SimpleNamespace(close=lambda: None)  # type: ignore[assignment]
    runner.redactor = Redactor()
    runner.think = random.Random(1)
    runner.run(None)
    assert [r["error"] for r in records if r["type"] == "step"] == sent


def test_page_names_past_the_bound_are_counted_under_one_name() -> None:
    """A journey that clicks through to a new item each time names each view's page by its path (/item/1,
    /item/2, ...): every one was a page of its own, its series on /metrics and in a monitor's windows, without
    bound. Past MAX_PAGES (50) names the views count under OTHER_PAGES; a name kept stays kept."""
    stats = BrowserStats()
    stats.record_view("shopper", "home", 0.5, {"lcp": 800.0})
    for i in range(150):
        stats.record_view("shopper", f"/item/{i}", 1.0, {"lcp": 1000.0, "cls": 0.01})
        stats.record_view("shopper", "home", 1.0, {"lcp": 900.0})
    stats.record_cut("/item/never-seen")
    pages = {dict(tags)["page"] for _, tags in stats.series}
    assert len(pages) == 51, len(pages)  # without the bound: 151
    from loadorch.browser.stats import OTHER_PAGES

    assert OTHER_PAGES in pages and "home" in pages and "/item/48" in pages and "/item/49" not in pages
    assert stats.views == 301 and stats.folded == 101
    lcp = {dict(tags)["page"]: h.count for (metric, tags), h in stats.series.items() if metric.endswith("_lcp")}
    assert lcp["home"] == 151 and lcp[OTHER_PAGES] == 101  # every view counted
    assert stats.cut_short == {OTHER_PAGES: 1}
    assert len({p for _, p, _ in stats.intervals}) == 51
    for i in range(150):  # a step on each item's page: its table bounded as the views' is
        stats.record_step("shopper", f"/item/{i}", "click #buy", "timeout" if i % 2 else None)
    assert {page for _, page, _ in stats.steps} == {"/item/0", "/item/48", OTHER_PAGES} | {
        f"/item/{i}" for i in range(1, 48)}
    assert sum(ok + failed for ok, failed in stats.steps.values()) == 150


def test_the_browser_sink_closes_what_no_worker_sends_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink's port takes any local connection: one that said nothing held a thread for good (and every such
    connection one more), a line with no end was read whole into memory, and a JSON line that is no object was an
    AttributeError traceback on the run's terminal. Now: no hello in time closes it, at most MAX_UNGREETED wait at
    once, a line past MAX_LINE closes it unread, a line of another shape closes it (counted as rejected)."""
    import socket
    import threading

    from loadorch.browser import sink as sink_module
    from loadorch.browser.sink import MAX_LINE, BrowserSink

    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    MAX_UNGREETED = 8  # the bound (256) made small, so that a test opens a few connections past it
    monkeypatch.setattr(sink_module, "MAX_UNGREETED", MAX_UNGREETED)
    sink = BrowserSink("127.0.0.1", 0, "tok", 1.0)
    sink.hello_timeout_s = 1.0
    quiet = [socket.create_connection(("127.0.0.1", sink.port), timeout=5) for _ in range(MAX_UNGREETED + 4)]
    try:
        assert _until(lambda: sink.rejected == 4), sink.rejected  # past the bound: closed as they come
        assert _until(lambda: sink._ungreeted == MAX_UNGREETED)
        assert _until(lambda: sink._ungreeted == 0)  # none said hello within the timeout: all closed
        assert all(c.recv(1) == b"" for c in quiet)  # closed by the sink
        _say(sink.port, [1, 2])  # type: ignore[arg-type]  # JSON, not an object
        _say(sink.port, {"type": "hello", "token": "tok", "index": "zero"})
        assert _until(lambda: sink.rejected == 6), sink.rejected
        long = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
        try:
            long.sendall(b"x" * (MAX_LINE + 10))  # no end: read up to MAX_LINE + 1 bytes, then closed
            assert long.recv(1) == b""
        finally:
            long.close()
        good = {"type": "hello", "token": "tok", "index": 0}
        _say(sink.port, good, {"type": "view", "user": "s", "page": "home", "values": {"lcp": 900}}, {"type": "done"})
        assert _until(lambda: sink.done == {0} and sink.stats.views == 1)  # a worker is served as before
        assert raised == [], raised  # no thread ended in a traceback
    finally:
        for c in quiet:
            c.close()
        sink.close()


def test_a_blocked_url_and_a_step_error_show_no_credential_parameter() -> None:
    """A tracker's URL with a `?token=` the run never declared, and a step's error naming the visit's URL with a
    `?session=`, went whole into results.json, summary.md and browser-steps.jsonl (the page's evidence masked them)."""
    import threading
    from types import SimpleNamespace

    from loadorch.browser.journey import Action
    from loadorch.browser.worker import PageRunner
    from loadorch.traffic.redact import Redactor

    sent: list[dict] = []
    runner = PageRunner.__new__(PageRunner)
    runner.redactor = Redactor([])
    runner.reporter = SimpleNamespace(send=sent.append)  # type: ignore[assignment]
    runner.spec = SimpleNamespace(name="shopper")  # type: ignore[assignment]
    runner.slot = SimpleNamespace(page=0)  # type: ignore[assignment]
    runner.stop = threading.Event()
    runner._blocked("home", "https://tracker.test/p?token=tok-4f9a2b&x=1")
    action = Action(1, "visit", "/acct?session=s-77c1e0", None, "acct", 5.0, "step 1 (acct)")
    error = "step 1 (acct): navigation to http://127.0.0.1:1/acct?session=s-77c1e0 answered HTTP 500"
    sent.append(dict(runner._step_record(action, 0, "acct", error)))
    assert sent[0]["url"] == "https://tracker.test/p?token=***&x=1", sent[0]
    assert sent[1]["error"] == "step 1 (acct): navigation to http://127.0.0.1:1/acct?session=*** answered HTTP 500"
    unnamed = Action(1, "visit", "/acct?session=s-77c1e0", None, None, 5.0, "step 1 (visit /acct?session=s-77c1e0)")
    record = runner._step_record(unnamed, 0, "/acct", None)
    assert "s-77c1e0" not in json.dumps(record) and record["target"] == "/acct?session=***", record
