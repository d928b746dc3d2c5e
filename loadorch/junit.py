"""junit.xml in the strict Ant JUnit shape: one testcase per threshold and per integrity check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from loadorch.verdict import ERROR, FAIL, INCONCLUSIVE, Check, ThresholdResult

MAX_MESSAGE = 4000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text safe for XML 1.0: ANSI escapes removed, control characters replaced, length bounded."""
    text = _ANSI.sub("", text)
    text = _INVALID_XML.sub("\ufffd", text)
    if len(text) > limit:
        text = text[:limit] + " [truncated]"
    return text


def _token(text: str) -> str:
    collapsed = " ".join(clean(text, 500).split())
    return collapsed or "unnamed"


def render(
    suite: str,
    timestamp: str,
    hostname: str,
    seconds: float,
    thresholds: Sequence[ThresholdResult],
    checks: Sequence[Check],
    properties: Sequence[tuple[str, str]] = (),
    system_out: str = "",
) -> str:
    """The XML text. `timestamp` is YYYY-MM-DDTHH:MM:SS (UTC, no zone: the schema's pattern)."""
    cases: list[ET.Element] = []
    failures = errors = 0
    for r in thresholds:
        case = ET.Element(
            "testcase",
            name=_token(f"{r.selector} {r.expression}"),
            classname="loadorch.thresholds",
            time=f"{seconds:.3f}",
        )
        if r.verdict == FAIL:
            failures += 1
            ET.SubElement(case, "failure", message=clean(r.message), type="threshold").text = clean(r.message)
        elif r.verdict == INCONCLUSIVE:
            errors += 1
            ET.SubElement(case, "error", message=clean(r.message), type="inconclusive").text = clean(r.message)
        cases.append(case)
    for c in checks:
        case = ET.Element("testcase", name=_token(c.name), classname="loadorch.integrity", time="0.000")
        if c.verdict in (ERROR, INCONCLUSIVE):
            errors += 1
            ET.SubElement(case, "error", message=clean(c.message), type=c.verdict).text = clean(c.message)
        cases.append(case)
    root = ET.Element(
        "testsuite",
        name=_token(suite),
        timestamp=timestamp,
        hostname=_token(hostname),
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{seconds:.3f}",
    )
    props = ET.SubElement(root, "properties")
    for name, value in properties:
        ET.SubElement(props, "property", name=_token(name), value=clean(value, 1000))
    root.extend(cases)
    ET.SubElement(root, "system-out").text = clean(system_out, 20000)
    ET.SubElement(root, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
