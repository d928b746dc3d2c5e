"""junit.xml: strict-schema shape, escaping of hostile text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from loadorch.report.junit import clean, render
from loadorch.verdict.evaluate import Check, ThresholdResult
from tests.support.project import SHARED

NASTY = 'a<b & "c" \'d\' \x1b[31mred\x1b[0m nul\x00 bell\x07 \ud800 end'


def sample() -> str:
    results = [
        ThresholdResult("http_req_duration{name:" + NASTY + "}", "p(95)<300", 312.0, 300, "ms", 500, 0.1, "fail",
                        "failed: " + NASTY),
        ThresholdResult("http_req_failed", "rate<0.01", 0.0, 0.01, "", 500, 0, "pass", "passed"),
        ThresholdResult("http_reqs", "count>1", 20.0, 1, "", 20, 0, "inconclusive", "inconclusive: few"),
    ]
    checks = [Check("workers", "error", "worker 1 lost " + NASTY), Check("preflight", "pass", "ok"),
              Check("profiler embedded", "warning", "not attached: " + NASTY)]
    return render("loadorch." + NASTY, "2026-11-24T01:02:03", "host", 12.5, results, checks,
                  properties=[("seed", "1"), ("note", NASTY)], system_out="out " + NASTY + "x" * 30000)


def test_structure_counts_and_escaping() -> None:
    text = sample()
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "1", "2", "1")
    assert root.get("timestamp") == "2026-11-24T01:02:03"
    tags = [child.tag for child in root]
    assert tags[0] == "properties" and tags[-2:] == ["system-out", "system-err"]
    cases = root.findall("testcase")
    assert all(c.get("name") and c.get("classname") and c.get("time") for c in cases)
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "threshold"
    skipped = cases[-1].find("skipped")  # a warning check (a profiler that could not attach): reported, not failed
    assert skipped is not None and skipped.get("message", "").startswith("not attached: ")
    assert 'a<b & "c"' in failure.get("message", "")
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text and "[31m" not in text
    assert "[truncated]" in (root.find("system-out").text or "")  # type: ignore[union-attr]


def test_clean_replaces_invalid_characters() -> None:
    assert clean("a\x00b\x1b[1mc\ud800") == "a\ufffdbc\ufffd"
    assert clean("x" * 10, 5) == "xxxxx [truncated]"


def test_valid_against_strict_schema(tmp_path) -> None:
    xsd = SHARED / "data" / "junit" / "JUnit.xsd"
    if not xsd.exists():
        pytest.skip("the strict JUnit schema (../shared/data/junit/JUnit.xsd) is not beside this checkout")
    xmlschema = pytest.importorskip("xmlschema")
    path = tmp_path / "junit.xml"
    path.write_text(sample(), encoding="utf-8")
    xmlschema.XMLSchema(str(xsd)).validate(str(path))


def test_testcases_carry_their_own_time_so_suite_totals_are_right() -> None:
    root = ET.fromstring(sample())
    cases = root.findall("testcase")
    assert len(cases) > 1 and float(root.get("time") or 0) > 0
    assert sum(float(c.get("time") or 0) for c in cases) <= float(root.get("time") or 0)
