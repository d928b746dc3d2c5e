"""The `loadorch` command: parses arguments, calls the library, turns outcomes into exit codes."""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from loadorch import __version__
from loadorch.errors import ConfigError, ExitCode, LoadorchError, UsageError
from loadorch.starttrace import mark

if TYPE_CHECKING:
    from loadorch.commands.against_baseline import AgainstBaseline
    from loadorch.commands.compare import Plan
    from loadorch.config.profile import CompareBudgets
    from loadorch.config.resolve import Overrides, RunConfig
    from loadorch.metrics.options import MetricsOptions
    from loadorch.run.forkstart import ForkServer
    from loadorch.run.monitor import Monitor, StatusServer


MAX_WORKERS = 256  # the same limit as a profile's `workers:`
MAX_USERS = 100_000  # the same limit as a profile's `users:` and `max_users:` (config/usercount.MAX_USERS)


class _Parser(argparse.ArgumentParser):
    """Exit 2 with this (sub)command's usage; no abbreviations, so a typo cannot mean another flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.set_defaults(_parser=self)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(ExitCode.USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _workers(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WORKERS} (as in a profile), got {value}")
    return value


def _users(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_USERS:  # a billion users were planned, up to the controller's MemoryError
        raise argparse.ArgumentTypeError(f"must be at most {MAX_USERS} (as in a profile), got {value}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a fraction between 0 and 1 (0.3 = 30 %), got {text}")
    return value


def _non_negative(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _spawn_rate(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than zero users per second, got {text}")
    return value


def _parsed(unit: str, text: str) -> float:
    """`text` read as a duration or a percentage, its ValueError (which says what is wrong) shown as argparse's
    error. (config/units.py imports pydantic: here once a value needs it, not before `loadorch run` has started
    its fork server.)"""
    from loadorch.config import units

    try:
        return units.parse_duration(text) if unit == "duration" else units.parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> float:
    value = _parsed("duration", text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be longer than zero")
    return value


def _interval(text: str) -> float:
    """A rule group's evaluation interval: a Prometheus duration counts whole milliseconds, and `0s` there means
    the global evaluation_interval, so what would be written as 0s or rounded is refused with the value it
    takes."""
    value = _duration(text)
    ms = value * 1000.0
    if round(ms) < 1:
        raise argparse.ArgumentTypeError(
            f"{text} is under a millisecond: the rules would say 0s, which Prometheus reads as its global "
            "evaluation_interval; write 1ms or more (15s, 1m are usual), or leave --interval out for that default"
        )
    if abs(ms - round(ms)) > 1e-6 * max(1.0, ms):
        raise argparse.ArgumentTypeError(
            f"{text} is not a whole number of milliseconds, which Prometheus durations count; write {round(ms)}ms"
        )
    return value


def _window(text: str) -> float:
    from loadorch.config.monitor import MIN_WINDOW_S, TOO_SHORT

    value = _parsed("duration", text)
    if value < MIN_WINDOW_S:
        raise argparse.ArgumentTypeError(f"{TOO_SHORT} (got {text})")
    return value


def _percent(text: str) -> float:
    return _parsed("percent", text)


def _fall(text: str) -> float:
    """`--expect-improvement`: the share the p95 must fall by, as a goal's (config/goals.py): a fall of 0 is met
    by any significant change, one of 100 % or more by none."""
    value = _percent(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a fall is more than 0% and less than 100%, e.g. 30%")
    return value


def _port(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {value}")
    return value


def _grace(text: str) -> float:
    value = _parsed("duration", text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _run_id(text: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: 1-16 lowercase letters, digits or '-', starting and ending with a letter or digit"
        )
    return text


RUN_FOLDER_FILES = ("results.json", "junit.xml", "config.yaml", "report.html", "summary.md", "requests.jsonl")


def _export_name(text: str) -> str:
    """`k8s render --summary-export`: a file name for the master's run folder (it travels in the log)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a file name (letters, digits, '.', '_', '-'; no folder): `k8s collect` writes it into the "
            "run folder"
        )
    if text in RUN_FOLDER_FILES or text.endswith(".jsonl"):
        raise argparse.ArgumentTypeError(f"{text!r} is a file of the run folder itself: choose another name")
    return text


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _add_load_flags(parser: argparse.ArgumentParser, workers: bool) -> None:
    parser.add_argument("--users", type=_users)
    parser.add_argument("--spawn-rate", type=_spawn_rate)
    parser.add_argument("--duration", type=_duration)
    parser.add_argument("--seed", type=_int)
    parser.add_argument("--host")
    parser.add_argument("--iterations", type=_positive_int)
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    if workers:
        parser.add_argument("--workers", type=_workers, required=True)


def _load_flags(args: argparse.Namespace) -> list[str]:
    """The load flags as given, to pass on unchanged to the master and worker pods."""
    out: list[str] = []
    for name in ("users", "spawn_rate", "duration", "seed", "host", "iterations"):
        value = getattr(args, name)
        if value is not None:
            out += [f"--{name.replace('_', '-')}", str(value)]
    for tag in getattr(args, "tag", None) or []:
        out += ["--tag", tag]
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="loadorch", description="Declarative, reproducible load tests with CI gates.")
    parser.add_argument("--version", action="version", version=f"loadorch {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--project", default=".", help="project folder holding profiles/ and scenarios/")
    common = _Parser(add_help=False)  # the same options, accepted after the command too
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--project", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", parents=[common], help="run a profile's load test and gate on its thresholds")
    run.add_argument("profile", help="profile name (profiles/NAME.yaml) or path to a profile file")
    run.add_argument("--users", type=_users, help="virtual users (closed model) or max_users (open)")
    run.add_argument("--spawn-rate", type=_spawn_rate, help="users started per second (closed model)")
    run.add_argument("--duration", type=_duration, help="e.g. 30s, 10m")
    run.add_argument("--workers", type=_workers, help=f"local worker processes (1 to {MAX_WORKERS})")
    run.add_argument("--seed", type=_int, help="the run's seed (every user's stream derives from it)")
    run.add_argument("--host", help="target URL, overriding the profile's host")
    run.add_argument(
        "--iterations", type=_positive_int, help="requests per virtual user (journeys per browser page), then stop"
    )
    run.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag for the whole run (repeatable)"
    )
    run.add_argument("--out", help="run folder (default results/<profile>-<UTC timestamp>/)")
    run.add_argument("--junit", help="also write junit.xml to this path (the run folder keeps its own copy)")
    run.add_argument("--request-log", action="store_true", help="write requests.jsonl (one line per request)")
    run.add_argument(
        "--summary-export", metavar="FILE", help="also write k6's summary JSON (GitLab's Load Performance widget)"
    )
    run.add_argument("--scenario", help="use this scenario file instead of the profile's")
    against = run.add_argument_group("comparison with a baseline (see `loadorch baseline save`)")
    against.add_argument(
        "--baseline", metavar="NAME[,FALLBACK]",
        help="compare with the newest baseline NAME of this profile and seed (none: the first FALLBACK's, e.g. main's)"
    )
    against.add_argument("--baseline-required", action="store_true", help="no such baseline: inconclusive (exit 6)")
    _add_compare_flags(against, store=True)
    live = run.add_argument_group("live metrics (off by default)")
    live.add_argument("--metrics-port", type=_port, help="serve Prometheus/OpenMetrics /metrics on this port")
    live.add_argument("--metrics-bind", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    live.add_argument(
        "--metrics-grace", type=_grace, help="keep /metrics up this long after the run (default 30s: two 15s scrapes)"
    )
    live.add_argument(
        "--remote-write",
        metavar="URL",
        help="push to a Prometheus remote-write URL (auth: LOADORCH_REMOTE_WRITE_BEARER_TOKEN or _BASIC_AUTH)",
    )
    live.add_argument("--dashboard", action="store_true", help="serve a live page on 127.0.0.1 during the run")
    live.add_argument("--dashboard-port", type=_port, help="port for --dashboard (default: any free port)")
    # the Kubernetes master role (see `loadorch k8s render`): workers connect from other pods
    run.add_argument("--external-workers", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--master-bind", default="127.0.0.1", help=argparse.SUPPRESS)
    run.add_argument("--master-port", type=_positive_int, help=argparse.SUPPRESS)
    run.add_argument("--print-artifacts", action="store_true", help=argparse.SUPPRESS)
    # the Kubernetes pods (a check's pass): the profile's name, its file being /config/profile.yaml there
    run.add_argument("--profile-name", help=argparse.SUPPRESS)

    mon = sub.add_parser(
        "monitor", parents=[common], help="synthetic monitoring: the profile's load, level, until a signal"
    )
    mon.add_argument("profile")
    mon.add_argument("--out", help="the monitor's folder: status.json, status.html, the artifacts at the end")
    mon.add_argument("--status-port", type=_port, help="serve the status page and /status.json (0: any free port)")
    mon.add_argument("--status-bind", default="127.0.0.1", help="address for --status-port (default 127.0.0.1)")
    mon.add_argument("--metrics-port", type=_port, help="serve Prometheus/OpenMetrics /metrics on this port")
    mon.add_argument("--metrics-bind", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    mon.add_argument("--remote-write", metavar="URL", help="push to a Prometheus remote-write URL")
    mon.add_argument("--host", help="target URL, overriding the profile's host")
    mon.add_argument("--scenario", help="use this scenario file instead of the profile's")
    mon.add_argument("--seed", type=_int, help="the seed (every user's stream derives from it)")
    mon.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag for every series")
    mon.add_argument("--profile-name", help=argparse.SUPPRESS)  # the Kubernetes pod's (see run's)

    validate = sub.add_parser("validate", parents=[common], help="check profiles and scenarios without sending load")
    validate.add_argument("files", nargs="*", help="profile names or YAML files (default: all)")

    sub.add_parser("list", parents=[common], help="list profiles and scenarios")

    target = sub.add_parser("target", parents=[common], help="the embedded reference shop API")
    tsub = target.add_subparsers(dest="target_command", metavar="COMMAND", parser_class=_Parser)
    tsub.required = True
    serve = tsub.add_parser("serve", parents=[common], help="serve the reference shop API until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port (0: any free port)")
    serve.add_argument("--latency-ms", type=_non_negative, default=0.0, help="added latency on every route")
    serve.add_argument("--error-rate", type=_fraction, default=0.0, help="fraction of writes that answer 503 (0 to 1)")
    serve.add_argument(
        "--database",
        metavar="DSN",
        help="store in PostgreSQL (postgresql://user:password@host/db; needs loadorch[postgres]), not SQLite",
    )
    serve.add_argument("--n-plus-one", action="store_true", help="the product list runs one more query per product")

    report = sub.add_parser("report", parents=[common], help="rebuild report.html and summary.md from results.json")
    report.add_argument("run_dir")

    sub.add_parser("budgets", parents=[common], help="every profile's thresholds as one Markdown table")

    alerts = sub.add_parser("alerts", parents=[common], help="Prometheus alerting rules from a profile's thresholds")
    alerts.add_argument("profile")
    alerts.add_argument("--out", metavar="FILE", help="write the rules here (default: standard output)")
    alerts.add_argument("--window", type=_window, help="rolling window judged (default: monitor.window, 1h)")
    alerts.add_argument("--for", dest="for_s", type=_grace, help="how long a budget fails before the alert fires")
    alerts.add_argument("--job", help="only series of this Prometheus job (a run both scraped and pushed)")
    alerts.add_argument("--interval", type=_interval, help="the rule group's evaluation interval (1ms or more)")
    alerts.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                        help="only series of the monitor run with this --tag (repeatable): its alerts carry it too")

    init = sub.add_parser(
        "init", parents=[common], help="scaffold scenarios, profiles, a README section and CI snippets"
    )
    init.add_argument("dir", nargs="?", default=".")
    init.add_argument("--from-openapi", metavar="SPEC", help="an OpenAPI 3 document (YAML or JSON)")
    init.add_argument("--force", action="store_true", help="replace files that exist")

    k8s = sub.add_parser("k8s", help="distributed runs as Kubernetes Jobs")
    ksub = k8s.add_subparsers(dest="k8s_command", metavar="COMMAND", parser_class=_Parser)
    ksub.required = True
    render = ksub.add_parser("render", parents=[common], help="manifests for a distributed run, on stdout")
    render.add_argument("profile")
    render.add_argument("--workers", type=_workers, help="the workers Job's pods (required but with --monitor)")
    render.add_argument(
        "--monitor", action="store_true", help="a Deployment running `loadorch monitor` instead of the run's Jobs"
    )
    render.add_argument(
        "--schedule",
        metavar="CRON",
        help="with --monitor: a CronJob of periodic checks instead (each pass one `loadorch run` of the profile, "
        'e.g. "*/15 * * * *"; --duration sets a pass\'s length)',
    )
    render.add_argument("--image", required=True, help="container image with loadorch installed")
    render.add_argument("--namespace")
    render.add_argument("--env-secret", help="Secret holding the profile's variables (default loadorch-<profile>-env)")
    render.add_argument(
        "--run-id",
        type=_run_id,
        help="names this run's objects: loadorch-<profile>-<run id>-master, ... (default: UTC time + 4 hex digits)",
    )
    render.add_argument("--request-log", action="store_true")
    render.add_argument(
        "--files-in-image",
        metavar="DIR",
        help="profile.yaml, scenario.yaml and data files are in the image at DIR (for data too big for a ConfigMap)",
    )
    render.add_argument("--metrics-port", type=_port, help="the master serves /metrics here (a named Service port)")
    render.add_argument("--remote-write", metavar="URL", help="the master pushes metrics here")
    render.add_argument("--browser-image", help="image for browser workers (default: --image's tag + -browser)")
    render.add_argument(
        "--summary-export",
        type=_export_name,
        metavar="FILE",
        help="the master also writes k6's summary JSON; `k8s collect` puts it in the run folder as FILE",
    )
    plan = ksub.add_parser("plan", parents=[common])  # internal (the pods' init container): not listed
    plan.add_argument("profile")
    plan.add_argument("--master-host", required=True)
    plan.add_argument("--master-port", type=_positive_int, required=True)
    plan.add_argument("--out", required=True)
    plan.add_argument("--request-log", action="store_true")
    for p in (render, plan):
        p.add_argument("--scenario")
        _add_load_flags(p, workers=p is plan)
    collect = ksub.add_parser(
        "collect", parents=[common], help="rebuild a run folder from the master's log; exits with its code"
    )
    collect.add_argument("log", nargs="?", help="log file (default: standard input)")
    collect.add_argument("--out")

    comp = sub.add_parser(
        "compare", parents=[common], help="before/after verdict of two run folders; exit 1 on regression"
    )
    comp.add_argument("baseline")
    comp.add_argument("current")
    comp.add_argument("--profile", help="read per-metric budgets and goals from this profile's `compare:` section")
    comp.add_argument("--out", help="where compare.md/.json and compare-junit.xml go (default: CURRENT/compare/)")
    _add_compare_flags(comp, store=False)
    comp.add_argument(
        "--allow-partial", action="store_true",
        help="accept a run that did not run whole (its verdict error or interrupted: a worker lost, a Ctrl-C) and "
        "judge its partial numbers as is; without it such a run makes the comparison inconclusive",
    )  # fmt: skip
    _add_baseline_commands(sub, common)
    return parser


def _add_compare_flags(parser: Any, store: bool) -> None:
    parser.add_argument("--max-regression", type=_percent, help="allowed worsening, e.g. 10%% (default 10%%)")
    parser.add_argument(
        "--goal", action="append", default=[], metavar="SELECTOR=GOAL",
        help="an improvement goal, e.g. 'http_req_duration{name:list}=p(95) -30%%' (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--expect-improvement", type=_fall, metavar="SHARE",
        help="p95 of the top endpoints (the fewest taking half the baseline's request time) falls by SHARE",
    )  # fmt: skip
    parser.add_argument(
        "--allow-missing", action="append", default=[], metavar="NAME",
        help="accept that endpoint (or browser page) NAME of the baseline is not in the current run (renamed, or no "
        "longer called or visited); without it such an endpoint or page makes the comparison inconclusive "
        "(repeatable)",
    )  # fmt: skip
    if store:
        parser.add_argument("--baseline-store", metavar="DIR", help="the baseline store (default .loadorch/baselines)")


def _add_baseline_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    base = sub.add_parser("baseline", help="keep runs as named baselines for `run --baseline`")
    bsub = base.add_subparsers(dest="baseline_command", metavar="COMMAND", parser_class=_Parser)
    bsub.required = True
    save = bsub.add_parser("save", parents=[common], help="keep a run folder as the newest baseline NAME")
    save.add_argument("run_dir")
    cal = sub.add_parser("calibrate", parents=[common], help="run a profile N times; store its run-to-run noise")
    cal.add_argument("profile")
    cal.add_argument("--repeat", type=_repeat, required=True, help="runs of the same seed (2 to 50)")
    cal.add_argument("--out", help="folder for the N run folders (default results/calibrate-<profile>-<time>/)")
    cal.add_argument("--scenario")
    cal.add_argument("--workers", type=_workers)
    _add_load_flags(cal, workers=False)
    for p in (save, cal):
        p.add_argument("--name", required=True, help="the baseline's name (a branch name will do)")
        p.add_argument("--store", help="the baseline store (default .loadorch/baselines in the project)")
        p.add_argument("--keep", type=_keep, default=5,
                       help="entries kept per name and profile, newest first (default 5)")


def _repeat(text: str) -> int:
    value = _int(text)
    if not 2 <= value <= 50:
        raise argparse.ArgumentTypeError(f"expected 2 to 50 runs, got {value}")
    return value


def _keep(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 1 to 100 entries, got {value}")
    return value


def console_main() -> None:
    """The `loadorch` command as scripts installed before `loadorch.__main__:console_main` start it: the early
    fork server of a local run (loadorch/launch.py, here after this module's import), main(), the exit code."""
    from loadorch.fastexit import exit_now
    from loadorch.launch import early

    argv = sys.argv[1:]
    exit_now(main(argv, early=early(argv, os.environ)))


def main(argv: Sequence[str] | None = None, early: ForkServer | None = None) -> int:
    """The command; `early`: the fork server loadorch/launch.py started for a local run, killed here on every
    way out (a refused argument, another command, help) but that run's, whose end kills it (`_cmd_run`)."""
    try:
        return _main(argv, early)
    finally:
        if early is not None:
            early.kill()  # (a no-op where the run closed it)


def _main(argv: Sequence[str] | None, early: ForkServer | None) -> int:
    mark("cli imported")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the usage of the (sub)command that was given, not the top-level one
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": lambda run_args: _cmd_run(run_args, early),
        "validate": _cmd_validate,
        "list": _cmd_list,
        "target": _cmd_target,
        "report": _cmd_report,
        "compare": _cmd_compare,
        "baseline": _cmd_baseline,
        "calibrate": _cmd_calibrate,
        "budgets": _cmd_budgets,
        "alerts": _cmd_alerts,
        "monitor": _cmd_monitor,
        "k8s": _cmd_k8s,
        "init": _cmd_init,
    }
    sys.stdout = out = _ReaderGoneQuiet(sys.stdout)  # type: ignore[assignment]
    try:
        return handlers[args.command](args)
    except LoadorchError as exc:
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(_format_error(exc) + "\n")
        if isinstance(exc, ConfigError):
            from loadorch.report import gha  # (its imports cost every command's start: only when needed)

            if gha.enabled(os.environ):
                sys.stdout.write(gha.problem_commands(exc.problems))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return ExitCode.SIGINT
    except Exception as exc:  # a bug: say so plainly, with the traceback only when asked
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(f"loadorch: internal error: {type(exc).__name__}: {exc} (rerun with --debug)\n")
        return ExitCode.RUN
    finally:
        out.flush()
        sys.stdout = out.stream


class _ReaderGoneQuiet:
    """Standard output whose reader may leave early (`loadorch compare A B | head`): from the first write
    that meets the closed pipe on, output goes nowhere, so the command still finishes its work (files,
    the exit code of its own outcome) instead of ending in a BrokenPipeError. A character the stream cannot
    encode is written as its escape (`\\ud83d`), as standard error does, not an internal error."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        self._guarded(lambda: self._write(text))
        return len(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
        except UnicodeEncodeError:  # a lone surrogate (from a page's or a results.json's JSON)
            encoding = getattr(self.stream, "encoding", None) or "utf-8"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def flush(self) -> None:
        self._guarded(self.stream.flush)

    def _guarded(self, call: Callable[[], Any]) -> None:
        if self.reader_gone:
            return
        try:
            call()
        except BrokenPipeError:
            self.reader_gone = True
            # what is still buffered, and any later flush (the interpreter's at exit too), go to /dev/null
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding ...: the real stream's
        return getattr(self.stream, name)


def _format_error(exc: LoadorchError) -> str:
    if isinstance(exc, ConfigError):
        n = len(exc.problems)
        head = f"error: {exc.title} ({n} problem{'s' if n != 1 else ''}):"
        return head + "\n" + "\n".join(f"  {p}" for p in exc.problems)
    return f"error: {exc}"


def _cmd_run(args: argparse.Namespace, early: ForkServer | None = None) -> int:
    from loadorch.run import forkstart

    # the fork server imports Locust from the command's start (loadorch/launch.py; here where it did not start
    # it), beside the arguments' and the configuration's read and check, the controller's imports and the
    # target's check; a configuration or argument refused kills it below before it has forked or written
    # anything (it writes nothing until asked for a process: loadorch/run/forkstart.py)
    forks = early if early is not None else forkstart.early(os.environ, args.external_workers)
    try:
        if forks is not None and args.external_workers:  # (launch.py reads the same flag: not reached)
            forks.kill()
            forks = None
        _check_run_args(args)
        _check_host(args.host)  # (imports the profile's models)
        with _without_gc():
            from loadorch.config.resolve import build
            from loadorch.run.outdir import check_out_dir, recover_earlier

            cfg = build(args.profile, args.project, dict(os.environ), _overrides(args))
        mark("config built")
        against = _against(args, cfg.profile.compare)
        if against is not None:  # a damaged baseline store is bad input: refused (exit 3) before any load, not after
            from loadorch.commands.baseline import find_first

            find_first(against.store, (against.name, *against.fallbacks), cfg.profile_name, cfg.seed)
        out = args.out or _default_out(args.project, cfg.profile_name)
        for note in recover_earlier(out):
            sys.stderr.write(f"note: {note}\n")
        earlier = check_out_dir(out, args.project)
        return _run_with(args, cfg, forks, out, earlier, against)
    finally:
        if forks is not None:
            forks.kill()


def _check_run_args(args: argparse.Namespace) -> None:
    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a file; give a folder for the run's artifacts")
    if args.junit and os.path.isdir(args.junit):
        raise UsageError(f"--junit {args.junit!r} is a folder; give the path of the XML file to write")
    if args.workers and args.users and args.workers > args.users:
        raise UsageError(f"--workers {args.workers} is more than --users {args.users}: a worker needs a user")


@contextlib.contextmanager
def _without_gc() -> Iterator[None]:
    """No cyclic garbage collection while modules are imported and the configuration's models built: they make
    objects by the hundred thousand and no garbage, and collections there took about 5 % of their CPU, on the
    path to the first request (benchmarks/README.md, start-up)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _run_with(args: argparse.Namespace, cfg: RunConfig, forks: ForkServer | None, out: str, earlier: bool,
              against: AgainstBaseline | None) -> int:
    with _without_gc():
        from loadorch.run.controller import execute
        from loadorch.run.outdir import replacing
        from loadorch.run.state import RunOptions

    mark("controller imported")
    for warning in cfg.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    _tag_label_note(cfg, bool(args.metrics_port or args.remote_write))
    if earlier:
        sys.stderr.write(f"note: {out} holds an earlier run; the whole folder is replaced by this run's\n")
    options = RunOptions(
        out_dir=out,
        junit_path=args.junit,
        request_log=args.request_log,
        external_workers=args.external_workers,
        master_bind=args.master_bind,
        master_port=args.master_port,
        token=os.environ.get("LOADORCH_RUN_TOKEN") or None,
        print_artifacts=args.print_artifacts,
        metrics=_metrics_options(args),
        summary_export=args.summary_export,
        forkserver=forks,
    )
    if not earlier:
        code = execute(cfg, options)
    else:
        with replacing(out):
            code = execute(cfg, options)
    if against is None:
        return code
    from loadorch.commands.against_baseline import after_run

    return after_run(code, out, against)


def _against(args: argparse.Namespace, spec: CompareBudgets | None) -> AgainstBaseline | None:
    """`run --baseline`: the comparison to make when the run ends (None without --baseline)."""
    if args.baseline is None:
        for flag in ("baseline_required", "baseline_store", "max_regression", "expect_improvement", "goal",
                     "allow_missing"):
            if getattr(args, flag):
                raise UsageError(f"--{flag.replace('_', '-')} needs --baseline NAME")
        return None
    from loadorch.commands.against_baseline import AgainstBaseline
    from loadorch.commands.baseline import check_names, store_dir
    from loadorch.commands.compare import budgets_from

    first, *fallbacks = check_names(args.baseline)
    return AgainstBaseline(first, store_dir(args.project, args.baseline_store),
                           args.baseline_required, budgets_from(spec, args.max_regression),
                           _compare_plan(args, spec), args.junit, tuple(fallbacks))  # fmt: skip


def _compare_plan(args: argparse.Namespace, spec: CompareBudgets | None) -> Plan:
    from loadorch.commands.compare import Plan
    from loadorch.config.goals import GoalSyntaxError, parse_goal

    goals = [parse_goal(sel, text, "profile") for sel, text in (spec.goals if spec else {}).items()]
    for given in args.goal:
        selector, sep, text = given.partition("=")
        if not sep:
            example = "'http_req_duration{name:list}=p(95) -30%'"
            raise UsageError(f"--goal {given!r}: expected SELECTOR=GOAL, e.g. {example}")
        try:
            goals.append(parse_goal(selector, text, "--goal"))
        except GoalSyntaxError as exc:
            raise UsageError(f"--goal: {exc}") from None
    return Plan(tuple(goals), args.expect_improvement, allow_missing=tuple(args.allow_missing))


def _tag_label_note(cfg: RunConfig, live: bool) -> None:
    """Say which declared tag keys do not label the live series (the bound), when there are live series."""
    from loadorch.config.tags import tag_keys
    from loadorch.metrics.labels import unlabelled_note

    note = unlabelled_note(tag_keys(cfg.scenario.model, cfg.run_tags), cfg.run_tags) if live else None
    if note:
        sys.stderr.write(f"note: {note}\n")


def _distinct_ports(args: argparse.Namespace) -> None:
    """The status page and /metrics on one address: each is free alone, and the master's bind, after the
    status server's, failed in its log while the monitor went on without metrics."""
    wildcard = ("0.0.0.0", "::", "")
    binds = (args.status_bind, args.metrics_bind)
    if args.status_port and args.status_port == args.metrics_port and (
        binds[0] == binds[1] or any(b in wildcard for b in binds)
    ):
        raise UsageError(f"--status-port and --metrics-port are both {args.status_port}: give them different ports "
                         "(e.g. --status-port 8089 --metrics-port 9464)")


def _cmd_monitor(args: argparse.Namespace) -> int:
    from loadorch.config.resolve import build
    from loadorch.metrics.options import MetricsOptions
    from loadorch.metrics.ports import bind_problem
    from loadorch.run.controller import execute
    from loadorch.run.monitor import Monitor, StatusServer, monitor_config
    from loadorch.run.outdir import check_out_dir
    from loadorch.run.state import RunOptions

    _check_host(args.host)
    _remote_write_url(args.remote_write)
    for flag, host, port in (("--metrics-port", args.metrics_bind, args.metrics_port),
                             ("--status-port", args.status_bind, args.status_port)):
        problem = bind_problem(flag, host, port) if port is not None else None
        if problem:
            raise UsageError(problem)
    _distinct_ports(args)
    for name in ("users", "spawn_rate", "duration", "workers", "iterations"):
        setattr(args, name, None)
    overrides = _overrides(args)
    cfg = monitor_config(build(args.profile, args.project, dict(os.environ), overrides))
    out = args.out or _default_out(args.project, f"{cfg.profile_name}-monitor")
    # as a run's: a file was an internal error, and profiles/ or someone's folder got the artifacts (a config.yaml
    # in profiles/ is then read as a profile); the monitor's own folder, restarted on, holds only what it writes
    check_out_dir(out, args.project)
    for warning in cfg.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    _tag_label_note(cfg, bool(args.metrics_port or args.remote_write))
    os.makedirs(out, exist_ok=True)
    status = StatusServer(args.status_bind, args.status_port) if args.status_port is not None else None
    if status is not None:
        sys.stderr.write(f"monitor status: {status.url} (and {status.url}status.json)\n")
    from loadorch.run.progress import Progress

    options = RunOptions(
        out_dir=out,
        progress=Progress(None, every_s=60.0),
        metrics=MetricsOptions(port=args.metrics_port, bind=args.metrics_bind, grace_s=0.0,
                               remote_write=args.remote_write),
        monitor=Monitor(cfg, out, status),
    )
    try:
        # its status says no_data from the start: the folder may hold a dead process's `ok` (Monitor.begin)
        options.monitor.begin(os.path.basename(os.path.normpath(out)) if options.metrics.enabled else "")
        return execute(cfg, options)
    finally:
        _stop_monitor(options.monitor, status)


def _stop_monitor(monitor: Monitor, status: StatusServer | None) -> None:
    """Mark the status files stopped and close the status server. A failure to write them is a warning: the
    run's own exit code (a breach, an interruption, its error) is what the monitor ended with."""
    try:
        monitor.stop()
    except LoadorchError as exc:
        sys.stderr.write(f"warning: the monitor's status files do not say it stopped: {exc}\n")
    finally:
        if status is not None:
            status.close()


def _metrics_options(args: argparse.Namespace) -> MetricsOptions:
    from loadorch.metrics.options import DEFAULT_GRACE_S, MetricsOptions

    _remote_write_url(args.remote_write)
    if args.dashboard_port is not None and not args.dashboard:
        raise UsageError("--dashboard-port needs --dashboard")
    from loadorch.metrics.ports import bind_problem

    for flag, host, port in (
        ("--metrics-port", args.metrics_bind, args.metrics_port),
        ("--dashboard-port", "127.0.0.1", args.dashboard_port),
    ):
        problem = bind_problem(flag, host, port) if port else None
        if problem:
            raise UsageError(problem)
    return MetricsOptions(
        port=args.metrics_port,
        bind=args.metrics_bind,
        grace_s=DEFAULT_GRACE_S if args.metrics_grace is None else args.metrics_grace,
        remote_write=args.remote_write,
        dashboard=args.dashboard,
        dashboard_port=args.dashboard_port or 0,
    )


def _check_host(host: str | None) -> None:
    from loadorch.config.profile import host_url_problem

    problem = None if host is None or host == "embedded" else host_url_problem(host)
    if problem:
        raise UsageError(f"--{problem}")


def _overrides_tags(args: argparse.Namespace) -> dict[str, str]:
    """`--tag KEY=VALUE` flags, checked (a bad one: exit 2 with the fix)."""
    from loadorch.config.tags import parse_cli_tags

    try:
        return parse_cli_tags(getattr(args, "tag", None) or [])
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _overrides(args: argparse.Namespace) -> Overrides:
    from loadorch.config.resolve import Overrides

    tags = _overrides_tags(args)
    return Overrides(
        tags=tuple(tags.items()),
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=args.duration,
        workers=getattr(args, "workers", None),
        seed=args.seed,
        host=args.host,
        iterations=args.iterations,
        scenario=args.scenario,
        profile_name=getattr(args, "profile_name", None),
    )


def _cmd_k8s(args: argparse.Namespace) -> int:
    from loadorch.commands import k8s as k8scmd

    env = dict(os.environ)
    if args.k8s_command == "collect":
        return k8scmd.collect_command(args.log, args.out, args.project)
    if args.k8s_command == "plan":
        return k8scmd.plan_command(
            args.profile,
            args.project,
            _overrides(args),
            args.master_host,
            args.master_port,
            args.out,
            args.request_log,
            env,
        )
    overrides = _overrides(args)
    if args.files_in_image is not None and not args.files_in_image.startswith("/"):
        raise UsageError(f"--files-in-image {args.files_in_image!r} must be an absolute path inside the image")
    _check_host(args.host)
    if args.schedule is not None and not args.monitor:
        raise UsageError("--schedule needs --monitor: it renders the monitor as a CronJob of periodic checks")
    if args.monitor:
        run_only = ("users", "spawn_rate", "duration", "iterations", "workers", "summary_export")
        given = [f for f in run_only if getattr(args, f) is not None and (f != "duration" or not args.schedule)]
        if given or args.request_log:
            flag = "--" + (given[0] if given else "request_log").replace("_", "-")
            raise UsageError(f"{flag} does not apply to --monitor: the monitor holds the profile's load level")
    elif args.workers is None:
        raise UsageError("k8s render needs --workers N (or --monitor for a monitor Deployment)")
    return k8scmd.render_command(
        args.profile,
        args.project,
        args.workers or 0,
        args.image,
        args.namespace,
        args.env_secret,
        _load_flags(args),
        overrides,
        args.request_log,
        env,
        args.run_id,
        args.metrics_port,
        _remote_write_url(args.remote_write),
        args.files_in_image,
        args.browser_image,
        args.summary_export,
        monitor=args.monitor,
        schedule=args.schedule,
    )


def _remote_write_url(url: str | None) -> str | None:
    from loadorch.metrics.options import remote_write_problem

    problem = remote_write_problem(url) if url else None
    if problem:
        raise UsageError(problem)
    return url


def _default_out(project: str, profile: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = os.path.join(project, "results", f"{profile}-{stamp}")
    out, n = base, 1
    while os.path.exists(out):
        n += 1
        out = f"{base}-{n}"
    return out


def _cmd_validate(args: argparse.Namespace) -> int:
    from loadorch.commands.validate import validate_project

    return validate_project(args.project, args.files, dict(os.environ))


def _cmd_list(args: argparse.Namespace) -> int:
    from loadorch.commands.validate import list_project

    return list_project(args.project)


def _cmd_target(args: argparse.Namespace) -> int:
    from loadorch.config.collectors import redacted_dsn
    from loadorch.target.knobs import Knobs
    from loadorch.target.server import ShopServer, open_store

    knobs = Knobs()
    knobs.update({"latency_ms": args.latency_ms, "error_rate": args.error_rate, "n_plus_one": args.n_plus_one})
    store = open_store(args.database)
    try:
        server = ShopServer((args.host, args.port), store=store, knobs=knobs)  # (a failed bind closes the store)
    except OSError as exc:
        raise UsageError(f"--port {args.port}: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                         "give a free port (--port 0: any) and an address of this machine (--host)") from None
    where = f"PostgreSQL at {redacted_dsn(args.database)}" if args.database else "SQLite"

    def stop(signum: int, frame: Any) -> None:  # SIGTERM (kill, a pod's end) as SIGINT: the store closed, its folder
        raise KeyboardInterrupt  # removed (the default SIGTERM left a temporary folder per shop)

    # before the line that says it listens: whoever reads that line may stop it at once. SIGINT set here too, not
    # left to Python's default: a process started with SIGINT ignored (a background job of a script, `nohup ... &`)
    # has no KeyboardInterrupt handler, and Ctrl-C or `kill -INT` then left the shop serving
    previous = signal.signal(signal.SIGTERM, stop), signal.signal(signal.SIGINT, stop)
    try:
        print(f"reference shop API on {server.url}, {where} (knobs: GET/PUT {server.url}/_knobs)", flush=True)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second signal must not interrupt the cleanup
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            server.server_close()
        finally:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
    return ExitCode.OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from loadorch.commands.baseline import read_noise
    from loadorch.commands.compare import budgets_from, run_compare

    spec = None
    if args.profile:
        from loadorch.config.resolve import load_profile, resolve_profile

        _, path = resolve_profile(args.profile, args.project)
        spec = load_profile(path, dict(os.environ), lenient=True)[0].compare
    plan = replace(_compare_plan(args, spec), noise=read_noise(args.baseline),  # a calibrated baseline's noise
                   allow_partial=args.allow_partial)
    return run_compare(args.baseline, args.current, budgets_from(spec, args.max_regression), args.out, plan)


def _cmd_baseline(args: argparse.Namespace) -> int:
    from loadorch.commands.baseline import save_command, store_dir

    return save_command(args.run_dir, args.name, store_dir(args.project, args.store), args.keep)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from loadorch.commands.baseline import check_name, store_dir
    from loadorch.commands.calibrate import calibrate

    flags = _load_flags(args) + (["--scenario", args.scenario] if args.scenario else [])
    if args.workers:
        flags += ["--workers", str(args.workers)]
    where = (check_name(args.name), store_dir(args.project, args.store), args.keep)
    return calibrate(args.profile, args.project, args.repeat, flags, args.out, where)


def _cmd_init(args: argparse.Namespace) -> int:
    from loadorch.commands.init import init_project

    return init_project(args.dir, args.from_openapi, args.force)


def _cmd_budgets(args: argparse.Namespace) -> int:
    from loadorch.commands.budgets import print_budgets

    return print_budgets(args.project, dict(os.environ))


def _cmd_alerts(args: argparse.Namespace) -> int:
    from loadorch.commands.alerts import write_alerts

    return write_alerts(args.profile, args.project, dict(os.environ), args.out, args.window, args.for_s, args.job,
                        args.interval, _overrides_tags(args))


def _cmd_report(args: argparse.Namespace) -> int:
    from loadorch.commands.report import rebuild

    return rebuild(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())
