"""Prometheus alerting rules from a profile's thresholds (pure): the same budget over a rolling window.

Each threshold the live metrics can express becomes one rule of alert `LoadorchBudgetExceeded`, labelled
with the profile and the threshold, whose expression is true while the threshold FAILS over the last
`window` and at least `min_samples` samples fell in it (fewer: no alert, as a run would be
inconclusive, not failed). Percentiles read the histogram families, whose bucket edges include every
threshold limit and one past the largest (metrics/names.with_limits), so `histogram_quantile` crosses the limit
exactly when the percentile does.

Series scraped and pushed both (a run with --metrics-port and --remote-write into the same Prometheus)
are there twice: scraped ones carry the scrape's `job`, pushed ones none. Ratios and quantiles are summed
over both (doubling leaves them unchanged); a count or a rate (the `min_samples` guard, `http_reqs` and
`db_queries` rates) is taken once per run: the largest source's of each `run_id` (`once`), so a
throughput floor still fires and too few samples are not counted twice. `job` narrows every series to
one source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadorch.config.thresholds import BROWSER_METRICS, Threshold
from loadorch.metrics.names import PREFIX

ALERT = "LoadorchBudgetExceeded"
# the two rules about the monitor itself (alert_rules): it runs but cannot judge its budgets over a full window (a
# collector that lost its database, too few samples, a saturated generator: every budget rule is then silent, as
# an inconclusive run is not a fail), and it sends nothing at all (stopped, crashed, not scraped or pushed)
CANNOT_JUDGE = "LoadorchMonitorCannotJudge"
ABSENT = "LoadorchMonitorAbsent"
ABSENT_FOR_S = 60.0  # at least: a monitor's restart (a deploy) leaves its series absent for a scrape or two
# the operator that means "the threshold fails"
NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "===": "!=", "!=": "=="}
# from a histogram: a bucket edge at the limit holds the values equal to it, so a quantile read as exactly
# the limit may be any value up to it: only past the limit is surely failed (< and <= read alike)
PAST_LIMIT = {"<": ">", "<=": ">", ">": "<", ">=": "<"}
# threshold tag -> series label, per metric family
HTTP_LABELS = {"kind": "kind", "name": "name", "method": "method", "user": "user_class"}
BROWSER_LABELS = {"page": "page", "user": "user"}


@dataclass(frozen=True)
class Family:
    """How a threshold metric is exposed: histogram family, divisor from the limit's unit, labels."""

    name: str
    limit_divisor: float  # threshold unit -> exposed unit (ms -> s: 1000)
    labels: dict[str, str]
    fixed: tuple[tuple[str, str], ...] = ()  # label filters always applied (successful requests only)


def family_of(metric: str) -> Family | None:
    if metric == "http_req_duration":
        return Family(f"{PREFIX}_http_request_duration_seconds", 1000.0, HTTP_LABELS, (("outcome", "ok"),))
    if metric == "db_queries_per_request":
        return Family(f"{PREFIX}_db_queries_per_request", 1.0, HTTP_LABELS, (("outcome", "ok"),))
    if metric == "browser_web_vital_cls":
        return Family(f"{PREFIX}_{metric}", 1.0, BROWSER_LABELS)
    if metric in BROWSER_METRICS:
        return Family(f"{PREFIX}_{metric}_seconds", 1000.0, BROWSER_LABELS)
    return None


@dataclass(frozen=True)
class Rule:
    threshold: str
    expr: str | None  # None: not expressible over a rolling window (the reason says why)
    reason: str = ""
    # the observed value in the annotation, as Prometheus's template renders it: a duration family's is in
    # seconds where the threshold says ms (p(75)<2500 beside "observed 4.1666"), so it is shown as one ("4.167s")
    shown: str = "{{ $value }}"


Mask = Callable[[str], str]


def _same(text: str) -> str:
    return text


def _matchers(pairs: Sequence[tuple[str, str]], mask: Mask = _same) -> str:
    """`{k="v",...}`, each value as the live series carry it: masked as the master masks every label value of what it
    exports (runtime/live.masked; a tag, a request name, a threshold may hold a secret), but Prometheus's own `job`."""
    return "{" + ",".join(f'{k}="{_escape(v if k == "job" else mask(v))}"' for k, v in pairs) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def once(fn: str, series: str, window: str) -> str:
    """`fn(series[window])` summed over runs, each run's counted from one source: a run both scraped and
    pushed has the same series with a `job` label and without one."""
    return f"sum(max by (run_id) (sum by (run_id, job) ({fn}({series}[{window}]))))"


def _num(x: float) -> str:
    return repr(float(x)) if x != int(x) else str(int(x))


def rule_for(t: Threshold, scope: Sequence[tuple[str, str]], window: str, min_samples: int,
             mask: Mask = _same) -> Rule:
    """The PromQL that is true while `t` fails over the last `window` (`scope`: label filters for every
    series, e.g. profile and job; `mask`: the run's secrets, as the live series' label values have them)."""
    metric, agg, key = t.selector.metric, t.expression.aggregation, t.key
    if metric in ("http_req_failed", "http_reqs"):
        return _counter_rule(t, scope, window, min_samples, NEGATED[t.expression.op], mask)
    if metric in ("db_queries", "db_query_slow"):
        return _db_rule(t, scope, window, min_samples, NEGATED[t.expression.op], mask)
    fam = family_of(metric)
    if metric in ("server_timing", "server_timing_desc"):  # live, but no edge at its limit / no count of entries
        return Rule(key, None, f"{metric}'s live series cannot judge it exactly over a window")
    if fam is None:
        return Rule(key, None, f"{metric} is not in the live metrics")
    if t.expression.op not in PAST_LIMIT:
        return Rule(key, None, f"{t.expression.op} compares one value: a histogram over a window has ranges")
    op = PAST_LIMIT[t.expression.op]
    labels = list(scope) + list(fam.fixed)
    for tag, value in t.selector.tags:
        if tag not in fam.labels:
            return Rule(key, None, f"tag {tag!r} is not a label of {fam.name}")
        labels.append((fam.labels[tag], value))
    sel = _matchers(labels, mask)
    count = once("increase", f"{fam.name}_count{sel}", window)
    limit = _num(t.expression.value / fam.limit_divisor)
    if agg in ("p", "med"):
        q = (t.expression.percentile or 50.0) / 100.0 if agg == "p" else 0.5
        observed = f"histogram_quantile({_num(q)}, sum by (le) (rate({fam.name}_bucket{sel}[{window}])))"
    elif agg == "avg":
        observed = f"(sum(rate({fam.name}_sum{sel}[{window}])) / sum(rate({fam.name}_count{sel}[{window}])))"
    else:
        return Rule(key, None, f"{agg} is not kept by a histogram over a rolling window (use a percentile)")
    shown = "{{ $value | humanizeDuration }}" if fam.limit_divisor == 1000.0 else Rule.shown
    return Rule(key, f"{observed} {op} {limit}\nand on() {count} >= {min_samples}", shown=shown)


def _counter_rule(t: Threshold, scope: Sequence[tuple[str, str]], window: str, min_samples: int, op: str,
                  mask: Mask = _same) -> Rule:
    labels = list(scope)
    for tag, value in t.selector.tags:
        if tag not in HTTP_LABELS:
            return Rule(t.key, None, f"tag {tag!r} is not a label of the request counters")
        labels.append((HTTP_LABELS[tag], value))
    sel = _matchers(labels, mask)
    requests = f"sum(increase({PREFIX}_http_requests_total{sel}[{window}]))"
    if t.selector.metric == "http_reqs":
        if t.expression.aggregation != "rate":
            return Rule(t.key, None, "http_reqs count is a whole run's; a rolling window has rate (per second)")
        rate = once("rate", f"{PREFIX}_http_requests_total{sel}", window)
        return Rule(t.key, f"{rate} {op} {_num(t.expression.value)}")
    failures = f"sum(increase({PREFIX}_http_failures_total{sel}[{window}]))"
    limit = _num(t.expression.value)
    enough = once("increase", f"{PREFIX}_http_requests_total{sel}", window)
    return Rule(t.key, f"({failures} / {requests}) {op} {limit}\nand on() {enough} >= {min_samples}")


def _db_rule(t: Threshold, scope: Sequence[tuple[str, str]], window: str, min_samples: int, op: str,
             mask: Mask = _same) -> Rule:
    """The database collector's live counters (statements, slow statements; no tags: server-wide)."""
    sel = _matchers(scope, mask)
    limit = _num(t.expression.value)
    if t.selector.metric == "db_queries":
        if t.expression.aggregation != "rate":
            return Rule(t.key, None, "db_queries count is a whole run's; a rolling window has rate (per second)")
        return Rule(t.key, f"{once('rate', f'{PREFIX}_db_queries_total{sel}', window)} {op} {limit}")
    queries = f"sum(increase({PREFIX}_db_queries_total{sel}[{window}]))"
    slow = f"sum(increase({PREFIX}_db_slow_queries_total{sel}[{window}]))"
    enough = once("increase", f"{PREFIX}_db_queries_total{sel}", window)
    return Rule(t.key, f"({slow} / {queries}) {op} {limit}\nand on() {enough} >= {min_samples}")


def monitor_rule(t: Threshold, scope: Sequence[tuple[str, str]], mask: Mask = _same) -> str:
    """A threshold PromQL cannot judge over a window of histograms (a check's share, a max, a status filter,
    a Server-Timing entry, failed browser steps...): the running monitor's own verdict on it over its
    rolling window, which the same code as a run's gate gives (`loadorch_monitor_threshold_state`; `max`:
    one series, whatever number of sources)."""
    sel = _matchers([*scope, ("threshold", t.key), ("state", "fail")], mask)
    return f"max({PREFIX}_monitor_threshold_state{sel}) == 1"


def group_name(profile: str) -> str:
    return "loadorch-" + re.sub(r"[^A-Za-z0-9_-]+", "-", profile)


def alert_rules(
    profile: str,
    thresholds: Sequence[Threshold],
    window_s: float,
    for_s: float,
    min_samples: int,
    job: str | None = None,
    interval_s: float | None = None,
    monitor_window_s: float | None = None,
    tags: Sequence[tuple[str, str]] = (),
    mask: Mask = _same,
) -> tuple[dict[str, object], list[Rule]]:
    """(the rules file as data, the thresholds PromQL cannot express, with why: their rules read the
    running monitor's verdict over its own window, `monitor_window_s`). `tags`: (label, value) of the monitor's
    --tag: every series selected by them too, and every alert labelled with them. `mask`: the run's secrets
    (Redactor.text), masked in every label value, label and annotation as the monitor masks its series' labels:
    none is written, and the rules select the series the monitor exports."""
    scope = [("profile", profile)] + ([("job", job)] if job else []) + list(tags)
    window = prom_duration(window_s)
    own = prom_duration(window_s if monitor_window_s is None else monitor_window_s)
    rules: list[dict[str, object]] = []
    skipped: list[Rule] = []
    for t in thresholds:
        rule = rule_for(t, scope, window, min_samples, mask)
        if rule.expr is None:
            skipped.append(rule)
        how = (f"judged over a rolling {window} window (at least {min_samples} samples); observed {rule.shown}"
               if rule.expr is not None else
               f"judged by the running `loadorch monitor` over its rolling {own} window (its status page says why)")
        name, key = _literal(mask(profile)), _literal(mask(t.key))
        rules.append({
            "alert": ALERT,
            "expr": rule.expr if rule.expr is not None else monitor_rule(t, scope, mask),
            "for": prom_duration(for_s),
            "labels": {"severity": "warning", "profile": name, **{k: _literal(mask(v)) for k, v in tags},
                       "threshold": key},
            "annotations": {
                "summary": f"{name}: {key} fails over the last {window if rule.expr is not None else own}",
                "description": f"loadorch budget {key} of profile {name}, {how}",
            },
        })
    rules += _watchdog_rules(scope, own, for_s, mask, _literal(mask(profile)), tags)
    group: dict[str, object] = {"name": group_name(mask(profile)), "rules": rules}
    if interval_s:
        group["interval"] = prom_duration(interval_s)
    return {"groups": [group]}, skipped


def _watchdog_rules(scope: Sequence[tuple[str, str]], own: str, for_s: float, mask: Mask, name: str,
                    tags: Sequence[tuple[str, str]]) -> list[dict[str, object]]:
    """The monitor's own two rules (CANNOT_JUDGE, ABSENT): without them a monitor that cannot measure, or is gone,
    is silence in Prometheus, which reads as every budget holding. `no_data` fires only once the monitor's rolling
    window is full (`loadorch_monitor_window_full`): before that, too few samples is its normal start."""
    labels = {"severity": "warning", "profile": name, **{k: _literal(mask(v)) for k, v in tags}}
    sel = _matchers(scope, mask)
    no_data = _matchers([*scope, ("state", "no_data")], mask)
    return [
        {
            "alert": CANNOT_JUDGE,
            "expr": f"max({PREFIX}_monitor_status{no_data}) == 1\nand on() max({PREFIX}_monitor_window_full{sel}) == 1",
            "for": prom_duration(for_s),
            "labels": labels,
            "annotations": {
                "summary": f"{name}: the monitor cannot judge its budgets over its full {own} window",
                "description": f"loadorch monitor of profile {name} says no_data: no budget alert can fire while it "
                               "does (a collector that cannot measure, too few samples, a saturated generator, browser "
                               "journeys that are not running, a load worker lost); "
                               "its status page and status.json say why and what to do",
            },
        },
        {
            "alert": ABSENT,
            "expr": f"absent({PREFIX}_monitor_status{sel})",
            "for": prom_duration(max(for_s, ABSENT_FOR_S)),
            "labels": labels,
            "annotations": {
                "summary": f"{name}: no loadorch monitor reports",
                "description": f"no loadorch_monitor_status series of profile {name}: the monitor is stopped, "
                               "gone or neither scraped nor pushed, so no budget alert can fire",
            },
        },
    ]


def _literal(text: str) -> str:
    """`text` (a name, a tag, a threshold) as an alert's label or annotation shows it: Prometheus expands both
    as Go templates, so each `{{` is written as the action that prints it (`get {{id}}` made promtool reject
    the file, and `{{ .Page }}` was rewritten when the alert fired)."""
    return text.replace("{{", '{{ "{{" }}')


def prom_duration(seconds: float) -> str:
    """A Prometheus duration: whole milliseconds, in the largest units that keep it exact (1h, 90s, 250ms)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
