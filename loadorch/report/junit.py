"""junit.xml in the strict Ant JUnit shape: one testcase per threshold, integrity check or comparison."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadorch.verdict.evaluate import ERROR, FAIL, INCONCLUSIVE, WARNING, Check, ThresholdResult

MAX_MESSAGE = 4000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Case:
    name: str
    classname: str
    seconds: float = 0.0
    outcome: str | None = None  # None (passed), "failure" or "error"
    kind: str = ""  # the failure/error type attribute
    message: str = ""  # the one-line verdict (the failure's `message` attribute)
    text: str | None = None  # the failure's text: the short evidence block (None: the message again)


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


def threshold_cases(
    thresholds: Sequence[ThresholdResult], checks: Sequence[Check], seconds: float, evidence: Sequence[str] = ()
) -> list[Case]:
    """One case per threshold and integrity check. A case's time is its own (judging a threshold takes
    no time), not the run's: reporters that add up testcase times show the suite's time, not N times it.
    `seconds` (the run) is the suite's time. `evidence`: per threshold, its short evidence block
    (report/evidence.py short_text): a failing or inconclusive case's text, the lines that decide it, while
    its message attribute stays the one-line verdict (each said once)."""
    cases = []
    for i, r in enumerate(thresholds):
        short = evidence[i] if i < len(evidence) else ""
        text = short if short and r.verdict in (FAIL, INCONCLUSIVE) else None
        outcome, kind = {FAIL: ("failure", "threshold"), INCONCLUSIVE: ("error", "inconclusive")}.get(
            r.verdict, (None, "")
        )
        cases.append(Case(f"{r.selector} {r.expression}", "loadorch.thresholds", 0.0, outcome, kind, r.message, text))
    for c in checks:
        outcome = "error" if c.verdict in (ERROR, INCONCLUSIVE) else "failure" if c.verdict == FAIL else None
        if c.verdict == WARNING:  # not done, and not deciding the run (a profiler that could not attach)
            outcome = "skipped"
        cases.append(Case(c.name, "loadorch.integrity", 0.0, outcome, c.verdict, c.message))
    return cases


def render(
    suite: str,
    timestamp: str,
    hostname: str,
    seconds: float,
    thresholds: Sequence[ThresholdResult],
    checks: Sequence[Check],
    properties: Sequence[tuple[str, str]] = (),
    system_out: str = "",
    redact: Callable[[str], str] | None = None,
    evidence: Sequence[str] = (),
) -> str:
    return render_cases(
        suite,
        timestamp,
        hostname,
        seconds,
        threshold_cases(thresholds, checks, seconds, evidence),
        properties,
        system_out,
        redact,
    )


def render_cases(
    suite: str,
    timestamp: str,
    hostname: str,
    seconds: float,
    cases: Sequence[Case],
    properties: Sequence[tuple[str, str]] = (),
    system_out: str = "",
    redact: Callable[[str], str] | None = None,
) -> str:
    """The XML text. `timestamp` is YYYY-MM-DDTHH:MM:SS (UTC, no zone: the schema's pattern).

    `redact` masks secrets in every name, message and text before they are escaped: the document's
    structure is never touched (a secret equal to `test` cannot break `<testcase>`).
    """
    if redact is not None:
        mask = redact
        cases = [Case(mask(c.name), mask(c.classname), c.seconds, c.outcome, c.kind, mask(c.message),
                      None if c.text is None else mask(c.text)) for c in cases]
        properties = [(name, mask(value)) for name, value in properties]
        system_out, hostname, suite = mask(system_out), mask(hostname), mask(suite)
    root = ET.Element(
        "testsuite",
        name=_token(suite),
        timestamp=timestamp,
        hostname=_token(hostname),
        tests=str(len(cases)),
        failures=str(sum(c.outcome == "failure" for c in cases)),
        errors=str(sum(c.outcome == "error" for c in cases)),
        skipped=str(sum(c.outcome == "skipped" for c in cases)),
        time=f"{seconds:.3f}",
    )
    props = ET.SubElement(root, "properties")
    for name, value in properties:
        ET.SubElement(props, "property", name=_token(name), value=clean(value, 1000))
    for c in cases:
        case = ET.SubElement(
            root, "testcase", name=_token(c.name), classname=_token(c.classname), time=f"{c.seconds:.3f}"
        )
        if c.outcome is not None:
            message = clean(c.message)
            attrs = {"message": message, **({} if c.outcome == "skipped" else {"type": c.kind or c.outcome})}
            ET.SubElement(case, c.outcome, attrs).text = message if c.text is None else clean(c.text)
    ET.SubElement(root, "system-out").text = clean(system_out, 20000)
    ET.SubElement(root, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def combine(*documents: str) -> str:
    """Several junit.xml documents as one `<testsuites>` (the run's thresholds and its comparison with a
    baseline: a testsuite each), with the totals JUnit readers show."""
    root = ET.Element("testsuites", name="loadorch")
    for text in documents:
        doc = ET.fromstring(text.split("?>", 1)[1] if text.startswith("<?xml") else text)
        root.extend([doc] if doc.tag == "testsuite" else list(doc))
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root)))
    root.set("time", f"{sum(float(s.get('time', '0')) for s in root):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
