"""`loadorch monitor`'s part of a run: rolling windows fed from the master's merged tables and the browser
sink, the thresholds judged over them every `status_every`, status.json and status.html written to the
monitor's folder and served on the status port, and the status as metric families for /metrics."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypedDict, cast

from loadorch.browser.sink import BrowserSink
from loadorch.browser.stats import BrowserStats
from loadorch.config.resolve import RunConfig
from loadorch.config.tags import tag_table
from loadorch.db.gates import db_judge
from loadorch.db.measure import DbMeasurement
from loadorch.metrics.families import Family
from loadorch.monitor.rolling import MONITOR_SUB_BITS, Counts, RollingWindow, Table, Window
from loadorch.monitor.status import StatusJson, status_doc, status_families, status_page, stopped
from loadorch.run import browsers
from loadorch.run.artifacts import write_text
from loadorch.stats.histogram import Histogram
from loadorch.stats.tables import Merged
from loadorch.traffic.redact import Redactor
from loadorch.verdict.evaluate import FAIL, INCONCLUSIVE, Check, ThresholdResult, discount_generator_limited, evaluate
from loadorch.wire import CPU_SATURATED, LOOP_LATE_LIMIT_S, MergedJson

if TYPE_CHECKING:
    from loadorch.run.state import RunState as _Run


def _now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


STATUS_IDLE_S = 10.0  # a connection that sends nothing for this long is closed
STATUS_CONNECTIONS = 32  # connections served at once (a thread each); one more is closed at once


class _BoundedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most `most` at once: idle connections held a thread each for as long as
    the monitor ran (200 held 200 threads), and a status port reachable from a network would have let anyone
    grow the monitor's threads and memory without bound."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler],
                 most: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(most)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class StatusServer:
    """GET / (the page) and /status.json, from the latest bytes; loopback unless told otherwise. A connection
    idle for `idle_s` is closed; at most `most` are served at once."""

    def __init__(self, bind: str, port: int, idle_s: float = STATUS_IDLE_S, most: int = STATUS_CONNECTIONS) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = idle_s

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                found = pages.get("/status.html" if path in ("/", "/index.html") else path)
                if found is None:
                    self.send_error(404)
                    return
                kind, body = found
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _BoundedServer((bind, port), Handler, most)
        self.url = f"http://{bind}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


Source = tuple[dict[str, Table], dict[str, Counts], int, dict[str, Table]]  # tables, counts, generation, older


class PlanUpdate(TypedDict):
    """What `loadorch monitor` changes in the run plan (the controller's Plan.model_copy(update=...))."""

    snapshot_path: str
    snapshot_every_s: float
    stats_sub_bits: int  # the judged tables' fixed layout (monitor/rolling.py)
    rolling_timeline_s: float  # the master's timelines keep this many latest seconds


class Monitor:
    def __init__(self, cfg: RunConfig, out_dir: str, status: StatusServer | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.out_dir, self.status, self.clock = cfg, out_dir, status, clock
        self.settings = cfg.profile.monitor
        self.snapshot_path = ""
        self.rolling: RollingWindow | None = None
        self.read_once = False  # a snapshot of the master's was read
        self.started_at, self.started_text = 0.0, ""
        self.next_observe = self.next_status = 0.0
        self.families: list[Family] = []
        self.last: StatusJson | None = None

    def begin(self, run_id: str) -> None:
        """The status before anything is judged: no_data, each threshold's row too. A monitor restarted on its
        folder (a pod's container after a crash) kept the dead process's status.json, `ok` for days, until its
        first judgement, and for good when it ended before one (its target down at preflight)."""
        why = "no data: not judged yet (the monitor is starting)"
        results = [ThresholdResult.of(t, None, 0, 0.0, INCONCLUSIVE, why, "") for t in self.cfg.thresholds]
        text = _now_text()
        doc: StatusJson = Redactor(self.cfg.secrets).obj(
            status_doc((run_id, self.cfg.profile_name, self.cfg.scenario.model.name), results,
                       self.settings.window, 0.0, False, text, text, 0.0))
        self._write(doc, serve=False)  # the status port answers once something is judged (its readiness)
        self.last = doc

    def plan_update(self, run: _Run, scratch: str) -> PlanUpdate:
        self.snapshot_path = os.path.join(scratch, "snapshot.json")
        if run.db is not None:  # its live counts feed the windows: sampled twice a slice at least, not every 30 s
            run.db.interval_s = min(run.db.interval_s, max(1.0, self.settings.slice_s / 2))
        if run.sink is not None:  # the browser workers' vitals, kept for the whole run: in the fixed layout too
            run.sink.stats.sub_bits = MONITOR_SUB_BITS
            run.sink.stats.roll_timeline(self.settings.window)
        return {"snapshot_path": self.snapshot_path, "snapshot_every_s": min(1.0, self.settings.slice_s / 2),
                "stats_sub_bits": MONITOR_SUB_BITS, "rolling_timeline_s": self.settings.window}

    def _tables(self, run: _Run) -> Source | None:
        """The master's snapshot and the browser sink's tables; None when a snapshot read before cannot be
        read now (the windows wait for the next: empty tables would count the next one's whole again)."""
        merged, older, generation, limited = Merged(), Merged(), 0, []
        try:
            with open(self.snapshot_path, encoding="utf-8") as fh:
                snapshot = json.load(fh)
            data = snapshot["merged"]
            limited = [int(n) for n in snapshot.get("limited_reports", ())]
            merged = Merged.from_json(data)
            if "older" in data:  # the master's previous generation (stats/generations.py)
                layout = data.get("sub_bits", MONITOR_SUB_BITS)
                older = Merged.from_json(cast(MergedJson, {**data["older"], "sub_bits": layout}))
                generation = int(data["generation"])
            self.read_once = True
        except (OSError, ValueError, KeyError, TypeError):
            if self.read_once:
                return None
            merged, older, generation, limited = Merged(), Merged(), 0, []  # none yet: the HTTP tables are empty
        tables: dict[str, Table] = {"series": merged.series, "timings": merged.timings, "db": merged.db}
        counts: dict[str, Counts] = {"checks": merged.checks}
        if len(limited) == 2:  # the master's load reports from a saturated or starved worker, and all of them
            counts["generator"] = {"limited": limited}
        previous: dict[str, Table] = {"series": older.series, "timings": older.timings, "db": older.db}
        live = run.db.live_counts() if run.db is not None else None
        if live is not None and run.db is not None:  # the collector's statements (and slow ones) since its window
            # began, and the samples and log polls it missed (a window that spans one is not judged on them)
            counts["db"] = {"server": [live[0], live[1] or 0], "lost": list(run.db.live_gaps())}
        if run.sink is not None:
            with run.sink.lock:  # browser workers report from another thread
                tables["browser"] = {k: Histogram(MONITOR_SUB_BITS).merge(h) for k, h in run.sink.stats.series.items()}
                counts["steps"] = {k: list(v) for k, v in run.sink.stats.steps.items()}
        return tables, counts, generation, previous

    def tick(self, run: _Run) -> bool:
        """Feed the windows (every slice) and judge them (every status_every); True when the status changed."""
        now = self.clock()
        if self.rolling is None:
            self.rolling = RollingWindow(self.settings.window, self.settings.slices, now)
            self.started_at, self.started_text = now, _now_text()
            self.next_observe, self.next_status = now, now + self.settings.status_every
        if now < self.next_observe and now < self.next_status:
            return False
        source = self._tables(run)
        if source is None:
            return False
        self.rolling.observe(now, *source)
        # the snapshot is read again when the current slice ends or a status is due, not every second: each
        # read parses the master's judged tables (memory churn the controller's arenas keep)
        self.next_observe = self.rolling.last.at + self.rolling.slice_s
        if now < self.next_status:
            return False
        self.next_status = now + self.settings.status_every
        window = self.rolling.window(now, *source)
        why = None if self.cfg.profile.allow_saturated_generator else generator_limited(window)
        self.publish(run, self.judge(window, run.db.measurement if run.db is not None else None, why), window, now,
                     why, browser_down(run.sink, run.redactor), workers_lost(run.lost_workers))
        return True

    def judge(self, window: Window, collector: DbMeasurement | None = None,
              generator: str | None = None) -> list[ThresholdResult]:
        """The thresholds over the window; `generator`: why its latencies may include the generator's delay
        (generator_limited), which makes a latency breach inconclusive, as in a run."""
        cfg, seconds = self.cfg, window.seconds
        merged = Merged()
        merged.series, merged.timings, merged.db = (window.tables.get(k, {}) for k in ("series", "timings", "db"))
        merged.checks = window.counts.get("checks", {})
        merged.tag_table = tag_table(cfg.scenario.model, cfg.run_tags)
        vitals = BrowserStats()
        vitals.series = window.tables.get("browser", {})
        vitals.steps = window.counts.get("steps", {})
        db = db_window(window, collector)
        results = evaluate(cfg.thresholds, merged, cfg.min_samples, seconds,
                           db_judge(merged, cfg.min_samples, seconds, db), browsers.evaluator(vitals, cfg.min_samples))
        if not window.full:
            results = counts_so_far(results, seconds, self.settings.window)
        if generator is None:
            return results
        return discount_generator_limited(results, [Check("generator cpu", INCONCLUSIVE, generator)])

    def publish(self, run: _Run, results: list[ThresholdResult], window: Window, now: float,
                generator: str | None = None, browser: str | None = None, workers: str | None = None) -> None:
        labels = run.live_labels or ("", self.cfg.profile_name, self.cfg.scenario.model.name)
        status = status_doc(labels, results, self.settings.window, window.seconds, window.full, _now_text(),
                            self.started_text, now - self.started_at, generator, browser, workers)
        doc: StatusJson = run.redactor.obj(status)  # the same document, every string redacted
        self._write(doc)
        self.families, self.last = status_families(doc), doc

    def _write(self, doc: StatusJson, serve: bool = True) -> None:
        page = status_page(doc, self.settings.status_every)
        body = json.dumps(doc, indent=1) + "\n"
        write_text(os.path.join(self.out_dir, "status.json"), body)
        write_text(os.path.join(self.out_dir, "status.html"), page)
        if self.status is not None and serve:
            self.status.pages["/status.json"] = ("application/json", body.encode())
            self.status.pages["/status.html"] = ("text/html; charset=utf-8", page.encode())

    def stop(self) -> None:
        """The monitor has ended: its status files say `stopped`, not the last `ok` for good."""
        if self.last is not None:
            self._write(stopped(self.last, _now_text()))


RISING = (">", ">=", "==", "===")  # a count's limits that a fuller window may still meet


def counts_so_far(results: list[ThresholdResult], judged_s: float, window_s: float) -> list[ThresholdResult]:
    """A count's lower limit (`count>=N`) missed by a window not yet full (the monitor's first window, or one a
    stall left short) is inconclusive: the requests of the rest of the window were never in it. It failed at
    every start, and its alert fired, while the target answered every check."""
    out = []
    for r in results:
        t = r.threshold
        if (t is not None and t.expression.aggregation == "count" and t.expression.op in RISING
                and r.verdict == FAIL and r.observed is not None and r.observed < t.expression.value):
            why = f"inconclusive: the window holds {round(judged_s, 1):g}s of its {window_s:g}s so far; "
            r = replace(r, verdict=INCONCLUSIVE, message=why + r.message)
        out.append(r)
    return out


MAX_WORKERS_SAID = 3  # workers named in `browser` or `workers` (the rest counted)
BROWSER_SAID_CHARS = 300  # of each one's error


def browser_down(sink: BrowserSink | None, redactor: Redactor) -> str | None:
    """Why the monitor's browser journeys are not (all) running, or None: a browser worker that reported an error
    (Chromium that could not start, a page's journey that broke off) or whose connection closed (a crash, a kill,
    or an end it said was done: its Chromium gone, every page's journey ended with it). A monitor runs until a
    signal, no tick runs after one, and every browser worker has a page at least (plan.browser_worker_count), so a
    worker that ended before it ended for good: its pages are measured no more."""
    if sink is None:
        return None
    with sink.lock:  # the sink's thread records them
        errors, gone, done = dict(sink.errors), set(sink.gone), set(sink.done)
    said = [f"browser worker {i}: {redactor.cut(m, BROWSER_SAID_CHARS)}" for i, m in sorted(errors.items())]
    said += [f"browser worker {i} {'ended (its Chromium gone?)' if i in done else 'stopped reporting'}"
             for i in sorted(gone - set(errors))]
    return _first_said(said, "browser worker(s)")


def workers_lost(lost: dict[int, str]) -> str | None:
    """The load workers the master declared lost, said, or None: a monitor goes on without them (a lost worker is
    not started again), its users' share of the load no longer sent, so its status is never ok again, though the
    budgets are judged on what the other workers send."""
    return _first_said([lost[i] for i in sorted(lost)], "worker(s)")


def _first_said(said: list[str], what: str) -> str | None:
    """The first MAX_WORKERS_SAID of `said` joined, the rest counted as `what`; None for none."""
    if not said:
        return None
    more = len(said) - MAX_WORKERS_SAID
    return "; ".join(said[:MAX_WORKERS_SAID]) + (f"; and {more} more {what}" if more > 0 else "")


def generator_limited(window: Window) -> str | None:
    """Why the window's latencies may include the generator's own delay: some of its load reports came from a
    saturated worker (CPU over CPU_SATURATED, sustained) or a starved one (its event loop over LOOP_LATE_LIMIT_S
    behind); None when none did."""
    limited, reports = window.counts.get("generator", {}).get("limited", [0, 0])
    if limited <= 0:
        return None
    return (f"{limited} of the window's {reports} load reports came from a saturated or starved worker (CPU over "
            f"{CPU_SATURATED:g}% sustained, or its event loop over {LOOP_LATE_LIMIT_S:g}s behind); latencies may "
            "include generator delay")  # the fix: monitor.status.GENERATOR_FIX, in the status's reason and rows


def db_window(window: Window, collector: DbMeasurement | None) -> DbMeasurement | None:
    """The database collector's statements and slow statements over the window (its live counts, windowed
    like the rest), for db_queries and db_query_slow; None without a collector. A window that spans samples the
    collector missed (the database unreachable, ...) or polls of the duration log that failed is unmeasured for
    them, with the collector's reason: judged again once the window holds none of that time."""
    if collector is None:
        return None
    row = window.counts.get("db", {}).get("server")
    lost, slow_lost = window.counts.get("db", {}).get("lost", [0, 0])
    sampled = row is not None and bool(collector.timeseries)  # before its first sample it counts 0, not nothing
    why = collector.unmeasured or (None if sampled else "the collector has not sampled the database yet")
    if why is None and lost > 0:
        why = f"{_missed(lost, 'sample')} of the statements in this window: {collector.lost}{_AGAIN}"
    slow_why = collector.slow_unmeasured
    if slow_why is None and slow_lost > 0:
        slow_why = f"{_missed(slow_lost, 'read')} of the duration log in this window: {collector.slow_lost}{_AGAIN}"
    slow = None if row is None or slow_why else row[1]
    return DbMeasurement(slow_ms=collector.slow_ms, queries=row[0] if row is not None else None, slow=slow,
                         window_s=window.seconds, unmeasured=why, slow_unmeasured=slow_why)


_AGAIN = "; judged again once the window holds none of that time"


def _missed(n: int, what: str) -> str:
    return f"the collector missed {n} {what}{'s' if n != 1 else ''}"


def _where(cfg: RunConfig, key: str) -> str:
    """`profiles/p.yaml:4: load.stages: `, where the profile gives `load.<key>` (a refusal's place, as validate's)."""
    from loadorch.config.yamlsource import parse, read_text

    try:
        line = parse(read_text(cfg.profile_path), cfg.profile_path).line_of(("load", key))
    except Exception:  # the place is a courtesy: the refusal stands without it
        line = None
    return f"{cfg.profile_path}{f':{line}' if line else ''}: load.{key}: "


def monitor_config(cfg: RunConfig) -> RunConfig:
    """The profile's load held level until a signal (at most MAX_DURATION_S): users for a closed model, a
    fixed arrival rate for an open one; stages, iterations and a measurement window do not apply."""
    from loadorch.config.units import MAX_DURATION_S
    from loadorch.errors import UsageError

    if cfg.user_stages is not None or (cfg.open_model is not None and len(cfg.open_model.stages) > 1):
        raise UsageError(f"{_where(cfg, 'stages')}monitor runs a level load: give the profile users or arrival_rate, "
                         "not stages")
    if cfg.iterations is not None and cfg.sources.get("iterations") != "defaults":
        raise UsageError(f"{_where(cfg, 'iterations')}monitor runs until a signal: drop load.iterations from the "
                         "profile")
    open_model = cfg.open_model
    if open_model is not None:
        rate = open_model.stages[0][1]
        open_model = replace(open_model, stages=((rate, rate, MAX_DURATION_S),))
    # a closed model without think time is full load, for days: a check is meant to send a few requests a second
    users = cfg.scenario.model.users if open_model is None else []
    busy = [str(u.name or i) for i, u in enumerate(users) if u.think_time.bounds == (0.0, 0.0)]
    warnings = cfg.warnings + ((f"user {', '.join(busy)} has no think time: in a monitor each of its users sends its "
                                "next request as soon as the last is answered, for as long as the monitor runs (a load "
                                "test, not a check); give it think_time, or the profile load.arrival_rate (a fixed "
                                "rate of checks)",) if busy and cfg.users > 0 else ())
    # a budget that fails is the monitor's news, never its end: abort_on_fail stopped it at the first breach
    aborting = [t.key for t in cfg.thresholds if t.abort_on_fail]
    warnings += ((f"abort_on_fail does not apply to a monitor (it keeps judging and alerting): "
                  f"{', '.join(aborting)}",) if aborting else ())
    thresholds = tuple(replace(t, abort_on_fail=False) for t in cfg.thresholds)
    return replace(cfg, duration_s=MAX_DURATION_S, iterations=None, open_model=open_model, window=None,
                   thresholds=thresholds, warnings=warnings)
