"""The monitor's status (pure): a JSON document, a small HTML page and metric families, all from the
threshold results over the rolling window."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TypedDict

from loadorch.metrics.families import GAUGE, Family
from loadorch.metrics.names import PREFIX, RUN_LABELS, THRESHOLD_STATES, threshold_state
from loadorch.monitor.rolling import PERCENTILE_ERROR
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, PASS, ThresholdResult

STATUS_SCHEMA = "loadorch.monitor-status/v1"
# ok: every budget holds; failing: one fails; no_data: nothing to judge yet (or too few samples); stopped: the
# monitor has ended (its folder's status.json keeps the last judgement's rows)
STATES = ("ok", "failing", "no_data", "stopped")
JUDGED = STATES[:3]  # the states of a running monitor, as `loadorch_monitor_status` says them


class ThresholdStatus(TypedDict):
    """A threshold's row of status.json: its state over the rolling window."""

    threshold: str  # "selector expression"
    state: str
    observed: float | None
    limit: float
    unit: str
    samples: int
    message: str
    fix: str  # what to do about an inconclusive or no_data row ("" for pass and fail: a fail is the target's)


class StatusJson(TypedDict):
    """status.json (STATUS_SCHEMA): the monitor's overall state and each threshold's."""

    schema: str
    profile: str
    scenario: str
    run_id: str
    status: str  # one of STATES
    started: str
    updated: str
    uptime_s: float
    window_s: float
    judged_s: float
    window_full: bool
    # why the window's latencies may include the generator's own delay (a saturated or starved worker), or None:
    # a latency breach then reads inconclusive (no_data) and the overall status is never ok, as a run's verdict
    generator: str | None
    # why the browser journeys are not running (a browser worker that could not start Chromium, or ended), or None:
    # the status is then never ok, whatever the other rows say: the journeys' pages are not measured
    browser: str | None
    # which load workers the master declared lost, or None: the status is then never ok (their users' share of the
    # load is no longer sent, and a lost worker is not started again), though the rows judge what the others send
    workers: str | None
    # why the status is not ok, with what to do: the generator's limit, the browsers, each row not pass ("" when ok)
    reason: str
    percentile_error: float  # a window's percentile within this share of the true value (monitor/rolling.py)
    thresholds: list[ThresholdStatus]


def overall_state(results: Sequence[ThresholdResult]) -> str:
    # a selector that matched nothing is a FAIL verdict ("no data", so a run never passes it) but its row's state
    # is no_data, and the alerts never fire on it: the status says the same, not `failing` at every start
    states = [threshold_state(r.verdict, r.message) for r in results]
    if FAIL in states:
        return "failing"
    if states and all(s == PASS for s in states):
        return "ok"
    return "no_data"


GENERATOR_FIX = (
    "give the monitor's generator more room: more workers (`workers:`), a quieter machine or a lower rate; or set "
    "allow_saturated_generator: true to judge such latencies anyway"
)
BROWSER_FIX = (
    "fix what the browser worker's error says (Chromium installed and able to start: LOADORCH_CHROMIUM, the "
    "browser image), then restart the monitor: a browser worker that ended is not started again"
)
WORKERS_FIX = (
    "see the worker's log in the monitor's folder (logs/) for why it ended (killed, out of memory), then restart the "
    "monitor: a lost worker is not started again"
)
MAX_REASONS = 5  # rows said in `reason` (every row says its own in `thresholds`)


def fix_of(state: str, message: str) -> str:
    """What to do about a row that is not judged (no_data or inconclusive), from its message's reason; "" for a
    pass or a fail (a fail is the target's: the alert's business)."""
    if state not in ("no_data", INCONCLUSIVE):
        return ""
    if "not judged yet" in message:
        return "wait for the first judgement (every status_every)"
    if "measured by a limited generator" in message:
        return GENERATOR_FIX
    if "the window holds" in message:  # a count over a window not yet full (run.monitor.counts_so_far)
        return "wait until the window is full (window_full), or lower the count's limit"
    if "samples, got" in message:
        return ("send more of these requests within the window: a higher rate or weight, or a longer monitor window; "
                "or lower min_samples")
    if "within error bound" in message:
        return "move the limit out of the measurement's error bound (percentile_error), or judge another percentile"
    if message.startswith("no data: all") or "no successful" in message:
        return "every matching request failed in the window: see the failure-rate rows and the target's errors"
    if message.startswith("no data"):
        return ("nothing in the window matched it: check the selector's tags against the scenario's endpoint names "
                "and kinds, or send these requests more often than once a window")
    return "see the detail"  # a collector's own message (database, browser) says its fix


def status_reason(state: str, generator: str | None, rows: Sequence[ThresholdStatus],
                  browser: str | None = None, workers: str | None = None) -> str:
    """Why the status is `state` and not ok, with the fixes: the generator's limit, the browsers that are not
    running and the load workers lost first, then each row that is not a pass (at most MAX_REASONS, the rest
    counted)."""
    if state == "ok":
        return ""
    parts = [f"generator limited: {generator}: {GENERATOR_FIX}"] if generator else []
    parts += [f"browser journeys not running: {browser}: {BROWSER_FIX}"] if browser else []
    parts += [f"load workers lost: {workers}: {WORKERS_FIX}"] if workers else []
    said = [r for r in rows if r["state"] != PASS]
    parts += [f"{r['threshold']}: {r['message']}" + (f": {r['fix']}" if r["fix"] else "") for r in said[:MAX_REASONS]]
    if len(said) > MAX_REASONS:
        parts.append(f"and {len(said) - MAX_REASONS} more row(s) not passing")
    if not parts:
        return "no threshold to judge" if not rows else ""
    return "; ".join(parts)


def status_doc(
    labels: tuple[str, str, str],
    results: Sequence[ThresholdResult],
    window_s: float,
    judged_s: float,
    full: bool,
    updated: str,
    started: str,
    uptime_s: float,
    generator: str | None = None,
    browser: str | None = None,
    workers: str | None = None,
) -> StatusJson:
    """`browser`: why the browser journeys are not running (browser_down), or None; `workers`: the load workers lost
    (workers_lost), or None."""
    run_id, profile, scenario = labels
    state = overall_state(results)
    # a monitor whose browser journeys never started read ok on its HTTP budgets alone, for as long as it ran; one
    # that lost a load worker read ok on the rest of its load, for good
    down = generator is not None or browser is not None or workers is not None
    state = "no_data" if down and state == "ok" else state
    rows: list[ThresholdStatus] = [
        {
            "threshold": f"{r.selector} {r.expression}",
            "state": threshold_state(r.verdict, r.message),
            "observed": None if r.observed is None or math.isnan(r.observed) else r.observed,
            "limit": r.limit,
            "unit": r.unit,
            "samples": r.samples,
            "message": r.message,
            "fix": _fix(r, browser),
        }
        for r in results
    ]
    return {
        "schema": STATUS_SCHEMA,
        "profile": profile,
        "scenario": scenario,
        "run_id": run_id,
        "status": state,
        "started": started,
        "updated": updated,
        "uptime_s": round(uptime_s, 1),
        "window_s": window_s,
        "judged_s": round(judged_s, 3),
        "window_full": full,
        "generator": generator,
        "browser": browser,
        "workers": workers,
        "reason": status_reason(state, generator, rows, browser, workers),
        # a percentile over the window is within this share of the true value (the fixed layout that keeps
        # the monitor's memory flat: monitor/rolling.py); a limit inside that range reads inconclusive
        "percentile_error": PERCENTILE_ERROR,
        "thresholds": rows,
    }


def _fix(r: ThresholdResult, browser: str | None) -> str:
    """A row's fix; a browser metric's row not judged while the browser journeys are not running has theirs (the
    selector's tags were not what kept its page views out of the window)."""
    state = threshold_state(r.verdict, r.message)
    if browser and state in ("no_data", INCONCLUSIVE) and r.threshold is not None \
            and r.threshold.selector.metric.startswith("browser_"):
        return BROWSER_FIX
    return fix_of(state, r.message)


def stopped(doc: StatusJson, updated: str) -> StatusJson:
    """The last status once the monitor has ended: nothing judges its budgets any more."""
    return {**doc, "status": "stopped", "updated": updated}


def status_families(doc: StatusJson) -> list[Family]:
    run = (doc["run_id"], doc["profile"], doc["scenario"])
    state = Family(f"{PREFIX}_monitor_threshold_state", GAUGE,
                   "monitor: 1 for a threshold's state over the rolling window", (*RUN_LABELS, "threshold", "state"))
    observed = Family(f"{PREFIX}_monitor_threshold_observed", GAUGE,
                      "monitor: a threshold's value over the rolling window, in its unit",
                      (*RUN_LABELS, "threshold", "unit"))
    overall = Family(f"{PREFIX}_monitor_status", GAUGE, "monitor: 1 for the overall state (ok, failing, no_data)",
                     (*RUN_LABELS, "state"))
    judged = Family(f"{PREFIX}_monitor_window_seconds", GAUGE, "monitor: seconds the rolling window spans now",
                    RUN_LABELS)
    full = Family(f"{PREFIX}_monitor_window_full", GAUGE, "monitor: 1 once the rolling window spans its whole length",
                  RUN_LABELS)
    for row in doc["thresholds"]:
        for s in THRESHOLD_STATES:
            state.samples.append(((*run, row["threshold"], s), 1.0 if s == row["state"] else 0.0))
        if row["observed"] is not None:
            observed.samples.append(((*run, row["threshold"], row["unit"]), float(row["observed"])))
    overall.samples = [((*run, s), 1.0 if s == doc["status"] else 0.0) for s in JUDGED]
    judged.samples = [(run, float(doc["judged_s"]))]
    full.samples = [(run, 1.0 if doc["window_full"] else 0.0)]
    return [state, observed, overall, judged, full]


def _value(row: ThresholdStatus) -> str:
    if row["observed"] is None:
        return "-"
    return f"{row['observed']:g}{row['unit']}"


def status_page(doc: StatusJson, refresh_s: float) -> str:
    """A page that reloads itself: the overall state, then one row per threshold."""
    e = html.escape
    rows = "".join(
        f"<tr class={e(r['state'])}><td>{e(r['state'])}</td><td><code>{e(r['threshold'])}</code></td>"
        f"<td>{e(_value(r))}</td><td>{r['samples']}</td><td>{e(r['message'])}</td><td>{e(r.get('fix', ''))}</td></tr>"
        for r in doc["thresholds"]
    )
    # why the status is not ok and what to do, as status.json's `reason` (an older status.json has none)
    why = f"<p id=why><strong>Why:</strong> {e(doc['reason'])}</p>" if doc.get("reason") else ""
    window = f"last {doc['window_s']:g}s" + ("" if doc["window_full"] else f" (so far {doc['judged_s']:g}s)")
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<meta http-equiv=refresh content={max(1, round(refresh_s))}>"
        f"<title>{e(doc['status'])}: {e(doc['profile'])} monitor</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}"
        ".fail td:first-child,.failing{color:#b00020;font-weight:bold}.pass td:first-child,.ok{color:#0a7d32}"
        "</style></head><body>"
        f"<h1>{e(doc['profile'])} ({e(doc['scenario'])}): <span class={e(doc['status'])}>{e(doc['status'])}</span></h1>"
        f"<p>Thresholds over the {e(window)}; updated {e(doc['updated'])}; running since {e(doc['started'])}. "
        f"<a href=status.json>status.json</a></p>{why}"
        "<table><tr><th>state</th><th>threshold</th><th>observed</th><th>samples</th><th>detail</th><th>fix</th></tr>"
        f"{rows}</table></body></html>\n"
    )
