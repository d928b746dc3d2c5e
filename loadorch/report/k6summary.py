"""`--summary-export`: the run in k6's summary JSON shape (what GitLab's Load Performance widget reads).

k6's legacy export: `metrics.<name>` holds trend stats in milliseconds (avg, min, med, max, p(90),
p(95)), counters as count/rate, rates as passes/fails/value; a metric with thresholds carries
`thresholds: {expression: failed}` (true when the threshold FAILED, as k6 writes it). Submetrics
with thresholds appear under their selector (`http_req_duration{kind:read}`). With a measurement window,
every metric is the window's (what the thresholds judged) and `loadorch.measured` says so. Pure.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from loadorch.report.record import RunRecord
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.evaluate import ThresholdResult

# A JSON object of k6's summary export (its legacy `--summary-export` shape, k6's format, not ours: keys
# such as "p(95)" and a metric's shape set by its kind), written for the tools that read k6's file.
K6Object = dict[str, Any]
TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)")
TIMINGS = {"http_req_duration": "", "http_req_waiting": "waiting", "http_req_connecting": "connecting"}


def _trend(h: Histogram) -> dict[str, float]:
    if h.count == 0:
        return dict.fromkeys(TREND_STATS, 0.0)

    def ms(us: float) -> float:
        return 0.0 if math.isnan(us) else round(us / 1000.0, 6)

    return {
        "avg": ms(h.mean),
        "min": ms(float(h.min)),
        "med": ms(h.percentile(50)),
        "max": ms(float(h.max)),
        "p(90)": ms(h.percentile(90)),
        "p(95)": ms(h.percentile(95)),
    }


def _metrics(merged: Merged, seconds: float) -> dict[str, K6Object]:
    total, failures = merged.counts()
    out: dict[str, K6Object] = {
        "http_reqs": {"count": total, "rate": round(total / seconds, 6) if seconds > 0 else 0.0},
        "http_req_failed": {"passes": failures, "fails": total - failures, "value": failures / total if total else 0},
    }
    for metric, timing in TIMINGS.items():
        out[metric] = _trend(merged.select((), ok=True, timing=timing))
    passes, fails = merged.check_counts()
    out["checks"] = {"passes": passes, "fails": fails, "value": passes / (passes + fails) if passes + fails else 0}
    return out


def k6_summary(record: RunRecord) -> K6Object:
    """With a measurement window every value is the window's, over its seconds: the samples the thresholds
    beside them judged (the whole run's `http_req_duration` beside the window's `http_req_waiting` and
    verdicts did not add up); `loadorch.measured` says which."""
    merged, seconds = record.merged, record.elapsed_s - record.merged.judged_from_s  # a monitor's: its window
    if record.window:
        merged, seconds = merged.windowed(), window_seconds(record.window, record.elapsed_s)
    metrics = _metrics(merged, seconds)
    for t in record.thresholds:
        metric = t.selector.split("{", 1)[0]
        if t.selector not in metrics:
            metrics[t.selector] = _submetric(merged, t, metric, seconds, metrics)
        failed = t.verdict != "pass"  # k6: true means the threshold failed; inconclusive is not a pass here
        metrics[t.selector].setdefault("thresholds", {})[t.expression] = failed
    return {
        "root_group": {
            "name": "",
            "path": "",
            "id": hashlib.md5(b"", usedforsecurity=False).hexdigest(),
            "groups": {},
            "checks": _checks(record),
        },
        "options": {"summaryTrendStats": list(TREND_STATS), "summaryTimeUnit": "", "noColor": False},
        "state": {"isStdOutTTY": False, "isStdErrTTY": False, "testRunDurationMs": round(record.elapsed_s * 1000, 3)},
        "metrics": metrics,
        "loadorch": _measured(record, seconds),
    }


def _measured(record: RunRecord, seconds: float) -> K6Object:
    """Which samples `metrics` holds: the measurement window (its spans and seconds) or the whole run."""
    if not record.window:
        return {"measured": "the whole run", "seconds": round(seconds, 3)}
    return {
        "measured": "the measurement window",
        "source": record.window_source,
        "spans": [[round(a, 3), round(b, 3)] for a, b in record.window],
        "seconds": round(seconds, 3),
    }


def _submetric(
    merged: Merged, result: ThresholdResult, metric: str, seconds: float, whole: dict[str, K6Object]
) -> K6Object:
    """Stats of a tagged selector, for the metrics k6 reports that way; others get the metric's own shape."""
    if result.threshold is None:  # a result not judged from a parsed threshold: no selector to select by
        return {}
    tags = result.threshold.selector.tags
    if metric in TIMINGS:
        return _trend(merged.select(tags, ok=True, timing=TIMINGS[metric]))
    if metric == "http_reqs":
        total, _ = merged.counts(tags)
        return {"count": total, "rate": round(total / seconds, 6) if seconds > 0 else 0.0}
    if metric == "http_req_failed":
        total, failures = merged.counts(tags)
        return {"passes": failures, "fails": total - failures, "value": failures / total if total else 0}
    if metric == "checks":
        passes, fails = merged.check_counts(tags)
        return {"passes": passes, "fails": fails, "value": passes / (passes + fails) if passes + fails else 0}
    return dict(whole.get(metric, {}))


def _checks(record: RunRecord) -> dict[str, K6Object]:
    """k6 lists checks by name under the root group: ours are `<request> <check>`."""
    out: dict[str, K6Object] = {}
    for (_, name, _, _, check), (passes, fails) in sorted(record.merged.checks.items()):
        label = f"{name}: {check}"
        row = out.setdefault(
            label,
            {
                "name": label,
                "path": "::" + label,
                "id": hashlib.md5(("::" + label).encode(), usedforsecurity=False).hexdigest(),
                "passes": 0,
                "fails": 0,
            },
        )
        row["passes"] += passes
        row["fails"] += fails
    return out
