"""The run's end, after the load: the gate's decision, results.json built as its model, the artifacts written
and the outcome printed.

Apart from run/controller.py so that the controller's way to the first request does not import results.json's
models, the report or the browser's statistics: the controller imports this module once the load is over
(tests/unit/test_start_imports.py holds it so).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loadorch.browser.results import build as browser_results
from loadorch.browser.stats import BrowserStats
from loadorch.config.tags import tag_table
from loadorch.db.gates import db_judge
from loadorch.errors import RunError
from loadorch.report import gha, results
from loadorch.report.summary import terminal, use_color
from loadorch.report.text import printable
from loadorch.results import Integrity, Results, problems_of
from loadorch.run import browsers
from loadorch.run.artifacts import write_json, write_text
from loadorch.run.outputs import print_artifacts, results_model, versions, write_artifacts
from loadorch.run.plan import browser_worker_count
from loadorch.run.progress import Progress
from loadorch.run.signals import StopSignals
from loadorch.stats.tables import Merged
from loadorch.traffic.stages import window_seconds
from loadorch.verdict.evaluate import (
    ERROR,
    INTERRUPTED,
    Check,
    ThresholdResult,
    discount_generator_limited,
    evaluate,
    overall,
)
from loadorch.verdict.integrity import NO_LOAD, integrity_checks, kinds_checks, requests_check
from loadorch.verdict.unanswered import say_unanswered, unanswered_checks, unanswered_of
from loadorch.wire import MasterSummary, MetricsReport

if TYPE_CHECKING:
    from loadorch.run.state import RunState as _Run


@dataclass
class Decision:
    checks: list[Check]  # integrity and kinds checks (run.checks holds the earlier ones)
    integrity: Integrity
    merged: Merged
    elapsed: float
    thresholds: list[ThresholdResult]
    browser: BrowserStats | None = None  # browser users' samples and Lighthouse results


def decide(run: _Run, summary: MasterSummary | None, db: Any = None) -> Decision:
    """The gate's inputs from the master's summary (pure): the final live metrics show exactly these."""
    cfg = run.cfg
    missing = run.summary_missing or ("" if run.group is not None or summary is not None else NO_LOAD)
    checks, integrity = integrity_checks(cfg, summary, missing)
    merged = Merged.from_json(summary.merged) if summary else Merged()
    merged.tag_table = tag_table(cfg.scenario.model, cfg.run_tags)
    elapsed = summary.elapsed_s if summary else 0.0
    db = db if db is not None else (run.db.measurement if run.db is not None and run.db.windowed else None)
    browser = browsers.collected(run.sink, cfg)
    browser_judge = [browsers.evaluator(browser, cfg.min_samples)] if browser is not None else []
    judged, seconds = merged, elapsed - merged.judged_from_s  # a monitor's tables: its window's (judged_view)
    if cfg.window is not None:  # thresholds judge the measurement window; the ramps are reported apart
        judged, seconds = merged.windowed(), window_seconds(cfg.window.spans, elapsed)
    threshold_results = (
        evaluate(
            cfg.thresholds,
            judged,
            cfg.min_samples,
            seconds,
            db_judge(judged, cfg.min_samples, seconds, db),
            *browser_judge,
        )
        if summary and summary.t0
        else []
    )
    checks += kinds_checks(cfg, merged)
    waiting = unanswered_of(summary)  # requests still waiting for the target at the end: in no table
    checks += unanswered_checks(waiting, merged, cfg.profile.request_timeout, elapsed)
    threshold_results = say_unanswered(threshold_results, waiting, merged)
    # none: the master summary check
    checks += requests_check(cfg, merged, sum(u.count for u in waiting)) if summary is not None else []
    checks += browsers.checks(run.sink, browser_worker_count(cfg), run.redactor, run.scratch)
    threshold_results = discount_generator_limited(threshold_results, run.checks + checks)
    return Decision(checks, integrity, merged, elapsed, threshold_results, browser)


def publish_final_thresholds(run: _Run, stats_path: str, final_path: str, progress: Progress) -> None:
    """The master waits for the gate's threshold results, so the last scrape and push show them."""
    try:
        with open(stats_path, encoding="utf-8") as fh:
            decision = decide(run, MasterSummary.model_validate_json(fh.read()))
        write_json(final_path, [r.to_json() for r in decision.thresholds])
    except (OSError, ValueError) as exc:  # the metrics then show the master's own evaluation
        write_json(final_path, None)
        progress.note(f"warning: final threshold states not sent to metrics: {exc}")


def finish(run: _Run, signals: StopSignals, progress: Progress) -> int:
    """Evaluate, build the results and write the artifacts. A signal that comes meanwhile is honoured:
    the artifacts are built and written again, marked interrupted (a second signal stops at once)."""
    cfg = run.cfg
    from loadorch.run.database import database_check, measurement_of

    db = measurement_of(run.db)
    if run.db is not None and db is not None:
        run.checks.append(database_check(run.db, db, {t.selector.metric for t in cfg.thresholds}))
    if run.profilers is not None:
        profile_checks, run.profile_sections = run.profilers.finish(run.opts.out_dir)
        run.checks += profile_checks
    decision = decide(run, run.master_summary, db)
    run.checks += decision.checks
    while True:
        seen = signals.received
        record, doc = _built(run, decision, db, signals)
        # read back once, redacted: every reader below (and report, compare, k8s collect later) reads this model
        made = results_model(doc, run.opts.out_dir)
        _test_gate(run, signals)
        write_artifacts(
            run.opts.out_dir, run.opts.junit_path, run.started, cfg, run.redactor, doc, made, record,
            run.opts.summary_export,
        )  # fmt: skip
        if run.sink is not None and run.opts.request_log:
            browsers.write_steps_log(run.sink, run.opts.out_dir, run.redactor)
        if signals.received == seen:
            break
        progress.note("stopping: writing the artifacts again, marked interrupted (Ctrl-C again to stop at once)")
    _print_outcome(run, made)
    return record.exit_code


def _test_gate(run: _Run, signals: StopSignals) -> None:
    """Tests only (LOADORCH_TEST_FINISH_GATE=PATH): while PATH exists, finishing waits here, between building
    the results and writing them (up to 120 s), having created PATH.reached, so that a test can signal a run
    that is surely finishing."""
    gate = run.opts.env.get("LOADORCH_TEST_FINISH_GATE")
    if not gate or not os.path.exists(gate):
        return
    write_text(gate + ".reached", "")
    deadline = time.monotonic() + 120
    while os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.05)


def _built(run: _Run, decision: Decision, db: Any, signals: StopSignals) -> tuple[results.RunRecord, Any]:
    """The run's record and results.json built from it as the model, then redacted as a document (its
    strings masked wherever they are). A section the model refuses is a loadorch bug: a run error saying so."""
    try:
        record = _record(run, decision, db, signals)
        return record, run.redactor.obj(results.build(record).to_json())
    except ValidationError as exc:
        problems = "\n".join(str(p) for p in problems_of(exc, "results.json"))
        raise RunError(f"results.json could not be built (a loadorch bug: please report it):\n{problems}") from None


def _record(run: _Run, decision: Decision, db: Any, signals: StopSignals) -> results.RunRecord:
    """What the run measured and decided, as the results are built from it."""
    cfg, summary = run.cfg, run.master_summary
    metrics = summary.metrics if summary else None
    interrupted = signals.received is not None
    verdict = overall(decision.thresholds, run.checks, interrupted)
    if run.error and verdict != INTERRUPTED:
        verdict = ERROR
    return results.RunRecord(
        profile=cfg.profile_name,
        scenario_name=cfg.scenario.model.name,
        scenario_path=cfg.scenario.path,
        scenario_sha256=cfg.scenario.sha256,
        seed=cfg.seed,
        workers=cfg.workers,
        users=cfg.users,
        host=run.redactor.text(cfg.host if cfg.host == "embedded" else run.host or cfg.host),
        start=run.started.isoformat(timespec="seconds"),
        end=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=versions(),
        verdict=verdict,
        exit_code=results.exit_code_for(verdict, signals.exit_code if interrupted else None),
        merged=decision.merged,
        elapsed_s=decision.elapsed,
        stop_reason=summary.stop_reason if summary else None,
        thresholds=decision.thresholds,
        checks=run.checks,
        integrity=decision.integrity,
        interrupted=interrupted,
        error=run.error,
        iterations=cfg.iterations,
        duration_s=cfg.duration_s,
        database=db.to_collector() if db is not None else None,
        browser=None if decision.browser is None else browser_results(decision.browser, cfg.thresholds),
        browser_evidence=browsers.evidence(decision.browser, decision.thresholds),
        lighthouse_evidence=browsers.lighthouse_evidence(cfg, decision.thresholds, run.redactor),
        window=cfg.window.spans if cfg.window else (),
        tags=dict(cfg.run_tags),
        profiles=run.profile_sections,
        window_source=cfg.window.source if cfg.window else "",
        trace_url=cfg.profile.trace.url or "",
        load=results.planned_load(
            cfg.users,
            cfg.spawn_rate,
            cfg.open_model.stages if cfg.open_model else None,
            cfg.user_stages,
            summary.load if summary else [],
        ),
        live_metrics=metrics,
        warnings=_metrics_warnings(metrics),  # after the run's own (request names folded)
    )


def _print_outcome(run: _Run, made: Results) -> None:
    cfg = run.cfg
    out = [f"warning: {printable(warning)}\n" for warning in made.warnings]  # first: the verdict and why end it
    if run.kept_logs:
        kept = ", ".join(f"{name}.log ({why})" for name, why in run.kept_logs.items())
        out.append(f"logs: {os.path.dirname(run.log_path('master'))}: {kept}\n")
    out.append(terminal(made, color=use_color(sys.stdout)))
    out.append(f"artifacts: {run.opts.out_dir}\n")
    if run.opts.junit_path:
        out.append(f"junit: {run.opts.junit_path} (and {os.path.join(run.opts.out_dir, 'junit.xml')})\n")
    if gha.enabled(run.opts.env):  # our annotations, then the rest, which holds what the target said, as text
        files = {"profile": cfg.profile_path, "scenario": cfg.scenario.path}
        sys.stdout.write(gha.threshold_commands(made.thresholds, cfg.sources, files) + gha.quiet("".join(out)))
    else:
        sys.stdout.write("".join(out))
    if run.opts.print_artifacts:
        print_artifacts(run.opts.out_dir, run.opts.summary_export)


def _metrics_warnings(report: MetricsReport | None) -> list[str]:
    """A failed metrics push is a warning, never a gate: the load and the verdict did not depend on it."""
    push = report.get("remote_write") if report else None
    if not push:
        return []
    if not push["final_landed"]:
        return [
            f"metrics push failed: the final remote write did not land ({push['last_error'] or 'timed out'}; "
            f"{push['sent']} pushes landed, {push['failed']} failed, {push['dropped']} dropped)"
        ]
    if push["failed"] or push["dropped"]:
        return [
            f"metrics push failed {push['failed']} times and dropped {push['dropped']} pushes "
            f"({push['last_error']}); the final push landed"
        ]
    return []
