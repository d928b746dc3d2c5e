"""Lighthouse results (LHR JSON, e.g. from a Lighthouse CI run) as samples in the same verdict.

From the documented result object: `audits.<id>.numericValue` becomes `lighthouse_audit{id:<id>}`
(milliseconds for timing audits, the audit's own unit otherwise) and `categories.<id>.score` (0..1)
becomes `lighthouse_score{category:<id>}`. The `resource-summary` audit's rows (requests and transfer
size by resource type) become `browser_resource_count{type:<type>}` and `browser_resource_bytes{type:<type>}`,
the names the browser users' page weight has (Lighthouse's `media` counted as `other`).
A result with a `runtimeError` measured nothing and is an error; so is one of Lighthouse 2 (its categories a
`reportCategories` list, scored 0-100) and one whose `categories` is not an object.
Several files (several Lighthouse runs) give several samples, so `med` and `p(N)` work as in Lighthouse CI's
aggregation methods.
"""

from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass
from typing import Any


class LighthouseError(ValueError):
    """A listed file that is missing or not a Lighthouse result; the message names the file."""


@dataclass(frozen=True)
class Sample:
    metric: str  # lighthouse_audit, lighthouse_score, browser_resource_count or browser_resource_bytes
    tag: str  # id, category or type
    value_of: str  # the audit id or category id
    value: float
    source: str  # the file it came from


def expand(patterns: list[str], base_dir: str) -> list[str]:
    """Paths of the listed files, relative to the profile; a glob (`.lighthouseci/lhr-*.json`) must match."""
    out: list[str] = []
    for pattern in patterns:
        full = os.path.join(base_dir, pattern)
        if any(ch in pattern for ch in "*?["):
            found = sorted(glob.glob(full))
            if not found:
                raise LighthouseError(f"{pattern!r} matches no file (relative to the profile)")
            out += found
        elif not os.path.isfile(full):
            raise LighthouseError(f"no Lighthouse result file {pattern!r} (relative to the profile)")
        else:
            out.append(full)
    return out


def parse(doc: Any, source: str) -> list[Sample]:
    name = os.path.basename(source)
    if not isinstance(doc, dict) or not isinstance(doc.get("audits"), dict):
        raise LighthouseError(f"{name} is not a Lighthouse result (no `audits` object); export it as JSON")
    error = doc.get("runtimeError")
    if isinstance(error, dict) and error.get("code") not in (None, "NO_ERROR"):
        raise LighthouseError(f"{name}: Lighthouse could not measure the page: {error.get('message', error['code'])}")
    if "reportCategories" in doc and "categories" not in doc:
        version = str(doc.get("lighthouseVersion") or "2.x")[:20]
        raise LighthouseError(
            f"{name} is a Lighthouse {version} result (`reportCategories`, scores 0-100), older than"
            " the format read (Lighthouse 3 and later); run Lighthouse 3 or later"
        )
    if not isinstance(doc.get("categories") or {}, dict):
        raise LighthouseError(
            f"{name}: `categories` is not an object (a Lighthouse result maps each category id to its score)"
        )
    samples = []
    for audit_id, audit in sorted(doc["audits"].items()):
        value = _number(audit.get("numericValue") if isinstance(audit, dict) else None)
        if value is not None:
            samples.append(Sample("lighthouse_audit", "id", str(audit_id), value, source))
    samples += _resources(doc["audits"].get("resource-summary"), source)
    for category_id, category in sorted((doc.get("categories") or {}).items()):
        score = _number(category.get("score") if isinstance(category, dict) else None)
        if score is not None:
            samples.append(Sample("lighthouse_score", "category", str(category_id), score, source))
    return samples


LIGHTHOUSE_TYPES = {"media": "other"}  # its resource types that browser users count under another name
RESOURCE_TYPES = ("document", "script", "stylesheet", "image", "font", "other", "third-party", "total")


def _resources(audit: Any, source: str) -> list[Sample]:
    details = audit.get("details") if isinstance(audit, dict) else None
    items = details.get("items") if isinstance(details, dict) else None
    if not isinstance(items, list):
        return []
    sums: dict[str, list[float]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = LIGHTHOUSE_TYPES.get(str(item.get("resourceType")), str(item.get("resourceType")))
        count, size = _number(item.get("requestCount")), _number(item.get("transferSize"))
        if kind in RESOURCE_TYPES and count is not None and size is not None:
            row = sums.setdefault(kind, [0.0, 0.0])
            row[0] += count
            row[1] += size
    out = []
    for kind, (count, size) in sorted(sums.items()):
        out.append(Sample("browser_resource_count", "type", kind, count, source))
        out.append(Sample("browser_resource_bytes", "type", kind, size, source))
    return out


def _number(value: Any) -> float | None:
    """A finite, non-negative number (null scores of informative audits are skipped)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def held(samples: tuple[Sample, ...]) -> dict[str, set[str]]:
    """metric -> the audit ids, categories or resource types the results give a number for (what a threshold's
    `id`, `category` or `type` can name)."""
    out: dict[str, set[str]] = {}
    for s in samples:
        out.setdefault(s.metric, set()).add(s.value_of)
    return out


def load(patterns: list[str], base_dir: str) -> tuple[Sample, ...]:
    samples: list[Sample] = []
    for path in expand(patterns, base_dir):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise LighthouseError(f"cannot read {os.path.basename(path)} as JSON: {exc}") from None
        except RecursionError:  # arrays or objects nested deeper than the decoder goes: no Lighthouse result
            raise LighthouseError(f"cannot read {os.path.basename(path)} as JSON: nested too deeply") from None
        samples += parse(doc, path)
    return tuple(samples)
