"""Browser evidence, pure: page weight from DevTools network events, the page's attribution checked and
bounded, the views kept per series, a gate's evidence, and the page-weight gates' grammar."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadorch.browser.evidence import _url, clean, for_gate
from loadorch.browser.exemplars import MAX_KEPT, Exemplar, PageEvidence, keep, pick
from loadorch.browser.stats import BrowserStats
from loadorch.browser.verdict import evaluate_browser
from loadorch.browser.weight import Weigher
from loadorch.config.lighthouse import parse
from loadorch.config.thresholds import Threshold, ThresholdSyntaxError, parse_expression, parse_selector
from loadorch.results import BrowserEvidence
from loadorch.traffic.redact import Redactor

SECRET = "CANARYtok-7f3a9"


def _threshold(selector: str, expression: str) -> Threshold:
    sel = parse_selector(selector)
    return Threshold(sel, parse_expression(expression, sel.metric))


def _request(rid: str, loader: str, url: str, kind: str, frame: str = "F") -> dict[str, Any]:
    return {"requestId": rid, "loaderId": loader, "frameId": frame, "type": kind, "request": {"url": url}}


def test_page_weight_counts_finished_requests_by_type_per_document() -> None:
    w = Weigher("F")
    w.request(_request("L1", "L1", "http://shop.test/shop", "Document"))
    w.request(_request("r1", "L1", "http://shop.test/app.js", "Script"))
    w.request(_request("r1", "L1", "http://shop.test/app.2.js", "Script"))  # a redirect: the same request
    w.request(_request("r2", "L1", "http://cdn.other.test/lib.js", "Script"))
    w.request(_request("r3", "L1", "http://shop.test/blocked.gif", "Image"))
    w.request(_request("f1", "L9", "http://frame.test/ad", "Document", frame="F2"))  # a frame's own document
    w.request(_request("r4", "L9", "http://frame.test/ad.js", "Script", frame="F2"))
    for rid, decoded in (("L1", 1500), ("r1", 90_000), ("r2", 40_000), ("r4", 5)):
        w.data({"requestId": rid, "dataLength": decoded})
    for rid, transfer in (("L1", 800), ("r1", 30_000), ("r2", 12_000), ("r4", 99)):
        w.finished({"requestId": rid, "encodedDataLength": transfer})
    w.failed({"requestId": "r3"})  # blocked: moved no bytes, not counted
    doc = w.take("L1")
    assert doc is not None
    types = doc["types"]
    assert types["document"] == [1, 800, 1500]
    assert types["script"] == [2, 42_000, 130_000]
    assert types["third-party"] == [1, 12_000, 40_000]
    assert types["image"] == [0, 0, 0] and types["total"] == [3, 42_800, 131_500]
    assert doc["largest"][0] == (30_000, 90_000, "script", "http://shop.test/app.2.js")
    assert (30_000 - 18_000, 40_000, "third-party", "http://cdn.other.test/lib.js") in doc["largest"]
    assert w.take("L1") is None and w.take("L9") is None  # taken once; the frame's document never counted


def test_a_redirected_document_weighs_its_own_host_as_first_party() -> None:
    """`visit: /` redirected to another host (http to https, the apex to www): the host is where the document
    landed, so its own requests are not third-party."""
    w = Weigher("F")
    w.request(_request("L1", "L1", "http://shop.test/", "Document"))
    w.request(_request("L1", "L1", "https://www.shop.test/", "Document"))  # the redirect: the same request
    w.request(_request("r1", "L1", "https://www.shop.test/app.js", "Script"))
    w.request(_request("r2", "L1", "https://cdn.other.test/lib.js", "Script"))
    for rid, transfer in (("L1", 800), ("r1", 30_000), ("r2", 12_000)):
        w.finished({"requestId": rid, "encodedDataLength": transfer})
    doc = w.take("L1")
    assert doc is not None
    assert doc["types"]["third-party"] == [1, 12_000, 0] and doc["types"]["total"] == [3, 42_800, 0], doc


def test_the_pages_attribution_is_typed_masked_and_bounded() -> None:
    r = Redactor([SECRET])
    forged = {
        "lcp": {
            "element": "img#" + "x" * 500,
            "url": f"http://u:pw@shop.test/hero.png?t={SECRET}",
            "ttfb": 10,
            "load_delay": "NaN",
            "load_duration": float("inf"),
            "render_delay": True,
        },
        "inp": {
            "target": "#add",
            "type": "gesture",
            "event": "click",
            "time": 5,
            "input_delay": 1,
            "processing": 300,
            "presentation": 8,
            "scripts": [
                {
                    "url": f"http://shop.test/a.js?k={SECRET}",
                    "invoker": "BUTTON#add.onclick",
                    "type": "event-listener",
                    "duration": 290,
                }
            ]
            * 40,
        },
        "cls": {
            "value": 0.3,
            "time": 900,
            "sources": [{"element": "#banner", "previous": [0, 600, 800, 20], "current": [0, 60, 800, 400]}] * 40,
        },
        "junk": {"x": 1},
    }
    weight = {"types": {"script": [1, 2, 3]}, "largest": [[2, 3, "script", f"http://shop.test/b.js?{SECRET}"]] * 99}
    sent = clean(forged, weight, r).to_wire()  # what the worker sends
    text = json.dumps(sent)
    assert SECRET not in text and "CANARY" not in text and "pw@" not in text
    assert set(sent) == {"lcp", "inp", "cls", "weight"}
    out = PageEvidence.model_validate(json.loads(text))  # what the sink reads
    assert out.lcp is not None and out.inp is not None and out.cls is not None and out.weight is not None
    assert len(out.lcp.element) == 100
    assert out.lcp.load_delay == 0.0 and out.lcp.load_duration == 0.0 and out.lcp.render_delay == 0.0
    assert out.inp.type == "pointer" and len(out.inp.scripts) == 5
    assert len(out.cls.sources) == 5 and out.cls.sources[0].current == [0, 60, 800, 400]
    assert len(out.weight["largest"]) <= 24 and out.weight["types"]["font"] == [0, 0, 0]
    assert clean("not a dict", None, r).to_wire() == {}


def test_a_user_and_password_in_a_frame_scripts_invoker_are_masked() -> None:
    """An event listener's invoker names an element without an id by its src (`IMG[src=...].onerror`, as Chromium
    writes it), and the page sends it as the script's url when the script has no source URL: a password in that
    src, never declared, is masked there as in a URL."""
    invoker = "IMG[src=https://ann:pw-s3cret@cdn.test/a.png?sig=abc&w=2].onerror"
    out = clean({"inp": {"target": "#add", "scripts": [{"url": invoker, "invoker": invoker}]}}, None, Redactor())
    assert out.inp is not None
    script = out.inp.scripts[0]
    assert script.invoker == script.url == "IMG[src=https://***@cdn.test/a.png?sig=***&w=2].onerror", script
    assert _url("http://[bad/x?token=t0k", Redactor()) == "http://[bad/x?token=***"  # not a URL urlsplit reads


def test_a_small_shift_keeps_its_value() -> None:
    """A view's CLS can be a session window of many small shifts: the largest of them, 0.00042, reads as that, not as
    0 (results.json, summary.md and compare)."""
    from loadorch.report.compare_evidence import _view_text
    from loadorch.report.evidence_browser import markdown
    from loadorch.results import BrowserEvidence, BrowserView

    out = clean({"cls": {"value": 0.00042, "time": 900, "sources": [{"element": "#bar"}]}}, None, Redactor())
    assert out.cls is not None and out.cls.value == 0.00042, out
    view = BrowserView(role="p(75)", value=0.12, page="home", user="u", at_s=1.0, cls=out.cls)
    assert "largest shift 0.00042 at 900 ms moved #bar" in "\n".join(
        markdown(BrowserEvidence(metric="browser_web_vital_cls", views=[view])))
    shown = _view_text(view, "cls")
    assert shown is not None and shown.text == "largest shift 0.00042: #bar", shown


def test_credential_parameters_of_the_pages_urls_are_masked_though_never_declared() -> None:
    # a page's own URLs carry tokens the run never declared: a signed image, a session id, an OAuth fragment
    page = {"lcp": {"element": "#hero", "url": "https://cdn.test/hero.png?w=800&X-Amz-Signature=abc123def&"
                    "X-Amz-Credential=AKIAX%2F2026&v=7"},
            "inp": {"target": "#add", "scripts": [{"url": "http://shop.test/app.js?sessionid=s3ss10n#access_token=eyJhb",
                                                   "invoker": "BUTTON#add.onclick"}]}}
    weight = {"types": {"script": [1, 2, 3]}, "largest": [[2, 3, "image", "http://shop.test/i.png?api_key=k3y&q=shoes"]]}
    out = clean(page, weight, Redactor())
    assert out.lcp is not None and out.inp is not None and out.weight is not None
    assert out.lcp.url == "https://cdn.test/hero.png?w=800&X-Amz-Signature=***&X-Amz-Credential=***&v=7"
    assert out.inp.scripts[0].url == "http://shop.test/app.js?sessionid=***#access_token=***"
    assert out.weight["largest"][0][3] == "http://shop.test/i.png?api_key=***&q=shoes"
    text = json.dumps(out.to_wire())
    assert not any(t in text for t in ("abc123def", "AKIAX", "s3ss10n", "eyJhb", "k3y"))


def test_kept_views_are_bounded_keep_the_worst_and_stay_near_the_p75() -> None:
    kept: list[Exemplar] = []
    for i in range(100):
        keep(kept, Exemplar(float(i), float(i), "home", "u", {}), p75=75.0)
    keep(kept, Exemplar(5000.0, 1.0, "home", "u", {}), p75=75.0)
    assert len(kept) == MAX_KEPT
    at, worst = pick(kept, 75.0)
    assert worst is not None and worst.value == 5000.0
    assert at is not None and at.value == 75.0
    assert all(abs(e.value - 75) <= 4 for e in kept if e.value != 5000.0)


def _view(lcp: float, element: str) -> dict[str, Any]:
    parts = {
        "element": element,
        "url": "http://shop.test/hero.png",
        "ttfb": 50,
        "load_delay": 20,
        "load_duration": lcp - 100,
        "render_delay": 30,
    }
    return {
        "lcp": parts,
        "weight": {
            "types": {"script": [1, int(lcp) * 100, int(lcp) * 100]},
            "largest": [[int(lcp) * 100, int(lcp) * 100, "script", "http://shop.test/app.js"]],
        },
    }


def test_a_failing_vital_names_its_p75_view_and_its_worst_view() -> None:
    stats = BrowserStats()
    for i, lcp in enumerate((900.0, 1000.0, 3100.0, 3200.0, 9000.0)):
        ev = clean(_view(lcp, f"#hero{i}"), _view(lcp, "")["weight"], Redactor())
        stats.record_view("shopper", "home", float(i), {"lcp": lcp, "ttfb": 50.0}, ev)
    gate = _threshold("browser_web_vital_lcp{page:home}", "p(75)<2500")
    result = evaluate_browser(gate, stats, 3)
    assert result.verdict == "fail"
    evidence = BrowserEvidence.model_validate(for_gate(gate, stats, result.observed))
    at, worst = evidence.views
    assert (at.role, at.value, worst.role, worst.value) == ("p(75)", 3200.0, "worst", 9000.0)
    assert at.lcp is not None and at.lcp.element == "#hero3" and at.lcp.load_duration == 3100
    assert worst.lcp is not None and worst.lcp.element == "#hero4" and at.weight is None
    # page weight: every type has a sample per view (0 without any), gated in bytes
    budget = _threshold("browser_resource_bytes{type:script}", "max<500000")
    weight = evaluate_browser(budget, stats, 3)
    assert weight.verdict == "fail" and weight.observed == pytest.approx(900_000, rel=1e-3) and weight.unit == "bytes"
    shown = BrowserEvidence.model_validate(for_gate(budget, stats, weight.observed))
    assert shown.views[0].weight is not None and shown.views[0].weight.largest[0].url == "http://shop.test/app.js"
    fonts = evaluate_browser(_threshold("browser_resource_count{type:font}", "max<1"), stats, 3)
    assert fonts.verdict == "pass" and fonts.samples == 5
    # no kept view (a metric without attribution): no evidence
    assert for_gate(_threshold("browser_web_vital_ttfb", "p(75)<10"), stats, 50.0) is None


def test_page_weight_gates_take_a_resource_type() -> None:
    assert parse_selector("browser_resource_bytes{type:script,page:home}").tags == (
        ("type", "script"),
        ("page", "home"),
    )
    parse_expression("p(75)<300000", "browser_resource_bytes")
    with pytest.raises(ThresholdSyntaxError, match=r"unknown resource type .scripts.*script"):
        parse_selector("browser_resource_bytes{type:scripts}")
    with pytest.raises(ThresholdSyntaxError, match="rate"):
        parse_expression("rate<1", "browser_resource_count")


def test_lighthouse_resource_summary_is_read_into_the_page_weight_names() -> None:
    items = [
        {"resourceType": "total", "label": "Total", "requestCount": 9, "transferSize": 500_000},
        {"resourceType": "script", "label": "Script", "requestCount": 3, "transferSize": 420_000},
        {"resourceType": "media", "label": "Media", "requestCount": 1, "transferSize": 1000},
        {"resourceType": "other", "label": "Other", "requestCount": 1, "transferSize": 10},
    ]
    doc = {"audits": {"resource-summary": {"id": "resource-summary", "score": None, "details": {"items": items}}}}
    got = {(s.metric, s.value_of): s.value for s in parse(doc, "lhr.json")}
    assert got[("browser_resource_bytes", "script")] == 420_000 and got[("browser_resource_count", "total")] == 9
    assert got[("browser_resource_bytes", "other")] == 1010  # media is counted as other


def _evidence() -> BrowserEvidence:
    stats = BrowserStats()
    attr = {
        "lcp": {
            "element": "#hero",
            "url": "http://shop.test/hero.png",
            "ttfb": 50,
            "load_delay": 20,
            "load_duration": 3000,
            "render_delay": 30,
        },
        "cls": {
            "value": 0.35,
            "time": 1184,
            "sources": [
                {"element": "#banner", "previous": [16, 692, 1233, 21], "current": [16, 76, 1233, 400]},
                {"element": "<img onerror=alert(1)>", "previous": [16, 76, 600, 616], "current": [16, 476, 600, 237]},
            ],
        },
    }
    for i in range(3):
        stats.record_view("shopper", "home", float(i), {"lcp": 3100.0 + i, "cls": 0.35}, clean(attr, None, Redactor()))
    gate = _threshold("browser_web_vital_cls{page:home}", "p(75)<0.1")
    return BrowserEvidence.model_validate(for_gate(gate, stats, 0.35))


def test_the_evidence_reads_short_whole_and_in_html_escaped() -> None:
    from loadorch.report.evidence_browser import html, markdown, short

    ev = _evidence()
    lines = short(ev)
    assert lines[0].startswith("p(75) view: 0.35 on page home (shopper")
    assert any(
        "largest shift 0.35 at 1184 ms moved #banner [16, 692, 1233, 21] to [16, 76, 1233, 400]" in x for x in lines
    )
    md = "\n".join(markdown(ev))
    assert "source &lt;img onerror=alert(1)&gt; \\[16, 76, 600, 616] to \\[16, 476, 600, 237]" in md  # [ escaped: no link
    page = html(ev)
    assert "<img onerror" not in page and "&lt;img onerror=alert(1)&gt;" in page
    assert "source (moved element)" in page
    lcp = BrowserEvidence.model_validate(
        {
            "metric": "browser_web_vital_lcp",
            "unit": "ms",
            "views": [
                {
                    "role": "p(75)",
                    "value": 3100,
                    "page": "home",
                    "user": "u",
                    "at_s": 1,
                    "lcp": {
                        "element": "#hero",
                        "url": "http://shop.test/hero.png",
                        "ttfb": 50,
                        "load_delay": 20,
                        "load_duration": 3000,
                        "render_delay": 30,
                    },
                }
            ],
        }
    )
    assert (
        short(lcp)[1]
        == "LCP element #hero http://shop.test/hero.png = TTFB 50 + load delay 20 + load 3000 + render 30 ms"
    )
    bar = html(lcp)
    assert 'aria-label="LCP parts: TTFB 50 ms + load delay 20 ms + load 3000 ms + render 30 ms"' in bar
    assert "width:96.77%" in bar  # the load's share of the bar


def test_each_page_shows_its_weight_by_type_in_results_and_the_report() -> None:
    from loadorch.browser.results import build as browser_results
    from loadorch.report.browser import html_section, markdown_section
    from loadorch.results import Browser

    stats = BrowserStats()
    for i, kib in enumerate((100, 200, 400)):
        types = {"script": [1, kib * 1024 + 200, kib * 1024], "document": [1, 2000, 1800]}
        types["total"] = [2, kib * 1024 + 2200, kib * 1024 + 1800]
        weight = {"types": types, "largest": []}
        stats.record_view("shopper", "home", float(i), {"lcp": 900.0, "ttfb": 50.0}, clean(None, weight, Redactor()))
    doc = Browser.model_validate(browser_results(stats))
    script = doc.pages["home"].weight["script"]
    assert script.bytes.max == pytest.approx(400 * 1024 + 200, rel=1e-3) and script.requests.p75 == 1
    assert set(doc.pages["home"].weight) == {"script", "document", "total"}  # types it never had are left out
    md = "\n".join(markdown_section(doc))
    assert "Page weight per view" in md and "| home   | script" in md and "400.2 KiB" in md
    assert "<h3>Page weight per view</h3>" in html_section(doc)


def test_the_sink_reads_a_views_evidence_back_as_sent_and_leaves_out_one_that_does_not_read() -> None:
    from loadorch.browser.sink import _evidence

    sent = clean(_view(2000.0, "#hero"), _view(2000.0, "")["weight"], Redactor()).to_wire()
    back = _evidence(json.loads(json.dumps(sent)))
    assert back is not None and back.lcp is not None and back.lcp.element == "#hero"
    assert back.weight is not None and back.weight["types"]["script"] == [1, 200_000, 200_000]
    stats = BrowserStats()
    for bad in ({"lcp": {"element": "#hero"}}, {"lcp": 3}, {"junk": {}}, "evidence", None):
        assert _evidence(bad) is None
        stats.record_view("shopper", "home", 1.0, {"lcp": 2000.0}, _evidence(bad))  # the view still counts
    assert stats.views == 5 and not stats.kept("browser_web_vital_lcp")


def test_a_scripts_invoker_is_masked_like_its_url() -> None:
    # a long animation frame's script names its invoker: for a script (classic-script, module-script) that is the
    # script's own URL, for an event listener on an element without an id the element's src in it
    # (`IMG[src=...].onload`): both carry the page's credential parameters, as the script's url does
    page = {"inp": {"target": "#add", "scripts": [
        {"url": "https://maps.test/api/js?key=AIzaK3yK3y&v=3", "invoker": "https://maps.test/api/js?key=AIzaK3yK3y&v=3",
         "type": "classic-script"},
        {"url": "", "invoker": "IMG[src=https://cdn.test/a.png?X-Amz-Signature=s1gs1g].onload",
         "type": "event-listener"},
        {"url": "", "invoker": "https://u:pa55w0rd@cdn.test/m.js", "type": "module-script"},
    ]}}
    out = clean(page, None, Redactor())
    assert out.inp is not None
    assert out.inp.scripts[0].invoker == "https://maps.test/api/js?key=***&v=3"
    assert out.inp.scripts[1].invoker.startswith("IMG[src=https://cdn.test/a.png?X-Amz-Signature=***")
    assert out.inp.scripts[2].invoker == "https://***@cdn.test/m.js"
    text = json.dumps(out.to_wire())
    assert not any(t in text for t in ("AIzaK3yK3y", "s1gs1g", "pa55w0rd"))


def test_a_report_of_another_shape_reads_as_none_never_an_error() -> None:
    """The page can call the binding itself: a list that is no list, a vital that is no number, are none."""
    from loadorch.browser.evidence import clean as clean_report
    from loadorch.browser.worker import MAX_VITAL, vital
    from loadorch.traffic.redact import Redactor as Masks

    ev = clean_report({"inp": {"scripts": True}, "cls": {"sources": 7}, "lcp": {"element": 5}}, None, Masks())
    assert ev.inp is not None and ev.inp.scripts == [] and ev.cls is not None and ev.cls.sources == []
    assert [vital(v) for v in ("slow", [], {}, True, float("nan"), -1, None)] == [None] * 7
    assert vital(1e308) == MAX_VITAL and vital(2500) == 2500.0 and vital(0.12) == 0.12
