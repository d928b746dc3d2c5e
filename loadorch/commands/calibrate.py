"""`loadorch calibrate PROFILE --repeat N --name NAME`: N runs of the same profile and seed, each a real
`loadorch run` process; the run-to-run spread of every compare row (endpoint and percentile, page and
vital, database figure) is stored with the first run as the baseline `NAME`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from types import FrameType

from loadorch.commands.baseline import save, writable
from loadorch.commands.compare import compare_runs
from loadorch.commands.report import load_results
from loadorch.errors import ExitCode
from loadorch.report.summary import md_table
from loadorch.results import Results
from loadorch.verdict.compare import Budgets
from loadorch.verdict.noise import ABSOLUTE, Noise, measure, uncalibrated
from loadorch.verdict.partial import is_partial, partial_words

USABLE = (ExitCode.OK, ExitCode.BREACH, ExitCode.INCONCLUSIVE)  # runs whose numbers are whole
SHOWN = 15  # rows of the noisiest shown on the terminal; noise.json keeps every one
SHOWN_LEFT_OUT = 5  # rows named of those given no spread


def calibrate(profile: str, project: str, repeat: int, run_flags: list[str], out_root: str | None,
              where: tuple[str, str, int]) -> int:  # fmt: skip
    """`where`: the baseline's name, store and how many entries the name keeps."""
    writable(where[1], where[0])  # a store it cannot write: said now, not after N runs
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    root = out_root or os.path.join(project, "results", f"calibrate-{os.path.basename(profile)}-{stamp}")
    outs: list[str] = []
    runs: list[Results] = []
    for i in range(repeat):
        out = os.path.join(root, f"run-{i + 1}")
        sys.stdout.write(f"calibrate: run {i + 1} of {repeat} -> {out}\n")
        sys.stdout.flush()
        argv = [sys.executable, "-m", "loadorch", "--project", project, "run", profile, "--out", out, *run_flags]
        with _PassedOn() as signals:
            code = signals.run(argv)
        if signals.first is not None:
            sys.stderr.write(f"calibrate: stopped by a signal during run {i + 1} (see {out}): nothing stored\n")
            return ExitCode.SIGTERM if signals.first == signal.SIGTERM else ExitCode.SIGINT
        if code not in USABLE:
            sys.stderr.write(f"error: calibration run {i + 1} ended with exit {code} (see {out}): nothing stored\n")
            return code
        doc = load_results(out)
        if is_partial(doc):  # a threshold's abort_on_fail stopped it (exit 1): the first run is no baseline and a
            # later one no measure of the spread; said now, not after the other runs (save refused it after all N)
            sys.stderr.write(f"error: calibration run {i + 1}: {partial_words(doc, 'run')} (see {out}): its numbers "
                             "are partial, so nothing is stored; calibrate where no threshold aborts the runs (a "
                             "quieter target, or abort_on_fail off for the calibration)\n")
            return ExitCode.CONFIG
        outs.append(out)
        runs.append(doc)
    pairs = [compare_runs(runs[0], other, Budgets()).rows for other in runs[1:]]
    noise = measure(pairs)
    name, store, keep = where
    entry = save(outs[0], name, store, keep, noise)
    sys.stdout.write(_table(noise))
    sys.stdout.write(_left_out(uncalibrated(pairs)))
    sys.stdout.write(f"\nstored {len(noise.spreads)} spreads of {repeat} runs with baseline {name!r}: {entry}\n")
    return ExitCode.OK


class _PassedOn:
    """SIGINT and SIGTERM during a calibration run are passed on to the run, which stops as a run stops (its
    artifacts written, marked interrupted; a second signal: at once). The run leads a process group of its own,
    so a Ctrl-C reaches it once, through here, and a SIGTERM sent to calibrate alone (kill, a CI job's timeout, a
    pod's end) reaches it at all: it went on sending load to the end of its duration."""

    def __init__(self) -> None:
        self.first: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._saved: dict[int, object] = {}

    def __enter__(self) -> _PassedOn:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def run(self, argv: list[str]) -> int:
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        if self.first is not None:  # it came as the run was starting
            self._pass(self.first)
        return self._proc.wait()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is None:
            self.first = signum
        if self._proc is not None:
            self._pass(signum)

    def _pass(self, signum: int) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signum)


def _table(noise: Noise) -> str:
    def size(item: tuple[str, float]) -> float:
        return item[1] if item[0].rsplit("|", 1)[-1] not in ABSOLUTE else 0.0

    rows = []
    for key, spread in sorted(noise.spreads.items(), key=size, reverse=True)[:SHOWN]:
        scope, name, metric = key.split("|", 2)
        shown = f"{spread:g}" if metric in ABSOLUTE else f"{100 * spread:.1f} %"
        values = ", ".join(f"{v:g}" for v in noise.values.get(key, []))
        rows.append([scope, name, metric, shown, values])
    head = f"\nrun-to-run spread over {noise.runs} runs (the noisiest {min(SHOWN, len(rows))}; all in noise.json):\n\n"
    return head + md_table(rows, ["scope", "name", "metric", "spread", "values"]) + "\n"


def _left_out(rows: dict[str, str]) -> str:
    """The rows given no spread (a calibration comparison could not decide them), a few named, and the fix."""
    if not rows:
        return ""
    named = ", ".join(f"{k.replace('|', ' ')} ({why})" for k, why in list(rows.items())[:SHOWN_LEFT_OUT])
    more = f" and {len(rows) - SHOWN_LEFT_OUT} more" if len(rows) > SHOWN_LEFT_OUT else ""
    return (f"\nnot calibrated: {len(rows)} row(s) a comparison of the runs could not decide: {named}{more}; they are "
            "judged by their budget alone. Calibrate with longer runs (or more users) on a quieter machine for a "
            "spread of theirs\n")
