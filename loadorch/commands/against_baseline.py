"""`loadorch run PROFILE --baseline NAME[,FALLBACK...]`: when the run ends, compare it with the newest baseline of
the same profile and seed (of NAME, else of the first FALLBACK that has one: a new branch's first run against
main's); the comparison's artifacts join the run folder, its testsuite junit.xml, its verdict the exit code."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

from loadorch.commands.baseline import find_first
from loadorch.commands.compare import Plan, run_compare
from loadorch.commands.report import load_results
from loadorch.errors import ExitCode
from loadorch.report.junit import combine
from loadorch.run.artifacts import write_text
from loadorch.verdict.compare import Budgets

JUDGED = (ExitCode.OK, ExitCode.BREACH, ExitCode.INCONCLUSIVE)  # run codes a comparison can add to


@dataclass(frozen=True)
class AgainstBaseline:
    name: str
    store: str
    required: bool
    budgets: Budgets
    plan: Plan
    junit_path: str | None = None
    fallbacks: tuple[str, ...] = ()  # looked for in order when `name` has no baseline (a branch's first run: main's)


def after_run(code: int, out: str, opts: AgainstBaseline) -> int:
    """The exit code of the run and its comparison: 1 when either found a breach (a regression, a missed
    goal), else 6 when either could not decide, else 0. A run that errored is not compared."""
    if code not in JUDGED or not os.path.exists(os.path.join(out, "results.json")):
        sys.stderr.write(f"note: no comparison with baseline {opts.name!r}: the run ended with exit {code}\n")
        return code
    run = load_results(out).run
    found = find_first(opts.store, (opts.name, *opts.fallbacks), run.profile, run.seed)
    if found is None:
        nor = "".join(f" (nor {n!r})" for n in opts.fallbacks)
        said = (f"no baseline {opts.name!r}{nor} of profile {run.profile} with seed {run.seed} in {opts.store}: "
                f"nothing compared (save one: loadorch baseline save {out} --name {opts.name})")  # fmt: skip
        if not opts.required:
            sys.stdout.write(f"\nbaseline: {said}\n")
            return code
        sys.stderr.write(f"inconclusive: {said}; --baseline-required\n")
        return combined(code, ExitCode.INCONCLUSIVE)
    name, entry = found
    instead = "" if name == opts.name else f"no baseline {opts.name!r} of this profile and seed yet, so {name!r}: "
    sys.stdout.write(f"\nbaseline: comparing with {instead}{entry.path} (saved {entry.saved_at})\n")
    plan = replace(opts.plan, noise=entry.noise) if entry.noise else opts.plan
    compared = run_compare(entry.path, out, opts.budgets, out, plan)
    junit = combine(_read(os.path.join(out, "junit.xml")), _read(os.path.join(out, "compare-junit.xml")))
    for path in (os.path.join(out, "junit.xml"), opts.junit_path):
        if path:
            write_text(path, junit)
    return combined(code, compared)


def combined(run: int, compared: int) -> int:
    """A breach anywhere is a breach; else an undecided part makes the whole inconclusive."""
    if ExitCode.BREACH in (run, compared):
        return ExitCode.BREACH
    return ExitCode.INCONCLUSIVE if ExitCode.INCONCLUSIVE in (run, compared) else ExitCode.OK


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()
