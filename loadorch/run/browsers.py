"""The browser users' part of a run: Chromium check before load, the sink, stopping the workers, checks."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from loadorch.config.resolve import RunConfig
from loadorch.config.thresholds import Threshold
from loadorch.errors import RunError
from loadorch.run.artifacts import write_text
from loadorch.run.plan import BROWSER_PORT_OFFSET
from loadorch.run.processes import ProcessGroup
from loadorch.traffic.redact import Redactor, credential_params_in
from loadorch.verdict.evaluate import ERROR, PASS, Check, ThresholdResult

if TYPE_CHECKING:  # the browser's statistics and results.json's models: imported where a browser run needs them
    from loadorch.browser.sink import BrowserSink
    from loadorch.browser.stats import BrowserStats
    from loadorch.results import BrowserEvidence, LighthouseEvidence

STOP_GRACE_S = 20.0  # a page finishes its step, leaves its document (final values), Chromium stops


def uses_browsers(cfg: RunConfig) -> bool:
    return bool(cfg.scenario.model.browsers)


def chromium_check(cfg: RunConfig, env: Mapping[str, str]) -> Check | None:
    """Before any load: Chromium must be there (RunError, exit 5, naming the fix, when it is not)."""
    if not uses_browsers(cfg):
        return None
    import importlib.util

    from loadorch.browser.chromium import find_chromium

    path = find_chromium(env)
    if importlib.util.find_spec("websockets") is None:
        raise RunError("browser users need the websockets package: pip install 'loadorch[browser]'")
    return Check("chromium", PASS, f"browser users use {path}")


def open_sink(
    cfg: RunConfig, bind: str, master_port: int | None, token: str, interval_s: float, keep_steps: bool
) -> BrowserSink | None:
    """`keep_steps`: hold every step's line for browser-steps.jsonl (with --request-log; otherwise a long
    browser run would grow the controller's memory by a line per step)."""
    if not uses_browsers(cfg):
        return None
    from loadorch.browser.sink import BrowserSink
    from loadorch.browser.stats import UNITLESS, scale_of
    from loadorch.metrics.tagged import edges_for

    port = master_port + BROWSER_PORT_OFFSET if master_port else 0
    sink = BrowserSink(bind, port, token, interval_s, keep_steps)
    # the vitals' exact counts at their live edges (each threshold's limit among them), kept as they are recorded
    sink.stats.edges_of = edges_for(limits(cfg), scale_of, UNITLESS)
    return sink


def limits(cfg: RunConfig) -> list[tuple[str, float]]:
    """(metric, limit) of every threshold: the live families' edges hold each limit."""
    return [(t.selector.metric, t.expression.value) for t in cfg.thresholds]


def stop_workers(group: ProcessGroup, sink: BrowserSink, workers: int) -> None:
    """Ask the browser workers to stop and wait (bounded) until each has reported its last page views: until
    each said `done` or ended (all_finished). An `error` line is not an end: a page's error leaves the worker's
    other pages walking, and their last views come after it."""
    group.signal_role("browser", signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        if all_finished(group, sink, workers, hello_due=True):  # stopping: a pod that never said hello never will
            return
        time.sleep(0.05)


def tell_master_when_walked(group: ProcessGroup, sink: BrowserSink | None, workers: int, hello_due: bool) -> bool:
    """With `iterations`: once every browser page has walked its journeys, the master may end the run (it
    hears it as SIGUSR1; the browsers report here, not to it). True once told. `hello_due`: the workers have
    had their connect timeout since the run started (a pod that never said hello will not walk anything)."""
    if sink is None or not all_finished(group, sink, workers, hello_due):
        return False
    group.signal_master(signal.SIGUSR1)
    return True


def all_finished(group: ProcessGroup, sink: BrowserSink, workers: int, hello_due: bool = False) -> bool:
    """Every browser worker said it is done (each of its pages walked its journeys) or its process ended:
    a crash must not keep an iterations run waiting. Pods (Kubernetes) are not ours to poll: one whose
    connection closed is finished, and so, once `hello_due`, is one that never said hello."""
    running = [(spec.index, proc) for spec, proc in group.procs if spec.role == "browser"]
    with sink.lock:
        done, gone, hello = set(sink.done), set(sink.gone), set(sink.hello)
    if running:
        return all(index in done or proc.poll() is not None for index, proc in running)
    never = set(range(workers)) - hello if hello_due else set()
    return len(done | gone | never) >= workers


def _log_tail(scratch: str, index: int, redactor: Redactor) -> str:
    try:
        with open(os.path.join(scratch, f"browser-{index}.log"), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().strip().splitlines()[-4:]
    except OSError:
        return ""
    return (": " + " | ".join(redactor.text(credential_params_in(line)) for line in lines)) if lines else ""


def checks(sink: BrowserSink | None, workers: int, redactor: Redactor, scratch: str) -> list[Check]:
    if sink is None:
        return []
    out = []
    with sink.lock:
        errors = dict(sink.errors)
        seen, done = len(sink.hello), len(sink.done)
        blocked = dict(sink.stats.blocked)
        cut_short = dict(sink.stats.cut_short)
        folded = sink.stats.folded
    if errors:
        detail = "; ".join(f"browser worker {i}: {redactor.text(credential_params_in(m))}"
                           for i, m in sorted(errors.items()))
        out.append(Check("browser workers", ERROR, detail))
    elif seen < workers:
        missing = [i for i in range(workers) if i not in sink.hello]
        tail = _log_tail(scratch, missing[0], redactor) if missing else ""
        out.append(Check("browser workers", ERROR, f"only {seen} of {workers} browser workers reported{tail}"))
    elif done < seen:
        lost = sorted(set(sink.hello) - set(sink.done))
        tail = _log_tail(scratch, lost[0], redactor)
        out.append(Check("browser workers", ERROR, f"browser workers {lost} stopped without finishing{tail}"))
    else:
        out.append(Check("browser workers", PASS, f"{seen} of {workers} browser workers ran to the end"))
    if cut_short:
        pages = ", ".join(f"{page} {n}" for page, n in sorted(cut_short.items()))
        out.append(
            Check(
                "browser page views",
                PASS,
                f"{sum(cut_short.values())} page views cut short by the run's end (between a visit and the "
                f"journey's last step on that page) are counted apart, not as samples: {redactor.text(pages)}",
            )
        )
    if folded:
        from loadorch.browser.stats import MAX_PAGES, OTHER_PAGES

        out.append(
            Check(
                "browser pages",
                PASS,
                f"{folded} page views of pages past the first {MAX_PAGES} distinct names are counted under "
                f"{OTHER_PAGES!r}: a page a click opens is named by its path (/item/123); to keep such pages apart, "
                "visit them by a named `visit:` step (its `name:` is the page's)",
            )
        )
    if blocked:
        shown = ", ".join(f"{url} (page {page or '?'}, {n}x)" for (page, url), n in sorted(blocked.items())[:5])
        out.append(
            Check(
                "browser network",
                "fail",
                f"{sum(blocked.values())} requests blocked outside allowed_hosts: {redactor.text(shown)}; "
                "the measured pages lacked them: add the host to allowed_hosts if the page may load from it",
            )
        )
    else:
        out.append(Check("browser network", PASS, "no request outside allowed_hosts"))
    return out


def collected(sink: BrowserSink | None, cfg: RunConfig) -> BrowserStats | None:
    """What the browser workers measured plus the profile's Lighthouse results; None when neither is used."""
    if sink is None and not cfg.lighthouse:
        return None
    from loadorch.browser.stats import BrowserStats

    stats = BrowserStats()
    if sink is not None:
        with sink.lock:  # a copy: workers may still be reporting, and this is called more than once
            stats = BrowserStats(sink.stats.interval_s).merge(sink.stats)
    if cfg.lighthouse:
        from loadorch.browser.lighthouse import record

        record(stats, cfg.lighthouse)
    return stats


def evidence(stats: BrowserStats | None, rows: list[ThresholdResult]) -> dict[str, BrowserEvidence]:
    """The evidence of each browser gate that did not pass (browser/evidence.py), by "selector expression":
    the page view at the gate's value and the worst, with what their pages measured."""
    out: dict[str, BrowserEvidence] = {}
    if stats is None:
        return out
    from loadorch.browser.evidence import for_gate
    from loadorch.browser.verdict import owns

    for row in rows:
        t = row.threshold
        if t is None or row.verdict == PASS or not owns(t.selector.metric):
            continue
        found = for_gate(t, stats, row.observed)
        if found is not None:
            out[f"{row.selector} {row.expression}"] = found
    return out


def lighthouse_evidence(
    cfg: RunConfig, rows: list[ThresholdResult], redactor: Redactor
) -> dict[str, LighthouseEvidence]:
    """The evidence of each gate read from the profile's Lighthouse results that did not pass, by "selector
    expression": what the result file that decided it says (browser/lighthouse_evidence.py). A file that cannot
    be read again, or holds nothing documented, gives none."""
    out: dict[str, LighthouseEvidence] = {}
    if not cfg.lighthouse:
        return out
    from loadorch.browser.lighthouse_evidence import for_gate

    docs: dict[str, object] = {}

    def read(path: str) -> object:
        if path not in docs:
            try:
                with open(path, encoding="utf-8") as fh:
                    docs[path] = json.load(fh)
            except (OSError, ValueError, RecursionError):
                docs[path] = None
        return docs[path]

    for row in rows:
        t = row.threshold
        if t is None or row.verdict == PASS:
            continue
        found = for_gate(t, row.observed, cfg.lighthouse, read, redactor)
        if found is not None:
            out[f"{row.selector} {row.expression}"] = found
    return out


def evaluator(stats: BrowserStats, min_samples: int) -> Callable[[Threshold], ThresholdResult | None]:
    from loadorch.browser.verdict import evaluate_browser, owns

    def judge(t: Threshold) -> ThresholdResult | None:
        return evaluate_browser(t, stats, min_samples) if owns(t.selector.metric) else None

    return judge


def write_steps_log(sink: BrowserSink, out_dir: str, redactor: Redactor) -> None:
    """browser-steps.jsonl (with --request-log): every journey step, ordered by user, page, iteration, step."""
    with sink.lock:
        rows = list(sink.steps_log)
    rows.sort(
        key=lambda r: (str(r.get("user")), int(r.get("page", 0)), int(r.get("iteration", 0)), int(r.get("step", 0)))
    )
    text = "".join(json.dumps(r, separators=(",", ":"), sort_keys=True) + "\n" for r in rows)
    write_text(os.path.join(out_dir, "browser-steps.jsonl"), redactor.text(text))
