"""Lighthouse evidence, pure: what the result file that decided a gate says about why, read from LHR files
written from Lighthouse's documented result format (a 12-style and a 10-style one), bounded, masked, and
nothing (never an error) from a file that holds nothing documented."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from loadorch.browser.lighthouse_evidence import ROWS, for_gate
from loadorch.config.lighthouse import Sample, parse
from loadorch.config.thresholds import Threshold, parse_expression, parse_selector
from loadorch.report.evidence import SHORT_CHARS, SHORT_LINES, Evidence, short_text
from loadorch.report.evidence_lighthouse import html, markdown
from loadorch.results import LighthouseEvidence
from loadorch.traffic.redact import Redactor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lighthouse"
SECRETS = ("SECRETTOKEN123", "SECRETSESSION9", "SECRETKEY77", "SECRETSIG42")


def _doc(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _gate(selector: str, expression: str, docs: dict[str, Any], redactor: Redactor | None = None,
          observed: float | None = None) -> LighthouseEvidence | None:
    sel = parse_selector(selector)
    t = Threshold(sel, parse_expression(expression, sel.metric))
    samples: list[Sample] = [s for path, doc in sorted(docs.items()) for s in parse(doc, path)]
    if observed is None:  # the gate's value: the worst file's, as `max` or `min` reads it
        mine = [s.value for s in samples if s.metric == sel.metric and s.value_of == dict(sel.tags).get(
            {"lighthouse_score": "category", "lighthouse_audit": "id"}.get(sel.metric, "type"))]
        observed = min(mine) if sel.metric == "lighthouse_score" else max(mine)
    return for_gate(t, observed, samples, docs.get, redactor or Redactor())


def _all_text(ev: LighthouseEvidence) -> str:
    return ev.model_dump_json() + short_text(Evidence(lighthouse=ev)) + "\n".join(markdown(ev)) + html(ev)


def test_lcp_gate_names_the_element_and_its_four_phases_12_style() -> None:
    ev = _gate("lighthouse_audit{id:largest-contentful-paint}", "max<2500", {"/r/lhr-1.json": _doc("lhr-v12-home.json")})
    assert ev is not None and ev.file == "lhr-1.json" and ev.value == pytest.approx(3400.2)
    assert ev.version == "12.8.1" and ev.display == "3.4 s"
    assert ev.lcp_element is not None and ev.lcp_element.selector == "main > div.hero > img.hero-image"
    assert ev.lcp_element.label == "Summer sale"
    assert ev.lcp_element.snippet.startswith('<img class="hero-image" src="/img/hero-summer.jpg?token=***" alt=')
    assert not any(s in _all_text(ev) for s in SECRETS)
    assert [(p.phase, p.ms) for p in ev.lcp_phases] == [
        ("TTFB", 612.0), ("Load Delay", 1240.5), ("Load Time", 980.7), ("Render Delay", 567.0)]
    assert sum(p.share or 0 for p in ev.lcp_phases) == pytest.approx(1.0, abs=0.01)
    short = short_text(Evidence(lighthouse=ev))
    assert "LCP element main > div.hero > img.hero-image" in short
    assert "TTFB 612 (18%) + Load Delay 1240 (36%)" in short and "Render Delay 567" in short


def test_lcp_gate_of_an_older_result_has_the_element_only() -> None:
    doc = _doc("lhr-v10-home.json")  # before Lighthouse 10 the details were one table, the element's
    element = doc["audits"]["largest-contentful-paint-element"]["details"]["items"][0]
    doc["audits"]["largest-contentful-paint-element"]["details"] = element
    ev = _gate("lighthouse_audit{id:largest-contentful-paint}", "max<2500", {"a.json": doc})
    assert ev is not None and ev.version == "10.4.0" and ev.value == pytest.approx(2980.5)
    assert ev.lcp_element is not None and ev.lcp_element.selector == "main > div.hero > img.hero-image"
    assert ev.lcp_phases == [] and ev.note is None


def test_cls_gate_lists_the_largest_shifts_with_their_causes_12_style() -> None:
    ev = _gate("lighthouse_audit{id:cumulative-layout-shift}", "max<0.1", {"a.json": _doc("lhr-v12-home.json")})
    assert ev is not None and [s.score for s in ev.shifts] == [0.142, 0.045]
    first = ev.shifts[0]
    assert first.element is not None and first.element.selector == "body > div.promo-banner"
    assert first.causes[0].startswith("Unsized image element (https://staging.example.com/img/promo.png?sig=***")
    assert "Web font loaded" in first.causes[1]
    assert "shift 0.142 of body > div.promo-banner" in short_text(Evidence(lighthouse=ev))


def test_cls_gate_of_a_10_style_result_reads_layout_shift_elements() -> None:
    ev = _gate("lighthouse_audit{id:cumulative-layout-shift}", "max<0.1", {"a.json": _doc("lhr-v10-home.json")})
    assert ev is not None and [s.score for s in ev.shifts] == [0.142, 0.045] and ev.shifts[0].causes == []
    assert ev.shifts[1].element is not None and ev.shifts[1].element.selector == "footer.site-footer"
    assert ev.page == "https://staging.example.com/shop?session=***"  # finalUrl, older results' name


@pytest.mark.parametrize("name", ["lhr-v12-home.json", "lhr-v10-home.json"])
def test_script_bytes_gate_lists_the_largest_scripts_masked(name: str) -> None:
    ev = _gate("browser_resource_bytes{type:script}", "max<300000", {name: _doc(name)})
    assert ev is not None and ev.value == 241337 + 98120 + 62660
    assert [(r.transfer, r.type) for r in ev.resources] == [(241337, "Script"), (98120, "Script"), (62660, "Script")]
    assert ev.resources[2].url == "https://cdn.tracker.example.net/t.js?key=***&v=3"
    text = _all_text(ev)
    assert not any(s in text for s in SECRETS)
    assert "resource 235.7 KiB Script https://staging.example.com/static/vendor.4f2a.js" in text


def test_other_third_party_and_total_weight_gates_pick_their_rows() -> None:
    docs = {"a.json": _doc("lhr-v12-home.json")}
    other = _gate("browser_resource_count{type:other}", "max<1", docs)
    assert other is not None and [r.url for r in other.resources] == ["https://staging.example.com/api/cart"]
    third = _gate("browser_resource_bytes{type:third-party}", "max<1000", docs)
    assert third is not None and [r.transfer for r in third.resources] == [62660, 35480]  # other entities
    total = _gate("lighthouse_audit{id:total-byte-weight}", "max<500000", docs)
    assert total is not None and len(total.resources) == ROWS and total.resources[0].transfer == 241337
    docs["a.json"]["audits"].pop("network-requests")  # total-byte-weight's own items stand in
    total = _gate("lighthouse_audit{id:total-byte-weight}", "max<500000", docs)
    assert total is not None and total.resources[0].url == "https://staging.example.com/static/vendor.4f2a.js"
    assert total.resources[0].type == "" and "SECRETTOKEN123" not in total.model_dump_json()


def test_score_gate_names_the_audits_that_lost_the_most_points() -> None:
    ev = _gate("lighthouse_score{category:performance}", "min>=0.9", {"a.json": _doc("lhr-v12-home.json")})
    assert ev is not None and ev.value == pytest.approx(0.54)
    # weight x (1 - score) of 100: TBT 30 x 0.65, LCP 25 x 0.58, CLS 25 x 0.39, FCP 10 x 0.22, SI 10 x 0.1
    assert [(a.audit, a.points) for a in ev.losses] == [
        ("total-blocking-time", 19.5), ("largest-contentful-paint", 14.5), ("cumulative-layout-shift", 9.8),
        ("first-contentful-paint", 2.2), ("speed-index", 1.0)]
    assert ev.losses[0].display == "610 ms" and ev.losses[0].title == "Total Blocking Time"
    short = short_text(Evidence(lighthouse=ev)).splitlines()
    assert short[1] == "audit total-blocking-time lost 19.5 points (score 0.35, weight 30): 610 ms"
    assert len(short) == 4  # the file's line and the first three audits


def test_several_files_name_the_one_that_decided() -> None:
    a, b, c = _doc("lhr-v12-home.json"), _doc("lhr-v12-home.json"), _doc("lhr-v10-home.json")
    b["audits"]["largest-contentful-paint"]["numericValue"] = 2100.0
    b["audits"]["largest-contentful-paint-element"]["details"]["items"][0]["items"][0]["node"]["selector"] = "h1"
    docs = {"/r/lhr-a.json": a, "/r/lhr-b.json": b, "/r/lhr-c.json": c}
    worst = _gate("lighthouse_audit{id:largest-contentful-paint}", "max<2500", docs)
    assert worst is not None and (worst.file, worst.files, worst.role) == ("lhr-a.json", 3, "at the gate's value")
    assert "lhr-a.json, at the gate's value of 3 result files" in short_text(Evidence(lighthouse=worst))
    median = _gate("lighthouse_audit{id:largest-contentful-paint}", "med<2500", docs, observed=2980.5)
    assert median is not None and median.file == "lhr-c.json" and median.value == pytest.approx(2980.5)
    mean = _gate("lighthouse_audit{id:largest-contentful-paint}", "avg<2500", docs, observed=2827.0)
    assert mean is not None and (mean.file, mean.role) == ("lhr-a.json", "worst")  # no file at an average
    low = _gate("lighthouse_score{category:performance}", "avg>0.9", docs, observed=0.6)
    assert low is not None and low.role == "worst" and low.value == pytest.approx(0.54)


def test_strings_are_cut_and_masked_by_the_runs_redactor() -> None:
    doc = _doc("lhr-v12-home.json")
    node = doc["audits"]["largest-contentful-paint-element"]["details"]["items"][0]["items"][0]["node"]
    node["selector"] = "div.x " * 400 + "RUNSECRET-abc"
    node["snippet"] = "<img src='/a?RUNSECRET-abc'>" + "y" * 5000
    doc["audits"]["network-requests"]["details"]["items"] = [
        {"url": f"https://u:pw@h.test/{i}.js?RUNSECRET-abc={'z' * 3000}", "transferSize": 1000 + i,
         "resourceType": "Script"} for i in range(50)]
    for selector in ("lighthouse_audit{id:largest-contentful-paint}", "browser_resource_bytes{type:script}"):
        ev = _gate(selector, "max<1", {"a.json": doc}, Redactor(["RUNSECRET-abc"]))
        assert ev is not None
        text = _all_text(ev)
        assert "RUNSECRET" not in text and "pw@" not in text and len(ev.resources) <= ROWS
        if ev.lcp_element is not None:
            assert len(ev.lcp_element.selector) <= 160 and len(ev.lcp_element.snippet) <= 200
        assert all(len(r.url) <= 500 for r in ev.resources)
        short = short_text(Evidence(lighthouse=ev)).splitlines()
        assert len(short) <= SHORT_LINES and all(len(line) <= SHORT_CHARS for line in short)


def test_a_snippets_url_shows_no_user_or_password() -> None:
    """An element's snippet is HTML holding URLs (`src`, `href`): a `user:password@` in one was shown whole in
    results.json, junit.xml, summary.md and report.html, while the same URL as a resource's showed `***@`."""
    doc = _doc("lhr-v12-home.json")
    node = doc["audits"]["largest-contentful-paint-element"]["details"]["items"][0]["items"][0]["node"]
    node["snippet"] = '<img src="https://viewer:Pw-S3cret99@cdn.test/hero.png" alt="x">'
    node["nodeLabel"] = "see https://bob:Lbl-S3cret77@h.test/a"
    ev = _gate("lighthouse_audit{id:largest-contentful-paint}", "max<2500", {"a.json": doc})
    assert ev is not None and ev.lcp_element is not None
    assert ev.lcp_element.snippet == '<img src="https://***@cdn.test/hero.png" alt="x">'
    text = _all_text(ev)
    assert "Pw-S3cret99" not in text and "Lbl-S3cret77" not in text and "viewer" not in text


BROKEN: list[tuple[str, Any]] = [
    ("largest-contentful-paint-element", None),
    ("largest-contentful-paint-element", {"details": {"type": "list", "items": [None, 3, {"type": "table"}]}}),
    ("largest-contentful-paint-element", {"details": {"items": [{"node": "x", "phase": 5, "timing": "slow"}]}}),
    ("layout-shifts", {"details": {"items": [{"score": "big", "node": []}, {"score": float("nan")}]}}),
    ("network-requests", {"details": {"items": "none"}}),
    ("network-requests", {"details": {"items": [{"url": 5, "transferSize": -1}, {"url": "x", "transferSize": True}]}}),
]


@pytest.mark.parametrize(("audit", "broken"), BROKEN)
def test_a_missing_or_malformed_audit_gives_no_rows_never_an_error(audit: str, broken: Any) -> None:
    doc = _doc("lhr-v12-home.json")
    doc["audits"].pop("layout-shift-elements", None)
    if broken is None:
        doc["audits"].pop(audit)
    else:
        doc["audits"][audit] = broken
    for selector in ("lighthouse_audit{id:largest-contentful-paint}", "lighthouse_audit{id:cumulative-layout-shift}",
                     "browser_resource_bytes{type:script}"):
        ev = _gate(selector, "max<0.001", {"a.json": doc})
        assert ev is not None and ev.file == "a.json"
        if audit in ("largest-contentful-paint-element", "layout-shifts", "network-requests") and not (
            ev.lcp_element or ev.lcp_phases or ev.shifts or ev.resources
        ):
            assert ev.note  # says what the result lacked
        short_text(Evidence(lighthouse=ev))


def test_an_unreadable_or_foreign_file_and_a_broken_category_give_nothing_or_no_rows() -> None:
    doc = _doc("lhr-v12-home.json")
    sel = parse_selector("lighthouse_audit{id:largest-contentful-paint}")
    t = Threshold(sel, parse_expression("max<2500", sel.metric))
    samples = parse(doc, "a.json")
    assert for_gate(t, 3400.2, samples, lambda path: None) is None  # gone or not JSON since the run read it
    assert for_gate(t, 3400.2, samples, lambda path: ["not", "a", "result"]) is None
    assert for_gate(t, 3400.2, samples, lambda path: {"audits": {"largest-contentful-paint-element": 7}}) is not None
    assert for_gate(t, None, samples, lambda path: doc) is None  # no value: nothing to explain
    bad = copy.deepcopy(doc)
    bad["categories"]["performance"]["auditRefs"] = [{"id": "total-blocking-time", "weight": "heavy"}, None, 4]
    ev = _gate("lighthouse_score{category:performance}", "min>=0.9", {"a.json": bad})
    assert ev is not None and ev.losses == [] and ev.note == "no audit of performance lost points"
    bad["categories"]["performance"]["auditRefs"] = {"not": "a list"}
    assert _gate("lighthouse_score{category:performance}", "min>=0.9", {"a.json": bad}) is not None


def test_results_json_reads_the_evidence_back_typed() -> None:
    ev = _gate("lighthouse_audit{id:largest-contentful-paint}", "max<2500", {"a.json": _doc("lhr-v12-home.json")})
    assert ev is not None
    back = Evidence.model_validate_json(Evidence(lighthouse=ev).model_dump_json())
    assert back.lighthouse == ev and back.lighthouse is not None and back.lighthouse.lcp_phases[0].phase == "TTFB"
