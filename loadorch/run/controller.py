"""The run: resolve -> preflight -> setup -> launch -> collect -> evaluate -> report.

The only module that starts processes and writes a run's artifacts; everything it decides on is pure
(plan, verdict, results, junit, summary).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from loadorch import tempdirs
from loadorch.client.hops import http_options
from loadorch.config.resolve import RunConfig
from loadorch.errors import ConfigError, LoadorchError, Problem, RunError, SafetyError
from loadorch.hosts import check_allowed
from loadorch.metrics.options import plan_block
from loadorch.metrics.remote_write import secret_values as remote_write_secrets
from loadorch.report.junit import render as render_junit
from loadorch.run import browsers, forkstart
from loadorch.run.artifacts import write_json, write_text
from loadorch.run.embedded import embedded_process, embedded_target
from loadorch.run.plan import browser_worker_count, build_plan, load_bound_s, process_specs, write_plan
from loadorch.run.preflight import connect_probe, target_addresses
from loadorch.run.processes import ProcessGroup, free_port
from loadorch.run.profiler import for_run, wants_embedded_process
from loadorch.run.progress import Progress
from loadorch.run.setup import run_setup
from loadorch.run.signals import HardStop, StopRequested, StopSignals
from loadorch.run.state import RunOptions
from loadorch.run.state import RunState as _Run
from loadorch.starttrace import mark
from loadorch.stats.histogram import Histogram
from loadorch.traffic.proxies import bypassing
from loadorch.traffic.redact import Redactor, credential_params_in
from loadorch.traffic.trace import PROBE_WORKER, SETUP_WORKER
from loadorch.verdict.evaluate import (
    ERROR,
    INTERRUPTED,
    PASS,
    Check,
)
from loadorch.wire import (
    FINAL_WAIT_CAP_S,
    Aborted,
    Done,
    MasterExited,
    MasterSummary,
    MetricsGrace,
    ProgressEvent,
    Serving,
    Started,
    SummaryWritten,
    WorkerLost,
    WorkersMissing,
    WorkerStuck,
    stuck_words,
)

if TYPE_CHECKING:  # results.json's models and the browser's statistics: run/finish.py, after the load
    pass


def execute(cfg: RunConfig, opts: RunOptions) -> int:
    """Run the load test and write every artifact; returns the exit code (README "Exit codes"; the product
    contract's section 8 is ../shared/PRODUCT.md, beside the repository, not in it).

    A safety refusal (SafetyError, exit 4) writes nothing: nothing was sent and nothing ran.
    """
    run = _Run(cfg, opts, Redactor([*cfg.secrets, *remote_write_secrets(opts.env)]))
    progress = opts.progress or Progress(cfg.duration_s)
    run.scratch = tempdirs.make("loadorch-run-")  # (and the folders of runs killed before their end removed)
    try:
        run.forkserver = opts.forkserver
        with StopSignals() as signals:
            try:
                return _phases(run, progress, signals)
            finally:
                _end_processes(run, signals)
    finally:
        if run.db is not None:
            run.db.close()
        shutil.rmtree(run.scratch, ignore_errors=True)


def _phases(run: _Run, progress: Progress, signals: StopSignals) -> int:
    """resolve -> preflight -> setup -> launch -> collect -> evaluate -> report; a second signal: stop at once."""
    cfg, opts = run.cfg, run.opts
    try:
        with _target(run) as host:
            run.host = host
            mark("target up")
            if cfg.host == "embedded":  # ours, on loopback: never through a proxy of the environment
                run.opts = dataclasses.replace(opts, env=bypassing(opts.env, urlsplit(host).hostname or ""))
            _preflight(run, progress, signals)
            mark("preflight done")
            if signals.received is None:
                _setup(run, progress, signals)
            if run.db is not None and signals.received is None:
                progress.note("database: probing each request alone ...")
                _probe(run, signals)
            if signals.received is None:
                _load(run, progress, signals)
    except HardStop:
        return _stopped_at_once(run, signals)
    except (SafetyError, ConfigError):
        raise
    except LoadorchError as exc:
        run.error = str(exc)
        if not run.checks or run.checks[-1].verdict == PASS:
            run.checks.append(Check("run", ERROR, str(exc)))
    finally:
        progress.clear()
    _finish_imported(run)
    from loadorch.run.finish import finish  # results.json's models and the report: after the load

    try:
        code = finish(run, signals, progress)
    except HardStop:
        return _stopped_at_once(run, signals)
    _serve_final_scrape(run, signals, progress)
    return code


def _probe(run: _Run, signals: StopSignals) -> None:
    """The N+1 probe: its requests (a target that hangs holds one for the request_timeout) and its statements end at
    a first signal, as the setup's do; the probe's note says it was interrupted."""
    assert run.db is not None
    try:
        with signals.interruptible():
            run.db.probe(run.cfg, run.host, lambda: signals.received is not None, run.tracer(PROBE_WORKER))
    except StopRequested:
        run.db.measurement.probe_note = "the probe was interrupted: no request of it was measured whole"


def _end_processes(run: _Run, signals: StopSignals) -> None:
    """Every process the run started is ended here whatever happened before (the load's group, if its own
    close was cut short; the master serving the final scrape; the fork server), and a second signal cannot
    skip it: it only hurries the end (the deferred HardStop that may follow is raised once, so this runs again
    at most once, and then to its end)."""
    for _ in range(2):
        try:
            with signals.deferred():
                for group in (run.group, run.lingering):
                    if group is not None:
                        group.close(hurry=lambda: signals.hard)
                if run.profilers is not None:
                    run.profilers.stop()
                if run.forkserver is not None:
                    run.forkserver.kill()  # (closed already when the run got to its processes)
            return
        except HardStop:
            continue  # the run's outcome is decided already: the processes are ended all the same


@contextlib.contextmanager
def _target(run: _Run) -> Iterator[str]:
    cfg = run.cfg
    if wants_embedded_process(cfg):
        with embedded_process(run.scratch, run.opts.env) as (url, pid):
            run.embedded_pid = pid
            yield url
    elif cfg.host == "embedded":
        with embedded_target() as url:
            yield url
    else:
        yield cfg.host


def _check_python_users(run: _Run, signals: StopSignals) -> None:
    """Import the scenario's python user classes in a throwaway process (they import locust): an error
    is a configuration error naming the file and line, before any request. An interrupt stops the check
    (the run then ends as interrupted, 130/143), never turns into a configuration error."""
    refs = [u.python for u in run.cfg.scenario.model.users if u.python]
    if not refs:
        return
    scenario_dir = os.path.dirname(os.path.abspath(run.cfg.scenario.path))
    argv = [sys.executable, "-m", "loadorch.runtime", "check-users", "--scenario-dir", scenario_dir]
    for ref in refs:
        argv += ["--user", str(ref)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(run.opts.env), start_new_session=True
    )
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if signals.received is not None or time.monotonic() > deadline:
                    proc.kill()
                    out, err = proc.communicate()
                    if signals.received is not None:
                        return
                    raise RunError("importing the python users took longer than 120 s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if signals.received is not None:
        return
    if proc.returncode != 0:
        # masked whole, then cut (a cut first could leave the end of a secret): the run's secrets, and the values of
        # the credential parameters of a URL the message quotes (`?access_token=...`), as a worker masks its own
        message = run.redactor.text(credential_params_in(out.strip() or err.strip()))[-2000:]
        raise ConfigError([Problem(run.cfg.scenario.path, None, "users", f"python user: {message}")])


def _preflight(run: _Run, progress: Progress, signals: StopSignals) -> None:
    _check_python_users(run, signals)
    if signals.received is not None:
        return
    if run.forkserver is None and not run.opts.external_workers and forkstart.wanted(run.opts.env):
        run.forkserver = forkstart.start(run.opts.env)  # not started by `loadorch run` (`monitor`)
    chromium = None if run.opts.external_workers else browsers.chromium_check(run.cfg, run.opts.env)
    if chromium is not None:
        run.checks.append(chromium)
    addresses = target_addresses(run.host)
    check_allowed(run.host, run.cfg.profile.allowed_hosts, addresses)
    connect_probe(run.host, addresses=addresses, tls=run.cfg.tls, env=run.opts.env)
    run.addresses = addresses
    run.checks.append(Check("preflight", PASS, f"{run.host} reachable ({', '.join(addresses)})"))
    _connect_database(run, signals)


def _connect_database(run: _Run, signals: StopSignals) -> None:
    settings = run.cfg.profile.collectors.postgres
    if settings is None:
        return  # no database: its collector's modules (with results.json's models) are not imported
    from loadorch.config.collectors import redacted_dsn
    from loadorch.db.postgres import CollectorError
    from loadorch.run.database import connect

    try:
        # a database that accepts and never answers (a black-holed address) must not hold a first signal for the
        # whole connect_timeout (then each check's statement_timeout): the signal ends the wait at once
        with signals.interruptible():
            run.db = connect(run.cfg)
    except StopRequested:
        run.checks.append(Check("database", ERROR, (
            f"interrupted while connecting to the database {redacted_dsn(settings.dsn)} and checking what it can "
            f"measure (collectors.postgres.connect_timeout {settings.connect_timeout:g}s): nothing was measured")))
    except CollectorError as exc:
        run.checks.append(Check("database", ERROR, run.redactor.text(str(exc))))
        raise


def _setup(run: _Run, progress: Progress, signals: StopSignals) -> None:
    scenario = run.cfg.scenario
    if not scenario.model.setup:
        return
    progress.note(f"setup: {sum(s.repeat for s in scenario.model.setup)} requests ...")
    try:
        with signals.interruptible():  # a request to a target that hangs must not hold a signal for its timeout
            report = run_setup(
                scenario.model,
                scenario.generators,
                run.host,
                run.cfg.headers,
                run.cfg.seed,
                run.cfg.profile.request_timeout,
                lambda: signals.received is not None,
                run.cfg.profile.max_response_body,
                run.addresses,
                http_options(
                    scenario.model.max_redirects,
                    scenario.model.cookies,
                    run.cfg.profile.allowed_hosts,
                    run.cfg.tls,
                    run.opts.env,
                ),
                run.cfg.profile.max_response_head,
                run.tracer(SETUP_WORKER),
            )
    except (InterruptedError, StopRequested):
        run.checks.append(Check("setup", ERROR, "interrupted during setup"))
        return
    except RunError as exc:
        run.checks.append(Check("setup", ERROR, str(exc)))
        raise
    run.checks.append(Check("setup", PASS, f"{report.requests} requests in {report.seconds:.1f}s"))


def _load(run: _Run, progress: Progress, signals: StopSignals) -> None:
    cfg = run.cfg
    stats_path = os.path.join(run.scratch, "stats.json")
    log_path = os.path.join(run.scratch, "requests.unsorted.jsonl") if run.opts.request_log else None
    opts = run.opts
    port = opts.master_port or free_port(opts.master_bind)
    token = opts.token or run.token
    plan = build_plan(cfg, run.host, opts.master_bind, port, token, stats_path, log_path, run.addresses,
                      trace_token=run.trace_token())
    run.sink = browsers.open_sink(
        cfg, opts.master_bind, opts.master_port, token, plan.interval_s, keep_steps=bool(opts.request_log)
    )
    browser_workers = plan.browser.workers if run.sink is not None and plan.browser is not None else 0
    if run.sink is not None and plan.browser is not None:
        plan = plan.model_copy(update={"browser": plan.browser.model_copy(update={"sink_port": run.sink.port})})
    if opts.metrics.enabled:
        run.live_labels = (os.path.basename(os.path.normpath(opts.out_dir)), cfg.profile_name, cfg.scenario.model.name)
        extra = run.sink is not None or opts.monitor is not None or run.db is not None
        run.live_extra_path = os.path.join(run.scratch, "live-extra.json") if extra else ""
        block = plan_block(
            opts.metrics,
            *run.live_labels,
            browsers.limits(cfg),
            os.path.join(run.scratch, "thresholds.final.json"),
            run.live_extra_path or None,
        )
        plan = plan.model_copy(update={"metrics": block})
    if opts.monitor is not None:
        plan = plan.model_copy(update=opts.monitor.plan_update(run, run.scratch))
    plan_path = os.path.join(run.scratch, "plan.json")
    write_plan(plan, plan_path)
    mark("plan written")
    group = run.group = ProcessGroup(run.scratch, run.forkserver, lambda: signals.received is not None)
    env = forkstart.runtime_env(run.opts.env)
    if run.db is not None:
        run.db.begin()
    try:
        for spec in process_specs(plan_path, cfg.workers, browser_workers=browser_workers):
            if spec.role == "master" or not opts.external_workers:
                # a browser worker's Chromium profile goes in the run's scratch folder: removed whatever happens
                group.start(spec, {**env, "TMPDIR": run.scratch} if spec.role == "browser" else env)
        run.profilers = for_run(cfg, run.embedded_pid, run.scratch, run.redactor.text, run.opts.env)
        if run.profilers is not None:
            run.profilers.tick(None)
        _watch(run, group, progress, signals)
        if run.sink is not None:
            browsers.stop_workers(group, run.sink, browser_workers)
    except RunError:
        run.keep_all_logs = True
        raise
    finally:
        with signals.deferred():  # a second signal hurries the end of the processes, never skips it
            if run.lingering is None:  # else the master serves the final scrape until the artifacts are written
                group.close(hurry=lambda: signals.hard)
            if run.profilers is not None:
                run.profilers.stop()
        if run.db is not None:
            run.db.end()
        if run.sink is not None:
            run.sink.close()
        run.master_summary, run.summary_missing = _read_summary(stats_path)
        if run.master_summary is None:  # the master's log says why: kept
            run.keep_all_logs = True
        _keep_logs(run, group)
    if log_path and os.path.exists(log_path):
        from loadorch.run.outputs import sort_request_log  # the report's modules: after the load

        sort_request_log(log_path, os.path.join(run.opts.out_dir, "requests.jsonl"), run.redactor)


def _import_finish(run: _Run) -> None:
    """Once the load runs (its first progress report), import the run's end (run/finish.py: results.json's
    models, the report; about 0.4 s of CPU on a quiet machine) in a thread of the lowest priority, beside the
    workers: off the way to the first request, and done before the load ends."""
    if run.finishing is None:
        run.finishing = threading.Thread(target=_import_quietly, name="loadorch-import-finish", daemon=True)
        run.finishing.start()


def _import_quietly() -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux: a thread's own priority (its thread id)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    with contextlib.suppress(Exception):  # a failed import fails again, and is reported, where the run's end imports it
        import loadorch.run.finish  # noqa: F401

        mark("controller imported the run's end")


def _finish_imported(run: _Run) -> None:
    """Wait for _import_finish's thread, if one runs, before importing run/finish.py here: never two at once."""
    if run.finishing is not None:
        run.finishing.join()


def _read_summary(path: str) -> tuple[MasterSummary | None, str]:
    """The master's summary, or None and why: it wrote none (it died), or one that cannot be read."""
    try:
        with open(path, encoding="utf-8") as fh:
            return MasterSummary.model_validate_json(fh.read()), ""
    except FileNotFoundError:
        return None, "not written"
    except ValidationError as exc:  # its first error's message, not the text it quotes
        return None, f"unreadable: {exc.errors()[0]['msg'][:160] if exc.errors() else 'not a summary'}"
    except (OSError, ValueError) as exc:
        return None, f"unreadable: {exc}"[:200]


def _keep_logs(run: _Run, group: ProcessGroup) -> None:
    """Copy into the run folder (redacted) the log of every process that exited abnormally, of workers
    whose virtual users failed, or of every process when the run failed: the scratch folder is deleted."""
    reasons = {name: f"exit code {code}" for name, code in group.abnormal().items()}
    if run.master_summary is not None:
        for w in run.master_summary.workers.detail:
            if w.lost_at_s is not None:  # alive but silent (a busy loop, a stopped process): close() ended it,
                # so no exit code of its own says why; its log is the one record of what it was doing
                reasons.setdefault(f"worker-{w.index}", f"stopped reporting at {w.lost_at_s:g}s")
            if w.vu_failures:
                reasons.setdefault(f"worker-{w.index}", f"{len(w.vu_failures)} virtual users failed")
    if run.keep_all_logs:
        reasons = {spec.name: reasons.get(spec.name, "the run failed") for spec, _ in group.procs} | reasons
    for name, reason in sorted(reasons.items()):
        try:
            with open(group.log_path(name), encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        write_text(run.log_path(name), run.redactor.text(credential_params_in(text)))
        run.kept_logs[name] = reason
    forks = group.forkserver
    if forks is not None and forks.failure is not None:  # its own errors: the end of its log (bounded)
        write_text(run.log_path("forkserver"), run.redactor.text(credential_params_in(forks.log_tail())))
        run.kept_logs["forkserver"] = forks.failure


def _check_early_exits(run: _Run, group: ProcessGroup, started: bool) -> None:
    """A worker that ends before the run starts will never connect: say so now, naming its log."""
    if started:
        return
    for name, code in group.poll().items():
        if name.startswith("worker-"):
            tail = _tail(group.log_path(name), run.redactor)
            raise RunError(
                f"{name.replace('-', ' ')} exited with code {code} before the run started; "
                f"its log: {run.log_path(name)}{tail}"
            )


def _watch(run: _Run, group: ProcessGroup, progress: Progress, signals: StopSignals) -> None:
    cfg = run.cfg
    # the master's silences that are no hang: while it waits for the workers' hellos (the connect timeout) and,
    # after the stop, for their final reports while reports still come (FINAL_WAIT_CAP_S: a master behind a
    # backlog, a worker slow to unwind its users); a silence 30 s past the longer one is a master that hangs
    silent_bound = 30 + max(cfg.profile.worker_connect_timeout, FINAL_WAIT_CAP_S)
    bound = load_bound_s(cfg)
    budget = cfg.profile.worker_connect_timeout + (24 * 3600 if bound is None else bound) + FINAL_WAIT_CAP_S + 60
    deadline = time.monotonic() + budget
    forwarded = False
    started = False
    started_at = 0.0
    browsers_told = False
    last_event = time.monotonic()
    while True:
        _check_early_exits(run, group, started)
        if signals.received is not None and not forwarded:
            forwarded = True
            progress.note("stopping: collecting what was measured (press Ctrl-C again to stop at once)")
            group.signal_master(signal.SIGTERM)
            group.signal_role("browser", signal.SIGTERM)
        if started and not browsers_told and cfg.iterations:
            hello_due = time.monotonic() - started_at >= cfg.profile.worker_connect_timeout
            browsers_told = browsers.tell_master_when_walked(group, run.sink, browser_worker_count(cfg), hello_due)
        monitor = run.opts.monitor
        if monitor is not None and started and signals.received is None and monitor.tick(run):
            _write_live_extra(run, final=False)
        try:
            event = group.events.get(timeout=0.2)
        except Exception:
            if time.monotonic() > deadline or time.monotonic() - last_event > silent_bound:
                raise RunError("the Locust master stopped responding; run aborted") from None
            continue
        last_event = time.monotonic()
        if isinstance(event, Started):
            mark("controller heard started")
            started, started_at = True, time.monotonic()
        elif isinstance(event, ProgressEvent):
            progress.update(event)
            _import_finish(run)
            if run.profilers is not None:
                run.profilers.tick(event.elapsed_s)
            _write_live_extra(run, final=False)
        elif isinstance(event, WorkerLost):
            lost = f"worker {event.index} lost at {event.at_s}s: {event.reason or 'it stopped reporting'}"
            run.lost_workers[event.index] = lost
            progress.note(lost)
        elif isinstance(event, WorkerStuck):
            progress.note(f"worker {event.index} stuck at {event.at_s}s: {stuck_words(event.behind_s)}"
                          + ("; the run does not wait for its iterations" if cfg.iterations else ""))
        elif isinstance(event, Aborted):
            progress.note(f"aborting: threshold {event.threshold} failed ({event.message})")
        elif isinstance(event, WorkersMissing):
            raise RunError(
                f"only {event.connected} of {event.expected} workers connected within "
                f"{event.waited_s:g}s (missing worker indexes {event.missing}); "
                f"see the worker logs in {os.path.dirname(run.log_path('worker'))}"
            )
        elif isinstance(event, SummaryWritten):
            # the load is over: the database window closes and browsers stop now, not after the metrics grace,
            # so the gate decided here for the final metrics is the one decided at the end
            if run.db is not None:
                run.db.end()  # closes the window once; the later call in _load returns the same measurement
            if run.profilers is not None:
                run.profilers.stop()
            if run.sink is not None:
                browsers.stop_workers(group, run.sink, browser_worker_count(run.cfg))
            _write_live_extra(run, final=True)  # the database's final counts and the browsers' last vitals
            _finish_imported(run)
            from loadorch.run.finish import publish_final_thresholds

            publish_final_thresholds(run, event.stats_path, event.final_path, progress)
        elif isinstance(event, Serving):
            progress.note(f"{'metrics' if event.what == 'metrics' else 'live dashboard'}: {event.url}")
            run.serving.append(event.url)
        elif isinstance(event, MetricsGrace):
            # the load is over and the master's summary final: the artifacts and the verdict come first,
            # then the master serves the final scrape for the rest of its grace (_serve_final_scrape)
            run.lingering, run.grace_s = group, event.seconds_left
            return
        elif isinstance(event, Done):
            return
        elif isinstance(event, MasterExited):
            master = group.master()
            code = master.wait(timeout=5) if master else None
            tail = _tail(group.log_path("master"), run.redactor)
            where = run.log_path("master")
            raise RunError(f"the Locust master exited unexpectedly (code {code}); its log: {where}{tail}")


def _serve_final_scrape(run: _Run, signals: StopSignals, progress: Progress) -> None:
    """After the verdict: the master keeps the final values up for its grace period; Ctrl-C (or SIGTERM)
    ends it early, and the run keeps its exit code."""
    group = run.lingering
    if group is None or signals.received is not None:
        return  # an interrupted run: no grace (execute stops the master)
    where = " and ".join(run.serving) or "the metrics endpoint"
    # no signal had come (above): one that comes from here on, even while the note below is being written (a
    # user, or a script, that stops the run as soon as it reads the note), ends the grace
    told = False
    progress.note(
        f"serving the final metrics at {where} for {run.grace_s:g}s more (--metrics-grace); "
        "Ctrl-C ends it early, the exit code stays the run's"
    )
    deadline = time.monotonic() + run.grace_s + 30
    try:
        while time.monotonic() < deadline:
            if signals.received is not None and not told:
                told = True
                group.signal_master(signal.SIGTERM)  # ends the master's grace at once
            try:
                event = group.events.get(timeout=0.2)
            except Exception:
                if group.master() is None or group.poll().get("master") is not None:
                    return
                continue
            if isinstance(event, (Done, MasterExited)):
                return
    except HardStop:
        return  # a second signal: the group is stopped at once by execute


def _tail(path: str, redactor: Redactor, lines: int = 8) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read().strip().splitlines()[-lines:]
    except OSError:
        return ""
    return (":\n  " + "\n  ".join(redactor.text(credential_params_in(t)) for t in text)) if text else ""


def _write_live_extra(run: _Run, final: bool) -> None:
    """Browser vitals (and, at the end, Lighthouse results) and the database's live counts are measured here,
    not on the master: hand their families to the master, which serves and pushes them with its own."""
    if not run.live_extra_path or run.live_labels is None:
        return
    from loadorch.browser.stats import UNITLESS, scale_of
    from loadorch.metrics.tagged import database_families, families_to_json, tagged_families

    families = list(run.opts.monitor.families) if run.opts.monitor is not None else []
    if run.sink is not None:
        stats = browsers.collected(run.sink, run.cfg) if final else None
        if stats is None:
            with run.sink.lock:  # workers report from another thread
                series = {key: Histogram().merge(h) for key, h in run.sink.stats.series.items()}
                le = {key: list(counts) for key, counts in run.sink.stats.le.items()}
        else:
            series, le = stats.series, stats.le
        families = tagged_families(run.live_labels, series, scale_of, UNITLESS, browsers.limits(run.cfg), le) + families
    counts = run.db.live_counts() if run.db is not None else None
    if counts is not None:
        families += database_families(run.live_labels, *counts)
    try:
        write_json(run.live_extra_path, families_to_json(families))
    except OSError:
        pass  # live numbers only: the verdict does not depend on them


def _stopped_at_once(run: _Run, signals: StopSignals) -> int:
    """A second signal: no more measuring or writing, but junit.xml says what happened (CI reads it)."""
    message = (
        "stopped at once by a second signal: the run's results were not (all) written; "
        "the numbers of this run are not in this folder"
    )
    check = Check("run", ERROR, message)
    junit = render_junit(
        f"loadorch.{run.cfg.profile_name}",
        run.started.strftime("%Y-%m-%dT%H:%M:%S"),
        "localhost",
        0.0,
        [],
        [check],
        properties=[("profile", run.cfg.profile_name), ("verdict", INTERRUPTED)],
        redact=run.redactor.value,
    )
    for path in (os.path.join(run.opts.out_dir, "junit.xml"), run.opts.junit_path):
        if path:
            with contextlib.suppress(OSError):
                write_text(path, junit)
    sys.stderr.write(f"stopped at once (a second signal): {message}\n")
    return signals.exit_code
